/* runenv — the facts that decide a run's numbers, recorded with every run.
 *
 * Same seed + same rank count + same threads per rank + same BLAS kernel give
 * bit-identical weights on any machine load (tests/cli_determinism.sh). What
 * does change the numbers: the rank count and the per-rank batch (OpenBLAS's
 * GEMM rounds a column differently in matrices of other widths), the threads
 * (parallel_sgemm slices), the BLAS library and the kernel it picked for the
 * CPU (OPENBLAS_CORETYPE), and the medssl commit. runenv_describe writes them
 * as one JSON object, which the trainer appends to metrics.jsonl as a start
 * line ({"event": "start", ...}) and stores in every checkpoint as the root
 * attribute `environment`. The MPI thread level and the HDF5 driver are
 * recorded too, though they do not change the numbers (tested).
 */
#ifndef MEDSSL_RUNENV_H
#define MEDSSL_RUNENV_H

#include <stddef.h>

#include "medssl/dist.h"
#include "medssl/json.h"

/* {"medssl_commit": "...", "ranks": R, "threads": T, "blas": "...",
 *  "blas_core": "...", "openblas_coretype_env": "...", "mpi": "...",
 *  "mpi_thread_level": "multiple", "hdf5": "1.10.8", "hdf5_driver": "...",
 *  "cpu": "...", "cpu_flags": "avx2 fma avx512f ..."} as the member `key` of j
 * (NULL: a value in an array or the whole text). hdf5_driver may be NULL ("unknown"). */
void runenv_describe(ms_json *j, const char *key, const ms_dist *d, int threads, const char *hdf5_driver);

/* The medssl commit this binary was built from ("unknown" outside git). */
const char *runenv_commit(void);

#endif
