/* corpus — open/validate and read medssl-corpus HDF5 files (see
 * include/medssl/corpus.h); writing is in corpus_write.c.
 *
 * Dimension legend: N samples, C channels, H, W image size.
 * Every HDF5 call is checked; HDF5's own error stack printing is switched off
 * and each failure becomes one message naming the file and dataset.
 * Opened over more than one rank (corpus_open's ms_dist) with
 * MPI_THREAD_MULTIPLE, files use the MPI-IO driver on those ranks' communicator;
 * every read uses c->xfer (independent transfers).
 */
#include "medssl/corpus.h"
#include "medssl/common.h"
#include "medssl/dist.h"
#include "medssl/h5util.h"
#include "corpus_internal.h"

#include <errno.h>
#include <math.h>
#include <mpi.h> /* MPI_INFO_NULL for H5Pset_fapl_mpio: HDF5's MPI-IO driver takes the communicator itself */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const dtype_names[DTYPE__COUNT] = { "uint8", "float32" };
_Static_assert(sizeof dtype_names / sizeof *dtype_names == DTYPE__COUNT, "dtype names");

const char *corpus_dtype_name(ms_dtype d) { return dtype_names[d]; }

/* ---- reading ---------------------------------------------------------------------- */

/* Opens dataset `name` if present, checks rank, element class/size and the
 * leading dims; dims (rank) are filled. *d stays invalid when absent.
 * size 0 accepts any width, want_signed < 0 any sign. */
static int open_dataset(ms_corpus *c, const char *name, int rank, H5T_class_t cls, size_t size, int want_signed,
                        hsize_t *dims, int required, hid_t *d)
{
    *d = H5I_INVALID_HID;
    if (H5Lexists(c->file, name, H5P_DEFAULT) <= 0) {
        if (required) return MS_FAIL(MS_ERR_INPUT, "%s: missing dataset %s", c->path, name);
        return MS_OK;
    }
    *d = H5Dopen2(c->file, name, H5P_DEFAULT);
    if (*d < 0) return MS_FAIL(MS_ERR_INPUT, "%s: %s is not a dataset", c->path, name);
    hid_t sp = H5Dget_space(*d), t = H5Dget_type(*d);
    int got_rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    H5T_class_t got_cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    size_t got_size = t >= 0 ? H5Tget_size(t) : 0;
    int got_signed = got_cls == H5T_INTEGER ? H5Tget_sign(t) == H5T_SGN_2 : 0;
    int rc = MS_OK;
    if (got_rank != rank) {
        rc = MS_FAIL(MS_ERR_INPUT, "%s: %s has rank %d, expected %d", c->path, name, got_rank, rank);
    } else {
        H5Sget_simple_extent_dims(sp, dims, NULL);
        /* size 0 / want_signed < 0: any integer width or sign (read with conversion) */
        if (got_cls != cls || (size && got_size != size) || (cls == H5T_INTEGER && want_signed >= 0 && got_signed != want_signed))
            rc = MS_FAIL(MS_ERR_INPUT, "%s: %s has the wrong element type (%s%s of %zu bytes; expected %s%s of %zu)",
                         c->path, name, got_cls == H5T_INTEGER ? (got_signed ? "signed " : "unsigned ") : "",
                         got_cls == H5T_INTEGER ? "integer" : got_cls == H5T_FLOAT ? "float" : "non-numeric",
                         got_size, cls == H5T_INTEGER ? (want_signed > 0 ? "signed " : want_signed == 0 ? "unsigned " : "") : "",
                         cls == H5T_INTEGER ? "integer" : "float", size);
    }
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    return rc;
}

/* Reads v[0..count) = d[first..first+count) of a 1-D integer dataset as int32
 * (caller holds the HDF5 lock). */
