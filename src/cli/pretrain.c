/* pretrain — `medssl pretrain`: self-supervised pretraining of an encoder on an
 * unlabeled corpus with a pretext task, data-parallel over MPI ranks.
 *
 * Per step: this rank's loader batch (n images) -> pretext inputs and targets
 * -> forward -> loss -> backward with the gradient slab all-reduced in buckets
 * as layers finish -> SGD/AdamW step with linear warmup and cosine decay.
 * Each epoch ends with the pretext metric on the held-out split, a checkpoint
 * (step-*.h5, last.h5, best.h5 by the metric) and metrics.jsonl lines.
 * SIGTERM/SIGUSR1 finish the step, checkpoint and exit 0; a non-finite loss
 * on any rank stops every rank (exit 1) and keeps the last good checkpoint;
 * --resume auto continues from the newest complete checkpoint, bit-identically
 * for the same seed and rank count (the loader skips the batches already done).
 *
 * A short last batch runs on exactly its rows (model_set_rows); a rank whose
 * share is already exhausted takes part in the all-reduce with zero gradients.
 */
#include "cli.h"
#include "medssl/ckpt.h"
#include "medssl/common.h"
#include "medssl/corpus.h"
#include "medssl/dist.h"
#include "medssl/loader.h"
#include "medssl/loss.h"
#include "medssl/model.h"
#include "medssl/optim.h"
#include "medssl/parallel.h"
#include "medssl/png_io.h"
#include "medssl/pretext.h"
#include "medssl/rng.h"
#include "medssl/runctl.h"
#include "medssl/trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *task, *corpus, *val, *out, *encoder, *augment, *resume, *optimizer, *ae_variant;
    int epochs, batch, seed, threads, keep, log_every, permutations, one_rotation, buffer, sync_bn, recon_every,
        recon_count;
    long max_steps;
    float lr, weight_decay, warmup_epochs, val_fraction, momentum, noise_sigma, mask_fraction, buffer_mib;
} pretrain_opts;

typedef struct {
    ms_dist d;
    ms_corpus corpus, val_c;      /* val_c: --val FILE (has_val_c) */
    int has_val_c;
    ms_pretext pt;
    ms_model model;
    ms_optim opt;
    ms_augment aug;
    ms_loader *train, *val;
    ms_trainer tr;
    char spec[1024], cmdline[2048], input_size[48]; /* input_size: the model's input, "CxHxW" */
    int R, in_h, in_w, B;          /* rows per image, model input, images per rank-batch */
    float *inputs, *recon;
    int32_t *targets, *row_targets;
    int classify;                   /* rotation/jigsaw: 1, autoencoder: 0 */
    const char *out;
    int recon_every, recon_count;   /* autoencoder: a PNG of the first validation batch every recon_every epochs */
    long epoch;                     /* the epoch running */
    int recon_pending;              /* the next validation batch goes into <out>/recon/epoch-<epoch+1>.png */
} pretrain_run;

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
static void write_recon_png(const pretrain_run *r, const float *out, int n)
{
    const int C = r->corpus.C, h = r->in_h, w = r->in_w, gap = 2;
    const int K = n < r->recon_count ? n : r->recon_count;
    const int GW = K * (w + gap) + gap, GH = 3 * (h + gap) + gap;
    const size_t img = (size_t)C * h * w;
    uint8_t *rgb = ms_malloc((size_t)GW * GH * 3);
    memset(rgb, 64, (size_t)GW * GH * 3);
    for (int i = 0; i < K; i++) {
        const int x0 = gap + i * (w + gap);
        draw_clamped(rgb, GW, gap, x0, r->recon + i * img, C, h, w);
        draw_clamped(rgb, GW, gap + (h + gap), x0, r->inputs + i * img, C, h, w);
        draw_clamped(rgb, GW, gap + 2 * (h + gap), x0, out + i * img, C, h, w);
    }
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/recon", r->out);
    snprintf(path, sizeof path, "%s/epoch-%04ld.png", dir, r->epoch + 1);
    if (runctl_make_dir(dir) || png_write_rgb8(path, rgb, GH, GW)) {
        fprintf(stderr, "medssl pretrain: warning: no reconstruction PNG: %s\n", ms_last_error());
        ms_clear_error();
    }
    free(rgb);
}

