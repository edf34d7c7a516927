/* parallel — threads inside one rank.
 *
 * One pool of T OpenMP threads per rank does everything: the memory-bound loops
 * (batchnorm, ReLU, pooling, im2col/col2im, regrouping, zeroing) split over
 * them, and so do matrix products: parallel_sgemm cuts C into T column (or
 * row) slices, each a single-threaded GEMM call. OpenBLAS's own thread
 * pool stays at 1 thread: its workers spin between calls and, measured, took
 * a quarter of the step from the OpenMP threads in between (15% of cycles in
 * the scheduler). With one rank per core (the usual MPI setup) T is 1 and
 * everything runs serially on the calling thread.
 *
 * PARALLEL_FOR(work) before a `for` splits it statically over the threads when
 * `work` (elements touched) is large enough to pay for the fork; iterations
 * must be independent.
 */
#ifndef MEDSSL_PARALLEL_H
#define MEDSSL_PARALLEL_H

#include <stddef.h>

#define MS_PRAGMA_(x) _Pragma(#x)
#define PARALLEL_MIN_WORK 65536
#define PARALLEL_FOR(work) MS_PRAGMA_(omp parallel for schedule(static) if ((work) >= PARALLEL_MIN_WORK))

/* Threads per rank (OpenMP; OpenBLAS is kept at 1). */
void parallel_set_threads(int threads);
int parallel_threads(void);

/* The GEMM library behind parallel_sgemm. oneDNN's sgemm (libdnnl, when
 * built with it: the default) runs AVX-512 kernels where the CPU has them
 * and measured ~2x OpenBLAS's per core on this project's convolution shapes
 * (bench/README.md); OpenBLAS stays the CBLAS of record and the fallback.
 * MEDSSL_GEMM=openblas|onednn chooses (medssl main reads it). */
typedef enum { GEMM_OPENBLAS, GEMM_ONEDNN } ms_gemm_backend;
/* NULL or "": keep the default. MS_ERR_INPUT for an unknown name or a
 * backend this build lacks. Call before any thread runs a GEMM. */
int parallel_gemm_select(const char *name);
ms_gemm_backend parallel_gemm_backend(void);
/* "onednn 2.6.3 (avx512_core)" or "openblas": recorded with every run. */
void parallel_gemm_describe(char *buf, size_t cap);

/* sgemm (row-major) with C split over the threads: C (M,N) =
 * alpha * op(A) (M,K) * op(B) (K,N) + beta * C. trans_a / trans_b: 0 or 1. */
void parallel_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                    int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* Whether medssl's own AVX2+FMA kernels run (the Winograd transforms, the 2x2
 * max-pool): the CPU has AVX2 and FMA and MEDSSL_NO_AVX2 is unset, empty or 0.
 * Otherwise their baseline builds run (what a CPU without AVX2 gets; tests run
 * them on this CPU too with MEDSSL_NO_AVX2=1). Read once per process. */
int parallel_avx2(void);
/* "avx2+fma" or "baseline": parallel_avx2() in words. */
const char *parallel_kernels_isa(void);

/* dst (n) = 0, split over the threads. */
void parallel_zero(float *dst, size_t n);

#endif
