#!/usr/bin/env bash
# The run folder is owned and resumes use what is usable (issue 10, item 5 and 7):
#   - a second run on a folder another run is writing to exits 2 naming the
#     folder and the owner's pid; the first run is undisturbed; the lock goes
#     with the process (a killed run's folder resumes at once);
#   - a metrics.jsonl that is a symbolic link is refused (exit 2), the file it
#     points to is untouched;
#   - --resume auto passes over a truncated newest step file to the newest
#     usable checkpoint and says so; with only last.h5 left it resumes from
#     that; with only best.h5 it refuses instead of starting fresh over it;
#     all checkpoints damaged: exit 2, nothing overwritten;
#   - after a crash and a resume, metrics.jsonl holds each step once;
#   - a checkpoint with a negative step is refused with exit 2, not an abort;
#   - finetune --out pointing at the folder of its --init checkpoint is refused;
#   - an import never renames its corpus over a file that is not HDF5 (its input).
set -euo pipefail
MEDSSL=$1
PHANTOM=$(dirname "$MEDSSL")/medssl_phantom
fail() { echo "FAIL: $*"; exit 1; }
out=$(mktemp -d); trap 'kill $bg 2>/dev/null || true; rm -rf "$out"' EXIT
bg=
cd "$out"
"$PHANTOM" --kind cls --n 300 --seed 1 --out c.h5
PRE=(pretrain --task rotation --corpus c.h5 --encoder "encoder:widths=8-16,convs=1" --batch 32 --threads 1 --log-every 1000)
expect() { # expect CODE "exact stderr last line" command...
    local code=$1 line=$2; shift 2
    set +e; "$@" > /dev/null 2> err.txt; local rc=$?; set -e
    [ $rc -eq "$code" ] || { cat err.txt; fail "$*: exit $rc, expected $code"; }
    [ -z "$line" ] || [ "$(tail -1 err.txt)" = "$line" ] || fail "$*: stderr '$(tail -1 err.txt)', expected '$line'"
}

# --- one writer per folder -----------------------------------------------------------------
"$MEDSSL" "${PRE[@]}" --epochs 200 --out own > own.log 2>&1 & bg=$!
for _ in $(seq 200); do [ -s own/.medssl.lock ] && break; sleep 0.05; done
[ -s own/.medssl.lock ] || fail "the first run did not lock its folder"
expect 2 "medssl pretrain: own: another medssl run (pid $bg) is writing to this folder; wait for it to end or choose another --out" \
    "$MEDSSL" "${PRE[@]}" --epochs 1 --out own
kill -KILL $bg; wait $bg 2>/dev/null || true; bg=
# the lock died with the process: a resume takes the folder at once
"$MEDSSL" "${PRE[@]}" --epochs 1 --out own --resume auto 2> own2.log || { cat own2.log; fail "resume after kill -9"; }

# --- a symlinked metrics.jsonl --------------------------------------------------------------
mkdir sym; echo "precious" > outside.txt; ln -s "$out/outside.txt" sym/metrics.jsonl
expect 2 "medssl pretrain: sym/metrics.jsonl is a symbolic link: medssl writes only inside --out (remove it)" \
    "$MEDSSL" "${PRE[@]}" --epochs 1 --out sym
[ "$(cat outside.txt)" = "precious" ] || fail "the symlink's target was written"

# --- resume: pass over damaged checkpoints ---------------------------------------------------
"$MEDSSL" "${PRE[@]}" --epochs 2 --keep 5 --out r 2> /dev/null || fail "run r"
"$MEDSSL" "${PRE[@]}" --epochs 2 --keep 5 --out ref 2> /dev/null || fail "run ref"
newest=$(ls r/step-*.h5 | sort | tail -1); older=$(ls r/step-*.h5 | sort | head -1)
truncate -s 2000 "$newest"
"$MEDSSL" "${PRE[@]}" --epochs 2 --keep 5 --out r --resume auto 2> r.log || { cat r.log; fail "resume over a truncated step file"; }
grep -q "medssl pretrain: $newest is not usable (.*); resuming from the newest usable checkpoint, $older" r.log ||
    fail "no fallback note: $(cat r.log)"
