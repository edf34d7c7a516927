/* labeled — sample selection, repeat counts and class weights for
 * fine-tuning (see medssl/labeled.h). */
#include "medssl/labeled.h"

#include "medssl/common.h"
#include "medssl/loader.h"

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

/* Whether domain d is in the comma-separated list. */
static int domain_listed(const char *list, int d)
{
    for (const char *p = list; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) return 0;
        if (v == d) return 1;
        p = *end == ',' ? end + 1 : end;
    }
    return 0;
}

static int check_domain_list(const char *list)
{
    for (const char *p = list; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || (*end && *end != ',') || (*end == ',' && !end[1]))
            return MS_FAIL(MS_ERR_INPUT, "--domains %s: expected comma-separated domain ids (0,1,...)", list);
        p = *end == ',' ? end + 1 : end;
    }
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
    if (!sel->segment) rc = corpus_read_labels(c, labels);
    else
        for (long long i = 0; i < N; i++) labels[i] = 0;
    if (!rc && domains) rc = corpus_read_domains(c, domains);
    if (!rc) {
        if (sel->split != SPLIT_ALL)
            for (long long i = 0; i < N; i++)
                if (!loader_in_split(sel->seed, sel->val_fraction, (ms_split)sel->split, i)) labels[i] = -1;
        if (sel->domains && *sel->domains)
            for (long long i = 0; i < N; i++)
                if (!domain_listed(sel->domains, domains[i])) labels[i] = -1;
        if (training && sel->balance && !sel->segment) rc = loader_repeat_balance(labels, N, sel->K, sel->seed, rep);
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
            rc = MS_FAIL(MS_ERR_INPUT, "%s: no %s samples selected%s", c->path, sel->segment ? "" : "labeled",
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
        const char *p = spec;
        for (int k = 0; k < K; k++) {
            char *end;
            double v = strtod(p, &end);
            if (end == p || !isfinite(v) || v < 0 || (k < K - 1 && *end != ','))
                return MS_FAIL(MS_ERR_INPUT, "--class-weights %s: expected auto or %d non-negative numbers w0,w1,...", spec, K);
            w[k] = (float)v;
            p = end + 1;
        }
        if (p[-1] != '\0') return MS_FAIL(MS_ERR_INPUT, "--class-weights %s: more than %d numbers", spec, K);
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
