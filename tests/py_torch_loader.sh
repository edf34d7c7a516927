#!/usr/bin/env bash
# The PyTorch loader (tools/medssl_torch.py) against medssl itself, on
# synthetic phantoms (tests/util/phantom.c):
#   - two classify models (a residual encoder cut at --features stage1 with an
#     MLP head, dropout and head norm=bn; a plain encoder with a linear head)
#     and a 3-stage U-Net segment model, fine-tuned for a few steps: the torch
#     module's softmax probabilities (per image; per pixel) match medssl
#     evaluate --probabilities within 1e-4;
#   - the check can fail: the same modules with BN eps 1e-3, nearest instead
#     of bilinear upsampling, align_corners=True, average instead of max
#     pooling, or the decoder's concat order swapped miss the tolerance;
#   - pretext checkpoints load: the plain autoencoder's reconstruction MSE over
#     a corpus equals medssl pretrain's val_mse on that corpus; rotation and
#     jigsaw (tiles=9) give logits of the right shape;
#   - a renamed or reshaped tensor, an unknown spec key, or a file that is no
#     checkpoint: exit 2 with one message naming it;
#   - a checkpoint with a bit flipped in the data of a /params tensor (its
#     fletcher32 checksum fails in h5py): exit 2 with one line in medssl's
#     words (no traceback).
set -euo pipefail
MEDSSL=$1
PHANTOM=$(dirname "$MEDSSL")/medssl_phantom
TOOL=$(cd "$(dirname "$0")/.." && pwd)/tools/medssl_torch.py
PY=/usr/bin/python3
fail() { echo "FAIL: $*"; exit 1; }
$PY -c "import torch, h5py, numpy" || fail "python3-torch, python3-h5py and python3-numpy are needed (tests/run.sh installs them)"
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
cd "$out"

"$PHANTOM" --kind cls --n 96 --seed 1 --out cls.h5
"$PHANTOM" --kind seg --n 48 --seed 3 --out seg.h5
"$PHANTOM" --kind seg --n 24 --seed 4 --height 30 --width 21 --out segodd.h5 # not a multiple of 4: padded, cropped
FT=(--threads 1 --log-every 1000 --epochs 2 --batch 16 --strategy scratch)

# --- fine-tuned models: medssl's probabilities vs the torch module's --------------------
"$MEDSSL" finetune --task classify --train cls.h5 --out cr --encoder "encoder:widths=4-8-8,block=residual,convs=2" \
    --features stage1 --head mlp --hidden 16 --dropout 0.2 --head-norm bn "${FT[@]}" 2> cr.log || { cat cr.log; fail "finetune cr"; }
"$MEDSSL" finetune --task classify --train cls.h5 --out cp --encoder "encoder:widths=4-8-16,convs=2" "${FT[@]}" \
    2> cp.log || { cat cp.log; fail "finetune cp"; }
"$MEDSSL" finetune --task segment --train seg.h5 --out sg --encoder "encoder:widths=4-8-16,convs=1" "${FT[@]}" \
    2> sg.log || { cat sg.log; fail "finetune sg"; }
"$MEDSSL" finetune --task segment --train segodd.h5 --out so --encoder "encoder:widths=4-8-16,convs=1" "${FT[@]}" \
    2> so.log || { cat so.log; fail "finetune so (30x21)"; }
h5dump -a model_spec cr/last.h5 | grep -q 'block=residual,convs=2;head:type=mlp,classes=3,hidden=16,dropout=0.2,norm=bn' ||
    fail "cr: not the model spec this test means to cover: $(h5dump -a model_spec cr/last.h5)"
h5dump -a model_spec cr/last.h5 | grep -q 'widths=4-8,' || fail "cr: --features stage1 did not cut the encoder"

