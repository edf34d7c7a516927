/* test_ensemble — finetune/ensemble_math.c: every combiner against outputs
 * worked out by hand (including vote ties and the weighted tie-break),
 * segmentation combiners against the classification ones pixel by pixel, a
 * finite-difference check of the mixture-of-experts loss gradient, a gate that
 * must learn which expert to trust where (and beat every fixed combiner on
 * held-out data), a two-round AdaBoost SAMME example worked by hand with its
 * discard and stop cases, and resampling sums, frequencies and determinism.
 *
 * Dimension legend: M members, n samples, K classes, H, W image size.
 */
#include "medssl/common.h"
#include "medssl/ensemble_math.h"
#include "medssl/rng.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- combiners -------------------------------------------------------------------------- */

/* M = 3, n = 2, K = 3, layout (M, n, K). */
static const float P3[3 * 2 * 3] = {
    0.6f, 0.3f, 0.1f,   0.2f, 0.5f, 0.3f,   /* member 0: argmax 0, 1 */
    0.2f, 0.5f, 0.3f,   0.1f, 0.2f, 0.7f,   /* member 1: argmax 1, 2 */
    0.1f, 0.6f, 0.3f,   0.5f, 0.25f, 0.25f, /* member 2: argmax 1, 0 */
};

static void check_combiner(ens_combiner c, const ens_params *par, const float *want, const int32_t *want_pred)
{
    float s[2 * 3];
    int32_t pred[2];
    TU_CHECK(ens_combine(c, s, pred, P3, par, 3, 2, 3) == MS_OK);
    for (int j = 0; j < 6; j++)
        TU_CHECKF(fabsf(s[j] - want[j]) < 1e-6f, "%s: score[%d] = %g, expected %g", ens_combiner_name(c), j,
                  s[j], want[j]);
    for (int i = 0; i < 2; i++)
        TU_CHECKF(pred[i] == want_pred[i], "%s: pred[%d] = %d, expected %d", ens_combiner_name(c), i, pred[i],
                  want_pred[i]);
}

static void test_combiners_hand(void)
{
    /* average: row 0 (.6+.2+.1, .3+.5+.6, .1+.3+.3)/3 = (.3, .466667, .233333) -> 1
     *          row 1 (.2+.1+.5, .5+.2+.25, .3+.7+.25)/3 = (.266667, .316667, .416667) -> 2 */
    const float avg[6] = { .3f, 1.4f / 3, .7f / 3, .8f / 3, .95f / 3, 1.25f / 3 };
    const int32_t avg_pred[2] = { 1, 2 };
    check_combiner(ENS_AVERAGE, NULL, avg, avg_pred);
    check_combiner(ENS_SUM, NULL, avg, avg_pred); /* normalized sum = average */
    /* min: row 0 (.1, .3, .1) / .5 = (.2, .6, .2) -> 1; row 1 (.1, .2, .25) / .55 -> 2 */
    const float mn[6] = { .2f, .6f, .2f, .1f / .55f, .2f / .55f, .25f / .55f };
    const int32_t mn_pred[2] = { 1, 2 };
    check_combiner(ENS_MIN, NULL, mn, mn_pred);
    /* max: row 0 (.6, .6, .3) / 1.5 = (.4, .4, .2): a tie, the lowest index -> 0;
     *      row 1 (.5, .5, .7) / 1.7 -> 2 */
    const float mx[6] = { .4f, .4f, .2f, .5f / 1.7f, .5f / 1.7f, .7f / 1.7f };
    const int32_t mx_pred[2] = { 0, 2 };
    check_combiner(ENS_MAX, NULL, mx, mx_pred);
    /* vote: row 0 argmaxes 0, 1, 1 -> (1/3, 2/3, 0) -> 1;
     *       row 1 argmaxes 1, 2, 0 -> (1/3, 1/3, 1/3): a three-way tie, broken by the
     *       average probability (.267, .317, .417) -> 2 */
    const float vt[6] = { 1.f / 3, 2.f / 3, 0, 1.f / 3, 1.f / 3, 1.f / 3 };
    const int32_t vt_pred[2] = { 1, 2 };
    check_combiner(ENS_VOTE, NULL, vt, vt_pred);
    /* weighted vote, w = (3, 1, 1): row 0 (3, 2, 0)/5 -> 0; row 1 (1, 3, 1)/5 -> 1 */
    const float w1[3] = { 3, 1, 1 };
    ens_params par = { .weights = w1 };
    const float wv[6] = { .6f, .4f, 0, .2f, .6f, .2f };
    const int32_t wv_pred[2] = { 0, 1 };
    check_combiner(ENS_WEIGHTED_VOTE, &par, wv, wv_pred);
    /* A moe gate with all-zero parameters is uniform: the average. */
    ens_moe g;
    ens_moe_init(&g, 3, 3);
    ens_params gp = { .gate = &g };
    check_combiner(ENS_MOE, &gp, avg, avg_pred);
    /* A gate that trusts member 1 only (large bias) reproduces member 1. */
    g.params[ens_moe_param_count(3, 3) - 3 + 1] = 40.0f;
    const float m1[6] = { .2f, .5f, .3f, .1f, .2f, .7f };
    const int32_t m1_pred[2] = { 1, 2 };
    check_combiner(ENS_MOE, &gp, m1, m1_pred);
    ens_moe_free(&g);
}

