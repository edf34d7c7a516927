/* model — networks built from a text spec, as a list of ops over planned
 * activation buffers, with forward and backward passes.
 *
 * A model is a small static graph: values (activations) and ops in build
 * order. Parameters go into one slab (medssl/slab.h) in that same order, so
 * backward, which walks the ops in reverse, finishes each layer's gradient
 * range in one piece and can hand it to the all-reduce at once.
 *
 * Spec (the `model_spec` text stored in checkpoints): parts separated by ';',
 * each `part:key=value,key=value`:
 *
 *   encoder:in=1,widths=32-64-128-256,block=plain,convs=2
 *       stages of (conv3x3 without bias, BN, ReLU) x convs, or residual basic
 *       blocks (block=residual: convs/2 blocks of conv-BN-ReLU-conv-BN + shortcut,
 *       1x1 conv+BN projection when the width changes); 2x2 max-pool between
 *       stages; global average pool gives the features (N, widths[-1]).
 *   head:type=linear,classes=4                 linear classifier on the features
 *   head:type=mlp,classes=10,hidden=256,dropout=0.5
 *   head:type=linear,classes=10,norm=bn        BatchNorm (head.bn) on the features first
 *   head:type=mlp,classes=100,hidden=512,tiles=9   siamese: the features of each 9
 *       consecutive input images (tiles of one puzzle) are concatenated in order
 *       before the head; N must be a multiple of 9 and the output has N/9 rows
 *   decoder:out=2,up=bilinear                  U-Net decoder mirroring the encoder,
 *       skip connections from every stage, dense output (N, out, H, W);
 *       up=nearest|bilinear.
 *
 * Any input size (model_plan): with P = stages-1 2x2 pools, a decoder model
 * runs at H and W rounded up to multiples of 2^P (the skips must meet the
 * upsampled maps), an encoder-only model at max(H, 2^P) x max(W, 2^P) (every
 * pool gets 2 rows; odd sizes are floored by the pools as before). When the
 * input is smaller, an OP_PAD op first places it in a zero image of that
 * size, centred (top = pad/2, bottom = the rest, likewise left/right), and an
 * OP_CROP op cuts the decoder's map back to H x W, so the output always has
 * the input's size. The zeros take part in the BN statistics and the global
 * average pool like any pixel. Sizes that fit get neither op, so their passes
 * are unchanged. The ops have no parameters: checkpoints, parameter names and
 * the spec text do not depend on the size.
 *
 * A model has an encoder and at most one head and at most one decoder; its
 * output is the head's logits (N, classes) if there is a head, else the
 * decoder's map. Parameter names follow PyTorch (see README "Model spec").
 *
 * Dimension legend: N batch, C channels, H, W spatial size.
 */
#ifndef MEDSSL_MODEL_H
#define MEDSSL_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "medssl/slab.h"

#define MODEL_MAX_STAGES 8
#define MODEL_MAX_SUBSET 128 /* features a head can be restricted to (subset=) */

typedef enum { BLOCK_PLAIN, BLOCK_RESIDUAL, BLOCK__COUNT } ms_block_kind;
typedef enum { HEAD_NONE, HEAD_LINEAR, HEAD_MLP, HEAD__COUNT } ms_head_kind;
typedef enum { UP_NEAREST, UP_BILINEAR, UP__COUNT } ms_up_kind;

typedef struct {
    /* encoder */
    int in_channels;
    int n_stages;
    int widths[MODEL_MAX_STAGES];
    ms_block_kind block;
    int convs;            /* convs per stage */
    /* head */
    ms_head_kind head;
    int classes;
    int hidden;
    float dropout;
    int head_norm;        /* 1: BatchNorm on the features before the head (norm=bn), so a probe on
                             frozen features does not depend on their scale (as in MAE's linear probe) */
    int tiles;            /* >1: the head sees `tiles` consecutive feature vectors concatenated
                             (siamese encoder, e.g. jigsaw); model input rows = tiles x samples */
    int n_subset;         /* >0: the head sees only these pooled features (subset=3-17-42, strictly
                             increasing; e.g. a CFS selection, medssl select), in this order */
    int subset[MODEL_MAX_SUBSET];
    /* decoder */
    int has_decoder;
    int dec_out;
    ms_up_kind up;
} ms_model_spec;

/* Parses a spec; on error returns MS_ERR_INPUT with a message naming the key. */
int model_spec_parse(ms_model_spec *spec, const char *text);
/* An upper bound of the parameters and BN buffers a spec builds (parse
 * refuses specs above 2^27 of them, before anything is allocated). */
double model_spec_params_bound(const ms_model_spec *spec);
/* Writes the canonical text of a spec (parse(format(s)) == s). */
void model_spec_format(const ms_model_spec *spec, char *buf, size_t cap);

typedef enum {
    OP_CONV, OP_BN, OP_RELU, OP_MAXPOOL, OP_GAP, OP_LINEAR, OP_DROPOUT, OP_UPSAMPLE,
    OP_CONCAT, OP_ADD, OP_TILECAT, OP_PAD, OP_CROP, OP_GATHER, OP__COUNT
} ms_op_kind;

