/* task_ops — the contract between the trainer (medssl/trainer.h) and what it
 * trains: a task is a table of functions over the task's own context (the
 * pretext tasks of pretext/, classify and segment of finetune/). Tasks
 * implement it; the trainer calls it; neither needs the other's header.
 *
 *   prepare(ctx, batch, epoch, training)   builds the model inputs and targets of a
 *       loader batch and sets the model's rows; returns the batch's loss terms
 *       (0 for an empty batch)
 *   loss(ctx, terms, training, weight, key, &score, &count)
 *       forward + loss (+ d(loss)/d(output) scaled by `weight` when training);
 *       score/count accumulate the validation metric (metric = sum score / sum count)
 *   epoch_begin(ctx, epoch)  optional: called before every epoch (also the one a
 *       run resumes in), e.g. to unfreeze layers in two-stage fine-tuning
 */
#ifndef MEDSSL_TASK_OPS_H
#define MEDSSL_TASK_OPS_H

#include <stdint.h>

#include "medssl/json.h"
#include "medssl/loader.h"

typedef struct {
    const char *metric_key;     /* metrics.jsonl key of the validation metric, e.g. "val_accuracy" */
    int higher_better;          /* best.h5 by the highest metric (else the lowest) */
    int (*prepare)(void *ctx, const ms_batch *b, long epoch, int training);
    double (*loss)(void *ctx, int terms, int training, float weight, uint64_t dropout_key, double *score,
                   double *count);
    int (*epoch_begin)(void *ctx, long epoch); /* may be NULL */
    /* may be NULL: more metrics.jsonl members derived from the metric (the
     * autoencoder's val_psnr from its val_mse) */
    void (*log_metric)(ms_json *line, double metric);
} ms_task_ops;

#endif
