/* labeled — sample selection, repeat counts and class weights for
 * fine-tuning (see medssl/labeled.h). */
#include "medssl/labeled.h"

#include "medssl/common.h"
#include "medssl/list.h"
#include "medssl/loader.h"
#include "medssl/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCAN_BLOCK 256

/* Calls fn(ctx, first, n, masks) over the corpus's masks in blocks. */
typedef void (*mask_fn)(void *ctx, long long first, int n, const uint8_t *masks, size_t HW);

static int scan_masks(ms_corpus *c, mask_fn fn, void *ctx)
{
    const size_t HW = (size_t)c->H * c->W;
    float *img = ms_malloc((size_t)SCAN_BLOCK * c->C * HW * sizeof(float));
    uint8_t *masks = ms_malloc((size_t)SCAN_BLOCK * HW);
    int rc = MS_OK;
    for (long long first = 0; first < c->N && !rc; first += SCAN_BLOCK) {
        int n = (int)(c->N - first < SCAN_BLOCK ? c->N - first : SCAN_BLOCK);
        if (!(rc = corpus_read(c, first, n, img, NULL, masks, NULL))) fn(ctx, first, n, masks, HW);
    }
    free(img);
    free(masks);
    return rc;
}

static void mask_max(void *ctx, long long first, int n, const uint8_t *masks, size_t HW)
{
    (void)first;
    int *mx = ctx;
    for (size_t i = 0; i < (size_t)n * HW; i++)
        if (masks[i] != 255 && masks[i] > *mx) *mx = masks[i];
}

int labeled_check(ms_corpus *c, int segment, int classes, int *K)
{
    if (segment) {
        if (!corpus_has_masks(c)) return MS_FAIL(MS_ERR_INPUT, "%s: no /masks dataset: --task segment needs masks", c->path);
        int mx = -1, rc = scan_masks(c, mask_max, &mx);
        if (rc) return rc;
        if (classes > 0 && mx >= classes)
            return MS_FAIL(MS_ERR_INPUT, "%s: /masks holds class %d but --classes is %d", c->path, mx, classes);
        *K = classes > 0 ? classes : mx + 1 < 2 ? 2 : mx + 1;
        return MS_OK;
    }
    if (!corpus_has_labels(c)) return MS_FAIL(MS_ERR_INPUT, "%s: no /labels dataset: --task classify needs labels", c->path);
    if (classes > 0 && c->n_classes > classes)
        return MS_FAIL(MS_ERR_INPUT, "%s: has %d classes but --classes is %d", c->path, c->n_classes, classes);
    *K = classes > 0 ? classes : c->n_classes;
    if (*K < 2) return MS_FAIL(MS_ERR_INPUT, "%s: /labels has fewer than 2 classes", c->path);
    if (*K > LABELED_MAX_CLASSES) return MS_FAIL(MS_ERR_INPUT, "%s: %d classes (at most %d)", c->path, *K, LABELED_MAX_CLASSES);
    return MS_OK;
}

/* The next domain id of a comma-separated list into *id: 1, 0 at the end, -1
 * when the item is not a domain id (a non-negative integer). */
static int next_domain(const char **cursor, long *id)
{
    char item[32], *end;
    const int r = ms_list_next(cursor, ',', item, sizeof item);
    if (r == MS_LIST_END) return 0;
    *id = strtol(item, &end, 10);
    return r == MS_LIST_ITEM && end != item && !*end && *id >= 0 ? 1 : -1;
}

/* Whether domain d is in the comma-separated list. */
static int domain_listed(const char *list, int d)
{
    long id;
    for (const char *cur = list; next_domain(&cur, &id) == 1;)
        if (id == d) return 1;
    return 0;
}

static int check_domain_list(const char *list)
{
    long id;
    int r;
    const char *cur = *list ? list : NULL; /* "" lists no domains */
    while ((r = next_domain(&cur, &id)) == 1) continue;
    if (r < 0) return MS_FAIL(MS_ERR_INPUT, "--domains %s: expected comma-separated domain ids (0,1,...)", list);
    return MS_OK;
}

