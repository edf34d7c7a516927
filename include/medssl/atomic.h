/* atomic — an output file that appears whole or not at all.
 *
 * It is written under a temporary name beside its final one,
 * "<path>.tmp.<pid>" (registered with ms_temp_register, so running out of
 * memory removes it too), then flushed, fsynced, renamed over `path` and the
 * folder fsynced: a reader, a crash or a full disk never sees half a file, and
 * a failure leaves `path` as it was (an earlier version stays). Used for
 * checkpoints, corpora, PNGs, metrics.json, probabilities and metrics.jsonl
 * rewrites.
 *
 * With stdio:
 *     ms_atomic_file a;
 *     if ((rc = atomic_open(&a, path))) return rc;
 *     fprintf(a.f, ...);
 *     return atomic_commit(&a);            // or atomic_abort(&a) to drop it
 * With another writer (HDF5): atomic_tmp_name, write that file, then
 * atomic_publish (or atomic_discard).
 */
#ifndef MEDSSL_ATOMIC_H
#define MEDSSL_ATOMIC_H

#include <stddef.h>
#include <stdio.h>

enum { ATOMIC_PATH_MAX = 4096 };

/* "<path>.tmp.<pid>" into tmp, registered for removal; MS_ERR_INPUT when too long. */
int atomic_tmp_name(const char *path, char *tmp, size_t cap);
/* fsync tmp, rename it over path, fsync the folder; on failure tmp is removed
 * and path untouched. The message names path. */
int atomic_publish(const char *tmp, const char *path);
/* Removes tmp (a write that failed or is not wanted). */
void atomic_discard(const char *tmp);

typedef struct {
    FILE *f;
    char path[ATOMIC_PATH_MAX], tmp[ATOMIC_PATH_MAX + 32];
} ms_atomic_file;

int atomic_open(ms_atomic_file *a, const char *path);
/* Flush, fsync, close, publish. A write error met by stdio on the way fails it. */
int atomic_commit(ms_atomic_file *a);
void atomic_abort(ms_atomic_file *a);

#endif