/* An activation: (rows, C, H, W) with its gradient. H = W = 1 for vectors.
 * rows = model N / div: div is 1 up to a tile concatenation, `tiles` after. */
typedef struct {
    int C, H, W;
    int div;
    float *x;   /* (N,C,H,W), planned */
    float *dx;  /* (N,C,H,W), planned; NULL when nothing upstream needs it */
    int needs_grad;
} ms_value;

typedef struct {
    ms_op_kind kind;
    char name[64];          /* e.g. "encoder.stage1.conv0" */
    int in0, in1, out;      /* value ids; in1 = -1 for unary ops */
    int w_tensor, b_tensor; /* slab tensor indices or -1: conv/linear weight+bias, BN gamma+beta */
    int stat_tensor;        /* BN: running_mean (running_var follows it) or -1 */
    int first_tensor, n_tensors; /* the op's contiguous tensor range in the slab */
    union {
        struct { int K, R, stride, pad; } conv;
        struct { float momentum, eps; int eval, used_batch_stats, relu; double sync_count; } bn;
            /* eval: use running stats even in training; relu: fused ReLU; sync_count: values per
               channel over all ranks in the last synchronized forward (for its backward) */
        struct { float slope; } relu;
        struct { int O; } linear;
        struct { float p; } dropout;
        struct { ms_up_kind mode; } up;
        struct { int top, bottom, left, right; } fit; /* OP_PAD: zero rows/columns added on each side;
                                                         OP_CROP: removed */
    } cfg;
    /* planned per-op buffers */
    float *mean, *rstd;     /* BN (C) */
    int32_t *argmax;        /* maxpool (N,C,H/2,W/2) */
} ms_op;

/* Sums buf[0..count) element-wise over the ranks that train together, in
 * place, on every rank (an all-reduce). The model reaches other ranks only
 * through this (dist_sum_doubles_inplace in medssl/dist.h is the MPI one). */
typedef void (*ms_sum_fn)(double *buf, int count, void *ctx);

typedef struct {
    ms_model_spec spec;
    ms_slab slab;
    ms_value *values;
    int n_values, cap_values;
    ms_op *ops;
    int n_ops, cap_ops;
    int input;        /* value id of the input */
    int features;     /* pooled encoder features (N, widths[-1]) */
    int output;       /* head logits or decoder map */
    int skips[MODEL_MAX_STAGES]; /* encoder stage outputs (before pooling) */
    int padded;       /* the input zero-padded by OP_PAD (produced only while the plan pads) */
    int dec_map;      /* the decoder's map at the padded size (decoder.out), or -1 */
    int cropped;      /* dec_map cut back to the input's size by OP_CROP (only while the plan pads), or -1 */
    /* plan */
    int N, H, W;            /* N: rows the passes run on (<= N_max, see model_set_rows); H x W the input */
    int fit_H, fit_W;       /* the size the encoder runs at: H x W, or more when OP_PAD pads */
    int N_max;              /* rows the plan holds */
    int last_training; /* the mode of the last forward, for backward */
    int last_skipped;  /* the last forward was model_forward_skip */
    float *col;       /* shared im2col workspace */
    size_t col_floats;
    void *arena;      /* every planned buffer lives here */
    double *prof;     /* optional (2*n_ops): seconds in each op's forward [i] and backward
                         [n_ops+i] are added here when non-NULL (the benchmark sets it) */
    ms_sum_fn bn_sum; /* sync-BN: sums BN statistics over the ranks (model_set_bn_reducer); NULL: local */
    void *bn_sum_ctx;
    double *bn_sums;  /* planned (2 * widest BN + 1): partial sums for the BN reductions */
} ms_model;

/* Builds the graph and the parameter slab (allocated, zeroed) for `spec`.
 * Does not initialise weights; see model_init_weights. */
void model_build(ms_model *m, const ms_model_spec *spec);
void model_free(ms_model *m);
/* Kaiming-normal conv weights (fan_out, ReLU gain), PyTorch-default linear
 * weights, BN gamma 1 / beta 0 / running var 1, keyed by seed (deterministic). */
void model_init_weights(ms_model *m, uint64_t seed);

/* Plans every activation for input (N, in_channels, H, W) once (N counts input
 * images: with tiles > 1, N must be a multiple of tiles); no allocation
 * happens in forward/backward afterwards. Re-planning with another shape frees
 * the previous plan. Any H, W in 1..16384 fits (see "Any input size" above):
 * the plan adds or removes OP_PAD (ops[0]) and OP_CROP (the last op), so
 * n_ops, op indices and m->output may change with the shape; value ids
 * input, features and skips do not. Returns MS_ERR_INPUT for a shape out of
 * range or a batch that is not a multiple of the tiles. */
int model_plan(ms_model *m, int N, int H, int W);

/* Recomputes which activations need gradients from the slab's FROZEN flags;
 * call after freezing/unfreezing (model_plan calls it). */