static void test_weighted_vote_tiebreak(void)
{
    /* M = 3, n = 1, K = 2, w = (1, 1, 0): members vote 0, 1, 1 -> weighted votes (1, 1) / 2,
     * a tie. The weighted mean probability of class 0 is (.9 + .4) / 2 = .65 -> 0; an
     * unweighted tie-break would see (.9 + .4 + 0) / 3 = .43 and pick 1. */
    const float p[3 * 2] = { .9f, .1f, .4f, .6f, 0.f, 1.f };
    const float w[3] = { 1, 1, 0 };
    ens_params par = { .weights = w };
    float s[2];
    int32_t pred;
    TU_CHECK(ens_combine(ENS_WEIGHTED_VOTE, s, &pred, p, &par, 3, 1, 2) == MS_OK);
    TU_CLOSE(s[0], 0.5, 1e-7, 0);
    TU_CHECK(pred == 0);
    /* Plain vote: votes (1, 2)/3 -> 1. */
    TU_CHECK(ens_combine(ENS_VOTE, s, &pred, p, NULL, 3, 1, 2) == MS_OK);
    TU_CLOSE(s[1], 2.0 / 3, 1e-7, 0);
    TU_CHECK(pred == 1);
    /* Scores that are all zero become uniform (min of disjoint members). */
    const float q[2 * 2] = { 1, 0, 0, 1 };
    TU_CHECK(ens_combine(ENS_MIN, s, &pred, q, NULL, 2, 1, 2) == MS_OK);
    TU_CHECK(s[0] == 0.5f && s[1] == 0.5f && pred == 0);
}

static void test_combiner_names_and_errors(void)
{
    for (int c = 0; c < ENS__COUNT; c++) TU_CHECK(ens_combiner_parse(ens_combiner_name((ens_combiner)c)) == c);
    TU_CHECK(ens_combiner_parse("weighted-vote") == ENS_WEIGHTED_VOTE);
    TU_CHECK(ens_combiner_parse("moe") == ENS_MOE);
    TU_CHECK(ens_combiner_parse("median") == -1 && ens_combiner_parse(NULL) == -1);
    TU_CHECK(strstr(ens_combiner_list(), "weighted-vote") != NULL);
    float s[6];
    TU_CHECK(ens_combine(ENS_WEIGHTED_VOTE, s, NULL, P3, NULL, 3, 2, 3) == MS_ERR_INPUT);
    const float neg[3] = { 1, -1, 1 }, zero[3] = { 0, 0, 0 };
    ens_params pn = { .weights = neg }, pz = { .weights = zero };
    TU_CHECK(ens_combine(ENS_WEIGHTED_VOTE, s, NULL, P3, &pn, 3, 2, 3) == MS_ERR_INPUT);
    TU_CHECK(ens_combine(ENS_WEIGHTED_VOTE, s, NULL, P3, &pz, 3, 2, 3) == MS_ERR_INPUT);
    TU_CHECK(ens_combine(ENS_MOE, s, NULL, P3, NULL, 3, 2, 3) == MS_ERR_INPUT);
    ens_moe g;
    ens_moe_init(&g, 2, 3); /* wrong M */
    ens_params pg = { .gate = &g };
    TU_CHECK(ens_combine(ENS_MOE, s, NULL, P3, &pg, 3, 2, 3) == MS_ERR_INPUT);
    ens_moe_free(&g);
    TU_CHECK(ens_combine((ens_combiner)99, s, NULL, P3, NULL, 3, 2, 3) == MS_ERR_INPUT);
}

