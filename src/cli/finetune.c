/* finetune — `medssl finetune`: moves an encoder (usually pretrained by
 * `medssl pretrain`) onto a labeled task, data-parallel over MPI ranks.
 *
 *   --task classify   linear or MLP head on the pooled encoder features;
 *                     cross-entropy (optionally class-weighted); val_accuracy
 *   --task segment    U-Net decoder on the encoder stages; Dice + CE; val_dsc
 *
 * The transfer strategy (medssl/transfer.h) decides what trains when; the
 * loop, checkpoints, resume, signals and early stopping are the trainer's
 * (medssl/trainer.h). Only labeled samples train (label >= 0); per-sample
 * repeat counts in the loader give class-balanced oversampling, domain
 * selection and target-domain oversampling (supervised domain adaptation).
 *
 * Dimension legend: B images per rank-batch, K classes, HW pixels per image.
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include "cli.h"
#include "medssl/common.h"
#include "medssl/corpus.h"
#include "medssl/dist.h"
#include "medssl/feature_cache.h"
#include "medssl/labeled.h"
#include "medssl/loader.h"
#include "medssl/loss.h"
#include "medssl/model.h"
#include "medssl/optim.h"
#include "medssl/parallel.h"
#include "medssl/runctl.h"
#include "medssl/trainer.h"
#include "medssl/transfer.h"

#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *task, *train, *val, *out, *init, *strategy, *freeze, *unfreeze, *encoder, *augment, *resume,
        *optimizer, *head, *features, *class_weights, *balance, *domains, *select, *head_norm;
    int epochs, batch, seed, threads, keep, log_every, buffer, hidden, stage1_epochs, patience, classes,
        target_domain, keep_head, sync_bn, no_feature_cache;
    long max_steps, steps_per_epoch;
    float lr, weight_decay, warmup_epochs, val_fraction, momentum, dropout, encoder_lr_mult, target_weight, buffer_mib;
} finetune_opts;

typedef struct {
    ms_dist d;
    ms_corpus train_c, val_c;
    int has_val_c;
    ms_model model;
    ms_optim opt;
    ms_augment aug;
    ms_loader *train, *val;
    ms_trainer tr;
    ms_transfer xfer;
    char spec[1024], cmdline[2048], input_size[48];
    int segment, K, HW, n;          /* task, classes, pixels, rows of the current batch */
    const float *input;             /* the current batch's images (the loader's buffer) */
    int32_t *targets;               /* (B) labels or (B*HW) mask classes, -1 = ignore */
    float class_w[LABELED_MAX_CLASSES];
    int use_class_w;
    float *probs;                   /* segment: softmax workspace (B,K,HW) */
    uint8_t *pred;                  /* segment: (HW) */
    uint16_t *repeat_train, *repeat_val;
    int8_t *in_val;                 /* (N) the --val-fraction split (labeled_split), or NULL */
    long long passes;               /* passes over the training samples per epoch (--steps-per-epoch) */
    const uint16_t *resample;       /* ensemble members: (N) draws of each training sample, or NULL */
    const int64_t *index;           /* the current batch's sample indices */
    int cache_on;                   /* feature-extractor without augmentation: the encoder runs once per sample */
    ms_feature_cache cache[2];      /* [0] validation corpus/split, [1] training */
    float *miss_images;             /* (B, C, H, W): the batch's samples not cached yet */
    int64_t *miss_index;            /* (B) */
    size_t image_floats;            /* C*H*W */
} finetune_run;

/* ---- the task table entries for the trainer ---- */

static int ft_prepare(void *ctx, const ms_batch *b, long epoch, int training)
{
    finetune_run *r = ctx;
    (void)epoch;
    (void)training;
    r->n = b->n;
    if (b->n == 0) return 0;
    r->input = b->images;
    r->index = b->index;
    CHECK(model_set_rows(&r->model, b->n) == 0);
    if (r->segment) {
        for (size_t i = 0; i < (size_t)b->n * r->HW; i++) r->targets[i] = b->masks[i] == 255 ? -1 : b->masks[i];
        return b->n;
    }
    int terms = 0;
    for (int i = 0; i < b->n; i++) {
        r->targets[i] = b->labels[i] < 0 ? -1 : b->labels[i];
        terms += b->labels[i] >= 0;
    }
    return terms;
}

