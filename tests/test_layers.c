/* test_layers — finite-difference gradient checks of every layer in
 * medssl/layers.h (with accumulation and NULL-gradient checks), and exact
 * expectations on small inputs: batchnorm train/eval and running stats,
 * maxpool, upsampling against PyTorch values, zero padding and cropping,
 * dropout statistics, linear vs the naive reference.
 *
 * Dimension legend: N batch, C channels, H, W spatial size, HW = H*W,
 * K out channels, R, S kernel size, I, O linear in/out features, n flat count.
 *
 * Gradient checks use L = sum(out * Rw) with a fixed random Rw, so dout = Rw,
 * and the loss is summed in double.
 */
#include "medssl/common.h"
#include "medssl/batchnorm.h"
#include "medssl/conv.h"
#include "medssl/layers.h"
#include "medssl/rng.h"
#include "reference.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the gradient-check harness ---------------------------------------------------- */

#define GC_MAX_X 3
typedef struct gc_case gc_case;
struct gc_case {
    const char *name;
    void (*forward)(gc_case *);              /* out <- layer(x[0..n_x)) */
    void (*backward)(gc_case *, float **g);  /* g[i] += dL/dx[i] with dout = Rw; NULL = skip */
    int n_x;
    float *x[GC_MAX_X];                      /* inputs and parameters, x_n[i] floats each */
    size_t x_n[GC_MAX_X];
    const char *x_name[GC_MAX_X];
    unsigned char *skip[GC_MAX_X];           /* optional: entries at a kink */
    float *out;                              /* out_n floats */
    size_t out_n;
    float *Rw;                               /* loss weights = dout (out_n) */
    float h;                                 /* finite-difference step */
    double atol, rtol;
};

static double gc_loss(void *ctx)
{
    gc_case *gc = ctx;
    gc->forward(gc);
    double L = 0;
    for (size_t i = 0; i < gc->out_n; i++) L += (double)gc->out[i] * gc->Rw[i];
    return L;
}

static float **grads_alloc(const gc_case *gc, float prefill)
{
    float **g = ms_calloc(GC_MAX_X, sizeof(float *));
    for (int i = 0; i < gc->n_x; i++) {
        g[i] = ms_malloc(gc->x_n[i] * sizeof(float));
        for (size_t j = 0; j < gc->x_n[i]; j++) g[i][j] = prefill;
    }
    return g;
}

static void grads_free(float **g)
{
    for (int i = 0; i < GC_MAX_X; i++) free(g[i]);
    free(g);
}

/* Gradient check of every x[i]; then backward twice onto 0.5-prefilled buffers
 * must give 0.5 + 2*grad; then each gradient set to NULL in turn must leave the
 * others unchanged. The forward runs before every backward (backward may read
 * what forward saved, e.g. argmax, mean/rstd, the ReLU output). */
static void gc_run(gc_case *gc, uint64_t seed)
{
    gc->Rw = ms_malloc(gc->out_n * sizeof(float));
    tu_fill_normal(gc->Rw, gc->out_n, seed, 1.0f);

    float **g = grads_alloc(gc, 0.0f);
    gc->forward(gc);
    gc->backward(gc, g);
    for (int i = 0; i < gc->n_x; i++) {
        char what[96];
        snprintf(what, sizeof what, "%s/%s", gc->name, gc->x_name[i]);
        tu_gradcheck(what, gc_loss, gc, gc->x[i], g[i], gc->x_n[i], gc->skip[i], gc->h, gc->atol,
                     gc->rtol, 0);
        double biggest = 0;
        for (size_t j = 0; j < gc->x_n[i]; j++)
            if (fabs(g[i][j]) > biggest) biggest = fabs(g[i][j]);
        TU_CHECKF(biggest > 1e-3, "%s: gradient is all zero", what);
    }

    float **acc = grads_alloc(gc, 0.5f);
    for (int rep = 0; rep < 2; rep++) {
        gc->forward(gc);
        gc->backward(gc, acc);
    }
    for (int i = 0; i < gc->n_x; i++) {
        float *want = ms_malloc(gc->x_n[i] * sizeof(float));
        for (size_t j = 0; j < gc->x_n[i]; j++) want[j] = 0.5f + 2.0f * g[i][j];
        double err = tu_max_rel_err(acc[i], want, gc->x_n[i], 1e-5, 1e-5);
        TU_CHECKF(err <= 1.0, "%s/%s: backward does not accumulate (%.3g x tol)", gc->name,
                  gc->x_name[i], err);
        free(want);
    }
    grads_free(acc);

    for (int skip = 0; skip < gc->n_x && gc->n_x > 1; skip++) {
        float **part = grads_alloc(gc, 0.0f);
        free(part[skip]);
        part[skip] = NULL;
        gc->forward(gc);
        gc->backward(gc, part);
        for (int i = 0; i < gc->n_x; i++) {
            if (i == skip) continue;
            double err = tu_max_rel_err(part[i], g[i], gc->x_n[i], 1e-6, 1e-6);
            TU_CHECKF(err <= 1.0, "%s: %s changed when %s was NULL", gc->name, gc->x_name[i],
                      gc->x_name[skip]);
        }
        grads_free(part);
    }
    grads_free(g);
    free(gc->Rw);
    gc->Rw = NULL;
}

