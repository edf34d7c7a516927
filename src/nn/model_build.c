/* model_build — builds a model's graph and parameter slab from its spec, and
 * initialises the weights (see model.h).
 *
 * Every op's parameters are one contiguous slab range, added in build order,
 * named after PyTorch modules (README "Parameter names").
 */
#include "medssl/model.h"
#include "medssl/common.h"
#include "medssl/rng.h"
#include "model_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BN_MOMENTUM 0.1f
#define BN_EPS 1e-5f

/* dst = a + b; names are short by construction, CHECK guards the invariant. */
static void name_join(char *dst, size_t cap, const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    CHECKM(la + lb < cap, a);
    memcpy(dst, a, la);
    memcpy(dst + la, b, lb + 1);
}

/* ---- building ------------------------------------------------------------------------- */

static int add_value(ms_model *m, int C)
{
    if (m->n_values == m->cap_values) {
        m->cap_values = m->cap_values ? 2 * m->cap_values : 64;
        m->values = ms_realloc(m->values, (size_t)m->cap_values * sizeof *m->values);
    }
    ms_value *v = &m->values[m->n_values];
    memset(v, 0, sizeof *v);
    v->C = C;
    v->div = 1;
    return m->n_values++;
}

/* Appends an op from value in0 (and in1) to the existing value out. */
static ms_op *append_op(ms_model *m, ms_op_kind kind, const char *name, int in0, int in1, int out)
{
    if (m->n_ops == m->cap_ops) {
        m->cap_ops = m->cap_ops ? 2 * m->cap_ops : 64;
        m->ops = ms_realloc(m->ops, (size_t)m->cap_ops * sizeof *m->ops);
    }
    ms_op *op = &m->ops[m->n_ops++];
    memset(op, 0, sizeof *op);
    op->kind = kind;
    name_join(op->name, sizeof op->name, name, "");
    op->in0 = in0;
    op->in1 = in1;
    op->w_tensor = op->b_tensor = op->stat_tensor = -1;
    op->first_tensor = m->slab.n_tensors;
    op->out = out;
    return op;
}

/* Appends an op with a new output value of out_C channels. */
static ms_op *add_op(ms_model *m, ms_op_kind kind, const char *name, int in0, int in1, int out_C)
{
    const int in_div = m->values[in0].div, out = add_value(m, out_C);
    m->values[out].div = in_div;
    return append_op(m, kind, name, in0, in1, out);
}

static int add_tensor(ms_model *m, const char *op_name, const char *what, int ndim, const int *shape,
                      unsigned flags)
{
    char name[SLAB_NAME_MAX], suffix[32];
    CHECK(strlen(what) + 2 < sizeof suffix);
    suffix[0] = '.';
    memcpy(suffix + 1, what, strlen(what) + 1);
    name_join(name, sizeof name, op_name, suffix);
    slab_add(&m->slab, name, ndim, shape, flags);
    return m->slab.n_tensors - 1;
}

static void close_op(ms_model *m, ms_op *op) { op->n_tensors = m->slab.n_tensors - op->first_tensor; }

static int g_conv(ms_model *m, const char *name, int in, int K, int R, int stride, int pad, int bias)
{
    int C = m->values[in].C;
    ms_op *op = add_op(m, OP_CONV, name, in, -1, K);
    op->cfg.conv.K = K;
    op->cfg.conv.R = R;
    op->cfg.conv.stride = stride;
    op->cfg.conv.pad = pad;
    op->w_tensor = add_tensor(m, name, "weight", 4, (int[]){ K, C, R, R }, 0);
    if (bias) op->b_tensor = add_tensor(m, name, "bias", 1, (int[]){ K }, SLAB_NO_DECAY);
    close_op(m, op);
    return op->out;
}

static int g_bn(ms_model *m, const char *name, int in)
{
    int C = m->values[in].C;
    ms_op *op = add_op(m, OP_BN, name, in, -1, C);
    op->cfg.bn.momentum = BN_MOMENTUM;
    op->cfg.bn.eps = BN_EPS;
    op->w_tensor = add_tensor(m, name, "weight", 1, (int[]){ C }, SLAB_NO_DECAY);
    op->b_tensor = add_tensor(m, name, "bias", 1, (int[]){ C }, SLAB_NO_DECAY);
    op->stat_tensor = add_tensor(m, name, "running_mean", 1, (int[]){ C }, SLAB_BUFFER | SLAB_NO_DECAY);
    add_tensor(m, name, "running_var", 1, (int[]){ C }, SLAB_BUFFER | SLAB_NO_DECAY);
    close_op(m, op);
    return op->out;
}

static int g_unary(ms_model *m, ms_op_kind kind, const char *name, int in)
{
    ms_op *op = add_op(m, kind, name, in, -1, m->values[in].C);
    close_op(m, op);
    return op->out;
}

static int g_relu(ms_model *m, const char *name, int in) { return g_unary(m, OP_RELU, name, in); }

