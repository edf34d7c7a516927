/* test_optim — optimizers, schedules and clipping of src/nn/optim.c on a tiny
 * slab: steps worked out by hand, multi-step runs against a double-precision
 * transcription of the header's update rules, frozen/buffer tensors left
 * bit-identical, schedule values at chosen steps, gradient-norm clipping, and
 * prefix flag matching.
 *
 * The test slab (offsets in floats):
 *   "enc.conv.weight"      (2,3)  offset 0   decayed
 *   "enc.bn.bias"          (3)    offset 6   SLAB_NO_DECAY
 *   "enc.bn.running_mean"  (3)    offset 9   SLAB_BUFFER
 *   "head.weight"          (2,2)  offset 12  SLAB_FROZEN
 */
#include "medssl/common.h"
#include "medssl/optim.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { T_W = 0, T_B = 6, T_RM = 9, T_HEAD = 12, T_N = 16, N_W = 6, N_B = 3 };

static void make_slab(ms_slab *s)
{
    slab_init(s);
    CHECK(slab_add(s, "enc.conv.weight", 2, (int[]){2, 3}, 0) == T_W);
    CHECK(slab_add(s, "enc.bn.bias", 1, (int[]){3}, SLAB_NO_DECAY) == T_B);
    CHECK(slab_add(s, "enc.bn.running_mean", 1, (int[]){3}, SLAB_BUFFER) == T_RM);
    CHECK(slab_add(s, "head.weight", 2, (int[]){2, 2}, SLAB_FROZEN) == T_HEAD);
    slab_alloc(s);
    CHECK(s->n == T_N);
}

/* Every value 1 and every gradient 0.5: the hand-computed cases below. */
static void fill_const(ms_slab *s)
{
    for (size_t i = 0; i < s->n; i++) {
        s->val[i] = 1.0f;
        s->grad[i] = 0.5f;
    }
}

/* ---- hand-computed steps (w = 1, g = 0.5 constant, lr = 0.1, mu = 0.9) ---------------- */

static void test_sgd_momentum_hand(void)
{
    ms_slab s;
    make_slab(&s);
    fill_const(&s);
    ms_optim o = optim_sgd(0.9f, 0, 0.1f);
    /* Decayed tensor, L2 wd = 0.1:
     *   step 1: d = 0.5 + 0.1*1 = 0.6;       buf = 0.6 (first step: buf = d);  w = 1 - 0.06 = 0.94
     *   step 2: d = 0.5 + 0.1*0.94 = 0.594;  buf = 0.9*0.6 + 0.594 = 1.134;   w = 0.94 - 0.1134 = 0.8266
     *   step 3: d = 0.5 + 0.08266 = 0.58266; buf = 0.9*1.134 + 0.58266 = 1.60326; w = 0.8266 - 0.160326 = 0.666274
     * NO_DECAY tensor:
     *   step 1: buf = 0.5,  w = 0.95;  step 2: buf = 0.95, w = 0.855;  step 3: buf = 1.355, w = 0.7195 */
    const double want_w[3] = {0.94, 0.8266, 0.666274}, want_b[3] = {0.95, 0.855, 0.7195};
    const double buf_w[3] = {0.6, 1.134, 1.60326}, buf_b[3] = {0.5, 0.95, 1.355};
    for (int t = 0; t < 3; t++) {
        optim_step(&o, &s, 0.1f);
        TU_CHECK(o.step == t + 1);
        for (int i = 0; i < N_W; i++) {
            TU_CLOSE(s.val[T_W + i], want_w[t], 1e-6, 1e-6);
            TU_CLOSE(s.mom1[T_W + i], buf_w[t], 1e-6, 1e-6);
        }
        for (int i = 0; i < N_B; i++) {
            TU_CLOSE(s.val[T_B + i], want_b[t], 1e-6, 1e-6);
            TU_CLOSE(s.mom1[T_B + i], buf_b[t], 1e-6, 1e-6);
        }
    }
    /* The step never modifies the gradients. */
    for (size_t i = 0; i < s.n; i++) TU_CHECK(s.grad[i] == 0.5f);
    slab_free(&s);
}

