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
 * Repeat counts (class-balanced or target-domain oversampling, bagging
 * resamples, only the labeled samples of a mostly unlabeled corpus): with
 * cfg.repeat, sample i appears repeat[i] times per epoch (0 = never), on top
 * of the split. The epoch's sequence is the chunk-ordered sequence of the
 * selected samples with each one repeated repeat[i] times in a row (copies
 * 0..repeat[i]-1); it is cut into shares exactly as above, so every copy is
 * seen exactly once per epoch across the ranks (a sample's copies may be
 * split between two neighbouring ranks), every rank takes the same number of
 * steps, and the shuffle buffer spreads the copies over the batches. Each
 * batch row carries its copy number; the augmentation key of copy k > 0 is
 * loader_copy_key(rng_key(seed, epoch, index, RNG_AUGMENT), k), so copies
 * are augmented differently, and copy 0 exactly as without repeat counts.
 * Each rank reads each chunk at most once per epoch (one run per chunk), and
 * a chunk without selected samples not at all; when under half of a run is
 * selected, only the selected rows are read (corpus_read_rows), so a 1%
 * selection reads about 1% of the corpus.
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
    /* NULL: every sample of the split once per epoch. Else (N) copies of
     * sample i per epoch, 0 = excluded; read by the loader (not copied) until
     * loader_close, so keep it alive and unchanged while the loader is open. */
    const uint16_t *repeat;
} ms_loader_cfg;

typedef struct {
    int n;                    /* samples in this batch (0..batch) */
    float *images;            /* (batch, C, H, W), first n valid */
    int32_t *labels;          /* (batch) or NULL */
    uint8_t *masks;           /* (batch, H, W) or NULL */
    int32_t *domains;         /* (batch) or NULL */
    int64_t *index;           /* (batch) global sample indices */
    int32_t *copy;            /* (batch) copy number of each row this epoch, 0..repeat[index]-1 (0 without repeats) */
} ms_batch;

/* A run of one rank's plan: corpus samples [first, first+count) of one chunk,
 * read together, yielding n sample copies: the selected samples of the range
 * in order, each repeat[i] times (once without repeat counts), starting at
 * copy copy0 of the first one (copy0 > 0 only where a share boundary cuts
 * through a sample's copies) and stopping after n copies. */
typedef struct {
    long long first, count;
    long long copy0, n;
} ms_run;

typedef struct ms_loader ms_loader;

/* The shuffle buffer capacity in samples for at most `images` samples and
 * at most `mib` MiB per rank (what one buffered sample of corpus c takes:
 * its float image, mask and bookkeeping), at least 1. A 512x512 float image
 * is 1 MiB, so 4096 of them would be 4 GiB per rank: the MiB bound keeps the
 * buffer within a common per-CPU memory limit whatever the image size. */
long long loader_buffer_capacity(const ms_corpus *c, long long images, double mib, int want_masks);

/* Whether sample `index` is in `split` (pure function). */
int loader_in_split(uint64_t seed, float val_fraction, ms_split split, long long index);

/* Copies of sample `index` per epoch under cfg: repeat[index] (or 1) when it
 * is in the split, else 0 (pure function). */
long long loader_weight(const ms_loader_cfg *cfg, long long index);

/* The key of copy `copy` of a sample, from the sample's key (e.g.
 * rng_key(seed, epoch, index, RNG_AUGMENT)): `key` itself for copy 0, so
 * runs without repeat counts draw exactly as before; distinct keys for the
 * other copies. Pretext tasks can key their draws the same way. */
uint64_t loader_copy_key(uint64_t key, long long copy);

/* Repeat-count helpers. Both overwrite repeat[0..N) and look only at
 * labels (N): to restrict them to a subset (the training split, some
 * domains), set labels[i] = -1 outside it first, e.g.
 *   if (!loader_in_split(seed, f, SPLIT_TRAIN, i)) labels[i] = -1;
 * which makes the balanced totals exact within the split. To combine with
 * other weights (target-domain oversampling), multiply the arrays after.
 *
 * loader_repeat_labeled: repeat[i] = 1 where labels[i] >= 0, else 0. Returns
 * the number of labeled samples. */
long long loader_repeat_labeled(const int32_t *labels, long long N, uint16_t *repeat);
/* Class-balanced oversampling among the labeled samples: with n_c samples of
 * class c (0 <= c < K) and T = max_c n_c, each sample of class c gets
 * floor(T / n_c) copies and the T mod n_c of them with the smallest
 * rng_at(rng_key(seed, 0, LOADER_BALANCE_STREAM, RNG_SPLIT), i) (ties: the
 * smaller index) one more, so every class present totals exactly T per
 * epoch; label -1 gets 0 (absent classes stay absent). MS_ERR_INPUT, with
 * repeat all 0, if a label is outside [-1, K) or a count would exceed
 * 65535. */
#define LOADER_BALANCE_STREAM 0x62616c616e6365ull /* "balance" */
int loader_repeat_balance(const int32_t *labels, long long N, int K, uint64_t seed, uint16_t *repeat);

/* This rank's runs for an epoch, in reading order (pure function of its
 * arguments; *runs is malloc'd). Returns the number of sample copies of this
 * rank via *n_samples and of all ranks via *n_total. Runs never cross a
 * chunk, and this rank reads each chunk at most once per epoch. */
int loader_plan(long long N, long long chunk_n, const ms_loader_cfg *cfg, long epoch, ms_run **runs,
                long long *n_runs, long long *n_samples, long long *n_total);

int loader_open(ms_loader **L, ms_corpus *c, const ms_loader_cfg *cfg);
void loader_close(ms_loader *L);
/* Prepares epoch `epoch`; returns MS_ERR_INPUT if the split is empty. */
int loader_start_epoch(ms_loader *L, long epoch);
/* Steps in the current epoch: the same on every rank. */
long long loader_steps(const ms_loader *L);
/* Samples (copies) this rank yields in the current epoch. */
long long loader_epoch_samples(const ms_loader *L);
/* The next batch (valid until the next call). Errors (unreadable chunk,
 * non-finite pixel) name the file and the sample. */
int loader_next(ms_loader *L, ms_batch *out);

#endif
