/* layers — batchnorm, activations, pooling, linear, dropout, upsampling and joins
 * (see include/medssl/layers.h; convolution lives in conv.c).
 *
 * Dimension legend:
 *   N  batch size          C  channels            H, W  input height, width
 *   HW = H*W               M = N*HW (values per channel that batchnorm normalises)
 *   I, O  linear in/out features                  n  flat element count
 *
 * Forward overwrites `out`; backward accumulates (+=) into every gradient it
 * is given and skips NULL ones.
 *
 * Hot elementwise loops are written with a fixed-width inner block (VEC_FOR):
 * at -O2, GCC 12's "very cheap" vectoriser cost model leaves a plain loop with an
 * unknown trip count scalar but vectorises a constant 8-iteration body.
 * Per-channel sums use VW float lanes flushed to a double every block, which
 * keeps both the speed of float SIMD and the accuracy of a double total.
 */
#include "medssl/layers.h"
#include "medssl/common.h"
#include "medssl/parallel.h"
#include "medssl/rng.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#define VW 8
#define SUM_BLOCK 1024 /* floats summed in float lanes before the flush to double */
/* for (size_t i = 0; i < n; i++) BODY, in blocks of VW (BODY must be elementwise in i). */
#define VEC_FOR(i, n, ...)                                                                 \
    do {                                                                                   \
        size_t i##_blk_ = 0, i##_n_ = (size_t)(n);                                         \
        for (; i##_blk_ + VW <= i##_n_; i##_blk_ += VW)                                    \
            for (size_t i = i##_blk_; i < i##_blk_ + VW; i++) { __VA_ARGS__; }             \
        for (size_t i = i##_blk_; i < i##_n_; i++) { __VA_ARGS__; }                        \
    } while (0)

/* Runs KERNEL(lo, len) over [0, n) in blocks, split over the threads. */
#define PARALLEL_BLOCKS(n, KERNEL)                                               \
    do {                                                                         \
        const size_t blk_ = 16384, n_ = (n);                                     \
        const long nb_ = (long)((n_ + blk_ - 1) / blk_);                         \
        PARALLEL_FOR(n_)                                                         \
        for (long b_ = 0; b_ < nb_; b_++) {                                      \
            size_t lo = (size_t)b_ * blk_, len = n_ - lo < blk_ ? n_ - lo : blk_; \
            KERNEL;                                                              \
        }                                                                        \
    } while (0)

/* Elementwise kernels. GCC honours restrict reliably on parameters (and keeps it
 * through inlining), not on local pointer variables, so the loops live here. */

/* dst (n) += src (n) */
static void add_into(float *restrict dst, const float *restrict src, size_t n)
{
    VEC_FOR(i, n, dst[i] += src[i]);
}

/* dst (n) += a * src (n) */
static void axpy_into(float *restrict dst, const float *restrict src, float a, size_t n)
{
    VEC_FOR(i, n, dst[i] += a * src[i]);
}

/* y (n) = x (n) * a + b */
static void affine(float *restrict y, const float *restrict x, float a, float b, size_t n)
{
    VEC_FOR(i, n, y[i] = x[i] * a + b);
}

/* y (n) = max(0, x (n) * a + b) */
static void affine_relu(float *restrict y, const float *restrict x, float a, float b, size_t n)
{
    VEC_FOR(i, n, { float v = x[i] * a + b; y[i] = v > 0.0f ? v : 0.0f; });
}

/* z (n) = x (n) + y (n) */
static void add3(float *restrict z, const float *restrict x, const float *restrict y, size_t n)
{
    VEC_FOR(i, n, z[i] = x[i] + y[i]);
}

/* *s1 += sum (x - shift), *s2 += sum (x - shift)^2 over x (n). */
static void sums_shifted(const float *restrict x, size_t n, float shift, double *s1, double *s2)
{
    size_t i = 0;
    while (i < n) {
        size_t end = n - i > SUM_BLOCK ? i + SUM_BLOCK : n;
        float a[VW] = {0}, b[VW] = {0};
        for (; i + VW <= end; i += VW)
            for (int j = 0; j < VW; j++) {
                float d = x[i + j] - shift;
                a[j] += d;
                b[j] += d * d;
            }
        float ta = 0, tb = 0;
        for (; i < end; i++) {
            float d = x[i] - shift;
            ta += d;
            tb += d * d;
        }
        for (int j = 0; j < VW; j++) { ta += a[j]; tb += b[j]; }
        *s1 += ta;
        *s2 += tb;
    }
}

/* Sum of x (n). */
static double sum_floats(const float *restrict x, size_t n)
{
    double total = 0;
    size_t i = 0;
    while (i < n) {
        size_t end = n - i > SUM_BLOCK ? i + SUM_BLOCK : n;
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

/* *s_dy += sum dy, *s_dyx += sum dy * (x - center) over dy, x (n). */
static void sums_dot(const float *restrict dy, const float *restrict x, size_t n, float center,
                     double *s_dy, double *s_dyx)
{
    size_t i = 0;
    while (i < n) {
        size_t end = n - i > SUM_BLOCK ? i + SUM_BLOCK : n;
        float a[VW] = {0}, b[VW] = {0};
        for (; i + VW <= end; i += VW)
            for (int j = 0; j < VW; j++) {
                a[j] += dy[i + j];
                b[j] += dy[i + j] * (x[i + j] - center);
            }
        float ta = 0, tb = 0;
        for (; i < end; i++) {
            ta += dy[i];
            tb += dy[i] * (x[i] - center);
        }
        for (int j = 0; j < VW; j++) { ta += a[j]; tb += b[j]; }
        *s_dy += ta;
        *s_dyx += tb;
    }
}

/* ---- batchnorm2d ------------------------------------------------------------------ */

/* out, inp (N,C,HW); mean, rstd (C) saved for backward; gamma, beta (C);
 * running_mean, running_var (C) or NULL. Two passes over the data:
 *   1. sum d and sum d^2 of d = x - x[0,c,0] (float lanes, double totals); the
 *      shift by a sample of the channel keeps var = E[d^2] - E[d]^2 from
 *      cancelling when |mean| >> std;
 *   2. out = x * a + b with a = gamma*rstd, b = beta - mean*a. */
static void bn2d_forward_train_impl(float *out, float *mean, float *rstd, const float *inp,
                                    const float *gamma, const float *beta, float *running_mean,
                                    float *running_var, int N, int C, int HW, float momentum,
                                    float eps, int relu)
{
    CHECK(N > 0 && C > 0 && HW > 0);
    const size_t M = (size_t)N * HW;
    CHECKM(M > 1, "batchnorm in training mode needs more than 1 value per channel");
    CHECK(running_mean == NULL || running_var != NULL);
    PARALLEL_FOR((size_t)N * C * HW)
    for (int c = 0; c < C; c++) {
        const float shift = inp[(size_t)c * HW];
        double s1 = 0, s2 = 0;
        for (int n = 0; n < N; n++)
            sums_shifted(inp + ((size_t)n * C + c) * HW, (size_t)HW, shift, &s1, &s2);
        double dmean = s1 / (double)M; /* mean of x - shift */
        double var = s2 / (double)M - dmean * dmean;
        if (var < 0) var = 0;
        mean[c] = (float)(shift + dmean);
        rstd[c] = (float)(1.0 / sqrt(var + (double)eps));
        if (running_mean) {
            double var_unbiased = var * (double)M / (double)(M - 1);
            running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mean[c];
            running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * var_unbiased);
        }
    }
    /* y = gamma * (x - mean) * rstd + beta = x * a + b per channel */
    PARALLEL_FOR((size_t)N * C * HW)
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            size_t off = ((size_t)n * C + c) * HW;
            const float a = gamma[c] * rstd[c], b = beta[c] - mean[c] * a;
            if (relu) affine_relu(out + off, inp + off, a, b, (size_t)HW);
            else affine(out + off, inp + off, a, b, (size_t)HW);
        }
}

/* out, inp (N,C,HW); gamma, beta, running_mean, running_var (C). */
void bn2d_forward_train(float *out, float *mean, float *rstd, const float *inp,
                        const float *gamma, const float *beta, float *running_mean,
                        float *running_var, int N, int C, int HW, float momentum, float eps)
{
    bn2d_forward_train_impl(out, mean, rstd, inp, gamma, beta, running_mean, running_var, N, C,
                            HW, momentum, eps, 0);
}

void bn2d_relu_forward_train(float *out, float *mean, float *rstd, const float *inp,
                             const float *gamma, const float *beta, float *running_mean,
                             float *running_var, int N, int C, int HW, float momentum, float eps)
{
    bn2d_forward_train_impl(out, mean, rstd, inp, gamma, beta, running_mean, running_var, N, C,
                            HW, momentum, eps, 1);
}

static void bn2d_forward_eval_impl(float *out, const float *inp, const float *gamma,
                                   const float *beta, const float *running_mean,
                                   const float *running_var, int N, int C, int HW, float eps,
                                   int relu)
{
    CHECK(N > 0 && C > 0 && HW > 0);
    PARALLEL_FOR((size_t)N * C * HW)
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            size_t off = ((size_t)n * C + c) * HW;
            const float a = gamma[c] / sqrtf(running_var[c] + eps);
            const float b = beta[c] - running_mean[c] * a;
            if (relu) affine_relu(out + off, inp + off, a, b, (size_t)HW);
            else affine(out + off, inp + off, a, b, (size_t)HW);
        }
}

void bn2d_forward_eval(float *out, const float *inp, const float *gamma, const float *beta,
                       const float *running_mean, const float *running_var, int N, int C,
                       int HW, float eps)
{
    bn2d_forward_eval_impl(out, inp, gamma, beta, running_mean, running_var, N, C, HW, eps, 0);
}

void bn2d_relu_forward_eval(float *out, const float *inp, const float *gamma, const float *beta,
                            const float *running_mean, const float *running_var, int N, int C,
                            int HW, float eps)
{
    bn2d_forward_eval_impl(out, inp, gamma, beta, running_mean, running_var, N, C, HW, eps, 1);
}

/* dx (n) += k_dy * dy (n) - k_x * x (n) + k_0 */
static void bn_backward_apply(float *restrict dx, const float *restrict dy,
                              const float *restrict x, float k_dy, float k_x, float k_0, size_t n)
{
    VEC_FOR(i, n, dx[i] += k_dy * dy[i] - k_x * x[i] + k_0);
}

/* Inverts y = gamma * xhat + beta, xhat = (x - mean) * rstd, with mean and rstd
 * functions of the whole channel:
 *   dbeta += sum dy ;  dgamma += sum dy * xhat
 *   dx = gamma*rstd * (dy - sum(dy)/M - xhat * sum(dy*xhat)/M)
 *      = k_dy * dy - k_x * x + k_0      (per channel; second pass)
 * dinp (N,C,HW) or NULL; dgamma, dbeta (C) or NULL; dout, inp (N,C,HW);
 * mean, rstd, gamma (C). */
void bn2d_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                   const float *inp, const float *mean, const float *rstd, const float *gamma,
                   int N, int C, int HW)
{
    CHECK(N > 0 && C > 0 && HW > 0);
    const double M = (double)N * HW;
    PARALLEL_FOR((size_t)N * C * HW)
    for (int c = 0; c < C; c++) {
        double s_dy = 0, s_dyxm = 0; /* sum dy, sum dy * (x - mean) */
        for (int n = 0; n < N; n++) {
            size_t off = ((size_t)n * C + c) * HW;
            sums_dot(dout + off, inp + off, (size_t)HW, mean[c], &s_dy, &s_dyxm);
        }
        const double r = rstd[c];
        if (dbeta) dbeta[c] += (float)s_dy;
        if (dgamma) dgamma[c] += (float)(s_dyxm * r);
        if (!dinp) continue;
        const double g = gamma[c];
        const float k_dy = (float)(g * r);
        const float k_x = (float)(g * r * r * r * s_dyxm / M);
        const float k_0 = (float)(-g * r * s_dy / M + g * r * r * r * s_dyxm / M * mean[c]);
        for (int n = 0; n < N; n++) {
            size_t off = ((size_t)n * C + c) * HW;
            bn_backward_apply(dinp + off, dout + off, inp + off, k_dy, k_x, k_0, (size_t)HW);
        }
    }
}

/* Inverts y = x * a + b with a = gamma / sqrt(running_var + eps), b fixed:
 *   dinp += a * dy ;  dgamma += sum dy * (x - running_mean) / sqrt(running_var + eps) ;
 *   dbeta += sum dy.
 * dinp (N,C,HW) or NULL; dgamma, dbeta (C) or NULL; dout, inp (N,C,HW); the rest (C). */
void bn2d_backward_eval(float *dinp, float *dgamma, float *dbeta, const float *dout,
                        const float *inp, const float *gamma, const float *running_mean,
                        const float *running_var, int N, int C, int HW, float eps)
{
    CHECK(N > 0 && C > 0 && HW > 0);
    PARALLEL_FOR((size_t)N * C * HW)
    for (int c = 0; c < C; c++) {
        const float inv_std = 1.0f / sqrtf(running_var[c] + eps);
        const float a = gamma[c] * inv_std;
        double s_dy = 0, s_dyxm = 0;
        for (int n = 0; n < N; n++) {
            size_t off = ((size_t)n * C + c) * HW;
            if (dgamma || dbeta)
                sums_dot(dout + off, inp + off, (size_t)HW, running_mean[c], &s_dy, &s_dyxm);
            if (dinp) axpy_into(dinp + off, dout + off, a, (size_t)HW);
        }
        if (dbeta) dbeta[c] += (float)s_dy;
        if (dgamma) dgamma[c] += (float)(s_dyxm * inv_std);
    }
}

/* ---- activations ------------------------------------------------------------------ */

/* The slope factor f = x > 0 ? 1 : slope is computed as m + (1-m)*slope with m in
 * {0,1}: exact, and (unlike a ternary) vectorised at -O2. NaN propagates. */

static void relu_inplace(float *x, size_t n, float slope)
{
    size_t b = 0;
    for (; b + VW <= n; b += VW) {
        float m[VW];
        for (int j = 0; j < VW; j++) m[j] = (float)(x[b + j] > 0.0f);
        for (int j = 0; j < VW; j++) x[b + j] *= m[j] + (1.0f - m[j]) * slope;
    }
    for (; b < n; b++) x[b] = x[b] > 0.0f ? x[b] : slope * x[b];
}

static void relu_copy(float *restrict y, const float *restrict x, size_t n, float slope)
{
    size_t b = 0;
    for (; b + VW <= n; b += VW) {
        float m[VW];
        for (int j = 0; j < VW; j++) m[j] = (float)(x[b + j] > 0.0f);
        for (int j = 0; j < VW; j++) y[b + j] = x[b + j] * (m[j] + (1.0f - m[j]) * slope);
    }
    for (; b < n; b++) y[b] = x[b] > 0.0f ? x[b] : slope * x[b];
}

/* out (n) = inp > 0 ? inp : slope * inp; out may equal inp. */
void relu_forward(float *out, const float *inp, size_t n, float slope)
{
    CHECKM(slope >= 0.0f, "backward reads the sign of the output");
    if (out == inp)
        PARALLEL_BLOCKS(n, relu_inplace(out + lo, len, slope));
    else
        PARALLEL_BLOCKS(n, relu_copy(out + lo, inp + lo, len, slope));
}

/* dx (n) += dy (n) * (y (n) > 0 ? 1 : slope) */
static void relu_grad(float *restrict dx, const float *restrict dy, const float *restrict y,
                      size_t n, float slope)
{
    size_t b = 0;
    for (; b + VW <= n; b += VW) {
        float m[VW];
        for (int j = 0; j < VW; j++) m[j] = (float)(y[b + j] > 0.0f);
        for (int j = 0; j < VW; j++) dx[b + j] += dy[b + j] * (m[j] + (1.0f - m[j]) * slope);
    }
    for (; b < n; b++) dx[b] += y[b] > 0.0f ? dy[b] : slope * dy[b];
}

/* Inverts out = inp > 0 ? inp : slope*inp (sign(out) == sign(inp) for slope >= 0):
 * dinp (n) += dout (n) * (out (n) > 0 ? 1 : slope). */
static void mask_by_positive(float *restrict dy, const float *restrict y, size_t n)
{
    VEC_FOR(i, n, dy[i] = y[i] > 0.0f ? dy[i] : 0.0f);
}

void relu_mask_grad(float *dout, const float *out, size_t n)
{
    PARALLEL_BLOCKS(n, mask_by_positive(dout + lo, out + lo, len));
}

void relu_backward(float *dinp, const float *dout, const float *out, size_t n, float slope)
{
    if (dinp) PARALLEL_BLOCKS(n, relu_grad(dinp + lo, dout + lo, out + lo, len, slope));
}

/* ---- pooling ---------------------------------------------------------------------- */

/* out, argmax (N,C,H/2,W/2) <- inp (N,C,H,W); an odd last row/column is dropped.
 * Ties go to the first maximum in row-major order; a NaN wins (as PyTorch). */
void maxpool2x2_forward(float *out, int32_t *argmax, const float *inp, int N, int C, int H, int W)
{
    CHECK(N > 0 && C > 0 && H >= 2 && W >= 2);
    const int OH = H / 2, OW = W / 2;
    PARALLEL_FOR((size_t)N * C * H * W)
    for (size_t p = 0; p < (size_t)N * C; p++) {
        const float *x = inp + p * H * W;       /* (H,W) */
        float *y = out + p * OH * OW;           /* (OH,OW) */
        int32_t *am = argmax + p * OH * OW;     /* (OH,OW) */
        for (int oh = 0; oh < OH; oh++) {
            const float *r0 = x + (size_t)(2 * oh) * W, *r1 = r0 + W;
            float *yr = y + (size_t)oh * OW;
            int32_t *ar = am + (size_t)oh * OW;
            const int32_t top = 2 * oh * W;
            /* Branch-free: the first of equal maxima wins; a NaN wins (propagates). */
            for (int ow = 0; ow < OW; ow++) {
                float v = r0[2 * ow];
                int32_t best = top + 2 * ow;
                float u = r0[2 * ow + 1];
                int take = (u > v) | (u != u);
                v = take ? u : v;
                best = take ? top + 2 * ow + 1 : best;
                u = r1[2 * ow];
                take = (u > v) | (u != u);
                v = take ? u : v;
                best = take ? top + W + 2 * ow : best;
                u = r1[2 * ow + 1];
                take = (u > v) | (u != u);
                v = take ? u : v;
                best = take ? top + W + 2 * ow + 1 : best;
                yr[ow] = v;
                ar[ow] = best;
            }
        }
    }
}

void maxpool2x2_backward(float *dinp, const float *dout, const int32_t *argmax, int N, int C,
                         int H, int W)
{
    if (!dinp) return;
    const size_t OHW = (size_t)(H / 2) * (W / 2);
    PARALLEL_FOR((size_t)N * C * H * W)
    for (size_t p = 0; p < (size_t)N * C; p++) {
        float *dx = dinp + p * H * W;
        const float *dy = dout + p * OHW;
        const int32_t *am = argmax + p * OHW;
        for (size_t o = 0; o < OHW; o++) dx[am[o]] += dy[o];
    }
}

/* out (N,C) = mean over HW of inp (N,C,HW). */
void gap_forward(float *out, const float *inp, int N, int C, int HW)
{
    CHECK(N > 0 && C > 0 && HW > 0);
    PARALLEL_FOR((size_t)N * C * HW)
    for (size_t p = 0; p < (size_t)N * C; p++)
        out[p] = (float)(sum_floats(inp + p * HW, (size_t)HW) / HW);
}

/* Inverts out = sum(inp)/HW: dinp (N,C,HW) += dout (N,C) / HW. */
void gap_backward(float *dinp, const float *dout, int N, int C, int HW)
{
    if (!dinp) return;
    const float inv = 1.0f / (float)HW;
    PARALLEL_FOR((size_t)N * C * HW)
    for (size_t p = 0; p < (size_t)N * C; p++) {
        float *dx = dinp + p * HW;
        const float g = dout[p] * inv;
        VEC_FOR(i, HW, dx[i] += g);
    }
}

/* ---- linear ------------------------------------------------------------------------ */

/* The header's I and O are spelled in_f and out_f here: <cblas.h> pulls in
 * <complex.h>, which defines I as the imaginary unit. */

/* out (N,O) = inp (N,I) * w^T (I,O) + bias (O) (NULL = none); w (O,I). */
void linear_forward(float *out, const float *inp, const float *w, const float *bias, int N,
                    int in_f, int out_f)
{
    CHECK(N > 0 && in_f > 0 && out_f > 0);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, out_f, in_f, 1.0f, inp, in_f, w,
                in_f, 0.0f, out, out_f);
    if (bias)
        for (int n = 0; n < N; n++) add_into(out + (size_t)n * out_f, bias, (size_t)out_f);
}

