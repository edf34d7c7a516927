/* ensemble_math — combiners, the mixture-of-experts gate, AdaBoost SAMME and
 * resampling (see include/medssl/ensemble_math.h for the definitions).
 *
 * Every combiner is one row function in a table indexed by ens_combiner: it
 * reads the M members' K probabilities of one sample (classification) or one
 * pixel (segmentation) through two strides, so both layouts share the code.
 *
 * Dimension legend: M members, n samples (images), K classes, HW pixels per
 * image, P = M*K gate inputs.
 */
#include "medssl/ensemble_math.h"
#include "medssl/common.h"
#include "medssl/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One sample's (or pixel's) member probabilities: value of member m, class k
 * at p[m * member_stride + k * class_stride]. */
typedef struct {
    const float *p;
    int64_t member_stride, class_stride;
    int M, K;
    const ens_params *par;
} ens_row;

static inline float row_at(const ens_row *r, int m, int k)
{
    return r->p[m * r->member_stride + k * r->class_stride];
}

/* Weighted mean probability t (K) = sum_m w_m p_m,k / sum_m w_m (w NULL = 1). */
static void row_mean(float *t, const ens_row *r, const float *w)
{
    double wsum = 0;
    for (int m = 0; m < r->M; m++) wsum += w ? w[m] : 1.0;
    for (int k = 0; k < r->K; k++) {
        double s = 0;
        for (int m = 0; m < r->M; m++) s += (w ? w[m] : 1.0) * row_at(r, m, k);
        t[k] = (float)(s / wsum);
    }
}

static void comb_average(float *s, const ens_row *r) { row_mean(s, r, NULL); }

static void comb_sum(float *s, const ens_row *r)
{
    for (int k = 0; k < r->K; k++) {
        double acc = 0;
        for (int m = 0; m < r->M; m++) acc += row_at(r, m, k);
        s[k] = (float)acc;
    }
}

static void comb_min(float *s, const ens_row *r)
{
    for (int k = 0; k < r->K; k++) {
        float v = row_at(r, 0, k);
        for (int m = 1; m < r->M; m++) v = fminf(v, row_at(r, m, k));
        s[k] = v;
    }
}

static void comb_max(float *s, const ens_row *r)
{
    for (int k = 0; k < r->K; k++) {
        float v = row_at(r, 0, k);
        for (int m = 1; m < r->M; m++) v = fmaxf(v, row_at(r, m, k));
        s[k] = v;
    }
}

/* Vote fractions with member weights w (NULL = 1). */
static void row_votes(float *s, const ens_row *r, const float *w)
{
    double tot = 0, v[ENS_MAX_CLASSES];
    for (int k = 0; k < r->K; k++) v[k] = 0;
    for (int m = 0; m < r->M; m++) {
        double wm = w ? w[m] : 1.0;
        v[ms_argmax(r->p + m * r->member_stride, r->K, r->class_stride)] += wm;
        tot += wm;
    }
    for (int k = 0; k < r->K; k++) s[k] = (float)(v[k] / tot);
}

static void comb_vote(float *s, const ens_row *r) { row_votes(s, r, NULL); }
static void comb_weighted_vote(float *s, const ens_row *r) { row_votes(s, r, r->par->weights); }

/* The gate input x (P = M*K) of a row: the members' probabilities concatenated. */
static void row_gather(float *x, const ens_row *r)
{
    for (int m = 0; m < r->M; m++)
        for (int k = 0; k < r->K; k++) x[m * r->K + k] = row_at(r, m, k);
}

/* Gate values g (M) = softmax(Wg x + bg) for x (P). */
static void gates_of(double *g, const ens_moe *gate, const float *x)
{
    int M = gate->M, P = M * gate->K;
    const float *W = gate->params, *b = gate->params + (int64_t)M * P;
    double zmax = -INFINITY, sum = 0;
    for (int m = 0; m < M; m++) {
        float z = 0;
        for (int j = 0; j < P; j++) z += W[m * P + j] * x[j];
        g[m] = (double)z + b[m];
        if (g[m] > zmax) zmax = g[m];
    }
    for (int m = 0; m < M; m++) sum += g[m] = exp(g[m] - zmax);
    for (int m = 0; m < M; m++) g[m] /= sum;
}

static void comb_moe(float *s, const ens_row *r)
{
    double g[ENS_MAX_MEMBERS];
    float x[ENS_MOE_MAX_INPUTS];
    row_gather(x, r);
    gates_of(g, r->par->gate, x);
    for (int k = 0; k < r->K; k++) {
        double acc = 0;
        for (int m = 0; m < r->M; m++) acc += g[m] * x[m * r->K + k];
        s[k] = (float)acc;
    }
}

enum { NEEDS_WEIGHTS = 1, NEEDS_GATE = 2, VOTE_TIES = 4 };