static int read_int32_block(ms_corpus *c, hid_t d, const char *name, long long first, long long count, int32_t *v)
{
    hsize_t start = (hsize_t)first, cnt = (hsize_t)count;
    hid_t fs = H5Dget_space(d), ms = H5Screate_simple(1, &cnt, NULL);
    int ok = fs >= 0 && ms >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &cnt, NULL) >= 0 &&
             H5Dread(d, H5T_NATIVE_INT32, ms, fs, c->xfer, v) >= 0;
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    return ok ? MS_OK : MS_FAIL(MS_ERR_INPUT, "%s: cannot read %s (truncated file?)", c->path, name);
}

/* A filtered (compressed) chunked dataset whose chunk exceeds HDF5's default
 * 1 MiB chunk cache is reopened with a cache of one chunk (up to
 * CORPUS_MAX_CHUNK_CACHE): a gathered read of a few rows per chunk then
 * decompresses each chunk once, not once per stretch of rows (10x slower
 * measured for 4 MiB gzip chunks). Uncompressed chunks are read in place
 * without a cache. Caller holds the HDF5 lock. */
#define CORPUS_MAX_CHUNK_CACHE ((size_t)64 << 20)
static int fit_chunk_cache(ms_corpus *c, hid_t *d, const char *name)
{
    hid_t pl = H5Dget_create_plist(*d), t = H5Dget_type(*d);
    hsize_t cd[8] = { 0 };
    int chunk_rank = pl >= 0 && H5Pget_layout(pl) == H5D_CHUNKED ? H5Pget_chunk(pl, 8, cd) : 0;
    size_t bytes = t >= 0 ? H5Tget_size(t) : 0;
    for (int i = 0; i < chunk_rank; i++) bytes *= (size_t)cd[i];
    const int filtered = chunk_rank > 0 && H5Pget_nfilters(pl) > 0;
    if (t >= 0) H5Tclose(t);
    if (pl >= 0) H5Pclose(pl);
    if (!filtered || bytes <= ((size_t)1 << 20)) return MS_OK;
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    int ok = dapl >= 0 && H5Pset_chunk_cache(dapl, H5D_CHUNK_CACHE_NSLOTS_DEFAULT,
                                             bytes < CORPUS_MAX_CHUNK_CACHE ? bytes : CORPUS_MAX_CHUNK_CACHE,
                                             H5D_CHUNK_CACHE_W0_DEFAULT) >= 0;
    H5Dclose(*d);
    *d = ok ? H5Dopen2(c->file, name, dapl) : H5I_INVALID_HID;
    if (dapl >= 0) H5Pclose(dapl);
    return *d >= 0 ? MS_OK : MS_FAIL(MS_ERR_INPUT, "%s: cannot reopen %s", c->path, name);
}

/* The declared extent of dataset d must be stored in the file, or be small.
 * HDF5 returns the fill value for storage never written (an unallocated
 * contiguous dataset, a missing chunk), so a 30 KB file could declare 8.6e9
 * images and keep every validation pass busy for minutes. Data not stored is
 * accepted up to CORPUS_MAX_UNSTORED bytes (a small dataset created without
 * data reads as zeros); beyond that, a contiguous dataset must have storage as
 * large as its extent (and no larger than the file) and a chunked one every
 * chunk its extent spans. Compact datasets live in the object header. Caller
 * holds the HDF5 lock. */