/* Inverts out (N,O) = inp (N,I) * w^T + bias:
 *   dinp (N,I) += dout (N,O) * w (O,I) ; dw (O,I) += dout^T (O,N) * inp (N,I) ;
 *   dbias (O) += sum over N of dout.  Each may be NULL. */
void linear_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                     const float *w, int N, int in_f, int out_f)
{
    CHECK(N > 0 && in_f > 0 && out_f > 0);
    if (dinp)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, in_f, out_f, 1.0f, dout, out_f,
                    w, in_f, 1.0f, dinp, in_f);
    if (dw)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out_f, in_f, N, 1.0f, dout, out_f,
                    inp, in_f, 1.0f, dw, in_f);
    if (dbias)
        for (int n = 0; n < N; n++) add_into(dbias, dout + (size_t)n * out_f, (size_t)out_f);
}

/* ---- dropout ----------------------------------------------------------------------- */

/* out (n) = keep(i) ? inp (n) / (1-p) : 0, keep(i) = rng_uniform_at(key, i) >= p. */
void dropout_forward(float *out, const float *inp, size_t n, float p, uint64_t key)
{
    CHECK(p >= 0.0f && p < 1.0f);
    if (p == 0.0f) {
        if (out != inp) memmove(out, inp, n * sizeof(float));
        return;
    }
    const float scale = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++)
        out[i] = rng_uniform_at(key, i) >= p ? inp[i] * scale : 0.0f;
}

