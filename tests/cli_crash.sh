#!/usr/bin/env bash
# CLI test: `medssl pretrain` killed with SIGKILL (no handler runs: a node
# failure, the OOM killer, scancel --signal=KILL) loses at most the work since
# the last checkpoint, never leaves a damaged checkpoint under a final name,
# and `--resume auto` then finishes bit-identically to an uninterrupted run.
#
#   (a) an uninterrupted reference run (4 steps per epoch, a checkpoint per epoch);
#   (b) the same run killed mid-training after its first checkpoint, resumed
#       with --resume auto: final last.h5 /params equal to (a), bit for bit;
#   (c) a run with a checkpoint after every step (1-step epochs) killed INSIDE
#       checkpoint writes again and again, resumed each time. With the test
#       hook MEDSSL_TEST_CRASH_IN_CKPT=N in the binary (the process SIGKILLs
#       itself at its N-th checkpoint-write event: each tensor written, and
#       each rename about to happen) the crash points are deterministic: in the
#       first tensor, mid-file, after the last tensor before the rename, in the
#       step file and in last.h5. Without the hook, kills are timed by watching
#       for this process's temporary file (*.tmp.<pid>) and waiting a random
#       0-7 ms, and the test requires that at least 3 kills really did land
#       inside a write (the temporary file was left behind).
#       After every kill: every step-*.h5 and last.h5 must be a complete
#       medssl-checkpoint (h5dump reads all of it; format attribute, every
#       tensor, /state) — `medssl inspect` validates corpora, not checkpoints —
#       and the next --resume auto must start; the final run's /params equal
#       an uninterrupted run's.
#   (d) 2 MPI ranks, one rank killed with SIGKILL: mpirun ends the job with a
#       non-zero exit (no hang), and a 2-rank --resume auto finishes identical
#       to an uninterrupted 2-rank run.
set -euo pipefail
MEDSSL=$1
fail() { echo "FAIL: $*"; exit 1; }
FM=/usr/share/datasets/fashion-mnist
[ -f "$FM/t10k-images-idx3-ubyte.gz" ] || { echo "dataset-fashion-mnist is not installed"; exit 1; }
command -v h5dump >/dev/null || { echo "h5dump (hdf5-tools) is not installed"; exit 1; }
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
export OPENBLAS_NUM_THREADS=1

/usr/bin/python3 - "$FM/t10k-images-idx3-ubyte.gz" "$out/fm64.idx" <<'PY'
import gzip, struct, sys
raw = gzip.open(sys.argv[1]).read()
n = 64
open(sys.argv[2], "wb").write(struct.pack(">IIII", 0x803, n, 28, 28) + raw[16:16 + n * 784])
PY
"$MEDSSL" import idx --images "$out/fm64.idx" --out "$out/fm.h5" 2>/dev/null
COMMON=(pretrain --task rotation --corpus "$out/fm.h5" --encoder "encoder:widths=4-8,convs=1" --val-fraction 0
        --seed 5 --threads 1 --lr 0.1 --log-every 1000 --keep 2)
RUN_B=(--batch 16 --epochs 30)   # 4 steps per epoch, 120 steps
RUN_C=(--batch 64 --epochs 24)   # 1 step per epoch: two checkpoint files per step

params() { h5dump -g /params "$1" | tail -n +2; }  # line 1 names the file
# A complete checkpoint: h5dump reads every dataset and attribute, the format
# attribute is there, all $NT tensors and /state are there.
check_ckpt() {
  local f=$1 d
  d=$(h5dump "$f" 2>&1) || { echo "$f: h5dump fails: $(echo "$d" | grep -m1 -i error)"; return 1; }
  grep -q '"medssl-checkpoint"' <<<"$d" || { echo "$f: no format attribute"; return 1; }
  [ "$(grep -c '^ *DATASET "' <<<"$d")" = "$NT" ] || { echo "$f: $(grep -c '^ *DATASET "' <<<"$d") tensors, not $NT"; return 1; }
  grep -q 'GROUP "state"' <<<"$d" && grep -q 'ATTRIBUTE "samples_seen"' <<<"$d" || { echo "$f: no /state"; return 1; }
}
check_folder() {
  local f
  for f in "$1"/step-*.h5 "$1"/last.h5; do
    [ -e "$f" ] || continue
    check_ckpt "$f" || fail "after a kill: $f is not a complete checkpoint"
  done
}

