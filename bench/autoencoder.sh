#!/bin/sh
# autoencoder.sh — the issue-12 wall-clock target: autoencoder pretraining on a
# held-out-sized corpus (907 slices of 96x96, 20 epochs, 2 ranks x 1 thread) in
# under 15 minutes. The MRI corpus itself is not on this machine; a phantom corpus
# of the same shape stands in (tests/util/phantom.c, --kind seg: the arithmetic
# depends only on the shape). `pretrain --task autoencoder` with its defaults
# (encoder 32-64-128-256 + U-Net decoder, MSE). Prints the wall time, the images/s
# of the last epoch and the recorded environment; MEDSSL_CONV is passed through.
#
#   bench/autoencoder.sh [BUILD_DIR] [EPOCHS]       # default build 20; OUT=dir
set -eu
BUILD=${1:-build}
EPOCHS=${2:-20}
OUT=${OUT:-bench/runs/autoencoder-$(date -u +%Y%m%dT%H%M%SZ)}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
mkdir -p "$OUT"
[ -f "$OUT/phantom907.h5" ] || "$BUILD/medssl_phantom" --kind seg --n 907 --size 96 --seed 0 --out "$OUT/phantom907.h5"
start=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load0=$(cut -d' ' -f1-3 /proc/loadavg)
t0=$(date +%s)
mpirun -np 2 --bind-to none ${MEDSSL_CONV:+-x MEDSSL_CONV} "$BUILD/medssl" pretrain --task autoencoder \
  --corpus "$OUT/phantom907.h5" --out "$OUT/run" --epochs "$EPOCHS" --threads 1 > "$OUT/run.log" 2>&1
t1=$(date +%s)
/usr/bin/python3 - "$OUT/run/metrics.jsonl" "$((t1 - t0))" "$start" "$load0" "$(cut -d' ' -f1-3 /proc/loadavg)" \
  "$EPOCHS" <<'PY' | tee "$OUT/summary.md"
import json, sys
path, wall, start, load0, load1, epochs = sys.argv[1:]
lines = [json.loads(l) for l in open(path)]
env = next((x.get("environment", {}) for x in lines if x.get("event") == "start"), {})
eps = [x for x in lines if "val_loss" in x]
ips = [x["images_per_s"] for x in eps if "images_per_s" in x]
wall = int(wall)
print(f"Started {start} (UTC); commit {env.get('medssl_commit', '?')}; {env.get('ranks', '?')} ranks x "
      f"{env.get('threads', '?')} thread; GEMM {env.get('gemm', '?')}; 3x3 convolutions {env.get('conv', 'gemm (not recorded)')}; "
      f"OPENBLAS_CORETYPE={env.get('openblas_coretype_env', '?')}; load average {load0} at the start, {load1} at the end.")
print(f"907 x 1x96x96, {epochs} epochs of `pretrain --task autoencoder`: **{wall} s ({wall // 60} min {wall % 60} s)** wall "
      f"time (start-up, validation and checkpoints included); {len(eps)} epochs logged; images/s per epoch "
      f"median {sorted(ips)[len(ips) // 2]:.1f} (min {min(ips):.1f}, max {max(ips):.1f}); last validation MSE "
      f"{eps[-1]['val_loss']:.5f}.")
PY