/* Inverts the same mask: dinp (n) += keep(i) ? dout (n) / (1-p) : 0. */
void dropout_backward(float *dinp, const float *dout, size_t n, float p, uint64_t key)
{
    CHECK(p >= 0.0f && p < 1.0f);
    if (!dinp) return;
    if (p == 0.0f) {
        add_into(dinp, dout, n);
        return;
    }
    const float scale = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++)
        if (rng_uniform_at(key, i) >= p) dinp[i] += dout[i] * scale;
}

/* ---- 2x upsampling ------------------------------------------------------------------ */

/* out (N,C,2H,2W)[2h+a][2w+b] = inp (N,C,H,W)[h][w]. */
void upsample2x_nearest_forward(float *out, const float *inp, int N, int C, int H, int W)
{
    CHECK(N > 0 && C > 0 && H > 0 && W > 0);
    const int OW = 2 * W;
    PARALLEL_FOR((size_t)N * C * H * W)
    for (size_t p = 0; p < (size_t)N * C; p++)
        for (int h = 0; h < H; h++) {
            const float *x = inp + (p * H + h) * W;
            float *y = out + (p * 2 * H + 2 * h) * OW; /* row 2h; row 2h+1 copies it */
            for (int w = 0; w < W; w++) y[2 * w] = y[2 * w + 1] = x[w];
            memcpy(y + OW, y, (size_t)OW * sizeof(float));
        }
}

