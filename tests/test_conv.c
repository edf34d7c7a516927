/* test_conv — conv2d fast path (im2col + sgemm, 1x1 shortcut) against the direct
 * seven-loop reference, forward and backward, over many shapes; im2col/col2im
 * adjointness; accumulation and NULL-gradient handling.
 *
 * Dimension legend: N batch, C in channels, H, W input size, K out channels,
 * R, S kernel size, OH, OW output size, CRS = C*R*S, OHW = OH*OW.
 * (Finite-difference gradient checks of conv live in test_layers.c.)
 */
#include "medssl/common.h"
#include "medssl/conv.h"
#include "medssl/parallel.h"
#include "reference.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int N, C, H, W, K, R, S, stride, pad, has_bias;
} conv_case;

/* Odd and even sizes, stride 1/2, pad 0/1/2, 1x1 (fast path and not), 3x3, 5x5,
 * non-square image and kernel, C = 1, N > 1, pad larger than half the kernel,
 * several images per GEMM with an uneven last group. */
static const conv_case CASES[] = {
    { 2, 3, 7, 5, 4, 3, 3, 1, 1, 1 },   /* odd, non-square, same padding */
    { 1, 1, 9, 9, 2, 3, 3, 2, 0, 1 },   /* C = 1, stride 2, pad 0 */
    { 3, 4, 6, 6, 5, 1, 1, 1, 0, 1 },   /* 1x1 fast path, N = 3 */
    { 2, 3, 5, 7, 6, 1, 1, 1, 0, 0 },   /* 1x1 fast path, odd, no bias */
    { 2, 5, 8, 7, 3, 1, 1, 2, 0, 1 },   /* 1x1 stride 2: im2col path */
    { 2, 2, 11, 9, 3, 5, 5, 1, 2, 0 },  /* 5x5 same padding, no bias */
    { 1, 3, 10, 13, 4, 5, 5, 2, 1, 1 }, /* 5x5 stride 2 */
    { 2, 3, 4, 5, 2, 3, 3, 2, 1, 1 },   /* small, stride 2 pad 1 */
    { 1, 2, 5, 6, 3, 3, 2, 1, 0, 1 },   /* non-square kernel */
    { 1, 2, 3, 3, 2, 3, 3, 1, 2, 1 },   /* pad 2 > R/2: whole padding rows */
    { 1, 1, 1, 1, 2, 1, 1, 1, 0, 1 },   /* 1x1 image */
    { 2, 16, 16, 16, 8, 3, 3, 1, 1, 1 }, /* ResNet-like */
    { 1, 3, 15, 15, 4, 7, 7, 2, 3, 1 }, /* stem-like 7x7 stride 2 */
    { 5, 2, 40, 40, 3, 3, 3, 1, 1, 1 }, /* 1600 px: groups of 2 images per GEMM, remainder 1 */
    { 7, 3, 20, 30, 2, 3, 3, 1, 1, 0 }, /* groups of 6 + 1, non-square same-width path */
    { 3, 2, 8, 8, 4, 5, 5, 1, 2, 1 },   /* 5x5 same-width path, whole padding rows */
    /* 3x3 stride-1 pad-1 with >= 8 channels: Winograd F(2x2,3x3) unless MEDSSL_CONV=gemm */
    { 3, 8, 7, 9, 10, 3, 3, 1, 1, 1 },  /* odd height and width: half tiles at both edges */
    { 2, 9, 1, 1, 8, 3, 3, 1, 1, 0 },   /* 1x1 map: one tile, three quarters outside */
    { 2, 12, 2, 3, 16, 3, 3, 1, 1, 1 }, /* K > C */
    { 1, 16, 6, 4, 8, 3, 3, 1, 1, 0 },  /* C > K, even sizes */
    { 3, 8, 37, 150, 9, 3, 3, 1, 1, 1 }, /* rows wider than one 64-tile chunk, several blocks */
    { 2, 70, 5, 6, 67, 3, 3, 1, 1, 0 }, /* > 64 channels: weight transforms in chunks */
};
#define N_CASES (sizeof CASES / sizeof CASES[0])

typedef struct {
    ms_conv_shape cs;
    size_t n_inp, n_w, n_out, n_col;
    float *inp, *w, *bias, *out, *dout, *col;   /* fast path buffers */
    float *ref_out, *ref_dinp, *ref_dw, *ref_dbias;
    float *dinp, *dw, *dbias;
} conv_bufs;

