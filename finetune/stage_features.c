/* stage_features — pooled encoder-stage features of a corpus (see
 * include/medssl/stage_features.h). */
#include "medssl/stage_features.h"

#include "medssl/ckpt.h"
#include "medssl/common.h"
#include "medssl/transfer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int stage_features_open(ms_stage_features *s, const char *ckpt, int stage, const ms_corpus *c, int batch)
{
    memset(s, 0, sizeof *s);
    ms_model_spec spec;
    int rc = ckpt_read_meta(ckpt, s->spec, sizeof s->spec, NULL, 0);
    if (rc) return rc;
    if ((rc = transfer_encoder_spec(ckpt, &spec))) return rc;
    if (stage >= spec.n_stages)
        return MS_FAIL(MS_ERR_INPUT, "--stage %d: the encoder of %s has stages 0..%d", stage, ckpt, spec.n_stages - 1);
    if (spec.in_channels != c->C)
        return MS_FAIL(MS_ERR_INPUT, "%s: the encoder takes %d channel(s) but %s has %d", ckpt, spec.in_channels,
                       c->path, c->C);
    s->stage = stage < 0 ? spec.n_stages - 1 : stage;
    spec.n_stages = s->stage + 1;
    spec.head_norm = 0;
    model_build(&s->model, &spec);
    if ((rc = ckpt_load(ckpt, &s->model.slab, "encoder.", NULL, NULL, NULL))) return rc;
    if ((rc = model_plan(&s->model, batch, c->H, c->W)))
        return MS_FAIL(rc, "%s: %dx%d images do not fit the encoder: %s", c->path, c->H, c->W, ms_last_error());
    s->F = (int)model_value_size(&s->model, s->model.features);
    s->batch = batch;
    s->images = ms_aligned((size_t)batch * c->C * c->H * c->W * sizeof(float));
    return MS_OK;
}

void stage_features_close(ms_stage_features *s)
{
    model_free(&s->model);
    free(s->images);
    s->images = NULL;
}

int stage_features_run(ms_stage_features *s, ms_corpus *c, long long first, long long n, float *feat,
                       int32_t *labels, int32_t *domains, void (*on_batch)(void *ctx, long long done), void *ctx)
{
    for (long long done = 0; done < n; done += s->batch) {
        const int b = (int)(n - done < s->batch ? n - done : s->batch);
        int rc = corpus_read(c, first + done, b, s->images, labels ? labels + done : NULL, NULL,
                             domains ? domains + done : NULL);
        if (rc) return rc;
        CHECK(model_set_rows(&s->model, b) == 0);
        model_forward(&s->model, s->images, 0, 0);
        memcpy(feat + (size_t)done * s->F, s->model.values[s->model.features].x, (size_t)b * s->F * sizeof(float));
        if (on_batch) on_batch(ctx, done + b);
    }
    return MS_OK;
}
