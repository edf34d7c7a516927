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
# Header-valid but wrong: fields nifticlib would hide (dims <= 0 -> 1, NaN/Inf
# scl_* -> no scaling, a NaN/negative/small vox_offset of a .nii -> 348).
def bad(name, *fields):
    data = bytearray(open(f"{d}/vol.nii", "rb").read())
    for off, fmt, value in fields: struct.pack_into(fmt, data, off, value)
    open(f"{d}/{name}", "wb").write(bytes(data))
bad("dim_zero.nii", (44, "<h", 0))
bad("dim_neg.nii", (46, "<h", -5))
bad("dim1_zero.nii", (42, "<h", 0))            # nifticlib prints "** ERROR ... bad dim[1]" itself
bad("dim4_zero.nii", (40, "<h", 4), (48, "<h", 0))
bad("dt_binary.nii", (70, "<h", 1))            # nifticlib prints "** ERROR ... bad datatype" itself
for tag, v in (("nan", float("nan")), ("inf", float("inf")), ("neg", -352.0), ("small", 348.0)):
    bad(f"off_{tag}.nii", (108, "<f", v))
bad("slope_nan.nii", (112, "<f", float("nan")), (116, "<f", 7.0))  # NaN slope: no scaling (as nibabel), accepted
bad("slope_inf.nii", (112, "<f", float("-inf")))
bad("inter_nan.nii", (112, "<f", 1.0), (116, "<f", float("nan")))
bad("slope0.nii", (112, "<f", 0.0), (116, "<f", 7.0))  # scl_slope 0: no scaling (scl_inter unused), accepted
# Analyze 7.5 pair: a negative vox_offset means "the last bytes of the .img" (still
# accepted); the same pair with the NIfTI-1 magic "ni1" is refused.
hdr = bytearray(open(f"{d}/vol.nii", "rb").read()[:348])
struct.pack_into("<f", hdr, 108, -1.0)
hdr[344:348] = bytes(4)
open(f"{d}/ana.hdr", "wb").write(bytes(hdr))
open(f"{d}/ana.img", "wb").write(bytes(64) + open(f"{d}/vol.nii", "rb").read()[352:])
hdr[344:348] = b"ni1\0"
open(f"{d}/ni1neg.hdr", "wb").write(bytes(hdr))
open(f"{d}/ni1neg.img", "wb").write(open(f"{d}/ana.img", "rb").read())
# NIfTI-2 .nii whose vox_offset (540) points into its 544 bytes of header and extender
h2 = bytearray(540)
struct.pack_into("<i", h2, 0, 540)
h2[4:12] = b"n+2\0\r\n\x1a\n"
struct.pack_into("<hh", h2, 12, 16, 32)
struct.pack_into("<8q", h2, 16, 3, nx, ny, nz, 1, 1, 1, 1)
struct.pack_into("<8d", h2, 104, *[1.0] * 8)
struct.pack_into("<qdd", h2, 168, 540, 1.0, 0.0)
open(f"{d}/n2_small.nii", "wb").write(bytes(h2) + bytes(4) + struct.pack("<%df" % len(vol), *vol))
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
  [ -z "$outfile" ] || [ ! -e "$outfile" ] || fail "'$*' left $outfile"
  ! ls "$out"/*.tmp.* >/dev/null 2>&1 || fail "'$*' left a temporary file: $(ls "$out"/*.tmp.*)"; }
expect_input_error "trunc.nii" "$out/t.h5" import nifti "$out/trunc.nii" --out "$out/t.h5"
expect_input_error "nan.nii" "$out/t.h5" import nifti "$out/nan.nii" --out "$out/t.h5"
expect_input_error "lab_bad.nii" "$out/t.h5" import nifti "$out/vol.nii" --labels "$out/lab_bad.nii" --out "$out/t.h5"
expect_input_error "small.nii" "$out/t.h5" import nifti "$out/vol.nii" --labels "$out/small.nii" --out "$out/t.h5"
expect_input_error "--axis" "$out/t.h5" import nifti "$out/vol.nii" --axis w --out "$out/t.h5"
expect_input_error "--window" "$out/t.h5" import nifti "$out/vol.nii" --window 5:1 --out "$out/t.h5"
expect_input_error "missing.nii" "$out/t.h5" import nifti "$out/missing.nii" --out "$out/t.h5"
expect_input_error "--fit pad needs --size" "$out/t.h5" import nifti "$out/vol.nii" --fit pad --out "$out/t.h5"
expect_input_error "--fit crop: expected resize or pad" "$out/t.h5" import nifti "$out/vol.nii" --size 8 --fit crop --out "$out/t.h5"
# Header-valid but wrong NIfTI: one message naming the file and the field, no output
bad_nifti() { expect_input_error "$1: $2" "$out/t.h5" import nifti "$out/$1" --out "$out/t.h5"; }
bad_nifti dim_zero.nii "corrupt NIfTI header: dim\[2\] = 0 "
bad_nifti dim_neg.nii "corrupt NIfTI header: dim\[3\] = -5 "
bad_nifti dim1_zero.nii "corrupt NIfTI header: dim\[1\] = 0 "
bad_nifti dim4_zero.nii "corrupt NIfTI header: dim\[4\] = 0 "
bad_nifti dt_binary.nii "unsupported voxel datatype BINARY (code 1)"
bad_nifti off_nan.nii "corrupt NIfTI header: vox_offset = nan "
bad_nifti off_inf.nii "corrupt NIfTI header: vox_offset = inf "
bad_nifti off_neg.nii "corrupt NIfTI header: vox_offset = -352 is negative"
bad_nifti off_small.nii "corrupt NIfTI header: vox_offset = 348 points into the header"
bad_nifti n2_small.nii "corrupt NIfTI header: vox_offset = 540 points into the header"
bad_nifti ni1neg.hdr "corrupt NIfTI header: vox_offset = -1 is negative"
bad_nifti slope_inf.nii "corrupt NIfTI header: scl_slope = -inf, scl_inter = 0 "
bad_nifti inter_nan.nii "corrupt NIfTI header: scl_slope = 1, scl_inter = nan "
expect_input_error "slope_inf.nii: corrupt NIfTI header" "$out/t.h5" import nifti "$out/vol.nii" --labels "$out/slope_inf.nii" --out "$out/t.h5"
# ... while scl_slope 0 (no scaling) and an Analyze 7.5 pair with a negative vox_offset import, voxel for voxel
"$MEDSSL" import nifti "$out/slope0.nii" --window 0:1000 --out "$out/s0.h5" 2>/dev/null || fail "scl_slope 0 refused"
"$MEDSSL" import nifti "$out/slope_nan.nii" --window 0:1000 --out "$out/snan.h5" 2>/dev/null || fail "scl_slope NaN refused"
"$MEDSSL" import nifti "$out/ana.hdr" --window 0:1000 --out "$out/ana.h5" 2>/dev/null || fail "Analyze pair refused"
/usr/bin/python3 - "$out" <<'PY' || fail "scl_slope 0 / Analyze pair values"
import h5py, sys
d = sys.argv[1]
s0 = h5py.File(f"{d}/s0.h5", "r")["images"][...]
assert abs(s0[2, 0, 3, 4] - (4 + 10 * 3 + 100 * 2) / 1000) < 1e-6, s0[2, 0, 3, 4]   # voxel (4,3,2) unscaled
snan = h5py.File(f"{d}/snan.h5", "r")["images"][...]
assert (snan == s0).all(), "scl_slope NaN is not 'no scaling'"
ana = h5py.File(f"{d}/ana.h5", "r")["images"][...]
assert (ana == s0).all(), "the Analyze pair differs from the .nii"
PY
echo "1 passed, 0 failed"
