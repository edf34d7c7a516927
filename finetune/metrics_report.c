/* metrics_report — metrics.json and the human table of the metrics
 * accumulators (layout and conventions in include/medssl/metrics.h). Uses
 * only the public metrics API: a finished result is turned into a
 * report_view (named summary numbers, per-class rows, intervals, confusion,
 * per-class point lists: ROC vertices or per-image DSC) that one JSON writer
 * and one table printer serve for both tasks (the table leaves the point
 * lists out).
 */
#include "medssl/metrics.h"
#include "medssl/common.h"
#include "medssl/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- reports ---------------------------------------------------------------------------- */

/* A finished result as the report writers see it: "n", named summary numbers,
 * one row of named numbers per class, intervals, the confusion matrix if any,
 * and one list of points per class for the JSON (ROC vertices, per-image DSC):
 * the member series_key holds K entries, each an array of series_len[k]
 * numbers (nseries = 1) or an object of nseries such arrays named
 * series_names, or null where series_len[k] < 0. */
typedef struct {
    int domain, K, nsum, ncol, nci, B;
    int64_t n;
    uint64_t seed;
    const char *const *sum_key, *const *col_key, *const *ci_key;
    double sum[3];
    metrics_interval ci[3];
    double *cols;        /* (K, ncol), owned */
    int64_t *confusion;  /* (K, K) owned, or NULL */
    const char *series_key;
    const char *const *series_names; /* (nseries) when nseries > 1 */
    int nseries;
    int64_t stride;      /* points room per class and series */
    int64_t *series_len; /* (K) owned */
    double *series;      /* (K, nseries, stride) owned */
} report_view;

/* Room in v for K lists of nseries series of up to `stride` points each. */
static void view_series(report_view *v, const char *key, const char *const *names, int nseries, int64_t stride)
{
    v->series_key = key;
    v->series_names = names;
    v->nseries = nseries;
    v->stride = stride > 0 ? stride : 1;
    v->series_len = ms_malloc((size_t)v->K * sizeof *v->series_len);
    v->series = ms_malloc((size_t)(v->K * nseries * v->stride) * sizeof *v->series);
}

static double *view_points(const report_view *v, int k, int s)
{
    return v->series + ((int64_t)k * v->nseries + s) * v->stride;
}

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
    static const char *const roc[2] = { "fpr", "tpr" };
    view_series(v, "roc", roc, 2, METRICS_ROC_POINTS);
    for (int k = 0; k < v->K; k++) {
        int nv = metrics_cls_roc(acc, domain, k, METRICS_ROC_POINTS, view_points(v, k, 0), view_points(v, k, 1));
        v->series_len[k] = nv > 0 ? nv : -1;
    }
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
    view_series(v, "dsc_per_image", NULL, 1, v->n);
    for (int c = 0; c < v->K; c++) v->series_len[c] = metrics_seg_dsc_per_image(acc, domain, c, view_points(v, c, 0));
}

static void view_free(report_view *v)
{
    free(v->cols);
    free(v->confusion);
    free(v->series_len);
    free(v->series);
}

/* n numbers as an array on one line. */
static void json_points(ms_json *j, const char *key, const double *x, int64_t n)
{
    json_array_inline(j, key);
    for (int64_t t = 0; t < n; t++) json_num(j, NULL, x[t], 6);
    json_end(j);
}

/* The member series_key of v: one entry per class (see report_view). */
static void json_series(ms_json *j, const report_view *v)
{
    json_array(j, v->series_key);
    for (int k = 0; k < v->K; k++) {
        if (v->series_len[k] < 0) {
            json_null(j, NULL);
        } else if (v->nseries == 1) {
            json_points(j, NULL, view_points(v, k, 0), v->series_len[k]);
        } else {
            json_object(j, NULL);
            for (int s = 0; s < v->nseries; s++) json_points(j, v->series_names[s], view_points(v, k, s), v->series_len[k]);
            json_end(j);
        }
    }
    json_end(j);
}

