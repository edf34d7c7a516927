/* conv — 2-D convolution as im2col + one cblas_sgemm per image (see include/medssl/layers.h).
 *
 * Dimension legend:
 *   N  batch size          C  input channels      H, W    input height, width
 *   K  output channels     R, S kernel height, width
 *   OH, OW output height, width                   HW = H*W, OHW = OH*OW
 *   CRS = C*R*S: rows of the im2col matrix, row index (c*R + r)*S + s
 *
 * Per image n (row-major throughout):
 *   col (CRS, OHW)  = im2col(inp_n (C,H,W))
 *   out_n (K, OHW)  = w (K, CRS) * col + bias (K) broadcast over OHW
 * A 1x1, stride-1, pad-0 convolution has col == inp_n (C, HW) already, so it
 * skips im2col and hands the input straight to the GEMM ("fast path").
 *
 * Loops that GCC must vectorise are written with a fixed-width inner block
 * (VEC_FOR): at -O2, GCC 12's "very cheap" cost model leaves a plain loop with
 * an unknown trip count scalar, but vectorises a constant 8-iteration body.
 */
#include "medssl/layers.h"
#include "medssl/common.h"

#include <cblas.h>
#include <limits.h>
#include <string.h>

#define VW 8
/* for (size_t i = 0; i < n; i++) BODY, in blocks of VW (BODY must be elementwise in i). */
#define VEC_FOR(i, n, ...)                                                                 \
    do {                                                                                   \
        size_t i##_blk_ = 0, i##_n_ = (size_t)(n);                                         \
        for (; i##_blk_ + VW <= i##_n_; i##_blk_ += VW)                                    \
            for (size_t i = i##_blk_; i < i##_blk_ + VW; i++) { __VA_ARGS__; }             \
        for (size_t i = i##_blk_; i < i##_n_; i++) { __VA_ARGS__; }                        \
    } while (0)

int conv_shape_make(ms_conv_shape *cs, int N, int C, int H, int W, int K, int R, int S,
                    int stride, int pad)
{
    CHECK(N > 0 && C > 0 && H > 0 && W > 0 && K > 0 && R > 0 && S > 0);
    CHECK(stride > 0 && pad >= 0);
    memset(cs, 0, sizeof *cs);
    cs->N = N; cs->C = C; cs->H = H; cs->W = W;
    cs->K = K; cs->R = R; cs->S = S;
    cs->stride = stride; cs->pad = pad;
    if (H + 2 * pad < R || W + 2 * pad < S) return -1;
    cs->OH = (H + 2 * pad - R) / stride + 1;
    cs->OW = (W + 2 * pad - S) / stride + 1;
    /* The GEMM sizes are BLAS ints. */
    CHECK((long long)C * R * S <= INT_MAX && (long long)cs->OH * cs->OW <= INT_MAX);
    return 0;
}

/* 1x1 kernel, stride 1, no padding: im2col is the identity. */
static int conv_is_pointwise(const ms_conv_shape *cs)
{
    return cs->R == 1 && cs->S == 1 && cs->stride == 1 && cs->pad == 0;
}

size_t conv_col_size(const ms_conv_shape *cs)
{
    if (conv_is_pointwise(cs)) return 0;
    return (size_t)cs->C * cs->R * cs->S * (size_t)cs->OH * cs->OW;
}

/* Output columns ow in [*lo, *hi) read an in-bounds input column
 * iw = ow*stride - pad + s, i.e. 0 <= iw < W; the rest read zero padding.
 * The same function gives the valid output rows for a kernel row r. */
static void conv_valid_range(int s, int pad, int stride, int W, int OW, int *lo, int *hi)
{
    int first = pad - s > 0 ? (pad - s + stride - 1) / stride : 0;
    int last_iw = W - 1 + pad - s; /* ow*stride <= last_iw */
    int end = last_iw < 0 ? 0 : last_iw / stride + 1;
    if (end > OW) end = OW;
    if (first > end) first = end;
    *lo = first;
    *hi = end;
}

/* col (CRS, OHW) <- inp (C,H,W). */
void im2col(float *restrict col, const float *restrict inp, const ms_conv_shape *cs)
{
    const int C = cs->C, H = cs->H, W = cs->W, R = cs->R, S = cs->S;
    const int stride = cs->stride, pad = cs->pad, OH = cs->OH, OW = cs->OW;
    const size_t OHW = (size_t)OH * OW;
    for (int c = 0; c < C; c++) {
        const float *plane = inp + (size_t)c * H * W; /* (H,W) */
        for (int r = 0; r < R; r++) {
            int oh_lo, oh_hi;
            conv_valid_range(r, pad, stride, H, OH, &oh_lo, &oh_hi);
            for (int s = 0; s < S; s++) {
                float *crow = col + ((size_t)(c * R + r) * S + s) * OHW; /* (OH,OW) */
                int ow_lo, ow_hi;
                conv_valid_range(s, pad, stride, W, OW, &ow_lo, &ow_hi);
                /* Rows above and below the image are all padding. */
                memset(crow, 0, (size_t)oh_lo * OW * sizeof(float));
                memset(crow + (size_t)oh_hi * OW, 0, (size_t)(OH - oh_hi) * OW * sizeof(float));
                for (int oh = oh_lo; oh < oh_hi; oh++) {
                    float *dst = crow + (size_t)oh * OW;
                    const float *src = plane + (size_t)(oh * stride - pad + r) * W;
                    memset(dst, 0, (size_t)ow_lo * sizeof(float));
                    memset(dst + ow_hi, 0, (size_t)(OW - ow_hi) * sizeof(float));
                    if (ow_hi <= ow_lo) continue;
                    if (stride == 1) {
                        memcpy(dst + ow_lo, src + ow_lo - pad + s,
                               (size_t)(ow_hi - ow_lo) * sizeof(float));
                    } else {
                        for (int ow = ow_lo; ow < ow_hi; ow++)
                            dst[ow] = src[ow * stride - pad + s];
                    }
                }
            }
        }
    }
}

/* dinp (C,H,W) += col2im(dcol (CRS, OHW)): inverts im2col's copies, so every
 * input pixel receives the sum over the (c,r,s,oh,ow) entries that read it. */
void col2im_add(float *restrict dinp, const float *restrict dcol, const ms_conv_shape *cs)
{
    const int C = cs->C, H = cs->H, W = cs->W, R = cs->R, S = cs->S;
    const int stride = cs->stride, pad = cs->pad, OH = cs->OH, OW = cs->OW;
    const size_t OHW = (size_t)OH * OW;
    for (int c = 0; c < C; c++) {
        float *plane = dinp + (size_t)c * H * W; /* (H,W) */
        for (int r = 0; r < R; r++) {
            int oh_lo, oh_hi;
            conv_valid_range(r, pad, stride, H, OH, &oh_lo, &oh_hi);
            for (int s = 0; s < S; s++) {
                const float *crow = dcol + ((size_t)(c * R + r) * S + s) * OHW; /* (OH,OW) */
                int ow_lo, ow_hi;
                conv_valid_range(s, pad, stride, W, OW, &ow_lo, &ow_hi);
                if (ow_hi <= ow_lo) continue;
                for (int oh = oh_lo; oh < oh_hi; oh++) {
                    const float *src = crow + (size_t)oh * OW;
                    float *dst = plane + (size_t)(oh * stride - pad + r) * W;
                    if (stride == 1) {
                        float *d = dst + ow_lo - pad + s;
                        const float *g = src + ow_lo;
                        VEC_FOR(i, ow_hi - ow_lo, d[i] += g[i]);
                    } else {
                        for (int ow = ow_lo; ow < ow_hi; ow++)
                            dst[ow * stride - pad + s] += src[ow];
                    }
                }
            }
        }
    }
}

/* out (N,K,OH,OW) = conv(inp (N,C,H,W), w (K,CRS)) + bias (K) (NULL = none);
 * col (CRS, OHW) workspace, unused (may be NULL) on the 1x1 fast path. */
void conv2d_forward(const ms_conv_shape *cs, float *out, float *col, const float *inp,
                    const float *w, const float *bias)
{
    CHECK(cs->OH > 0 && cs->OW > 0);
    const int pointwise = conv_is_pointwise(cs);
    CHECK(pointwise || col != NULL);
    const int K_out = cs->K, CRS = cs->C * cs->R * cs->S, OHW = cs->OH * cs->OW;
    const size_t in_image = (size_t)cs->C * cs->H * cs->W, out_image = (size_t)K_out * OHW;
    for (int n = 0; n < cs->N; n++) {
        const float *inp_n = inp + (size_t)n * in_image; /* (C,H,W) */
        float *out_n = out + (size_t)n * out_image;      /* (K, OHW) */
        const float *cols = inp_n;                       /* (CRS, OHW) */
        if (!pointwise) {
            im2col(col, inp_n, cs);
            cols = col;
        }
        /* out_n (K, OHW) = w (K, CRS) * cols (CRS, OHW) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K_out, OHW, CRS, 1.0f, w, CRS,
                    cols, OHW, 0.0f, out_n, OHW);
        if (bias) {
            for (int k = 0; k < K_out; k++) {
                float *row = out_n + (size_t)k * OHW; /* (OHW) */
                const float b = bias[k];
                VEC_FOR(i, OHW, row[i] += b);
            }
        }
    }
}

/* Sum of n floats: VW float lanes per block of 1024, blocks added in double. */
static double sum_floats(const float *x, size_t n)
{
    double total = 0;
    size_t i = 0;
    while (i < n) {
        size_t end = n - i > 1024 ? i + 1024 : n;
        float lane[VW] = {0};
        for (; i + VW <= end; i += VW)
            for (int j = 0; j < VW; j++) lane[j] += x[i + j];
        float part = 0;
        for (; i < end; i++) part += x[i];
        for (int j = 0; j < VW; j++) part += lane[j];
        total += part;
    }
    return total;
}

/* Inverts, per image n,  out_n (K,OHW) = w (K,CRS) * col (CRS,OHW) + bias:
 *   dw (K,CRS)   += dout_n (K,OHW) * col^T (OHW,CRS)      (col recomputed by im2col)
 *   dbias (K)    += sum over OHW of dout_n
 *   dcol (CRS,OHW) = w^T (CRS,K) * dout_n (K,OHW);  dinp_n (C,H,W) += col2im(dcol)
 * dinp (N,C,H,W), dw (K,CRS), dbias (K) may each be NULL; dout (N,K,OH,OW);
 * inp (N,C,H,W); col (CRS, OHW) workspace (may be NULL on the 1x1 fast path, where
 * dinp_n (C,HW) += w^T * dout_n is one GEMM with beta = 1). */
void conv2d_backward(const ms_conv_shape *cs, float *dinp, float *dw, float *dbias, float *col,
                     const float *dout, const float *inp, const float *w)
{
    CHECK(cs->OH > 0 && cs->OW > 0);
    const int pointwise = conv_is_pointwise(cs);
    CHECK(pointwise || col != NULL || (dw == NULL && dinp == NULL));
    const int K_out = cs->K, CRS = cs->C * cs->R * cs->S, OHW = cs->OH * cs->OW;
    const size_t in_image = (size_t)cs->C * cs->H * cs->W, out_image = (size_t)K_out * OHW;
    for (int n = 0; n < cs->N; n++) {
        const float *inp_n = inp + (size_t)n * in_image;    /* (C,H,W) */
        const float *dout_n = dout + (size_t)n * out_image; /* (K, OHW) */
        if (dbias) {
            for (int k = 0; k < K_out; k++)
                dbias[k] += (float)sum_floats(dout_n + (size_t)k * OHW, (size_t)OHW);
        }
        if (dw) {
            const float *cols = inp_n; /* (CRS, OHW) */
            if (!pointwise) {
                im2col(col, inp_n, cs);
                cols = col;
            }
            /* dw (K, CRS) += dout_n (K, OHW) * cols^T (OHW, CRS) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, K_out, CRS, OHW, 1.0f, dout_n,
                        OHW, cols, OHW, 1.0f, dw, CRS);
        }
        if (dinp) {
            float *dinp_n = dinp + (size_t)n * in_image; /* (C,H,W) */
            if (pointwise) {
                /* dinp_n (C, HW) += w^T (C, K) * dout_n (K, HW) */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, CRS, OHW, K_out, 1.0f, w,
                            CRS, dout_n, OHW, 1.0f, dinp_n, OHW);
            } else {
                /* dcol (CRS, OHW) = w^T (CRS, K) * dout_n (K, OHW), into the col workspace */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, CRS, OHW, K_out, 1.0f, w,
                            CRS, dout_n, OHW, 0.0f, col, OHW);
                col2im_add(dinp_n, col, cs);
            }
        }
    }
}
