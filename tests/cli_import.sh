#!/usr/bin/env bash
# CLI tests of `medssl import` and `medssl inspect` on real files: Fashion-MNIST
# (Debian's dataset-fashion-mnist, if installed) round trip against the IDX
# bytes, a labeled subset, h5dump readability, and bad inputs (exit 2, one
# message naming the file, no output file left behind).
set -euo pipefail
MEDSSL=$1
fail() { echo "FAIL: $*"; exit 1; }
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT

expect_input_error() { # want out_file args...
  local want=$1 outfile=$2; shift 2
  set +e; err=$("$MEDSSL" "$@" 2>&1 >/dev/null); rc=$?; set -e
  [ "$rc" = 2 ] || fail "'$*' exited $rc, expected 2 ($err)"
  echo "$err" | grep -q -- "$want" || fail "'$*': message '$err' lacks '$want'"
  [ "$(echo "$err" | wc -l)" = 1 ] || fail "'$*' printed more than one line: $err"
  [ -z "$outfile" ] || [ ! -e "$outfile" ] || fail "'$*' left $outfile behind"
  ls "$out" | grep -q "\.tmp\." && fail "'$*' left a temporary file" || true
}

# --- a small IDX pair made here: exact round trip ---------------------------------
/usr/bin/python3 - "$out" <<'PY'
import gzip, struct, sys
d = sys.argv[1]
n, h, w = 13, 5, 4
imgs = bytes((i * 37) % 256 for i in range(n * h * w))
labs = bytes(i % 3 for i in range(n))
with gzip.open(f"{d}/img.gz", "wb") as f: f.write(struct.pack(">IIII", 0x803, n, h, w) + imgs)
with open(f"{d}/lab.idx", "wb") as f: f.write(struct.pack(">II", 0x801, n) + labs)
with open(f"{d}/short.idx", "wb") as f: f.write(struct.pack(">IIII", 0x803, n, h, w) + imgs[:-1])
with open(f"{d}/lab_wrong.idx", "wb") as f: f.write(struct.pack(">II", 0x801, n - 1) + labs[:-1])
PY
"$MEDSSL" import idx --images "$out/img.gz" --labels "$out/lab.idx" --out "$out/small.h5" 2>/dev/null
h5dump -d /images "$out/small.h5" > "$out/dump.txt" || fail "h5dump cannot read the corpus"
/usr/bin/python3 - "$out" <<'PY' || fail "IDX -> corpus values differ"
import re, sys
d = sys.argv[1]
txt = open(f"{d}/dump.txt").read()
body = txt[txt.index("DATA {"):]
vals = [int(v) for v in re.findall(r"(?<![\(\d])\b(\d+)\b(?![:\d])", re.sub(r"\(\d+(,\d+)*\):", " ", body))]
want = [(i * 37) % 256 for i in range(13 * 5 * 4)]
assert vals == want, (len(vals), vals[:10], want[:10])
PY
"$MEDSSL" inspect --json "$out/small.h5" > "$out/small.json"
/usr/bin/python3 - "$out/small.json" <<'PY' || fail "inspect --json of the small corpus"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["images"] == 13 and d["height"] == 5 and d["width"] == 4 and d["dtype"] == "uint8", d
assert [c["count"] for c in d["classes"]] == [5, 4, 4], d["classes"]
assert d["unlabeled"] == 0 and abs(d["max"] - max((i * 37) % 256 for i in range(260)) / 255) < 1e-6, d
PY

# --- bad inputs ---------------------------------------------------------------------
expect_input_error "truncated" "$out/x.h5" import idx --images "$out/short.idx" --out "$out/x.h5"
expect_input_error "has 12 labels for the 13 images" "$out/x.h5" import idx --images "$out/img.gz" --labels "$out/lab_wrong.idx" --out "$out/x.h5"
expect_input_error "not an IDX image file" "$out/x.h5" import idx --images "$out/lab.idx" --out "$out/x.h5"
expect_input_error "cannot open" "$out/x.h5" import idx --images "$out/nope.gz" --out "$out/x.h5"
expect_input_error "unknown source" "$out/x.h5" import dicom --out "$out/x.h5"
expect_input_error "--out FILE is required" "" import idx --images "$out/img.gz"
expect_input_error "not both" "$out/x.h5" import idx --images "$out/img.gz" --labeled-per-class 1 --labeled-fraction 0.5 --out "$out/x.h5"
expect_input_error "--labeled-fraction" "$out/x.h5" import idx --images "$out/img.gz" --labeled-fraction 1.5 --out "$out/x.h5"
expect_input_error "--split" "$out/x.h5" import fashion-mnist --out "$out/x.h5"
echo "not hdf5" > "$out/text.h5"
expect_input_error "not an HDF5 file" "" inspect "$out/text.h5"
head -c 3000 "$out/small.h5" > "$out/cut.h5"
expect_input_error "cut.h5" "" inspect "$out/cut.h5"
expect_input_error "cannot read" "" inspect "$out/missing.h5"

# --- Fashion-MNIST from the Debian package -------------------------------------------
FM=/usr/share/datasets/fashion-mnist
if [ -f "$FM/t10k-images-idx3-ubyte.gz" ]; then
  "$MEDSSL" import fashion-mnist --split test --labeled-per-class 5 --seed 3 --size 32 --gzip 4 --out "$out/fm.h5" 2>/dev/null
  "$MEDSSL" inspect --json "$out/fm.h5" > "$out/fm.json"
  /usr/bin/python3 - "$out/fm.json" <<'PY' || fail "fashion-mnist import"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["images"] == 10000 and d["height"] == 32 and d["width"] == 32, d
assert d["labeled"] == 50 and d["unlabeled"] == 9950, d
assert [c["count"] for c in d["classes"]] == [5] * 10 and d["classes"][9]["name"] == "Ankle boot", d["classes"]
PY
  # the labels of the full test split equal the IDX label bytes
  "$MEDSSL" import fashion-mnist --split test --out "$out/fm_full.h5" 2>/dev/null
  h5dump -d /labels "$out/fm_full.h5" > "$out/lab.txt"
  /usr/bin/python3 - "$out/lab.txt" "$FM/t10k-labels-idx1-ubyte.gz" <<'PY' || fail "fashion-mnist labels differ from the IDX file"
import gzip, re, sys
txt = open(sys.argv[1]).read()
body = re.sub(r"\(\d+\):", " ", txt[txt.index("DATA {"):])
vals = [int(v) for v in re.findall(r"-?\d+", body)]
want = list(gzip.open(sys.argv[2]).read()[8:])
assert vals == want, (len(vals), len(want))
PY
else
  echo "note: dataset-fashion-mnist not installed; skipped the Fashion-MNIST part"
fi
echo "1 passed, 0 failed"
