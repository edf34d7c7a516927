#!/usr/bin/env bash
# CLI tests of `medssl preview`: a corpus with masks (made here with `medssl import
# png` from PNGs written by hand) previewed as a grid; the PNG is decoded in
# Python (standard library: zlib + struct, all five filter types) to check its
# size, the black borders, the original cells (min-max scaled, mask blended in
# its class colour, 255 left alone) and that flip:h@1 mirrors image and mask;
# determinism by seed; an RGB corpus; bad inputs (exit 2, one message, no
# output file left behind).
set -euo pipefail
MEDSSL=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")  # absolute: one step runs in $out
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

cat > "$out/pngread.py" <<'PY'
import struct, zlib

def chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xffffffff)

def write(path, w, h, samples, color=0):
    nch = {0: 1, 2: 3}[color]
    rows = []
    for y in range(h):
        flat = []
        for v in samples[y * w:(y + 1) * w]:
            flat.extend(v if isinstance(v, (tuple, list)) else [v])
        rows.append(b"\x00" + bytes(flat))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b""))

def read_rgb8(path):
    """(w, h, rows of bytes) of an 8-bit RGB, non-interlaced PNG; checks every CRC."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "no PNG signature"
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        n, = struct.unpack(">I", data[pos:pos + 4])
        tag, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        assert struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0] == zlib.crc32(tag + body) & 0xffffffff, tag
        if tag == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif tag == b"IDAT":
            idat += body
        pos += 12 + n
        if tag == b"IEND":
            break
    w, h, depth, color, _, _, interlace = ihdr
    assert (depth, color, interlace) == (8, 2, 0), ihdr
    raw, stride, bpp = zlib.decompress(idat), w * 3, 3
    assert len(raw) == h * (stride + 1), (len(raw), h, stride)
    rows, prev = [], bytearray(stride)
    for y in range(h):
        ft, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if ft == 1: line[x] = (line[x] + a) & 255
            elif ft == 2: line[x] = (line[x] + b) & 255
            elif ft == 3: line[x] = (line[x] + (a + b) // 2) & 255
            elif ft == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
            else: assert ft == 0, ft
        rows.append(bytes(line))
        prev = line
    return w, h, rows

def pixel(rows, x, y):
    return tuple(rows[y][3 * x:3 * x + 3])
PY

# --- a 4-image corpus of 16x12 gray images with masks -----------------------------------
W=16; H=12
/usr/bin/python3 - "$out" <<'PY'
import json, os, sys
sys.path.insert(0, sys.argv[1])
import pngread
d = sys.argv[1]
W, H = 16, 12
truth = []
for k in range(4):
    img = [(20 + 3 * x + 11 * y + 13 * k) % 256 for y in range(H) for x in range(W)]
    msk = [255 if y == 0 else (0 if x < 5 else 1 if x < 10 else 2 + k % 2) for y in range(H) for x in range(W)]
    os.makedirs(f"{d}/img/c{k % 2}", exist_ok=True)
    os.makedirs(f"{d}/msk/c{k % 2}", exist_ok=True)
    pngread.write(f"{d}/img/c{k % 2}/{k}.png", W, H, img)
    pngread.write(f"{d}/msk/c{k % 2}/{k}.png", W, H, msk)
    truth.append({"img": img, "msk": msk})
# order in the corpus = sorted paths: c0/0, c0/2, c1/1, c1/3
truth = [truth[0], truth[2], truth[1], truth[3]]
json.dump(truth, open(f"{d}/truth.json", "w"))
os.makedirs(f"{d}/rgb", exist_ok=True)
pngread.write(f"{d}/rgb/a.png", 5, 4, [(10 * i, 200 - 5 * i, 128) for i in range(20)], color=2)
open(f"{d}/text.h5", "w").write("not a corpus\n")
PY
"$MEDSSL" import png "$out/img" --labels folders --masks "$out/msk" --out "$out/c.h5" 2>/dev/null
"$MEDSSL" import png "$out/rgb" --out "$out/rgb.h5" 2>/dev/null

# --- a 3 x (1 + 2) grid with exact flips -------------------------------------------------
"$MEDSSL" preview --in "$out/c.h5" --augment flip:h@1 --count 3 --copies 2 --out "$out/flip.png" 2>/dev/null
/usr/bin/python3 - "$out" <<'PY' || fail "preview grid contents"
import json, sys
sys.path.insert(0, sys.argv[1])
import pngread
d = sys.argv[1]
W, H, B = 16, 12, 2
PAL = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40)]
w, h, rows = pngread.read_rgb8(f"{d}/flip.png")
assert (w, h) == (3 * W + 2 * B, 3 * H + 2 * B), (w, h)
# borders between cells are black
for y in range(h):
    for x in list(range(W, W + B)) + list(range(2 * W + B, 2 * W + 2 * B)):
        assert pngread.pixel(rows, x, y) == (0, 0, 0), (x, y)
for x in range(w):
    for y in list(range(H, H + B)) + list(range(2 * H + B, 2 * H + 2 * B)):
        assert pngread.pixel(rows, x, y) == (0, 0, 0), (x, y)
truth = json.load(open(f"{d}/truth.json"))
for r in range(3):
    img, msk = truth[r]["img"], truth[r]["msk"]
    lo, hi = min(img), max(img)
    y0 = r * (H + B)
    for y in range(H):
        for x in range(W):
            v = (img[y * W + x] - lo) / (hi - lo) * 255
            m = msk[y * W + x]
            want = [v] * 3 if m == 255 else [0.6 * v + 0.4 * PAL[m][c] for c in range(3)]
            got = pngread.pixel(rows, x, y0 + y)
            assert all(abs(g - round(e)) <= 1 for g, e in zip(got, want)), (r, x, y, got, want)
            # both copies: flip:h@1 mirrors image and mask exactly
            for copy in (1, 2):
                assert pngread.pixel(rows, copy * (W + B) + W - 1 - x, y0 + y) == got, (r, copy, x, y)
PY

# --- sizes, defaults, determinism ---------------------------------------------------------
size_of() { /usr/bin/python3 -c '
import sys; sys.path.insert(0, sys.argv[1]); import pngread
w, h, _ = pngread.read_rgb8(sys.argv[2]); print(w, h)' "$out" "$1"; }
"$MEDSSL" preview --in "$out/c.h5" --augment none --count 10 --copies 0 --out "$out/all.png" 2>/dev/null
[ "$(size_of "$out/all.png")" = "$W $((4 * H + 3 * 2))" ] || fail "--count beyond N: $(size_of "$out/all.png")"
(cd "$out" && "$MEDSSL" preview --in c.h5 --augment "rotate:20,noise:0.05" 2>/dev/null)
[ "$(size_of "$out/preview.png")" = "$((6 * W + 5 * 2)) $((4 * H + 3 * 2))" ] || fail "defaults: $(size_of "$out/preview.png")"
ops="flip:hv,rotate:30,elastic:20:3,noise:0.1,contrast:0.3"
"$MEDSSL" preview --in "$out/c.h5" --augment "$ops" --seed 7 --out "$out/s7a.png" 2>/dev/null
"$MEDSSL" preview --in "$out/c.h5" --augment "$ops" --seed 7 --out "$out/s7b.png" 2>/dev/null
"$MEDSSL" preview --in "$out/c.h5" --augment "$ops" --seed 8 --out "$out/s8.png" 2>/dev/null
cmp -s "$out/s7a.png" "$out/s7b.png" || fail "same seed, different previews"
cmp -s "$out/s7a.png" "$out/s8.png" && fail "seeds 7 and 8 gave the same preview"
/usr/bin/python3 - "$out" <<'PY' || fail "augmented copies"
import sys
sys.path.insert(0, sys.argv[1])
import pngread
d = sys.argv[1]
W, H, B = 16, 12, 2
_, _, rows = pngread.read_rgb8(f"{d}/s7a.png")
cell = lambda r, c: [rows[r * (H + B) + y][3 * c * (W + B):3 * (c * (W + B) + W)] for y in range(H)]
for r in range(4):
    copies = [cell(r, c) for c in range(6)]
    assert all(copies[c] != copies[0] for c in range(1, 6)), r   # augmented != original
    assert len({b"".join(c) for c in copies[1:]}) == 5, r         # each copy its own draw
PY

# an RGB corpus without masks: colours kept, per-cell min-max over all channels
"$MEDSSL" preview --in "$out/rgb.h5" --augment none --copies 1 --out "$out/rgb.png" 2>/dev/null
/usr/bin/python3 - "$out" <<'PY' || fail "RGB preview"
import sys
sys.path.insert(0, sys.argv[1])
import pngread
w, h, rows = pngread.read_rgb8(f"{sys.argv[1]}/rgb.png")
assert (w, h) == (2 * 5 + 2, 4), (w, h)
src = [(10 * i, 200 - 5 * i, 128) for i in range(20)]
lo, hi = min(min(p) for p in src), max(max(p) for p in src)
for i, p in enumerate(src):
    want = tuple(round((v - lo) / (hi - lo) * 255) for v in p)
    got = pngread.pixel(rows, i % 5, i // 5)
    assert all(abs(a - b) <= 1 for a, b in zip(got, want)), (i, got, want)
    assert pngread.pixel(rows, 7 + i % 5, i // 5) == got   # augment none: the copy is the original
PY

# --- bad inputs ---------------------------------------------------------------------------
expect_input_error "rotate" "$out/bad.png" preview --in "$out/c.h5" --augment "rotate:abc" --out "$out/bad.png"
expect_input_error "blur" "$out/bad.png" preview --in "$out/c.h5" --augment "flip:h,blur:3" --out "$out/bad.png"
expect_input_error "missing.h5" "$out/bad.png" preview --in "$out/missing.h5" --augment none --out "$out/bad.png"
expect_input_error "text.h5: not an HDF5 file" "$out/bad.png" preview --in "$out/text.h5" --augment none --out "$out/bad.png"
expect_input_error "flip.png: not an HDF5 file" "$out/bad.png" preview --in "$out/flip.png" --augment none --out "$out/bad.png"
expect_input_error "--augment OPS is required" "$out/bad.png" preview --in "$out/c.h5" --out "$out/bad.png"
expect_input_error "--in FILE is required" "$out/bad.png" preview --augment none --out "$out/bad.png"
expect_input_error "--count" "$out/bad.png" preview --in "$out/c.h5" --augment none --count 0 --out "$out/bad.png"
expect_input_error "nodir/bad.png" "" preview --in "$out/c.h5" --augment none --out "$out/nodir/bad.png"
"$MEDSSL" import png "$out/img" --size 256 --out "$out/big.h5" 2>/dev/null
expect_input_error "lower --count or --copies" "$out/bad.png" preview --in "$out/big.h5" --augment none --copies 64 \
  --out "$out/bad.png"
echo "1 passed, 0 failed"