static float *randn(size_t n, uint64_t seed, float scale)
{
    float *x = ms_malloc(n * sizeof(float));
    tu_fill_normal(x, n, seed, scale);
    return x;
}

static float *zeros(size_t n) { return ms_calloc(n, sizeof(float)); }

static void gc_free(gc_case *gc)
{
    for (int i = 0; i < gc->n_x; i++) { free(gc->x[i]); free(gc->skip[i]); }
    free(gc->out);
}

/* Adds x[i] = randn(n) * scale to the case. */
static void gc_input(gc_case *gc, const char *name, size_t n, uint64_t seed, float scale)
{
    CHECK(gc->n_x < GC_MAX_X);
    gc->x_name[gc->n_x] = name;
    gc->x_n[gc->n_x] = n;
    gc->x[gc->n_x] = randn(n, seed, scale);
    gc->n_x++;
}

/* ---- per-layer cases ----------------------------------------------------------------- */

typedef struct { gc_case gc; ms_conv_shape cs; float *col; } conv_gc;
static void conv_fwd(gc_case *gc)
{
    conv_gc *c = (conv_gc *)gc;
    conv2d_forward(&c->cs, gc->out, c->col, gc->x[0], gc->x[1], gc->x[2]);
}
static void conv_bwd(gc_case *gc, float **g)
{
    conv_gc *c = (conv_gc *)gc;
    conv2d_backward(&c->cs, g[0], g[1], g[2], c->col, gc->Rw, gc->x[0], gc->x[1]);
}

static void gradcheck_conv(int N, int C, int H, int W, int K, int R, int S, int stride, int pad)
{
    conv_gc c = { .gc = { .name = "conv", .forward = conv_fwd, .backward = conv_bwd,
                          .h = 1e-2f, .atol = 1e-3, .rtol = 1e-2 } };
    CHECK(conv_shape_make(&c.cs, N, C, H, W, K, R, S, stride, pad) == 0);
    gc_input(&c.gc, "inp", (size_t)N * C * H * W, 11, 1.0f);
    gc_input(&c.gc, "w", (size_t)K * C * R * S, 12, 0.5f);
    gc_input(&c.gc, "bias", (size_t)K, 13, 1.0f);
    c.gc.out_n = (size_t)N * K * c.cs.OH * c.cs.OW;
    c.gc.out = zeros(c.gc.out_n);
    size_t n_col = conv_col_size(&c.cs);
    c.col = n_col ? zeros(n_col) : NULL;
    gc_run(&c.gc, 14);
    free(c.col);
    gc_free(&c.gc);
}

static void test_gradcheck_conv(void)
{
    gradcheck_conv(2, 3, 5, 4, 2, 3, 3, 2, 1); /* odd, stride 2, pad 1 */
    gradcheck_conv(2, 3, 3, 5, 4, 1, 1, 1, 0); /* 1x1 fast path */
    gradcheck_conv(1, 2, 6, 7, 2, 5, 3, 1, 2); /* 5x3 kernel, pad 2 */
}

typedef struct { gc_case gc; int N, C, HW; float *mean, *rstd, *rmean, *rvar; } bn_gc;
static void bn_train_fwd(gc_case *gc)
{
    bn_gc *b = (bn_gc *)gc;
    bn2d_forward_train(gc->out, b->mean, b->rstd, gc->x[0], gc->x[1], gc->x[2], NULL, NULL, b->N,
                       b->C, b->HW, 0.1f, 1e-5f);
}
static void bn_train_bwd(gc_case *gc, float **g)
{
    bn_gc *b = (bn_gc *)gc;
    bn2d_backward(g[0], g[1], g[2], gc->Rw, gc->x[0], b->mean, b->rstd, gc->x[1], b->N, b->C,
                  b->HW);
}
static void bn_eval_fwd(gc_case *gc)
{
    bn_gc *b = (bn_gc *)gc;
    bn2d_forward_eval(gc->out, gc->x[0], gc->x[1], gc->x[2], b->rmean, b->rvar, b->N, b->C,
                      b->HW, 1e-5f);
}
static void bn_eval_bwd(gc_case *gc, float **g)
{
    bn_gc *b = (bn_gc *)gc;
    bn2d_backward_eval(g[0], g[1], g[2], gc->Rw, gc->x[0], gc->x[1], b->rmean, b->rvar, b->N,
                       b->C, b->HW, 1e-5f);
}

static void gradcheck_bn(int eval)
{
    bn_gc b = { .gc = { .name = eval ? "bn_eval" : "bn_train",
                        .forward = eval ? bn_eval_fwd : bn_train_fwd,
                        .backward = eval ? bn_eval_bwd : bn_train_bwd,
                        .h = 5e-3f, .atol = 2e-3, .rtol = 2e-2 },
                .N = 2, .C = 3, .HW = 5 };
    const size_t n = (size_t)b.N * b.C * b.HW;
    gc_input(&b.gc, "inp", n, 21, 1.0f);
    gc_input(&b.gc, "gamma", (size_t)b.C, 22, 1.0f);
    gc_input(&b.gc, "beta", (size_t)b.C, 23, 1.0f);
    for (size_t i = 0; i < n; i++) b.gc.x[0][i] += 0.5f; /* a nonzero mean */
    b.gc.out_n = n;
    b.gc.out = zeros(n);
    b.mean = zeros((size_t)b.C);
    b.rstd = zeros((size_t)b.C);
    b.rmean = randn((size_t)b.C, 24, 0.5f);
    b.rvar = randn((size_t)b.C, 25, 0.5f);
    for (int c = 0; c < b.C; c++) b.rvar[c] = 0.5f + b.rvar[c] * b.rvar[c];
    gc_run(&b.gc, 26);
    free(b.mean); free(b.rstd); free(b.rmean); free(b.rvar);
    gc_free(&b.gc);
}