#define CORPUS_MAX_UNSTORED ((double)(64 << 20))
static int check_stored(ms_corpus *c, hid_t d, const char *name)
{
    hid_t pl = H5Dget_create_plist(d), sp = H5Dget_space(d), t = H5Dget_type(d);
    hsize_t dims[4] = { 0 }, cdims[4] = { 0 };
    const int rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    if (rank >= 1 && rank <= 4) H5Sget_simple_extent_dims(sp, dims, NULL);
    const H5D_layout_t layout = pl >= 0 ? H5Pget_layout(pl) : H5D_LAYOUT_ERROR;
    const int chunk_rank = layout == H5D_CHUNKED ? H5Pget_chunk(pl, 4, cdims) : 0;
    double bytes = t >= 0 ? (double)H5Tget_size(t) : 0, expected_chunks = 1;
    for (int i = 0; i < rank && i < 4; i++) bytes *= (double)dims[i];
    int rc = MS_OK;
    if (rank < 1 || rank > 4 || layout == H5D_LAYOUT_ERROR) {
        rc = MS_FAIL(MS_ERR_INPUT, "%s: cannot read the layout of %s", c->path, name);
    } else if (layout == H5D_CONTIGUOUS) {
        hsize_t file_size = 0;
        const double stored = (double)H5Dget_storage_size(d);
        if (H5Fget_filesize(c->file, &file_size) < 0 || (stored < bytes && bytes > CORPUS_MAX_UNSTORED) ||
            stored > (double)file_size)
            rc = MS_FAIL(MS_ERR_INPUT, "%s: %s declares %.0f bytes but the file stores %.0f of them (file of %llu bytes): "
                         "truncated or never written", c->path, name, bytes, stored, (unsigned long long)file_size);
    } else if (layout == H5D_CHUNKED) {
        if (chunk_rank != rank) {
            rc = MS_FAIL(MS_ERR_INPUT, "%s: %s has a chunk rank of %d for a rank-%d dataset", c->path, name, chunk_rank, rank);
        } else {
            for (int i = 0; i < rank; i++) {
                if (cdims[i] == 0) cdims[i] = 1;
                expected_chunks *= (double)((dims[i] + cdims[i] - 1) / cdims[i]);
            }
            hsize_t n_chunks = 0;
            if (bytes > CORPUS_MAX_UNSTORED &&
                (H5Dget_num_chunks(d, sp, &n_chunks) < 0 || (double)n_chunks < expected_chunks))
                rc = MS_FAIL(MS_ERR_INPUT, "%s: %s declares %.0f chunks but the file stores %llu of them: truncated or "
                             "never written", c->path, name, expected_chunks, (unsigned long long)n_chunks);
        }
    } else if (layout != H5D_COMPACT) {
        rc = MS_FAIL(MS_ERR_INPUT, "%s: %s has an unsupported storage layout (virtual?)", c->path, name);
    }
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    if (pl >= 0) H5Pclose(pl);
    return rc;
}

int corpus_count_names(const char *csv)
{
    if (!*csv) return 0;
    int n = 1;
    for (const char *p = csv; *p; p++) n += *p == ',';
    return n;
}

/* Labels in [-1, K) (K from class_names when given), domains >= 0. Read in
 * blocks, so opening a corpus needs bounded memory whatever N is. */
#define CHECK_BLOCK 65536
static int check_labels_domains(ms_corpus *c)
{
    int rc = MS_OK;
    int32_t *v = ms_malloc(CHECK_BLOCK * sizeof(int32_t)), max = -1;
    for (long long b = 0; c->labels >= 0 && b < c->N && !rc; b += CHECK_BLOCK) {
        long long n = c->N - b < CHECK_BLOCK ? c->N - b : CHECK_BLOCK;
        if ((rc = read_int32_block(c, c->labels, "/labels", b, n, v))) break;
        for (long long i = 0; i < n && !rc; i++) {
            if (v[i] < -1 || (c->n_classes > 0 && v[i] >= c->n_classes))
                rc = MS_FAIL(MS_ERR_INPUT, "%s: /labels[%lld] = %d is out of range (expected -1 or 0..%d)", c->path,
                             b + i, v[i], (c->n_classes > 0 ? c->n_classes : CORPUS_MAX_CLASSES) - 1);
            else if (v[i] > max) max = v[i];
        }
    }
    if (!rc && c->labels >= 0 && max >= CORPUS_MAX_CLASSES)
        rc = MS_FAIL(MS_ERR_INPUT, "%s: /labels has class %d, more than %d classes", c->path, max, CORPUS_MAX_CLASSES);
    if (!rc && c->labels >= 0 && c->n_classes == 0) c->n_classes = max + 1;
    for (long long b = 0; !rc && c->domains >= 0 && b < c->N; b += CHECK_BLOCK) {
        long long n = c->N - b < CHECK_BLOCK ? c->N - b : CHECK_BLOCK;
        if ((rc = read_int32_block(c, c->domains, "/domains", b, n, v))) break;
        for (long long i = 0; i < n && !rc; i++)
            if (v[i] < 0) rc = MS_FAIL(MS_ERR_INPUT, "%s: /domains[%lld] = %d is negative", c->path, b + i, v[i]);
    }
    free(v);
    return rc;
}

