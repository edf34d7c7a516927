#!/usr/bin/env bash
# CLI tests of `medssl augment` on real files: a small labeled uint8 corpus
# imported from IDX files made here; counts and class counts of the output
# ((K+1)*N images, every class count times K+1), the originals unchanged and
# first, labels repeated per copy, copies that differ from the originals,
# byte-identical /images for two runs with the same seed (and different ones
# for another seed), gzip output equal to plain output, and bad inputs (exit 2,
# one message, no output or temporary file left behind).
# Masks, domains, float32 corpora, exact agreement with augment_apply and a
# failure after some blocks were written are tested in test_augment_cli_masks.c
# (a corpus with masks cannot be made with the CLI alone).
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

# Values of one dataset as a flat list of ints (h5dump text, index prefixes removed).
dump_values() { # file dataset
  h5dump -d "$2" "$1" | /usr/bin/python3 -c '
import re, sys
txt = sys.stdin.read()
body = re.sub(r"\(\d+(,\d+)*\):", " ", txt[txt.index("DATA {"):])
print(" ".join(re.findall(r"-?\d+", body)))'
}

# --- a small labeled corpus: 13 images of 6x5, classes 0..2 ---------------------------
/usr/bin/python3 - "$out" <<'PY'
import struct, sys
d = sys.argv[1]
n, h, w = 13, 6, 5
imgs = bytes((i * 37 + (i // 30) * 11) % 256 for i in range(n * h * w))
labs = bytes(i % 3 for i in range(n))
with open(f"{d}/img.idx", "wb") as f: f.write(struct.pack(">IIII", 0x803, n, h, w) + imgs)
with open(f"{d}/lab.idx", "wb") as f: f.write(struct.pack(">II", 0x801, n) + labs)
PY
"$MEDSSL" import idx --images "$out/img.idx" --labels "$out/lab.idx" --out "$out/in.h5" 2>/dev/null
OPS="flip:hv,rotate:20,shift:0.1,scale:0.9-1.1,noise:0.05,contrast:0.2"
K=3

"$MEDSSL" augment --in "$out/in.h5" --out "$out/a.h5" --copies $K --augment "$OPS" --seed 5 2> "$out/log.txt" \
  || fail "augment failed: $(cat "$out/log.txt")"
grep -q "100% (52 of 52 samples)" "$out/log.txt" || fail "no final progress line: $(cat "$out/log.txt")"
grep -q "wrote $out/a.h5: 13 originals + 3 x 13 copies = 52 images" "$out/log.txt" || fail "summary: $(cat "$out/log.txt")"
ls "$out" | grep -q "\.tmp\." && fail "a temporary file was left behind"

# counts and class counts: (K+1) times the input's
"$MEDSSL" inspect --json "$out/in.h5" > "$out/in.json"
"$MEDSSL" inspect --json "$out/a.h5" > "$out/a.json"
/usr/bin/python3 - "$out/in.json" "$out/a.json" $K <<'PY' || fail "inspect --json of the augmented corpus"
import json, sys
a, b, K = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), int(sys.argv[3])
assert a["images"] == 13 and b["images"] == (K + 1) * 13, (a["images"], b["images"])
assert (b["height"], b["width"], b["channels"], b["dtype"]) == (6, 5, 1, "uint8"), b
assert [c["count"] for c in a["classes"]] == [5, 4, 4], a["classes"]
assert [c["count"] for c in b["classes"]] == [(K + 1) * c["count"] for c in a["classes"]], b["classes"]
assert b["unlabeled"] == 0, b
PY

# originals first and unchanged; labels repeated per copy; copies differ from the originals
dump_values "$out/in.h5" /images > "$out/in_img.txt"
dump_values "$out/a.h5" /images > "$out/a_img.txt"
dump_values "$out/in.h5" /labels > "$out/in_lab.txt"
dump_values "$out/a.h5" /labels > "$out/a_lab.txt"
/usr/bin/python3 - "$out" $K <<'PY' || fail "originals, labels or copies of the augmented corpus"
import sys
d, K = sys.argv[1], int(sys.argv[2])
ld = lambda f: [int(v) for v in open(f"{d}/{f}").read().split()]
img_in, img_out, lab_in, lab_out = ld("in_img.txt"), ld("a_img.txt"), ld("in_lab.txt"), ld("a_lab.txt")
N, P = 13, 30
assert len(img_in) == N * P and len(img_out) == (K + 1) * N * P, (len(img_in), len(img_out))
assert img_out[:P] == img_in[:P], "the first sample changed"
assert img_out[:N * P] == img_in, "the originals changed"
assert lab_out == lab_in * (K + 1), (lab_in, lab_out)
assert all(0 <= v <= 255 for v in img_out)
for c in range(1, K + 1):
    copy = img_out[c * N * P:(c + 1) * N * P]
    same = sum(copy[i * P:(i + 1) * P] == img_in[i * P:(i + 1) * P] for i in range(N))
    assert same == 0, f"copy {c}: {same} of {N} images equal their original"
# different copies of one image differ from each other
assert img_out[N * P:2 * N * P] != img_out[2 * N * P:3 * N * P]
PY

# determinism: same seed -> byte-identical /images; another seed -> different copies
"$MEDSSL" augment --in "$out/in.h5" --out "$out/b.h5" --copies $K --augment "$OPS" --seed 5 2>/dev/null
h5dump -d /images "$out/a.h5" | tail -n +2 > "$out/a.dump"
h5dump -d /images "$out/b.h5" | tail -n +2 > "$out/b.dump"
cmp -s "$out/a.dump" "$out/b.dump" || fail "two runs with --seed 5 differ"
OMP_NUM_THREADS=1 "$MEDSSL" augment --in "$out/in.h5" --out "$out/t1.h5" --copies $K --augment "$OPS" --seed 5 2>/dev/null
h5dump -d /images "$out/t1.h5" | tail -n +2 > "$out/t1.dump"
cmp -s "$out/a.dump" "$out/t1.dump" || fail "1 thread and the default thread count give different images"
"$MEDSSL" augment --in "$out/in.h5" --out "$out/c.h5" --copies $K --augment "$OPS" --seed 6 2>/dev/null
h5dump -d /images "$out/c.h5" | tail -n +2 > "$out/c.dump"
cmp -s "$out/a.dump" "$out/c.dump" && fail "--seed 5 and --seed 6 give the same images"
# gzip changes the storage, not the values
"$MEDSSL" augment --in "$out/in.h5" --out "$out/z.h5" --copies $K --augment "$OPS" --seed 5 --gzip 6 2>/dev/null
dump_values "$out/z.h5" /images > "$out/z_img.txt"
cmp -s "$out/a_img.txt" "$out/z_img.txt" || fail "--gzip 6 changed the values"
"$MEDSSL" augment --help | grep -q "c\*N + i is copy c of input sample i" || fail "--help does not document the order"

# --- bad inputs -------------------------------------------------------------------------
expect_input_error "unknown op 'blur'" "$out/x.h5" augment --in "$out/in.h5" --out "$out/x.h5" --copies 2 --augment "flip:h,blur:3"
expect_input_error "rotate:abc" "$out/x.h5" augment --in "$out/in.h5" --out "$out/x.h5" --copies 2 --augment "rotate:abc"
expect_input_error "--copies 0: expected an integer in \[1, 1000\]" "$out/x.h5" augment --in "$out/in.h5" --out "$out/x.h5" --copies 0 --augment flip:h
expect_input_error "--copies 1001" "$out/x.h5" augment --in "$out/in.h5" --out "$out/x.h5" --copies 1001 --augment flip:h
expect_input_error "--copies K is required" "$out/x.h5" augment --in "$out/in.h5" --out "$out/x.h5" --augment flip:h
expect_input_error "--augment OPS is required" "$out/x.h5" augment --in "$out/in.h5" --out "$out/x.h5" --copies 2
expect_input_error "names no op" "$out/x.h5" augment --in "$out/in.h5" --out "$out/x.h5" --copies 2 --augment none
expect_input_error "--out FILE is required" "" augment --in "$out/in.h5" --copies 2 --augment flip:h
expect_input_error "missing.h5: cannot read" "$out/x.h5" augment --in "$out/missing.h5" --out "$out/x.h5" --copies 2 --augment flip:h
echo "not hdf5" > "$out/text.h5"
expect_input_error "text.h5: not an HDF5 file" "$out/x.h5" augment --in "$out/text.h5" --out "$out/x.h5" --copies 2 --augment flip:h
expect_input_error "is the input file" "" augment --in "$out/in.h5" --out "$out/in.h5" --copies 2 --augment flip:h
expect_input_error "cannot create" "" augment --in "$out/in.h5" --out "$out/nodir/x.h5" --copies 2 --augment flip:h
expect_input_error "unknown flag '--copy'" "$out/x.h5" augment --in "$out/in.h5" --out "$out/x.h5" --copy 2 --augment flip:h
echo "1 passed, 0 failed"