int labeled_repeat(ms_corpus *c, const ms_labeled_sel *sel, int training, uint16_t **repeat)
{
    const long long N = c->N;
    int rc = MS_OK;
    const int need_domains = (sel->domains && *sel->domains) || (training && sel->target_domain >= 0);
    if (need_domains && !corpus_has_domains(c))
        return MS_FAIL(MS_ERR_INPUT, "%s: no /domains dataset (needed by --domains / --target-domain)", c->path);
    if (sel->domains && (rc = check_domain_list(sel->domains))) return rc;
    int32_t *labels = ms_malloc((size_t)N * sizeof(int32_t));
    int32_t *domains = need_domains ? ms_malloc((size_t)N * sizeof(int32_t)) : NULL;
    uint16_t *rep = ms_malloc((size_t)N * sizeof(uint16_t));
    if (!sel->masks) rc = corpus_read_labels(c, labels);
    else
        for (long long i = 0; i < N; i++) labels[i] = 0;
    if (!rc && domains) rc = corpus_read_domains(c, domains);
    if (!rc) {
        if (sel->split != SPLIT_ALL) {
            CHECKM(sel->in_val != NULL, "labeled_repeat: a train/val split needs labeled_split's in_val");
            for (long long i = 0; i < N; i++)
                if (sel->in_val[i] != (sel->split == SPLIT_VAL)) labels[i] = -1;
        }
        if (sel->domains && *sel->domains)
            for (long long i = 0; i < N; i++)
                if (!domain_listed(sel->domains, domains[i])) labels[i] = -1;
        if (training && sel->balance && !sel->masks) rc = loader_repeat_balance(labels, N, sel->K, sel->seed, rep);
        else loader_repeat_labeled(labels, N, rep);
        if (training && sel->target_domain >= 0) {
            const long w = lroundf(sel->target_weight);
            long long hits = 0;
            for (long long i = 0; i < N; i++) {
                if (domains[i] != sel->target_domain || rep[i] == 0) continue;
                long v = (long)rep[i] * w;
                rep[i] = (uint16_t)(v > 65535 ? 65535 : v);
                hits++;
            }
            if (hits == 0)
                rc = MS_FAIL(MS_ERR_INPUT, "%s: --target-domain %d: no selected sample has that domain", c->path,
                             sel->target_domain);
        }
        long long total = 0;
        for (long long i = 0; i < N; i++) total += rep[i];
        if (!rc && total == 0)
            rc = MS_FAIL(MS_ERR_INPUT, "%s: no %s selected%s", c->path, sel->masks ? "samples" : "labeled samples",
                         sel->domains ? " (check --domains)" : "");
    }
    free(labels);
    free(domains);
    if (rc) {
        free(rep);
        return rc;
    }
    *repeat = rep;
    return MS_OK;
}

typedef struct {
    const uint16_t *repeat;
    int K;
    double *count;
} pixel_count;

static void mask_count(void *ctx, long long first, int n, const uint8_t *masks, size_t HW)
{
    pixel_count *pc = ctx;
    for (int i = 0; i < n; i++) {
        if (pc->repeat && !pc->repeat[first + i]) continue;
        for (size_t p = 0; p < HW; p++) {
            uint8_t v = masks[(size_t)i * HW + p];
            if (v < pc->K) pc->count[v] += 1;
        }
    }
}

int labeled_class_weights(ms_corpus *c, const uint16_t *repeat, int segment, int K, const char *spec, float *w)
{
    if (strcmp(spec, "auto") != 0) {
        double v[LABELED_MAX_CLASSES];
        const int n = ms_list_numbers(spec, ',', v, K);
        for (int k = 0; k < K; k++)
            if (k >= n || !isfinite(v[k]) || v[k] < 0)
                return MS_FAIL(MS_ERR_INPUT, "--class-weights %s: expected auto or %d non-negative numbers w0,w1,...", spec, K);
        if (n > K) return MS_FAIL(MS_ERR_INPUT, "--class-weights %s: more than %d numbers", spec, K);
        for (int k = 0; k < K; k++) w[k] = (float)v[k];
        return MS_OK;
    }
    double count[LABELED_MAX_CLASSES] = { 0 }, total = 0;
    int rc = MS_OK;
    if (segment) {
        pixel_count pc = { repeat, K, count };
        rc = scan_masks(c, mask_count, &pc);
    } else {
        int32_t *labels = ms_malloc((size_t)c->N * sizeof(int32_t));
        rc = corpus_read_labels(c, labels);
        for (long long i = 0; !rc && i < c->N; i++)
            if (labels[i] >= 0 && labels[i] < K && (!repeat || repeat[i])) count[labels[i]] += 1;
        free(labels);
    }
    if (rc) return rc;
    for (int k = 0; k < K; k++) total += count[k];
    for (int k = 0; k < K; k++) w[k] = count[k] > 0 ? (float)(total / (K * count[k])) : 0.0f;
    return MS_OK;
}

/* ---- the exact, stratified train/validation split ---- */

static void mask_foreground(void *ctx, long long first, int n, const uint8_t *masks, size_t HW)
{
    int8_t *stratum = ctx; /* (N): 1 when the mask has a foreground pixel */
    for (int i = 0; i < n; i++) {
        int fg = 0;
        for (size_t p = 0; p < HW && !fg; p++) fg = masks[(size_t)i * HW + p] != 0 && masks[(size_t)i * HW + p] != 255;
        stratum[first + i] = (int8_t)fg;
    }
}

typedef struct {
    int stratum;
    uint64_t hash;
    long long index;
} split_key;

