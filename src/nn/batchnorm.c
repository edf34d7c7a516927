/* batchnorm — batchnorm2d forward (train / eval, optionally fused with ReLU)
 * and backward (see include/medssl/batchnorm.h).
 *
 * Dimension legend: N batch, C channels, HW = H*W, M = N*HW values per channel.
 *
 * Training forward is two passes: per-channel sums of d = x - x[0,c,0] (the
 * shift by a sample of the channel keeps var = E[d^2] - E[d]^2 from cancelling
 * when |mean| >> std), then out = x * a + b with a = gamma*rstd, b = beta -
 * mean*a. Backward is two passes too: per-channel sums of dy and dy*(x-mean),
 * then dx. Channels are independent, so both split over the threads.
 *
 * Synchronized BN (bn2d_sync_*) runs the same passes split where the caller
 * sums per-channel partials over ranks: forward (count, sum x, sum x^2) in
 * double, backward (sum dy, sum dy*(x-mean)). The per-rank sums still use the
 * shifted float lanes; the shift is then folded out in double, so ranks with
 * different shifts add up. The variance E[x^2]-E[x]^2 is formed in double
 * (relative error ~1e-16 * mean^2/var, harmless for float outputs).
 */
#include "medssl/batchnorm.h"
#include "medssl/common.h"
#include "vec.h"

#include <math.h>

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

/* y = gamma * (x - mean) * rstd + beta = x * a + b per channel (then ReLU when relu).
 * out, inp (N,C,HW); mean, rstd, gamma, beta (C). */
static void bn_apply(float *out, const float *inp, const float *mean, const float *rstd,
                     const float *gamma, const float *beta, int N, int C, int HW, int relu)
{
    PARALLEL_FOR((size_t)N * C * HW)
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            size_t off = ((size_t)n * C + c) * HW;
            const float a = gamma[c] * rstd[c], b = beta[c] - mean[c] * a;
            if (relu) affine_relu(out + off, inp + off, a, b, (size_t)HW);
            else affine(out + off, inp + off, a, b, (size_t)HW);
        }
}

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
    bn_apply(out, inp, mean, rstd, gamma, beta, N, C, HW, relu);
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


/* ---- synchronized batchnorm: the training passes split around the all-reduces ------ */

void bn2d_sync_stats_partial(double *sums, const float *inp, int N, int C, int HW)
{
    CHECK(N >= 0 && C > 0 && HW > 0);
    const double M = (double)N * HW;
    sums[0] = M;
    PARALLEL_FOR((size_t)N * C * HW)
    for (int c = 0; c < C; c++) {
        double s1 = 0, s2 = 0;
        const float shift = N > 0 ? inp[(size_t)c * HW] : 0.0f;
        for (int n = 0; n < N; n++)
            sums_shifted(inp + ((size_t)n * C + c) * HW, (size_t)HW, shift, &s1, &s2);
        /* sum x = M*shift + s1; sum x^2 = s2 + 2*shift*s1 + M*shift^2 (doubles) */
        sums[1 + c] = M * shift + s1;
        sums[1 + C + c] = s2 + 2.0 * shift * s1 + M * (double)shift * shift;
    }
}

void bn2d_sync_forward_train(float *out, float *mean, float *rstd, const float *inp,
                             const float *gamma, const float *beta, float *running_mean,
                             float *running_var, const double *sums, int N, int C, int HW,
                             float momentum, float eps, int relu)
{
    CHECK(N >= 0 && C > 0 && HW > 0);
    const double M = sums[0];
    if (M == 0) return; /* no rank has a row: nothing to normalise or to learn from */
    CHECKM(M > 1, "batchnorm in training mode needs more than 1 value per channel");
    CHECK(running_mean == NULL || running_var != NULL);
    for (int c = 0; c < C; c++) {
        double m = sums[1 + c] / M;
        double var = sums[1 + C + c] / M - m * m;
        if (var < 0) var = 0;
        mean[c] = (float)m;
        rstd[c] = (float)(1.0 / sqrt(var + (double)eps));
        if (running_mean) {
            double var_unbiased = var * M / (M - 1);
            running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mean[c];
            running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * var_unbiased);
        }
    }
    if (N > 0) bn_apply(out, inp, mean, rstd, gamma, beta, N, C, HW, relu);
}

void bn2d_sync_backward_partial(double *sums, float *dgamma, float *dbeta, const float *dout,
                                const float *inp, const float *mean, const float *rstd, int N,
                                int C, int HW)
{
    CHECK(N >= 0 && C > 0 && HW > 0);
    PARALLEL_FOR((size_t)N * C * HW)
    for (int c = 0; c < C; c++) {
        double s_dy = 0, s_dyxm = 0; /* sum dy, sum dy * (x - mean) */
        for (int n = 0; n < N; n++) {
            size_t off = ((size_t)n * C + c) * HW;
            sums_dot(dout + off, inp + off, (size_t)HW, mean[c], &s_dy, &s_dyxm);
        }
        if (dbeta) dbeta[c] += (float)s_dy;
        if (dgamma) dgamma[c] += (float)(s_dyxm * rstd[c]);
        sums[c] = s_dy;
        sums[C + c] = s_dyxm;
    }
}

void bn2d_sync_backward_input(float *dinp, const double *sums, double M, const float *dout,
                              const float *inp, const float *mean, const float *rstd,
                              const float *gamma, int N, int C, int HW)
{
    CHECK(N >= 0 && C > 0 && HW > 0 && M > 0);
    PARALLEL_FOR((size_t)N * C * HW)
    for (int c = 0; c < C; c++) {
        const double r = rstd[c], g = gamma[c], s_dy = sums[c], s_dyxm = sums[C + c];
        const float k_dy = (float)(g * r);
        const float k_x = (float)(g * r * r * r * s_dyxm / M);
        const float k_0 = (float)(-g * r * s_dy / M + g * r * r * r * s_dyxm / M * mean[c]);
        for (int n = 0; n < N; n++) {
            size_t off = ((size_t)n * C + c) * HW;
            bn_backward_apply(dinp + off, dout + off, inp + off, k_dy, k_x, k_0, (size_t)HW);
        }
    }
}
