/* parallel — thread counts for OpenBLAS and OpenMP, and the GEMM backend
 * (see include/medssl/parallel.h). */
#include "medssl/parallel.h"
#include "medssl/common.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef MEDSSL_HAVE_ONEDNN
#include <dnnl.h>
#endif

#ifdef MEDSSL_HAVE_ONEDNN
static ms_gemm_backend gemm_backend = GEMM_ONEDNN;
#else
static ms_gemm_backend gemm_backend = GEMM_OPENBLAS;
#endif

int parallel_gemm_select(const char *name)
{
    if (!name || !*name) return MS_OK; /* the default */
    if (strcmp(name, "openblas") == 0) {
        gemm_backend = GEMM_OPENBLAS;
        return MS_OK;
    }
    if (strcmp(name, "onednn") == 0) {
#ifdef MEDSSL_HAVE_ONEDNN
        gemm_backend = GEMM_ONEDNN;
        return MS_OK;
#else
        return MS_FAIL(MS_ERR_INPUT, "MEDSSL_GEMM=onednn: this medssl was built without oneDNN (install libdnnl-dev "
                                     "and rebuild)");
#endif
    }
    return MS_FAIL(MS_ERR_INPUT, "MEDSSL_GEMM=%s: expected openblas or onednn", name);
}

ms_gemm_backend parallel_gemm_backend(void) { return gemm_backend; }

void parallel_gemm_describe(char *buf, size_t cap)
{
#ifdef MEDSSL_HAVE_ONEDNN
    if (gemm_backend == GEMM_ONEDNN) {
        const dnnl_version_t *v = dnnl_version();
        const int isa = (int)dnnl_get_effective_cpu_isa();
        const char *name = isa == dnnl_cpu_isa_avx512_core_amx    ? "avx512_core_amx"
                           : isa == dnnl_cpu_isa_avx512_core_bf16 ? "avx512_core_bf16"
                           : isa == dnnl_cpu_isa_avx512_core_vnni ? "avx512_core_vnni"
                           : isa == dnnl_cpu_isa_avx512_core      ? "avx512_core"
                           : isa == dnnl_cpu_isa_avx2_vnni        ? "avx2_vnni"
                           : isa == dnnl_cpu_isa_avx2             ? "avx2"
                                                                  : "other";
        snprintf(buf, cap, "onednn %d.%d.%d (%s)", v->major, v->minor, v->patch, name);
        return;
    }
#endif
    snprintf(buf, cap, "openblas");
}

/* One single-threaded (or library-threaded, outside a parallel region) product. */
static void one_sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, float alpha, const float *A, int lda,
                      const float *B, int ldb, float beta, float *C, int ldc)
{
#ifdef MEDSSL_HAVE_ONEDNN
    if (gemm_backend == GEMM_ONEDNN) {
        dnnl_sgemm(ta == CblasTrans ? 'T' : 'N', tb == CblasTrans ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C,
                   ldc);
        return;
    }
#endif
    cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

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
        one_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    const int by_cols = N >= M;
#pragma omp parallel num_threads(T)
    {
        const int t = omp_get_thread_num(), n_split = by_cols ? N : M;
        const int lo = slice_edge(n_split, t, T), hi = slice_edge(n_split, t + 1, T);
        if (hi > lo) {
            if (by_cols) /* C[:, lo:hi] = op(A) * op(B)[:, lo:hi] */
                one_sgemm(ta, tb, M, hi - lo, K, alpha, A, lda,
                            trans_b ? B + (size_t)lo * ldb : B + lo, ldb, beta, C + lo, ldc);
            else /* C[lo:hi, :] = op(A)[lo:hi, :] * op(B) */
                one_sgemm(ta, tb, hi - lo, N, K, alpha,
                            trans_a ? A + lo : A + (size_t)lo * lda, lda, B, ldb, beta,
                            C + (size_t)lo * ldc, ldc);
        }
    }
}

int parallel_threads(void) { return omp_get_max_threads(); }

int parallel_avx2(void)
{
    static _Atomic int have = -1;
    int h = have;
    if (h < 0) {
        const char *off = getenv("MEDSSL_NO_AVX2");
        h = !(off && *off && strcmp(off, "0") != 0) && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        have = h;
    }
    return h;
}

const char *parallel_kernels_isa(void) { return parallel_avx2() ? "avx2+fma" : "baseline"; }

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
