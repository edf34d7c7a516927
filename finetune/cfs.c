/* cfs — Correlation-based Feature Selection as Weka 3.6 computes it (see
 * include/medssl/cfs.h for the steps). The sums run in Weka's order
 * (lnFunc sums, ascending feature indices, float correlations), so that ties
 * between subsets break the same way.
 *
 * Dimension legend: n samples, F features, K classes, B bins of a feature.
 */
#include "medssl/cfs.h"
#include "medssl/common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Weka's Utils.eq: |a - b| < 1e-6. */
#define CFS_SMALL 1e-6
/* BestFirst's "better than the best" margin (forward search). */
#define CFS_IMPROVE 0.00001

static int near(double a, double b)
{
    return a - b < CFS_SMALL && b - a < CFS_SMALL;
}

/* x ln x, 0 for x <= 0 (ContingencyTables.lnFunc). */
static double ln_func(double x)
{
    return x <= 0 ? 0 : x * log(x);
}

/* ---- information measures ---- */

double cfs_entropy(const double *counts, int n)
{
    double ret = 0, sum = 0;
    for (int i = 0; i < n; i++) {
        ret -= ln_func(counts[i]);
        sum += counts[i];
    }
    if (near(sum, 0)) return 0;
    return (ret + ln_func(sum)) / (sum * log(2.0));
}

/* counts (rows, cols) */
double cfs_entropy_given_rows(const double *counts, int rows, int cols)
{
    double ret = 0, total = 0;
    for (int r = 0; r < rows; r++) {
        double row = 0;
        for (int k = 0; k < cols; k++) {
            ret += ln_func(counts[(size_t)r * cols + k]);
            row += counts[(size_t)r * cols + k];
        }
        ret -= ln_func(row);
        total += row;
    }
    if (near(total, 0)) return 0;
    return -ret / (total * log(2.0));
}

/* counts (rows, cols). The entropies below are -total x H (natural log), as
 * ContingencyTables.symmetricalUncertainty keeps them; the ratio is SU. */
double cfs_symmetric_uncertainty(const double *counts, int rows, int cols)
{
    double total = 0, col_h = 0, row_h = 0, given_rows = 0;
    for (int k = 0; k < cols; k++) {
        double col = 0;
        for (int r = 0; r < rows; r++) col += counts[(size_t)r * cols + k];
        col_h += ln_func(col);
        total += col;
    }
    col_h -= ln_func(total);
    for (int r = 0; r < rows; r++) {
        double row = 0;
        for (int k = 0; k < cols; k++) {
            row += counts[(size_t)r * cols + k];
            given_rows += ln_func(counts[(size_t)r * cols + k]);
        }
        row_h += ln_func(row);
    }
    given_rows -= row_h;
    row_h -= ln_func(total);
    const double gain = col_h - given_rows;
    if (near(col_h, 0) || near(row_h, 0)) return 0;
    return 2.0 * (gain / (col_h + row_h));
}

/* ---- MDL discretisation (Discretize.cutPointsForSubset, Fayyad-Irani) ---- */

static int classes_present(const double *counts, int K)
{
    int k = 0;
    for (int i = 0; i < K; i++) k += counts[i] > 0;
    return k;
}

/* prior (K), best (2, K): the split's halves. */
static int mdl_accepts(const double *prior, const double *best, int K, double n, int n_cuts)
{
    const double prior_h = cfs_entropy(prior, K), gain = prior_h - cfs_entropy_given_rows(best, 2, K);
    const int k = classes_present(prior, K), k1 = classes_present(best, K), k2 = classes_present(best + K, K);
    const double h1 = cfs_entropy(best, K), h2 = cfs_entropy(best + K, K);
    const double delta = log2(pow(3, k) - 2) - ((double)k * prior_h - k2 * h2 - k1 * h1);
    return gain > (log2((double)n_cuts) + delta) / n;
}

typedef struct {
    const double *v;
    const int32_t *cls;
    int K;
    double *counts; /* (2, K) scratch per level: allocated per call */
    double *cuts;
    int n_cuts, cap;
} mdl_ctx;

