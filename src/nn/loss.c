/* loss — softmax cross-entropy, MSE, BCE-with-logits, soft Dice and Dice+CE
 * (see include/medssl/loss.h).
 *
 * Every loss returns its scalar value (accumulated in double) and WRITES the
 * gradient of that value, times `scale`, into dlogits/dpred when that pointer is
 * not NULL. Softmax uses the max-subtracted log-sum-exp, BCE the softplus form,
 * so logits of +-1000 give finite values. Nothing here allocates: soft Dice gets
 * its probability workspace from the caller and borrows dlogits as scratch.
 *
 * Dimension legend: N batch, K classes, HW pixels per image (1 for
 * classification). Logits (N,K,HW), element (n,k,p) at (n*K + k)*HW + p;
 * targets (N,HW), element (n,p) at n*HW + p.
 */
#include "medssl/loss.h"
#include "medssl/common.h"

#include <math.h>
#include <string.h>

/* Checks a target entry: a class index in [0,K) or the ignore index. */
static int target_valid(int32_t y, int ignore_index, int K)
{
    return y == ignore_index || (y >= 0 && y < K);
}

/* Log-sum-exp over the K logits of one pixel, read with stride HW:
 * x (K) at x[k*HW]. Max-subtracted, so it is finite for any finite input. */
static double pixel_lse(const float *x, int K, int HW)
{
    float mx = x[0];
    for (int k = 1; k < K; k++) mx = x[(size_t)k * HW] > mx ? x[(size_t)k * HW] : mx;
    double sum = 0.0;
    for (int k = 0; k < K; k++) sum += exp((double)x[(size_t)k * HW] - mx);
    return mx + log(sum);
}

/* Cross-entropy core. accumulate = 0 writes dlogits, 1 adds to it (Dice+CE).
 * dlogits, logits (N,K,HW); target (N*HW); class_weight (K) or NULL. */
static float ce_impl(float *dlogits, const float *logits, const int32_t *target,
                     const float *class_weight, int ignore_index, int N, int K, int HW,
                     float scale, int accumulate)
{
    CHECK(N > 0 && K > 0 && HW > 0);
    const size_t n_pix = (size_t)N * HW;
    const size_t n_all = n_pix * (size_t)K;

    /* Normaliser: sum of w[y_i] over non-ignored i (PyTorch 'mean'). */
    double wsum = 0.0;
    for (size_t i = 0; i < n_pix; i++) {
        int32_t y = target[i];
        CHECKM(target_valid(y, ignore_index, K), "softmax_ce_loss: target out of range");
        if (y == ignore_index) continue;
        wsum += class_weight ? (double)class_weight[y] : 1.0;
    }
    if (wsum == 0.0) { /* everything ignored (or zero-weighted): no loss, no gradient */
        if (dlogits && !accumulate) memset(dlogits, 0, n_all * sizeof(float));
        return 0.0f;
    }

    double loss = 0.0;
    for (int n = 0; n < N; n++) {
        for (int p = 0; p < HW; p++) {
            const size_t base = (size_t)n * K * HW + p; /* (n,0,p) */
            const float *x = logits + base;             /* x (K) at stride HW */
            int32_t y = target[(size_t)n * HW + p];
            if (y == ignore_index) {
                if (dlogits && !accumulate)
                    for (int k = 0; k < K; k++) dlogits[base + (size_t)k * HW] = 0.0f;
                continue;
            }
            double w = class_weight ? (double)class_weight[y] : 1.0;
            double lse = pixel_lse(x, K, HW);
            loss += w * (lse - x[(size_t)y * HW]); /* nll = lse - x_y */
            if (!dlogits) continue;
            /* d/dx_k [w * (lse - x_y)] / wsum = w * (softmax_k - [k == y]) / wsum */
            float c = (float)(w / wsum) * scale;
            for (int k = 0; k < K; k++) {
                float g = c * ((float)exp((double)x[(size_t)k * HW] - lse) - (k == y ? 1.0f : 0.0f));
                if (accumulate) dlogits[base + (size_t)k * HW] += g;
                else dlogits[base + (size_t)k * HW] = g;
            }
        }
    }
    return (float)(loss / wsum);
}

