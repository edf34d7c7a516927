/* pretrain_run — self-supervised pretraining of an encoder on an unlabeled
 * corpus with a pretext task, data-parallel over the ranks of d (see
 * include/medssl/run.h; `medssl pretrain` maps its flags onto it).
 *
 * Per step: this rank's loader batch (n images) -> pretext inputs and targets
 * -> forward -> loss -> backward with the gradient slab all-reduced in buckets
 * as layers finish -> SGD/AdamW step with linear warmup and cosine decay.
 * Each epoch ends with the pretext metric on the held-out split, a checkpoint
 * (step-*.h5, last.h5, best.h5 by the metric) and metrics.jsonl lines; the
 * task itself (targets, loss, metric, pictures) is pretext/pretext_train.c.
 * A short last batch runs on exactly its rows (model_set_rows); a rank whose
 * share is already exhausted takes part in the all-reduce with zero gradients.
 */
#include "run_internal.h"
#include "medssl/common.h"
#include "medssl/log.h"
#include "medssl/loader.h"
#include "medssl/model.h"
#include "medssl/pretext.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    ms_corpus corpus, val_c;      /* val_c: cfg->run.val (has_val_c) */
    int has_val_c;
    ms_pretext pt;
    ms_pretext_train task;
    ms_model model;
    ms_optim opt;
    ms_augment aug;
    ms_loader *train, *val;
    ms_trainer tr;
    char spec[1024], input_size[48]; /* input_size: the model's input, "CxHxW" */
} pretrain_state;

void pretrain_cfg_defaults(ms_pretrain_cfg *c)
{
    *c = (ms_pretrain_cfg){ .run = { .optimizer = "sgd", .epochs = 10, .batch = 64, .keep = 3, .log_every = 50,
                                     .buffer = 4096, .buffer_mib = 256, .lr = 0.1f, .momentum = 0.9f,
                                     .weight_decay = 5e-4f, .warmup_epochs = 1, .val_fraction = 0.05f },
                            .encoder = "encoder:widths=32-64-128-256,block=plain,convs=2", .recon_every = 1,
                            .recon_count = 8, .noise_sigma = -1, .mask_fraction = -1 };
}

/* The pretext task from the configuration, for the corpus's images and the
 * encoder's smallest input. */
static int make_pretext(pretrain_state *s, const ms_pretrain_cfg *c, const ms_model_spec *enc)
{
    const int kind = pretext_kind_parse(c->task);
    if (kind < 0) return MS_FAIL(MS_ERR_INPUT, "--task %s: expected rotation, jigsaw or autoencoder", c->task ? c->task : "");
    pretext_defaults(&s->pt, (ms_pretext_kind)kind, (uint64_t)c->run.seed, s->corpus.C, s->corpus.H, s->corpus.W,
                     1 << (enc->n_stages - 1));
    if (c->permutations > 0) s->pt.permutations = c->permutations;
    if (c->one_rotation) s->pt.all_rotations = 0;
    if (c->ae_variant) {
        const int v = pretext_ae_variant_parse(c->ae_variant);
        if (v < 0) return MS_FAIL(MS_ERR_INPUT, "--ae-variant %s: expected plain, denoising or inpainting", c->ae_variant);
        s->pt.ae_variant = (ms_ae_variant)v;
    }
    if (c->noise_sigma >= 0) s->pt.noise_sigma = c->noise_sigma;
    if (c->mask_fraction >= 0) s->pt.mask_fraction = c->mask_fraction;
    return pretext_init(&s->pt);
}

