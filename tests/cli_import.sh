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

# --- one of a thing is singular (issue 9) ----------------------------------------------
/usr/bin/python3 -c 'import struct, sys
open(sys.argv[1], "wb").write(struct.pack(">IIII", 0x803, 1, 5, 4) + bytes(range(20)))
open(sys.argv[2], "wb").write(struct.pack(">II", 0x801, 1) + bytes([0]))' "$out/one.idx" "$out/one_lab.idx"
err=$("$MEDSSL" import idx --images "$out/one.idx" --labels "$out/one_lab.idx" --out "$out/one.h5" 2>&1 >/dev/null)
[ "$err" = "medssl import: wrote $out/one.h5: 1 image of 1x5x4, 1 labeled" ] || fail "one image: $err"
"$MEDSSL" inspect "$out/one.h5" | grep -qx "  labels   1 labeled, 0 unlabeled (-1), 1 class" ||
  fail "inspect of one class: $("$MEDSSL" inspect "$out/one.h5")"

# --- every help text lists every source (issue 9) --------------------------------------
"$MEDSSL" --help | grep -q '^  import .*fashion-mnist, idx, png.* nifti' || fail "medssl --help: $("$MEDSSL" --help | grep import)"
for src in fashion-mnist idx png nifti; do
  "$MEDSSL" import --help | grep -q "^  $src " || fail "medssl import --help does not list $src"
done
set +e; err=$("$MEDSSL" import 2>&1 >/dev/null); rc=$?; set -e
[ "$rc" = 2 ] && [ "$err" = "medssl import: name the source: fashion-mnist, idx, png or nifti (see medssl import --help)" ] ||
  fail "medssl import without a source: exit $rc, $err"

# --- string and number attributes as h5py writes them (issue 9) ----------------------
# np.bytes_ is a fixed-length string without a terminator (NULLPAD): it keeps its last
# character; space-padded, NUL-terminated, variable-length and 1-element arrays are read too;
# an attribute written as an array is refused with one line naming the file and attribute.
if /usr/bin/python3 -c "import h5py" 2>/dev/null; then
/usr/bin/python3 - "$out" <<'PY'
import h5py, numpy as np, sys
d = sys.argv[1]
imgs = np.zeros((6, 1, 8, 8), np.uint8); labels = np.array([0, 1, 0, 1, 1, 0], np.int32)
def corpus(name, fmt, ver=np.int32(1), names=None, names_type=None):
    with h5py.File(f"{d}/{name}", "w") as f:
        f.create_dataset("images", data=imgs); f.create_dataset("labels", data=labels)
        f.attrs["format"] = fmt; f.attrs["version"] = ver
        if names_type is not None: f.attrs.create("class_names", names, dtype=h5py.Datatype(names_type))
        elif names is not None: f.attrs["class_names"] = names
def str_type(size, pad):
    t = h5py.h5t.C_S1.copy(); t.set_size(size); t.set_strpad(pad); return t
corpus("a_nullpad.h5", np.bytes_(b"medssl-corpus"), names=np.bytes_(b"benign,malignant"))
corpus("a_spacepad.h5", np.bytes_(b"medssl-corpus"), names=np.bytes_(b"benign,malignant".ljust(24)),
       names_type=str_type(24, h5py.h5t.STR_SPACEPAD))
corpus("a_nullterm.h5", np.bytes_(b"medssl-corpus"), names=np.bytes_(b"benign,malignant"),
       names_type=str_type(20, h5py.h5t.STR_NULLTERM))
corpus("a_vlen.h5", "medssl-corpus", names="benign,malignant")
corpus("a_one.h5", np.array([b"medssl-corpus"]), names=np.array(["benign,malignant"], dtype=h5py.string_dtype()))
corpus("a_fmtarray.h5", np.array([b"medssl-corpus", b"x"]))
corpus("a_verarray.h5", np.bytes_(b"medssl-corpus"), ver=np.array([1, 1]))
corpus("a_namesarray.h5", "medssl-corpus", names=np.array([b"benign", b"malignant"]))
# class_names of any length up to 1 MiB and 4096 names (a 4095-byte buffer cut them before)
names3000 = ",".join(f"c{i}" for i in range(3000))
corpus("a_names3000.h5", "medssl-corpus", names=np.bytes_(names3000.encode()))   # 16,889 bytes, fixed-length
corpus("a_names3000v.h5", "medssl-corpus", names=names3000)                      # variable-length
corpus("a_names5001.h5", "medssl-corpus", names="a," * 5000 + "b")
corpus("a_longnames.h5", "medssl-corpus", names="a" * 600000 + "," + "b" * 600000)
# a float32 corpus with 4096 names (45,055 bytes: written back as a variable-length
# string) that `import nifti --append` copies, and a 4x4x2 NIfTI-1 volume to append
with h5py.File(f"{d}/a_names4096.h5", "w") as f:
    f.create_dataset("images", data=np.zeros((2, 1, 4, 4), np.float32))
    f.create_dataset("labels", data=np.array([0, 4095], np.int32))
    f.attrs["format"] = "medssl-corpus"; f.attrs["version"] = np.int32(1)
    f.attrs["class_names"] = ",".join(f"class_{i:04d}" for i in range(4096))
