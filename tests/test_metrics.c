/* test_metrics — finetune/metrics.c against values worked out by hand: a
 * 3-class confusion matrix with per-class sensitivity, specificity, precision,
 * F1 and tie-aware AUCs; AUC of perfect, inverted, constant and tied scorers
 * (and against a naive O(n^2) pairwise reference); DSC of known masks with
 * empty prediction, empty truth, both empty and ignored pixels; per-domain
 * results equal to separate accumulators; bootstrap intervals (contain the
 * point estimate, deterministic for a seed, plausible width); input errors;
 * ROC vertices worked by hand (ties, K = 2 and one-vs-rest K = 3, thinning,
 * classes without positives), their trapezoid area equal to the AUC with many
 * ties, thinned curves monotone at evenly spaced ranks; per-image DSC lists by
 * hand and consistent with per_class n and dsc_mean;
 * the JSON report parsed back by python3 (when available) and checked for the
 * DESIGN.md keys.
 *
 * Dimension legend: n samples, K classes, H, W mask size.
 */
#include "medssl/common.h"
#include "medssl/metrics.h"
#include "medssl/rng.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- classification -------------------------------------------------------------------- */

/* 9 samples, K = 3. Predicted = argmax:   labels 0 0 0 0 1 1 1 2 2
 *                                         preds  0 0 0 1 1 2 2 0 2            */
static const float HAND_P[9 * 3] = {
    0.70f, 0.20f, 0.10f, /* y0 p0 */
    0.60f, 0.30f, 0.10f, /* y0 p0 */
    0.50f, 0.10f, 0.40f, /* y0 p0 */
    0.30f, 0.45f, 0.25f, /* y0 p1 */
    0.20f, 0.50f, 0.30f, /* y1 p1 */
    0.10f, 0.35f, 0.55f, /* y1 p2 */
    0.25f, 0.15f, 0.60f, /* y1 p2 */
    0.40f, 0.35f, 0.25f, /* y2 p0 */
    0.05f, 0.15f, 0.80f, /* y2 p2 */
};
static const int32_t HAND_Y[9] = { 0, 0, 0, 0, 1, 1, 1, 2, 2 };

static void test_cls_hand(void)
{
    metrics_cls *acc = metrics_cls_new(3);
    /* fed in two batches: the accumulator must not care */
    TU_CHECK(metrics_cls_add(acc, HAND_P, HAND_Y, NULL, 4) == MS_OK);
    TU_CHECK(metrics_cls_add(acc, HAND_P + 12, HAND_Y + 4, NULL, 5) == MS_OK);
    metrics_cls_result r;
    metrics_cls_finish(acc, METRICS_ALL, 0, 0, &r);
    /* Confusion (rows true):  t0 [3 1 0]   t1 [0 1 2]   t2 [1 0 1] */
    const int64_t conf[9] = { 3, 1, 0, 0, 1, 2, 1, 0, 1 };
    for (int j = 0; j < 9; j++) TU_CHECKF(r.confusion[j] == conf[j], "confusion[%d] = %lld", j, (long long)r.confusion[j]);
    TU_CHECK(r.n == 9);
    TU_CLOSE(r.accuracy, 5.0 / 9, 1e-12, 0);
    /* class 0: TP 3 FN 1 FP 1 TN 4 -> sens 3/4, spec 4/5, prec 3/4, f1 6/8
     * class 1: TP 1 FN 2 FP 1 TN 5 -> sens 1/3, spec 5/6, prec 1/2, f1 2/5
     * class 2: TP 1 FN 1 FP 2 TN 5 -> sens 1/2, spec 5/7, prec 1/3, f1 2/5 */
    const double sens[3] = { 0.75, 1.0 / 3, 0.5 }, spec[3] = { 0.8, 5.0 / 6, 5.0 / 7 };
    const double prec[3] = { 0.75, 0.5, 1.0 / 3 }, f1[3] = { 0.75, 0.4, 0.4 };
    /* AUC class 0: positives .7 .6 .5 .3 vs negatives .2 .1 .25 .4 .05: 5+5+5+4 = 19 of 20.
     * class 1: positives .5 .35 .15 vs negatives .2 .3 .1 .45 .35 .15:
     *          .5 beats 6; .35 beats 4, ties 1 -> 4.5; .15 beats 1, ties 1 -> 1.5: 12 of 18.
     * class 2: positives .25 .8 vs negatives .1 .1 .4 .25 .3 .55 .6:
     *          .8 beats 7; .25 beats 2, ties 1 -> 2.5: 9.5 of 14. */
    const double auc[3] = { 19.0 / 20, 12.0 / 18, 9.5 / 14 };
    const int64_t support[3] = { 4, 3, 2 }, predicted[3] = { 4, 2, 3 };
    for (int k = 0; k < 3; k++) {
        TU_CLOSE(r.per_class[k].sensitivity, sens[k], 1e-12, 0);
        TU_CLOSE(r.per_class[k].specificity, spec[k], 1e-12, 0);
        TU_CLOSE(r.per_class[k].precision, prec[k], 1e-12, 0);
        TU_CLOSE(r.per_class[k].f1, f1[k], 1e-12, 0);
        TU_CLOSE(r.per_class[k].auc, auc[k], 1e-12, 0);
        TU_CHECK(r.per_class[k].support == support[k] && r.per_class[k].predicted == predicted[k]);
    }
    TU_CLOSE(r.balanced_accuracy, (0.75 + 1.0 / 3 + 0.5) / 3, 1e-12, 0);
    TU_CLOSE(r.macro_auc, (auc[0] + auc[1] + auc[2]) / 3, 1e-12, 0);
    metrics_cls_result_free(&r);
    metrics_cls_free(acc);
}

/* Undefined values: a class never predicted has NaN precision and F1 0; a
 * class absent from the labels has NaN sensitivity and AUC and is left out of
 * balanced accuracy and macro AUC. */