/* Pretext inputs/targets for one loader batch, and the model set to run on
 * exactly its rows (a short last batch is computed exactly: no padding rows in
 * the BN statistics). Returns the number of loss terms: target rows for
 * classification, images for the autoencoder. */
static int pretext_prepare(void *ctx, const ms_batch *b, long epoch, int training)
{
    pretrain_run *r = ctx;
    (void)training;
    if (b->n == 0) return 0;
    pretext_make(&r->pt, b->images, b->index, b->n, epoch, r->inputs, r->targets, r->recon);
    CHECK(model_set_rows(&r->model, b->n * r->R) == 0);
    if (!r->classify) return b->n;
    return r->pt.kind == PRETEXT_JIGSAW ? b->n : b->n * r->R;
}

/* Forward + loss (+ gradient into the output when training). score/count:
 * correct predictions over rows (classification), or the sum of squared
 * errors over pixels (autoencoder: the metric is the MSE). */
static double pretext_loss(void *ctx, int terms, int training, float weight, uint64_t key, double *score, double *count)
{
    pretrain_run *r = ctx;
    ms_model *m = &r->model;
    *score = 0;
    float *out = model_forward(m, r->inputs, training, key);
    const int rows = model_output_rows(m);
    if (r->classify) {
        const int K = pretext_classes(&r->pt);
        const int32_t *tg = r->targets;
        if (r->pt.kind == PRETEXT_JIGSAW) { /* one output row per image: the target of its first tile */
            for (int i = 0; i < rows; i++) r->row_targets[i] = r->targets[(size_t)i * r->R];
            tg = r->row_targets;
        }
        float loss = softmax_ce_loss(training ? model_output_grad(m) : NULL, out, tg, NULL, -1, rows, K, 1, weight);
        for (int i = 0; i < rows; i++) {
            if (tg[i] < 0) continue;
            int best = 0;
            for (int k = 1; k < K; k++)
                if (out[(size_t)i * K + k] > out[(size_t)i * K + best]) best = k;
            *score += best == tg[i];
        }
        *count = terms;
        return loss;
    }
    const size_t n = (size_t)terms * r->corpus.C * r->in_h * r->in_w;
    float loss = mse_loss(training ? model_output_grad(m) : NULL, out, r->recon, n, weight);
    if (!training && r->recon_pending) {
        write_recon_png(r, out, terms);
        r->recon_pending = 0;
    }
    *score = (double)loss * (double)n;
    *count = (double)n;
    return loss;
}

static int pretext_epoch_begin(void *ctx, long epoch)
{
    pretrain_run *r = ctx;
    r->epoch = epoch;
    r->recon_pending = !r->classify && r->recon_every > 0 && (epoch + 1) % r->recon_every == 0 && r->d.rank == 0;
    return MS_OK;
}

static const ms_task_ops pretext_ops = { pretext_prepare, pretext_loss, pretext_epoch_begin };

