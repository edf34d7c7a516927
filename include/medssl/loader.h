/* loader — the sharded, shuffled stream of training samples of one rank.
 *
 * Every epoch, the corpus's HDF5 chunks are put in an order drawn from
 * (seed, epoch); the selected samples (a train or validation split, or all)
 * are read in that order and the sequence is cut into `size` contiguous
 * shares whose lengths differ by at most one: rank r reads only its share,
 * whole runs of a chunk at a time, so every selected sample is seen exactly
 * once per epoch across the ranks, for any N and any rank count. Samples pass
 * through a bounded shuffle buffer, so memory per rank is bounded by the
 * buffer (and one chunk), not by the corpus.
 *
 * Every rank takes the same number of steps per epoch (loader_steps); a
 * rank whose share is one sample shorter, or ends early, gets a smaller (even
 * empty) last batch — never a dropped or repeated sample. Batches carry the
 * global sample index of each image, so augmentation keyed by
 * (seed, epoch, index) is independent of the rank count.
 *
 * Split: with val_fraction f > 0, a sample is in the validation split when a
 * hash of (seed, index) falls below f (stable across epochs and rank counts).
 *
 * Dimension legend: B batch, C channels, H, W image size.
 */
#ifndef MEDSSL_LOADER_H
#define MEDSSL_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "medssl/augment.h"
#include "medssl/corpus.h"

typedef enum { SPLIT_ALL, SPLIT_TRAIN, SPLIT_VAL, SPLIT__COUNT } ms_split;

typedef struct {
    int rank, size;           /* this rank's place among the ranks */
    uint64_t seed;
    int batch;                /* samples per batch on this rank */
    long long buffer;         /* shuffle buffer capacity in samples (>= 1) */
    ms_split split;
    float val_fraction;       /* for SPLIT_TRAIN / SPLIT_VAL */
    int shuffle;              /* 0: read in corpus order, no chunk permutation, no buffer shuffling */
    const ms_augment *augment; /* NULL or empty: none */
    int want_labels, want_masks, want_domains;
} ms_loader_cfg;

typedef struct {
    int n;                    /* samples in this batch (0..batch) */
    float *images;            /* (batch, C, H, W), first n valid */
    int32_t *labels;          /* (batch) or NULL */
    uint8_t *masks;           /* (batch, H, W) or NULL */
    int32_t *domains;         /* (batch) or NULL */
    int64_t *index;           /* (batch) global sample indices */
} ms_batch;

/* A run of consecutive corpus samples [first, first+count). */
typedef struct {
    long long first, count;
} ms_run;

typedef struct ms_loader ms_loader;

/* Whether sample `index` is in `split` (pure function). */
int loader_in_split(uint64_t seed, float val_fraction, ms_split split, long long index);

/* This rank's runs for an epoch, in reading order (pure function of its
 * arguments; *runs is malloc'd). Returns the number of selected samples of
 * this rank via *n_samples and of all ranks via *n_total. */
int loader_plan(long long N, long long chunk_n, const ms_loader_cfg *cfg, long epoch, ms_run **runs,
                long long *n_runs, long long *n_samples, long long *n_total);

int loader_open(ms_loader **L, ms_corpus *c, const ms_loader_cfg *cfg);
void loader_close(ms_loader *L);
/* Prepares epoch `epoch`; returns MS_ERR_INPUT if the split is empty. */
int loader_start_epoch(ms_loader *L, long epoch);
/* Steps in the current epoch: the same on every rank. */
long long loader_steps(const ms_loader *L);
/* Samples this rank yields in the current epoch. */
long long loader_epoch_samples(const ms_loader *L);
/* The next batch (valid until the next call). Errors (unreadable chunk,
 * non-finite pixel) name the file and the sample. */
int loader_next(ms_loader *L, ms_batch *out);

#endif
