/* bench — `medssl bench`: trains the reference encoder for a fixed number of
 * steps on random data and reports images/s, the cblas_sgemm GFLOP/s ceiling
 * measured in the same run, and each conv layer's GFLOP/s and % of it.
 *
 * Reference encoder (issue 2): input 1x64x64; widths 32-64-128-256, 2x
 * (conv3x3 no bias, BN, ReLU) per stage; 2x2 max-pool between stages; global
 * average pool; linear 256->4; softmax cross-entropy; SGD momentum 0.9,
 * weight decay 5e-4; global batch 64 split over the ranks.
 */
#include "cli.h"
#include "medssl/common.h"
#include "medssl/json.h"
#include "medssl/dist.h"
#include "medssl/layers.h"
#include "medssl/loss.h"
#include "medssl/model.h"
#include "medssl/optim.h"
#include "medssl/parallel.h"
#include "medssl/rng.h"
#include "medssl/trainer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REFERENCE_SPEC "encoder:in=1,widths=32-64-128-256,block=plain,convs=2;head:type=linear,classes=4"

/* GFLOP/s of a square single-precision GEMM on this rank's threads (the same
 * parallel_sgemm the layers use), best of repeated runs over at least `seconds`. */
static double measure_sgemm(int n, double seconds)
{
    float *a = ms_aligned((size_t)n * n * sizeof(float));
    float *b = ms_aligned((size_t)n * n * sizeof(float));
    float *c = ms_aligned((size_t)n * n * sizeof(float));
    for (size_t i = 0; i < (size_t)n * n; i++) {
        a[i] = (float)(i % 7) * 0.1f;
        b[i] = (float)(i % 5) * 0.1f;
    }
    parallel_sgemm(0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    double best = 0, start = ms_now();
    do {
        double t0 = ms_now();
        parallel_sgemm(0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double g = 2.0 * n * n * (double)n / (ms_now() - t0) * 1e-9;
        if (g > best) best = g;
    } while (ms_now() - start < seconds);
    free(a);
    free(b);
    free(c);
    return best;
}

typedef struct {
    int json, steps, warmup, batch, size, threads, sgemm_n;
    const char *spec;
} bench_opts;

/* The bench step's loss: cross-entropy of the random batch's random labels. */
typedef struct {
    ms_model *m;
    const float *x;
    const int32_t *y;
    int N, K;
    double loss;
} bench_batch;

static double bench_loss(void *ctx, uint64_t key)
{
    bench_batch *b = ctx;
    float *logits = model_forward(b->m, b->x, 1, key);
    b->loss = softmax_ce_loss(model_output_grad(b->m), logits, b->y, NULL, -1, b->N, b->K, 1, 1.0f);
    return b->loss;
}

static int run(const bench_opts *o, const ms_dist *d)
{
    if (o->batch % d->size != 0) {
        if (d->rank == 0)
            fprintf(stderr, "medssl bench: --batch %d is not divisible by the %d ranks\n", o->batch, d->size);
        return 2;
    }
    int threads = o->threads;
    if (threads <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cores > d->size ? (int)(cores / d->size) : 1;
    }
    parallel_set_threads(threads);

    ms_model_spec spec;
    if (model_spec_parse(&spec, o->spec)) return cli_report("bench", MS_ERR_INPUT);
    if (spec.head == HEAD_NONE) {
        if (d->rank == 0) fprintf(stderr, "medssl bench: --spec needs a head (e.g. ;head:type=linear,classes=4)\n");
        return 2;
    }
    int N = o->batch / d->size, K = spec.classes, C = spec.in_channels;
    ms_model m;
    model_build(&m, &spec);
    model_init_weights(&m, 1);
    dist_broadcast_params(d, &m.slab);
    if (model_plan(&m, N, o->size, o->size)) {
        int rc = cli_report("bench", MS_ERR_INPUT);
        model_free(&m);
        return rc;
    }

    /* Random data, different per rank, fixed across runs. */
    size_t in_floats = (size_t)N * C * o->size * o->size;
    float *x = ms_aligned(in_floats * sizeof(float));
    int32_t *y = ms_malloc((size_t)N * sizeof(int32_t));
    ms_rng r = rng_stream(rng_key(7, 0, (uint64_t)d->rank, RNG_DATA));
    for (size_t i = 0; i < in_floats; i++) x[i] = rng_normal(&r);
    for (int i = 0; i < N; i++) y[i] = (int32_t)rng_below(&r, (uint32_t)K);

    double sgemm = measure_sgemm(o->sgemm_n, 0.5);
    double sgemm_avg = dist_sum_double(d, sgemm) / d->size;

    ms_optim opt = optim_sgd(0.9f, 0, 5e-4f);
    ms_grad_sync sync;
    grad_sync_init(&sync, d, &m.slab, (size_t)1 << 20);
    double *prof = ms_calloc(2 * (size_t)m.n_ops, sizeof(double));
    double loss_first = 0, loss_last = 0, t_start = 0;
    for (int step = 0; step < o->warmup + o->steps; step++) {
        if (step == o->warmup) {
            dist_barrier(d);
            m.prof = prof;
            t_start = ms_now();
        }
        bench_batch bb = { &m, x, y, N, K, 0 };
        train_step(&m, &sync, &opt, 0.01f, rng_key(1, 0, (uint64_t)step, RNG_DROPOUT), bench_loss, &bb, NULL);
        const double loss = bb.loss;
        if (step == 0) loss_first = loss;
        loss_last = loss;
        if (!o->json && d->rank == 0 && step >= o->warmup)
            fprintf(stderr, "step %d/%d  loss %.4f\n", step - o->warmup + 1, o->steps, loss);
    }
    dist_barrier(d);
    double elapsed = ms_now() - t_start;
    double images_per_s = (double)o->batch * o->steps / elapsed;
    double gflop_per_image = 3.0 * model_forward_flops(&m) * 1e-9;

    ms_json j;
    json_begin(&j, 0);
    if (d->rank == 0) {
        if (o->json) {
            json_object(&j, NULL);
            json_fixed(&j, "images_per_s", images_per_s, 2);
            json_int(&j, "ranks", d->size);
            json_int(&j, "threads", threads);
            json_fixed(&j, "sgemm_gflops", sgemm_avg, 2);
            json_int(&j, "batch", o->batch);
            json_int(&j, "size", o->size);
            json_int(&j, "steps", o->steps);
            json_fixed(&j, "gflop_per_image", gflop_per_image, 4);
            json_fixed(&j, "achieved_gflops", images_per_s * gflop_per_image, 2);
            json_array(&j, "layers");
        } else {
            printf("medssl bench: %d rank(s) x %d thread(s), global batch %d, %dx%d input, %d steps\n",
                   d->size, threads, o->batch, o->size, o->size, o->steps);
            printf("sgemm ceiling (n=%d, per rank): %.1f GFLOP/s\n\n", o->sgemm_n, sgemm_avg);
            printf("%-28s %10s %10s %10s %8s\n", "layer", "fwd ms", "bwd ms", "GFLOP/s", "% sgemm");
        }
    }
    double total_ms = 0;
    for (int i = 0; i < m.n_ops; i++) {
        const ms_op *op = &m.ops[i];
        double fwd_s = dist_sum_double(d, prof[i]) / d->size / o->steps;
        double bwd_s = dist_sum_double(d, prof[m.n_ops + i]) / d->size / o->steps;
        total_ms += (fwd_s + bwd_s) * 1e3;
        if (d->rank != 0) continue;
        double gflops = 0;
        int is_gemm = op->kind == OP_CONV || op->kind == OP_LINEAR;
        if (is_gemm) {
            const ms_value *in = &m.values[op->in0], *out = &m.values[op->out];
            double fwd_flops = op->kind == OP_CONV
                ? 2.0 * op->cfg.conv.K * in->C * op->cfg.conv.R * op->cfg.conv.R * (double)out->H * out->W
                : 2.0 * in->C * op->cfg.linear.O;
            double passes = in->needs_grad ? 3.0 : 2.0; /* forward, dW, and dX unless not needed */
            gflops = passes * fwd_flops * N / (fwd_s + bwd_s) * 1e-9;
        }
        if (o->json) {
            if (!is_gemm) continue;
            json_object(&j, NULL);
            json_str(&j, "name", op->name);
            json_str(&j, "kind", model_op_kind_name(op->kind));
            json_fixed(&j, "gflops", gflops, 2);
            json_fixed(&j, "pct_of_sgemm", 100.0 * gflops / sgemm_avg, 1);
            json_fixed(&j, "fwd_ms", fwd_s * 1e3, 3);
            json_fixed(&j, "bwd_ms", bwd_s * 1e3, 3);
            json_end(&j);
        } else if (is_gemm) {
            printf("%-28s %10.2f %10.2f %10.1f %7.1f%%\n", op->name, fwd_s * 1e3, bwd_s * 1e3, gflops,
                   100.0 * gflops / sgemm_avg);
        } else {
            printf("%-28s %10.2f %10.2f\n", op->name, fwd_s * 1e3, bwd_s * 1e3);
        }
    }
    if (d->rank == 0) {
        if (o->json) {
            json_end(&j);
            json_fixed(&j, "step_ms", elapsed / o->steps * 1e3, 2);
            json_fixed(&j, "layers_ms", total_ms, 2);
            json_fixed(&j, "loss_first", loss_first, 4);
            json_fixed(&j, "loss_last", loss_last, 4);
            json_end(&j);
            printf("%s\n", json_text(&j));
        } else
            printf("\nstep %.1f ms (layers %.1f ms, rest: loss, all-reduce, optimizer)\n"
                   "throughput: %.1f images/s  (%.2f GFLOP per image per step, %.1f GFLOP/s achieved)\n",
                   elapsed / o->steps * 1e3, total_ms, images_per_s, gflop_per_image,
                   images_per_s * gflop_per_image);
    }
    json_free(&j);
    free(prof);
    free(x);
    free(y);
    model_free(&m);
    return 0;
}

int cmd_bench(int argc, char **argv)
{
    bench_opts o = { .steps = 20, .warmup = 3, .batch = 64, .size = 64, .threads = 0, .sgemm_n = 1024,
                     .spec = REFERENCE_SPEC };
    const ms_arg args[] = {
        { "json", ARG_BOOL, &o.json, 0, 0, NULL, "print one JSON object on stdout" },
        { "steps", ARG_INT, &o.steps, 1, 100000, NULL, "timed training steps (default 20)" },
        { "warmup", ARG_INT, &o.warmup, 0, 1000, NULL, "untimed steps first (default 3)" },
        { "batch", ARG_INT, &o.batch, 1, 65536, "B", "global batch, split over the ranks (default 64)" },
        { "size", ARG_INT, &o.size, 8, 4096, "S", "input is 1xSxS (default 64)" },
        { "threads", ARG_INT, &o.threads, 1, 256, NULL,
          "threads per rank (default: cores / ranks)" },
        { "spec", ARG_STRING, &o.spec, 0, 0, "SPEC", "model spec (default: the reference encoder)" },
        { "sgemm-n", ARG_INT, &o.sgemm_n, 64, 8192, NULL, "size of the sgemm ceiling GEMM (default 1024)" },
    };
    int rc = cli_parse("bench", "[--json] [--steps N] [--batch B] [--size S] [--threads T]",
                       "Trains the reference encoder (1x64x64, widths 32-64-128-256, 2 conv-BN-ReLU per stage,\n"
                       "linear 256->4, SGD momentum 0.9, wd 5e-4) on random data; reports images/s, the\n"
                       "cblas_sgemm ceiling measured in the same run and each layer's GFLOP/s and % of it.\n"
                       "Run under mpirun for data parallelism (gradients all-reduced).",
                       args, (int)(sizeof args / sizeof *args), argc, argv, NULL, 0, NULL);
    if (rc) return rc < 0 ? 0 : rc;
    ms_dist d;
    if (dist_init(&d, &argc, &argv)) return cli_report("bench", MS_ERR_RUNTIME);
    rc = run(&o, &d);
    dist_finalize(&d);
    return rc;
}
