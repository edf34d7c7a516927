/* run — a training run as a library call.
 *
 * `medssl pretrain` and `medssl finetune` are flag maps onto these functions;
 * `ensemble train` calls finetune_run once per member with a resampling, and
 * code that trains many models in one process (architecture search, a
 * generator's inner loop) calls them the same way:
 *
 *     ms_dist d;                       // dist_init once per process
 *     ms_finetune_cfg c;
 *     finetune_cfg_defaults(&c);
 *     c.run.out = "runs/trial-17";
 *     c.task = "classify"; c.train = "train.h5"; c.strategy = "finetune";
 *     c.init = "runs/pre/best.h5"; c.run.epochs = 5; c.run.quiet = 1;
 *     ms_run_result res;
 *     int rc = finetune_run(&c, &d, &res);  // 0, 1 runtime, 2 bad input
 *     ... res.best_metric ...
 *
 * A run is collective over d->comm (every rank of it calls with the same
 * configuration) and owns its run folder for its duration (rank 0 holds
 * <out>/.medssl.lock). It writes its progress, notes and errors through
 * cfg.run.log (stderr when empty), one message per failure (naming the rank
 * when there are several), and returns the exit code: every rank returns the
 * same one. cfg.run.on_epoch sees every epoch's numbers and may end the run
 * there (a search pruning a poor trial): res.ended_by_caller says so. Nothing of one run stays
 * behind in the process for the next (memory, threads setting apart: the
 * number of threads per rank is a process setting, parallel_set_threads).
 * Stop signals (runctl_install_signals, installed by the caller) end a run
 * after its step with a checkpoint; res.stopped says so.
 */
#ifndef MEDSSL_RUN_H
#define MEDSSL_RUN_H

#include <stdint.h>

#include "medssl/dist.h"
#include "medssl/log.h"
#include "medssl/trainer.h"

/* What every training run takes: the flags pretrain and finetune share. */
typedef struct {
    const char *out;          /* run folder: checkpoints and metrics.jsonl (required) */
    const char *resume;       /* "auto", a checkpoint path, or NULL */
    const char *optimizer;    /* "sgd" (Nesterov) or "adamw" */
    const char *augment;      /* augmentation pipeline (medssl preview), or NULL */
    const char *val;          /* held-out corpus, or NULL: val_fraction of the training corpus */
    const char *cmdline;      /* recorded in the checkpoints; NULL: "(library call)" */
    int epochs, batch;        /* batch: global, split over the ranks */
    int seed, keep, log_every, buffer, sync_bn;
    int quiet;                /* 1: no progress lines (errors and the final line only) */
    long max_steps;           /* 0: none */
    float lr;                 /* for 256 images, scaled by batch / 256 */
    float momentum, weight_decay, warmup_epochs, val_fraction, buffer_mib;
    ms_logger log;            /* where the run's lines go ({NULL}: stderr) */
    ms_epoch_fn on_epoch;     /* after each epoch, on every rank (medssl/trainer.h), or NULL */
    void *on_epoch_user;
} ms_run_cfg;

/* What a finished (or stopped) run reports, on every rank. */
typedef struct {
    long long steps;          /* the run's step count at its end */
    long epochs_done;
    long best_epoch;          /* -1: no epoch ended */
    double best_metric;       /* the validation metric of best.h5 (NaN without validation) */
    double best_val_loss;
    double last_val_metric;   /* of the last epoch (NaN without validation) */
    double last_train_loss;   /* mean over the last epoch */
    double images_per_s;      /* over the run */
    int stopped;              /* by a signal or max_steps: resume continues */
    int ended_by_caller;      /* on_epoch ended it (a finished run: best.h5 and last.h5 are written) */
    const char *metric_key;   /* e.g. "val_accuracy" */
} ms_run_result;

/* ---- pretraining (pretext tasks) ---- */

typedef struct {
    ms_run_cfg run;
    const char *task;         /* "rotation", "jigsaw" or "autoencoder" (required) */
    const char *corpus;       /* unlabeled corpus (required) */
    const char *encoder;      /* encoder spec without head */
    const char *ae_variant;   /* autoencoder: plain|denoising|inpainting, or NULL */
    int permutations;         /* jigsaw: 0 = default (100) */
    int one_rotation;         /* rotation: one random rotation per image */
    int recon_every, recon_count; /* autoencoder: <out>/recon/epoch-E.png */
    float noise_sigma, mask_fraction; /* < 0: the task's default */
} ms_pretrain_cfg;

void pretrain_cfg_defaults(ms_pretrain_cfg *c);
int pretrain_run(const ms_pretrain_cfg *c, const ms_dist *d, ms_run_result *res);

/* ---- transfer to a labeled task ---- */

typedef struct {
    ms_run_cfg run;
    const char *task;         /* "classify" or "segment" (required) */
    const char *train;        /* labeled corpus (required) */
    const char *strategy;     /* feature-extractor|finetune|two-stage|scratch (required) */
    const char *init;         /* a checkpoint whose encoder is loaded, or NULL */
    const char *encoder;      /* encoder spec without init */
    const char *freeze, *unfreeze, *features, *head, *head_norm, *class_weights, *balance, *domains, *select;
    const char *feature_subset; /* classify: a medssl select output (SUBSET.json): the head sees only its
                                   "selected" features (the spec's head subset=), or NULL */
    int hidden, stage1_epochs, patience, classes, target_domain, keep_head, no_feature_cache;
    long steps_per_epoch;
    float dropout, encoder_lr_mult, target_weight;
    const uint16_t *resample; /* (N of train) draws of each sample (ensemble members), or NULL */
} ms_finetune_cfg;

void finetune_cfg_defaults(ms_finetune_cfg *c);
int finetune_run(const ms_finetune_cfg *c, const ms_dist *d, ms_run_result *res);

#endif
