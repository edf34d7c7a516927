/* test_loss — the losses of src/nn/loss.c: exact values on small inputs worked
 * out by hand, finite-difference gradient checks of every loss (against the
 * library's own returned value), a double-precision reference for the forward
 * values, stability at logits of +-1000, ignore_index handling and `scale`.
 *
 * Dimension legend: N batch, K classes, HW pixels; logits (N,K,HW), targets (N*HW).
 */
#include "medssl/loss.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { L_CE, L_MSE, L_BCE, L_DICE, L_DICE_CE };

/* Everything one loss call needs; x is the input the gradient check perturbs. */
typedef struct {
    int kind;
    float *x;              /* logits (N,K,HW) or pred (n) */
    const float *t;        /* float targets (n): MSE, BCE */
    const int32_t *y;      /* class targets (N*HW): CE, Dice */
    const float *cw;       /* class weights (K) or NULL */
    float *probs;          /* Dice workspace (N,K,HW) */
    int ignore, N, K, HW;
    size_t n;
    float smooth, scale;
} loss_ctx;

static float loss_eval(const loss_ctx *c, float *grad)
{
    switch (c->kind) {
    case L_CE:
        return softmax_ce_loss(grad, c->x, c->y, c->cw, c->ignore, c->N, c->K, c->HW, c->scale);
    case L_MSE: return mse_loss(grad, c->x, c->t, c->n, c->scale);
    case L_BCE: return bce_logits_loss(grad, c->x, c->t, c->n, c->scale);
    case L_DICE:
        return soft_dice_loss(grad, c->probs, c->x, c->y, c->ignore, c->N, c->K, c->HW,
                              c->smooth, c->scale);
    case L_DICE_CE:
        return dice_ce_loss(grad, c->probs, c->x, c->y, c->cw, c->ignore, c->N, c->K, c->HW,
                            c->smooth, c->scale);
    }
    return NAN;
}

static double loss_f(void *ctx) { return loss_eval(ctx, NULL); }

/* Number of elements of the loss input. */
static size_t ctx_len(const loss_ctx *c)
{
    return (c->kind == L_MSE || c->kind == L_BCE) ? c->n : (size_t)c->N * c->K * c->HW;
}

/* Analytic gradient, then a central-difference check of every entry. */
static void gradcheck_ctx(const char *what, loss_ctx *c, float h, double atol, double rtol)
{
    size_t n = ctx_len(c);
    float *g = malloc(n * sizeof *g);
    for (size_t i = 0; i < n; i++) g[i] = NAN; /* the loss must overwrite every entry */
    loss_eval(c, g);
    int bad = tu_gradcheck(what, loss_f, c, c->x, g, n, NULL, h, atol, rtol, 0);
    TU_CHECKF(bad == 0, "%s: %d mismatches", what, bad);
    free(g);
}

/* Random class targets (N*HW) in [0,K), with about one in `every` set to ignore. */
static void fill_targets(int32_t *y, size_t n, int K, uint64_t seed, int ignore, int every)
{
    float *u = malloc(n * sizeof *u);
    tu_fill_uniform(u, n, seed, 0.0f, 1.0f);
    for (size_t i = 0; i < n; i++) {
        y[i] = (int32_t)(u[i] * K);
        if (y[i] >= K) y[i] = K - 1;
        if (every > 0 && i % (size_t)every == 1) y[i] = ignore;
    }
    free(u);
}

/* Double-precision reference CE (naive, not max-subtracted: inputs are moderate). */
static double ref_ce(const float *x, const int32_t *y, const float *cw, int ignore, int N, int K,
                     int HW)
{
    double num = 0, den = 0;
    for (int n = 0; n < N; n++)
        for (int p = 0; p < HW; p++) {
            int32_t t = y[n * HW + p];
            if (t == ignore) continue;
            double s = 0;
            for (int k = 0; k < K; k++) s += exp(x[(n * K + k) * HW + p]);
            double w = cw ? cw[t] : 1.0;
            num += w * (log(s) - x[(n * K + t) * HW + p]);
            den += w;
        }
    return den > 0 ? num / den : 0.0;
}

