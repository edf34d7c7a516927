#!/bin/sh
# numerics.sh — does the convolution algorithm change what a network learns?
# Issue 12 asks that a 1-epoch rotation pretraining on Fashion-MNIST reach the same
# held-out accuracy (within 0.01) with the fast convolution as before it.
# MEDSSL_CONV=gemm is the im2col + GEMM path every 3x3 convolution took before the
# Winograd kernels (src/nn/winograd.c); MEDSSL_CONV=winograd is the default now.
# Runs the demo's pretraining (jobs/demo.sh: encoder 16-32-64, batch 128, lr 0.1,
# flip + shift augmentation, 2 ranks x 1 thread, 5% held out) for one epoch per
# seed and arm, then prints the held-out rotation accuracy and loss of each run,
# the mean per arm, and the differences per seed (summary.md in OUT). The arms:
#   gemm           MEDSSL_CONV=gemm: the convolutions as before the change
#   winograd       MEDSSL_CONV=winograd: the default now
#   gemm-openblas  MEDSSL_CONV=gemm MEDSSL_GEMM=openblas: before the change, with
#                  the other GEMM library: how far a run moves when only the
#                  rounding changes (the noise floor of this measure)
#
#   bench/numerics.sh [BUILD_DIR] [SEEDS]        # default: build "0 1 2"; OUT=dir
#   bench/numerics.sh --summary OUT              # the table again from the run folders
set -eu
summarise() {
  /usr/bin/python3 - "$1" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
rows = {}
for d in sorted(glob.glob(os.path.join(out, "s*-*"))):
    if not os.path.isdir(d):
        continue
    seed, conv = os.path.basename(d)[1:].split("-", 1)  # conv: the arm
    lines = [json.loads(l) for l in open(os.path.join(d, "metrics.jsonl"))]
    done = [x for x in lines if "val_accuracy" in x]
    if not done:
        print(f"({d}: no held-out accuracy yet)", file=sys.stderr)
        continue
    last = done[-1]
    env = next((x.get("environment", {}) for x in lines if x.get("event") == "start"), {})
    rows[(int(seed), conv)] = (last["val_accuracy"], last["val_loss"], last["loss"], env.get("conv", "not recorded: before MEDSSL_CONV"))
import statistics
print("| seed | arm (conv recorded by the run) | held-out rotation accuracy | held-out loss | training loss (the epoch) |")
print("|---|---|---|---|---|")
for (seed, conv), (acc, vl, tl, rec) in sorted(rows.items()):
    print(f"| {seed} | {conv} ({rec}) | {acc:.4f} | {vl:.4f} | {tl:.4f} |")
print()
arms = sorted({c for _, c in rows})
for arm in arms:
    a = [rows[k][0] for k in rows if k[1] == arm]
    t = [rows[k][2] for k in rows if k[1] == arm]
    sd = statistics.stdev(a) if len(a) > 1 else float("nan")
    print(f"- {arm}: held-out accuracy mean {statistics.mean(a):.4f} (sd {sd:.4f}, {len(a)} seeds); "
          f"training loss mean {statistics.mean(t):.4f}")
for arm in arms:
    if arm == "gemm":
        continue
    diffs = [rows[(s, arm)][0] - rows[(s, "gemm")][0] for s in sorted({s for s, _ in rows})
             if (s, arm) in rows and (s, "gemm") in rows]
    if diffs:
        print(f"- {arm} - gemm per seed: " + ", ".join(f"{d:+.4f}" for d in diffs)
              + f"; mean {statistics.mean(diffs):+.4f}")
PY
}
if [ "${1:-}" = "--summary" ]; then summarise "$2"; exit 0; fi
BUILD=${1:-build}
SEEDS=${2:-"0 1 2"}
OUT=${OUT:-bench/runs/numerics-$(date -u +%Y%m%dT%H%M%SZ)}
M="$BUILD/medssl"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
mkdir -p "$OUT"
[ -f "$OUT/fm_train.h5" ] || "$M" import fashion-mnist --split train --out "$OUT/fm_train.h5" > /dev/null
echo "start $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo ?), OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}" > "$OUT/environment.txt"
for seed in $SEEDS; do
  for arm in gemm winograd gemm-openblas; do
    run="$OUT/s$seed-$arm"
    [ -f "$run/metrics.jsonl" ] && grep -q val_accuracy "$run/metrics.jsonl" && continue
    rm -rf "$run"
    conv=${arm%%-*}; gemm=onednn; [ "$arm" = gemm-openblas ] && gemm=openblas
    echo "== seed $seed, MEDSSL_CONV=$conv MEDSSL_GEMM=$gemm"
    MEDSSL_CONV=$conv MEDSSL_GEMM=$gemm mpirun -np 2 --bind-to none -x MEDSSL_CONV -x MEDSSL_GEMM "$M" pretrain --task rotation \
      --corpus "$OUT/fm_train.h5" --out "$run" --encoder "encoder:widths=16-32-64,convs=2" --epochs 1 \
      --batch 128 --lr 0.1 --augment "flip:h,shift:0.05" --threads 1 --seed "$seed" --log-every 1000 \
      > "$run.log" 2>&1
  done
done
echo "end $(date -u +%FT%TZ)" >> "$OUT/environment.txt"
cat "$OUT/environment.txt"
summarise "$OUT" | tee "$OUT/summary.md"
