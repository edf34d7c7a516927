/* test_syncbn_mpi — run under `mpirun -np 2`: synchronized BatchNorm
 * (model_set_bn_reducer with dist's MPI reducer, dist_sum_doubles_inplace)
 * makes data-parallel training equal to training one model on the global
 * batch.
 *
 * Reference: every rank trains the model alone (sync off, no all-reduce) for
 * STEPS steps of SGD with momentum on all B rows of a fixed batch. Distributed:
 * the B rows are split over the ranks, sync-BN on, the loss of each rank
 * weighted as pretrain does (weight = rows_here * ranks / B, so the MEAN of the
 * ranks' gradients is the global-batch gradient), gradients averaged by the
 * bucketed grad_sync. After STEPS steps every parameter AND every BN running
 * stat must match the reference; without sync-BN they must not (BN would
 * normalise each half with its own statistics) — so the test can fail.
 *
 * Tolerance (TOL_ATOL + TOL_RTOL*|ref| per float): the two runs compute the same
 * function with float sums in a different order (per-rank halves; conv/linear
 * weight gradients summed over 16 images then all-reduced in float; BN sums
 * shifted per rank and combined in double), so they differ by float rounding,
 * ~1e-7 relative per operation, grown a little by 5 steps of training.
 * Measured (OpenBLAS, 1 thread per rank): max |diff| 1.2e-7 with sync-BN
 * (~0.03 of the tolerance; the running stats are the largest), 2.5e-2 (plain)
 * and 4.6e-2 (residual) without (~5000x the tolerance); an empty rank 1 gives
 * exactly the reference. 1e-5 relative with a 1e-6 absolute floor (values near
 * 0) leaves ~30x headroom over rounding and stays ~5000x below the
 * difference sync-BN removes.
 *
 * MPI_Allreduce is wrapped here (PMPI) to count the BN all-reduces: one per
 * BN op in a training forward, one per BN op in backward, none in eval mode
 * or with sync off.
 */
#include "medssl/common.h"
#include "medssl/dist.h"
#include "medssl/loss.h"
#include "medssl/model.h"
#include "medssl/optim.h"
#include "medssl/rng.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TOL_ATOL 1e-6
#define TOL_RTOL 1e-5

static ms_dist D;

/* ---- counting MPI_Allreduce (the library's calls land here first) -------------------- */

static long n_allreduce;

int MPI_Allreduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype datatype, MPI_Op op,
                  MPI_Comm comm)
{
    n_allreduce++;
    return PMPI_Allreduce(sendbuf, recvbuf, count, datatype, op, comm);
}

/* ---- the model, the batch, the training loop ---------------------------------------- */

enum { B = 32, S = 12, K = 4, STEPS = 5 };
static const char *SPEC_PLAIN = "encoder:in=1,widths=8-16,block=plain,convs=2;head:type=linear,classes=4";
static const char *SPEC_RES = "encoder:in=1,widths=8-16,block=residual,convs=2;head:type=linear,classes=4";

static float X[B * S * S];
static int32_t Y[B];

static void make_batch(void)
{
    tu_fill_normal(X, (size_t)B * S * S, 2024, 1.0f);
    for (size_t i = 0; i < (size_t)B * S * S; i++) X[i] = 3.0f + 2.0f * X[i]; /* mean far from 0 */
    ms_rng r = rng_stream(rng_key(11, 0, 0, RNG_DATA));
    for (int i = 0; i < B; i++) Y[i] = (int32_t)rng_below(&r, K);
}

static int count_bn(const ms_model *m)
{
    int n = 0;
    for (int i = 0; i < m->n_ops; i++) n += m->ops[i].kind == OP_BN;
    return n;
}

static void build(ms_model *m, const char *text, int eval_bn)
{
    ms_model_spec spec;
    CHECK(model_spec_parse(&spec, text) == 0);
    model_build(m, &spec);
    model_init_weights(m, 77); /* the same weights on every rank */
    CHECK(model_plan(m, B, S, S) == 0);
    for (int i = 0; i < m->n_ops; i++)
        if (m->ops[i].kind == OP_BN) m->ops[i].cfg.bn.eval = eval_bn;
}

/* STEPS steps of SGD on rows [lo, lo+n) of the batch (n may be 0: the skip
 * path), loss weighted by `weight`; gradients averaged over ranks when sync. */
