/* transfer — transfer strategies and encoder loading (see medssl/transfer.h). */
#include "medssl/transfer.h"

#include "medssl/ckpt.h"
#include "medssl/common.h"
#include "medssl/list.h"

#include <stdio.h>
#include <string.h>

/* ---- layer names ---- */

/* The tensor-name prefix of a --freeze/--unfreeze entry. */
static void layer_prefix(const char *name, char *prefix, size_t cap)
{
    if (strcmp(name, "all") == 0 || strcmp(name, "encoder") == 0) snprintf(prefix, cap, "encoder.");
    else if (strncmp(name, "encoder", 7) == 0 || strncmp(name, "head", 4) == 0 || strncmp(name, "decoder", 7) == 0)
        snprintf(prefix, cap, "%s", name);
    else snprintf(prefix, cap, "encoder.%s", name);
    /* "encoder.stage1" must not also match "encoder.stage10..." */
    size_t len = strlen(prefix);
    if (len + 1 < cap && prefix[len - 1] != '.' && strncmp(prefix, "encoder.stage", 13) == 0 && !strchr(prefix + 13, '.')) {
        prefix[len] = '.';
        prefix[len + 1] = '\0';
    }
}

typedef int (*layer_fn)(ms_model *m, const char *prefix, void *arg);

/* Calls fn for every entry of a comma-separated list; stops at the first error. */
static int for_each_layer(const char *list, ms_model *m, layer_fn fn, void *arg)
{
    if (!list || !*list) return MS_OK;
    const char *cur = list;
    char name[200]; /* fits prefix[256] with "encoder." before it */
    for (int r; (r = ms_list_next(&cur, ',', name, sizeof name)) != MS_LIST_END;) {
        if (r == MS_LIST_EMPTY)
            return MS_FAIL(MS_ERR_INPUT, "'%s' has an empty layer name; expected names separated by single commas", list);
        if (r == MS_LIST_TOO_LONG)
            return MS_FAIL(MS_ERR_INPUT, "'%s...': a layer name longer than %zu characters", name, sizeof name - 1);
        char prefix[256];
        layer_prefix(name, prefix, sizeof prefix);
        int rc = fn(m, prefix, name);
        if (rc) return rc;
    }
    return MS_OK;
}

static int check_one(ms_model *m, const char *prefix, void *arg)
{
    int hits = 0;
    for (int i = 0; i < m->slab.n_tensors; i++) hits += strncmp(m->slab.t[i].name, prefix, strlen(prefix)) == 0;
    if (hits) return MS_OK;
    return MS_FAIL(MS_ERR_INPUT, "no layer named '%s' (matched as '%s'); this encoder has stage0..stage%d, "
                                 "or give a tensor name prefix such as encoder.stage0.conv0",
                   (const char *)arg, prefix, m->spec.n_stages - 1);
}

static int freeze_one(ms_model *m, const char *prefix, void *arg)
{
    (void)arg;
    slab_set_flag_prefix(&m->slab, prefix, SLAB_FROZEN, 1);
    model_bn_eval_prefix(m, prefix, 1);
    return MS_OK;
}

static int unfreeze_one(ms_model *m, const char *prefix, void *arg)
{
    (void)arg;
    slab_set_flag_prefix(&m->slab, prefix, SLAB_FROZEN, 0);
    model_bn_eval_prefix(m, prefix, 0);
    return MS_OK;
}

int model_bn_eval_prefix(ms_model *m, const char *prefix, int eval)
{
    int hits = 0;
    const size_t len = strlen(prefix);
    for (int i = 0; i < m->n_ops; i++) {
        ms_op *op = &m->ops[i];
        if (op->kind != OP_BN || strncmp(op->name, prefix, len) != 0) continue;
        op->cfg.bn.eval = eval;
        hits++;
    }
    return hits;
}

int transfer_check(const ms_transfer *t, ms_model *m)
{
    int rc = for_each_layer(t->freeze, m, check_one, NULL);
    if (rc) return MS_FAIL(rc, "--freeze: %s", ms_last_error());
    if ((rc = for_each_layer(t->unfreeze, m, check_one, NULL))) return MS_FAIL(rc, "--unfreeze: %s", ms_last_error());
    return MS_OK;
}

/* ---- strategies ---- */

static void freeze_encoder(ms_model *m)
{
    freeze_one(m, "encoder.", NULL);
}