static int open_checked(ms_corpus *c)
{
    if (access(c->path, R_OK) != 0) return MS_FAIL(MS_ERR_INPUT, "%s: cannot read: %s", c->path, strerror(errno));
    if (H5Fis_hdf5(c->path) <= 0)
        return MS_FAIL(MS_ERR_INPUT, "%s: not an HDF5 file (or truncated/corrupt)", c->path);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    c->xfer = H5Pcreate(H5P_DATASET_XFER);
    if (fapl < 0 || c->xfer < 0) {
        if (fapl >= 0) H5Pclose(fapl);
        return MS_FAIL(MS_ERR_RUNTIME, "%s: cannot create HDF5 property lists", c->path);
    }
    int ok = 1;
    if (strcmp(c->driver, "mpio") == 0)
        ok = H5Pset_fapl_mpio(fapl, c->dist->comm, MPI_INFO_NULL) >= 0 &&
             H5Pset_dxpl_mpio(c->xfer, H5FD_MPIO_INDEPENDENT) >= 0;
    c->file = ok ? H5Fopen(c->path, H5F_ACC_RDONLY, fapl) : H5I_INVALID_HID;
    H5Pclose(fapl);
    if (!ok) return MS_FAIL(MS_ERR_RUNTIME, "%s: cannot set up the MPI-IO driver", c->path);
    if (c->file < 0) return MS_FAIL(MS_ERR_INPUT, "%s: cannot open as HDF5 (truncated or corrupt?)", c->path);

    /* root attributes: each one value of its class, strings of a bounded length */
    const h5_attr_where at = { c->path, "root attribute" };
    char format[64];
    long long version = 0;
    int has_format, has_version, rc;
    if ((rc = h5_attr_read_str(&at, c->file, "format", format, sizeof format, &has_format))) return rc;
    if (strcmp(format, CORPUS_FORMAT) != 0)
        return MS_FAIL(MS_ERR_INPUT, "%s: not a medssl corpus (root attribute format = \"%s\", expected \"%s\")",
                       c->path, has_format ? format : "(missing)", CORPUS_FORMAT);
    if ((rc = h5_attr_read_i64(&at, c->file, "version", &version, &has_version))) return rc;
    if (!has_version || version != CORPUS_VERSION)
        return MS_FAIL(MS_ERR_INPUT, "%s: corpus version %lld is not supported (expected %d)", c->path,
                       has_version ? version : -1LL, CORPUS_VERSION);
    int has_names;
    if ((rc = h5_attr_read_str_alloc(&at, c->file, "class_names", CORPUS_MAX_NAMES_BYTES - 1,
                                     "one string (names separated by ',')", &c->class_names, &has_names)))
        return rc;
    if (!c->class_names) c->class_names = ms_calloc(1, 1); /* "" */
    c->n_classes = corpus_count_names(c->class_names);
    if (c->n_classes > CORPUS_MAX_CLASSES)
        return MS_FAIL(MS_ERR_INPUT, "%s: root attribute class_names lists %d names, more than %d classes", c->path,
                       c->n_classes, CORPUS_MAX_CLASSES);

    /* /images: uint8 or float32 (N, C, H, W) */
    hsize_t dims[4] = { 0 };
    if (H5Lexists(c->file, "/images", H5P_DEFAULT) <= 0)
        return MS_FAIL(MS_ERR_INPUT, "%s: missing dataset /images", c->path);
    rc = open_dataset(c, "/images", 4, H5T_INTEGER, 1, 0, dims, 1, &c->images);
    c->dtype = DTYPE_U8;
    if (rc) {
        ms_clear_error();
        h5_close_dset(&c->images);
        rc = open_dataset(c, "/images", 4, H5T_FLOAT, 4, 0, dims, 1, &c->images);
        c->dtype = DTYPE_F32;
        if (rc == MS_ERR_INPUT && strstr(ms_last_error(), "element type"))
            return MS_FAIL(MS_ERR_INPUT, "%s: /images must be uint8 or float32", c->path);
        if (rc) return rc;
    }
    if (dims[0] < 1) return MS_FAIL(MS_ERR_INPUT, "%s: /images holds no images", c->path);
    /* e.g. (N, 28, 28, 1) from numpy: a last axis of 1 or 3 and a "channel" axis the size of an image side */
    if ((dims[3] == 1 || dims[3] == 3) && dims[1] >= 8 && dims[2] >= 8)
        return MS_FAIL(MS_ERR_INPUT, "%s: /images has shape (%llu, %llu, %llu, %llu), which looks like [N, H, W, C] "
                       "(channels last); medssl needs [N, C, H, W] (in numpy/h5py: images.transpose(0, 3, 1, 2))",
                       c->path, (unsigned long long)dims[0], (unsigned long long)dims[1], (unsigned long long)dims[2],
                       (unsigned long long)dims[3]);
    if (dims[1] < 1 || dims[1] > CORPUS_MAX_CHANNELS || dims[2] < 1 || dims[2] > CORPUS_MAX_SIDE || dims[3] < 1 ||
        dims[3] > CORPUS_MAX_SIDE)
        return MS_FAIL(MS_ERR_INPUT, "%s: /images has shape (%llu, %llu, %llu, %llu): C must be 1..%d and H, W 1..%d",
                       c->path, (unsigned long long)dims[0], (unsigned long long)dims[1], (unsigned long long)dims[2],
                       (unsigned long long)dims[3], CORPUS_MAX_CHANNELS, CORPUS_MAX_SIDE);
    c->N = (long long)dims[0];
    c->C = (int)dims[1];
    c->H = (int)dims[2];
    c->W = (int)dims[3];
    size_t image_bytes = (size_t)c->C * c->H * c->W * (c->dtype == DTYPE_U8 ? 1 : 4);
    hid_t pl = H5Dget_create_plist(c->images);
    hsize_t cdims[4] = { 0 };
    c->chunked = pl >= 0 && H5Pget_layout(pl) == H5D_CHUNKED && H5Pget_chunk(pl, 4, cdims) == 4 && cdims[0] > 0;
    if (c->chunked)
        c->chunk_n = (long long)cdims[0];
    else
        c->chunk_n = (long long)(image_bytes >= (1u << 20) ? 1 : (1u << 20) / image_bytes);
    if (pl >= 0) H5Pclose(pl);
    if ((rc = check_stored(c, c->images, "/images"))) return rc;
    if ((rc = fit_chunk_cache(c, &c->images, "/images"))) return rc;

    hsize_t d1[3];
    /* labels and domains: int32 in the contract; any integer type is read (h5py's
     * default int64 included) and range-checked below */
    if ((rc = open_dataset(c, "/labels", 1, H5T_INTEGER, 0, -1, d1, 0, &c->labels))) return rc;
    if (c->labels >= 0 && (long long)d1[0] != c->N)
        return MS_FAIL(MS_ERR_INPUT, "%s: /labels has %llu entries for %lld images", c->path, (unsigned long long)d1[0], c->N);
    if ((rc = open_dataset(c, "/domains", 1, H5T_INTEGER, 0, -1, d1, 0, &c->domains))) return rc;
    if (c->domains >= 0 && (long long)d1[0] != c->N)
        return MS_FAIL(MS_ERR_INPUT, "%s: /domains has %llu entries for %lld images", c->path, (unsigned long long)d1[0], c->N);
    if ((rc = open_dataset(c, "/masks", 3, H5T_INTEGER, 1, 0, d1, 0, &c->masks))) return rc;
    if (c->masks >= 0 && ((long long)d1[0] != c->N || (int)d1[1] != c->H || (int)d1[2] != c->W))
        return MS_FAIL(MS_ERR_INPUT, "%s: /masks has shape (%llu, %llu, %llu), expected (%lld, %d, %d)", c->path,
                       (unsigned long long)d1[0], (unsigned long long)d1[1], (unsigned long long)d1[2], c->N, c->H, c->W);
    if (c->labels >= 0 && (rc = check_stored(c, c->labels, "/labels"))) return rc;
    if (c->domains >= 0 && (rc = check_stored(c, c->domains, "/domains"))) return rc;
    if (c->masks >= 0 && (rc = check_stored(c, c->masks, "/masks"))) return rc;
    if (c->masks >= 0 && (rc = fit_chunk_cache(c, &c->masks, "/masks"))) return rc;
    return check_labels_domains(c);
}

