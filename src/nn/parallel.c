/* parallel — thread counts for OpenBLAS and OpenMP (see include/medssl/parallel.h). */
#include "medssl/parallel.h"

#include <cblas.h>
#include <omp.h>
#include <string.h>

void parallel_set_threads(int threads)
{
    if (threads < 1) threads = 1;
    openblas_set_num_threads(threads);
    omp_set_num_threads(threads);
}

int parallel_threads(void) { return omp_get_max_threads(); }

void parallel_zero(float *dst, size_t n)
{
    const size_t block = 16384;
    const long n_blocks = (long)((n + block - 1) / block);
    PARALLEL_FOR(n)
    for (long b = 0; b < n_blocks; b++) {
        size_t lo = (size_t)b * block, len = n - lo < block ? n - lo : block;
        memset(dst + lo, 0, len * sizeof(float));
    }
}
