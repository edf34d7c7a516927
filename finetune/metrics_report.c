/* metrics_report — metrics.json and the human table of the metrics
 * accumulators (layout and conventions in include/medssl/metrics.h). Uses
 * only the public metrics API: a finished result is turned into a
 * report_view (named summary numbers, per-class rows, intervals, confusion)
 * that one JSON writer and one table printer serve for both tasks.
 */
#include "medssl/metrics.h"
#include "medssl/common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- reports ---------------------------------------------------------------------------- */

/* A finished result as the report writers see it: "n", named summary numbers,
 * one row of named numbers per class, intervals, the confusion matrix if any. */
typedef struct {
    int domain, K, nsum, ncol, nci, B;
    int64_t n;
    uint64_t seed;
    const char *const *sum_key, *const *col_key, *const *ci_key;
    double sum[3];
    metrics_interval ci[3];
    double *cols;        /* (K, ncol), owned */
    int64_t *confusion;  /* (K, K) owned, or NULL */
} report_view;

typedef void (*view_fn)(const void *acc, int domain, const metrics_report_opts *o, report_view *v);

static void cls_view(const void *acc, int domain, const metrics_report_opts *o, report_view *v)
{
    static const char *const sums[3] = { "accuracy", "balanced_accuracy", "macro_auc" };
    static const char *const cols[5] = { "sensitivity", "specificity", "precision", "f1", "auc" };
    metrics_cls_result r;
    metrics_cls_finish(acc, domain, o->ci_resamples, o->seed, &r);
    *v = (report_view){ .domain = domain, .K = r.K, .nsum = 3, .ncol = 5, .nci = r.ci_resamples ? 3 : 0,
                        .B = r.ci_resamples, .n = r.n, .seed = r.ci_seed, .sum_key = sums, .col_key = cols,
                        .ci_key = sums, .sum = { r.accuracy, r.balanced_accuracy, r.macro_auc },
                        .ci = { r.ci_accuracy, r.ci_balanced_accuracy, r.ci_macro_auc },
                        .confusion = r.confusion };
    v->cols = ms_malloc((size_t)(r.K * 5) * sizeof *v->cols);
    for (int k = 0; k < r.K; k++) {
        const metrics_cls_class *q = &r.per_class[k];
        double row[5] = { q->sensitivity, q->specificity, q->precision, q->f1, q->auc };
        memcpy(v->cols + k * 5, row, sizeof row);
    }
    r.confusion = NULL; /* now the view's */
    metrics_cls_result_free(&r);
}

static void seg_view(const void *acc, int domain, const metrics_report_opts *o, report_view *v)
{
    static const char *const sums[3] = { "n_fg", "dsc_mean", "dsc_std" };
    static const char *const cols[6] = { "dsc_mean", "dsc_std", "sensitivity", "specificity", "n", "n_empty" };
    metrics_seg_result r;
    metrics_seg_finish(acc, domain, o->ci_resamples, o->seed, &r);
    *v = (report_view){ .domain = domain, .K = r.K, .nsum = 3, .ncol = 6, .nci = r.ci_resamples ? 1 : 0,
                        .B = r.ci_resamples, .n = r.n, .seed = r.ci_seed, .sum_key = sums, .col_key = cols,
                        .ci_key = sums + 1, .sum = { (double)r.n_fg, r.dsc_mean, r.dsc_std },
                        .ci = { r.ci_dsc_mean } };
    v->cols = ms_malloc((size_t)(r.K * 6) * sizeof *v->cols);
    for (int c = 0; c < r.K; c++) {
        const metrics_seg_class *q = &r.per_class[c];
        double row[6] = { q->dsc_mean, q->dsc_std, q->sensitivity, q->specificity, (double)q->n,
                          (double)q->n_empty };
        memcpy(v->cols + c * 6, row, sizeof row);
    }
    metrics_seg_result_free(&r);
}

static void view_free(report_view *v)
{
    free(v->cols);
    free(v->confusion);
}

static void json_num(FILE *f, double x)
{
    if (isfinite(x)) fprintf(f, "%.12g", x);
    else fputs("null", f);
}

/* The members of one metrics object (no braces), each line prefixed by ind. */
static void json_view(FILE *f, const report_view *v, const char *ind)
{
    int K = v->K;
    fprintf(f, "%s\"n\": %lld", ind, (long long)v->n);
    for (int j = 0; j < v->nsum; j++) {
        fprintf(f, ",\n%s\"%s\": ", ind, v->sum_key[j]);
        json_num(f, v->sum[j]);
    }
    if (v->confusion) {
        fprintf(f, ",\n%s\"confusion\": [", ind);
        for (int t = 0; t < K; t++) {
            fputs(t ? ", [" : "[", f);
            for (int p = 0; p < K; p++) fprintf(f, "%s%lld", p ? ", " : "", (long long)v->confusion[t * K + p]);
            fputs("]", f);
        }
        fputs("]", f);
    }
    fprintf(f, ",\n%s\"per_class\": [\n", ind);
    for (int k = 0; k < K; k++) {
        fprintf(f, "%s  {", ind);
        for (int j = 0; j < v->ncol; j++) {
            fprintf(f, "%s\"%s\": ", j ? ", " : "", v->col_key[j]);
            json_num(f, v->cols[k * v->ncol + j]);
        }
        fprintf(f, "}%s\n", k + 1 < K ? "," : "");
    }
    fprintf(f, "%s]", ind);
    if (v->nci == 0) return;
    fprintf(f, ",\n%s\"ci95\": {\n%s  \"resamples\": %d,\n%s  \"seed\": %llu", ind, ind, v->B, ind,
            (unsigned long long)v->seed);
    for (int j = 0; j < v->nci; j++) {
        fprintf(f, ",\n%s  \"%s\": [", ind, v->ci_key[j]);
        json_num(f, v->ci[j].lo);
        fputs(", ", f);
        json_num(f, v->ci[j].hi);
        fputs("]", f);
    }
    fprintf(f, "\n%s}", ind);
}

