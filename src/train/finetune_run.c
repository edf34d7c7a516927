/* finetune_run — moves an encoder (usually pretrained by pretrain_run) onto a
 * labeled task, data-parallel over the ranks of d (see include/medssl/run.h;
 * `medssl finetune` maps its flags onto it, `ensemble train` calls it per
 * member with a resampling).
 *
 * The task (classify or segment: targets, loss, metric, head) is an entry of
 * the task table (medssl/task.h); the transfer strategy (medssl/transfer.h)
 * decides what trains when; the loop, checkpoints, resume, signals and early
 * stopping are the trainer's (medssl/trainer.h). Only labeled samples train
 * (label >= 0); per-sample repeat counts in the loader give class-balanced
 * oversampling, domain selection, target-domain oversampling (supervised
 * domain adaptation) and an ensemble member's resample.
 *
 * Dimension legend: B images per rank-batch, K classes, HW pixels per image.
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include "run_internal.h"
#include "medssl/common.h"
#include "medssl/jsonr.h"
#include "medssl/log.h"
#include "medssl/labeled.h"
#include "medssl/loader.h"
#include "medssl/model.h"
#include "medssl/task.h"
#include "medssl/transfer.h"

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const ms_task *task;
    ms_task_state ts;
    ms_corpus train_c, val_c;
    int has_val_c;
    ms_model model;
    ms_optim opt;
    ms_augment aug;
    ms_loader *train, *val;
    ms_trainer tr;
    ms_transfer xfer;
    char spec[2048], input_size[48];
    float class_w[LABELED_MAX_CLASSES];
    uint16_t *repeat_train, *repeat_val;
    int8_t *in_val;                 /* (N) the val_fraction split (labeled_split), or NULL */
    long long passes;               /* passes over the training samples per epoch (steps_per_epoch) */
} finetune_state;

void finetune_cfg_defaults(ms_finetune_cfg *c)
{
    *c = (ms_finetune_cfg){ .run = { .optimizer = "sgd", .epochs = 30, .batch = 32, .keep = 2, .log_every = 50,
                                     .buffer = 4096, .buffer_mib = 256, .lr = 0.1f, .momentum = 0.9f,
                                     .weight_decay = 5e-4f, .warmup_epochs = 1, .val_fraction = 0.1f },
                            .encoder = "encoder:widths=32-64-128-256,block=plain,convs=2", .head = "linear",
                            .hidden = 256, .stage1_epochs = -1, .target_domain = -1, .dropout = 0.5f,
                            .encoder_lr_mult = -1, .target_weight = 1 };
}

/* --feature-subset: "selected" of a medssl select output into spec's head
 * subset; its "features" must be F, the count the head's stage gives. */
static int read_feature_subset(const char *path, int F, ms_model_spec *spec)
{
    char *text;
    size_t n;
    if (ms_read_file(path, (size_t)1 << 20, &text, &n)) return MS_FAIL(MS_ERR_INPUT, "--feature-subset: %s", ms_last_error());
    ms_jv *v = NULL;
    char err[160];
    int rc = MS_OK;
    if (jv_parse(text, n, &v, err, sizeof err))
        rc = MS_FAIL(MS_ERR_INPUT, "--feature-subset %s: not JSON (%s)", path, err);
    const ms_jv *sel = jv_get(v, "selected");
    const double from = jv_num(jv_get(v, "features"), -1);
    if (!rc && (!sel || sel->type != JV_ARR || jv_len(sel) == 0))
        rc = MS_FAIL(MS_ERR_INPUT, "--feature-subset %s: no \"selected\" feature list (expected a medssl select output)", path);
    if (!rc && from != F)
        rc = MS_FAIL(MS_ERR_INPUT, "--feature-subset %s: selected among %g features, but the head's stage gives %d "
                                   "(use the --features stage medssl features exported)", path, from, F);
    if (!rc && jv_len(sel) > MODEL_MAX_SUBSET)
        rc = MS_FAIL(MS_ERR_INPUT, "--feature-subset %s: %zu features, at most %d", path, jv_len(sel), MODEL_MAX_SUBSET);
    for (size_t i = 0; !rc && i < jv_len(sel); i++) {
        const double x = jv_num(jv_at(sel, i), -1);
        if (!(x >= 0 && x < F && x == (int)x) || (i && x <= spec->subset[i - 1]))
            rc = MS_FAIL(MS_ERR_INPUT, "--feature-subset %s: selected[%zu] = %g is not an increasing index in 0..%d", path,
                         i, x, F - 1);
        else spec->subset[i] = (int)x;
    }
    if (!rc) spec->n_subset = (int)jv_len(sel);
    jv_free(v);
    free(text);
    return rc;
}