static void train(ms_model *m, int lo, int n, float weight, ms_grad_sync *sync)
{
    ms_optim opt = optim_sgd(0.9f, 0, 5e-4f);
    for (int step = 0; step < STEPS; step++) {
        slab_zero_grad(&m->slab);
        if (n > 0) {
            CHECK(model_set_rows(m, n) == 0);
            float *logits = model_forward(m, X + (size_t)lo * S * S, 1, 0);
            softmax_ce_loss(model_output_grad(m), logits, Y + lo, NULL, -1, n, K, 1, weight);
        } else {
            model_forward_skip(m);
        }
        if (sync) grad_sync_begin(sync);
        if (n > 0) model_backward(m, 0, sync ? dist_grads_ready : NULL, sync);
        else model_backward_skip(m, sync ? dist_grads_ready : NULL, sync);
        if (sync) grad_sync_finish(sync);
        optim_step(&opt, &m->slab, 0.1f);
    }
}

/* The reference: this rank alone, all B rows, weight 1. */
static void reference(ms_model *ref, const char *spec, int eval_bn)
{
    build(ref, spec, eval_bn);
    train(ref, 0, B, 1.0f, NULL);
}

/* Distributed: rank r trains on rows [lo_r, lo_r + n_r) with the pretrain weighting. */
static void distributed(ms_model *m, const char *spec, int eval_bn, int sync_bn, const int *n_of_rank)
{
    build(m, spec, eval_bn);
    if (sync_bn) model_set_bn_reducer(m, dist_sum_doubles_inplace, &D);
    int lo = 0, total = 0;
    for (int r = 0; r < D.size; r++) total += n_of_rank[r];
    for (int r = 0; r < D.rank; r++) lo += n_of_rank[r];
    CHECK(total == B);
    const int n = n_of_rank[D.rank];
    ms_grad_sync sync;
    grad_sync_init(&sync, &D, &m->slab, 200); /* small buckets: Iallreduces interleave with the BN all-reduces */
    train(m, lo, n, (float)n * (float)D.size / (float)B, &sync);
}

/* Largest |a-b| over the slab, and the largest |a-b| / (ATOL + RTOL*|b|) (<= 1: within tolerance). */
static double max_diff(const ms_model *a, const ms_model *b, double *worst_rel)
{
    double md = 0, mr = 0;
    for (size_t i = 0; i < a->slab.n; i++) {
        double d = fabs((double)a->slab.val[i] - (double)b->slab.val[i]);
        double r = d / (TOL_ATOL + TOL_RTOL * fabs((double)b->slab.val[i]));
        if (d > md) md = d;
        if (r > mr) mr = r;
    }
    if (worst_rel) *worst_rel = mr;
    return md;
}

/* Largest |diff| over tensors flagged SLAB_BUFFER (the BN running stats). */
static double max_diff_buffers(const ms_model *a, const ms_model *b)
{
    double md = 0;
    for (int t = 0; t < a->slab.n_tensors; t++) {
        const ms_tensor *tt = &a->slab.t[t];
        if (!(tt->flags & SLAB_BUFFER)) continue;
        for (size_t i = tt->offset; i < tt->offset + tt->size; i++) {
            double d = fabs((double)a->slab.val[i] - (double)b->slab.val[i]);
            if (d > md) md = d;
        }
    }
    return md;
}

/* 1 when this rank's slab values equal rank 0's bit for bit. */
static int same_as_rank0(const ms_model *m)
{
    float *r0 = ms_malloc(m->slab.n * sizeof(float));
    memcpy(r0, m->slab.val, m->slab.n * sizeof(float));
    MPI_Bcast(r0, (int)m->slab.n, MPI_FLOAT, 0, MPI_COMM_WORLD);
    int same = memcmp(r0, m->slab.val, m->slab.n * sizeof(float)) == 0;
    free(r0);
    return same;
}

/* ---- cases -------------------------------------------------------------------------- */

static void check_split(const char *spec, const char *what)
{
    ms_model ref, syn, loc;
    reference(&ref, spec, 0);
    const int half[2] = { B / 2, B / 2 };
    CHECK(D.size == 2);
    distributed(&syn, spec, 0, 1, half);
    distributed(&loc, spec, 0, 0, half);
    double rel_syn, rel_loc;
    double d_syn = max_diff(&syn, &ref, &rel_syn), d_loc = max_diff(&loc, &ref, &rel_loc);
    double b_syn = max_diff_buffers(&syn, &ref), b_loc = max_diff_buffers(&loc, &ref);
    if (D.rank == 0)
        fprintf(stderr, "  %s, 2 x 16 rows, %d steps: max |diff| to one model on 32 rows: sync-BN %.3g "
                        "(running stats %.3g, %.3g of tolerance), per-rank BN %.3g (running stats %.3g, %.3g of tolerance)\n",
                what, STEPS, d_syn, b_syn, rel_syn, d_loc, b_loc, rel_loc);
    TU_CHECKF(rel_syn <= 1.0, "sync-BN differs from the global-batch model: max |diff| %g (%g x tolerance)", d_syn, rel_syn);
    TU_CHECKF(b_syn <= TOL_ATOL * 10, "sync-BN running stats differ by %g", b_syn);
    /* without sync the halves normalise with their own statistics: clearly different */
    TU_CHECKF(rel_loc > 30.0, "per-rank BN is as close as sync-BN (%g x tolerance): the test cannot tell them apart", rel_loc);
    TU_CHECKF(b_loc > 100 * b_syn, "per-rank running stats %g not clearly off (sync %g)", b_loc, b_syn);
    TU_CHECK(same_as_rank0(&syn)); /* sync-BN keeps the replicas (and running stats) identical */
    model_free(&ref);
    model_free(&syn);
    model_free(&loc);
}

