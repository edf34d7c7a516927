/* report — the HTML page about run folders (include/medssl/report.h).
 *
 * Reading: each folder's metrics.jsonl (one JSON object per line: the start
 * event with the environment, step lines, epoch lines with validation), its
 * newest checkpoint's root attributes (command line, model, task,
 * environment), every metrics.json up to two folders down (evaluate's, or
 * ensemble evaluate's with members and combiners) and the PNGs up to two
 * folders down. Writing: a summary table, the curves per task with one colour
 * per run, then one section per run.
 */
#include "medssl/report.h"
#include "medssl/atomic.h"
#include "medssl/ckpt.h"
#include "medssl/common.h"
#include "medssl/jsonr.h"
#include "medssl/runctl.h"
#include "medssl/svg.h"
#include "medssl/text.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

enum { MAX_NOTES = 12, PATH_CAP = 4096, MAX_FILES = 512 };
#define MAX_JSONL ((size_t)64 << 20)     /* a metrics.jsonl this large is not a run's */
#define MAX_METRICS ((size_t)64 << 20)   /* a metrics.json */
#define MAX_PICTURE ((size_t)4 << 20)    /* a PNG inlined into the page */

typedef struct {
    char rel[PATH_CAP]; /* path below the run folder */
    ms_jv *v;
} eval_file;

typedef struct {
    const char *dir;
    char name[256];
    char task[64], spec[2048], ckpt[PATH_CAP];
    char *cmdline;             /* from the checkpoint, or NULL */
    ms_jv *env;                /* the environment object (start event or checkpoint), owned */
    ms_jv **lines;             /* metrics.jsonl objects other than events */
    int nlines;
    int have_jsonl;
    eval_file *evals;
    int nevals;
    char **pictures;           /* relative paths */
    int npictures;
    ms_text notes;             /* <li> items, escaped */
    int nnotes;
} run_info;

static void note(run_info *r, const ms_logger *log, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void note(run_info *r, const ms_logger *log, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (r->nnotes++ >= MAX_NOTES) return;
    ms_log(log, MS_LOG_NOTE, "medssl report: %s: %s", r->dir, buf);
    text_puts(&r->notes, "<li>");
    text_html(&r->notes, buf);
    text_puts(&r->notes, "</li>");
}

/* ---- reading a run folder ------------------------------------------------------------------ */

static void read_jsonl(run_info *r, const ms_logger *log)
{
    char path[PATH_CAP], *buf;
    size_t len;
    snprintf(path, sizeof path, "%s/metrics.jsonl", r->dir);
    struct stat st;
    if (stat(path, &st) != 0) return;
    r->have_jsonl = 1;
    if (ms_read_file(path, MAX_JSONL, &buf, &len)) {
        note(r, log, "%s", ms_last_error());
        return;
    }
    int cap = 0, lineno = 0;
    for (char *p = buf; p < buf + len;) {
        char *e = memchr(p, '\n', (size_t)(buf + len - p));
        if (!e) e = buf + len;
        lineno++;
        size_t n = (size_t)(e - p);
        int blank = 1;
        for (size_t i = 0; i < n; i++) blank &= p[i] == ' ' || p[i] == '\t' || p[i] == '\r';
        if (!blank) {
            ms_jv *v;
            char err[160];
            if (jv_parse(p, n, &v, err, sizeof err)) {
                note(r, log, "metrics.jsonl line %d skipped: %s", lineno, err);
            } else if (v->type != JV_OBJ) {
                note(r, log, "metrics.jsonl line %d skipped: not an object", lineno);
                jv_free(v);
            } else if (jv_get(v, "event")) {
                const ms_jv *env = jv_get(v, "environment");
                if (env && env->type == JV_OBJ && !r->env) {
                    /* keep the event: the environment is one of its members */
                    r->env = v;
                    v = NULL;
                }
                jv_free(v);
            } else {
                if (r->nlines == cap) {
                    cap = cap ? 2 * cap : 64;
                    r->lines = ms_realloc(r->lines, (size_t)cap * sizeof *r->lines);
                }
                r->lines[r->nlines++] = v;
            }
        }
        p = e + 1;
    }
    free(buf);
}

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Relative paths of the files named `name` (or ending in `suffix`) up to depth
 * folders below dir, sorted; at most MAX_FILES. */
static void find_files(const char *dir, const char *rel, int depth, const char *name, const char *suffix,
                       char ***out, int *n)
{
    char path[PATH_CAP];
    snprintf(path, sizeof path, "%s%s%s", dir, *rel ? "/" : "", rel);
    DIR *d = opendir(path);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && *n < MAX_FILES) {
        if (e->d_name[0] == '.') continue;
        char sub[PATH_CAP], full[PATH_CAP];
        if (snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name) >= (int)sizeof sub) continue;
        if (snprintf(full, sizeof full, "%s/%s", dir, sub) >= (int)sizeof full) continue;
        struct stat st;
        if (lstat(full, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth > 0) find_files(dir, sub, depth - 1, name, suffix, out, n);
        } else if (S_ISREG(st.st_mode) && ((name && strcmp(e->d_name, name) == 0) || (suffix && has_suffix(e->d_name, suffix)))) {
            *out = ms_realloc(*out, (size_t)(*n + 1) * sizeof **out);
            (*out)[(*n)++] = strdup(sub);
            CHECK((*out)[*n - 1] != NULL);
        }
    }
    closedir(d);
    if (*n > 1) qsort(*out, (size_t)*n, sizeof **out, cmp_str);
}

