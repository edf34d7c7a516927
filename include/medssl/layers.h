/* layers — forward/backward pairs for the CNN operations, NCHW float32.
 *
 * Dimension legend (used in every shape comment below):
 *   N  batch size          C  input channels      H, W   input height, width
 *   K  output channels     R, S kernel height, width
 *   OH, OW output height, width                   HW = H*W, OHW = OH*OW
 *   CRS = C*R*S (rows of the im2col matrix)       I, O  linear in/out features
 *
 * Conventions:
 *   - Plain functions with explicit buffers; nothing allocates.
 *   - Forward overwrites `out`.
 *   - Backward ACCUMULATES (+=) into every gradient it is given: input
 *     gradients (dinp) and parameter gradients (dw, dbias, dgamma, dbeta).
 *     The caller zeroes them once per step. This makes fan-out (residual and
 *     skip connections) correct without special cases.
 *   - A NULL gradient pointer means "not needed": the work is skipped
 *     (e.g. dinp of the first layer, dw of a frozen layer).
 */
#ifndef MEDSSL_LAYERS_H
#define MEDSSL_LAYERS_H

#include <stddef.h>
#include <stdint.h>

/* ---- conv2d: im2col + cblas_sgemm; 1x1 stride-1 pad-0 skips im2col ---------------- */

typedef struct {
    int N, C, H, W;      /* input */
    int K, R, S;         /* filters */
    int stride, pad;     /* same for both axes */
    int OH, OW;          /* output, from conv_shape_make */
} ms_conv_shape;

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

/* ---- batchnorm2d -------------------------------------------------------------------- */

/* Training mode: normalise with the batch statistics over (N, H, W) per channel,
 * save mean (C) and rstd (C) = 1/sqrt(var_biased + eps) for backward, and update
 * running stats as PyTorch does:
 *   running_mean = (1-momentum)*running_mean + momentum*mean
 *   running_var  = (1-momentum)*running_var  + momentum*var_unbiased
 * out, inp (N,C,HW); gamma, beta, running_* (C). running_* may be NULL (no update). */
void bn2d_forward_train(float *out, float *mean, float *rstd, const float *inp,
                        const float *gamma, const float *beta, float *running_mean,
                        float *running_var, int N, int C, int HW, float momentum, float eps);
/* Eval mode: out = gamma * (inp - running_mean) / sqrt(running_var + eps) + beta. */
void bn2d_forward_eval(float *out, const float *inp, const float *gamma, const float *beta,
                       const float *running_mean, const float *running_var, int N, int C,
                       int HW, float eps);
/* Fused BN + ReLU: out = max(0, bn(inp)), one pass fewer and one buffer fewer
 * than bn2d_forward_* followed by relu_forward. Backward: relu_mask_grad on
 * the output gradient, then bn2d_backward / bn2d_backward_eval. */
void bn2d_relu_forward_train(float *out, float *mean, float *rstd, const float *inp,
                             const float *gamma, const float *beta, float *running_mean,
                             float *running_var, int N, int C, int HW, float momentum, float eps);
void bn2d_relu_forward_eval(float *out, const float *inp, const float *gamma, const float *beta,
                            const float *running_mean, const float *running_var, int N, int C,
                            int HW, float eps);
/* Backward of training mode (batch statistics), using mean/rstd saved by forward.
 * dinp (N,C,HW) may be NULL; dgamma, dbeta (C) may be NULL. */
void bn2d_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                   const float *inp, const float *mean, const float *rstd, const float *gamma,
                   int N, int C, int HW);
/* Backward of eval mode (fixed statistics): a per-channel affine map. */
void bn2d_backward_eval(float *dinp, float *dgamma, float *dbeta, const float *dout,
                        const float *inp, const float *gamma, const float *running_mean,
                        const float *running_var, int N, int C, int HW, float eps);

/* Synchronized (cross-rank) training mode, in four calls around two sums over
 * ranks; the result equals bn2d_forward_train / bn2d_backward on the
 * concatenation of every rank's rows. N may be 0 (a rank with no rows still
 * takes part). Per-rank gamma/beta gradients stay local sums.
 *   1. bn2d_sync_stats_partial: sums (2C+1) = [M = N*HW, sum x (C), sum x^2 (C)]
 *      of this rank's inp (N,C,HW), in double.
 *   -- the caller adds sums over ranks --
 *   2. bn2d_sync_forward_train: mean, rstd (C) from the global sums, running
 *      stats updated with them (unbiased var with the global M), out (N,C,HW)
 *      normalised (fused ReLU when relu). All-zero sums (no rows anywhere):
 *      nothing changes. Needs global M > 1.
 * backward (after relu_mask_grad on dout when fused):
 *   3. bn2d_sync_backward_partial: dgamma, dbeta (C) += this rank's sums (NULL =
 *      skip); sums (2C) = [sum dy (C), sum dy*(x-mean) (C)] of this rank.
 *   -- the caller adds sums over ranks --
 *   4. bn2d_sync_backward_input: dinp (N,C,HW) += the input gradient of BN over
 *      the global batch of M values per channel (M = global sums[0] of step 1). */
void bn2d_sync_stats_partial(double *sums, const float *inp, int N, int C, int HW);
void bn2d_sync_forward_train(float *out, float *mean, float *rstd, const float *inp,
                             const float *gamma, const float *beta, float *running_mean,
                             float *running_var, const double *sums, int N, int C, int HW,
                             float momentum, float eps, int relu);
