/* gradcam — Grad-CAM and Seg-Grad-CAM on a predictor's model (see
 * medssl/gradcam.h). */
#include "medssl/gradcam.h"
#include "medssl/common.h"
#include "medssl/resample.h"
#include "medssl/slab.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int gradcam_layer(const ms_predictor *p, const char *name, int *value)
{
    const ms_model *m = &p->model;
    const int S = m->spec.n_stages;
    if (!name || !*name) {
        *value = m->skips[S - 1];
        return MS_OK;
    }
    int k;
    char tail;
    if (sscanf(name, "stage%d%c", &k, &tail) == 1) {
        if (k < 0 || k >= S) return MS_FAIL(MS_ERR_INPUT, "--layer %s: the encoder has stages 0..%d", name, S - 1);
        *value = m->skips[k];
        return MS_OK;
    }
    for (int i = 0; i < m->n_ops; i++)
        if (strcmp(m->ops[i].name, name) == 0) {
            const ms_value *v = &m->values[m->ops[i].out];
            if (v->H * v->W < 1 || (v->H == 1 && v->W == 1))
                return MS_FAIL(MS_ERR_INPUT, "--layer %s: its output has no spatial extent (a head op); "
                                             "choose a stage or a conv", name);
            *value = m->ops[i].out;
            return MS_OK;
        }
    return MS_FAIL(MS_ERR_INPUT, "--layer %s: no such layer (stage0..stage%d, or an op name such as "
                                 "encoder.stage%d.conv0)", name, S - 1, S - 1);
}

int gradcam_prepare(ms_predictor *p)
{
    slab_set_flag_prefix(&p->model.slab, "", SLAB_FROZEN, 0);
    int rc = model_plan(&p->model, 1, p->H, p->W); /* recomputes the gradient flags */
    if (rc) return rc;
    CHECK(model_set_rows(&p->model, 1) == 0);
    return MS_OK;
}

int gradcam_run(ms_predictor *p, int layer, const float *img, int cls, const uint8_t *region, float *map,
                gradcam_info *info, float *acts, float *grads)
{
    ms_model *m = &p->model;
    const int H = p->H, W = p->W, HW = H * W, K = p->K, seg = p->task->masks;
    const float *out = model_forward(m, img, 0, 0);
    const size_t nout = (size_t)K * (seg ? HW : 1);
    /* the probabilities evaluate and predict report: softmax per pixel (segment) or once (classify) */
    float *prob = ms_malloc(nout * sizeof *prob);
    memcpy(prob, out, nout * sizeof *prob);
    predict_softmax(prob, K, seg ? HW : 1);
    uint8_t *pred = seg ? ms_malloc((size_t)HW) : NULL;
    if (seg) {
        long long *count = ms_calloc((size_t)K, sizeof *count);
        for (int q = 0; q < HW; q++) {
            pred[q] = (uint8_t)ms_argmax(prob + q, K, HW);
            count[pred[q]]++;
        }
        if (cls < 0) { /* the most frequent foreground class, else background */
            cls = 0;
            for (int k = 1; k < K; k++)
                if (count[k] > 0 && (cls == 0 || count[k] > count[cls])) cls = k;
        }
        free(count);
    } else if (cls < 0) {
        cls = ms_argmax(prob, K, 1);
    }
    CHECK(cls >= 0 && cls < K);
    /* dy_c / d(output): one-hot on the logit, or on the region's class-c logits */
    float *dout = model_output_grad(m);
    memset(dout, 0, nout * sizeof *dout);
    int n_region = 0;
    double psum = 0;
    if (seg) {
        for (int q = 0; q < HW; q++)
            if (region ? region[q] != 0 : pred[q] == cls) {
                dout[(size_t)cls * HW + q] = 1;
                psum += prob[(size_t)cls * HW + q];
                n_region++;
            }
    } else {
        dout[cls] = 1;
        psum = prob[cls];
    }
    slab_zero_grad(&m->slab);
    model_backward_until(m, layer);
    const ms_value *v = &m->values[layer];
    CHECK(v->dx != NULL);
    const int Kl = v->C, h = v->H, w = v->W, hw = h * w;
    float *cam = ms_calloc((size_t)hw, sizeof *cam);
    for (int k = 0; k < Kl; k++) {
        const float *A = v->x + (size_t)k * hw, *dA = v->dx + (size_t)k * hw;
        double alpha = 0;
        for (int i = 0; i < hw; i++) alpha += dA[i];
        alpha /= hw;
        for (int i = 0; i < hw; i++) cam[i] += (float)(alpha * A[i]);
    }
    for (int i = 0; i < hw; i++) cam[i] = cam[i] > 0 ? cam[i] : 0;
    if (acts) memcpy(acts, v->x, (size_t)Kl * hw * sizeof *acts);
    if (grads) memcpy(grads, v->dx, (size_t)Kl * hw * sizeof *grads);
    resize_f32_bilinear(map, H, W, cam, h, w);
    float mx = 0;
    for (int i = 0; i < HW; i++) mx = fmaxf(mx, map[i]);
    for (int i = 0; i < HW; i++) map[i] = mx > 0 ? fmaxf(map[i], 0) / mx : 0;
    if (info)
        *info = (gradcam_info){ .cls = cls, .prob = (float)(seg ? (n_region ? psum / n_region : 0) : psum),
                                .region = seg ? n_region : 0, .h = h, .w = w, .K = Kl };
    free(cam);
    free(prob);
    free(pred);
    return MS_OK;
}
