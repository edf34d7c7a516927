/* classify — the classification task (see include/medssl/task.h): a linear
 * or MLP head on the pooled encoder features, cross-entropy (optionally
 * class-weighted), metric val_accuracy. Unlabeled samples (label -1) are
 * ignored: a batch's loss terms are its labeled samples. */
#include "medssl/task.h"
#include "medssl/common.h"
#include "medssl/loss.h"
#include "medssl/predict.h"

#include <string.h>

static int prepare(void *ctx, const ms_batch *b, long epoch, int training)
{
    ms_task_state *st = ctx;
    (void)epoch;
    (void)training;
    if (!task_take_batch(st, b)) return 0;
    int terms = 0;
    for (int i = 0; i < b->n; i++) {
        st->targets[i] = b->labels[i] < 0 ? -1 : b->labels[i];
        terms += b->labels[i] >= 0;
    }
    return terms;
}

/* score/count: correct predictions over labeled samples (accuracy). */
static double loss(void *ctx, int terms, int training, float weight, uint64_t key, double *score, double *count)
{
    ms_task_state *st = ctx;
    float *out = task_forward(st, training, key); /* (n,K) */
    float *dout = training ? model_output_grad(st->model) : NULL;
    const float l = softmax_ce_loss(dout, out, st->targets, st->class_w, -1, st->n, st->K, 1, weight);
    *score = 0;
    for (int i = 0; i < st->n; i++)
        *score += st->targets[i] >= 0 && ms_argmax(out + (size_t)i * st->K, st->K, 1) == st->targets[i];
    *count = terms;
    return l;
}

static int head(ms_model_spec *s, const ms_head_cfg *h)
{
    if (strcmp(h->head, "linear") == 0) s->head = HEAD_LINEAR;
    else if (strcmp(h->head, "mlp") == 0) s->head = HEAD_MLP;
    else return MS_FAIL(MS_ERR_INPUT, "--head %s: expected linear or mlp", h->head);
    s->head_norm = h->head_norm;
    s->classes = h->K;
    s->hidden = h->hidden;
    s->dropout = h->dropout;
    return MS_OK;
}

/* ---- judging (evaluate, ensemble evaluate) ---- */

static void *metrics_new(int K) { return metrics_cls_new(K); }
static void metrics_free(void *acc) { metrics_cls_free(acc); }

/* The labeled rows of e, added run by run (label -1: not judged). */
static int metrics_add(void *acc, const ms_predictions *e, int H, int W, long long *added)
{
    (void)H;
    (void)W;
    const int K = metrics_cls_K(acc);
    int rc = MS_OK;
    *added = 0;
    for (long long i = 0; i < e->n && !rc;) {
        long long run = 0;
        while (i + run < e->n && e->labels[i + run] >= 0) run++;
        if (run == 0) {
            i++;
            continue;
        }
        rc = metrics_cls_add(acc, e->probs + (size_t)i * K, e->labels + i, e->domains ? e->domains + i : NULL, run);
        *added += run;
        i += run;
    }
    return rc;
}

static void headline(const void *acc, double h[3])
{
    metrics_cls_result r;
    metrics_cls_finish(acc, METRICS_ALL, 0, 0, &r);
    h[0] = r.accuracy;
    h[1] = r.balanced_accuracy;
    h[2] = r.macro_auc;
    metrics_cls_result_free(&r);
}

static void json(ms_json *j, const char *key, const void *acc, const metrics_report_opts *o)
{
    metrics_cls_json(j, key, acc, o);
}
static int write_json(FILE *f, const void *acc, const metrics_report_opts *o) { return metrics_cls_write_json(f, acc, o); }
static int print(FILE *f, const void *acc, const metrics_report_opts *o) { return metrics_cls_print(f, acc, o); }

static int combine(int k, const float *probs, const ens_params *p, int M, long long n, int K, int H, int W,
                   ms_predictions *out)
{
    (void)H;
    (void)W;
    out->n = n;
    out->probs = ms_malloc((size_t)(n ? n : 1) * K * sizeof(float));
    return ens_combine((ens_combiner)k, out->probs, NULL, probs, p, M, n, K);
}

const ms_task task_classify = {
    .name = "classify",
    .ops = { "val_accuracy", 1, prepare, loss, task_epoch_begin, NULL },
    .masks = 0,
    .keep_prefix = "head.",
    .head = head,
    .judge = { .truth = "labels", .columns = { "accuracy", "bal_acc", "macro_auc" },
               .combiners = (1u << ENS__COUNT) - 1, .boosting = 1,
               .metrics_new = metrics_new, .metrics_free = metrics_free, .metrics_add = metrics_add,
               .headline = headline, .json = json, .write_json = write_json, .print = print, .combine = combine,
               .pictures = NULL },
};
