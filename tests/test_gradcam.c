/* test_gradcam — Grad-CAM (finetune/gradcam.c) against what it must equal:
 *   - at the last stage of a global-average-pool + linear head, dy_c/dA_k is
 *     w_ck / (h w) at every position, so the map is CAM (Zhou et al. 2016):
 *     ReLU(sum_k w_ck A_k), resized and normalised — compared value by value;
 *   - dy_c/dA by central finite differences through the ops after the layer
 *     (model_forward_from), at the last stage and at a stage-1 BN output;
 *   - Seg-Grad-CAM: y_c over a region is the sum of the per-pixel logits, so
 *     the gradient over a region is the sum of the single-pixel ones;
 *   - layer names: stageK, op names, refusals.
 * Models have random weights (model_init_weights) and random BN statistics. */
#include "medssl/common.h"
#include "medssl/gradcam.h"
#include "medssl/model.h"
#include "medssl/resample.h"
#include "medssl/rng.h"
#include "medssl/slab.h"
#include "medssl/task.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A predictor around a freshly built model (no checkpoint). */
static void make(ms_predictor *p, const char *spec_text, const char *task, int H, int W, uint64_t seed)
{
    memset(p, 0, sizeof *p);
    ms_model_spec spec;
    CHECK(model_spec_parse(&spec, spec_text) == MS_OK);
    model_build(&p->model, &spec);
    model_init_weights(&p->model, seed);
    /* BN with non-trivial running statistics, as after training */
    for (int i = 0; i < p->model.slab.n_tensors; i++) {
        ms_tensor *t = &p->model.slab.t[i];
        float *v = p->model.slab.val + t->offset;
        if (strstr(t->name, "running_var")) tu_fill_uniform(v, t->size, seed + (uint64_t)i, 0.5f, 2.0f);
        else if (strstr(t->name, "running_mean")) tu_fill_uniform(v, t->size, seed + (uint64_t)i, -0.3f, 0.3f);
        else if (strstr(t->name, ".bias") || strstr(t->name, "beta")) tu_fill_uniform(v, t->size, seed + (uint64_t)i, -0.2f, 0.2f);
    }
    p->task = task_named(task);
    CHECK(p->task != NULL);
    p->K = spec.has_decoder ? spec.dec_out : spec.classes;
    p->C = spec.in_channels;
    p->H = H;
    p->W = W;
    p->batch = 1;
    CHECK(model_plan(&p->model, 1, H, W) == MS_OK);
    CHECK(gradcam_prepare(p) == MS_OK);
}

static void cam_equals_gradcam(void)
{
    ms_predictor p;
    const int H = 16, W = 16;
    make(&p, "encoder:in=1,widths=4-6,convs=1;head:type=linear,classes=3", "classify", H, W, 7);
    float img[16 * 16], map[16 * 16];
    tu_fill_uniform(img, sizeof img / sizeof *img, 11, 0, 1);
    int layer = -1;
    TU_CHECK(gradcam_layer(&p, NULL, &layer) == MS_OK && layer == p.model.skips[1]);
    const ms_value *v = &p.model.values[layer];
    const int Kl = v->C, hw = v->H * v->W;
    float *A = malloc((size_t)Kl * hw * sizeof *A), *dA = malloc((size_t)Kl * hw * sizeof *dA);
    const ms_tensor *fc = slab_find(&p.model.slab, "head.fc.weight");
    TU_CHECK(fc != NULL && fc->shape[0] == 3 && fc->shape[1] == Kl);
    for (int c = 0; c < 3; c++) {
        gradcam_info info;
        TU_CHECK(gradcam_run(&p, layer, img, c, NULL, map, &info, A, dA) == MS_OK);
        TU_CHECK(info.cls == c && info.h == 8 && info.w == 8 && info.K == Kl);
        const float *w = p.model.slab.val + fc->offset + (size_t)c * Kl;
        double worst = 0;
        for (int k = 0; k < Kl; k++)
            for (int i = 0; i < hw; i++) worst = fmax(worst, fabs(dA[(size_t)k * hw + i] - w[k] / hw));
        TU_CHECKF(worst < 1e-7, "class %d: dy/dA differs from w/(hw) by %g", c, worst);
        /* CAM by hand, resized and normalised the same way */
        float cam[64], want[16 * 16];
        for (int i = 0; i < hw; i++) {
            double s = 0;
            for (int k = 0; k < Kl; k++) s += (double)w[k] * A[(size_t)k * hw + i];
            cam[i] = s > 0 ? (float)s : 0;
        }
        resize_f32_bilinear(want, H, W, cam, 8, 8);
        float mx = 0;
        for (int i = 0; i < H * W; i++) mx = fmaxf(mx, want[i]);
        for (int i = 0; i < H * W; i++) want[i] = mx > 0 ? fmaxf(want[i], 0) / mx : 0;
        TU_ALLCLOSE(map, want, (size_t)H * W, 1e-5, 1e-4);
    }
    free(A);
    free(dA);
    predictor_close(&p);
}

/* y_c after perturbing entry j of the layer's activation. */
static double score_after(ms_predictor *p, int layer, int op_of_layer, size_t j, float delta, int cls, const float *saved)
{
    ms_value *v = &p->model.values[layer];
    memcpy(v->x, saved, model_value_size(&p->model, layer) * sizeof(float));
    v->x[j] += delta;
    (void)op_of_layer;
    const float *out = model_forward_from(&p->model, layer, 0, 0);
    return out[cls];
}