static void apply_feature_extractor(const ms_transfer *t, ms_model *m, long epoch)
{
    (void)t;
    (void)epoch;
    freeze_encoder(m);
}

static void apply_finetune(const ms_transfer *t, ms_model *m, long epoch)
{
    (void)epoch;
    slab_set_lr_mult_prefix(&m->slab, "encoder.", t->encoder_lr_mult);
    for_each_layer(t->freeze, m, freeze_one, NULL);
}

static void apply_two_stage(const ms_transfer *t, ms_model *m, long epoch)
{
    freeze_encoder(m);
    if (epoch < t->stage1_epochs) return;
    slab_set_lr_mult_prefix(&m->slab, "encoder.", t->encoder_lr_mult);
    if (t->unfreeze && *t->unfreeze) for_each_layer(t->unfreeze, m, unfreeze_one, NULL);
    else unfreeze_one(m, "encoder.", NULL);
}

static void apply_scratch(const ms_transfer *t, ms_model *m, long epoch)
{
    (void)t;
    (void)epoch;
}

typedef struct {
    void (*apply)(const ms_transfer *t, ms_model *m, long epoch);
    int uses_init;
} strategy_entry;

static const strategy_entry strategies[] = {
    [STRATEGY_FEATURE_EXTRACTOR] = { apply_feature_extractor, 1 },
    [STRATEGY_FINETUNE] = { apply_finetune, 1 },
    [STRATEGY_TWO_STAGE] = { apply_two_stage, 1 },
    [STRATEGY_SCRATCH] = { apply_scratch, 0 },
};
static const char *const strategy_names[] = {
    [STRATEGY_FEATURE_EXTRACTOR] = "feature-extractor",
    [STRATEGY_FINETUNE] = "finetune",
    [STRATEGY_TWO_STAGE] = "two-stage",
    [STRATEGY_SCRATCH] = "scratch",
};
_Static_assert(sizeof strategies / sizeof *strategies == STRATEGY__COUNT, "one table entry per strategy");
_Static_assert(sizeof strategy_names / sizeof *strategy_names == STRATEGY__COUNT, "one name per strategy");

int strategy_parse(const char *name)
{
    for (int i = 0; i < STRATEGY__COUNT; i++)
        if (strcmp(name, strategy_names[i]) == 0) return i;
    return -1;
}

const char *strategy_name(ms_strategy s)
{
    return strategy_names[s];
}

int strategy_uses_init(ms_strategy s)
{
    return strategies[s].uses_init;
}

int transfer_apply(const ms_transfer *t, ms_model *m, long epoch)
{
    /* the state before, to report a change */
    unsigned long before = 0;
    for (int i = 0; i < m->slab.n_tensors; i++) before = before * 31u + (m->slab.t[i].flags & SLAB_FROZEN);
    slab_set_flag_prefix(&m->slab, "", SLAB_FROZEN, 0);
    slab_set_lr_mult_prefix(&m->slab, "", 1.0f);
    model_bn_eval_prefix(m, "", 0);
    strategies[t->strategy].apply(t, m, epoch);
    model_update_grad_flags(m);
    unsigned long after = 0;
    for (int i = 0; i < m->slab.n_tensors; i++) after = after * 31u + (m->slab.t[i].flags & SLAB_FROZEN);
    return before != after;
}

/* ---- loading ---- */

int transfer_encoder_spec(const char *ckpt, ms_model_spec *enc)
{
    char text[2048];
    int rc = ckpt_read_meta(ckpt, text, sizeof text, NULL, 0);
    if (rc) return rc;
    if ((rc = model_spec_parse(enc, text))) return MS_FAIL(rc, "%s: model_spec: %s", ckpt, ms_last_error());
    enc->head = HEAD_NONE;
    enc->tiles = 1;
    enc->has_decoder = 0;
    return MS_OK;
}

int transfer_load(ms_model *m, const char *ckpt, const char *prefix, int *n_loaded)
{
    int rc = ckpt_load(ckpt, &m->slab, prefix, NULL, NULL, NULL);
    if (rc) return rc;
    int n = 0;
    for (int i = 0; i < m->slab.n_tensors; i++) n += strncmp(m->slab.t[i].name, prefix, strlen(prefix)) == 0;
    if (n_loaded) *n_loaded = n;
    return MS_OK;
}