/* The file driver of corpus_open ("mpio" or "sec2" into c->driver): MPI-IO
 * when MPI is running, d has more than one rank and MPI provides
 * MPI_THREAD_MULTIPLE, unless MEDSSL_HDF5_DRIVER says otherwise; never
 * without d. The file is then opened collectively over d->comm (the world,
 * or an ensemble group). The choice depends only on things equal on d's
 * ranks (the environment, the rank count, the thread level), so all ranks
 * make it alike. Rank 0 says why when MPI-IO is passed over or forced against
 * the thread level. */
static int choose_driver(ms_corpus *c, const ms_dist *d)
{
    const char *env = getenv("MEDSSL_HDF5_DRIVER");
    if (env && *env && strcmp(env, "mpio") != 0 && strcmp(env, "sec2") != 0 && strcmp(env, "auto") != 0)
        return MS_FAIL(MS_ERR_INPUT, "MEDSSL_HDF5_DRIVER=%s: expected mpio, sec2 or auto", env);
    const int level = d ? dist_thread_level() : -1, mpi = level >= 0;
    const int size = mpi ? d->size : 1, rank = mpi ? d->rank : 0;
    int mpio;
    if (env && strcmp(env, "sec2") == 0) {
        mpio = 0;
    } else if (env && strcmp(env, "mpio") == 0) {
        mpio = mpi;
        if (!mpi)
            fprintf(stderr, "medssl: %s: sec2 driver despite MEDSSL_HDF5_DRIVER=mpio: %s\n", c->path,
                    d ? "MPI is not running" : "opened by this process alone");
        else if (!dist_threads_call_mpi() && rank == 0)
            fprintf(stderr, "medssl: %s: MPI-IO driver (MEDSSL_HDF5_DRIVER=mpio) although MPI provides only the "
                            "%s thread level: reading from the loader's prefetch thread during training collectives "
                            "is unsafe\n",
                    c->path, dist_thread_level_name(level));
    } else {
        mpio = mpi && size > 1 && dist_threads_call_mpi();
        if (mpi && size > 1 && !mpio && rank == 0)
            fprintf(stderr, "medssl: %s: sec2 driver, not MPI-IO: MPI provides the %s thread level and the loader's "
                            "prefetch thread needs multiple (MEDSSL_HDF5_DRIVER=mpio|sec2 overrides)\n",
                    c->path, dist_thread_level_name(level));
    }
    snprintf(c->driver, sizeof c->driver, "%s", mpio ? "mpio" : "sec2");
    return MS_OK;
}