/* Double-precision reference soft Dice, straight from the header's formula. */
static double ref_dice(const float *x, const int32_t *y, int ignore, int N, int K, int HW,
                       double smooth)
{
    double dsum = 0;
    for (int k = 0; k < K; k++) {
        double I = 0, P = 0, G = 0;
        for (int n = 0; n < N; n++)
            for (int p = 0; p < HW; p++) {
                int32_t t = y[n * HW + p];
                if (t == ignore) continue;
                double s = 0;
                for (int j = 0; j < K; j++) s += exp(x[(n * K + j) * HW + p]);
                double pk = exp(x[(n * K + k) * HW + p]) / s;
                I += pk * (t == k);
                P += pk;
                G += (t == k);
            }
        dsum += (2 * I + smooth) / (P + G + smooth);
    }
    return 1.0 - dsum / K;
}

/* ---- cross-entropy ------------------------------------------------------------------- */

static void test_ce_hand_values(void)
{
    /* logits [0,0], target 0: p = [1/2, 1/2], loss = ln 2, grad = p - onehot = [-1/2, 1/2]. */
    float x[3] = {0, 0}, g[3];
    int32_t y[2] = {0};
    TU_CLOSE(softmax_ce_loss(g, x, y, NULL, -1, 1, 2, 1, 1.0f), log(2.0), 1e-7, 1e-6);
    TU_CLOSE(g[0], -0.5, 1e-7, 0);
    TU_CLOSE(g[1], 0.5, 1e-7, 0);

    /* logits [1,2,3], target 2: loss = log(e+e^2+e^3) - 3 = log(1 + e^-1 + e^-2) = 0.4076059644. */
    float x3[3] = {1, 2, 3};
    y[0] = 2;
    TU_CLOSE(softmax_ce_loss(NULL, x3, y, NULL, -1, 1, 3, 1, 1.0f), 0.4076059644, 1e-7, 1e-6);

    /* Weighted, N=2, K=2, w = [1, 3]:
     *   sample 0: logits [0, 0],    target 0: p = [1/2, 1/2], nll = ln 2      = 0.693147
     *   sample 1: logits [0, ln 3], target 1: p = [1/4, 3/4], nll = ln(4/3)   = 0.287682
     *   loss = (1*ln 2 + 3*ln(4/3)) / (1 + 3) = (0.693147 + 0.863046) / 4 = 0.389048
     *   grad: sample 0: (1/4) [-1/2, 1/2] = [-0.125, 0.125]
     *         sample 1: (3/4) [1/4, -1/4] = [0.1875, -0.1875]
     * Unweighted the loss would be (0.693147 + 0.287682) / 2 = 0.490415. */
    float xw[4] = {0, 0, 0, (float)log(3.0)}, gw[4];
    int32_t yw[2] = {0, 1};
    float cw[2] = {1, 3};
    TU_CLOSE(softmax_ce_loss(gw, xw, yw, cw, -1, 2, 2, 1, 1.0f), 0.389048, 1e-6, 1e-5);
    TU_CLOSE(gw[0], -0.125, 1e-7, 1e-6);
    TU_CLOSE(gw[1], 0.125, 1e-7, 1e-6);
    TU_CLOSE(gw[2], 0.1875, 1e-7, 1e-6);
    TU_CLOSE(gw[3], -0.1875, 1e-7, 1e-6);
    TU_CLOSE(softmax_ce_loss(NULL, xw, yw, NULL, -1, 2, 2, 1, 1.0f), 0.490415, 1e-6, 1e-5);
}

static void test_ce_layout_hw(void)
{
    /* N=1, K=2, HW=2: class on the second axis, so logits = [x(k0,p0), x(k0,p1), x(k1,p0), x(k1,p1)].
     * pixel 0: [0, 0] target 1 -> ln 2; pixel 1: [ln 3, 0] target 0 -> ln(4/3).
     * mean = (ln 2 + ln(4/3)) / 2 = 0.490415; grad pixel 0 = [1/2, -1/2]/2, pixel 1 = [-1/4, 1/4]/2. */
    float x[4] = {0, (float)log(3.0), 0, 0}, g[4];
    int32_t y[2] = {1, 0};
    TU_CLOSE(softmax_ce_loss(g, x, y, NULL, -1, 1, 2, 2, 1.0f), 0.490415, 1e-6, 1e-5);
    float want[4] = {0.25f, -0.125f, -0.25f, 0.125f};
    TU_ALLCLOSE(g, want, 4, 1e-7, 1e-6);
}

