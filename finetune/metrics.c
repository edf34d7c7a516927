/* metrics — classification and segmentation metrics, per domain, bootstrap
 * intervals, JSON and table reports (see include/medssl/metrics.h for every
 * definition and convention).
 *
 * Every classification metric is computed by one routine, cls_compute(), from
 * a per-sample multiplicity w (1 for the point estimate, 0 outside the subset,
 * bootstrap counts for a replicate), so the point estimate, the per-domain
 * metrics and the replicates cannot drift apart. The JSON and table reports
 * are in metrics_report.c. The AUC walks the subset's
 * samples once in score order (sorted once per finish) in groups of equal
 * score: O(n) per class and replicate.
 *
 * Dimension legend: n samples (images) added, m samples in the evaluated
 * subset, K classes, H, W mask size, B bootstrap resamples.
 */
#include "medssl/metrics.h"
#include "medssl/common.h"
#include "medssl/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct metrics_cls {
    int K;
    int64_t n, cap;
    float *probs;      /* (cap, K) */
    int32_t *labels;   /* (cap) */
    int32_t *pred;     /* (cap) argmax of probs, lowest index on ties */
    int8_t *domain;    /* (cap) -1 = none */
    int64_t dom_count[METRICS_MAX_DOMAINS];
};

/* Per image: inter[K], psize[K], tsize[K], valid pixels. */
#define SEG_STRIDE(K) (3 * (int64_t)(K) + 1)

struct metrics_seg {
    int K;
    int64_t n, cap;
    int64_t *counts;   /* (cap, 3K+1) */
    int8_t *domain;    /* (cap) */
    int64_t dom_count[METRICS_MAX_DOMAINS];
};

static double ratio(double num, double den) { return den > 0 ? num / den : NAN; }

static int check_domains(const int32_t *domains, int64_t n)
{
    for (int64_t i = 0; domains && i < n; i++)
        if (domains[i] < -1 || domains[i] >= METRICS_MAX_DOMAINS)
            return MS_FAIL(MS_ERR_INPUT, "metrics: sample %lld has domain %d, expected -1..%d",
                           (long long)i, (int)domains[i], METRICS_MAX_DOMAINS - 1);
    return MS_OK;
}

/* Whether sample i (domain id dom[i]) belongs to the subset `domain`. */
static int in_subset(const int8_t *dom, int64_t i, int domain) { return domain == METRICS_ALL || dom[i] == domain; }

/* Subset members (m) of `domain` among n samples with per-sample domain ids. */
static int64_t subset_indices(int64_t *idx, const int8_t *dom, int64_t n, int domain)
{
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (in_subset(dom, i, domain)) idx[m++] = i;
    return m;
}

static int list_domains(const int64_t *dom_count, int *ids)
{
    int nd = 0;
    for (int d = 0; d < METRICS_MAX_DOMAINS; d++)
        if (dom_count[d] > 0) ids[nd++] = d;
    return nd;
}

static uint64_t boot_key(uint64_t seed, int domain, int b)
{
    return rng_key(seed, METRICS_BOOT_TAG + (uint64_t)(domain + 1), (uint64_t)b, RNG_SPLIT);
}

/* Drops the NaNs of v (n) and sorts the rest; returns how many are left. */
static int64_t compact_sort(double *v, int64_t n)
{
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (!isnan(v[i])) v[m++] = v[i];
    qsort(v, (size_t)m, sizeof *v, ms_cmp_double);
    return m;
}

/* Quantile q of sorted v (m): linear interpolation at position q (m - 1). */
static double quantile_sorted(const double *v, int64_t m, double q)
{
    if (m == 0) return NAN;
    double pos = q * (double)(m - 1);
    int64_t lo = (int64_t)floor(pos);
    if (lo >= m - 1) return v[m - 1];
    return v[lo] + (pos - (double)lo) * (v[lo + 1] - v[lo]);
}

double metrics_quantile(double *v, int64_t n, double q)
{
    return quantile_sorted(v, compact_sort(v, n), q);
}

static metrics_interval interval95(double *v, int64_t n)
{
    int64_t m = compact_sort(v, n);
    return (metrics_interval){ quantile_sorted(v, m, 0.025), quantile_sorted(v, m, 0.975) };
}

/* ---- AUC ----------------------------------------------------------------------------- */

typedef struct { float s; int64_t i; } scored;

