/* corpus — the medssl-corpus HDF5 file (format version 1): open and validate,
 * read ranges of samples, and write new corpora atomically.
 *
 * Layout (DESIGN.md, the contract):
 *   /images   uint8 or float32 (N, C, H, W), chunked along N
 *   /labels   int32 (N), optional; -1 = unlabeled
 *   /masks    uint8 (N, H, W), optional; 255 = ignore
 *   /domains  int32 (N), optional
 *   root attributes: format = "medssl-corpus", version = 1, optional
 *   class_names (one string, names separated by ','; fixed-length, or
 *   variable-length when too long for HDF5's 64 KiB attribute header)
 *
 * corpus_open validates everything that can be checked without reading the
 * pixels (attributes, ranks, dtypes, shapes, lengths, label and domain
 * ranges); pixel values (NaN/Inf in float images) are checked as they are
 * read, and `medssl inspect` reads them all. uint8 images are returned as
 * float in [0, 1] (x / 255); float32 images as stored.
 *
 * corpus_open takes the ranks that open the file together (an ms_dist:
 * the world, or an ensemble group), or NULL for this process alone. Over
 * more than one rank it opens the file with parallel HDF5's MPI-IO driver
 * (DESIGN.md) on d->comm when MPI provides MPI_THREAD_MULTIPLE (the loader
 * reads from a background thread while the main thread runs collectives);
 * otherwise, with NULL and without MPI, with the default sec2 driver, saying
 * why on rank 0 when MPI-IO was passed over. The environment variable
 * MEDSSL_HDF5_DRIVER=mpio|sec2 overrides the choice when MPI is running and
 * d is given (give every rank the same value: mpirun -x MEDSSL_HDF5_DRIVER
 * across nodes). With MPI-IO, corpus_open and corpus_close are collective
 * over d's ranks: each must open and close the same corpora in the same
 * order. Reads are independent (each rank reads its own rows, from any
 * thread, under h5_lock: medssl/h5util.h).
 *
 * A writer creates `<path>.tmp.<pid>` next to the final path and renames it
 * over `path` only in corpus_writer_finish, after a flush and fsync: a crash
 * or a bad input never leaves a file that looks complete.
 *
 * Dimension legend: N samples, C channels, H, W image size.
 */
#ifndef MEDSSL_CORPUS_H
#define MEDSSL_CORPUS_H

#include <stddef.h>
#include <stdint.h>

#include <hdf5.h>

#include "medssl/dist.h"

#define CORPUS_FORMAT "medssl-corpus"
#define CORPUS_VERSION 1
#define CORPUS_MAX_SIDE 16384
#define CORPUS_MAX_CHANNELS 64
#define CORPUS_MAX_CLASSES 4096
#define CORPUS_MAX_NAMES_BYTES (1 << 20) /* class_names with its NUL: 1 MiB */
#define CORPUS_PATH_MAX 1024

typedef enum { DTYPE_U8, DTYPE_F32, DTYPE__COUNT } ms_dtype;

typedef struct {
    char path[CORPUS_PATH_MAX];
    hid_t file, images, labels, masks, domains; /* H5I_INVALID_HID when absent */
    hid_t xfer;               /* dataset transfer list of every read (independent under MPI-IO) */
    char driver[8];           /* "sec2" or "mpio" */
    const ms_dist *dist;      /* the ranks it was opened over (the caller's; NULL: this process alone) */
    long long N;
    int C, H, W;
    ms_dtype dtype;
    long long chunk_n;        /* images per HDF5 chunk along N (a ~1 MiB block when contiguous) */
    int chunked;              /* /images is chunked (else contiguous) */
    int n_classes;            /* from class_names, else max label + 1 (0 if no labels) */
    char *class_names;        /* comma-separated, "" if absent; at most CORPUS_MAX_CLASSES names and
                               * CORPUS_MAX_NAMES_BYTES bytes; owned (corpus_close frees it) */
} ms_corpus;

/* Opens and validates `path` over the ranks of d (NULL: this process alone;
 * d must outlive c); MS_ERR_INPUT with a message naming the file and dataset
 * on anything invalid (or an unknown MEDSSL_HDF5_DRIVER value). Collective
 * under MPI-IO (see above), as is corpus_close. */
int corpus_open(ms_corpus *c, const char *path, const ms_dist *d);
void corpus_close(ms_corpus *c);
/* corpus_open for a companion of `like` (a validation or test split), over
 * like's ranks (like->dist): its images must have like's channels and size,
 * else MS_ERR_INPUT naming both files, and c is left closed. */
int corpus_open_like(ms_corpus *c, const char *path, const ms_corpus *like);
int corpus_has_labels(const ms_corpus *c);
int corpus_has_masks(const ms_corpus *c);
int corpus_has_domains(const ms_corpus *c);
const char *corpus_dtype_name(ms_dtype d);

/* Reads samples [first, first+count): images (count,C,H,W) as float; labels,
 * masks (count,H,W), domains may be NULL (or must be NULL when absent).
 * Non-finite float pixels are an input error naming the sample index. */
int corpus_read(ms_corpus *c, long long first, long long count, float *images, int32_t *labels,
                uint8_t *masks, int32_t *domains);
/* The same for the samples rows[0..count) (strictly increasing), packed in
 * that order: one read per stretch of consecutive rows, so the rows between
 * them are not read (a compressed chunk is still decompressed once: /images
 * and /masks get a chunk cache that holds one chunk, up to 64 MiB). */
int corpus_read_rows(ms_corpus *c, const int64_t *rows, long long count, float *images, int32_t *labels,
                     uint8_t *masks, int32_t *domains);
/* All of /labels (N) or /domains (N) into the caller's array, read in blocks
 * (bounded HDF5 memory for any N). MS_ERR_INPUT naming the file when the
 * corpus has no such dataset. */
int corpus_read_labels(ms_corpus *c, int32_t *labels);
int corpus_read_domains(ms_corpus *c, int32_t *domains);

typedef struct {
    char path[CORPUS_PATH_MAX], tmp_path[CORPUS_PATH_MAX + 32];
    hid_t file, images, labels, masks, domains;
    long long N, chunk_n;
    int C, H, W;
    ms_dtype dtype;
    int n_classes;            /* labels must be < n_classes when > 0 */
} ms_corpus_writer;

enum { CORPUS_WITH_LABELS = 1, CORPUS_WITH_MASKS = 2, CORPUS_WITH_DOMAINS = 4 };

/* Starts a new corpus at `path` (written to a temporary file until finish).
 * flags: CORPUS_WITH_*; gzip: 0 (none) to 9. class_names may be NULL. */
int corpus_writer_create(ms_corpus_writer *w, const char *path, int C, int H, int W, ms_dtype dtype,
                         unsigned flags, int gzip, const char *class_names);
/* Appends count samples: images (count,C,H,W) as uint8 or float32 per dtype;
 * labels/masks/domains as declared at create (NULL when not). */
int corpus_writer_append(ms_corpus_writer *w, long long count, const void *images,
                         const int32_t *labels, const uint8_t *masks, const int32_t *domains);
/* Writes the attributes, flushes, fsyncs and renames into place. */
int corpus_writer_finish(ms_corpus_writer *w);
/* Removes the temporary file (after an error). */
void corpus_writer_abort(ms_corpus_writer *w);

#endif