static void test_ce_gradcheck(void)
{
    enum { N = 2, K = 4, HW = 6 };
    float x[N * K * HW], probs[N * K * HW];
    int32_t y[N * HW];
    float cw[K] = {0.5f, 2.0f, 1.0f, 3.0f};
    tu_fill_normal(x, N * K * HW, 11, 2.0f);
    fill_targets(y, N * HW, K, 12, -1, 4);
    loss_ctx c = {.kind = L_CE, .x = x, .y = y, .probs = probs, .ignore = -1, .N = N, .K = K,
                  .HW = HW, .scale = 1.0f};
    TU_CLOSE(loss_eval(&c, NULL), ref_ce(x, y, NULL, -1, N, K, HW), 1e-6, 1e-5);
    gradcheck_ctx("ce seg", &c, 1e-2f, 1e-4, 1e-2);

    c.cw = cw;
    TU_CLOSE(loss_eval(&c, NULL), ref_ce(x, y, cw, -1, N, K, HW), 1e-6, 1e-5);
    gradcheck_ctx("ce seg weighted", &c, 1e-2f, 1e-4, 1e-2);

    /* ignore_index 255 and classification shape (HW = 1). */
    enum { NC = 5, KC = 3 };
    float xc[NC * KC];
    int32_t yc[NC];
    tu_fill_normal(xc, NC * KC, 13, 1.5f);
    fill_targets(yc, NC, KC, 14, 255, 3);
    loss_ctx cc = {.kind = L_CE, .x = xc, .y = yc, .cw = cw, .ignore = 255, .N = NC, .K = KC,
                   .HW = 1, .scale = 1.0f};
    TU_CLOSE(loss_eval(&cc, NULL), ref_ce(xc, yc, cw, 255, NC, KC, 1), 1e-6, 1e-5);
    gradcheck_ctx("ce cls weighted ignore255", &cc, 1e-2f, 1e-4, 1e-2);
}

static void test_ce_ignore(void)
{
    enum { N = 2, K = 3, HW = 4 };
    float x[N * K * HW], g[N * K * HW];
    int32_t y[N * HW];
    tu_fill_normal(x, N * K * HW, 21, 1.0f);
    fill_targets(y, N * HW, K, 22, 255, 3);

    /* Ignored positions get exactly zero gradient, and changing their logits
     * changes neither the loss nor any other gradient. */
    float l0 = softmax_ce_loss(g, x, y, NULL, 255, N, K, HW, 1.0f);
    int n_ign = 0;
    for (int n = 0; n < N; n++)
        for (int p = 0; p < HW; p++) {
            if (y[n * HW + p] != 255) continue;
            n_ign++;
            for (int k = 0; k < K; k++) {
                TU_CHECK(g[(n * K + k) * HW + p] == 0.0f);
                x[(n * K + k) * HW + p] += 5.0f * (k + 1);
            }
        }
    TU_CHECK(n_ign > 0);
    float g2[N * K * HW];
    TU_CHECK(softmax_ce_loss(g2, x, y, NULL, 255, N, K, HW, 1.0f) == l0);
    TU_CHECK(memcmp(g, g2, sizeof g) == 0);

    /* Every position ignored: loss 0 and a zero gradient written over garbage. */
    for (int i = 0; i < N * HW; i++) y[i] = -1;
    for (int i = 0; i < N * K * HW; i++) g[i] = NAN;
    TU_CHECK(softmax_ce_loss(g, x, y, NULL, -1, N, K, HW, 1.0f) == 0.0f);
    for (int i = 0; i < N * K * HW; i++) TU_CHECK(g[i] == 0.0f);
}

