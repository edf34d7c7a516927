/* rng — counter-based random numbers (see include/medssl/rng.h). */
#include "medssl/rng.h"

#include <math.h>

uint64_t rng_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

uint64_t rng_key(uint64_t seed, uint64_t epoch, uint64_t index, ms_rng_purpose purpose)
{
    uint64_t k = rng_mix(seed ^ 0x6d656473736c0001ull);
    k = rng_mix(k ^ epoch);
    k = rng_mix(k ^ index);
    return rng_mix(k ^ (uint64_t)purpose);
}

uint64_t rng_at(uint64_t key, uint64_t ctr)
{
    return rng_mix(key ^ rng_mix(ctr));
}

float rng_uniform_at(uint64_t key, uint64_t ctr)
{
    return (float)(rng_at(key, ctr) >> 40) * (1.0f / 16777216.0f);
}

ms_rng rng_stream(uint64_t key)
{
    ms_rng r = { key, 0 };
    return r;
}

uint64_t rng_u64(ms_rng *r) { return rng_at(r->key, r->ctr++); }

uint32_t rng_below(ms_rng *r, uint32_t n)
{
    /* Lemire's multiply-shift; the bias for n << 2^32 is far below float noise. */
    return (uint32_t)(((rng_u64(r) >> 32) * (uint64_t)n) >> 32);
}

float rng_uniform(ms_rng *r) { return (float)(rng_u64(r) >> 40) * (1.0f / 16777216.0f); }

float rng_normal(ms_rng *r)
{
    double u1 = ((double)(rng_u64(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    double u2 = (double)(rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
