/* model — activation planning, forward and backward passes (see model.h; the
 * graph and its parameters are built in model_build.c).
 *
 * Dimension legend: N batch; C, K channels in/out; H, W spatial; HW = H*W;
 * P the number of 2x2 pools (stages - 1).
 * Ops are dispatched through a table indexed by ms_op_kind. Every op's
 * parameters are one contiguous slab range, added in build order.
 */
#include "medssl/model.h"
#include "medssl/common.h"
#include "medssl/batchnorm.h"
#include "medssl/conv.h"
#include "medssl/layers.h"
#include "medssl/parallel.h"
#include "medssl/rng.h"
#include "model_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- planning ------------------------------------------------------------------------- */

static int is_trainable(const ms_tensor *t) { return !(t->flags & (SLAB_FROZEN | SLAB_BUFFER)); }

void model_update_grad_flags(ms_model *m)
{
    for (int v = 0; v < m->n_values; v++) m->values[v].needs_grad = 0;
    for (int i = 0; i < m->n_ops; i++) {
        const ms_op *op = &m->ops[i];
        int ng = m->values[op->in0].needs_grad || (op->in1 >= 0 && m->values[op->in1].needs_grad);
        for (int t = op->first_tensor; t < op->first_tensor + op->n_tensors; t++)
            ng |= is_trainable(&m->slab.t[t]);
        m->values[op->out].needs_grad = ng;
    }
}

/* The side the graph runs at for an input side L (see model.h, "Any input
 * size"): a multiple of 2^P with a decoder, at least 2^P without. */
static int fitted_side(const ms_model_spec *s, int L)
{
    const int unit = 1 << (s->n_stages - 1);
    if (s->has_decoder) return (L + unit - 1) / unit * unit;
    return L < unit ? unit : L;
}

/* Spatial size of every value for an input of H x W (0 x 0 for values no op
 * produces); returns an error naming the op where the shape stops fitting. */
static int plan_shapes(ms_model *m, int H, int W)
{
    for (int v = 0; v < m->n_values; v++) m->values[v].H = m->values[v].W = 0;
    m->values[m->input].H = H;
    m->values[m->input].W = W;
    for (int i = 0; i < m->n_ops; i++) {
        ms_op *op = &m->ops[i];
        const ms_value *in = &m->values[op->in0];
        ms_value *out = &m->values[op->out];
        out->H = in->H;
        out->W = in->W;
        switch (op->kind) {
        case OP_CONV: {
            ms_conv_shape cs;
            if (conv_shape_make(&cs, 1, in->C, in->H, in->W, op->cfg.conv.K, op->cfg.conv.R,
                                op->cfg.conv.R, op->cfg.conv.stride, op->cfg.conv.pad) != 0)
                return MS_FAIL(MS_ERR_INPUT, "input %dx%d is too small for %s", H, W, op->name);
            out->H = cs.OH;
            out->W = cs.OW;
            break;
        }
        case OP_MAXPOOL:
            CHECKM(in->H >= 2 && in->W >= 2, op->name); /* OP_PAD made the input at least 2^P */
            out->H = in->H / 2;
            out->W = in->W / 2;
            break;
        case OP_GAP: out->H = out->W = 1; break;
        case OP_TILECAT: CHECK(in->H == 1 && in->W == 1); break;
        case OP_LINEAR:
        case OP_GATHER: CHECK(in->H == 1 && in->W == 1); break;
        case OP_UPSAMPLE: out->H = 2 * in->H; out->W = 2 * in->W; break;
        case OP_PAD:
            out->H = in->H + op->cfg.fit.top + op->cfg.fit.bottom;
            out->W = in->W + op->cfg.fit.left + op->cfg.fit.right;
            break;
        case OP_CROP:
            out->H = in->H - op->cfg.fit.top - op->cfg.fit.bottom;
            out->W = in->W - op->cfg.fit.left - op->cfg.fit.right;
            CHECK(out->H == H && out->W == W);
            break;
        case OP_CONCAT:
        case OP_ADD: {
            const ms_value *b = &m->values[op->in1];
            /* OP_PAD made the encoder's input a multiple of 2^P */
            CHECKM(b->H == in->H && b->W == in->W, op->name);
            break;
        }
        default: break;
        }
    }
    return MS_OK;
}

