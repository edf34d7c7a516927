#!/usr/bin/env bash
# Determinism of training (issue 9): the same seed, rank count, threads per
# rank and BLAS kernel give bit-identical weights
#   - on any machine load: 2 ranks x 1 thread, once on idle cores and once with
#     both cores kept busy by spinning processes (the prefetch thread, the
#     overlapped all-reduce and the shuffle buffer must not depend on timing);
#   - with either HDF5 driver (MPI-IO or sec2: where the bytes come from);
#   - for fine-tuning with 2 threads per rank, busy or idle;
# and every run folder records the facts that do change the numbers:
# metrics.jsonl's start line and the checkpoints' `environment` attribute
# (commit, ranks, threads, BLAS core, MPI thread level, HDF5 driver, CPU).
set -euo pipefail
MEDSSL=$1
PHANTOM=$(dirname "$MEDSSL")/medssl_phantom
fail() { echo "FAIL: $*"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
out=$(mktemp -d)
spinners=()
cleanup() { for p in "${spinners[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$out"; }
trap cleanup EXIT
cd "$out"
busy_on() { for _ in 1 2 3; do ( while :; do :; done ) & spinners+=($!); done; }
busy_off() { for p in "${spinners[@]}"; do kill "$p" 2>/dev/null || true; done; wait "${spinners[@]}" 2>/dev/null || true; spinners=(); }
params() { h5dump -g /params "$1" | tail -n +2; } # the tensors, without the file name line
same_params() { cmp -s <(params "$1") <(params "$2"); }

"$PHANTOM" --kind cls --n 400 --seed 1 --out c.h5
PRE=(pretrain --task rotation --corpus c.h5 --encoder "encoder:widths=8-16,convs=1" --epochs 2 --batch 32
     --threads 1 --log-every 1000 --augment "flip:h,shift:0.1" --buffer 64)

mpirun -np 2 "$MEDSSL" "${PRE[@]}" --out idle 2> idle.log || { cat idle.log; fail "idle run"; }
busy_on
mpirun -np 2 "$MEDSSL" "${PRE[@]}" --out busy 2> busy.log || { busy_off; cat busy.log; fail "busy run"; }
busy_off
same_params idle/last.h5 busy/last.h5 || fail "2 ranks: weights differ between an idle and a busy machine"
cmp -s <(grep -o '"val_accuracy": [0-9.e-]*' idle/metrics.jsonl) <(grep -o '"val_accuracy": [0-9.e-]*' busy/metrics.jsonl) ||
    fail "2 ranks: validation metrics differ between idle and busy"
MEDSSL_HDF5_DRIVER=sec2 mpirun -np 2 -x MEDSSL_HDF5_DRIVER "$MEDSSL" "${PRE[@]}" --out sec2 2> sec2.log ||
    { cat sec2.log; fail "sec2 run"; }
same_params idle/last.h5 sec2/last.h5 || fail "2 ranks: weights differ between the MPI-IO and sec2 drivers"

# fine-tuning, 1 rank x 2 threads (parallel_sgemm's slices), busy vs idle
FT=(finetune --task classify --train c.h5 --strategy scratch --encoder "encoder:widths=16-32,convs=1" --epochs 2
    --threads 2 --augment "flip:h" --log-every 1000)
"$MEDSSL" "${FT[@]}" --out ft-idle 2> /dev/null || fail "finetune idle"
busy_on
"$MEDSSL" "${FT[@]}" --out ft-busy 2> /dev/null || { busy_off; fail "finetune busy"; }
busy_off
same_params ft-idle/last.h5 ft-busy/last.h5 || fail "2 threads: weights differ between an idle and a busy machine"

# the environment, in metrics.jsonl's start line and in every checkpoint
/usr/bin/python3 - idle/metrics.jsonl sec2/metrics.jsonl ft-idle/metrics.jsonl <<'PY' || fail "metrics.jsonl start line"
import json, sys
for path, ranks, threads, driver in ((sys.argv[1], 2, 1, "mpio"), (sys.argv[2], 2, 1, "sec2"), (sys.argv[3], 1, 2, "sec2")):
    first = json.loads(open(path).readline())
    assert first["event"] == "start" and first["step"] == 0 and first["resumed_from"] is None, first
    env = first["environment"]
    for k in ("medssl_commit", "blas", "blas_core", "mpi", "mpi_thread_level", "hdf5", "cpu", "cpu_flags"):
        assert isinstance(env[k], str) and env[k], (k, env)
    assert (env["ranks"], env["threads"], env["hdf5_driver"]) == (ranks, threads, driver), (path, env)
    assert env["mpi_thread_level"] == "multiple", env
PY
h5dump -a environment idle/best.h5 | grep -q '"ranks": 2, "threads": 1' ||
    fail "best.h5 has no environment attribute with the ranks and threads: $(h5dump -a environment idle/best.h5 | head -12)"
# a resume appends a start line naming the checkpoint it continued from
mpirun -np 2 "$MEDSSL" "${PRE[@]}" --out idle --epochs 3 --resume auto 2> resume.log || { cat resume.log; fail "resume"; }
grep '"event": "start"' idle/metrics.jsonl | tail -1 | grep -q '"resumed_from": "idle/step-0*24.h5"' ||
    fail "resume: no start line naming the checkpoint: $(grep event idle/metrics.jsonl)"
echo "cli_determinism: ok (idle = busy, mpio = sec2, 2 threads idle = busy, environment recorded)"
