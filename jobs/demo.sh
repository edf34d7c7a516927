#!/usr/bin/env bash
# The main job on the embedded default. Today it builds medssl (if needed) and
# runs the engine benchmark as one rank with 2 OpenBLAS threads and as 2 MPI
# ranks with 1 thread each, then a short pass over the PyTorch reference if
# python3-torch is installed. Pretraining on Fashion-MNIST and the transfer
# comparison join this script with the data-path, pretraining and finetune work.
#
#   jobs/demo.sh                   (set BUILD=dir to use another build folder)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
if [ ! -x "$BUILD/medssl" ]; then
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release > /dev/null
  cmake --build "$BUILD" -j"$(nproc)" --target medssl
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
STEPS=${STEPS:-20}

echo "== medssl bench: 1 rank x 2 OpenBLAS threads =="
"$BUILD/medssl" bench --steps "$STEPS" --threads 2
echo
echo "== medssl bench: mpirun -np 2, 1 OpenBLAS thread per rank =="
mpirun -np 2 "$BUILD/medssl" bench --steps "$STEPS" --threads 1
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  echo
  echo "== PyTorch reference (same network, batch, optimizer; 2 threads) =="
  /usr/bin/python3 bench/pytorch_ref.py --threads 2 --steps "$STEPS"
fi