static void bufs_make(conv_bufs *b, const conv_case *c, uint64_t seed)
{
    memset(b, 0, sizeof *b);
    CHECK(conv_shape_make(&b->cs, c->N, c->C, c->H, c->W, c->K, c->R, c->S, c->stride, c->pad)
          == 0);
    b->n_inp = (size_t)c->N * c->C * c->H * c->W;
    b->n_w = (size_t)c->K * c->C * c->R * c->S;
    b->n_out = (size_t)c->N * c->K * b->cs.OH * b->cs.OW;
    b->n_col = conv_col_size(&b->cs);
    b->inp = ms_malloc(b->n_inp * sizeof(float));
    b->w = ms_malloc(b->n_w * sizeof(float));
    b->bias = ms_malloc((size_t)c->K * sizeof(float));
    b->out = ms_malloc(b->n_out * sizeof(float));
    b->dout = ms_malloc(b->n_out * sizeof(float));
    b->col = b->n_col ? ms_malloc(b->n_col * sizeof(float)) : NULL;
    b->ref_out = ms_malloc(b->n_out * sizeof(float));
    b->ref_dinp = ms_calloc(b->n_inp, sizeof(float));
    b->ref_dw = ms_calloc(b->n_w, sizeof(float));
    b->ref_dbias = ms_calloc((size_t)c->K, sizeof(float));
    b->dinp = ms_malloc(b->n_inp * sizeof(float));
    b->dw = ms_malloc(b->n_w * sizeof(float));
    b->dbias = ms_malloc((size_t)c->K * sizeof(float));
    tu_fill_normal(b->inp, b->n_inp, seed, 1.0f);
    tu_fill_normal(b->w, b->n_w, seed + 1, 0.5f);
    tu_fill_normal(b->bias, (size_t)c->K, seed + 2, 1.0f);
    tu_fill_normal(b->dout, b->n_out, seed + 3, 1.0f);
}

static void bufs_free(conv_bufs *b)
{
    free(b->inp); free(b->w); free(b->bias); free(b->out); free(b->dout); free(b->col);
    free(b->ref_out); free(b->ref_dinp); free(b->ref_dw); free(b->ref_dbias);
    free(b->dinp); free(b->dw); free(b->dbias);
}

static void fill(float *x, size_t n, float v) { for (size_t i = 0; i < n; i++) x[i] = v; }

static void test_conv_shape(void)
{
    ms_conv_shape cs;
    TU_CHECK(conv_shape_make(&cs, 2, 3, 7, 5, 4, 3, 3, 2, 1) == 0);
    TU_CHECK(cs.OH == 4 && cs.OW == 3); /* (7+2-3)/2+1 = 4, (5+2-3)/2+1 = 3 */
    /* N=2 images of 12 output pixels share one GEMM: columns (CRS, 2*OHW) plus the
     * regrouping buffer (K, 2*OHW) */
    TU_CHECK(conv_col_size(&cs) == (size_t)3 * 3 * 3 * 2 * 4 * 3 + (size_t)4 * 2 * 4 * 3);
    TU_CHECK(conv_shape_make(&cs, 1, 8, 6, 6, 4, 1, 1, 1, 0) == 0);
    TU_CHECK(cs.OH == 6 && cs.OW == 6 && conv_col_size(&cs) == 0); /* fast path: no workspace */
    TU_CHECK(conv_shape_make(&cs, 1, 8, 6, 6, 4, 1, 1, 2, 0) == 0);
    TU_CHECK(cs.OH == 3 && conv_col_size(&cs) == (size_t)8 * 9); /* strided 1x1 needs im2col */
    TU_CHECK(conv_shape_make(&cs, 1, 1, 2, 2, 1, 5, 5, 1, 1) == -1); /* 2+2 < 5: empty */
    TU_CHECK(conv_shape_make(&cs, 1, 1, 3, 3, 1, 5, 5, 1, 1) == 0 && cs.OH == 1);
}

