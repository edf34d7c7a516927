#!/usr/bin/env bash
# Training throughput of two medssl builds side by side (a change's before
# and after): `medssl bench` (the reference encoder, 64x64, global batch 64)
# as 1 rank x 2 threads and 2 ranks x 1 thread, the builds interleaved ROUNDS
# times so machine noise hits both alike; prints every run, the medians and
# the environment.
#
#   bench/builds.sh BEFORE_BIN AFTER_BIN [ROUNDS] [STEPS]
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: bench/builds.sh BEFORE_BIN AFTER_BIN [ROUNDS] [STEPS]" >&2; exit 2; }
A=$1 B=$2 ROUNDS=${3:-3} STEPS=${4:-20}
for b in "$A" "$B"; do [ -x "$b" ] || { echo "bench/builds.sh: $b is not an executable" >&2; exit 2; }; done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "date $(date -u +%FT%TZ); $(nproc) cores; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; $STEPS steps, $ROUNDS rounds"
echo "before: $A ($("$A" --version)); after: $B ($("$B" --version))"
for r in $(seq "$ROUNDS"); do
  for side in before after; do
    bin=$A; [ $side = after ] && bin=$B
    "$bin" bench --json --steps "$STEPS" --threads 2 > "$out/$side.1x2.$r.json"
    mpirun -np 2 "$bin" bench --json --steps "$STEPS" --threads 1 > "$out/$side.2x1.$r.json"
  done
done
/usr/bin/python3 - "$out" "$ROUNDS" <<'PY'
import json, statistics, sys
d, n = sys.argv[1], int(sys.argv[2])
def runs(side, cfg):
    return [json.load(open(f"{d}/{side}.{cfg}.{r}.json"))["images_per_s"] for r in range(1, n + 1)]
print("| config | before img/s (runs) | after img/s (runs) | after / before |")
print("|---|---|---|---|")
for cfg in ("1x2", "2x1"):
    a, b = runs("before", cfg), runs("after", cfg)
    ma, mb = statistics.median(a), statistics.median(b)
    fmt = lambda v: ", ".join(f"{x:.1f}" for x in v)
    print(f"| {cfg} | {ma:.1f} ({fmt(a)}) | {mb:.1f} ({fmt(b)}) | {mb / ma:.3f} |")
PY