static int g_linear(ms_model *m, const char *name, int in, int O)
{
    int I = m->values[in].C;
    ms_op *op = add_op(m, OP_LINEAR, name, in, -1, O);
    op->cfg.linear.O = O;
    op->w_tensor = add_tensor(m, name, "weight", 2, (int[]){ O, I }, 0);
    op->b_tensor = add_tensor(m, name, "bias", 1, (int[]){ O }, SLAB_NO_DECAY);
    close_op(m, op);
    return op->out;
}

static int g_binary(ms_model *m, ms_op_kind kind, const char *name, int a, int b, int out_C)
{
    ms_op *op = add_op(m, kind, name, a, b, out_C);
    close_op(m, op);
    return op->out;
}

/* conv3x3 (no bias) -> BN -> ReLU, named <prefix>.conv<i>, <prefix>.bn<i>; the
 * ReLU is fused into the BN op (PyTorch: a separate parameter-free nn.ReLU). */
static int g_conv_bn_relu(ms_model *m, const char *prefix, int i, int in, int K)
{
    char name[64];
    snprintf(name, sizeof name, "%s.conv%d", prefix, i);
    int x = g_conv(m, name, in, K, 3, 1, 1, 0);
    snprintf(name, sizeof name, "%s.bn%d", prefix, i);
    x = g_bn(m, name, x);
    m->ops[m->n_ops - 1].cfg.bn.relu = 1;
    return x;
}

/* Residual basic block: relu(bn1(conv1(relu(bn0(conv0(x))))) + shortcut(x)). */
static int g_basic_block(ms_model *m, const char *prefix, int in, int K)
{
    char name[64];
    int x = g_conv_bn_relu(m, prefix, 0, in, K);
    name_join(name, sizeof name, prefix, ".conv1");
    x = g_conv(m, name, x, K, 3, 1, 1, 0);
    name_join(name, sizeof name, prefix, ".bn1");
    x = g_bn(m, name, x);
    int shortcut = in;
    if (m->values[in].C != K) {
        name_join(name, sizeof name, prefix, ".proj");
        shortcut = g_conv(m, name, in, K, 1, 1, 0, 0);
        name_join(name, sizeof name, prefix, ".proj_bn");
        shortcut = g_bn(m, name, shortcut);
    }
    name_join(name, sizeof name, prefix, ".add");
    x = g_binary(m, OP_ADD, name, x, shortcut, K);
    name_join(name, sizeof name, prefix, ".relu");
    return g_relu(m, name, x);
}

static int build_encoder(ms_model *m, int x)
{
    const ms_model_spec *s = &m->spec;
    char prefix[64], name[64];
    for (int st = 0; st < s->n_stages; st++) {
        if (st > 0) {
            snprintf(name, sizeof name, "encoder.pool%d", st - 1);
            x = g_unary(m, OP_MAXPOOL, name, x);
        }
        if (s->block == BLOCK_PLAIN) {
            snprintf(prefix, sizeof prefix, "encoder.stage%d", st);
            for (int i = 0; i < s->convs; i++) x = g_conv_bn_relu(m, prefix, i, x, s->widths[st]);
        } else {
            for (int b = 0; b < s->convs / 2; b++) {
                snprintf(prefix, sizeof prefix, "encoder.stage%d.block%d", st, b);
                x = g_basic_block(m, prefix, x, s->widths[st]);
            }
        }
        m->skips[st] = x;
    }
    return g_unary(m, OP_GAP, "encoder.pool", x);
}

static int build_head(ms_model *m, int x)
{
    const ms_model_spec *s = &m->spec;
    if (s->tiles > 1) { /* (N, F) -> (N/tiles, tiles*F): the same floats, regrouped */
        ms_op *op = add_op(m, OP_TILECAT, "head.tiles", x, -1, m->values[x].C * s->tiles);
        m->values[op->out].div = m->values[x].div * s->tiles;
        close_op(m, op);
        x = op->out;
    }
    if (s->n_subset) { /* only the chosen features reach the head */
        ms_op *op = add_op(m, OP_GATHER, "head.subset", x, -1, s->n_subset);
        close_op(m, op);
        x = op->out;
    }
    if (s->head_norm) x = g_bn(m, "head.bn", x);
    if (s->head == HEAD_LINEAR) return g_linear(m, "head.fc", x, s->classes);
    x = g_linear(m, "head.fc0", x, s->hidden);
    x = g_relu(m, "head.relu0", x);
    if (s->dropout > 0) {
        ms_op *op = add_op(m, OP_DROPOUT, "head.dropout0", x, -1, s->hidden);
        op->cfg.dropout.p = s->dropout;
        close_op(m, op);
        x = op->out;
    }
    return g_linear(m, "head.fc1", x, s->classes);
}

static int build_decoder(ms_model *m)
{
    const ms_model_spec *s = &m->spec;
    char prefix[64], name[64];
    int x = m->skips[s->n_stages - 1];
    for (int st = s->n_stages - 2, j = 0; st >= 0; st--, j++) {
        snprintf(prefix, sizeof prefix, "decoder.up%d", j);
        name_join(name, sizeof name, prefix, ".upsample");
        ms_op *op = add_op(m, OP_UPSAMPLE, name, x, -1, m->values[x].C);
        op->cfg.up.mode = s->up;
        close_op(m, op);
        x = op->out;
        name_join(name, sizeof name, prefix, ".concat");
        x = g_binary(m, OP_CONCAT, name, x, m->skips[st], m->values[x].C + m->values[m->skips[st]].C);
        for (int i = 0; i < s->convs; i++) x = g_conv_bn_relu(m, prefix, i, x, s->widths[st]);
    }
    return g_conv(m, "decoder.out", x, s->dec_out, 1, 1, 0, 1);
}

