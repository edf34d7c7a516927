#!/usr/bin/env bash
# CLI test of the SLURM job scripts on a real one-node SLURM cluster
# (jobs/slurm-local.sh: munged, slurmctld, slurmd on localhost; installs
# slurm-wlm and munge if missing). On a 512-image Fashion-MNIST corpus:
#   1. jobs/pretrain.sbatch with 2 tasks runs to the end: COMPLETED, exit 0,
#      2 MPI ranks, a valid checkpoint (last.h5) and metrics.jsonl; the site
#      hook (MEDSSL_SITE_HOOK) is sourced, sbatch --time and SBATCH_JOB_NAME
#      override the script's defaults; a MEDSSL_SITE_HOOK that does not exist
#      fails the job with exit 2;
#   2. a longer job gets `scancel --batch --signal=USR1` after its first
#      checkpoint (what --signal=B:USR1@120 does before the time limit): the
#      batch shell passes it on, medssl checkpoints and exits 0, the job
#      requeues itself, and its second run resumes at the step where the first
#      stopped and trains to the end; the site hook runs in both runs;
#   3. jobs/pipeline.sh chains a pretraining
#      and a fine-tuning job with afterok, the second starting from the first's
#      last.h5; when the pretraining job fails, the fine-tuning job is cancelled;
#   4. jobs/ensemble.sbatch as a 2-task array trains one bagging member per
#      task; ensemble evaluate combines them;
#   5. jobs/predict.sbatch on 2 tasks writes one prediction per image.
# It fails (never skips) when SLURM cannot start. About 35 s (55 s with the
# ASan+UBSan binary, which it also runs under: MEDSSL_SANITIZE=1 tests/run.sh).
set -euo pipefail
MEDSSL=$(realpath "$1")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
fail() { echo "FAIL: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "needs root (slurmd, munged, apt-get)"
FM=/usr/share/datasets/fashion-mnist
[ -f "$FM/t10k-images-idx3-ubyte.gz" ] || fail "dataset-fashion-mnist is not installed"

# One local cluster at a time on this machine (fixed ports, one munged).
exec 9>/tmp/medssl-cli-slurm.lock
flock -w 600 9 || fail "another cli_slurm.sh holds /tmp/medssl-cli-slurm.lock"

out=$(mktemp -d /tmp/medssl-slurm-test.XXXXXX)
# The cluster's folder is fixed (not in $out) so that daemons left behind by a
# run that was killed (SIGKILL skips the trap) are found by their pid files
# and stopped before this run starts its own.
export SLURM_LOCAL_DIR=/tmp/medssl-cli-slurm SLURM_LOCAL_PORT=${SLURM_LOCAL_PORT:-16817}
export SLURM_CONF=$SLURM_LOCAL_DIR/slurm.conf
started=0
cleanup() {
  rc=$?
  if [ "$rc" -ne 0 ]; then
    for f in "$out"/*.out; do [ -f "$f" ] && { echo "--- $f"; tail -25 "$f"; }; done
    for f in "$SLURM_LOCAL_DIR"/log/slurmctld.log "$SLURM_LOCAL_DIR"/log/slurmd.log; do
      [ -f "$f" ] && { echo "--- $f"; tail -15 "$f"; }
    done
  fi
  [ "$started" = 1 ] && bash "$ROOT/jobs/slurm-local.sh" stop 9>&- >/dev/null 2>&1
  rm -rf "$out"
  [ "$rc" -eq 0 ] && rm -rf "$SLURM_LOCAL_DIR"   # kept after a failure, for its logs
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
t0=$SECONDS

# --- the cluster ---------------------------------------------------------------------
started=1
bash "$ROOT/jobs/slurm-local.sh" stop 9>&- > "$out/slurm-start.log" 2>&1 || true
bash "$ROOT/jobs/slurm-local.sh" start 9>&- >> "$out/slurm-start.log" 2>&1 \
  || { cat "$out/slurm-start.log"; fail "SLURM did not start"; }
LAUNCHER=$(cat "$SLURM_LOCAL_DIR/launcher")
echo "local SLURM up in $((SECONDS - t0)) s (launcher $LAUNCHER)"
[ "$(sinfo -h -o %D)" = 1 ] || fail "sinfo: $(sinfo 2>&1)"

# --- a 512-image corpus ----------------------------------------------------------------
/usr/bin/python3 - "$FM/t10k-images-idx3-ubyte.gz" "$out/fm.idx" <<'PY'
import gzip, struct, sys
raw = gzip.open(sys.argv[1]).read()
n = 512
open(sys.argv[2], "wb").write(struct.pack(">IIII", 0x803, n, 28, 28) + raw[16:16 + n * 784])
PY
"$MEDSSL" import idx --images "$out/fm.idx" --out "$out/fm.h5" 2>/dev/null

# Polls scontrol until job $1 is in a final state; sets state, code (exit
# code, e.g. 0:0) and restarts.
job_field() { sed -n "s/.*[[:space:]]$2=\([^[:space:]]*\).*/\1/p" <<< " $1"; }
wait_job() {
  local id=$1 limit=$2 info _
  state=""
  for _ in $(seq $((limit * 2))); do
    info=$(scontrol -o show job "$id" 2>/dev/null) || fail "scontrol show job $id: job unknown"
    state=$(job_field "$info" JobState)
    case "$state" in
      COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE|PREEMPTED)
        code=$(job_field "$info" ExitCode); restarts=$(job_field "$info" Restarts); return 0 ;;
    esac
    sleep 0.5
  done
  fail "job $id not finished after $limit s (state $state)"
}
ckpt_step() { h5dump -a /state/step "$1" | sed -n 's/.*(0): \([0-9]*\).*/\1/p'; }

# The site hook (jobs/site.sh.example): one marker line per run it is sourced in.
cat > "$out/site.sh" <<SH
echo "\$SLURM_JOB_ID run \$((\${SLURM_RESTART_COUNT:-0} + 1))" >> "$out/site-hook.marker"
: "\${SRUN_MPI:=pmix}"
SH
hook_runs() { grep -c "^$1 run " "$out/site-hook.marker" 2>/dev/null || true; }

ENCODER="encoder:widths=8-16,convs=1"
submit() {  # submit NAME EPOCHS [sbatch options]: pretrain.sbatch on 2 tasks into $out/NAME
  local name=$1 epochs=$2; shift 2
  ENCODER=$ENCODER EXTRA="--log-every 10 --seed 1" MEDSSL_SITE_HOOK=${HOOK-$out/site.sh} \
    sbatch --parsable --ntasks=2 -D "$out" -o "$out/$name.out" "$@" \
    --export="ALL,CORPUS=$out/fm.h5,OUT=$out/$name,TASK=rotation,EPOCHS=$epochs,BATCH=16,MEDSSL=$MEDSSL,LAUNCHER=$LAUNCHER" \
    "$ROOT/jobs/pretrain.sbatch"
}

# --- 1. a pretraining job runs to the end ------------------------------------------------
t1=$SECONDS
id=$(SBATCH_JOB_NAME=medssl-test-a submit a 2 --time=00:30:00) || fail "sbatch pretrain.sbatch"
info=$(scontrol -o show job "$id")
[ "$(job_field "$info" TimeLimit)" = 00:30:00 ] || fail "job $id: sbatch --time=00:30:00 gave TimeLimit=$(job_field "$info" TimeLimit)"
[ "$(job_field "$info" JobName)" = medssl-test-a ] || fail "job $id: SBATCH_JOB_NAME did not override #SBATCH --job-name ($(job_field "$info" JobName))"
wait_job "$id" 240
[ "$state $code" = "COMPLETED 0:0" ] || fail "job $id: $state, exit $code"
grep -q "pretrain.sbatch: sourcing site hook $out/site.sh" "$out/a.out" || fail "job $id did not say it sourced the site hook"
[ "$(hook_runs "$id")" = 1 ] || fail "job $id: the site hook ran $(hook_runs "$id") times, not once"
grep -q "2 rank(s)" "$out/a.out" || fail "job $id did not run 2 ranks"
grep -q "no checkpoint in .*; starting fresh" "$out/a.out" || fail "job $id: no fresh start"
done_a=$(sed -n 's/.*done: \([0-9]*\) steps.*/\1/p' "$out/a.out")
[ -n "$done_a" ] || fail "job $id: no 'done' line"
for f in last.h5 best.h5 metrics.jsonl; do [ -s "$out/a/$f" ] || fail "job $id left no $f"; done
h5dump -a format "$out/a/last.h5" | grep -q '"medssl-checkpoint"' || fail "last.h5 is not a medssl checkpoint"
[ "$(ckpt_step "$out/a/last.h5")" = "$done_a" ] || fail "last.h5 is at step $(ckpt_step "$out/a/last.h5"), not $done_a"
h5dump -g /params "$out/a/last.h5" | grep -qi nan && fail "last.h5 holds NaN weights"
/usr/bin/python3 - "$out/a/metrics.jsonl" "$done_a" <<'PY' || fail "job $id: metrics.jsonl"
import json, sys
lines = [l for l in map(json.loads, open(sys.argv[1])) if "event" not in l]  # start lines: the environment
for l in lines:
    for k in ("epoch", "step", "loss", "lr", "images_per_s"):
        assert k in l, (k, l)
assert max(l["step"] for l in lines) == int(sys.argv[2]), lines[-1]
assert sorted({l["epoch"] for l in lines if "val_accuracy" in l}) == [0, 1], lines
PY
echo "job $id: COMPLETED, $done_a steps on 2 ranks in $((SECONDS - t1)) s; site hook sourced, --time and SBATCH_JOB_NAME honoured"
id=$(HOOK=$out/no-such-hook.sh submit nohook 1) || fail "sbatch pretrain.sbatch"
wait_job "$id" 60
[ "$state $code" = "FAILED 2:0" ] || fail "job $id with a missing MEDSSL_SITE_HOOK: $state, exit $code"
grep -q "MEDSSL_SITE_HOOK=$out/no-such-hook.sh does not exist" "$out/nohook.out" || fail "job $id: no message for the missing hook"
[ ! -e "$out/nohook" ] || fail "job $id ran medssl without its site hook"

# --- 2. USR1 to the batch shell: checkpoint, requeue, resume -------------------------------
t2=$SECONDS
EPOCHS_B=8
id=$(submit b $EPOCHS_B) || fail "sbatch pretrain.sbatch"
for _ in $(seq 480); do
  compgen -G "$out/b/step-*.h5" >/dev/null && break
  state=$(job_field "$(scontrol -o show job "$id")" JobState)
  case "$state" in PENDING|CONFIGURING|RUNNING) ;; *) fail "job $id ended ($state) before its first checkpoint";; esac
  sleep 0.25
