/* predict — running a fine-tuned model over a corpus (see medssl/predict.h). */
#include "medssl/predict.h"
#include "medssl/atomic.h"
#include "medssl/h5util.h"
#include "medssl/dist.h"

#include "medssl/ckpt.h"
#include "medssl/common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int predictor_open(ms_predictor *p, const char *ckpt, const ms_corpus *c, int batch)
{
    memset(p, 0, sizeof *p);
    snprintf(p->path, sizeof p->path, "%s", ckpt);
    char spec_text[2048], task[64] = "";
    int rc = ckpt_read_meta(ckpt, spec_text, sizeof spec_text, task, sizeof task);
    if (rc) return rc;
    if (!task[0] || !(p->task = task_named(task)))
        return MS_FAIL(MS_ERR_INPUT, "%s: a '%s' checkpoint; expected a model from medssl finetune (classify or "
                                     "segment)", ckpt, task);
    ms_model_spec spec;
    if ((rc = model_spec_parse(&spec, spec_text))) return MS_FAIL(rc, "%s: model_spec: %s", ckpt, ms_last_error());
    if (spec.in_channels != c->C)
        return MS_FAIL(MS_ERR_INPUT, "%s: the model takes %d channel(s) but %s has %d", ckpt, spec.in_channels, c->path, c->C);
    if (p->task->masks != spec.has_decoder)
        return MS_FAIL(MS_ERR_INPUT, "%s: task '%s' does not match its model_spec", ckpt, task);
    p->K = spec.has_decoder ? spec.dec_out : spec.classes;
    model_build(&p->model, &spec);
    if ((rc = ckpt_load(ckpt, &p->model.slab, "", NULL, NULL, NULL))) return rc;
    p->batch = batch;
    p->C = c->C;
    p->H = c->H;
    p->W = c->W;
    if ((rc = model_plan(&p->model, batch, c->H, c->W)))
        return MS_FAIL(rc, "%s: %dx%d images do not fit the model: %s", c->path, c->H, c->W, ms_last_error());
    p->images = ms_aligned((size_t)batch * c->C * c->H * c->W * sizeof(float));
    return MS_OK;
}

void predictor_close(ms_predictor *p)
{
    model_free(&p->model);
    free(p->images);
    p->images = NULL;
}

void predict_softmax(float *x, int K, int HW)
{
    for (int q = 0; q < HW; q++) {
        float mx = x[q];
        for (int k = 1; k < K; k++) mx = fmaxf(mx, x[(size_t)k * HW + q]);
        float sum = 0;
        for (int k = 0; k < K; k++) {
            float e = expf(x[(size_t)k * HW + q] - mx);
            x[(size_t)k * HW + q] = e;
            sum += e;
        }
        for (int k = 0; k < K; k++) x[(size_t)k * HW + q] /= sum;
    }
}

int predictor_run(ms_predictor *p, ms_corpus *c, long long first, long long n, float *probs, int32_t *labels,
                  uint8_t *masks, int32_t *domains)
{
    const int HW = p->H * p->W;
    const size_t per = (size_t)p->K * (p->task->masks ? HW : 1); /* output floats per image */
    for (long long done = 0; done < n; done += p->batch) {
        const int b = (int)(n - done < p->batch ? n - done : p->batch);
        int rc = corpus_read(c, first + done, b, p->images, labels ? labels + done : NULL,
                             masks ? masks + (size_t)done * HW : NULL, domains ? domains + done : NULL);
        if (rc) return rc;
        CHECK(model_set_rows(&p->model, b) == 0);
        const float *out = model_forward(&p->model, p->images, 0, 0);
        float *dst = probs + (size_t)done * per;
        memcpy(dst, out, (size_t)b * per * sizeof(float));
        for (int i = 0; i < b; i++) predict_softmax(dst + (size_t)i * per, p->K, p->task->masks ? HW : 1);
        if (p->on_batch) p->on_batch(p->on_batch_user, done + b, n);
    }
    return MS_OK;
}

void predict_argmax_pixels(const float *probs, long long n, int K, int HW, uint8_t *pred)
{
    for (long long i = 0; i < n; i++) {
        const float *pr = probs + (size_t)i * K * HW; /* (K, HW) */
        for (int q = 0; q < HW; q++) pred[(size_t)i * HW + q] = (uint8_t)ms_argmax(pr + q, K, HW);
    }
}

/* ---- over the ranks of d ---- */