/* Cuts of samples [first, last) (sorted), appended to m->cuts in ascending order. */
static void mdl_subset(mdl_ctx *m, int first, int last)
{
    const int K = m->K;
    if (last - first < 2) return;
    double *counts = ms_calloc((size_t)5 * K, sizeof(double)); /* (2, K) running, (K) prior, (2, K) best */
    double *prior = counts + 2 * K, *best = counts + 3 * K;
    for (int i = first; i < last; i++) counts[K + m->cls[i]] += 1;
    memcpy(prior, counts + K, (size_t)K * sizeof(double));
    const double prior_h = cfs_entropy(prior, K);
    double best_h = prior_h, best_cut = 0;
    int best_i = -1, n_cuts = 0;
    for (int i = first; i < last - 1; i++) {
        counts[m->cls[i]] += 1;
        counts[K + m->cls[i]] -= 1;
        if (m->v[i] < m->v[i + 1]) {
            const double cut = (m->v[i] + m->v[i + 1]) / 2.0, h = cfs_entropy_given_rows(counts, 2, K);
            if (h < best_h) {
                best_cut = cut;
                best_h = h;
                best_i = i;
                memcpy(best, counts, (size_t)2 * K * sizeof(double));
            }
            n_cuts++;
        }
    }
    const int accept = prior_h - best_h > 0 && mdl_accepts(prior, best, K, (double)(last - first), n_cuts);
    free(counts);
    if (!accept) return;
    mdl_subset(m, first, best_i + 1);
    CHECK(m->n_cuts < m->cap);
    m->cuts[m->n_cuts++] = best_cut;
    mdl_subset(m, best_i + 1, last);
}

int cfs_mdl_cuts(const double *values, const int32_t *cls, int n, int K, double *cuts, int cap)
{
    mdl_ctx m = { .v = values, .cls = cls, .K = K, .cuts = cuts, .cap = cap };
    mdl_subset(&m, 0, n);
    return m.n_cuts;
}

/* ---- the evaluator ---- */

typedef struct {
    double v;
    int32_t cls;
    int32_t at;
} sorted_value;

static int by_value(const void *a, const void *b)
{
    const sorted_value *x = a, *y = b;
    return x->v < y->v ? -1 : x->v > y->v ? 1 : (x->at > y->at) - (x->at < y->at);
}

int cfs_init(ms_cfs *c, const float *x, int n, int F, const int32_t *labels, int K)
{
    memset(c, 0, sizeof *c);
    if (n < 2) return MS_FAIL(MS_ERR_INPUT, "CFS needs at least 2 labeled samples, got %d", n);
    if (F < 1 || K < 1) return MS_FAIL(MS_ERR_INPUT, "CFS needs at least one feature and one class");
    for (int i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= K)
            return MS_FAIL(MS_ERR_INPUT, "sample %d: label %d is outside 0..%d", i, labels[i], K - 1);
    c->n = n;
    c->F = F;
    c->K = K;
    c->cls = ms_malloc((size_t)n * sizeof(int32_t));
    memcpy(c->cls, labels, (size_t)n * sizeof(int32_t));
    c->bins = ms_malloc((size_t)F * n * sizeof(int32_t));
    c->n_bins = ms_malloc((size_t)F * sizeof(int));
    c->r_class = ms_malloc((size_t)F * sizeof(float));
    const size_t pairs = (size_t)F * (F - 1) / 2;
    c->r_pair = ms_malloc((pairs ? pairs : 1) * sizeof(float));
    for (int f = 0; f < F; f++) c->r_class[f] = NAN;
    for (size_t p = 0; p < pairs; p++) c->r_pair[p] = NAN;
    sorted_value *s = ms_malloc((size_t)n * sizeof *s);
    double *v = ms_malloc((size_t)n * sizeof(double)), *cuts = ms_malloc((size_t)n * sizeof(double));
    int32_t *cls = ms_malloc((size_t)n * sizeof(int32_t));
    for (int f = 0; f < F; f++) {
        for (int i = 0; i < n; i++) s[i] = (sorted_value){ (double)x[(size_t)i * F + f], labels[i], i };
        qsort(s, (size_t)n, sizeof *s, by_value);
        for (int i = 0; i < n; i++) {
            v[i] = s[i].v;
            cls[i] = s[i].cls;
        }
        const int n_cuts = cfs_mdl_cuts(v, cls, n, K, cuts, n);
        c->n_bins[f] = n_cuts + 1;
        /* bin of a value: the first cut it does not exceed (walk the sorted values) */
        int32_t *bin = c->bins + (size_t)f * n;
        for (int i = 0, j = 0; i < n; i++) {
            while (j < n_cuts && v[i] > cuts[j]) j++;
            bin[s[i].at] = j;
        }
    }
    free(s);
    free(v);
    free(cuts);
    free(cls);
    return MS_OK;
}