done
compgen -G "$out/b/step-*.h5" >/dev/null || fail "job $id wrote no checkpoint in 120 s"
scancel --batch --signal=USR1 "$id" || fail "scancel --batch --signal=USR1 $id"
wait_job "$id" 300
[ "$state $code" = "COMPLETED 0:0" ] || fail "job $id: $state, exit $code"
[ "$restarts" = 1 ] || fail "job $id restarted $restarts times, not once"
[ "$(hook_runs "$id")" = 2 ] || fail "job $id: the site hook ran $(hook_runs "$id") times in 2 runs"
grep -q "got SIGUSR1" "$out/b.out" || fail "the batch shell did not see USR1"
grep -q "requeued job $id" "$out/b.out" || fail "job $id did not requeue itself"
stop=$(sed -n 's/.*stopped by a signal after step \([0-9]*\).*/\1/p' "$out/b.out")
[ -n "$stop" ] || fail "medssl did not stop on the signal (it may have finished first)"
grep -q "job $id run 2 " "$out/b.out" || fail "no second run in the job output"
grep -q "resuming from .*step-0*$stop\.h5" "$out/b.out" || fail "second run did not resume from step $stop"
grep -q "resuming at step $stop " "$out/b.out" || fail "second run did not resume at step $stop"
done_b=$(sed -n 's/.*done: \([0-9]*\) steps.*/\1/p' "$out/b.out")
[ -n "$done_b" ] || fail "second run printed no 'done' line"
[ "$done_b" -gt "$stop" ] || fail "second run ended at step $done_b, not after $stop"
[ "$(ckpt_step "$out/b/last.h5")" = "$done_b" ] || fail "last.h5 is at step $(ckpt_step "$out/b/last.h5"), not $done_b"
/usr/bin/python3 - "$out/b/metrics.jsonl" "$stop" "$done_b" "$EPOCHS_B" <<'PY' || fail "job $id: metrics.jsonl"
import json, sys
lines = [l for l in map(json.loads, open(sys.argv[1])) if "event" not in l]  # start lines: the environment
stop, done, epochs = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
steps = [l["step"] for l in lines]
assert min(steps) <= stop < max(steps) == done, (stop, done, steps)
# One validation line per epoch, none repeated by the resume. (An epoch whose
# last step took the signal may have been checkpointed before its validation.)
val = [l["epoch"] for l in lines if "val_accuracy" in l]
assert len(val) == len(set(val)) and val == sorted(val), val
assert val[-1] == epochs - 1 and len(val) >= epochs - 1, val
PY
echo "job $id: USR1 at step $stop, requeued, resumed at step $stop, COMPLETED at step $done_b in $((SECONDS - t2)) s"

