#!/usr/bin/env bash
# Pretraining measurements on Fashion-MNIST (28x28) with the demo's encoder
# (encoder:widths=16-32-64,convs=2), batch 128, lr 0.1, --augment flip:h,shift:0.05,
# for the three pretext tasks (rotation, jigsaw with --permutations 100,
# autoencoder plain), in three parts; bench/pretext_summary.py prints the tables
# (bench/README.md, "Pretext tasks"):
#
#   speed    images/s on 1 rank x 2 threads, 1 rank x 1 thread, 2 ranks x 1 thread
#            (mpirun -np 2): --max-steps STEPS, --log-every LOG_EVERY, the first
#            interval (start-up, shuffle-buffer fill) left out; ROUNDS rounds,
#            every task and configuration once per round (interleaved)
#   wait     WAIT_EPOCHS whole epochs on a WAIT_N-image subset (2x1 and 1x2), for
#            the loader_wait_s and allreduce_wait_s of the epoch lines against
#            the epoch time; WAIT_ROUNDS rounds, interleaved
#   quality  one epoch (QUALITY_EPOCHS) on QUALITY_N images (60,000 = the whole
#            training split), 2 ranks x 1 thread: the held-out pretext metric
#            (--val-fraction 0.05) of each task in QUALITY_TASKS
#
#   bench/pretext.sh [BUILD_DIR]           (default build; ~40 min on 2 cores)
#   ROUNDS=1 STEPS=40 PARTS="speed" bench/pretext.sh build      (a few minutes)
#   PARTS="quality" QUALITY_TASKS="jigsaw" QUALITY_N=20000 bench/pretext.sh
#
# Environment: PARTS ("speed wait quality"), TASKS ("rotation jigsaw autoencoder"),
# ROUNDS (3), FIRST_ROUND (1: number the speed rounds from there, to add rounds to an
# OUT), STEPS (60), LOG_EVERY (20), WAIT_ROUNDS (3), WAIT_N (6000),
# WAIT_EPOCHS (2), WAIT_CONFIGS ("2x1 1x2"), QUALITY_TASKS (= TASKS), QUALITY_N
# (60000), QUALITY_EPOCHS (1), AUGMENT (flip:h,shift:0.05; "" for none),
# OUT (runs/pretext-bench: the run folders, runs.tsv, summary.md; an existing
# runs.tsv is appended to, so parts can be run one after the other),
# FM (/usr/share/datasets/fashion-mnist).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
M="$BUILD/medssl"
PARTS=${PARTS:-speed wait quality}
TASKS=${TASKS:-rotation jigsaw autoencoder}
ROUNDS=${ROUNDS:-3}
FIRST_ROUND=${FIRST_ROUND:-1}
STEPS=${STEPS:-60}
LOG_EVERY=${LOG_EVERY:-20}
WAIT_ROUNDS=${WAIT_ROUNDS:-3}
WAIT_N=${WAIT_N:-6000}
WAIT_EPOCHS=${WAIT_EPOCHS:-2}
WAIT_CONFIGS=${WAIT_CONFIGS:-2x1 1x2}
QUALITY_TASKS=${QUALITY_TASKS:-$TASKS}
QUALITY_N=${QUALITY_N:-60000}
QUALITY_EPOCHS=${QUALITY_EPOCHS:-1}
AUGMENT=${AUGMENT-flip:h,shift:0.05}
OUT=${OUT:-runs/pretext-bench}
FM=${FM:-/usr/share/datasets/fashion-mnist}
ENC="encoder:widths=16-32-64,convs=2"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
[ -x "$M" ] || { echo "no $M: cmake -S . -B $BUILD -DCMAKE_BUILD_TYPE=Release && cmake --build $BUILD --target medssl"; exit 1; }
[ -f "$FM/train-images-idx3-ubyte.gz" ] || { echo "dataset-fashion-mnist is not installed ($FM)"; exit 1; }
mkdir -p "$OUT"
[ -f "$OUT/runs.tsv" ] || printf 'part\tround\ttask\tconfig\tcorpus_n\tdir\tstart\twall_s\tload1\n' > "$OUT/runs.tsv"

