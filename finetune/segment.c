/* segment — the segmentation task (see include/medssl/task.h): a U-Net
 * decoder on the encoder stages with K output channels, Dice + cross-entropy
 * (optionally class-weighted), metric val_dsc: the mean over images of the
 * mean foreground Dice of the argmax prediction (images where neither truth
 * nor prediction has foreground are not scored). Mask value 255 is ignored. */
#include "medssl/task.h"
#include "medssl/common.h"
#include "medssl/loss.h"
#include "medssl/png_io.h"
#include "medssl/predict.h"
#include "medssl/runctl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- judging (evaluate, ensemble evaluate) ---- */

static void *metrics_new(int K) { return metrics_seg_new(K); }
static void metrics_free(void *acc) { metrics_seg_free(acc); }

/* Every image of e: its mask e->pred, or the argmax of e->probs. */
static int metrics_add(void *acc, const ms_predictions *e, int H, int W, long long *added)
{
    const size_t HW = (size_t)H * W;
    uint8_t *pred = e->pred;
    if (!pred) {
        pred = ms_malloc((size_t)(e->n ? e->n : 1) * HW);
        predict_argmax_pixels(e->probs, e->n, metrics_seg_K(acc), (int)HW, pred);
    }
    const int rc = metrics_seg_add(acc, pred, e->truth, e->domains, e->n, H, W);
    if (pred != e->pred) free(pred);
    *added = rc ? 0 : e->n;
    return rc;
}

static void headline(const void *acc, double h[3])
{
    metrics_seg_result r;
    metrics_seg_finish(acc, METRICS_ALL, 0, 0, &r);
    h[0] = r.dsc_mean;
    h[1] = r.dsc_std;
    h[2] = NAN;
    metrics_seg_result_free(&r);
}

static void json(ms_json *j, const char *key, const void *acc, const metrics_report_opts *o)
{
    metrics_seg_json(j, key, acc, o);
}
static int write_json(FILE *f, const void *acc, const metrics_report_opts *o) { return metrics_seg_write_json(f, acc, o); }
static int print(FILE *f, const void *acc, const metrics_report_opts *o) { return metrics_seg_print(f, acc, o); }

static int combine(int k, const float *probs, const ens_params *p, int M, long long n, int K, int H, int W,
                   ms_predictions *out)
{
    out->n = n;
    out->pred = ms_malloc((size_t)(n ? n : 1) * H * W);
    return ens_seg_combine((ens_combiner)k, out->pred, probs, p, M, n, K, H, W);
}

/* PNG overlays of the first `count` images: image | truth | prediction. */
static int overlays(ms_corpus *c, const ms_predictions *e, const char *dir, int count)
{
    int rc = runctl_make_dir(dir);
    if (rc) return rc;
    const int C = c->C, H = c->H, W = c->W, B = 2, GW = 3 * W + 2 * B;
    float *img = ms_malloc((size_t)C * H * W * sizeof(float));
    uint8_t *rgb = ms_malloc((size_t)H * GW * 3);
    for (int i = 0; i < count && i < e->n && !rc; i++) {
        if ((rc = corpus_read(c, i, 1, img, NULL, NULL, NULL))) break;
        memset(rgb, 0, (size_t)H * GW * 3);
        png_draw_overlay(rgb, GW, 0, 0, img, NULL, C, H, W);
        png_draw_overlay(rgb, GW, 0, W + B, img, e->truth + (size_t)i * H * W, C, H, W);
        png_draw_overlay(rgb, GW, 0, 2 * (W + B), img, e->pred + (size_t)i * H * W, C, H, W);
        char path[4096];
        snprintf(path, sizeof path, "%s/overlay-%06d.png", dir, i);
        rc = png_write_rgb8(path, rgb, H, GW);
    }
    free(img);
    free(rgb);
    return rc;
}

const ms_task task_segment = {
    .name = "segment",
    .ops = { "val_dsc", 1, prepare, loss, task_epoch_begin, NULL },
    .masks = 1,
    .keep_prefix = "decoder.up",
    .head = head,
    .judge = { .truth = "masks", .columns = { "dsc_mean", "dsc_std", NULL },
               .combiners = 1u << ENS_AVERAGE | 1u << ENS_VOTE | 1u << ENS_WEIGHTED_VOTE, .boosting = 0,
               .metrics_new = metrics_new, .metrics_free = metrics_free, .metrics_add = metrics_add,
               .headline = headline, .json = json, .write_json = write_json, .print = print, .combine = combine,
               .pictures = overlays },
};