void cfs_free(ms_cfs *c)
{
    free(c->cls);
    free(c->bins);
    free(c->n_bins);
    free(c->r_class);
    free(c->r_pair);
    memset(c, 0, sizeof *c);
}

/* SU of the rows' bins against the columns' (n values each, rows x cols
 * categories), as CfsSubsetEval.symmUncertCorr with no missing values. */
static double su_of(const int32_t *row, int rows, const int32_t *col, int cols, int n)
{
    double *counts = ms_calloc((size_t)rows * cols, sizeof(double));
    for (int i = 0; i < n; i++) counts[(size_t)row[i] * cols + col[i]] += 1;
    const double su = cfs_symmetric_uncertainty(counts, rows, cols);
    free(counts);
    return su;
}

float cfs_corr_class(ms_cfs *c, int f)
{
    CHECK(f >= 0 && f < c->F);
    if (isnan(c->r_class[f])) {
        const double su = su_of(c->bins + (size_t)f * c->n, c->n_bins[f], c->cls, c->K, c->n);
        c->r_class[f] = (float)(near(su, 0) ? 0.0 : su);
        c->n_corr++;
    }
    return c->r_class[f];
}

float cfs_corr(ms_cfs *c, int f, int g)
{
    CHECK(f >= 0 && f < c->F && g >= 0 && g < c->F && f != g);
    const int hi = f > g ? f : g, lo = f > g ? g : f;
    float *r = &c->r_pair[(size_t)hi * (hi - 1) / 2 + lo];
    if (isnan(*r)) {
        const double su = su_of(c->bins + (size_t)hi * c->n, c->n_bins[hi], c->bins + (size_t)lo * c->n,
                                c->n_bins[lo], c->n);
        *r = (float)(near(su, 0) ? 1.0 : su); /* no information shared: maximally redundant, as Weka */
        c->n_corr++;
    }
    return *r;
}

/* ---- subsets as bit sets ---- */

typedef uint64_t word;
#define WORD_BITS 64

static int has(const word *s, int f)
{
    return (int)((s[f / WORD_BITS] >> (f % WORD_BITS)) & 1u);
}

static void put(word *s, int f, int on)
{
    if (on) s[f / WORD_BITS] |= (word)1 << (f % WORD_BITS);
    else s[f / WORD_BITS] &= ~((word)1 << (f % WORD_BITS));
}

/* CfsSubsetEval.evaluateSubset: ascending i, then j < i. */
static double merit_of(ms_cfs *c, const word *s)
{
    double num = 0, denom = 0;
    for (int i = 0; i < c->F; i++)
        if (has(s, i)) num += (double)cfs_corr_class(c, i);
    for (int i = 0; i < c->F; i++) {
        if (!has(s, i)) continue;
        denom += 1.0;
        for (int j = 0; j < i; j++)
            if (has(s, j)) denom += 2.0 * (double)cfs_corr(c, i, j);
    }
    if (denom < 0) denom = -denom;
    if (denom == 0) return 0;
    const double merit = num / sqrt(denom);
    return merit < 0 ? -merit : merit;
}

