#!/usr/bin/env bash
# A one-node SLURM cluster on localhost, for testing the batch scripts in jobs/
# with the real slurmctld, slurmd, sbatch and srun (tests/cli_slurm.sh uses it).
#
#   jobs/slurm-local.sh start     install slurm-wlm + munge if missing, start munged
#                                 (unless one already answers), slurmctld and slurmd,
#                                 wait until the node is idle
#   jobs/slurm-local.sh stop      cancel this cluster's jobs, then end exactly the
#                                 processes `start` launched (their PIDs are in pid files)
#   jobs/slurm-local.sh status    daemons, sinfo, squeue
#   eval "$(jobs/slurm-local.sh env)"   SLURM_CONF for sbatch/squeue/scontrol in your shell
#
# Everything the cluster writes (slurm.conf, controller state, slurmd spool,
# logs, pid files) lives in $SLURM_LOCAL_DIR (default /tmp/medssl-slurm); the
# only things outside it are munge's: the key /etc/munge/munge.key (created if
# missing) and the socket directory /run/munge. Needs root (slurmd runs jobs as
# any user; here SlurmUser and SlurmdUser are root).
#
# MPI: Debian 12's slurm-wlm ships the PMIx plugin (mpi_pmix, PMIx 4) and
# Debian's Open MPI 4.1 is built against the same libpmix2, so `srun
# --mpi=pmix` starts Open MPI ranks directly and the cluster runs with
# MpiDefault=pmix. If `srun --mpi=list` lacks pmix, slurm.conf gets
# MpiDefault=none and $SLURM_LOCAL_DIR/launcher says "mpirun": run the batch
# scripts with LAUNCHER=mpirun (mpirun launches its daemons through srun).
#
# Variables: SLURM_LOCAL_DIR, SLURM_LOCAL_CPUS (default: nproc),
# SLURM_LOCAL_PORT (slurmctld port, default 6817; slurmd uses PORT+1),
# SLURM_LOCAL_CRED_EXPIRE (credential lifetime in s, default 10: a requeued
# job becomes eligible again after this long; Slurm's own default is 120),
# SLURM_LOCAL_MPI=none (MpiDefault=none and the mpirun launcher even where
# PMIx works, to try that path).
set -euo pipefail

DIR=${SLURM_LOCAL_DIR:-/tmp/medssl-slurm}
CONF=$DIR/slurm.conf
HOST=$(hostname -s)
CPUS=${SLURM_LOCAL_CPUS:-$(nproc)}
PORT=${SLURM_LOCAL_PORT:-6817}
CRED_EXPIRE=${SLURM_LOCAL_CRED_EXPIRE:-10}
WANT_MPI=${SLURM_LOCAL_MPI:-auto}
MUNGE_SOCKET=/run/munge/munge.socket.2
MUNGE_KEY=/etc/munge/munge.key

say() { echo "slurm-local: $*"; }
die() { echo "slurm-local: ERROR: $*" >&2; exit 1; }

# Whether PID $1 runs (a zombie waiting for init to reap it does not).
running() {
  local st
  kill -0 "$1" 2>/dev/null || return 1
  st=$(sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
  [ "$st" != Z ]
}

# A PID from one of our pid files ($1 = munged|slurmctld|slurmd), if that
# process still runs and still is that daemon (not a reused PID).
alive_pid() {
  local f=$DIR/pids/$1.pid pid
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  [ -n "$pid" ] && running "$pid" || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] || return 1
  echo "$pid"
}

ensure_packages() {
  local need="" p
  for p in slurmctld slurmd slurm-client munge; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need="$need $p"
  done
  [ -z "$need" ] && return 0
  [ "$(id -u)" -eq 0 ] || die "needs root to install:$need"
  say "installing slurm-wlm munge (missing:$need)"
  # Debian's maintainer scripts try to start the services; where a
  # policy-rc.d forbids that (containers) they simply are not started, and
  # where they are started they use /etc/slurm, not our slurm.conf.
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null \
    || die "apt-get install slurm-wlm munge failed"
}

