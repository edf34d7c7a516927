#!/usr/bin/env bash
# CLI test of `medssl import nifti`: NIfTI-1 volumes written here byte by byte
# (python stdlib), sliced along z and x, with a label volume as masks, a window,
# domains, --fit pad and --append; broken inputs exit 2 with one message and no output.
set -euo pipefail
MEDSSL=$1
fail() { echo "FAIL: $*"; exit 1; }
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
/usr/bin/python3 - "$out" <<'PY'
import struct, sys, gzip
d = sys.argv[1]
def nii(path, dims, dtype, bitpix, fmt, values, gz=False):
    hdr = bytearray(348)
    struct.pack_into("<i", hdr, 0, 348)
    struct.pack_into("<8h", hdr, 40, 3, *dims, 1, 1, 1, 1)
    struct.pack_into("<hh", hdr, 70, dtype, bitpix)
    struct.pack_into("<8f", hdr, 76, 1, 1, 1, 1, 1, 1, 1, 1)
    struct.pack_into("<f", hdr, 108, 352.0)
    hdr[344:348] = b"n+1\0"
    data = bytes(hdr) + b"\0\0\0\0" + struct.pack("<%d%s" % (len(values), fmt), *values)
    (gzip.open if gz else open)(path, "wb").write(data)
nx, ny, nz = 10, 12, 5
vol = [x + 10 * y + 100 * z for z in range(nz) for y in range(ny) for x in range(nx)]
lab = [1 if (2 <= x < 5 and 3 <= y < 7) else 0 for z in range(nz) for y in range(ny) for x in range(nx)]
nii(f"{d}/vol.nii", (nx, ny, nz), 16, 32, "f", vol)
nii(f"{d}/vol.nii.gz", (nx, ny, nz), 16, 32, "f", vol, gz=True)
nii(f"{d}/lab.nii", (nx, ny, nz), 2, 8, "B", lab)
nii(f"{d}/lab_bad.nii", (nx, ny, nz), 2, 8, "B", [255 if i == 7 else 0 for i in range(len(lab))])
nii(f"{d}/small.nii", (nx, ny, 3), 16, 32, "f", vol[: nx * ny * 3])
nan = list(vol); nan[123] = float("nan")
nii(f"{d}/nan.nii", (nx, ny, nz), 16, 32, "f", nan)
open(f"{d}/trunc.nii", "wb").write(open(f"{d}/vol.nii", "rb").read()[:1000])
PY
"$MEDSSL" import nifti "$out/vol.nii.gz" --labels "$out/lab.nii" --domain 0 --out "$out/z.h5" 2>/dev/null
"$MEDSSL" inspect --json "$out/z.h5" > "$out/z.json"
/usr/bin/python3 - "$out/z.json" <<'PY' || fail "z slices"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["images"] == 5 and d["height"] == 12 and d["width"] == 10 and d["dtype"] == "float32", d
assert d["mask_pixels"] == {"0": 5 * (120 - 12), "1": 5 * 12}, d["mask_pixels"]
assert d["domains"] == {"0": 5} and d["min"] == 0 and abs(d["max"] - 1) < 1e-6, d
PY
"$MEDSSL" import nifti "$out/vol.nii" --axis x --window 0:100 --out "$out/x.h5" 2>/dev/null
"$MEDSSL" inspect --json "$out/x.h5" | /usr/bin/python3 -c '
import json, sys; d = json.load(sys.stdin)
assert d["images"] == 10 and d["height"] == 5 and d["width"] == 12, d   # slices along x: (z, y) images
assert d["max"] == 1 and d["min"] == 0, d' || fail "x slices / window"
# --fit pad: slices centred in 16x16 without resampling; the mask keeps its exact pixel count
"$MEDSSL" import nifti "$out/vol.nii" --labels "$out/lab.nii" --size 16 --fit pad --out "$out/pad.h5" 2>/dev/null
"$MEDSSL" inspect --json "$out/pad.h5" | /usr/bin/python3 -c '
import json, sys; d = json.load(sys.stdin)
assert d["images"] == 5 and d["height"] == 16 and d["width"] == 16, d
assert d["mask_pixels"] == {"0": 5 * (256 - 12), "1": 5 * 12}, d["mask_pixels"]' || fail "--fit pad"
# append a second site
"$MEDSSL" import nifti "$out/vol.nii" --labels "$out/lab.nii" --domain 1 --append --out "$out/z.h5" 2>/dev/null
"$MEDSSL" inspect --json "$out/z.h5" | /usr/bin/python3 -c '
import json, sys; d = json.load(sys.stdin)
assert d["images"] == 10 and d["domains"] == {"0": 5, "1": 5}, d' || fail "append"

expect_input_error() { local want=$1 outfile=$2; shift 2
  set +e; err=$("$MEDSSL" "$@" 2>&1 >/dev/null); rc=$?; set -e
  [ "$rc" = 2 ] || fail "'$*' exited $rc ($err)"
  echo "$err" | grep -q -- "$want" || fail "'$*': '$err' lacks '$want'"
  [ "$(echo "$err" | wc -l)" = 1 ] || fail "'$*' printed more than one line: $err"
  [ -z "$outfile" ] || [ ! -e "$outfile" ] || fail "'$*' left $outfile"; }
expect_input_error "trunc.nii" "$out/t.h5" import nifti "$out/trunc.nii" --out "$out/t.h5"
expect_input_error "nan.nii" "$out/t.h5" import nifti "$out/nan.nii" --out "$out/t.h5"
expect_input_error "lab_bad.nii" "$out/t.h5" import nifti "$out/vol.nii" --labels "$out/lab_bad.nii" --out "$out/t.h5"
expect_input_error "small.nii" "$out/t.h5" import nifti "$out/vol.nii" --labels "$out/small.nii" --out "$out/t.h5"
expect_input_error "--axis" "$out/t.h5" import nifti "$out/vol.nii" --axis w --out "$out/t.h5"
expect_input_error "--window" "$out/t.h5" import nifti "$out/vol.nii" --window 5:1 --out "$out/t.h5"
expect_input_error "missing.nii" "$out/t.h5" import nifti "$out/missing.nii" --out "$out/t.h5"
expect_input_error "--fit pad needs --size" "$out/t.h5" import nifti "$out/vol.nii" --fit pad --out "$out/t.h5"
expect_input_error "--fit crop: expected resize or pad" "$out/t.h5" import nifti "$out/vol.nii" --size 8 --fit crop --out "$out/t.h5"
echo "1 passed, 0 failed"