static void test_gradcheck_batchnorm(void)
{
    gradcheck_bn(0);
    gradcheck_bn(1);
}

typedef struct { gc_case gc; float slope; } relu_gc;
static void relu_fwd(gc_case *gc) { relu_forward(gc->out, gc->x[0], gc->out_n, ((relu_gc *)gc)->slope); }
static void relu_bwd(gc_case *gc, float **g)
{
    relu_backward(g[0], gc->Rw, gc->out, gc->out_n, ((relu_gc *)gc)->slope);
}

static void test_gradcheck_relu(void)
{
    const float slopes[2] = { 0.0f, 0.1f };
    for (int t = 0; t < 2; t++) {
        relu_gc r = { .gc = { .name = t ? "leaky_relu" : "relu", .forward = relu_fwd,
                              .backward = relu_bwd, .h = 1e-2f, .atol = 1e-3, .rtol = 1e-2 },
                      .slope = slopes[t] };
        const size_t n = 37;
        gc_input(&r.gc, "inp", n, 31 + t, 1.0f);
        r.gc.skip[0] = ms_calloc(n, 1);
        int skipped = 0;
        for (size_t i = 0; i < n; i++)
            if (fabsf(r.gc.x[0][i]) <= 2 * r.gc.h) { r.gc.skip[0][i] = 1; skipped++; }
        TU_CHECK(skipped < (int)n / 4);
        r.gc.out_n = n;
        r.gc.out = zeros(n);
        gc_run(&r.gc, 33);
        gc_free(&r.gc);
    }
}

typedef struct { gc_case gc; int N, C, H, W; int32_t *argmax; } pool_gc;
static void pool_fwd(gc_case *gc)
{
    pool_gc *p = (pool_gc *)gc;
    maxpool2x2_forward(gc->out, p->argmax, gc->x[0], p->N, p->C, p->H, p->W);
}
static void pool_bwd(gc_case *gc, float **g)
{
    pool_gc *p = (pool_gc *)gc;
    maxpool2x2_backward(g[0], gc->Rw, p->argmax, p->N, p->C, p->H, p->W);
}

static void test_gradcheck_maxpool(void)
{
    pool_gc p = { .gc = { .name = "maxpool", .forward = pool_fwd, .backward = pool_bwd,
                          .h = 1e-2f, .atol = 1e-3, .rtol = 1e-2 },
                  .N = 2, .C = 2, .H = 5, .W = 7 };
    const size_t n = (size_t)p.N * p.C * p.H * p.W;
    /* Distinct values 0.05 apart (> 2h) in a random order: no ties, no switching winner. */
    float *x = ms_malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = 0.05f * (float)i - 3.0f;
    ms_rng rng = rng_stream(rng_key(41, 0, 0, RNG_DATA));
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = rng_below(&rng, (uint32_t)(i + 1));
        float t = x[i]; x[i] = x[j]; x[j] = t;
    }
    p.gc.n_x = 1;
    p.gc.x[0] = x;
    p.gc.x_n[0] = n;
    p.gc.x_name[0] = "inp";
    p.gc.out_n = (size_t)p.N * p.C * (p.H / 2) * (p.W / 2);
    p.gc.out = zeros(p.gc.out_n);
    p.argmax = ms_calloc(p.gc.out_n, sizeof(int32_t));
    gc_run(&p.gc, 42);
    free(p.argmax);
    gc_free(&p.gc);
}

typedef struct { gc_case gc; int N, C, HW; } gap_gc;
static void gap_fwd(gc_case *gc)
{
    gap_gc *a = (gap_gc *)gc;
    gap_forward(gc->out, gc->x[0], a->N, a->C, a->HW);
}
static void gap_bwd(gc_case *gc, float **g)
{
    gap_gc *a = (gap_gc *)gc;
    gap_backward(g[0], gc->Rw, a->N, a->C, a->HW);
}

static void test_gradcheck_gap(void)
{
    gap_gc a = { .gc = { .name = "gap", .forward = gap_fwd, .backward = gap_bwd, .h = 1e-2f,
                         .atol = 1e-3, .rtol = 1e-2 },
                 .N = 2, .C = 3, .HW = 7 };
    gc_input(&a.gc, "inp", (size_t)a.N * a.C * a.HW, 51, 1.0f);
    a.gc.out_n = (size_t)a.N * a.C;
    a.gc.out = zeros(a.gc.out_n);
    gc_run(&a.gc, 52);
    gc_free(&a.gc);
}

typedef struct { gc_case gc; int N, I, O; } lin_gc;
static void lin_fwd(gc_case *gc)
{
    lin_gc *l = (lin_gc *)gc;
    linear_forward(gc->out, gc->x[0], gc->x[1], gc->x[2], l->N, l->I, l->O);
}
static void lin_bwd(gc_case *gc, float **g)
{
    lin_gc *l = (lin_gc *)gc;
    linear_backward(g[0], g[1], g[2], gc->Rw, gc->x[0], gc->x[1], l->N, l->I, l->O);
}

