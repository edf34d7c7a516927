#!/usr/bin/env bash
# CLI test of the CMake configure step on layouts other than Debian's
# pkg-config one (configure only, no build; about 20 s):
#   1. pkg-config disabled, -DBLA_VENDOR=OpenBLAS -DHDF5_ROOT=<Debian's Open MPI
#      HDF5 prefix>: configure succeeds and reports that parallel HDF5 and
#      OpenBLAS (with its thread control);
#   2. a cluster-module layout: HDF5 and OpenBLAS under their own prefixes
#      (symlinks to the Debian files), found only through the environment a
#      `module load` sets (HDF5_ROOT, CMAKE_PREFIX_PATH): configure reports the
#      library and cblas.h from those prefixes, not from /usr;
#   3. -DBLA_VENDOR=NoSuchVendor fails with medssl's one message naming the
#      package to install and -DBLA_VENDOR;
#   4. HDF5_ROOT at a serial HDF5 (the prefix of 2 whose H5pubconf.h lacks
#      H5_HAVE_PARALLEL, which is what a serial build's header says) fails with
#      the message that it is serial and what to install.
# The first argument (the medssl binary, as for every cli_*.sh) is not used:
# the source tree is this script's parent folder.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
fail() { echo "FAIL: $*"; exit 1; }
command -v cmake >/dev/null || fail "no cmake"

# Debian's parallel HDF5 prefix (libhdf5-openmpi-dev); elsewhere give one.
H5=${MEDSSL_TEST_HDF5_ROOT:-/usr/lib/x86_64-linux-gnu/hdf5/openmpi}
[ -f "$H5/include/H5pubconf.h" ] || fail "no parallel HDF5 at $H5 (install libhdf5-openmpi-dev or set MEDSSL_TEST_HDF5_ROOT)"
OPENBLAS_LIB=$(readlink -f /usr/lib/x86_64-linux-gnu/libopenblas.so 2>/dev/null || true)
[ -f "$OPENBLAS_LIB" ] || fail "no libopenblas.so (install libopenblas-dev)"
OPENBLAS_INC=$(dirname "$(readlink -f /usr/include/x86_64-linux-gnu/cblas.h)")
grep -q openblas_set_num_threads "$OPENBLAS_INC/cblas.h" || fail "$OPENBLAS_INC/cblas.h is not OpenBLAS's"