import struct
hdr = bytearray(348)
struct.pack_into("<i", hdr, 0, 348); struct.pack_into("<8h", hdr, 40, 3, 4, 4, 2, 1, 1, 1, 1)
struct.pack_into("<hh", hdr, 70, 16, 32); struct.pack_into("<8f", hdr, 76, *[1.0] * 8)
struct.pack_into("<f", hdr, 108, 352.0); hdr[344:348] = b"n+1\0"
open(f"{d}/a_vol.nii", "wb").write(bytes(hdr) + bytes(4) + struct.pack("<32f", *range(32)))
with h5py.File(f"{d}/a_nhwc.h5", "w") as f:  # channels last, as numpy image stacks often are
    f.create_dataset("images", data=np.zeros((6, 28, 28, 1), np.uint8))
    f.attrs["format"] = "medssl-corpus"; f.attrs["version"] = np.int32(1)
PY
for k in nullpad spacepad nullterm vlen one; do
  "$MEDSSL" inspect --json "$out/a_$k.h5" > "$out/a_$k.json" 2> "$out/a_$k.err" || fail "$k attributes: $(cat "$out/a_$k.err")"
  /usr/bin/python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["format"] == "medssl-corpus", d
assert [c["name"] for c in d["classes"]] == ["benign", "malignant"], d["classes"]' "$out/a_$k.json" || fail "$k attributes"
done
expect_line() { # line args...
  local want=$1; shift
  set +e; err=$("$MEDSSL" "$@" 2>&1 >/dev/null); rc=$?; set -e
  [ "$rc" = 2 ] || fail "'$*' exited $rc, expected 2 ($err)"
  [ "$err" = "$want" ] || fail "'$*': stderr is
$err
expected exactly
$want"
}
expect_line "medssl inspect: $out/a_fmtarray.h5: root attribute format must be one string, not an array of 2" \
  inspect "$out/a_fmtarray.h5"
expect_line "medssl inspect: $out/a_verarray.h5: root attribute version must be one integer, not an array of 2" \
  inspect "$out/a_verarray.h5"
expect_line "medssl inspect: $out/a_namesarray.h5: root attribute class_names must be one string (names separated by \
','), not an array of 2" inspect "$out/a_namesarray.h5"
for k in names3000 names3000v; do
  "$MEDSSL" inspect --json "$out/a_$k.h5" 2>&1 | /usr/bin/python3 -c 'import json, sys; d = json.load(sys.stdin)
assert [c["name"] for c in d["classes"]] == ["c%d" % i for i in range(3000)], len(d["classes"])' || fail "$k class names"
done
"$MEDSSL" import nifti "$out/a_vol.nii" --append --out "$out/a_names4096.h5" 2>/dev/null || fail "append to 4096 names"
"$MEDSSL" inspect --json "$out/a_names4096.h5" | /usr/bin/python3 -c 'import json, sys; d = json.load(sys.stdin)
assert d["images"] == 4 and d["labeled"] == 2, d
assert [c["name"] for c in d["classes"]] == ["class_%04d" % i for i in range(4096)], len(d["classes"])' ||
  fail "4096 class names through import nifti --append"
expect_line "medssl inspect: $out/a_names5001.h5: root attribute class_names lists 5001 names, more than 4096 classes" \
  inspect "$out/a_names5001.h5"
expect_line "medssl inspect: $out/a_longnames.h5: root attribute class_names is 1200001 bytes long (at most 1048575)" \
  inspect "$out/a_longnames.h5"
expect_line "medssl inspect: $out/a_nhwc.h5: /images has shape (6, 28, 28, 1), which looks like [N, H, W, C] (channels \
last); medssl needs [N, C, H, W] (in numpy/h5py: images.transpose(0, 3, 1, 2))" inspect "$out/a_nhwc.h5"
else
  echo "note: python3-h5py not installed; skipped the h5py attribute part"
fi

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
