/* corpus_internal — helpers the corpus reader (corpus.c) and writer
 * (corpus_write.c) share; not part of the public API. */
#ifndef MEDSSL_CORPUS_INTERNAL_H
#define MEDSSL_CORPUS_INTERNAL_H

#include <hdf5.h>

/* Switches HDF5's own error-stack printing off (each failure becomes one
 * message of ours). Call with h5_lock() held. */
void h5_quiet(void);
/* Closes a dataset handle if open and marks it closed. */
void h5_close_dset(hid_t *d);
/* Number of names in a comma-separated list ("" has none). */
int corpus_count_names(const char *csv);

#endif