static void test_sgd_nesterov_hand(void)
{
    ms_slab s;
    make_slab(&s);
    fill_const(&s);
    ms_optim o = optim_sgd(0.9f, 1, 0.0f);
    /* step 1: buf = 0.5;  d = 0.5 + 0.9*0.5 = 0.95;   w = 1 - 0.095 = 0.905
     * step 2: buf = 0.95; d = 0.5 + 0.9*0.95 = 1.355; w = 0.905 - 0.1355 = 0.7695 */
    optim_step(&o, &s, 0.1f);
    TU_CLOSE(s.val[T_W], 0.905, 1e-6, 1e-6);
    optim_step(&o, &s, 0.1f);
    TU_CLOSE(s.val[T_W], 0.7695, 1e-6, 1e-6);
    TU_CLOSE(s.val[T_B + 2], 0.7695, 1e-6, 1e-6);
    TU_CLOSE(s.mom1[T_W], 0.95, 1e-6, 1e-6);
    slab_free(&s);
}

static void test_sgd_first_step_buffer(void)
{
    /* As PyTorch: the first step sets buf = d, whatever the buffer held (e.g. stale
     * state from another optimizer). Stale 7: buf = 0.5, w = 1 - 0.1*0.5 = 0.95, not
     * buf = 0.9*7 + 0.5 = 6.8. From the second step on the buffer is used. */
    ms_slab s;
    make_slab(&s);
    fill_const(&s);
    for (size_t i = 0; i < s.n; i++) s.mom1[i] = 7.0f;
    ms_optim o = optim_sgd(0.9f, 0, 0.0f);
    optim_step(&o, &s, 0.1f);
    TU_CLOSE(s.mom1[T_W], 0.5, 1e-7, 1e-6);
    TU_CLOSE(s.val[T_W], 0.95, 1e-7, 1e-6);
    TU_CHECK(s.mom1[T_RM] == 7.0f && s.mom1[T_HEAD] == 7.0f); /* not trainable: untouched */
    optim_step(&o, &s, 0.1f);
    TU_CLOSE(s.mom1[T_B], 0.95, 1e-7, 1e-6);
    TU_CLOSE(s.val[T_B], 0.855, 1e-7, 1e-6);
    slab_free(&s);
}

static void test_sgd_decoupled_vs_l2_hand(void)
{
    ms_slab s;
    make_slab(&s);
    fill_const(&s);
    ms_optim o = optim_sgd(0.9f, 0, 0.1f);
    o.decoupled_wd = 1;
    /* Decoupled, wd = 0.1, lr = 0.1:
     *   step 1: w = 1*(1 - 0.01) = 0.99;     buf = 0.5;  w = 0.99 - 0.05 = 0.94
     *   step 2: w = 0.94*0.99 = 0.9306;      buf = 0.95; w = 0.9306 - 0.095 = 0.8356
     * (L2 gives 0.94 then 0.8266: equal after one step, different after two.)
     * The momentum buffer holds only gradients: 0.5, then 0.95. NO_DECAY: 0.95, 0.855. */
    optim_step(&o, &s, 0.1f);
    TU_CLOSE(s.val[T_W], 0.94, 1e-6, 1e-6);
    optim_step(&o, &s, 0.1f);
    TU_CLOSE(s.val[T_W + 5], 0.8356, 1e-6, 1e-6);
    TU_CLOSE(s.mom1[T_W], 0.95, 1e-6, 1e-6);
    TU_CLOSE(s.val[T_B], 0.855, 1e-6, 1e-6);
    slab_free(&s);
}