static int cmp_scored(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    if (x->s != y->s) return x->s < y->s ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

/* Writes into order (m) the samples idx (m) sorted by score[i * stride] ascending. */
static void sort_by_score(int64_t *order, const int64_t *idx, int64_t m, const float *score,
                          int64_t stride)
{
    scored *tmp = ms_malloc((size_t)(m ? m : 1) * sizeof *tmp);
    for (int64_t j = 0; j < m; j++) tmp[j] = (scored){ score[idx[j] * stride], idx[j] };
    qsort(tmp, (size_t)m, sizeof *tmp, cmp_scored);
    for (int64_t j = 0; j < m; j++) order[j] = tmp[j].i;
    free(tmp);
}

/* The tie group of equal scores starting at order[g] (order as for
 * auc_sorted): its weighted positives *gp and negatives *gn; returns the
 * index one past the group. */
static int64_t tie_group(const int64_t *order, int64_t m, int64_t g, const float *score, int64_t stride,
                         const uint8_t *pos, const double *w, double *gp, double *gn)
{
    float s = score[order[g] * stride];
    int64_t e = g;
    *gp = *gn = 0;
    for (; e < m && score[order[e] * stride] == s; e++) {
        int64_t i = order[e];
        double wi = w ? w[i] : 1.0;
        if (pos[i]) *gp += wi; else *gn += wi;
    }
    return e;
}

/* Mann-Whitney AUC over order (m, sorted by score ascending): a positive beats
 * the negatives below its tie group and half of those inside it. score and pos
 * are indexed by sample (score with stride); w by sample, NULL = 1. */
static double auc_sorted(const int64_t *order, int64_t m, const float *score, int64_t stride,
                         const uint8_t *pos, const double *w)
{
    double P = 0, N = 0, U = 0, gp, gn;
    for (int64_t g = 0; g < m;) {
        g = tie_group(order, m, g, score, stride, pos, w, &gp, &gn);
        U += gp * (N + 0.5 * gn);
        P += gp;
        N += gn;
    }
    return (P > 0 && N > 0) ? U / (P * N) : NAN;
}

double metrics_auc(const float *score, const uint8_t *pos, const double *w, int64_t n)
{
    int64_t *idx = ms_malloc((size_t)(n ? n : 1) * sizeof *idx);
    int64_t *order = ms_malloc((size_t)(n ? n : 1) * sizeof *order);
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    sort_by_score(order, idx, n, score, 1);
    double auc = auc_sorted(order, n, score, 1, pos, w);
    free(idx);
    free(order);
    return auc;
}

/* ---- classification -------------------------------------------------------------------- */

metrics_cls *metrics_cls_new(int K)
{
    CHECKM(K >= 2 && K <= METRICS_MAX_CLASSES, "metrics_cls_new: K out of range");
    metrics_cls *acc = ms_calloc(1, sizeof *acc);
    acc->K = K;
    return acc;
}

void metrics_cls_free(metrics_cls *acc)
{
    if (!acc) return;
    free(acc->probs);
    free(acc->labels);
    free(acc->pred);
    free(acc->domain);
    free(acc);
}

int metrics_cls_K(const metrics_cls *acc) { return acc->K; }

int metrics_cls_add(metrics_cls *acc, const float *probs, const int32_t *labels,
                    const int32_t *domains, int64_t n)
{
    int K = acc->K;
    if (n <= 0) return MS_OK;
    for (int64_t i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= K)
            return MS_FAIL(MS_ERR_INPUT, "metrics: sample %lld has label %d, expected 0..%d",
                           (long long)i, (int)labels[i], K - 1);
        for (int k = 0; k < K; k++)
            if (!isfinite(probs[i * K + k]))
                return MS_FAIL(MS_ERR_INPUT, "metrics: sample %lld has a non-finite score for class %d",
                               (long long)i, k);
    }
    int rc = check_domains(domains, n);
    if (rc) return rc;
    if (acc->n + n > acc->cap) {
        int64_t cap = acc->cap ? acc->cap : 256;
        while (cap < acc->n + n) cap *= 2;
        acc->probs = ms_realloc(acc->probs, (size_t)(cap * K) * sizeof *acc->probs);
        acc->labels = ms_realloc(acc->labels, (size_t)cap * sizeof *acc->labels);
        acc->pred = ms_realloc(acc->pred, (size_t)cap * sizeof *acc->pred);
        acc->domain = ms_realloc(acc->domain, (size_t)cap * sizeof *acc->domain);
        acc->cap = cap;
    }
    memcpy(acc->probs + acc->n * K, probs, (size_t)(n * K) * sizeof *probs);
    for (int64_t i = 0; i < n; i++) {
        int64_t j = acc->n + i;
        acc->labels[j] = labels[i];
        acc->pred[j] = ms_argmax(probs + i * K, K, 1);
        acc->domain[j] = (int8_t)(domains ? domains[i] : -1);
        if (domains && domains[i] >= 0) acc->dom_count[domains[i]]++;
    }
    acc->n += n;
    return MS_OK;
}

