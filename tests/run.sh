#!/usr/bin/env bash
# The one test command: installs what the build and tests need (Debian 12,
# apt-get, only when missing), configures, builds and runs the whole suite
# with ctest (unit tests, MPI tests under mpirun -np 2, CLI tests on real files).
#
#   tests/run.sh                 plain Release build in build/
#   MEDSSL_SANITIZE=1 tests/run.sh   AddressSanitizer + UBSan build in build-asan/
#   tests/run.sh -R model        extra arguments go to ctest
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES="build-essential cmake pkg-config libopenmpi-dev openmpi-bin libopenblas-dev
          libhdf5-openmpi-dev hdf5-tools libpng-dev zlib1g-dev libnifti2-dev python3 dataset-fashion-mnist
          slurm-wlm munge python3-h5py python3-numpy python3-nibabel python3-torch clang libomp-dev libdnnl-dev"
# the browser tests/cli_report.sh renders the report in, and Weka (3.6, with Java) that tests/cli_select.sh
# compares medssl select with; without them those tests skip those checks
OPTIONAL="chromium weka"
missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "tests/run.sh: installing:$missing"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
for p in $OPTIONAL; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" && continue
  echo "tests/run.sh: installing $p"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$p"; } ||
    echo "tests/run.sh: $p could not be installed: the tests that need it skip those checks (with a note)"
done

# Open MPI refuses root without these; tests also oversubscribe the 2 cores.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
# Quiet Open MPI's warnings about missing high-speed transports in containers.
export OMPI_MCA_btl_base_warn_component_unused=0

skip=()
if [ "${MEDSSL_SANITIZE:-0}" = 1 ]; then
  dir=build-asan
  flags="-DMEDSSL_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo"
  # Open MPI's own allocations are not ours to fix; real leaks in medssl are
  # still caught by the unit tests that run without MPI_Init.
  export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  # the fuzz targets build with their own ASan+UBSan (clang) whichever medssl
  # build runs them: the plain suite runs them once
  skip=(-E '^cli_fuzz$')
else
  dir=build
  flags="-DCMAKE_BUILD_TYPE=Release"
fi
cmake -S . -B "$dir" $flags > "$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; exit 1; }
cmake --build "$dir" -j"$(nproc)"
cd "$dir"
ctest --output-on-failure --timeout 600 "${skip[@]}" "$@"