static void test_adamw_hand(void)
{
    ms_slab s;
    make_slab(&s);
    fill_const(&s);
    ms_optim o = optim_adamw(0.9f, 0.999f, 1e-8f, 0.1f);
    /* lr = 0.01, wd = 0.1, g = 0.5 constant. With a constant gradient the bias-corrected
     * moments are exactly g and g^2, so each step moves by lr * g/(|g| + eps) ~ lr.
     *   step 1: w = 1*(1 - 0.001) = 0.999;  m = 0.05, v = 0.00025;
     *           m/(1-0.9) = 0.5, v/(1-0.999) = 0.25, sqrt = 0.5;  w = 0.999 - 0.01 = 0.989
     *   step 2: w = 0.989*0.999 = 0.988011; m = 0.045 + 0.05 = 0.095, /0.19 = 0.5;
     *           v = 0.00024975 + 0.00025 = 0.00049975, /0.001999 = 0.25;  w = 0.978011
     * NO_DECAY tensor: 0.99, then 0.98.
     * Without bias correction step 1 would move by 0.01*0.05/(sqrt(0.00025)) = 0.0316. */
    optim_step(&o, &s, 0.01f);
    TU_CLOSE(s.val[T_W], 0.989, 1e-7, 1e-6);
    TU_CLOSE(s.val[T_B], 0.99, 1e-7, 1e-6);
    TU_CLOSE(s.mom1[T_W], 0.05, 1e-8, 1e-6);
    /* 0.999f is 0.99900001287, so 1 - beta2 is 1.3e-5 off in float: the raw v carries that
     * (it cancels in v / (1 - beta2^t), hence the tight checks on w). */
    TU_CLOSE(s.mom2[T_W], 0.00025, 1e-10, 5e-5);
    optim_step(&o, &s, 0.01f);
    TU_CLOSE(s.val[T_W + 3], 0.978011, 1e-7, 1e-6);
    TU_CLOSE(s.val[T_B + 1], 0.98, 1e-7, 1e-6);
    TU_CLOSE(s.mom1[T_W], 0.095, 1e-8, 1e-6);
    TU_CLOSE(s.mom2[T_W], 0.00049975, 1e-10, 5e-5);
    TU_CHECK(o.step == 2);
    slab_free(&s);
}

/* ---- multi-step runs against a double transcription of the header ------------------ */

typedef struct {
    ms_opt_kind kind;
    double mu, wd, b1, b2, eps;
    int nesterov, decoupled;
} ref_opt;

/* One step of the header's update rule on one element, in double.
 * t: 1-based step number. */
static void ref_step(const ref_opt *r, double *w, double g, double *m, double *v, double lr,
                     double wd, long t)
{
    if (r->kind == OPT_SGD) {
        if (r->decoupled) *w -= lr * wd * *w;
        else g += wd * *w;
        *m = t == 1 ? g : r->mu * *m + g;
        double d = r->nesterov ? g + r->mu * *m : *m;
        *w -= lr * d;
    } else {
        *w *= 1 - lr * wd;
        *m = r->b1 * *m + (1 - r->b1) * g;
        *v = r->b2 * *v + (1 - r->b2) * g * g;
        double mh = *m / (1 - pow(r->b1, (double)t)), vh = *v / (1 - pow(r->b2, (double)t));
        *w -= lr * mh / (sqrt(vh) + r->eps);
    }
}

/* Runs 3 steps with fresh random gradients each step (lr 0.05, 0.03, 0.02) and
 * lr_mult 0.5 on the NO_DECAY tensor; compares every trainable element with the
 * double reference and checks frozen/buffer tensors are bit-identical. */
static void run_vs_reference(const char *what, ms_optim o, const ref_opt *r)
{
    ms_slab s;
    make_slab(&s);
    tu_fill_normal(s.val, s.n, 101, 1.0f);
    TU_CHECK(slab_set_lr_mult_prefix(&s, "enc.bn.bias", 0.5f) == 1);
    float init[T_N], frozen0[T_N - T_RM];
    memcpy(init, s.val, sizeof init);
    memcpy(frozen0, s.val + T_RM, sizeof frozen0); /* running_mean and head.weight */

    double w[T_N], m[T_N] = {0}, v[T_N] = {0};
    for (int i = 0; i < T_N; i++) w[i] = s.val[i];
    const float lrs[3] = {0.05f, 0.03f, 0.02f};
    for (int t = 1; t <= 3; t++) {
        tu_fill_normal(s.grad, s.n, 200 + t, 1.0f);
        optim_step(&o, &s, lrs[t - 1]);
        for (int i = 0; i < T_W + N_W; i++)
            ref_step(r, &w[i], s.grad[i], &m[i], &v[i], lrs[t - 1], r->wd, t);
        for (int i = T_B; i < T_B + N_B; i++)
            ref_step(r, &w[i], s.grad[i], &m[i], &v[i], 0.5 * lrs[t - 1], 0.0, t);
    }
    float wf[T_RM];
    for (int i = 0; i < T_RM; i++) wf[i] = (float)w[i];
    if (tu_max_rel_err(s.val, wf, T_RM, 1e-6, 1e-5) > 1)
        fprintf(stderr, "  (%s)\n", what);
    TU_ALLCLOSE(s.val, wf, T_RM, 1e-6, 1e-5);
    TU_CHECK(o.step == 3);
    /* Frozen and buffer values and state untouched while their neighbours moved. */
    TU_CHECK(memcmp(s.val + T_RM, frozen0, sizeof frozen0) == 0);
    for (int i = T_RM; i < T_N; i++) TU_CHECK(s.mom1[i] == 0.0f && s.mom2[i] == 0.0f);
    for (int i = 0; i < T_RM; i++) TU_CHECK(s.val[i] != init[i]);
    slab_free(&s);
}