/* Inverts the copies: dinp (N,C,H,W)[h][w] += sum of dout (N,C,2H,2W) over its 2x2 block. */
void upsample2x_nearest_backward(float *dinp, const float *dout, int N, int C, int H, int W)
{
    if (!dinp) return;
    const int OW = 2 * W;
    PARALLEL_FOR((size_t)N * C * H * W)
    for (size_t p = 0; p < (size_t)N * C; p++)
        for (int h = 0; h < H; h++) {
            float *dx = dinp + (p * H + h) * W;
            const float *d0 = dout + (p * 2 * H + 2 * h) * OW, *d1 = d0 + OW;
            for (int w = 0; w < W; w++)
                dx[w] += (d0[2 * w] + d0[2 * w + 1]) + (d1[2 * w] + d1[2 * w + 1]);
        }
}

/* Bilinear, align_corners=False, scale 2, per axis: output o reads source
 * (o + 0.5)/2 - 0.5 clamped at 0, i.e.
 *   out[2k]   = 0.75*in[k] + 0.25*in[max(k-1, 0)]
 *   out[2k+1] = 0.75*in[k] + 0.25*in[min(k+1, L-1)]
 * Output row 2k+a blends input rows k (0.75) and near_index(k, a) (0.25). */
static int near_index(int k, int a, int L)
{
    if (a == 0) return k > 0 ? k - 1 : 0;
    return k + 1 < L ? k + 1 : L - 1;
}

