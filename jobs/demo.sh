#!/usr/bin/env bash
# The main job on the embedded default, Fashion-MNIST (Debian's
# dataset-fashion-mnist): installs what is missing, builds, imports the 60,000
# training images as the unlabeled pool (with a 1% labeled subset, stratified)
# and the 10,000 test images, pretrains an encoder by rotation prediction on 2
# MPI ranks (1 epoch: ~3 minutes at ~330 images/s), then moves it onto the
# 600 labeled images (1%, stratified) with each transfer strategy against
# the same architecture from random weights, combines three of the runs into
# an ensemble, and prints one comparison table on the 10,000 test images
# (jobs/demo_table.py, from the run folders) and one HTML page of all runs
# (medssl report: runs/demo/report.html). Every fine-tuning protocol runs
# with seeds 0, 1 and 2. About 4 minutes on 2 cores (3 min 32 s to 4 min 33 s
# measured 2026-12-04, depending on what else ran).
#
#   jobs/demo.sh                 (EPOCHS=N pretraining epochs, FT_EPOCHS=N, SEEDS="0 1 2" fine-tuning seeds,
#                                 OUT=dir, BUILD=dir)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
OUT=${OUT:-runs/demo}
EPOCHS=${EPOCHS:-1}
FT_EPOCHS=${FT_EPOCHS:-20}
SEEDS=${SEEDS:-0 1 2}
need=""
for p in build-essential cmake pkg-config libopenmpi-dev openmpi-bin libopenblas-dev libhdf5-openmpi-dev \
         hdf5-tools libpng-dev zlib1g-dev libnifti2-dev libdnnl-dev python3 dataset-fashion-mnist; do
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
/usr/bin/python3 - "$OUT/rotation/metrics.jsonl" <<'PY'
import json, sys
for d in map(json.loads, open(sys.argv[1])):
    if "val_accuracy" in d:
        print(f"  epoch {d['epoch'] + 1}: {d['val_accuracy']:.4f}")
PY

# Fine-tuning: two runs at a time, one rank x one thread each (a batch of 32
# is too small to split well over ranks; two runs fill the two cores). Every
# protocol runs with each fine-tuning seed in SEEDS, so the table can say
# whether a difference is larger than the seed-to-seed spread.
ENC="encoder:widths=16-32-64,convs=2"
INIT="$OUT/rotation/best.h5"
finetune() {
  local name=$1; shift
  "$M" finetune --task classify --train "$OUT/fm_train.h5" --out "$OUT/ft-$name" --epochs "$FT_EPOCHS" \
    --threads 1 --log-every 100000 --resume auto "$@" > "$OUT/ft-$name.log" 2>&1 ||
    { tail -5 "$OUT/ft-$name.log"; echo "finetune $name failed"; return 1; }
  "$M" evaluate --model "$OUT/ft-$name/best.h5" --data "$OUT/fm_test.h5" --threads 1 --out "$OUT/ft-$name/test" \
    > "$OUT/ft-$name/test.txt" 2>/dev/null
  echo "   $name done"
}
echo "== fine-tuning on the 600 labeled images (540 train / 60 validation), $FT_EPOCHS epochs each, seeds $SEEDS;"
echo "   evaluating on the 10,000 test images"
for s in $SEEDS; do
  finetune fe-random-s$s --strategy feature-extractor --encoder "$ENC" --lr 5 --seed "$s" &
  finetune fe-rotation-s$s --strategy feature-extractor --init "$INIT" --lr 5 --seed "$s" &
  wait
  finetune scratch-s$s --strategy scratch --encoder "$ENC" --lr 1 --seed "$s" &
  finetune two-stage-s$s --strategy two-stage --init "$INIT" --lr 1 --stage1-epochs $(( FT_EPOCHS / 3 )) \
    --encoder-lr-mult 0.3 --seed "$s" &
  wait
done
s0=${SEEDS%% *}
echo "== ensemble of three seed-$s0 runs (different strategies): two-stage, scratch, feature-extractor (rotation)"
"$M" ensemble evaluate --members "$OUT/ft-two-stage-s$s0/best.h5,$OUT/ft-scratch-s$s0/best.h5,$OUT/ft-fe-rotation-s$s0/best.h5" \
  --data "$OUT/fm_test.h5" --combiner average,vote --out "$OUT/ensemble" > /dev/null

echo "== Fashion-MNIST test set (10,000 images), 600 labeled training images"
/usr/bin/python3 jobs/demo_table.py "$OUT" | tee "$OUT/table.md"

echo "== report: one page with every run's curves, the evaluations and the ensemble"
"$M" report "$OUT/rotation" "$OUT"/ft-*-s[0-9]*/ "$OUT/ensemble" --out "$OUT/report.html" \
  --title "medssl demo: Fashion-MNIST, 1% labeled, rotation pretraining"

echo "== engine benchmark (reference encoder), 2 ranks x 1 thread"
mpirun -np 2 "$M" bench --steps 10 --threads 1
echo "== done: $OUT/rotation/best.h5 is the pretrained encoder; $OUT/ft-*/test/metrics.json the evaluations;"
echo "   $OUT/table.md the table (python3 jobs/demo_table.py $OUT prints it again); $OUT/report.html the page"
