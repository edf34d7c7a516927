/* optim — SGD (momentum, Nesterov, L2 or decoupled decay) and AdamW updates,
 * learning-rate schedules and gradient-norm clipping over the parameter slab
 * (see include/medssl/optim.h and slab.h).
 *
 * One pass over the tensor table; each trainable tensor is one contiguous
 * range [offset, offset+size) of val/grad/mom1/mom2, updated with a plain
 * element loop. FROZEN and BUFFER tensors are never read or written; NO_DECAY
 * tensors get weight_decay 0; every tensor's learning rate is lr * lr_mult
 * (the decoupled decay term uses that same per-tensor lr, as a PyTorch param
 * group with its own lr would). The gradient array is never modified by a step.
 */
#include "medssl/optim.h"
#include "medssl/common.h"

#include <math.h>
#include <string.h>

static const char *const opt_names[OPT__COUNT] = {
    [OPT_SGD] = "sgd",
    [OPT_ADAMW] = "adamw",
};
_Static_assert(sizeof opt_names / sizeof opt_names[0] == OPT__COUNT, "opt_names size");

static const char *const sched_names[SCHED__COUNT] = {
    [SCHED_CONSTANT] = "constant",
    [SCHED_STEP] = "step",
    [SCHED_COSINE] = "cosine",
};
_Static_assert(sizeof sched_names / sizeof sched_names[0] == SCHED__COUNT, "sched_names size");

static const double PI = 3.14159265358979323846;

static int is_trainable(const ms_tensor *t) { return !(t->flags & (SLAB_FROZEN | SLAB_BUFFER)); }

ms_optim optim_sgd(float momentum, int nesterov, float weight_decay)
{
    ms_optim o;
    memset(&o, 0, sizeof o);
    o.kind = OPT_SGD;
    o.momentum = momentum;
    o.nesterov = nesterov;
    o.decoupled_wd = 0;
    o.weight_decay = weight_decay;
    return o;
}

ms_optim optim_adamw(float beta1, float beta2, float eps, float weight_decay)
{
    ms_optim o;
    memset(&o, 0, sizeof o);
    o.kind = OPT_ADAMW;
    o.beta1 = beta1;
    o.beta2 = beta2;
    o.eps = eps;
    o.weight_decay = weight_decay;
    return o;
}

int optim_kind_parse(const char *name)
{
    for (int i = 0; i < OPT__COUNT; i++)
        if (strcmp(name, opt_names[i]) == 0) return i;
    return -1;
}

/* SGD on one tensor. w, g, buf (n).
 *   L2:        d = g + wd*w
 *   decoupled: w *= 1 - lr*wd first, then d = g
 *   buf = first ? d : mu*buf + d;  d = nesterov ? d + mu*buf : buf;  w -= lr*d */