/* out (N,C,2H,2W) <- inp (N,C,H,W). */
void upsample2x_bilinear_forward(float *out, const float *inp, int N, int C, int H, int W)
{
    CHECK(N > 0 && C > 0 && H > 0 && W > 0);
    const int OW = 2 * W;
    PARALLEL_FOR((size_t)N * C * H * W)
    for (size_t p = 0; p < (size_t)N * C; p++) {
        const float *plane = inp + p * H * W;
        for (int oh = 0; oh < 2 * H; oh++) {
            const int k = oh / 2;
            const float *x0 = plane + (size_t)k * W;                        /* 0.75 */
            const float *x1 = plane + (size_t)near_index(k, oh & 1, H) * W; /* 0.25 */
            float *y = out + (p * 2 * H + oh) * OW;
            /* v_w = vertical blend of column w; then the horizontal blend of
             * v_{w-1}, v_w, v_{w+1} (clamped at the edges). */
            float v_prev = 0.75f * x0[0] + 0.25f * x1[0], v = v_prev;
            for (int w = 0; w < W; w++) {
                const float v_next = w + 1 < W ? 0.75f * x0[w + 1] + 0.25f * x1[w + 1] : v;
                y[2 * w] = 0.75f * v + 0.25f * v_prev;
                y[2 * w + 1] = 0.75f * v + 0.25f * v_next;
                v_prev = v;
                v = v_next;
            }
        }
    }
}