int corpus_open(ms_corpus *c, const char *path, const ms_dist *d)
{
    memset(c, 0, sizeof *c);
    c->dist = d;
    c->file = c->images = c->labels = c->masks = c->domains = c->xfer = H5I_INVALID_HID;
    if (strlen(path) >= sizeof c->path) return MS_FAIL(MS_ERR_INPUT, "%.64s...: path too long", path);
    snprintf(c->path, sizeof c->path, "%s", path);
    int rc = choose_driver(c, d);
    if (rc) return rc;
    h5_lock();
    h5_quiet();
    rc = open_checked(c);
    h5_unlock();
    if (rc) corpus_close(c);
    return rc;
}

int corpus_open_like(ms_corpus *c, const char *path, const ms_corpus *like)
{
    int rc = corpus_open(c, path, like->dist);
    if (rc) return rc;
    if (c->C == like->C && c->H == like->H && c->W == like->W) return MS_OK;
    rc = MS_FAIL(MS_ERR_INPUT, "%s: images are %dx%dx%d but %s has %dx%dx%d", path, c->C, c->H, c->W, like->path,
                 like->C, like->H, like->W);
    corpus_close(c);
    return rc;
}

void corpus_close(ms_corpus *c)
{
    h5_lock();
    h5_close_dset(&c->images);
    h5_close_dset(&c->labels);
    h5_close_dset(&c->masks);
    h5_close_dset(&c->domains);
    if (c->file > 0) H5Fclose(c->file);
    if (c->xfer > 0) H5Pclose(c->xfer);
    c->file = c->xfer = H5I_INVALID_HID;
    h5_unlock();
    free(c->class_names);
    c->class_names = NULL;
}

