#!/usr/bin/env bash
# The main job on the embedded default, Fashion-MNIST (Debian's
# dataset-fashion-mnist): installs what is missing, builds, imports the 60,000
# training images as the unlabeled pool (with a 1% labeled subset, stratified)
# and the 10,000 test images, pretrains an encoder by rotation prediction on 2
# MPI ranks (2 epochs: ~5 minutes each at ~190 images/s), and runs the engine
# benchmark. About 12 minutes on 2 cores.
# Fine-tuning and the comparison table join this script with the finetune work.
#
#   jobs/demo.sh                 (EPOCHS=N, OUT=dir, BUILD=dir to change)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
OUT=${OUT:-runs/demo}
EPOCHS=${EPOCHS:-2}
need=""
for p in build-essential cmake pkg-config libopenmpi-dev openmpi-bin libopenblas-dev libhdf5-openmpi-dev \
         hdf5-tools libpng-dev zlib1g-dev libnifti2-dev dataset-fashion-mnist; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need="$need $p"
done
if [ -n "$need" ]; then
  echo "== installing:$need"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $need
fi
echo "== building"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build "$BUILD" -j"$(nproc)" --target medssl > /dev/null
M="$BUILD/medssl"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
mkdir -p "$OUT"

echo "== importing Fashion-MNIST"
"$M" import fashion-mnist --split train --labeled-fraction 0.01 --seed 0 --out "$OUT/fm_train.h5"
"$M" import fashion-mnist --split test --out "$OUT/fm_test.h5"
"$M" inspect "$OUT/fm_train.h5"

echo "== pretraining by rotation prediction: 2 ranks x 1 thread, $EPOCHS epochs"
mpirun -np 2 "$M" pretrain --task rotation --corpus "$OUT/fm_train.h5" --out "$OUT/rotation" \
  --encoder "encoder:widths=16-32-64,convs=2" --epochs "$EPOCHS" --batch 128 --lr 0.1 \
  --augment "flip:h,shift:0.05" --threads 1 --log-every 100 --resume auto
echo "== held-out rotation accuracy per epoch"
grep '"val_accuracy"' "$OUT/rotation/metrics.jsonl" | sed 's/.*"epoch": \([0-9]*\).*"val_accuracy": \([0-9.]*\).*/  epoch \1: \2/'

echo "== engine benchmark (reference encoder), 2 ranks x 1 thread"
mpirun -np 2 "$M" bench --steps 10 --threads 1
echo "== done: $OUT/rotation/best.h5 is the pretrained encoder"
