#!/usr/bin/env bash
# CLI test of any input size (model.h "Any input size": OP_PAD zero-pads the
# input to what the pools need, OP_CROP cuts the decoder's map back):
#   - `medssl pretrain --task autoencoder` with the default encoder (3 pools) on
#     28x28 Fashion-MNIST images (28 is not a multiple of 8), on 1 rank and on
#     2 ranks with --sync-bn; the checkpoint holds no tensor of the padding;
#   - `medssl finetune --task segment` on a 181x217 phantom (MRI-slice size)
#     trains, and `medssl evaluate` on it writes metrics and 181x217 overlays;
#   - segmentation at 45x53 (runs at 48x56) learns: test DSC > 0.75;
#   - evaluate still refuses data of another size than the model's (exit 2).
set -euo pipefail
MEDSSL=$1
PHANTOM=$(dirname "$MEDSSL")/medssl_phantom
fail() { echo "FAIL: $*"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
FM=/usr/share/datasets/fashion-mnist
[ -f "$FM/t10k-images-idx3-ubyte.gz" ] || { echo "dataset-fashion-mnist is not installed"; exit 1; }
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
cd "$out"
PY=/usr/bin/python3

# exit code of a command, without set -e stopping the script (redirect stdout inside it, not after it)
rc_of() { set +e; "$@"; local rc=$?; set -e; echo $rc; }

# --- autoencoder, default encoder, 28x28 -------------------------------------------------
$PY - "$FM/t10k-images-idx3-ubyte.gz" fm.idx <<'PY'
import gzip, struct, sys
raw = gzip.open(sys.argv[1]).read()
n = 128
open(sys.argv[2], "wb").write(struct.pack(">IIII", 0x803, n, 28, 28) + raw[16:16 + n * 784])
PY
"$MEDSSL" import idx --images fm.idx --out fm.h5 2>/dev/null
rc=$(rc_of "$MEDSSL" pretrain --task autoencoder --corpus fm.h5 --epochs 1 --batch 32 --threads 1 --out ae 2> ae.log)
[ "$rc" = 0 ] || { cat ae.log; fail "autoencoder at 28x28: exit $rc"; }
grep -q "widths=32-64-128-256" ae.log || fail "not the default encoder: $(head -1 ae.log)"
[ -f ae/last.h5 ] || fail "autoencoder at 28x28 wrote no last.h5"
$PY - ae/last.h5 ae/metrics.jsonl <<'PY' || fail "autoencoder checkpoint"
import h5py, json, math, sys
f = h5py.File(sys.argv[1], "r")
names = []
f["params"].visit(names.append)
assert any(n.startswith("decoder.out") for n in names), names
assert not any("pad" in n or "crop" in n for n in names), names  # the padding has no tensors
lines = [l for l in map(json.loads, open(sys.argv[2])) if "event" not in l]
assert lines and all(math.isfinite(l["loss"]) for l in lines), lines
print("autoencoder 28x28: %d tensors, last loss %.4f" % (len(names), lines[-1]["loss"]))
PY
rc=$(rc_of mpirun -np 2 "$MEDSSL" pretrain --task autoencoder --corpus fm.h5 --epochs 1 --batch 32 --threads 1 --sync-bn \
    --out ae2 2> ae2.log)
[ "$rc" = 0 ] || { cat ae2.log; fail "autoencoder at 28x28, 2 ranks, --sync-bn: exit $rc"; }
[ -f ae2/last.h5 ] || fail "2-rank autoencoder wrote no last.h5"

# --- segmentation at 181x217 trains; evaluate works ------------------------------------------
"$PHANTOM" --kind seg --n 24 --height 181 --width 217 --seed 3 --out mri.h5
"$PHANTOM" --kind seg --n 6 --height 181 --width 217 --seed 4 --out mrite.h5
rc=$(rc_of "$MEDSSL" finetune --task segment --train mri.h5 --out mri --strategy scratch \
    --encoder "encoder:widths=8-16-32,convs=1" --epochs 2 --steps-per-epoch 3 --batch 8 --lr 0.5 --threads 1 \
    --log-every 1000 2> mri.log)
[ "$rc" = 0 ] || { cat mri.log; fail "segment at 181x217: exit $rc"; }
[ -f mri/last.h5 ] && [ -f mri/best.h5 ] || fail "segment at 181x217 wrote no checkpoints"
set +e; "$MEDSSL" evaluate --model mri/best.h5 --data mrite.h5 --out evm --overlays ov --overlay-count 2 > evm.txt 2>&1; rc=$?; set -e
[ "$rc" = 0 ] || { cat evm.txt; fail "evaluate at 181x217: exit $rc"; }
$PY - evm/metrics.json ov/overlay-000001.png <<'PY' || fail "evaluate at 181x217: metrics or overlay"
import json, math, struct, sys
d = json.load(open(sys.argv[1]))
assert math.isfinite(d["dsc_mean"]) and len(d["per_class"]) == 3, d
png = open(sys.argv[2], "rb").read(24)
w, h = struct.unpack(">II", png[16:24])
assert h == 181 and w >= 3 * 217, (w, h)  # image, truth, prediction side by side at the image's size
print("segment 181x217: DSC %.3f (2 short epochs), overlay %dx%d" % (d["dsc_mean"], w, h))
PY

# --- segmentation at an odd size learns ---------------------------------------------------------
"$PHANTOM" --kind seg --n 300 --height 45 --width 53 --seed 3 --out s45.h5
"$PHANTOM" --kind seg --n 100 --height 45 --width 53 --seed 4 --out s45te.h5
rc=$(rc_of "$MEDSSL" finetune --task segment --train s45.h5 --out s45 --strategy scratch \
    --encoder "encoder:widths=8-16-32,convs=2" --epochs 8 --lr 0.5 --threads 1 --log-every 1000 2> s45.log)
[ "$rc" = 0 ] || { cat s45.log; fail "segment at 45x53: exit $rc"; }
"$MEDSSL" evaluate --model s45/best.h5 --data s45te.h5 --out ev45 > /dev/null
$PY - ev45/metrics.json <<'PY' || fail "segmentation at 45x53 did not learn"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["dsc_mean"] > 0.75, d["dsc_mean"]
print("segment 45x53: test DSC %.3f +- %.3f" % (d["dsc_mean"], d["dsc_std"]))
PY

# --- a model still takes only images of the size it was trained on ------------------------------
set +e; err=$("$MEDSSL" evaluate --model mri/best.h5 --data s45te.h5 2>&1 >/dev/null); rc=$?; set -e
[ "$rc" = 2 ] && [ "$err" = "medssl evaluate: s45te.h5: images are 1x45x53 but mri/best.h5 was trained on 1x181x217 images" ] ||
    fail "evaluate on another image size: exit $rc, $err"
echo "1 passed, 0 failed"
