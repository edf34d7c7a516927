/* trainer — the data-parallel training loop that `pretrain` and `finetune`
 * share: epochs of loader batches, bucketed gradient all-reduce overlapped
 * with backward, the optimizer step under a warmup + cosine schedule, the
 * validation metric each epoch, checkpoints (step-*.h5, last.h5, best.h5),
 * metrics.jsonl, SIGTERM/SIGUSR1, divergence and early stopping.
 *
 * What is trained is a task: a table of three functions over the task's own
 * context (pretext tasks in pretrain, classify/segment in finetune):
 *
 *   prepare(ctx, batch, epoch, training)   builds the model inputs and targets of a
 *       loader batch and sets the model's rows; returns the batch's loss terms
 *       (0 for an empty batch)
 *   loss(ctx, terms, training, weight, key, &score, &count)
 *       forward + loss (+ d(loss)/d(output) scaled by `weight` when training);
 *       score/count accumulate the validation metric (metric = sum score / sum count)
 *   epoch_begin(ctx, epoch)  optional: called before every epoch (also the one a
 *       run resumes in), e.g. to unfreeze layers in two-stage fine-tuning
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
#include "medssl/loader.h"
#include "medssl/model.h"
#include "medssl/optim.h"

typedef struct {
    int (*prepare)(void *ctx, const ms_batch *b, long epoch, int training);
    double (*loss)(void *ctx, int terms, int training, float weight, uint64_t dropout_key, double *score,
                   double *count);
    int (*epoch_begin)(void *ctx, long epoch); /* may be NULL */
} ms_task_ops;

typedef struct {
    /* set by the caller */
    const char *cmd;            /* "pretrain", for messages */
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
    const char *hdf5_driver;    /* the corpus's HDF5 driver (recorded with the run), or NULL */
    const char *metric_key;     /* metrics.jsonl key, e.g. "val_accuracy" */
    int higher_better;
    int select_loss;            /* best.h5 and early stopping by the validation loss instead */
    /* state (trainer_init / trainer_resume fill it) */
    ms_train_state st;
    double best_metric;         /* best so far, in "higher is better" orientation */
    long best_epoch;
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
/* The start every training command shares: records the command line in
 * cmdline (for the checkpoints), joins MPI (dist_init), sets the threads per
 * rank (threads <= 0: cores / ranks; the number used goes to *threads_used),
 * installs the stop signals and makes the run folder `out` on rank 0, agreed
 * by all ranks. Returns 0 or the exit code (the message is printed). */
int trainer_begin(ms_dist *d, const char *cmd, int *argc, char ***argv, int threads, const char *out, char *cmdline,
                  size_t cap, int *threads_used);
/* A collective after a setup step that may fail on some ranks: every rank
 * gets the worst code; a failing rank prints its message (naming the rank
 * when there are several), rank 0 says when only another rank failed; the
 * error is then cleared (ms_clear_error), so callers print nothing more. */
int trainer_agree(const ms_dist *d, const char *cmd, int rc);
/* Mean validation loss and metric over all ranks (a collective). */
int trainer_validate(ms_trainer *t, double *val_loss, double *metric);

#endif