int corpus_has_labels(const ms_corpus *c) { return c->labels >= 0; }
int corpus_has_masks(const ms_corpus *c) { return c->masks >= 0; }
int corpus_has_domains(const ms_corpus *c) { return c->domains >= 0; }

/* Reads rows [first, first+count) of dataset d (rank dims, leading N) as
 * mem_type into out. */
static int read_rows(const ms_corpus *c, hid_t d, const char *name, int rank, const hsize_t *row_dims,
                     long long first, long long count, hid_t mem_type, void *out)
{
    hsize_t start[4] = { (hsize_t)first, 0, 0, 0 }, cnt[4] = { (hsize_t)count, 0, 0, 0 };
    for (int i = 1; i < rank; i++) cnt[i] = row_dims[i];
    h5_lock();
    hid_t fs = H5Dget_space(d), ms = H5Screate_simple(rank, cnt, NULL);
    int ok = fs >= 0 && ms >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, cnt, NULL) >= 0 &&
             H5Dread(d, mem_type, ms, fs, c->xfer, out) >= 0;
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    h5_unlock();
    if (!ok)
        return MS_FAIL(MS_ERR_INPUT, "%s: cannot read %s[%lld:%lld] (truncated or corrupt file?)", c->path, name,
                       first, first + count);
    return MS_OK;
}

/* Rows [first, first+count), or with rows != NULL the rows rows[0..count)
 * (strictly increasing) packed in order, of dataset d; row_bytes per row in
 * out. A gathered read is one plain read per stretch of consecutive rows:
 * HDF5 1.10 takes far longer for one read of a union of hyperslabs than for
 * the same rows in separate reads (bench/README.md, Loader). */
static int read_rows_at(const ms_corpus *c, hid_t d, const char *name, int rank, const hsize_t *row_dims,
                        long long first, long long count, const int64_t *rows, hid_t mem_type, size_t row_bytes,
                        void *out)
{
    if (!rows) return read_rows(c, d, name, rank, row_dims, first, count, mem_type, out);
    int rc = MS_OK;
    for (long long j = 0; j < count && !rc;) {
        long long k = j + 1;
        while (k < count && rows[k] == rows[k - 1] + 1) k++;
        rc = read_rows(c, d, name, rank, row_dims, rows[j], k - j, mem_type, (char *)out + (size_t)j * row_bytes);
        j = k;
    }
    return rc;
}