static void test_vs_reference(void)
{
    ref_opt r = {.kind = OPT_SGD, .mu = 0.9, .wd = 0.01};
    run_vs_reference("sgd l2", optim_sgd(0.9f, 0, 0.01f), &r);
    r.nesterov = 1;
    run_vs_reference("sgd nesterov l2", optim_sgd(0.9f, 1, 0.01f), &r);
    r.decoupled = 1;
    ms_optim o = optim_sgd(0.9f, 1, 0.01f);
    o.decoupled_wd = 1;
    run_vs_reference("sgd nesterov decoupled", o, &r);
    r = (ref_opt){.kind = OPT_SGD, .mu = 0.0, .wd = 0.05};
    run_vs_reference("sgd no momentum", optim_sgd(0.0f, 0, 0.05f), &r);
    r = (ref_opt){.kind = OPT_ADAMW, .wd = 0.05, .b1 = 0.9, .b2 = 0.999, .eps = 1e-8};
    run_vs_reference("adamw", optim_adamw(0.9f, 0.999f, 1e-8f, 0.05f), &r);
    r = (ref_opt){.kind = OPT_ADAMW, .wd = 0.3, .b1 = 0.5, .b2 = 0.9, .eps = 1e-3};
    run_vs_reference("adamw b1 .5 b2 .9", optim_adamw(0.5f, 0.9f, 1e-3f, 0.3f), &r);
}

static void test_lr_mult_and_frozen(void)
{
    ms_slab s;
    make_slab(&s);
    fill_const(&s);
    /* Plain SGD, lr 0.1, no decay: w -= 0.1 * mult * 0.5. */
    TU_CHECK(slab_set_lr_mult_prefix(&s, "enc.conv", 2.0f) == 1);
    TU_CHECK(slab_set_lr_mult_prefix(&s, "enc.bn.", 0.0f) == 2);
    const float before[T_N - T_RM] = {1, 1, 1, 1, 1, 1, 1};
    ms_optim o = optim_sgd(0.0f, 0, 0.0f);
    optim_step(&o, &s, 0.1f);
    TU_CLOSE(s.val[T_W], 0.9, 1e-7, 1e-6);  /* 1 - 0.1*2*0.5 */
    TU_CHECK(s.val[T_B] == 1.0f);           /* lr_mult 0 */
    TU_CHECK(memcmp(s.val + T_RM, before, sizeof before) == 0);

    /* AdamW with heavy decay: frozen and buffer tensors still bit-identical, moments zero. */
    ms_optim a = optim_adamw(0.9f, 0.999f, 1e-8f, 0.5f);
    for (int t = 0; t < 4; t++) optim_step(&a, &s, 0.1f);
    TU_CHECK(s.val[T_W] < 0.9f);
    TU_CHECK(memcmp(s.val + T_RM, before, sizeof before) == 0);
    for (int i = T_RM; i < T_N; i++) TU_CHECK(s.mom1[i] == 0.0f && s.mom2[i] == 0.0f);
    for (int i = 0; i < T_N; i++) TU_CHECK(s.grad[i] == 0.5f);

    /* Freezing by prefix stops the updates of exactly that tensor. */
    TU_CHECK(slab_set_flag_prefix(&s, "enc.conv", SLAB_FROZEN, 1) == 1);
    float w0 = s.val[T_W];
    optim_step(&a, &s, 0.1f);
    TU_CHECK(s.val[T_W] == w0);
    slab_free(&s);
}

/* ---- schedules ------------------------------------------------------------------- */