int64_t metrics_cls_count(const metrics_cls *acc, int domain)
{
    CHECKM(domain >= METRICS_ALL && domain < METRICS_MAX_DOMAINS, "metrics_cls_count: bad domain");
    return domain == METRICS_ALL ? acc->n : acc->dom_count[domain];
}

int metrics_cls_domains(const metrics_cls *acc, int *ids) { return list_domains(acc->dom_count, ids); }

/* The evaluated subset, prepared once per finish. */
typedef struct {
    const metrics_cls *acc;
    int64_t m;
    int64_t *idx;     /* (m) sample indices */
    int64_t *order;   /* (K, m) idx sorted by the score of class k */
    uint8_t *pos;     /* (K, n) pos[k * n + i] = labels[i] == k */
} cls_subset;

/* Metrics of the subset with multiplicities w (n, indexed by sample; NULL = 1)
 * into conf (K, K) and pc (K); returns accuracy, balanced accuracy, macro AUC. */
static void cls_compute(const cls_subset *s, const double *w, double *conf, metrics_cls_class *pc,
                        double *accuracy, double *bacc, double *mauc)
{
    const metrics_cls *acc = s->acc;
    int K = acc->K;
    memset(conf, 0, (size_t)(K * K) * sizeof *conf);
    double tot = 0;
    for (int64_t j = 0; j < s->m; j++) {
        int64_t i = s->idx[j];
        double wi = w ? w[i] : 1.0;
        conf[acc->labels[i] * K + acc->pred[i]] += wi;
        tot += wi;
    }
    double correct = 0, recall_sum = 0, auc_sum = 0;
    int present = 0, with_auc = 0;
    for (int k = 0; k < K; k++) {
        double tp = conf[k * K + k], row = 0, col = 0;
        for (int c = 0; c < K; c++) {
            row += conf[k * K + c];
            col += conf[c * K + k];
        }
        double fn = row - tp, fp = col - tp, tn = tot - tp - fn - fp;
        metrics_cls_class *q = &pc[k];
        q->support = (int64_t)row;
        q->predicted = (int64_t)col;
        q->sensitivity = ratio(tp, tp + fn);
        q->specificity = ratio(tn, tn + fp);
        q->precision = ratio(tp, tp + fp);
        q->f1 = ratio(2 * tp, 2 * tp + fp + fn);
        q->auc = auc_sorted(s->order + k * s->m, s->m, acc->probs + k, K, s->pos + k * acc->n, w);
        correct += tp;
        if (row > 0) {
            recall_sum += q->sensitivity;
            present++;
        }
        if (!isnan(q->auc)) {
            auc_sum += q->auc;
            with_auc++;
        }
    }
    *accuracy = ratio(correct, tot);
    *bacc = present ? recall_sum / present : NAN;
    *mauc = K == 2 ? pc[1].auc : (with_auc ? auc_sum / with_auc : NAN);
}

