/* reference — naive, obviously-correct implementations the fast paths are
 * tested against (direct convolution, etc.). Test-only code.
 *
 * Dimension legend: N batch, C input channels, H, W input size, K output
 * channels, R, S kernel size, OH = (H + 2*pad - R)/stride + 1 (OW likewise),
 * HW = H*W, I, O linear in/out features.
 *
 * Same conventions as medssl/layers.h: forward overwrites its output, backward
 * ACCUMULATES (+=) into each gradient it is given, NULL = skip. Sums are done
 * in double. These allocate freely (they are never in a hot path).
 */
#ifndef MEDSSL_REFERENCE_H
#define MEDSSL_REFERENCE_H

/* out (N,K,OH,OW) = sum_{c,r,s} w (K,C,R,S) * inp (N,C,H,W) [oh*stride-pad+r, ow*stride-pad+s]
 * + bias (K) (NULL = none); out-of-image reads are zero. Seven nested loops. */
void ref_conv2d_forward(float *out, const float *inp, const float *w, const float *bias, int N,
                        int C, int H, int W, int K, int R, int S, int stride, int pad);
/* Direct backward of the above: each product w*inp in the forward sum sends
 * dout*inp to dw, dout*w to dinp; dbias (K) gets sum of dout. dinp (N,C,H,W),
 * dw (K,C,R,S), dbias (K) may each be NULL; dout (N,K,OH,OW). */
void ref_conv2d_backward(float *dinp, float *dw, float *dbias, const float *dout,
                         const float *inp, const float *w, int N, int C, int H, int W, int K,
                         int R, int S, int stride, int pad);

/* Training-mode batchnorm, textbook two-pass in double:
 *   mean (C), var_biased (C) over (N, HW); out (N,C,HW) = gamma*(x-mean)/sqrt(var+eps) + beta. */
void ref_bn2d_forward_train(float *out, float *mean, float *var_biased, const float *inp,
                            const float *gamma, const float *beta, int N, int C, int HW,
                            float eps);

/* out (N,O) = inp (N,I) * w^T + bias (O) (NULL = none); w (O,I). */
void ref_linear_forward(float *out, const float *inp, const float *w, const float *bias, int N,
                        int I, int O);
/* dinp (N,I) += dout (N,O) * w ; dw (O,I) += dout^T * inp ; dbias (O) += sum_N dout. */
void ref_linear_backward(float *dinp, float *dw, float *dbias, const float *dout,
                         const float *inp, const float *w, int N, int I, int O);

/* 2x bilinear upsample written as PyTorch's upsample_bilinear2d (align_corners=False)
 * computes it: per output pixel, source = max(0, (dst + 0.5) * 0.5 - 0.5) per axis,
 * neighbours i0 = floor(source), i1 = min(i0 + 1, size - 1), lambda = source - i0.
 * out (N,C,2H,2W) <- inp (N,C,H,W). */
void ref_upsample2x_bilinear(float *out, const float *inp, int N, int C, int H, int W);

#endif