typedef struct {
    void (*row)(float *s, const ens_row *r); /* s (K) unnormalized scores */
    int flags;
} ens_combiner_entry;

static const char *const combiner_names[ENS__COUNT] = {
    "average", "sum", "min", "max", "vote", "weighted-vote", "moe",
};
_Static_assert(sizeof combiner_names / sizeof *combiner_names == ENS__COUNT, "one name per ens_combiner");

static const ens_combiner_entry combiner_table[ENS__COUNT] = {
    [ENS_AVERAGE] = { comb_average, 0 },
    [ENS_SUM] = { comb_sum, 0 },
    [ENS_MIN] = { comb_min, 0 },
    [ENS_MAX] = { comb_max, 0 },
    [ENS_VOTE] = { comb_vote, VOTE_TIES },
    [ENS_WEIGHTED_VOTE] = { comb_weighted_vote, NEEDS_WEIGHTS | VOTE_TIES },
    [ENS_MOE] = { comb_moe, NEEDS_GATE },
};
_Static_assert(sizeof combiner_table / sizeof *combiner_table == ENS__COUNT, "one entry per ens_combiner");

int ens_combiner_parse(const char *name)
{
    for (int c = 0; name && c < ENS__COUNT; c++)
        if (strcmp(combiner_names[c], name) == 0) return c;
    return -1;
}

const char *ens_combiner_name(ens_combiner c)
{
    return (unsigned)c < ENS__COUNT ? combiner_names[c] : "?";
}

const char *ens_combiner_list(void) { return "average|sum|min|max|vote|weighted-vote|moe"; }

/* Scores s (K) normalized in place, and the predicted class. */
static int finish_row(float *s, const ens_row *r, int flags)
{
    int K = r->K;
    double sum = 0;
    for (int k = 0; k < K; k++) sum += s[k];
    for (int k = 0; k < K; k++) s[k] = sum > 0 ? (float)(s[k] / sum) : 1.0f / (float)K;
    int best = ms_argmax(s, K, 1), tied = 0; /* the lowest index on ties */
    for (int k = best + 1; k < K; k++) tied |= s[k] == s[best];
    if (!(flags & VOTE_TIES) || !tied) return best;
    float t[ENS_MAX_CLASSES]; /* tie-break: (weighted) mean probability */
    row_mean(t, r, (flags & NEEDS_WEIGHTS) ? r->par->weights : NULL);
    for (int k = best + 1; k < K; k++)
        if (s[k] == s[best] && t[k] > t[best]) best = k;
    return best;
}

static int check_combine(ens_combiner c, const ens_params *p, int M, int K)
{
    if ((unsigned)c >= ENS__COUNT) return MS_FAIL(MS_ERR_INPUT, "ensemble: unknown combiner %d", (int)c);
    if (M < 1 || M > ENS_MAX_MEMBERS || K < 2 || K > ENS_MAX_CLASSES)
        return MS_FAIL(MS_ERR_INPUT, "ensemble: %d members of %d classes, expected 1..%d members and "
                       "2..%d classes", M, K, ENS_MAX_MEMBERS, ENS_MAX_CLASSES);
    int flags = combiner_table[c].flags;
    if (flags & NEEDS_WEIGHTS) {
        double sum = 0;
        for (int m = 0; p && p->weights && m < M; m++) {
            if (!(p->weights[m] >= 0) || !isfinite(p->weights[m]))
                return MS_FAIL(MS_ERR_INPUT, "ensemble: member %d has weight %g, expected >= 0", m,
                               p->weights[m]);
            sum += p->weights[m];
        }
        if (!(sum > 0))
            return MS_FAIL(MS_ERR_INPUT, "ensemble: %s needs member weights with a positive sum",
                           combiner_names[c]);
    }
    if ((flags & NEEDS_GATE) && !(p && p->gate && p->gate->M == M && p->gate->K == K && p->gate->params))
        return MS_FAIL(MS_ERR_INPUT, "ensemble: moe needs a gate trained for %d members of %d classes",
                       M, K);
    return MS_OK;
}

int ens_combine(ens_combiner c, float *scores, int32_t *pred, const float *probs,
                const ens_params *p, int M, int64_t n, int K)
{
    int rc = check_combine(c, p, M, K);
    if (rc) return rc;
    const ens_combiner_entry *e = &combiner_table[c];
    ens_row r = { .member_stride = n * K, .class_stride = 1, .M = M, .K = K, .par = p };
    for (int64_t i = 0; i < n; i++) {
        r.p = probs + i * K;
        e->row(scores + i * K, &r);
        int best = finish_row(scores + i * K, &r, e->flags);
        if (pred) pred[i] = best;
    }
    return MS_OK;
}