void metrics_cls_finish(const metrics_cls *acc, int domain, int B, uint64_t seed,
                        metrics_cls_result *res)
{
    CHECKM(domain >= METRICS_ALL && domain < METRICS_MAX_DOMAINS, "metrics_cls_finish: bad domain");
    int K = acc->K;
    int64_t n = acc->n, n1 = n ? n : 1;
    cls_subset s = { .acc = acc };
    s.idx = ms_malloc((size_t)n1 * sizeof *s.idx);
    s.m = subset_indices(s.idx, acc->domain, n, domain);
    s.order = ms_malloc((size_t)(K * (s.m ? s.m : 1)) * sizeof *s.order);
    s.pos = ms_malloc((size_t)(K * n1) * sizeof *s.pos);
    for (int k = 0; k < K; k++) {
        sort_by_score(s.order + k * s.m, s.idx, s.m, acc->probs + k, K);
        for (int64_t i = 0; i < n; i++) s.pos[k * n + i] = acc->labels[i] == k;
    }
    memset(res, 0, sizeof *res);
    res->K = K;
    res->domain = domain;
    res->n = s.m;
    res->confusion = ms_malloc((size_t)(K * K) * sizeof *res->confusion);
    res->per_class = ms_malloc((size_t)K * sizeof *res->per_class);
    double *conf = ms_malloc((size_t)(K * K) * sizeof *conf);
    cls_compute(&s, NULL, conf, res->per_class, &res->accuracy, &res->balanced_accuracy, &res->macro_auc);
    for (int j = 0; j < K * K; j++) res->confusion[j] = (int64_t)conf[j];

    if (B > 0 && s.m > 0) {
        CHECKM(s.m <= UINT32_MAX, "metrics bootstrap: subset too large");
        double *w = ms_calloc((size_t)n1, sizeof *w);
        double *v = ms_malloc((size_t)(3 * B) * sizeof *v); /* (3, B): acc, bacc, mauc */
        metrics_cls_class *pc = ms_malloc((size_t)K * sizeof *pc);
        for (int b = 0; b < B; b++) {
            for (int64_t j = 0; j < s.m; j++) w[s.idx[j]] = 0;
            ms_rng r = rng_stream(boot_key(seed, domain, b));
            for (int64_t j = 0; j < s.m; j++) w[s.idx[rng_below(&r, (uint32_t)s.m)]] += 1;
            cls_compute(&s, w, conf, pc, &v[b], &v[B + b], &v[2 * B + b]);
        }
        res->ci_accuracy = interval95(v, B);
        res->ci_balanced_accuracy = interval95(v + B, B);
        res->ci_macro_auc = interval95(v + 2 * B, B);
        free(w);
        free(v);
        free(pc);
    } else if (B > 0) {
        res->ci_accuracy = res->ci_balanced_accuracy = res->ci_macro_auc = (metrics_interval){ NAN, NAN };
    }
    res->ci_resamples = B > 0 ? B : 0;
    res->ci_seed = seed;
    free(conf);
    free(s.idx);
    free(s.order);
    free(s.pos);
}

void metrics_cls_result_free(metrics_cls_result *res)
{
    free(res->confusion);
    free(res->per_class);
    res->confusion = NULL;
    res->per_class = NULL;
}

/* The tie groups of class k's score, ascending (the groups auc_sorted walks),
 * give the vertices from the top: vertex v (v = 0..G) classifies the v highest
 * groups as positive, so the trapezoids between vertices sum to the
 * Mann-Whitney AUC (a tie group is one diagonal segment: half its pairs). */
int metrics_cls_roc(const metrics_cls *acc, int domain, int k, int max_points, double *fpr, double *tpr)
{
    CHECKM(domain >= METRICS_ALL && domain < METRICS_MAX_DOMAINS, "metrics_cls_roc: bad domain");
    CHECKM(k >= 0 && k < acc->K && (max_points == 0 || max_points >= 2), "metrics_cls_roc: bad class or max_points");
    int K = acc->K;
    int64_t n = acc->n, n1 = n ? n : 1;
    int64_t *idx = ms_malloc((size_t)n1 * sizeof *idx), *order = ms_malloc((size_t)n1 * sizeof *order);
    uint8_t *pos = ms_malloc((size_t)n1 * sizeof *pos);
    double *gp = ms_malloc((size_t)n1 * sizeof *gp), *gn = ms_malloc((size_t)n1 * sizeof *gn); /* (G) per group */
    int64_t m = subset_indices(idx, acc->domain, n, domain), G = 0;
    sort_by_score(order, idx, m, acc->probs + k, K);
    for (int64_t i = 0; i < n; i++) pos[i] = acc->labels[i] == k;
    double P = 0, N = 0;
    for (int64_t g = 0; g < m; G++) {
        g = tie_group(order, m, g, acc->probs + k, K, pos, NULL, &gp[G], &gn[G]);
        P += gp[G];
        N += gn[G];
    }
    int64_t V = G + 1, keep = (max_points > 0 && V > max_points) ? max_points : V, out = 0;
    if (P > 0 && N > 0) {
        CHECKM(keep <= INT32_MAX, "metrics_cls_roc: too many vertices");
        double tp = 0, fp = 0;
        for (int64_t v = 0; v < V; v++) {
            if (v > 0) {
                tp += gp[G - v];
                fp += gn[G - v];
            }
            if (v == out * (V - 1) / (keep - 1)) { /* evenly spaced ranks; every vertex unthinned */
                fpr[out] = fp / N;
                tpr[out] = tp / P;
                out++;
            }
        }
    }
    free(idx);
    free(order);
    free(pos);
    free(gp);
    free(gn);
    return (int)out;
}

