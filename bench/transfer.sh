#!/usr/bin/env bash
# Which pretraining transfers to Fashion-MNIST with 600 labels?  The demo's
# fine-tuning protocol (jobs/demo.sh) applied to encoders pretrained by each
# pretext task, so the demo's question "why does rotation pretraining not beat
# scratch?" can be answered by measurement rather than guessed.
#
# Pretraining (2 ranks x 1 thread, the demo's setup: encoder widths=16-32-64,
# convs=2, batch 128, lr 0.1, --augment flip:h,shift:0.05, all 60,000 training
# images) for every entry of PRETRAIN ("name:task:epochs[:extra flags]"), then for
# every encoder, and for a random one:
#   probe      --strategy feature-extractor (linear probe, lr 5)
#   two-stage  --strategy two-stage --stage1-epochs FT_EPOCHS/3 --encoder-lr-mult 0.3 (lr 1)
# and one scratch run (lr 1), FT_EPOCHS epochs each on the 600 labeled images
# (540 train, 60 validation, best.h5 by validation accuracy), evaluated on the
# 10,000 test images. Two fine-tuning runs at a time, 1 rank x 1 thread each.
# Prints one table (also OUT/table.md).
#
#   bench/transfer.sh [BUILD_DIR]                     (~45 min on 2 cores)
#   PRETRAIN="rot1:rotation:1" FT_EPOCHS=10 bench/transfer.sh
#
# Environment: OUT (runs/transfer-bench), FT_EPOCHS (20), SEED (0),
# FM (/usr/share/datasets/fashion-mnist is read by `medssl import fashion-mnist`),
# PRETRAIN (default below).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
M="$BUILD/medssl"
OUT=${OUT:-runs/transfer-bench}
FT_EPOCHS=${FT_EPOCHS:-20}
SEED=${SEED:-0}
PRETRAIN=${PRETRAIN:-"rot1:rotation:1 rot5:rotation:5 jig1:jigsaw:1:--permutations=100 jig5:jigsaw:5:--permutations=100 ae1:autoencoder:1:--ae-variant=plain inp1:autoencoder:1:--ae-variant=inpainting"}
ENC="encoder:widths=16-32-64,convs=2"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
[ -x "$M" ] || { echo "bench/transfer.sh: $M not found; build first (cmake --build $BUILD)" >&2; exit 2; }
mkdir -p "$OUT"

if [ ! -f "$OUT/fm_train.h5" ]; then
  "$M" import fashion-mnist --split train --labeled-fraction 0.01 --seed "$SEED" --out "$OUT/fm_train.h5"
  "$M" import fashion-mnist --split test --out "$OUT/fm_test.h5"
fi

for spec in $PRETRAIN; do
  IFS=: read -r name task epochs extra <<< "$spec"
  [ -f "$OUT/pre-$name/last.h5" ] && grep -q "\"epoch\": $((epochs - 1)),.*val_" "$OUT/pre-$name/metrics.jsonl" 2>/dev/null &&
    { echo "== pretrained $name already"; continue; }
  echo "== pretraining $name: --task $task, $epochs epochs ${extra//=/ }"
  start=$(date +%s)
  # shellcheck disable=SC2086
  mpirun -np 2 "$M" pretrain --task "$task" ${extra//=/ } --corpus "$OUT/fm_train.h5" --out "$OUT/pre-$name" \
    --encoder "$ENC" --epochs "$epochs" --batch 128 --lr 0.1 --augment "flip:h,shift:0.05" \
    --threads 1 --log-every 1000 --seed "$SEED" --resume auto > "$OUT/pre-$name.log" 2>&1 ||
    { tail -5 "$OUT/pre-$name.log"; exit 1; }
  echo "   $(( $(date +%s) - start )) s; last epoch: $(grep '"val_' "$OUT/pre-$name/metrics.jsonl" | tail -1)"
done

finetune() {
  local name=$1; shift
  if [ ! -f "$OUT/ft-$name/test/metrics.json" ]; then
    "$M" finetune --task classify --train "$OUT/fm_train.h5" --out "$OUT/ft-$name" --epochs "$FT_EPOCHS" \
      --threads 1 --log-every 100000 --seed "$SEED" --resume auto "$@" > "$OUT/ft-$name.log" 2>&1 ||
      { tail -5 "$OUT/ft-$name.log"; echo "finetune $name failed"; return 1; }
    "$M" evaluate --model "$OUT/ft-$name/best.h5" --data "$OUT/fm_test.h5" --threads 1 \
      --out "$OUT/ft-$name/test" > /dev/null 2>&1
  fi
  echo "   $name done"
}
echo "== fine-tuning, $FT_EPOCHS epochs each"
finetune probe-random --strategy feature-extractor --encoder "$ENC" --lr 5 &
finetune scratch --strategy scratch --encoder "$ENC" --lr 1 &
wait
for spec in $PRETRAIN; do
  name=${spec%%:*}
  finetune "probe-$name" --strategy feature-extractor --init "$OUT/pre-$name/best.h5" --lr 5 &
  finetune "two-stage-$name" --strategy two-stage --init "$OUT/pre-$name/best.h5" --lr 1 \
    --stage1-epochs $(( FT_EPOCHS / 3 )) --encoder-lr-mult 0.3 &
  wait
done

num() { grep -o "\"$2\": [0-9.]*" "$1" 2>/dev/null | head -1 | sed 's/.*: //'; }
pre() { grep '"val_' "$OUT/pre-$1/metrics.jsonl" | tail -1 | grep -o "\"$2\": [0-9.]*" | sed 's/.*: //'; }
{
  echo "| encoder | pretext metric (held out) | linear probe acc. | probe macro AUC | two-stage acc. | two-stage macro AUC |"
  echo "|---|---|---|---|---|---|"
  echo "| random init | | $(num "$OUT/ft-probe-random/test/metrics.json" accuracy) | $(num "$OUT/ft-probe-random/test/metrics.json" macro_auc) | scratch: $(num "$OUT/ft-scratch/test/metrics.json" accuracy) | scratch: $(num "$OUT/ft-scratch/test/metrics.json" macro_auc) |"
  for spec in $PRETRAIN; do
    IFS=: read -r name task epochs extra <<< "$spec"
    if [ "$task" = autoencoder ]; then m="PSNR $(pre "$name" val_psnr) dB"; else m="acc. $(pre "$name" val_accuracy)"; fi
    p="$OUT/ft-probe-$name/test/metrics.json"; t="$OUT/ft-two-stage-$name/test/metrics.json"
    echo "| $task ${extra//=/ }, $epochs ep. | $m | $(num "$p" accuracy) | $(num "$p" macro_auc) | $(num "$t" accuracy) | $(num "$t" macro_auc) |"
  done
} | tee "$OUT/table.md"