static void read_evals(run_info *r, const ms_logger *log)
{
    char **files = NULL;
    int n = 0;
    find_files(r->dir, "", 2, "metrics.json", NULL, &files, &n);
    r->evals = ms_malloc((size_t)(n ? n : 1) * sizeof *r->evals);
    for (int i = 0; i < n; i++) {
        char path[PATH_CAP * 2], *buf;
        size_t len;
        snprintf(path, sizeof path, "%s/%s", r->dir, files[i]);
        ms_jv *v = NULL;
        char err[160];
        if (ms_read_file(path, MAX_METRICS, &buf, &len)) {
            note(r, log, "%s", ms_last_error());
        } else if (jv_parse(buf, len, &v, err, sizeof err)) {
            note(r, log, "%s skipped: %s", files[i], err);
        } else if (v->type != JV_OBJ) {
            note(r, log, "%s skipped: not a JSON object", files[i]);
            jv_free(v);
            v = NULL;
        }
        free(buf);
        if (v) {
            eval_file *ev = &r->evals[r->nevals++];
            snprintf(ev->rel, sizeof ev->rel, "%s", files[i]);
            ev->v = v;
        }
        free(files[i]);
    }
    free(files);
}

/* The checkpoint that says what ran: last.h5, else best.h5, else the newest step-*.h5. */
static void read_checkpoint(run_info *r, const ms_logger *log)
{
    const char *names[2] = { "last.h5", "best.h5" };
    struct stat st;
    r->ckpt[0] = '\0';
    for (int i = 0; i < 2 && !r->ckpt[0]; i++) {
        snprintf(r->ckpt, sizeof r->ckpt, "%s/%s", r->dir, names[i]);
        if (stat(r->ckpt, &st) != 0) r->ckpt[0] = '\0';
    }
    if (!r->ckpt[0] && runctl_find_latest(r->dir, r->ckpt, sizeof r->ckpt) != MS_OK) r->ckpt[0] = '\0';
    if (!r->ckpt[0]) return;
    if (ckpt_read_meta(r->ckpt, r->spec, sizeof r->spec, r->task, sizeof r->task)) {
        note(r, log, "checkpoint not read: %s", ms_last_error());
        r->ckpt[0] = '\0';
        return;
    }
    enum { CMD_CAP = 16384 };
    char *cmd = ms_malloc(CMD_CAP);
    int present = 0;
    if (ckpt_read_string(r->ckpt, "command_line", cmd, CMD_CAP, &present) == MS_OK && present) r->cmdline = cmd;
    else free(cmd);
    if (!r->env) {
        char *env = ms_malloc(CMD_CAP);
        ms_jv *v;
        char err[160];
        if (ckpt_read_string(r->ckpt, "environment", env, CMD_CAP, &present) == MS_OK && present &&
            jv_parse(env, strlen(env), &v, err, sizeof err) == MS_OK) {
            /* the same shape as the start event: {"environment": {...}} */
            ms_jv *wrap = ms_malloc(sizeof *wrap);
            *wrap = (ms_jv){ .type = JV_OBJ, .n = 1, .items = v, .keys = ms_malloc(sizeof(char *)) };
            wrap->keys[0] = strdup("environment");
            CHECK(wrap->keys[0] != NULL);
            r->env = wrap;
        }
        free(env);
    }
}

