#!/usr/bin/env bash
# Learning parity with PyTorch, measured (issue 9): medssl finetune against its
# PyTorch twin (bench/parity_torch.py: same network, init, loss, optimizer,
# schedule, sampling and best-checkpoint rule), several seeds each, run
# interleaved (medssl seed s beside torch seed s, one thread each), on two
# protocols; then the linear-probe before/after table (bench/probe.sh, with
# its own script; no PyTorch probe: see bench/README.md).
#
#   check  one SGD step on the whole training set in one batch, medssl's weights
#          loaded into the twin: does the twin compute medssl's update?
#   seg    phantom segmentation, 8 labeled 32x32 training images (medssl_phantom
#          --kind seg --n 8 --seed 11), validation corpus --n 32 --seed 12, test
#          --n 200 --seed 13; --strategy scratch, U-Net on widths=16-32-64,convs=2,
#          SEG_EPOCHS epochs of 8 steps (8 images x 32 passes, batch 32), --lr LR;
#          test dsc_mean (medssl evaluate)
#   cls    Fashion-MNIST, 10 labels per class (import --labeled-per-class 10 --seed 0),
#          the stratified 90/10 split, --strategy scratch on widths=16-32-64,convs=2,
#          CLS_EPOCHS epochs of 9 steps (90 x 3 passes, batch 32), --lr LR;
#          accuracy on the 10,000 test images
#   probe  bench/probe.sh (feature-extractor, --head-norm none vs bn, random and
#          rotation encoders, last stage and stage1, 1 epoch of rotation pretraining
#          on 2 ranks first) into OUT/probe
#
#   bench/parity.sh [BUILD_DIR] [OUT]     (default build-parity, runs/parity)
#   SEEDS="0 1 2 3 4" PROBE_SEEDS="0 1 2" PARTS="check seg cls probe" SEG_EPOCHS=30 CLS_EPOCHS=30 LR=1
# The tables: /usr/bin/python3 bench/parity_summary.py OUT (run at the end).
# Finished runs (a test result present) are kept, so an interrupted run can be
# started again with the same command.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-parity}
OUT=${2:-runs/parity}
SEEDS=${SEEDS:-0 1 2 3 4}
PROBE_SEEDS=${PROBE_SEEDS:-0 1 2}
PARTS=${PARTS:-check seg cls probe}
SEG_EPOCHS=${SEG_EPOCHS:-30}
CLS_EPOCHS=${CLS_EPOCHS:-30}
LR=${LR:-1}
M="$BUILD/medssl"
PY=/usr/bin/python3 # Debian's python3-torch / python3-h5py
TWIN=bench/parity_torch.py
ENC="widths=16-32-64,convs=2"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
mkdir -p "$OUT/data"
D="$OUT/data"
t0=$(date +%s)
say() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
has() { [[ " $PARTS " == *" $1 "* ]]; }

say "data"
[ -f "$D/seg_train8.h5" ] || "$BUILD/medssl_phantom" --kind seg --n 8 --seed 11 --out "$D/seg_train8.h5"
[ -f "$D/seg_val32.h5" ] || "$BUILD/medssl_phantom" --kind seg --n 32 --seed 12 --out "$D/seg_val32.h5"
[ -f "$D/seg_test200.h5" ] || "$BUILD/medssl_phantom" --kind seg --n 200 --seed 13 --out "$D/seg_test200.h5"
[ -f "$D/fm10.h5" ] || "$M" import fashion-mnist --split train --labeled-per-class 10 --seed 0 --out "$D/fm10.h5" 2> /dev/null
[ -f "$D/fm_test.h5" ] || "$M" import fashion-mnist --split test --out "$D/fm_test.h5" 2> /dev/null

