/* feature_cache — encoder features kept per sample, so that a frozen encoder
 * runs once per sample and later epochs train the head alone
 * (`medssl finetune --strategy feature-extractor` without augmentation).
 *
 * A map from a corpus sample index to its F floats, grown as samples arrive.
 * Only valid while the features of a sample cannot change: frozen encoder,
 * BN in eval mode, no augmentation before it.
 */
#ifndef MEDSSL_FEATURE_CACHE_H
#define MEDSSL_FEATURE_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int F;              /* floats per sample */
    size_t cap;         /* hash slots (a power of two, 0 before the first store) */
    int64_t *key;       /* (cap) sample index, -1 = empty */
    size_t *row;        /* (cap) row of that sample in feat */
    float *feat;        /* (rows_cap, F) */
    size_t rows, rows_cap;
} ms_feature_cache;

void feature_cache_init(ms_feature_cache *c, int F);
void feature_cache_free(ms_feature_cache *c);
/* Whether sample `index` is cached. */
int feature_cache_has(const ms_feature_cache *c, int64_t index);
/* Copies the features of samples index[0..n) into out (n, F) if every one of
 * them is cached; returns 1 then, else 0 (out untouched). */
int feature_cache_gather(const ms_feature_cache *c, const int64_t *index, int n, float *out);
/* Stores feat (n, F) under index[0..n) (samples already cached keep theirs). */
void feature_cache_store(ms_feature_cache *c, const int64_t *index, int n, const float *feat);

#endif