static void test_ce_stability(void)
{
    /* [1000, -1000]: target 1 -> loss 2000, grad [1, -1]; target 0 -> loss 0, grad [0, 0]. */
    float x[4] = {1000, -1000, 1000, -1000}, g[4];
    int32_t y[2] = {1, 0};
    float l = softmax_ce_loss(g, x, y, NULL, -1, 2, 2, 1, 1.0f);
    TU_CHECK(isfinite(l));
    TU_CLOSE(l, 1000.0, 1e-3, 1e-6); /* mean of 2000 and 0 */
    float want[4] = {0.5f, -0.5f, 0.0f, 0.0f};
    TU_ALLCLOSE(g, want, 4, 1e-7, 1e-6);
    /* Same logits summed with a huge common offset: the loss does not change. */
    float xs[4] = {1000, 999, -1000, -1000};
    l = softmax_ce_loss(g, xs, y, NULL, -1, 2, 2, 1, 1.0f);
    TU_CHECK(isfinite(l));
    for (int i = 0; i < 4; i++) TU_CHECK(isfinite(g[i]));
    /* pixel 0: nll of [1000,999] target 1 = log(1+e) = 1.313262; pixel 1: [-1000,-1000] -> ln 2. */
    TU_CLOSE(l, (1.3132616875 + log(2.0)) / 2, 1e-5, 1e-5);
}

static void test_ce_scale(void)
{
    enum { N = 3, K = 4, HW = 2 };
    float x[N * K * HW], g1[N * K * HW], g2[N * K * HW];
    int32_t y[N * HW];
    tu_fill_normal(x, N * K * HW, 31, 1.0f);
    fill_targets(y, N * HW, K, 32, -1, 0);
    float l1 = softmax_ce_loss(g1, x, y, NULL, -1, N, K, HW, 1.0f);
    float l2 = softmax_ce_loss(g2, x, y, NULL, -1, N, K, HW, 2.5f);
    TU_CHECK(l1 == l2); /* scale touches only the gradient */
    for (int i = 0; i < N * K * HW; i++) g1[i] *= 2.5f;
    TU_ALLCLOSE(g2, g1, N * K * HW, 1e-8, 1e-6);
    /* Each row of a softmax gradient sums to zero. */
    for (int n = 0; n < N; n++)
        for (int p = 0; p < HW; p++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += g2[(n * K + k) * HW + p];
            TU_CLOSE(s, 0.0, 1e-6, 0);
        }
}

/* ---- MSE and BCE ------------------------------------------------------------------- */

static void test_mse(void)
{
    /* pred [1, 2], target [0, 0]: loss = (1 + 4)/2 = 2.5; grad = 2 (p - t)/2 = [1, 2]. */
    float p[2] = {1, 2}, t[2] = {0, 0}, g[2];
    TU_CLOSE(mse_loss(g, p, t, 2, 1.0f), 2.5, 0, 1e-7);
    TU_CLOSE(g[0], 1.0, 0, 1e-7);
    TU_CLOSE(g[1], 2.0, 0, 1e-7);
    TU_CLOSE(mse_loss(g, p, t, 2, 0.5f), 2.5, 0, 1e-7);
    TU_CLOSE(g[1], 1.0, 0, 1e-7);

    enum { n = 17 };
    float x[n], tt[n];
    tu_fill_normal(x, n, 41, 1.0f);
    tu_fill_normal(tt, n, 42, 1.0f);
    loss_ctx c = {.kind = L_MSE, .x = x, .t = tt, .n = n, .scale = 1.0f};
    gradcheck_ctx("mse", &c, 1e-2f, 1e-5, 1e-3);
}

