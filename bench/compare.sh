#!/usr/bin/env bash
# Side-by-side training throughput of the reference encoder: medssl (1 rank x 2
# OpenBLAS threads, and mpirun -np 2 x 1 thread) against PyTorch (Debian's
# python3-torch, 2 threads, its best configuration), interleaved ROUNDS times
# so that machine noise hits all of them alike; prints every run and the medians.
#
#   bench/compare.sh [BUILD_DIR] [ROUNDS] [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
ROUNDS=${2:-3}
STEPS=${3:-20}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
out=$(mktemp -d)
for r in $(seq "$ROUNDS"); do
  "$BUILD/medssl" bench --json --steps "$STEPS" --threads 2 > "$out/one.$r.json"
  mpirun -np 2 "$BUILD/medssl" bench --json --steps "$STEPS" --threads 1 > "$out/two.$r.json"
  /usr/bin/python3 bench/pytorch_ref.py --threads 2 --steps "$STEPS" > "$out/torch.$r.json"
  /usr/bin/python3 - "$out" "$r" <<'PY'
import json, sys
d, r = sys.argv[1], sys.argv[2]
one = json.load(open(f"{d}/one.{r}.json")); two = json.load(open(f"{d}/two.{r}.json"))
t = json.load(open(f"{d}/torch.{r}.json"))
print(f"round {r}: medssl 1x2 {one['images_per_s']:.1f} img/s (sgemm {one['sgemm_gflops']:.0f} GFLOP/s), "
      f"medssl 2x1 {two['images_per_s']:.1f} img/s (sgemm/rank {two['sgemm_gflops']:.0f}), "
      f"torch {t['images_per_s']:.1f} img/s")
PY
done
/usr/bin/python3 - "$out" "$ROUNDS" <<'PY'
import json, statistics, sys
d, n = sys.argv[1], int(sys.argv[2])
def med(kind):
    return statistics.median(json.load(open(f"{d}/{kind}.{r}.json"))["images_per_s"] for r in range(1, n + 1))
one, two, t = med("one"), med("two"), med("torch")
print(f"median images/s: medssl 1 rank x 2 threads {one:.1f} ({one / t:.2f}x torch), "
      f"medssl 2 ranks x 1 thread {two:.1f} ({two / t:.2f}x torch), PyTorch 2 threads {t:.1f}")
PY
rm -rf "$out"