static int read_run(run_info *r, const char *dir, int max_pictures, const ms_logger *log)
{
    memset(r, 0, sizeof *r);
    r->dir = dir;
    struct stat st;
    if (stat(dir, &st) != 0) return MS_FAIL(MS_ERR_INPUT, "%s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return MS_FAIL(MS_ERR_INPUT, "%s: not a folder (give a run folder)", dir);
    read_jsonl(r, log);
    read_evals(r, log);
    read_checkpoint(r, log);
    find_files(dir, "", 2, NULL, ".png", &r->pictures, &r->npictures);
    if (!r->have_jsonl && !r->nevals && !r->ckpt[0] && !r->npictures)
        return MS_FAIL(MS_ERR_INPUT, "%s: not a run folder (no metrics.jsonl, metrics.json, checkpoint or PNG in it)",
                       dir);
    if (r->npictures > max_pictures) { /* evenly spaced, the first and the last kept (an autoencoder's last epoch) */
        note(r, log, "%d pictures; %d of them, evenly spaced, are shown", r->npictures, max_pictures);
        const int n = r->npictures;
        char **keep = ms_malloc((size_t)max_pictures * sizeof *keep);
        for (int i = 0, next = 0; i < n; i++) {
            const int want = max_pictures == 1 ? 0 : (int)((long long)next * (n - 1) / (max_pictures - 1));
            if (next < max_pictures && i == want) keep[next++] = r->pictures[i];
            else free(r->pictures[i]);
        }
        free(r->pictures);
        r->pictures = keep;
        r->npictures = max_pictures;
    }
    /* the legend's name: the folder's last component */
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/') len--;
    size_t start = len;
    while (start > 0 && dir[start - 1] != '/') start--;
    snprintf(r->name, sizeof r->name, "%.*s", (int)(len - start), dir + start);
    return MS_OK;
}

static void free_run(run_info *r)
{
    free(r->cmdline);
    jv_free(r->env);
    for (int i = 0; i < r->nlines; i++) jv_free(r->lines[i]);
    free(r->lines);
    for (int i = 0; i < r->nevals; i++) jv_free(r->evals[i].v);
    free(r->evals);
    for (int i = 0; i < r->npictures; i++) free(r->pictures[i]);
    free(r->pictures);
    text_free(&r->notes);
}

/* ---- series from metrics.jsonl --------------------------------------------------------------- */

/* An epoch line: written at the end of an epoch (it has the loader wait). */
static int is_epoch_line(const ms_jv *v) { return jv_get(v, "loader_wait_s") != NULL || jv_get(v, "val_loss") != NULL; }

/* The validation metric of a run: its first val_* key other than val_loss, or NULL. */
static const char *metric_key(const run_info *r)
{
    for (int i = 0; i < r->nlines; i++)
        for (size_t k = 0; k < r->lines[i]->n; k++) {
            const char *key = r->lines[i]->keys[k];
            if (strncmp(key, "val_", 4) == 0 && strcmp(key, "val_loss") != 0) return key;
        }
    return NULL;
}

static int lower_is_better(const char *key) { return strstr(key, "mse") || strstr(key, "loss"); }

/* y (and x = epoch + 1) of key over the epoch lines; with per_epoch the
 * differences of a cumulative counter (restarting where it falls). Returns n. */
static int epoch_series(const run_info *r, const char *key, int per_epoch, double *x, double *y)
{
    int n = 0;
    double prev = 0;
    for (int i = 0; i < r->nlines; i++) {
        const ms_jv *v = r->lines[i];
        if (!is_epoch_line(v)) continue;
        const ms_jv *f = jv_get(v, key);
        if (!f) continue;
        double val = jv_num(f, NAN);
        if (per_epoch && isfinite(val)) {
            const double d = val >= prev ? val - prev : val;
            prev = val;
            val = d;
        }
        x[n] = jv_num(jv_get(v, "epoch"), NAN) + 1;
        y[n] = val;
        n++;
    }
    return n;
}

/* key at every logged step (step lines; the epoch lines when there are none),
 * x in epochs: step / steps per epoch. */
static int fine_series(const run_info *r, const char *key, double *x, double *y)
{
    double spe = NAN;
    int steps = 0;
    for (int i = 0; i < r->nlines; i++) {
        const ms_jv *v = r->lines[i];
        if (is_epoch_line(v) && !isfinite(spe)) {
            const double s = jv_num(jv_get(v, "step"), NAN), e = jv_num(jv_get(v, "epoch"), NAN);
            if (s > 0 && e >= 0) spe = s / (e + 1);
        }
        steps += !is_epoch_line(v);
    }
    int n = 0;
    for (int i = 0; i < r->nlines; i++) {
        const ms_jv *v = r->lines[i];
        if (steps > 0 && is_epoch_line(v)) continue; /* step lines are finer */
        const double s = jv_num(jv_get(v, "step"), NAN);
        x[n] = isfinite(spe) && isfinite(s) ? s / spe : jv_num(jv_get(v, "epoch"), NAN) + 1;
        y[n] = jv_num(jv_get(v, key), NAN);
        n++;
    }
    return n;
}

/* ---- writing ------------------------------------------------------------------------------- */

static void cell_num(ms_text *t, double v, int digits)
{
    if (isfinite(v)) text_printf(t, "<td class=\"num\">%.*f</td>", digits, v);
    else text_puts(t, "<td class=\"num na\">&ndash;</td>");
}

static void cell_text(ms_text *t, const char *s)
{
    text_puts(t, "<td>");
    text_html(t, s ? s : "");
    text_puts(t, "</td>");
}

/* Draws chart c (NULL: nothing) of the n series in a box, then frees the series and their points. */
static void line_chart_box(ms_text *t, const svg_chart *c, svg_series *s, int n)
{
    if (c) {
        text_puts(t, "<div class=\"chart-box\">");
        svg_line_chart(t, c, s, n);
        text_puts(t, "</div>");
    }
    for (int j = 0; j < n; j++) {
        free((void *)s[j].x);
        free((void *)s[j].y);
    }
    free(s);
}

typedef enum {
    CURVE_EPOCH,     /* epoch lines */
    CURVE_PER_EPOCH, /* epoch lines, differences of a cumulative counter */
    CURVE_STEPS,     /* step lines where logged */
    CURVE_LR,        /* step lines, log axis */
} curve_kind;

/* One chart of key over the runs of one task (idx, n). */
static void curve_chart(ms_text *t, run_info *runs, const int *idx, int n, const char *key, curve_kind kind,
                        const char *title, const char *ylabel)
{
    svg_series *s = ms_malloc((size_t)n * sizeof *s);
    int any = 0;
    for (int j = 0; j < n; j++) {
        run_info *r = &runs[idx[j]];
        double *x = ms_malloc((size_t)(r->nlines ? r->nlines : 1) * sizeof *x);
        double *y = ms_malloc((size_t)(r->nlines ? r->nlines : 1) * sizeof *y);
        const int m = kind == CURVE_LR || kind == CURVE_STEPS ? fine_series(r, key, x, y)
                                                              : epoch_series(r, key, kind == CURVE_PER_EPOCH, x, y);
        for (int i = 0; i < m; i++) any |= isfinite(y[i]) && y[i] != 0;
        s[j] = (svg_series){ r->name, x, y, m, (idx[j] / SVG_PALETTE) % 2 };
    }
    const svg_chart c = { .title = title, .xlabel = "epoch", .ylabel = ylabel, .logy = kind == CURVE_LR };
    line_chart_box(t, any || kind == CURVE_EPOCH || kind == CURVE_STEPS ? &c : NULL, s, n);
}

static int any_key(run_info *runs, const int *idx, int n, const char *key)
{
    for (int j = 0; j < n; j++)
        for (int i = 0; i < runs[idx[j]].nlines; i++)
            if (jv_get(runs[idx[j]].lines[i], key)) return 1;
    return 0;
}

/* The curves of the runs that share a task, overlaid. */
static void curves_section(ms_text *t, run_info *runs, const int *idx, int n, const char *task)
{
    text_puts(t, "<section class=\"curves\"><h2>Training curves: ");
    text_html(t, task);
    text_printf(t, " (%d run%s)</h2><div class=\"charts\">", n, n == 1 ? "" : "s");
    curve_chart(t, runs, idx, n, "loss", CURVE_STEPS, "training loss", "loss (mean since the last line)");
    if (any_key(runs, idx, n, "val_loss")) curve_chart(t, runs, idx, n, "val_loss", CURVE_EPOCH, "validation loss", "loss");
    /* every validation metric any of these runs logged */
    const char *seen[16];
    int ns = 0;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < runs[idx[j]].nlines; i++) {
            const ms_jv *v = runs[idx[j]].lines[i];
            for (size_t k = 0; k < v->n; k++) {
                const char *key = v->keys[k];
                if (strncmp(key, "val_", 4) != 0 || strcmp(key, "val_loss") == 0) continue;
                int dup = 0;
                for (int q = 0; q < ns; q++) dup |= strcmp(seen[q], key) == 0;
                if (!dup && ns < 16) seen[ns++] = key;
            }
        }
    for (int q = 0; q < ns; q++) {
        char title[96];
        snprintf(title, sizeof title, "validation %s", seen[q] + 4);
        curve_chart(t, runs, idx, n, seen[q], CURVE_EPOCH, title, seen[q] + 4);
    }
    curve_chart(t, runs, idx, n, "lr", CURVE_LR, "learning rate", "lr (log)");
    /* per epoch: a step line's images/s also counts the validation before it */
    curve_chart(t, runs, idx, n, "images_per_s", CURVE_EPOCH, "training speed", "images/s (epoch)");
    curve_chart(t, runs, idx, n, "loader_wait_s", CURVE_PER_EPOCH, "waiting for the loader", "s per epoch");
    curve_chart(t, runs, idx, n, "allreduce_wait_s", CURVE_PER_EPOCH, "waiting for the all-reduce", "s per epoch");
    text_puts(t, "</div></section>\n");
}