static void test_bce(void)
{
    /* logit 0: loss = 0 - 0 + log(1 + 1) = ln 2 for any target; grad = (sigmoid(0) - t)/n. */
    float x[2] = {0, 0}, t[2] = {1, 0.25f}, g[2];
    TU_CLOSE(bce_logits_loss(g, x, t, 2, 1.0f), log(2.0), 1e-7, 1e-6);
    TU_CLOSE(g[0], (0.5 - 1.0) / 2, 1e-8, 1e-6);
    TU_CLOSE(g[1], (0.5 - 0.25) / 2, 1e-8, 1e-6);
    /* logit 2, target 1: loss = log(1 + e^-2) = 0.126928011; grad = sigmoid(2) - 1 = -0.119202922. */
    float x1 = 2, t1 = 1, g1;
    TU_CLOSE(bce_logits_loss(&g1, &x1, &t1, 1, 1.0f), 0.126928011, 1e-8, 1e-6);
    TU_CLOSE(g1, -0.119202922, 1e-8, 1e-6);
    TU_CLOSE(bce_logits_loss(&g1, &x1, &t1, 1, 3.0f), 0.126928011, 1e-8, 1e-6); /* scale 3 */
    TU_CLOSE(g1, 3 * -0.119202922, 1e-8, 1e-6);

    /* +-1000: x=1000,t=1 -> 0; x=-1000,t=1 -> 1000; x=1000,t=0 -> 1000; x=-1000,t=0 -> 0.
     * mean = 500; grads (sigmoid - t)/4 = [0, -1/4, 1/4, 0]. */
    float xb[4] = {1000, -1000, 1000, -1000}, tb[4] = {1, 1, 0, 0}, gb[4];
    float l = bce_logits_loss(gb, xb, tb, 4, 1.0f);
    TU_CHECK(isfinite(l));
    TU_CLOSE(l, 500.0, 1e-4, 1e-7);
    float want[4] = {0, -0.25f, 0.25f, 0};
    TU_ALLCLOSE(gb, want, 4, 1e-8, 1e-6);

    /* Gradient checks: moderate logits, then large-magnitude ones (|x| in 15..40)
     * with soft targets, where the naive log(sigmoid) would already lose everything. */
    enum { n = 12 };
    float xs[n], ts[n];
    tu_fill_normal(xs, n, 51, 2.0f);
    tu_fill_uniform(ts, n, 52, 0.0f, 1.0f);
    loss_ctx c = {.kind = L_BCE, .x = xs, .t = ts, .n = n, .scale = 1.0f};
    gradcheck_ctx("bce", &c, 1e-2f, 1e-5, 1e-3);
    for (int i = 0; i < n; i++) xs[i] = (i % 2 ? -1.0f : 1.0f) * (15.0f + 2.0f * i);
    gradcheck_ctx("bce large", &c, 5e-2f, 2e-4, 1e-3);
}

/* ---- soft Dice and Dice+CE --------------------------------------------------------- */

