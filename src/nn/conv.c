/* conv — 2-D convolution as im2col + GEMM over groups of images (see include/medssl/conv.h).
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
#include "medssl/conv.h"
#include "medssl/common.h"
#include "medssl/parallel.h"
#include "vec.h"
#include "winograd.h"

#include <limits.h>
#include <string.h>

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

static int conv_winograd_on = 1;

int conv_algo_select(const char *name)
{
    if (!name || !*name) return MS_OK;
    if (strcmp(name, "winograd") == 0 || strcmp(name, "gemm") == 0) {
        conv_winograd_on = name[0] == 'w';
        return MS_OK;
    }
    return MS_FAIL(MS_ERR_INPUT, "MEDSSL_CONV=%s: expected winograd or gemm", name);
}

const char *conv_algo_name(void) { return conv_winograd_on ? "winograd" : "gemm"; }

static int conv_winograd_fits(const ms_conv_shape *cs)
{
    return wino_shape_fits(cs) && cs->C >= CONV_WINO_MIN_CHANNELS && cs->K >= CONV_WINO_MIN_CHANNELS;
}

static int conv_uses_winograd(const ms_conv_shape *cs) { return conv_winograd_on && conv_winograd_fits(cs); }

/* 1x1 kernel, stride 1, no padding: im2col is the identity. */
static int conv_is_pointwise(const ms_conv_shape *cs)
{
    return cs->R == 1 && cs->S == 1 && cs->stride == 1 && cs->pad == 0;
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

/* Stride 1 with "same" output width (OW == W, e.g. 3x3 pad 1): the im2col row
 * (c, r, s) is the input plane shifted by d = (r-pad)*W + (s-pad) in flat
 * index, except where the kernel column falls into the left/right padding
 * (those entries wrap to the neighbouring row and are zeroed afterwards). So
 * each row is one memcpy plus a strided fix-up, instead of one memcpy per
 * output row: this matters for the 8- and 16-pixel-wide maps of late stages. */
static int conv_is_same_stride1(const ms_conv_shape *cs)
{
    return cs->stride == 1 && cs->OW == cs->W && cs->OH == cs->H;
}

/* Zeroes, in every output row oh of [oh_lo, oh_hi), the columns outside [ow_lo, ow_hi). */
static void zero_pad_columns(float *crow, int W, int oh_lo, int oh_hi, int ow_lo, int ow_hi)
{
    for (int oh = oh_lo; oh < oh_hi; oh++) {
        float *row = crow + (size_t)oh * W;
        for (int ow = 0; ow < ow_lo; ow++) row[ow] = 0.0f;
        for (int ow = ow_hi; ow < W; ow++) row[ow] = 0.0f;
    }
}

/* For kernel tap (r, s) of a same-width stride-1 conv: the output rows
 * [oh_lo, oh_hi) and columns [ow_lo, ow_hi) that read the image (not padding),
 * the flat shift d (output j reads input j + d), and the flat output span
 * [j_lo, j_hi) of the valid rows, clamped so that j + d stays inside the plane. */
typedef struct {
    int oh_lo, oh_hi, ow_lo, ow_hi;
    long d, j_lo, j_hi;
} same_tap;

static same_tap same_tap_of(const ms_conv_shape *cs, int r, int s)
{
    const int H = cs->H, W = cs->W, pad = cs->pad;
    const long HW = (long)H * W;
    same_tap t;
    conv_valid_range(r, pad, 1, H, H, &t.oh_lo, &t.oh_hi);
    conv_valid_range(s, pad, 1, W, W, &t.ow_lo, &t.ow_hi);
    t.d = (long)(r - pad) * W + (s - pad);
    t.j_lo = (long)t.oh_lo * W;
    t.j_hi = (long)t.oh_hi * W;
    if (t.j_lo + t.d < 0) t.j_lo = -t.d;
    if (t.j_hi + t.d > HW) t.j_hi = HW - t.d;
    return t;
}

static void im2col_same(float *restrict col, size_t ldcol, const float *restrict inp,
                        const ms_conv_shape *cs)
{
    const int C = cs->C, H = cs->H, W = cs->W, R = cs->R, S = cs->S;
    const long HW = (long)H * W;
    PARALLEL_FOR((size_t)C * R * S * HW)
    for (int c = 0; c < C; c++) {
        const float *plane = inp + (size_t)c * HW; /* (H,W) */
        for (int r = 0; r < R; r++)
            for (int s = 0; s < S; s++) {
                float *crow = col + ((size_t)(c * R + r) * S + s) * ldcol; /* (H,W) */
                const same_tap t = same_tap_of(cs, r, s);
                memset(crow, 0, (size_t)t.oh_lo * W * sizeof(float));
                memset(crow + (size_t)t.oh_hi * W, 0, (size_t)(H - t.oh_hi) * W * sizeof(float));
                if (t.j_hi > t.j_lo)
                    memcpy(crow + t.j_lo, plane + t.j_lo + t.d, (size_t)(t.j_hi - t.j_lo) * sizeof(float));
                zero_pad_columns(crow, W, t.oh_lo, t.oh_hi, t.ow_lo, t.ow_hi);
            }
    }
}


/* col (CRS, ldcol) <- inp (C,H,W): row (c,r,s) of this image occupies
 * col[row*ldcol .. row*ldcol + OHW). ldcol >= OHW lets several images share one
 * column matrix side by side. */
static void im2col_ld(float *restrict col, size_t ldcol, const float *restrict inp,
                      const ms_conv_shape *cs)
{
    const int C = cs->C, H = cs->H, W = cs->W, R = cs->R, S = cs->S;
    const int stride = cs->stride, pad = cs->pad, OH = cs->OH, OW = cs->OW;
    if (conv_is_same_stride1(cs)) {
        im2col_same(col, ldcol, inp, cs);
        return;
    }
    for (int c = 0; c < C; c++) {
        const float *plane = inp + (size_t)c * H * W; /* (H,W) */
        for (int r = 0; r < R; r++) {
            int oh_lo, oh_hi;
            conv_valid_range(r, pad, stride, H, OH, &oh_lo, &oh_hi);
            for (int s = 0; s < S; s++) {
                float *crow = col + ((size_t)(c * R + r) * S + s) * ldcol; /* (OH,OW) */
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

/* The transpose of im2col, written directly: colT (OHW, ldrow) row
 * p = oh*OW + ow holds pixel p's column, colT[p][(c*R + r)*S + s] =
 * inp[c][oh*stride - pad + r][ow*stride - pad + s] (0 in the padding). With it
 * the weight gradient dw (K, CRS) += dy (K, OHW) * colT (OHW, CRS) is a plain
 * (NN) product, which the GEMM libraries run faster than dy * col^T (NT):
 * measured with oneDNN on this encoder's shapes, 129-183 against 68-169
 * GFLOP/s on one core. */
static void im2row_ld(float *restrict colT, size_t ldrow, const float *restrict inp, const ms_conv_shape *cs)
{
    const int C = cs->C, H = cs->H, W = cs->W, R = cs->R, S = cs->S;
    const int stride = cs->stride, pad = cs->pad, OH = cs->OH, OW = cs->OW;
    PARALLEL_FOR((size_t)OH * OW * C * R * S)
    for (int oh = 0; oh < OH; oh++) {
        const int ih0 = oh * stride - pad;
        for (int ow = 0; ow < OW; ow++) {
            float *row = colT + ((size_t)oh * OW + ow) * ldrow;
            const int iw0 = ow * stride - pad;
            if (ih0 >= 0 && ih0 + R <= H && iw0 >= 0 && iw0 + S <= W) { /* the window is inside the image */
                const float *src = inp + (size_t)ih0 * W + iw0;
                if (R == 3 && S == 3) {
                    for (int c = 0; c < C; c++, src += (size_t)H * W, row += 9) {
                        row[0] = src[0], row[1] = src[1], row[2] = src[2];
                        row[3] = src[W], row[4] = src[W + 1], row[5] = src[W + 2];
                        row[6] = src[2 * W], row[7] = src[2 * W + 1], row[8] = src[2 * W + 2];
                    }
                } else {
                    for (int c = 0; c < C; c++, src += (size_t)H * W)
                        for (int r = 0; r < R; r++)
                            for (int q = 0; q < S; q++) *row++ = src[(size_t)r * W + q];
                }
                continue;
            }
            for (int c = 0; c < C; c++) {
                const float *plane = inp + (size_t)c * H * W;
                for (int r = 0; r < R; r++) {
                    const int ih = ih0 + r, in_h = ih >= 0 && ih < H;
                    for (int q = 0; q < S; q++) {
                        const int iw = iw0 + q;
                        *row++ = in_h && iw >= 0 && iw < W ? plane[(size_t)ih * W + iw] : 0.0f;
                    }
                }
            }
        }
    }
}

void im2col(float *col, const float *inp, const ms_conv_shape *cs)
{
    im2col_ld(col, (size_t)cs->OH * cs->OW, inp, cs);
}

/* dinp (C,H,W) += col2im(dcol (CRS, ldcol)): inverts im2col's copies, so every
 * input pixel receives the sum over the (c,r,s,oh,ow) entries that read it. */
static void col2im_add_ld(float *restrict dinp, const float *restrict dcol, size_t ldcol,
                          const ms_conv_shape *cs)
{
    const int C = cs->C, H = cs->H, W = cs->W, R = cs->R, S = cs->S;
    const int stride = cs->stride, pad = cs->pad, OH = cs->OH, OW = cs->OW;
    for (int c = 0; c < C; c++) {
        float *plane = dinp + (size_t)c * H * W; /* (H,W) */
        for (int r = 0; r < R; r++) {
            int oh_lo, oh_hi;
            conv_valid_range(r, pad, stride, H, OH, &oh_lo, &oh_hi);
            for (int s = 0; s < S; s++) {
                const float *crow = dcol + ((size_t)(c * R + r) * S + s) * ldcol; /* (OH,OW) */
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

void col2im_add(float *dinp, const float *dcol, const ms_conv_shape *cs)
{
    col2im_add_ld(dinp, dcol, (size_t)cs->OH * cs->OW, cs);
}


/* Images per GEMM. Late stages have few output pixels per image (8x8 = 64
 * columns), which makes one GEMM per image thin and slow (and the dW GEMM
 * re-reads all of dW for every image); so G images share one column matrix
 * (CRS, G*OHW), with G chosen to give about CONV_TARGET_COLS columns. */
#define CONV_TARGET_COLS 4096

static int conv_group(const ms_conv_shape *cs)
{
    if (conv_is_pointwise(cs)) return 1;
    int OHW = cs->OH * cs->OW;
    int G = OHW >= CONV_TARGET_COLS ? 1 : CONV_TARGET_COLS / OHW;
    return G < cs->N ? G : cs->N;
}

/* The workspace of one conv call, carved from the caller's `col` buffer:
 *   col   (rows, G*OHW)   im2col of a group of G images (of the input, or in
 *                         backward of the output gradient)
 *   y     (chans, G*OHW)  a GEMM result in grouped layout, when G > 1
 *   wflip (C, K*R*S)      backward of a same-width conv: the weights transposed
 *                         and rotated by 180 degrees
 * A same-width stride-1 conv computes its input gradient as a forward
 * convolution of dout with wflip (same padding): one im2col of dout and one
 * GEMM accumulating into dinp, instead of a (CRS, OHW) GEMM result scattered
 * back by col2im. */
typedef struct {
    size_t rows, chans, wflip;
} conv_ws;

static conv_ws conv_workspace(const ms_conv_shape *cs)
{
    const size_t CRS = (size_t)cs->C * cs->R * cs->S, KRS = (size_t)cs->K * cs->R * cs->S;
    conv_ws ws = { CRS, (size_t)cs->K, 0 };
    if (conv_is_same_stride1(cs)) {
        if (KRS > ws.rows) ws.rows = KRS;
        if ((size_t)cs->C > ws.chans) ws.chans = (size_t)cs->C;
        ws.wflip = (size_t)cs->C * KRS;
    }
    return ws;
}

size_t conv_col_size(const ms_conv_shape *cs)
{
    if (conv_is_pointwise(cs)) return 0;
    const size_t G = (size_t)conv_group(cs), OHW = (size_t)cs->OH * cs->OW;
    const conv_ws ws = conv_workspace(cs);
    const size_t gemm = ws.rows * G * OHW + (G > 1 ? ws.chans * G * OHW : 0) + ws.wflip;
    const size_t wino = conv_winograd_fits(cs) ? wino_ws_size(cs) : 0;
    return gemm > wino ? gemm : wino;
}

/* Moves images between NCHW (each image (K, OHW) contiguous) and the grouped
 * GEMM layout y (K, G*OHW), where image g occupies columns [g*OHW, (g+1)*OHW). */
static void scatter_group(float *restrict out, const float *restrict y, int G, int K_out, int OHW)
{
    PARALLEL_FOR((size_t)G * K_out * OHW)
    for (int g = 0; g < G; g++)
        for (int k = 0; k < K_out; k++)
            memcpy(out + ((size_t)g * K_out + k) * OHW, y + (size_t)k * G * OHW + (size_t)g * OHW,
                   (size_t)OHW * sizeof(float));
}

static void scatter_add_group(float *restrict out, const float *restrict y, int G, int K_out, int OHW)
{
    PARALLEL_FOR((size_t)G * K_out * OHW)
    for (int g = 0; g < G; g++)
        for (int k = 0; k < K_out; k++)
            vec_add_into(out + ((size_t)g * K_out + k) * OHW, y + (size_t)k * G * OHW + (size_t)g * OHW,
                         (size_t)OHW);
}

static void gather_group(float *restrict y, const float *restrict dout, int G, int K_out, int OHW)
{
    PARALLEL_FOR((size_t)G * K_out * OHW)
    for (int g = 0; g < G; g++)
        for (int k = 0; k < K_out; k++)
            memcpy(y + (size_t)k * G * OHW + (size_t)g * OHW, dout + ((size_t)g * K_out + k) * OHW,
                   (size_t)OHW * sizeof(float));
}

/* out (N,K,OH,OW) = conv(inp (N,C,H,W), w (K,CRS)) + bias (K) (NULL = none);
 * col: conv_col_size(cs) floats of workspace, unused (may be NULL) on the 1x1
 * fast path. Per group of G images starting at n0:
 *   col (CRS, G*OHW) = [im2col(inp_n0) ... im2col(inp_n0+G-1)]
 *   y (K, G*OHW)     = w (K, CRS) * col         (y = out_n0 itself when G == 1) */
void conv2d_forward(const ms_conv_shape *cs, float *out, float *col, const float *inp,
                    const float *w, const float *bias)
{
    CHECK(cs->OH > 0 && cs->OW > 0);
    const int pointwise = conv_is_pointwise(cs);
    CHECK(pointwise || col != NULL);
    if (conv_uses_winograd(cs)) {
        wino_forward(cs, out, col, inp, w, bias);
        return;
    }
    const int K_out = cs->K, CRS = cs->C * cs->R * cs->S, OHW = cs->OH * cs->OW;
    const int G_max = conv_group(cs);
    const size_t in_image = (size_t)cs->C * cs->H * cs->W, out_image = (size_t)K_out * OHW;
    float *y_buf = col + conv_workspace(cs).rows * G_max * OHW; /* (K, G*OHW), used when G > 1 */
    for (int n0 = 0; n0 < cs->N; n0 += G_max) {
        const int G = cs->N - n0 < G_max ? cs->N - n0 : G_max, cols_n = G * OHW;
        float *out_g = out + (size_t)n0 * out_image; /* (G, K, OHW) */
        const float *cols = inp + (size_t)n0 * in_image; /* (CRS, OHW) on the fast path */
        if (!pointwise) {
            for (int g = 0; g < G; g++)
                im2col_ld(col + (size_t)g * OHW, (size_t)cols_n, inp + (size_t)(n0 + g) * in_image, cs);
            cols = col;
        }
        float *y = G == 1 ? out_g : y_buf;
        /* y (K, G*OHW) = w (K, CRS) * cols (CRS, G*OHW) */
        parallel_sgemm(0, 0, K_out, cols_n, CRS, 1.0f, w, CRS,
                    cols, cols_n, 0.0f, y, cols_n);
        if (G > 1) scatter_group(out_g, y, G, K_out, OHW);
        if (bias) {
            for (int g = 0; g < G; g++)
                for (int k = 0; k < K_out; k++) {
                    float *row = out_g + ((size_t)g * K_out + k) * OHW; /* (OHW) */
                    const float b = bias[k];
                    VEC_FOR(i, OHW, row[i] += b);
                }
        }
    }
}

/* Inverts, per group of G images,  y (K, G*OHW) = w (K,CRS) * col (CRS, G*OHW) + bias:
 *   dbias (K)   += sum over OHW of dout_n, for every image n
 *   dw (K,CRS)  += dy (K, G*OHW) * colT (G*OHW, CRS)      (colT = col^T, by im2row)
 *   dinp        += for same-width stride-1 convs: conv(dout, wflip) with same padding,
 *                  i.e. wflip (C, K*R*S) * im2col(dout) (K*R*S, G*OHW) straight into dinp;
 *                  otherwise col2im(w^T (CRS,K) * dy (K, G*OHW))
 * where dy is dout regrouped (dout_n itself when G == 1).
 * dinp (N,C,H,W), dw (K,CRS), dbias (K) may each be NULL; dout (N,K,OH,OW);
 * inp (N,C,H,W); col: workspace as in forward (may be NULL on the 1x1 fast path,
 * where dinp_n (C,HW) += w^T * dout_n is one GEMM with beta = 1). */
void conv2d_backward(const ms_conv_shape *cs, float *dinp, float *dw, float *dbias, float *col,
                     const float *dout, const float *inp, const float *w)
{
    CHECK(cs->OH > 0 && cs->OW > 0);
    const int pointwise = conv_is_pointwise(cs);
    CHECK(pointwise || col != NULL || (dw == NULL && dinp == NULL));
    const int K_out = cs->K, CRS = cs->C * cs->R * cs->S, OHW = cs->OH * cs->OW;
    const int G_max = conv_group(cs);
    const size_t in_image = (size_t)cs->C * cs->H * cs->W, out_image = (size_t)K_out * OHW;
    if (dbias)
        for (int n = 0; n < cs->N; n++)
            for (int k = 0; k < K_out; k++)
                dbias[k] += (float)vec_sum(dout + n * out_image + (size_t)k * OHW, (size_t)OHW);
    if (!dw && !dinp) return;
    if (conv_uses_winograd(cs)) {
        wino_backward(cs, dinp, dw, col, dout, inp, w);
        return;
    }
    if (pointwise) {
        for (int n = 0; n < cs->N; n++) {
            const float *inp_n = inp + (size_t)n * in_image;    /* (C, HW) */
            const float *dout_n = dout + (size_t)n * out_image; /* (K, HW) */
            /* dw (K, C) += dout_n (K, HW) * inp_n^T (HW, C) */
            if (dw)
                parallel_sgemm(0, 1, K_out, CRS, OHW, 1.0f, dout_n,
                            OHW, inp_n, OHW, 1.0f, dw, CRS);
            /* dinp_n (C, HW) += w^T (C, K) * dout_n (K, HW) */
            if (dinp)
                parallel_sgemm(1, 0, CRS, OHW, K_out, 1.0f, w, CRS,
                            dout_n, OHW, 1.0f, dinp + (size_t)n * in_image, OHW);
        }
        return;
    }
    const conv_ws ws = conv_workspace(cs);
    float *y_buf = col + ws.rows * G_max * OHW;            /* (chans, G*OHW), used when G > 1 */
    float *wflip = y_buf + (G_max > 1 ? ws.chans * G_max * OHW : 0); /* (C, K*R*S) */
    const int dgrad_conv = dinp && conv_is_same_stride1(cs);
    const int C = cs->C, R = cs->R, S = cs->S, KRS = K_out * R * S;
    ms_conv_shape cs_t; /* dinp = conv(dout, wflip): K_out channels in, C out, same padding */
    if (dgrad_conv) {
        conv_shape_make(&cs_t, cs->N, K_out, cs->OH, cs->OW, C, R, S, 1, cs->pad);
        /* wflip[c][(k*R + r)*S + s] = w[k][c][R-1-r][S-1-s] */
        for (int c = 0; c < C; c++)
            for (int k = 0; k < K_out; k++)
                for (int r = 0; r < R; r++)
                    for (int q = 0; q < S; q++)
                        wflip[(size_t)c * KRS + ((size_t)k * R + r) * S + q] =
                            w[(((size_t)k * C + c) * R + (R - 1 - r)) * S + (S - 1 - q)];
    }
    for (int n0 = 0; n0 < cs->N; n0 += G_max) {
        const int G = cs->N - n0 < G_max ? cs->N - n0 : G_max, cols_n = G * OHW;
        const float *dy = dout + (size_t)n0 * out_image; /* (K, G*OHW) */
        if (dw) {
            if (G > 1) {
                gather_group(y_buf, dy, G, K_out, OHW);
                dy = y_buf;
            }
            for (int g = 0; g < G; g++)
                im2row_ld(col + (size_t)g * OHW * CRS, (size_t)CRS, inp + (size_t)(n0 + g) * in_image, cs);
            /* dw (K, CRS) += dy (K, G*OHW) * colT (G*OHW, CRS) */
            parallel_sgemm(0, 0, K_out, CRS, cols_n, 1.0f, dy, cols_n, col, CRS, 1.0f, dw, CRS);
        }
        if (!dinp) continue;
        float *dinp_g = dinp + (size_t)n0 * in_image; /* (G, C, H, W) */
        if (dgrad_conv) {
            /* dinp (C, G*HW) += wflip (C, K*R*S) * im2col(dout) (K*R*S, G*HW) */
            for (int g = 0; g < G; g++)
                im2col_ld(col + (size_t)g * OHW, (size_t)cols_n, dout + (size_t)(n0 + g) * out_image, &cs_t);
            if (G == 1) {
                parallel_sgemm(0, 0, C, OHW, KRS, 1.0f, wflip, KRS, col, OHW, 1.0f, dinp_g, OHW);
            } else {
                parallel_sgemm(0, 0, C, cols_n, KRS, 1.0f, wflip, KRS, col, cols_n, 0.0f, y_buf, cols_n);
                scatter_add_group(dinp_g, y_buf, G, C, OHW);
            }
            continue;
        }
        if (G > 1 && !dw) {
            gather_group(y_buf, dy, G, K_out, OHW);
            dy = y_buf;
        }
        /* dcol (CRS, G*OHW) = w^T (CRS, K) * dy (K, G*OHW), into the col workspace */
        parallel_sgemm(1, 0, CRS, cols_n, K_out, 1.0f, w, CRS, dy, cols_n, 0.0f, col, cols_n);
        for (int g = 0; g < G; g++)
            col2im_add_ld(dinp_g + (size_t)g * in_image, col + (size_t)g * OHW, (size_t)cols_n, cs);
    }
}
