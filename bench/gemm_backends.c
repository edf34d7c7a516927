/* gemm_backends — single-core GFLOP/s of the GEMM libraries Debian 12 ships,
 * on the matrix products medssl's convolutions issue (row-major, C = A B):
 * OpenBLAS (cblas_sgemm, kernels as OPENBLAS_CORETYPE leaves them), oneDNN
 * (dnnl_sgemm), BLIS (bli_sgemm, its own CPU detection) and LIBXSMM
 * (libxsmm_sgemm, JIT for small products, the linked BLAS above its
 * threshold). Built and run by bench/gemm_backends.sh; a benchmark, not a
 * dependency of medssl.
 *
 * Shapes: M output channels, N output pixels of the images in one GEMM, K
 * input channels x 9 (3x3 kernels); "dw" is the weight gradient (K_out, CRS)
 * = dy (K_out, pixels) * colT (pixels, CRS); "dx" the input gradient as the
 * flipped-kernel convolution (C, K_out*9) * im2col(dy).
 */
#include <blis.h>
#include <dnnl.h>
#include <libxsmm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#undef cblas_sgemm
#include <cblas.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct {
    const char *what;
    int M, N, K;
} shape;

static const shape SHAPES[] = {
    { "reference encoder stage0.conv1 fwd (b32/rank)", 32, 4096, 288 },
    { "reference encoder stage0.conv1 dw", 32, 288, 4096 },
    { "reference encoder stage1.conv1 fwd", 64, 1024, 576 },
    { "reference encoder stage1.conv1 dw", 64, 576, 1024 },
    { "reference encoder stage2.conv1 fwd", 128, 1024, 1152 },
    { "reference encoder stage3.conv1 fwd", 256, 1024, 2304 },
    { "U-Net decoder.up2.conv0 fwd (96x96)", 32, 9216, 864 },
    { "U-Net decoder.up2.conv0 dw", 32, 864, 9216 },
    { "U-Net decoder.up2.conv0 dx", 96, 9216, 288 },
    { "U-Net decoder.up0.conv0 fwd", 128, 1152, 3456 },
    { "demo stage0.conv1 fwd (28x28, 8 images)", 16, 6272, 144 },
    { "demo stage2.conv1 fwd (7x7, 32 images)", 64, 1568, 576 },
};

enum { OPENBLAS, ONEDNN, BLIS, LIBXSMM, N_LIBS };
static const char *const NAMES[N_LIBS] = { "OpenBLAS", "oneDNN", "BLIS", "LIBXSMM" };

static void run(int lib, int M, int N, int K, const float *A, const float *B, float *C)
{
    float one = 1, zero = 0;
    switch (lib) {
    case OPENBLAS:
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1, A, K, B, N, 0, C, N);
        break;
    case ONEDNN:
        dnnl_sgemm('N', 'N', M, N, K, 1, A, K, B, N, 0, C, N);
        break;
    case BLIS:
        bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, M, N, K, &one, (float *)A, K, 1, (float *)B, N, 1, &zero, C, N, 1);
        break;
    case LIBXSMM: { /* column-major: C^T (N, M) = B^T (N, K) A^T (K, M) */
        const libxsmm_blasint m = N, n = M, k = K, lda = N, ldb = K, ldc = N;
        libxsmm_sgemm("N", "N", &m, &n, &k, &one, B, &lda, A, &ldb, &zero, C, &ldc);
        break;
    }
    }
}

int main(int argc, char **argv)
{
    const int reps = argc > 1 ? atoi(argv[1]) : 7;
    libxsmm_init();
    printf("| product (M x N x K) | %s | %s | %s | %s |\n|---|---|---|---|---|\n", NAMES[0], NAMES[1], NAMES[2],
           NAMES[3]);
    for (size_t s = 0; s < sizeof SHAPES / sizeof *SHAPES; s++) {
        const int M = SHAPES[s].M, N = SHAPES[s].N, K = SHAPES[s].K;
        float *A = malloc(sizeof(float) * (size_t)M * K), *B = malloc(sizeof(float) * (size_t)K * N);
        float *C = malloc(sizeof(float) * (size_t)M * N), *ref = malloc(sizeof(float) * (size_t)M * N);
        for (size_t i = 0; i < (size_t)M * K; i++) A[i] = (float)((i * 7919) % 1000) * 1e-3f - 0.5f;
        for (size_t i = 0; i < (size_t)K * N; i++) B[i] = (float)((i * 104729) % 1000) * 1e-3f - 0.5f;
        double best[N_LIBS];
        for (int l = 0; l < N_LIBS; l++) best[l] = 1e30;
        run(OPENBLAS, M, N, K, A, B, ref);
        for (int r = 0; r < reps; r++) /* interleaved: machine noise hits every library alike */
            for (int l = 0; l < N_LIBS; l++) {
                const double t0 = now();
                run(l, M, N, K, A, B, C);
                const double t = now() - t0;
                if (t < best[l]) best[l] = t;
                if (r == 0) { /* every library computes the same product */
                    double worst = 0;
                    for (size_t i = 0; i < (size_t)M * N; i++) {
                        const double e = (C[i] - ref[i]) / (1.0 + (ref[i] < 0 ? -ref[i] : ref[i]));
                        if ((e < 0 ? -e : e) > worst) worst = e < 0 ? -e : e;
                    }
                    if (worst > 1e-3) {
                        fprintf(stderr, "gemm_backends: %s differs from OpenBLAS by %g on %s\n", NAMES[l], worst,
                                SHAPES[s].what);
                        return 1;
                    }
                }
            }
        const double flop = 2.0 * M * N * K;
        printf("| %s (%d x %d x %d) |", SHAPES[s].what, M, N, K);
        for (int l = 0; l < N_LIBS; l++) printf(" %.0f |", flop / best[l] * 1e-9);
        printf("\n");
        free(A);
        free(B);
        free(C);
        free(ref);
    }
    libxsmm_finalize();
    return 0;
}
