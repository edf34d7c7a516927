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
#define LABELED_SPLIT_STREAM 0x5b117ULL /* rng_key index of the split hash */

typedef struct {
    int masks;                /* masks (segment) or labels (classify) */
    int K;                    /* classes */
    uint64_t seed;
    const char *domains;      /* comma-separated domain ids to keep, or NULL for all */
    int target_domain;        /* -1: none */
    float target_weight;      /* repeats of each target-domain sample (>= 1) */
    int balance;              /* classify: class-balanced oversampling */
    int split;                /* ms_split (loader.h): only samples of this split count (SPLIT_ALL: all) */
    const int8_t *in_val;     /* (N) labeled_split's assignment, for SPLIT_TRAIN / SPLIT_VAL */
} ms_labeled_sel;

typedef struct {
    long long n_train, n_val; /* selected samples on each side */
    int n_strata;             /* strata that hold samples */
} ms_split_info;

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

/* Validation samples of an exact split of n: round(f n), at least 1 when
 * n >= 2 and never all n; 0 when n < 2 or f is 0. */
long long labeled_val_count(long long n, float val_fraction);

/* The exact, stratified train/validation split of the samples a selection
 * can use (labeled ones for classify, all for segment; --domains applied):
 * labeled_val_count(n, f) of them go to validation, shared over the strata
 * (the class for classify; for segment, whether the mask has a foreground
 * pixel) by largest remainder, and within a stratum by a hash of (seed,
 * index), so the split depends only on the corpus, the seed and f (not on
 * ranks or threads). *in_val (N, malloc'd): 1 validation, 0 training, -1 not
 * selected. Pass it as sel->in_val to labeled_repeat. */
int labeled_split(ms_corpus *c, const ms_labeled_sel *sel, float val_fraction, int8_t **in_val, ms_split_info *info);

/* Loss class weights (K): "auto" = inverse frequency over the selected
 * samples, n / (K n_k), from labels (classify) or mask pixels (segment);
 * classes never seen get 0. Otherwise a comma-separated list of K
 * non-negative numbers. */
int labeled_class_weights(ms_corpus *c, const uint16_t *repeat, int segment, int K, const char *spec, float *w);

#endif