/* dlogits, logits (N,K,HW); target (N*HW); class_weight (K) or NULL. */
float softmax_ce_loss(float *dlogits, const float *logits, const int32_t *target,
                      const float *class_weight, int ignore_index, int N, int K, int HW,
                      float scale)
{
    return ce_impl(dlogits, logits, target, class_weight, ignore_index, N, K, HW, scale, 0);
}

/* dpred, pred, target (n). loss = mean (pred - target)^2; dpred = 2 (pred - target) / n. */
float mse_loss(float *dpred, const float *pred, const float *target, size_t n, float scale)
{
    if (n == 0) return 0.0f;
    double loss = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)pred[i] - target[i];
        loss += d * d;
    }
    if (dpred) {
        const float c = (float)(2.0 / (double)n) * scale;
        for (size_t i = 0; i < n; i++) dpred[i] = c * (pred[i] - target[i]);
    }
    return (float)(loss / (double)n);
}

/* dlogits, logits, target (n).
 * loss_i = max(x,0) - x*t + log1p(exp(-|x|))  (= softplus(x) - x*t, stable);
 * dloss_i/dx = sigmoid(x) - t, with sigmoid evaluated from exp(-|x|) so it never
 * overflows. */
float bce_logits_loss(float *dlogits, const float *logits, const float *target, size_t n,
                      float scale)
{
    if (n == 0) return 0.0f;
    double loss = 0.0;
    for (size_t i = 0; i < n; i++) {
        double x = logits[i], t = target[i];
        loss += (x > 0 ? x : 0.0) - x * t + log1p(exp(-fabs(x)));
    }
    if (dlogits) {
        const float c = (float)(1.0 / (double)n) * scale;
        for (size_t i = 0; i < n; i++) {
            float x = logits[i];
            float e = expf(-fabsf(x));                       /* in (0, 1] */
            float sig = x >= 0 ? 1.0f / (1.0f + e) : e / (1.0f + e);
            dlogits[i] = c * (sig - target[i]);
        }
    }
    return (float)(loss / (double)n);
}

/* Soft Dice. dlogits, probs, logits (N,K,HW); target (N*HW).
 *
 * Forward, with i running over the non-ignored pixels of the batch:
 *   p_ik = softmax_k(x_i.)          g_ik = [y_i == k]
 *   I_k = sum_i p_ik g_ik   P_k = sum_i p_ik   G_k = sum_i g_ik
 *   D_k = P_k + G_k + s     dice_k = (2 I_k + s) / D_k
 *   L = 1 - (1/K) sum_k dice_k
 *
 * Backward. dI_k/dp_ik = g_ik and dD_k/dp_ik = 1, so
 *   a_ik := dL/dp_ik = -(1/K) (2 g_ik D_k - (2 I_k + s)) / D_k^2
 *                    = -(1/K) (2 g_ik - dice_k) / D_k.
 * Through the softmax of pixel i (dp_ik/dx_ij = p_ik ([k==j] - p_ij)):
 *   dL/dx_ij = sum_k a_ik p_ik ([k==j] - p_ij) = p_ij (a_ij - sum_k p_ik a_ik).
 * Ignored pixels are in no sum, so their gradient is 0. A class with D_k = 0
 * (possible only with s = 0: it is absent from the targets and its
 * probabilities underflowed to 0) counts as dice_k = 1 with no gradient.
 *
 * Passes: (1) probs = softmax; (2) per class k, the sums over the batch
 * (contiguous in p), then a_ik written into dlogits as scratch; (3) per pixel,
 * dlogits = scale * p (a - sum_k p a). */
