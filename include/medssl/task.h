/* task — the labeled tasks a model is fine-tuned for, one table entry each,
 * beside their code: classify (finetune/classify.c) and segment
 * (finetune/segment.c). An entry holds what differs between them:
 *
 *   ops            the trainer's task functions (medssl/task_ops.h): prepare
 *                  the targets of a loader batch, forward + loss + metric,
 *                  the metric's key and direction (val_accuracy, val_dsc)
 *   head           completes the encoder's spec with the task's head
 *                  (classify: linear/MLP on pooled features, optionally with
 *                  BatchNorm before it) or decoder (segment: a U-Net decoder
 *                  with K output channels)
 *   keep_prefix    the --init tensors --keep-head also loads ("head." or
 *                  "decoder.up")
 *   masks          whether the loader reads masks (segment) or labels, and
 *                  so whether a prediction is per pixel (K, HW) or per image (K)
 *   judge          how a fine-tuned model's predictions are judged on labeled
 *                  data (evaluate, ensemble evaluate): the task's metric
 *                  accumulator, the combiners its ensembles can use, its
 *                  pictures (segment: overlays)
 *
 * The trainer's context is an ms_task_state: the model, the batch being
 * trained and the task's workspace; finetune_run fills it. One epoch_begin
 * for both applies the transfer strategy (medssl/transfer.h).
 *
 * Dimension legend: B images per rank-batch, K classes, HW pixels per image,
 * F encoder features per image.
 */
#ifndef MEDSSL_TASK_H
#define MEDSSL_TASK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "medssl/corpus.h"
#include "medssl/ensemble_math.h"
#include "medssl/feature_cache.h"
#include "medssl/json.h"
#include "medssl/log.h"
#include "medssl/metrics.h"
#include "medssl/model.h"
#include "medssl/task_ops.h"
#include "medssl/transfer.h"

typedef enum { TASK_CLASSIFY, TASK_SEGMENT, TASK__COUNT } ms_task_kind;

/* How the head is built (classify; segment ignores all but K). */
typedef struct {
    int K;
    const char *head;       /* "linear" or "mlp" */
    int hidden;
    float dropout;
    int head_norm;          /* BatchNorm before the head */
} ms_head_cfg;

typedef struct {
    ms_task_kind kind;
    ms_model *model;
    int K, HW, B;
    /* the batch being trained */
    int n;                  /* rows of the current batch */
    const float *input;     /* (n, C, H, W) the loader's images */
    const int64_t *index;   /* (n) their sample indices */
    int32_t *targets;       /* (B) labels or (B*HW) mask classes, -1 = ignore */
    const float *class_w;   /* (K) loss class weights, or NULL */
    float *probs;           /* segment: softmax workspace (B,K,HW) */
    uint8_t *pred;          /* segment: (HW) */
    /* classify with a frozen encoder on unaugmented images: features cached per sample */
    int cache_on;
    ms_feature_cache cache[2]; /* [0] validation, [1] training */
    float *miss_images;     /* (B, C, H, W): the batch's samples not cached yet */
    int64_t *miss_index;    /* (B) */
    size_t image_floats;    /* C*H*W */
    /* the strategy applied at each epoch's start */
    const ms_transfer *xfer;
    int rank, quiet;
    const ms_logger *log;   /* notes (two-stage: stage 2 begins); NULL: stderr */
} ms_task_state;

struct ms_predictions; /* medssl/predict.h */

/* Judging predictions (medssl/predict.h) on labeled data. The accumulator is
 * the task's metrics (medssl/metrics.h: metrics_cls or metrics_seg). */
typedef struct {
    const char *truth;           /* the corpus dataset holding the truth: "labels" or "masks" */
    const char *columns[3];      /* names of the three headline numbers (NULL: unused) */
    unsigned combiners;          /* the ensemble combiners that apply: bit (1u << ens_combiner) */
    int boosting;                /* members can be boosted (one right/wrong per image) */
    void *(*metrics_new)(int K);
    void (*metrics_free)(void *acc);
    /* Adds the n images of e with truth: classify scores e->probs (n, K) of
     * the labeled rows (label -1 is skipped); segment the masks e->pred
     * (n, HW), or when NULL the argmax of e->probs (n, K, HW). *added: the
     * images scored. MS_ERR_INPUT on out-of-range values. */
    int (*metrics_add)(void *acc, const struct ms_predictions *e, int H, int W, long long *added);
    void (*headline)(const void *acc, double h[3]);
    /* the report: a member of an open JSON object (key NULL: a value), the
     * metrics.json document, the table for people (medssl/metrics.h) */
    void (*json)(ms_json *j, const char *key, const void *acc, const metrics_report_opts *o);
    int (*write_json)(FILE *f, const void *acc, const metrics_report_opts *o);
    int (*print)(FILE *f, const void *acc, const metrics_report_opts *o);
    /* Combines M members' probabilities (M, n, K[, HW]) with combiner k (a bit
     * of combiners) into out: scores out->probs (n, K) (classify) or masks
     * out->pred (n, HW) (segment), allocated here. */
    int (*combine)(int k, const float *probs, const ens_params *p, int M, long long n, int K, int H, int W,
                   struct ms_predictions *out);
    /* Pictures of the first `count` predictions for a person, into dir
     * (segment: image | truth | prediction overlays); NULL: the task has none. */
    int (*pictures)(ms_corpus *c, const struct ms_predictions *e, const char *dir, int count);
} ms_task_judge;

typedef struct {
    const char *name;
    ms_task_ops ops;        /* ctx: ms_task_state */
    int masks;
    const char *keep_prefix;
    int (*head)(ms_model_spec *s, const ms_head_cfg *h);
    ms_task_judge judge;
} ms_task;

int task_kind_parse(const char *name); /* -1 if unknown */
const ms_task *task_get(ms_task_kind kind);
/* The task of that name (NULL: classify), or NULL if there is none. */
const ms_task *task_named(const char *name);
/* MS_ERR_INPUT unless corpus c holds the task's truth (labels or masks);
 * `model` names the checkpoint being judged in the message. */
int task_check_truth(const ms_task *t, const ms_corpus *c, const char *model);

/* Workspace for batches of B images of C x H x W (st->kind, model, K set);
 * cache: turn the feature cache on. task_state_free releases it. */
void task_state_alloc(ms_task_state *st, int B, int C, int H, int W, int cache);
void task_state_free(ms_task_state *st);

/* ---- shared by the entries (finetune/task.c) ---- */

/* The loader batch b becomes the current batch (the model set to its rows);
 * returns its images (0: an empty batch). */
int task_take_batch(ms_task_state *st, const ms_batch *b);
/* The model's output for the current batch: the forward pass, or with the
 * feature cache the head on cached features (the encoder runs on the
 * samples not cached yet). */
float *task_forward(ms_task_state *st, int training, uint64_t key);
/* The strategy's freezing for the epoch (trainer epoch_begin). */
int task_epoch_begin(void *ctx, long epoch);

extern const ms_task task_classify;
extern const ms_task task_segment;

#endif