static void test_seg_combiners(void)
{
    /* M = 2, n = 1, K = 2, H = 1, W = 3, layout (M, n, K, H, W):
     *   member 0 class maps: c0 (.9 .4 .3), c1 (.1 .6 .7) -> argmax 0 1 1
     *   member 1 class maps: c0 (.2 .7 .45), c1 (.8 .3 .55) -> argmax 1 0 1
     * average: c1 = (.45, .45, .625): pixel 0 .55 vs .45 -> 0; pixel 1 .55 vs .45 -> 0; pixel 2 -> 1
     * vote: pixel 0 (1, 1) tie -> average -> 0; pixel 1 tie -> average -> 0; pixel 2 (0, 2) -> 1 */
    const float p[2 * 2 * 3] = { .9f, .4f, .3f, .1f, .6f, .7f, .2f, .7f, .45f, .8f, .3f, .55f };
    uint8_t mask[3];
    TU_CHECK(ens_seg_combine(ENS_AVERAGE, mask, p, NULL, 2, 1, 2, 1, 3) == MS_OK);
    TU_CHECK(mask[0] == 0 && mask[1] == 0 && mask[2] == 1);
    TU_CHECK(ens_seg_combine(ENS_VOTE, mask, p, NULL, 2, 1, 2, 1, 3) == MS_OK);
    TU_CHECK(mask[0] == 0 && mask[1] == 0 && mask[2] == 1);
    TU_CHECK(ens_seg_combine(ENS_MAX, mask, p, NULL, 2, 1, 2, 1, 3) == MS_OK); /* max: (.9|.8) (.7|.6) (.45|.7) */
    TU_CHECK(mask[0] == 0 && mask[1] == 0 && mask[2] == 1);

    /* Random (M, n, K, H, W) against ens_combine on the pixels as samples (M, n*HW, K). */
    enum { M = 3, N = 2, K = 4, H = 3, W = 5, HW = H * W };
    float *sp = malloc(M * N * K * HW * sizeof *sp), *cp = malloc(M * N * HW * K * sizeof *cp);
    tu_fill_uniform(sp, M * N * K * HW, 17, 0, 1);
    for (int j = 0; j < M * N * K * HW; j++) sp[j] = floorf(sp[j] * 4) / 4; /* ties on purpose */
    for (int m = 0; m < M; m++)
        for (int i = 0; i < N; i++)
            for (int k = 0; k < K; k++)
                for (int q = 0; q < HW; q++)
                    cp[((m * N + i) * HW + q) * K + k] = sp[((m * N + i) * K + k) * HW + q];
    const float w[M] = { 1, 2, 0.5f };
    ens_moe g;
    ens_moe_init(&g, M, K);
    tu_fill_normal(g.params, (size_t)ens_moe_param_count(M, K), 3, 1.0f);
    ens_params par = { .weights = w, .gate = &g };
    float *scores = malloc(N * HW * K * sizeof *scores);
    int32_t pred[N * HW];
    uint8_t smask[N * HW];
    for (int c = 0; c < ENS__COUNT; c++) {
        TU_CHECK(ens_combine((ens_combiner)c, scores, pred, cp, &par, M, N * HW, K) == MS_OK);
        TU_CHECK(ens_seg_combine((ens_combiner)c, smask, sp, &par, M, N, K, H, W) == MS_OK);
        int same = 1;
        for (int j = 0; j < N * HW; j++) same &= smask[j] == pred[j];
        TU_CHECKF(same, "%s: segmentation and classification combiners disagree", ens_combiner_name((ens_combiner)c));
    }
    ens_moe_free(&g);
    free(sp);
    free(cp);
    free(scores);
}