size_t model_value_size(const ms_model *m, int v)
{
    return (size_t)m->values[v].C * (size_t)m->values[v].H * (size_t)m->values[v].W;
}

/* Rows of value v in the planned batch. */
static int rows(const ms_model *m, int v) { return m->N / m->values[v].div; }
static size_t nflat(const ms_model *m, int v) { return (size_t)rows(m, v) * model_value_size(m, v); }

int model_output_rows(const ms_model *m) { return rows(m, m->output); }

int model_set_rows(ms_model *m, int n)
{
    CHECKM(m->arena != NULL, "model_set_rows before model_plan");
    if (n < 1 || n > m->N_max || n % m->values[m->output].div != 0)
        return MS_FAIL(MS_ERR_INPUT, "%d rows do not fit the plan of %d (multiple of %d)", n, m->N_max,
                       m->values[m->output].div);
    m->N = n;
    return MS_OK;
}

int model_plan(ms_model *m, int N, int H, int W)
{
    CHECK(N > 0);
    if (N % m->values[m->output].div != 0)
        return MS_FAIL(MS_ERR_INPUT, "batch of %d images is not a multiple of the %d tiles per sample", N,
                       m->values[m->output].div);
    if (H < 1 || W < 1 || H > 16384 || W > 16384)
        return MS_FAIL(MS_ERR_INPUT, "input size %dx%d is out of range", H, W);
    /* zero padding to the size the graph runs at, split evenly (the extra row/column bottom/right) */
    const int pad_h = fitted_side(&m->spec, H) - H, pad_w = fitted_side(&m->spec, W) - W;
    model_fit_ops(m, pad_h / 2, pad_h - pad_h / 2, pad_w / 2, pad_w - pad_w / 2);
    int rc = plan_shapes(m, H, W);
    if (rc) return rc;
    free(m->arena);
    m->arena = NULL;
    m->N = m->N_max = N;
    m->H = H;
    m->W = W;
    m->fit_H = H + pad_h;
    m->fit_W = W + pad_w;

    /* Two passes over the same carving: the first only measures. */
    size_t col_floats = 0;
    int bn_widest = 0;
    for (int i = 0; i < m->n_ops; i++)
        if (m->ops[i].kind == OP_BN && m->values[m->ops[i].in0].C > bn_widest) bn_widest = m->values[m->ops[i].in0].C;
    for (int i = 0; i < m->n_ops; i++) {
        const ms_op *op = &m->ops[i];
        if (op->kind != OP_CONV) continue;
        const ms_value *in = &m->values[op->in0];
        ms_conv_shape cs;
        conv_shape_make(&cs, rows(m, op->in0), in->C, in->H, in->W, op->cfg.conv.K, op->cfg.conv.R,
                        op->cfg.conv.R, op->cfg.conv.stride, op->cfg.conv.pad);
        size_t c = conv_col_size(&cs);
        if (c > col_floats) col_floats = c;
    }
    for (int pass = 0; pass < 2; pass++) {
        char *base = m->arena;
        size_t used = 0;
#define CARVE(ptr, type, count) \
        do { size_t bytes_ = ((count) * sizeof(type) + 63) / 64 * 64; \
             (ptr) = base ? (type *)(void *)(base + used) : NULL; used += bytes_; } while (0)
        for (int v = 0; v < m->n_values; v++) {
            ms_value *val = &m->values[v];
            /* the input is the caller's; a value no op produces (H = 0) gets nothing */
            if (v == m->input || val->H == 0) { val->x = val->dx = NULL; continue; }
            size_t n = nflat(m, v);
            CARVE(val->x, float, n);
            CARVE(val->dx, float, n);
        }
        for (int i = 0; i < m->n_ops; i++) {
            ms_op *op = &m->ops[i];
            const ms_value *in = &m->values[op->in0];
            op->mean = op->rstd = NULL;
            op->argmax = NULL;
            if (op->kind == OP_BN) {
                CARVE(op->mean, float, (size_t)in->C);
                CARVE(op->rstd, float, (size_t)in->C);
            } else if (op->kind == OP_MAXPOOL) {
                CARVE(op->argmax, int32_t, nflat(m, op->out));
            }
        }
        CARVE(m->col, float, col_floats);
        CARVE(m->bn_sums, double, 2 * (size_t)bn_widest + 1);
#undef CARVE
        if (pass == 0) m->arena = ms_aligned(used);
    }
    m->col_floats = col_floats;
    model_update_grad_flags(m);
    return MS_OK;
}

