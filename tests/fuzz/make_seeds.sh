#!/usr/bin/env bash
# Seed corpora for the fuzz targets, made fresh (nothing binary is committed):
#   tests/fuzz/make_seeds.sh MEDSSL_BINARY OUT_DIR
# writes OUT_DIR/<target>/<name> for the targets corpus, ckpt, png, nifti, idx,
# model_spec, augment, jsonr and report: small valid files of each kind, made by medssl itself
# (import idx, pretrain checkpoints), medssl_phantom (beside the binary), h5py
# (corpora with every optional dataset, uint8/float32, chunked/gzip/contiguous)
# and python's zlib/struct (PNG of every colour type, NIfTI-1/2, IDX), and
# JSON texts like the ones medssl writes (metrics.json, metrics.jsonl lines).
# Then OUT_DIR/regressions/<target>/ gets the generated regression cases
# (tests/fuzz/regressions.py), replayed by run.sh before fuzzing.
set -euo pipefail
MEDSSL=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
PHANTOM=$(dirname "$MEDSSL")/medssl_phantom
OUT=$2
HERE=$(cd "$(dirname "$0")" && pwd)
rm -rf "$OUT"
mkdir -p "$OUT"/{corpus,ckpt,png,nifti,idx,model_spec,augment,jsonr,report}
OUT=$(cd "$OUT" && pwd)
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
# the Debian python (python3-h5py); a python3 earlier on PATH may lack h5py
PY=python3; [ -x /usr/bin/python3 ] && PY=/usr/bin/python3

"$PY" "$HERE/seeds.py" "$OUT"

# medssl's own files: an imported IDX corpus, a phantom, and checkpoints of a
# rotation model (plain encoder + linear head; a copy with a jigsaw
# /pretext/permutations added) and an autoencoder (U-Net decoder), one step each.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$MEDSSL" import idx --images "$OUT/idx/images3.idx" --labels "$OUT/idx/labels.idx" --out "$OUT/corpus/medssl_idx.h5" \
    > /dev/null
"$PHANTOM" --kind cls --n 40 --size 8 --seed 1 --out "$work/cls.h5" > /dev/null
"$PHANTOM" --kind seg --n 4 --size 8 --seed 2 --out "$OUT/corpus/phantom_seg.h5" > /dev/null
pretrain() { # TASK NAME ENCODER [more flags]
  local task=$1 name=$2 enc=$3; shift 3
  "$MEDSSL" pretrain --task "$task" --corpus "$work/cls.h5" --encoder "$enc" --batch 4 --threads 1 --epochs 1 \
      --max-steps 1 --log-every 1000 --out "$work/$name" "$@" > "$work/$name.log" 2>&1 || { cat "$work/$name.log"; exit 1; }
  cp "$work/$name/last.h5" "$OUT/ckpt/$name.h5"
}
pretrain rotation rotation "encoder:widths=2-4,convs=1"
pretrain autoencoder autoencoder "encoder:widths=2-2,convs=1" --recon-every 0
"$PY" - "$OUT/ckpt/rotation.h5" "$OUT/ckpt/rotation_perms.h5" <<'PY'
import shutil, sys, h5py, numpy as np
shutil.copy(sys.argv[1], sys.argv[2])
with h5py.File(sys.argv[2], "r+") as f:
    f.create_dataset("pretext/permutations", data=np.array([range(9), range(8, -1, -1)], np.uint8))
PY

"$PY" "$HERE/regressions.py" "$OUT/regressions" "$OUT/ckpt/rotation.h5"
echo "seeds: $(find "$OUT" -type f | wc -l) files in $OUT"
