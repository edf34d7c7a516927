#!/usr/bin/env bash
# medssl against PyTorch on the three `medssl bench` workloads (encoder, unet,
# demo; see src/cli/bench.c and bench/torch_twins.py), every configuration of
# both sides, interleaved round by round so that machine noise hits all of
# them alike (odd rounds run the configurations in one order, even rounds in
# the reverse). Per workload and round:
#   medssl   1 rank x 2 threads; 2 ranks x 1 thread (mpirun -np 2 --bind-to none)
#   PyTorch  at medssl's global batch: 1 process x 2 threads; DDP (gloo) 2
#            processes x 1 thread; and 1 process x 2 threads with
#            channels_last, with torch.jit, and with OMP_WAIT_POLICY=PASSIVE
#            (the policy medssl sets for itself; PyTorch's OpenMP spins by
#            default, which a shared machine punishes);
#            at other per-step batches, 1 process x 2 threads:
#            encoder 16 32 (64 is the global batch), unet 8 (16 is), demo 32 64 (128 is);
#            medssl too, 1x2 and 2x1, at those global batches
# Every run's JSON (and its stderr, when not empty) goes to OUT (default
# bench/runs/compare-<UTC time>/), with command.txt, environment.txt and
# failures.txt; at the end bench/compare_summary.py OUT prints the tables
# (median per configuration, each side's best, both ratios, peak RSS) into
# OUT/summary.md and stdout. A failed run is reported and left out; the
# others go on.
#
#   bench/compare.sh [BUILD_DIR] [ROUNDS] [STEPS]     (WORKLOADS=encoder,unet,demo WARMUP=3 OUT=dir)
#
# ROUNDS defaults to 3, STEPS (timed steps per run) to 10. Time: 8-9 runs x
# (WARMUP + STEPS) steps per workload and round, roughly 6-7 minutes a round
# for all three workloads on 2 quiet cores; WORKLOADS=encoder,unet picks some.
# OPENBLAS_CORETYPE and MEDSSL_GEMM are recorded as found, never set.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
ROUNDS=${2:-3}
STEPS=${3:-10}
WORKLOADS=${WORKLOADS:-encoder,unet,demo}
WARMUP=${WARMUP:-3}
OUT=${OUT:-bench/runs/compare-$(date -u +%Y%m%dT%H%M%SZ)}
PY=/usr/bin/python3
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl_base_warn_component_unused=0

usage() {
  echo "usage: bench/compare.sh [BUILD_DIR] [ROUNDS] [STEPS]   (WORKLOADS=encoder,unet,demo WARMUP=3 OUT=dir)" >&2
  exit 2
}
[ $# -le 3 ] || usage
case "$ROUNDS:$STEPS:$WARMUP" in *[!0-9:]*|:*|*::*|*:) usage;; esac
[ "$ROUNDS" -ge 1 ] && [ "$STEPS" -ge 1 ] || usage
[ -x "$BUILD/medssl" ] || { echo "bench/compare.sh: $BUILD/medssl not found (build it first)" >&2; exit 2; }
for w in ${WORKLOADS//,/ }; do
  case $w in encoder|unet|demo) ;; *) echo "bench/compare.sh: WORKLOADS: unknown workload '$w'" >&2; exit 2;; esac
done
$PY -c 'import torch' 2>/dev/null || { echo "bench/compare.sh: $PY cannot import torch" >&2; exit 2; }

mkdir -p "$OUT"
: > "$OUT/failures.txt"
echo "bench/compare.sh $BUILD $ROUNDS $STEPS (WORKLOADS=$WORKLOADS WARMUP=$WARMUP)" > "$OUT/command.txt"
{ echo "start: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "cpu: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p')"
  echo "cores: $(nproc)"
  echo "OPENBLAS_CORETYPE: ${OPENBLAS_CORETYPE:-unset}"
  echo "MEDSSL_GEMM: ${MEDSSL_GEMM:-unset}"
  echo "MEDSSL_CONV: ${MEDSSL_CONV:-unset}"
  echo "torch: $($PY -c 'import torch; print(torch.__version__)')"
  echo "python: $($PY -c 'import sys; print(sys.version.split()[0])')"
  echo "commit: $(git describe --always --dirty 2>/dev/null || echo unknown)"
  echo "loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"; } > "$OUT/environment.txt"

# other per-step batches PyTorch may run faster at (1 process x 2 threads);
# the workload's global batch itself is the torch-1x2 run
other_batches() { case $1 in encoder) echo "16 32";; unet) echo "8";; demo) echo "32 64";; esac; }

# the configurations of one workload: "name|command..." lines
configs() {
  local w=$1 b
  local common="--workload $w --steps $STEPS --warmup $WARMUP"
  echo "medssl-1x2|$BUILD/medssl bench --json --threads 2 $common"
  echo "medssl-2x1|mpirun -np 2 --bind-to none $BUILD/medssl bench --json --threads 1 $common"
  echo "torch-1x2|$PY bench/torch_twins.py --threads 2 $common"
  echo "torch-ddp2x1|$PY bench/torch_twins.py --ddp 2 $common"
  echo "torch-1x2-channels_last|$PY bench/torch_twins.py --threads 2 --channels-last $common"
  echo "torch-1x2-jit|$PY bench/torch_twins.py --threads 2 --jit $common"
  echo "torch-1x2-passive|env OMP_WAIT_POLICY=PASSIVE $PY bench/torch_twins.py --threads 2 $common"
  for b in $(other_batches "$w"); do
    echo "torch-1x2-b$b|$PY bench/torch_twins.py --threads 2 --batch $b $common"
    # medssl at the same other global batches (fair both ways: each side's best batch)
    echo "medssl-1x2-b$b|$BUILD/medssl bench --json --threads 2 --batch $b $common"
    echo "medssl-2x1-b$b|mpirun -np 2 --bind-to none $BUILD/medssl bench --json --threads 1 --batch $b $common"
  done
}

for r in $(seq "$ROUNDS"); do
  for w in ${WORKLOADS//,/ }; do
    mapfile -t list < <(configs "$w")
    if [ $((r % 2)) = 0 ]; then mapfile -t list < <(printf '%s\n' "${list[@]}" | tac); fi
    for entry in "${list[@]}"; do
      name=${entry%%|*}
      read -r -a cmd <<< "${entry#*|}"
      f="$OUT/$w.$name.$r"
      if "${cmd[@]}" > "$f.json" 2> "$f.err"; then
        [ -s "$f.err" ] || rm -f "$f.err"
      else
        echo "compare.sh: $w $name round $r failed (exit $?; see $f.err)" | tee -a "$OUT/failures.txt" >&2
        rm -f "$f.json"
      fi
    done
    echo "compare.sh: round $r/$ROUNDS $w done ($(date -u +%H:%M:%S), load $(cut -d' ' -f1 /proc/loadavg))" >&2
  done
done
{ echo "end: $(date -u +%Y-%m-%dT%H:%M:%SZ)"; echo "loadavg at end: $(cut -d' ' -f1-3 /proc/loadavg)"; } \
  >> "$OUT/environment.txt"
$PY bench/compare_summary.py "$OUT" | tee "$OUT/summary.md"