void model_update_grad_flags(ms_model *m);

/* Forward pass of input (N, in_channels, H, W). training: BN uses batch stats
 * and updates running stats (unless the op is in eval), dropout is active,
 * keyed by dropout_key. Returns the output value's buffer. */
float *model_forward(ms_model *m, const float *input, int training, uint64_t dropout_key);
/* The forward pass of only the ops after the one that produces value `from`,
 * on the rows the caller has written into m->values[from].x (e.g. a head on
 * cached m->features). Those ops must read nothing computed before `from`
 * (true for the head after the encoder). A following model_backward reaches
 * no earlier op as long as `from` needs no gradient (a frozen encoder). */
float *model_forward_from(ms_model *m, int from, int training, uint64_t dropout_key);

/* Called by model_backward each time the parameter gradients of a contiguous
 * slab range [offset, offset+count) are final (reverse slab order). */
typedef void (*ms_grads_ready_fn)(void *ctx, size_t offset, size_t count);

/* Backward pass. The caller first writes d(loss)/d(output) into
 * model_output_grad(m). Parameter gradients are accumulated (+=) into the
 * slab's grad (zero it per step with slab_zero_grad); activation gradients are
 * zeroed here. on_ready may be NULL. */
void model_backward(ms_model *m, uint64_t dropout_key, ms_grads_ready_fn on_ready, void *ctx);

float *model_output_grad(ms_model *m);
/* The backward pass of only the ops after the one that produces `value`
 * (which must carry a gradient): afterwards values[value].dx is d(loss)/d(value)
 * itself, before its producer's backward would change it in place (a fused
 * BN+ReLU masks it). Grad-CAM's gradient at a layer. No dropout (eval). */
void model_backward_until(ms_model *m, int value);
/* Runs the following passes on the first n input rows of the plan (1 <= n <=
 * planned N, a multiple of tiles): a short last batch is computed exactly, with
 * no padding rows in the BN statistics and no allocation. */
int model_set_rows(ms_model *m, int n);
/* The on_ready callbacks of model_backward, in the same order, without
 * computing anything: a rank with an empty batch still takes part in every
 * bucketed all-reduce, and, with sync-BN on after model_forward_skip, in
 * every backward BN reduction (zero sums), in the same interleaving. */
void model_backward_skip(ms_model *m, ms_grads_ready_fn on_ready, void *ctx);
/* Synchronized BatchNorm (--sync-bn). With a reducer `sum` (ms_sum_fn over
 * the ranks that train together), every training-mode BN (training forward,
 * op not in eval) normalises with the statistics of the union of the ranks'
 * batches: the forward sums per-channel (count, sum x, sum x^2) with one call
 * of `sum` per BN op, and uses the global mean/var for the output and the
 * running-stat update (so running stats stay identical on every rank);
 * backward sums (sum dy, sum dy*xhat) the same way (one call per BN op whose
 * input needs a gradient), so the input gradient is exactly that of BN over
 * the global batch. Gamma/beta gradients stay this rank's sums: with the loss
 * of each rank weighted so that the MEAN of the ranks' gradients is the
 * global-batch gradient (what grad_sync_finish computes), the result is the
 * gradient of one model trained on the global batch. Every rank's dout must
 * carry the same per-row scale (pretrain's size/valid_all does).
 * Eval-mode BN never reduces.
 * Reductions run in op order, interleaved with the caller's collectives (e.g.
 * the bucketed gradient Iallreduces on the same communicator): every rank
 * must make the same sequence of model_forward(training=1)/model_forward_skip
 * and model_backward/model_backward_skip calls. `ctx` is passed to `sum` as
 * given and must outlive its use. sum = NULL turns synchronization off (local
 * statistics): the passes are then bit-identical to a model that never had a
 * reducer; pass NULL for a world of one rank (its local statistics are the
 * global ones). Call on every rank (not a collective itself). */
void model_set_bn_reducer(ms_model *m, ms_sum_fn sum, void *ctx);

/* The training forward of a rank with no rows this step (e.g. its share of
 * the last batch is empty): computes nothing and writes no activation, but
 * with sync-BN on it takes part in every BN reduction with zero counts and
 * sums, and updates the running stats with the global statistics like the
 * other ranks. Without sync-BN it only records that the step is a training
 * step. Pair it with model_backward_skip (with sync-BN on, model_backward_skip
 * without model_forward_skip before it is a CHECK failure: its collectives
 * depend on the forward's mode). */
void model_forward_skip(ms_model *m);
/* Rows of the output: N, or N / tiles after a tile concatenation. */
int model_output_rows(const ms_model *m);
/* Per-sample floats of a value: C*H*W. */
size_t model_value_size(const ms_model *m, int value);
/* FLOPs of one forward pass per image for the planned shape (multiply-add = 2). */
double model_forward_flops(const ms_model *m);
/* Human-readable name of op i, e.g. "encoder.stage1.conv0" (for the benchmark). */
const char *model_op_name(const ms_model *m, int op);
const char *model_op_kind_name(ms_op_kind kind);

#endif