/* ---- forward / backward, one pair per op kind ----------------------------------------- */

static float *tval(ms_model *m, int t) { return t < 0 ? NULL : m->slab.val + m->slab.t[t].offset; }
/* The gradient of tensor t, or NULL when it is not trained. */
static float *tgrad(ms_model *m, int t)
{
    if (t < 0 || !is_trainable(&m->slab.t[t])) return NULL;
    return m->slab.grad + m->slab.t[t].offset;
}
static float *din(ms_model *m, int v) { return m->values[v].needs_grad ? m->values[v].dx : NULL; }
static uint64_t op_key(uint64_t key, const ms_model *m, const ms_op *op)
{
    return rng_mix(key ^ (0x5bd1e995ull * (uint64_t)(op - m->ops + 1)));
}

static void conv_shape_of(const ms_model *m, const ms_op *op, ms_conv_shape *cs)
{
    const ms_value *in = &m->values[op->in0];
    conv_shape_make(cs, rows(m, op->in0), in->C, in->H, in->W, op->cfg.conv.K, op->cfg.conv.R, op->cfg.conv.R,
                    op->cfg.conv.stride, op->cfg.conv.pad);
}

static void fwd_conv(ms_model *m, ms_op *op, int training, uint64_t key)
{
    ms_conv_shape cs;
    conv_shape_of(m, op, &cs);
    conv2d_forward(&cs, m->values[op->out].x, m->col, m->values[op->in0].x, tval(m, op->w_tensor),
                   tval(m, op->b_tensor));
}

static void bwd_conv(ms_model *m, ms_op *op, uint64_t key)
{
    ms_conv_shape cs;
    conv_shape_of(m, op, &cs);
    float *dinp = din(m, op->in0), *dw = tgrad(m, op->w_tensor), *db = tgrad(m, op->b_tensor);
    if (!dinp && !dw && !db) return;
    conv2d_backward(&cs, dinp, dw, db, m->col, m->values[op->out].dx, m->values[op->in0].x,
                    tval(m, op->w_tensor));
}

/* ---- synchronized BN: partial sums, one reduction over the ranks, the global result ----- */

static void bn_reduce(ms_model *m, int count) { m->bn_sum(m->bn_sums, count, m->bn_sum_ctx); }

/* Training forward of a BN op over the global batch; rows = 0 on a skipping rank. */
static void fwd_bn_sync(ms_model *m, ms_op *op, int rows_here)
{
    const ms_value *in = &m->values[op->in0];
    const int C = in->C, HW = in->H * in->W;
    float *rm = tval(m, op->stat_tensor);
    if (rows_here > 0) bn2d_sync_stats_partial(m->bn_sums, in->x, rows_here, C, HW);
    else memset(m->bn_sums, 0, (2 * (size_t)C + 1) * sizeof(double));
    bn_reduce(m, 2 * C + 1);
    op->cfg.bn.sync_count = m->bn_sums[0];
    bn2d_sync_forward_train(rows_here > 0 ? m->values[op->out].x : NULL, op->mean, op->rstd, in->x,
                            tval(m, op->w_tensor), tval(m, op->b_tensor), rm, rm + C, m->bn_sums, rows_here, C,
                            HW, op->cfg.bn.momentum, op->cfg.bn.eps, op->cfg.bn.relu);
}