int ens_seg_combine(ens_combiner c, uint8_t *mask, const float *probs, const ens_params *p,
                    int M, int64_t n, int K, int H, int W)
{
    int rc = check_combine(c, p, M, K);
    if (rc) return rc;
    const ens_combiner_entry *e = &combiner_table[c];
    int64_t HW = (int64_t)H * W;
    ens_row r = { .member_stride = n * K * HW, .class_stride = HW, .M = M, .K = K, .par = p };
    float s[ENS_MAX_CLASSES];
    for (int64_t i = 0; i < n; i++)
        for (int64_t q = 0; q < HW; q++) {
            r.p = probs + i * K * HW + q;
            e->row(s, &r);
            mask[i * HW + q] = (uint8_t)finish_row(s, &r, e->flags);
        }
    return MS_OK;
}

/* ---- mixture of experts ------------------------------------------------------------- */

void ens_moe_defaults(ens_moe_opts *o)
{
    o->steps = 300;
    o->lr = 0.05f;
    o->l2 = 1e-4f;
}

int64_t ens_moe_param_count(int M, int K) { return (int64_t)M * M * K + M; }

void ens_moe_init(ens_moe *g, int M, int K)
{
    CHECKM(M >= 1 && M <= ENS_MAX_MEMBERS && K >= 2 && M * K <= ENS_MOE_MAX_INPUTS, "ens_moe_init: M or K");
    g->M = M;
    g->K = K;
    g->params = ms_calloc((size_t)ens_moe_param_count(M, K), sizeof *g->params);
}

void ens_moe_free(ens_moe *g)
{
    free(g->params);
    g->params = NULL;
}

void ens_moe_gates(const ens_moe *g, float *gates, const float *probs, int64_t n)
{
    ens_row r = { .member_stride = n * g->K, .class_stride = 1, .M = g->M, .K = g->K };
    double gd[ENS_MAX_MEMBERS];
    float x[ENS_MOE_MAX_INPUTS];
    for (int64_t i = 0; i < n; i++) {
        r.p = probs + i * g->K;
        row_gather(x, &r);
        gates_of(gd, g, x);
        for (int m = 0; m < g->M; m++) gates[i * g->M + m] = (float)gd[m];
    }
}

double ens_moe_loss(const ens_moe *g, float *dparams, const float *probs, const int32_t *labels,
                    int64_t n, float l2)
{
    int M = g->M, K = g->K, P = M * K;
    int64_t NP = ens_moe_param_count(M, K);
    const float *W = g->params;
    ens_row r = { .member_stride = n * K, .class_stride = 1, .M = M, .K = K };
    if (dparams) memset(dparams, 0, (size_t)NP * sizeof *dparams);
    double loss = 0, gm[ENS_MAX_MEMBERS];
    float x[ENS_MOE_MAX_INPUTS]; /* (P) */
    for (int64_t i = 0; i < n; i++) {
        r.p = probs + i * K;
        row_gather(x, &r);
        gates_of(gm, g, x);
        double mix = 0;
        for (int m = 0; m < M; m++) mix += gm[m] * x[m * K + labels[i]];
        loss -= log(mix + ENS_MOE_EPS);
        if (!dparams) continue;
        /* L_i = -log(mix + eps), mix = sum_m g_m q_m, dmix/dz_m = g_m (q_m - mix). */
        for (int m = 0; m < M; m++) {
            float dz = (float)(-gm[m] * (x[m * K + labels[i]] - mix) / (mix + ENS_MOE_EPS) / (double)n);
            for (int j = 0; j < P; j++) dparams[m * P + j] += dz * x[j];
            dparams[(int64_t)M * P + m] += dz;
        }
    }
    loss /= (double)(n ? n : 1);
    double reg = 0;
    for (int64_t j = 0; j < (int64_t)M * P; j++) {
        reg += (double)W[j] * W[j];
        if (dparams) dparams[j] += l2 * W[j];
    }
    return loss + 0.5 * l2 * reg;
}

int ens_moe_train(ens_moe *g, const float *probs, const int32_t *labels, int64_t n,
                  const ens_moe_opts *o, double *final_loss)
{
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= g->K)
            return MS_FAIL(MS_ERR_INPUT, "ensemble: validation sample %lld has label %d, expected 0..%d",
                           (long long)i, (int)labels[i], g->K - 1);
    int64_t NP = ens_moe_param_count(g->M, g->K);
    float *grad = ms_malloc((size_t)NP * sizeof *grad);
    double *m1 = ms_calloc((size_t)NP, sizeof *m1), *m2 = ms_calloc((size_t)NP, sizeof *m2);
    const double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    for (int t = 1; t <= o->steps; t++) {
        ens_moe_loss(g, grad, probs, labels, n, o->l2);
        double c1 = 1.0 - pow(beta1, t), c2 = 1.0 - pow(beta2, t);
        for (int64_t j = 0; j < NP; j++) {
            m1[j] = beta1 * m1[j] + (1 - beta1) * grad[j];
            m2[j] = beta2 * m2[j] + (1 - beta2) * (double)grad[j] * grad[j];
            g->params[j] -= (float)(o->lr * (m1[j] / c1) / (sqrt(m2[j] / c2) + eps));
        }
    }
    if (final_loss) *final_loss = ens_moe_loss(g, NULL, probs, labels, n, o->l2);
    free(grad);
    free(m1);
    free(m2);
    return MS_OK;
}