/* Inverts the forward's two blends. Per output row oh, the horizontal transpose
 *   g[w] = 0.75*(d[2w] + d[2w+1]) + 0.25*(d[max(2w-1,0)] + d[min(2w+2, 2W-1)])
 * is then spread vertically: dinp row k += 0.75*g, row near_index += 0.25*g
 * (1.0*g when both are the same clamped row). dinp (N,C,H,W); dout (N,C,2H,2W). */
void upsample2x_bilinear_backward(float *dinp, const float *dout, int N, int C, int H, int W)
{
    if (!dinp) return;
    const int OW = 2 * W;
    PARALLEL_FOR((size_t)N * C * H * W)
    for (size_t p = 0; p < (size_t)N * C; p++) {
        float *plane = dinp + p * H * W;
        for (int oh = 0; oh < 2 * H; oh++) {
            const int k = oh / 2, k1 = near_index(k, oh & 1, H);
            const float *d = dout + (p * 2 * H + oh) * OW;
            float *dx0 = plane + (size_t)k * W;
            float *dx1 = plane + (size_t)k1 * W;
            const float w0 = k1 == k ? 1.0f : 0.75f, w1 = k1 == k ? 0.0f : 0.25f;
            for (int w = 0; w < W; w++) {
                const int lo = 2 * w > 0 ? 2 * w - 1 : 0, hi = 2 * w + 2 < OW ? 2 * w + 2 : OW - 1;
                const float g = 0.75f * (d[2 * w] + d[2 * w + 1]) + 0.25f * (d[lo] + d[hi]);
                dx0[w] += w0 * g;
                if (k1 != k) dx1[w] += w1 * g;
            }
        }
    }
}