# medssl NAME TASK TESTCORPUS finetune-flags...: train, then evaluate best.h5 on the test corpus
medssl_run() {
  local name=$1 task=$2 test=$3; shift 3
  local d="$OUT/$name"
  [ -f "$d/test/metrics.json" ] && return 0
  rm -rf "$d"
  "$M" finetune --task "$task" --strategy scratch --encoder "$ENC" --out "$d" --threads 1 --log-every 100000 "$@" \
    > "$d.log" 2>&1 || { tail -3 "$d.log"; echo "medssl $name failed"; return 1; }
  "$M" evaluate --model "$d/best.h5" --data "$test" --threads 1 --out "$d/test" > "$d/test.txt" 2>&1
}
torch_run() { # NAME TASK twin-flags...
  local name=$1 task=$2; shift 2
  local d="$OUT/$name"
  [ -f "$d/result.json" ] && return 0
  OMP_NUM_THREADS=1 $PY $TWIN "$task" --out "$d" --threads 1 "$@" > "$d.log" 2>&1 ||
    { tail -3 "$d.log"; echo "torch $name failed"; return 1; }
}

if has check; then
  say "check: one SGD step, medssl against the twin"
  for task in seg cls; do
    if [ $task = seg ]; then f=(--task segment --train "$D/seg_train8.h5" --batch 8 --val "$D/seg_val32.h5"); n=8
    else f=(--task classify --train "$D/fm10.h5" --val-fraction 0 --batch 100); n=100; fi
    for lr in 1e-8 "$LR"; do
      rm -rf "$OUT/check-$task-lr$lr"
      "$M" finetune "${f[@]}" --strategy scratch --encoder "$ENC" --out "$OUT/check-$task-lr$lr" --epochs 1 \
        --steps-per-epoch 1 --lr "$lr" --threads 1 --seed 0 > "$OUT/check-$task-lr$lr.log" 2>&1
    done
    $PY $TWIN step-$task --train "${f[3]}" --before "$OUT/check-$task-lr1e-8/last.h5" \
      --after "$OUT/check-$task-lr$LR/last.h5" --lr "$LR" --batch $n --out "$OUT/check-$task"
    # 10 steps (1 of warm-up, 9 of cosine): the twin trains from medssl's initial weights on its own
    rm -rf "$OUT/check-$task-10steps"
    "$M" finetune "${f[@]}" --strategy scratch --encoder "$ENC" --out "$OUT/check-$task-10steps" --epochs 10 \
      --steps-per-epoch 1 --lr "$LR" --threads 1 --seed 0 > "$OUT/check-$task-10steps.log" 2>&1
    $PY $TWIN step-$task --check-steps 10 --train "${f[3]}" --before "$OUT/check-$task-lr1e-8/last.h5" \
      --after "$OUT/check-$task-10steps/last.h5" --lr "$LR" --batch $n --out "$OUT/check-$task-twin10"
  done
fi

if has seg; then
  say "seg: phantom segmentation, 8 training images, $SEG_EPOCHS epochs, seeds $SEEDS"
  for s in $SEEDS; do
    medssl_run seg-medssl-s$s segment "$D/seg_test200.h5" --train "$D/seg_train8.h5" --val "$D/seg_val32.h5" \
      --epochs "$SEG_EPOCHS" --lr "$LR" --seed "$s" &
    torch_run seg-torch-s$s seg --train "$D/seg_train8.h5" --val "$D/seg_val32.h5" --test "$D/seg_test200.h5" \
      --epochs "$SEG_EPOCHS" --lr "$LR" --seed "$s" &
    wait
    say "   seed $s done"
  done
fi

if has cls; then
  say "cls: Fashion-MNIST, 10 labels per class, $CLS_EPOCHS epochs, seeds $SEEDS"
  for s in $SEEDS; do
    medssl_run cls-medssl-s$s classify "$D/fm_test.h5" --train "$D/fm10.h5" --epochs "$CLS_EPOCHS" --lr "$LR" --seed "$s" &
    torch_run cls-torch-s$s cls --train "$D/fm10.h5" --test "$D/fm_test.h5" --epochs "$CLS_EPOCHS" --lr "$LR" --seed "$s" &
    wait
    say "   seed $s done"
  done
fi

if has probe; then
  say "probe: bench/probe.sh into $OUT/probe (rotation pretraining on 2 ranks first, if missing)"
  SEEDS="$PROBE_SEEDS" bench/probe.sh "$BUILD" "$OUT/probe" > "$OUT/probe.log" 2>&1 || { tail -5 "$OUT/probe.log"; exit 1; }
fi
say "done"
$PY bench/parity_summary.py "$OUT"