/* ---- mixture of experts ----------------------------------------------------------------- */

typedef struct {
    ens_moe *g;
    const float *probs;
    const int32_t *labels;
    int64_t n;
    float l2;
} moe_ctx;

static double moe_f(void *ctx)
{
    moe_ctx *c = ctx;
    return ens_moe_loss(c->g, NULL, c->probs, c->labels, c->n, c->l2);
}

static void test_moe_gradcheck(void)
{
    enum { M = 3, N = 7, K = 4 };
    float probs[M * N * K];
    int32_t labels[N];
    tu_fill_uniform(probs, M * N * K, 4, 0.05f, 1.0f);
    for (int j = 0; j < M * N; j++) { /* rows of probabilities */
        float s = 0;
        for (int k = 0; k < K; k++) s += probs[j * K + k];
        for (int k = 0; k < K; k++) probs[j * K + k] /= s;
    }
    for (int i = 0; i < N; i++) labels[i] = i % K;
    ens_moe g;
    ens_moe_init(&g, M, K);
    int64_t NP = ens_moe_param_count(M, K);
    TU_CHECK(NP == M * M * K + M);
    tu_fill_normal(g.params, (size_t)NP, 5, 1.0f);
    float *grad = malloc((size_t)NP * sizeof *grad);
    moe_ctx c = { &g, probs, labels, N, 0.01f };
    double L = ens_moe_loss(&g, grad, probs, labels, N, c.l2);
    TU_CLOSE(L, moe_f(&c), 1e-12, 0); /* the gradient call returns the same loss */
    int bad = tu_gradcheck("moe loss", moe_f, &c, g.params, grad, (size_t)NP, NULL, 1e-2f, 1e-5, 1e-3, 0);
    TU_CHECKF(bad == 0, "%d gradient mismatches", bad);
    /* Uniform gate: the loss is the NLL of the average. */
    memset(g.params, 0, (size_t)NP * sizeof *g.params);
    double nll = 0;
    for (int i = 0; i < N; i++) {
        double mix = 0;
        for (int m = 0; m < M; m++) mix += probs[(m * N + i) * K + labels[i]] / M;
        nll -= log(mix + ENS_MOE_EPS) / N;
    }
    TU_CLOSE(ens_moe_loss(&g, NULL, probs, labels, N, c.l2), nll, 1e-6, 1e-6);
    free(grad);
    ens_moe_free(&g);
}

/* Two experts, K = 3 (see test_moe_learns_regions). probs (2, n, 3), labels (n). */
static void make_experts(float *probs, int32_t *labels, int n, uint64_t seed)
{
    ms_rng r = rng_stream(rng_key(seed, 0, 0, RNG_DATA));
    for (int i = 0; i < n; i++) {
        float *a = probs + i * 3, *b = probs + (n + i) * 3;
        float ea = 0.05f * rng_uniform(&r), eb = 0.05f * rng_uniform(&r);
        if (rng_below(&r, 3) < 2) { /* region 1: classes 0/1, A right, B confidently wrong */
            int y = (int)rng_below(&r, 2);
            labels[i] = y;
            a[y] = 0.70f + ea; a[1 - y] = 0.28f - ea; a[2] = 0.02f;
            b[1 - y] = 0.85f + eb; b[y] = 0.10f - eb; b[2] = 0.05f;
        } else {                   /* region 2: class 2, A never says 2, B right */
            labels[i] = 2;
            int f = (int)rng_below(&r, 2);
            a[f] = 0.55f + ea; a[1 - f] = 0.43f - ea; a[2] = 0.02f;
            b[2] = 0.75f + eb; b[0] = 0.15f - eb; b[1] = 0.10f;
        }
    }
}