static void finite_differences(void)
{
    ms_predictor p;
    const int H = 16, W = 16;
    make(&p, "encoder:in=1,widths=4-6,convs=2;head:type=mlp,classes=3,hidden=8", "classify", H, W, 3);
    float img[16 * 16], map[16 * 16];
    tu_fill_uniform(img, sizeof img / sizeof *img, 5, 0, 1);
    const char *layers[2] = { "stage1", "encoder.stage1.bn0" };
    for (int l = 0; l < 2; l++) {
        int layer;
        TU_CHECK(gradcam_layer(&p, layers[l], &layer) == MS_OK);
        const size_t n = model_value_size(&p.model, layer);
        float *A = malloc(n * sizeof *A), *dA = malloc(n * sizeof *dA), *saved = malloc(n * sizeof *saved);
        gradcam_info info;
        TU_CHECK(gradcam_run(&p, layer, img, 1, NULL, map, &info, A, dA) == MS_OK);
        memcpy(saved, p.model.values[layer].x, n * sizeof *saved);
        /* forward from the layer needs nothing before it to carry a gradient */
        slab_set_flag_prefix(&p.model.slab, "", SLAB_FROZEN, 1);
        model_update_grad_flags(&p.model);
        int bad = 0, checked = 0;
        for (size_t j = 0; j < n; j += n / 40 + 1) {
            const float h = 1e-2f;
            const double num = (score_after(&p, layer, -1, j, h, 1, saved) - score_after(&p, layer, -1, j, -h, 1, saved)) / (2.0 * h);
            checked++;
            if (fabs(num - dA[j]) > 2e-3 + 2e-2 * fabs(dA[j])) {
                if (bad++ < 3) fprintf(stderr, "  %s entry %zu: numeric %.6g, Grad-CAM's %.6g\n", layers[l], j, num, dA[j]);
            }
        }
        TU_CHECKF(bad <= checked / 20, "%s: %d of %d gradient entries differ from finite differences", layers[l], bad, checked);
        TU_CHECK(gradcam_prepare(&p) == MS_OK); /* unfrozen again */
        free(A);
        free(dA);
        free(saved);
    }
    predictor_close(&p);
}

static void seg_region_is_a_sum(void)
{
    ms_predictor p;
    const int H = 16, W = 16, HW = 16 * 16;
    make(&p, "encoder:in=1,widths=4-6,convs=1;decoder:out=3", "segment", H, W, 9);
    float img[16 * 16], map[16 * 16];
    tu_fill_uniform(img, sizeof img / sizeof *img, 21, 0, 1);
    int layer;
    TU_CHECK(gradcam_layer(&p, "stage1", &layer) == MS_OK);
    const size_t n = model_value_size(&p.model, layer);
    float *sum = calloc(n, sizeof *sum), *one = malloc(n * sizeof *one), *all = malloc(n * sizeof *all);
    uint8_t region[16 * 16] = { 0 };
    const int pix[3] = { 17, 100, 200 };
    for (int i = 0; i < 3; i++) {
        uint8_t r1[16 * 16] = { 0 };
        r1[pix[i]] = 1;
        region[pix[i]] = 1;
        gradcam_info info;
        TU_CHECK(gradcam_run(&p, layer, img, 2, r1, map, &info, NULL, one) == MS_OK && info.region == 1);
        for (size_t j = 0; j < n; j++) sum[j] += one[j];
    }
    gradcam_info info;
    TU_CHECK(gradcam_run(&p, layer, img, 2, region, map, &info, NULL, all) == MS_OK && info.region == 3);
    TU_ALLCLOSE(all, sum, n, 1e-6, 1e-4);
    /* an empty region: nothing to explain, an all-zero map */
    memset(region, 0, sizeof region);
    TU_CHECK(gradcam_run(&p, layer, img, 2, region, map, &info, NULL, NULL) == MS_OK && info.region == 0);
    float mx = 0;
    for (int i = 0; i < HW; i++) mx = fmaxf(mx, map[i]);
    TU_CHECK(mx == 0);
    free(sum);
    free(one);
    free(all);
    predictor_close(&p);
}

static void layer_names(void)
{
    ms_predictor p;
    make(&p, "encoder:in=1,widths=4-6-8,convs=1;head:type=linear,classes=2", "classify", 16, 16, 1);
    int v;
    TU_CHECK(gradcam_layer(&p, "stage0", &v) == MS_OK && v == p.model.skips[0]);
    TU_CHECK(gradcam_layer(&p, "", &v) == MS_OK && v == p.model.skips[2]);
    TU_CHECK(gradcam_layer(&p, "encoder.stage1.conv0", &v) == MS_OK);
    TU_CHECK(gradcam_layer(&p, "stage3", &v) == MS_ERR_INPUT);
    TU_CHECKF(strcmp(ms_last_error(), "--layer stage3: the encoder has stages 0..2") == 0, "%s", ms_last_error());
    TU_CHECK(gradcam_layer(&p, "head.fc", &v) == MS_ERR_INPUT);
    TU_CHECK(gradcam_layer(&p, "nope", &v) == MS_ERR_INPUT);
    predictor_close(&p);
}

int main(void)
{
    TU_RUN(cam_equals_gradcam);
    TU_RUN(finite_differences);
    TU_RUN(seg_region_is_a_sum);
    TU_RUN(layer_names);
    return tu_summary();
}