static void test_gradcheck_linear(void)
{
    lin_gc l = { .gc = { .name = "linear", .forward = lin_fwd, .backward = lin_bwd, .h = 1e-2f,
                         .atol = 1e-3, .rtol = 1e-2 },
                 .N = 3, .I = 5, .O = 4 };
    gc_input(&l.gc, "inp", (size_t)l.N * l.I, 61, 1.0f);
    gc_input(&l.gc, "w", (size_t)l.O * l.I, 62, 0.5f);
    gc_input(&l.gc, "bias", (size_t)l.O, 63, 1.0f);
    l.gc.out_n = (size_t)l.N * l.O;
    l.gc.out = zeros(l.gc.out_n);
    gc_run(&l.gc, 64);
    gc_free(&l.gc);
}

typedef struct { gc_case gc; float p; uint64_t key; } drop_gc;
static void drop_fwd(gc_case *gc)
{
    drop_gc *d = (drop_gc *)gc;
    dropout_forward(gc->out, gc->x[0], gc->out_n, d->p, d->key);
}
static void drop_bwd(gc_case *gc, float **g)
{
    drop_gc *d = (drop_gc *)gc;
    dropout_backward(g[0], gc->Rw, gc->out_n, d->p, d->key);
}

static void test_gradcheck_dropout(void)
{
    drop_gc d = { .gc = { .name = "dropout", .forward = drop_fwd, .backward = drop_bwd,
                          .h = 1e-2f, .atol = 1e-3, .rtol = 1e-2 },
                  .p = 0.3f, .key = rng_key(7, 1, 2, RNG_DROPOUT) };
    gc_input(&d.gc, "inp", 53, 71, 1.0f);
    d.gc.out_n = 53;
    d.gc.out = zeros(53);
    gc_run(&d.gc, 72);
    gc_free(&d.gc);
}

typedef struct { gc_case gc; int N, C, H, W; } up_gc;
static void up_nearest_fwd(gc_case *gc)
{
    up_gc *u = (up_gc *)gc;
    upsample2x_nearest_forward(gc->out, gc->x[0], u->N, u->C, u->H, u->W);
}
static void up_nearest_bwd(gc_case *gc, float **g)
{
    up_gc *u = (up_gc *)gc;
    upsample2x_nearest_backward(g[0], gc->Rw, u->N, u->C, u->H, u->W);
}
static void up_bilinear_fwd(gc_case *gc)
{
    up_gc *u = (up_gc *)gc;
    upsample2x_bilinear_forward(gc->out, gc->x[0], u->N, u->C, u->H, u->W);
}
static void up_bilinear_bwd(gc_case *gc, float **g)
{
    up_gc *u = (up_gc *)gc;
    upsample2x_bilinear_backward(g[0], gc->Rw, u->N, u->C, u->H, u->W);
}

static void gradcheck_upsample(int bilinear, int N, int C, int H, int W)
{
    up_gc u = { .gc = { .name = bilinear ? "upsample_bilinear" : "upsample_nearest",
                        .forward = bilinear ? up_bilinear_fwd : up_nearest_fwd,
                        .backward = bilinear ? up_bilinear_bwd : up_nearest_bwd,
                        .h = 1e-2f, .atol = 1e-3, .rtol = 1e-2 },
                .N = N, .C = C, .H = H, .W = W };
    gc_input(&u.gc, "inp", (size_t)N * C * H * W, 81 + (uint64_t)H, 1.0f);
    u.gc.out_n = (size_t)N * C * 4 * H * W;
    u.gc.out = zeros(u.gc.out_n);
    gc_run(&u.gc, 82);
    gc_free(&u.gc);
}

static void test_gradcheck_upsample(void)
{
    gradcheck_upsample(0, 1, 2, 3, 5);
    gradcheck_upsample(1, 2, 2, 3, 5);
    gradcheck_upsample(1, 1, 1, 1, 2); /* one row: both vertical taps clamp */
    gradcheck_upsample(1, 1, 2, 4, 1); /* one column */
}

typedef struct { gc_case gc; int N, Ca, Cb, HW; } cat_gc;
static void cat_fwd(gc_case *gc)
{
    cat_gc *c = (cat_gc *)gc;
    concat_forward(gc->out, gc->x[0], gc->x[1], c->N, c->Ca, c->Cb, c->HW);
}
static void cat_bwd(gc_case *gc, float **g)
{
    cat_gc *c = (cat_gc *)gc;
    concat_backward(g[0], g[1], gc->Rw, c->N, c->Ca, c->Cb, c->HW);
}
static void add_fwd(gc_case *gc) { add_forward(gc->out, gc->x[0], gc->x[1], gc->out_n); }
static void add_bwd(gc_case *gc, float **g) { add_backward(g[0], g[1], gc->Rw, gc->out_n); }

