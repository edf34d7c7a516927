/* layers — forward/backward pairs for the CNN operations other than
 * convolution (medssl/conv.h) and batch normalisation (medssl/batchnorm.h),
 * NCHW float32: activations, pooling, linear, dropout, upsampling, zero
 * padding and cropping, joins (src/nn/layers.c).
 *
 * Dimension legend (used in every shape comment below):
 *   N  batch size          C  channels            H, W   input height, width
 *   HW = H*W               I, O  linear in/out features
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