static void test_cls_undefined(void)
{
    /* K = 3, labels 0 0 1 1, never class 2 in truth; predictions 0 0 0 1: class 2 never predicted either. */
    const float p[4 * 3] = { .8f, .1f, .1f, .7f, .2f, .1f, .6f, .3f, .1f, .2f, .7f, .1f };
    const int32_t y[4] = { 0, 0, 1, 1 };
    metrics_cls *acc = metrics_cls_new(3);
    TU_CHECK(metrics_cls_add(acc, p, y, NULL, 4) == MS_OK);
    metrics_cls_result r;
    metrics_cls_finish(acc, METRICS_ALL, 0, 0, &r);
    TU_CHECK(isnan(r.per_class[2].sensitivity));
    TU_CHECK(isnan(r.per_class[2].precision));
    TU_CHECK(isnan(r.per_class[2].f1));
    TU_CHECK(isnan(r.per_class[2].auc));
    TU_CLOSE(r.per_class[2].specificity, 1.0, 0, 0);
    /* class 1: TP 1 FN 1 FP 0 -> sens 1/2, prec 1, f1 2/3; class 0: sens 1, prec 2/3. */
    TU_CLOSE(r.per_class[1].f1, 2.0 / 3, 1e-12, 0);
    TU_CLOSE(r.balanced_accuracy, (1.0 + 0.5) / 2, 1e-12, 0);
    /* AUC 0: pos .8 .7 vs neg .6 .2 -> 1; AUC 1: pos .3 .7 vs neg .1 .2 -> 1. */
    TU_CLOSE(r.macro_auc, 1.0, 1e-12, 0);
    metrics_cls_result_free(&r);
    /* A class never predicted but present: precision NaN, F1 = 0. Labels 0 1 2 2, predictions 0 1 1 1. */
    const float q[4 * 3] = { .8f, .1f, .1f, .1f, .8f, .1f, .1f, .5f, .4f, .2f, .6f, .2f };
    const int32_t z[4] = { 0, 1, 2, 2 };
    metrics_cls *acc2 = metrics_cls_new(3);
    TU_CHECK(metrics_cls_add(acc2, q, z, NULL, 4) == MS_OK);
    metrics_cls_finish(acc2, METRICS_ALL, 0, 0, &r);
    TU_CHECK(isnan(r.per_class[2].precision));
    TU_CLOSE(r.per_class[2].f1, 0.0, 0, 0);
    TU_CLOSE(r.per_class[2].sensitivity, 0.0, 0, 0);
    metrics_cls_result_free(&r);
    metrics_cls_free(acc2);
    metrics_cls_free(acc);
}

/* O(n^2) reference: sum over positive-negative pairs of [s+ > s-] + 0.5 [s+ == s-], weighted. */
static double naive_auc(const float *s, const uint8_t *pos, const double *w, int n)
{
    double U = 0, P = 0, N = 0;
    for (int i = 0; i < n; i++) {
        double wi = w ? w[i] : 1;
        if (pos[i]) P += wi; else N += wi;
        for (int j = 0; pos[i] && j < n; j++)
            if (!pos[j]) U += wi * (w ? w[j] : 1) * ((s[i] > s[j]) + 0.5 * (s[i] == s[j]));
    }
    return P > 0 && N > 0 ? U / (P * N) : NAN;
}

static void test_auc(void)
{
    const float up[6] = { .1f, .2f, .3f, .6f, .7f, .9f };
    const float down[6] = { .9f, .8f, .7f, .3f, .2f, .1f };
    const float flat[6] = { .5f, .5f, .5f, .5f, .5f, .5f };
    const uint8_t pos[6] = { 0, 0, 0, 1, 1, 1 };
    TU_CLOSE(metrics_auc(up, pos, NULL, 6), 1.0, 0, 0);
    TU_CLOSE(metrics_auc(down, pos, NULL, 6), 0.0, 0, 0);
    TU_CLOSE(metrics_auc(flat, pos, NULL, 6), 0.5, 0, 0);
    /* Ties by hand: scores .5 .5 .2 .8, positives 1 0 0 1. Average ranks: .2 -> 1,
     * .5 -> 2.5 (twice), .8 -> 4; rank sum of positives 2.5 + 4 = 6.5;
     * U = 6.5 - 2*3/2 = 3.5; AUC = 3.5 / (2*2) = 0.875. */
    const float tie[4] = { .5f, .5f, .2f, .8f };
    const uint8_t tpos[4] = { 1, 0, 0, 1 };
    TU_CLOSE(metrics_auc(tie, tpos, NULL, 4), 0.875, 1e-15, 0);
    /* sklearn's doc example: scores .1 .4 .35 .8, labels 0 0 1 1 -> 0.75. */
    const float sk[4] = { .1f, .4f, .35f, .8f };
    const uint8_t skp[4] = { 0, 0, 1, 1 };
    TU_CLOSE(metrics_auc(sk, skp, NULL, 4), 0.75, 1e-15, 0);
    /* Undefined without positives. */
    const uint8_t none[4] = { 0, 0, 0, 0 };
    TU_CHECK(isnan(metrics_auc(sk, none, NULL, 4)));
    /* Weight 2 = the sample twice. */
    const double w2[4] = { 1, 2, 1, 1 };
    const float dup[5] = { .1f, .4f, .4f, .35f, .8f };
    const uint8_t dupp[5] = { 0, 0, 0, 1, 1 };
    TU_CLOSE(metrics_auc(sk, skp, w2, 4), metrics_auc(dup, dupp, NULL, 5), 1e-15, 0);
    /* Random scores quantized to 8 levels (many ties) against the pairwise reference. */
    enum { N = 301 };
    float s[N], u[N];
    uint8_t p[N];
    double w[N];
    tu_fill_uniform(u, N, 11, 0, 1);
    tu_fill_uniform(s, N, 12, 0, 1);
    for (int i = 0; i < N; i++) {
        p[i] = u[i] < 0.3f + 0.4f * s[i];
        s[i] = floorf(s[i] * 8) / 8;
        w[i] = (double)(i % 3);
    }
    TU_CLOSE(metrics_auc(s, p, NULL, N), naive_auc(s, p, NULL, N), 1e-12, 0);
    TU_CLOSE(metrics_auc(s, p, w, N), naive_auc(s, p, w, N), 1e-12, 0);
}

static void test_binary_macro_auc(void)
{
    /* K = 2: macro_auc is the AUC of class 1's probability. Scores of class 1:
     * .9 .6 .4 | .7 .2 with labels 1 1 1 | 0 0: pairs 2 + 1 + 1 = 4 of 6. Class 0's
     * column is NOT 1 - p1 here (rows need not sum to 1), so the choice shows. */
    const float p[5 * 2] = { .1f, .9f, .1f, .6f, .1f, .4f, .1f, .7f, .1f, .2f };
    const int32_t y[5] = { 1, 1, 1, 0, 0 };
    metrics_cls *acc = metrics_cls_new(2);
    TU_CHECK(metrics_cls_add(acc, p, y, NULL, 5) == MS_OK);
    metrics_cls_result r;
    metrics_cls_finish(acc, METRICS_ALL, 0, 0, &r);
    TU_CLOSE(r.macro_auc, 4.0 / 6, 1e-12, 0);
    TU_CLOSE(r.per_class[1].auc, 4.0 / 6, 1e-12, 0);
    TU_CLOSE(r.per_class[0].auc, 0.5, 1e-12, 0); /* constant column */
    metrics_cls_result_free(&r);
    metrics_cls_free(acc);
}