/* Forward, then backward from zeroed gradients, against the direct reference. */
static void test_conv_vs_reference(void)
{
    for (size_t t = 0; t < N_CASES; t++) {
        const conv_case *c = &CASES[t];
        conv_bufs b;
        bufs_make(&b, c, 100 + t);
        const float *bias = c->has_bias ? b.bias : NULL;
        /* A NaN-filled workspace and output catch any entry im2col or the GEMM skips. */
        if (b.col) fill(b.col, b.n_col, NAN);
        fill(b.out, b.n_out, NAN);
        conv2d_forward(&b.cs, b.out, b.col, b.inp, b.w, bias);
        ref_conv2d_forward(b.ref_out, b.inp, b.w, bias, c->N, c->C, c->H, c->W, c->K, c->R, c->S,
                           c->stride, c->pad);
        double err = tu_max_rel_err(b.out, b.ref_out, b.n_out, 1e-4, 1e-4);
        TU_CHECKF(err <= 1.0, "case %zu forward: %.3g x tolerance", t, err);

        fill(b.dinp, b.n_inp, 0.0f);
        fill(b.dw, b.n_w, 0.0f);
        fill(b.dbias, (size_t)c->K, 0.0f);
        if (b.col) fill(b.col, b.n_col, NAN);
        conv2d_backward(&b.cs, b.dinp, b.dw, b.dbias, b.col, b.dout, b.inp, b.w);
        ref_conv2d_backward(b.ref_dinp, b.ref_dw, b.ref_dbias, b.dout, b.inp, b.w, c->N, c->C,
                            c->H, c->W, c->K, c->R, c->S, c->stride, c->pad);
        err = tu_max_rel_err(b.dinp, b.ref_dinp, b.n_inp, 1e-4, 1e-4);
        TU_CHECKF(err <= 1.0, "case %zu dinp: %.3g x tolerance", t, err);
        err = tu_max_rel_err(b.dw, b.ref_dw, b.n_w, 1e-4, 1e-4);
        TU_CHECKF(err <= 1.0, "case %zu dw: %.3g x tolerance", t, err);
        err = tu_max_rel_err(b.dbias, b.ref_dbias, (size_t)c->K, 1e-4, 1e-4);
        TU_CHECKF(err <= 1.0, "case %zu dbias: %.3g x tolerance", t, err);
        bufs_free(&b);
    }
}

/* Backward twice onto gradients prefilled with 0.25 gives 0.25 + 2*grad; a NULL
 * gradient is skipped without disturbing the others (dinp alone takes the path
 * that never runs im2col). */
static void test_conv_backward_accumulates_and_skips(void)
{
    const size_t picks[] = { 0, 2, 6, 9, 16, 18 };
    for (size_t q = 0; q < sizeof picks / sizeof picks[0]; q++) {
        const conv_case *c = &CASES[picks[q]];
        conv_bufs b;
        bufs_make(&b, c, 200 + q);
        ref_conv2d_backward(b.ref_dinp, b.ref_dw, b.ref_dbias, b.dout, b.inp, b.w, c->N, c->C,
                            c->H, c->W, c->K, c->R, c->S, c->stride, c->pad);
        float *want_inp = ms_malloc(b.n_inp * sizeof(float));
        float *want_w = ms_malloc(b.n_w * sizeof(float));
        float *want_b = ms_malloc((size_t)c->K * sizeof(float));
        for (size_t i = 0; i < b.n_inp; i++) want_inp[i] = 0.25f + 2 * b.ref_dinp[i];
        for (size_t i = 0; i < b.n_w; i++) want_w[i] = 0.25f + 2 * b.ref_dw[i];
        for (int k = 0; k < c->K; k++) want_b[k] = 0.25f + 2 * b.ref_dbias[k];

        fill(b.dinp, b.n_inp, 0.25f);
        fill(b.dw, b.n_w, 0.25f);
        fill(b.dbias, (size_t)c->K, 0.25f);
        for (int rep = 0; rep < 2; rep++)
            conv2d_backward(&b.cs, b.dinp, b.dw, b.dbias, b.col, b.dout, b.inp, b.w);
        TU_ALLCLOSE(b.dinp, want_inp, b.n_inp, 1e-4, 1e-4);
        TU_ALLCLOSE(b.dw, want_w, b.n_w, 1e-4, 1e-4);
        TU_ALLCLOSE(b.dbias, want_b, (size_t)c->K, 1e-4, 1e-4);

        /* dinp only */
        fill(b.dinp, b.n_inp, 0.0f);
        conv2d_backward(&b.cs, b.dinp, NULL, NULL, b.col, b.dout, b.inp, b.w);
        TU_ALLCLOSE(b.dinp, b.ref_dinp, b.n_inp, 1e-4, 1e-4);
        /* dw only */
        fill(b.dw, b.n_w, 0.0f);
        conv2d_backward(&b.cs, NULL, b.dw, NULL, b.col, b.dout, b.inp, b.w);
        TU_ALLCLOSE(b.dw, b.ref_dw, b.n_w, 1e-4, 1e-4);
        /* dbias only: needs no workspace at all */
        fill(b.dbias, (size_t)c->K, 0.0f);
        conv2d_backward(&b.cs, NULL, NULL, b.dbias, NULL, b.dout, b.inp, b.w);
        TU_ALLCLOSE(b.dbias, b.ref_dbias, (size_t)c->K, 1e-4, 1e-4);
        free(want_inp); free(want_w); free(want_b);
        bufs_free(&b);
    }
}