/* Whether the backward of BN op `op` exchanges sums: batch statistics were
 * used and its input needs a gradient (the same on every rank). */
static int bn_sync_backward_needed(const ms_model *m, const ms_op *op)
{
    return m->bn_sum && op->kind == OP_BN && op->cfg.bn.used_batch_stats && m->values[op->out].needs_grad &&
           m->values[op->in0].needs_grad;
}

/* dout already masked by the fused ReLU; rows = 0 on a skipping rank. */
static void bwd_bn_sync(ms_model *m, ms_op *op, int rows_here, float *dinp, float *dg, float *dbeta)
{
    const ms_value *in = &m->values[op->in0];
    const int C = in->C, HW = in->H * in->W;
    const float *dout = m->values[op->out].dx;
    if (!dinp) { /* no input gradient: gamma/beta only, no exchange */
        if (rows_here > 0 && (dg || dbeta))
            bn2d_backward(NULL, dg, dbeta, dout, in->x, op->mean, op->rstd, tval(m, op->w_tensor), rows_here, C, HW);
        return;
    }
    if (rows_here > 0)
        bn2d_sync_backward_partial(m->bn_sums, dg, dbeta, dout, in->x, op->mean, op->rstd, rows_here, C, HW);
    else
        memset(m->bn_sums, 0, 2 * (size_t)C * sizeof(double));
    bn_reduce(m, 2 * C);
    if (rows_here > 0)
        bn2d_sync_backward_input(dinp, m->bn_sums, op->cfg.bn.sync_count, dout, in->x, op->mean, op->rstd,
                                 tval(m, op->w_tensor), rows_here, C, HW);
}

static void fwd_bn(ms_model *m, ms_op *op, int training, uint64_t key)
{
    const ms_value *in = &m->values[op->in0];
    int HW = in->H * in->W;
    float *rm = tval(m, op->stat_tensor), *rv = rm + in->C;
    op->cfg.bn.used_batch_stats = training && !op->cfg.bn.eval;
    if (op->cfg.bn.used_batch_stats && m->bn_sum)
        fwd_bn_sync(m, op, rows(m, op->in0));
    else if (op->cfg.bn.used_batch_stats)
        (op->cfg.bn.relu ? bn2d_relu_forward_train : bn2d_forward_train)(
            m->values[op->out].x, op->mean, op->rstd, in->x, tval(m, op->w_tensor),
            tval(m, op->b_tensor), rm, rv, rows(m, op->in0), in->C, HW, op->cfg.bn.momentum, op->cfg.bn.eps);
    else
        (op->cfg.bn.relu ? bn2d_relu_forward_eval : bn2d_forward_eval)(
            m->values[op->out].x, in->x, tval(m, op->w_tensor), tval(m, op->b_tensor), rm, rv, rows(m, op->in0),
            in->C, HW, op->cfg.bn.eps);
}

static void bwd_bn(ms_model *m, ms_op *op, uint64_t key)
{
    const ms_value *in = &m->values[op->in0];
    int HW = in->H * in->W;
    float *dinp = din(m, op->in0), *dg = tgrad(m, op->w_tensor), *dbeta = tgrad(m, op->b_tensor);
    float *dout = m->values[op->out].dx;
    /* fused ReLU: mask the (complete) output gradient in place */
    if (op->cfg.bn.relu) relu_mask_grad(dout, m->values[op->out].x, nflat(m, op->out));
    if (op->cfg.bn.used_batch_stats && m->bn_sum)
        bwd_bn_sync(m, op, rows(m, op->in0), dinp, dg, dbeta);
    else if (op->cfg.bn.used_batch_stats)
        bn2d_backward(dinp, dg, dbeta, dout, in->x, op->mean, op->rstd, tval(m, op->w_tensor), rows(m, op->in0),
                      in->C, HW);
    else {
        const float *rm = tval(m, op->stat_tensor);
        bn2d_backward_eval(dinp, dg, dbeta, dout, in->x, tval(m, op->w_tensor), rm, rm + in->C, rows(m, op->in0),
                           in->C, HW, op->cfg.bn.eps);
    }
}