static double accuracy_of(const int32_t *pred, const int32_t *y, int n)
{
    int ok = 0;
    for (int i = 0; i < n; i++) ok += pred[i] == y[i];
    return (double)ok / n;
}

/* Expert A is right on region 1 (classes 0, 1) and B on region 2 (class 2); B
 * is confidently wrong on region 1, so averaging, min, max and votes all fail
 * there, and trusting one expert loses the other region. The gate can tell the
 * regions apart from B's probability of class 2, a linear function of its
 * input, and must learn to trust A on region 1 and B on region 2. */
static void test_moe_learns_regions(void)
{
    enum { N = 600, M = 2, K = 3 };
    float *tr = malloc(M * N * K * sizeof *tr), *te = malloc(M * N * K * sizeof *te);
    float *scores = malloc(N * K * sizeof *scores);
    int32_t ytr[N], yte[N], pred[N];
    make_experts(tr, ytr, N, 1);
    make_experts(te, yte, N, 2);
    ens_moe g;
    ens_moe_init(&g, M, K);
    ens_moe_opts o;
    ens_moe_defaults(&o);
    double L0 = ens_moe_loss(&g, NULL, tr, ytr, N, o.l2), L1 = 0;
    TU_CHECK(ens_moe_train(&g, tr, ytr, N, &o, &L1) == MS_OK);
    TU_CHECKF(L1 < 0.5 * L0, "moe training loss %g -> %g", L0, L1);
    ens_params par = { .gate = &g };
    TU_CHECK(ens_combine(ENS_MOE, scores, pred, te, &par, M, N, K) == MS_OK);
    double moe_acc = accuracy_of(pred, yte, N);
    TU_CHECKF(moe_acc > 0.97, "moe held-out accuracy %g", moe_acc);
    /* Gates on the held-out set: A on region 1, B on region 2. */
    float *gates = malloc(N * M * sizeof *gates);
    ens_moe_gates(&g, gates, te, N);
    int right_gate = 0;
    for (int i = 0; i < N; i++) right_gate += (yte[i] == 2) == (gates[i * M + 1] > 0.5f);
    TU_CHECKF(right_gate == N, "%d of %d samples gated to the right expert", right_gate, N);
    /* Every fixed combiner, including trusting either expert alone. */
    const float wa[2] = { 1, 0 }, wb[2] = { 0, 1 }, wab[2] = { 2, 1 };
    const float *ws[3] = { wa, wb, wab };
    for (int c = 0; c < ENS_MOE; c++)
        for (int v = 0; v < (c == ENS_WEIGHTED_VOTE ? 3 : 1); v++) {
            ens_params fp = { .weights = ws[v] };
            TU_CHECK(ens_combine((ens_combiner)c, scores, pred, te, &fp, M, N, K) == MS_OK);
            double a = accuracy_of(pred, yte, N);
            TU_CHECKF(a < moe_acc - 0.2, "%s (weights %d) reaches %g vs moe %g", ens_combiner_name((ens_combiner)c),
                      v, a, moe_acc);
        }
    int32_t bad[2] = { 0, 3 };
    TU_CHECK(ens_moe_train(&g, tr, bad, 2, &o, NULL) == MS_ERR_INPUT);
    free(gates);
    ens_moe_free(&g);
    free(tr);
    free(te);
    free(scores);
}

/* ---- AdaBoost SAMME ------------------------------------------------------------------------ */