/* Random K-class data whose argmax is right with probability about `skill`. */
static void make_cls(float *p, int32_t *y, int32_t *dom, int n, int K, uint64_t seed, float skill)
{
    ms_rng r = rng_stream(rng_key(seed, 0, 0, RNG_DATA));
    for (int i = 0; i < n; i++) {
        y[i] = (int32_t)rng_below(&r, (uint32_t)K);
        if (dom) dom[i] = (int32_t)rng_below(&r, 3) * 2; /* domains 0, 2, 4 */
        double sum = 0;
        for (int k = 0; k < K; k++) sum += p[i * K + k] = rng_uniform(&r);
        if (rng_uniform(&r) < skill) p[i * K + y[i]] += (float)sum;
        sum = 0;
        for (int k = 0; k < K; k++) sum += p[i * K + k];
        for (int k = 0; k < K; k++) p[i * K + k] /= (float)sum;
    }
}

static int same_cls(const metrics_cls_result *a, const metrics_cls_result *b)
{
    if (a->n != b->n || a->accuracy != b->accuracy || a->macro_auc != b->macro_auc ||
        a->balanced_accuracy != b->balanced_accuracy)
        return 0;
    for (int j = 0; j < a->K * a->K; j++)
        if (a->confusion[j] != b->confusion[j]) return 0;
    for (int k = 0; k < a->K; k++)
        if (a->per_class[k].auc != b->per_class[k].auc || a->per_class[k].f1 != b->per_class[k].f1) return 0;
    return 1;
}

static void test_cls_domains(void)
{
    enum { N = 300, K = 4 };
    float *p = malloc(N * K * sizeof *p), *pd = malloc(N * K * sizeof *pd);
    int32_t y[N], dom[N], yd[N];
    make_cls(p, y, dom, N, K, 3, 0.6f);
    metrics_cls *acc = metrics_cls_new(K);
    TU_CHECK(metrics_cls_add(acc, p, y, dom, N) == MS_OK);
    int ids[METRICS_MAX_DOMAINS];
    int nd = metrics_cls_domains(acc, ids);
    TU_CHECK(nd == 3 && ids[0] == 0 && ids[1] == 2 && ids[2] == 4);
    int64_t total = 0;
    for (int j = 0; j < nd; j++) {
        int m = 0;
        for (int i = 0; i < N; i++)
            if (dom[i] == ids[j]) {
                memcpy(pd + m * K, p + i * K, K * sizeof *p);
                yd[m++] = y[i];
            }
        metrics_cls *sep = metrics_cls_new(K);
        TU_CHECK(metrics_cls_add(sep, pd, yd, NULL, m) == MS_OK);
        metrics_cls_result a, b;
        metrics_cls_finish(acc, ids[j], 0, 0, &a);
        metrics_cls_finish(sep, METRICS_ALL, 0, 0, &b);
        TU_CHECKF(same_cls(&a, &b), "domain %d differs from a separate accumulator", ids[j]);
        TU_CHECK(a.domain == ids[j] && metrics_cls_count(acc, ids[j]) == m);
        total += a.n;
        metrics_cls_result_free(&a);
        metrics_cls_result_free(&b);
        metrics_cls_free(sep);
    }
    TU_CHECK(total == N && metrics_cls_count(acc, METRICS_ALL) == N);
    /* A domain without samples: n = 0 and NaNs, no crash. */
    metrics_cls_result e;
    metrics_cls_finish(acc, 1, 50, 1, &e);
    TU_CHECK(e.n == 0 && isnan(e.accuracy) && isnan(e.macro_auc) && isnan(e.ci_accuracy.lo));
    metrics_cls_result_free(&e);
    metrics_cls_free(acc);
    free(p);
    free(pd);
}

static void test_cls_bootstrap(void)
{
    enum { N = 400, K = 3, B = 500 };
    float *p = malloc(N * K * sizeof *p);
    int32_t y[N];
    make_cls(p, y, NULL, N, K, 5, 0.7f);
    metrics_cls *acc = metrics_cls_new(K);
    TU_CHECK(metrics_cls_add(acc, p, y, NULL, N) == MS_OK);
    metrics_cls_result a, b, c;
    metrics_cls_finish(acc, METRICS_ALL, B, 42, &a);
    metrics_cls_finish(acc, METRICS_ALL, B, 42, &b);
    metrics_cls_finish(acc, METRICS_ALL, B, 43, &c);
    TU_CHECK(a.ci_resamples == B);
    TU_CHECK(a.ci_accuracy.lo <= a.accuracy && a.accuracy <= a.ci_accuracy.hi);
    TU_CHECK(a.ci_balanced_accuracy.lo <= a.balanced_accuracy && a.balanced_accuracy <= a.ci_balanced_accuracy.hi);
    TU_CHECK(a.ci_macro_auc.lo <= a.macro_auc && a.macro_auc <= a.ci_macro_auc.hi);
    TU_CHECK(a.ci_accuracy.lo == b.ci_accuracy.lo && a.ci_accuracy.hi == b.ci_accuracy.hi);
    TU_CHECK(a.ci_macro_auc.lo == b.ci_macro_auc.lo && a.ci_macro_auc.hi == b.ci_macro_auc.hi);
    TU_CHECK(a.ci_macro_auc.lo != c.ci_macro_auc.lo || a.ci_macro_auc.hi != c.ci_macro_auc.hi);
    /* Width of a binomial 95% interval: 2 * 1.96 * sqrt(a (1 - a) / n). */
    double want = 2 * 1.96 * sqrt(a.accuracy * (1 - a.accuracy) / N);
    double width = a.ci_accuracy.hi - a.ci_accuracy.lo;
    TU_CHECKF(width > 0.75 * want && width < 1.25 * want, "accuracy CI width %g, expected about %g", width, want);
    metrics_cls_result_free(&a);
    metrics_cls_result_free(&b);
    metrics_cls_result_free(&c);
    metrics_cls_free(acc);
    free(p);
    /* Quantile: linear interpolation at q (n - 1), NaNs dropped. */
    double v[6] = { 4, NAN, 1, 3, 2, 5 };
    TU_CLOSE(metrics_quantile(v, 6, 0.025), 1.1, 1e-12, 0);
    double v2[3] = { NAN, NAN, NAN };
    TU_CHECK(isnan(metrics_quantile(v2, 3, 0.5)));
}

/* ---- ROC curves ------------------------------------------------------------------------ */

/* Trapezoid area under the vertices (n). */
static double trapezoid(const double *fpr, const double *tpr, int n)
{
    double a = 0;
    for (int t = 1; t < n; t++) a += (fpr[t] - fpr[t - 1]) * (tpr[t] + tpr[t - 1]) / 2;
    return a;
}

/* Checks the vertices (n) against want (2 n: fpr, tpr pairs). */
static void check_roc(const double *fpr, const double *tpr, int n, const double *want, int n_want)
{
    TU_CHECKF(n == n_want, "%d vertices, expected %d", n, n_want);
    for (int t = 0; t < n && t < n_want; t++) {
        TU_CLOSE(fpr[t], want[2 * t], 1e-15, 0);
        TU_CLOSE(tpr[t], want[2 * t + 1], 1e-15, 0);
    }
}

