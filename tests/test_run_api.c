/* test_run_api — a training run as a library call (include/medssl/run.h), in
 * one process and without argv, as architecture search will use it: a
 * rotation pretraining, then fine-tuning runs from its checkpoint that must
 * learn a task (validation accuracy / DSC well above chance), the same
 * configuration run twice in the process giving bit-identical results (no
 * state left behind by a run), a bad configuration refused with exit 2 and
 * no run folder made, and quiet runs. */
#include "medssl/ckpt.h"
#include "medssl/common.h"
#include "medssl/corpus.h"
#include "medssl/dist.h"
#include "medssl/model.h"
#include "medssl/parallel.h"
#include "medssl/rng.h"
#include "medssl/run.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static ms_dist D;
static char DIR_[256];

enum { NI = 240, S = 16 };

/* Class 0: a bright square in the top half; class 1: in the bottom half; the
 * mask marks the square (classes 0 and 1 for segmentation). Noise around. */
static void write_corpus(const char *path)
{
    float *img = ms_malloc((size_t)NI * S * S * sizeof(float));
    uint8_t *msk = ms_calloc((size_t)NI * S * S, 1);
    int32_t *lab = ms_malloc(NI * sizeof(int32_t));
    ms_rng r = rng_stream(rng_key(11, 0, 0, RNG_DATA));
    for (int i = 0; i < NI; i++) {
        lab[i] = i % 2;
        const int y0 = (lab[i] ? S / 2 : 0) + (int)rng_below(&r, S / 2 - 4), x0 = (int)rng_below(&r, S - 4);
        for (int p = 0; p < S * S; p++) img[(size_t)i * S * S + p] = 0.2f * rng_uniform(&r);
        for (int y = y0; y < y0 + 4; y++)
            for (int x = x0; x < x0 + 4; x++) {
                img[(size_t)i * S * S + y * S + x] = 0.9f;
                msk[(size_t)i * S * S + y * S + x] = 1;
            }
    }
    ms_corpus_writer w;
    TU_CHECK(corpus_writer_create(&w, path, 1, S, S, DTYPE_F32, CORPUS_WITH_LABELS | CORPUS_WITH_MASKS, 0, NULL) == 0);
    TU_CHECK(corpus_writer_append(&w, NI, img, lab, msk, NULL) == 0);
    TU_CHECK(corpus_writer_finish(&w) == 0);
    free(img);
    free(msk);
    free(lab);
}

static char CORPUS[300], PRE[300];

static void pretrain_then_result(void)
{
    ms_pretrain_cfg c;
    pretrain_cfg_defaults(&c);
    c.task = "rotation";
    c.corpus = CORPUS;
    c.encoder = "encoder:widths=8-16,convs=1";
    c.run.out = PRE;
    c.run.epochs = 2;
    c.run.batch = 32;
    c.run.quiet = 1;
    ms_run_result res;
    TU_CHECK(pretrain_run(&c, &D, &res) == 0);
    TU_CHECKF(res.steps > 0 && res.epochs_done == 2, "steps %lld epochs %ld", res.steps, res.epochs_done);
    TU_CHECK(strcmp(res.metric_key, "val_accuracy") == 0);
    TU_CHECKF(isfinite(res.best_metric) && res.best_metric >= 0 && res.best_metric <= 1, "best %g", res.best_metric);
    char best[400];
    snprintf(best, sizeof best, "%s/best.h5", PRE);
    TU_CHECK(access(best, R_OK) == 0);
    /* the checkpoint's rng_position is where the random stream resumes: the step */
    char last[400];
    snprintf(last, sizeof last, "%s/last.h5", PRE);
    ms_train_state st;
    memset(&st, 0, sizeof st);
    ms_model_spec spec;
    char spec_text[1024], task[64];
    TU_CHECK(ckpt_read_meta(last, spec_text, sizeof spec_text, task, sizeof task) == 0);
    TU_CHECK(model_spec_parse(&spec, spec_text) == 0);
    ms_model m;
    model_build(&m, &spec);
    TU_CHECK(ckpt_load(last, &m.slab, "", NULL, &st, NULL) == 0);
    TU_CHECKF(st.step == res.steps && st.rng_position == (uint64_t)st.step, "step %lld rng_position %llu",
              (long long)st.step, (unsigned long long)st.rng_position);
    model_free(&m);
}

static ms_finetune_cfg classify_cfg(const char *out)
{
    ms_finetune_cfg c;
    finetune_cfg_defaults(&c);
    static char init[400];
    snprintf(init, sizeof init, "%s/best.h5", PRE);
    c.task = "classify";
    c.train = CORPUS;
    c.strategy = "finetune";
    c.init = init;
    c.run.out = out;
    c.run.epochs = 4;
    c.run.batch = 32;
    c.run.lr = 0.4f;
    c.run.val_fraction = 0.25f;
    c.run.quiet = 1;
    return c;
}

static void finetune_learns_and_repeats(void)
{
    char out1[300], out2[300];
    snprintf(out1, sizeof out1, "%s/ft1", DIR_);
    snprintf(out2, sizeof out2, "%s/ft2", DIR_);
    ms_finetune_cfg c = classify_cfg(out1);
    ms_run_result a, b;
    TU_CHECK(finetune_run(&c, &D, &a) == 0);
    fprintf(stderr, "  classify: best val_accuracy %.3f at epoch %ld\n", a.best_metric, a.best_epoch + 1);
    TU_CHECKF(a.best_metric > 0.8, "classify: best val_accuracy %g (chance 0.5)", a.best_metric);
    TU_CHECK(strcmp(a.metric_key, "val_accuracy") == 0 && a.best_epoch >= 0 && !a.stopped);
    c.run.out = out2; /* the same run again in this process: nothing of the first may leak into it */
    TU_CHECK(finetune_run(&c, &D, &b) == 0);
    TU_CHECKF(a.best_metric == b.best_metric && a.best_val_loss == b.best_val_loss &&
                  a.last_train_loss == b.last_train_loss && a.steps == b.steps,
              "repeat differs: %.17g/%.17g vs %.17g/%.17g", a.best_metric, a.last_train_loss, b.best_metric,
              b.last_train_loss);
}