# A corpus of the first n training images (all 60,000: the import itself; fewer:
# the IDX file cut with python3 as in tests/cli_pretrain.sh).
corpus() {
  local n=$1 f="$OUT/fm$1.h5"
  if [ ! -f "$f" ]; then
    if [ "$n" -ge 60000 ]; then
      "$M" import fashion-mnist --dir "$FM" --split train --out "$f" >/dev/null 2>&1
    else
      /usr/bin/python3 - "$FM/train-images-idx3-ubyte.gz" "$OUT/fm$n.idx" "$n" <<'PY'
import gzip, struct, sys
raw = gzip.open(sys.argv[1]).read()
n = int(sys.argv[3])
open(sys.argv[2], "wb").write(struct.pack(">IIII", 0x803, n, 28, 28) + raw[16:16 + n * 784])
PY
      "$M" import idx --images "$OUT/fm$n.idx" --out "$f" >/dev/null 2>&1
      rm -f "$OUT/fm$n.idx"
    fi
  fi
  echo "$f"
}

task_flags() {
  case $1 in
    rotation) echo "--task rotation" ;;
    jigsaw) echo "--task jigsaw --permutations 100" ;;
    autoencoder) echo "--task autoencoder --ae-variant plain" ;;
    *) echo "unknown task $1" >&2; exit 2 ;;
  esac
}

# run PART ROUND TASK CONFIG N DIR extra-args...: one pretraining run, logged in runs.tsv
run() {
  local part=$1 round=$2 task=$3 cfg=$4 n=$5 dir=$6; shift 6
  local c; c=$(corpus "$n")
  local launch=() threads
  case $cfg in
    1x2) threads=2 ;;
    1x1) threads=1 ;;
    2x1) threads=1; launch=(mpirun -np 2) ;;
    *) echo "unknown config $cfg" >&2; exit 2 ;;
  esac
  local aug=(); [ -n "$AUGMENT" ] && aug=(--augment "$AUGMENT")
  rm -rf "$dir"; mkdir -p "$dir"
  local load1 start t0 t1
  load1=$(cut -d' ' -f1 /proc/loadavg); start=$(date -u +%FT%TZ); t0=$(date +%s.%N)
  # shellcheck disable=SC2046
  "${launch[@]}" "$M" pretrain $(task_flags "$task") --corpus "$c" --out "$dir" --encoder "$ENC" --batch 128 \
    --lr 0.1 "${aug[@]}" --val-fraction 0.05 --threads "$threads" --keep 1 "$@" > "$dir/log.txt" 2>&1 ||
    { tail -5 "$dir/log.txt"; echo "FAILED: $part $task $cfg"; exit 1; }
  t1=$(date +%s.%N)
  local wall; wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f\t%s\n' "$part" "$round" "$task" "$cfg" "$n" "$dir" "$start" "$wall" "$load1" >> "$OUT/runs.tsv"
  printf '  %-8s round %s  %-12s %s  %6.1f s  (load %s)\n' "$part" "$round" "$task" "$cfg" "$wall" "$load1"
}

echo "== $M (built $(date -u -r "$M" +%FT%TZ)), tree $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' + uncommitted changes'), $(date -u +%FT%TZ), $(nproc) cores, OUT=$OUT"
CONFIGS=(1x2 1x1 2x1)
for part in $PARTS; do
  case $part in
    speed)
      echo "== speed: $ROUNDS round(s) of $STEPS steps per task and configuration"
      for r in $(seq "$FIRST_ROUND" $(( FIRST_ROUND + ROUNDS - 1 ))); do
        k=$(( (r - 1) % 3 ))   # rotate the configuration order from round to round
        order=("${CONFIGS[@]:k}" "${CONFIGS[@]:0:k}")
        for task in $TASKS; do
          for cfg in "${order[@]}"; do
            run speed "$r" "$task" "$cfg" 60000 "$OUT/speed/$task-$cfg-r$r" --epochs 10 --max-steps "$STEPS" --log-every "$LOG_EVERY"
          done
        done
      done ;;
    wait)
      echo "== wait: $WAIT_ROUNDS round(s) of $WAIT_EPOCHS epoch(s) on $WAIT_N images"
      for r in $(seq "$WAIT_ROUNDS"); do
        for task in $TASKS; do
          for cfg in $WAIT_CONFIGS; do
            run wait "$r" "$task" "$cfg" "$WAIT_N" "$OUT/wait/$task-$cfg-r$r" --epochs "$WAIT_EPOCHS" --log-every 1000000
          done
        done
      done ;;
    quality)
      echo "== quality: $QUALITY_EPOCHS epoch(s) on $QUALITY_N images, 2 ranks x 1 thread"
      for task in $QUALITY_TASKS; do
        run quality 1 "$task" 2x1 "$QUALITY_N" "$OUT/quality/$task-n$QUALITY_N" --epochs "$QUALITY_EPOCHS" --log-every 100
      done ;;
    *) echo "unknown part $part (speed, wait, quality)"; exit 2 ;;
  esac
done
/usr/bin/python3 bench/pretext_summary.py "$OUT" | tee "$OUT/summary.md"
