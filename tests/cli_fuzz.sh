#!/usr/bin/env bash
# ctest cli_fuzz: the fuzzing harness in CI (tests/fuzz/run.sh): builds the
# libFuzzer targets of every reader under ASan+UBSan with clang, replays the
# regression cases, fuzzes each target for MEDSSL_FUZZ_SECONDS (default 15)
# and fails on any finding in medssl. Without clang (or its OpenMP runtime)
# it says so and passes: the other tests do not need clang.
set -euo pipefail
MEDSSL=$1
if ! command -v clang > /dev/null; then
  echo "note: clang not installed: fuzz targets not built, cli_fuzz skipped (apt-get install clang libomp-dev)"
  exit 0
fi
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf '#include <omp.h>\nint main(void) { return omp_get_max_threads() < 1; }\n' > "$probe/omp.c"
if ! clang -fopenmp "$probe/omp.c" -o "$probe/omp" > /dev/null 2>&1; then
  echo "note: clang has no OpenMP runtime (libomp-dev): fuzz targets not built, cli_fuzz skipped"
  exit 0
fi
if ! clang -fsanitize=fuzzer "$(dirname "$0")/fuzz/fuzz_model_spec.c" -fsyntax-only -I"$(dirname "$0")/../include" \
     $(mpicc --showme:compile) > /dev/null 2>&1; then
  echo "note: this clang has no libFuzzer (-fsanitize=fuzzer): cli_fuzz skipped"
  exit 0
fi
MEDSSL_BIN=$MEDSSL exec bash "$(dirname "$0")/fuzz/run.sh" "${MEDSSL_FUZZ_SECONDS:-15}"