static void test_gradcheck_joins(void)
{
    cat_gc c = { .gc = { .name = "concat", .forward = cat_fwd, .backward = cat_bwd, .h = 1e-2f,
                         .atol = 1e-3, .rtol = 1e-2 },
                 .N = 2, .Ca = 2, .Cb = 3, .HW = 5 };
    gc_input(&c.gc, "a", (size_t)c.N * c.Ca * c.HW, 91, 1.0f);
    gc_input(&c.gc, "b", (size_t)c.N * c.Cb * c.HW, 92, 1.0f);
    c.gc.out_n = (size_t)c.N * (c.Ca + c.Cb) * c.HW;
    c.gc.out = zeros(c.gc.out_n);
    gc_run(&c.gc, 93);
    gc_free(&c.gc);

    gc_case a = { .name = "add", .forward = add_fwd, .backward = add_bwd, .h = 1e-2f,
                  .atol = 1e-3, .rtol = 1e-2 };
    gc_input(&a, "a", 23, 94, 1.0f);
    gc_input(&a, "b", 23, 95, 1.0f);
    a.out_n = 23;
    a.out = zeros(23);
    gc_run(&a, 96);
    gc_free(&a);
}

/* Zero padding and cropping: a (H,W) plane at (top, left) of a (PH,PW) plane. */
typedef struct { gc_case gc; int N, C, H, W, PH, PW, top, left; } fit_gc;
static void pad_fwd(gc_case *gc)
{
    fit_gc *f = (fit_gc *)gc;
    pad2d_forward(gc->out, gc->x[0], f->N, f->C, f->H, f->W, f->PH, f->PW, f->top, f->left);
}
static void pad_bwd(gc_case *gc, float **g)
{
    fit_gc *f = (fit_gc *)gc;
    pad2d_backward(g[0], gc->Rw, f->N, f->C, f->H, f->W, f->PH, f->PW, f->top, f->left);
}
static void crop_fwd(gc_case *gc)
{
    fit_gc *f = (fit_gc *)gc;
    crop2d_forward(gc->out, gc->x[0], f->N, f->C, f->H, f->W, f->PH, f->PW, f->top, f->left);
}
static void crop_bwd(gc_case *gc, float **g)
{
    fit_gc *f = (fit_gc *)gc;
    crop2d_backward(g[0], gc->Rw, f->N, f->C, f->H, f->W, f->PH, f->PW, f->top, f->left);
}

static void gradcheck_fit(int crop, int N, int C, int H, int W, int PH, int PW, int top, int left)
{
    fit_gc f = { .gc = { .name = crop ? "crop" : "pad", .forward = crop ? crop_fwd : pad_fwd,
                         .backward = crop ? crop_bwd : pad_bwd, .h = 1e-2f, .atol = 1e-3, .rtol = 1e-2 },
                 .N = N, .C = C, .H = H, .W = W, .PH = PH, .PW = PW, .top = top, .left = left };
    const size_t small = (size_t)N * C * H * W, large = (size_t)N * C * PH * PW;
    gc_input(&f.gc, "inp", crop ? large : small, 101 + (uint64_t)PH, 1.0f);
    f.gc.out_n = crop ? small : large;
    f.gc.out = zeros(f.gc.out_n);
    gc_run(&f.gc, 102);
    gc_free(&f.gc);
}

static void test_gradcheck_pad_crop(void)
{
    gradcheck_fit(0, 2, 3, 5, 3, 8, 4, 1, 0);  /* 5x3 -> 8x4: 1 row top, 2 bottom, 1 column right */
    gradcheck_fit(1, 2, 3, 5, 3, 8, 4, 1, 0);
    gradcheck_fit(0, 1, 2, 1, 1, 4, 4, 1, 1);  /* one pixel */
    gradcheck_fit(1, 1, 2, 1, 1, 4, 4, 1, 1);
    gradcheck_fit(1, 1, 1, 2, 6, 2, 6, 0, 0);  /* the identity window */
}

/* ---- exact expectations on small inputs ---------------------------------------------- */

/* pad [1 2; 3 4] into 3x4 at (1, 1): zeros around; crop it back exactly; the
 * backward of pad reads the window, the backward of crop writes it (+=). */
static void test_pad_crop_exact(void)
{
    const float x[4] = { 1, 2, 3, 4 };
    const float want[12] = { 0, 0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0 };
    float out[12], back[4], dl[12], ds[4] = { 0.5f, 0.5f, 0.5f, 0.5f };
    memset(out, 0x7f, sizeof out); /* pad overwrites every element */
    pad2d_forward(out, x, 1, 1, 2, 2, 3, 4, 1, 1);
    TU_CHECK(memcmp(out, want, sizeof want) == 0);
    crop2d_forward(back, out, 1, 1, 2, 2, 3, 4, 1, 1);
    TU_CHECK(memcmp(back, x, sizeof x) == 0);
    float g[12];
    for (int i = 0; i < 12; i++) g[i] = (float)(i + 1);
    pad2d_backward(ds, g, 1, 1, 2, 2, 3, 4, 1, 1); /* += g[5], g[6], g[9], g[10] = 6, 7, 10, 11 */
    TU_CHECK(ds[0] == 6.5f && ds[1] == 7.5f && ds[2] == 10.5f && ds[3] == 11.5f);
    for (int i = 0; i < 12; i++) dl[i] = 1.0f;
    crop2d_backward(dl, x, 1, 1, 2, 2, 3, 4, 1, 1);
    const float want_dl[12] = { 1, 1, 1, 1, 1, 2, 3, 1, 1, 4, 5, 1 };
    TU_CHECK(memcmp(dl, want_dl, sizeof want_dl) == 0);
    pad2d_backward(NULL, g, 1, 1, 2, 2, 3, 4, 1, 1); /* NULL: nothing to do */
    crop2d_backward(NULL, x, 1, 1, 2, 2, 3, 4, 1, 1);
}