tmp=$(mktemp -d /tmp/medssl-cmake-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
t0=$SECONDS

# configure NAME [cmake args...]: configure into $tmp/NAME with pkg-config
# disabled; the output in $tmp/NAME.log, the exit code in $rc.
configure() {
  local name=$1; shift
  rc=0
  PKG_CONFIG=/bin/false cmake -S "$SRC" -B "$tmp/$name" -DPKG_CONFIG_EXECUTABLE=/bin/false "$@" \
    > "$tmp/$name.log" 2>&1 || rc=$?
}
# The log with CMake's line wrapping undone, for matching whole messages.
flat() { tr -s ' \n' ' ' < "$tmp/$1.log"; }
show() { echo "--- $tmp/$1.log"; tail -30 "$tmp/$1.log"; }

# --- 1. no pkg-config, -DBLA_VENDOR and -DHDF5_ROOT ---------------------------------
configure flags -DBLA_VENDOR=OpenBLAS -DHDF5_ROOT="$H5"
[ "$rc" -eq 0 ] || { show flags; fail "configure with -DBLA_VENDOR=OpenBLAS -DHDF5_ROOT=$H5 exited $rc"; }
grep -q "^-- medssl: parallel HDF5 [0-9.]*: $H5/lib/libhdf5.so$" "$tmp/flags.log" ||
  { show flags; fail "configure did not report the parallel HDF5 under $H5"; }
grep -q "^-- medssl: BLAS: [^ ]*libopenblas.so; cblas.h from .*; OpenBLAS kept at 1 thread" "$tmp/flags.log" ||
  { show flags; fail "configure did not report OpenBLAS with its thread control"; }
grep -q "MEDSSL_HAVE_OPENBLAS_THREADS:INTERNAL=1" "$tmp/flags/CMakeCache.txt" ||
  fail "MEDSSL_HAVE_OPENBLAS_THREADS is not set for OpenBLAS"
grep -qi "pkg-config\|pkgconfig" "$tmp/flags.log" && { show flags; fail "configure mentions pkg-config"; }
echo "1. -DBLA_VENDOR=OpenBLAS -DHDF5_ROOT=$H5, no pkg-config: configured ($((SECONDS - t0)) s)"

# --- 2. a module layout, found through the environment -------------------------------
mod=$tmp/modules
mkdir -p "$mod/hdf5/include" "$mod/hdf5/lib" "$mod/openblas/include" "$mod/openblas/lib"
ln -s "$H5"/include/* "$mod/hdf5/include/"
ln -s "$(readlink -f "$H5/lib/libhdf5.so")" "$mod/hdf5/lib/libhdf5.so"
ln -s "$OPENBLAS_LIB" "$mod/openblas/lib/libopenblas.so"
ln -s "$OPENBLAS_INC"/*.h "$mod/openblas/include/"
t2=$SECONDS
HDF5_ROOT=$mod/hdf5 CMAKE_PREFIX_PATH=$mod/openblas configure module -DBLA_VENDOR=OpenBLAS
[ "$rc" -eq 0 ] || { show module; fail "configure with a module layout exited $rc"; }
grep -q "^-- medssl: parallel HDF5 [0-9.]*: $mod/hdf5/lib/libhdf5.so$" "$tmp/module.log" ||
  { show module; fail "configure did not take HDF5 from HDF5_ROOT=$mod/hdf5"; }
grep -q "^-- medssl: BLAS: $mod/openblas/lib/libopenblas.so; cblas.h from $mod/openblas/include; OpenBLAS kept" "$tmp/module.log" ||
  { show module; fail "configure did not take OpenBLAS and its cblas.h from CMAKE_PREFIX_PATH=$mod/openblas"; }
echo "2. module layout (HDF5_ROOT, CMAKE_PREFIX_PATH): configured ($((SECONDS - t2)) s)"

# --- 3. a BLAS vendor that does not exist ------------------------------------------------
t3=$SECONDS
configure novendor -DBLA_VENDOR=NoSuchVendor -DHDF5_ROOT="$H5"
[ "$rc" -ne 0 ] || { show novendor; fail "configure with -DBLA_VENDOR=NoSuchVendor succeeded"; }
flat novendor | grep -q "medssl: no BLAS of vendor BLA_VENDOR=NoSuchVendor found: install libopenblas-dev .* -DBLA_VENDOR=OpenBLAS|FlexiBLAS|Intel10_64lp" ||
  { show novendor; fail "no clear message for -DBLA_VENDOR=NoSuchVendor"; }
[ "$(grep -c "CMake Error" "$tmp/novendor.log")" = 1 ] || { show novendor; fail "more than one error for a missing BLAS"; }
echo "3. -DBLA_VENDOR=NoSuchVendor: refused with one message ($((SECONDS - t3)) s)"

# --- 4. a serial HDF5 --------------------------------------------------------------------
t4=$SECONDS
mkdir -p "$mod/hdf5-serial/include" "$mod/hdf5-serial/lib"
for f in "$H5"/include/*; do
  [ "$(basename "$f")" = H5pubconf.h ] || ln -s "$f" "$mod/hdf5-serial/include/"
done
grep -v H5_HAVE_PARALLEL "$H5/include/H5pubconf.h" > "$mod/hdf5-serial/include/H5pubconf.h"
ln -s "$(readlink -f "$H5/lib/libhdf5.so")" "$mod/hdf5-serial/lib/libhdf5.so"
configure serial -DHDF5_ROOT="$mod/hdf5-serial"
[ "$rc" -ne 0 ] || { show serial; fail "configure with a serial HDF5 succeeded"; }
flat serial | grep -q "medssl: HDF5 [0-9.]* ($mod/hdf5-serial/lib/libhdf5.so) is a serial build; medssl needs parallel HDF5 (MPI-IO): install libhdf5-openmpi-dev" ||
  { show serial; fail "no clear message for a serial HDF5"; }
[ "$(grep -c "CMake Error" "$tmp/serial.log")" = 1 ] || { show serial; fail "more than one error for a serial HDF5"; }
echo "4. HDF5_ROOT at a serial HDF5: refused with one message ($((SECONDS - t4)) s)"

echo "cli_cmake: $((SECONDS - t0)) s"
echo "1 passed, 0 failed"
