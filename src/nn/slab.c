/* slab — one parameter buffer with named views (see include/medssl/slab.h). */
#include "medssl/slab.h"
#include "medssl/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void slab_init(ms_slab *s) { memset(s, 0, sizeof *s); }

void slab_free(ms_slab *s)
{
    free(s->t);
    free(s->val);
    free(s->grad);
    free(s->mom1);
    free(s->mom2);
    memset(s, 0, sizeof *s);
}

size_t slab_add(ms_slab *s, const char *name, int ndim, const int *shape, unsigned flags)
{
    CHECKM(s->val == NULL, "slab_add after slab_alloc");
    CHECK(ndim >= 1 && ndim <= 4);
    CHECKM(strlen(name) < SLAB_NAME_MAX, name);
    CHECKM(slab_find(s, name) == NULL, name);
    if (s->n_tensors == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 32;
        s->t = ms_realloc(s->t, (size_t)s->cap * sizeof *s->t);
    }
    ms_tensor *t = &s->t[s->n_tensors++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    t->size = 1;
    for (int d = 0; d < ndim; d++) {
        CHECK(shape[d] > 0);
        t->shape[d] = shape[d];
        t->size *= (size_t)shape[d];
    }
    t->offset = s->n;
    t->flags = flags;
    t->lr_mult = 1.0f;
    s->n += t->size;
    return t->offset;
}

void slab_alloc(ms_slab *s)
{
    CHECK(s->val == NULL);
    size_t bytes = s->n * sizeof(float);
    s->val = ms_aligned(bytes);
    s->grad = ms_aligned(bytes);
    s->mom1 = ms_aligned(bytes);
    s->mom2 = ms_aligned(bytes);
    memset(s->val, 0, bytes);
    memset(s->grad, 0, bytes);
    memset(s->mom1, 0, bytes);
    memset(s->mom2, 0, bytes);
}

ms_tensor *slab_find(ms_slab *s, const char *name)
{
    for (int i = 0; i < s->n_tensors; i++)
        if (strcmp(s->t[i].name, name) == 0) return &s->t[i];
    return NULL;
}

void slab_zero_grad(ms_slab *s)
{
    /* frozen tensors' gradients are never written (backward skips them): runs
     * of the others are zeroed, padding between tensors with them */
    size_t from = 0;
    for (int i = 0; i < s->n_tensors; i++) {
        const ms_tensor *t = &s->t[i];
        if (!(t->flags & SLAB_FROZEN)) continue;
        if (t->offset > from) memset(s->grad + from, 0, (t->offset - from) * sizeof(float));
        if (t->offset + t->size > from) from = t->offset + t->size;
    }
    if (s->n > from) memset(s->grad + from, 0, (s->n - from) * sizeof(float));
}

void slab_zero_state(ms_slab *s)
{
    memset(s->mom1, 0, s->n * sizeof(float));
    memset(s->mom2, 0, s->n * sizeof(float));
}

int slab_set_flag_prefix(ms_slab *s, const char *prefix, unsigned flag, int on)
{
    size_t len = strlen(prefix);
    int matched = 0;
    for (int i = 0; i < s->n_tensors; i++) {
        if (strncmp(s->t[i].name, prefix, len) != 0) continue;
        if (on) s->t[i].flags |= flag;
        else s->t[i].flags &= ~flag;
        matched++;
    }
    return matched;
}

int slab_set_lr_mult_prefix(ms_slab *s, const char *prefix, float mult)
{
    size_t len = strlen(prefix);
    int matched = 0;
    for (int i = 0; i < s->n_tensors; i++) {
        if (strncmp(s->t[i].name, prefix, len) != 0) continue;
        s->t[i].lr_mult = mult;
        matched++;
    }
    return matched;
}

size_t slab_count_trainable(const ms_slab *s)
{
    size_t n = 0;
    for (int i = 0; i < s->n_tensors; i++)
        if (!(s->t[i].flags & (SLAB_FROZEN | SLAB_BUFFER))) n += s->t[i].size;
    return n;
}

int slab_first_nonfinite(const ms_slab *s)
{
    for (int i = 0; i < s->n_tensors; i++) {
        const float *v = s->val + s->t[i].offset;
        float acc = 0; /* NaN or Inf anywhere makes the product-free sum v*0 NaN */
        for (size_t k = 0; k < s->t[i].size; k++) acc += v[k] * 0.0f;
        if (acc != 0.0f) return i;
    }
    return -1;
}