for run in cr:cls cp:cls sg:seg so:segodd; do
    m=${run%%:*} d=${run##*:}.h5
    "$MEDSSL" evaluate --model $m/last.h5 --data $d --probabilities $m/p.h5 --threads 1 > /dev/null 2> $m.eval ||
        { cat $m.eval; fail "evaluate --probabilities $m"; }
    $PY "$TOOL" $m/last.h5 --data $d --check $m/p.h5 --quiet > $m.check 2>&1 || { cat $m.check; fail "$m: torch != medssl"; }
    echo "$m: $(cat $m.check)"
done
# the CLI's per-sample lines: one per sample, probabilities summing to 1
$PY "$TOOL" cp/last.h5 --data cls.h5 --count 5 > cp.csv
[ "$(wc -l < cp.csv)" = 6 ] || fail "--count 5 printed $(wc -l < cp.csv) lines"
$PY - cp.csv <<'EOF' || fail "per-sample probabilities do not sum to 1: $(cat cp.csv)"
import sys
rows = [l.strip().split(",") for l in open(sys.argv[1])][1:]
assert all(abs(sum(map(float, r[3:])) - 1) < 1e-5 for r in rows)
EOF

# --- the comparison can fail: wrong layer details move the probabilities beyond 1e-4 ----
$PY - "$TOOL" <<'EOF' || fail "a wrong BN eps, upsampling, pooling or concat order went unnoticed"
import sys, os, types, h5py, numpy as np, torch, torch.nn.functional as F
sys.path.insert(0, os.path.dirname(sys.argv[1]))
import medssl_torch as mt

def maxdiff(model, ckdir, data):
    x, _ = mt.read_images(data, 0, 10**9)
    p = torch.softmax(torch.from_numpy(mt.run(model, x)), 1).numpy()
    with h5py.File(f"{ckdir}/p.h5", "r") as f:
        return float(np.abs(f["probabilities"][()] - p).max())

def eps(m):
    for mod in m.modules():
        if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm): mod.eps = 1e-3
def nearest(m): m.decoder.up_mode = "nearest"
def corners(m): m.decoder.upsample = lambda x: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
def swap(m):  # concat [skip, up] instead of [up, skip]
    d = m.decoder
    def forward(skips):
        x = skips[-1]
        for j in range(d.levels):
            x = getattr(d, f"up{j}")(torch.cat([skips[len(skips) - 2 - j], d.upsample(x)], 1))
        return d.out(x)
    d.forward = forward
def avgpool(m):  # the encoder's 2x2 pooling as an average
    mt.F = types.SimpleNamespace(**{k: getattr(F, k) for k in dir(F) if not k.startswith("_")})
    mt.F.max_pool2d = lambda x, kernel_size, stride: F.avg_pool2d(x, kernel_size, stride)

cases = [("cr", "cls.h5", eps), ("cp", "cls.h5", eps), ("sg", "seg.h5", eps), ("sg", "seg.h5", nearest),
         ("sg", "seg.h5", corners), ("sg", "seg.h5", swap), ("cp", "cls.h5", avgpool)]
bad = 0
for ck, data, mutate in cases:
    m = mt.load(f"{ck}/last.h5")
    ok = maxdiff(m, ck, data)
    mutate(m)
    d = maxdiff(m, ck, data)
    mt.F = F
    print(f"  {ck} with {mutate.__name__}: max |dp| {d:.3g} (correct module: {ok:.3g})")
    if not d > 1e-4:
        print(f"FAIL: {ck}: {mutate.__name__} changes the probabilities by only {d:.3g}")
        bad = 1
sys.exit(bad)
EOF

# --- pretext checkpoints ------------------------------------------------------------------
PT=(--encoder "encoder:widths=4-8,convs=1" --epochs 1 --batch 16 --threads 1)
"$MEDSSL" pretrain --task autoencoder --corpus seg.h5 --val seg.h5 "${PT[@]}" --recon-every 0 --out ae 2> ae.log ||
    { cat ae.log; fail "pretrain autoencoder"; }
"$MEDSSL" pretrain --task rotation --corpus cls.h5 "${PT[@]}" --out rot 2> rot.log || { cat rot.log; fail "pretrain rotation"; }
"$MEDSSL" pretrain --task jigsaw --permutations 10 --corpus cls.h5 "${PT[@]}" --out jig 2> jig.log ||
    { cat jig.log; fail "pretrain jigsaw"; }