/* col2im_add is the adjoint (transpose) of im2col: <col2im(y), x> == <y, im2col(x)>
 * for any x (C,H,W) and y (CRS, OHW). */
static void test_im2col_col2im_adjoint(void)
{
    for (size_t t = 0; t < N_CASES; t++) {
        const conv_case *c = &CASES[t];
        ms_conv_shape cs;
        CHECK(conv_shape_make(&cs, 1, c->C, c->H, c->W, c->K, c->R, c->S, c->stride, c->pad) == 0);
        const size_t n_x = (size_t)c->C * c->H * c->W;
        const size_t n_col = (size_t)c->C * c->R * c->S * cs.OH * cs.OW;
        float *x = ms_malloc(n_x * sizeof(float)), *gx = ms_calloc(n_x, sizeof(float));
        float *y = ms_malloc(n_col * sizeof(float)), *col = ms_malloc(n_col * sizeof(float));
        tu_fill_normal(x, n_x, 300 + t, 1.0f);
        tu_fill_normal(y, n_col, 400 + t, 1.0f);
        im2col(col, x, &cs);
        col2im_add(gx, y, &cs);
        double lhs = 0, rhs = 0, mag = 0;
        for (size_t i = 0; i < n_x; i++) lhs += (double)gx[i] * x[i];
        for (size_t i = 0; i < n_col; i++) {
            rhs += (double)y[i] * col[i];
            mag += fabs((double)y[i] * col[i]);
        }
        TU_CHECKF(fabs(lhs - rhs) <= 1e-5 * (1 + mag), "case %zu: %.9g vs %.9g", t, lhs, rhs);
        free(x); free(gx); free(y); free(col);
    }
}

/* Exact im2col of a 1-channel 3x3 image, 2x2 kernel, stride 1, pad 1 (OH = OW = 4):
 * row (r,s) holds inp[oh-1+r][ow-1+s] or 0. */
static void test_im2col_exact(void)
{
    const float x[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
    ms_conv_shape cs;
    CHECK(conv_shape_make(&cs, 1, 1, 3, 3, 1, 2, 2, 1, 1) == 0);
    float col[4 * 16];
    im2col(col, x, &cs);
    const float want_r0s0[16] = { 0, 0, 0, 0, 0, 1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9 };
    const float want_r1s1[16] = { 1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9, 0, 0, 0, 0, 0 };
    TU_ALLCLOSE(col, want_r0s0, 16, 1e-6, 0); /* exact; atol 0 would divide 0 by 0 */
    TU_ALLCLOSE(col + 3 * 16, want_r1s1, 16, 1e-6, 0);
    /* stride 2, pad 0 on a 1x5 row with a 1x3 kernel: OW = 2, reads columns {0,2}, {1,3}, {2,4} */
    const float row[5] = { 10, 11, 12, 13, 14 };
    CHECK(conv_shape_make(&cs, 1, 1, 1, 5, 1, 1, 3, 2, 0) == 0);
    float col2[3 * 2];
    im2col(col2, row, &cs);
    const float want2[6] = { 10, 12, 11, 13, 12, 14 };
    TU_ALLCLOSE(col2, want2, 6, 1e-6, 0);
}

/* max |x - ref| / max |ref|: the error relative to the output's scale. */
static double normwise_err(const float *x, const float *ref, size_t n)
{
    double e = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)x[i] - ref[i]), a = fabs((double)ref[i]);
        if (d > e) e = d;
        if (a > m) m = a;
    }
    return m > 0 ? e / m : e;
}