void bn2d_sync_backward_partial(double *sums, float *dgamma, float *dbeta, const float *dout,
                                const float *inp, const float *mean, const float *rstd, int N,
                                int C, int HW);
void bn2d_sync_backward_input(float *dinp, const double *sums, double M, const float *dout,
                              const float *inp, const float *mean, const float *rstd,
                              const float *gamma, int N, int C, int HW);

/* ---- activations (elementwise over n floats) ------------------------------------------ */

/* out = x > 0 ? x : slope * x  (slope 0 = ReLU). out may equal inp. */
void relu_forward(float *out, const float *inp, size_t n, float slope);
/* dinp += dout * (out > 0 ? 1 : slope), using the forward OUTPUT (valid also in place). */
void relu_backward(float *dinp, const float *dout, const float *out, size_t n, float slope);

/* In place: dout[i] = out[i] > 0 ? dout[i] : 0 (ReLU backward into the same
 * buffer, for fused BN + ReLU whose output gradient the caller owns). */
void relu_mask_grad(float *dout, const float *out, size_t n);

/* ---- pooling ------------------------------------------------------------------------ */

/* 2x2 max-pool, stride 2, floor: inp (N,C,H,W) -> out (N,C,H/2,W/2).
 * argmax (N,C,H/2,W/2) records the flat index within the (H,W) plane of the winner. */
void maxpool2x2_forward(float *out, int32_t *argmax, const float *inp, int N, int C, int H, int W);
void maxpool2x2_backward(float *dinp, const float *dout, const int32_t *argmax, int N, int C,
                         int H, int W);

/* Global average pool: inp (N,C,HW) -> out (N,C). */
void gap_forward(float *out, const float *inp, int N, int C, int HW);
void gap_backward(float *dinp, const float *dout, int N, int C, int HW);

/* ---- linear ------------------------------------------------------------------------- */

/* out (N,O) = inp (N,I) * w^T (w is (O,I), PyTorch layout) + bias (O) (NULL = none). */
void linear_forward(float *out, const float *inp, const float *w, const float *bias, int N,
                    int I, int O);
/* dinp (N,I) += dout * w ; dw (O,I) += dout^T * inp ; dbias (O) += sum_N dout. */
void linear_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                     const float *w, int N, int I, int O);

/* ---- dropout (inverted; mask is a pure function of (key, element index)) ------------ */

/* Training: out[i] = keep(i) ? inp[i] / (1-p) : 0, keep(i) = rng_uniform_at(key, i) >= p.
 * Eval is the identity (call with p = 0 or copy). */
void dropout_forward(float *out, const float *inp, size_t n, float p, uint64_t key);
void dropout_backward(float *dinp, const float *dout, size_t n, float p, uint64_t key);

/* ---- 2x upsampling: inp (N,C,H,W) -> out (N,C,2H,2W) -------------------------------- */

void upsample2x_nearest_forward(float *out, const float *inp, int N, int C, int H, int W);
void upsample2x_nearest_backward(float *dinp, const float *dout, int N, int C, int H, int W);
/* Bilinear, align_corners=False (PyTorch's default for nn.Upsample(scale_factor=2)). */
void upsample2x_bilinear_forward(float *out, const float *inp, int N, int C, int H, int W);
void upsample2x_bilinear_backward(float *dinp, const float *dout, int N, int C, int H, int W);

/* ---- zero padding and cropping (fitting any input size) ----------------------------
 * A small plane (H,W) sits in a large plane (PH,PW) at rows [top, top+H) and
 * columns [left, left+W) (PH >= top + H, PW >= left + W). */

/* out (N,C,PH,PW) = inp (N,C,H,W) at (top, left), zeros around it. */
void pad2d_forward(float *out, const float *inp, int N, int C, int H, int W, int PH, int PW, int top,
                   int left);
/* Inverts the placement: dinp (N,C,H,W) += dout (N,C,PH,PW)[top:top+H, left:left+W]
 * (a crop of the gradient; the zeros have no input). */
void pad2d_backward(float *dinp, const float *dout, int N, int C, int H, int W, int PH, int PW,
                    int top, int left);
/* out (N,C,H,W) = inp (N,C,PH,PW)[top:top+H, left:left+W]. */
void crop2d_forward(float *out, const float *inp, int N, int C, int H, int W, int PH, int PW,
                    int top, int left);
/* Inverts the window: dinp (N,C,PH,PW)[top:top+H, left:left+W] += dout (N,C,H,W)
 * (the zero-padded gradient: nothing is added outside the window). */
void crop2d_backward(float *dinp, const float *dout, int N, int C, int H, int W, int PH, int PW,
                     int top, int left);

/* ---- joins ------------------------------------------------------------------------- */

/* Channel concat: out (N, Ca+Cb, HW) = [a (N,Ca,HW), b (N,Cb,HW)]. */
void concat_forward(float *out, const float *a, const float *b, int N, int Ca, int Cb, int HW);
/* da += dout[:, :Ca], db += dout[:, Ca:]  (either may be NULL). */
void concat_backward(float *da, float *db, const float *dout, int N, int Ca, int Cb, int HW);

/* Residual add: out = a + b over n floats; backward: da += dout, db += dout. */
void add_forward(float *out, const float *a, const float *b, size_t n);
void add_backward(float *da, float *db, const float *dout, size_t n);

#endif
