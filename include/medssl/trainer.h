/* trainer — the data-parallel training loop that `pretrain` and `finetune`
 * share: epochs of loader batches, bucketed gradient all-reduce overlapped
 * with backward, the optimizer step under a warmup + cosine schedule, the
 * validation metric each epoch, checkpoints (step-*.h5, last.h5, best.h5),
 * metrics.jsonl, SIGTERM/SIGUSR1, divergence and early stopping.
 *
 * What is trained is a task, seen only through its ms_task_ops table
 * (medssl/task_ops.h): pretext tasks in pretrain, classify/segment in finetune.
 *
 * Per step, the loss weight is (this rank's terms x ranks / all terms), so the
 * mean of the ranks' gradients that the all-reduce computes is the gradient of
 * the mean loss over the global batch, also for a short or empty last batch.
 * Resume continues bit-identically for the same seed and rank count: the
 * loader skips the batches of the current epoch already done.
 */
#ifndef MEDSSL_TRAINER_H
#define MEDSSL_TRAINER_H

#include <stddef.h>
#include <stdint.h>

#include "medssl/ckpt.h"
#include "medssl/dist.h"
#include "medssl/json.h"
#include "medssl/log.h"
#include "medssl/loader.h"
#include "medssl/model.h"
#include "medssl/optim.h"
#include "medssl/task_ops.h"


/* What an epoch callback sees after each epoch, on every rank: the same
 * numbers everywhere but images_per_s (this rank's clock). */
typedef struct {
    long epoch;                 /* 0-based: the epoch that just ended */
    long long step;
    double train_loss;          /* mean over the epoch */
    double val_loss, metric;    /* NaN without validation */
    const char *metric_key;     /* e.g. "val_accuracy" */
    int is_best;                /* best.h5 is this epoch's model */
    double images_per_s;
} ms_epoch_report;
/* Nonzero on any rank ends the run after this epoch's checkpoint. */
typedef int (*ms_epoch_fn)(void *user, const ms_epoch_report *r);

typedef struct {
    /* set by the caller */
    const char *cmd;            /* "pretrain", for messages */
    ms_logger log;              /* progress, notes and errors ({NULL}: stderr) */
    ms_epoch_fn on_epoch;       /* NULL: none */
    void *on_epoch_user;
    const ms_dist *d;
    ms_model *model;
    ms_optim *opt;
    ms_sched sched;             /* base_lr etc.; total/warmup steps are set by trainer_run */
    float warmup_epochs;
    ms_loader *train, *val;     /* val may be NULL */
    const ms_task_ops *ops;
    void *ctx;
    const char *out;            /* run folder */
    ms_ckpt_meta meta;
    int epochs, global_batch, log_every, keep, patience; /* patience 0: no early stopping */
    long max_steps;             /* 0: none */
    int threads;                /* threads per rank (recorded with the run) */
    int quiet;                  /* no progress lines */
    const char *hdf5_driver;    /* the corpus's HDF5 driver (recorded with the run), or NULL */
    int select_loss;            /* best.h5 and early stopping by the validation loss instead */
    /* state (trainer_init / trainer_resume fill it) */
    ms_train_state st;
    double best_metric;         /* best so far, in "higher is better" orientation */
    long best_epoch;
    double last_metric, last_train_loss; /* of the last epoch */
    int stopped;                /* trainer_run ended by a signal or max_steps */
    int ended_by_caller;        /* trainer_run ended because on_epoch asked */
    long long first_step;       /* the step trainer_run started at (after a resume: > 0) */
    ms_grad_sync sync;
    char environment[2048];     /* runenv_describe's JSON, in every checkpoint and metrics.jsonl's start line */
    /* measured over the whole run, seconds on this rank */
    double t_loader_wait, t_allreduce_wait, t_total;
} ms_trainer;

/* Initial state: weights broadcast from rank 0, or restored from `resume`
 * ("auto": the newest complete checkpoint in out, if any; a path; NULL: none).
 * Appends the start line {"event": "start", "time": UTC, "step": S, "resumed_from": PATH or
 * null, "environment": {...}} to metrics.jsonl (runenv.h) on rank 0.
 * A checkpoint whose model_spec differs from meta.model_spec, or written with
 * another global batch, is MS_ERR_INPUT. */
int trainer_init(ms_trainer *t, uint64_t seed, const char *resume);
/* Trains to the end (or a stop); returns the exit code (0, 1 on divergence
 * or a write failure, 2 on bad input met while reading). */
int trainer_run(ms_trainer *t);
/* Mean validation loss and metric over all ranks (a collective). */
int trainer_validate(ms_trainer *t, double *val_loss, double *metric);

/* ---- one step, shared by the trainer, `medssl bench` and the MPI tests ---- */

/* Forward and loss of this rank's batch: fills the model's output gradient
 * (scaled for the mean over the global batch) and returns the loss. */
typedef double (*ms_step_loss_fn)(void *ctx, uint64_t dropout_key);
typedef struct {
    double allreduce_wait_s;    /* waiting in grad_sync_finish */
    int buckets_during_backward; /* all-reduces launched while backward still ran */
} ms_step_stats;
/* One data-parallel step: zero the gradients, loss(ctx) (NULL: this rank has
 * no rows this step; it joins every collective with zero gradients), backward
 * with the gradient all-reduce overlapped in buckets, then the optimizer at lr
 * (opt NULL: gradients only). stats may be NULL. */
/* The trainer's step loss over a task, an ms_step_loss_fn whose ctx is an
 * ms_task_step: ops->loss(ctx) of the batch ops->prepare made, with its loss
 * terms and weight (see above); the result also lands in loss. */
typedef struct {
    const ms_task_ops *ops;
    void *ctx;
    int terms;
    float weight;
    double loss;
} ms_task_step;
double task_step_loss(void *step, uint64_t dropout_key);

void train_step(ms_model *m, ms_grad_sync *sync, ms_optim *opt, float lr, uint64_t key, ms_step_loss_fn loss,
                void *ctx, ms_step_stats *stats);

#endif