/* ---- segmentation ---------------------------------------------------------------------- */

metrics_seg *metrics_seg_new(int K)
{
    CHECKM(K >= 2 && K <= METRICS_MAX_CLASSES, "metrics_seg_new: K out of range");
    metrics_seg *acc = ms_calloc(1, sizeof *acc);
    acc->K = K;
    return acc;
}

void metrics_seg_free(metrics_seg *acc)
{
    if (!acc) return;
    free(acc->counts);
    free(acc->domain);
    free(acc);
}

int metrics_seg_K(const metrics_seg *acc) { return acc->K; }

int metrics_seg_add(metrics_seg *acc, const uint8_t *pred, const uint8_t *truth,
                    const int32_t *domains, int64_t n, int H, int W)
{
    int K = acc->K;
    int64_t HW = (int64_t)H * W;
    if (n <= 0) return MS_OK;
    for (int64_t j = 0; j < n * HW; j++)
        if (pred[j] >= K || (truth[j] >= K && truth[j] != METRICS_IGNORE))
            return MS_FAIL(MS_ERR_INPUT,
                           "metrics: image %lld pixel %lld has prediction %d / truth %d, expected "
                           "0..%d (truth may also be %d = ignore)",
                           (long long)(j / HW), (long long)(j % HW), pred[j], truth[j], K - 1,
                           METRICS_IGNORE);
    int rc = check_domains(domains, n);
    if (rc) return rc;
    int64_t S = SEG_STRIDE(K);
    if (acc->n + n > acc->cap) {
        int64_t cap = acc->cap ? acc->cap : 64;
        while (cap < acc->n + n) cap *= 2;
        acc->counts = ms_realloc(acc->counts, (size_t)(cap * S) * sizeof *acc->counts);
        acc->domain = ms_realloc(acc->domain, (size_t)cap * sizeof *acc->domain);
        acc->cap = cap;
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t *c = acc->counts + (acc->n + i) * S; /* inter[K], psize[K], tsize[K], valid */
        memset(c, 0, (size_t)S * sizeof *c);
        const uint8_t *p = pred + i * HW, *t = truth + i * HW;
        for (int64_t j = 0; j < HW; j++) {
            if (t[j] == METRICS_IGNORE) continue;
            c[3 * K]++;
            c[K + p[j]]++;
            c[2 * K + t[j]]++;
            if (p[j] == t[j]) c[t[j]]++;
        }
        acc->domain[acc->n + i] = (int8_t)(domains ? domains[i] : -1);
        if (domains && domains[i] >= 0) acc->dom_count[domains[i]]++;
    }
    acc->n += n;
    return MS_OK;
}

int64_t metrics_seg_count(const metrics_seg *acc, int domain)
{
    CHECKM(domain >= METRICS_ALL && domain < METRICS_MAX_DOMAINS, "metrics_seg_count: bad domain");
    return domain == METRICS_ALL ? acc->n : acc->dom_count[domain];
}

int metrics_seg_domains(const metrics_seg *acc, int *ids) { return list_domains(acc->dom_count, ids); }

double metrics_seg_image_dsc(const metrics_seg *acc, int64_t image, int c)
{
    CHECK(image >= 0 && image < acc->n && c >= 0 && c < acc->K);
    const int64_t *cnt = acc->counts + image * SEG_STRIDE(acc->K);
    double den = (double)(cnt[acc->K + c] + cnt[2 * acc->K + c]);
    return den > 0 ? 2.0 * (double)cnt[c] / den : NAN;
}