int predict_corpus(const ms_dist *d, ms_predictor *p, ms_corpus *c, int want_domains, int keep_probs, ms_predictions *e)
{
    const long long N = c->N;
    long long *first = ms_malloc((size_t)d->size * sizeof(long long)), *counts = ms_malloc((size_t)d->size * sizeof(long long));
    dist_split_rows(d, N, first, counts);
    const long long mine = counts[d->rank], rows = d->rank == 0 ? N : mine;
    const int HW = c->H * c->W;
    e->n = N;
    /* the truth only when the corpus has it (predict runs on unlabeled images) */
    e->labels = p->task->masks || !corpus_has_labels(c) ? NULL : ms_malloc((size_t)(rows ? rows : 1) * sizeof(int32_t));
    e->domains = want_domains ? ms_malloc((size_t)(rows ? rows : 1) * sizeof(int32_t)) : NULL;
    float *probs = ms_malloc((size_t)(mine ? mine : 1) * p->K * (p->task->masks ? HW : 1) * sizeof(float));
    uint8_t *truth = p->task->masks && corpus_has_masks(c) ? ms_malloc((size_t)(rows ? rows : 1) * HW) : NULL;
    int rc = predictor_run(p, c, first[d->rank], mine, probs, e->labels, truth, e->domains);
    const int bad = rc != 0, any = dist_any(d, bad);
    if (!any) {
        if (p->task->masks && keep_probs) { /* (n, K, HW) probabilities, for ensembles */
            if (d->rank == 0 && d->size > 1) {
                float *all = ms_malloc((size_t)N * p->K * HW * sizeof(float));
                memcpy(all, probs, (size_t)mine * p->K * HW * sizeof(float));
                free(probs);
                probs = all;
            }
            dist_gather_rows(d, probs, mine, (size_t)(p->K * HW) * sizeof(float), first, counts);
            if (truth) dist_gather_rows(d, truth, mine, (size_t)(HW) * sizeof(uint8_t), first, counts);
            e->probs = probs;
            e->truth = truth;
            probs = NULL;
            truth = NULL;
        } else if (p->task->masks) {
            e->pred = ms_malloc((size_t)(rows ? rows : 1) * HW);
            predict_argmax_pixels(probs, mine, p->K, HW, e->pred);
            free(probs);
            probs = NULL;
            /* rank 0's own share is already at the front of its arrays */
            dist_gather_rows(d, e->pred, mine, (size_t)(HW) * sizeof(uint8_t), first, counts);
            if (truth) dist_gather_rows(d, truth, mine, (size_t)(HW) * sizeof(uint8_t), first, counts);
            e->truth = truth;
            truth = NULL;
        } else {
            if (d->rank == 0 && d->size > 1) {
                float *all = ms_malloc((size_t)N * p->K * sizeof(float));
                memcpy(all, probs, (size_t)mine * p->K * sizeof(float));
                free(probs);
                probs = all;
            }
            dist_gather_rows(d, probs, mine, (size_t)(p->K) * sizeof(float), first, counts);
            if (e->labels) dist_gather_rows(d, e->labels, mine, (size_t)(1) * sizeof(int32_t), first, counts);
            e->probs = probs;
            probs = NULL;
        }
        if (e->domains) dist_gather_rows(d, e->domains, mine, (size_t)(1) * sizeof(int32_t), first, counts);
    }
    free(probs);
    free(truth);
    free(first);
    free(counts);
    if (any && !bad) return MS_FAIL(MS_ERR_INPUT, "another rank failed to read %s", c->path);
    return rc;
}

void predictions_free(ms_predictions *e)
{
    free(e->probs);
    free(e->pred);
    free(e->truth);
    free(e->labels);
    free(e->domains);
}

int predict_write_probabilities(const char *path, const float *probs, long long n, int K, int H, int W, int per_pixel)
{
    char tmp[4200];
    int rc = atomic_tmp_name(path, tmp, sizeof tmp);
    if (rc) return rc;
    hsize_t dims[4] = { (hsize_t)n, (hsize_t)K, (hsize_t)H, (hsize_t)W };
    h5_lock();
    h5_quiet();
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t sp = f >= 0 ? H5Screate_simple(per_pixel ? 4 : 2, dims, NULL) : -1;
    hid_t ds = sp >= 0 ? H5Dcreate2(f, "probabilities", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
    int ok = ds >= 0 && H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, probs) >= 0;
    if (ds >= 0) H5Dclose(ds);
    if (sp >= 0) H5Sclose(sp);
    if (f >= 0) ok &= H5Fclose(f) >= 0;
    h5_unlock();
    if (!ok) {
        atomic_discard(tmp);
        return MS_FAIL(MS_ERR_RUNTIME, "--probabilities %s: cannot write (is the folder writable?)", path);
    }
    return atomic_publish(tmp, path);
}