/* The members of one metrics object, into the open object of j. */
static void json_view(ms_json *j, const report_view *v)
{
    const int K = v->K;
    json_int(j, "n", (long long)v->n);
    for (int s = 0; s < v->nsum; s++) json_num(j, v->sum_key[s], v->sum[s], 12);
    if (v->confusion) {
        json_array(j, "confusion");
        for (int t = 0; t < K; t++) {
            json_array_inline(j, NULL);
            for (int p = 0; p < K; p++) json_int(j, NULL, (long long)v->confusion[t * K + p]);
            json_end(j);
        }
        json_end(j);
    }
    json_array(j, "per_class");
    for (int k = 0; k < K; k++) {
        json_object_inline(j, NULL);
        for (int c = 0; c < v->ncol; c++) json_num(j, v->col_key[c], v->cols[k * v->ncol + c], 12);
        json_end(j);
    }
    json_end(j);
    json_series(j, v);
    if (v->nci == 0) return;
    json_object(j, "ci95");
    json_int(j, "resamples", v->B);
    json_int(j, "seed", (long long)v->seed);
    for (int c = 0; c < v->nci; c++) {
        json_array_inline(j, v->ci_key[c]);
        json_num(j, NULL, v->ci[c].lo, 12);
        json_num(j, NULL, v->ci[c].hi, 12);
        json_end(j);
    }
    json_end(j);
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

/* The whole report as the member `key` of j: all samples, then each domain
 * in ids (nd) if asked, then the caller's extra string members. */
static void json_report(ms_json *j, const char *key, const void *acc, view_fn view, const int *ids, int nd,
                        const metrics_report_opts *o)
{
    report_view v;
    json_object(j, key);
    view(acc, METRICS_ALL, o, &v);
    json_view(j, &v);
    view_free(&v);
    if (o->by_domain) {
        json_object(j, "domains");
        for (int d = 0; d < nd; d++) {
            char name[16];
            snprintf(name, sizeof name, "%d", ids[d]);
            json_object(j, name);
            view(acc, ids[d], o, &v);
            json_view(j, &v);
            view_free(&v);
            json_end(j);
        }
        json_end(j);
    }
    for (const char *const *e = o->extra; e && e[0] && e[1]; e += 2) json_str(j, e[0], e[1]);
    json_end(j);
}

/* The report as pretty JSON (json) or the human table into f. */
static int write_report(FILE *f, const void *acc, view_fn view, const int *ids, int nd,
                        const metrics_report_opts *o, int json)
{
    if (json) {
        ms_json j;
        json_begin(&j, 1);
        json_report(&j, NULL, acc, view, ids, nd, o);
        fprintf(f, "%s\n", json_text(&j));
        json_free(&j);
    } else {
        report_view v;
        view(acc, METRICS_ALL, o, &v);
        table_view(f, &v, o, 0);
        view_free(&v);
        for (int d = 0; o->by_domain && d < nd; d++) {
            view(acc, ids[d], o, &v);
            table_view(f, &v, o, 1);
            view_free(&v);
        }
    }
    fflush(f);
    return ferror(f) ? MS_FAIL(MS_ERR_RUNTIME, "metrics: writing the report failed") : MS_OK;
}

void metrics_cls_json(ms_json *j, const char *key, const metrics_cls *acc, const metrics_report_opts *opts)
{
    int ids[METRICS_MAX_DOMAINS], nd = metrics_cls_domains(acc, ids);
    json_report(j, key, acc, cls_view, ids, nd, opts);
}

void metrics_seg_json(ms_json *j, const char *key, const metrics_seg *acc, const metrics_report_opts *opts)
{
    int ids[METRICS_MAX_DOMAINS], nd = metrics_seg_domains(acc, ids);
    json_report(j, key, acc, seg_view, ids, nd, opts);
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