# --- (a) uninterrupted references ------------------------------------------------------
t0=$SECONDS
"$MEDSSL" "${COMMON[@]}" "${RUN_B[@]}" --out "$out/a" 2> "$out/a.log" || { cat "$out/a.log"; fail "reference run"; }
"$MEDSSL" "${COMMON[@]}" "${RUN_C[@]}" --out "$out/ac" 2> "$out/ac.log" || { cat "$out/ac.log"; fail "reference run (c)"; }
NT=$(h5dump -H "$out/a/last.h5" | grep -c '^ *DATASET "')
[ "$NT" -gt 10 ] || fail "reference checkpoint holds $NT tensors"
check_ckpt "$out/a/last.h5" || fail "the reference checkpoint does not validate"
params "$out/a/last.h5" > "$out/a.txt"
params "$out/ac/last.h5" > "$out/ac.txt"
echo "(a) references: $((SECONDS - t0)) s, $NT tensors per checkpoint"

# --- (b) kill -9 mid-training, resume --------------------------------------------------------
t0=$SECONDS
"$MEDSSL" "${COMMON[@]}" "${RUN_B[@]}" --out "$out/b" 2> "$out/b1.log" &
pid=$!
for _ in $(seq 500); do compgen -G "$out/b/step-*.h5" >/dev/null && break; sleep 0.01; done
compgen -G "$out/b/step-*.h5" >/dev/null || fail "(b) no checkpoint appeared: $(tail -3 "$out/b1.log")"
sleep "0.$((RANDOM % 3))$((RANDOM % 10))"
kill -KILL $pid 2>/dev/null || true
set +e; { wait $pid; } 2>/dev/null; rc=$?; set -e
[ "$rc" = 137 ] || fail "(b) the run was not killed mid-training (exit $rc); make it longer"
check_folder "$out/b"
"$MEDSSL" "${COMMON[@]}" "${RUN_B[@]}" --resume auto --out "$out/b" 2> "$out/b2.log" || { cat "$out/b2.log"; fail "(b) resume"; }
grep -q "resuming from" "$out/b2.log" || fail "(b) did not resume: $(head -3 "$out/b2.log")"
params "$out/b/last.h5" | cmp -s - "$out/a.txt" || fail "(b) killed and resumed weights differ from the uninterrupted run"
echo "(b) killed at $(grep -o 'resuming at step [0-9]*' "$out/b2.log"), resumed to identical weights: $((SECONDS - t0)) s"

# --- (c) kills inside checkpoint writes ---------------------------------------------------
t0=$SECONDS
dir="$out/c"
kills=0 in_write=0 finished=0 resumes=0
# one process: --resume auto, optionally killed; sets rc
run_c() { # env-assignments... ; optional KILL_MODE=watch
  "$@" "$MEDSSL" "${COMMON[@]}" "${RUN_C[@]}" --resume auto --out "$dir" 2> "$out/c.log" &
  pid=$!
}
after_run() {
  if [ "$rc" = 0 ]; then finished=1; return; fi
  [ "$rc" = 137 ] || { cat "$out/c.log"; fail "(c) a resumed run failed with exit $rc"; }
  kills=$((kills + 1))
  compgen -G "$dir/*.tmp.$pid" >/dev/null && in_write=$((in_write + 1))
  grep -q "resuming from" "$out/c.log" && resumes=$((resumes + 1))
  check_folder "$dir"
}
if grep -q MEDSSL_TEST_CRASH_IN_CKPT "$MEDSSL"; then
  mode="hook"
  E=$((NT + 1)) # events per checkpoint file: NT tensors + the rename
  # first tensor; mid-file; last tensor; just before the rename; first tensor of last.h5;
  # before last.h5's rename; a later step's files
  for n in 1 $((NT / 2)) $NT $E $((E + 1)) $((2 * E)) $((2 * E + NT / 3)) $((3 * E)) $((5 * E + 2)) $((6 * E)); do
    run_c env MEDSSL_TEST_CRASH_IN_CKPT=$n
    set +e; { wait $pid; } 2>/dev/null; rc=$?; set -e
    [ "$rc" = 137 ] || fail "(c) MEDSSL_TEST_CRASH_IN_CKPT=$n: exit $rc, not killed by the hook"
    after_run
  done