static void fwd_relu(ms_model *m, ms_op *op, int training, uint64_t key)
{
    relu_forward(m->values[op->out].x, m->values[op->in0].x, nflat(m, op->out), op->cfg.relu.slope);
}

static void bwd_relu(ms_model *m, ms_op *op, uint64_t key)
{
    relu_backward(din(m, op->in0), m->values[op->out].dx, m->values[op->out].x, nflat(m, op->out),
                  op->cfg.relu.slope);
}

static void fwd_maxpool(ms_model *m, ms_op *op, int training, uint64_t key)
{
    const ms_value *in = &m->values[op->in0];
    maxpool2x2_forward(m->values[op->out].x, op->argmax, in->x, rows(m, op->in0), in->C, in->H, in->W);
}

static void bwd_maxpool(ms_model *m, ms_op *op, uint64_t key)
{
    const ms_value *in = &m->values[op->in0];
    maxpool2x2_backward(din(m, op->in0), m->values[op->out].dx, op->argmax, rows(m, op->in0), in->C, in->H, in->W);
}

static void fwd_gap(ms_model *m, ms_op *op, int training, uint64_t key)
{
    const ms_value *in = &m->values[op->in0];
    gap_forward(m->values[op->out].x, in->x, rows(m, op->in0), in->C, in->H * in->W);
}

static void bwd_gap(ms_model *m, ms_op *op, uint64_t key)
{
    const ms_value *in = &m->values[op->in0];
    gap_backward(din(m, op->in0), m->values[op->out].dx, rows(m, op->in0), in->C, in->H * in->W);
}

static void fwd_linear(ms_model *m, ms_op *op, int training, uint64_t key)
{
    linear_forward(m->values[op->out].x, m->values[op->in0].x, tval(m, op->w_tensor),
                   tval(m, op->b_tensor), rows(m, op->in0), m->values[op->in0].C, op->cfg.linear.O);
}

static void bwd_linear(ms_model *m, ms_op *op, uint64_t key)
{
    float *dinp = din(m, op->in0), *dw = tgrad(m, op->w_tensor), *db = tgrad(m, op->b_tensor);
    if (!dinp && !dw && !db) return;
    linear_backward(dinp, dw, db, m->values[op->out].dx, m->values[op->in0].x, tval(m, op->w_tensor),
                    rows(m, op->in0), m->values[op->in0].C, op->cfg.linear.O);
}

static void fwd_dropout(ms_model *m, ms_op *op, int training, uint64_t key)
{
    float p = training ? op->cfg.dropout.p : 0.0f;
    dropout_forward(m->values[op->out].x, m->values[op->in0].x, nflat(m, op->out), p, op_key(key, m, op));
}

static void bwd_dropout(ms_model *m, ms_op *op, uint64_t key)
{
    float p = m->last_training ? op->cfg.dropout.p : 0.0f;
    dropout_backward(din(m, op->in0), m->values[op->out].dx, nflat(m, op->out), p, op_key(key, m, op));
}

/* head.subset: out[n, j] = in[n, subset[j]] (the spec's feature subset). */
static void fwd_gather(ms_model *m, ms_op *op, int training, uint64_t key)
{
    const int R = rows(m, op->in0), C = m->values[op->in0].C, J = m->spec.n_subset;
    const float *in = m->values[op->in0].x;
    float *out = m->values[op->out].x;
    for (int n = 0; n < R; n++)
        for (int j = 0; j < J; j++) out[(size_t)n * J + j] = in[(size_t)n * C + m->spec.subset[j]];
}

