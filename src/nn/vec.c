/* vec — shared float kernels of the layer files (see vec.h). */
#include "vec.h"

void vec_add_into(float *restrict dst, const float *restrict src, size_t n)
{
    VEC_FOR(i, n, dst[i] += src[i]);
}

double vec_sum(const float *restrict x, size_t n)
{
    double total = 0;
    size_t i = 0;
    while (i < n) {
        size_t end = n - i > SUM_BLOCK ? i + SUM_BLOCK : n;
        float lane[VW] = {0};
        for (; i + VW <= end; i += VW)
            for (int j = 0; j < VW; j++) lane[j] += x[i + j];
        float part = 0;
        for (; i < end; i++) part += x[i];
        for (int j = 0; j < VW; j++) part += lane[j];
        total += part;
    }
    return total;
}
