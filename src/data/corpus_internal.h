/* corpus_internal — what the corpus reader (corpus.c) and writer
 * (corpus_write.c) share beyond the HDF5 helpers (medssl/h5util.h); not part
 * of the public API. */
#ifndef MEDSSL_CORPUS_INTERNAL_H
#define MEDSSL_CORPUS_INTERNAL_H

/* Number of names in a comma-separated list ("" has none). */
int corpus_count_names(const char *csv);

#endif
