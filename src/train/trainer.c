/* trainer — the shared data-parallel training loop (see medssl/trainer.h). */
#include "medssl/trainer.h"

#include "medssl/common.h"
#include "medssl/log.h"
#include "medssl/json.h"
#include "medssl/parallel.h"
#include "medssl/rng.h"
#include "medssl/runctl.h"
#include "medssl/runenv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int fail(const ms_trainer *t, int code)
{
    if (t->d->size > 1) ms_log(&t->log, MS_LOG_ERROR, "medssl %s: rank %d: %s", t->cmd, t->d->rank, ms_last_error());
    else ms_log(&t->log, MS_LOG_ERROR, "medssl %s: %s", t->cmd, ms_last_error());
    ms_clear_error(); /* reported: callers up the stack print nothing more */
    return code;
}

/* Restores the run from checkpoint `path`. *damaged: the file itself could
 * not be used (truncated, unreadable, non-finite): an older checkpoint may
 * do. Otherwise a failure is this run's mismatch (spec, --batch, jigsaw set). */
static int resume_from(ms_trainer *t, const char *path, int *damaged)
{
    char spec_in[2048];
    int rc;
    *damaged = 1;
    if ((rc = ckpt_read_meta(path, spec_in, sizeof spec_in, NULL, 0))) return rc;
    *damaged = 0;
    if (strcmp(spec_in, t->meta.model_spec) != 0)
        return MS_FAIL(MS_ERR_INPUT, "%s: model_spec '%s' differs from this run's '%s'", path, spec_in, t->meta.model_spec);
    *damaged = 1;
    if ((rc = ckpt_load(path, &t->model->slab, "", t->opt, &t->st, NULL))) return rc;
    *damaged = 0;
    if (t->meta.permutations) { /* jigsaw: the classes are the stored permutation set */
        uint8_t *perms = ms_malloc((size_t)t->meta.n_permutations * 9);
        int P = 0;
        rc = ckpt_read_permutations(path, perms, t->meta.n_permutations, &P);
        if (!rc && (P != t->meta.n_permutations || memcmp(perms, t->meta.permutations, (size_t)P * 9) != 0))
            rc = MS_FAIL(MS_ERR_INPUT, "%s: its jigsaw permutation set differs from this run's (another --seed or "
                                       "--permutations?)", path);
        free(perms);
        if (rc) return rc;
    }
    if (t->st.samples_seen != t->st.step * (long long)t->global_batch)
        return MS_FAIL(MS_ERR_INPUT, "%s: written with another --batch (resume with the same --batch)", path);
    return MS_OK;
}

/* --resume auto: the newest usable checkpoint of the run folder (step files
 * by step, then last.h5); a damaged one is passed over with a note. A folder
 * that holds checkpoints none of which is usable, or only best.h5, is refused
 * rather than started afresh over them. path = "" when the folder has none. */
static int resume_auto(ms_trainer *t, char *path, size_t cap)
{
    enum { MAX_TRIED = 64 };
    char (*list)[4096] = ms_malloc(MAX_TRIED * sizeof *list);
    int n = 0, rc = runctl_list_checkpoints(t->out, list, MAX_TRIED, &n), damaged = 0;
    char first_err[1024] = "";
    path[0] = '\0';
    for (int i = 0; !rc && i < n; i++) {
        if (!(rc = resume_from(t, list[i], &damaged))) {
            snprintf(path, cap, "%s", list[i]);
            if (i > 0 && t->d->rank == 0)
                ms_log(&t->log, MS_LOG_NOTE, "medssl %s: %s is not usable (%s); resuming from the newest usable checkpoint, %s",
                        t->cmd, list[0], first_err, list[i]);
            break;
        }
        if (!damaged) break; /* a mismatch with this run: an older checkpoint would not fit either */
        if (!first_err[0]) snprintf(first_err, sizeof first_err, "%s", ms_last_error());
        ms_clear_error();
        rc = MS_OK;
        if (i == n - 1)
            rc = MS_FAIL(MS_ERR_INPUT, "%s: none of its %d checkpoint%s is usable (the newest: %s); resume from a "
                         "checkpoint you trust with --resume PATH, or choose another --out", t->out, n,
                         n == 1 ? "" : "s", first_err);
    }
    if (!rc && n == 0) {
        char best[4096];
        snprintf(best, sizeof best, "%s/best.h5", t->out);
        if (access(best, F_OK) == 0)
            rc = MS_FAIL(MS_ERR_INPUT, "%s: holds best.h5 but no step-*.h5 or last.h5 to resume from; --resume %s "
                         "continues from it, or choose another --out", t->out, best);
        else if (t->d->rank == 0)
            ms_log(&t->log, MS_LOG_NOTE, "medssl %s: no checkpoint in %s; starting fresh", t->cmd, t->out);
    }
    free(list);
    return rc;
}