static void test_even_split_plain(void) { check_split(SPEC_PLAIN, "plain"); }
static void test_even_split_residual(void) { check_split(SPEC_RES, "residual"); }

/* An uneven split (20 + 12 rows, like a short last batch): the weighting and the global
 * count still give the global-batch model. */
static void test_uneven_split(void)
{
    ms_model ref, syn;
    reference(&ref, SPEC_PLAIN, 0);
    const int split[2] = { 20, 12 };
    distributed(&syn, SPEC_PLAIN, 0, 1, split);
    double rel, d = max_diff(&syn, &ref, &rel);
    if (D.rank == 0) fprintf(stderr, "  20 + 12 rows: max |diff| %.3g (%.3g of tolerance)\n", d, rel);
    TU_CHECKF(rel <= 1.0, "uneven split: max |diff| %g (%g x tolerance)", d, rel);
    TU_CHECK(same_as_rank0(&syn));
    model_free(&ref);
    model_free(&syn);
}

/* Rank 1 has no rows (model_forward_skip / model_backward_skip): both ranks end as the
 * model trained on all rows alone, running stats included (rank 1 updates its running
 * stats from the global statistics without any rows of its own). */
static void test_empty_rank(void)
{
    ms_model ref, syn;
    reference(&ref, SPEC_PLAIN, 0);
    const int split[2] = { B, 0 };
    distributed(&syn, SPEC_PLAIN, 0, 1, split);
    double rel, d = max_diff(&syn, &ref, &rel), b = max_diff_buffers(&syn, &ref);
    double all_d = 0, all_rel = 0;
    MPI_Allreduce(&d, &all_d, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    MPI_Allreduce(&rel, &all_rel, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    if (D.rank == 0)
        fprintf(stderr, "  32 + 0 rows: max |diff| over both ranks %.3g (%.3g of tolerance)\n", all_d, all_rel);
    TU_CHECKF(rel <= 1.0, "rank %d, empty rank 1: max |diff| %g (%g x tolerance)", D.rank, d, rel);
    TU_CHECKF(b <= TOL_ATOL, "rank %d, empty rank 1: running stats differ by %g", D.rank, b);
    TU_CHECK(same_as_rank0(&syn));
    model_free(&ref);
    model_free(&syn);
}

/* BN in eval mode everywhere (frozen statistics, as a feature extractor): nothing to
 * synchronise, so the distributed run matches the reference with or without sync-BN,
 * and no BN all-reduce is made. */
static void test_eval_bn(void)
{
    ms_model ref, syn;
    reference(&ref, SPEC_PLAIN, 1);
    const int half[2] = { B / 2, B / 2 };
    distributed(&syn, SPEC_PLAIN, 1, 1, half);
    double rel, d = max_diff(&syn, &ref, &rel);
    if (D.rank == 0) fprintf(stderr, "  eval-mode BN, 2 x 16 rows: max |diff| %.3g (%.3g of tolerance)\n", d, rel);
    TU_CHECKF(rel <= 1.0, "eval-mode BN: max |diff| %g (%g x tolerance)", d, rel);
    model_free(&ref);
    model_free(&syn);
}

/* The collectives: one all-reduce per BN op per training forward and per backward
 * (input gradient needed); none in eval mode, none with sync off, none for a world of one. */
static void test_collective_count(void)
{
    ms_model m;
    build(&m, SPEC_PLAIN, 0);
    const int n_bn = count_bn(&m);
    CHECK(n_bn == 4);
    model_set_bn_reducer(&m, dist_sum_doubles_inplace, &D);
    CHECK(model_set_rows(&m, B / 2) == 0);
    const float *x = X + (size_t)D.rank * (B / 2) * S * S;

    long c0 = n_allreduce;
    model_forward(&m, x, 1, 0);
    TU_CHECKF(n_allreduce - c0 == n_bn, "training forward made %ld all-reduces for %d BN ops", n_allreduce - c0, n_bn);
    memset(model_output_grad(&m), 0, (size_t)(B / 2) * K * sizeof(float));
    c0 = n_allreduce;
    model_backward(&m, 0, NULL, NULL);
    /* the first BN's input is the first conv's output, which needs a gradient for the
     * conv weight: every BN exchanges */
    TU_CHECKF(n_allreduce - c0 == n_bn, "backward made %ld all-reduces for %d BN ops", n_allreduce - c0, n_bn);
    c0 = n_allreduce;
    model_forward(&m, x, 0, 0);
    model_backward(&m, 0, NULL, NULL);
    TU_CHECKF(n_allreduce == c0, "eval-mode forward/backward made %ld all-reduces", n_allreduce - c0);
    /* frozen statistics inside a training forward: no exchange either */
    for (int i = 0; i < m.n_ops; i++) if (m.ops[i].kind == OP_BN) m.ops[i].cfg.bn.eval = 1;
    c0 = n_allreduce;
    model_forward(&m, x, 1, 0);
    model_backward(&m, 0, NULL, NULL);
    model_forward_skip(&m);
    model_backward_skip(&m, NULL, NULL);
    TU_CHECKF(n_allreduce == c0, "cfg.bn.eval ops made %ld all-reduces", n_allreduce - c0);
    for (int i = 0; i < m.n_ops; i++) if (m.ops[i].kind == OP_BN) m.ops[i].cfg.bn.eval = 0;
    /* sync off (no reducer) never communicates */
    model_set_bn_reducer(&m, NULL, &D);
    TU_CHECK(m.bn_sum == NULL && m.bn_sum_ctx == NULL);
    c0 = n_allreduce;
    model_forward(&m, x, 1, 0);
    model_backward(&m, 0, NULL, NULL);
    TU_CHECKF(n_allreduce == c0, "sync off: %ld all-reduces", n_allreduce - c0);
    model_free(&m);
}

/* A reducer that only counts its calls and leaves the sums as they are: the
 * model reaches other ranks only through the reducer it is given. */
typedef struct { long calls; } count_ctx;
static void count_only(double *buf, int count, void *ctx)
{
    (void)buf;
    (void)count;
    ((count_ctx *)ctx)->calls++;
}

/* Without a reducer (or after removing it) the passes are bit-identical to a
 * model that never had one; a reducer over one rank (its own sums) gives the
 * same model up to float rounding, calling the reducer once per BN op in each
 * training pass and making no MPI call itself. */
static void test_world_of_one(void)
{
    ms_model a, b, c;
    build(&a, SPEC_PLAIN, 0);
    build(&b, SPEC_PLAIN, 0);
    build(&c, SPEC_PLAIN, 0);
    model_set_bn_reducer(&b, dist_sum_doubles_inplace, &D);
    model_set_bn_reducer(&b, NULL, NULL);
    count_ctx cc = { 0 };
    model_set_bn_reducer(&c, count_only, &cc);
    train(&a, 0, B, 1.0f, NULL);
    train(&b, 0, B, 1.0f, NULL);
    long c0 = n_allreduce;
    train(&c, 0, B, 1.0f, NULL);
    TU_CHECKF(n_allreduce == c0, "the model made %ld MPI all-reduces of its own", n_allreduce - c0);
    TU_CHECKF(cc.calls == 2L * count_bn(&c) * STEPS, "%ld reducer calls for %d BN ops x 2 passes x %d steps",
              cc.calls, count_bn(&c), STEPS);
    TU_CHECK(memcmp(a.slab.val, b.slab.val, a.slab.n * sizeof(float)) == 0);
    double rel, d = max_diff(&c, &a, &rel);
    if (D.rank == 0) fprintf(stderr, "  one-rank reducer vs local BN: max |diff| %.3g (%.3g of tolerance)\n", d, rel);
    TU_CHECKF(rel <= 1.0, "one-rank reducer: max |diff| %g (%g x tolerance)", d, rel);
    model_free(&a);
    model_free(&b);
    model_free(&c);
}

int main(int argc, char **argv)
{
    if (dist_init(&D, &argc, &argv)) return 1;
    if (D.size != 2) {
        if (D.rank == 0) fprintf(stderr, "test_syncbn_mpi must run under mpirun -np 2 (running on %d)\n", D.size);
        dist_finalize(&D);
        return 1;
    }
    make_batch();
    TU_RUN(test_even_split_plain);
    TU_RUN(test_even_split_residual);
    TU_RUN(test_uneven_split);
    TU_RUN(test_empty_rank);
    TU_RUN(test_eval_bn);
    TU_RUN(test_collective_count);
    TU_RUN(test_world_of_one);
    int failed = tu_cases_failed, any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    int rc = 0;
    if (D.rank == 0) rc = tu_summary();
    else rc = failed ? 1 : 0;
    dist_finalize(&D);
    return any ? 1 : rc;
}