/* The model spec: the encoder (from init, else the encoder spec), cut at
 * `features`, with the task's head or decoder. */
static int build_spec(finetune_state *s, const ms_finetune_cfg *c)
{
    ms_model_spec spec;
    int rc;
    const int masks = s->task->masks;
    if (c->init) {
        if ((rc = transfer_encoder_spec(c->init, &spec))) return rc;
        if (spec.in_channels != s->train_c.C)
            return MS_FAIL(MS_ERR_INPUT, "%s: the encoder takes %d channel(s) but %s has %d", c->init, spec.in_channels,
                           c->train, s->train_c.C);
    } else {
        if ((rc = model_spec_parse(&spec, c->encoder))) return MS_FAIL(rc, "--encoder: %s", ms_last_error());
        if (spec.head != HEAD_NONE || spec.has_decoder) return MS_FAIL(MS_ERR_INPUT, "--encoder: give only the encoder part");
        spec.in_channels = s->train_c.C;
    }
    const int init_norm = spec.head_norm; /* the init checkpoint's head (for keep_head) */
    spec.head_norm = 0;
    if (c->features) {
        int stage = -1;
        if (sscanf(c->features, "stage%d", &stage) != 1 || stage < 0 || stage >= spec.n_stages)
            return MS_FAIL(MS_ERR_INPUT, "--features %s: expected stage0..stage%d", c->features, spec.n_stages - 1);
        if (masks) return MS_FAIL(MS_ERR_INPUT, "--features applies to --task classify");
        spec.n_stages = stage + 1;
    }
    ms_head_cfg h = { .K = s->ts.K, .head = c->head ? c->head : "linear", .hidden = c->hidden, .dropout = c->dropout };
    if (!c->head_norm) /* the head learns on frozen features first: make it blind to their scale */
        h.head_norm = c->init && c->keep_head ? init_norm
                      : s->xfer.strategy == STRATEGY_FEATURE_EXTRACTOR || s->xfer.strategy == STRATEGY_TWO_STAGE;
    else
        h.head_norm = strcmp(c->head_norm, "bn") == 0;
    if ((rc = s->task->head(&spec, &h))) return rc;
    if (c->feature_subset) {
        if (masks) return MS_FAIL(MS_ERR_INPUT, "--feature-subset applies to --task classify");
        if ((rc = read_feature_subset(c->feature_subset, spec.widths[spec.n_stages - 1], &spec))) return rc;
    }
    model_spec_format(&spec, s->spec, sizeof s->spec);
    ms_model_spec check;
    if ((rc = model_spec_parse(&check, s->spec))) return rc;
    model_build(&s->model, &check);
    return MS_OK;
}

/* Passes over the training samples per epoch: the fewest whole passes that
 * give at least steps_per_epoch steps (0: at least FINETUNE_MIN_EPOCH_IMAGES
 * images), so a tiny labeled set still gets enough steps per epoch. */