static int split_cmp(const void *pa, const void *pb)
{
    const split_key *a = pa, *b = pb;
    if (a->stratum != b->stratum) return a->stratum < b->stratum ? -1 : 1;
    if (a->hash != b->hash) return a->hash < b->hash ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

long long labeled_val_count(long long n, float val_fraction)
{
    if (n < 2 || !(val_fraction > 0)) return 0;
    long long v = llround((double)val_fraction * (double)n);
    return v < 1 ? 1 : v > n - 1 ? n - 1 : v;
}

int labeled_split(ms_corpus *c, const ms_labeled_sel *sel, float val_fraction, int8_t **in_val, ms_split_info *info)
{
    const long long N = c->N;
    const int n_strata = sel->masks ? 2 : sel->K;
    int rc = MS_OK;
    if (sel->domains && (rc = check_domain_list(sel->domains))) return rc;
    if (sel->domains && *sel->domains && !corpus_has_domains(c))
        return MS_FAIL(MS_ERR_INPUT, "%s: no /domains dataset (needed by --domains)", c->path);
    int32_t *stratum = ms_malloc((size_t)(N ? N : 1) * sizeof(int32_t));
    if (sel->masks) {
        int8_t *fg = ms_malloc((size_t)(N ? N : 1));
        rc = scan_masks(c, mask_foreground, fg);
        for (long long i = 0; i < N; i++) stratum[i] = fg[i];
        free(fg);
    } else {
        rc = corpus_read_labels(c, stratum);
        for (long long i = 0; !rc && i < N; i++)
            if (stratum[i] >= n_strata) stratum[i] = -1; /* labeled_check has bounded the classes */
    }
    if (!rc && sel->domains && *sel->domains) {
        int32_t *domains = ms_malloc((size_t)(N ? N : 1) * sizeof(int32_t));
        if (!(rc = corpus_read_domains(c, domains)))
            for (long long i = 0; i < N; i++)
                if (!domain_listed(sel->domains, domains[i])) stratum[i] = -1;
        free(domains);
    }
    if (rc) {
        free(stratum);
        return rc;
    }
    /* the selected samples sorted by (stratum, hash of (seed, index)) */
    long long n = 0, *n_s = ms_calloc((size_t)n_strata, sizeof(long long));
    for (long long i = 0; i < N; i++)
        if (stratum[i] >= 0) {
            n++;
            n_s[stratum[i]]++;
        }
    split_key *keys = ms_malloc((size_t)(n ? n : 1) * sizeof *keys);
    const uint64_t hkey = rng_key(sel->seed, 0, LABELED_SPLIT_STREAM, RNG_SPLIT);
    for (long long i = 0, m = 0; i < N; i++)
        if (stratum[i] >= 0) keys[m++] = (split_key){ stratum[i], rng_at(hkey, (uint64_t)i), i };
    qsort(keys, (size_t)n, sizeof *keys, split_cmp);
    /* quotas: V = round(f n) validation samples shared over the strata by
     * largest remainder of f n_s (ties: the larger stratum, then the lower id) */
    const long long V = labeled_val_count(n, val_fraction);
    long long *q = ms_calloc((size_t)n_strata, sizeof(long long)), given = 0;
    for (int s = 0; s < n_strata; s++) {
        q[s] = (long long)floor((double)val_fraction * (double)n_s[s]);
        if (q[s] > V) q[s] = V;
        given += q[s];
    }
    while (given > V) /* only when V was raised to 1 or lowered to n-1: cannot exceed here, kept for safety */
        for (int s = n_strata - 1; s >= 0 && given > V; s--)
            if (q[s] > 0) q[s]--, given--;
    while (given < V) {
        int best = -1;
        double best_rem = -1;
        for (int s = 0; s < n_strata; s++) {
            if (q[s] >= n_s[s] - (n_s[s] > 1)) continue; /* a stratum keeps a training sample when it can */
            double rem = (double)val_fraction * (double)n_s[s] - (double)q[s];
            if (rem > best_rem + 1e-12 || (fabs(rem - best_rem) <= 1e-12 && best >= 0 && n_s[s] > n_s[best])) {
                best = s;
                best_rem = rem;
            }
        }
        if (best < 0) /* every stratum is down to one training sample: take from the largest */
            for (int s = 0; s < n_strata; s++)
                if (q[s] < n_s[s] && (best < 0 || n_s[s] > n_s[best])) best = s;
        CHECK(best >= 0);
        q[best]++;
        given++;
    }
    int8_t *iv = ms_malloc((size_t)(N ? N : 1));
    memset(iv, -1, (size_t)(N ? N : 1));
    for (long long j = 0; j < n;) {
        const int s = keys[j].stratum;
        for (long long r = 0; r < n_s[s]; r++, j++) iv[keys[j].index] = (int8_t)(r < q[s]);
    }
    info->n_train = n - V;
    info->n_val = V;
    info->n_strata = 0;
    for (int s = 0; s < n_strata; s++) info->n_strata += n_s[s] > 0;
    free(q);
    free(keys);
    free(n_s);
    free(stratum);
    *in_val = iv;
    return MS_OK;
}