# --- 3. pipeline.sh: pretrain, then finetune from its last.h5 (afterok) --------------------
t3=$SECONDS
  /usr/bin/python3 - "$FM" "$out" <<'PY'
import gzip, struct, sys
d, o, n = sys.argv[1], sys.argv[2], 512
lab = gzip.open(d + "/t10k-labels-idx1-ubyte.gz").read()
open(o + "/fm.lab", "wb").write(struct.pack(">II", 0x801, n) + lab[8:8 + n])
PY
  "$MEDSSL" import idx --images "$out/fm.idx" --labels "$out/fm.lab" --out "$out/fml.h5" 2>/dev/null
  ids=$(cd "$out" && CORPUS=fm.h5 TRAIN=fml.h5 PRETRAIN_OUT=p FINETUNE_OUT=f ENCODER=$ENCODER \
        PRETRAIN_EPOCHS=1 PRETRAIN_BATCH=16 FINETUNE_EPOCHS=1 FINETUNE_BATCH=16 STRATEGY=finetune \
        MEDSSL=$MEDSSL LAUNCHER=$LAUNCHER PRETRAIN_SBATCH_ARGS="-o $out/p.out" FINETUNE_SBATCH_ARGS="-o $out/f.out" \
        bash "$ROOT/jobs/pipeline.sh" | tail -1) || fail "pipeline.sh"
  read -r pid fid <<< "$ids"
  [ -n "$fid" ] || fail "pipeline.sh printed no job ids ($ids)"
  dep=$(job_field "$(scontrol -o show job "$fid")" Dependency)
  case "$dep" in
    "afterok:$pid("*) ;;
    "(null)") [ "$(job_field "$(scontrol -o show job "$pid")" JobState)" = COMPLETED ] \
                || fail "job $fid has no dependency on job $pid" ;;  # (already fulfilled)
    *) fail "job $fid depends on '$dep', not afterok:$pid" ;;
  esac
  wait_job "$pid" 240
  [ "$state $code" = "COMPLETED 0:0" ] || fail "pipeline pretrain job $pid: $state, exit $code"
  wait_job "$fid" 240
  [ "$state $code" = "COMPLETED 0:0" ] || fail "pipeline finetune job $fid: $state, exit $code"
  grep -q -- "--init $out/p/last.h5" "$out/f.out" || fail "finetune did not start from $out/p/last.h5"
  p_end=$(date -d "$(job_field "$(scontrol -o show job "$pid")" EndTime)" +%s)
  f_start=$(date -d "$(job_field "$(scontrol -o show job "$fid")" StartTime)" +%s)
  [ "$f_start" -ge "$p_end" ] || fail "finetune job started before pretraining ended"
  for f in last.h5 metrics.jsonl; do [ -s "$out/f/$f" ] || fail "finetune job left no $f"; done
  # A failed pretraining run cancels the fine-tuning job (--kill-on-invalid-dep=yes).
  ids=$(cd "$out" && CORPUS=missing.h5 TRAIN=fml.h5 PRETRAIN_OUT=p2 FINETUNE_OUT=f2 MEDSSL=$MEDSSL LAUNCHER=$LAUNCHER \
        PRETRAIN_SBATCH_ARGS="-o $out/p2.out" FINETUNE_SBATCH_ARGS="-o $out/f2.out" \
        bash "$ROOT/jobs/pipeline.sh" | tail -1) || fail "pipeline.sh"
  read -r pid2 fid2 <<< "$ids"
  wait_job "$pid2" 240
  [ "$state $code" = "FAILED 2:0" ] || fail "pretraining on a missing corpus: $state, exit $code"
  wait_job "$fid2" 60
  [ "$state" = CANCELLED ] || fail "finetune job $fid2 after a failed pretraining: $state"
  [ ! -e "$out/f2.out" ] || fail "finetune job $fid2 ran after a failed pretraining"
  echo "pipeline: pretrain job $pid, then finetune job $fid from its last.h5; job $fid2 cancelled after job $pid2 failed; $((SECONDS - t3)) s"