#define FINETUNE_MIN_EPOCH_IMAGES 256
static long long epoch_passes(long long samples, int batch, long steps_per_epoch)
{
    const long long want = steps_per_epoch > 0 ? steps_per_epoch * (long long)batch : FINETUNE_MIN_EPOCH_IMAGES;
    if (samples <= 0) return 1;
    long long p = (want + samples - 1) / samples;
    return p < 1 ? 1 : p;
}

/* The loaders: training samples (labeled, selected domains, repeats) and the
 * validation samples (the val corpus, or the exact stratified val_fraction
 * split of the training corpus, labeled.h). The split lives in the repeat
 * counts, so both loaders read their corpus with SPLIT_ALL. */
static int open_loaders(finetune_state *s, const ms_finetune_cfg *c, const ms_dist *d)
{
    const ms_run_cfg *rcfg = &c->run;
    const int B = rcfg->batch / d->size, masks = s->task->masks, say = d->rank == 0 && !rcfg->quiet;
    int rc;
    int split_val = !rcfg->val && rcfg->val_fraction > 0;
    ms_labeled_sel sel = { .masks = masks, .K = s->ts.K, .seed = (uint64_t)rcfg->seed, .domains = c->domains,
                           .target_domain = c->target_domain, .target_weight = c->target_weight,
                           .balance = c->balance && strcmp(c->balance, "oversample") == 0, .split = SPLIT_ALL };
    if (split_val) {
        ms_split_info si;
        if ((rc = labeled_split(&s->train_c, &sel, rcfg->val_fraction, &s->in_val, &si))) return rc;
        if (si.n_train + si.n_val == 0)
            return MS_FAIL(MS_ERR_INPUT, "%s: no %s selected%s", c->train, masks ? "samples" : "labeled samples",
                           c->domains ? " (check --domains)" : "");
        if (si.n_val == 0) {
            split_val = 0;
            if (say)
                ms_log(&c->run.log, MS_LOG_NOTE, "medssl finetune: %s holds a single %ssample: training without validation "
                                "(best.h5 is the last epoch's model)", c->train, masks ? "" : "labeled ");
        } else {
            sel.split = SPLIT_TRAIN;
            sel.in_val = s->in_val;
            if (say)
                ms_log(&c->run.log, MS_LOG_NOTE, "medssl finetune: split of %s: %lld training / %lld validation sample%s (--val-fraction "
                                "%g, stratified by %s, seed %d)", c->train, si.n_train, si.n_val,
                        si.n_val == 1 ? "" : "s", (double)rcfg->val_fraction, masks ? "mask foreground" : "class",
                        rcfg->seed);
        }
    }
    if ((rc = labeled_repeat(&s->train_c, &sel, 1, &s->repeat_train))) return rc;
    long long total = 0;
    for (long long i = 0; i < s->train_c.N; i++) {
        long v = (long)s->repeat_train[i] * (c->resample ? c->resample[i] : 1); /* a bagging/boosting member's draw */
        s->repeat_train[i] = (uint16_t)(v > 65535 ? 65535 : v);
        total += s->repeat_train[i];
    }
    if (total == 0 && c->resample)
        return MS_FAIL(MS_ERR_INPUT, "%s: the member's resample selects no training sample", c->train);
    s->passes = epoch_passes(total, rcfg->batch, c->steps_per_epoch);
    if (s->passes > 1) {
        for (long long i = 0; i < s->train_c.N; i++) {
            long long v = (long long)s->repeat_train[i] * s->passes;
            if (v > 65535)
                return MS_FAIL(MS_ERR_INPUT, "--steps-per-epoch %ld: more than 65535 copies of a sample per epoch",
                               c->steps_per_epoch);
            s->repeat_train[i] = (uint16_t)v;
        }
    }
    if ((rc = augment_parse(&s->aug, rcfg->augment ? rcfg->augment : ""))) return MS_FAIL(rc, "--%s", ms_last_error());
    ms_loader_cfg lc = { .rank = d->rank, .size = d->size, .seed = (uint64_t)rcfg->seed, .batch = B,
                         .buffer = run_shuffle_buffer(&s->train_c, rcfg, masks, d->rank, "finetune"),
                         .split = SPLIT_ALL, .shuffle = 1, .augment = &s->aug,
                         .want_labels = !masks, .want_masks = masks, .repeat = s->repeat_train };
    if ((rc = loader_open(&s->train, &s->train_c, &lc))) return rc;
    if ((rc = loader_start_epoch(s->train, 0)))
        return MS_FAIL(rc, "%s: no labeled training samples after the split and domain selection", c->train);
    if (!rcfg->val && !split_val) return MS_OK;
    ms_corpus *vc = &s->train_c;
    sel.balance = 0;
    sel.target_weight = 1;
    sel.split = split_val ? SPLIT_VAL : SPLIT_ALL;
    if (rcfg->val) {
        vc = &s->val_c;
        sel.domains = NULL;
    }
    if ((rc = labeled_repeat(vc, &sel, 0, &s->repeat_val))) return rc;
    lc.shuffle = 0;
    lc.augment = NULL;
    lc.repeat = s->repeat_val;
    if ((rc = loader_open(&s->val, vc, &lc))) return rc;
    if ((rc = loader_start_epoch(s->val, 0)))
        return MS_FAIL(rc, "%s: the validation split is empty (raise --val-fraction or give --val FILE)", vc->path);
    return MS_OK;
}

