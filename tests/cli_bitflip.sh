#!/usr/bin/env bash
# CLI test: a bit-flipped checkpoint never changes predictions silently
# (reliability issue: 33 of 200 single-bit mutations of a checkpoint changed
# `medssl evaluate`'s output with exit 0).
#   - a tiny classifier is trained (scratch, AdamW, seconds) and evaluated:
#     the baseline metrics (--json) and probabilities (--probabilities);
#   - every dataset of the checkpoint is chunked with the fletcher32 filter and
#     the file has a checksummed superblock (version >= 2): what ckpt_save
#     writes (docs/checkpoint.md);
#   - MEDSSL_BITFLIPS (default 160) checkpoints with one bit flipped at a
#     seeded random position (half anywhere in the file, half in the data of
#     /params tensors) are evaluated: each must exit 2 with one stderr line,
#     or give metrics and probabilities byte-identical to the baseline. Exit 0
#     with other numbers, exit 1, another code or a signal fails the test.
#     Before checksums (superblock 0, contiguous datasets), with 200 flips: 7
#     refused, 91 identical, 101 exit 0 with other numbers, 1 exit 2 with two
#     lines; with them: none wrong;
#   - compatibility: the same checkpoint rewritten by h5py without checksums
#     (contiguous datasets, the oldest file format) still loads and gives the
#     baseline numbers.
set -euo pipefail
MEDSSL=$1
PHANTOM=$(dirname "$MEDSSL")/medssl_phantom
PY=/usr/bin/python3
fail() { echo "FAIL: $*"; exit 1; }
command -v h5dump > /dev/null || { echo "h5dump (hdf5-tools) is not installed"; exit 1; }
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
cd "$out"
export OPENBLAS_NUM_THREADS=1
# a singleton MPI start in ~0.4 s instead of ~1.2 s: no orted, no network transports
export OMPI_MCA_ess_singleton_isolated=1 OMPI_MCA_btl=self OMPI_MCA_pml=ob1 OMPI_MCA_osc=^ucx OMPI_MCA_mtl=^ofi
FLIPS=${MEDSSL_BITFLIPS:-160}

"$PHANTOM" --kind cls --n 200 --size 16 --seed 1 --out tr.h5 > /dev/null
"$PHANTOM" --kind cls --n 64 --size 16 --seed 2 --out te.h5 > /dev/null
"$MEDSSL" finetune --task classify --train tr.h5 --out ft --strategy scratch --encoder "encoder:widths=4-8,convs=1" \
    --epochs 2 --optimizer adamw --threads 1 --log-every 1000 2> ft.log || { cat ft.log; fail "finetune"; }
CK=ft/last.h5

# evaluate CKPT NAME: NAME.rc, NAME.err, NAME.json (metrics but the model's path), NAME.bin (raw
# probabilities)
# (each in its own Open MPI session folder: singletons started together, or another test's
# cleanup, otherwise race on /tmp/ompi.<host>.<uid> and fail before medssl runs)
evaluate() {
    local rc=0
    mkdir -p "$2.ompi"
    OMPI_MCA_orte_tmpdir_base="$PWD/$2.ompi" timeout 60 "$MEDSSL" evaluate --model "$1" --data te.h5 --json \
        --threads 1 --probabilities "$2.h5" > "$2.out" 2> "$2.err" || rc=$?
    echo $rc > "$2.rc"
    grep -v '^  "model": ' "$2.out" > "$2.json" || true
    rm -f "$2.bin"
    if [ $rc -eq 0 ]; then h5dump -d /probabilities -b LE -o "$2.bin" "$2.h5" > /dev/null 2>&1 || echo > "$2.bin"; fi
    rm -rf "$2.h5" "$2.ompi"
}
evaluate $CK base
[ "$(cat base.rc)" = 0 ] && [ -s base.bin ] || { cat base.err; fail "baseline evaluate"; }

# the checkpoint carries its checksums; map the data of /params for the flips
$PY - $CK > layout.txt <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
sb = open(sys.argv[1], "rb").read(9)[8]
print("superblock", sb)
unprotected = []
def visit(name, obj):
    if isinstance(obj, h5py.Dataset) and obj.fletcher32 is not True:
        unprotected.append(name)
f.visititems(visit)
print("unprotected", len(unprotected), " ".join(unprotected[:5]))
for name, d in f["params"].items():
    if d.chunks is not None:
        info = d.id.get_chunk_info(0)
        print("data", info.byte_offset, info.size)
    else:
        print("data", d.id.get_offset(), d.id.get_storage_size())