void model_build(ms_model *m, const ms_model_spec *spec)
{
    memset(m, 0, sizeof *m);
    m->spec = *spec;
    slab_init(&m->slab);
    m->input = add_value(m, spec->in_channels);
    m->dec_map = m->cropped = -1;
    m->features = build_encoder(m, m->input);
    m->output = m->features;
    if (spec->head != HEAD_NONE) m->output = build_head(m, m->features);
    if (spec->has_decoder) {
        m->dec_map = build_decoder(m);
        if (spec->head == HEAD_NONE) m->output = m->dec_map;
        m->cropped = add_value(m, spec->dec_out);
    }
    /* produced only while a plan pads (model_fit_ops) */
    m->padded = add_value(m, spec->in_channels);
    slab_alloc(&m->slab);
}

/* ---- fitting the input size: OP_PAD at ops[0], OP_CROP last ---------------------------- */

static void rewire(ms_model *m, int from, int to)
{
    for (int i = 0; i < m->n_ops; i++) {
        if (m->ops[i].in0 == from) m->ops[i].in0 = to;
        if (m->ops[i].in1 == from) m->ops[i].in1 = to;
    }
}

void model_fit_ops(ms_model *m, int top, int bottom, int left, int right)
{
    CHECK(top >= 0 && bottom >= 0 && left >= 0 && right >= 0);
    /* back to the built graph */
    if (m->n_ops > 0 && m->ops[m->n_ops - 1].kind == OP_CROP) {
        m->n_ops--;
        if (m->output == m->cropped) m->output = m->dec_map;
    }
    if (m->n_ops > 0 && m->ops[0].kind == OP_PAD) {
        memmove(m->ops, m->ops + 1, (size_t)(m->n_ops - 1) * sizeof *m->ops);
        m->n_ops--;
        rewire(m, m->padded, m->input);
    }
    if (!(top || bottom || left || right)) return;
    /* the encoder reads the padded input: a PAD op appended, then rotated to the front */
    rewire(m, m->input, m->padded);
    ms_op *op = append_op(m, OP_PAD, "encoder.pad", m->input, -1, m->padded);
    op->first_tensor = 0; /* no tensors; keeps the ops' tensor ranges in order */
    op->cfg.fit.top = top;
    op->cfg.fit.bottom = bottom;
    op->cfg.fit.left = left;
    op->cfg.fit.right = right;
    const ms_op pad = *op;
    memmove(m->ops + 1, m->ops, (size_t)(m->n_ops - 1) * sizeof *m->ops);
    m->ops[0] = pad;
    if (m->dec_map < 0) return;
    op = append_op(m, OP_CROP, "decoder.crop", m->dec_map, -1, m->cropped);
    op->cfg.fit = pad.cfg.fit;
    if (m->output == m->dec_map) m->output = m->cropped;
}

void model_free(ms_model *m)
{
    slab_free(&m->slab);
    free(m->values);
    free(m->ops);
    free(m->arena);
    memset(m, 0, sizeof *m);
}

void model_init_weights(ms_model *m, uint64_t seed)
{
    for (int i = 0; i < m->n_ops; i++) {
        const ms_op *op = &m->ops[i];
        for (int t = op->first_tensor; t < op->first_tensor + op->n_tensors; t++) {
            ms_tensor *tn = &m->slab.t[t];
            float *v = m->slab.val + tn->offset;
            ms_rng r = rng_stream(rng_key(seed, 0, (uint64_t)t, RNG_INIT));
            if (op->kind == OP_BN) {
                /* weight 1, bias 0, running_mean 0, running_var 1 */
                float fill = (t == op->w_tensor || t == op->stat_tensor + 1) ? 1.0f : 0.0f;
                for (size_t k = 0; k < tn->size; k++) v[k] = fill;
            } else if (op->kind == OP_CONV && t == op->w_tensor) {
                /* Kaiming normal, fan_out, ReLU gain (torchvision's ResNet init) */
                float std = sqrtf(2.0f / (float)(tn->shape[0] * tn->shape[2] * tn->shape[3]));
                for (size_t k = 0; k < tn->size; k++) v[k] = std * rng_normal(&r);
            } else {
                /* PyTorch's default for linear weight/bias and conv bias: U(-1/sqrt(fan_in), +) */
                const ms_tensor *w = &m->slab.t[op->w_tensor];
                int fan_in = (int)(w->size / (size_t)w->shape[0]);
                float bound = 1.0f / sqrtf((float)fan_in);
                for (size_t k = 0; k < tn->size; k++) v[k] = bound * (2.0f * rng_uniform(&r) - 1.0f);
            }
        }
    }
}

