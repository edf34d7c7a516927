/* labeled — which samples of a labeled corpus a fine-tuning run sees, how
 * often, and with which class weights.
 *
 * Corpora mix unlabeled (label -1) and labeled samples; fine-tuning reads only
 * the labeled ones, through the loader's per-sample repeat counts (loader.h):
 *   classify   repeat 1 per labeled sample, 0 otherwise; with balance, every class
 *              gets as many draws per epoch as the largest class (loader_repeat_balance)
 *   segment    every sample (all have masks)
 * only samples of the loader's split count (so balanced totals are exact
 * within the training split), then --domains keeps only the listed /domains values, and --target-domain D
 * with --target-weight W repeats each sample of domain D W times (supervised
 * domain adaptation: a few target images among many source images).
 */
#ifndef MEDSSL_LABELED_H
#define MEDSSL_LABELED_H

#include <stdint.h>

#include "medssl/corpus.h"

#define LABELED_MAX_CLASSES 256

typedef struct {
    int segment;              /* masks (segment) or labels (classify) */
    int K;                    /* classes */
    uint64_t seed;
    const char *domains;      /* comma-separated domain ids to keep, or NULL for all */
    int target_domain;        /* -1: none */
    float target_weight;      /* repeats of each target-domain sample (>= 1) */
    int balance;              /* classify: class-balanced oversampling */
    int split;                /* ms_split (loader.h): only samples of this split count (SPLIT_ALL: all) */
    float val_fraction;       /* the split's validation fraction (with seed, as the loader) */
} ms_labeled_sel;

/* Validates that the corpus has what the task needs (labels with at least
 * one labeled sample, or masks) and finds the class count: classes > 0 is
 * taken as given (every label/mask value must be below it), else the
 * corpus's class count (labels) or the largest mask value + 1 (masks; 255 =
 * ignore). Errors name the file. */
int labeled_check(ms_corpus *c, int segment, int classes, int *K);

/* The loader repeat counts (N, malloc'd into *repeat) of corpus c for a
 * selection; `training` applies balance and target weighting (validation
 * uses neither). MS_ERR_INPUT when nothing is selected or a flag needs
 * /domains the corpus lacks. */
int labeled_repeat(ms_corpus *c, const ms_labeled_sel *sel, int training, uint16_t **repeat);

/* Loss class weights (K): "auto" = inverse frequency over the selected
 * samples, n / (K n_k), from labels (classify) or mask pixels (segment);
 * classes never seen get 0. Otherwise a comma-separated list of K
 * non-negative numbers. */
int labeled_class_weights(ms_corpus *c, const uint16_t *repeat, int segment, int K, const char *spec, float *w);

#endif
