/* predict — a fine-tuned model (a `classify` or `segment` checkpoint) run
 * over a corpus in eval mode, batch by batch: class probabilities per image,
 * or per pixel. Used by `medssl evaluate` and `medssl ensemble`.
 *
 * Dimension legend: n images, C channels, K classes, HW pixels.
 */
#ifndef MEDSSL_PREDICT_H
#define MEDSSL_PREDICT_H

#include <stdint.h>

#include "medssl/corpus.h"
#include "medssl/dist.h"
#include "medssl/model.h"
#include "medssl/task.h"

typedef struct {
    ms_model model;
    const ms_task *task;  /* the checkpoint's task: classify or segment */
    int K;                /* classes */
    int batch;            /* images per forward */
    int C, H, W;
    float *images;        /* (batch, C, H, W) */
    char path[4096];
    /* called after each batch of predictor_run with the images done so far
     * (of its n), when set: a caller's progress line */
    void (*on_batch)(void *user, long long done, long long n);
    void *on_batch_user;
} ms_predictor;

/* Loads `ckpt` (its model_spec and every parameter) for images shaped like
 * corpus c's. A pretext checkpoint, a channel or size mismatch are
 * MS_ERR_INPUT naming the files. */
int predictor_open(ms_predictor *p, const char *ckpt, const ms_corpus *c, int batch);
void predictor_close(ms_predictor *p);

/* Probabilities of samples [first, first+n) of c (n any size; run in batches):
 * probs (n, K) for classify, (n, K, HW) for segment. labels (n), masks (n, HW)
 * and domains (n) are filled when non-NULL (the corpus must have them). */
int predictor_run(ms_predictor *p, ms_corpus *c, long long first, long long n, float *probs, int32_t *labels,
                  uint8_t *masks, int32_t *domains);

/* Predictions of a fine-tuned model over a whole corpus, gathered on rank 0:
 * per image the class probabilities probs (n, K) (classify), the predicted
 * mask pred (n, HW) or with keep_probs the probabilities (n, K, HW)
 * (segment), the truth (labels or masks) and with want_domains the domains.
 * The ranks of d predict contiguous ranges and rank 0 receives them in order
 * (every sample once: the result does not depend on the rank count); on
 * other ranks the arrays hold only that rank's share. A collective; used by
 * evaluate, ensemble evaluate and predict. */
typedef struct ms_predictions {
    long long n;
    float *probs;
    uint8_t *pred, *truth;
    int32_t *labels, *domains;
} ms_predictions;
int predict_corpus(const ms_dist *d, ms_predictor *p, ms_corpus *c, int want_domains, int keep_probs, ms_predictions *e);
void predictions_free(ms_predictions *e);

/* Softmax over K of x (K, HW) for every pixel (HW = 1: one vector), in place. */
void predict_softmax(float *x, int K, int HW);

/* Argmax over K of probs (n, K, HW) per pixel into pred (n, HW). */
void predict_argmax_pixels(const float *probs, long long n, int K, int HW, uint8_t *pred);

/* --probabilities FILE.h5 of evaluate and predict: /probabilities float32
 * [n, K] (classify) or [n, K, H, W] (per_pixel: segment), in corpus order, for
 * comparing with another implementation (tools/medssl_torch.py --check).
 * Written to FILE.tmp.<pid> and renamed into place; the message names path. */
int predict_write_probabilities(const char *path, const float *probs, long long n, int K, int H, int W, int per_pixel);

#endif
