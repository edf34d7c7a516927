/* stage_features — the global-average-pooled features of one encoder stage
 * for the samples of a corpus (`medssl features`), from any checkpoint that
 * holds an encoder: a pretrain output or a fine-tuned model (its head or
 * decoder is ignored). The encoder runs in eval mode (BN running statistics),
 * cut after stage K, so a sample's features do not depend on its batch.
 *
 * Dimension legend: n images, C channels, H, W image size, F = widths[K].
 */
#ifndef MEDSSL_STAGE_FEATURES_H
#define MEDSSL_STAGE_FEATURES_H

#include <stdint.h>

#include "medssl/corpus.h"
#include "medssl/model.h"

typedef struct {
    ms_model model;       /* the encoder up to stage K */
    int stage, F, batch;
    float *images;        /* (batch, C, H, W) */
    char spec[1024];      /* the checkpoint's model_spec, as stored */
} ms_stage_features;

/* Builds the encoder of `ckpt` cut after `stage` (< 0: the last stage) and
 * loads its tensors, for images shaped like c's. MS_ERR_INPUT naming the
 * file or --stage for a missing or non-medssl checkpoint, a stage out of
 * range, a channel count or image size the encoder cannot take. */
int stage_features_open(ms_stage_features *s, const char *ckpt, int stage, const ms_corpus *c, int batch);
void stage_features_close(ms_stage_features *s);
/* Features of samples [first, first+n) of c into feat (n, F); labels (n) and
 * domains (n) too when non-NULL (the corpus must have them). on_batch (may be
 * NULL) is called with the samples done so far after every batch. */
int stage_features_run(ms_stage_features *s, ms_corpus *c, long long first, long long n, float *feat,
                       int32_t *labels, int32_t *domains, void (*on_batch)(void *ctx, long long done), void *ctx);

#endif