/* ---- AdaBoost SAMME ------------------------------------------------------------------ */

ens_samme_status ens_samme_update(double *w, double *alpha, double *err, const int32_t *pred,
                                  const int32_t *labels, int64_t n, int K)
{
    CHECKM(K >= 2 && n > 0, "ens_samme_update: K >= 2 and n > 0");
    double tot = 0, wrong = 0;
    for (int64_t i = 0; i < n; i++) {
        tot += w[i];
        if (pred[i] != labels[i]) wrong += w[i];
    }
    CHECKM(tot > 0, "ens_samme_update: sample weights must have a positive sum");
    double e = wrong / tot, a;
    if (err) *err = e;
    if (e >= 1.0 - 1.0 / K) {
        if (alpha) *alpha = 0;
        return ENS_SAMME_DISCARD;
    }
    if (wrong == 0) {
        if (alpha) *alpha = ENS_SAMME_ALPHA_MAX;
        return ENS_SAMME_PERFECT;
    }
    a = fmin(log((1.0 - e) / e) + log((double)(K - 1)), ENS_SAMME_ALPHA_MAX);
    if (alpha) *alpha = a;
    double boost = exp(a), sum = 0;
    for (int64_t i = 0; i < n; i++) {
        if (pred[i] != labels[i]) w[i] *= boost;
        sum += w[i];
    }
    for (int64_t i = 0; i < n; i++) w[i] /= sum;
    return ENS_SAMME_OK;
}

/* ---- resampling ---------------------------------------------------------------------- */

static uint64_t resample_key(uint64_t seed, uint64_t round)
{
    return rng_key(seed, ENS_RNG_TAG + round, 0, RNG_SPLIT);
}

static int count_draw(uint16_t *counts, int64_t i)
{
    if (counts[i] == UINT16_MAX)
        return MS_FAIL(MS_ERR_RUNTIME, "ensemble: sample %lld drawn more than %d times (counts are "
                       "uint16)", (long long)i, UINT16_MAX);
    counts[i]++;
    return MS_OK;
}

int ens_resample_counts(uint16_t *counts, const double *w, int64_t n, uint64_t seed, uint64_t round)
{
    double *cdf = ms_malloc((size_t)(n ? n : 1) * sizeof *cdf);
    double tot = 0;
    int64_t last = -1; /* the last sample with positive weight */
    for (int64_t i = 0; i < n; i++) {
        if (!(w[i] >= 0) || !isfinite(w[i])) {
            free(cdf);
            return MS_FAIL(MS_ERR_INPUT, "ensemble: sample weight %lld is %g, expected >= 0",
                           (long long)i, w[i]);
        }
        if (w[i] > 0) last = i;
        cdf[i] = tot += w[i];
    }
    if (n > 0 && last < 0) {
        free(cdf);
        return MS_FAIL(MS_ERR_INPUT, "ensemble: sample weights are all zero");
    }
    memset(counts, 0, (size_t)n * sizeof *counts);
    uint64_t key = resample_key(seed, round);
    int rc = MS_OK;
    for (int64_t j = 0; j < n && rc == MS_OK; j++) {
        double u = (double)(rng_at(key, (uint64_t)j) >> 11) * (1.0 / 9007199254740992.0) * tot;
        int64_t lo = 0, hi = n - 1; /* smallest i with cdf[i] > u */
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if (cdf[mid] > u) hi = mid; else lo = mid + 1;
        }
        if (lo > last || !(cdf[lo] > u)) lo = last; /* u rounded up to tot */
        rc = count_draw(counts, lo);
    }
    free(cdf);
    return rc;
}

int ens_bootstrap_counts(uint16_t *counts, int64_t n, uint64_t seed, uint64_t round)
{
    CHECKM(n >= 0 && n <= UINT32_MAX, "ens_bootstrap_counts: n out of range");
    memset(counts, 0, (size_t)n * sizeof *counts);
    ms_rng r = rng_stream(resample_key(seed, round));
    for (int64_t j = 0; j < n; j++) {
        int rc = count_draw(counts, rng_below(&r, (uint32_t)n));
        if (rc) return rc;
    }
    return MS_OK;
}