static void test_roc_hand(void)
{
    /* K = 2, 6 samples, class 1's score .9 .8 .8 .6 .4 .2 with labels 1 1 0 1 0 0 (P = N = 3).
     * Tie groups from the top: .9 {+}, .8 {+, -}, .6 {+}, .4 {-}, .2 {-}, so the vertices
     * (0,0) (0,1/3) (1/3,2/3) (1/3,1) (2/3,1) (1,1); area 1/6 + 1/3 + 1/3 = 5/6 =
     * Mann-Whitney (3 + 2.5 + 2) / 9. Class 0 (score .1 .2 .2 .4 .6 .8, positives the
     * labels 0): .8 {+}, .6 {+}, .4 {-}, .2 {-, +}, .1 {-}: (0,0) (0,1/3) (0,2/3) (1/3,2/3)
     * (2/3,1) (1,1), area 2/9 + 5/18 + 1/3 = 5/6. */
    const float p[6 * 2] = { .1f, .9f, .2f, .8f, .2f, .8f, .4f, .6f, .6f, .4f, .8f, .2f };
    const int32_t y[6] = { 1, 1, 0, 1, 0, 0 };
    metrics_cls *acc = metrics_cls_new(2);
    TU_CHECK(metrics_cls_add(acc, p, y, NULL, 6) == MS_OK);
    double fpr[7], tpr[7];
    const double w1[] = { 0, 0, 0, 1.0 / 3, 1.0 / 3, 2.0 / 3, 1.0 / 3, 1, 2.0 / 3, 1, 1, 1 };
    const double w0[] = { 0, 0, 0, 1.0 / 3, 0, 2.0 / 3, 1.0 / 3, 2.0 / 3, 2.0 / 3, 1, 1, 1 };
    int n1 = metrics_cls_roc(acc, METRICS_ALL, 1, 0, fpr, tpr);
    check_roc(fpr, tpr, n1, w1, 6);
    TU_CLOSE(trapezoid(fpr, tpr, n1), 5.0 / 6, 1e-15, 0);
    int n0 = metrics_cls_roc(acc, METRICS_ALL, 0, 200, fpr, tpr);
    check_roc(fpr, tpr, n0, w0, 6);
    TU_CLOSE(trapezoid(fpr, tpr, n0), 5.0 / 6, 1e-15, 0);
    metrics_cls_result r;
    metrics_cls_finish(acc, METRICS_ALL, 0, 0, &r);
    TU_CLOSE(r.per_class[0].auc, 5.0 / 6, 1e-15, 0);
    TU_CLOSE(r.per_class[1].auc, 5.0 / 6, 1e-15, 0);
    metrics_cls_result_free(&r);
    /* Thinned to 3 vertices: ranks floor(i 5 / 2) = 0, 2, 5. */
    TU_CHECK(metrics_cls_roc(acc, METRICS_ALL, 1, 3, fpr, tpr) == 3);
    const double w1t[] = { 0, 0, 1.0 / 3, 2.0 / 3, 1, 1 };
    check_roc(fpr, tpr, 3, w1t, 3);
    metrics_cls_free(acc);

    /* K = 3, one-vs-rest, labels 0 1 2 0 1 2:
     * class 0: scores .5 .2 .35 .3 .1 .2, positives .5 .3 (P 2, N 4): .5 {+}, .35 {-}, .3 {+},
     *          .2 {-, -}, .1 {-}: (0,0) (0,1/2) (1/4,1/2) (1/4,1) (3/4,1) (1,1), area 7/8;
     * class 1: positives .5 .6 above every negative: (0,0) (0,1/2) (0,1) (1/4,1) ... (1,1);
     * class 2: scores .2 .3 .3 .3 .3 .6, positives .3 .6: .6 {+}, .3 {-, +, -, -}, .2 {-}:
     *          (0,0) (0,1/2) (3/4,1) (1,1), area 3/4 * 3/4 + 1/4 = 13/16 = (4 + 1 + 1.5) / 8. */
    const float q[6 * 3] = { .5f, .3f, .2f, .2f, .5f, .3f, .35f, .35f, .3f,
                             .3f, .4f, .3f, .1f, .6f, .3f, .2f, .2f, .6f };
    const int32_t z[6] = { 0, 1, 2, 0, 1, 2 };
    metrics_cls *a3 = metrics_cls_new(3);
    TU_CHECK(metrics_cls_add(a3, q, z, NULL, 6) == MS_OK);
    metrics_cls_finish(a3, METRICS_ALL, 0, 0, &r);
    const double c0[] = { 0, 0, 0, .5, .25, .5, .25, 1, .75, 1, 1, 1 };
    const double c1[] = { 0, 0, 0, .5, 0, 1, .25, 1, .5, 1, .75, 1, 1, 1 };
    const double c2[] = { 0, 0, 0, .5, .75, 1, 1, 1 };
    const double *want[3] = { c0, c1, c2 };
    const int nwant[3] = { 6, 7, 4 };
    const double auc[3] = { 7.0 / 8, 1, 13.0 / 16 };
    for (int k = 0; k < 3; k++) {
        int nv = metrics_cls_roc(a3, METRICS_ALL, k, 0, fpr, tpr);
        check_roc(fpr, tpr, nv, want[k], nwant[k]);
        TU_CLOSE(r.per_class[k].auc, auc[k], 1e-15, 0);
        TU_CLOSE(trapezoid(fpr, tpr, nv), r.per_class[k].auc, 1e-15, 0);
    }
    metrics_cls_result_free(&r);
    metrics_cls_free(a3);

    /* No positives of class 2 (or, in a one-class domain, no negatives): 0 vertices. */
    const float u[4 * 3] = { .8f, .1f, .1f, .7f, .2f, .1f, .6f, .3f, .1f, .2f, .7f, .1f };
    const int32_t uy[4] = { 0, 0, 1, 1 }, ud[4] = { 3, 3, 5, 5 };
    metrics_cls *au = metrics_cls_new(3);
    TU_CHECK(metrics_cls_add(au, u, uy, ud, 4) == MS_OK);
    TU_CHECK(metrics_cls_roc(au, METRICS_ALL, 2, 200, fpr, tpr) == 0);
    TU_CHECK(metrics_cls_roc(au, METRICS_ALL, 0, 200, fpr, tpr) == 5); /* .8, .7 {+}; .6, .2 {-} */
    TU_CHECK(metrics_cls_roc(au, 3, 0, 200, fpr, tpr) == 0);
    TU_CHECK(metrics_cls_roc(au, 4, 0, 200, fpr, tpr) == 0); /* empty domain */
    metrics_cls_free(au);
}