static void test_dice_hand_values(void)
{
    /* N=1, K=2, HW=2, all logits 0 -> p = 1/2 everywhere; targets [0, 1], smooth 0.
     * Class 0: I = 1/2, P = 1, G = 1, D = 2, dice = 1/2; class 1 the same. loss = 1/2.
     * a_ik = -(1/K)(2 g - dice)/D = -(2g - 1/2)/4: g=1 -> -3/8, g=0 -> 1/8.
     * pixel 0 (target 0): a = [-3/8, 1/8], sum_k p a = -1/8,
     *   dL/dx = p (a - sum) = 1/2 [-3/8 + 1/8, 1/8 + 1/8] = [-1/8, 1/8].
     * pixel 1 (target 1): [1/8, -1/8]. Layout (k,p): [x00, x01, x10, x11]. */
    float x[4] = {0, 0, 0, 0}, probs[4], g[4];
    int32_t y[2] = {0, 1};
    TU_CLOSE(soft_dice_loss(g, probs, x, y, -1, 1, 2, 2, 0.0f, 1.0f), 0.5, 1e-7, 1e-6);
    float want[4] = {-0.125f, 0.125f, 0.125f, -0.125f};
    TU_ALLCLOSE(g, want, 4, 1e-8, 1e-6);
    float half[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    TU_ALLCLOSE(probs, half, 4, 0, 1e-7);
    /* smooth 1: dice_k = (2*1/2 + 1)/(2 + 1) = 2/3, loss = 1/3. */
    TU_CLOSE(soft_dice_loss(NULL, probs, x, y, -1, 1, 2, 2, 1.0f, 1.0f), 1.0 / 3, 1e-7, 1e-6);

    /* Perfect one-hot prediction with huge logits: dice = 1 for every class, loss ~ 0,
     * also at +-1000 (softmax saturates to exact 0/1 without overflow). */
    enum { N = 2, K = 3, HW = 4 };
    float xp[N * K * HW], pp[N * K * HW], gp[N * K * HW];
    int32_t yp[N * HW] = {0, 1, 2, 1, 2, 2, 0, 1};
    const float mags[2] = {50.0f, 1000.0f};
    for (int m = 0; m < 2; m++) {
        for (int n = 0; n < N; n++)
            for (int k = 0; k < K; k++)
                for (int p = 0; p < HW; p++)
                    xp[(n * K + k) * HW + p] = yp[n * HW + p] == k ? mags[m] : -mags[m];
        float l = soft_dice_loss(gp, pp, xp, yp, -1, N, K, HW, 1e-5f, 1.0f);
        TU_CHECK(isfinite(l));
        TU_CLOSE(l, 0.0, 1e-6, 0);
        for (int i = 0; i < N * K * HW; i++) TU_CHECK(isfinite(gp[i]) && fabsf(gp[i]) < 1e-6f);
        /* Totally wrong at +-1000: every prediction on another class -> dice ~ 0, loss ~ 1. */
        for (int i = 0; i < N * K * HW; i++) xp[i] = -xp[i];
        l = soft_dice_loss(gp, pp, xp, yp, -1, N, K, HW, 1e-5f, 1.0f);
        TU_CHECK(isfinite(l));
        TU_CHECK(l > 0.99f && l <= 1.0f);
        for (int i = 0; i < N * K * HW; i++) TU_CHECK(isfinite(gp[i]));
    }
}

static void test_dice_gradcheck(void)
{
    enum { N = 2, K = 3, HW = 5 };
    float x[N * K * HW], probs[N * K * HW];
    int32_t y[N * HW];
    tu_fill_normal(x, N * K * HW, 61, 1.5f);
    fill_targets(y, N * HW, K, 62, -1, 4);
    loss_ctx c = {.kind = L_DICE, .x = x, .y = y, .probs = probs, .ignore = -1, .N = N, .K = K,
                  .HW = HW, .smooth = 1e-5f, .scale = 1.0f};
    TU_CLOSE(loss_eval(&c, NULL), ref_dice(x, y, -1, N, K, HW, 1e-5), 1e-6, 1e-5);
    gradcheck_ctx("dice smooth 1e-5", &c, 1e-2f, 1e-4, 1e-2);
    c.smooth = 1.0f;
    TU_CLOSE(loss_eval(&c, NULL), ref_dice(x, y, -1, N, K, HW, 1.0), 1e-6, 1e-5);
    gradcheck_ctx("dice smooth 1", &c, 1e-2f, 1e-4, 1e-2);

    /* Classification shape, ignore 255. */
    enum { NC = 6, KC = 4 };
    float xc[NC * KC], pc[NC * KC];
    int32_t yc[NC];
    tu_fill_normal(xc, NC * KC, 63, 1.0f);
    fill_targets(yc, NC, KC, 64, 255, 3);
    loss_ctx cc = {.kind = L_DICE, .x = xc, .y = yc, .probs = pc, .ignore = 255, .N = NC,
                   .K = KC, .HW = 1, .smooth = 0.5f, .scale = 1.0f};
    TU_CLOSE(loss_eval(&cc, NULL), ref_dice(xc, yc, 255, NC, KC, 1, 0.5), 1e-6, 1e-5);
    gradcheck_ctx("dice cls ignore255", &cc, 1e-2f, 1e-4, 1e-2);
}

static void test_dice_ignore_and_scale(void)
{
    enum { N = 2, K = 3, HW = 4 };
    float x[N * K * HW], probs[N * K * HW], g[N * K * HW], g2[N * K * HW];
    int32_t y[N * HW];
    tu_fill_normal(x, N * K * HW, 71, 1.0f);
    fill_targets(y, N * HW, K, 72, -1, 3);
    float l1 = soft_dice_loss(g, probs, x, y, -1, N, K, HW, 1.0f, 1.0f);
    float l2 = soft_dice_loss(g2, probs, x, y, -1, N, K, HW, 1.0f, -3.0f);
    TU_CHECK(l1 == l2);
    for (int i = 0; i < N * K * HW; i++) g[i] *= -3.0f;
    TU_ALLCLOSE(g2, g, N * K * HW, 1e-8, 1e-6);
    TU_CHECK(soft_dice_loss(NULL, probs, x, y, -1, N, K, HW, 1.0f, 1.0f) == l1);
    for (int n = 0; n < N; n++)
        for (int p = 0; p < HW; p++)
            if (y[n * HW + p] == -1)
                for (int k = 0; k < K; k++) TU_CHECK(g2[(n * K + k) * HW + p] == 0.0f);

    /* All ignored: loss 0 and zero gradient, for smooth 0 too (where 0/0 would loom). */
    for (int i = 0; i < N * HW; i++) y[i] = -1;
    for (int i = 0; i < N * K * HW; i++) g[i] = NAN;
    TU_CHECK(soft_dice_loss(g, probs, x, y, -1, N, K, HW, 0.0f, 1.0f) == 0.0f);
    for (int i = 0; i < N * K * HW; i++) TU_CHECK(g[i] == 0.0f);
    for (int i = 0; i < N * K * HW; i++) g[i] = NAN;
    TU_CHECK(dice_ce_loss(g, probs, x, y, NULL, -1, N, K, HW, 1.0f, 1.0f) == 0.0f);
    for (int i = 0; i < N * K * HW; i++) TU_CHECK(g[i] == 0.0f);
}

static void test_dice_ce(void)
{
    enum { N = 2, K = 3, HW = 5 };
    float x[N * K * HW], probs[N * K * HW], gd[N * K * HW], gc[N * K * HW], gs[N * K * HW];
    int32_t y[N * HW];
    float cw[K] = {1.0f, 0.5f, 2.0f};
    tu_fill_normal(x, N * K * HW, 81, 1.5f);
    fill_targets(y, N * HW, K, 82, 255, 4);

    /* Value and gradient are the sums of the two parts (weights go to CE only). */
    float ld = soft_dice_loss(gd, probs, x, y, 255, N, K, HW, 1e-3f, 0.7f);
    float lc = softmax_ce_loss(gc, x, y, cw, 255, N, K, HW, 0.7f);
    for (int i = 0; i < N * K * HW; i++) gs[i] = NAN;
    float l = dice_ce_loss(gs, probs, x, y, cw, 255, N, K, HW, 1e-3f, 0.7f);
    TU_CLOSE(l, (double)ld + lc, 1e-6, 1e-6);
    for (int i = 0; i < N * K * HW; i++) gd[i] += gc[i];
    TU_ALLCLOSE(gs, gd, N * K * HW, 1e-7, 1e-5);

    loss_ctx c = {.kind = L_DICE_CE, .x = x, .y = y, .cw = cw, .probs = probs, .ignore = 255,
                  .N = N, .K = K, .HW = HW, .smooth = 1e-3f, .scale = 1.0f};
    gradcheck_ctx("dice+ce", &c, 1e-2f, 1e-4, 1e-2);

    /* +-1000 logits: finite. */
    for (int i = 0; i < N * K * HW; i++) x[i] = (i % 3 == 0) ? 1000.0f : -1000.0f;
    l = dice_ce_loss(gs, probs, x, y, cw, 255, N, K, HW, 1e-3f, 1.0f);
    TU_CHECK(isfinite(l));
    for (int i = 0; i < N * K * HW; i++) TU_CHECK(isfinite(gs[i]));
}

int main(void)
{
    TU_RUN(test_ce_hand_values);
    TU_RUN(test_ce_layout_hw);
    TU_RUN(test_ce_gradcheck);
    TU_RUN(test_ce_ignore);
    TU_RUN(test_ce_stability);
    TU_RUN(test_ce_scale);
    TU_RUN(test_mse);
    TU_RUN(test_bce);
    TU_RUN(test_dice_hand_values);
    TU_RUN(test_dice_gradcheck);
    TU_RUN(test_dice_ignore_and_scale);
    TU_RUN(test_dice_ce);
    return tu_summary();
}