$PY "$TOOL" ae/last.h5 --data seg.h5 --quiet 2> ae.check || { cat ae.check; fail "torch autoencoder"; }
$PY - "$TOOL" ae/metrics.jsonl ae.check <<'EOF' || fail "autoencoder: torch MSE differs from medssl's val_mse"
import sys, os, json, re, torch
sys.path.insert(0, os.path.dirname(sys.argv[1]))
import medssl_torch as mt
val = [json.loads(l)["val_mse"] for l in open(sys.argv[2]) if '"val_mse"' in l][-1]
got = float(re.search(r"MSE ([0-9.eE+-]+)", open(sys.argv[3]).read()).group(1))
print(f"  autoencoder: torch MSE {got:.6g}, medssl val_mse {val:.6g}")
assert abs(got - val) <= 1e-4 * max(val, 1e-3), (got, val)
for ck, shape_in, shape_out in (("rot", (5, 1, 32, 32), (5, 4)), ("jig", (18, 1, 8, 8), (2, 10))):
    m = mt.load(f"{ck}/last.h5")
    y = m(torch.rand(*shape_in))
    assert tuple(y.shape) == shape_out, (ck, y.shape)
    print(f"  {ck} ({m.task}): {tuple(shape_in)} -> {tuple(y.shape)}")
EOF

# --- strict loading: one message naming what does not match, exit 2 -----------------------
expect2() { # name, pattern, command...
    local name=$1 pat=$2; shift 2
    set +e; "$@" > $name.out 2>&1; local rc=$?; set -e
    [ $rc = 2 ] || { cat $name.out; fail "$name: exit $rc, expected 2"; }
    grep -q -- "$pat" $name.out || fail "$name: message lacks '$pat': $(cat $name.out)"
}
cp cp/last.h5 renamed.h5 && $PY -c "import h5py; f=h5py.File('renamed.h5','a'); f.move('params/head.fc.weight','params/head.fc.w')"
expect2 renamed "head.fc.weight missing" $PY "$TOOL" renamed.h5
cp cp/last.h5 reshaped.h5 && $PY -c "
import h5py, numpy as np; f=h5py.File('reshaped.h5','a'); del f['params/head.fc.bias']; f['params/head.fc.bias']=np.zeros(4, np.float32)"
expect2 reshaped "head.fc.bias has shape \[4\], the model needs \[3\]" $PY "$TOOL" reshaped.h5
cp cp/last.h5 badkey.h5 && $PY -c "
import h5py; f=h5py.File('badkey.h5','a'); f.attrs['model_spec']=f.attrs['model_spec'].decode()+',act=gelu'"
expect2 badkey "unknown head key 'act'" $PY "$TOOL" badkey.h5
expect2 notckpt "not a medssl checkpoint" $PY "$TOOL" cls.h5

# --- a corrupt checkpoint: one bit flipped in the data of /params/head.fc.weight --------------
$PY - cp/last.h5 flipped.h5 <<'EOF'
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    info = f["params/head.fc.weight"].id.get_chunk_info(0)  # one chunk: the data, then its fletcher32
b = bytearray(open(sys.argv[1], "rb").read())
b[info.byte_offset + info.size // 2] ^= 0x10
open(sys.argv[2], "wb").write(b)
EOF
want="flipped.h5: checksum mismatch in dataset /params/head.fc.weight (the file is corrupt)"
set +e; $PY "$TOOL" flipped.h5 > flipped.out 2> flipped.err; rc=$?; set -e
[ $rc = 2 ] || { cat flipped.err; fail "flipped bit: exit $rc, expected 2"; }
[ "$(cat flipped.err)" = "medssl_torch: $want" ] || fail "flipped bit: stderr is not the one line 'medssl_torch: $want': $(cat flipped.err)"
[ ! -s flipped.out ] || fail "flipped bit: printed $(cat flipped.out)"
set +e; "$MEDSSL" evaluate --model flipped.h5 --data cls.h5 --threads 1 > /dev/null 2> flipped.medssl; rc=$?; set -e
[ $rc = 2 ] && [ "$(cat flipped.medssl)" = "medssl evaluate: $want" ] ||
    fail "flipped bit: medssl evaluate says other words (exit $rc): $(cat flipped.medssl)"
echo "py_torch_loader: ok"