static void bwd_gather(ms_model *m, ms_op *op, uint64_t key)
{
    float *dinp = din(m, op->in0);
    if (!dinp) return;
    const int R = rows(m, op->in0), C = m->values[op->in0].C, J = m->spec.n_subset;
    const float *dout = m->values[op->out].dx;
    for (int n = 0; n < R; n++)
        for (int j = 0; j < J; j++) dinp[(size_t)n * C + m->spec.subset[j]] += dout[(size_t)n * J + j];
}

static void fwd_upsample(ms_model *m, ms_op *op, int training, uint64_t key)
{
    const ms_value *in = &m->values[op->in0];
    if (op->cfg.up.mode == UP_BILINEAR)
        upsample2x_bilinear_forward(m->values[op->out].x, in->x, rows(m, op->in0), in->C, in->H, in->W);
    else
        upsample2x_nearest_forward(m->values[op->out].x, in->x, rows(m, op->in0), in->C, in->H, in->W);
}

static void bwd_upsample(ms_model *m, ms_op *op, uint64_t key)
{
    const ms_value *in = &m->values[op->in0];
    if (op->cfg.up.mode == UP_BILINEAR)
        upsample2x_bilinear_backward(din(m, op->in0), m->values[op->out].dx, rows(m, op->in0), in->C, in->H, in->W);
    else
        upsample2x_nearest_backward(din(m, op->in0), m->values[op->out].dx, rows(m, op->in0), in->C, in->H, in->W);
}

static void fwd_concat(ms_model *m, ms_op *op, int training, uint64_t key)
{
    const ms_value *a = &m->values[op->in0], *b = &m->values[op->in1];
    concat_forward(m->values[op->out].x, a->x, b->x, rows(m, op->in0), a->C, b->C, a->H * a->W);
}

static void bwd_concat(ms_model *m, ms_op *op, uint64_t key)
{
    const ms_value *a = &m->values[op->in0], *b = &m->values[op->in1];
    concat_backward(din(m, op->in0), din(m, op->in1), m->values[op->out].dx, rows(m, op->in0), a->C, b->C, a->H * a->W);
}

static void fwd_add(ms_model *m, ms_op *op, int training, uint64_t key)
{
    add_forward(m->values[op->out].x, m->values[op->in0].x, m->values[op->in1].x, nflat(m, op->out));
}

static void bwd_add(ms_model *m, ms_op *op, uint64_t key)
{
    add_backward(din(m, op->in0), din(m, op->in1), m->values[op->out].dx, nflat(m, op->out));
}

/* (rows, C) -> (rows/tiles, tiles*C): the same floats in the same order. */
static void fwd_tilecat(ms_model *m, ms_op *op, int training, uint64_t key)
{
    memcpy(m->values[op->out].x, m->values[op->in0].x, nflat(m, op->out) * sizeof(float));
}

static void bwd_tilecat(ms_model *m, ms_op *op, uint64_t key)
{
    float *dinp = din(m, op->in0);
    if (dinp) add_backward(dinp, NULL, m->values[op->out].dx, nflat(m, op->out));
}

/* in (rows, C, H, W) -> out (rows, C, H + top + bottom, W + left + right), zeros around. */
static void fwd_pad(ms_model *m, ms_op *op, int training, uint64_t key)
{
    const ms_value *in = &m->values[op->in0], *out = &m->values[op->out];
    pad2d_forward(out->x, in->x, rows(m, op->in0), in->C, in->H, in->W, out->H, out->W, op->cfg.fit.top,
                  op->cfg.fit.left);
}

/* Inverts the placement: din += the window of dout (a crop of the gradient). */
static void bwd_pad(ms_model *m, ms_op *op, uint64_t key)
{
    const ms_value *in = &m->values[op->in0], *out = &m->values[op->out];
    pad2d_backward(din(m, op->in0), out->dx, rows(m, op->in0), in->C, in->H, in->W, out->H, out->W,
                   op->cfg.fit.top, op->cfg.fit.left);
}

