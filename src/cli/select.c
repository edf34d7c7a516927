/* select — `medssl select --features FEATS.h5 --method cfs --out SUBSET.json`:
 * a subset of the features `medssl features` wrote, chosen by
 * Correlation-based Feature Selection (include/medssl/cfs.h: Weka 3.6's
 * CfsSubsetEval + BestFirst with their defaults). Only labeled samples
 * (label >= 0) take part.
 *
 * SUBSET.json: {"method": "cfs", "selected": [indices ascending], "merit":
 * the search's best merit (before the locally predictive additions, as Weka
 * reports it), "search_selected": the search's subset, "trace": [{"size",
 * "merit", "added"} per expansion], "n": labeled samples used, "features": F,
 * "classes": K, "evaluations": subsets evaluated, "features_file": FEATS.h5}.
 */
#include "cli.h"
#include "medssl/atomic.h"
#include "medssl/cfs.h"
#include "medssl/common.h"
#include "medssl/features_file.h"
#include "medssl/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The labeled rows of t into x (n, F) and y (n); K = largest label + 1,
 * *present = classes with a sample. */
static int labeled_rows(const ms_features_table *t, float **x, int32_t **y, int *n, int *K, int *present)
{
    *n = 0;
    *K = 0;
    for (long long i = 0; i < t->N; i++)
        if (t->labels[i] >= 0) {
            (*n)++;
            if (t->labels[i] + 1 > *K) *K = t->labels[i] + 1;
        }
    if (*K > 1 << 20) return MS_FAIL(MS_ERR_INPUT, "labels up to %d: expected class indices below 2^20", *K - 1);
    *x = ms_malloc((size_t)(*n ? *n : 1) * t->F * sizeof(float));
    *y = ms_malloc((size_t)(*n ? *n : 1) * sizeof(int32_t));
    char *seen = ms_calloc((size_t)(*K ? *K : 1), 1);
    *present = 0;
    for (long long i = 0, j = 0; i < t->N; i++) {
        if (t->labels[i] < 0) continue;
        memcpy(*x + (size_t)j * t->F, t->features + (size_t)i * t->F, (size_t)t->F * sizeof(float));
        (*y)[j++] = t->labels[i];
        *present += !seen[t->labels[i]];
        seen[t->labels[i]] = 1;
    }
    free(seen);
    return MS_OK;
}

static void ints(ms_json *j, const char *key, const int *v, int n)
{
    json_array_inline(j, key);
    for (int i = 0; i < n; i++) json_int(j, NULL, v[i]);
    json_end(j);
}

static int write_subset(const char *path, const char *feats, const ms_cfs *c, const ms_cfs_result *r)
{
    ms_json j;
    json_begin(&j, 1);
    json_object(&j, NULL);
    json_str(&j, "method", "cfs");
    ints(&j, "selected", r->selected, r->n_selected);
    json_num(&j, "merit", r->merit, 17);
    ints(&j, "search_selected", r->searched, r->n_searched);
    json_array(&j, "trace");
    for (int i = 0; i < r->n_trace; i++) {
        json_object_inline(&j, NULL);
        json_int(&j, "size", r->trace[i].size);
        json_num(&j, "merit", r->trace[i].merit, 17);
        if (r->trace[i].added >= 0) json_int(&j, "added", r->trace[i].added);
        else json_null(&j, "added");
        json_end(&j);
    }
    json_end(&j);
    json_int(&j, "n", c->n);
    json_int(&j, "features", c->F);
    json_int(&j, "classes", c->K);
    json_int(&j, "evaluations", r->evaluations);
    json_str(&j, "features_file", feats);
    json_end(&j);
    ms_atomic_file a;
    int rc = atomic_open(&a, path);
    if (!rc) {
        fputs(json_text(&j), a.f);
        fputc('\n', a.f);
        rc = atomic_commit(&a);
    }
    json_free(&j);
    return rc;
}

int cmd_select(int argc, char **argv)
{
    const char *feats = NULL, *method = NULL, *out = NULL;
    int no_local = 0, max_stale = 5;
    const ms_arg args[] = {
        { "features", ARG_STRING, &feats, 0, 0, "FEATS.h5", "a file from medssl features (required)" },
        { "method", ARG_STRING, &method, 0, 0, "M", "cfs (required)" },
        { "out", ARG_STRING, &out, 0, 0, "SUBSET.json", "the subset to write (required)" },
        { "no-locally-predictive", ARG_BOOL, &no_local, 0, 0, NULL,
          "keep the search's subset (Weka's CfsSubsetEval -L)" },
        { "max-stale", ARG_INT, &max_stale, 1, 1000000, "E",
          "stop after E expansions without a better subset; also the open list's length (default 5, Weka's -N)" },
    };
    int rc = cli_parse("select", "--features FEATS.h5 --method cfs --out SUBSET.json [--no-locally-predictive] "
                       "[--max-stale 5]",
                       "Correlation-based Feature Selection (Hall 1999) on the labeled samples, as Weka 3.6's\n"
                       "CfsSubsetEval with BestFirst: features discretised by Fayyad-Irani MDL, symmetric\n"
                       "uncertainty, forward best-first search from the empty set, then locally predictive\n"
                       "features. Writes {\"selected\": [...], \"merit\": x, \"trace\": [...], ...}.",
                       args, (int)(sizeof args / sizeof *args), argc, argv, NULL, 0, NULL);
    if (rc) return rc < 0 ? 0 : rc;
    if (!feats || !method || !out) {
        fprintf(stderr, "medssl select: %s is required (see medssl select --help)\n",
                !feats ? "--features FEATS.h5" : !method ? "--method cfs" : "--out SUBSET.json");
        return 2;
    }
    if (strcmp(method, "cfs") != 0) {
        fprintf(stderr, "medssl select: --method %s: expected cfs\n", method);
        return 2;
    }
    ms_features_table t;
    if ((rc = features_file_read(feats, &t))) return cli_report("select", rc);
    float *x = NULL;
    int32_t *y = NULL;
    int n = 0, K = 0, present = 0;
    rc = labeled_rows(&t, &x, &y, &n, &K, &present);
    if (!rc && present < 2)
        rc = MS_FAIL(MS_ERR_INPUT, "%s: %d labeled sample%s of %d class%s; CFS needs at least 2 classes", feats, n,
                     n == 1 ? "" : "s", present, present == 1 ? "" : "es");
    ms_cfs c;
    memset(&c, 0, sizeof c);
    ms_cfs_result r;
    memset(&r, 0, sizeof r);
    if (!rc) rc = cfs_init(&c, x, n, t.F, y, K);
    const ms_cfs_opts o = { .max_stale = max_stale, .locally_predictive = !no_local };
    if (!rc) rc = cfs_select(&c, &o, &r);
    if (!rc) rc = write_subset(out, feats, &c, &r);
    if (!rc)
        fprintf(stderr, "medssl select: wrote %s: %d of %d features (search: %d, merit %.6f; %d samples, %d classes)\n",
                out, r.n_selected, t.F, r.n_searched, r.merit, n, present);
    cfs_result_free(&r);
    cfs_free(&c);
    free(x);
    free(y);
    features_table_free(&t);
    return rc ? cli_report("select", rc) : 0;
}
