/* conv — 2-D convolution, NCHW float32: im2col + GEMM (parallel_sgemm:
 * oneDNN or OpenBLAS), several images per GEMM on small maps, 1x1 stride-1
 * pad-0 without im2col, the input gradient of same-width stride-1 convs as a
 * forward convolution with the rotated weights, the weight gradient from the
 * transposed patches (im2row). src/nn/conv.c; the direct seven-loop
 * reference lives in tests/util/reference.c.
 *
 * Dimension legend:
 *   N  batch size          C  input channels      H, W   input height, width
 *   K  output channels     R, S kernel height, width
 *   OH, OW output height, width                   HW = H*W, OHW = OH*OW
 *   CRS = C*R*S (rows of the im2col matrix)
 *
 * Conventions (those of medssl/layers.h): plain functions with explicit
 * buffers, nothing allocates; forward overwrites `out`; backward ACCUMULATES
 * (+=) into every gradient it is given; a NULL gradient means "not needed".
 */
#ifndef MEDSSL_CONV_H
#define MEDSSL_CONV_H

#include <stddef.h>

typedef struct {
    int N, C, H, W;      /* input */
    int K, R, S;         /* filters */
    int stride, pad;     /* same for both axes */
    int OH, OW;          /* output, from conv_shape_make */
} ms_conv_shape;

/* The algorithm for 3x3, stride-1, pad-1 convolutions with at least
 * CONV_WINO_MIN_CHANNELS input and output channels:
 *   "winograd" (the default): Winograd's F(2x2, 3x3), src/nn/winograd.h;
 *   "gemm": im2col + GEMM, as every other convolution.
 * MEDSSL_CONV=gemm|winograd chooses (medssl main reads it). NULL or "" keeps
 * the default; MS_ERR_INPUT for another name. Workspace sizes cover both, so
 * the choice may change between calls. */
#define CONV_WINO_MIN_CHANNELS 8
int conv_algo_select(const char *name);
/* "winograd" or "gemm": recorded with every run. */
const char *conv_algo_name(void);

/* Fills OH/OW: OH = (H + 2*pad - R) / stride + 1. Returns 0, or -1 if the
 * output would be empty. */
int conv_shape_make(ms_conv_shape *cs, int N, int C, int H, int W, int K, int R, int S,
                    int stride, int pad);
/* Floats of workspace conv2d_forward/backward need for this shape (0 for the 1x1 fast
 * path): a column matrix for a group of images, plus a GEMM output for regrouping. */
size_t conv_col_size(const ms_conv_shape *cs);

/* col (CRS, OHW) <- inp (C,H,W) of one image; zero padding. */
void im2col(float *col, const float *inp, const ms_conv_shape *cs);
/* dinp (C,H,W) += col2im(dcol (CRS, OHW)) for one image. */
void col2im_add(float *dinp, const float *dcol, const ms_conv_shape *cs);

/* out (N,K,OH,OW) = conv(inp (N,C,H,W), w (K,C,R,S)) + bias (K) or no bias if NULL.
 * col: workspace of conv_col_size(cs) floats (may be NULL for 1x1). */
void conv2d_forward(const ms_conv_shape *cs, float *out, float *col, const float *inp,
                    const float *w, const float *bias);
/* Inverts out = W * im2col(inp) + b:
 *   dw (K,CRS) += dout (K,OHW) * col^T ; dbias (K) += sum_OHW dout ;
 *   dinp += col2im(W^T * dout).
 * dinp, dw, dbias may each be NULL. col: workspace as in forward. */
void conv2d_backward(const ms_conv_shape *cs, float *dinp, float *dw, float *dbias, float *col,
                     const float *dout, const float *inp, const float *w);

#endif