# --- 4. ensemble.sbatch: one bagging member per array task, then combined ------------------
t4=$SECONDS
aid=$(cd "$out" && ENCODER=$ENCODER EXTRA="--encoder $ENCODER --log-every 1000" sbatch --parsable --array=0-1 \
      -o "$out/ens-%a.out" --export="ALL,MEMBERS=2,TRAIN=fml.h5,OUT=ens,STRATEGY=scratch,EPOCHS=2,BATCH=16,MEDSSL=$MEDSSL,LAUNCHER=$LAUNCHER" \
      "$ROOT/jobs/ensemble.sbatch") || fail "sbatch ensemble.sbatch"
for a in 0 1; do
  wait_job "${aid}_$a" 240
  [ "$state $code" = "COMPLETED 0:0" ] || fail "ensemble array task ${aid}_$a: $state, exit $code ($(tail -3 "$out/ens-$a.out"))"
done
[ "$(grep -vc '^#' "$out/ens/members.txt")" -eq 2 ] || fail "members.txt after the array: $(cat "$out/ens/members.txt")"
"$MEDSSL" ensemble evaluate --ensemble "$out/ens" --data "$out/fml.h5" --combiner average,vote --json > "$out/ens.json" ||
  fail "ensemble evaluate after the array"
grep -q '"average"' "$out/ens.json" || fail "no average combiner in the ensemble report"
echo "ensemble.sbatch: array ${aid} of 2 members, combined; $((SECONDS - t4)) s"

