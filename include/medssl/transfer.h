/* transfer — moving a pretrained encoder onto a labeled task: the transfer
 * strategies, which layers train when, and loading an encoder from any
 * medssl checkpoint.
 *
 * Strategies (--strategy), one table entry each (transfer.c):
 *   feature-extractor  the encoder is frozen and its BatchNorms run in eval mode
 *                      (running statistics untouched); only the new head trains
 *   finetune           everything trains except the --freeze layers (frozen, BN in
 *                      eval mode); the encoder's LR is multiplied by encoder_lr_mult
 *   two-stage          epochs [0, stage1_epochs): as feature-extractor; then the
 *                      --unfreeze layers (default: the whole encoder) train with the
 *                      encoder's LR multiplied by encoder_lr_mult
 *   scratch            the same architecture from random initialization, all trains
 *
 * Layer names in --freeze/--unfreeze: `stage1` (= encoder.stage1), `encoder`,
 * `all` (= the whole encoder), or any tensor name prefix (`encoder.stage2.conv0`,
 * `head`, `decoder.up0`). A name that matches no tensor is an input error.
 */
#ifndef MEDSSL_TRANSFER_H
#define MEDSSL_TRANSFER_H

#include "medssl/model.h"

typedef enum {
    STRATEGY_FEATURE_EXTRACTOR,
    STRATEGY_FINETUNE,
    STRATEGY_TWO_STAGE,
    STRATEGY_SCRATCH,
    STRATEGY__COUNT
} ms_strategy;

typedef struct {
    ms_strategy strategy;
    const char *freeze;      /* comma-separated layer names, or NULL */
    const char *unfreeze;    /* two-stage, stage 2; NULL = the whole encoder */
    float encoder_lr_mult;   /* finetune and two-stage (stage 2) */
    int stage1_epochs;       /* two-stage */
} ms_transfer;

int strategy_parse(const char *name);            /* -1 if unknown */
const char *strategy_name(ms_strategy s);
/* Whether the strategy starts from the --init weights (all but scratch). */
int strategy_uses_init(ms_strategy s);

/* Checks every name of the --freeze/--unfreeze lists against the model:
 * MS_ERR_INPUT naming the flag, the layer and the encoder's stages if one
 * matches nothing. */
int transfer_check(const ms_transfer *t, ms_model *m);
/* Puts the model in the strategy's state for `epoch`: FROZEN flags, BN eval
 * mode and per-tensor LR multipliers (then model_update_grad_flags). Returns
 * 1 when the state changed from the previous call's (two-stage's switch). */
int transfer_apply(const ms_transfer *t, ms_model *m, long epoch);

/* Sets (eval = 1) or clears eval mode on every BN op whose name starts with
 * prefix ("" = all); returns how many matched. */
int model_bn_eval_prefix(ms_model *m, const char *prefix, int eval);

/* The encoder part of a checkpoint's model_spec: clears the head and decoder.
 * Errors name the file. */
int transfer_encoder_spec(const char *ckpt, ms_model_spec *enc);
/* Loads the tensors under `prefix` from ckpt into m (pretext heads and other
 * extras in the file are ignored). A missing tensor or a shape mismatch is
 * MS_ERR_INPUT listing what did not match. *n_loaded: tensors loaded. */
int transfer_load(ms_model *m, const char *ckpt, const char *prefix, int *n_loaded);

#endif