static void test_schedules(void)
{
    /* Cosine: base 0.1, 10 warmup steps from 0.1*base, total 110, min 0.001.
     *   step 0: 0.1*0.1 = 0.01;  step 5: 0.1*(0.1 + 0.9*0.5) = 0.055;  step 10: 0.1
     *   step 35: t = 0.25: 0.001 + 0.099*0.5*(1 + cos(pi/4)) = 0.001 + 0.0495*1.70710678 = 0.0855017857
     *   step 60: t = 0.5: 0.001 + 0.0495 = 0.0505;  step 110: 0.001;  step 500: clamped, 0.001 */
    ms_sched c = {.kind = SCHED_COSINE, .base_lr = 0.1f, .warmup_steps = 10, .warmup_start = 0.1f,
                  .total_steps = 110, .min_lr = 0.001f};
    TU_CLOSE(sched_lr(&c, 0), 0.01, 1e-9, 1e-6);
    TU_CLOSE(sched_lr(&c, 5), 0.055, 1e-9, 1e-6);
    TU_CLOSE(sched_lr(&c, 9), 0.1 * (0.1 + 0.9 * 0.9), 1e-9, 1e-6);
    TU_CLOSE(sched_lr(&c, 10), 0.1, 1e-9, 1e-6);
    TU_CLOSE(sched_lr(&c, 35), 0.0855017857, 1e-9, 1e-6);
    TU_CLOSE(sched_lr(&c, 60), 0.0505, 1e-9, 1e-6);
    TU_CLOSE(sched_lr(&c, 110), 0.001, 1e-9, 1e-6);
    TU_CLOSE(sched_lr(&c, 500), 0.001, 1e-9, 1e-6);

    /* Step: base 1, gamma 0.1 every 30 steps, no warmup: 1 up to 29, 0.1 from 30, 0.01 at 65. */
    ms_sched st = {.kind = SCHED_STEP, .base_lr = 1.0f, .step_size = 30, .gamma = 0.1f};
    TU_CLOSE(sched_lr(&st, 0), 1.0, 1e-9, 1e-6);
    TU_CLOSE(sched_lr(&st, 29), 1.0, 1e-9, 1e-6);
    TU_CLOSE(sched_lr(&st, 30), 0.1, 1e-9, 1e-6);
    TU_CLOSE(sched_lr(&st, 65), 0.01, 1e-9, 1e-6);
    /* With 5 warmup steps from 0: step 2 -> 0.4; step 5 -> 1; 34 -> 1; 35 -> 0.1 (counted after warmup). */
    st.warmup_steps = 5;
    TU_CLOSE(sched_lr(&st, 0), 0.0, 1e-9, 0);
    TU_CLOSE(sched_lr(&st, 2), 0.4, 1e-9, 1e-6);
    TU_CLOSE(sched_lr(&st, 5), 1.0, 1e-9, 1e-6);
    TU_CLOSE(sched_lr(&st, 34), 1.0, 1e-9, 1e-6);
    TU_CLOSE(sched_lr(&st, 35), 0.1, 1e-9, 1e-6);

    /* Constant: base everywhere after warmup; warmup 4 from 0.5: step 2 -> 0.3*(0.5+0.5*0.5) = 0.225. */
    ms_sched k = {.kind = SCHED_CONSTANT, .base_lr = 0.3f};
    TU_CLOSE(sched_lr(&k, 0), 0.3, 1e-9, 1e-6);
    TU_CLOSE(sched_lr(&k, 100000), 0.3, 1e-9, 1e-6);
    k.warmup_steps = 4;
    k.warmup_start = 0.5f;
    TU_CLOSE(sched_lr(&k, 2), 0.225, 1e-9, 1e-6);
    TU_CLOSE(sched_lr(&k, 4), 0.3, 1e-9, 1e-6);

    TU_CHECK(sched_kind_parse("constant") == SCHED_CONSTANT);
    TU_CHECK(sched_kind_parse("step") == SCHED_STEP);
    TU_CHECK(sched_kind_parse("cosine") == SCHED_COSINE);
    TU_CHECK(sched_kind_parse("linear") == -1);
    TU_CHECK(sched_kind_parse("") == -1);
    TU_CHECK(optim_kind_parse("sgd") == OPT_SGD);
    TU_CHECK(optim_kind_parse("adamw") == OPT_ADAMW);
    TU_CHECK(optim_kind_parse("adam") == -1);
}

