#!/usr/bin/env bash
# Linear probes with and without feature standardisation (issue 9): a
# BatchNorm on the frozen features before the linear head (`--head-norm bn`,
# the default for feature-extractor) against the plain head (`--head-norm
# none`), on Fashion-MNIST with 10 labels per class (100 labeled images, an
# exact 90/10 stratified split), for a random and a rotation-pretrained
# encoder (the demo's widths=16-32-64,convs=2), pooling the last stage or
# stage1, seeds 0 1 2; test accuracy on the 10,000 test images. Two runs at a
# time, 1 rank x 1 thread each. The table: python3 bench/probe_summary.py OUT.
#
#   bench/probe.sh [BUILD_DIR] [OUT]      (ROT=ckpt reuses a rotation encoder; SEEDS, EPOCHS)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
OUT=${2:-runs/probe}
SEEDS=${SEEDS:-0 1 2}
EPOCHS=${EPOCHS:-30}
M="$BUILD/medssl"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
mkdir -p "$OUT"
ENC="encoder:widths=16-32-64,convs=2"
[ -f "$OUT/fm10.h5" ] || "$M" import fashion-mnist --split train --labeled-per-class 10 --seed 0 --out "$OUT/fm10.h5"
[ -f "$OUT/test.h5" ] || "$M" import fashion-mnist --split test --out "$OUT/test.h5"
ROT=${ROT:-$OUT/rotation/best.h5}
if [ ! -f "$ROT" ]; then
  echo "== rotation pretraining (the demo's: 1 epoch, 2 ranks)"
  mpirun -np 2 "$M" pretrain --task rotation --corpus "$OUT/fm10.h5" --out "$OUT/rotation" --encoder "$ENC" --epochs 1 \
    --batch 128 --lr 0.1 --augment "flip:h,shift:0.05" --threads 1 --log-every 1000 --resume auto 2> "$OUT/rotation.log"
fi
probe() { # name, then finetune flags
  local name=$1; shift
  local d="$OUT/probe-$name"
  [ -f "$d/test/metrics.json" ] && return 0
  rm -rf "$d"
  "$M" finetune --task classify --train "$OUT/fm10.h5" --out "$d" --strategy feature-extractor --epochs "$EPOCHS" \
    --threads 1 --log-every 100000 "$@" > "$d.log" 2>&1 || { tail -3 "$d.log"; return 1; }
  "$M" evaluate --model "$d/best.h5" --data "$OUT/test.h5" --threads 1 --out "$d/test" > /dev/null 2>&1
}
t0=$(date +%s)
for s in $SEEDS; do
  for feat in last stage1; do
    f=(); [ $feat = stage1 ] && f=(--features stage1)
    for norm in none bn; do
      probe random-$feat-$norm-s$s --encoder "$ENC" "${f[@]}" --head-norm $norm --seed $s &
      probe rotation-$feat-$norm-s$s --init "$ROT" "${f[@]}" --head-norm $norm --seed $s &
      wait
    done
  done
  echo "   seed $s done ($(( $(date +%s) - t0 )) s)"
done
/usr/bin/python3 bench/probe_summary.py "$OUT"