/* "0.8042 [0.7963, 0.8119]" with the interval when ci95 holds key. */
static void with_ci(ms_text *t, const ms_jv *m, const char *key, int digits)
{
    const double v = jv_num(jv_get(m, key), NAN);
    if (isfinite(v)) text_printf(t, "%.*f", digits, v);
    else text_puts(t, "&ndash;");
    const ms_jv *ci = jv_get(jv_get(m, "ci95"), key);
    if (jv_len(ci) == 2 && isfinite(jv_num(jv_at(ci, 0), NAN)))
        text_printf(t, " <span class=\"ci\">[%.*f, %.*f]</span>", digits, jv_num(jv_at(ci, 0), NAN), digits,
                    jv_num(jv_at(ci, 1), NAN));
}

/* The one-line headline of an evaluation (summary table). */
static void headline(ms_text *t, const ms_jv *m)
{
    if (jv_get(m, "confusion")) {
        text_puts(t, "accuracy ");
        with_ci(t, m, "accuracy", 4);
        text_printf(t, ", AUC %.4f", jv_num(jv_get(m, "macro_auc"), NAN));
    } else if (jv_get(m, "dsc_mean")) {
        text_puts(t, "DSC ");
        with_ci(t, m, "dsc_mean", 4);
    }
}

static void classify_block(ms_text *t, const ms_jv *m)
{
    const ms_jv *conf = jv_get(m, "confusion"), *pc = jv_get(m, "per_class");
    const int K = (int)jv_len(conf);
    text_printf(t, "<p class=\"headline\">%lld images: accuracy ", (long long)jv_num(jv_get(m, "n"), 0));
    with_ci(t, m, "accuracy", 4);
    text_puts(t, " &middot; balanced accuracy ");
    with_ci(t, m, "balanced_accuracy", 4);
    text_puts(t, " &middot; macro AUC ");
    with_ci(t, m, "macro_auc", 4);
    const ms_jv *ci = jv_get(m, "ci95");
    if (ci) text_printf(t, " <span class=\"ci\">(95%% bootstrap intervals, %lld resamples)</span>",
                        (long long)jv_num(jv_get(ci, "resamples"), 0));
    text_puts(t, "</p><div class=\"charts\">");
    int square = K >= 2 && K <= 255;
    for (int r = 0; r < K && square; r++) square = (int)jv_len(jv_at(conf, (size_t)r)) == K;
    if (square) {
        int64_t *counts = ms_malloc((size_t)K * K * sizeof *counts);
        for (int r = 0; r < K; r++)
            for (int p = 0; p < K; p++) {
                const double c = jv_num(jv_at(jv_at(conf, (size_t)r), (size_t)p), 0);
                counts[(size_t)r * K + p] = isfinite(c) && c >= 0 && c < 9e18 ? (int64_t)c : 0;
            }
        text_puts(t, "<div class=\"chart-box\">");
        svg_heatmap(t, "confusion matrix (colour: fraction of the true class)", counts, K, NULL);
        text_puts(t, "</div>");
        free(counts);
    } else {
        text_puts(t, "<p class=\"note\">the confusion matrix is not square; not drawn</p>");
    }
    const ms_jv *roc = jv_get(m, "roc");
    if (jv_len(roc) > 0) {
        const int nr = (int)jv_len(roc);
        svg_series *s = ms_malloc((size_t)nr * sizeof *s);
        char(*names)[64] = ms_malloc((size_t)nr * sizeof *names);
        for (int k = 0; k < nr; k++) {
            const ms_jv *c = jv_at(roc, (size_t)k), *fx = jv_get(c, "fpr"), *fy = jv_get(c, "tpr");
            const int n = (int)(jv_len(fx) < jv_len(fy) ? jv_len(fx) : jv_len(fy));
            double *x = ms_malloc((size_t)(n ? n : 1) * sizeof *x), *y = ms_malloc((size_t)(n ? n : 1) * sizeof *y);
            for (int i = 0; i < n; i++) {
                x[i] = jv_num(jv_at(fx, (size_t)i), NAN);
                y[i] = jv_num(jv_at(fy, (size_t)i), NAN);
            }
            snprintf(names[k], sizeof names[k], "class %d (AUC %.3f)", k,
                     jv_num(jv_get(jv_at(pc, (size_t)k), "auc"), NAN));
            s[k] = (svg_series){ names[k], x, y, n, (k / SVG_PALETTE) % 2 };
        }
        line_chart_box(t, &(svg_chart){ .title = "ROC curves (one class against the rest)", .xlabel = "false positive rate",
                                        .ylabel = "true positive rate", .fixed = 1, .xmin = 0, .xmax = 1, .ymin = 0,
                                        .ymax = 1, .diagonal = 1, .height = 300, .width = 300 },
                       s, nr);
        free(names);
    }
    text_puts(t, "</div><table><tr><th>class</th><th>sensitivity</th><th>specificity</th><th>precision</th>"
                 "<th>F1</th><th>AUC</th></tr>");
    for (size_t k = 0; k < jv_len(pc); k++) {
        const ms_jv *q = jv_at(pc, k);
        text_printf(t, "<tr><td>%zu</td>", k);
        const char *cols[5] = { "sensitivity", "specificity", "precision", "f1", "auc" };
        for (int c = 0; c < 5; c++) cell_num(t, jv_num(jv_get(q, cols[c]), NAN), 4);
        text_puts(t, "</tr>");
    }
    text_puts(t, "</table>");
}

