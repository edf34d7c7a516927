#!/usr/bin/env bash
# CLI tests of `medssl features` and `medssl select --method cfs`:
# - features of a phantom corpus from a pretrained encoder (last stage and
#   --stage 1) and from a fine-tuned model; /features, /labels, /domains and the
#   attributes checked in Python; --csv holds the same numbers; 1 and 2 MPI
#   ranks write identical /features;
# - select against Weka 3.6 (CfsSubsetEval + BestFirst -D 1 -N 5, with and
#   without -L) on the medssl features and on synthetic feature sets with ties,
#   a constant feature, redundant copies and unlabeled rows: the same selected
#   attributes, the merit within 1e-3 (Weka prints 3 decimals) and the same
#   number of subsets evaluated. Skipped with a note when Weka is not installed
#   (Debian: apt-get install weka);
# - bad inputs: exit 2, one exact line on stderr, no output file left.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
MEDSSL=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
PHANTOM=$(dirname "$MEDSSL")/medssl_phantom
fail() { echo "FAIL: $*"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
cd "$out"
PY=/usr/bin/python3
WEKA_JAR=${WEKA_JAR:-/usr/share/java/weka.jar}

"$PHANTOM" --kind cls --n 150 --target-n 30 --target-shift 0.5 --size 24 --seed 3 --unlabeled-from 170 --out cls.h5
"$MEDSSL" pretrain --task rotation --corpus cls.h5 --encoder "encoder:widths=8-16-24,convs=1" --epochs 1 --batch 32 \
    --threads 1 --out pre 2>/dev/null

# ---- features ----
"$MEDSSL" features --model pre/last.h5 --data cls.h5 --out f.h5 --csv f.csv --threads 1 2>/dev/null
"$MEDSSL" features --model pre/last.h5 --data cls.h5 --stage 1 --out f1.h5 --batch 7 --threads 1 2>/dev/null
mpirun -np 2 "$MEDSSL" features --model pre/last.h5 --data cls.h5 --out f_np2.h5 --batch 16 --threads 1 2>/dev/null
"$MEDSSL" finetune --task classify --train cls.h5 --init pre/last.h5 --strategy feature-extractor --epochs 1 \
    --threads 1 --out ft >/dev/null 2>&1
"$MEDSSL" features --model ft/best.h5 --data cls.h5 --stage 2 --out f_ft.h5 --threads 1 2>/dev/null
$PY - <<'PY' || fail "features files"
import csv, h5py, numpy as np
c = h5py.File("cls.h5", "r")
labels, domains = c["labels"][...], c["domains"][...]
f = h5py.File("f.h5", "r")
X = f["features"][...]
assert X.shape == (180, 24) and X.dtype == np.float32, (X.shape, X.dtype)
assert np.isfinite(X).all() and (X >= 0).all() and X.std(axis=0).max() > 0  # pooled ReLU outputs, not constant
assert (f["labels"][...] == labels).all() and (f["labels"][...][170:] == -1).all()
assert (f["domains"][...] == domains).all()
a = f.attrs
assert a["format"] in (b"medssl-features", "medssl-features") and int(a["version"]) == 1 and int(a["stage"]) == 2
model = a["model"].decode() if isinstance(a["model"], bytes) else a["model"]
spec = a["model_spec"].decode() if isinstance(a["model_spec"], bytes) else a["model_spec"]
assert model == "pre/last.h5" and "widths=8-16-24" in spec, (model, spec)
assert h5py.File("f1.h5", "r")["features"].shape == (180, 16)
assert int(h5py.File("f1.h5", "r").attrs["stage"]) == 1
# 2 ranks, another batch size: the same bits
assert np.array_equal(h5py.File("f_np2.h5", "r")["features"][...], X), "1 vs 2 ranks differ"
# the fine-tuned model's encoder is the pretrained one (feature-extractor froze it)
assert np.array_equal(h5py.File("f_ft.h5", "r")["features"][...], X), "fine-tuned encoder features differ"
rows = list(csv.reader(open("f.csv")))
assert rows[0][:4] == ["index", "label", "domain", "f0"] and rows[0][-1] == "f23" and len(rows) == 181
for r in rows[1:]:
    i = int(r[0])
    assert int(r[1]) == labels[i] and int(r[2]) == domains[i]
    assert np.allclose([float(v) for v in r[3:]], X[i], rtol=1e-7, atol=0)
PY

# ---- select ----
"$MEDSSL" select --features f.h5 --method cfs --out s.json 2>/dev/null
$PY - <<'PY' || fail "SUBSET.json"
import json
s = json.load(open("s.json"))
assert s["method"] == "cfs" and s["features"] == 24 and s["n"] == 170 and s["classes"] == 3
sel = s["selected"]
assert sel == sorted(set(sel)) and 1 <= len(sel) <= 24 and all(0 <= i < 24 for i in sel)
assert set(s["search_selected"]) <= set(sel)
t = s["trace"]
assert len(t) >= 6 and all(e["added"] is None for e in t[-5:]) and t[-1]["merit"] == s["merit"]
assert t[-1]["size"] == len(s["search_selected"])
assert all(t[i]["merit"] <= t[i + 1]["merit"] for i in range(len(t) - 1)) and 0 < s["merit"] <= 1
PY

# synthetic feature files: informative, redundant (noisy copies), tied, constant; 10% unlabeled
cat > synth.py <<'PY'
import sys, h5py, numpy as np
seed, n, F, K = (int(a) for a in sys.argv[1:5])
r = np.random.default_rng(seed)
y = r.integers(0, K, n)
X = r.normal(size=(n, F))
for k in range(F // 3):
    X[:, k] += (y == (k % K)) * r.uniform(0.3, 2.0)
for k in range(F // 3, F // 2):
    X[:, k] = X[:, k - F // 3] + r.normal(scale=0.3, size=n)
X[:, F - 1] = 1.0
X[:, F - 2] = np.round(X[:, F - 2])
X[:, F - 3] = np.round(X[:, 0] * 2) / 2
y[: n // 10] = -1
with h5py.File(sys.argv[5], "w") as f:
    f.attrs["format"] = "medssl-features"; f.attrs["version"] = 1; f.attrs["stage"] = 0
    f["features"] = X.astype(np.float32); f["labels"] = y.astype(np.int32)
PY
$PY synth.py 3 300 40 3 syn3.h5
$PY synth.py 4 300 40 3 syn4.h5
$PY synth.py 7 500 80 5 syn7.h5
$PY synth.py 8 200 30 2 syn8.h5

# the labeled rows of a features file as ARFF (class last); doubles printed exactly
cat > toarff.py <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
X = f["features"][...].astype(np.float64); y = f["labels"][...]
X, y = X[y >= 0], y[y >= 0]
with open(sys.argv[2], "w") as o:
    o.write("@relation medssl\n")
    for k in range(X.shape[1]): o.write("@attribute f%d numeric\n" % k)
    o.write("@attribute class {%s}\n@data\n" % ",".join(str(k) for k in range(int(y.max()) + 1)))
    for row, c in zip(X, y): o.write(",".join(repr(float(v)) for v in row) + ",%d\n" % c)
PY
# Weka's answer vs medssl's: same attributes, merit within 1e-3, same evaluation count
cat > compare.py <<'PY'
import json, re, sys
s = json.load(open(sys.argv[1])); t = open(sys.argv[2]).read()
m = re.search(r"Selected attributes: ([0-9,]+) :", t)
assert m, "no selection in Weka's output:\n" + t
weka = [int(a) - 1 for a in m.group(1).split(",")]
merit = float(re.search(r"Merit of best subset found:\s+([0-9.]+)", t).group(1))
evals = int(re.search(r"Total number of subsets evaluated: (\d+)", t).group(1))
assert weka == s["selected"], "selected: Weka %s, medssl %s" % (weka, s["selected"])
assert abs(merit - s["merit"]) <= 1e-3, "merit: Weka %s, medssl %s" % (merit, s["merit"])
assert evals == s["evaluations"], "subsets evaluated: Weka %d, medssl %d" % (evals, s["evaluations"])
print("  %s: %d features selected, merit %.4f (Weka %.3f), %d subsets evaluated" % (sys.argv[3], len(weka), s["merit"], merit, evals))
PY
if [ -f "$WEKA_JAR" ] && command -v java >/dev/null; then
  echo "comparing with Weka ($WEKA_JAR)"
  for f in f.h5 f1.h5 syn3.h5 syn4.h5 syn7.h5 syn8.h5; do
    for L in "" -L; do
      flag=(); [ -z "$L" ] || flag=(--no-locally-predictive)
      "$MEDSSL" select --features "$f" --method cfs --out "sel.json" "${flag[@]}" 2>/dev/null
      $PY toarff.py "$f" w.arff
      java -cp "$WEKA_JAR" weka.attributeSelection.CfsSubsetEval $L \
          -s "weka.attributeSelection.BestFirst -D 1 -N 5" -i w.arff > weka.txt 2>&1 || fail "Weka failed: $(cat weka.txt)"
      $PY compare.py sel.json weka.txt "$f${L:+ (-L)}" || fail "$f${L:+ -L}: medssl and Weka differ"
    done
  done
else
  echo "NOTE: Weka not found ($WEKA_JAR; Debian: apt-get install weka): the comparison with Weka is skipped"
fi

# ---- bad inputs: exit 2, exactly one line, nothing written ----
$PY - <<'PY'
import h5py, numpy as np
with h5py.File("rgb.h5", "w") as f:
    f.attrs["format"] = "medssl-corpus"; f.attrs["version"] = 1
    f["images"] = np.zeros((4, 3, 24, 24), np.uint8); f["labels"] = np.array([0, 1, 0, 1], np.int32)
with h5py.File("f.h5", "r") as a, h5py.File("oneclass.h5", "w") as b:
    for k in a.attrs: b.attrs[k] = a.attrs[k]
    b["features"] = a["features"][...]
    b["labels"] = np.where(a["labels"][...] >= 0, 1, -1).astype(np.int32)
with h5py.File("f.h5", "r") as a, h5py.File("v2.h5", "w") as b:
    for k in a.attrs: b.attrs[k] = a.attrs[k]
    b.attrs["version"] = 2
    b["features"] = a["features"][...]; b["labels"] = a["labels"][...]
PY
expect_error() { # want_line output_file args...
  local want=$1 outfile=$2; shift 2
  set +e; err=$("$MEDSSL" "$@" 2>&1 >/dev/null); rc=$?; set -e
  [ "$rc" = 2 ] || fail "'$*' exited $rc, expected 2 ($err)"
  [ "$err" = "$want" ] || fail "'$*': stderr '$err', expected '$want'"
  [ ! -e "$outfile" ] || fail "'$*' left $outfile behind"
  ! ls | grep -q "\.tmp\." || fail "'$*' left a temporary file"
}
expect_error "medssl features: --model CKPT is required (see medssl features --help)" x.h5 features --data cls.h5 --out x.h5
expect_error "medssl features: missing.h5: cannot read: No such file or directory" x.h5 \
    features --model missing.h5 --data cls.h5 --out x.h5
expect_error "medssl features: missing.h5: cannot read: No such file or directory" x.h5 \
    features --model pre/last.h5 --data missing.h5 --out x.h5
expect_error "medssl features: --stage 3: the encoder of pre/last.h5 has stages 0..2" x.h5 \
    features --model pre/last.h5 --data cls.h5 --stage 3 --out x.h5 --csv x.csv
[ ! -e x.csv ] || fail "--stage 3 left x.csv"
expect_error "medssl features: pre/last.h5: the encoder takes 1 channel(s) but rgb.h5 has 3" x.h5 \
    features --model pre/last.h5 --data rgb.h5 --out x.h5
expect_error "medssl features: cls.h5: not a medssl checkpoint (format = \"medssl-corpus\")" x.h5 \
    features --model cls.h5 --data cls.h5 --out x.h5
expect_error "medssl select: oneclass.h5: 170 labeled samples of 1 class; CFS needs at least 2 classes" x.json \
    select --features oneclass.h5 --method cfs --out x.json
expect_error "medssl select: missing.h5: cannot open (missing, or not an HDF5 file)" x.json \
    select --features missing.h5 --method cfs --out x.json
expect_error "medssl select: cls.h5: root attribute format is 'medssl-corpus', expected 'medssl-features' (from medssl features)" \
    x.json select --features cls.h5 --method cfs --out x.json
expect_error "medssl select: v2.h5: root attribute version is 2, expected 1" x.json \
    select --features v2.h5 --method cfs --out x.json
expect_error "medssl select: --method relief: expected cfs" x.json select --features f.h5 --method relief --out x.json
expect_error "medssl select: --out SUBSET.json is required (see medssl select --help)" x.json \
    select --features f.h5 --method cfs
expect_error "medssl select: --max-stale 0: expected an integer in [1, 1e+06]" x.json \
    select --features f.h5 --method cfs --out x.json --max-stale 0
# ---- finetune --feature-subset: a probe on the selected features only ----
"$MEDSSL" finetune --task classify --train cls.h5 --init pre/last.h5 --strategy feature-extractor --epochs 2 \
    --feature-subset s.json --out fsub --threads 1 --log-every 1000 2> fsub.log || { cat fsub.log; fail "finetune --feature-subset"; }
sel=$($PY -c 'import json; print("-".join(map(str, json.load(open("s.json"))["selected"])))')
h5dump -a model_spec fsub/best.h5 | grep -q "subset=$sel\"" || fail "fsub/best.h5 model_spec lacks subset=$sel"
"$MEDSSL" evaluate --model fsub/best.h5 --data cls.h5 --probabilities fsub_p.h5 > /dev/null 2>&1 || fail "evaluate the subset probe"
if $PY -c "import torch" 2> /dev/null; then
  $PY "$HERE/../tools/medssl_torch.py" fsub/best.h5 --data cls.h5 --check fsub_p.h5 --quiet ||
    fail "the PyTorch loader differs on the subset probe"
fi
"$MEDSSL" select --features f1.h5 --method cfs --out s1.json 2> /dev/null || fail "select on stage-1 features"
set +e; err=$("$MEDSSL" finetune --task classify --train cls.h5 --init pre/last.h5 --strategy feature-extractor \
    --feature-subset s1.json --out fbad --threads 1 2>&1 >/dev/null); rc=$?; set -e
[ $rc -eq 2 ] && [ "$err" = "medssl finetune: --feature-subset s1.json: selected among 16 features, but the head's stage gives 24 (use the --features stage medssl features exported)" ] ||
  fail "a subset of stage-1 features on stage-2 features: exit $rc: $err"
"$MEDSSL" finetune --task classify --train cls.h5 --init pre/last.h5 --strategy feature-extractor --features stage1 \
    --epochs 1 --feature-subset s1.json --out fsub1 --threads 1 2> /dev/null || fail "--features stage1 --feature-subset s1.json"
echo "finetune --feature-subset: the probe sees the $(echo "$sel" | tr '-' '\n' | wc -l) selected features (subset=$sel)"

echo "cli_select: all passed"
