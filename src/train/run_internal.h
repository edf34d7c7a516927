/* run_internal — what pretrain_run and finetune_run share (src/train/run.c). */
#ifndef MEDSSL_RUN_INTERNAL_H
#define MEDSSL_RUN_INTERNAL_H

#include "medssl/corpus.h"
#include "medssl/optim.h"
#include "medssl/run.h"
#include "medssl/trainer.h"

/* The run folder made and owned (lock) by rank 0, agreed by all ranks;
 * checks what every run needs of cfg. Returns 0 or the agreed exit code
 * (the message is printed). */
int run_begin(const ms_dist *d, const char *cmd, const ms_run_cfg *cfg);
/* The optimizer of cfg (sgd or adamw). */
int run_optimizer(const ms_run_cfg *cfg, ms_optim *opt);
/* A trainer set up from cfg (schedule with the batch/256 scaling, epochs,
 * checkpoints, logging); the caller adds model, task, loaders, meta. */
void run_trainer(ms_trainer *t, const char *cmd, const ms_dist *d, const ms_run_cfg *cfg);
/* The shuffle buffer of a training loader: at most `images` samples and at
 * most `mib` MiB per rank (loader_buffer_capacity); rank 0 says so when the
 * MiB bound is the smaller one. */
long long run_shuffle_buffer(const ms_corpus *c, const ms_run_cfg *cfg, int want_masks, int rank, const char *cmd);
/* res from the trainer after trainer_run (NULL res: nothing). */
void run_result(const ms_trainer *t, ms_run_result *res);

#endif
