/* classify — the classification task (see include/medssl/task.h): a linear
 * or MLP head on the pooled encoder features, cross-entropy (optionally
 * class-weighted), metric val_accuracy. Unlabeled samples (label -1) are
 * ignored: a batch's loss terms are its labeled samples. */
#include "medssl/task.h"
#include "medssl/common.h"
#include "medssl/loss.h"

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

const ms_task task_classify = {
    .name = "classify",
    .ops = { "val_accuracy", 1, prepare, loss, task_epoch_begin, NULL },
    .masks = 0,
    .keep_prefix = "head.",
    .head = head,
};
