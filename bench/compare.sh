#!/usr/bin/env bash
# medssl against PyTorch on the three `medssl bench` workloads, every
# configuration of both sides, interleaved round by round so that machine
# noise hits all of them alike. Per workload and round:
#   medssl   1 rank x 2 threads; 2 ranks x 1 thread (mpirun --bind-to none)
#   PyTorch  1 process x 2 threads at the global batch; DDP (gloo) 2 processes
#            x 1 thread at the global batch; channels_last and torch.jit at the
#            global batch; 1 process x 2 threads with OMP_WAIT_POLICY=PASSIVE
#            (as medssl runs); 1 process x 2 threads at other per-step batches
# Every run's JSON goes to OUT (default bench/runs/compare-<UTC time>/);
# bench/compare_summary.py OUT prints the tables (medians, best of each side,
# the ratios, peak RSS).
#
#   bench/compare.sh [BUILD_DIR] [ROUNDS] [STEPS]     (WORKLOADS=encoder,unet,demo OUT=dir)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
ROUNDS=${2:-3}
STEPS=${3:-10}
WORKLOADS=${WORKLOADS:-encoder,unet,demo}
OUT=${OUT:-bench/runs/compare-$(date -u +%Y%m%dT%H%M%SZ)}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl_base_warn_component_unused=0
mkdir -p "$OUT"
PY=/usr/bin/python3
echo "bench/compare.sh $BUILD $ROUNDS $STEPS (WORKLOADS=$WORKLOADS)" > "$OUT/command.txt"
{ date -u +%Y-%m-%dT%H:%M:%SZ; lscpu | sed -n 's/^Model name:[[:space:]]*//p'; nproc
  echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"; $PY -c 'import torch; print(torch.__version__)'
  git describe --always --dirty 2>/dev/null || echo unknown; } > "$OUT/environment.txt"

# other per-step batches PyTorch may run faster at (1 process x 2 threads)
other_batches() { case $1 in encoder) echo "16 32";; unet) echo "8";; demo) echo "64 256";; esac; }
# timed steps: the U-Net's steps are 5x the encoder's work
steps_of() { case $1 in unet) echo $(( STEPS > 6 ? STEPS / 2 : STEPS ));; *) echo "$STEPS";; esac; }

for r in $(seq "$ROUNDS"); do
  for w in ${WORKLOADS//,/ }; do
    s=$(steps_of "$w")
    run() { # name command...
      local name=$1; shift
      if ! "$@" > "$OUT/$w.$name.$r.json" 2> "$OUT/$w.$name.$r.err"; then
        echo "compare.sh: $w $name round $r failed (see $OUT/$w.$name.$r.err)" >&2
        rm -f "$OUT/$w.$name.$r.json"
      fi
    }
    run medssl-1x2 "$BUILD/medssl" bench --workload "$w" --json --steps "$s" --threads 2
    run medssl-2x1 mpirun -np 2 --bind-to none "$BUILD/medssl" bench --workload "$w" --json --steps "$s" --threads 1
    run torch-1x2 $PY bench/torch_twins.py --workload "$w" --steps "$s" --threads 2
    run torch-ddp2x1 $PY bench/torch_twins.py --workload "$w" --steps "$s" --ddp 2
    run torch-1x2-channels_last $PY bench/torch_twins.py --workload "$w" --steps "$s" --threads 2 --channels-last
    run torch-1x2-jit $PY bench/torch_twins.py --workload "$w" --steps "$s" --threads 2 --jit
    # medssl sets OMP_WAIT_POLICY=PASSIVE itself (active waiting halved its throughput); PyTorch's
    # OpenMP spins by default, which a shared machine punishes: offer it the same policy
    run torch-1x2-passive env OMP_WAIT_POLICY=PASSIVE $PY bench/torch_twins.py --workload "$w" --steps "$s" --threads 2
    for b in $(other_batches "$w"); do
      run "torch-1x2-b$b" $PY bench/torch_twins.py --workload "$w" --steps "$s" --threads 2 --batch "$b"
    done
    echo "round $r $w done" >&2
  done
done
$PY bench/compare_summary.py "$OUT"
