/* bench — `medssl bench`: trains one of three workloads for a fixed number
 * of steps on random data and reports images/s, the GEMM GFLOP/s ceiling
 * measured in the same run, each conv layer's GFLOP/s and % of it, and the
 * peak RSS. SGD momentum 0.9, weight decay 5e-4, the global batch split over
 * the ranks. bench/torch_twins.py trains the same networks in PyTorch.
 *
 *   encoder  the reference encoder (issue 2): input 1x64x64; widths
 *            32-64-128-256, 2x (conv3x3 no bias, BN, ReLU) per stage; 2x2
 *            max-pool between stages; global average pool; linear 256->4;
 *            softmax cross-entropy; global batch 64
 *   unet     the U-Net `pretrain --task autoencoder` and `finetune --task
 *            segment` build by default: that encoder plus a decoder (bilinear
 *            2x up, concat with the skip, 2x conv-BN-ReLU per level, 1x1 out);
 *            input 1x96x96, MSE against the input; global batch 16
 *   demo     the demo's rotation pretraining: encoder 16-32-64 at 28x28, every
 *            image in its 4 rotations (4 model rows per image), 4-way softmax
 *            cross-entropy; global batch 128 images (512 rows); images/s
 *            counts images, as pretrain does
 */
#include "cli.h"
#include "medssl/common.h"
#include "medssl/json.h"
#include "medssl/dist.h"
#include "medssl/loss.h"
#include "medssl/model.h"
#include "medssl/optim.h"
#include "medssl/parallel.h"
#include "medssl/pretext.h"
#include "medssl/rng.h"
#include "medssl/trainer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

typedef enum { WL_ENCODER, WL_UNET, WL_DEMO, WL__COUNT } bench_workload;
static const struct {
    const char *name, *spec;
    int size, batch, rows_per_image; /* model rows per image: 4 rotations in demo */
} WORKLOADS[WL__COUNT] = {
    [WL_ENCODER] = { "encoder", "encoder:in=1,widths=32-64-128-256,block=plain,convs=2;head:type=linear,classes=4", 64,
                     64, 1 },
    [WL_UNET] = { "unet", "encoder:in=1,widths=32-64-128-256,block=plain,convs=2;decoder:out=1,up=bilinear", 96, 16,
                  1 },
    [WL_DEMO] = { "demo", "encoder:in=1,widths=16-32-64,block=plain,convs=2;head:type=linear,classes=4", 28, 128, 4 },
};

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
    bench_workload wl;
    const char *workload;
    const char *spec;
} bench_opts;

/* The bench step's loss: cross-entropy of the random batch's random labels,
 * or (a decoder) the MSE of the reconstruction against the input. */
typedef struct {
    ms_model *m;
    const float *x;
    const int32_t *y;
    int N, K;
    size_t out_floats; /* decoder: the output's floats (N, C, H, W); 0: a classifier */
    double loss;
} bench_batch;

static double bench_loss(void *ctx, uint64_t key)
{
    bench_batch *b = ctx;
    float *out = model_forward(b->m, b->x, 1, key);
    b->loss = b->out_floats ? mse_loss(model_output_grad(b->m), out, b->x, b->out_floats, 1.0f)
                            : softmax_ce_loss(model_output_grad(b->m), out, b->y, NULL, -1, b->N, b->K, 1, 1.0f);
    return b->loss;
}

/* demo's batch: images (n, C, S, S), the first n of x, become their 4
 * rotations x (4n, C, S, S) with targets y (4n) = 0..3 per image, through
 * the rotation pretext (pretext_make); the exit code of a refusal. */