# --- 5. predict.sbatch: the ensemble's first member on the corpus, 2 tasks --------------------
t5=$SECONDS
member=$(ls "$out"/ens/member-0/best.h5 "$out"/ens/member-0/last.h5 2> /dev/null | head -1)
[ -n "$member" ] || fail "no checkpoint in $out/ens/member-0"
pid5=$(cd "$out" && sbatch --parsable -o "$out/pred.out" \
       --export="ALL,MODEL=$member,DATA=fml.h5,OUT=pred,MEDSSL=$MEDSSL,LAUNCHER=$LAUNCHER" "$ROOT/jobs/predict.sbatch") ||
  fail "sbatch predict.sbatch"
wait_job "$pid5" 240
[ "$state $code" = "COMPLETED 0:0" ] || fail "predict job $pid5: $state, exit $code ($(tail -3 "$out/pred.out"))"
grep -q "2 rank(s)" "$out/pred.out" || fail "predict job $pid5 did not run on 2 ranks: $(tail -3 "$out/pred.out")"
[ "$(wc -l < "$out/pred/predictions.csv")" -eq "$(( $("$MEDSSL" inspect "$out/fml.h5" --json | sed -n 's/.*"images": *\([0-9]*\).*/\1/p' | head -1) + 1 ))" ] ||
  fail "predict job $pid5: $(wc -l < "$out/pred/predictions.csv") lines in predictions.csv"
echo "predict.sbatch: job $pid5 on 2 tasks wrote pred/predictions.csv; $((SECONDS - t5)) s"

echo "cli_slurm: $((SECONDS - t0)) s"
echo "1 passed, 0 failed"
