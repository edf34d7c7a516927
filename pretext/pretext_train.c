/* pretext_train — a pretext task as the trainer trains it (see the
 * "training" section of include/medssl/pretext.h): the model inputs and
 * targets of a loader batch, the loss and its metric (accuracy of the
 * rotation/jigsaw class; the autoencoder's MSE, with its PSNR in
 * metrics.jsonl), and the autoencoder's reconstruction pictures.
 *
 * Dimension legend: n images in a batch, C channels, H, W image size,
 * R rows per image, K pretext classes, in_h, in_w the model input.
 */
#include "medssl/pretext.h"
#include "medssl/log.h"
#include "medssl/common.h"
#include "medssl/json.h"
#include "medssl/loss.h"
#include "medssl/png_io.h"
#include "medssl/runctl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pretext_train_init(ms_pretext_train *pt, const ms_pretext *p, ms_model *m, int batch, const char *out,
                       int recon_every, int recon_count, int rank)
{
    memset(pt, 0, sizeof *pt);
    pt->p = p;
    pt->model = m;
    pt->R = pretext_rows_per_image(p);
    pretext_input_dims(p, &pt->in_h, &pt->in_w);
    pt->out = out;
    pt->recon_every = recon_every;
    pt->recon_count = recon_count;
    pt->rank = rank;
    pt->inputs = ms_aligned((size_t)batch * pt->R * p->C * pt->in_h * pt->in_w * sizeof(float));
    pt->targets = ms_malloc((size_t)batch * pt->R * sizeof(int32_t));
    pt->row_targets = ms_malloc((size_t)batch * pt->R * sizeof(int32_t));
    pt->recon = ms_aligned((size_t)batch * p->C * p->H * p->W * sizeof(float));
    return MS_OK;
}

void pretext_train_free(ms_pretext_train *pt)
{
    free(pt->inputs);
    free(pt->targets);
    free(pt->row_targets);
    free(pt->recon);
    memset(pt, 0, sizeof *pt);
}

/* One image (C,h,w) planar into the picture rgb (.., GW, 3) at (y0, x0):
 * values clamped to [0, 1], gray from channel 0 unless C == 3 (no min-max
 * scaling: a reconstruction too dark or too bright shows as such). */
static void draw_clamped(uint8_t *rgb, int GW, int y0, int x0, const float *img, int C, int h, int w)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < 3; k++) {
                float v = img[(size_t)(C == 3 ? k : 0) * h * w + (size_t)y * w + x];
                v = v < 0 ? 0 : v > 1 ? 1 : v;
                rgb[((size_t)(y0 + y) * GW + x0 + x) * 3 + k] = (uint8_t)lrintf(v * 255.0f);
            }
}

/* <out>/recon/epoch-<E>.png: up to recon_count held-out images in columns,
 * rows: the original, the model's input (noisy or masked; the original for
 * the plain variant), the reconstruction. A failure is reported, not fatal. */
static void write_recon_png(const ms_pretext_train *pt, const float *out, int n)
{
    const int C = pt->p->C, h = pt->in_h, w = pt->in_w, gap = 2;
    const int K = n < pt->recon_count ? n : pt->recon_count;
    const int GW = K * (w + gap) + gap, GH = 3 * (h + gap) + gap;
    const size_t img = (size_t)C * h * w;
    uint8_t *rgb = ms_malloc((size_t)GW * GH * 3);
    memset(rgb, 64, (size_t)GW * GH * 3);
    for (int i = 0; i < K; i++) {
        const int x0 = gap + i * (w + gap);
        draw_clamped(rgb, GW, gap, x0, pt->recon + i * img, C, h, w);
        draw_clamped(rgb, GW, gap + (h + gap), x0, pt->inputs + i * img, C, h, w);
        draw_clamped(rgb, GW, gap + 2 * (h + gap), x0, out + i * img, C, h, w);
    }
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/recon", pt->out);
    snprintf(path, sizeof path, "%s/epoch-%04ld.png", dir, pt->epoch + 1);
    if (runctl_make_dir(dir) || png_write_rgb8(path, rgb, GH, GW)) {
        ms_log(pt->log, MS_LOG_NOTE, "medssl pretrain: warning: no reconstruction PNG: %s", ms_last_error());
        ms_clear_error();
    }
    free(rgb);
}