/* Many ties: the area equals the AUC; many distinct scores: thinned to 200
 * vertices at the evenly spaced ranks of the full list, monotone, (0,0) to (1,1). */
static void test_roc_random(void)
{
    enum { N = 5000, K = 3, M = METRICS_ROC_POINTS };
    float *p = malloc(N * K * sizeof *p);
    int32_t y[N], dom[N];
    double *fpr = malloc((N + 1) * sizeof *fpr), *tpr = malloc((N + 1) * sizeof *tpr);
    double tf[M], tt[M];
    make_cls(p, y, dom, N, K, 17, 0.3f);
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0)
            for (int j = 0; j < N * K; j++) p[j] = floorf(p[j] * 20) / 20; /* <= 21 levels */
        else
            make_cls(p, y, dom, N, K, 18, 0.3f);
        metrics_cls *acc = metrics_cls_new(K);
        TU_CHECK(metrics_cls_add(acc, p, y, dom, N) == MS_OK);
        for (int d = METRICS_ALL; d <= 2; d += 3) { /* all samples, domain 2 */
            metrics_cls_result r;
            metrics_cls_finish(acc, d, 0, 0, &r);
            for (int k = 0; k < K; k++) {
                int V = metrics_cls_roc(acc, d, k, 0, fpr, tpr);
                int nt = metrics_cls_roc(acc, d, k, M, tf, tt);
                TU_CHECKF(pass == 1 ? V > M : V <= 22, "pass %d: %d vertices", pass, V);
                TU_CLOSE(trapezoid(fpr, tpr, V), r.per_class[k].auc, 1e-12, 0);
                TU_CHECK(nt == (V < M ? V : M));
                TU_CHECK(tf[0] == 0 && tt[0] == 0 && tf[nt - 1] == 1 && tt[nt - 1] == 1);
                int mono = 1, ranks = 1;
                for (int t = 1; t < nt; t++) mono &= tf[t] >= tf[t - 1] && tt[t] >= tt[t - 1];
                for (int t = 0; t < nt; t++) {
                    int64_t v = V <= M ? t : (int64_t)t * (V - 1) / (M - 1);
                    ranks &= tf[t] == fpr[v] && tt[t] == tpr[v];
                }
                TU_CHECKF(mono && ranks, "pass %d domain %d class %d: monotone %d, at the ranks %d", pass, d, k,
                          mono, ranks);
                if (pass == 1) /* thinned: the area moves a little */
                    TU_CLOSE(trapezoid(tf, tt, nt), r.per_class[k].auc, 2e-3, 0);
            }
            metrics_cls_result_free(&r);
        }
        metrics_cls_free(acc);
    }
    free(p);
    free(fpr);
    free(tpr);
}

static void test_cls_errors(void)
{
    metrics_cls *acc = metrics_cls_new(3);
    const float p[2 * 3] = { .2f, .3f, .5f, .1f, .1f, .8f };
    const int32_t bad_y[2] = { 0, 3 }, y[2] = { 0, 2 }, bad_dom[2] = { 0, METRICS_MAX_DOMAINS };
    TU_CHECK(metrics_cls_add(acc, p, bad_y, NULL, 2) == MS_ERR_INPUT);
    TU_CHECK(strstr(ms_last_error(), "label 3") != NULL);
    TU_CHECK(metrics_cls_add(acc, p, y, bad_dom, 2) == MS_ERR_INPUT);
    const float q[2 * 3] = { .2f, NAN, .5f, .1f, .1f, .8f };
    TU_CHECK(metrics_cls_add(acc, q, y, NULL, 2) == MS_ERR_INPUT);
    TU_CHECK(metrics_cls_count(acc, METRICS_ALL) == 0); /* nothing was added */
    metrics_cls_free(acc);
}

/* ---- segmentation ---------------------------------------------------------------------- */

/* K = 3, H = 2, W = 3; 255 = ignore.
 * A: truth 0 1 1 / 2 2 X   pred 0 1 0 / 2 1 1   (5 valid pixels)
 *    c0: T{0} P{0,2}  -> 2*1/3 = 2/3;  c1: T{1,2} P{1,4} -> 2*1/4 = 1/2;  c2: T{3,4} P{3} -> 2/3
 * B: truth all 0       pred 0 0 0 / 0 0 2
 *    c0: T 6 P 5 I 5 -> 10/11;  c1: both empty -> excluded;  c2: T 0 P 1 -> 0
 * C: truth 0 0 0 / 0 1 1   pred all 0
 *    c0: T 4 P 6 I 4 -> 8/10;  c1: T 2 P 0 -> 0 (empty prediction);  c2: excluded
 * D: all ignored -> excluded from every class. */
static const uint8_t SEG_T[4 * 6] = { 0, 1, 1, 2, 2, 255, 0, 0, 0, 0, 0, 0,
                                      0, 0, 0, 0, 1, 1, 255, 255, 255, 255, 255, 255 };
static const uint8_t SEG_P[4 * 6] = { 0, 1, 0, 2, 1, 1, 0, 0, 0, 0, 0, 2,
                                      0, 0, 0, 0, 0, 0, 1, 2, 0, 1, 2, 0 };

static double sample_std(const double *v, int n)
{
    double mu = 0, ss = 0;
    for (int i = 0; i < n; i++) mu += v[i] / n;
    for (int i = 0; i < n; i++) ss += (v[i] - mu) * (v[i] - mu);
    return n > 1 ? sqrt(ss / (n - 1)) : 0;
}