static void sgd_tensor(float *restrict w, const float *restrict g, float *restrict buf, size_t n,
                       float lr, float wd, float mu, int nesterov, int decoupled, int first)
{
    const float l2 = decoupled ? 0.0f : wd;
    const float shrink = decoupled ? 1.0f - lr * wd : 1.0f;
    const float mu_buf = first ? 0.0f : mu; /* first step: buf = d exactly */
    if (mu == 0.0f) { /* plain SGD: PyTorch keeps no buffer */
        for (size_t i = 0; i < n; i++) {
            float wi = w[i] * shrink;
            float d = g[i] + l2 * wi;
            w[i] = wi - lr * d;
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        float wi = w[i] * shrink;
        float d = g[i] + l2 * wi;
        float b = mu_buf * buf[i] + d;
        buf[i] = b;
        d = nesterov ? d + mu * b : b;
        w[i] = wi - lr * d;
    }
}

/* AdamW on one tensor. w, g, m, v (n). bc1 = 1 - b1^t, bc2 = 1 - b2^t.
 *   w *= 1 - lr*wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 *   w -= lr * (m / bc1) / (sqrt(v / bc2) + eps) */
static void adamw_tensor(float *restrict w, const float *restrict g, float *restrict m,
                         float *restrict v, size_t n, float lr, float wd, float b1, float b2,
                         float eps, float inv_bc1, float inv_bc2)
{
    const float shrink = 1.0f - lr * wd;
    for (size_t i = 0; i < n; i++) {
        float gi = g[i];
        float mi = b1 * m[i] + (1.0f - b1) * gi;
        float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        w[i] = w[i] * shrink - lr * (mi * inv_bc1) / (sqrtf(vi * inv_bc2) + eps);
    }
}

void optim_step(ms_optim *o, ms_slab *s, float lr)
{
    CHECK(o->kind >= 0 && o->kind < OPT__COUNT);
    CHECK(s->val != NULL);
    const int first = o->step == 0;
    o->step++;
    const long t = o->step;
    float inv_bc1 = 1.0f, inv_bc2 = 1.0f;
    if (o->kind == OPT_ADAMW) {
        inv_bc1 = (float)(1.0 / (1.0 - pow((double)o->beta1, (double)t)));
        inv_bc2 = (float)(1.0 / (1.0 - pow((double)o->beta2, (double)t)));
    }
    for (int i = 0; i < s->n_tensors; i++) {
        const ms_tensor *tn = &s->t[i];
        if (!is_trainable(tn)) continue;
        const float lr_t = lr * tn->lr_mult;
        const float wd = (tn->flags & SLAB_NO_DECAY) ? 0.0f : o->weight_decay;
        float *w = s->val + tn->offset, *g = s->grad + tn->offset;
        float *m1 = s->mom1 + tn->offset, *m2 = s->mom2 + tn->offset;
        switch (o->kind) {
        case OPT_SGD:
            sgd_tensor(w, g, m1, tn->size, lr_t, wd, o->momentum, o->nesterov, o->decoupled_wd,
                       first);
            break;
        case OPT_ADAMW:
            adamw_tensor(w, g, m1, m2, tn->size, lr_t, wd, o->beta1, o->beta2, o->eps, inv_bc1,
                         inv_bc2);
            break;
        case OPT__COUNT:
            break;
        }
    }
}

double slab_grad_norm(const ms_slab *s)
{
    double sum = 0.0;
    for (int i = 0; i < s->n_tensors; i++) {
        const ms_tensor *t = &s->t[i];
        if (!is_trainable(t)) continue;
        const float *g = s->grad + t->offset; /* (size) */
        for (size_t j = 0; j < t->size; j++) sum += (double)g[j] * g[j];
    }
    return sqrt(sum);
}

/* Scales by max_norm / norm exactly (PyTorch adds 1e-6 to the norm), so the
 * norm afterwards equals max_norm up to float rounding. A non-finite norm is
 * returned without touching the gradients: the caller decides what to do. */
double clip_grad_norm(ms_slab *s, double max_norm)
{
    double norm = slab_grad_norm(s);
    if (max_norm <= 0.0 || !isfinite(norm) || norm <= max_norm) return norm;
    const float c = (float)(max_norm / norm);
    for (int i = 0; i < s->n_tensors; i++) {
        const ms_tensor *t = &s->t[i];
        if (!is_trainable(t)) continue;
        float *g = s->grad + t->offset; /* (size) */
        for (size_t j = 0; j < t->size; j++) g[j] *= c;
    }
    return norm;
}

int sched_kind_parse(const char *name)
{
    for (int i = 0; i < SCHED__COUNT; i++)
        if (strcmp(name, sched_names[i]) == 0) return i;
    return -1;
}

float sched_lr(const ms_sched *s, long step)
{
    CHECK(s->kind >= 0 && s->kind < SCHED__COUNT);
    CHECK(step >= 0);
    const double base = s->base_lr;
    if (step < s->warmup_steps) {
        double frac = (double)step / (double)s->warmup_steps;
        return (float)(base * (s->warmup_start + (1.0 - s->warmup_start) * frac));
    }
    const long warm = s->warmup_steps > 0 ? s->warmup_steps : 0;
    switch (s->kind) {
    case SCHED_CONSTANT:
        return (float)base;
    case SCHED_STEP: {
        CHECKM(s->step_size > 0, "step schedule needs step_size > 0");
        long k = (step - warm) / s->step_size;
        return (float)(base * pow((double)s->gamma, (double)k));
    }
    case SCHED_COSINE: {
        long span = s->total_steps - warm;
        double t = span > 0 ? (double)(step - warm) / (double)span : 1.0;
        t = t < 0.0 ? 0.0 : (t > 1.0 ? 1.0 : t);
        return (float)(s->min_lr + (base - s->min_lr) * 0.5 * (1.0 + cos(PI * t)));
    }
    case SCHED__COUNT:
        break;
    }
    return (float)base;
}