/* Hand example, N=2, C=1, HW=2: x = [1,2 | 3,6], gamma 2, beta 1, eps 0.5, momentum 0.5.
 *   mean = 12/4 = 3; deviations -2,-1,0,3; sum of squares 14
 *   var_biased = 14/4 = 3.5 -> rstd = 1/sqrt(3.5 + 0.5) = 0.5; var_unbiased = 14/3
 *   train out = 2*0.5*(x-3) + 1 = x - 2 = [-1, 0, 1, 4]
 *   running_mean 1 -> 0.5*1 + 0.5*3 = 2;  running_var 7/3 -> 0.5*7/3 + 0.5*14/3 = 3.5
 *   eval out with those = 2*(x-2)/sqrt(3.5+0.5) + 1 = x - 1 = [0, 1, 2, 5]          */
static void test_batchnorm_hand_example(void)
{
    const float x[4] = { 1, 2, 3, 6 }, gamma = 2, beta = 1;
    float out[4], mean, rstd, rmean = 1, rvar = 7.0f / 3.0f;
    bn2d_forward_train(out, &mean, &rstd, x, &gamma, &beta, &rmean, &rvar, 2, 1, 2, 0.5f, 0.5f);
    const float want_train[4] = { -1, 0, 1, 4 };
    TU_ALLCLOSE(out, want_train, 4, 1e-6, 1e-6);
    TU_CLOSE(mean, 3.0, 1e-6, 0);
    TU_CLOSE(rstd, 0.5, 1e-6, 0);
    TU_CLOSE(rmean, 2.0, 1e-6, 0);
    TU_CLOSE(rvar, 3.5, 1e-6, 1e-6);
    bn2d_forward_eval(out, x, &gamma, &beta, &rmean, &rvar, 2, 1, 2, 0.5f);
    const float want_eval[4] = { 0, 1, 2, 5 };
    TU_ALLCLOSE(out, want_eval, 4, 1e-6, 1e-6);
    /* NULL running stats: no update, same output. */
    bn2d_forward_train(out, &mean, &rstd, x, &gamma, &beta, NULL, NULL, 2, 1, 2, 0.5f, 0.5f);
    TU_ALLCLOSE(out, want_train, 4, 1e-6, 1e-6);
}

/* Random shape with a large mean (10, std 0.5), against the double-precision reference;
 * running stats follow PyTorch: new = (1-m)*old + m*batch, unbiased variance. */
static void test_batchnorm_vs_reference(void)
{
    enum { N = 3, C = 4, HW = 37 };
    const size_t n = (size_t)N * C * HW;
    const float eps = 1e-5f, m = 0.1f;
    float *x = randn(n, 101, 0.5f), *out = zeros(n), *ref = zeros(n);
    for (size_t i = 0; i < n; i++) x[i] += 10.0f;
    float gamma[C], beta[C], mean[C], rstd[C], ref_mean[C], ref_var[C], rmean[C], rvar[C];
    tu_fill_normal(gamma, C, 102, 1.0f);
    tu_fill_normal(beta, C, 103, 1.0f);
    for (int c = 0; c < C; c++) { rmean[c] = 0.5f * c; rvar[c] = 1.0f + c; }
    bn2d_forward_train(out, mean, rstd, x, gamma, beta, rmean, rvar, N, C, HW, m, eps);
    ref_bn2d_forward_train(ref, ref_mean, ref_var, x, gamma, beta, N, C, HW, eps);
    TU_ALLCLOSE(out, ref, n, 1e-4, 1e-4);
    TU_ALLCLOSE(mean, ref_mean, C, 1e-5, 1e-6);
    const double M = (double)N * HW;
    for (int c = 0; c < C; c++) {
        TU_CLOSE(rstd[c], 1.0 / sqrt((double)ref_var[c] + eps), 0, 1e-4);
        TU_CLOSE(rmean[c], (1 - m) * 0.5 * c + m * ref_mean[c], 1e-5, 1e-5);
        TU_CLOSE(rvar[c], (1 - m) * (1.0 + c) + m * ref_var[c] * M / (M - 1), 1e-5, 1e-4);
    }
    free(x); free(out); free(ref);
}

static void test_maxpool_exact(void)
{
    /* 3x3 plane 1..9 -> 1x1 (odd row/column dropped): max(1,2,4,5) = 5 at flat index 4. */
    const float x[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
    float out[1];
    int32_t am[1];
    maxpool2x2_forward(out, am, x, 1, 1, 3, 3);
    TU_CHECK(out[0] == 5.0f && am[0] == 4);
    /* Ties go to the first in row-major order. */
    const float tie[4] = { 2, 2, 2, 2 };
    maxpool2x2_forward(out, am, tie, 1, 1, 2, 2);
    TU_CHECK(out[0] == 2.0f && am[0] == 0);

    /* 2 planes of 5x7 -> 2x3 each, against an inline naive max. */
    enum { P = 2, H = 5, W = 7, OH = 2, OW = 3 };
    float *in = randn(P * H * W, 111, 1.0f), y[P * OH * OW];
    int32_t arg[P * OH * OW];
    maxpool2x2_forward(y, arg, in, 1, P, H, W);
    for (int p = 0; p < P; p++)
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                const float *q = in + p * H * W;
                float best = -INFINITY;
                for (int a = 0; a < 2; a++)
                    for (int b = 0; b < 2; b++)
                        best = fmaxf(best, q[(2 * oh + a) * W + 2 * ow + b]);
                int o = (p * OH + oh) * OW + ow;
                TU_CHECK(y[o] == best && q[arg[o]] == best);
            }
    /* Backward routes each dout to its argmax only. */
    float dinp[P * H * W] = { 0 }, dout[P * OH * OW];
    for (int o = 0; o < P * OH * OW; o++) dout[o] = (float)(o + 1);
    maxpool2x2_backward(dinp, dout, arg, 1, P, H, W);
    double total = 0;
    for (int i = 0; i < P * H * W; i++) total += dinp[i];
    TU_CLOSE(total, (P * OH * OW) * (P * OH * OW + 1) / 2.0, 0, 0);
    for (int o = 0; o < P * OH * OW; o++) TU_CHECK(dinp[(o / (OH * OW)) * H * W + arg[o]] == dout[o]);
    free(in);
}