/* A number in a table cell of width w; "-" when undefined; counts (keys "n",
 * "n_...") without decimals. */
static void cell(FILE *f, int w, double x, const char *key)
{
    int count = key && key[0] == 'n' && (key[1] == 0 || key[1] == '_');
    if (!isfinite(x)) fprintf(f, " %*s", w, "-");
    else if (count) fprintf(f, " %*.0f", w, x);
    else fprintf(f, " %*.4f", w, x);
}

static void class_label(FILE *f, const metrics_report_opts *o, int k)
{
    if (o->class_names) fprintf(f, "\n  %-12.12s", o->class_names[k]);
    else fprintf(f, "\n  %-12d", k);
}

static void table_view(FILE *f, const report_view *v, const metrics_report_opts *o, int summary_only)
{
    if (v->domain == METRICS_ALL) fprintf(f, "all samples: n = %lld\n", (long long)v->n);
    else fprintf(f, "domain %d: n = %lld\n", v->domain, (long long)v->n);
    for (int j = 0; j < v->nsum; j++) {
        fprintf(f, "  %-18s", v->sum_key[j]);
        cell(f, 7, v->sum[j], v->sum_key[j]);
        for (int c = 0; c < v->nci; c++)
            if (strcmp(v->ci_key[c], v->sum_key[j]) == 0) {
                fputs("  95% CI", f);
                cell(f, 6, v->ci[c].lo, NULL);
                cell(f, 6, v->ci[c].hi, NULL);
            }
        fputs("\n", f);
    }
    if (summary_only) return;
    fprintf(f, "  %-12s", "class");
    for (int j = 0; j < v->ncol; j++) fprintf(f, " %11s", v->col_key[j]);
    for (int k = 0; k < v->K; k++) {
        class_label(f, o, k);
        for (int j = 0; j < v->ncol; j++) cell(f, 11, v->cols[k * v->ncol + j], v->col_key[j]);
    }
    fputs("\n", f);
    if (!v->confusion) return;
    fputs("  confusion (rows true, columns predicted):", f);
    for (int t = 0; t < v->K; t++) {
        class_label(f, o, t);
        for (int p = 0; p < v->K; p++) fprintf(f, " %7lld", (long long)v->confusion[t * v->K + p]);
    }
    fputs("\n", f);
}

/* The whole report: all samples, then each domain in ids (nd) if asked. */
static int write_report(FILE *f, const void *acc, view_fn view, const int *ids, int nd,
                        const metrics_report_opts *o, int json)
{
    report_view v;
    view(acc, METRICS_ALL, o, &v);
    if (json) {
        fputs("{\n", f);
        json_view(f, &v, "  ");
    } else {
        table_view(f, &v, o, 0);
    }
    view_free(&v);
    if (json && o->by_domain) fputs(",\n  \"domains\": {", f);
    for (int j = 0; o->by_domain && j < nd; j++) {
        view(acc, ids[j], o, &v);
        if (json) {
            fprintf(f, "%s\n    \"%d\": {\n", j ? "," : "", ids[j]);
            json_view(f, &v, "      ");
            fputs("\n    }", f);
        } else {
            table_view(f, &v, o, 1);
        }
        view_free(&v);
    }
    if (json && o->by_domain) fputs(nd ? "\n  }" : "}", f);
    if (json && o->extra && o->extra[0]) fprintf(f, ",\n  %s", o->extra);
    if (json) fputs("\n}\n", f);
    fflush(f);
    return ferror(f) ? MS_FAIL(MS_ERR_RUNTIME, "metrics: writing the report failed") : MS_OK;
}

int metrics_cls_write_json(FILE *f, const metrics_cls *acc, const metrics_report_opts *opts)
{
    int ids[METRICS_MAX_DOMAINS], nd = metrics_cls_domains(acc, ids);
    return write_report(f, acc, cls_view, ids, nd, opts, 1);
}

int metrics_cls_print(FILE *f, const metrics_cls *acc, const metrics_report_opts *opts)
{
    int ids[METRICS_MAX_DOMAINS], nd = metrics_cls_domains(acc, ids);
    return write_report(f, acc, cls_view, ids, nd, opts, 0);
}

int metrics_seg_write_json(FILE *f, const metrics_seg *acc, const metrics_report_opts *opts)
{
    int ids[METRICS_MAX_DOMAINS], nd = metrics_seg_domains(acc, ids);
    return write_report(f, acc, seg_view, ids, nd, opts, 1);
}

int metrics_seg_print(FILE *f, const metrics_seg *acc, const metrics_report_opts *opts)
{
    int ids[METRICS_MAX_DOMAINS], nd = metrics_seg_domains(acc, ids);
    return write_report(f, acc, seg_view, ids, nd, opts, 0);
}