static void segment_block(ms_text *t, const ms_jv *m)
{
    const ms_jv *pc = jv_get(m, "per_class");
    text_printf(t, "<p class=\"headline\">%lld images: foreground DSC ", (long long)jv_num(jv_get(m, "n"), 0));
    with_ci(t, m, "dsc_mean", 4);
    text_printf(t, " &plusmn; %.4f (std over images)</p>", jv_num(jv_get(m, "dsc_std"), NAN));
    /* DSC per image: foreground classes, and per domain when there are domains */
    const ms_jv *domains = jv_get(m, "domains");
    const int nd = (int)jv_len(domains);
    const ms_jv *per = jv_get(m, "dsc_per_image");
    const int K = (int)jv_len(per);
    if (K > 1) {
        const int ng = (K - 1) * (nd > 0 ? nd : 1);
        svg_group *g = ms_malloc((size_t)ng * sizeof *g);
        char(*names)[96] = ms_malloc((size_t)ng * sizeof *names);
        int q = 0;
        for (int c = 1; c < K; c++)
            for (int d = 0; d < (nd > 0 ? nd : 1); d++) {
                const ms_jv *arr = nd > 0 ? jv_at(jv_get(domains->items + d, "dsc_per_image"), (size_t)c) : jv_at(per, (size_t)c);
                const int n = (int)jv_len(arr);
                double *v = ms_malloc((size_t)(n ? n : 1) * sizeof *v);
                for (int i = 0; i < n; i++) v[i] = jv_num(jv_at(arr, (size_t)i), NAN);
                if (nd > 0) snprintf(names[q], sizeof names[q], "class %d, %.60s", c, domains->keys[d]);
                else snprintf(names[q], sizeof names[q], "class %d", c);
                g[q] = (svg_group){ names[q], v, n };
                q++;
            }
        text_puts(t, "<div class=\"charts\"><div class=\"chart-box\">");
        svg_box_strip(t, nd > 0 ? "DSC per image, by class and domain" : "DSC per image, by class", "DSC", 0, 1, g, q);
        text_puts(t, "</div></div>");
        for (int i = 0; i < q; i++) free((void *)g[i].v);
        free(g);
        free(names);
    }
    text_puts(t, "<table><tr><th>class</th><th>DSC mean</th><th>DSC std</th><th>sensitivity</th><th>specificity</th>"
                 "<th>images</th><th>empty</th></tr>");
    for (size_t k = 0; k < jv_len(pc); k++) {
        const ms_jv *row = jv_at(pc, k);
        text_printf(t, "<tr><td>%zu%s</td>", k, k == 0 ? " (background)" : "");
        const char *cols[4] = { "dsc_mean", "dsc_std", "sensitivity", "specificity" };
        for (int c = 0; c < 4; c++) cell_num(t, jv_num(jv_get(row, cols[c]), NAN), 4);
        cell_num(t, jv_num(jv_get(row, "n"), NAN), 0);
        cell_num(t, jv_num(jv_get(row, "n_empty"), NAN), 0);
        text_puts(t, "</tr>");
    }
    text_puts(t, "</table>");
}