/* What can be refused before anything is opened. */
static int check_cfg(const ms_finetune_cfg *c, int *stage1_epochs)
{
    if (!c->task || !c->train || !c->strategy)
        return MS_FAIL(MS_ERR_INPUT, "--task, --train and --strategy are required");
    if (task_kind_parse(c->task) < 0) return MS_FAIL(MS_ERR_INPUT, "--task %s: expected classify or segment", c->task);
    const int st = strategy_parse(c->strategy);
    if (st < 0)
        return MS_FAIL(MS_ERR_INPUT, "--strategy %s: expected feature-extractor, finetune, two-stage or scratch",
                       c->strategy);
    if (c->head_norm && strcmp(c->head_norm, "bn") != 0 && strcmp(c->head_norm, "none") != 0)
        return MS_FAIL(MS_ERR_INPUT, "--head-norm %s: expected bn or none", c->head_norm);
    *stage1_epochs = c->stage1_epochs >= 0 ? c->stage1_epochs : c->run.epochs / 3 > 0 ? c->run.epochs / 3 : 1;
    if (c->freeze && st != STRATEGY_FINETUNE) return MS_FAIL(MS_ERR_INPUT, "--freeze applies to --strategy finetune");
    if (c->unfreeze && st != STRATEGY_TWO_STAGE) return MS_FAIL(MS_ERR_INPUT, "--unfreeze applies to --strategy two-stage");
    if (st == STRATEGY_TWO_STAGE && *stage1_epochs >= c->run.epochs)
        return MS_FAIL(MS_ERR_INPUT, "--stage1-epochs %d must be below --epochs %d", *stage1_epochs, c->run.epochs);
    if (c->balance && strcmp(c->balance, "oversample") != 0 && strcmp(c->balance, "none") != 0)
        return MS_FAIL(MS_ERR_INPUT, "--balance %s: expected none or oversample", c->balance);
    if (c->select && strcmp(c->select, "loss") != 0 && strcmp(c->select, "metric") != 0)
        return MS_FAIL(MS_ERR_INPUT, "--select %s: expected metric or loss", c->select);
    if (c->init && c->run.out) { /* the run would overwrite the checkpoint it starts from (and its siblings) */
        char init_dir[4096], a[PATH_MAX], b[PATH_MAX];
        snprintf(init_dir, sizeof init_dir, "%s", c->init);
        if (realpath(dirname(init_dir), a) && realpath(c->run.out, b) && strcmp(a, b) == 0)
            return MS_FAIL(MS_ERR_INPUT, "--out %s is the folder of --init %s: its checkpoints would be overwritten; "
                                         "choose another --out", c->run.out, c->init);
    }
    return MS_OK;
}