int trainer_init(ms_trainer *t, uint64_t seed, const char *resume)
{
    t->st = (ms_train_state){ .seed = seed, .best_metric = -INFINITY, .best_epoch = -1, .best_val_loss = INFINITY };
    char path[4096] = "";
    int rc, damaged = 0;
    if (resume && strcmp(resume, "auto") == 0) {
        if ((rc = resume_auto(t, path, sizeof path))) return rc;
    } else if (resume) {
        snprintf(path, sizeof path, "%s", resume);
        if ((rc = resume_from(t, path, &damaged))) return rc;
    }
    if (path[0]) {
        if (t->d->rank == 0) ms_log(&t->log, MS_LOG_NOTE, "medssl %s: resuming from %s", t->cmd, path);
        if (t->d->rank == 0 && (rc = runctl_truncate_metrics(t->out, t->st.step))) return rc;
    } else {
        dist_broadcast_params(t->d, &t->model->slab);
    }
    t->last_metric = NAN;
    t->last_train_loss = NAN;
    t->stopped = 0;
    t->best_metric = t->st.best_metric;
    t->best_epoch = (long)t->st.best_epoch;
    grad_sync_init(&t->sync, t->d, &t->model->slab, (size_t)1 << 20);
    ms_json env;
    json_begin(&env, 0);
    runenv_describe(&env, NULL, t->d, t->threads, t->hdf5_driver);
    CHECK(json_length(&env) < sizeof t->environment);
    memcpy(t->environment, json_text(&env), json_length(&env) + 1);
    json_free(&env);
    t->meta.environment = t->environment;
    if (t->d->rank != 0) return MS_OK;
    char when[32] = "";
    const time_t now = time(NULL);
    struct tm utc;
    if (gmtime_r(&now, &utc)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &utc);
    ms_json line;
    json_begin(&line, 0);
    json_object(&line, NULL);
    json_str(&line, "event", "start");
    json_str(&line, "time", when);
    json_int(&line, "step", t->st.step);
    json_str(&line, "resumed_from", path[0] ? path : NULL);
    json_raw(&line, "environment", t->environment);
    json_end(&line);
    rc = runctl_append_metrics(t->out, json_text(&line));
    json_free(&line);
    if (rc) return rc;
    return MS_OK;
}

static int save_checkpoints(ms_trainer *t, int is_best)
{
    if (t->d->rank != 0) return MS_OK;
    t->st.best_metric = t->best_metric;
    t->st.best_epoch = t->best_epoch;
    char path[4096];
    runctl_ckpt_name(path, sizeof path, t->out, t->st.step);
    int rc = ckpt_save(path, &t->model->slab, t->opt, &t->st, &t->meta);
    snprintf(path, sizeof path, "%s/last.h5", t->out);
    if (!rc) rc = ckpt_save(path, &t->model->slab, t->opt, &t->st, &t->meta);
    snprintf(path, sizeof path, "%s/best.h5", t->out);
    if (!rc && is_best) rc = ckpt_save(path, &t->model->slab, t->opt, &t->st, &t->meta);
    if (!rc) rc = runctl_prune(t->out, t->keep);
    return rc;
}