static int setup(pretrain_run *r, const pretrain_opts *o)
{
    int kind = pretext_kind_parse(o->task);
    if (kind < 0)
        return MS_FAIL(MS_ERR_INPUT, "--task %s: expected rotation, jigsaw or autoencoder", o->task);
    r->out = o->out;
    r->recon_every = o->recon_every;
    r->recon_count = o->recon_count;
    int rc = corpus_open(&r->corpus, o->corpus);
    if (rc) return rc;
    if (o->val) {
        if ((rc = corpus_open_like(&r->val_c, o->val, &r->corpus))) return rc;
        r->has_val_c = 1;
    }
    /* the encoder spec, with the corpus's channel count */
    ms_model_spec enc;
    char enc_text[512];
    snprintf(enc_text, sizeof enc_text, "%s", o->encoder);
    if ((rc = model_spec_parse(&enc, enc_text))) return MS_FAIL(rc, "--encoder: %s", ms_last_error());
    if (enc.head != HEAD_NONE || enc.has_decoder)
        return MS_FAIL(MS_ERR_INPUT, "--encoder: give only the encoder part; the pretext task adds its head");
    enc.in_channels = r->corpus.C;
    pretext_defaults(&r->pt, (ms_pretext_kind)kind, (uint64_t)o->seed, r->corpus.C, r->corpus.H, r->corpus.W,
                     1 << (enc.n_stages - 1));
    if (o->permutations > 0) r->pt.permutations = o->permutations;
    if (o->one_rotation) r->pt.all_rotations = 0;
    if (o->ae_variant) {
        int v = pretext_ae_variant_parse(o->ae_variant);
        if (v < 0) return MS_FAIL(MS_ERR_INPUT, "--ae-variant %s: expected plain, denoising or inpainting", o->ae_variant);
        r->pt.ae_variant = (ms_ae_variant)v;
    }
    if (o->noise_sigma >= 0) r->pt.noise_sigma = o->noise_sigma;
    if (o->mask_fraction >= 0) r->pt.mask_fraction = o->mask_fraction;
    if ((rc = pretext_init(&r->pt))) return rc;
    r->classify = kind != PRETEXT_AUTOENCODER;
    r->R = pretext_rows_per_image(&r->pt);
    pretext_input_dims(&r->pt, &r->in_h, &r->in_w);

    char head[256];
    model_spec_format(&enc, r->spec, sizeof r->spec);
    pretext_head_spec(&r->pt, head, sizeof head);
    size_t len = strlen(r->spec);
    snprintf(r->spec + len, sizeof r->spec - len, ";%s", head);
    ms_model_spec spec;
    if ((rc = model_spec_parse(&spec, r->spec))) return rc;
    model_build(&r->model, &spec);
    model_init_weights(&r->model, (uint64_t)o->seed);
    if (o->batch % r->d.size != 0)
        return MS_FAIL(MS_ERR_INPUT, "--batch %d is not divisible by the %d ranks", o->batch, r->d.size);
    r->B = o->batch / r->d.size;
    if ((rc = model_plan(&r->model, r->B * r->R, r->in_h, r->in_w))) return rc;
    if (o->sync_bn) model_set_sync_bn(&r->model, r->d.comm);
    r->inputs = ms_aligned((size_t)r->B * r->R * r->corpus.C * r->in_h * r->in_w * sizeof(float));
    r->targets = ms_malloc((size_t)r->B * r->R * sizeof(int32_t));
    r->row_targets = ms_malloc((size_t)r->B * r->R * sizeof(int32_t));
    r->recon = ms_aligned((size_t)r->B * r->corpus.C * r->corpus.H * r->corpus.W * sizeof(float));

    int opt_kind = optim_kind_parse(o->optimizer);
    if (opt_kind < 0) return MS_FAIL(MS_ERR_INPUT, "--optimizer %s: expected sgd or adamw", o->optimizer);
    r->opt = opt_kind == OPT_SGD ? optim_sgd(o->momentum, 1, o->weight_decay)
                                 : optim_adamw(0.9f, 0.999f, 1e-8f, o->weight_decay);
    /* linear scaling with the global batch (Goyal et al. 2017): --lr is for 256 images */
    ms_trainer *t = &r->tr;
    *t = (ms_trainer){ .cmd = "pretrain", .d = &r->d, .model = &r->model, .opt = &r->opt,
                       .sched = { .kind = SCHED_COSINE, .base_lr = o->lr * (float)o->batch / 256.0f, .warmup_start = 0.1f },
                       .warmup_epochs = o->warmup_epochs, .ops = &pretext_ops, .ctx = r, .out = o->out,
                       .meta = { r->spec, pretext_kind_name(r->pt.kind), r->cmdline, r->pt.perms,
                                 r->pt.kind == PRETEXT_JIGSAW ? r->pt.permutations : 0 }, .epochs = o->epochs,
                       .global_batch = o->batch, .log_every = o->log_every, .keep = o->keep, .max_steps = o->max_steps,
                       .metric_key = r->classify ? "val_accuracy" : "val_mse", .higher_better = r->classify,
                       .threads = parallel_threads(), .hdf5_driver = r->corpus.driver };

    if ((rc = augment_parse(&r->aug, o->augment ? o->augment : ""))) return MS_FAIL(rc, "--%s", ms_last_error());
    /* held out: --val FILE whole, else --val-fraction of the corpus (split by seed), else nothing */
    const int split = !o->val && o->val_fraction > 0;
    ms_loader_cfg lc = { .rank = r->d.rank, .size = r->d.size, .seed = (uint64_t)o->seed, .batch = r->B,
                         .buffer = shuffle_buffer(&r->corpus, o->buffer, o->buffer_mib, 0, r->d.rank, "pretrain"),
                         .split = split ? SPLIT_TRAIN : SPLIT_ALL,
                         .val_fraction = o->val_fraction, .shuffle = 1, .augment = &r->aug };
    if ((rc = loader_open(&r->train, &r->corpus, &lc))) return rc;
    if ((rc = loader_start_epoch(r->train, 0))) return rc;
    if (split || o->val) {
        lc.split = split ? SPLIT_VAL : SPLIT_ALL;
        lc.shuffle = 0;
        lc.augment = NULL;
        if ((rc = loader_open(&r->val, o->val ? &r->val_c : &r->corpus, &lc))) return rc;
        if ((rc = loader_start_epoch(r->val, 0))) return rc;
    }
    t->train = r->train;
    t->val = r->val;
    snprintf(r->input_size, sizeof r->input_size, "%dx%dx%d", r->corpus.C, r->in_h, r->in_w);
    t->meta.input_size = r->input_size;
    return trainer_init(t, (uint64_t)o->seed, o->resume);
}