/* corpus_read (rows NULL) and corpus_read_rows. */
static int read_samples(ms_corpus *c, long long first, long long count, const int64_t *rows, float *images,
                        int32_t *labels, uint8_t *masks, int32_t *domains)
{
    CHECK((labels == NULL || c->labels >= 0) && (masks == NULL || c->masks >= 0) &&
          (domains == NULL || c->domains >= 0));
    const hsize_t img_dims[4] = { 0, (hsize_t)c->C, (hsize_t)c->H, (hsize_t)c->W };
    const size_t per = (size_t)c->C * c->H * c->W, n = (size_t)count * per, HW = (size_t)c->H * c->W;
    int rc = MS_OK;
    if (images && c->dtype == DTYPE_U8) {
        /* Read the bytes into the last quarter of the float buffer, then widen
         * front to back: float i (bytes 4i..4i+3) never overwrites byte 3n+j, j >= i,
         * before it is read. Avoids HDF5's slower type conversion. */
        uint8_t *bytes = (uint8_t *)images + 3 * n;
        rc = read_rows_at(c, c->images, "/images", 4, img_dims, first, count, rows, H5T_NATIVE_UINT8, per, bytes);
        if (!rc)
            for (size_t i = 0; i < n; i++) images[i] = (float)bytes[i] * (1.0f / 255.0f);
    } else if (images) {
        rc = read_rows_at(c, c->images, "/images", 4, img_dims, first, count, rows, H5T_NATIVE_FLOAT,
                          per * sizeof(float), images);
        for (size_t i = 0; i < n && !rc; i++)
            if (!isfinite(images[i])) {
                const long long k = (long long)(i / per);
                rc = MS_FAIL(MS_ERR_INPUT, "%s: /images[%lld] holds a non-finite value (%g)", c->path,
                             rows ? (long long)rows[k] : first + k, (double)images[i]);
            }
    }
    const hsize_t mask_dims[3] = { 0, (hsize_t)c->H, (hsize_t)c->W }, vec_dims[1] = { 0 };
    if (!rc && labels)
        rc = read_rows_at(c, c->labels, "/labels", 1, vec_dims, first, count, rows, H5T_NATIVE_INT32, 4, labels);
    if (!rc && masks)
        rc = read_rows_at(c, c->masks, "/masks", 3, mask_dims, first, count, rows, H5T_NATIVE_UINT8, HW, masks);
    if (!rc && domains)
        rc = read_rows_at(c, c->domains, "/domains", 1, vec_dims, first, count, rows, H5T_NATIVE_INT32, 4, domains);
    return rc;
}

int corpus_read(ms_corpus *c, long long first, long long count, float *images, int32_t *labels, uint8_t *masks,
                int32_t *domains)
{
    CHECK(first >= 0 && count >= 1 && first + count <= c->N);
    return read_samples(c, first, count, NULL, images, labels, masks, domains);
}

int corpus_read_rows(ms_corpus *c, const int64_t *rows, long long count, float *images, int32_t *labels,
                     uint8_t *masks, int32_t *domains)
{
    CHECK(count >= 1 && rows[0] >= 0 && rows[count - 1] < c->N);
    for (long long j = 1; j < count; j++) CHECKM(rows[j] > rows[j - 1], "corpus_read_rows: rows must increase");
    return read_samples(c, 0, count, rows, images, labels, masks, domains);
}

/* All of the 1-D dataset d into v (N), CHECK_BLOCK entries per read. */
static int read_int32_all(ms_corpus *c, hid_t d, const char *name, int32_t *v)
{
    if (d < 0) return MS_FAIL(MS_ERR_INPUT, "%s: has no %s", c->path, name);
    int rc = MS_OK;
    h5_lock();
    for (long long b = 0; b < c->N && !rc; b += CHECK_BLOCK)
        rc = read_int32_block(c, d, name, b, c->N - b < CHECK_BLOCK ? c->N - b : CHECK_BLOCK, v + b);
    h5_unlock();
    return rc;
}

int corpus_read_labels(ms_corpus *c, int32_t *labels) { return read_int32_all(c, c->labels, "/labels", labels); }
int corpus_read_domains(ms_corpus *c, int32_t *domains) { return read_int32_all(c, c->domains, "/domains", domains); }