static void test_seg_hand(void)
{
    metrics_seg *acc = metrics_seg_new(3);
    TU_CHECK(metrics_seg_add(acc, SEG_P, SEG_T, NULL, 4, 2, 3) == MS_OK);
    TU_CLOSE(metrics_seg_image_dsc(acc, 0, 1), 0.5, 1e-15, 0);
    TU_CHECK(isnan(metrics_seg_image_dsc(acc, 1, 1)));
    TU_CLOSE(metrics_seg_image_dsc(acc, 2, 1), 0.0, 0, 0);
    TU_CHECK(isnan(metrics_seg_image_dsc(acc, 3, 0)));
    metrics_seg_result r;
    metrics_seg_finish(acc, METRICS_ALL, 0, 0, &r);
    TU_CHECK(r.n == 4 && r.K == 3);
    const double c0[3] = { 2.0 / 3, 10.0 / 11, 0.8 }, c1[2] = { 0.5, 0 }, c2[2] = { 2.0 / 3, 0 };
    TU_CLOSE(r.per_class[0].dsc_mean, (c0[0] + c0[1] + c0[2]) / 3, 1e-12, 0);
    TU_CLOSE(r.per_class[0].dsc_std, sample_std(c0, 3), 1e-12, 0);
    TU_CLOSE(r.per_class[0].dsc_std, 0.1214138, 1e-6, 0);
    TU_CLOSE(r.per_class[1].dsc_mean, 0.25, 1e-12, 0);
    TU_CLOSE(r.per_class[1].dsc_std, sqrt(0.125), 1e-12, 0); /* (0.25^2 * 2) / (2 - 1) */
    TU_CLOSE(r.per_class[2].dsc_mean, 1.0 / 3, 1e-12, 0);
    TU_CLOSE(r.per_class[2].dsc_std, sample_std(c2, 2), 1e-12, 0);
    (void)c1;
    TU_CHECK(r.per_class[0].n == 3 && r.per_class[0].n_empty == 1);
    TU_CHECK(r.per_class[1].n == 2 && r.per_class[1].n_empty == 2);
    TU_CHECK(r.per_class[2].n == 2 && r.per_class[2].n_empty == 2);
    /* Pooled over the 17 valid pixels:
     * c0: TP 1+5+4 = 10, T 1+6+4 = 11, P 2+5+6 = 13, TN = 17-13-11+10 = 3 of 6 negatives
     * c1: TP 1, T 2+2 = 4, P 2 (A's ignored pixel not counted), TN = 17-2-4+1 = 12 of 13
     * c2: TP 1, T 2, P 1+1 = 2, TN = 17-2-2+1 = 14 of 15 */
    TU_CLOSE(r.per_class[0].sensitivity, 10.0 / 11, 1e-12, 0);
    TU_CLOSE(r.per_class[0].specificity, 0.5, 1e-12, 0);
    TU_CLOSE(r.per_class[1].sensitivity, 0.25, 1e-12, 0);
    TU_CLOSE(r.per_class[1].specificity, 12.0 / 13, 1e-12, 0);
    TU_CLOSE(r.per_class[2].sensitivity, 0.5, 1e-12, 0);
    TU_CLOSE(r.per_class[2].specificity, 14.0 / 15, 1e-12, 0);
    /* Overall over foreground classes 1, 2: fg(A) = (1/2 + 2/3)/2 = 7/12, fg(B) = 0 (c2 only),
     * fg(C) = 0 (c1 only), D has none: mean 7/36, sample std of {7/12, 0, 0}. */
    const double fg[3] = { 7.0 / 12, 0, 0 };
    TU_CHECK(r.n_fg == 3);
    TU_CLOSE(r.dsc_mean, 7.0 / 36, 1e-12, 0);
    TU_CLOSE(r.dsc_std, sample_std(fg, 3), 1e-12, 0);
    metrics_seg_result_free(&r);
    metrics_seg_free(acc);
}

static void test_seg_edge_cases(void)
{
    /* K = 2, one image 1x4: perfect foreground -> 1; an image with prediction and
     * truth empty of class 1 is excluded, so dsc_mean stays 1 and std is 0 (n = 1). */
    const uint8_t t[2 * 4] = { 0, 1, 1, 0, 0, 0, 0, 0 }, p[2 * 4] = { 0, 1, 1, 0, 0, 0, 0, 0 };
    metrics_seg *acc = metrics_seg_new(2);
    TU_CHECK(metrics_seg_add(acc, p, t, NULL, 2, 1, 4) == MS_OK);
    metrics_seg_result r;
    metrics_seg_finish(acc, METRICS_ALL, 0, 0, &r);
    TU_CLOSE(r.dsc_mean, 1.0, 0, 0);
    TU_CLOSE(r.dsc_std, 0.0, 0, 0);
    TU_CHECK(r.n_fg == 1 && r.per_class[1].n == 1 && r.per_class[1].n_empty == 1);
    TU_CLOSE(r.dsc_mean, r.per_class[1].dsc_mean, 0, 0); /* K = 2: overall = class 1 */
    metrics_seg_result_free(&r);
    /* Empty truth, non-empty prediction -> DSC 0 (not excluded). */
    const uint8_t t2[4] = { 0, 0, 0, 0 }, p2[4] = { 1, 0, 0, 0 };
    TU_CHECK(metrics_seg_add(acc, p2, t2, NULL, 1, 1, 4) == MS_OK);
    TU_CLOSE(metrics_seg_image_dsc(acc, 2, 1), 0.0, 0, 0);
    metrics_seg_finish(acc, METRICS_ALL, 0, 0, &r);
    TU_CLOSE(r.dsc_mean, 0.5, 1e-12, 0);
    TU_CLOSE(r.dsc_std, sqrt(0.5), 1e-12, 0);
    metrics_seg_result_free(&r);
    /* Prediction 1 under an ignored pixel counts nowhere. */
    const uint8_t t3[4] = { 255, 1, 0, 0 }, p3[4] = { 1, 1, 0, 0 };
    metrics_seg *acc3 = metrics_seg_new(2);
    TU_CHECK(metrics_seg_add(acc3, p3, t3, NULL, 1, 2, 2) == MS_OK);
    TU_CLOSE(metrics_seg_image_dsc(acc3, 0, 1), 1.0, 0, 0);
    /* Errors: prediction or truth out of range; nothing added. */
    const uint8_t bad[4] = { 0, 2, 0, 0 };
    TU_CHECK(metrics_seg_add(acc3, bad, t3, NULL, 1, 2, 2) == MS_ERR_INPUT);
    TU_CHECK(metrics_seg_add(acc3, p3, bad, NULL, 1, 2, 2) == MS_ERR_INPUT);
    TU_CHECK(strstr(ms_last_error(), "pixel 1") != NULL);
    TU_CHECK(metrics_seg_count(acc3, METRICS_ALL) == 1);
    metrics_seg_free(acc3);
    metrics_seg_free(acc);
}

/* Per-image DSC lists: K = 2, three 1x4 images, domains 0 1 0.
 * A: truth 0 1 1 0, pred 0 1 0 0: c0 T{0,3} P{0,2,3} -> 4/5; c1 T{1,2} P{1} -> 2/3
 * B: truth 0 0 0 0, pred 0 0 0 0: c0 -> 1; c1 absent from both: excluded
 * C: truth 1 1 1 0, pred 1 0 0 0: c0 T{3} P{1,2,3} -> 1/2; c1 T{0,1,2} P{0} -> 1/2 */
static void dsc_list_is(const double *v, const double *want, int n)
{
    for (int i = 0; i < n; i++) TU_CLOSE(v[i], want[i], 1e-15, 0);
}

