/* features_file — the file `medssl features` writes and `medssl select` reads
 * (format "medssl-features", version 1):
 *
 *   /features  float32 (N, F)  pooled encoder-stage features, corpus order
 *   /labels    int32 (N)       class index, -1 = unlabeled (all -1 when the corpus has no labels)
 *   /domains   int32 (N)       only when the corpus has /domains
 *   root attrs format, version, model (the checkpoint's path), stage, model_spec
 *
 * Written atomically (medssl/atomic.h); read with every shape and dtype
 * checked at the door.
 *
 * Dimension legend: N samples, F features.
 */
#ifndef MEDSSL_FEATURES_FILE_H
#define MEDSSL_FEATURES_FILE_H

#include <stdint.h>

#define FEATURES_FORMAT "medssl-features"
#define FEATURES_VERSION 1

typedef struct {
    long long N;
    int F;
    float *features;    /* (N, F) */
    int32_t *labels;    /* (N) */
    int32_t *domains;   /* (N) or NULL */
    const char *model;  /* attributes (write); read: not filled */
    const char *model_spec;
    int stage;
} ms_features_table;

/* Writes t to path (tmp + rename). MS_ERR_RUNTIME naming path on failure. */
int features_file_write(const char *path, const ms_features_table *t);
/* Reads path into t (features, labels and domains allocated; free with
 * features_table_free). MS_ERR_INPUT naming the file and dataset when
 * something is missing, of another type or shape. */
int features_file_read(const char *path, ms_features_table *t);
void features_table_free(ms_features_table *t);

#endif