else
  mode="timed kills"
  for attempt in $(seq 25); do
    [ "$in_write" -ge 5 ] && break
    run_c env
    # wait for this process's temporary checkpoint file, then a random 0-7 ms
    for _ in $(seq 20000); do
      compgen -G "$dir/*.tmp.$pid" >/dev/null && break
      kill -0 $pid 2>/dev/null || break
    done
    [ $((RANDOM % 4)) = 0 ] || sleep "0.00$((RANDOM % 8))"
    kill -KILL $pid 2>/dev/null || true
    set +e; { wait $pid; } 2>/dev/null; rc=$?; set -e
    after_run
    [ "$finished" = 0 ] || break
  done
  [ "$in_write" -ge 3 ] || fail "(c) only $in_write of $kills kills landed inside a checkpoint write"
fi
[ "$resumes" -ge 2 ] || fail "(c) only $resumes killed runs had resumed from a checkpoint"
"$MEDSSL" "${COMMON[@]}" "${RUN_C[@]}" --resume auto --out "$dir" 2> "$out/c.log" || { cat "$out/c.log"; fail "(c) final resume"; }
check_folder "$dir"
params "$dir/last.h5" | cmp -s - "$out/ac.txt" || fail "(c) after $kills kills, the resumed weights differ from the uninterrupted run"
echo "(c) $mode: $kills kills, $in_write inside a checkpoint write (temporary file left: $(ls "$dir" | grep -c '\.tmp\.' || true)), every checkpoint complete, final weights identical: $((SECONDS - t0)) s"

# --- (d) two ranks: kill -9 one rank; mpirun ends the job (no hang); resume is identical --
t0=$SECONDS
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
mpirun -np 2 "$MEDSSL" "${COMMON[@]}" "${RUN_B[@]}" --out "$out/ad" 2> "$out/ad.log" || { cat "$out/ad.log"; fail "(d) 2-rank reference"; }
mpirun -np 2 "$MEDSSL" "${COMMON[@]}" "${RUN_B[@]}" --out "$out/d" 2> "$out/d1.log" &
mp=$!
for _ in $(seq 500); do compgen -G "$out/d/step-*.h5" >/dev/null && break; sleep 0.01; done
ranks=()
for k in $(pgrep -P $mp); do [ "$(readlink -f /proc/$k/exe)" = "$(readlink -f "$MEDSSL")" ] && ranks+=("$k"); done
[ "${#ranks[@]}" = 2 ] || fail "(d) found ${#ranks[@]} rank processes under mpirun"
victim=${ranks[$((RANDOM % 2))]}
sleep "0.0$((RANDOM % 10))"
kill -KILL "$victim"
for _ in $(seq 300); do kill -0 $mp 2>/dev/null || break; sleep 0.1; done
if kill -0 $mp 2>/dev/null; then kill -KILL "${ranks[@]}" $mp 2>/dev/null; fail "(d) mpirun still running 30 s after a rank was killed"; fi
set +e; { wait $mp; } 2>/dev/null; rc=$?; set -e
[ "$rc" != 0 ] || fail "(d) mpirun exited 0 after a rank was killed"
check_folder "$out/d"
mpirun -np 2 "$MEDSSL" "${COMMON[@]}" "${RUN_B[@]}" --resume auto --out "$out/d" 2> "$out/d2.log" || { cat "$out/d2.log"; fail "(d) 2-rank resume"; }
grep -q "resuming from" "$out/d2.log" || fail "(d) did not resume: $(head -3 "$out/d2.log")"
params "$out/d/last.h5" | cmp -s - <(params "$out/ad/last.h5") || fail "(d) 2-rank killed and resumed weights differ from the uninterrupted 2-rank run"
echo "(d) 2 ranks, one killed (mpirun exit $rc), $(grep -o 'resuming at step [0-9]*' "$out/d2.log"), identical weights: $((SECONDS - t0)) s"
echo "1 passed, 0 failed"
