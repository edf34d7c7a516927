# shellcheck shell=bash
# setup — sourced (not run) by jobs/pretrain.sbatch, finetune.sbatch and
# ensemble.sbatch, after they set JOB (their name, for messages):
#   1. the site hook: ${MEDSSL_SITE_HOOK:-$HOME/.medssl/site.sh} is sourced
#      into the batch shell if it exists (jobs/site.sh.example): `module load`
#      lines, and site defaults for the settings below (LAUNCHER, SRUN_MPI,
#      MEDSSL). MEDSSL_SITE_HOOK set to a file that does not exist, or a hook
#      that ends with a failure (a failed `module load`), stops the job with
#      exit 2 instead of running with the wrong libraries.
#   2. job_environment, called once the script's settings are final: one
#      BLAS/OpenMP thread per rank (medssl's --threads does the threading),
#      srun's --cpus-per-task from the job's, Open MPI as root, NTASKS, the
#      launcher command in the array `launch`, and the job's first line.
# Sourced at the script's top level, so the hook's variables and `module`
# changes are the batch shell's own.

site_hook=""
if [ -n "${MEDSSL_SITE_HOOK:-}" ]; then
  if [ ! -f "$MEDSSL_SITE_HOOK" ]; then
    echo "$JOB: MEDSSL_SITE_HOOK=$MEDSSL_SITE_HOOK does not exist (unset it to use \$HOME/.medssl/site.sh if present)" >&2
    exit 2
  fi
  site_hook=$MEDSSL_SITE_HOOK
elif [ -n "${HOME:-}" ] && [ -f "$HOME/.medssl/site.sh" ]; then
  site_hook=$HOME/.medssl/site.sh
fi
if [ -n "$site_hook" ]; then
  echo "$JOB: sourcing site hook $site_hook"
  # shellcheck disable=SC1090
  . "$site_hook" || { echo "$JOB: site hook $site_hook failed (exit $?); the job stops" >&2; exit 2; }
fi

# Needs LAUNCHER and SRUN_MPI; sets NTASKS and launch.
job_environment() {
  # One BLAS/OpenMP thread per rank: the ranks already fill the cores, and
  # medssl --threads slices its GEMMs itself.
  export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
  # Since Slurm 22.05 srun no longer inherits sbatch's --cpus-per-task.
  if [ -n "${SLURM_CPUS_PER_TASK:-}" ]; then export SRUN_CPUS_PER_TASK=$SLURM_CPUS_PER_TASK; fi
  if [ "$(id -u)" -eq 0 ]; then  # Open MPI refuses root without these
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  fi
  NTASKS=${SLURM_NTASKS:-${SLURM_NPROCS:-1}}
  # shellcheck disable=SC2034  # (launch is the scripts')
  case "$LAUNCHER" in
    srun)   launch=(srun --mpi="$SRUN_MPI" --kill-on-bad-exit=1) ;;
    mpirun) launch=(mpirun -np "$NTASKS" --bind-to none) ;;
    *) echo "$JOB: LAUNCHER must be srun or mpirun, not '$LAUNCHER'" >&2; exit 2 ;;
  esac
  echo "$JOB: job ${SLURM_JOB_ID:-?} run $(( ${SLURM_RESTART_COUNT:-0} + 1 )) on ${SLURM_JOB_NODELIST:-?}, $NTASKS rank(s), $(date '+%F %T')"
}