static int setup(finetune_state *s, const ms_finetune_cfg *c, const ms_dist *d, int stage1_epochs)
{
    const ms_run_cfg *rcfg = &c->run;
    const int say = d->rank == 0 && !rcfg->quiet;
    int rc;
    s->task = task_get((ms_task_kind)task_kind_parse(c->task));
    const int masks = s->task->masks, st = strategy_parse(c->strategy);
    s->xfer = (ms_transfer){ .strategy = (ms_strategy)st, .freeze = c->freeze, .unfreeze = c->unfreeze,
                             .encoder_lr_mult = c->encoder_lr_mult >= 0 ? c->encoder_lr_mult
                                                : st == STRATEGY_TWO_STAGE ? 0.1f : 1.0f,
                             .stage1_epochs = stage1_epochs };
    if (st != STRATEGY_SCRATCH && !c->init && say)
        ms_log(&c->run.log, MS_LOG_NOTE, "medssl finetune: no --init: the %s strategy starts from a randomly initialized encoder "
                        "(a baseline)", c->strategy);
    if ((rc = corpus_open(&s->train_c, c->train, d))) return rc;
    if (rcfg->val) {
        if ((rc = corpus_open_like(&s->val_c, rcfg->val, &s->train_c))) return rc;
        s->has_val_c = 1;
    }
    if ((rc = labeled_check(&s->train_c, masks, c->classes, &s->ts.K))) return rc;
    if (s->has_val_c) {
        int Kv;
        if ((rc = labeled_check(&s->val_c, masks, s->ts.K, &Kv))) return rc;
    }
    if ((rc = build_spec(s, c))) return rc;
    model_init_weights(&s->model, (uint64_t)rcfg->seed);
    if ((rc = transfer_check(&s->xfer, &s->model))) return rc; /* before "loaded ..." : one message */
    if (c->init && strategy_uses_init(s->xfer.strategy)) {
        int n = 0;
        if ((rc = transfer_load(&s->model, c->init, "encoder.", &n))) return rc;
        if (c->keep_head) { /* segment: the decoder blocks (e.g. an autoencoder's); its output conv if it fits */
            int nh = 0, no = 0;
            if ((rc = transfer_load(&s->model, c->init, s->task->keep_prefix, &nh)))
                return MS_FAIL(rc, "--keep-head: %s", ms_last_error());
            if (masks && transfer_load(&s->model, c->init, "decoder.out", &no) && say) {
                ms_log(&c->run.log, MS_LOG_NOTE, "medssl finetune: --keep-head: decoder.out stays new (%s)", ms_last_error());
                ms_clear_error();
            }
            ms_clear_error();
            n += nh + no;
        }
        if (say) ms_log(&c->run.log, MS_LOG_NOTE, "medssl finetune: loaded %d tensor%s from %s", n, n == 1 ? "" : "s", c->init);
    }
    const int B = rcfg->batch / d->size;
    if ((rc = model_plan(&s->model, B, s->train_c.H, s->train_c.W))) return MS_FAIL(rc, "%s: %s", c->train, ms_last_error());
    if (rcfg->sync_bn && d->size > 1) model_set_bn_reducer(&s->model, dist_sum_doubles_inplace, (void *)d);

    if ((rc = open_loaders(s, c, d))) return rc;
    /* a frozen encoder (BN in eval mode) on unaugmented images gives every
     * sample the same features each epoch: compute them once */
    const int cache = st == STRATEGY_FEATURE_EXTRACTOR && !masks && s->aug.n_ops == 0 && !c->no_feature_cache;
    s->ts.kind = (ms_task_kind)task_kind_parse(s->task->name);
    s->ts.model = &s->model;
    s->ts.xfer = &s->xfer;
    s->ts.rank = d->rank;
    s->ts.quiet = rcfg->quiet;
    s->ts.log = &rcfg->log;
    task_state_alloc(&s->ts, B, s->train_c.C, s->train_c.H, s->train_c.W, cache);
    if (cache && say)
        ms_log(&c->run.log, MS_LOG_NOTE, "medssl finetune: feature-extractor: the frozen encoder's %d features per image are "
                        "computed once and cached (--no-feature-cache to turn off)",
                (int)model_value_size(&s->model, s->model.features));
    if (c->class_weights) {
        if ((rc = labeled_class_weights(&s->train_c, s->repeat_train, masks, s->ts.K, c->class_weights, s->class_w)))
            return rc;
        s->ts.class_w = s->class_w;
    }
    if ((rc = run_optimizer(rcfg, &s->opt))) return rc;
    ms_trainer *t = &s->tr;
    run_trainer(t, "finetune", d, rcfg);
    t->model = &s->model;
    t->opt = &s->opt;
    t->ops = &s->task->ops;
    t->ctx = &s->ts;
    t->patience = c->patience;
    t->select_loss = c->select && strcmp(c->select, "loss") == 0;
    t->train = s->train;
    t->val = s->val;
    t->hdf5_driver = s->train_c.driver;
    t->meta = (ms_ckpt_meta){ .model_spec = s->spec, .task = s->task->name,
                              .command_line = rcfg->cmdline ? rcfg->cmdline : "(library call)" };
    snprintf(s->input_size, sizeof s->input_size, "%dx%dx%d", s->train_c.C, s->train_c.H, s->train_c.W);
    t->meta.input_size = s->input_size;
    return trainer_init(t, (uint64_t)rcfg->seed, rcfg->resume);
}

