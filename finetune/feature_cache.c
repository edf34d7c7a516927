/* feature_cache — per-sample encoder features (see include/medssl/feature_cache.h).
 * Open addressing with linear probing; the table doubles at half load. */
#include "medssl/feature_cache.h"
#include "medssl/common.h"

#include <stdlib.h>
#include <string.h>

void feature_cache_init(ms_feature_cache *c, int F)
{
    memset(c, 0, sizeof *c);
    c->F = F;
}

void feature_cache_free(ms_feature_cache *c)
{
    free(c->key);
    free(c->row);
    free(c->feat);
    memset(c, 0, sizeof *c);
}

static size_t slot_of(const ms_feature_cache *c, int64_t index)
{
    uint64_t h = (uint64_t)index * 0x9E3779B97F4A7C15ull; /* Fibonacci hashing */
    size_t s = (size_t)(h >> 17) & (c->cap - 1);
    while (c->key[s] != -1 && c->key[s] != index) s = (s + 1) & (c->cap - 1);
    return s;
}

static void grow_table(ms_feature_cache *c)
{
    ms_feature_cache old = *c;
    c->cap = old.cap ? 2 * old.cap : 1024;
    c->key = ms_malloc(c->cap * sizeof *c->key);
    c->row = ms_malloc(c->cap * sizeof *c->row);
    for (size_t s = 0; s < c->cap; s++) c->key[s] = -1;
    for (size_t s = 0; s < old.cap; s++) {
        if (old.key[s] == -1) continue;
        size_t t = slot_of(c, old.key[s]);
        c->key[t] = old.key[s];
        c->row[t] = old.row[s];
    }
    free(old.key);
    free(old.row);
}

int feature_cache_has(const ms_feature_cache *c, int64_t index)
{
    return c->cap > 0 && c->key[slot_of(c, index)] == index;
}

int feature_cache_gather(const ms_feature_cache *c, const int64_t *index, int n, float *out)
{
    for (int i = 0; i < n; i++)
        if (!feature_cache_has(c, index[i])) return 0;
    const size_t F = (size_t)c->F;
    for (int i = 0; i < n; i++) memcpy(out + i * F, c->feat + c->row[slot_of(c, index[i])] * F, F * sizeof(float));
    return 1;
}

void feature_cache_store(ms_feature_cache *c, const int64_t *index, int n, const float *feat)
{
    const size_t F = (size_t)c->F;
    for (int i = 0; i < n; i++) {
        if (2 * (c->rows + 1) > c->cap) grow_table(c);
        size_t s = slot_of(c, index[i]);
        if (c->key[s] == index[i]) continue;
        if (c->rows == c->rows_cap) {
            c->rows_cap = c->rows_cap ? 2 * c->rows_cap : 1024;
            c->feat = ms_realloc(c->feat, c->rows_cap * F * sizeof(float));
        }
        c->key[s] = index[i];
        c->row[s] = c->rows;
        memcpy(c->feat + c->rows * F, feat + i * F, F * sizeof(float));
        c->rows++;
    }
}
