#!/usr/bin/env bash
# CLI test of fine-tuning's train/validation split and epochs on few labels:
#   - the --val-fraction split is exact and stratified: 600 labeled phantoms at
#     10% are 540 training / 60 validation samples, the validation metric is a
#     multiple of 1/60;
#   - 5 labeled slices (segment) keep 1 for validation for any seed; 1 slice
#     trains without validation and says so, and best.h5 is still written;
#   - an epoch on 8 slices repeats them to at least 256 images by default, and
#     --steps-per-epoch S gives at least S steps;
#   - best.h5 breaks ties of the validation metric by the validation loss;
#   - the shuffle buffer holds at most --buffer-mib MiB per rank.
set -euo pipefail
MEDSSL=$1
PHANTOM=$(dirname "$MEDSSL")/medssl_phantom
fail() { echo "FAIL: $*"; exit 1; }
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
cd "$out"
ENC="encoder:widths=4-8,convs=1"
FT=(--threads 1 --log-every 1000 --encoder "$ENC")

# --- exact stratified split ---------------------------------------------------------------
"$PHANTOM" --kind cls --n 600 --seed 1 --out cls.h5
"$MEDSSL" finetune --task classify --train cls.h5 --out c --strategy scratch --epochs 1 "${FT[@]}" 2> c.log ||
    { cat c.log; fail "classify run"; }
grep -qx "medssl finetune: split of cls.h5: 540 training / 60 validation samples (--val-fraction 0.1, stratified by class, seed 0)" c.log ||
    fail "split line: $(grep split c.log)"
grep -qx "medssl finetune: an epoch is 17 steps of 32 images: 540 training samples" c.log || fail "epoch line: $(grep epoch c.log)"
/usr/bin/python3 - c/metrics.jsonl <<'PY' || fail "val_accuracy is not k/60"
import json, sys
acc = [json.loads(l)["val_accuracy"] for l in open(sys.argv[1]) if "val_accuracy" in l][-1]
k = round(acc * 60)
assert abs(acc - k / 60) < 1e-5, acc
PY

# --- tiny segmentation sets --------------------------------------------------------------
"$PHANTOM" --kind seg --n 5 --seed 3 --out seg5.h5
for seed in 0 5; do
    "$MEDSSL" finetune --task segment --train seg5.h5 --out s5-$seed --strategy scratch --epochs 1 --seed $seed \
        "${FT[@]}" 2> s5-$seed.log || { cat s5-$seed.log; fail "5 slices, seed $seed"; }
    grep -qx "medssl finetune: split of seg5.h5: 4 training / 1 validation sample (--val-fraction 0.1, stratified by mask foreground, seed $seed)" \
        s5-$seed.log || fail "5 slices seed $seed: $(grep split s5-$seed.log)"
    grep -q '"val_dsc"' s5-$seed/metrics.jsonl || fail "5 slices: no validation metric"
done
"$PHANTOM" --kind seg --n 1 --seed 3 --out seg1.h5
"$MEDSSL" finetune --task segment --train seg1.h5 --out s1 --strategy scratch --epochs 2 "${FT[@]}" 2> s1.log ||
    { cat s1.log; fail "1 slice"; }
grep -qx "medssl finetune: seg1.h5 holds a single sample: training without validation (best.h5 is the last epoch's model)" s1.log ||
    fail "1 slice: $(head -3 s1.log)"
[ -f s1/best.h5 ] || fail "1 slice: no best.h5"
grep -q '"val_' s1/metrics.jsonl && fail "1 slice: a validation metric without validation samples"

# --- steps per epoch on 8 slices ---------------------------------------------------------
"$PHANTOM" --kind seg --n 8 --seed 4 --out seg8.h5
"$MEDSSL" finetune --task segment --train seg8.h5 --out s8 --strategy scratch --epochs 1 --max-steps 1 "${FT[@]}" 2> s8.log ||
    { cat s8.log; fail "8 slices"; }
# 7 training slices x ceil(256/7) = 37 passes = 259 images = 9 steps of 32
grep -qx "medssl finetune: an epoch is 9 steps of 32 images: 7 training samples x 37 passes (at least 256 images per epoch)" s8.log ||
    fail "8 slices default epoch: $(grep epoch s8.log)"
"$MEDSSL" finetune --task segment --train seg8.h5 --out s8b --strategy scratch --epochs 1 --max-steps 1 --steps-per-epoch 20 \
    "${FT[@]}" 2> s8b.log || { cat s8b.log; fail "8 slices --steps-per-epoch"; }
# 20 x 32 = 640 images: ceil(640/7) = 92 passes = 644 images = 21 steps
grep -qx "medssl finetune: an epoch is 21 steps of 32 images: 7 training samples x 92 passes (--steps-per-epoch)" s8b.log ||
    fail "--steps-per-epoch 20: $(grep epoch s8b.log)"

# --- best.h5: ties of the validation metric go to the lower validation loss ----------------
# (at a tiny learning rate the accuracy on 60 images stays put while the loss keeps falling)
"$MEDSSL" finetune --task classify --train cls.h5 --out tie --strategy scratch --epochs 4 --lr 1e-6 "${FT[@]}" 2> tie.log ||
    { cat tie.log; fail "tie run"; }
best=$(h5dump -a /state/best_epoch tie/best.h5 | sed -n 's/.*(0): \([0-9]*\).*/\1/p')
/usr/bin/python3 - tie/metrics.jsonl "$best" <<'PY' || fail "best.h5 is not the best (accuracy, then lower loss) epoch"
import json, sys
val = [d for d in map(json.loads, open(sys.argv[1])) if "val_accuracy" in d]
want = max(val, key=lambda d: (d["val_accuracy"], -d["val_loss"]))["epoch"]
first = next(d["epoch"] for d in val if d["val_accuracy"] == max(v["val_accuracy"] for v in val))
assert int(sys.argv[2]) == want, (sys.argv[2], want, val)
assert want != first, ("no tie with a lower loss later: the test shows nothing", val)
PY

# --- the shuffle buffer is bounded in MiB per rank as well as in images ---------------------
"$PHANTOM" --kind cls --n 40 --size 128 --seed 6 --out big.h5
"$MEDSSL" finetune --task classify --train big.h5 --out big --strategy scratch --epochs 1 --max-steps 1 --buffer-mib 1 \
    "${FT[@]}" 2> big.log || { cat big.log; fail "--buffer-mib"; }
# a 1x128x128 float image with its bookkeeping is 65556 bytes: 15 fit in 1 MiB
grep -qx "medssl finetune: shuffle buffer: 15 images of 1x128x128 per rank (--buffer-mib 1)" big.log ||
    fail "--buffer-mib 1: $(grep -i buffer big.log)"
"$MEDSSL" pretrain --task rotation --corpus big.h5 --out bigp --epochs 1 --max-steps 1 --batch 8 --buffer-mib 1 \
    --threads 1 --encoder "$ENC" 2> bigp.log || { cat bigp.log; fail "pretrain --buffer-mib"; }
grep -qx "medssl pretrain: shuffle buffer: 15 images of 1x128x128 per rank (--buffer-mib 1)" bigp.log ||
    fail "pretrain --buffer-mib 1: $(grep -i buffer bigp.log)"
echo "cli_split: ok"
