# shellcheck shell=bash
# requeue — sourced (not run) by jobs/*.sbatch after they set JOB (their
# name): run one medssl command so that it survives the job's time limit.
#
# Sourcing installs the traps at once, so a signal that comes early (during
# the site hook's `module load`) is not lost. SIGUSR1 (from #SBATCH
# --signal=B:USR1@120, or `scancel --batch --signal=USR1`) and SIGTERM reach
# the batch shell; both are passed on to the ranks as SIGUSR1 (medssl treats
# USR1 and TERM alike; mpirun passes USR1 on as it is but answers TERM by
# killing the job, SIGKILL a few seconds later, which may cut a checkpoint
# short); medssl finishes its step, writes a checkpoint and exits 0. After a
# signal named in REQUEUE_ON (default USR1) the job requeues itself with
# `scontrol requeue`, and its next run resumes with --resume auto; after TERM
# (scancel, preemption) it only checkpoints and ends: a cancelled job should
# stay cancelled.
#
#   requeue_run WHAT OUT COMMAND...   run COMMAND (launcher and medssl), then
#                                     exit with its status; WHAT names it in
#                                     messages, OUT is the run folder resumed

requeue_signalled=""; requeue_interrupted=""; requeue_step=""
# shellcheck disable=SC2317  # (called from the traps)
requeue_forward() {  # $1 = the signal this shell got
  requeue_signalled=$1; requeue_interrupted=1
  echo "$JOB: got SIG$1, asking medssl to checkpoint and stop ($(date '+%T'))"
  if [ -n "$requeue_step" ]; then kill -USR1 "$requeue_step" 2>/dev/null || true; fi
}
trap 'requeue_forward USR1' USR1
trap 'requeue_forward TERM' TERM

requeue_run() {
  local what=$1 out=$2 rc=0 r
  shift 2
  if [ -z "$requeue_signalled" ]; then  # (a signal before this point: nothing to stop, requeue below)
    "$@" &
    requeue_step=$!
    # `wait` returns early (128+signal) when a trapped signal arrives: wait
    # again until the step itself has ended. 127: its status was already collected.
    wait "$requeue_step"; rc=$?
    while [ -n "$requeue_interrupted" ]; do
      requeue_interrupted=""
      wait "$requeue_step"; r=$?
      [ "$r" -eq 127 ] && break
      rc=$r
    done
  fi
  echo "$JOB: $what exited $rc ($(date '+%T'))"

  if [ -n "$requeue_signalled" ] && [ "$rc" -eq 0 ] && [[ " ${REQUEUE_ON:-USR1} " == *" $requeue_signalled "* ]]; then
    if [ -n "${SLURM_JOB_ID:-}" ] && scontrol requeue "$SLURM_JOB_ID"; then
      echo "$JOB: requeued job $SLURM_JOB_ID; the next run resumes from $out"
      exit 0
    fi
    echo "$JOB: could not requeue; resubmit to continue (--resume auto picks up $out)" >&2
  fi
  exit "$rc"
}
