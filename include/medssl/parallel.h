/* parallel — threads inside one rank.
 *
 * Matrix products run on OpenBLAS's threads; the memory-bound loops around them
 * (batchnorm, ReLU, pooling, im2col/col2im, regrouping, zeroing) run on OpenMP
 * threads, so a rank with T threads uses its T cores for the whole step, not
 * only inside GEMMs. parallel_set_threads() sets both pools. With one rank per
 * core (the usual MPI setup) T is 1 and every loop runs serially.
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

/* OpenBLAS threads and OpenMP threads for this process. */
void parallel_set_threads(int threads);
int parallel_threads(void);

/* dst (n) = 0, split over the threads. */
void parallel_zero(float *dst, size_t n);

#endif
