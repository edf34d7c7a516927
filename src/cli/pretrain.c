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
#include "medssl/pretext.h"
#include "medssl/rng.h"
#include "medssl/runctl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *task, *corpus, *out, *encoder, *augment, *resume, *optimizer, *ae_variant;
    int epochs, batch, seed, threads, keep, log_every, permutations, one_rotation, buffer;
    long max_steps;
    float lr, weight_decay, warmup_epochs, val_fraction, momentum, noise_sigma, mask_fraction;
} pretrain_opts;

typedef struct {
    ms_dist d;
    ms_corpus corpus;
    ms_pretext pt;
    ms_model model;
    ms_optim opt;
    ms_sched sched;
    ms_augment aug;
    ms_loader *train, *val;
    ms_grad_sync sync;
    ms_train_state st;
    char spec[1024], cmdline[2048];
    int R, in_h, in_w, B;          /* rows per image, model input, images per rank-batch */
    float *inputs, *recon;
    int32_t *targets, *row_targets;
    double best_metric;
    int classify;                   /* rotation/jigsaw: 1, autoencoder: 0 */
} pretrain_run;

static int fail_all(pretrain_run *r, int code)
{
    if (r->d.size > 1) fprintf(stderr, "medssl pretrain: rank %d: %s\n", r->d.rank, ms_last_error());
    else fprintf(stderr, "medssl pretrain: %s\n", ms_last_error());
    return code;
}

/* Pretext inputs/targets for one loader batch, and the model set to run on
 * exactly its rows (a short last batch is computed exactly: no padding rows in
 * the BN statistics). Returns the number of loss terms: target rows for
 * classification, images for the autoencoder. */
static int make_batch(pretrain_run *r, const ms_batch *b, long epoch)
{
    if (b->n == 0) return 0;
    pretext_make(&r->pt, b->images, b->index, b->n, epoch, r->inputs, r->targets, r->recon);
    CHECK(model_set_rows(&r->model, b->n * r->R) == 0);
    if (!r->classify) return b->n;
    return r->pt.kind == PRETEXT_JIGSAW ? b->n : b->n * r->R;
}

/* Forward + loss (+ gradient into the output when `train`), for this rank.
 * `weight` scales the gradient so that the all-reduced mean is the global mean.
 * *score: correct predictions (classification) or the sum of squared errors. */
static double loss_and_score(pretrain_run *r, int valid, int train, float weight, double *score)
{
    ms_model *m = &r->model;
    uint64_t key = rng_key(r->st.seed, (uint64_t)r->st.epoch, (uint64_t)r->st.step, RNG_DROPOUT);
    *score = 0;
    if (valid == 0) return 0;
    float *out = model_forward(m, r->inputs, train, key);
    const int rows = model_output_rows(m);
    if (r->classify) {
        const int K = pretext_classes(&r->pt);
        const int32_t *tg = r->targets;
        if (r->pt.kind == PRETEXT_JIGSAW) { /* one output row per image: the target of its first tile */
            for (int i = 0; i < rows; i++) r->row_targets[i] = r->targets[(size_t)i * r->R];
            tg = r->row_targets;
        }
        float loss = softmax_ce_loss(train ? model_output_grad(m) : NULL, out, tg, NULL, -1, rows, K, 1, weight);
        for (int i = 0; i < rows; i++) {
            if (tg[i] < 0) continue;
            int best = 0;
            for (int k = 1; k < K; k++)
                if (out[(size_t)i * K + k] > out[(size_t)i * K + best]) best = k;
            *score += best == tg[i];
        }
        return loss;
    }
    const size_t n = (size_t)valid * r->corpus.C * r->in_h * r->in_w;
    float loss = mse_loss(train ? model_output_grad(m) : NULL, out, r->recon, n, weight);
    *score = (double)loss * (double)n;
    return loss;
}

static int save_checkpoints(pretrain_run *r, const char *out, int is_best)
{
    if (r->d.rank != 0) return MS_OK;
    ms_ckpt_meta meta = { r->spec, pretext_kind_name(r->pt.kind), r->cmdline };
    char path[4096];
    runctl_ckpt_name(path, sizeof path, out, r->st.step);
    int rc = ckpt_save(path, &r->model.slab, &r->opt, &r->st, &meta);
    snprintf(path, sizeof path, "%s/last.h5", out);
    if (!rc) rc = ckpt_save(path, &r->model.slab, &r->opt, &r->st, &meta);
    snprintf(path, sizeof path, "%s/best.h5", out);
    if (!rc && is_best) rc = ckpt_save(path, &r->model.slab, &r->opt, &r->st, &meta);
    return rc;
}

