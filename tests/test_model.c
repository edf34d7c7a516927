/* test_model — model spec, parameter naming, whole-model gradients, freezing,
 * and a tiny encoder+head learning a separable problem. */
#include "medssl/common.h"
#include "medssl/loss.h"
#include "medssl/model.h"
#include "medssl/optim.h"
#include "medssl/rng.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void build(ms_model *m, const char *text)
{
    ms_model_spec spec;
    int rc = model_spec_parse(&spec, text);
    if (rc) fprintf(stderr, "spec error: %s\n", ms_last_error());
    CHECK(rc == 0);
    model_build(m, &spec);
    model_init_weights(m, 42);
}

static void test_spec_parse_and_format(void)
{
    ms_model_spec s, s2;
    TU_CHECK(model_spec_parse(&s, "encoder:in=3,widths=16-32-64,block=residual,convs=4;head:mlp,classes=10,hidden=128,dropout=0.5") == 0);
    TU_CHECK(s.in_channels == 3 && s.n_stages == 3 && s.widths[2] == 64);
    TU_CHECK(s.block == BLOCK_RESIDUAL && s.convs == 4);
    TU_CHECK(s.head == HEAD_MLP && s.classes == 10 && s.hidden == 128);
    TU_CLOSE(s.dropout, 0.5, 1e-6, 0);
    char text[512], text2[512];
    model_spec_format(&s, text, sizeof text);
    TU_CHECK(model_spec_parse(&s2, text) == 0);
    model_spec_format(&s2, text2, sizeof text2);
    TU_CHECKF(strcmp(text, text2) == 0, "%s vs %s", text, text2);
    TU_CHECK(model_spec_parse(&s, "encoder:widths=8-16;head:linear,classes=3,norm=bn,subset=0-5-15") == 0);
    TU_CHECK(s.n_subset == 3 && s.subset[0] == 0 && s.subset[1] == 5 && s.subset[2] == 15);
    model_spec_format(&s, text, sizeof text);
    TU_CHECKF(strcmp(text, "encoder:in=1,widths=8-16,block=plain,convs=2;head:type=linear,classes=3,norm=bn,subset=0-5-15") == 0,
              "%s", text);
    TU_CHECK(model_spec_parse(&s, "encoder:widths=8-16;decoder:out=3,up=nearest") == 0);
    TU_CHECK(s.has_decoder && s.dec_out == 3 && s.up == UP_NEAREST && s.head == HEAD_NONE);

    /* every malformed spec is an input error whose message names the problem */
    const char *bad[][2] = {
        { "encoder:widths=32-64,colour=red", "colour" },
        { "encoder:widths=", "widths" },
        { "encoder:widths=32-x", "widths" },
        { "encoder:widths=32,block=dense", "block" },
        { "head:linear,classes=4", "encoder" },
        { "encoder:widths=32;head:linear", "classes" },
        { "encoder:widths=32;tail:x=1", "tail" },
        { "encoder:widths=32,convs=3,block=residual", "even" },
        { "encoder:widths=32;decoder:out=2;head:linear,classes=2,tiles=9", "tiles" },
        { "encoder:widths=8;head:linear,classes=2,subset=3-3", "subset" },
        { "encoder:widths=8;head:linear,classes=2,subset=5-2", "subset" },
        { "encoder:widths=8;head:linear,classes=2,subset=1-", "subset" },
        { "encoder:widths=8;head:linear,classes=2,subset=", "subset" },
        { "encoder:widths=8;head:linear,classes=2,subset=2-8", "8 features" },
        { "encoder:widths=8;head:mlp,classes=2,tiles=3,subset=1", "subset" },
        { "", "empty" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ms_clear_error();
        int rc = model_spec_parse(&s, bad[i][0]);
        TU_CHECKF(rc == MS_ERR_INPUT, "spec '%s' gave %d", bad[i][0], rc);
        TU_CHECKF(strstr(ms_last_error(), bad[i][1]) != NULL, "'%s': message '%s' lacks '%s'",
                  bad[i][0], ms_last_error(), bad[i][1]);
    }
}

static void test_reference_encoder_layout(void)
{
    ms_model m;
    build(&m, "encoder:in=1,widths=32-64-128-256,block=plain,convs=2;head:type=linear,classes=4");
    ms_tensor *t = slab_find(&m.slab, "encoder.stage0.conv0.weight");
    TU_CHECK(t && t->ndim == 4 && t->shape[0] == 32 && t->shape[1] == 1 && t->shape[2] == 3 && t->shape[3] == 3);
    TU_CHECK(t && t->offset == 0);
    TU_CHECK(slab_find(&m.slab, "encoder.stage0.conv0.bias") == NULL); /* no bias before BN */
    t = slab_find(&m.slab, "encoder.stage3.bn1.running_var");
    TU_CHECK(t && t->shape[0] == 256 && (t->flags & SLAB_BUFFER));
    t = slab_find(&m.slab, "encoder.stage1.bn0.weight");
    TU_CHECK(t && (t->flags & SLAB_NO_DECAY) && !(t->flags & SLAB_BUFFER));
    t = slab_find(&m.slab, "head.fc.weight");
    TU_CHECK(t && t->ndim == 2 && t->shape[0] == 4 && t->shape[1] == 256);
    /* trainable parameters: convs 9*(1*32 + 32*32 + 32*64 + 64*64 + 64*128 + 128*128 + 128*256 + 256*256)
     * + BN 2*2*(32+64+128+256) + linear 256*4 + 4 */
    size_t convs = 9 * (32 + 32 * 32 + 32 * 64 + 64 * 64 + 64 * 128 + 128 * 128 + 128 * 256 + 256 * 256);
    size_t expect = convs + 4 * (32 + 64 + 128 + 256) + 256 * 4 + 4;
    TU_CHECKF(slab_count_trainable(&m.slab) == expect, "%zu vs %zu", slab_count_trainable(&m.slab), expect);
    /* tensors are laid out contiguously in build order */
    for (int i = 1; i < m.slab.n_tensors; i++)
        TU_CHECK(m.slab.t[i].offset == m.slab.t[i - 1].offset + m.slab.t[i - 1].size);
    TU_CHECK(model_plan(&m, 2, 64, 64) == 0);
    TU_CLOSE(3 * model_forward_flops(&m) * 1e-9, 1.25, 0.02, 0);
    TU_CHECK(m.n_ops > 0 && m.ops[0].kind != OP_PAD); /* 64 fits: no padding */
    /* 4 -> 2 -> 1 -> too small for the third pool: zero-padded to 8x8 (2 rows/columns each side) */
    TU_CHECK(model_plan(&m, 2, 4, 4) == 0);
    TU_CHECK(m.ops[0].kind == OP_PAD && m.fit_H == 8 && m.fit_W == 8);
    TU_CHECK(m.ops[0].cfg.fit.top == 2 && m.ops[0].cfg.fit.bottom == 2 && m.ops[0].cfg.fit.left == 2);
    TU_CHECK(model_plan(&m, 2, 0, 4) == MS_ERR_INPUT && model_plan(&m, 2, 4, 16385) == MS_ERR_INPUT);
    model_free(&m);
}

/* Whole-model gradient check: L = sum(out * R) in double, entry by entry
 * (a spread-out sample of every tensor, and of the input). BN over the tiny
 * feature maps of a test-sized model curves sharply, so central differences
 * D(h) = (L(p+h) - L(p-h)) / 2h are Richardson-extrapolated,
 * (4 D(h/2) - D(h)) / 3, to cancel the h^2 term. An entry whose step
 * crosses a ReLU or max-pool kink shows up as D(h) and D(h/2) disagreeing
 * beyond what curvature explains; such entries are skipped (and counted, so a
 * test where most entries "cross kinks" still fails). Each layer is also
 * checked strictly, entry by entry, in test_layers. */
typedef struct {
    ms_model *m;
    float *x, *R;
    size_t n_out;
} fd_ctx;

static double fd_loss(const fd_ctx *c)
{
    float *out = model_forward(c->m, c->x, 1, 99);
    double L = 0;
    for (size_t i = 0; i < c->n_out; i++) L += (double)out[i] * c->R[i];
    return L;
}

/* Checks up to 12 entries of p (n) against grad; returns the mismatches. */
static int entry_check(const fd_ctx *c, const char *what, float *p, const float *grad, size_t n,
                       int *checked, int *kinks)
{
    int bad = 0;
    for (size_t k = 0; k < n; k += n > 12 ? n / 12 : 1) {
        float p0 = p[k];
        double D[2], h = 2e-3;
        for (int j = 0; j < 2; j++, h /= 2) {
            p[k] = p0 + (float)h;
            double fp = fd_loss(c);
            p[k] = p0 - (float)h;
            double fm = fd_loss(c);
            D[j] = (fp - fm) / (2 * h);
        }
        p[k] = p0;
        double num = (4 * D[1] - D[0]) / 3, ana = grad[k];
        if (fabs(D[0] - D[1]) > 2e-3 + 1e-2 * fmax(fabs(D[0]), fabs(D[1]))) {
            (*kinks)++;
            continue;
        }
        (*checked)++;
        if (fabs(num - ana) > 5e-3 + 2e-2 * fmax(fabs(num), fabs(ana))) {
            if (bad < 3) fprintf(stderr, "  %s[%zu]: numeric %.5g analytic %.5g\n", what, k, num, ana);
            bad++;
        }
    }
    return bad;
}

static void gradcheck_model(const char *text, int N, int H, int W)
{
    ms_model m;
    build(&m, text);
    CHECK(model_plan(&m, N, H, W) == 0);
    size_t n_in = (size_t)N * m.spec.in_channels * H * W,
           n_out = (size_t)model_output_rows(&m) * model_value_size(&m, m.output);
    float *x = ms_malloc(n_in * sizeof(float)), *R = ms_malloc(n_out * sizeof(float));
    float *dx_in = ms_calloc(n_in, sizeof(float));
    tu_fill_normal(x, n_in, 1, 1.0f);
    tu_fill_normal(R, n_out, 2, 1.0f);
    /* give the input a gradient buffer so d/dinput is checked too (through OP_PAD when the plan pads) */
    m.values[m.input].needs_grad = 1;
    m.values[m.input].dx = dx_in;
    for (int i = 0; i < m.n_ops; i++)
        if (m.values[m.ops[i].in0].needs_grad) m.values[m.ops[i].out].needs_grad = 1;
    fd_ctx c = { &m, x, R, n_out };
    fd_loss(&c);
    memcpy(model_output_grad(&m), R, n_out * sizeof(float));
    slab_zero_grad(&m.slab);
    model_backward(&m, 99, NULL, NULL);

    int checked = 0, bad = 0, kinks = 0;
    for (int t = 0; t < m.slab.n_tensors; t++) {
        const ms_tensor *tn = &m.slab.t[t];
        if (!(tn->flags & SLAB_BUFFER))
            bad += entry_check(&c, tn->name, m.slab.val + tn->offset, m.slab.grad + tn->offset, tn->size, &checked, &kinks);
    }
    bad += entry_check(&c, "input", x, dx_in, n_in, &checked, &kinks);
    fprintf(stderr, "  %s: %d of %d entries off, %d skipped at kinks\n", text, bad, checked, kinks);
    TU_CHECKF(bad == 0, "%s: %d of %d gradients off", text, bad, checked);
    TU_CHECKF(kinks <= checked / 4, "%d entries at kinks, %d checked", kinks, checked);
    TU_CHECK(checked > 50);
    free(x);
    free(R);
    free(dx_in);
    model_free(&m);
}

static void test_gradcheck_plain_classifier(void)
{
    gradcheck_model("encoder:in=2,widths=3-4,convs=1;head:linear,classes=3", 3, 7, 6);
}

static void test_gradcheck_residual_mlp(void)
{
    gradcheck_model("encoder:in=1,widths=3-5,block=residual,convs=2;head:mlp,classes=2,hidden=6,dropout=0.25", 2, 6, 6);
}

/* A head on a subset of the features (head.subset, e.g. a CFS selection):
 * gradients through the gather, and the head sees exactly those columns. */
static void test_gradcheck_subset(void)
{
    gradcheck_model("encoder:in=1,widths=3-6,convs=1;head:mlp,classes=3,hidden=5,norm=bn,subset=0-2-5", 4, 6, 6);
    ms_model m;
    build(&m, "encoder:in=1,widths=6,convs=1;head:linear,classes=2,subset=1-4");
    TU_CHECK(model_plan(&m, 2, 4, 4) == 0);
    float x[2 * 16];
    tu_fill_uniform(x, 32, 3, 0, 1);
    model_forward(&m, x, 0, 0);
    const float *f = m.values[m.features].x, *g = m.values[m.ops[m.n_ops - 2].out].x;
    TU_CHECK(strcmp(m.ops[m.n_ops - 2].name, "head.subset") == 0);
    for (int n = 0; n < 2; n++) TU_CHECK(g[n * 2] == f[n * 6 + 1] && g[n * 2 + 1] == f[n * 6 + 4]);
    model_free(&m);
}

static void test_gradcheck_tiles(void)
{
    /* 2 puzzles of 3 tiles: the head sees each puzzle's 3 feature vectors in order */
    gradcheck_model("encoder:in=1,widths=3-4,convs=1;head:mlp,classes=5,hidden=6,tiles=3", 6, 6, 6);
}

/* With tiles=2, input rows [a, b, a, b] give two equal output rows, [a, b, b, a]
 * two different ones: the concatenation keeps the tile order. */
static void test_tiles_order(void)
{
    ms_model m;
    build(&m, "encoder:in=1,widths=4,convs=1;head:linear,classes=3,tiles=2");
    TU_CHECK(model_plan(&m, 3, 8, 8) == MS_ERR_INPUT); /* not a multiple of the tiles */
    CHECK(model_plan(&m, 4, 8, 8) == 0);
    TU_CHECK(model_output_rows(&m) == 2);
    float x[4 * 64], a[64], b[64];
    tu_fill_normal(a, 64, 1, 1.0f);
    tu_fill_normal(b, 64, 2, 1.0f);
    memcpy(x, a, sizeof a); memcpy(x + 64, b, sizeof b); memcpy(x + 128, a, sizeof a); memcpy(x + 192, b, sizeof b);
    float *out = model_forward(&m, x, 0, 0); /* eval: rows do not interact through BN */
    TU_CHECK(memcmp(out, out + 3, 3 * sizeof(float)) == 0);
    memcpy(x + 128, b, sizeof b); memcpy(x + 192, a, sizeof a);
    out = model_forward(&m, x, 0, 0);
    TU_CHECK(memcmp(out, out + 3, 3 * sizeof(float)) != 0);
    model_free(&m);
}

/* A plan for 6 rows run on 4 (model_set_rows) computes exactly what a plan for
 * 4 rows does, BN batch statistics included; the skip pass reports the same
 * gradient ranges in the same order as backward. */
typedef struct { size_t off[64], cnt[64]; int n; } ranges;
static void record(void *ctx, size_t off, size_t cnt)
{
    ranges *r = ctx;
    CHECK(r->n < 64);
    r->off[r->n] = off;
    r->cnt[r->n++] = cnt;
}

static void test_set_rows_and_skip(void)
{
    ms_model big, small;
    build(&big, "encoder:in=1,widths=4-8,convs=2;head:linear,classes=3");
    build(&small, "encoder:in=1,widths=4-8,convs=2;head:linear,classes=3");
    CHECK(model_plan(&big, 6, 8, 8) == 0 && model_plan(&small, 4, 8, 8) == 0);
    float x[6 * 64];
    tu_fill_normal(x, 6 * 64, 4, 1.0f);
    TU_CHECK(model_set_rows(&big, 7) == MS_ERR_INPUT && model_set_rows(&big, 0) == MS_ERR_INPUT);
    TU_CHECK(model_set_rows(&big, 4) == 0 && model_output_rows(&big) == 4);
    float *a = model_forward(&big, x, 1, 0), *b = model_forward(&small, x, 1, 0);
    TU_CHECK(memcmp(a, b, 4 * 3 * sizeof(float)) == 0);
    ranges r1 = { .n = 0 }, r2 = { .n = 0 };
    for (int i = 0; i < 12; i++) model_output_grad(&big)[i] = 0.1f * (float)i;
    slab_zero_grad(&big.slab);
    model_backward(&big, 0, record, &r1);
    model_backward_skip(&big, record, &r2);
    TU_CHECK(r1.n == r2.n && r1.n > 0);
    TU_CHECK(memcmp(r1.off, r2.off, sizeof r1.off) == 0 && memcmp(r1.cnt, r2.cnt, sizeof r1.cnt) == 0);
    model_free(&big);
    model_free(&small);
}

static void test_gradcheck_unet(void)
{
    gradcheck_model("encoder:in=1,widths=3-4-5,convs=1;decoder:out=2,up=bilinear", 3, 8, 8);
    gradcheck_model("encoder:in=2,widths=2-3,convs=2;decoder:out=1,up=nearest", 1, 6, 4);
}

/* ---- any input size: OP_PAD at the input, OP_CROP at the decoder's map ---------------- */

/* Through the padding and the crop: a 7x5 input runs at 8x8 (pad top 0, bottom 1,
 * left 1, right 2), a 3x2 input of an encoder-only model at 4x4. */
static void test_gradcheck_pad_crop(void)
{
    gradcheck_model("encoder:in=1,widths=3-4-5,convs=1;decoder:out=2,up=bilinear", 2, 7, 5);
    gradcheck_model("encoder:in=2,widths=3-4-5,convs=1;head:linear,classes=3", 3, 3, 2);
}

static int count_kind(const ms_model *m, ms_op_kind kind)
{
    int n = 0;
    for (int i = 0; i < m->n_ops; i++) n += m->ops[i].kind == kind;
    return n;
}

/* The output of a decoder model has the input's size for any H, W, and each
 * plan has exactly the ops its size needs. */
static void test_any_size_output_shape(void)
{
    static const struct { const char *spec; int H, W, pads; } cases[] = {
        { "encoder:in=1,widths=4-8-8-8,convs=1;decoder:out=2,up=bilinear", 28, 28, 1 }, /* -> 32x32 */
        { "encoder:in=1,widths=4-8-8,convs=1;decoder:out=3,up=nearest", 181, 217, 1 },  /* -> 184x220 */
        { "encoder:in=1,widths=4,convs=1;decoder:out=2", 1, 1, 0 },                      /* no pools */
        { "encoder:in=2,widths=4-8-8,convs=1;decoder:out=2", 5, 3, 1 },
        { "encoder:in=1,widths=4-8-8,convs=1;decoder:out=2", 1, 13, 1 },
        { "encoder:in=1,widths=4-8-8,block=residual,convs=2;decoder:out=2", 13, 1, 1 },
        { "encoder:in=1,widths=4-8-8,convs=1;decoder:out=2", 12, 16, 0 },                /* fits */
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        ms_model m;
        build(&m, cases[c].spec);
        const int n_built = m.n_ops, N = 2, H = cases[c].H, W = cases[c].W;
        TU_CHECKF(model_plan(&m, N, H, W) == 0, "%s at %dx%d: %s", cases[c].spec, H, W, ms_last_error());
        TU_CHECKF(count_kind(&m, OP_PAD) == cases[c].pads && count_kind(&m, OP_CROP) == cases[c].pads &&
                      m.n_ops == n_built + 2 * cases[c].pads,
                  "%s at %dx%d: %d ops (built %d)", cases[c].spec, H, W, m.n_ops, n_built);
        TU_CHECK(m.values[m.output].H == H && m.values[m.output].W == W);
        const size_t n_in = (size_t)N * m.spec.in_channels * H * W;
        float *x = ms_malloc(n_in * sizeof(float));
        tu_fill_normal(x, n_in, 7, 1.0f);
        const float *y = model_forward(&m, x, 1, 0);
        const size_t n_out = (size_t)model_output_rows(&m) * model_value_size(&m, m.output);
        TU_CHECK(n_out == (size_t)N * m.spec.dec_out * H * W);
        int finite = 1;
        for (size_t i = 0; i < n_out; i++) finite &= isfinite(y[i]) != 0;
        TU_CHECKF(finite, "%s at %dx%d: non-finite output", cases[c].spec, H, W);
        memset(model_output_grad(&m), 0, n_out * sizeof(float));
        slab_zero_grad(&m.slab);
        model_backward(&m, 0, NULL, NULL);
        free(x);
        model_free(&m);
    }
}

/* The padded pass is the plain pass on the zero-padded image, cropped: a model
 * planned for 28x28 gives bit for bit the central 28x28 of the same model
 * planned for 32x32 on the input placed in zeros at (2, 2), in training mode
 * (BN statistics include the zeros) and in eval mode; the same for the logits
 * of an encoder-only model at 3x5 (runs at 4x5: one zero row at the bottom). */
static void check_pad_is_manual(const char *spec, int N, int H, int W, int PH, int PW, int top, int left)
{
    ms_model a, b;
    build(&a, spec);
    build(&b, spec);
    CHECK(model_plan(&a, N, H, W) == 0 && model_plan(&b, N, PH, PW) == 0);
    TU_CHECK(a.ops[0].kind == OP_PAD && a.ops[0].cfg.fit.top == top && a.ops[0].cfg.fit.left == left);
    TU_CHECK(b.ops[0].kind != OP_PAD);
    const int C = a.spec.in_channels;
    float *x = ms_malloc((size_t)N * C * H * W * sizeof(float));
    float *xp = ms_calloc((size_t)N * C * PH * PW, sizeof(float));
    tu_fill_normal(x, (size_t)N * C * H * W, 11, 1.0f);
    for (int p = 0; p < N * C; p++)
        for (int h = 0; h < H; h++)
            memcpy(xp + ((size_t)p * PH + top + h) * PW + left, x + ((size_t)p * H + h) * W, (size_t)W * sizeof(float));
    const int dec = a.spec.head == HEAD_NONE, K = dec ? a.spec.dec_out : a.spec.classes;
    for (int training = 1; training >= 0; training--) {
        const float *ya = model_forward(&a, x, training, 0), *yb = model_forward(&b, xp, training, 0);
        int same = 1;
        if (!dec) same = memcmp(ya, yb, (size_t)N * K * sizeof(float)) == 0;
        else
            for (int p = 0; p < N * K; p++)
                for (int h = 0; h < H; h++)
                    same &= memcmp(ya + ((size_t)p * H + h) * W, yb + ((size_t)p * PH + top + h) * PW + left,
                                   (size_t)W * sizeof(float)) == 0;
        TU_CHECKF(same, "%s at %dx%d, training %d: not the %dx%d pass on the padded input", spec, H, W, training,
                  PH, PW);
    }
    free(x);
    free(xp);
    model_free(&a);
    model_free(&b);
}

static void test_pad_is_the_padded_pass(void)
{
    check_pad_is_manual("encoder:in=1,widths=4-8-8-8,convs=2;decoder:out=2,up=bilinear", 3, 28, 28, 32, 32, 2, 2);
    check_pad_is_manual("encoder:in=2,widths=4-8-8,block=residual,convs=2;decoder:out=3,up=nearest", 2, 9, 6, 12, 8, 1, 1);
    check_pad_is_manual("encoder:in=1,widths=4-8-8,convs=1;head:linear,classes=3", 4, 3, 5, 4, 5, 0, 0);
}

/* Sizes that fit run the built graph untouched, also after a plan that padded:
 * a 64x64 pass (forward and gradients) is bit-identical on a model planned
 * first at 61x50 and on a fresh one. */
static void test_fitting_size_unchanged(void)
{
    const char *spec = "encoder:in=1,widths=4-8-8-8,convs=2;decoder:out=2,up=bilinear";
    ms_model a, b;
    build(&a, spec);
    build(&b, spec);
    const int n_built = a.n_ops, out_built = a.output, N = 2, S = 64;
    CHECK(model_plan(&a, N, 61, 50) == 0);
    TU_CHECK(a.n_ops == n_built + 2 && a.output != out_built);
    CHECK(model_plan(&a, N, S, S) == 0 && model_plan(&b, N, S, S) == 0);
    TU_CHECK(a.n_ops == n_built && a.output == out_built && a.fit_H == S && a.fit_W == S);
    TU_CHECK(a.values[a.padded].x == NULL && a.values[a.cropped].x == NULL); /* no buffers for the unused ops */
    TU_CHECK(model_forward_flops(&a) == model_forward_flops(&b));
    float *x = ms_malloc((size_t)N * S * S * sizeof(float));
    tu_fill_normal(x, (size_t)N * S * S, 5, 1.0f);
    const size_t n_out = (size_t)N * 2 * S * S;
    const float *ya = model_forward(&a, x, 1, 0), *yb = model_forward(&b, x, 1, 0);
    TU_CHECK(memcmp(ya, yb, n_out * sizeof(float)) == 0);
    tu_fill_normal(model_output_grad(&a), n_out, 6, 1.0f);
    memcpy(model_output_grad(&b), model_output_grad(&a), n_out * sizeof(float));
    slab_zero_grad(&a.slab);
    slab_zero_grad(&b.slab);
    model_backward(&a, 0, NULL, NULL);
    model_backward(&b, 0, NULL, NULL);
    TU_CHECK(memcmp(a.slab.grad, b.slab.grad, a.slab.n * sizeof(float)) == 0);
    free(x);
    model_free(&a);
    model_free(&b);
}

/* Synthetic separable problem: class 0 = bright square top-left, class 1 =
 * bright square bottom-right, plus noise. */
static void make_squares(float *x, int32_t *y, int N, int S, uint64_t seed)
{
    ms_rng r = rng_stream(rng_key(seed, 0, 0, RNG_DATA));
    for (int n = 0; n < N; n++) {
        int cls = (int)rng_below(&r, 2);
        y[n] = cls;
        for (int i = 0; i < S; i++)
            for (int j = 0; j < S; j++) {
                int in_sq = cls == 0 ? (i < S / 2 && j < S / 2) : (i >= S / 2 && j >= S / 2);
                x[(size_t)n * S * S + i * S + j] = (in_sq ? 1.0f : 0.0f) + 0.3f * rng_normal(&r);
            }
    }
}

static void test_tiny_model_learns(void)
{
    ms_model m;
    build(&m, "encoder:in=1,widths=8-16,convs=1;head:linear,classes=2");
    const int N = 32, S = 12;
    CHECK(model_plan(&m, N, S, S) == 0);
    float *x = ms_malloc((size_t)N * S * S * sizeof(float));
    int32_t *y = ms_malloc(N * sizeof(int32_t));
    ms_optim opt = optim_sgd(0.9f, 0, 5e-4f);
    double first = 0, last = 0;
    for (int step = 0; step < 60; step++) {
        make_squares(x, y, N, S, 100 + (uint64_t)step);
        slab_zero_grad(&m.slab);
        float *logits = model_forward(&m, x, 1, 0);
        float loss = softmax_ce_loss(model_output_grad(&m), logits, y, NULL, -1, N, 2, 1, 1.0f);
        model_backward(&m, 0, NULL, NULL);
        optim_step(&opt, &m.slab, 0.05f);
        if (step < 5) first += loss / 5;
        if (step >= 55) last += loss / 5;
    }
    /* held-out accuracy in eval mode (running BN statistics) */
    make_squares(x, y, N, S, 9999);
    float *logits = model_forward(&m, x, 0, 0);
    int correct = 0;
    for (int n = 0; n < N; n++) correct += (logits[2 * n + 1] > logits[2 * n]) == (y[n] == 1);
    fprintf(stderr, "  loss %.4f -> %.4f, held-out accuracy %d/%d\n", first, last, correct, N);
    TU_CHECKF(last < first / 10, "loss %.4f -> %.4f", first, last);
    TU_CHECK(correct >= N - 1);
    free(x);
    free(y);
    model_free(&m);
}

static void test_freezing(void)
{
    ms_model m;
    build(&m, "encoder:in=1,widths=4-6,convs=1;head:linear,classes=2");
    const int N = 8, S = 8;
    CHECK(model_plan(&m, N, S, S) == 0);
    TU_CHECK(slab_set_flag_prefix(&m.slab, "encoder.stage0.", SLAB_FROZEN, 1) == 5);
    model_update_grad_flags(&m);
    float *before = ms_malloc(m.slab.n * sizeof(float));
    memcpy(before, m.slab.val, m.slab.n * sizeof(float));
    float *x = ms_malloc((size_t)N * S * S * sizeof(float));
    int32_t *y = ms_malloc(N * sizeof(int32_t));
    ms_optim opt = optim_sgd(0.9f, 1, 1e-2f);
    for (int step = 0; step < 5; step++) {
        make_squares(x, y, N, S, (uint64_t)step);
        slab_zero_grad(&m.slab);
        float *logits = model_forward(&m, x, 1, 0);
        softmax_ce_loss(model_output_grad(&m), logits, y, NULL, -1, N, 2, 1, 1.0f);
        model_backward(&m, 0, NULL, NULL);
        optim_step(&opt, &m.slab, 0.1f);
    }
    for (int t = 0; t < m.slab.n_tensors; t++) {
        const ms_tensor *tn = &m.slab.t[t];
        int same = memcmp(before + tn->offset, m.slab.val + tn->offset, tn->size * sizeof(float)) == 0;
        int frozen_param = strncmp(tn->name, "encoder.stage0.", 15) == 0 && !(tn->flags & SLAB_BUFFER);
        if (frozen_param) TU_CHECKF(same, "%s changed although frozen", tn->name);
        else TU_CHECKF(!same, "%s did not change", tn->name); /* incl. BN running stats */
    }
    /* the frozen first stage gets no gradient at all; the conv sees no dinput need */
    TU_CHECK(!m.values[m.ops[0].out].needs_grad);
    free(before);
    free(x);
    free(y);
    model_free(&m);
}

int main(void)
{
    TU_RUN(test_spec_parse_and_format);
    TU_RUN(test_reference_encoder_layout);
    TU_RUN(test_gradcheck_plain_classifier);
    TU_RUN(test_gradcheck_residual_mlp);
    TU_RUN(test_gradcheck_tiles);
    TU_RUN(test_gradcheck_subset);
    TU_RUN(test_tiles_order);
    TU_RUN(test_set_rows_and_skip);
    TU_RUN(test_gradcheck_unet);
    TU_RUN(test_gradcheck_pad_crop);
    TU_RUN(test_any_size_output_shape);
    TU_RUN(test_pad_is_the_padded_pass);
    TU_RUN(test_fitting_size_unchanged);
    TU_RUN(test_tiny_model_learns);
    TU_RUN(test_freezing);
    return tu_summary();
}
