#!/usr/bin/env bash
# CLI tests of `medssl import png`: PNGs written here by hand (Python standard
# library: zlib + struct) in class subfolders with masks; the import checked with
# `medssl inspect --json` (counts, class names, mask pixel counts) and h5dump
# (exact pixel, mask and label values of one image); CSV labels (names and
# integers; integers that overflow are errors, not names; 3000 class names kept,
# the class-name limits); gray/RGB channel rules; mixed sizes (exit 2 without --size, --fit pad centred, resized
# with it); 16-bit input -> float32; bad inputs (exit 2, one message naming the
# file, no corpus and no temporary file left behind).
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

# Dumps dataset $2 of corpus $1 (optionally a hyperslab: start $3, count $4) as numbers.
h5values() {
  local args=(-d "$2"); [ $# -ge 4 ] && args+=(-s "$3" -c "$4")
  h5dump "${args[@]}" "$1" | /usr/bin/python3 -c '
import re, sys
txt = sys.stdin.read()
body = re.sub(r"\(\d+(,\d+)*\):", " ", txt[txt.index("DATA {"):])
print(" ".join(re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", body)))'
}

# --- the PNG files ------------------------------------------------------------------
/usr/bin/python3 - "$out" <<'PY'
import os, struct, sys, zlib, json
d = sys.argv[1]

def chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xffffffff)

def png(path, w, h, samples, color=0, depth=8):
    """samples: row-major list of per-pixel tuples (or ints for gray)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    nch = {0: 1, 2: 3, 4: 2, 6: 4}[color]
    fmt = ">" + ("H" if depth == 16 else "B") * (w * nch)
    rows = []
    for y in range(h):
        flat = []
        for v in samples[y * w:(y + 1) * w]:
            flat.extend(v if isinstance(v, (tuple, list)) else [v])
        rows.append(b"\x00" + struct.pack(fmt, *flat))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b""))

W, H = 6, 5
files = ["benign/a.png", "benign/b.png", "malignant/c.png", "malignant/d.png", "malignant/sub/e.png"]
truth = {}
for k, rel in enumerate(files):
    img = [(k * 50 + i * 7) % 256 for i in range(W * H)]
    msk = [255 if (i + k) % 7 == 0 else (i // W + k) % 3 for i in range(W * H)]
    png(f"{d}/img/{rel}", W, H, img)
    png(f"{d}/msk/{rel}", W, H, msk)
    truth[rel] = {"img": img, "msk": msk}
png(f"{d}/img/.hidden/x.png", 3, 3, [0] * 9)              # skipped: hidden
open(f"{d}/img/benign/notes.txt", "w").write("not an image\n")  # skipped: not *.png
json.dump(truth, open(f"{d}/truth.json", "w"))

# CSV labels: class names, and integers; unlisted files are not imported
with open(f"{d}/names.csv", "w") as f:
    f.write("filename,label\nmalignant/c.png,tumor\nbenign/a.png,normal\n\"benign/b.png\", tumor\n")
with open(f"{d}/ints.csv", "w") as f:
    f.write("filename,label\r\nbenign/a.png,2\r\nbenign/b.png,0\r\nmalignant/c.png,-1\r\n")
with open(f"{d}/badhead.csv", "w") as f:
    f.write("file;label\nbenign/a.png;0\n")
with open(f"{d}/missing.csv", "w") as f:
    f.write("filename,label\nbenign/a.png,0\nbenign/zzz.png,1\n")
# integers that do not fit: out of range, never class names
with open(f"{d}/overflow.csv", "w") as f:
    f.write("filename,label\nbenign/a.png,99999999999999999999\nbenign/b.png,1\n")
with open(f"{d}/overflow_neg.csv", "w") as f:
    f.write("filename,label\nbenign/a.png,tumor\nbenign/b.png,-99999999999999999999\n")
# class-name limits (checked before any PNG is read, so the files need not exist)
with open(f"{d}/classes4097.csv", "w") as f:
    f.write("filename,label\n" + "".join(f"x{i}.png,n{i}\n" for i in range(4097)))
with open(f"{d}/longnames.csv", "w") as f:
    f.write("filename,label\n" + "".join(f"x{i}.png,{chr(97 + i) * 600000}\n" for i in range(2)))

# gray + RGB (default 3 channels; --channels 1 -> luma)
png(f"{d}/mix/g.png", 4, 3, [i * 20 for i in range(12)])
rgb = [(i * 20, 255 - i * 9, (i * 77) % 256) for i in range(12)]
png(f"{d}/mix/rgb.png", 4, 3, rgb, color=2)
# RGBA (alpha dropped) + gray+alpha
png(f"{d}/alpha/ga.png", 4, 3, [(i * 20, 7) for i in range(12)], color=4)
png(f"{d}/alpha/rgba.png", 4, 3, [(*v, 0) for v in rgb], color=6)
json.dump(rgb, open(f"{d}/rgb.json", "w"))

# mixed sizes
png(f"{d}/sizes/a.png", 6, 5, [100] * 30)
png(f"{d}/sizes/b.png", 4, 4, [200] * 16)
png(f"{d}/sizes/c.png", 6, 5, [50] * 30)

# 16-bit
png(f"{d}/deep/a.png", 3, 2, [0, 1, 257, 30000, 65534, 65535], depth=16)
png(f"{d}/deep/b.png", 3, 2, [10, 20, 30, 40, 50, 60], depth=16)

# a corrupt (truncated) PNG among good ones
png(f"{d}/bad/a.png", 6, 5, [1] * 30)
png(f"{d}/bad/b.png", 6, 5, [(i * 37) % 256 for i in range(30)])
data = open(f"{d}/bad/b.png", "rb").read()
open(f"{d}/bad/b.png", "wb").write(data[:len(data) - 20])

# a PNG at the top level of a --labels folders tree
png(f"{d}/loose/top.png", 2, 2, [0] * 4)
png(f"{d}/loose/cls/x.png", 2, 2, [0] * 4)

# 3000 images with 3000 distinct class names (17,999 bytes of class_names)
with open(f"{d}/many.csv", "w") as f:
    f.write("filename,label\n")
    for i in range(3000):
        png(f"{d}/many/i{i}.png", 2, 2, [i % 256] * 4)
        f.write(f"i{i}.png,name{2999 - i:04d}\n")
PY

# --- folders + masks: inspect and exact values ------------------------------------------
"$MEDSSL" import png "$out/img" --labels folders --masks "$out/msk" --out "$out/folders.h5" 2>/dev/null
"$MEDSSL" inspect --json "$out/folders.h5" > "$out/folders.json"
/usr/bin/python3 - "$out" <<'PY' || fail "inspect of the folders import"
import json, sys, collections
d = sys.argv[1]
j = json.load(open(f"{d}/folders.json"))
truth = json.load(open(f"{d}/truth.json"))
assert j["images"] == 5 and j["channels"] == 1 and j["height"] == 5 and j["width"] == 6, j
assert j["dtype"] == "uint8", j
assert [(c["name"], c["count"]) for c in j["classes"]] == [("benign", 2), ("malignant", 3)], j["classes"]
want = collections.Counter(v for rel in truth for v in truth[rel]["msk"])
assert j["mask_pixels"] == {str(k): v for k, v in sorted(want.items())}, (j["mask_pixels"], want)
PY
# sample 2 in path order is malignant/c.png: pixels, mask and label exactly as written
img=$(h5values "$out/folders.h5" /images "2,0,0,0" "1,1,5,6")
msk=$(h5values "$out/folders.h5" /masks "2,0,0" "1,5,6")
lab=$(h5values "$out/folders.h5" /labels)
/usr/bin/python3 - "$out" "$img" "$msk" "$lab" <<'PY' || fail "values of the folders import"
import json, sys
d, img, msk, lab = sys.argv[1], *[list(map(int, a.split())) for a in sys.argv[2:]]
t = json.load(open(f"{d}/truth.json"))["malignant/c.png"]
assert img == t["img"], (img, t["img"])
assert msk == t["msk"], (msk, t["msk"])
assert lab == [0, 0, 1, 1, 1], lab
PY

# labeled subset and no labels
"$MEDSSL" import png "$out/img" --labels folders --labeled-per-class 1 --seed 4 --out "$out/sub.h5" 2>/dev/null
"$MEDSSL" inspect --json "$out/sub.h5" | /usr/bin/python3 -c '
import json, sys; j = json.load(sys.stdin)
assert j["labeled"] == 2 and j["unlabeled"] == 3 and "mask_pixels" not in j, j' || fail "labeled subset"
"$MEDSSL" import png "$out/img" --out "$out/unl.h5" 2>/dev/null
"$MEDSSL" inspect --json "$out/unl.h5" | /usr/bin/python3 -c '
import json, sys; j = json.load(sys.stdin)
assert j["images"] == 5 and "classes" not in j and "labeled" not in j, j' || fail "unlabeled import"

# --- CSV labels ---------------------------------------------------------------------------
"$MEDSSL" import png "$out/img" --labels "$out/names.csv" --masks "$out/msk" --out "$out/names.h5" 2>/dev/null
"$MEDSSL" inspect --json "$out/names.h5" | /usr/bin/python3 -c '
import json, sys; j = json.load(sys.stdin)
assert j["images"] == 3, j
assert [(c["name"], c["count"]) for c in j["classes"]] == [("normal", 1), ("tumor", 2)], j["classes"]' \
  || fail "CSV with class names"
[ "$(h5values "$out/names.h5" /labels)" = "0 1 1" ] || fail "CSV labels in path order: $(h5values "$out/names.h5" /labels)"
"$MEDSSL" import png "$out/img" --labels "$out/ints.csv" --out "$out/ints.h5" 2>/dev/null
[ "$(h5values "$out/ints.h5" /labels)" = "2 0 -1" ] || fail "CSV integer labels: $(h5values "$out/ints.h5" /labels)"
"$MEDSSL" inspect --json "$out/ints.h5" | /usr/bin/python3 -c '
import json, sys; j = json.load(sys.stdin)
assert j["unlabeled"] == 1 and [c["count"] for c in j["classes"]] == [1, 0, 1], j' || fail "CSV integer classes"

# 3000 class names: all kept (class_names had a 4095-byte buffer), in sorted order
"$MEDSSL" import png "$out/many" --labels "$out/many.csv" --out "$out/many.h5" 2>/dev/null || fail "3000 class names refused"
"$MEDSSL" inspect --json "$out/many.h5" | /usr/bin/python3 -c '
import json, sys; j = json.load(sys.stdin)
assert [c["name"] for c in j["classes"]] == ["name%04d" % k for k in range(3000)], len(j["classes"])
assert all(c["count"] == 1 for c in j["classes"]), j["classes"][:3]' || fail "3000 class names"
/usr/bin/python3 - "$out/many.h5" <<'PY' || fail "3000 class names: labels"
import h5py, sys
f = h5py.File(sys.argv[1], "r")
rel = sorted(f"i{i}.png" for i in range(3000))            # samples in path order
assert list(f["labels"][...]) == [2999 - int(r[1:-4]) for r in rel]
PY

# --- channels -----------------------------------------------------------------------------
"$MEDSSL" import png "$out/mix" --out "$out/mix3.h5" 2>/dev/null
"$MEDSSL" import png "$out/mix" --channels 1 --out "$out/mix1.h5" 2>/dev/null
"$MEDSSL" import png "$out/alpha" --out "$out/alpha.h5" 2>/dev/null
g3=$(h5values "$out/mix3.h5" /images "0,0,0,0" "1,3,3,4")   # g.png, gray replicated
r3=$(h5values "$out/mix3.h5" /images "1,0,0,0" "1,3,3,4")   # rgb.png as stored
r1=$(h5values "$out/mix1.h5" /images "1,0,0,0" "1,1,3,4")   # rgb.png as luma
a3=$(h5values "$out/alpha.h5" /images "0,0,0,0" "2,3,3,4")  # ga.png (gray x3), rgba.png (alpha dropped)
/usr/bin/python3 - "$out" "$g3" "$r3" "$r1" "$a3" <<'PY' || fail "channel conversion"
import json, sys
d = sys.argv[1]
g3, r3, r1, a3 = [list(map(int, a.split())) for a in sys.argv[2:]]
rgb = json.load(open(f"{d}/rgb.json"))
gray = [i * 20 for i in range(12)]
planar = [v[c] for c in range(3) for v in rgb]
assert g3 == gray * 3, g3
assert r3 == planar, r3
luma = [round(0.299 * r + 0.587 * g + 0.114 * b) for r, g, b in rgb]
assert all(abs(a - b) <= 1 for a, b in zip(r1, luma)) and sum(a != b for a, b in zip(r1, luma)) <= 2, (r1, luma)
assert a3 == gray * 3 + planar, a3
PY
for f in mix3 mix1; do
  "$MEDSSL" inspect --json "$out/$f.h5" > "$out/$f.json"
done
/usr/bin/python3 -c '
import json, sys
assert json.load(open(sys.argv[1]))["channels"] == 3 and json.load(open(sys.argv[2]))["channels"] == 1' \
  "$out/mix3.json" "$out/mix1.json" || fail "channel counts"

# --- sizes --------------------------------------------------------------------------------
expect_input_error "sizes/b.png: 4x4 pixels" "$out/x.h5" import png "$out/sizes" --out "$out/x.h5"
expect_input_error "give --size S" "$out/x.h5" import png "$out/sizes" --out "$out/x.h5"
"$MEDSSL" import png "$out/sizes" --size 8 --out "$out/sized.h5" 2>/dev/null
"$MEDSSL" inspect --json "$out/sized.h5" | /usr/bin/python3 -c '
import json, sys; j = json.load(sys.stdin)
assert j["images"] == 3 and j["height"] == 8 and j["width"] == 8, j
assert abs(j["min"] - 50 / 255) < 1e-6 and abs(j["max"] - 200 / 255) < 1e-6, j' || fail "--size resize"
# masks follow the resize with nearest neighbour: still only the classes that were there
"$MEDSSL" import png "$out/img" --masks "$out/msk" --size 12 --out "$out/msk12.h5" 2>/dev/null
"$MEDSSL" inspect --json "$out/msk12.h5" | /usr/bin/python3 -c '
import json, sys; j = json.load(sys.stdin)
assert j["height"] == 12 and sorted(j["mask_pixels"]) == ["0", "1", "2", "255"], j
assert sum(j["mask_pixels"].values()) == 5 * 12 * 12, j' || fail "mask resize"
# --fit pad: centred without resampling, zeros around; larger images centre-cropped
"$MEDSSL" import png "$out/sizes" --size 8 --fit pad --out "$out/padded.h5" 2>/dev/null
b8=$(h5values "$out/padded.h5" /images "1,0,0,0" "1,1,8,8")   # b.png: 4x4 of 200 -> rows/cols 2..5
/usr/bin/python3 -c '
import sys
v = [int(x) for x in sys.argv[1].split()]
want = [200 if 2 <= y <= 5 and 2 <= x <= 5 else 0 for y in range(8) for x in range(8)]
assert v == want, v' "$b8" || fail "--fit pad: b.png not centred in 8x8"
a8=$(h5values "$out/padded.h5" /images "0,0,0,0" "1,1,8,8")   # a.png: 6 wide x 5 high of 100 -> rows 1..5, cols 1..6
/usr/bin/python3 -c '
import sys
v = [int(x) for x in sys.argv[1].split()]
want = [100 if 1 <= y <= 5 and 1 <= x <= 6 else 0 for y in range(8) for x in range(8)]
assert v == want, v' "$a8" || fail "--fit pad: a.png not centred in 8x8"
"$MEDSSL" import png "$out/sizes" --size 4 --fit pad --out "$out/cropped.h5" 2>/dev/null
[ "$(h5values "$out/cropped.h5" /images "0,0,0,0" "1,1,4,4")" = "$(echo 100 | sed 's/.*/& & & & & & & & & & & & & & & &/')" ] ||
  fail "--fit pad: a.png not centre-cropped to 4x4"
"$MEDSSL" import png "$out/img" --masks "$out/msk" --size 12 --fit pad --out "$out/mskpad.h5" 2>/dev/null
"$MEDSSL" inspect --json "$out/mskpad.h5" | /usr/bin/python3 -c '
import json, sys; j = json.load(sys.stdin)
assert sorted(j["mask_pixels"]) == ["0", "1", "2", "255"], j' || fail "--fit pad: masks gained or lost classes"
expect_input_error "--fit squash: expected resize or pad" "$out/x.h5" import png "$out/sizes" --size 8 --fit squash --out "$out/x.h5"
expect_input_error "--fit pad needs --size" "$out/x.h5" import png "$out/sizes" --fit pad --out "$out/x.h5"

# --- 16-bit -> float32 --------------------------------------------------------------------
"$MEDSSL" import png "$out/deep" --out "$out/deep.h5" 2>/dev/null
"$MEDSSL" inspect --json "$out/deep.h5" | /usr/bin/python3 -c '
import json, sys; j = json.load(sys.stdin)
assert j["dtype"] == "float32" and j["images"] == 2 and j["max"] == 1 and j["min"] == 0, j' || fail "16-bit import"
deep=$(h5values "$out/deep.h5" /images "0,0,0,0" "1,1,2,3")
/usr/bin/python3 -c '
import sys
got = list(map(float, sys.argv[1].split()))
want = [v / 65535 for v in (0, 1, 257, 30000, 65534, 65535)]
assert all(abs(a - b) < 1e-6 for a, b in zip(got, want)) and len(got) == 6, got' "$deep" || fail "16-bit values"

# --- bad inputs ---------------------------------------------------------------------------
expect_input_error "bad/b.png" "$out/x.h5" import png "$out/bad" --out "$out/x.h5"
expect_input_error "corrupt or truncated PNG" "$out/x.h5" import png "$out/bad" --out "$out/x.h5"
rm "$out/msk/malignant/d.png"
expect_input_error "msk/malignant/d.png: missing" "$out/x.h5" import png "$out/img" --masks "$out/msk" --out "$out/x.h5"
cp "$out/mix/rgb.png" "$out/msk/malignant/d.png"
expect_input_error "msk/malignant/d.png: a mask must be an 8-bit grayscale PNG" "$out/x.h5" \
  import png "$out/img" --masks "$out/msk" --out "$out/x.h5"
cp "$out/sizes/b.png" "$out/msk/malignant/d.png"
expect_input_error "mask is 4x4 pixels but its image" "$out/x.h5" import png "$out/img" --masks "$out/msk" --out "$out/x.h5"
expect_input_error "loose/top.png: with --labels folders every PNG must sit in a class subfolder" "$out/x.h5" \
  import png "$out/loose" --labels folders --out "$out/x.h5"
expect_input_error "badhead.csv:1: expected the header line 'filename,label'" "$out/x.h5" \
  import png "$out/img" --labels "$out/badhead.csv" --out "$out/x.h5"
expect_input_error "benign/zzz.png: cannot open" "$out/x.h5" import png "$out/img" --labels "$out/missing.csv" --out "$out/x.h5"
expect_input_error "nothing.csv: cannot open the label file" "$out/x.h5" \
  import png "$out/img" --labels "$out/nothing.csv" --out "$out/x.h5"
expect_input_error "nope: cannot open the folder" "$out/x.h5" import png "$out/nope" --out "$out/x.h5"
expect_input_error "overflow.csv:2: label 99999999999999999999 is out of range \[-1, 4095\]" "$out/x.h5" \
  import png "$out/img" --labels "$out/overflow.csv" --out "$out/x.h5"
expect_input_error "overflow_neg.csv:3: label -99999999999999999999 is out of range \[-1, 4095\]" "$out/x.h5" \
  import png "$out/img" --labels "$out/overflow_neg.csv" --out "$out/x.h5"
expect_input_error "classes4097.csv: 4097 classes, more than 4096" "$out/x.h5" \
  import png "$out/img" --labels "$out/classes4097.csv" --out "$out/x.h5"
expect_input_error "longnames.csv: the class names need more than 1048575 bytes" "$out/x.h5" \
  import png "$out/img" --labels "$out/longnames.csv" --out "$out/x.h5"
mkdir -p "$out/empty"
expect_input_error "empty: no \*.png files found" "$out/x.h5" import png "$out/empty" --out "$out/x.h5"
expect_input_error "--channels 2" "$out/x.h5" import png "$out/img" --channels 2 --out "$out/x.h5"
expect_input_error "need labels" "$out/x.h5" import png "$out/img" --labeled-per-class 1 --out "$out/x.h5"
expect_input_error "png needs the image folder" "$out/x.h5" import png --out "$out/x.h5"
expect_input_error "apply to the png source only" "$out/x.h5" import idx --images "$out/a" --masks "$out/msk" --out "$out/x.h5"
echo "1 passed, 0 failed"