static void teardown(finetune_state *s)
{
    loader_close(s->train);
    loader_close(s->val);
    model_free(&s->model);
    corpus_close(&s->train_c);
    if (s->has_val_c) corpus_close(&s->val_c);
    task_state_free(&s->ts);
    free(s->repeat_train);
    free(s->repeat_val);
    free(s->in_val);
}

int finetune_run(const ms_finetune_cfg *c, const ms_dist *d, ms_run_result *res)
{
    if (res) memset(res, 0, sizeof *res);
    int stage1_epochs = 1;
    int rc = dist_agree(d, "finetune", check_cfg(c, &stage1_epochs));
    if (rc) return rc;
    if ((rc = run_begin(d, "finetune", &c->run))) return rc;
    finetune_state *s = ms_calloc(1, sizeof *s);
    rc = dist_agree(d, "finetune", setup(s, c, d, stage1_epochs));
    if (!rc) {
        const double samples = dist_sum_double(d, (double)loader_epoch_samples(s->train));
        if (d->rank == 0 && !c->run.quiet) {
            ms_log(&c->run.log, MS_LOG_NOTE, "medssl finetune: %s, %s strategy on %s, %d rank(s) x %d thread(s), model %s", c->task,
                    c->strategy, c->train, d->size, s->tr.threads, s->spec);
            const long long steps = loader_steps(s->train), n = (long long)(samples / (double)s->passes + 0.5);
            char passes[96] = "";
            if (s->passes > 1)
                snprintf(passes, sizeof passes, " x %lld passes (%s)", s->passes,
                         c->steps_per_epoch > 0 ? "--steps-per-epoch" : "at least 256 images per epoch");
            ms_log(&c->run.log, MS_LOG_NOTE, "medssl finetune: an epoch is %lld step%s of %d image%s: %lld training sample%s%s", steps,
                    steps == 1 ? "" : "s", c->run.batch, c->run.batch == 1 ? "" : "s", n, n == 1 ? "" : "s", passes);
        }
        rc = trainer_run(&s->tr);
        run_result(&s->tr, res);
    }
    teardown(s);
    free(s);
    return rc;
}