static int rotation_rows(float *x, int32_t *y, int n, int C, int S, int stages)
{
    ms_pretext pt;
    pretext_defaults(&pt, PRETEXT_ROTATION, 7, C, S, S, 1 << (stages - 1));
    if (pretext_init(&pt)) {
        pretext_free(&pt);
        return cli_report("bench", MS_ERR_INPUT);
    }
    const size_t img = (size_t)C * S * S;
    float *images = ms_aligned((size_t)n * img * sizeof(float));
    int64_t *index = ms_malloc((size_t)n * sizeof(int64_t));
    memcpy(images, x, (size_t)n * img * sizeof(float));
    for (int i = 0; i < n; i++) index[i] = i;
    pretext_make(&pt, images, index, n, 0, x, y, NULL);
    free(images);
    free(index);
    pretext_free(&pt);
    return 0;
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
    if (spec.head == HEAD_NONE && !spec.has_decoder) {
        if (d->rank == 0)
            fprintf(stderr, "medssl bench: --spec needs a head (e.g. ;head:type=linear,classes=4) or a decoder\n");
        return 2;
    }
    if (o->wl == WL_DEMO && (spec.head == HEAD_NONE || spec.classes != 4)) {
        if (d->rank == 0) fprintf(stderr, "medssl bench: --spec needs head:...,classes=4 for --workload demo\n");
        return 2;
    }
    /* N model rows per rank: images x their rotations (demo) */
    int rc, N = o->batch / d->size * WORKLOADS[o->wl].rows_per_image, K = spec.classes, C = spec.in_channels;
    ms_model m;
    model_build(&m, &spec);
    model_init_weights(&m, 1);
    dist_broadcast_params(d, &m.slab);
    if (model_plan(&m, N, o->size, o->size)) {
        rc = cli_report("bench", MS_ERR_INPUT);
        model_free(&m);
        return rc;
    }

    /* Random data, different per rank, fixed across runs. demo: the images'
     * rotations by the rotation pretext's own code (rows k = 0..3 of each
     * image, target k), made once as bench/torch_twins.py makes them. */
    size_t in_floats = (size_t)N * C * o->size * o->size;
    float *x = ms_aligned(in_floats * sizeof(float));
    int32_t *y = ms_malloc((size_t)N * sizeof(int32_t));
    ms_rng r = rng_stream(rng_key(7, 0, (uint64_t)d->rank, RNG_DATA));
    for (size_t i = 0; i < in_floats; i++) x[i] = rng_normal(&r);
    for (int i = 0; i < N && K > 0; i++) y[i] = (int32_t)rng_below(&r, (uint32_t)K);
    if (o->wl == WL_DEMO && (rc = rotation_rows(x, y, N / 4, C, o->size, spec.n_stages))) {
        free(x);
        free(y);
        model_free(&m);
        return rc;
    }

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
        bench_batch bb = { &m, x, y, N, K, spec.has_decoder ? in_floats : 0, 0 };
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
    double gflop_per_image = 3.0 * model_forward_flops(&m) * WORKLOADS[o->wl].rows_per_image * 1e-9;
    char gemm[128];
    parallel_gemm_describe(gemm, sizeof gemm);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const int peak_rss_mb = dist_max_int(d, (int)(ru.ru_maxrss / 1024)); /* ru_maxrss: KiB on Linux */

    ms_json j;
    json_begin(&j, 0);
    if (d->rank == 0) {
        if (o->json) {
            json_object(&j, NULL);
            json_str(&j, "workload", WORKLOADS[o->wl].name);
            json_str(&j, "spec", o->spec);
            json_str(&j, "gemm", gemm);
            json_int(&j, "params", (long long)slab_count_trainable(&m.slab));
            json_int(&j, "peak_rss_mb", peak_rss_mb);
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
            printf("medssl bench: %s, %d rank(s) x %d thread(s), global batch %d, %dx%d input, %d steps\n",
                   WORKLOADS[o->wl].name, d->size, threads, o->batch, o->size, o->size, o->steps);
            printf("sgemm ceiling (n=%d, per rank, %s): %.1f GFLOP/s; peak RSS %d MiB per rank (the largest)\n\n",
                   o->sgemm_n, gemm, sgemm_avg, peak_rss_mb);
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
            gflops = passes * fwd_flops * N / (fwd_s + bwd_s) * 1e-9; /* N: this rank's model rows */
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
    bench_opts o = { .steps = 20, .warmup = 3, .threads = 0, .sgemm_n = 1024, .workload = "encoder" };
    const ms_arg args[] = {
        { "workload", ARG_STRING, &o.workload, 0, 0, "W", "encoder (default), unet or demo: see above" },
        { "json", ARG_BOOL, &o.json, 0, 0, NULL, "print one JSON object on stdout" },
        { "steps", ARG_INT, &o.steps, 1, 100000, NULL, "timed training steps (default 20)" },
        { "warmup", ARG_INT, &o.warmup, 0, 1000, NULL, "untimed steps first (default 3)" },
        { "batch", ARG_INT, &o.batch, 1, 65536, "B", "global batch of images, split over the ranks (default: the "
                                                      "workload's: 64, 16, 128)" },
        { "size", ARG_INT, &o.size, 8, 4096, "S", "input is 1xSxS (default: the workload's: 64, 96, 28)" },
        { "threads", ARG_INT, &o.threads, 1, 256, NULL,
          "threads per rank (default: cores / ranks)" },
        { "spec", ARG_STRING, &o.spec, 0, 0, "SPEC", "model spec (default: the workload's)" },
        { "sgemm-n", ARG_INT, &o.sgemm_n, 64, 8192, NULL, "size of the sgemm ceiling GEMM (default 1024)" },
    };
    int rc = cli_parse("bench", "[--workload encoder|unet|demo] [--json] [--steps N] [--batch B] [--threads T]",
                       "Trains a workload on random data (SGD momentum 0.9, wd 5e-4); reports images/s, the\n"
                       "GEMM ceiling measured in the same run, each layer's GFLOP/s and % of it, peak RSS.\n"
                       "  encoder  the reference encoder: 1x64x64, widths 32-64-128-256, 2 conv-BN-ReLU per\n"
                       "           stage, linear 256->4, cross-entropy, batch 64\n"
                       "  unet     the autoencoder/segmenter U-Net: that encoder + a bilinear decoder with\n"
                       "           skips, 1x96x96, MSE against the input, batch 16\n"
                       "  demo     the demo's rotation pretraining: encoder 16-32-64, 1x28x28, each image\n"
                       "           in 4 rotations, 4-way cross-entropy, batch 128 images (images/s counts images)\n"
                       "Run under mpirun for data parallelism (gradients all-reduced).",
                       args, (int)(sizeof args / sizeof *args), argc, argv, NULL, 0, NULL);
    if (rc) return rc < 0 ? 0 : rc;
    int wl = -1;
    for (int k = 0; k < WL__COUNT; k++)
        if (strcmp(o.workload, WORKLOADS[k].name) == 0) wl = k;
    if (wl < 0) {
        fprintf(stderr, "medssl bench: --workload %s: expected encoder, unet or demo\n", o.workload);
        return 2;
    }
    o.wl = (bench_workload)wl;
    if (!o.spec) o.spec = WORKLOADS[wl].spec;
    if (!o.size) o.size = WORKLOADS[wl].size;
    if (!o.batch) o.batch = WORKLOADS[wl].batch;
    ms_dist d;
    if (dist_init(&d, &argc, &argv)) return cli_report("bench", MS_ERR_RUNTIME);
    rc = run(&o, &d);
    dist_finalize(&d);
    return rc;
}