static void test_samme_two_rounds(void)
{
    /* n = 5, K = 3, w = 1/5 each.
     * Round 1: member wrong on sample 4 only. err = 0.2;
     *   alpha = log(0.8 / 0.2) + log(2) = log 8 = 2.0794415;
     *   w4 = 0.2 * 8 = 1.6, the others 0.2; sum 2.4 -> w = (1/12, 1/12, 1/12, 1/12, 2/3).
     * Round 2: member wrong on samples 0 and 1. err = 2/12 = 1/6;
     *   alpha = log((5/6) / (1/6)) + log(2) = log 10 = 2.3025851;
     *   w0 = w1 = 10/12, w2 = w3 = 1/12, w4 = 8/12; sum 30/12 = 2.5
     *   -> w = (1/3, 1/3, 1/30, 1/30, 4/15).
     * Round 3: member wrong on 0, 1, 2: err = 2/3 + 1/30 >= 1 - 1/3 -> discard, w unchanged.
     * Round 4: member right everywhere: err = 0 -> alpha = ENS_SAMME_ALPHA_MAX, stop, w unchanged. */
    double w[5] = { .2, .2, .2, .2, .2 }, alpha = -1, err = -1;
    const int32_t y[5] = { 0, 1, 2, 0, 1 };
    const int32_t p1[5] = { 0, 1, 2, 0, 2 }, p2[5] = { 1, 2, 2, 0, 1 }, p3[5] = { 1, 2, 0, 0, 1 };
    TU_CHECK(ens_samme_update(w, &alpha, &err, p1, y, 5, 3) == ENS_SAMME_OK);
    TU_CLOSE(err, 0.2, 1e-15, 0);
    TU_CLOSE(alpha, log(8.0), 1e-12, 0);
    const double w1[5] = { 1.0 / 12, 1.0 / 12, 1.0 / 12, 1.0 / 12, 2.0 / 3 };
    for (int i = 0; i < 5; i++) TU_CLOSE(w[i], w1[i], 1e-15, 1e-12);
    TU_CHECK(ens_samme_update(w, &alpha, &err, p2, y, 5, 3) == ENS_SAMME_OK);
    TU_CLOSE(err, 1.0 / 6, 1e-15, 1e-12);
    TU_CLOSE(alpha, log(10.0), 1e-12, 0);
    const double w2[5] = { 1.0 / 3, 1.0 / 3, 1.0 / 30, 1.0 / 30, 4.0 / 15 };
    for (int i = 0; i < 5; i++) TU_CLOSE(w[i], w2[i], 1e-15, 1e-12);
    TU_CHECK(ens_samme_update(w, &alpha, &err, p3, y, 5, 3) == ENS_SAMME_DISCARD);
    TU_CLOSE(err, 2.0 / 3 + 1.0 / 30, 1e-12, 0);
    TU_CHECK(alpha == 0);
    for (int i = 0; i < 5; i++) TU_CLOSE(w[i], w2[i], 1e-15, 1e-12);
    TU_CHECK(ens_samme_update(w, &alpha, &err, y, y, 5, 3) == ENS_SAMME_PERFECT);
    TU_CHECK(err == 0 && alpha == ENS_SAMME_ALPHA_MAX);
    for (int i = 0; i < 5; i++) TU_CLOSE(w[i], w2[i], 1e-15, 1e-12);
    /* K = 2, err exactly 1/2 = chance: discard. */
    double v[4] = { .25, .25, .25, .25 };
    const int32_t yb[4] = { 0, 0, 1, 1 }, pb[4] = { 1, 0, 0, 1 };
    TU_CHECK(ens_samme_update(v, &alpha, &err, pb, yb, 4, 2) == ENS_SAMME_DISCARD);
    TU_CHECK(v[0] == .25 && v[1] == .25);
    /* K = 10, err = 0.8 < 0.9 is still better than chance: alpha = log(0.25) + log(9) = log 2.25. */
    double u[5] = { .2, .2, .2, .2, .2 };
    const int32_t yu[5] = { 0, 1, 2, 3, 4 }, pu[5] = { 0, 0, 0, 0, 0 };
    TU_CHECK(ens_samme_update(u, &alpha, NULL, pu, yu, 5, 10) == ENS_SAMME_OK);
    TU_CLOSE(alpha, log(2.25), 1e-12, 0);
    TU_CLOSE(u[0], 0.2 / (0.2 + 0.8 * 2.25), 1e-12, 0);
}