munge_works() { munge -n -S "$MUNGE_SOCKET" 2>/dev/null | unmunge -S "$MUNGE_SOCKET" >/dev/null 2>&1; }

start_munge() {
  if munge_works; then
    say "munged already answers on $MUNGE_SOCKET; using it"
    return 0
  fi
  if [ ! -s "$MUNGE_KEY" ]; then
    say "creating $MUNGE_KEY"
    mkdir -p "$(dirname "$MUNGE_KEY")"
    if command -v mungekey >/dev/null; then
      mungekey --create --keyfile="$MUNGE_KEY" --force
    else
      dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none
    fi
  fi
  chown munge:munge "$MUNGE_KEY" "$(dirname "$MUNGE_KEY")"
  chmod 0400 "$MUNGE_KEY"; chmod 0700 "$(dirname "$MUNGE_KEY")"
  mkdir -p /run/munge /var/lib/munge /var/log/munge
  chown munge:munge /run/munge /var/lib/munge /var/log/munge
  chmod 0755 /run/munge
  rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"   # left over by a munged that was killed
  # setpriv execs munged in place, so $! is munged's own PID; -F keeps it in
  # the foreground (no fork) so that this PID stays the daemon's.
  setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F \
    </dev/null >"$DIR/log/munged.out" 2>&1 &
  echo $! > "$DIR/pids/munged.pid"
  local _
  for _ in $(seq 100); do munge_works && return 0; sleep 0.1; done
  tail -5 "$DIR/log/munged.out" /var/log/munge/munged.log >&2 2>/dev/null || true
  die "munged did not come up (logs: $DIR/log/munged.out, /var/log/munge/munged.log)"
}

write_conf() {  # $1 = MpiDefault
  cat > "$CONF" <<EOF
# Written by jobs/slurm-local.sh: a one-node test cluster on $HOST.
ClusterName=medssl-local
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire also sets how long a requeued job waits before it may start
# again (Slurm's default, 120 s, would dominate a test).
AuthInfo=socket=$MUNGE_SOCKET,cred_expire=$CRED_EXPIRE
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups: process tracking through /proc, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=$1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/builtin
# Look at pending jobs every 2 s (default 60 s): a requeued job starts soon
# after it becomes eligible, not at the next minute.
SchedulerParameters=sched_interval=2
ReturnToService=2
JobRequeue=1
MailProg=/bin/true
# Keep finished jobs in scontrol for 10 minutes (there is no accounting database).
MinJobAge=600
# Short timeouts: a test cluster should react in seconds.
KillWait=5
MessageTimeout=10
TCPTimeout=5
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
WaitTime=0
NodeName=$HOST NodeAddr=127.0.0.1 NodeHostname=$HOST CPUs=$CPUS State=UNKNOWN
PartitionName=debug Default=YES Nodes=ALL MaxTime=INFINITE State=UP
EOF
}