/* Writes the checkpoints if the model is finite, as one collective: every
 * rank learns whether the weights went non-finite (a loss can stay finite a
 * while after: ReLU turns NaN into 0) or rank 0's write failed (a full disk),
 * and all stop together with one message; a non-finite model is never
 * written, so the newest checkpoint is always a usable one. */
/* Test hook (tests/cli_faults.sh): MEDSSL_TEST_OOM=RANK:STEP makes rank RANK
 * run out of memory after step STEP, as an allocation in a layer would. */
static void test_oom_hook(const ms_trainer *t)
{
    const char *e = getenv("MEDSSL_TEST_OOM");
    int rank = -1;
    long long step = -1;
    if (e && sscanf(e, "%d:%lld", &rank, &step) == 2 && rank == t->d->rank && step == t->st.step) {
        void *p = ms_malloc(SIZE_MAX / 4);
        free(p);
    }
}

static int checkpoint_agreed(ms_trainer *t, int is_best, int log_rc)
{
    const int bad_tensor = slab_first_nonfinite(&t->model->slab);
    double status[2] = { bad_tensor >= 0, log_rc != 0 }; /* non-finite weights; rank 0's metrics.jsonl append failed */
    dist_sum(t->d, status, 2);
    if (status[1] > 0) {
        if (log_rc) return fail(t, MS_ERR_RUNTIME);
        ms_clear_error();
        return MS_ERR_RUNTIME;
    }
    if (status[0] > 0) {
        if (t->d->rank == 0) {
            char last[4096];
            runctl_find_latest(t->out, last, sizeof last);
            ms_clear_error();
            ms_log(&t->log, MS_LOG_ERROR, "medssl %s: the weights are no longer finite at step %lld (%s); stopped all ranks without "
                            "writing them. %s%s%s", t->cmd, t->st.step,
                    bad_tensor >= 0 ? t->model->slab.t[bad_tensor].name : "on another rank",
                    last[0] ? "The last good checkpoint is " : "No checkpoint was written before; lower --lr and start again",
                    last[0] ? last : "", last[0] ? ": lower --lr and resume from it" : "");
        }
        return MS_ERR_RUNTIME;
    }
    /* every draw of a run is keyed by (seed, epoch, step) (rng.h): its stream
     * resumes at the step, which is what the checkpoint records as its position */
    t->st.rng_position = (uint64_t)t->st.step;
    const int saved = save_checkpoints(t, is_best);
    if (!dist_any(t->d, saved)) return MS_OK;
    if (saved) return fail(t, MS_ERR_RUNTIME); /* rank 0 says what failed */
    ms_clear_error();
    return MS_ERR_RUNTIME;                          /* the others stop quietly */
}

int trainer_validate(ms_trainer *t, double *val_loss, double *metric)
{
    double sums[3] = { 0, 0, 0 }, all[3]; /* loss x count, score, count */
    int rc = loader_start_epoch(t->val, 0), bad = rc != 0;
    for (long long s = 0, steps = bad ? 0 : loader_steps(t->val); s < steps; s++) {
        ms_batch b;
        if ((rc = loader_next(t->val, &b))) {
            bad = 1;
            break;
        }
        int terms = t->ops->prepare(t->ctx, &b, 0, 0);
        double score = 0, count = 0;
        double loss = terms > 0 ? t->ops->loss(t->ctx, terms, 0, 1.0f, 0, &score, &count) : 0;
        sums[0] += loss * count;
        sums[1] += score;
        sums[2] += count;
    }
    if (dist_any(t->d, bad)) return bad ? rc : MS_FAIL(MS_ERR_INPUT, "another rank failed to read the validation split");
    memcpy(all, sums, sizeof all);
    dist_sum(t->d, all, 3);
    *val_loss = all[2] > 0 ? all[0] / all[2] : NAN;
    *metric = all[2] > 0 ? all[1] / all[2] : NAN;
    return MS_OK;
}