/* ---- resampling -------------------------------------------------------------------------- */

static void test_resampling(void)
{
    enum { N = 10000 };
    double *w = malloc(N * sizeof *w);
    uint16_t *c = malloc(N * sizeof *c), *c2 = malloc(N * sizeof *c2);
    /* First half weight 1, second half weight 3, every tenth sample weight 0. */
    for (int i = 0; i < N; i++) w[i] = i % 10 == 0 ? 0 : (i < N / 2 ? 1 : 3);
    TU_CHECK(ens_resample_counts(c, w, N, 7, 0) == MS_OK);
    long sum = 0, second = 0, zeros_drawn = 0;
    for (int i = 0; i < N; i++) {
        sum += c[i];
        if (i >= N / 2) second += c[i];
        if (i % 10 == 0) zeros_drawn += c[i];
    }
    TU_CHECK(sum == N);
    TU_CHECK(zeros_drawn == 0);
    /* Expected 7500 draws in the second half, binomial std sqrt(N * .75 * .25) = 43. */
    TU_CHECKF(labs(second - 7500) < 5 * 43, "second half drawn %ld times, expected about 7500", second);
    TU_CHECK(ens_resample_counts(c2, w, N, 7, 0) == MS_OK);
    TU_CHECK(memcmp(c, c2, N * sizeof *c) == 0);
    TU_CHECK(ens_resample_counts(c2, w, N, 7, 1) == MS_OK);
    TU_CHECK(memcmp(c, c2, N * sizeof *c) != 0);
    /* Bootstrap: sum n, about e^-1 of the samples never drawn (std of that fraction ~0.005). */
    TU_CHECK(ens_bootstrap_counts(c, N, 3, 0) == MS_OK);
    long bsum = 0, never = 0;
    for (int i = 0; i < N; i++) {
        bsum += c[i];
        never += c[i] == 0;
    }
    TU_CHECK(bsum == N);
    TU_CHECKF(fabs((double)never / N - exp(-1.0)) < 0.025, "fraction never drawn %g", (double)never / N);
    TU_CHECK(ens_bootstrap_counts(c2, N, 3, 0) == MS_OK && memcmp(c, c2, N * sizeof *c) == 0);
    /* One sample with all the weight: drawn n times. */
    for (int i = 0; i < 5; i++) w[i] = i == 3;
    TU_CHECK(ens_resample_counts(c, w, 5, 1, 0) == MS_OK && c[3] == 5 && c[0] == 0);
    /* Bad weights. */
    w[0] = -1;
    TU_CHECK(ens_resample_counts(c, w, 5, 1, 0) == MS_ERR_INPUT);
    for (int i = 0; i < 5; i++) w[i] = 0;
    TU_CHECK(ens_resample_counts(c, w, 5, 1, 0) == MS_ERR_INPUT);
    free(w);
    free(c);
    free(c2);
    /* A count beyond uint16: 70000 draws of one sample. */
    enum { BIG = 70000 };
    double *wb = calloc(BIG, sizeof *wb);
    uint16_t *cb = malloc(BIG * sizeof *cb);
    wb[5] = 1;
    TU_CHECK(ens_resample_counts(cb, wb, BIG, 1, 0) == MS_ERR_RUNTIME);
    free(wb);
    free(cb);
}

int main(void)
{
    TU_RUN(test_combiners_hand);
    TU_RUN(test_weighted_vote_tiebreak);
    TU_RUN(test_combiner_names_and_errors);
    TU_RUN(test_seg_combiners);
    TU_RUN(test_moe_gradcheck);
    TU_RUN(test_moe_learns_regions);
    TU_RUN(test_samme_two_rounds);
    TU_RUN(test_resampling);
    return tu_summary();
}