/* The accuracy of F(2x2,3x3) against the direct sum, beside im2col + GEMM's, on a
 * layer of the reference encoder's shape (32 -> 32 channels, 16x16, 4 images).
 * Normwise errors measured here (max |x - ref| / max |ref|, printed by the test):
 * Winograd forward 2.8e-7, dinp 2.6e-7, dw 6.9e-7; im2col + GEMM 6.2e-7, 7.6e-7,
 * 5.2e-7. At the points 0, 1, -1 the transforms only add and halve, so F(2x2,3x3)
 * stays at float rounding. Bound: 2e-6 for each. */
static void test_winograd_accuracy(void)
{
    const conv_case c = { 4, 32, 16, 16, 32, 3, 3, 1, 1, 0 };
    conv_bufs b;
    bufs_make(&b, &c, 77);
    ref_conv2d_forward(b.ref_out, b.inp, b.w, NULL, c.N, c.C, c.H, c.W, c.K, 3, 3, 1, 1);
    ref_conv2d_backward(b.ref_dinp, b.ref_dw, b.ref_dbias, b.dout, b.inp, b.w, c.N, c.C, c.H, c.W, c.K, 3, 3, 1, 1);
    static const char *algos[] = { "gemm", "winograd" };
    for (int a = 0; a < 2; a++) {
        CHECK(conv_algo_select(algos[a]) == MS_OK);
        conv2d_forward(&b.cs, b.out, b.col, b.inp, b.w, NULL);
        fill(b.dinp, b.n_inp, 0.0f);
        fill(b.dw, b.n_w, 0.0f);
        conv2d_backward(&b.cs, b.dinp, b.dw, NULL, b.col, b.dout, b.inp, b.w);
        const double ef = normwise_err(b.out, b.ref_out, b.n_out), ei = normwise_err(b.dinp, b.ref_dinp, b.n_inp),
                     ew = normwise_err(b.dw, b.ref_dw, b.n_w);
        printf("  %-8s normwise error: forward %.2g, dinp %.2g, dw %.2g\n", algos[a], ef, ei, ew);
        TU_CHECKF(ef <= 2e-6 && ei <= 2e-6 && ew <= 2e-6, "%s: %.3g %.3g %.3g", algos[a], ef, ei, ew);
    }
    CHECK(conv_algo_select("winograd") == MS_OK);
    bufs_free(&b);
}

/* Both algorithms of the 3x3 stride-1 pad-1 cases (the rest is the same code either way). */
static void test_conv_vs_reference_both_algorithms(void)
{
    static const char *algos[] = { "gemm", "winograd" };
    for (int a = 0; a < 2; a++) {
        TU_CHECK(conv_algo_select(algos[a]) == MS_OK && strcmp(conv_algo_name(), algos[a]) == 0);
        test_conv_vs_reference();
        test_conv_backward_accumulates_and_skips();
    }
    TU_CHECK(conv_algo_select("direct") == MS_ERR_INPUT);
    TU_CHECKF(strcmp(ms_last_error(), "MEDSSL_CONV=direct: expected winograd or gemm") == 0, "'%s'", ms_last_error());
    TU_CHECK(conv_algo_select(NULL) == MS_OK && strcmp(conv_algo_name(), "winograd") == 0);
}

/* The kernels this run exercises: MEDSSL_NO_AVX2=1 (ctest's test_conv_baseline) must give the
 * baseline builds, which a CPU without AVX2 runs. */
static void test_kernel_isa(void)
{
    const char *off = getenv("MEDSSL_NO_AVX2");
    printf("  kernels: %s\n", parallel_kernels_isa());
    if (off && strcmp(off, "1") == 0) TU_CHECK(strcmp(parallel_kernels_isa(), "baseline") == 0);
}

int main(void)
{
    TU_RUN(test_kernel_isa);
    TU_RUN(test_conv_shape);
    TU_RUN(test_im2col_exact);
    TU_RUN(test_im2col_col2im_adjoint);
    TU_RUN(test_conv_vs_reference_both_algorithms);
    TU_RUN(test_winograd_accuracy);
    return tu_summary();
}
