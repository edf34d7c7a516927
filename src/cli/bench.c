/* bench — `medssl bench`: trains one of three workloads for a fixed number
 * of steps on random data and reports images/s, the GEMM GFLOP/s ceiling
 * measured in the same run, each conv layer's GFLOP/s and % of it, and the
 * peak RSS of every rank. SGD momentum 0.9, weight decay 5e-4, the global
 * batch split over the ranks; every step is train_step() (src/train/step.c),
 * the step pretrain and finetune run. bench/torch_twins.py trains the same
 * networks in PyTorch (bench/compare.sh runs both sides).
 *
 *   encoder  the reference encoder (issue 2): input 1x64x64; widths
 *            32-64-128-256, 2x (conv3x3 no bias, BN, ReLU) per stage; 2x2
 *            max-pool between stages; global average pool; linear 256->4;
 *            softmax cross-entropy on random labels; global batch 64
 *   unet     what `pretrain --task autoencoder` trains by default: pretrain's
 *            default encoder (pretrain_cfg_defaults: 32-64-128-256) plus the
 *            autoencoder pretext's decoder (pretext_head_spec: bilinear 2x up,
 *            concat with the skip, 2x conv-BN-ReLU per level, 1x1 out), the
 *            spec composed as pretrain composes it; input 1x96x96; the
 *            pretext's own batches and loss (pretext_train_ops: MSE against
 *            the clean image); global batch 16
 *   demo     the demo's rotation pretraining (jobs/demo.sh: --encoder
 *            "encoder:widths=16-32-64,convs=2" --batch 128) at 28x28: the
 *            rotation pretext's batches (every image in its 4 rotations, 4
 *            model rows per image) and loss (4-way softmax cross-entropy on
 *            the rotation index); global batch 128 images (512 rows);
 *            images/s counts images, as pretrain does
 *
 * The pretext workloads run, per step, what the trainer runs per step
 * (src/train/trainer.c): the task's prepare() on a batch of images, then
 * train_step() with the task's loss. The images are random (a fixed batch per
 * rank) with a vertical ramp added, so the rotation of an image can be learned.
 */
#include "cli.h"
#include "medssl/common.h"
#include "medssl/conv.h"
#include "medssl/json.h"
#include "medssl/dist.h"
#include "medssl/loss.h"
#include "medssl/model.h"
#include "medssl/optim.h"
#include "medssl/parallel.h"
#include "medssl/pretext.h"
#include "medssl/rng.h"
#include "medssl/run.h"
#include "medssl/trainer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