cmp -s <(h5dump -g /params r/last.h5 | tail -n +2) <(h5dump -g /params ref/last.h5 | tail -n +2) ||
    fail "resumed from the older checkpoint, the weights differ from an uninterrupted run"
/usr/bin/python3 - r/metrics.jsonl <<'PY' || fail "metrics.jsonl repeats steps after the resume"
import json, sys
rows = [d for d in map(json.loads, open(sys.argv[1])) if "event" not in d]
keys = [(d["step"], "val_loss" in d) for d in rows]
assert len(keys) == len(set(keys)), keys
PY
# only last.h5 left: resume from it
rm -f r/step-*.h5
"$MEDSSL" "${PRE[@]}" --epochs 3 --keep 5 --out r --resume auto 2> r2.log || { cat r2.log; fail "resume from last.h5"; }
grep -q "resuming from r/last.h5" r2.log || fail "did not resume from last.h5: $(cat r2.log)"
# only best.h5: refused, not started afresh
rm -f r/step-*.h5 r/last.h5
expect 2 "medssl pretrain: r: holds best.h5 but no step-*.h5 or last.h5 to resume from; --resume r/best.h5 continues from it, or choose another --out" \
    "$MEDSSL" "${PRE[@]}" --epochs 3 --out r --resume auto
# every checkpoint damaged
mkdir dmg; cp ref/last.h5 dmg/last.h5; truncate -s 1000 dmg/last.h5; cp dmg/last.h5 dmg/keep.h5
expect 2 "" "$MEDSSL" "${PRE[@]}" --epochs 3 --out dmg --resume auto
grep -q "dmg: none of its 1 checkpoint is usable" err.txt || fail "all damaged: $(cat err.txt)"
cmp -s dmg/last.h5 dmg/keep.h5 || fail "the damaged last.h5 was overwritten"

# --- a negative step is refused, not an abort -------------------------------------------------
if /usr/bin/python3 -c "import h5py" 2>/dev/null; then
    cp ref/last.h5 neg.h5
    /usr/bin/python3 -c 'import h5py, numpy as np
with h5py.File("neg.h5", "a") as f: f["state"].attrs["step"] = np.int64(-5)'
    expect 2 "" "$MEDSSL" "${PRE[@]}" --epochs 3 --out negrun --resume neg.h5
    grep -q "neg.h5: /state holds impossible values (epoch .*, step -5," err.txt || fail "negative step: $(cat err.txt)"
fi

# --- finetune --out at its --init's folder ---------------------------------------------------
expect 2 "medssl finetune: --out ref is the folder of --init ref/best.h5: its checkpoints would be overwritten; choose another --out" \
    "$MEDSSL" finetune --task classify --train c.h5 --strategy finetune --init ref/best.h5 --out ref --epochs 1 --threads 1

# --- an import never replaces its own input --------------------------------------------------
/usr/bin/python3 -c 'import gzip, struct
d = gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz").read(16 + 100 * 784)
open("img.idx", "wb").write(struct.pack(">IIII", 0x803, 100, 28, 28) + d[16:])' # 100 images
cp img.idx img.keep
expect 2 "medssl import: img.idx exists and is not an HDF5 file (an input?): medssl replaces only an earlier corpus; choose another --out" \
    "$MEDSSL" import idx --images img.idx --out img.idx
cmp -s img.idx img.keep || fail "import --out <its input> changed the input"
"$MEDSSL" import idx --images img.idx --out again.h5 2> /dev/null || fail "import idx"
"$MEDSSL" import idx --images img.idx --out again.h5 2> /dev/null || fail "re-import over an earlier corpus"
echo "cli_runfolder: ok"