/* in (rows, C, PH, PW) -> out (rows, C, H, W): the window at (top, left). */
static void fwd_crop(ms_model *m, ms_op *op, int training, uint64_t key)
{
    const ms_value *in = &m->values[op->in0], *out = &m->values[op->out];
    crop2d_forward(out->x, in->x, rows(m, op->in0), in->C, out->H, out->W, in->H, in->W, op->cfg.fit.top,
                   op->cfg.fit.left);
}

/* Inverts the window: din[window] += dout (a zero-padded gradient). */
static void bwd_crop(ms_model *m, ms_op *op, uint64_t key)
{
    const ms_value *in = &m->values[op->in0], *out = &m->values[op->out];
    crop2d_backward(din(m, op->in0), out->dx, rows(m, op->in0), in->C, out->H, out->W, in->H, in->W,
                    op->cfg.fit.top, op->cfg.fit.left);
}

typedef void (*op_forward_fn)(ms_model *m, ms_op *op, int training, uint64_t key);
typedef void (*op_backward_fn)(ms_model *m, ms_op *op, uint64_t key);

static const struct {
    const char *name;
    op_forward_fn forward;
    op_backward_fn backward;
} op_table[OP__COUNT] = {
    [OP_CONV] = { "conv", fwd_conv, bwd_conv },
    [OP_BN] = { "batchnorm", fwd_bn, bwd_bn },
    [OP_RELU] = { "relu", fwd_relu, bwd_relu },
    [OP_MAXPOOL] = { "maxpool", fwd_maxpool, bwd_maxpool },
    [OP_GAP] = { "avgpool", fwd_gap, bwd_gap },
    [OP_LINEAR] = { "linear", fwd_linear, bwd_linear },
    [OP_DROPOUT] = { "dropout", fwd_dropout, bwd_dropout },
    [OP_UPSAMPLE] = { "upsample", fwd_upsample, bwd_upsample },
    [OP_CONCAT] = { "concat", fwd_concat, bwd_concat },
    [OP_ADD] = { "add", fwd_add, bwd_add },
    [OP_TILECAT] = { "tilecat", fwd_tilecat, bwd_tilecat },
    [OP_PAD] = { "pad", fwd_pad, bwd_pad },
    [OP_CROP] = { "crop", fwd_crop, bwd_crop },
    [OP_GATHER] = { "gather", fwd_gather, bwd_gather },
};
_Static_assert(sizeof op_table / sizeof *op_table == OP__COUNT, "one entry per op kind");

const char *model_op_kind_name(ms_op_kind kind) { return op_table[kind].name; }
const char *model_op_name(const ms_model *m, int op) { return m->ops[op].name; }

/* Runs ops [first, n_ops) forward. */
static float *run_forward(ms_model *m, int first, int training, uint64_t dropout_key)
{
    m->last_training = training;
    m->last_skipped = 0;
    for (int i = first; i < m->n_ops; i++) {
        double t0 = m->prof ? ms_now() : 0;
        op_table[m->ops[i].kind].forward(m, &m->ops[i], training, dropout_key);
        if (m->prof) m->prof[i] += ms_now() - t0;
    }
    return m->values[m->output].x;
}

float *model_forward(ms_model *m, const float *input, int training, uint64_t dropout_key)
{
    CHECKM(m->arena != NULL, "model_forward before model_plan");
    m->values[m->input].x = (float *)input; /* read only: no op writes its input */
    return run_forward(m, 0, training, dropout_key);
}

float *model_forward_from(ms_model *m, int from, int training, uint64_t dropout_key)
{
    CHECKM(m->arena != NULL, "model_forward_from before model_plan");
    CHECKM(!m->values[from].needs_grad, "model_forward_from: the skipped ops would need a backward pass");
    int first = 0;
    for (int i = 0; i < m->n_ops; i++)
        if (m->ops[i].out == from) first = i + 1;
    return run_forward(m, first, training, dropout_key);
}