PY
sb=$(awk '$1 == "superblock" {print $2}' layout.txt)
unprot=$(awk '$1 == "unprotected" {print $2}' layout.txt)
[ "$sb" -ge 2 ] || fail "superblock version $sb: no metadata checksums"
[ "$unprot" = 0 ] || fail "datasets without the fletcher32 filter: $(grep unprotected layout.txt)"

# FLIPS mutated copies, one bit each: flip-<i>.h5 and its position in flips.txt
mkdir flips
$PY - $CK "$FLIPS" layout.txt > flips.txt <<'PY'
import random, sys
src, n = sys.argv[1], int(sys.argv[2])
data = open(src, "rb").read()
regions = [(int(l.split()[1]), int(l.split()[2])) for l in open(sys.argv[3]) if l.startswith("data ")]
rng = random.Random(20261204)
seen = set()
while len(seen) < n:
    if len(seen) % 2 == 0:
        pos = rng.randrange(len(data))
    else:
        off, size = rng.choice(regions)
        pos = off + rng.randrange(size)
    bit = rng.randrange(8)
    if (pos, bit) in seen:
        continue
    seen.add((pos, bit))
    i = len(seen)
    b = bytearray(data)
    b[pos] ^= 1 << bit
    open("flips/flip-%d.h5" % i, "wb").write(b)
    print(i, pos, bit)
PY
export -f evaluate
export MEDSSL
t0=$(date +%s)
seq 1 "$FLIPS" | xargs -P "$(( $(nproc) < 4 ? $(nproc) : 4 ))" -I{} bash -c 'evaluate flips/flip-{}.h5 flips/r-{}'
t1=$(date +%s)

detected=0; same=0; bad=0
while read -r i pos bit; do
    rc=$(cat flips/r-$i.rc); nerr=$(wc -l < flips/r-$i.err)
    if [ "$rc" = 2 ] && [ "$nerr" = 1 ]; then
        detected=$((detected + 1))
        echo "$pos.$bit $(cat flips/r-$i.err)" >> messages.txt
    elif [ "$rc" = 0 ] && cmp -s flips/r-$i.json base.json && cmp -s flips/r-$i.bin base.bin; then
        same=$((same + 1))
    else
        bad=$((bad + 1))
        what="exit $rc"; [ "$rc" = 0 ] && what="exit 0 with other predictions"
        [ "$rc" = 2 ] && what="exit 2 with $nerr stderr lines"
        echo "byte $pos bit $bit: $what: $(head -c 300 flips/r-$i.err | tr '\n' '|')" >> bad.txt
    fi
done < flips.txt
echo "bit flips: $FLIPS in $(( t1 - t0 )) s: $detected refused (exit 2, one line), $same identical output, $bad wrong"
n_sum=$(grep -c "checksum mismatch" messages.txt || true)
echo "  of the refusals, $n_sum name a checksum mismatch; e.g.:"
grep "checksum mismatch" messages.txt | head -2 | sed 's/^/    /' || true
if [ $bad -gt 0 ]; then
    head -20 bad.txt
    fail "$bad of $FLIPS bit-flipped checkpoints were not refused and changed the output (or crashed)"
fi
grep -q "checksum mismatch in dataset /params/" messages.txt || fail "no flip in the tensor data gave the checksum message"

# an old checkpoint, without checksums (h5py, contiguous datasets, default file format), still loads
$PY - $CK old.h5 <<'PY'
import sys, h5py
src = h5py.File(sys.argv[1], "r")
dst = h5py.File(sys.argv[2], "w", libver="earliest")
def copy(s, d):
    for k, v in s.attrs.items():
        d.attrs.create(k, v, dtype=s.attrs.get_id(k).dtype)
    for k, o in s.items():
        if isinstance(o, h5py.Dataset):
            plain = d.create_dataset(k, data=o[()])
            assert plain.fletcher32 is False and plain.chunks is None
        else:
            copy(o, d.create_group(k))
copy(src, dst)
dst.close()
PY
[ "$(od -An -tu1 -j8 -N1 old.h5 | tr -d ' ')" = 0 ] || fail "old.h5 is not in the oldest file format"
evaluate old.h5 old
[ "$(cat old.rc)" = 0 ] || { cat old.err; fail "a checkpoint without checksums no longer loads"; }
cmp -s old.json base.json && cmp -s old.bin base.bin || fail "a checkpoint without checksums gives other numbers"
echo "a checkpoint without checksums (old format) still loads, same numbers"
echo "PASS"