/* Wide rows (the vectorised path: 8 outputs at a time, then the rest) give
 * the scalar rule exactly: first of equal maxima in the order top-left,
 * top-right, bottom-left, bottom-right; a NaN wins. Ties and NaNs are planted
 * at every position of a window. */
static void test_maxpool_wide_rows(void)
{
    enum { P = 3, H = 6, W = 39, OH = 3, OW = 19 };
    float *in = randn(P * H * W, 77, 1.0f), y[P * OH * OW];
    int32_t arg[P * OH * OW];
    for (int i = 0; i < P * H * W; i++)
        if (i % 7 < 3) in[i] = 0.5f; /* runs of three equal values: ties in every window position */
    for (int i = 3; i < P * H * W; i += 23) in[i] = NAN;
    maxpool2x2_forward(y, arg, in, 1, P, H, W);
    int bad = 0;
    for (int p = 0; p < P; p++)
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                const float *q = in + p * H * W;
                const int at[4] = { 2 * oh * W + 2 * ow, 2 * oh * W + 2 * ow + 1, (2 * oh + 1) * W + 2 * ow,
                                    (2 * oh + 1) * W + 2 * ow + 1 };
                int best = at[0];
                for (int k = 1; k < 4; k++)
                    if (q[at[k]] > q[best] || isnan(q[at[k]])) best = at[k];
                const int o = (p * OH + oh) * OW + ow;
                bad += arg[o] != best || !(y[o] == q[best] || (isnan(y[o]) && isnan(q[best])));
            }
    TU_CHECKF(bad == 0, "%d of %d windows differ from the scalar rule", bad, P * OH * OW);
    free(in);
}

static void test_upsample_exact(void)
{
    const float x[4] = { 1, 2, 3, 4 };
    float out[16];
    /* PyTorch nn.Upsample(scale_factor=2, mode='bilinear', align_corners=False). */
    const float want_bilinear[16] = { 1.0f, 1.25f, 1.75f, 2.0f, 1.5f, 1.75f, 2.25f, 2.5f,
                                      2.5f, 2.75f, 3.25f, 3.5f, 3.0f, 3.25f, 3.75f, 4.0f };
    upsample2x_bilinear_forward(out, x, 1, 1, 2, 2);
    TU_ALLCLOSE(out, want_bilinear, 16, 1e-6, 0);
    const float want_nearest[16] = { 1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4 };
    upsample2x_nearest_forward(out, x, 1, 1, 2, 2);
    TU_ALLCLOSE(out, want_nearest, 16, 1e-6, 0);

    /* Odd sizes against PyTorch's per-pixel source-index formula. */
    const int N = 2, C = 3, H = 5, W = 3;
    const size_t n_in = (size_t)N * C * H * W, n_out = 4 * n_in;
    float *in = randn(n_in, 121, 1.0f), *y = zeros(n_out), *ref = zeros(n_out);
    upsample2x_bilinear_forward(y, in, N, C, H, W);
    ref_upsample2x_bilinear(ref, in, N, C, H, W);
    TU_ALLCLOSE(y, ref, n_out, 1e-6, 1e-6);
    free(in); free(y); free(ref);
}

static void test_dropout_mask(void)
{
    const size_t n = 100000;
    float *x = ms_malloc(n * sizeof(float)), *y = zeros(n), *y2 = zeros(n), *d = zeros(n);
    for (size_t i = 0; i < n; i++) x[i] = 1.0f + (float)(i % 7);
    const uint64_t key = rng_key(1, 2, 3, RNG_DROPOUT);
    dropout_forward(y, x, n, 0.5f, key);
    size_t kept = 0, bad_scale = 0;
    for (size_t i = 0; i < n; i++) {
        if (y[i] != 0.0f) {
            kept++;
            if (y[i] != 2.0f * x[i]) bad_scale++;
        }
    }
    double frac = (double)kept / n;
    TU_CHECKF(fabs(frac - 0.5) <= 0.01, "kept fraction %.4f", frac);
    TU_CHECK(bad_scale == 0);
    dropout_forward(y2, x, n, 0.5f, key);
    TU_CHECK(memcmp(y, y2, n * sizeof(float)) == 0); /* same key, same mask */
    dropout_forward(y2, x, n, 0.5f, key + 1);
    size_t differ = 0;
    for (size_t i = 0; i < n; i++) differ += (y[i] != 0.0f) != (y2[i] != 0.0f);
    TU_CHECKF(differ > n / 3, "only %zu of %zu mask entries differ", differ, n);
    /* Backward uses the same mask and scale. */
    dropout_backward(d, x, n, 0.5f, key);
    TU_CHECK(memcmp(d, y, n * sizeof(float)) == 0);
    /* p = 0 is the identity, also in place. */
    dropout_forward(y, x, n, 0.0f, key);
    TU_CHECK(memcmp(y, x, n * sizeof(float)) == 0);
    free(x); free(y); free(y2); free(d);
}