static void test_seg_dsc_per_image(void)
{
    const uint8_t t[3 * 4] = { 0, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 0 };
    const uint8_t p[3 * 4] = { 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0 };
    const int32_t dom[3] = { 0, 1, 0 };
    metrics_seg *acc = metrics_seg_new(2);
    TU_CHECK(metrics_seg_add(acc, p, t, dom, 3, 1, 4) == MS_OK);
    double v[3];
    const double c0[3] = { 0.8, 1, 0.5 }, c1[2] = { 2.0 / 3, 0.5 };
    TU_CHECK(metrics_seg_dsc_per_image(acc, METRICS_ALL, 0, v) == 3);
    dsc_list_is(v, c0, 3);
    TU_CHECK(metrics_seg_dsc_per_image(acc, METRICS_ALL, 1, v) == 2);
    dsc_list_is(v, c1, 2);
    TU_CHECK(metrics_seg_dsc_per_image(acc, 1, 1, v) == 0); /* B only: excluded */
    TU_CHECK(metrics_seg_dsc_per_image(acc, 0, 0, v) == 2 && v[0] == 0.8 && v[1] == 0.5);
    /* The lists are the images behind per_class n and dsc_mean, everywhere. */
    for (int d = METRICS_ALL; d <= 1; d++) {
        metrics_seg_result r;
        metrics_seg_finish(acc, d, 0, 0, &r);
        for (int c = 0; c < 2; c++) {
            int64_t n = metrics_seg_dsc_per_image(acc, d, c, v);
            double mean = 0;
            for (int64_t i = 0; i < n; i++) mean += v[i] / (double)n;
            TU_CHECK(n == r.per_class[c].n);
            TU_CHECK(n ? fabs(mean - r.per_class[c].dsc_mean) < 1e-15 : isnan(r.per_class[c].dsc_mean));
        }
        metrics_seg_result_free(&r);
    }
    metrics_seg_free(acc);
    /* The 4-image case above (SEG_T, SEG_P, K = 3, image D all ignored). */
    metrics_seg *a3 = metrics_seg_new(3);
    TU_CHECK(metrics_seg_add(a3, SEG_P, SEG_T, NULL, 4, 2, 3) == MS_OK);
    const double s0[3] = { 2.0 / 3, 10.0 / 11, 0.8 }, s1[2] = { 0.5, 0 }, s2[2] = { 2.0 / 3, 0 };
    double w[4];
    TU_CHECK(metrics_seg_dsc_per_image(a3, METRICS_ALL, 0, w) == 3);
    dsc_list_is(w, s0, 3);
    TU_CHECK(metrics_seg_dsc_per_image(a3, METRICS_ALL, 1, w) == 2);
    dsc_list_is(w, s1, 2);
    TU_CHECK(metrics_seg_dsc_per_image(a3, METRICS_ALL, 2, w) == 2);
    dsc_list_is(w, s2, 2);
    metrics_seg_free(a3);
}

static void test_seg_domains_bootstrap(void)
{
    metrics_seg *acc = metrics_seg_new(3);
    const int32_t dom[4] = { 0, 0, 5, 5 };
    TU_CHECK(metrics_seg_add(acc, SEG_P, SEG_T, dom, 4, 2, 3) == MS_OK);
    metrics_seg_result r;
    metrics_seg_finish(acc, 0, 0, 0, &r); /* images A, B */
    TU_CHECK(r.n == 2);
    TU_CLOSE(r.per_class[0].dsc_mean, (2.0 / 3 + 10.0 / 11) / 2, 1e-12, 0);
    TU_CLOSE(r.dsc_mean, (7.0 / 12 + 0) / 2, 1e-12, 0);
    metrics_seg_result_free(&r);
    metrics_seg_finish(acc, 5, 0, 0, &r); /* images C, D: only C has foreground */
    TU_CHECK(r.n == 2 && r.n_fg == 1);
    TU_CLOSE(r.dsc_mean, 0.0, 0, 0);
    TU_CHECK(isnan(r.per_class[2].dsc_mean) && r.per_class[2].n_empty == 2);
    metrics_seg_result_free(&r);
    metrics_seg_free(acc);

    /* Bootstrap of dsc_mean on 60 random images. */
    enum { N = 60, HW = 64 };
    uint8_t *t = malloc(N * HW), *p = malloc(N * HW);
    ms_rng g = rng_stream(rng_key(9, 0, 0, RNG_DATA));
    for (int j = 0; j < N * HW; j++) {
        t[j] = (uint8_t)rng_below(&g, 2);
        p[j] = rng_uniform(&g) < 0.8f ? t[j] : (uint8_t)(1 - t[j]);
    }
    metrics_seg *a2 = metrics_seg_new(2);
    TU_CHECK(metrics_seg_add(a2, p, t, NULL, N, 8, 8) == MS_OK);
    metrics_seg_result x, y;
    metrics_seg_finish(a2, METRICS_ALL, 400, 7, &x);
    metrics_seg_finish(a2, METRICS_ALL, 400, 7, &y);
    TU_CHECK(x.ci_resamples == 400);
    TU_CHECK(x.ci_dsc_mean.lo <= x.dsc_mean && x.dsc_mean <= x.ci_dsc_mean.hi);
    TU_CHECK(x.ci_dsc_mean.lo < x.ci_dsc_mean.hi);
    TU_CHECK(x.ci_dsc_mean.lo == y.ci_dsc_mean.lo && x.ci_dsc_mean.hi == y.ci_dsc_mean.hi);
    /* Width about 2 * 1.96 * std / sqrt(n). */
    double want = 2 * 1.96 * x.dsc_std / sqrt(N), width = x.ci_dsc_mean.hi - x.ci_dsc_mean.lo;
    TU_CHECKF(width > 0.7 * want && width < 1.3 * want, "dsc CI width %g, expected about %g", width, want);
    metrics_seg_result_free(&x);
    metrics_seg_result_free(&y);
    metrics_seg_free(a2);
    free(t);
    free(p);
}

/* ---- reports ----------------------------------------------------------------------------- */

