/* parallel — threads inside one rank.
 *
 * One pool of T OpenMP threads per rank does everything: the memory-bound loops
 * (batchnorm, ReLU, pooling, im2col/col2im, regrouping, zeroing) split over
 * them, and so do matrix products: parallel_sgemm cuts C into T column (or
 * row) slices, each a single-threaded OpenBLAS call. OpenBLAS's own thread
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

/* cblas_sgemm (row-major) with C split over the threads: C (M,N) =
 * alpha * op(A) (M,K) * op(B) (K,N) + beta * C. trans_a / trans_b: 0 or 1. */
void parallel_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                    int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* dst (n) = 0, split over the threads. */
void parallel_zero(float *dst, size_t n);

#endif
