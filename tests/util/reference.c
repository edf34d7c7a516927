/* reference — naive implementations for tests (see reference.h). */
#include "reference.h"
#include "medssl/common.h"

#include <math.h>
#include <stdlib.h>

static int ref_out_size(int in, int k, int stride, int pad) { return (in + 2 * pad - k) / stride + 1; }

void ref_conv2d_forward(float *out, const float *inp, const float *w, const float *bias, int N,
                        int C, int H, int W, int K, int R, int S, int stride, int pad)
{
    const int OH = ref_out_size(H, R, stride, pad), OW = ref_out_size(W, S, stride, pad);
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    double acc = bias ? bias[k] : 0.0;
                    for (int c = 0; c < C; c++)
                        for (int r = 0; r < R; r++)
                            for (int s = 0; s < S; s++) {
                                int ih = oh * stride - pad + r, iw = ow * stride - pad + s;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                acc += (double)w[((k * C + c) * R + r) * S + s] *
                                       inp[((n * C + c) * H + ih) * W + iw];
                            }
                    out[((n * K + k) * OH + oh) * OW + ow] = (float)acc;
                }
}

void ref_conv2d_backward(float *dinp, float *dw, float *dbias, const float *dout,
                         const float *inp, const float *w, int N, int C, int H, int W, int K,
                         int R, int S, int stride, int pad)
{
    const int OH = ref_out_size(H, R, stride, pad), OW = ref_out_size(W, S, stride, pad);
    const size_t n_inp = (size_t)N * C * H * W, n_w = (size_t)K * C * R * S;
    double *ginp = ms_calloc(n_inp, sizeof(double)), *gw = ms_calloc(n_w, sizeof(double));
    double *gb = ms_calloc((size_t)K, sizeof(double));
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    const double g = dout[((n * K + k) * OH + oh) * OW + ow];
                    gb[k] += g;
                    for (int c = 0; c < C; c++)
                        for (int r = 0; r < R; r++)
                            for (int s = 0; s < S; s++) {
                                int ih = oh * stride - pad + r, iw = ow * stride - pad + s;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                size_t wi = (size_t)((k * C + c) * R + r) * S + s;
                                size_t xi = (size_t)((n * C + c) * H + ih) * W + iw;
                                gw[wi] += g * inp[xi];
                                ginp[xi] += g * w[wi];
                            }
                }
    if (dinp) for (size_t i = 0; i < n_inp; i++) dinp[i] += (float)ginp[i];
    if (dw) for (size_t i = 0; i < n_w; i++) dw[i] += (float)gw[i];
    if (dbias) for (int k = 0; k < K; k++) dbias[k] += (float)gb[k];
    free(ginp);
    free(gw);
    free(gb);
}

void ref_bn2d_forward_train(float *out, float *mean, float *var_biased, const float *inp,
                            const float *gamma, const float *beta, int N, int C, int HW,
                            float eps)
{
    const double M = (double)N * HW;
    for (int c = 0; c < C; c++) {
        double s = 0;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW; i++) s += inp[((size_t)n * C + c) * HW + i];
        const double mu = s / M;
        double ss = 0;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW; i++) {
                double d = inp[((size_t)n * C + c) * HW + i] - mu;
                ss += d * d;
            }
        const double var = ss / M;
        mean[c] = (float)mu;
        var_biased[c] = (float)var;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW; i++) {
                size_t at = ((size_t)n * C + c) * HW + i;
                out[at] = (float)(gamma[c] * (inp[at] - mu) / sqrt(var + eps) + beta[c]);
            }
    }
}

void ref_linear_forward(float *out, const float *inp, const float *w, const float *bias, int N,
                        int I, int O)
{
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++) {
            double acc = bias ? bias[o] : 0.0;
            for (int i = 0; i < I; i++) acc += (double)inp[n * I + i] * w[o * I + i];
            out[n * O + o] = (float)acc;
        }
}

void ref_linear_backward(float *dinp, float *dw, float *dbias, const float *dout,
                         const float *inp, const float *w, int N, int I, int O)
{
    if (dinp)
        for (int n = 0; n < N; n++)
            for (int i = 0; i < I; i++) {
                double acc = 0;
                for (int o = 0; o < O; o++) acc += (double)dout[n * O + o] * w[o * I + i];
                dinp[n * I + i] += (float)acc;
            }
    if (dw)
        for (int o = 0; o < O; o++)
            for (int i = 0; i < I; i++) {
                double acc = 0;
                for (int n = 0; n < N; n++) acc += (double)dout[n * O + o] * inp[n * I + i];
                dw[o * I + i] += (float)acc;
            }
    if (dbias)
        for (int o = 0; o < O; o++) {
            double acc = 0;
            for (int n = 0; n < N; n++) acc += dout[n * O + o];
            dbias[o] += (float)acc;
        }
}

/* One axis of PyTorch's area_pixel_compute_source_index (align_corners=False, scale 1/2). */
static void ref_source(int dst, int size, int *i0, int *i1, double *l1)
{
    double src = (dst + 0.5) * 0.5 - 0.5;
    if (src < 0) src = 0;
    *i0 = (int)src;
    *i1 = *i0 < size - 1 ? *i0 + 1 : *i0;
    *l1 = src - *i0;
}

void ref_upsample2x_bilinear(float *out, const float *inp, int N, int C, int H, int W)
{
    for (int p = 0; p < N * C; p++)
        for (int oh = 0; oh < 2 * H; oh++)
            for (int ow = 0; ow < 2 * W; ow++) {
                int h0, h1, w0, w1;
                double lh, lw;
                ref_source(oh, H, &h0, &h1, &lh);
                ref_source(ow, W, &w0, &w1, &lw);
                const float *x = inp + (size_t)p * H * W;
                double v = (1 - lh) * ((1 - lw) * x[h0 * W + w0] + lw * x[h0 * W + w1]) +
                           lh * ((1 - lw) * x[h1 * W + w0] + lw * x[h1 * W + w1]);
                out[((size_t)p * 2 * H + oh) * 2 * W + ow] = (float)v;
            }
}
