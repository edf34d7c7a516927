#!/bin/sh
# scaling.sh — issue 12's scaling target: 2 ranks x 1 thread at least 1.9x one rank x
# 1 thread on the reference encoder, at the same per-rank batch (32), interleaved
# round by round (the order reversed every other round). Prints images/s per round,
# the ratio per round and the median ratio.
#
#   bench/scaling.sh [BUILD_DIR] [ROUNDS] [STEPS]     # default build 5 10; OUT=dir
set -eu
BUILD=${1:-build}
ROUNDS=${2:-5}
STEPS=${3:-10}
OUT=${OUT:-bench/runs/scaling-$(date -u +%Y%m%dT%H%M%SZ)}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
mkdir -p "$OUT"
echo "start $(date -u +%FT%TZ); commit $(git describe --always --dirty 2>/dev/null || echo ?); OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; MEDSSL_CONV=${MEDSSL_CONV:-unset}; loadavg $(cut -d' ' -f1-3 /proc/loadavg)" > "$OUT/environment.txt"
one() { "$BUILD/medssl" bench --threads 1 --batch 32 --steps "$STEPS" --json > "$OUT/1x1-r$1.json" 2> /dev/null; }
two() { mpirun -np 2 --bind-to none ${MEDSSL_CONV:+-x MEDSSL_CONV} "$BUILD/medssl" bench --threads 1 --batch 64 \
          --steps "$STEPS" --json > "$OUT/2x1-r$1.json" 2> /dev/null; }
r=1
while [ "$r" -le "$ROUNDS" ]; do
  if [ $((r % 2)) -eq 1 ]; then one "$r"; two "$r"; else two "$r"; one "$r"; fi
  r=$((r + 1))
done
echo "end $(date -u +%FT%TZ); loadavg $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/environment.txt"
/usr/bin/python3 - "$OUT" "$ROUNDS" <<'PY' | tee "$OUT/summary.md"
import json, os, statistics, sys
d, rounds = sys.argv[1], int(sys.argv[2])
print(open(os.path.join(d, "environment.txt")).read().strip().replace("\n", "; "))
ratios = []
for r in range(1, rounds + 1):
    a = json.load(open(os.path.join(d, f"1x1-r{r}.json")))["images_per_s"]
    b = json.load(open(os.path.join(d, f"2x1-r{r}.json")))["images_per_s"]
    ratios.append(b / a)
    print(f"round {r}: 1x1 (batch 32) {a:.1f} images/s, 2x1 (batch 64, 32 per rank) {b:.1f}: {b / a:.2f}x")
print(f"median {statistics.median(ratios):.2f}x (min {min(ratios):.2f}x, max {max(ratios):.2f}x); target >= 1.9x")
PY