/* The message when some rank's loss was not finite (agreed in the step's
 * reduction): this rank's loss if it is one of them, then rank 0 names the
 * last good checkpoint. The weights are not written (checkpoint_agreed never
 * saw them). */
static void report_divergence(const ms_trainer *t, double loss, long epoch)
{
    const int bad = !isfinite(loss);
    char last[4096];
    runctl_find_latest(t->out, last, sizeof last);
    if (bad)
        ms_log(&t->log, MS_LOG_ERROR, "medssl %s: rank %d: non-finite loss (%g) at epoch %ld, step %lld", t->cmd, t->d->rank, loss,
                epoch + 1, t->st.step - 1); /* the step that ran (counted already) */
    if (t->d->rank == 0 && last[0])
        ms_log(&t->log, MS_LOG_ERROR, "medssl %s: the loss diverged; stopped all ranks. The last good checkpoint is %s: "
                        "lower --lr and resume from it (--resume %s)", t->cmd, last, last);
    else if (t->d->rank == 0)
        ms_log(&t->log, MS_LOG_ERROR, "medssl %s: the loss diverged before the first checkpoint; stopped all ranks. "
                        "Lower --lr and start again", t->cmd);
}

/* Validation at the end of an epoch: metrics line, best tracking. */
static int end_epoch(ms_trainer *t, long epoch, double train_loss, double ips, float lr, int *is_best, int *log_rc,
                     ms_epoch_report *rep)
{
    *is_best = 0;
    double val_loss = NAN, metric = NAN;
    int rc;
    if (!t->val) { /* nothing to select by: best.h5 follows the latest epoch */
        *is_best = 1;
        t->best_epoch = epoch;
    } else {
        if ((rc = trainer_validate(t, &val_loss, &metric))) return fail(t, rc);
        /* better metric, or the same metric at a lower loss: on a small
         * validation set (60 images: steps of 1/60) ties are common, and the
         * first epoch to reach a value is rarely the best model */
        t->last_metric = metric;
        double m = t->select_loss ? -val_loss : t->ops->higher_better ? metric : -metric;
        *is_best = isfinite(m) && (m > t->best_metric || (m == t->best_metric && val_loss < t->st.best_val_loss));
        if (*is_best) {
            t->best_metric = m;
            t->best_epoch = epoch;
            t->st.best_val_loss = val_loss;
        }
    }
    *rep = (ms_epoch_report){ .epoch = epoch, .step = t->st.step, .train_loss = train_loss, .val_loss = val_loss,
                              .metric = metric, .metric_key = t->ops->metric_key, .is_best = *is_best,
                              .images_per_s = ips };
    if (t->d->rank != 0) return 0;
    ms_json line;
    json_begin(&line, 0);
    json_object(&line, NULL);
    json_int(&line, "epoch", epoch);
    json_int(&line, "step", t->st.step);
    json_num(&line, "loss", train_loss, 6);
    json_num(&line, "lr", lr, 6);
    json_fixed(&line, "images_per_s", ips, 2);
    json_fixed(&line, "loader_wait_s", t->t_loader_wait, 3);
    json_fixed(&line, "allreduce_wait_s", t->t_allreduce_wait, 3);
    if (t->val) {
        json_num(&line, "val_loss", val_loss, 6);
        json_num(&line, t->ops->metric_key, metric, 6);
        if (t->ops->log_metric) t->ops->log_metric(&line, metric);
        if (!t->quiet)
            ms_log(&t->log, MS_LOG_PROGRESS, "epoch %ld/%d  validation: loss %.4f  %s %.4f%s", epoch + 1, t->epochs, val_loss,
                    t->ops->metric_key + 4, metric, *is_best ? "  (best)" : "");
    }
    json_end(&line);
    *log_rc = runctl_append_metrics(t->out, json_text(&line)); /* rank 0 alone: the caller agrees on it */
    json_free(&line);
    return 0;
}