int64_t metrics_seg_dsc_per_image(const metrics_seg *acc, int domain, int c, double *dsc)
{
    CHECKM(domain >= METRICS_ALL && domain < METRICS_MAX_DOMAINS, "metrics_seg_dsc_per_image: bad domain");
    CHECKM(c >= 0 && c < acc->K, "metrics_seg_dsc_per_image: bad class");
    int64_t m = 0;
    for (int64_t i = 0; i < acc->n; i++) {
        double x = in_subset(acc->domain, i, domain) ? metrics_seg_image_dsc(acc, i, c) : NAN;
        if (!isnan(x)) dsc[m++] = x; /* NaN = excluded for c, as in metrics_seg_finish's mean_std */
    }
    return m;
}

/* Mean and sample std (n - 1; 0 for one value) of the non-NaN entries of v (n). */
static void mean_std(const double *v, int64_t n, double *mean, double *std, int64_t *count)
{
    double s = 0, ss = 0;
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (!isnan(v[i])) {
            s += v[i];
            m++;
        }
    double mu = m ? s / (double)m : NAN;
    for (int64_t i = 0; i < n; i++)
        if (!isnan(v[i])) ss += (v[i] - mu) * (v[i] - mu);
    *mean = mu;
    *std = m > 1 ? sqrt(ss / (double)(m - 1)) : (m == 1 ? 0.0 : NAN);
    *count = m;
}

void metrics_seg_finish(const metrics_seg *acc, int domain, int B, uint64_t seed,
                        metrics_seg_result *res)
{
    CHECKM(domain >= METRICS_ALL && domain < METRICS_MAX_DOMAINS, "metrics_seg_finish: bad domain");
    int K = acc->K;
    int64_t n1 = acc->n ? acc->n : 1, S = SEG_STRIDE(K);
    int64_t *idx = ms_malloc((size_t)n1 * sizeof *idx);
    int64_t m = subset_indices(idx, acc->domain, acc->n, domain);
    double *dsc = ms_malloc((size_t)(m ? m : 1) * sizeof *dsc); /* (m) one class at a time */
    double *fg = ms_malloc((size_t)(m ? m : 1) * sizeof *fg);   /* (m) fg(i) */
    int *fg_classes = ms_calloc((size_t)(m ? m : 1), sizeof *fg_classes);
    memset(res, 0, sizeof *res);
    res->K = K;
    res->domain = domain;
    res->n = m;
    res->per_class = ms_malloc((size_t)K * sizeof *res->per_class);
    for (int64_t j = 0; j < m; j++) fg[j] = 0;
    for (int c = 0; c < K; c++) {
        double tp = 0, tsz = 0, psz = 0, valid = 0;
        for (int64_t j = 0; j < m; j++) {
            const int64_t *cnt = acc->counts + idx[j] * S;
            dsc[j] = metrics_seg_image_dsc(acc, idx[j], c);
            tp += (double)cnt[c];
            psz += (double)cnt[K + c];
            tsz += (double)cnt[2 * K + c];
            valid += (double)cnt[3 * K];
            if (c > 0 && !isnan(dsc[j])) {
                fg[j] += dsc[j];
                fg_classes[j]++;
            }
        }
        metrics_seg_class *q = &res->per_class[c];
        mean_std(dsc, m, &q->dsc_mean, &q->dsc_std, &q->n);
        q->n_empty = m - q->n;
        q->sensitivity = ratio(tp, tsz);
        q->specificity = ratio(valid - psz - tsz + tp, valid - tsz);
    }
    for (int64_t j = 0; j < m; j++) fg[j] = fg_classes[j] ? fg[j] / fg_classes[j] : NAN;
    mean_std(fg, m, &res->dsc_mean, &res->dsc_std, &res->n_fg);

    if (B > 0) {
        CHECKM(m <= UINT32_MAX, "metrics bootstrap: subset too large");
        double *v = ms_malloc((size_t)B * sizeof *v);
        for (int b = 0; b < B; b++) {
            ms_rng r = rng_stream(boot_key(seed, domain, b));
            double s = 0;
            int64_t cnt = 0;
            for (int64_t j = 0; j < m; j++) {
                double x = fg[rng_below(&r, (uint32_t)m)];
                if (!isnan(x)) {
                    s += x;
                    cnt++;
                }
            }
            v[b] = cnt ? s / (double)cnt : NAN;
        }
        res->ci_dsc_mean = interval95(v, B);
        res->ci_resamples = B;
        free(v);
    }
    res->ci_seed = seed;
    free(idx);
    free(dsc);
    free(fg);
    free(fg_classes);
}

void metrics_seg_result_free(metrics_seg_result *res)
{
    free(res->per_class);
    res->per_class = NULL;
}
