/* run — what the training runs share (src/train/run_internal.h): the run
 * folder, the optimizer, the trainer's settings, the result. */
#include "run_internal.h"
#include "medssl/common.h"
#include "medssl/log.h"
#include "medssl/loader.h"
#include "medssl/parallel.h"
#include "medssl/runctl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int run_begin(const ms_dist *d, const char *cmd, const ms_run_cfg *cfg)
{
    int rc = MS_OK;
    if (!cfg->out || !*cfg->out) rc = MS_FAIL(MS_ERR_INPUT, "no run folder (--out)");
    else if (cfg->batch < 1 || cfg->epochs < 1) rc = MS_FAIL(MS_ERR_INPUT, "--batch and --epochs must be at least 1");
    else if (cfg->batch % d->size != 0)
        rc = MS_FAIL(MS_ERR_INPUT, "--batch %d is not divisible by the %d ranks", cfg->batch, d->size);
    if (dist_agree(d, cmd, rc)) return MS_ERR_INPUT;
    if (d->rank == 0 && !(rc = runctl_make_dir(cfg->out))) rc = runctl_own_dir(cfg->out); /* rank 0 is the one writer */
    return dist_agree(d, cmd, rc);
}

int run_optimizer(const ms_run_cfg *cfg, ms_optim *opt)
{
    const int kind = optim_kind_parse(cfg->optimizer ? cfg->optimizer : "sgd");
    if (kind < 0) return MS_FAIL(MS_ERR_INPUT, "--optimizer %s: expected sgd or adamw", cfg->optimizer);
    *opt = kind == OPT_SGD ? optim_sgd(cfg->momentum, 1, cfg->weight_decay)
                           : optim_adamw(0.9f, 0.999f, 1e-8f, cfg->weight_decay);
    return MS_OK;
}

void run_trainer(ms_trainer *t, const char *cmd, const ms_dist *d, const ms_run_cfg *cfg)
{
    /* linear scaling with the global batch (Goyal et al. 2017): lr is for 256 images */
    *t = (ms_trainer){ .cmd = cmd, .d = d,
                       .sched = { .kind = SCHED_COSINE, .base_lr = cfg->lr * (float)cfg->batch / 256.0f,
                                  .warmup_start = 0.1f },
                       .warmup_epochs = cfg->warmup_epochs, .out = cfg->out, .epochs = cfg->epochs,
                       .global_batch = cfg->batch, .log_every = cfg->log_every > 0 ? cfg->log_every : 50,
                       .keep = cfg->keep > 0 ? cfg->keep : 1, .max_steps = cfg->max_steps,
                       .threads = parallel_threads(), .quiet = cfg->quiet, .log = cfg->log,
                       .on_epoch = cfg->on_epoch, .on_epoch_user = cfg->on_epoch_user };
}

long long run_shuffle_buffer(const ms_corpus *c, const ms_run_cfg *cfg, int want_masks, int rank, const char *cmd)
{
    const long long cap = loader_buffer_capacity(c, cfg->buffer, cfg->buffer_mib, want_masks);
    if (cap < cfg->buffer && rank == 0 && !cfg->quiet)
        ms_log(&cfg->log, MS_LOG_NOTE, "medssl %s: shuffle buffer: %lld image%s of %dx%dx%d per rank (--buffer-mib %g)", cmd, cap,
                cap == 1 ? "" : "s", c->C, c->H, c->W, (double)cfg->buffer_mib);
    return cap;
}

void run_result(const ms_trainer *t, ms_run_result *res)
{
    if (!res) return;
    const int has_val = t->val != NULL;
    *res = (ms_run_result){ .steps = t->st.step, .epochs_done = t->st.epoch, .best_epoch = t->best_epoch,
                            .best_metric = NAN, .best_val_loss = has_val ? t->st.best_val_loss : NAN,
                            .last_val_metric = has_val ? t->last_metric : NAN, .last_train_loss = t->last_train_loss,
                            .images_per_s = t->t_total > 0 ? (double)(t->st.step - t->first_step) * t->global_batch / t->t_total : 0,
                            .stopped = t->stopped, .ended_by_caller = t->ended_by_caller, .metric_key = t->ops ? t->ops->metric_key : "" };
    /* best_metric is kept in "higher is better" orientation; with select_loss
     * it is -loss, and best_val_loss says it (best_metric stays NaN) */
    if (has_val && isfinite(t->best_metric) && !t->select_loss)
        res->best_metric = t->ops->higher_better ? t->best_metric : -t->best_metric;
}