/* Mean foreground Dice of one image's argmax prediction; -1 when neither the
 * truth nor the prediction has any foreground (nothing to score). */
static double image_dsc(const float *probs, const int32_t *target, uint8_t *pred, int K, int HW)
{
    for (int p = 0; p < HW; p++) { /* probs (K,HW) */
        int best = 0;
        for (int k = 1; k < K; k++)
            if (probs[(size_t)k * HW + p] > probs[(size_t)best * HW + p]) best = k;
        pred[p] = (uint8_t)best;
    }
    double sum = 0;
    int classes = 0;
    for (int k = 1; k < K; k++) {
        long long inter = 0, np = 0, nt = 0;
        for (int p = 0; p < HW; p++) {
            if (target[p] < 0) continue;
            np += pred[p] == k;
            nt += target[p] == k;
            inter += pred[p] == k && target[p] == k;
        }
        if (np + nt == 0) continue;
        sum += 2.0 * (double)inter / (double)(np + nt);
        classes++;
    }
    return classes ? sum / classes : -1;
}

static double ft_loss(void *ctx, int terms, int training, float weight, uint64_t key, double *score, double *count)
{
    finetune_run *r = ctx;
    ms_model *m = &r->model;
    float *out;
    if (r->cache_on) {
        ms_feature_cache *fc = &r->cache[training != 0];
        /* the encoder runs on the samples not cached yet (frozen: no gradient
         * needed), then the head on the whole batch's cached features */
        int n_miss = 0;
        for (int i = 0; i < r->n; i++) {
            if (feature_cache_has(fc, r->index[i])) continue;
            memcpy(r->miss_images + (size_t)n_miss * r->image_floats, r->input + (size_t)i * r->image_floats,
                   r->image_floats * sizeof(float));
            r->miss_index[n_miss++] = r->index[i];
        }
        if (n_miss > 0) {
            CHECK(model_set_rows(m, n_miss) == 0);
            model_forward(m, r->miss_images, 0, key);
            feature_cache_store(fc, r->miss_index, n_miss, m->values[m->features].x);
            CHECK(model_set_rows(m, r->n) == 0);
        }
        CHECK(feature_cache_gather(fc, r->index, r->n, m->values[m->features].x));
        out = model_forward_from(m, m->features, training, key);
    } else {
        out = model_forward(m, r->input, training, key);
    }
    float *dout = training ? model_output_grad(m) : NULL;
    const float *cw = r->use_class_w ? r->class_w : NULL;
    *score = 0;
    *count = 0;
    if (r->segment) { /* out (n,K,HW) */
        float loss = dice_ce_loss(dout, r->probs, out, r->targets, cw, -1, r->n, r->K, r->HW, 1.0f, weight);
        for (int i = 0; i < r->n; i++) {
            double dsc = image_dsc(r->probs + (size_t)i * r->K * r->HW, r->targets + (size_t)i * r->HW, r->pred, r->K,
                                   r->HW);
            if (dsc < 0) continue;
            *score += dsc;
            *count += 1;
        }
        return loss;
    }
    float loss = softmax_ce_loss(dout, out, r->targets, cw, -1, r->n, r->K, 1, weight); /* out (n,K) */
    for (int i = 0; i < r->n; i++) {
        if (r->targets[i] < 0) continue;
        int best = 0;
        for (int k = 1; k < r->K; k++)
            if (out[(size_t)i * r->K + k] > out[(size_t)i * r->K + best]) best = k;
        *score += best == r->targets[i];
    }
    *count = terms;
    return loss;
}

static int ft_epoch_begin(void *ctx, long epoch)
{
    finetune_run *r = ctx;
    int changed = transfer_apply(&r->xfer, &r->model, epoch);
    if (changed && epoch > 0 && r->d.rank == 0)
        fprintf(stderr, "medssl finetune: two-stage: stage 2 from epoch %ld: unfrozen %s, encoder LR x%g\n", epoch + 1,
                r->xfer.unfreeze ? r->xfer.unfreeze : "the whole encoder", (double)r->xfer.encoder_lr_mult);
    return MS_OK;
}

static const ms_task_ops finetune_ops = { ft_prepare, ft_loss, ft_epoch_begin };

/* ---- setup ---- */

/* The model spec: the encoder (from --init, else --encoder), cut at
 * --features, with the task's head or decoder. */
