/* task — the table of labeled tasks and what its entries share (see
 * include/medssl/task.h): the workspace, the cached forward pass, the
 * strategy at each epoch's start. */
#include "medssl/task.h"
#include "medssl/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const ms_task *const tasks[TASK__COUNT] = { [TASK_CLASSIFY] = &task_classify, [TASK_SEGMENT] = &task_segment };
_Static_assert(sizeof tasks / sizeof *tasks == TASK__COUNT, "one entry per ms_task_kind");

int task_kind_parse(const char *name)
{
    for (int k = 0; name && k < TASK__COUNT; k++)
        if (strcmp(tasks[k]->name, name) == 0) return k;
    return -1;
}

const ms_task *task_get(ms_task_kind kind)
{
    CHECKM((unsigned)kind < TASK__COUNT, "task: unknown kind");
    return tasks[kind];
}

const ms_task *task_named(const char *name)
{
    if (!name) return &task_classify;
    const int k = task_kind_parse(name);
    return k < 0 ? NULL : tasks[k];
}

int task_check_truth(const ms_task *t, const ms_corpus *c, const char *model)
{
    const int have = t->masks ? corpus_has_masks(c) : corpus_has_labels(c);
    if (have) return MS_OK;
    return MS_FAIL(MS_ERR_INPUT, "%s: no /%s dataset: %s is a %s model, which needs %s to be judged", c->path,
                   t->judge.truth, model, t->name, t->judge.truth);
}

void task_state_alloc(ms_task_state *st, int B, int C, int H, int W, int cache)
{
    st->B = B;
    st->HW = H * W;
    const int segment = task_get(st->kind)->masks;
    st->targets = ms_malloc((size_t)B * (segment ? st->HW : 1) * sizeof(int32_t));
    if (segment) {
        st->probs = ms_aligned((size_t)B * st->K * st->HW * sizeof(float));
        st->pred = ms_malloc((size_t)st->HW);
    }
    st->cache_on = cache;
    if (cache) {
        const int F = (int)model_value_size(st->model, st->model->features);
        feature_cache_init(&st->cache[0], F);
        feature_cache_init(&st->cache[1], F);
        st->image_floats = (size_t)C * H * W;
        st->miss_images = ms_aligned((size_t)B * st->image_floats * sizeof(float));
        st->miss_index = ms_malloc((size_t)B * sizeof(int64_t));
    }
}

void task_state_free(ms_task_state *st)
{
    free(st->targets);
    free(st->probs);
    free(st->pred);
    if (st->cache_on) {
        feature_cache_free(&st->cache[0]);
        feature_cache_free(&st->cache[1]);
    }
    free(st->miss_images);
    free(st->miss_index);
}

int task_take_batch(ms_task_state *st, const ms_batch *b)
{
    st->n = b->n;
    if (b->n == 0) return 0;
    st->input = b->images;
    st->index = b->index;
    CHECK(model_set_rows(st->model, b->n) == 0);
    return b->n;
}

float *task_forward(ms_task_state *st, int training, uint64_t key)
{
    ms_model *m = st->model;
    if (!st->cache_on) return model_forward(m, st->input, training, key);
    ms_feature_cache *fc = &st->cache[training != 0];
    /* the encoder runs on the samples not cached yet (frozen: no gradient
     * needed), then the head on the whole batch's cached features */
    int n_miss = 0;
    for (int i = 0; i < st->n; i++) {
        if (feature_cache_has(fc, st->index[i])) continue;
        memcpy(st->miss_images + (size_t)n_miss * st->image_floats, st->input + (size_t)i * st->image_floats,
               st->image_floats * sizeof(float));
        st->miss_index[n_miss++] = st->index[i];
    }
    if (n_miss > 0) {
        CHECK(model_set_rows(m, n_miss) == 0);
        model_forward(m, st->miss_images, 0, key);
        feature_cache_store(fc, st->miss_index, n_miss, m->values[m->features].x);
        CHECK(model_set_rows(m, st->n) == 0);
    }
    CHECK(feature_cache_gather(fc, st->index, st->n, m->values[m->features].x));
    return model_forward_from(m, m->features, training, key);
}

int task_epoch_begin(void *ctx, long epoch)
{
    ms_task_state *st = ctx;
    const int changed = transfer_apply(st->xfer, st->model, epoch);
    if (changed && epoch > 0 && st->rank == 0 && !st->quiet)
        ms_log(st->log, MS_LOG_NOTE, "medssl finetune: two-stage: stage 2 from epoch %ld: unfrozen %s, encoder LR x%g", epoch + 1,
                st->xfer->unfreeze ? st->xfer->unfreeze : "the whole encoder", (double)st->xfer->encoder_lr_mult);
    return MS_OK;
}
