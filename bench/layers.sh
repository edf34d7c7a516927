#!/bin/sh
# layers.sh — where the training step's time goes, per layer, with each convolution
# algorithm: MEDSSL_CONV=gemm (im2col + GEMM, every 3x3 convolution before the Winograd
# kernels) and MEDSSL_CONV=winograd (the default), interleaved round by round.
# One rank x one thread at each workload's per-rank batch of the 2-rank configuration
# (encoder 32, unet 8, demo 64), so the GFLOP/s compare with the one-core sgemm
# ceiling `medssl bench` measures in the same run. GFLOP/s count the direct
# convolution's FLOPs (forward, dW, and dX where the input needs it), whatever the
# algorithm did.
#
#   bench/layers.sh [BUILD_DIR] [ROUNDS] [STEPS]      # default build 3 10; WORKLOADS=encoder,unet,demo OUT=dir
#   /usr/bin/python3 bench/layers_summary.py OUT      # the tables again
set -eu
BUILD=${1:-build}
ROUNDS=${2:-3}
STEPS=${3:-10}
WORKLOADS=${WORKLOADS:-encoder,unet,demo}
OUT=${OUT:-bench/runs/layers-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
echo "bench/layers.sh $BUILD $ROUNDS $STEPS (WORKLOADS=$WORKLOADS)" > "$OUT/command.txt"
{ echo "start: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "cpu: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p')"
  echo "OPENBLAS_CORETYPE: ${OPENBLAS_CORETYPE:-unset}"
  echo "MEDSSL_GEMM: ${MEDSSL_GEMM:-unset}"
  echo "commit: $(git describe --always --dirty 2>/dev/null || echo unknown)"
  echo "loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"; } > "$OUT/environment.txt"
batch() { case $1 in encoder) echo 32;; unet) echo 8;; demo) echo 64;; esac; }
r=1
while [ "$r" -le "$ROUNDS" ]; do
  order="gemm winograd"; [ $((r % 2)) -eq 0 ] && order="winograd gemm"
  for w in $(echo "$WORKLOADS" | tr , ' '); do
    for conv in $order; do
      echo "round $r: $w MEDSSL_CONV=$conv"
      MEDSSL_CONV=$conv "$BUILD/medssl" bench --workload "$w" --threads 1 --batch "$(batch "$w")" \
        --steps "$STEPS" --json > "$OUT/$w-$conv-r$r.json" 2> "$OUT/$w-$conv-r$r.log"
    done
  done
  r=$((r + 1))
done
echo "end: $(date -u +%Y-%m-%dT%H:%M:%SZ)" >> "$OUT/environment.txt"
echo "loadavg at end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/environment.txt"
/usr/bin/python3 "$(dirname "$0")/layers_summary.py" "$OUT" | tee "$OUT/summary.md"
