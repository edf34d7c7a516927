/* inspect — `medssl inspect FILE [--json]`: validates a corpus completely (the
 * structure at open, then every pixel, chunk by chunk) and prints counts,
 * shapes, dtype, chunking, class balance, mask class frequencies, domains and
 * value range. Memory stays bounded by one chunk of images. */
#include "cli.h"
#include "medssl/common.h"
#include "medssl/corpus.h"
#include "medssl/json.h"
#include "medssl/list.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DOMAINS 1024

typedef struct {
    long long *class_count; /* n_classes */
    long long unlabeled;
    long long mask_count[256];
    long long *domain_count; /* MAX_DOMAINS */
    int max_domain;
    double sum, sum2, min, max;
} corpus_stats;

static int scan(ms_corpus *c, corpus_stats *st)
{
    const long long B = c->chunk_n > 0 ? c->chunk_n : 1;
    const size_t per = (size_t)c->C * c->H * c->W;
    float *img = ms_malloc((size_t)B * per * sizeof(float));
    int32_t *lab = corpus_has_labels(c) ? ms_malloc((size_t)B * sizeof(int32_t)) : NULL;
    int32_t *dom = corpus_has_domains(c) ? ms_malloc((size_t)B * sizeof(int32_t)) : NULL;
    uint8_t *msk = corpus_has_masks(c) ? ms_malloc((size_t)B * c->H * c->W) : NULL;
    st->min = INFINITY;
    st->max = -INFINITY;
    st->max_domain = -1;
    int rc = MS_OK;
    cli_progress prog;
    cli_progress_begin(&prog, "inspect", "images", c->N);
    for (long long n0 = 0; n0 < c->N && !rc; n0 += B) {
        cli_progress_update(&prog, n0);
        long long cnt = c->N - n0 < B ? c->N - n0 : B;
        rc = corpus_read(c, n0, cnt, img, lab, msk, dom);
        if (rc) break;
        for (size_t i = 0; i < (size_t)cnt * per; i++) {
            double v = img[i];
            st->sum += v;
            st->sum2 += v * v;
            if (v < st->min) st->min = v;
            if (v > st->max) st->max = v;
        }
        for (long long i = 0; lab && i < cnt; i++) {
            if (lab[i] < 0) st->unlabeled++;
            else st->class_count[lab[i]]++;
        }
        for (size_t i = 0; msk && i < (size_t)cnt * c->H * c->W; i++) st->mask_count[msk[i]]++;
        for (long long i = 0; dom && i < cnt && !rc; i++) {
            if (dom[i] >= MAX_DOMAINS)
                rc = MS_FAIL(MS_ERR_INPUT, "%s: /domains[%lld] = %d, more than %d domains", c->path, n0 + i, dom[i],
                             MAX_DOMAINS);
            else {
                st->domain_count[dom[i]]++;
                if (dom[i] > st->max_domain) st->max_domain = dom[i];
            }
        }
    }
    if (!rc) cli_progress_end(&prog, c->N);
    free(img);
    free(lab);
    free(dom);
    free(msk);
    return rc;
}

/* The i-th comma-separated class name, or "" */
static void class_name(const char *names, int i, char *out, size_t cap)
{
    const char *cur = *names ? names : NULL;
    out[0] = 0;
    for (int k = 0; k <= i && ms_list_next(&cur, ',', out, cap) != MS_LIST_END; k++) continue;
}

static void print_json(const ms_corpus *c, const corpus_stats *st)
{
    double npx = (double)c->N * c->C * c->H * c->W, mean = st->sum / npx;
    ms_json j;
    json_begin(&j, 0);
    json_object(&j, NULL);
    json_str(&j, "path", c->path);
    json_str(&j, "format", CORPUS_FORMAT);
    json_int(&j, "version", CORPUS_VERSION);
    json_int(&j, "images", c->N);
    json_int(&j, "channels", c->C);
    json_int(&j, "height", c->H);
    json_int(&j, "width", c->W);
    json_str(&j, "dtype", corpus_dtype_name(c->dtype));
    json_bool(&j, "chunked", c->chunked);
    json_int(&j, "chunk_images", c->chunk_n);
    json_num(&j, "min", st->min, 6);
    json_num(&j, "max", st->max, 6);
    json_num(&j, "mean", mean, 6);
    json_num(&j, "std", sqrt(fmax(st->sum2 / npx - mean * mean, 0)), 6);
    if (corpus_has_labels(c)) {
        json_int(&j, "labeled", c->N - st->unlabeled);
        json_int(&j, "unlabeled", st->unlabeled);
        json_array(&j, "classes");
        for (int k = 0; k < c->n_classes; k++) {
            char name[256];
            class_name(c->class_names, k, name, sizeof name);
            json_object(&j, NULL);
            json_int(&j, "index", k);
            json_str(&j, "name", name);
            json_int(&j, "count", st->class_count[k]);
            json_end(&j);
        }
        json_end(&j);
    }
    char key[16];
    if (corpus_has_masks(c)) {
        json_object(&j, "mask_pixels");
        for (int v = 0; v < 256; v++)
            if (st->mask_count[v]) {
                snprintf(key, sizeof key, "%d", v);
                json_int(&j, key, st->mask_count[v]);
            }
        json_end(&j);
    }
    if (corpus_has_domains(c)) {
        json_object(&j, "domains");
        for (int d = 0; d <= st->max_domain; d++) {
            snprintf(key, sizeof key, "%d", d);
            json_int(&j, key, st->domain_count[d]);
        }
        json_end(&j);
    }
    json_end(&j);
    printf("%s\n", json_text(&j));
    json_free(&j);
}