static void segment_learns(void)
{
    char out[300];
    snprintf(out, sizeof out, "%s/seg", DIR_);
    ms_finetune_cfg c = classify_cfg(out);
    c.task = "segment";
    c.run.epochs = 6;
    c.run.lr = 0.2f;
    ms_run_result r;
    TU_CHECK(finetune_run(&c, &D, &r) == 0);
    TU_CHECK(strcmp(r.metric_key, "val_dsc") == 0);
    fprintf(stderr, "  segment: best val_dsc %.3f at epoch %ld\n", r.best_metric, r.best_epoch + 1);
    TU_CHECKF(r.best_metric > 0.5, "segment: best val_dsc %g", r.best_metric);
}

static void bad_config_is_input_error(void)
{
    char out[300];
    snprintf(out, sizeof out, "%s/bad", DIR_);
    ms_finetune_cfg c = classify_cfg(out);
    c.task = "regress";
    ms_run_result r;
    TU_CHECK(finetune_run(&c, &D, &r) == MS_ERR_INPUT);
    struct stat st;
    TU_CHECK(stat(out, &st) != 0); /* refused before anything was made */
    c.task = "classify";
    c.run.batch = 0;
    TU_CHECK(finetune_run(&c, &D, &r) == MS_ERR_INPUT);
    ms_pretrain_cfg p;
    pretrain_cfg_defaults(&p);
    p.task = "colourize";
    p.corpus = CORPUS;
    p.run.out = out;
    TU_CHECK(pretrain_run(&p, &D, &r) == MS_ERR_INPUT);
    TU_CHECK(stat(out, &st) != 0);
}

/* A search's view of a run: its lines through the logger (none on stderr),
 * every epoch's numbers, and the run ended after epoch 2 (a pruned trial). */
typedef struct {
    int lines[3];       /* per ms_log_level */
    int epochs_seen;
    long last_epoch;
    double metric;
    char done_line[512];
} search_view;

static void collect(void *user, ms_log_level level, const char *line)
{
    search_view *v = user;
    v->lines[level]++;
    if (strstr(line, "ended by the caller")) snprintf(v->done_line, sizeof v->done_line, "%s", line);
}

static int prune_after_two(void *user, const ms_epoch_report *r)
{
    search_view *v = user;
    v->epochs_seen++;
    v->last_epoch = r->epoch;
    v->metric = r->metric;
    return r->epoch >= 1;
}

static void logger_and_epoch_callback(void)
{
    char out[400];
    snprintf(out, sizeof out, "%s/pruned", DIR_);
    ms_finetune_cfg c = classify_cfg(out);
    c.run.quiet = 0; /* progress lines too: they go to the logger */
    search_view v = { 0 };
    c.run.log = (ms_logger){ collect, &v };
    c.run.on_epoch = prune_after_two;
    c.run.on_epoch_user = &v;
    ms_run_result r;
    TU_CHECK(finetune_run(&c, &D, &r) == 0);
    TU_CHECKF(v.epochs_seen == 2 && v.last_epoch == 1, "on_epoch saw %d epochs, last %ld", v.epochs_seen, v.last_epoch);
    TU_CHECKF(r.ended_by_caller && !r.stopped && r.epochs_done == 2, "ended %d stopped %d epochs %ld", r.ended_by_caller,
              r.stopped, r.epochs_done);
    TU_CHECKF(v.metric == r.last_val_metric, "the callback's metric %g, the result's %g", v.metric, r.last_val_metric);
    TU_CHECKF(v.lines[MS_LOG_PROGRESS] >= 2 && v.lines[MS_LOG_NOTE] >= 1 && v.lines[MS_LOG_ERROR] == 0,
              "lines: progress %d note %d error %d", v.lines[MS_LOG_PROGRESS], v.lines[MS_LOG_NOTE], v.lines[MS_LOG_ERROR]);
    TU_CHECKF(strstr(v.done_line, "after epoch 2") != NULL, "end line '%s'", v.done_line);
    char last[500];
    snprintf(last, sizeof last, "%s/last.h5", out);
    TU_CHECK(access(last, R_OK) == 0);
}

int main(int argc, char **argv)
{
    if (dist_init(&D, &argc, &argv)) return 1;
    parallel_set_threads(1);
    snprintf(DIR_, sizeof DIR_, "/tmp/medssl_test_run_api.%ld", (long)getpid());
    mkdir(DIR_, 0755);
    snprintf(CORPUS, sizeof CORPUS, "%s/c.h5", DIR_);
    snprintf(PRE, sizeof PRE, "%s/pre", DIR_);
    write_corpus(CORPUS);
    TU_RUN(pretrain_then_result);
    TU_RUN(finetune_learns_and_repeats);
    TU_RUN(segment_learns);
    TU_RUN(bad_config_is_input_error);
    TU_RUN(logger_and_epoch_callback);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", DIR_);
    if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", DIR_);
    dist_finalize(&D);
    return tu_summary();
}