static void domains_table(ms_text *t, const ms_jv *m)
{
    const ms_jv *d = jv_get(m, "domains");
    if (jv_len(d) == 0 || d->type != JV_OBJ) return;
    const int cls = jv_get(m, "confusion") != NULL;
    text_puts(t, cls ? "<table><tr><th>domain</th><th>images</th><th>accuracy</th><th>balanced accuracy</th><th>macro AUC</th></tr>"
                     : "<table><tr><th>domain</th><th>images</th><th>DSC mean</th><th>DSC std</th></tr>");
    for (size_t i = 0; i < d->n; i++) {
        const ms_jv *x = d->items + i;
        text_puts(t, "<tr>");
        cell_text(t, d->keys[i]);
        cell_num(t, jv_num(jv_get(x, "n"), NAN), 0);
        if (cls) {
            cell_num(t, jv_num(jv_get(x, "accuracy"), NAN), 4);
            cell_num(t, jv_num(jv_get(x, "balanced_accuracy"), NAN), 4);
            cell_num(t, jv_num(jv_get(x, "macro_auc"), NAN), 4);
        } else {
            cell_num(t, jv_num(jv_get(x, "dsc_mean"), NAN), 4);
            cell_num(t, jv_num(jv_get(x, "dsc_std"), NAN), 4);
        }
        text_puts(t, "</tr>");
    }
    text_puts(t, "</table>");
}

static void eval_block(ms_text *t, const ms_jv *m)
{
    if (jv_get(m, "confusion")) classify_block(t, m);
    else if (jv_get(m, "dsc_mean")) segment_block(t, m);
    else text_puts(t, "<p class=\"note\">no classification or segmentation metrics in this file</p>");
    domains_table(t, m);
}

/* An evaluate metrics.json, or an ensemble's (members and combiners). */
static void eval_section(ms_text *t, const eval_file *ev)
{
    const ms_jv *v = ev->v, *combiners = jv_get(v, "combiners");
    text_puts(t, "<h3>Evaluation: ");
    text_html(t, ev->rel);
    text_puts(t, "</h3><p class=\"meta\">");
    if (jv_str(jv_get(v, "model"))) {
        text_puts(t, "model ");
        text_html(t, jv_str(jv_get(v, "model")));
        text_puts(t, " &middot; ");
    }
    if (jv_str(jv_get(v, "data"))) {
        text_puts(t, "data ");
        text_html(t, jv_str(jv_get(v, "data")));
    }
    text_puts(t, "</p>");
    if (!combiners) {
        eval_block(t, v);
        return;
    }
    const ms_jv *members = jv_get(v, "members");
    text_puts(t, "<table><tr><th>member</th><th>weight</th><th>alone</th></tr>");
    for (size_t i = 0; i < jv_len(members); i++) {
        const ms_jv *mb = jv_at(members, i);
        text_puts(t, "<tr>");
        cell_text(t, jv_str(jv_get(mb, "path")));
        cell_num(t, jv_num(jv_get(mb, "weight"), NAN), 3);
        text_puts(t, "<td>");
        headline(t, jv_get(mb, "metrics"));
        text_puts(t, "</td></tr>");
    }
    text_puts(t, "</table>");
    for (size_t i = 0; i < combiners->n && combiners->type == JV_OBJ; i++) {
        text_puts(t, "<h4>combiner: ");
        text_html(t, combiners->keys[i]);
        text_puts(t, "</h4>");
        eval_block(t, combiners->items + i);
    }
}

static void pictures_section(ms_text *t, run_info *r, const ms_logger *log)
{
    if (r->npictures == 0) return;
    text_puts(t, "<h3>Pictures</h3><div class=\"pictures\">");
    for (int i = 0; i < r->npictures; i++) {
        char path[PATH_CAP * 2], *buf;
        size_t len;
        snprintf(path, sizeof path, "%s/%s", r->dir, r->pictures[i]);
        if (ms_read_file(path, MAX_PICTURE, &buf, &len)) {
            note(r, log, "picture not inlined: %s", ms_last_error());
            continue;
        }
        static const unsigned char sig[8] = { 137, 'P', 'N', 'G', 13, 10, 26, 10 };
        if (len < 33 || memcmp(buf, sig, 8) != 0 || memcmp(buf + 12, "IHDR", 4) != 0) {
            note(r, log, "%s is not a PNG; not inlined", r->pictures[i]);
            free(buf);
            continue;
        }
        text_puts(t, "<figure><img src=\"data:image/png;base64,");
        text_base64(t, (const unsigned char *)buf, len);
        text_puts(t, "\" alt=\"");
        text_html(t, r->pictures[i]);
        text_puts(t, "\"><figcaption>");
        text_html(t, r->pictures[i]);
        text_puts(t, "</figcaption></figure>");
        free(buf);
    }
    text_puts(t, "</div>");
}

static void env_table(ms_text *t, const run_info *r)
{
    const ms_jv *env = jv_get(r->env, "environment");
    if (!env || env->type != JV_OBJ) return;
    text_puts(t, "<table class=\"kv\">");
    for (size_t i = 0; i < env->n; i++) {
        const ms_jv *x = env->items + i;
        text_puts(t, "<tr><th>");
        text_html(t, env->keys[i]);
        text_puts(t, "</th><td>");
        if (x->type == JV_STR) text_html(t, x->str);
        else if (x->type == JV_NUM) text_printf(t, "%g", x->num);
        else if (x->type == JV_TRUE || x->type == JV_FALSE) text_puts(t, x->type == JV_TRUE ? "true" : "false");
        else text_puts(t, "&ndash;");
        text_puts(t, "</td></tr>");
    }
    text_puts(t, "</table>");
}