static int build_spec(finetune_run *r, const finetune_opts *o)
{
    ms_model_spec s;
    int rc;
    if (o->init) {
        if ((rc = transfer_encoder_spec(o->init, &s))) return rc;
        if (s.in_channels != r->train_c.C)
            return MS_FAIL(MS_ERR_INPUT, "%s: the encoder takes %d channel(s) but %s has %d", o->init, s.in_channels,
                           o->train, r->train_c.C);
    } else {
        if ((rc = model_spec_parse(&s, o->encoder))) return MS_FAIL(rc, "--encoder: %s", ms_last_error());
        if (s.head != HEAD_NONE || s.has_decoder) return MS_FAIL(MS_ERR_INPUT, "--encoder: give only the encoder part");
        s.in_channels = r->train_c.C;
    }
    const int init_norm = s.head_norm; /* the --init checkpoint's head (for --keep-head) */
    s.head_norm = 0;
    if (o->features) {
        int stage = -1;
        if (sscanf(o->features, "stage%d", &stage) != 1 || stage < 0 || stage >= s.n_stages)
            return MS_FAIL(MS_ERR_INPUT, "--features %s: expected stage0..stage%d", o->features, s.n_stages - 1);
        if (r->segment) return MS_FAIL(MS_ERR_INPUT, "--features applies to --task classify");
        s.n_stages = stage + 1;
    }
    if (r->segment) {
        s.has_decoder = 1;
        s.dec_out = r->K;
        s.up = UP_BILINEAR;
    } else {
        if (strcmp(o->head, "linear") == 0) s.head = HEAD_LINEAR;
        else if (strcmp(o->head, "mlp") == 0) s.head = HEAD_MLP;
        else return MS_FAIL(MS_ERR_INPUT, "--head %s: expected linear or mlp", o->head);
        if (!o->head_norm) /* the head learns on frozen features first: make it blind to their scale */
            s.head_norm = o->init && o->keep_head ? init_norm
                          : r->xfer.strategy == STRATEGY_FEATURE_EXTRACTOR || r->xfer.strategy == STRATEGY_TWO_STAGE;
        else
            s.head_norm = strcmp(o->head_norm, "bn") == 0; /* checked by finetune_main */
        s.classes = r->K;
        s.hidden = o->hidden;
        s.dropout = o->dropout;
    }
    model_spec_format(&s, r->spec, sizeof r->spec);
    ms_model_spec check;
    if ((rc = model_spec_parse(&check, r->spec))) return rc;
    model_build(&r->model, &check);
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
 * validation samples (--val FILE, or the exact stratified --val-fraction split
 * of the training corpus, labeled.h). The split lives in the repeat counts,
 * so both loaders read their corpus with SPLIT_ALL. */
static int open_loaders(finetune_run *r, const finetune_opts *o)
{
    const int B = o->batch / r->d.size;
    int rc;
    int split_val = !o->val && o->val_fraction > 0;
    ms_labeled_sel sel = { .segment = r->segment, .K = r->K, .seed = (uint64_t)o->seed, .domains = o->domains,
                           .target_domain = o->target_domain, .target_weight = o->target_weight,
                           .balance = o->balance && strcmp(o->balance, "oversample") == 0, .split = SPLIT_ALL };
    if (split_val) {
        ms_split_info si;
        if ((rc = labeled_split(&r->train_c, &sel, o->val_fraction, &r->in_val, &si))) return rc;
        if (si.n_train + si.n_val == 0)
            return MS_FAIL(MS_ERR_INPUT, "%s: no %s selected%s", o->train, r->segment ? "samples" : "labeled samples",
                           o->domains ? " (check --domains)" : "");
        if (si.n_val == 0) {
            split_val = 0;
            if (r->d.rank == 0)
                fprintf(stderr, "medssl finetune: %s holds a single %ssample: training without validation "
                                "(best.h5 is the last epoch's model)\n", o->train, r->segment ? "" : "labeled ");
        } else {
            sel.split = SPLIT_TRAIN;
            sel.in_val = r->in_val;
            if (r->d.rank == 0)
                fprintf(stderr, "medssl finetune: split of %s: %lld training / %lld validation sample%s (--val-fraction "
                                "%g, stratified by %s, seed %d)\n", o->train, si.n_train, si.n_val,
                        si.n_val == 1 ? "" : "s", (double)o->val_fraction,
                        r->segment ? "mask foreground" : "class", o->seed);
        }
    }
    if ((rc = labeled_repeat(&r->train_c, &sel, 1, &r->repeat_train))) return rc;
    long long total = 0;
    for (long long i = 0; i < r->train_c.N; i++) {
        long v = (long)r->repeat_train[i] * (r->resample ? r->resample[i] : 1); /* a bagging/boosting member's draw */
        r->repeat_train[i] = (uint16_t)(v > 65535 ? 65535 : v);
        total += r->repeat_train[i];
    }
    if (total == 0 && r->resample)
        return MS_FAIL(MS_ERR_INPUT, "%s: the member's resample selects no training sample", o->train);
    r->passes = epoch_passes(total, o->batch, o->steps_per_epoch);
    if (r->passes > 1) {
        for (long long i = 0; i < r->train_c.N; i++) {
            long long v = (long long)r->repeat_train[i] * r->passes;
            if (v > 65535)
                return MS_FAIL(MS_ERR_INPUT, "--steps-per-epoch %ld: more than 65535 copies of a sample per epoch",
                               o->steps_per_epoch);
            r->repeat_train[i] = (uint16_t)v;
        }
    }
    if ((rc = augment_parse(&r->aug, o->augment ? o->augment : ""))) return MS_FAIL(rc, "--%s", ms_last_error());
    ms_loader_cfg lc = { .rank = r->d.rank, .size = r->d.size, .seed = (uint64_t)o->seed, .batch = B,
                         .buffer = shuffle_buffer(&r->train_c, o->buffer, o->buffer_mib, r->segment, r->d.rank,
                                                  "finetune"),
                         .split = SPLIT_ALL, .shuffle = 1, .augment = &r->aug,
                         .want_labels = !r->segment, .want_masks = r->segment, .repeat = r->repeat_train };
    if ((rc = loader_open(&r->train, &r->train_c, &lc))) return rc;
    if ((rc = loader_start_epoch(r->train, 0)))
        return MS_FAIL(rc, "%s: no labeled training samples after the split and domain selection", o->train);
    if (!o->val && !split_val) return MS_OK;
    ms_corpus *vc = &r->train_c;
    sel.balance = 0;
    sel.target_weight = 1;
    sel.split = split_val ? SPLIT_VAL : SPLIT_ALL;
    if (o->val) {
        vc = &r->val_c;
        sel.domains = NULL;
    }
    if ((rc = labeled_repeat(vc, &sel, 0, &r->repeat_val))) return rc;
    lc.shuffle = 0;
    lc.augment = NULL;
    lc.repeat = r->repeat_val;
    if ((rc = loader_open(&r->val, vc, &lc))) return rc;
    if ((rc = loader_start_epoch(r->val, 0)))
        return MS_FAIL(rc, "%s: the validation split is empty (raise --val-fraction or give --val FILE)", vc->path);
    return MS_OK;
}

static int setup(finetune_run *r, const finetune_opts *o)
{
    int rc;
    if (strcmp(o->task, "classify") == 0) r->segment = 0;
    else if (strcmp(o->task, "segment") == 0) r->segment = 1;
    else return MS_FAIL(MS_ERR_INPUT, "--task %s: expected classify or segment", o->task);
    int st = strategy_parse(o->strategy);
    if (st < 0)
        return MS_FAIL(MS_ERR_INPUT, "--strategy %s: expected feature-extractor, finetune, two-stage or scratch", o->strategy);
    r->xfer = (ms_transfer){ .strategy = (ms_strategy)st, .freeze = o->freeze, .unfreeze = o->unfreeze,
                             .encoder_lr_mult = o->encoder_lr_mult >= 0 ? o->encoder_lr_mult
                                                : st == STRATEGY_TWO_STAGE ? 0.1f : 1.0f,
                             .stage1_epochs = o->stage1_epochs };
    if (st != STRATEGY_SCRATCH && !o->init && r->d.rank == 0)
        fprintf(stderr, "medssl finetune: no --init: the %s strategy starts from a randomly initialized encoder "
                        "(a baseline)\n", o->strategy);
    if (o->freeze && st != STRATEGY_FINETUNE) return MS_FAIL(MS_ERR_INPUT, "--freeze applies to --strategy finetune");
    if (o->unfreeze && st != STRATEGY_TWO_STAGE) return MS_FAIL(MS_ERR_INPUT, "--unfreeze applies to --strategy two-stage");
    if (st == STRATEGY_TWO_STAGE && o->stage1_epochs >= o->epochs)
        return MS_FAIL(MS_ERR_INPUT, "--stage1-epochs %d must be below --epochs %d", o->stage1_epochs, o->epochs);
    if (o->balance && strcmp(o->balance, "oversample") != 0 && strcmp(o->balance, "none") != 0)
        return MS_FAIL(MS_ERR_INPUT, "--balance %s: expected none or oversample", o->balance);
    if (o->batch % r->d.size != 0)
        return MS_FAIL(MS_ERR_INPUT, "--batch %d is not divisible by the %d ranks", o->batch, r->d.size);

    if ((rc = corpus_open(&r->train_c, o->train))) return rc;
    if (o->val) {
        if ((rc = corpus_open_like(&r->val_c, o->val, &r->train_c))) return rc;
        r->has_val_c = 1;
    }
    if ((rc = labeled_check(&r->train_c, r->segment, o->classes, &r->K))) return rc;
    if (r->has_val_c) {
        int Kv;
        if ((rc = labeled_check(&r->val_c, r->segment, r->K, &Kv))) return rc;
    }
    r->HW = r->train_c.H * r->train_c.W;
    if ((rc = build_spec(r, o))) return rc;
    model_init_weights(&r->model, (uint64_t)o->seed);
    if ((rc = transfer_check(&r->xfer, &r->model))) return rc; /* before "loaded ..." : one message */
    if (o->init && strategy_uses_init(r->xfer.strategy)) {
        int n = 0;
        if ((rc = transfer_load(&r->model, o->init, "encoder.", &n))) return rc;
        if (o->keep_head) { /* segment: the decoder blocks (e.g. an autoencoder's); its output conv if it fits */
            int nh = 0, no = 0;
            if ((rc = transfer_load(&r->model, o->init, r->segment ? "decoder.up" : "head.", &nh)))
                return MS_FAIL(rc, "--keep-head: %s", ms_last_error());
            if (r->segment && transfer_load(&r->model, o->init, "decoder.out", &no) && r->d.rank == 0) {
                fprintf(stderr, "medssl finetune: --keep-head: decoder.out stays new (%s)\n", ms_last_error());
                ms_clear_error();
            }
            n += nh + no;
        }
        if (r->d.rank == 0) fprintf(stderr, "medssl finetune: loaded %d tensor%s from %s\n", n, n == 1 ? "" : "s", o->init);
    }
    const int B = o->batch / r->d.size;
    if ((rc = model_plan(&r->model, B, r->train_c.H, r->train_c.W))) return MS_FAIL(rc, "%s: %s", o->train, ms_last_error());
    if (o->sync_bn) model_set_sync_bn(&r->model, r->d.comm);

    if ((rc = open_loaders(r, o))) return rc;
    /* a frozen encoder (BN in eval mode) on unaugmented images gives every
     * sample the same features each epoch: compute them once */
    r->cache_on = st == STRATEGY_FEATURE_EXTRACTOR && !r->segment && r->aug.n_ops == 0 && !o->no_feature_cache;
    if (r->cache_on) {
        const int F = (int)model_value_size(&r->model, r->model.features);
        feature_cache_init(&r->cache[0], F);
        feature_cache_init(&r->cache[1], F);
        r->image_floats = (size_t)r->train_c.C * r->train_c.H * r->train_c.W;
        r->miss_images = ms_aligned((size_t)B * r->image_floats * sizeof(float));
        r->miss_index = ms_malloc((size_t)B * sizeof(int64_t));
        if (r->d.rank == 0)
            fprintf(stderr, "medssl finetune: feature-extractor: the frozen encoder's %d features per image are "
                            "computed once and cached (--no-feature-cache to turn off)\n", F);
    }
    if (o->class_weights) {
        r->use_class_w = 1;
        if ((rc = labeled_class_weights(&r->train_c, r->repeat_train, r->segment, r->K, o->class_weights, r->class_w)))
            return rc;
    }
    r->targets = ms_malloc((size_t)B * (r->segment ? r->HW : 1) * sizeof(int32_t));
    if (r->segment) {
        r->probs = ms_aligned((size_t)B * r->K * r->HW * sizeof(float));
        r->pred = ms_malloc((size_t)r->HW);
    }
    int opt_kind = optim_kind_parse(o->optimizer);
    if (opt_kind < 0) return MS_FAIL(MS_ERR_INPUT, "--optimizer %s: expected sgd or adamw", o->optimizer);
    r->opt = opt_kind == OPT_SGD ? optim_sgd(o->momentum, 1, o->weight_decay)
                                 : optim_adamw(0.9f, 0.999f, 1e-8f, o->weight_decay);
    int select_loss = o->select && strcmp(o->select, "loss") == 0;
    if (o->select && !select_loss && strcmp(o->select, "metric") != 0)
        return MS_FAIL(MS_ERR_INPUT, "--select %s: expected metric or loss", o->select);
    ms_trainer *t = &r->tr;
    *t = (ms_trainer){ .cmd = "finetune", .d = &r->d, .model = &r->model, .opt = &r->opt,
                       .sched = { .kind = SCHED_COSINE, .base_lr = o->lr * (float)o->batch / 256.0f, .warmup_start = 0.1f },
                       .warmup_epochs = o->warmup_epochs, .ops = &finetune_ops, .ctx = r, .out = o->out,
                       .meta = { r->spec, r->segment ? "segment" : "classify", r->cmdline }, .epochs = o->epochs,
                       .global_batch = o->batch, .log_every = o->log_every, .keep = o->keep, .max_steps = o->max_steps,
                       .patience = o->patience, .train = r->train, .val = r->val,
                       .metric_key = r->segment ? "val_dsc" : "val_accuracy", .higher_better = 1,
                       .threads = parallel_threads(), .hdf5_driver = r->train_c.driver,
                       .select_loss = select_loss };
    snprintf(r->input_size, sizeof r->input_size, "%dx%dx%d", r->train_c.C, r->train_c.H, r->train_c.W);
    t->meta.input_size = r->input_size;
    return trainer_init(t, (uint64_t)o->seed, o->resume);
}

static void teardown(finetune_run *r)
{
    loader_close(r->train);
    loader_close(r->val);
    model_free(&r->model);
    corpus_close(&r->train_c);
    if (r->has_val_c) corpus_close(&r->val_c);
    free(r->targets);
    free(r->probs);
    free(r->pred);
    free(r->repeat_train);
    free(r->repeat_val);
    free(r->in_val);
    feature_cache_free(&r->cache[0]);
    feature_cache_free(&r->cache[1]);
    free(r->miss_images);
    free(r->miss_index);
}

int cmd_finetune(int argc, char **argv)
{
    return finetune_main(argc, argv, NULL);
}

int finetune_main(int argc, char **argv, const uint16_t *resample)
{
    finetune_opts o = { .encoder = "encoder:widths=32-64-128-256,block=plain,convs=2", .optimizer = "sgd",
                        .head = "linear", .epochs = 30, .batch = 32, .keep = 2, .log_every = 50, .buffer = 4096, .buffer_mib = 256,
                        .hidden = 256, .stage1_epochs = -1, .target_domain = -1, .lr = 0.1f, .weight_decay = 5e-4f,
                        .warmup_epochs = 1, .val_fraction = 0.1f, .momentum = 0.9f, .dropout = 0.5f,
                        .encoder_lr_mult = -1, .target_weight = 1 };
    const char *probe = NULL;
    const ms_arg args[] = {
        { "task", ARG_STRING, &o.task, 0, 0, "classify|segment", "the labeled task (required)" },
        { "train", ARG_STRING, &o.train, 0, 0, "FILE", "labeled corpus (unlabeled samples, label -1, are skipped)" },
        { "val", ARG_STRING, &o.val, 0, 0, "FILE", "validation corpus (default: --val-fraction of --train)" },
        { "out", ARG_STRING, &o.out, 0, 0, "DIR", "run folder: checkpoints and metrics.jsonl (required)" },
        { "init", ARG_STRING, &o.init, 0, 0, "CKPT", "any medssl checkpoint: its encoder is loaded by name" },
        { "strategy", ARG_STRING, &o.strategy, 0, 0, "S", "feature-extractor|finetune|two-stage|scratch (required)" },
        { "freeze", ARG_STRING, &o.freeze, 0, 0, "L,..", "finetune: frozen layers (stage0,stage1 or name prefixes)" },
        { "unfreeze", ARG_STRING, &o.unfreeze, 0, 0, "L,..", "two-stage: layers trained in stage 2 (default all)" },
        { "stage1-epochs", ARG_INT, &o.stage1_epochs, 0, 100000, "E", "two-stage: head-only epochs (default epochs/3)" },
        { "encoder-lr-mult", ARG_FLOAT, &o.encoder_lr_mult, 0, 100, "X", "encoder LR factor (finetune 1, two-stage 0.1)" },
        { "features", ARG_STRING, &o.features, 0, 0, "stageK", "classify: pool features of encoder stage K" },
        { "head", ARG_STRING, &o.head, 0, 0, "linear|mlp", "classify head (default linear)" },
        { "probe", ARG_STRING, &probe, 0, 0, "linear|mlp", "the same as --head (feature-extractor wording)" },
        { "head-norm", ARG_STRING, &o.head_norm, 0, 0, "bn|none", "classify: BatchNorm on the features before the head "
                                                                 "(default bn for feature-extractor and two-stage)" },
        { "hidden", ARG_INT, &o.hidden, 1, 65536, "N", "mlp head: hidden units (default 256)" },
        { "dropout", ARG_FLOAT, &o.dropout, 0, 0.95, "P", "mlp head: dropout (default 0.5)" },
        { "encoder", ARG_STRING, &o.encoder, 0, 0, "SPEC", "encoder without --init (default widths=32-64-128-256)" },
        { "keep-head", ARG_BOOL, &o.keep_head, 0, 0, NULL, "also load the head (classify) or decoder (segment) of --init" },
        { "classes", ARG_INT, &o.classes, 2, LABELED_MAX_CLASSES, "K", "classes (default: from the corpus)" },
        { "class-weights", ARG_STRING, &o.class_weights, 0, 0, "auto|w0,w1,..", "loss class weights (auto: inverse frequency)" },
        { "balance", ARG_STRING, &o.balance, 0, 0, "none|oversample", "classify: class-balanced oversampling" },
        { "domains", ARG_STRING, &o.domains, 0, 0, "D,..", "train only on these /domains values" },
        { "target-domain", ARG_INT, &o.target_domain, 0, 1 << 30, "D", "domain oversampled by --target-weight" },
        { "target-weight", ARG_FLOAT, &o.target_weight, 1, 1000, "W", "repeats of each target-domain sample (default 1)" },
        { "epochs", ARG_INT, &o.epochs, 1, 100000, NULL, "epochs (default 30)" },
        { "batch", ARG_INT, &o.batch, 1, 1 << 20, "B", "global batch in images, split over the ranks (default 32)" },
        { "steps-per-epoch", ARG_LONG, &o.steps_per_epoch, 1, 1e9, "S", "at least S steps per epoch: the training samples "
                                                                       "repeated a whole number of times (default: "
                                                                       "enough passes for 256 images)" },
        { "lr", ARG_FLOAT, &o.lr, 1e-8, 1e6, "X", "learning rate for 256 images, scaled by batch/256 (default 0.1)" },
        { "optimizer", ARG_STRING, &o.optimizer, 0, 0, "sgd|adamw", "optimizer (default sgd, momentum 0.9, Nesterov)" },
        { "momentum", ARG_FLOAT, &o.momentum, 0, 0.999, "M", "SGD momentum (default 0.9)" },
        { "weight-decay", ARG_FLOAT, &o.weight_decay, 0, 1, "X", "weight decay (default 5e-4; none on BN and biases)" },
        { "warmup-epochs", ARG_FLOAT, &o.warmup_epochs, 0, 1000, "E", "linear warmup, then cosine decay (default 1)" },
        { "augment", ARG_STRING, &o.augment, 0, 0, "OPS", "online augmentation (see medssl preview)" },
        { "no-feature-cache", ARG_BOOL, &o.no_feature_cache, 0, 0, NULL, "feature-extractor: run the frozen encoder every "
                                                                       "epoch (default: once per sample, without --augment)" },
        { "val-fraction", ARG_FLOAT, &o.val_fraction, 0, 0.9, "F", "held-out fraction without --val (default 0.1)" },
        { "select", ARG_STRING, &o.select, 0, 0, "metric|loss", "best.h5 by the validation metric or loss" },
        { "patience", ARG_INT, &o.patience, 0, 100000, "E", "early stop after E epochs without a better best (0: off)" },
        { "seed", ARG_INT, &o.seed, 0, 2147483647, "N", "seed of everything random (default 0)" },
        { "resume", ARG_STRING, &o.resume, 0, 0, "auto|PATH", "continue from the newest checkpoint in --out, or PATH" },
        { "keep", ARG_INT, &o.keep, 1, 1000, "K", "step checkpoints kept besides last.h5 and best.h5 (default 2)" },
        { "log-every", ARG_INT, &o.log_every, 1, 1000000, "N", "progress line and metrics every N steps (default 50)" },
        { "max-steps", ARG_LONG, &o.max_steps, 1, 1e15, "N", "stop (with a checkpoint) after N steps of this run" },
        { "threads", ARG_INT, &o.threads, 1, 256, "T", "threads per rank (default: cores / ranks)" },
        { "sync-bn", ARG_BOOL, &o.sync_bn, 0, 0, NULL, "BatchNorm statistics over all ranks' batches (default per rank)" },
        { "buffer", ARG_INT, &o.buffer, 1, 1 << 24, "M", "shuffle buffer in images per rank (default 4096)" },
        { "buffer-mib", ARG_FLOAT, &o.buffer_mib, 1, 1 << 24, "MIB", "and at most MIB MiB per rank (default 256)" },
    };
    int rc = cli_parse("finetune", "--task classify|segment --train FILE --out DIR --strategy S [--init CKPT] [options]",
                       "Transfer an encoder to a labeled task (classification or segmentation), data-parallel\n"
                       "under mpirun/srun. SIGTERM or SIGUSR1 checkpoint and exit 0; --resume auto continues.",
                       args, (int)(sizeof args / sizeof *args), argc, argv, NULL, 0, NULL);
    if (rc) return rc < 0 ? 0 : rc;
    if (!o.task || !o.train || !o.out || !o.strategy) {
        fprintf(stderr, "medssl finetune: --task, --train, --out and --strategy are required (see medssl finetune --help)\n");
        return 2;
    }
    if (probe) o.head = probe;
    if (o.head_norm && strcmp(o.head_norm, "bn") != 0 && strcmp(o.head_norm, "none") != 0) {
        fprintf(stderr, "medssl finetune: --head-norm %s: expected bn or none\n", o.head_norm);
        return 2;
    }
    if (o.stage1_epochs < 0) o.stage1_epochs = o.epochs / 3 > 0 ? o.epochs / 3 : 1;
    if (o.init) { /* the run would overwrite the checkpoint it starts from (and its siblings) */
        char init_dir[4096], a[PATH_MAX], b[PATH_MAX];
        snprintf(init_dir, sizeof init_dir, "%s", o.init);
        if (realpath(dirname(init_dir), a) && realpath(o.out, b) && strcmp(a, b) == 0) {
            fprintf(stderr, "medssl finetune: --out %s is the folder of --init %s: its checkpoints would be overwritten; "
                            "choose another --out\n", o.out, o.init);
            return 2;
        }
    }
    finetune_run r;
    memset(&r, 0, sizeof r);
    r.resample = resample;
    int threads;
    rc = trainer_begin(&r.d, "finetune", &argc, &argv, o.threads, o.out, r.cmdline, sizeof r.cmdline, &threads);
    if (!rc) rc = trainer_agree(&r.d, "finetune", setup(&r, &o));
    if (!rc) {
        double samples = dist_sum_double(&r.d, (double)loader_epoch_samples(r.train));
        if (r.d.rank == 0) {
            fprintf(stderr, "medssl finetune: %s, %s strategy on %s, %d rank(s) x %d thread(s), model %s\n", o.task,
                    o.strategy, o.train, r.d.size, threads, r.spec);
            const long long steps = loader_steps(r.train), n = (long long)(samples / (double)r.passes + 0.5);
            char passes[96] = "";
            if (r.passes > 1)
                snprintf(passes, sizeof passes, " x %lld passes (%s)", r.passes,
                         o.steps_per_epoch > 0 ? "--steps-per-epoch" : "at least 256 images per epoch");
            fprintf(stderr, "medssl finetune: an epoch is %lld step%s of %d image%s: %lld training sample%s%s\n", steps,
                    steps == 1 ? "" : "s", o.batch, o.batch == 1 ? "" : "s", n, n == 1 ? "" : "s", passes);
        }
        rc = trainer_run(&r.tr);
    }
    teardown(&r);
    dist_finalize(&r.d);
    return rc;
}
