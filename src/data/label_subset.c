/* label_subset — stratified, seeded labeled subsets (see include/medssl/label_subset.h). */
#include "medssl/label_subset.h"
#include "medssl/common.h"
#include "medssl/rng.h"

#include <math.h>
#include <stdlib.h>

void labels_keep_stratified(int32_t *labels, int N, int n_classes, int labeled_per_class,
                            double labeled_fraction, uint64_t seed)
{
    int *idx = ms_malloc((size_t)N * sizeof(int));
    for (int c = 0; c < n_classes; c++) {
        int n = 0;
        for (int i = 0; i < N; i++)
            if (labels[i] == c) idx[n++] = i;
        /* Fisher-Yates with a stream keyed by (seed, class) */
        ms_rng r = rng_stream(rng_key(seed, 0, (uint64_t)c, RNG_SPLIT));
        for (int i = n - 1; i > 0; i--) {
            int j = (int)rng_below(&r, (uint32_t)(i + 1));
            int t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
        }
        int keep = labeled_per_class;
        if (keep < 0) {
            keep = (int)lround(labeled_fraction * n);
            if (keep == 0 && labeled_fraction > 0 && n > 0) keep = 1;
        }
        if (keep > n) keep = n;
        for (int i = keep; i < n; i++) labels[idx[i]] = -1;
    }
    free(idx);
}