static int setup(pretrain_state *s, const ms_pretrain_cfg *c, const ms_dist *d)
{
    const ms_run_cfg *rc_ = &c->run;
    int rc = corpus_open(&s->corpus, c->corpus, d);
    if (rc) return rc;
    if (rc_->val) {
        if ((rc = corpus_open_like(&s->val_c, rc_->val, &s->corpus))) return rc;
        s->has_val_c = 1;
    }
    /* the encoder spec, with the corpus's channel count */
    ms_model_spec enc;
    char enc_text[512];
    snprintf(enc_text, sizeof enc_text, "%s", c->encoder);
    if ((rc = model_spec_parse(&enc, enc_text))) return MS_FAIL(rc, "--encoder: %s", ms_last_error());
    if (enc.head != HEAD_NONE || enc.has_decoder)
        return MS_FAIL(MS_ERR_INPUT, "--encoder: give only the encoder part; the pretext task adds its head");
    enc.in_channels = s->corpus.C;
    if ((rc = make_pretext(s, c, &enc))) return rc;

    char head[256];
    model_spec_format(&enc, s->spec, sizeof s->spec);
    pretext_head_spec(&s->pt, head, sizeof head);
    const size_t len = strlen(s->spec);
    snprintf(s->spec + len, sizeof s->spec - len, ";%s", head);
    ms_model_spec spec;
    if ((rc = model_spec_parse(&spec, s->spec))) return rc;
    model_build(&s->model, &spec);
    model_init_weights(&s->model, (uint64_t)rc_->seed);
    const int B = rc_->batch / d->size;
    pretext_train_init(&s->task, &s->pt, &s->model, B, rc_->out, c->recon_every, c->recon_count, d->rank);
    s->task.log = &c->run.log;
    if ((rc = model_plan(&s->model, B * s->task.R, s->task.in_h, s->task.in_w))) return rc;
    if (rc_->sync_bn && d->size > 1) model_set_bn_reducer(&s->model, dist_sum_doubles_inplace, (void *)d);
    if ((rc = run_optimizer(rc_, &s->opt))) return rc;

    ms_trainer *t = &s->tr;
    run_trainer(t, "pretrain", d, rc_);
    t->model = &s->model;
    t->opt = &s->opt;
    t->ops = pretext_train_ops(s->pt.kind);
    t->ctx = &s->task;
    t->hdf5_driver = s->corpus.driver;
    t->meta = (ms_ckpt_meta){ .model_spec = s->spec, .task = pretext_kind_name(s->pt.kind),
                              .command_line = rc_->cmdline ? rc_->cmdline : "(library call)",
                              .permutations = s->pt.perms,
                              .n_permutations = s->pt.kind == PRETEXT_JIGSAW ? s->pt.permutations : 0 };

    if ((rc = augment_parse(&s->aug, rc_->augment ? rc_->augment : ""))) return MS_FAIL(rc, "--%s", ms_last_error());
    /* held out: the val corpus whole, else val_fraction of the corpus (split by seed), else nothing */
    const int split = !rc_->val && rc_->val_fraction > 0;
    ms_loader_cfg lc = { .rank = d->rank, .size = d->size, .seed = (uint64_t)rc_->seed, .batch = B,
                         .buffer = run_shuffle_buffer(&s->corpus, rc_, 0, d->rank, "pretrain"),
                         .split = split ? SPLIT_TRAIN : SPLIT_ALL,
                         .val_fraction = rc_->val_fraction, .shuffle = 1, .augment = &s->aug };
    if ((rc = loader_open(&s->train, &s->corpus, &lc))) return rc;
    if ((rc = loader_start_epoch(s->train, 0))) return rc;
    if (split || rc_->val) {
        lc.split = split ? SPLIT_VAL : SPLIT_ALL;
        lc.shuffle = 0;
        lc.augment = NULL;
        if ((rc = loader_open(&s->val, rc_->val ? &s->val_c : &s->corpus, &lc))) return rc;
        if ((rc = loader_start_epoch(s->val, 0))) return rc;
    }
    t->train = s->train;
    t->val = s->val;
    snprintf(s->input_size, sizeof s->input_size, "%dx%dx%d", s->corpus.C, s->task.in_h, s->task.in_w);
    t->meta.input_size = s->input_size;
    return trainer_init(t, (uint64_t)rc_->seed, rc_->resume);
}

static void teardown(pretrain_state *s)
{
    loader_close(s->train);
    loader_close(s->val);
    model_free(&s->model);
    pretext_train_free(&s->task);
    pretext_free(&s->pt);
    corpus_close(&s->corpus);
    if (s->has_val_c) corpus_close(&s->val_c);
}

int pretrain_run(const ms_pretrain_cfg *c, const ms_dist *d, ms_run_result *res)
{
    if (res) memset(res, 0, sizeof *res);
    int rc = !c->task || !c->corpus ? MS_FAIL(MS_ERR_INPUT, "a task (--task) and a corpus (--corpus) are required")
             : pretext_kind_parse(c->task) < 0
                 ? MS_FAIL(MS_ERR_INPUT, "--task %s: expected rotation, jigsaw or autoencoder", c->task)
                 : MS_OK;
    if ((rc = dist_agree(d, "pretrain", rc))) return rc; /* refused before anything is made */
    if ((rc = run_begin(d, "pretrain", &c->run))) return rc;
    pretrain_state *s = ms_calloc(1, sizeof *s);
    rc = dist_agree(d, "pretrain", setup(s, c, d));
    if (!rc) {
        if (d->rank == 0 && !c->run.quiet)
            ms_log(&c->run.log, MS_LOG_NOTE, "medssl pretrain: %s on %s (%lld image%s), %d rank(s) x %d thread(s), model %s",
                    pretext_kind_name(s->pt.kind), c->corpus, s->corpus.N, s->corpus.N == 1 ? "" : "s", d->size,
                    s->tr.threads, s->spec);
        rc = trainer_run(&s->tr);
        run_result(&s->tr, res);
    }
    teardown(s);
    free(s);
    return rc;
}