static void test_linear_vs_reference(void)
{
    enum { N = 5, I = 33, O = 17 };
    float *x = randn(N * I, 131, 1.0f), *w = randn(O * I, 132, 0.3f), *b = randn(O, 133, 1.0f);
    float *dy = randn(N * O, 134, 1.0f);
    float y[N * O], ry[N * O];
    linear_forward(y, x, w, b, N, I, O);
    ref_linear_forward(ry, x, w, b, N, I, O);
    TU_ALLCLOSE(y, ry, N * O, 1e-5, 1e-5);
    linear_forward(y, x, w, NULL, N, I, O);
    ref_linear_forward(ry, x, w, NULL, N, I, O);
    TU_ALLCLOSE(y, ry, N * O, 1e-5, 1e-5);
    float *dx = zeros(N * I), *dw = zeros(O * I), *db = zeros(O);
    float *rdx = zeros(N * I), *rdw = zeros(O * I), *rdb = zeros(O);
    linear_backward(dx, dw, db, dy, x, w, N, I, O);
    ref_linear_backward(rdx, rdw, rdb, dy, x, w, N, I, O);
    TU_ALLCLOSE(dx, rdx, N * I, 1e-5, 1e-5);
    TU_ALLCLOSE(dw, rdw, O * I, 1e-5, 1e-5);
    TU_ALLCLOSE(db, rdb, O, 1e-5, 1e-5);
    free(x); free(w); free(b); free(dy);
    free(dx); free(dw); free(db); free(rdx); free(rdw); free(rdb);
}

/* Elementwise layers on exact values, including the in-place forms. */
static void test_elementwise_exact(void)
{
    float x[10] = { -3, -1, 0, 0.5f, 2, -0.25f, 4, -8, 1, -2 }, y[10], z[10];
    relu_forward(y, x, 10, 0.0f);
    const float want_relu[10] = { 0, 0, 0, 0.5f, 2, 0, 4, 0, 1, 0 };
    TU_ALLCLOSE(y, want_relu, 10, 1e-7, 0);
    relu_forward(y, x, 10, 0.125f);
    const float want_leaky[10] = { -0.375f, -0.125f, 0, 0.5f, 2, -0.03125f, 4, -1, 1, -0.25f };
    TU_ALLCLOSE(y, want_leaky, 10, 1e-7, 0);
    memcpy(z, x, sizeof z);
    relu_forward(z, z, 10, 0.125f); /* in place */
    TU_ALLCLOSE(z, want_leaky, 10, 1e-7, 0);

    float s[10];
    add_forward(s, x, want_relu, 10);
    for (int i = 0; i < 10; i++) TU_CHECK(s[i] == x[i] + want_relu[i]);
    memcpy(z, x, sizeof z);
    add_forward(z, z, z, 10); /* out == a == b */
    for (int i = 0; i < 10; i++) TU_CHECK(z[i] == 2 * x[i]);

    /* concat N=2, Ca=1, Cb=2, HW=2 */
    const float a[4] = { 1, 2, 3, 4 }, b[8] = { 5, 6, 7, 8, 9, 10, 11, 12 };
    float cat[12];
    concat_forward(cat, a, b, 2, 1, 2, 2);
    const float want_cat[12] = { 1, 2, 5, 6, 7, 8, 3, 4, 9, 10, 11, 12 };
    TU_ALLCLOSE(cat, want_cat, 12, 1e-7, 0);

    /* gap over HW = 4 */
    const float g_in[8] = { 1, 2, 3, 4, -1, -1, 5, 1 };
    float g_out[2];
    gap_forward(g_out, g_in, 1, 2, 4);
    TU_CLOSE(g_out[0], 2.5, 1e-7, 0);
    TU_CLOSE(g_out[1], 1.0, 1e-7, 0);
}

int main(void)
{
    TU_RUN(test_gradcheck_conv);
    TU_RUN(test_gradcheck_batchnorm);
    TU_RUN(test_gradcheck_relu);
    TU_RUN(test_gradcheck_maxpool);
    TU_RUN(test_gradcheck_gap);
    TU_RUN(test_gradcheck_linear);
    TU_RUN(test_gradcheck_dropout);
    TU_RUN(test_gradcheck_upsample);
    TU_RUN(test_gradcheck_joins);
    TU_RUN(test_gradcheck_pad_crop);
    TU_RUN(test_pad_crop_exact);
    TU_RUN(test_batchnorm_hand_example);
    TU_RUN(test_batchnorm_vs_reference);
    TU_RUN(test_maxpool_exact);
    TU_RUN(test_maxpool_wide_rows);
    TU_RUN(test_upsample_exact);
    TU_RUN(test_dropout_mask);
    TU_RUN(test_linear_vs_reference);
    TU_RUN(test_elementwise_exact);
    return tu_summary();
}
