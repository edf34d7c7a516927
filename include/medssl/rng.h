/* rng — counter-based random numbers.
 *
 * Every random draw in medssl is a pure function of a key and a counter, so a
 * sample's augmentation, a dropout mask or a shuffle does not depend on how
 * many ranks there are, on thread timing, or on where a run was resumed.
 * Keys are built from (seed, epoch, global sample index, purpose) with
 * rng_key(); a stream (ms_rng) is a key plus a running counter, small enough to
 * store in a checkpoint. There is no global RNG state anywhere.
 */
#ifndef MEDSSL_RNG_H
#define MEDSSL_RNG_H

#include <stdint.h>

/* What a draw is for: part of the key, so streams for different purposes
 * never overlap even with equal (seed, epoch, index). */
typedef enum {
    RNG_INIT = 1,     /* weight initialisation */
    RNG_SHUFFLE,      /* epoch plans, shuffle buffers */
    RNG_AUGMENT,      /* data augmentation */
    RNG_PRETEXT,      /* rotations, jigsaw permutations, masks */
    RNG_DROPOUT,      /* dropout masks */
    RNG_DATA,         /* synthetic data in tests and bench */
    RNG_SPLIT,        /* train/val and labeled-subset splits */
} ms_rng_purpose;

typedef struct {
    uint64_t key;
    uint64_t ctr;
} ms_rng;

uint64_t rng_mix(uint64_t x); /* a bijective 64-bit finaliser (splitmix64) */
uint64_t rng_key(uint64_t seed, uint64_t epoch, uint64_t index, ms_rng_purpose purpose);
/* The value at position `ctr` of stream `key`: a pure function. */
uint64_t rng_at(uint64_t key, uint64_t ctr);
/* Uniform float in [0, 1) at position ctr (24 random bits). */
float rng_uniform_at(uint64_t key, uint64_t ctr);

ms_rng rng_stream(uint64_t key);
uint64_t rng_u64(ms_rng *r);
uint32_t rng_below(ms_rng *r, uint32_t n); /* uniform in [0, n), n > 0 */
float rng_uniform(ms_rng *r);              /* [0, 1) */
float rng_normal(ms_rng *r);               /* standard normal (Box-Muller) */

#endif