/* ---- clipping and prefixes --------------------------------------------------------- */

static void test_clip_grad_norm(void)
{
    ms_slab s;
    make_slab(&s);
    /* Trainable grads: weight [3, 4, 0, 0, 0, 0], bias [0, 0, 12] -> norm sqrt(9+16+144) = 13.
     * Frozen and buffer grads are 100 and must count for nothing. */
    for (size_t i = 0; i < s.n; i++) s.grad[i] = 0.0f;
    s.grad[T_W] = 3;
    s.grad[T_W + 1] = 4;
    s.grad[T_B + 2] = 12;
    for (int i = T_RM; i < T_N; i++) s.grad[i] = 100;
    TU_CLOSE(slab_grad_norm(&s), 13.0, 0, 1e-12);

    TU_CLOSE(clip_grad_norm(&s, 100.0), 13.0, 0, 1e-12); /* below max: unchanged */
    TU_CHECK(s.grad[T_W] == 3.0f && s.grad[T_B + 2] == 12.0f);
    TU_CLOSE(clip_grad_norm(&s, 0.0), 13.0, 0, 1e-12); /* disabled */
    TU_CHECK(s.grad[T_W] == 3.0f);

    TU_CLOSE(clip_grad_norm(&s, 6.5), 13.0, 0, 1e-12); /* returns the norm before */
    TU_CLOSE(slab_grad_norm(&s), 6.5, 0, 1e-6);        /* norm after == max */
    TU_CLOSE(s.grad[T_W], 1.5, 0, 1e-6);
    TU_CLOSE(s.grad[T_W + 1], 2.0, 0, 1e-6);
    TU_CLOSE(s.grad[T_B + 2], 6.0, 0, 1e-6);
    for (int i = T_RM; i < T_N; i++) TU_CHECK(s.grad[i] == 100.0f);
    slab_free(&s);
}

static void test_flag_prefix(void)
{
    ms_slab s;
    make_slab(&s);
    TU_CHECK(slab_count_trainable(&s) == N_W + N_B);
    TU_CHECK(slab_set_flag_prefix(&s, "enc.", SLAB_NO_DECAY, 1) == 3);
    TU_CHECK(slab_set_flag_prefix(&s, "nope", SLAB_FROZEN, 1) == 0);
    TU_CHECK(slab_set_flag_prefix(&s, "head", SLAB_FROZEN, 0) == 1); /* unfreeze the head */
    TU_CHECK(slab_count_trainable(&s) == N_W + N_B + 4);
    TU_CHECK(slab_set_flag_prefix(&s, "enc.bn", SLAB_FROZEN, 1) == 2);
    TU_CHECK(slab_count_trainable(&s) == N_W + 4);
    TU_CHECK(slab_find(&s, "enc.bn.bias")->flags == (SLAB_NO_DECAY | SLAB_FROZEN));
    TU_CHECK(slab_set_flag_prefix(&s, "", SLAB_FROZEN, 1) == 4);
    TU_CHECK(slab_count_trainable(&s) == 0);
    TU_CHECK(slab_set_flag_prefix(&s, "", SLAB_FROZEN, 0) == 4);
    TU_CHECK(slab_count_trainable(&s) == N_W + N_B + 4); /* the buffer stays untrainable */

    /* Unfrozen head now moves; the buffer still does not. */
    for (size_t i = 0; i < s.n; i++) s.grad[i] = 1.0f;
    ms_optim o = optim_sgd(0.0f, 0, 0.0f);
    optim_step(&o, &s, 0.5f);
    TU_CHECK(s.val[T_HEAD] == -0.5f);
    TU_CHECK(s.val[T_RM] == 0.0f);
    slab_free(&s);
}

int main(void)
{
    TU_RUN(test_sgd_momentum_hand);
    TU_RUN(test_sgd_nesterov_hand);
    TU_RUN(test_sgd_first_step_buffer);
    TU_RUN(test_sgd_decoupled_vs_l2_hand);
    TU_RUN(test_adamw_hand);
    TU_RUN(test_vs_reference);
    TU_RUN(test_lr_mult_and_frozen);
    TU_RUN(test_schedules);
    TU_RUN(test_clip_grad_norm);
    TU_RUN(test_flag_prefix);
    return tu_summary();
}