/* Best validation metric and its epoch, the last epoch, the last training loss, the median images/s. */
typedef struct {
    const char *key;
    double best, last_loss, ips;
    long best_epoch, epochs;
} run_summary;


static run_summary summarise(const run_info *r)
{
    run_summary s = { metric_key(r), NAN, NAN, NAN, -1, 0 };
    double *ips = ms_malloc((size_t)(r->nlines ? r->nlines : 1) * sizeof *ips);
    int nips = 0;
    for (int i = 0; i < r->nlines; i++) {
        const ms_jv *v = r->lines[i];
        if (!is_epoch_line(v)) continue;
        const long e = (long)jv_num(jv_get(v, "epoch"), -1);
        if (e + 1 > s.epochs) s.epochs = e + 1;
        s.last_loss = jv_num(jv_get(v, "loss"), NAN);
        if (!s.key) continue;
        const double m = jv_num(jv_get(v, s.key), NAN);
        if (isfinite(m) && (!isfinite(s.best) || (lower_is_better(s.key) ? m < s.best : m > s.best))) {
            s.best = m;
            s.best_epoch = e;
        }
    }
    double *xs = ms_malloc((size_t)(r->nlines ? r->nlines : 1) * sizeof *xs);
    const int m = epoch_series(r, "images_per_s", 0, xs, ips); /* as the speed chart shows it */
    for (int i = 0; i < m; i++)
        if (isfinite(ips[i])) ips[nips++] = ips[i];
    free(xs);
    if (nips) {
        qsort(ips, (size_t)nips, sizeof *ips, ms_cmp_double);
        s.ips = nips % 2 ? ips[nips / 2] : 0.5 * (ips[nips / 2 - 1] + ips[nips / 2]);
    }
    free(ips);
    return s;
}

static void summary_table(ms_text *t, run_info *runs, int n)
{
    text_puts(t, "<section id=\"summary\"><h2>Summary</h2><table><tr><th>run</th><th>task</th><th>epochs</th>"
                 "<th>best validation</th><th>at epoch</th><th>last training loss</th><th>images/s (median)</th>"
                 "<th>evaluation</th></tr>");
    for (int i = 0; i < n; i++) {
        run_info *r = &runs[i];
        run_summary s = summarise(r);
        text_printf(t, "<tr><td><a href=\"#run-%d\">", i + 1);
        text_html(t, r->name);
        text_puts(t, "</a></td>");
        cell_text(t, r->task[0] ? r->task : jv_str(jv_get(r->nevals ? r->evals[0].v : NULL, "task")));
        cell_num(t, s.epochs ? (double)s.epochs : NAN, 0);
        if (s.key) {
            text_printf(t, "<td class=\"num\">%s ", s.key + 4);
            if (isfinite(s.best)) text_printf(t, "%.4f", s.best);
            else text_puts(t, "&ndash;");
            text_puts(t, "</td>");
        } else {
            text_puts(t, "<td class=\"na\">&ndash;</td>");
        }
        cell_num(t, s.best_epoch >= 0 ? (double)(s.best_epoch + 1) : NAN, 0);
        cell_num(t, s.last_loss, 4);
        cell_num(t, s.ips, 1);
        text_puts(t, "<td class=\"wrap\">");
        for (int e = 0; e < r->nevals; e++) {
            const ms_jv *v = r->evals[e].v, *comb = jv_get(v, "combiners");
            if (e) text_puts(t, "<br>");
            text_html(t, r->evals[e].rel);
            if (!comb) {
                text_puts(t, ": ");
                headline(t, v);
            }
            for (size_t c = 0; comb && comb->type == JV_OBJ && c < comb->n; c++) { /* an ensemble: each combiner */
                text_puts(t, c ? "; " : ": ");
                text_html(t, comb->keys[c]);
                text_puts(t, " ");
                headline(t, comb->items + c);
            }
        }
        text_puts(t, "</td></tr>");
    }
    text_puts(t, "</table></section>\n");
}

static void run_section(ms_text *t, run_info *r, int i, const ms_logger *log)
{
    text_printf(t, "<section class=\"run\" id=\"run-%d\"><h2>", i + 1);
    text_html(t, r->name);
    text_puts(t, "</h2><p class=\"meta\">");
    text_html(t, r->dir);
    text_puts(t, "</p>");
    if (r->cmdline) {
        text_puts(t, "<pre class=\"cmd\">");
        text_html(t, r->cmdline);
        text_puts(t, "</pre>");
    }
    if (r->ckpt[0]) {
        text_puts(t, "<table class=\"kv\"><tr><th>task</th><td>");
        text_html(t, r->task);
        text_puts(t, "</td></tr><tr><th>model</th><td><code>");
        text_html(t, r->spec);
        text_puts(t, "</code></td></tr><tr><th>checkpoint</th><td>");
        text_html(t, r->ckpt);
        text_puts(t, "</td></tr></table>");
    }
    env_table(t, r);
    if (r->have_jsonl && r->nlines == 0) text_puts(t, "<p class=\"note\">metrics.jsonl holds no metrics yet</p>");
    for (int e = 0; e < r->nevals; e++) eval_section(t, &r->evals[e]);
    pictures_section(t, r, log);
    if (r->nnotes) {
        text_puts(t, "<div class=\"note\"><p>Notes</p><ul>");
        text_put(t, r->notes.buf, r->notes.len);
        if (r->nnotes > MAX_NOTES) text_printf(t, "<li>and %d more</li>", r->nnotes - MAX_NOTES);
        text_puts(t, "</ul></div>");
    }
    text_puts(t, "</section>\n");
}