typedef enum { WL_ENCODER, WL_UNET, WL_DEMO, WL__COUNT } bench_workload;
static const struct {
    const char *name;
    const char *spec;    /* encoder: the whole model; pretext workloads: the encoder part, NULL = pretrain's default */
    int pretext;         /* an ms_pretext_kind, or -1: random labels, cross-entropy */
    int size, batch;     /* input side, global batch of images */
} WORKLOADS[WL__COUNT] = {
    [WL_ENCODER] = { "encoder", "encoder:in=1,widths=32-64-128-256,block=plain,convs=2;head:type=linear,classes=4", -1,
                     64, 64 },
    [WL_UNET] = { "unet", NULL, PRETEXT_AUTOENCODER, 96, 16 },
    [WL_DEMO] = { "demo", "encoder:widths=16-32-64,convs=2", PRETEXT_ROTATION, 28, 128 }, /* jobs/demo.sh */
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

/* The encoder workload's step loss: cross-entropy of the random batch's
 * random labels. */
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

/* A pretext workload: the task as the trainer sees it (pretext_train_ops over
 * an ms_pretext_train) and this rank's batch of random images. */
typedef struct {
    ms_pretext pt;
    ms_pretext_train task;
    const ms_task_ops *ops;
    ms_batch b;
} bench_pretext;

/* The model spec of a pretext workload, composed as pretrain composes it
 * (src/train/pretrain_run.c, setup): the encoder part (--spec, else the
 * workload's, else pretrain's default encoder) with 1 input channel, then the
 * pretext's head or decoder. Also sets up the pretext p for size x size images. */
static int pretext_spec(const bench_opts *o, ms_pretext *p, char *spec, size_t cap)
{
    ms_pretrain_cfg defaults;
    pretrain_cfg_defaults(&defaults);
    const char *text = o->spec ? o->spec : WORKLOADS[o->wl].spec ? WORKLOADS[o->wl].spec : defaults.encoder;
    ms_model_spec enc;
    char enc_text[512];
    snprintf(enc_text, sizeof enc_text, "%s", text);
    int rc = model_spec_parse(&enc, enc_text);
    if (rc) return MS_FAIL(rc, "--spec: %s", ms_last_error());
    if (enc.head != HEAD_NONE || enc.has_decoder)
        return MS_FAIL(MS_ERR_INPUT, "--spec: give only the encoder part for --workload %s; the pretext task adds "
                       "its head", WORKLOADS[o->wl].name);
    enc.in_channels = 1;
    pretext_defaults(p, (ms_pretext_kind)WORKLOADS[o->wl].pretext, 1, 1, o->size, o->size, 1 << (enc.n_stages - 1));
    if ((rc = pretext_init(p))) return rc;
    char head[256];
    model_spec_format(&enc, spec, cap);
    pretext_head_spec(p, head, sizeof head);
    const size_t len = strlen(spec);
    snprintf(spec + len, cap - len, ";%s", head);
    return MS_OK;
}

static int run(const bench_opts *o, const ms_dist *d)
{
    if (o->batch % d->size != 0) {
        if (d->rank == 0)
            fprintf(stderr, "medssl bench: --batch %d is not divisible by the %d ranks\n", o->batch, d->size);
        return 2;
    }
    const int threads = cli_set_threads(d, o->threads);

    const int is_pretext = WORKLOADS[o->wl].pretext >= 0;
    bench_pretext *bp = is_pretext ? ms_calloc(1, sizeof *bp) : NULL;
    char spec_text[1024];
    if (is_pretext) {
        int rc = pretext_spec(o, &bp->pt, spec_text, sizeof spec_text);
        if (rc) {
            pretext_free(&bp->pt);
            free(bp);
            return cli_report("bench", rc);
        }
    } else
        snprintf(spec_text, sizeof spec_text, "%s", o->spec);
    ms_model_spec spec;
    if (model_spec_parse(&spec, spec_text)) {
        if (bp) pretext_free(&bp->pt);
        free(bp);
        return cli_report("bench", MS_ERR_INPUT);
    }
    if (!is_pretext && spec.head == HEAD_NONE) {
        if (d->rank == 0) fprintf(stderr, "medssl bench: --spec needs a head (e.g. ;head:type=linear,classes=4)\n");
        return 2;
    }
    /* n images per rank; N model rows per rank: images x their rotations (demo) */
    const int n = o->batch / d->size, K = spec.classes, C = spec.in_channels;
    ms_model m;
    model_build(&m, &spec);
    model_init_weights(&m, 1);
    dist_broadcast_params(d, &m.slab);
    int rows_per_image = 1, in_h = o->size, in_w = o->size;
    if (is_pretext) {
        pretext_train_init(&bp->task, &bp->pt, &m, n, NULL, 0, 0, d->rank);
        rows_per_image = bp->task.R;
        in_h = bp->task.in_h;
        in_w = bp->task.in_w;
        bp->ops = pretext_train_ops(bp->pt.kind);
    }
    const int N = n * rows_per_image;
    if (model_plan(&m, N, in_h, in_w)) {
        int rc = cli_report("bench", MS_ERR_INPUT);
        model_free(&m);
        if (bp) {
            pretext_train_free(&bp->task);
            pretext_free(&bp->pt);
            free(bp);
        }
        return rc;
    }

    /* Random data, different per rank, fixed across runs: the model's input
     * (encoder), or the images the pretext turns into inputs and targets. */
    ms_rng r = rng_stream(rng_key(7, 0, (uint64_t)d->rank, RNG_DATA));
    float *x = NULL;
    int32_t *y = NULL;
    if (is_pretext) {
        const int H = o->size, W = o->size;
        bp->b.n = n;
        bp->b.images = ms_aligned((size_t)n * C * H * W * sizeof(float));
        bp->b.index = ms_malloc((size_t)n * sizeof(int64_t));
        for (int i = 0; i < n; i++) {
            bp->b.index[i] = (int64_t)d->rank * n + i;
            for (int c = 0; c < C; c++)
                for (int yy = 0; yy < H; yy++)
                    for (int xx = 0; xx < W; xx++) /* noise on a top-to-bottom ramp: rotations differ */
                        bp->b.images[(((size_t)i * C + c) * H + yy) * W + xx] =
                            (float)yy / (float)H + 0.25f * rng_normal(&r);
        }
    } else {
        size_t in_floats = (size_t)N * C * o->size * o->size;
        x = ms_aligned(in_floats * sizeof(float));
        y = ms_malloc((size_t)N * sizeof(int32_t));
        for (size_t i = 0; i < in_floats; i++) x[i] = rng_normal(&r);
        for (int i = 0; i < N; i++) y[i] = (int32_t)rng_below(&r, (uint32_t)K);
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
        const uint64_t key = rng_key(1, 0, (uint64_t)step, RNG_DROPOUT);
        double loss;
        if (is_pretext) { /* the trainer's step: the task prepares the batch, then train_step */
            /* the trainer's step; every rank has the same share, so the loss weight is 1 */
            ms_task_step ts = { bp->ops, &bp->task, bp->ops->prepare(&bp->task, &bp->b, 0, 1), 1.0f, 0 };
            train_step(&m, &sync, &opt, 0.01f, key, task_step_loss, &ts, NULL);
            loss = ts.loss;
        } else {
            bench_batch bb = { &m, x, y, N, K, 0 };
            train_step(&m, &sync, &opt, 0.01f, key, bench_loss, &bb, NULL);
            loss = bb.loss;
        }
        if (step == 0) loss_first = loss;
        loss_last = loss;
        if (!o->json && d->rank == 0 && step >= o->warmup)
            fprintf(stderr, "step %d/%d  loss %.4f\n", step - o->warmup + 1, o->steps, loss);
    }
    dist_barrier(d);
    double elapsed = ms_now() - t_start;
    double images_per_s = (double)o->batch * o->steps / elapsed;
    double gflop_per_image = 3.0 * model_forward_flops(&m) * rows_per_image * 1e-9;
    char gemm[128];
    parallel_gemm_describe(gemm, sizeof gemm);
    /* peak RSS of every rank (ru_maxrss: KiB on Linux), gathered by a sum of one slot each */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double *rss = ms_calloc((size_t)d->size, sizeof(double));
    rss[d->rank] = (double)ru.ru_maxrss / 1024.0;
    dist_sum(d, rss, d->size);
    double peak_rss_mb = 0;
    for (int k = 0; k < d->size; k++) peak_rss_mb = rss[k] > peak_rss_mb ? rss[k] : peak_rss_mb;

    ms_json j;
    json_begin(&j, 0);
    if (d->rank == 0) {
        if (o->json) {
            json_object(&j, NULL);
            json_str(&j, "workload", WORKLOADS[o->wl].name);
            json_str(&j, "spec", spec_text);
            json_str(&j, "gemm", gemm);
            json_str(&j, "conv", conv_algo_name());
            json_int(&j, "params", (long long)slab_count_trainable(&m.slab));
            json_fixed(&j, "peak_rss_mb", peak_rss_mb, 1);
            json_array_inline(&j, "peak_rss_mb_per_rank");
            for (int k = 0; k < d->size; k++) json_fixed(&j, NULL, rss[k], 1);
            json_end(&j);
            json_fixed(&j, "images_per_s", images_per_s, 2);
            json_int(&j, "ranks", d->size);
            json_int(&j, "threads", threads);
            json_fixed(&j, "sgemm_gflops", sgemm_avg, 2);
            json_int(&j, "batch", o->batch);
            json_int(&j, "size", o->size);
            json_int(&j, "rows_per_image", rows_per_image);
            json_int(&j, "steps", o->steps);
            json_fixed(&j, "gflop_per_image", gflop_per_image, 4);
            json_fixed(&j, "achieved_gflops", images_per_s * gflop_per_image, 2);
            json_array(&j, "layers");
        } else {
            printf("medssl bench: %s, %d rank(s) x %d thread(s), global batch %d, %dx%d input, %d steps\n",
                   WORKLOADS[o->wl].name, d->size, threads, o->batch, o->size, o->size, o->steps);
            printf("model %s (%lld parameters)\n", spec_text, (long long)slab_count_trainable(&m.slab));
            printf("3x3 convolutions: %s (MEDSSL_CONV)\n", conv_algo_name());
            printf("sgemm ceiling (n=%d, per rank, %s): %.1f GFLOP/s\npeak RSS per rank (MiB):", o->sgemm_n, gemm,
                   sgemm_avg);
            for (int k = 0; k < d->size; k++) printf(" %.1f", rss[k]);
            printf("\n\n");
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
    free(rss);
    free(x);
    free(y);
    if (bp) {
        free(bp->b.images);
        free(bp->b.index);
        pretext_train_free(&bp->task);
        pretext_free(&bp->pt);
        free(bp);
    }
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
        { "spec", ARG_STRING, &o.spec, 0, 0, "SPEC", "encoder: the whole model spec (default: the reference "
                                                        "encoder); unet, demo: the encoder part, as pretrain's "
                                                        "--encoder (default: pretrain's, the demo's)" },
        { "sgemm-n", ARG_INT, &o.sgemm_n, 64, 8192, NULL, "size of the sgemm ceiling GEMM (default 1024)" },
    };
    int rc = cli_parse("bench", "[--workload encoder|unet|demo] [--json] [--steps N] [--batch B] [--size S] "
                                "[--threads T]",
                       "Trains a workload on random data with SGD (momentum 0.9, wd 5e-4) and the training\n"
                       "step pretrain runs; reports images/s, the GEMM ceiling measured in the same run, each\n"
                       "layer's GFLOP/s and % of it, and every rank's peak RSS. --workload W is one of:\n"
                       "  encoder  (default) the reference encoder: 1x64x64, widths 32-64-128-256, 2 conv-BN-ReLU\n"
                       "           per stage, linear 256->4, cross-entropy on random labels, batch 64\n"
                       "  unet     what `pretrain --task autoencoder` trains by default: pretrain's encoder\n"
                       "           (32-64-128-256) + the U-Net decoder, 1x96x96, the autoencoder's MSE, batch 16\n"
                       "  demo     the demo's rotation pretraining (jobs/demo.sh): encoder 16-32-64, 1x28x28,\n"
                       "           each image in its 4 rotations, the rotation task's 4-way cross-entropy, batch\n"
                       "           128 images (images/s counts images, not the 4x as many model rows)\n"
                       "Run under mpirun for data parallelism (the global batch split over the ranks, gradients\n"
                       "all-reduced). bench/compare.sh compares all three with their PyTorch twins.",
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