int trainer_run(ms_trainer *t)
{
    const long long steps_per_epoch = loader_steps(t->train);
    const long long total_steps = (long long)t->epochs * steps_per_epoch;
    t->sched.total_steps = total_steps;
    t->sched.warmup_steps = (long)(t->warmup_epochs * (float)steps_per_epoch);
    if (t->st.step > 0 && t->d->rank == 0 && !t->quiet)
        ms_log(&t->log, MS_LOG_NOTE, "medssl %s: resuming at step %lld (epoch %lld)", t->cmd, t->st.step,
                t->st.step / steps_per_epoch + 1);
    double t_log = ms_now(), t_epoch = t_log, loss_sum = 0, epoch_loss = 0;
    long long log_n = 0, epoch_n = 0, imgs = 0;
    const double t_start = ms_now();
    const long long step0 = t->st.step;
    t->first_step = step0;
    int rc, log_rc = MS_OK; /* rank 0's metrics.jsonl appends, agreed on in the next step's reduction */
    while (t->st.step < total_steps) {
        const long epoch = (long)(t->st.step / steps_per_epoch);
        const long long in_epoch = t->st.step % steps_per_epoch;
        t->st.epoch = epoch;
        if (in_epoch == 0 || t->st.step == step0) {
            if (t->ops->epoch_begin && (rc = t->ops->epoch_begin(t->ctx, epoch))) return fail(t, rc);
            if ((rc = loader_start_epoch(t->train, epoch))) return fail(t, rc);
            for (long long k = 0; k < in_epoch; k++) { /* resume inside an epoch: skip what was done */
                ms_batch skip;
                if ((rc = loader_next(t->train, &skip))) return fail(t, rc);
            }
            epoch_loss = 0;
            epoch_n = 0;
            t_epoch = ms_now();
        }
        ms_batch b;
        double t0 = ms_now();
        if ((rc = loader_next(t->train, &b))) return fail(t, rc);
        t->t_loader_wait += ms_now() - t0;
        const int terms = b.n > 0 ? t->ops->prepare(t->ctx, &b, epoch, 1) : 0;
        const long long terms_all = dist_sum_ll(t->d, terms);
        const float weight = terms_all > 0 ? (float)terms * (float)t->d->size / (float)terms_all : 0.0f;
        const uint64_t key = rng_key(t->st.seed, (uint64_t)epoch, (uint64_t)t->st.step, RNG_DROPOUT);
        const float lr = sched_lr(&t->sched, t->st.step);
        ms_task_step sc = { t->ops, t->ctx, terms, weight, 0 };
        ms_step_stats stats;
        train_step(t->model, &t->sync, t->opt, lr, key, terms > 0 ? task_step_loss : NULL, &sc, &stats);
        t->t_allreduce_wait += stats.allreduce_wait_s;
        const double loss = sc.loss;
        t->st.step++;
        t->st.samples_seen += t->global_batch;
        test_oom_hook(t);
        /* the step's one agreement: the mean loss, a non-finite loss on any
         * rank, a stop signal on any rank, rank 0's metrics.jsonl append of
         * the previous step failing (a full disk) */
        double agree[4] = { terms_all > 0 && isfinite(loss) ? loss * terms / (double)terms_all : 0, !isfinite(loss),
                            runctl_stop_signal() != 0, log_rc != 0 };
        dist_sum(t->d, agree, 4);
        if (agree[1] > 0) {
            report_divergence(t, loss, epoch);
            return MS_ERR_RUNTIME;
        }
        if (agree[3] > 0) {
            if (log_rc) return fail(t, MS_ERR_RUNTIME);
            ms_clear_error();
            return MS_ERR_RUNTIME;
        }
        const int stop = agree[2] > 0;
        const double mean_loss = agree[0];
        loss_sum += mean_loss;
        epoch_loss += mean_loss;
        log_n++;
        epoch_n++;
        imgs += t->global_batch;
        const int epoch_end = t->st.step % steps_per_epoch == 0;
        if (t->d->rank == 0 && (t->st.step % t->log_every == 0 || epoch_end)) {
            double now = ms_now(), ips = (double)imgs / (now - t_log);
            double eta = (double)(total_steps - t->st.step) * (now - t_start) / (double)(t->st.step - step0);
            if (!t->quiet)
                ms_log(&t->log, MS_LOG_PROGRESS, "epoch %ld/%d  step %lld/%lld  loss %.4f  lr %.4g  %.1f img/s  ETA %dm%02ds", epoch + 1,
                        t->epochs, t->st.step, total_steps, loss_sum / log_n, lr, ips, (int)(eta / 60), (int)eta % 60);
            ms_json line;
            json_begin(&line, 0);
            json_object(&line, NULL);
            json_int(&line, "epoch", epoch);
            json_int(&line, "step", t->st.step);
            json_num(&line, "loss", loss_sum / log_n, 6);
            json_num(&line, "lr", lr, 6);
            json_fixed(&line, "images_per_s", ips, 2);
            json_end(&line);
            log_rc = runctl_append_metrics(t->out, json_text(&line)); /* agreed on below: rank 0 alone writes */
            json_free(&line);
            t_log = now;
            loss_sum = 0;
            log_n = 0;
            imgs = 0;
        }
        const int step_limit = t->max_steps > 0 && t->st.step - step0 >= t->max_steps;
        int is_best = 0, patience_out = 0, caller_out = 0;
        if (epoch_end) {
            const double ips = (double)epoch_n * t->global_batch / (ms_now() - t_epoch);
            ms_epoch_report rep;
            if ((rc = end_epoch(t, epoch, epoch_loss / epoch_n, ips, lr, &is_best, &log_rc, &rep))) return rc;
            t->last_train_loss = epoch_loss / epoch_n;
            t->st.epoch = epoch + 1;
            patience_out = t->val && t->patience > 0 && epoch - t->best_epoch >= t->patience;
            /* the same answer on every rank, or the ranks would part ways */
            if (t->on_epoch) caller_out = dist_any(t->d, t->on_epoch(t->on_epoch_user, &rep) != 0);
        }
        if (epoch_end || stop || step_limit) {
            if ((rc = checkpoint_agreed(t, is_best, log_rc))) return rc;
            log_rc = MS_OK;
        }
        if (stop || step_limit) {
            if (t->d->rank == 0)
                ms_log(&t->log, MS_LOG_NOTE, "medssl %s: %s after step %lld; checkpoint written, resume with --resume auto", t->cmd,
                        stop ? "stopped by a signal" : "stopped at --max-steps", t->st.step);
            t->stopped = 1;
            t->t_total = ms_now() - t_start;
            return 0;
        }
        if (caller_out && t->st.step < total_steps) {
            if (t->d->rank == 0)
                ms_log(&t->log, MS_LOG_NOTE, "medssl %s: ended by the caller after epoch %ld; %s/last.h5", t->cmd,
                       epoch + 1, t->out);
            t->ended_by_caller = 1;
            t->t_total = ms_now() - t_start;
            return 0;
        }
        if (patience_out) {
            if (t->d->rank == 0)
                ms_log(&t->log, MS_LOG_NOTE, "medssl %s: early stop: no better %s for %d epoch%s (best at epoch %ld); %s/best.h5",
                        t->cmd, t->ops->metric_key, t->patience, t->patience == 1 ? "" : "s", t->best_epoch + 1, t->out);
            t->t_total = ms_now() - t_start;
            return 0;
        }
    }
    t->t_total = ms_now() - t_start;
    if (t->d->rank == 0) ms_log(&t->log, MS_LOG_NOTE, "medssl %s: done: %lld step%s; %s/last.h5", t->cmd, t->st.step,
                                 t->st.step == 1 ? "" : "s", t->out);
    return 0;
}