start() {
  if alive_pid slurmctld >/dev/null && alive_pid slurmd >/dev/null; then
    say "already running (dir $DIR)"
    export SLURM_CONF=$CONF
    wait_idle
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || die "start needs root"
  ensure_packages
  # A fresh cluster every start: no jobs recovered from an earlier one.
  stop_daemons quiet
  rm -rf "$DIR/state" "$DIR/spool" "$DIR/run" "$DIR/log"
  mkdir -p "$DIR/state" "$DIR/spool" "$DIR/run" "$DIR/log" "$DIR/pids"
  export SLURM_CONF=$CONF

  local mpi=pmix launcher=srun
  write_conf pmix
  if [ "$WANT_MPI" = none ]; then
    say "SLURM_LOCAL_MPI=none: MpiDefault=none; run the batch scripts with LAUNCHER=mpirun"
    mpi=none; launcher=mpirun
  elif ! srun --mpi=list 2>&1 | grep -qw pmix; then
    say "WARNING: this slurm has no PMIx plugin (srun --mpi=list: $(srun --mpi=list 2>&1 | tr '\n' ' '));"
    say "WARNING: using MpiDefault=none; run the batch scripts with LAUNCHER=mpirun"
    mpi=none; launcher=mpirun
  fi
  [ "$mpi" = pmix ] || write_conf none
  echo "$launcher" > "$DIR/launcher"

  start_munge

  slurmctld -D -c -f "$CONF" </dev/null >"$DIR/log/slurmctld.out" 2>&1 &
  echo $! > "$DIR/pids/slurmctld.pid"
  slurmd -D -f "$CONF" -N "$HOST" </dev/null >"$DIR/log/slurmd.out" 2>&1 &
  echo $! > "$DIR/pids/slurmd.pid"
  wait_idle
  say "up: node $HOST, $CPUS CPUs, MpiDefault=$mpi, launcher $launcher; export SLURM_CONF=$CONF"
}

wait_idle() {
  local _ state=""
  for _ in $(seq 120); do
    alive_pid slurmctld >/dev/null || { tail -20 "$DIR/log/slurmctld.log" "$DIR/log/slurmctld.out" >&2 2>/dev/null || true; die "slurmctld exited"; }
    alive_pid slurmd >/dev/null || { tail -20 "$DIR/log/slurmd.log" "$DIR/log/slurmd.out" >&2 2>/dev/null || true; die "slurmd exited"; }
    state=$(sinfo -h -N -n "$HOST" -o %T 2>/dev/null || true)
    case "$state" in idle|mixed|allocated) return 0 ;; esac
    sleep 0.5
  done
  tail -20 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 2>/dev/null || true
  die "node $HOST not idle after 60 s (state: '${state:-no answer}')"
}

# SIGTERM, then SIGKILL after 10 s, to each daemon whose PID we recorded.
stop_daemons() {
  local name pid _
  for name in slurmd slurmctld munged; do
    pid=$(alive_pid "$name") || { rm -f "$DIR/pids/$name.pid"; continue; }
    [ "${1:-}" = quiet ] || say "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do running "$pid" || break; sleep 0.1; done
    if running "$pid"; then
      say "$name (pid $pid) ignored SIGTERM; SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    # Reap it if it is our child (it is not when started by another invocation).
    wait "$pid" 2>/dev/null || true
    rm -f "$DIR/pids/$name.pid"
  done
  return 0
}

stop() {
  export SLURM_CONF=$CONF
  if alive_pid slurmctld >/dev/null; then
    # slurmstepd and the job's processes are not children of slurmd: let
    # slurm end the jobs it started before its daemons go away.
    local jobs _
    jobs=$(squeue -h -o %i 2>/dev/null || true)
    if [ -n "$jobs" ]; then
      say "cancelling jobs: ${jobs//$'\n'/ }"
      # shellcheck disable=SC2086
      scancel $jobs 2>/dev/null || true
      for _ in $(seq 60); do
        [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
        sleep 0.5
      done
    fi
  fi
  stop_daemons
  say "stopped"
}

status() {
  local name pid rc=0
  for name in munged slurmctld slurmd; do
    if pid=$(alive_pid "$name"); then echo "$name: running (pid $pid)"
    elif [ "$name" = munged ] && munge_works; then echo "munged: not ours, but answering on $MUNGE_SOCKET"
    else echo "$name: not running"; rc=1
    fi
  done
  if [ -f "$CONF" ]; then
    export SLURM_CONF=$CONF
    sinfo 2>&1 || true
    squeue 2>&1 || true
  fi
  return $rc
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  *) echo "usage: $0 start|stop|status|env   (state in \$SLURM_LOCAL_DIR, default /tmp/medssl-slurm)" >&2; exit 2 ;;
esac