float *model_output_grad(ms_model *m) { return m->values[m->output].dx; }

/* The backward of ops n_ops-1 down to `last` (activation gradients zeroed first). */
static void backward_ops(ms_model *m, int last, uint64_t dropout_key, ms_grads_ready_fn on_ready, void *ctx)
{
    for (int v = 0; v < m->n_values; v++)
        if (v != m->output && m->values[v].dx && m->values[v].needs_grad)
            parallel_zero(m->values[v].dx, nflat(m, v));
    for (int i = m->n_ops - 1; i >= last; i--) {
        ms_op *op = &m->ops[i];
        double t0 = m->prof ? ms_now() : 0;
        if (m->values[op->out].needs_grad) op_table[op->kind].backward(m, op, dropout_key);
        if (m->prof) m->prof[m->n_ops + i] += ms_now() - t0;
        if (on_ready && op->n_tensors > 0) {
            const ms_tensor *first = &m->slab.t[op->first_tensor];
            const ms_tensor *last = &m->slab.t[op->first_tensor + op->n_tensors - 1];
            on_ready(ctx, first->offset, last->offset + last->size - first->offset);
        }
    }
}

void model_backward(ms_model *m, uint64_t dropout_key, ms_grads_ready_fn on_ready, void *ctx)
{
    backward_ops(m, 0, dropout_key, on_ready, ctx);
}

void model_backward_until(ms_model *m, int value)
{
    CHECKM(m->values[value].dx != NULL, "model_backward_until: the value carries no gradient");
    int producer = -1;
    for (int i = 0; i < m->n_ops; i++)
        if (m->ops[i].out == value) producer = i;
    backward_ops(m, producer + 1, 0, NULL, NULL);
}

void model_set_bn_reducer(ms_model *m, ms_sum_fn sum, void *ctx)
{
    m->bn_sum = sum;
    m->bn_sum_ctx = sum ? ctx : NULL;
}

void model_forward_skip(ms_model *m)
{
    CHECKM(m->arena != NULL, "model_forward_skip before model_plan");
    m->last_training = 1;
    m->last_skipped = 1;
    for (int i = 0; i < m->n_ops; i++) {
        ms_op *op = &m->ops[i];
        if (op->kind != OP_BN) continue;
        op->cfg.bn.used_batch_stats = !op->cfg.bn.eval;
        if (m->bn_sum && op->cfg.bn.used_batch_stats) fwd_bn_sync(m, op, 0);
    }
}

void model_backward_skip(ms_model *m, ms_grads_ready_fn on_ready, void *ctx)
{
    CHECKM(!m->bn_sum || m->last_skipped,
           "model_backward_skip with sync-BN needs model_forward_skip before it (the BN reductions)");
    for (int i = m->n_ops - 1; i >= 0; i--) {
        ms_op *op = &m->ops[i];
        if (bn_sync_backward_needed(m, op)) /* same condition and place as in model_backward */
            bwd_bn_sync(m, op, 0, m->values[op->in0].dx, NULL, NULL);
        if (!on_ready || op->n_tensors == 0) continue;
        const ms_tensor *first = &m->slab.t[op->first_tensor];
        const ms_tensor *last = &m->slab.t[op->first_tensor + op->n_tensors - 1];
        on_ready(ctx, first->offset, last->offset + last->size - first->offset);
    }
}

double model_forward_flops(const ms_model *m)
{
    double flops = 0;
    for (int i = 0; i < m->n_ops; i++) {
        const ms_op *op = &m->ops[i];
        if (op->kind == OP_CONV)
            flops += 2.0 * op->cfg.conv.K * m->values[op->in0].C * op->cfg.conv.R * op->cfg.conv.R *
                     (double)m->values[op->out].H * m->values[op->out].W;
        else if (op->kind == OP_LINEAR)
            flops += 2.0 * m->values[op->in0].C * op->cfg.linear.O;
    }
    return flops;
}