static void teardown(pretrain_run *r)
{
    loader_close(r->train);
    loader_close(r->val);
    model_free(&r->model);
    pretext_free(&r->pt);
    corpus_close(&r->corpus);
    if (r->has_val_c) corpus_close(&r->val_c);
    free(r->inputs);
    free(r->targets);
    free(r->row_targets);
    free(r->recon);
}

int cmd_pretrain(int argc, char **argv)
{
    pretrain_opts o = { .encoder = "encoder:widths=32-64-128-256,block=plain,convs=2", .optimizer = "sgd",
                        .epochs = 10, .batch = 64, .seed = 0, .keep = 3, .log_every = 50, .buffer = 4096, .buffer_mib = 256,
                        .lr = 0.1f, .weight_decay = 5e-4f, .warmup_epochs = 1, .val_fraction = 0.05f,
                        .momentum = 0.9f, .noise_sigma = -1, .mask_fraction = -1, .recon_every = 1, .recon_count = 8 };
    const ms_arg args[] = {
        { "task", ARG_STRING, &o.task, 0, 0, "rotation|jigsaw|autoencoder", "the pretext task (required)" },
        { "corpus", ARG_STRING, &o.corpus, 0, 0, "FILE", "the unlabeled corpus (required)" },
        { "out", ARG_STRING, &o.out, 0, 0, "DIR", "run folder: checkpoints and metrics.jsonl (required)" },
        { "encoder", ARG_STRING, &o.encoder, 0, 0, "SPEC", "encoder spec (default encoder:widths=32-64-128-256,convs=2)" },
        { "epochs", ARG_INT, &o.epochs, 1, 100000, NULL, "epochs (default 10)" },
        { "batch", ARG_INT, &o.batch, 1, 1 << 20, "B", "global batch in images, split over the ranks (default 64)" },
        { "lr", ARG_FLOAT, &o.lr, 1e-8, 1e6, "X", "learning rate for 256 images, scaled by batch/256 (default 0.1)" },
        { "optimizer", ARG_STRING, &o.optimizer, 0, 0, "sgd|adamw", "optimizer (default sgd, momentum 0.9, Nesterov)" },
        { "weight-decay", ARG_FLOAT, &o.weight_decay, 0, 1, "X", "weight decay (default 5e-4; none on BN and biases)" },
        { "warmup-epochs", ARG_FLOAT, &o.warmup_epochs, 0, 1000, "E", "linear warmup, then cosine decay (default 1)" },
        { "augment", ARG_STRING, &o.augment, 0, 0, "OPS", "augmentation before the pretext transform" },
        { "val", ARG_STRING, &o.val, 0, 0, "FILE", "held-out corpus for the pretext metric (instead of --val-fraction)" },
        { "val-fraction", ARG_FLOAT, &o.val_fraction, 0, 0.9, "F", "held-out fraction for the pretext metric (default 0.05)" },
        { "seed", ARG_INT, &o.seed, 0, 2147483647, "N", "seed of everything random (default 0)" },
        { "resume", ARG_STRING, &o.resume, 0, 0, "auto|PATH", "continue from the newest checkpoint in --out, or PATH" },
        { "keep", ARG_INT, &o.keep, 1, 1000, "K", "step checkpoints kept besides last.h5 and best.h5 (default 3)" },
        { "log-every", ARG_INT, &o.log_every, 1, 1000000, "N", "progress line and metrics every N steps (default 50)" },
        { "max-steps", ARG_LONG, &o.max_steps, 1, 1e15, "N", "stop (with a checkpoint) after N steps of this run" },
        { "threads", ARG_INT, &o.threads, 1, 256, "T", "threads per rank (default: cores / ranks)" },
        { "sync-bn", ARG_BOOL, &o.sync_bn, 0, 0, NULL, "BatchNorm statistics over all ranks' batches (default per rank)" },
        { "buffer", ARG_INT, &o.buffer, 1, 1 << 24, "M", "shuffle buffer in images per rank (default 4096)" },
        { "buffer-mib", ARG_FLOAT, &o.buffer_mib, 1, 1 << 24, "MIB", "and at most MIB MiB per rank (default 256)" },
        { "permutations", ARG_INT, &o.permutations, 2, 1000, "P", "jigsaw: permutation set size (default 100)" },
        { "one-rotation", ARG_BOOL, &o.one_rotation, 0, 0, NULL, "rotation: one random rotation per image, not all 4" },
        { "ae-variant", ARG_STRING, &o.ae_variant, 0, 0, "V", "autoencoder: plain|denoising|inpainting (default plain)" },
        { "noise-sigma", ARG_FLOAT, &o.noise_sigma, 0, 10, "S", "denoising: noise std" },
        { "mask-fraction", ARG_FLOAT, &o.mask_fraction, 0, 0.95, "F", "inpainting: masked fraction" },
        { "recon-every", ARG_INT, &o.recon_every, 0, 1000000, "E", "autoencoder: <out>/recon/epoch-E.png of held-out "
                                                                  "images every E epochs (default 1, 0 = never)" },
        { "recon-count", ARG_INT, &o.recon_count, 1, 64, "K", "autoencoder: images per reconstruction PNG (default 8)" },
    };
    int rc = cli_parse("pretrain", "--task T --corpus FILE --out DIR [options]",
                       "Self-supervised pretraining of an encoder with a pretext task, data-parallel under\n"
                       "mpirun/srun. SIGTERM or SIGUSR1 checkpoint and exit 0; --resume auto continues.",
                       args, (int)(sizeof args / sizeof *args), argc, argv, NULL, 0, NULL);
    if (rc) return rc < 0 ? 0 : rc;
    if (!o.task || !o.corpus || !o.out) {
        fprintf(stderr, "medssl pretrain: --task, --corpus and --out are required (see medssl pretrain --help)\n");
        return 2;
    }
    pretrain_run r;
    memset(&r, 0, sizeof r);
    int threads;
    rc = trainer_begin(&r.d, "pretrain", &argc, &argv, o.threads, o.out, r.cmdline, sizeof r.cmdline, &threads);
    if (!rc) rc = trainer_agree(&r.d, "pretrain", setup(&r, &o));
    if (rc) {
        teardown(&r);
        dist_finalize(&r.d);
        return rc;
    }
    if (r.d.rank == 0)
        fprintf(stderr, "medssl pretrain: %s on %s (%lld image%s), %d rank(s) x %d thread(s), model %s\n",
                pretext_kind_name(r.pt.kind), o.corpus, r.corpus.N, r.corpus.N == 1 ? "" : "s", r.d.size, threads, r.spec);
    rc = trainer_run(&r.tr);
    teardown(&r);
    dist_finalize(&r.d);
    return rc;
}