/* ---- joins ------------------------------------------------------------------------- */

/* out (N, Ca+Cb, HW) = [a (N,Ca,HW), b (N,Cb,HW)] along channels. */
void concat_forward(float *out, const float *a, const float *b, int N, int Ca, int Cb, int HW)
{
    CHECK(N > 0 && Ca >= 0 && Cb >= 0 && HW > 0);
    const size_t na = (size_t)Ca * HW, nb = (size_t)Cb * HW;
    for (int n = 0; n < N; n++) {
        float *y = out + (size_t)n * (na + nb);
        memcpy(y, a + (size_t)n * na, na * sizeof(float));
        memcpy(y + na, b + (size_t)n * nb, nb * sizeof(float));
    }
}

/* Inverts the copies: da (N,Ca,HW) += dout[:, :Ca]; db (N,Cb,HW) += dout[:, Ca:]. */
void concat_backward(float *da, float *db, const float *dout, int N, int Ca, int Cb, int HW)
{
    const size_t na = (size_t)Ca * HW, nb = (size_t)Cb * HW;
    for (int n = 0; n < N; n++) {
        const float *d = dout + (size_t)n * (na + nb);
        if (da) add_into(da + (size_t)n * na, d, na);
        if (db) add_into(db + (size_t)n * nb, d + na, nb);
    }
}

/* out (n) = a (n) + b (n); out may equal a or b. */
void add_forward(float *out, const float *a, const float *b, size_t n)
{
    if (out == a && out == b) { VEC_FOR(i, n, out[i] += out[i]); return; }
    if (out == a) { add_into(out, b, n); return; }
    if (out == b) { add_into(out, a, n); return; }
    PARALLEL_BLOCKS(n, add3(out + lo, a + lo, b + lo, len));
}

/* Inverts out = a + b: da (n) += dout (n), db (n) += dout (n); da may equal db. */
void add_backward(float *da, float *db, const float *dout, size_t n)
{
    if (da) PARALLEL_BLOCKS(n, add_into(da + lo, dout + lo, len));
    if (db) PARALLEL_BLOCKS(n, add_into(db + lo, dout + lo, len));
}