double cfs_merit(ms_cfs *c, const int *in, int k)
{
    const int words = (c->F + WORD_BITS - 1) / WORD_BITS;
    word *s = ms_calloc((size_t)words, sizeof(word));
    for (int i = 0; i < k; i++) {
        CHECK(in[i] >= 0 && in[i] < c->F);
        put(s, in[i], 1);
    }
    const double m = merit_of(c, s);
    free(s);
    return m;
}

/* ---- best-first search (BestFirst.search, forward) ---- */

/* The open list (BestFirst.LinkedList2): at most cap subsets, merit descending. */
typedef struct {
    word *sets;    /* (cap, words) */
    double *merit; /* (cap) */
    int n, cap, words;
} open_list;

static void open_insert_at(open_list *l, int at, const word *s, double merit)
{
    if (l->n == l->cap) l->n--; /* the last one goes */
    memmove(l->sets + (size_t)(at + 1) * l->words, l->sets + (size_t)at * l->words,
            (size_t)(l->n - at) * l->words * sizeof(word));
    memmove(l->merit + at + 1, l->merit + at, (size_t)(l->n - at) * sizeof(double));
    memcpy(l->sets + (size_t)at * l->words, s, (size_t)l->words * sizeof(word));
    l->merit[at] = merit;
    l->n++;
}

/* LinkedList2.addToList: before the first one of lower merit; a full list
 * takes a subset only when it beats the last. */
static void open_add(open_list *l, const word *s, double merit)
{
    if (l->n == l->cap && merit <= l->merit[l->n - 1]) return;
    int at = 0;
    while (at < l->n && !(merit > l->merit[at])) at++;
    open_insert_at(l, at, s, merit);
}

static void open_pop(open_list *l, word *s)
{
    memcpy(s, l->sets, (size_t)l->words * sizeof(word));
    l->n--;
    memmove(l->sets, l->sets + l->words, (size_t)l->n * l->words * sizeof(word));
    memmove(l->merit, l->merit + 1, (size_t)l->n * sizeof(double));
}

static int *list_of(const word *s, int F, int *k)
{
    int n = 0;
    for (int f = 0; f < F; f++) n += has(s, f);
    int *out = ms_malloc((size_t)(n ? n : 1) * sizeof(int));
    *k = 0;
    for (int f = 0; f < F; f++)
        if (has(s, f)) out[(*k)++] = f;
    return out;
}

/* BestFirst's lookup table: merits of the subsets evaluated since it was last
 * emptied, which happens when an insertion finds more than (F + 1) entries
 * inserted since (Weka's lookupCacheSize 1 x attributes with the class). A
 * hit reuses the merit (the same number) and is not counted as an
 * evaluation: only `evaluations` depends on it. Open addressing on the bits. */
typedef struct {
    word *keys;   /* (cap, words) */
    double *merit;
    char *used;
    int cap, words, inserted, limit;
} merit_cache;

static size_t cache_slot(const merit_cache *mc, const word *s)
{
    uint64_t h = 0x9E3779B97F4A7C15ull;
    for (int w = 0; w < mc->words; w++) h = (h ^ s[w]) * 0xff51afd7ed558ccdull;
    size_t at = (size_t)(h >> 20) & (size_t)(mc->cap - 1);
    while (mc->used[at] && memcmp(mc->keys + at * mc->words, s, (size_t)mc->words * sizeof(word)) != 0)
        at = (at + 1) & (size_t)(mc->cap - 1);
    return at;
}

static void cache_put(merit_cache *mc, const word *s, double merit, int counted)
{
    if (counted && mc->inserted > mc->limit) {
        memset(mc->used, 0, (size_t)mc->cap);
        mc->inserted = 0;
    }
    const size_t at = cache_slot(mc, s);
    mc->used[at] = 1;
    memcpy(mc->keys + at * mc->words, s, (size_t)mc->words * sizeof(word));
    mc->merit[at] = merit;
    mc->inserted += counted;
}

/* The merit of s from the cache, or evaluated (and counted) and cached. */
static double cached_merit(ms_cfs *c, merit_cache *mc, const word *s, long long *evaluations)
{
    const size_t at = cache_slot(mc, s);
    if (mc->used[at]) return mc->merit[at];
    const double m = merit_of(c, s);
    (*evaluations)++;
    cache_put(mc, s, m, 1);
    return m;
}

