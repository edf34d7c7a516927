/* optim — optimizers, learning-rate schedules and gradient clipping, each one
 * pass over the parameter slab.
 *
 * The optimizer skips tensors flagged SLAB_FROZEN or SLAB_BUFFER, applies no
 * weight decay to SLAB_NO_DECAY tensors, and scales the learning rate by each
 * tensor's lr_mult. Update rules match PyTorch:
 *   SGD (L2 decay):     g += wd*w; buf = mu*buf + g;  g = nesterov ? g + mu*buf : buf;  w -= lr*g
 *   SGD (decoupled):    as above without the L2 term, then w -= lr*wd*w (applied first)
 *   AdamW:              w *= 1 - lr*wd; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
 *                       w -= lr * (m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps)
 * In the first SGD step the momentum buffer is initialised to g (as PyTorch).
 */
#ifndef MEDSSL_OPTIM_H
#define MEDSSL_OPTIM_H

#include "medssl/slab.h"

typedef enum { OPT_SGD, OPT_ADAMW, OPT__COUNT } ms_opt_kind;

typedef struct {
    ms_opt_kind kind;
    float momentum;      /* SGD */
    int nesterov;        /* SGD */
    int decoupled_wd;    /* SGD: 1 = decoupled, 0 = L2 added to the gradient */
    float weight_decay;
    float beta1, beta2, eps; /* AdamW */
    long step;           /* steps taken so far (Adam bias correction, SGD first step) */
} ms_optim;

ms_optim optim_sgd(float momentum, int nesterov, float weight_decay);
ms_optim optim_adamw(float beta1, float beta2, float eps, float weight_decay);
/* Parses "sgd" / "adamw"; returns -1 for anything else. */
int optim_kind_parse(const char *name);

/* One update of every trainable tensor with learning rate lr. */
void optim_step(ms_optim *o, ms_slab *s, float lr);

/* L2 norm of the gradients of trainable tensors. */
double slab_grad_norm(const ms_slab *s);
/* Scales trainable gradients so their norm is at most max_norm; returns the
 * norm before clipping. max_norm <= 0 disables clipping. */
double clip_grad_norm(ms_slab *s, double max_norm);

typedef enum { SCHED_CONSTANT, SCHED_STEP, SCHED_COSINE, SCHED__COUNT } ms_sched_kind;

typedef struct {
    ms_sched_kind kind;
    float base_lr;
    long warmup_steps;   /* linear warmup from base_lr*warmup_start to base_lr */
    float warmup_start;  /* fraction of base_lr at step 0 (e.g. 0.0 or 0.1) */
    long total_steps;    /* cosine: decays to min_lr at total_steps */
    float min_lr;
    long step_size;      /* step: multiply by gamma every step_size steps (after warmup) */
    float gamma;
} ms_sched;

/* Parses "constant" / "step" / "cosine"; returns -1 otherwise. */
int sched_kind_parse(const char *name);
/* Learning rate at `step` (0-based):
 *   warmup (step < warmup_steps): base_lr * (warmup_start + (1-warmup_start) * step/warmup_steps)
 *   constant: base_lr
 *   step:     base_lr * gamma^floor((step - warmup_steps) / step_size)
 *   cosine:   min_lr + (base_lr-min_lr) * 0.5*(1+cos(pi * t)), t = (step-warmup)/(total-warmup) clamped to [0,1] */
float sched_lr(const ms_sched *s, long step);

#endif
