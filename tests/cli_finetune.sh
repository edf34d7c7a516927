#!/usr/bin/env bash
# CLI test of `medssl finetune` and `medssl evaluate` on synthetic phantoms
# (tests/util/phantom.c: shapes with known labels/masks, a contrast-shifted
# target domain):
#   - each strategy freezes exactly what it says (frozen tensors and BN running
#     statistics bit-identical to the --init checkpoint, trained ones changed);
#     feature-extractor's feature cache gives the same weights as no cache;
#   - classification learns (test accuracy far above chance), segmentation reaches
#     a high Dice; supervised domain adaptation: a few target labels beat
#     source-only on the target domain, by both protocols;
#   - evaluate's metrics.json keys, per domain (with the ROC vertices and the
#     per-image DSC lists); 1 and 2 MPI ranks agree;
#   - resume is bit-identical; early stopping; bad input exits 2 with a message.
set -euo pipefail
MEDSSL=$1
PHANTOM=$(dirname "$MEDSSL")/medssl_phantom
fail() { echo "FAIL: $*"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
cd "$out"
PY=/usr/bin/python3

"$PHANTOM" --kind cls --n 600 --target-n 40 --target-shift 0.8 --seed 1 --out tr.h5
"$PHANTOM" --kind cls --n 200 --target-n 200 --target-shift 0.8 --seed 2 --out te.h5
"$PHANTOM" --kind seg --n 300 --seed 3 --out seg.h5
"$PHANTOM" --kind seg --n 100 --seed 4 --out segte.h5
ENC="encoder:widths=8-16-32,convs=1"
FT=(--threads 1 --log-every 1000)

# a pretrained encoder to start from (rotation, one epoch)
"$MEDSSL" pretrain --task rotation --corpus tr.h5 --encoder "$ENC" --epochs 1 --batch 32 --threads 1 --out pre 2>/dev/null
INIT=pre/last.h5

# tensor values of a checkpoint, one file per tensor name prefix
dump() { h5dump -d "/params/$2" "$1" | tail -n +3; }
same() { cmp -s <(dump "$1" "$3") <(dump "$2" "$3"); }

# --- feature-extractor: the encoder (and its BN running stats) untouched ----------------
"$MEDSSL" finetune --task classify --train tr.h5 --out fe --strategy feature-extractor --init $INIT --epochs 3 \
    --domains 0 "${FT[@]}" 2> fe.log || { cat fe.log; fail "feature-extractor run"; }
for t in encoder.stage0.conv0.weight encoder.stage1.bn0.weight encoder.stage2.bn0.running_mean \
         encoder.stage2.bn0.running_var encoder.stage0.bn0.running_mean; do
    same $INIT fe/last.h5 $t || fail "feature-extractor changed $t"
done
"$MEDSSL" evaluate --model fe/last.h5 --data te.h5 --json > /dev/null || fail "evaluate feature-extractor"
grep -q "computed once and cached" fe.log || fail "feature-extractor did not cache the features: $(head -5 fe.log)"
# the cache changes nothing but the time: an MLP head with dropout on stage1 features, 2 ranks,
# with and without the cache, ends with the same weights up to float rounding (OpenBLAS's
# GEMM rounds a sample's features differently in batches of other sizes, so features
# cached from epoch 0 can differ in the last bit from those of a later batch)
for c in on off; do
    extra=(); [ $c = off ] && extra=(--no-feature-cache)
    mpirun -np 2 "$MEDSSL" finetune --task classify --train tr.h5 --out fec-$c --strategy feature-extractor --init $INIT \
        --features stage1 --head mlp --hidden 16 --dropout 0.3 --epochs 3 --batch 32 "${extra[@]}" "${FT[@]}" 2> fec-$c.log ||
        { cat fec-$c.log; fail "feature-extractor cache $c"; }
done
grep -q "computed once and cached" fec-off.log && fail "--no-feature-cache still cached"
h5diff -d 1e-5 fec-on/last.h5 fec-off/last.h5 /params /params > /dev/null ||
    fail "feature cache: weights differ from running the encoder every epoch"
h5diff -d 1e-9 fec-on/last.h5 fec-off/last.h5 /params /params > /dev/null ||
    echo "note: feature cache on/off differ below 1e-5 (GEMM rounding by batch size)"

# --- finetune --freeze stage0: stage0 untouched, stage1 trained --------------------------
"$MEDSSL" finetune --task classify --train tr.h5 --out ftz --strategy finetune --init $INIT --freeze stage0 \
    --epochs 2 --domains 0 "${FT[@]}" 2>/dev/null || fail "finetune --freeze run"
same $INIT ftz/last.h5 encoder.stage0.conv0.weight || fail "--freeze stage0 changed stage0's conv"
same $INIT ftz/last.h5 encoder.stage0.bn0.running_mean || fail "--freeze stage0 changed stage0's BN statistics"
same $INIT ftz/last.h5 encoder.stage1.conv0.weight && fail "finetune did not train stage1"

# --- two-stage: the encoder is frozen exactly for --stage1-epochs, then trains -----------
"$MEDSSL" finetune --task classify --train tr.h5 --out ts --strategy two-stage --init $INIT --epochs 4 \
    --stage1-epochs 2 --domains 0 "${FT[@]}" --log-every 1 --max-steps 1000000 2> ts.log || fail "two-stage run"
spe=$(grep -m1 -o 'step [0-9]*/[0-9]*' ts.log | sed 's|.*/||'); spe=$(( spe / 4 ))
rm -rf ts2
"$MEDSSL" finetune --task classify --train tr.h5 --out ts2 --strategy two-stage --init $INIT --epochs 4 \
    --stage1-epochs 2 --domains 0 "${FT[@]}" --max-steps $(( 2 * spe )) 2>/dev/null
same $INIT ts2/last.h5 encoder.stage1.conv0.weight || fail "two-stage trained the encoder in stage 1"
grep -q "stage 2 from epoch 3" ts.log || fail "two-stage: no stage-2 message: $(cat ts.log)"
same $INIT ts/last.h5 encoder.stage1.conv0.weight && fail "two-stage did not train the encoder in stage 2"
# resuming the stopped run reaches the uninterrupted run's weights bit for bit
"$MEDSSL" finetune --task classify --train tr.h5 --out ts2 --strategy two-stage --init $INIT --epochs 4 \
    --stage1-epochs 2 --domains 0 "${FT[@]}" --resume auto 2> ts2.log
grep -q "resuming from" ts2.log || fail "two-stage did not resume"
cmp -s <(h5dump -g /params ts/last.h5 | tail -n +2) <(h5dump -g /params ts2/last.h5 | tail -n +2) ||
    fail "resumed two-stage run differs from the uninterrupted one"

# --- scratch ignores the init weights ------------------------------------------------------
"$MEDSSL" finetune --task classify --train tr.h5 --out sc --strategy scratch --init $INIT --epochs 8 --lr 0.4 \
    --domains 0 "${FT[@]}" 2>/dev/null || fail "scratch run"
"$MEDSSL" evaluate --model sc/best.h5 --data te.h5 --by-domain --out ev --ci 100 > ev.txt || fail "evaluate"
$PY - ev/metrics.json <<'PY' || fail "classification metrics"
import json, sys
d = json.load(open(sys.argv[1]))
for k in ("accuracy", "balanced_accuracy", "macro_auc", "confusion", "per_class", "domains", "ci95"):
    assert k in d, k
assert len(d["per_class"]) == 3 and len(d["confusion"]) == 3
for c in d["per_class"]:
    for k in ("sensitivity", "specificity", "precision", "f1", "auc"):
        assert k in c, k
# ROC curves for the HTML report: K entries per metrics object, (0,0) to (1,1), <= 200 vertices
for o in [d] + list(d["domains"].values()):
    assert len(o["roc"]) == 3, o["roc"]
    for c, r in zip(o["per_class"], o["roc"]):
        assert r is not None and c["auc"] is not None
        assert 2 <= len(r["fpr"]) == len(r["tpr"]) <= 200, len(r["fpr"])
        assert [r["fpr"][0], r["tpr"][0]] == [0, 0] and [r["fpr"][-1], r["tpr"][-1]] == [1, 1], r
src = d["domains"]["0"]["accuracy"]
assert src > 0.85, src                            # chance is 1/3
print("scratch, source-domain test accuracy", src, "target", d["domains"]["1"]["accuracy"])
PY

# --- supervised domain adaptation ----------------------------------------------------------
acc() { "$MEDSSL" evaluate --model "$1" --data te.h5 --by-domain --json | $PY -c \
        "import json,sys; print(json.load(sys.stdin)['domains']['$2']['accuracy'])"; }
"$MEDSSL" finetune --task classify --train tr.h5 --out joint --strategy scratch --encoder "$ENC" --epochs 8 --lr 0.4 \
    --target-domain 1 --target-weight 10 "${FT[@]}" 2>/dev/null || fail "joint run"
"$MEDSSL" finetune --task classify --train tr.h5 --out tgt --strategy finetune --init sc/best.h5 --keep-head \
    --domains 1 --epochs 10 --val-fraction 0 "${FT[@]}" 2>/dev/null || fail "source-then-target run"
a=$(acc sc/best.h5 1); b=$(acc joint/best.h5 1); c=$(acc tgt/last.h5 1)
echo "target-domain test accuracy: source only $a, source+target (x10) $b, source then target $c"
$PY -c "import sys; a,b,c=map(float,sys.argv[1:]); assert b > a + 0.2 and c > a + 0.1, (a,b,c)" "$a" "$b" "$c" ||
    fail "few target labels did not beat source-only on the target"

# --- 2 ranks: finetune learns; evaluate gives the same numbers as 1 rank ---------------------
mpirun -np 2 "$MEDSSL" finetune --task classify --train tr.h5 --out mpi --strategy scratch --encoder "$ENC" \
    --epochs 4 --domains 0 "${FT[@]}" 2> mpi.log || { cat mpi.log; fail "2-rank finetune"; }
grep -q "2 rank(s)" mpi.log || fail "not 2 ranks"
"$MEDSSL" evaluate --model mpi/last.h5 --data te.h5 --json > e1.json
mpirun -np 2 "$MEDSSL" evaluate --model mpi/last.h5 --data te.h5 --json > e2.json
cmp -s e1.json e2.json || fail "evaluate: 2 ranks differ from 1"

# --- segmentation ----------------------------------------------------------------------------
"$MEDSSL" finetune --task segment --train seg.h5 --out seg --strategy scratch --encoder "encoder:widths=8-16-32,convs=2" \
    --epochs 8 --lr 0.5 "${FT[@]}" 2> seg.log || { cat seg.log; fail "segment run"; }
"$MEDSSL" evaluate --model seg/best.h5 --data segte.h5 --out evs --overlays ov --overlay-count 3 > /dev/null
[ -f ov/overlay-000002.png ] || fail "no overlays"
$PY - evs/metrics.json <<'PY' || fail "segmentation metrics"
import json, sys
d = json.load(open(sys.argv[1]))
for k in ("dsc_mean", "dsc_std", "per_class"):
    assert k in d, k
assert len(d["per_class"]) == 3
# per-image DSC for the HTML report: one list per class, the per_class n images
assert [len(v) for v in d["dsc_per_image"]] == [c["n"] for c in d["per_class"]], d["dsc_per_image"]
assert d["per_class"][1]["n"] > 0 and all(0 <= x <= 1 for v in d["dsc_per_image"] for x in v)
assert d["dsc_mean"] > 0.75, d["dsc_mean"]
print("segmentation test DSC %.3f +- %.3f" % (d["dsc_mean"], d["dsc_std"]))
PY

# --- class imbalance: --balance oversample draws every class as often as the largest --------
"$PHANTOM" --kind cls --n 600 --minority 0.15 --seed 5 --out imb.h5
"$MEDSSL" finetune --task classify --train imb.h5 --out imb0 --strategy scratch --encoder "$ENC" --epochs 1 "${FT[@]}" 2> imb0.log
"$MEDSSL" finetune --task classify --train imb.h5 --out imb1 --strategy scratch --encoder "$ENC" --epochs 1 --balance oversample \
    --class-weights auto "${FT[@]}" 2> imb1.log || { cat imb1.log; fail "--balance oversample"; }
n0=$(sed -n 's/.*: \([0-9]*\) training samples.*/\1/p' imb0.log); n1=$(sed -n 's/.*: \([0-9]*\) training samples.*/\1/p' imb1.log)
[ -n "$n0" ] && [ -n "$n1" ] && [ "$n1" -gt "$n0" ] && [ $(( n1 % 3 )) -eq 0 ] ||
    fail "--balance oversample: $n1 samples/epoch (plain $n0): expected more, a multiple of 3 classes"
echo "imbalanced corpus: $n0 training samples/epoch, $n1 with --balance oversample"

# --- early stopping ----------------------------------------------------------------------------
"$MEDSSL" finetune --task classify --train tr.h5 --out es --strategy scratch --encoder "$ENC" --epochs 200 \
    --patience 2 --lr 0.0001 --domains 0 "${FT[@]}" 2> es.log || fail "patience run"
grep -q "early stop" es.log || fail "no early stop: $(tail -3 es.log)"

# --encoder without the "encoder:" prefix, as the help writes it (issue 9)
"$MEDSSL" finetune --task classify --train tr.h5 --out nopfx --strategy scratch --encoder widths=8-16,convs=1 \
    --epochs 1 --max-steps 1 "${FT[@]}" 2> nopfx.log || { cat nopfx.log; fail "--encoder widths=... without encoder:"; }
h5dump -a model_spec nopfx/last.h5 | grep -q '"encoder:in=1,widths=8-16,block=plain,convs=1;head:type=linear' ||
    fail "--encoder widths=...: model_spec $(h5dump -a model_spec nopfx/last.h5)"

# checkpoint attributes as h5py writes them (issue 9): np.bytes_ strings (fixed length, no
# terminator) keep their last character; a version written as an array is refused
if $PY -c "import h5py" 2>/dev/null; then
    cp nopfx/last.h5 attr_fixed.h5
    cp nopfx/last.h5 attr_verarray.h5
    $PY - <<'PY'
import h5py, numpy as np
with h5py.File("attr_fixed.h5", "a") as f:
    for k in ("format", "model_spec", "task"):
        v = f.attrs[k]
        f.attrs[k] = np.bytes_(v if isinstance(v, bytes) else v.encode())
with h5py.File("attr_verarray.h5", "a") as f:
    f.attrs["version"] = np.array([1, 1])
PY
    "$MEDSSL" evaluate --model attr_fixed.h5 --data te.h5 --json > attr_fixed.json 2> attr_fixed.err ||
        fail "checkpoint with np.bytes_ attributes: $(cat attr_fixed.err)"
    cmp -s <(grep -v '"model"' attr_fixed.json) <("$MEDSSL" evaluate --model nopfx/last.h5 --data te.h5 --json 2>/dev/null |
                                                  grep -v '"model"') ||
        fail "checkpoint with np.bytes_ attributes: other metrics"
    set +e; err=$("$MEDSSL" evaluate --model attr_verarray.h5 --data te.h5 2>&1 >/dev/null); rc=$?; set -e
    [ $rc -eq 2 ] && [ "$err" = "medssl evaluate: attr_verarray.h5: attribute version must be one number, not an array of 2" ] ||
        fail "version array: exit $rc, $err"
else
    echo "note: python3-h5py not installed; skipped the h5py checkpoint attributes"
fi

# evaluate refuses data unlike the model's training data (issue 9): another image size than
# the checkpoint's input_size (also when the training corpus is gone), more classes than the model has
"$PHANTOM" --kind cls --n 50 --size 40 --seed 5 --out te40.h5
h5dump -a input_size nopfx/last.h5 | grep -q '"1x32x32"' || fail "the checkpoint has no input_size 1x32x32"
mv tr.h5 tr-moved.h5
set +e; err=$("$MEDSSL" evaluate --model nopfx/last.h5 --data te40.h5 2>&1 >/dev/null); rc=$?; set -e
mv tr-moved.h5 tr.h5
[ $rc -eq 2 ] && [ "$err" = "medssl evaluate: te40.h5: images are 1x40x40 but nopfx/last.h5 was trained on 1x32x32 images" ] ||
    fail "evaluate on another image size: exit $rc, $err"
"$PHANTOM" --kind cls --n 50 --seed 6 --out te5.h5
if $PY -c "import h5py" 2>/dev/null; then
    $PY -c 'import h5py, numpy as np
with h5py.File("te5.h5", "a") as f:
    f["labels"][...] = np.arange(50, dtype=np.int32) % 5
    del f.attrs["class_names"]'
    set +e; err=$("$MEDSSL" evaluate --model nopfx/last.h5 --data te5.h5 2>&1 >/dev/null); rc=$?; set -e
    [ $rc -eq 2 ] && [ "$err" = "medssl evaluate: te5.h5: 5 classes, but nopfx/last.h5 is a 3-class model" ] ||
        fail "evaluate with more classes than the model: exit $rc, $err"
fi

# --- bad input: one message, exit 2 -------------------------------------------------------------
expect2() {
    local what=$1; shift
    set +e; "$MEDSSL" "$@" > bad.out 2> bad.err; local rc=$?; set -e
    [ $rc -eq 2 ] || fail "$what: exit $rc, expected 2 ($(cat bad.err))"
    [ "$(wc -l < bad.err)" -ge 1 ] || fail "$what: no message"
    grep -q "$1" bad.err 2>/dev/null || true
}
expect2 "no labels" finetune --task classify --train seg.h5 --out b1 --strategy scratch --encoder "$ENC"
grep -q "seg.h5: no /labels" bad.err || fail "no-labels message: $(cat bad.err)"
expect2 "no masks" finetune --task segment --train tr.h5 --out b2 --strategy scratch --encoder "$ENC"
grep -q "tr.h5: no /masks" bad.err || fail "no-masks message: $(cat bad.err)"
expect2 "strategy" finetune --task classify --train tr.h5 --out b3 --strategy bogus
grep -q "\-\-strategy bogus" bad.err || fail "strategy message: $(cat bad.err)"
expect2 "layer" finetune --task classify --train tr.h5 --out b4 --strategy finetune --init $INIT --freeze stage7
grep -q "stage7" bad.err || fail "layer message: $(cat bad.err)"
expect2 "head mismatch" finetune --task segment --train seg.h5 --out b5 --strategy finetune --init $INIT --keep-head
grep -q "decoder" bad.err || fail "keep-head message: $(cat bad.err)"
expect2 "init not a checkpoint" finetune --task classify --train tr.h5 --out b6 --strategy finetune --init tr.h5
expect2 "features" finetune --task classify --train tr.h5 --out b7 --strategy feature-extractor --init $INIT --features stage9
expect2 "pretext model" evaluate --model $INIT --data te.h5
grep -q "rotation" bad.err || fail "pretext-model message: $(cat bad.err)"
expect2 "evaluate without masks" evaluate --model seg/best.h5 --data te.h5
expect2 "class weights" finetune --task classify --train tr.h5 --out b8 --strategy scratch --encoder "$ENC" --class-weights 1,2
expect2 "domains" finetune --task classify --train tr.h5 --out b9 --strategy scratch --encoder "$ENC" --domains 5
# exactly one stderr line, exactly this one, and this exit code (issue 9: a wrapped message once,
# never HDF5's error stack after it)
expect_line() { # exit-code line args...
    local want_rc=$1 want=$2; shift 2
    set +e; "$MEDSSL" "$@" > bad.out 2> bad.err; local rc=$?; set -e
    [ $rc -eq "$want_rc" ] || fail "'$*': exit $rc, expected $want_rc ($(cat bad.err))"
    [ "$(cat bad.err)" = "$want" ] || fail "'$*': stderr is
$(cat bad.err)
expected exactly
$want"
}
expect_line 2 "medssl finetune: --freeze: no layer named 'stage9' (matched as 'encoder.stage9.'); this encoder has \
stage0..stage2, or give a tensor name prefix such as encoder.stage0.conv0" \
    finetune --task classify --train tr.h5 --out b10 --strategy finetune --init $INIT --freeze stage9
expect_line 2 "medssl finetune: --keep-head: $INIT: 2 tensor(s) do not match the model: head.fc.weight has shape 4x32, \
model needs 3x32; head.fc.bias has shape 4, model needs 3" \
    finetune --task classify --train tr.h5 --out b11 --strategy finetune --init $INIT --keep-head
expect_line 2 "medssl finetune: --encoder: model spec: unknown encoder key 'conv' (expected in, widths, block, convs)" \
    finetune --task classify --train tr.h5 --out b12 --strategy scratch --encoder "encoder:widths=16-32,conv=2"
expect_line 2 "medssl finetune: --strategy fine-tune: expected feature-extractor, finetune, two-stage or scratch" \
    finetune --task classify --train tr.h5 --out b14 --strategy fine-tune
expect_line 2 "medssl finetune: /proc/x: cannot create folder: No such file or directory" \
    finetune --task classify --train tr.h5 --out /proc/x --strategy scratch --encoder "$ENC"
# the task's truth (task table: classify judges on /labels, segment on /masks)
expect_line 2 "medssl evaluate: te.h5: no /masks dataset: seg/best.h5 is a segment model, which needs masks to be judged" \
    evaluate --model seg/best.h5 --data te.h5
expect_line 2 "medssl evaluate: seg.h5: no /labels dataset: nopfx/last.h5 is a classify model, which needs labels to be \
judged" evaluate --model nopfx/last.h5 --data seg.h5
expect_line 2 "medssl evaluate: --overlays ov-cls: overlays draw segmentation masks, but nopfx/last.h5 is a classify \
model" evaluate --model nopfx/last.h5 --data te.h5 --overlays ov-cls
[ ! -e ov-cls ] || fail "evaluate --overlays on a classify model made ov-cls"
for d in b1 b2 b3 b4 b5 b6 b7 b8 b9 b10 b11 b12 b14; do [ ! -e $d/last.h5 ] || fail "$d: a checkpoint after bad input"; done
echo "1 passed, 0 failed"