/* CfsSubsetEval.addLocallyPredictive, on best. */
static void add_locally_predictive(ms_cfs *c, word *best)
{
    const int words = (c->F + WORD_BITS - 1) / WORD_BITS;
    word *seen = ms_malloc((size_t)words * sizeof(word));
    memcpy(seen, best, (size_t)words * sizeof(word));
    for (;;) {
        double top = -1.0;
        int j = -1;
        for (int i = 0; i < c->F; i++)
            if (!has(seen, i) && cfs_corr_class(c, i) > top) {
                top = cfs_corr_class(c, i);
                j = i;
            }
        if (j < 0) break;
        put(seen, j, 1);
        int ok = 1;
        for (int i = 0; i < c->F && ok; i++)
            if (has(best, i) && i != j && cfs_corr(c, i, j) > top) ok = 0;
        if (ok) put(best, j, 1);
    }
    free(seen);
}

int cfs_select(ms_cfs *c, const ms_cfs_opts *o, ms_cfs_result *r)
{
    memset(r, 0, sizeof *r);
    if (o->max_stale < 1) return MS_FAIL(MS_ERR_INPUT, "the search needs max_stale >= 1, got %d", o->max_stale);
    const int F = c->F, words = (F + WORD_BITS - 1) / WORD_BITS;
    open_list l = { .sets = ms_calloc((size_t)o->max_stale * words, sizeof(word)),
                    .merit = ms_malloc((size_t)o->max_stale * sizeof(double)), .cap = o->max_stale, .words = words };
    word *best = ms_calloc((size_t)words, sizeof(word)), *node = ms_calloc((size_t)words, sizeof(word));
    merit_cache mc = { .words = words, .limit = F + 1, .cap = 64 };
    while (mc.cap < 4 * (F + 3)) mc.cap *= 2;
    mc.keys = ms_malloc((size_t)mc.cap * words * sizeof(word));
    mc.merit = ms_malloc((size_t)mc.cap * sizeof(double));
    mc.used = ms_calloc((size_t)mc.cap, 1);
    double best_merit = merit_of(c, best); /* the empty set: 0, not counted (as Weka) */
    cache_put(&mc, best, best_merit, 0);
    open_add(&l, best, best_merit);
    int cap_trace = 16;
    r->trace = ms_malloc((size_t)cap_trace * sizeof *r->trace);
    int best_size = 0;
    for (int stale = 0; stale < o->max_stale && l.n > 0;) {
        open_pop(&l, node);
        int added = -1;
        for (int i = 0; i < F; i++) {
            if (has(node, i)) continue;
            put(node, i, 1);
            const double merit = cached_merit(c, &mc, node, &r->evaluations);
            open_add(&l, node, merit);
            if (merit - best_merit > CFS_IMPROVE) {
                best_merit = merit;
                memcpy(best, node, (size_t)words * sizeof(word));
                added = i;
            }
            put(node, i, 0);
        }
        if (added >= 0) {
            stale = 0;
            best_size = 0;
            for (int f = 0; f < F; f++) best_size += has(best, f);
        } else {
            stale++;
        }
        if (r->n_trace == cap_trace) {
            cap_trace *= 2;
            r->trace = ms_realloc(r->trace, (size_t)cap_trace * sizeof *r->trace);
        }
        r->trace[r->n_trace++] = (ms_cfs_step){ .size = best_size, .merit = best_merit, .added = added };
    }
    r->merit = best_merit;
    r->searched = list_of(best, F, &r->n_searched);
    if (o->locally_predictive) add_locally_predictive(c, best);
    r->selected = list_of(best, F, &r->n_selected);
    free(best);
    free(node);
    free(l.sets);
    free(l.merit);
    free(mc.keys);
    free(mc.merit);
    free(mc.used);
    return MS_OK;
}

void cfs_result_free(ms_cfs_result *r)
{
    free(r->selected);
    free(r->searched);
    free(r->trace);
    memset(r, 0, sizeof *r);
}