/* Runs the validation split: mean loss and the pretext metric over all ranks. */
static void validate(pretrain_run *r, double *val_loss, double *metric)
{
    double sums[3] = { 0, 0, 0 }, all[3]; /* loss * count, score, count */
    for (long long s = 0, steps = loader_steps(r->val); s < steps; s++) {
        ms_batch b;
        if (loader_next(r->val, &b)) break;
        int valid = make_batch(r, &b, 0);
        double score;
        double loss = loss_and_score(r, valid, 0, 1.0f, &score);
        double count = r->classify ? (double)valid : (double)valid * r->corpus.C * r->in_h * r->in_w;
        sums[0] += loss * count;
        sums[1] += score;
        sums[2] += count;
    }
    MPI_Allreduce(sums, all, 3, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    *val_loss = all[2] > 0 ? all[0] / all[2] : NAN;
    *metric = all[2] > 0 ? all[1] / all[2] : NAN; /* accuracy, or MSE for the autoencoder */
}

static int train(pretrain_run *r, const pretrain_opts *o)
{
    const long long steps_per_epoch = loader_steps(r->train);
    const long long total_steps = (long long)o->epochs * steps_per_epoch;
    const int global_batch = o->batch;
    r->sched.total_steps = total_steps;
    r->sched.warmup_steps = (long)(o->warmup_epochs * (float)steps_per_epoch);
    if (r->st.step > 0 && r->d.rank == 0)
        fprintf(stderr, "medssl pretrain: resuming at step %lld (epoch %lld)\n", r->st.step, r->st.step / steps_per_epoch);
    double t_log = ms_now(), t_epoch = t_log, loss_sum = 0, epoch_loss = 0;
    long long log_n = 0, epoch_n = 0, imgs = 0;
    const double t_start = ms_now();
    const long long step0 = r->st.step;
    while (r->st.step < total_steps) {
        const long epoch = (long)(r->st.step / steps_per_epoch);
        const long long in_epoch = r->st.step % steps_per_epoch;
        r->st.epoch = epoch;
        if (in_epoch == 0 || r->st.step == step0) {
            if (loader_start_epoch(r->train, epoch)) return fail_all(r, MS_ERR_INPUT);
            for (long long k = 0; k < in_epoch; k++) { /* resume inside an epoch: skip what was done */
                ms_batch skip;
                if (loader_next(r->train, &skip)) return fail_all(r, MS_ERR_INPUT);
            }
            epoch_loss = 0;
            epoch_n = 0;
            t_epoch = ms_now();
        }
        ms_batch b;
        if (loader_next(r->train, &b)) return fail_all(r, MS_ERR_INPUT);
        int valid = make_batch(r, &b, epoch), valid_all = valid;
        MPI_Allreduce(&valid, &valid_all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        const float weight = valid_all > 0 ? (float)valid * (float)r->d.size / (float)valid_all : 0.0f;
        slab_zero_grad(&r->model.slab);
        double score;
        double loss = loss_and_score(r, valid, 1, weight, &score);
        int bad = !isfinite(loss), any_bad = bad;
        MPI_Allreduce(&bad, &any_bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        if (any_bad) {
            char last[4096];
            runctl_find_latest(o->out, last, sizeof last);
            if (bad) fprintf(stderr, "medssl pretrain: rank %d: non-finite loss (%g) at epoch %ld, step %lld\n", r->d.rank,
                             loss, epoch, r->st.step);
            if (r->d.rank == 0 && last[0])
                fprintf(stderr, "medssl pretrain: the loss diverged; stopped all ranks. The last good checkpoint is %s: "
                                "lower --lr and resume from it (--resume %s)\n", last, last);
            else if (r->d.rank == 0)
                fprintf(stderr, "medssl pretrain: the loss diverged before the first checkpoint; stopped all ranks. "
                                "Lower --lr and start again\n");
            return 1;
        }
        grad_sync_begin(&r->sync);
        if (valid > 0)
            model_backward(&r->model, rng_key(r->st.seed, (uint64_t)epoch, (uint64_t)r->st.step, RNG_DROPOUT),
                           dist_grads_ready, &r->sync);
        else /* an empty last batch on this rank: zero gradients, same collectives */
            model_backward_skip(&r->model, dist_grads_ready, &r->sync);
        grad_sync_finish(&r->sync);
        const float lr = sched_lr(&r->sched, r->st.step);
        optim_step(&r->opt, &r->model.slab, lr);
        r->st.step++;
        r->st.samples_seen += global_batch;
        double mean_loss = 0, loss_w = valid_all > 0 ? loss * valid / valid_all : 0;
        MPI_Allreduce(&loss_w, &mean_loss, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        loss_sum += mean_loss;
        epoch_loss += mean_loss;
        log_n++;
        epoch_n++;
        imgs += global_batch;
        const int epoch_end = r->st.step % steps_per_epoch == 0;
        int is_best = 0;
        if (r->d.rank == 0 && (r->st.step % o->log_every == 0 || epoch_end)) {
            double now = ms_now(), ips = (double)imgs / (now - t_log);
            double eta = (double)(total_steps - r->st.step) * (now - t_start) / (double)(r->st.step - step0);
            fprintf(stderr, "epoch %ld/%d  step %lld/%lld  loss %.4f  lr %.4g  %.1f img/s  ETA %dm%02ds\n", epoch + 1,
                    o->epochs, r->st.step, total_steps, loss_sum / log_n, lr, ips, (int)(eta / 60), (int)eta % 60);
            char line[512];
            snprintf(line, sizeof line, "{\"epoch\": %ld, \"step\": %lld, \"loss\": %.6g, \"lr\": %.6g, \"images_per_s\": %.2f}",
                     epoch, r->st.step, loss_sum / log_n, lr, ips);
            if (runctl_append_metrics(o->out, line)) return fail_all(r, MS_ERR_RUNTIME);
            t_log = now;
            loss_sum = 0;
            log_n = 0;
            imgs = 0;
        }
        int stop = runctl_stop_requested(&r->d);
        int step_limit = o->max_steps > 0 && r->st.step - step0 >= o->max_steps;
        if (epoch_end) {
            const double epoch_ips = (double)epoch_n * global_batch / (ms_now() - t_epoch);
            double val_loss = NAN, metric = NAN;
            if (r->val) {
                if (loader_start_epoch(r->val, 0)) return fail_all(r, MS_ERR_INPUT);
                validate(r, &val_loss, &metric);
            }
            if (r->val) {
                double m = r->classify ? metric : -metric;
                is_best = !(m <= r->best_metric);
                if (is_best) r->best_metric = m;
            }
            if (r->d.rank == 0) {
                char line[512];
                if (r->classify)
                    snprintf(line, sizeof line,
                             "{\"epoch\": %ld, \"step\": %lld, \"loss\": %.6g, \"lr\": %.6g, \"images_per_s\": %.2f, "
                             "\"val_loss\": %.6g, \"val_accuracy\": %.6g}",
                             epoch, r->st.step, epoch_loss / epoch_n, lr, epoch_ips, val_loss, metric);
                else
                    snprintf(line, sizeof line,
                             "{\"epoch\": %ld, \"step\": %lld, \"loss\": %.6g, \"lr\": %.6g, \"images_per_s\": %.2f, "
                             "\"val_loss\": %.6g, \"val_mse\": %.6g, \"val_psnr\": %.4g}",
                             epoch, r->st.step, epoch_loss / epoch_n, lr, epoch_ips, val_loss, metric, 10 * log10(1.0 / metric));
                if (r->val) {
                    fprintf(stderr, "epoch %ld/%d  validation: loss %.4f  %s %.4f%s\n", epoch + 1, o->epochs, val_loss,
                            r->classify ? "accuracy" : "mse", metric, is_best ? "  (best)" : "");
                    if (runctl_append_metrics(o->out, line)) return fail_all(r, MS_ERR_RUNTIME);
                }
            }
            r->st.epoch = epoch + 1;
        }
        if (epoch_end || stop || step_limit) {
            if (save_checkpoints(r, o->out, is_best) || (r->d.rank == 0 && runctl_prune(o->out, o->keep)))
                return fail_all(r, MS_ERR_RUNTIME);
        }
        if (stop || step_limit) {
            if (r->d.rank == 0)
                fprintf(stderr, "medssl pretrain: %s after step %lld; checkpoint written, resume with --resume auto\n",
                        stop ? "stopped by a signal" : "stopped at --max-steps", r->st.step);
            return 0;
        }
    }
    if (r->d.rank == 0) fprintf(stderr, "medssl pretrain: done: %lld steps; %s/last.h5\n", r->st.step, o->out);
    return 0;
}

static int setup(pretrain_run *r, const pretrain_opts *o)
{
    int kind = pretext_kind_parse(o->task);
    if (kind < 0)
        return MS_FAIL(MS_ERR_INPUT, "--task %s: expected rotation, jigsaw or autoencoder", o->task);
    int rc = corpus_open(&r->corpus, o->corpus);
    if (rc) return rc;
    /* the encoder spec, with the corpus's channel count */
    ms_model_spec enc;
    char enc_text[512];
    snprintf(enc_text, sizeof enc_text, "%s", o->encoder);
    if (strncmp(enc_text, "encoder:", 8) != 0)
        return MS_FAIL(MS_ERR_INPUT, "--encoder %s: expected encoder:widths=...,block=...,convs=...", o->encoder);
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
    r->inputs = ms_aligned((size_t)r->B * r->R * r->corpus.C * r->in_h * r->in_w * sizeof(float));
    r->targets = ms_malloc((size_t)r->B * r->R * sizeof(int32_t));
    r->row_targets = ms_malloc((size_t)r->B * r->R * sizeof(int32_t));
    r->recon = ms_aligned((size_t)r->B * r->corpus.C * r->corpus.H * r->corpus.W * sizeof(float));

    int opt_kind = optim_kind_parse(o->optimizer);
    if (opt_kind < 0) return MS_FAIL(MS_ERR_INPUT, "--optimizer %s: expected sgd or adamw", o->optimizer);
    r->opt = opt_kind == OPT_SGD ? optim_sgd(o->momentum, 1, o->weight_decay)
                                 : optim_adamw(0.9f, 0.999f, 1e-8f, o->weight_decay);
    /* linear scaling with the global batch (Goyal et al. 2017): --lr is for 256 images */
    r->sched = (ms_sched){ .kind = SCHED_COSINE, .base_lr = o->lr * (float)o->batch / 256.0f, .warmup_start = 0.1f };

    if ((rc = augment_parse(&r->aug, o->augment ? o->augment : ""))) return MS_FAIL(rc, "--augment: %s", ms_last_error());
    ms_loader_cfg lc = { .rank = r->d.rank, .size = r->d.size, .seed = (uint64_t)o->seed, .batch = r->B,
                         .buffer = o->buffer, .split = o->val_fraction > 0 ? SPLIT_TRAIN : SPLIT_ALL,
                         .val_fraction = o->val_fraction, .shuffle = 1, .augment = &r->aug };
    if ((rc = loader_open(&r->train, &r->corpus, &lc))) return rc;
    if ((rc = loader_start_epoch(r->train, 0))) return rc;
    if (o->val_fraction > 0) {
        lc.split = SPLIT_VAL;
        lc.shuffle = 0;
        lc.augment = NULL;
        if ((rc = loader_open(&r->val, &r->corpus, &lc))) return rc;
        if ((rc = loader_start_epoch(r->val, 0))) return rc;
    }
    r->st = (ms_train_state){ .seed = (uint64_t)o->seed };
    r->best_metric = -INFINITY;

    /* resume, or start from rank 0's weights */
    char path[4096] = "";
    if (o->resume && strcmp(o->resume, "auto") == 0) {
        if ((rc = runctl_find_latest(o->out, path, sizeof path))) return rc;
        if (!path[0] && r->d.rank == 0) fprintf(stderr, "medssl pretrain: no checkpoint in %s; starting fresh\n", o->out);
    } else if (o->resume) {
        snprintf(path, sizeof path, "%s", o->resume);
    }
    if (path[0]) {
        char spec_in[1024];
        if ((rc = ckpt_read_meta(path, spec_in, sizeof spec_in, NULL, 0))) return rc;
        if (strcmp(spec_in, r->spec) != 0)
            return MS_FAIL(MS_ERR_INPUT, "%s: model_spec '%s' differs from this run's '%s'", path, spec_in, r->spec);
        if ((rc = ckpt_load(path, &r->model.slab, "", &r->opt, &r->st, NULL))) return rc;
        if (r->st.samples_seen != r->st.step * (long long)o->batch)
            return MS_FAIL(MS_ERR_INPUT, "%s: written with another --batch (resume with the same --batch)", path);
        if (r->d.rank == 0) fprintf(stderr, "medssl pretrain: resuming from %s\n", path);
    } else {
        dist_broadcast_params(&r->d, &r->model.slab);
    }
    grad_sync_init(&r->sync, &r->d, &r->model.slab, (size_t)1 << 20);
    return MS_OK;
}

static void teardown(pretrain_run *r)
{
    loader_close(r->train);
    loader_close(r->val);
    model_free(&r->model);
    pretext_free(&r->pt);
    corpus_close(&r->corpus);
    free(r->inputs);
    free(r->targets);
    free(r->row_targets);
    free(r->recon);
}

int cmd_pretrain(int argc, char **argv)
{
    pretrain_opts o = { .encoder = "encoder:widths=32-64-128-256,block=plain,convs=2", .optimizer = "sgd",
                        .epochs = 10, .batch = 64, .seed = 0, .keep = 3, .log_every = 50, .buffer = 4096,
                        .lr = 0.1f, .weight_decay = 5e-4f, .warmup_epochs = 1, .val_fraction = 0.05f,
                        .momentum = 0.9f, .noise_sigma = -1, .mask_fraction = -1 };
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
        { "val-fraction", ARG_FLOAT, &o.val_fraction, 0, 0.9, "F", "held-out fraction for the pretext metric (default 0.05)" },
        { "seed", ARG_INT, &o.seed, 0, 2147483647, "N", "seed of everything random (default 0)" },
        { "resume", ARG_STRING, &o.resume, 0, 0, "auto|PATH", "continue from the newest checkpoint in --out, or PATH" },
        { "keep", ARG_INT, &o.keep, 1, 1000, "K", "step checkpoints kept besides last.h5 and best.h5 (default 3)" },
        { "log-every", ARG_INT, &o.log_every, 1, 1000000, "N", "progress line and metrics every N steps (default 50)" },
        { "max-steps", ARG_LONG, &o.max_steps, 1, 1e15, "N", "stop (with a checkpoint) after N steps of this run" },
        { "threads", ARG_INT, &o.threads, 1, 256, "T", "threads per rank (default: cores / ranks)" },
        { "buffer", ARG_INT, &o.buffer, 1, 1 << 24, "M", "shuffle buffer in images per rank (default 4096)" },
        { "permutations", ARG_INT, &o.permutations, 2, 1000, "P", "jigsaw: permutation set size (default 100)" },
        { "one-rotation", ARG_BOOL, &o.one_rotation, 0, 0, NULL, "rotation: one random rotation per image, not all 4" },
        { "ae-variant", ARG_STRING, &o.ae_variant, 0, 0, "V", "autoencoder: plain|denoising|inpainting (default plain)" },
        { "noise-sigma", ARG_FLOAT, &o.noise_sigma, 0, 10, "S", "denoising: noise std" },
        { "mask-fraction", ARG_FLOAT, &o.mask_fraction, 0, 0.95, "F", "inpainting: masked fraction" },
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
    size_t len = 0;
    for (int i = 0; i < argc && len + 2 < sizeof r.cmdline; i++)
        len += (size_t)snprintf(r.cmdline + len, sizeof r.cmdline - len, "%s%s", i ? " " : "medssl ", argv[i]);
    if (dist_init(&r.d, &argc, &argv)) return cli_report("pretrain", MS_ERR_RUNTIME);
    int threads = o.threads;
    if (threads <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cores > r.d.size ? (int)(cores / r.d.size) : 1;
    }
    parallel_set_threads(threads);
    runctl_install_signals();
    rc = r.d.rank == 0 ? runctl_make_dir(o.out) : MS_OK;
    int rc_all = rc;
    MPI_Allreduce(&rc, &rc_all, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (!rc_all) {
        rc = setup(&r, &o);
        MPI_Allreduce(&rc, &rc_all, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    }
    if (rc_all) {
        if (rc) fail_all(&r, rc);
        else if (r.d.rank == 0 && r.d.size > 1) fprintf(stderr, "medssl pretrain: another rank failed; stopping\n");
        teardown(&r);
        dist_finalize(&r.d);
        return rc_all;
    }
    if (r.d.rank == 0)
        fprintf(stderr, "medssl pretrain: %s on %s (%lld images), %d rank(s) x %d thread(s), model %s\n",
                pretext_kind_name(r.pt.kind), o.corpus, r.corpus.N, r.d.size, threads, r.spec);
    rc = train(&r, &o);
    teardown(&r);
    dist_finalize(&r.d);
    return rc;
}
