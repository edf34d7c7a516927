/* segment — the segmentation task (see include/medssl/task.h): a U-Net
 * decoder on the encoder stages with K output channels, Dice + cross-entropy
 * (optionally class-weighted), metric val_dsc: the mean over images of the
 * mean foreground Dice of the argmax prediction (images where neither truth
 * nor prediction has foreground are not scored). Mask value 255 is ignored. */
#include "medssl/task.h"
#include "medssl/common.h"
#include "medssl/loss.h"

static int prepare(void *ctx, const ms_batch *b, long epoch, int training)
{
    ms_task_state *st = ctx;
    (void)epoch;
    (void)training;
    if (!task_take_batch(st, b)) return 0;
    for (size_t i = 0; i < (size_t)b->n * st->HW; i++) st->targets[i] = b->masks[i] == 255 ? -1 : b->masks[i];
    return b->n;
}

/* Mean foreground Dice of one image's argmax prediction; -1 when neither the
 * truth nor the prediction has any foreground (nothing to score). */
static double image_dsc(const float *probs, const int32_t *target, uint8_t *pred, int K, int HW)
{
    for (int p = 0; p < HW; p++) pred[p] = (uint8_t)ms_argmax(probs + p, K, HW); /* probs (K,HW) */
    double sum = 0;
    int classes = 0;
    for (int k = 1; k < K; k++) {
        long long inter = 0, np = 0, nt = 0;
        for (int p = 0; p < HW; p++) {
            if (target[p] < 0) continue;
            np += pred[p] == k;
            nt += target[p] == k;
            inter += pred[p] == k && target[p] == k;
        }
        if (np + nt == 0) continue;
        sum += 2.0 * (double)inter / (double)(np + nt);
        classes++;
    }
    return classes ? sum / classes : -1;
}

static double loss(void *ctx, int terms, int training, float weight, uint64_t key, double *score, double *count)
{
    ms_task_state *st = ctx;
    (void)terms;
    float *out = task_forward(st, training, key); /* (n,K,HW) */
    float *dout = training ? model_output_grad(st->model) : NULL;
    const float l = dice_ce_loss(dout, st->probs, out, st->targets, st->class_w, -1, st->n, st->K, st->HW, 1.0f, weight);
    *score = 0;
    *count = 0;
    for (int i = 0; i < st->n; i++) {
        const double dsc = image_dsc(st->probs + (size_t)i * st->K * st->HW, st->targets + (size_t)i * st->HW, st->pred,
                                     st->K, st->HW);
        if (dsc < 0) continue;
        *score += dsc;
        *count += 1;
    }
    return l;
}

static int head(ms_model_spec *s, const ms_head_cfg *h)
{
    s->has_decoder = 1;
    s->dec_out = h->K;
    s->up = UP_BILINEAR;
    return MS_OK;
}

const ms_task task_segment = {
    .name = "segment",
    .ops = { "val_dsc", 1, prepare, loss, task_epoch_begin, NULL },
    .masks = 1,
    .keep_prefix = "decoder.up",
    .head = head,
};
