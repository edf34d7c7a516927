/* parallel — thread counts for OpenBLAS and OpenMP (see include/medssl/parallel.h). */
#include "medssl/parallel.h"

#include <cblas.h>
#include <omp.h>
#include <string.h>

void parallel_set_threads(int threads)
{
    if (threads < 1) threads = 1;
#ifdef MEDSSL_HAVE_OPENBLAS_THREADS /* set by CMake when the BLAS is OpenBLAS */
    openblas_set_num_threads(1);
#endif
    omp_set_num_threads(threads);
}

/* Slice boundaries are multiples of 16 (the GEMM kernels' unroll) except the end. */
static int slice_edge(int n, int t, int T) { return t == T ? n : (int)((long)n * t / T) / 16 * 16; }

void parallel_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                    int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    const CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
    const CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
    const int T = omp_get_max_threads();
    if (T == 1 || (double)M * N * K < 4e6 || (M < 32 && N < 32) || omp_in_parallel()) {
        cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    const int by_cols = N >= M;
#pragma omp parallel num_threads(T)
    {
        const int t = omp_get_thread_num(), n_split = by_cols ? N : M;
        const int lo = slice_edge(n_split, t, T), hi = slice_edge(n_split, t + 1, T);
        if (hi > lo) {
            if (by_cols) /* C[:, lo:hi] = op(A) * op(B)[:, lo:hi] */
                cblas_sgemm(CblasRowMajor, ta, tb, M, hi - lo, K, alpha, A, lda,
                            trans_b ? B + (size_t)lo * ldb : B + lo, ldb, beta, C + lo, ldc);
            else /* C[lo:hi, :] = op(A)[lo:hi, :] * op(B) */
                cblas_sgemm(CblasRowMajor, ta, tb, hi - lo, N, K, alpha,
                            trans_a ? A + lo : A + (size_t)lo * lda, lda, B, ldb, beta,
                            C + (size_t)lo * ldc, ldc);
        }
    }
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
