#!/usr/bin/env bash
# Single-core GFLOP/s of OpenBLAS, oneDNN, BLIS and LIBXSMM on the products
# medssl's convolutions issue (bench/gemm_backends.c): installs the Debian
# packages it needs, builds it in /tmp, runs it on one thread each, and prints
# a markdown table (best of REPS interleaved runs) with the date and the
# environment. OPENBLAS_CORETYPE is left as the environment sets it.
#
#   bench/gemm_backends.sh [REPS]
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-7}
need=""
for p in libopenblas-dev libdnnl-dev libblis-dev libxsmm-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need="$need $p"
done
if [ -n "$need" ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $need
fi
bin=$(mktemp -d)/gemm_backends
blis_inc=$(dirname "$(dpkg -L libblis-dev libblis-openmp-dev libblis-pthread-dev libblis-serial-dev 2>/dev/null | grep '/blis.h$' | head -1)")
blis_lib=$(dirname "$(dpkg -L libblis-openmp-dev libblis-pthread-dev libblis-serial-dev 2>/dev/null | grep '/libblis.so$' | head -1)")
gcc -O2 -std=gnu11 bench/gemm_backends.c -o "$bin" -I"$blis_inc" -I/usr/include/x86_64-linux-gnu/openblas-pthread \
    /usr/lib/libxsmm.a /usr/lib/libxsmmnoblas.a -lopenblas -ldnnl -L"$blis_lib" -Wl,-rpath,"$blis_lib" -lblis -fopenmp -lm -ldl -lpthread
# -lopenblas before -lblis: BLIS also exports cblas_sgemm and sgemm_, and the first library wins
echo "Measured $(date -u +%Y-%m-%dT%H:%MZ) by \`bench/gemm_backends.sh $REPS\`: one thread each (OMP_NUM_THREADS=1,"
echo "BLIS_NUM_THREADS=1, OPENBLAS_NUM_THREADS=1); OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset};"
echo "CPU $(lscpu | sed -n 's/^Model name:[[:space:]]*//p'); GFLOP/s, best of $REPS interleaved runs."
echo
OMP_NUM_THREADS=1 BLIS_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$bin" "$REPS"
rm -rf "$(dirname "$bin")"