/* Parses `json` with python3 and checks the layout; 0 = fine, -1 = no python3. */
static int python_check(const char *json, const char *task, int K)
{
    if (access("/usr/bin/python3", X_OK) != 0) return -1;
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \""
             "import json, sys\n"
             "d = json.load(sys.stdin); task = sys.argv[1]; K = int(sys.argv[2])\n"
             "top = {'cls': ['n', 'accuracy', 'balanced_accuracy', 'macro_auc', 'confusion', 'per_class'],"
             "       'seg': ['n', 'dsc_mean', 'dsc_std', 'per_class']}[task]\n"
             "pc = {'cls': {'sensitivity', 'specificity', 'precision', 'f1', 'auc'},"
             "      'seg': {'dsc_mean', 'dsc_std', 'sensitivity', 'specificity', 'n', 'n_empty'}}[task]\n"
             "objs = [d] + list(d.get('domains', {}).values())\n"
             "for o in objs:\n"
             "    assert all(k in o for k in top), o.keys()\n"
             "    assert len(o['per_class']) == K and all(set(c) == pc for c in o['per_class'])\n"
             "    assert task == 'seg' or (len(o['confusion']) == K and all(len(r) == K for r in o['confusion']))\n"
             "    assert 'ci95' not in o or all(len(v) == 2 for k, v in o['ci95'].items() if k not in ('resamples', 'seed'))\n"
             "    if task == 'seg':\n"
             "        assert [len(v) for v in o['dsc_per_image']] == [c['n'] for c in o['per_class']], o['dsc_per_image']\n"
             "        assert all(v == [] or abs(sum(v) / len(v) - c['dsc_mean']) < 1e-5 for v, c in zip(o['dsc_per_image'], o['per_class']))\n"
             "        continue\n"
             "    assert len(o['roc']) == K\n"
             "    for c, r in zip(o['per_class'], o['roc']):\n"
             "        assert (r is None) == (c['auc'] is None), (r, c)\n"
             "        if r is None: continue\n"
             "        f, t = r['fpr'], r['tpr']\n"
             "        assert 2 <= len(f) == len(t) <= 200 and f[0] == t[0] == 0 and f[-1] == t[-1] == 1, r\n"
             "        assert all(a <= b for a, b in zip(f, f[1:])) and all(a <= b for a, b in zip(t, t[1:])), r\n"
             "        area = sum((f[i + 1] - f[i]) * (t[i + 1] + t[i]) / 2 for i in range(len(f) - 1))\n"
             "        assert len(f) == 200 or abs(area - c['auc']) < 1e-5, (area, c['auc'])\n"
             "assert d.get('model') == 'a ' + chr(34) + 'quoted' + chr(34) + ' <path>' + chr(92) + 'x', d.get('model')\n"
             "\" %s %d", task, K);
    FILE *py = popen(cmd, "w");
    if (!py) return -1;
    fputs(json, py);
    int st = pclose(py);
    return st == 0 ? 0 : 1;
}

static void test_json_reports(void)
{
    enum { N = 90, K = 3 };
    float *p = malloc(N * K * sizeof *p);
    int32_t y[N], dom[N];
    make_cls(p, y, dom, N, K, 21, 0.5f);
    metrics_cls *acc = metrics_cls_new(K);
    TU_CHECK(metrics_cls_add(acc, p, y, dom, N) == MS_OK);
    TU_CHECK(metrics_cls_add(acc, HAND_P, HAND_Y, NULL, 9) == MS_OK); /* no domain */
    const char *extra[] = { "model", "a \"quoted\" <path>\\x", NULL };
    metrics_report_opts o = { .by_domain = 1, .ci_resamples = 50, .seed = 3, .extra = extra };
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    TU_CHECK(metrics_cls_write_json(f, acc, &o) == MS_OK);
    fclose(f);
    const char *keys[] = { "\"accuracy\"", "\"balanced_accuracy\"", "\"macro_auc\"", "\"confusion\"",
                           "\"per_class\"", "\"sensitivity\"", "\"specificity\"", "\"precision\"",
                           "\"f1\"", "\"auc\"", "\"ci95\"", "\"domains\"", "\"0\"", "\"2\"", "\"4\"" };
    for (size_t j = 0; j < sizeof keys / sizeof *keys; j++)
        TU_CHECKF(strstr(buf, keys[j]) != NULL, "missing %s", keys[j]);
    TU_CHECK(strstr(buf, "\"model\": \"a \\\"quoted\\\" <path>\\\\x\"") != NULL);
    int py = python_check(buf, "cls", K);
    if (py < 0) fprintf(stderr, "  (python3 not available: JSON checked by keys only)\n");
    TU_CHECKF(py <= 0, "python3 rejected the classification JSON:\n%s", buf);
    free(buf);

    /* NaN is written as null and the result still parses. */
    metrics_cls *u = metrics_cls_new(3);
    const float q[2 * 3] = { .8f, .1f, .1f, .2f, .7f, .1f };
    const int32_t z[2] = { 0, 1 };
    TU_CHECK(metrics_cls_add(u, q, z, NULL, 2) == MS_OK);
    metrics_report_opts o2 = { .extra = extra };
    f = open_memstream(&buf, &len);
    TU_CHECK(metrics_cls_write_json(f, u, &o2) == MS_OK);
    fclose(f);
    TU_CHECK(strstr(buf, "\"precision\": null") != NULL && strstr(buf, "nan") == NULL);
    TU_CHECK(strstr(buf, "\"domains\"") == NULL && strstr(buf, "\"ci95\"") == NULL);
    TU_CHECKF(python_check(buf, "cls", 3) <= 0, "python3 rejected:\n%s", buf);
    free(buf);
    /* The table mentions every class and the confusion matrix. */
    const char *names[3] = { "normal", "benign", "malignant" };
    o.class_names = names;
    f = open_memstream(&buf, &len);
    TU_CHECK(metrics_cls_print(f, acc, &o) == MS_OK);
    fclose(f);
    TU_CHECK(strstr(buf, "malignant") && strstr(buf, "confusion") && strstr(buf, "domain 4"));
    free(buf);
    metrics_cls_free(u);
    metrics_cls_free(acc);
    free(p);

    metrics_seg *s = metrics_seg_new(3);
    const int32_t sdom[4] = { 0, 0, 5, -1 };
    TU_CHECK(metrics_seg_add(s, SEG_P, SEG_T, sdom, 4, 2, 3) == MS_OK);
    metrics_report_opts so = { .by_domain = 1, .ci_resamples = 20, .seed = 1, .extra = extra };
    f = open_memstream(&buf, &len);
    TU_CHECK(metrics_seg_write_json(f, s, &so) == MS_OK);
    fclose(f);
    TU_CHECK(strstr(buf, "\"dsc_mean\"") && strstr(buf, "\"dsc_std\"") && strstr(buf, "\"n_empty\"") &&
             strstr(buf, "\"5\"") && !strstr(buf, "\"-1\""));
    TU_CHECKF(python_check(buf, "seg", 3) <= 0, "python3 rejected the segmentation JSON:\n%s", buf);
    free(buf);
    f = open_memstream(&buf, &len);
    TU_CHECK(metrics_seg_print(f, s, &so) == MS_OK);
    fclose(f);
    TU_CHECK(strstr(buf, "dsc_mean") && strstr(buf, "domain 5"));
    free(buf);
    metrics_seg_free(s);
}

int main(void)
{
    TU_RUN(test_cls_hand);
    TU_RUN(test_cls_undefined);
    TU_RUN(test_auc);
    TU_RUN(test_binary_macro_auc);
    TU_RUN(test_cls_domains);
    TU_RUN(test_cls_bootstrap);
    TU_RUN(test_roc_hand);
    TU_RUN(test_roc_random);
    TU_RUN(test_cls_errors);
    TU_RUN(test_seg_hand);
    TU_RUN(test_seg_edge_cases);
    TU_RUN(test_seg_dsc_per_image);
    TU_RUN(test_seg_domains_bootstrap);
    TU_RUN(test_json_reports);
    return tu_summary();
}