static void print_text(const ms_corpus *c, const corpus_stats *st)
{
    double npx = (double)c->N * c->C * c->H * c->W, mean = st->sum / npx;
    printf("%s: medssl corpus v%d, valid\n", c->path, CORPUS_VERSION);
    printf("  images   %lld x %d x %d x %d (N, C, H, W), %s, ", c->N, c->C, c->H, c->W, corpus_dtype_name(c->dtype));
    if (c->chunked) printf("%lld image%s per chunk\n", c->chunk_n, c->chunk_n == 1 ? "" : "s");
    else printf("contiguous (not chunked: readers fall back to blocks of %lld image%s)\n", c->chunk_n,
                c->chunk_n == 1 ? "" : "s");
    printf("  values   min %.4g  max %.4g  mean %.4g  std %.4g%s\n", st->min, st->max, mean,
           sqrt(fmax(st->sum2 / npx - mean * mean, 0)), c->dtype == DTYPE_U8 ? "  (uint8 read as x/255)" : "");
    if (corpus_has_labels(c)) {
        long long labeled = c->N - st->unlabeled, lo = -1, hi = 0;
        printf("  labels   %lld labeled, %lld unlabeled (-1), %d class%s\n", labeled, st->unlabeled, c->n_classes,
               c->n_classes == 1 ? "" : "es");
        for (int k = 0; k < c->n_classes; k++) {
            char name[256];
            class_name(c->class_names, k, name, sizeof name);
            printf("    %3d %-20s %8lld  %5.1f%%\n", k, name, st->class_count[k],
                   labeled ? 100.0 * st->class_count[k] / labeled : 0.0);
            if (lo < 0 || st->class_count[k] < lo) lo = st->class_count[k];
            if (st->class_count[k] > hi) hi = st->class_count[k];
        }
        if (labeled && c->n_classes > 1) {
            if (lo == 0) printf("  imbalance: some class has no labeled sample\n");
            else printf("  imbalance: largest / smallest class = %.2f\n", (double)hi / lo);
        }
    } else {
        printf("  labels   none (unlabeled corpus)\n");
    }
    if (corpus_has_masks(c)) {
        double total = (double)c->N * c->H * c->W;
        printf("  masks    pixel frequencies:");
        for (int v = 0; v < 256; v++)
            if (st->mask_count[v]) printf("  %s%d: %.2f%%", v == 255 ? "ignore " : "class ", v, 100.0 * st->mask_count[v] / total);
        printf("\n");
    }
    if (corpus_has_domains(c)) {
        printf("  domains ");
        for (int d = 0; d <= st->max_domain; d++) printf("  %d: %lld", d, st->domain_count[d]);
        printf("\n");
    }
}

int cmd_inspect(int argc, char **argv)
{
    int json = 0;
    const ms_arg args[] = {
        { "json", ARG_BOOL, &json, 0, 0, NULL, "print one JSON object on stdout" },
    };
    const char *pos[1];
    int n_pos = 0;
    int rc = cli_parse("inspect", "FILE [--json]",
                       "Validates a medssl corpus (structure, then every value) and prints what it holds:\n"
                       "counts, shape, dtype, chunking, value range, class balance, mask class frequencies, domains.\n"
                       "Exit 2 with one message naming the file and dataset when anything is invalid.",
                       args, (int)(sizeof args / sizeof *args), argc, argv, pos, 1, &n_pos);
    if (rc) return rc < 0 ? 0 : rc;
    if (n_pos != 1) {
        fprintf(stderr, "medssl inspect: name one corpus file (see medssl inspect --help)\n");
        return 2;
    }
    ms_corpus c;
    if ((rc = corpus_open(&c, pos[0], NULL))) return cli_report("inspect", rc);
    corpus_stats st;
    memset(&st, 0, sizeof st);
    st.class_count = ms_calloc((size_t)(c.n_classes > 0 ? c.n_classes : 1), sizeof(long long));
    st.domain_count = ms_calloc(MAX_DOMAINS, sizeof(long long));
    rc = scan(&c, &st);
    if (!rc) {
        if (json) print_json(&c, &st);
        else print_text(&c, &st);
    }
    free(st.class_count);
    free(st.domain_count);
    corpus_close(&c);
    return rc ? cli_report("inspect", rc) : 0;
}