float soft_dice_loss(float *dlogits, float *probs, const float *logits, const int32_t *target,
                     int ignore_index, int N, int K, int HW, float smooth, float scale)
{
    CHECK(N > 0 && K > 0 && HW > 0);
    CHECK(smooth >= 0.0f);
    const size_t n_pix = (size_t)N * HW;
    const size_t n_all = n_pix * (size_t)K;

    /* (1) probs (N,K,HW) = softmax over K of every pixel. */
    size_t n_valid = 0;
    for (int n = 0; n < N; n++) {
        for (int p = 0; p < HW; p++) {
            const size_t base = (size_t)n * K * HW + p;
            int32_t y = target[(size_t)n * HW + p];
            CHECKM(target_valid(y, ignore_index, K), "soft_dice_loss: target out of range");
            n_valid += y != ignore_index;
            double lse = pixel_lse(logits + base, K, HW);
            for (int k = 0; k < K; k++)
                probs[base + (size_t)k * HW] = (float)exp((double)logits[base + (size_t)k * HW] - lse);
        }
    }
    if (n_valid == 0) { /* nothing to score: no loss, no gradient */
        if (dlogits) memset(dlogits, 0, n_all * sizeof(float));
        return 0.0f;
    }

    /* (2) per-class sums and a_ik = dL/dp_ik. */
    const double s = smooth;
    double dice_sum = 0.0;
    for (int k = 0; k < K; k++) {
        double I = 0.0, P = 0.0, G = 0.0;
        for (int n = 0; n < N; n++) {
            const float *pk = probs + ((size_t)n * K + k) * HW; /* (HW) */
            const int32_t *yn = target + (size_t)n * HW;        /* (HW) */
            for (int p = 0; p < HW; p++) {
                if (yn[p] == ignore_index) continue;
                int g = yn[p] == k;
                P += pk[p];
                I += g ? pk[p] : 0.0f;
                G += g;
            }
        }
        double D = P + G + s;
        double dice = D > 0.0 ? (2.0 * I + s) / D : 1.0;
        dice_sum += dice;
        if (!dlogits) continue;
        /* a_ik = -(1/K) (2 g_ik - dice_k) / D_k = ag * g_ik + a0 */
        float a0 = D > 0.0 ? (float)(dice / (K * D)) : 0.0f;
        float ag = D > 0.0 ? (float)(-2.0 / (K * D)) : 0.0f;
        for (int n = 0; n < N; n++) {
            float *ak = dlogits + ((size_t)n * K + k) * HW; /* (HW) */
            const int32_t *yn = target + (size_t)n * HW;   /* (HW) */
            for (int p = 0; p < HW; p++)
                ak[p] = yn[p] == ignore_index ? 0.0f : a0 + (yn[p] == k ? ag : 0.0f);
        }
    }

    /* (3) dL/dx_ij = p_ij (a_ij - sum_k p_ik a_ik), times scale. */
    if (dlogits) {
        for (int n = 0; n < N; n++) {
            for (int p = 0; p < HW; p++) {
                const size_t base = (size_t)n * K * HW + p;
                float dot = 0.0f;
                for (int k = 0; k < K; k++)
                    dot += probs[base + (size_t)k * HW] * dlogits[base + (size_t)k * HW];
                for (int k = 0; k < K; k++) {
                    size_t j = base + (size_t)k * HW;
                    dlogits[j] = scale * probs[j] * (dlogits[j] - dot);
                }
            }
        }
    }
    return (float)(1.0 - dice_sum / K);
}

/* Dice + CE. dlogits, probs, logits (N,K,HW); target (N*HW); class_weight (K) or NULL.
 * Dice writes dlogits (it uses it as scratch), then CE adds its gradient. */
float dice_ce_loss(float *dlogits, float *probs, const float *logits, const int32_t *target,
                   const float *class_weight, int ignore_index, int N, int K, int HW,
                   float smooth, float scale)
{
    float dice = soft_dice_loss(dlogits, probs, logits, target, ignore_index, N, K, HW, smooth,
                                scale);
    float ce = ce_impl(dlogits, logits, target, class_weight, ignore_index, N, K, HW, scale, 1);
    return dice + ce;
}