/* Pretext inputs/targets for one loader batch, and the model set to run on
 * exactly its rows (a short last batch is computed exactly: no padding rows in
 * the BN statistics). Returns the number of loss terms: target rows for
 * classification, images for the autoencoder. */
static int prepare(void *ctx, const ms_batch *b, long epoch, int training)
{
    ms_pretext_train *pt = ctx;
    (void)training;
    if (b->n == 0) return 0;
    pretext_make(pt->p, b->images, b->index, b->n, epoch, pt->inputs, pt->targets, pt->recon);
    CHECK(model_set_rows(pt->model, b->n * pt->R) == 0);
    switch (pt->p->kind) {
    case PRETEXT_JIGSAW: return b->n;
    case PRETEXT_AUTOENCODER: return b->n;
    default: return b->n * pt->R;
    }
}

/* Rotation and jigsaw: cross-entropy over the pretext classes; score/count
 * are correct predictions over target rows (accuracy). */
static double class_loss(void *ctx, int terms, int training, float weight, uint64_t key, double *score, double *count)
{
    ms_pretext_train *pt = ctx;
    ms_model *m = pt->model;
    float *out = model_forward(m, pt->inputs, training, key);
    const int rows = model_output_rows(m), K = pretext_classes(pt->p);
    const int32_t *tg = pt->targets;
    if (pt->p->kind == PRETEXT_JIGSAW) { /* one output row per image: the target of its first tile */
        for (int i = 0; i < rows; i++) pt->row_targets[i] = pt->targets[(size_t)i * pt->R];
        tg = pt->row_targets;
    }
    float loss = softmax_ce_loss(training ? model_output_grad(m) : NULL, out, tg, NULL, -1, rows, K, 1, weight);
    *score = 0;
    for (int i = 0; i < rows; i++) *score += tg[i] >= 0 && ms_argmax(out + (size_t)i * K, K, 1) == tg[i];
    *count = terms;
    return loss;
}

/* Autoencoder: MSE against the clean image; score/count the sum of squared
 * errors over pixels (metric: the MSE). The first validation batch of a
 * picture epoch becomes <out>/recon/epoch-E.png. */
static double recon_loss(void *ctx, int terms, int training, float weight, uint64_t key, double *score, double *count)
{
    ms_pretext_train *pt = ctx;
    ms_model *m = pt->model;
    float *out = model_forward(m, pt->inputs, training, key);
    const size_t n = (size_t)terms * pt->p->C * pt->in_h * pt->in_w;
    float loss = mse_loss(training ? model_output_grad(m) : NULL, out, pt->recon, n, weight);
    if (!training && pt->recon_pending) {
        write_recon_png(pt, out, terms);
        pt->recon_pending = 0;
    }
    *score = (double)loss * (double)n;
    *count = (double)n;
    return loss;
}

static int epoch_begin(void *ctx, long epoch)
{
    ms_pretext_train *pt = ctx;
    pt->epoch = epoch;
    pt->recon_pending = pt->p->kind == PRETEXT_AUTOENCODER && pt->recon_every > 0 &&
                        (epoch + 1) % pt->recon_every == 0 && pt->rank == 0;
    return MS_OK;
}

/* The reconstruction's PSNR for a [0, 1] signal, beside its MSE. */
static void log_psnr(ms_json *line, double mse) { json_num(line, "val_psnr", 10 * log10(1.0 / mse), 4); }

static const ms_task_ops class_ops = { "val_accuracy", 1, prepare, class_loss, epoch_begin, NULL };
static const ms_task_ops recon_ops = { "val_mse", 0, prepare, recon_loss, epoch_begin, log_psnr };

const ms_task_ops *pretext_train_ops(ms_pretext_kind kind)
{
    return kind == PRETEXT_AUTOENCODER ? &recon_ops : &class_ops;
}