static const char *task_of(const run_info *r) { return r->task[0] ? r->task : "training"; }

static const char CSS[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;margin:24px auto;"
    "max-width:1280px;padding:0 16px;color:#222;background:#fff}"
    "h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}"
    "h3{font-size:15px;margin:20px 0 6px}h4{font-size:14px;margin:14px 0 4px}"
    ".meta{color:#666;font-size:12px;margin:2px 0 8px;word-break:break-all}"
    "table{border-collapse:collapse;font-size:13px;margin:6px 0 12px}"
    "th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}th{background:#f4f6f8}"
    "td{white-space:nowrap}td.wrap{white-space:normal}td.num{text-align:right;font-variant-numeric:tabular-nums}.na{color:#999}"
    "table.kv th{width:11em;font-weight:normal;color:#555}table.kv td{white-space:normal;word-break:break-all}.ci{color:#666;font-size:12px}"
    "pre.cmd{background:#f6f8fa;border:1px solid #e1e4e8;padding:8px;white-space:pre-wrap;word-break:break-all;font-size:12px}"
    ".charts{display:flex;flex-wrap:wrap;gap:12px}.chart-box{border:1px solid #eee;padding:4px}"
    "svg text{font-family:inherit;fill:#333}.headline{font-size:14px}"
    ".pictures{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0;max-width:100%}"
    "figure img{max-width:100%;min-width:112px;image-rendering:pixelated;border:1px solid #ddd}"
    "figcaption{font-size:11px;color:#666;word-break:break-all;max-width:360px}"
    ".note{background:#fff8e1;border:1px solid #f0d98c;padding:4px 10px;font-size:13px}"
    "footer{margin-top:40px;color:#888;font-size:12px}"
    "@media print{body{margin:0;max-width:none}section{break-inside:avoid-page}.chart-box{break-inside:avoid}}";

int report_write(const ms_report_cfg *cfg)
{
    if (cfg->nruns < 1) return MS_FAIL(MS_ERR_INPUT, "no run folder given");
    const int max_pictures = cfg->max_pictures > 0 ? cfg->max_pictures : 48;
    run_info *runs = ms_malloc((size_t)cfg->nruns * sizeof *runs);
    int rc = MS_OK, nread = 0;
    for (; nread < cfg->nruns; nread++)
        if ((rc = read_run(&runs[nread], cfg->runs[nread], max_pictures, &cfg->log))) break;
    if (rc) {
        for (int i = 0; i <= nread && i < cfg->nruns; i++) free_run(&runs[i]);
        free(runs);
        return rc;
    }
    /* two folders with the same last component: the legend uses the paths as given */
    for (int i = 0; i < cfg->nruns; i++)
        for (int j = i + 1; j < cfg->nruns; j++)
            if (strcmp(runs[i].name, runs[j].name) == 0) {
                snprintf(runs[i].name, sizeof runs[i].name, "%s", runs[i].dir);
                snprintf(runs[j].name, sizeof runs[j].name, "%s", runs[j].dir);
            }
    const char *title = cfg->title && *cfg->title ? cfg->title : "medssl report";
    ms_text t = { 0 };
    text_puts(&t, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>");
    text_html(&t, title);
    text_printf(&t, "</title><style>%s</style></head>\n<body><header><h1>", CSS);
    text_html(&t, title);
    char when[32];
    const time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%MZ", &tm);
    text_printf(&t, "</h1><p class=\"meta\">%d run folder%s &middot; written %s by medssl %s</p></header>\n",
                cfg->nruns, cfg->nruns == 1 ? "" : "s", when, cfg->version ? cfg->version : "");
    summary_table(&t, runs, cfg->nruns);
    /* curves: one section per task, the runs of that task overlaid; the task
     * with the most runs (the comparison) first */
    int *idx = ms_malloc((size_t)cfg->nruns * sizeof *idx), *done = ms_calloc((size_t)cfg->nruns, sizeof *done);
    for (;;) {
        int best = -1, best_n = 0;
        for (int i = 0; i < cfg->nruns; i++) {
            if (done[i] || !runs[i].nlines) continue;
            int n = 0;
            for (int j = i; j < cfg->nruns; j++) n += runs[j].nlines && strcmp(task_of(&runs[j]), task_of(&runs[i])) == 0;
            if (n > best_n) best = i, best_n = n;
        }
        if (best < 0) break;
        int n = 0;
        for (int j = best; j < cfg->nruns; j++)
            if (runs[j].nlines && strcmp(task_of(&runs[j]), task_of(&runs[best])) == 0) {
                idx[n++] = j;
                done[j] = 1;
            }
        curves_section(&t, runs, idx, n, task_of(&runs[best]));
    }
    free(done);
    free(idx);
    for (int i = 0; i < cfg->nruns; i++) run_section(&t, &runs[i], i, &cfg->log);
    text_puts(&t, "<footer>medssl report: charts are inline SVG and pictures are inlined; this file needs nothing "
                  "else to open.</footer>\n</body></html>\n");
    ms_atomic_file a;
    if ((rc = atomic_open(&a, cfg->out)) == MS_OK) {
        fwrite(t.buf, 1, t.len, a.f);
        rc = atomic_commit(&a);
    }
    text_free(&t);
    for (int i = 0; i < cfg->nruns; i++) free_run(&runs[i]);
    free(runs);
    return rc;
}
