/* test_gemm — parallel_sgemm against a double-precision reference for every
 * GEMM backend this build has (OpenBLAS, oneDNN), every transpose pair,
 * alpha/beta, leading dimensions wider than the matrix, 1 and 2 threads
 * (the column and the row split), and shapes from tiny to the convolutions'
 * (long reductions). The backends must agree with the reference to float
 * rounding: |C - ref| <= 1e-5 * (|alpha| sum_k |a_ik b_kj| + |beta c_ij|) + 1e-6.
 *
 * Dimension legend: C (M, N) = alpha op(A) (M, K) op(B) (K, N) + beta C.
 */
#include "medssl/common.h"
#include "medssl/parallel.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int M, N, K;
} gemm_case;

static const gemm_case CASES[] = {
    { 1, 1, 1 },      { 3, 5, 7 },     { 17, 33, 9 },      { 64, 4096, 576 }, /* a conv forward */
    { 32, 288, 4096 }, /* a dW: long reduction */ { 576, 1024, 64 }, /* a dX */
    { 256, 4, 512 },  /* a linear layer */ { 100, 37, 300 },
};

static void reference(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                      float beta, const float *C0, int ldc, double *ref, double *mag)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0, m = 0;
            for (int k = 0; k < K; k++) {
                const double a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                const double b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                s += a * b;
                m += fabs(a * b);
            }
            const double c = C0[(size_t)i * ldc + j];
            ref[(size_t)i * N + j] = alpha * s + beta * c;
            mag[(size_t)i * N + j] = fabs(alpha) * m + fabs(beta * c);
        }
}

static void check_backend(const char *name)
{
    TU_CHECK(parallel_gemm_select(name) == MS_OK);
    for (int threads = 1; threads <= 2; threads++) {
        parallel_set_threads(threads);
        for (size_t c = 0; c < sizeof CASES / sizeof *CASES; c++) {
            const int M = CASES[c].M, N = CASES[c].N, K = CASES[c].K;
            for (int t = 0; t < 4; t++) {
                const int ta = t & 1, tb = t >> 1, pad = 3;
                const int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
                const size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
                float *A = ms_malloc(na * sizeof(float)), *B = ms_malloc(nb * sizeof(float));
                float *C = ms_malloc(nc * sizeof(float)), *C0 = ms_malloc(nc * sizeof(float));
                double *ref = ms_malloc((size_t)M * N * sizeof(double)), *mag = ms_malloc((size_t)M * N * sizeof(double));
                tu_fill_normal(A, na, 11 + c, 1.0f);
                tu_fill_normal(B, nb, 23 + c, 1.0f);
                tu_fill_normal(C0, nc, 37 + c, 1.0f);
                const float alpha = t == 3 ? -0.5f : 1.0f, beta = t == 1 ? 1.0f : t == 2 ? 0.25f : 0.0f;
                memcpy(C, C0, nc * sizeof(float));
                parallel_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
                reference(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C0, ldc, ref, mag);
                int bad = 0;
                double worst = 0;
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < N; j++) {
                        const double e = fabs(C[(size_t)i * ldc + j] - ref[(size_t)i * N + j]);
                        const double tol = 1e-5 * mag[(size_t)i * N + j] + 1e-6;
                        if (e > tol) bad++;
                        if (e / tol > worst) worst = e / tol;
                    }
                /* the padding columns of C are never written */
                for (int i = 0; i < M; i++)
                    for (int j = N; j < ldc; j++) bad += C[(size_t)i * ldc + j] != C0[(size_t)i * ldc + j];
                TU_CHECKF(bad == 0, "%s, %d thread(s), %dx%dx%d trans %d%d: %d entries off (worst %.2f x tolerance)", name,
                          threads, M, N, K, ta, tb, bad, worst);
                free(A);
                free(B);
                free(C);
                free(C0);
                free(ref);
                free(mag);
            }
        }
    }
}

static void openblas(void) { check_backend("openblas"); }

static void onednn(void)
{
    if (parallel_gemm_select("onednn") != MS_OK) {
        printf("SKIP onednn: %s\n", ms_last_error());
        ms_clear_error();
        return;
    }
    check_backend("onednn");
}

static void names(void)
{
    TU_CHECK(parallel_gemm_select(NULL) == MS_OK && parallel_gemm_select("") == MS_OK);
    TU_CHECK(parallel_gemm_select("mkl") == MS_ERR_INPUT);
    TU_CHECKF(strcmp(ms_last_error(), "MEDSSL_GEMM=mkl: expected openblas or onednn") == 0, "'%s'", ms_last_error());
    ms_clear_error();
    char d[128];
    TU_CHECK(parallel_gemm_select("openblas") == MS_OK);
    parallel_gemm_describe(d, sizeof d);
    TU_CHECK(strcmp(d, "openblas") == 0);
}

int main(void)
{
    TU_RUN(openblas);
    TU_RUN(onednn);
    TU_RUN(names);
    return tu_summary();
}
