/* slab — the one contiguous parameter buffer and its table of named tensors.
 *
 * All parameters of a model live in one float array `val`, laid out layer by
 * layer in the order the model is built (so each layer's parameters are one
 * contiguous range, ready to all-reduce when its backward ends). Gradients,
 * momentum and Adam moments are parallel arrays with the same offsets.
 * A table of named tensor views describes the layout:
 *
 *   name     PyTorch-style, e.g. "encoder.stage0.conv0.weight"
 *   offset   first float of the tensor in every parallel array
 *   shape    up to 4 dims, PyTorch order ([O, I, kH, kW] for conv, [out, in] for linear)
 *   flags    SLAB_FROZEN (optimizer skips it, backward skips its gradient),
 *            SLAB_NO_DECAY (no weight decay: BN affine and biases),
 *            SLAB_BUFFER (not trainable: BN running stats; saved and broadcast
 *            with the parameters, never touched by the optimizer)
 *
 * Building is two-phase: a model builder calls slab_add() for every tensor
 * (the "size function"), then slab_alloc() allocates every array at once.
 */
#ifndef MEDSSL_SLAB_H
#define MEDSSL_SLAB_H

#include <stddef.h>

enum {
    SLAB_FROZEN = 1u << 0,
    SLAB_NO_DECAY = 1u << 1,
    SLAB_BUFFER = 1u << 2,
};

#define SLAB_NAME_MAX 96

typedef struct {
    char name[SLAB_NAME_MAX];
    size_t offset;   /* in floats */
    size_t size;     /* product of shape */
    int ndim;
    int shape[4];
    unsigned flags;
    float lr_mult;   /* per-tensor learning-rate multiplier, 1 by default */
} ms_tensor;

typedef struct {
    ms_tensor *t;
    int n_tensors, cap;
    size_t n;        /* total floats */
    float *val;      /* (n) parameter values */
    float *grad;     /* (n) gradients, same offsets */
    float *mom1;     /* (n) SGD momentum buffer or Adam first moment */
    float *mom2;     /* (n) Adam second moment */
} ms_slab;

void slab_init(ms_slab *s);
void slab_free(ms_slab *s);
/* Appends a tensor view (before slab_alloc) and returns its offset. */
size_t slab_add(ms_slab *s, const char *name, int ndim, const int *shape, unsigned flags);
/* Allocates val/grad/mom1/mom2 (zeroed, 64-byte aligned). */
void slab_alloc(ms_slab *s);

ms_tensor *slab_find(ms_slab *s, const char *name);
/* Zeroes the gradients of every tensor but the frozen ones (never written). */
void slab_zero_grad(ms_slab *s);
void slab_zero_state(ms_slab *s); /* momentum / Adam moments */
/* Sets (on != 0) or clears `flag` on every tensor whose name starts with
 * `prefix` ("" = all); returns how many tensors matched. */
int slab_set_flag_prefix(ms_slab *s, const char *prefix, unsigned flag, int on);
/* Sets lr_mult on every tensor whose name starts with prefix; returns matches. */
int slab_set_lr_mult_prefix(ms_slab *s, const char *prefix, float mult);
/* Number of floats in tensors that are trainable (not FROZEN, not BUFFER). */
size_t slab_count_trainable(const ms_slab *s);
/* The first tensor whose values hold NaN or Inf (parameters and buffers such
 * as BN running statistics), or -1 when all are finite. */
int slab_first_nonfinite(const ms_slab *s);

#endif
