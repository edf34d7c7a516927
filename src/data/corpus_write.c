/* corpus_write — writing medssl-corpus files atomically: chunked, extendible
 * datasets in "<path>.tmp.<pid>", attributes at the end, fsync, rename (see
 * include/medssl/corpus.h). Every HDF5 call holds h5_lock().
 *
 * Dimension legend: N samples, C channels, H, W image size.
 */
#include "medssl/corpus.h"
#include "medssl/atomic.h"
#include "medssl/common.h"
#include "medssl/h5util.h"
#include "corpus_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* class_names up to this many bytes are written as a fixed-length string,
 * longer ones as a variable-length string (see corpus_writer_create). */
#define CORPUS_NAMES_FIXED_MAX 32768

/* ---- writing ---------------------------------------------------------------------- */

static hid_t create_extendible(hid_t file, const char *name, hid_t type, int rank, const hsize_t *row_dims,
                               hsize_t chunk_n, int gzip)
{
    hsize_t dims[4], maxdims[4], chunk[4];
    for (int i = 0; i < rank; i++) {
        dims[i] = i ? row_dims[i] : 0;
        maxdims[i] = i ? row_dims[i] : H5S_UNLIMITED;
        chunk[i] = i ? row_dims[i] : chunk_n;
    }
    hid_t sp = H5Screate_simple(rank, dims, maxdims), pl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(pl, rank, chunk);
    if (gzip > 0) {
        H5Pset_shuffle(pl);
        H5Pset_deflate(pl, (unsigned)gzip);
    }
    hid_t d = H5Dcreate2(file, name, type, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
    H5Pclose(pl);
    H5Sclose(sp);
    return d;
}

static void corpus_writer_abort_locked(ms_corpus_writer *w);

static int corpus_writer_create_locked(ms_corpus_writer *w, const char *path, int C, int H, int W, ms_dtype dtype,
                         unsigned flags, int gzip, const char *class_names)
{
    memset(w, 0, sizeof *w);
    w->file = w->images = w->labels = w->masks = w->domains = H5I_INVALID_HID;
    if (strlen(path) >= sizeof w->path) return MS_FAIL(MS_ERR_INPUT, "%.64s...: path too long", path);
    if (C < 1 || C > CORPUS_MAX_CHANNELS || H < 1 || H > CORPUS_MAX_SIDE || W < 1 || W > CORPUS_MAX_SIDE)
        return MS_FAIL(MS_ERR_INPUT, "%s: image shape %dx%dx%d is out of range", path, C, H, W);
    /* the finished corpus is renamed over `path`: only ever over an HDF5 file
     * (an earlier corpus), never over a NIfTI/PNG/IDX input given as --out */
    struct stat st;
    if (lstat(path, &st) == 0 && (!S_ISREG(st.st_mode) || H5Fis_hdf5(path) <= 0))
        return MS_FAIL(MS_ERR_INPUT, "%s exists and is not an HDF5 file (an input?): medssl replaces only an earlier "
                       "corpus; choose another --out", path);
    const size_t names_len = class_names ? strlen(class_names) : 0;
    if (names_len >= CORPUS_MAX_NAMES_BYTES || (class_names && corpus_count_names(class_names) > CORPUS_MAX_CLASSES))
        return MS_FAIL(MS_ERR_INPUT, "%s: %d class names in %zu bytes: at most %d names and %d bytes", path,
                       corpus_count_names(class_names), names_len, CORPUS_MAX_CLASSES, CORPUS_MAX_NAMES_BYTES - 1);
    snprintf(w->path, sizeof w->path, "%s", path);
    int rc = atomic_tmp_name(path, w->tmp_path, sizeof w->tmp_path); /* removed if we run out of memory */
    if (rc) return rc;
    w->C = C;
    w->H = H;
    w->W = W;
    w->dtype = dtype;
    w->n_classes = class_names ? corpus_count_names(class_names) : 0;
    size_t image_bytes = (size_t)C * H * W * (dtype == DTYPE_U8 ? 1 : 4);
    w->chunk_n = image_bytes >= (1u << 20) ? 1 : (long long)((1u << 20) / image_bytes);
    h5_quiet();
    w->file = H5Fcreate(w->tmp_path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (w->file < 0) {
        rc = MS_FAIL(MS_ERR_INPUT, "%s: cannot create (is the folder writable?)", w->tmp_path);
        atomic_discard(w->tmp_path);
        w->tmp_path[0] = '\0';
        return rc;
    }
    const hsize_t img[4] = { 0, (hsize_t)C, (hsize_t)H, (hsize_t)W }, mask[3] = { 0, (hsize_t)H, (hsize_t)W },
                  vec[1] = { 0 };
    w->images = create_extendible(w->file, "images", dtype == DTYPE_U8 ? H5T_STD_U8LE : H5T_IEEE_F32LE, 4, img,
                                  (hsize_t)w->chunk_n, gzip);
    if (flags & CORPUS_WITH_LABELS)
        w->labels = create_extendible(w->file, "labels", H5T_STD_I32LE, 1, vec, (hsize_t)w->chunk_n, gzip);
    if (flags & CORPUS_WITH_MASKS)
        w->masks = create_extendible(w->file, "masks", H5T_STD_U8LE, 3, mask, (hsize_t)w->chunk_n, gzip);
    if (flags & CORPUS_WITH_DOMAINS)
        w->domains = create_extendible(w->file, "domains", H5T_STD_I32LE, 1, vec, (hsize_t)w->chunk_n, gzip);
    int bad = w->images < 0 || ((flags & CORPUS_WITH_LABELS) && w->labels < 0) ||
              ((flags & CORPUS_WITH_MASKS) && w->masks < 0) || ((flags & CORPUS_WITH_DOMAINS) && w->domains < 0);
    if (bad) {
        const int failed = MS_FAIL(MS_ERR_RUNTIME, "%s: cannot create the corpus datasets", w->tmp_path);
        corpus_writer_abort_locked(w); /* after the message: it names the temporary file */
        return failed;
    }
    if (class_names && *class_names) {
        /* A fixed-length string, or a variable-length one (kept on the heap) when
         * it is too long for the object header, where attributes get 64 KiB. */
        const int bad = names_len >= CORPUS_NAMES_FIXED_MAX ? h5_attr_write_vstr(w->file, "class_names", class_names)
                                                            : h5_attr_write_str(w->file, "class_names", class_names);
        if (bad) {
            const int failed = MS_FAIL(MS_ERR_RUNTIME, "%s: cannot write class_names", w->tmp_path);
            corpus_writer_abort_locked(w); /* after the message: it names the temporary file */
            return failed;
        }
    }
    return MS_OK;
}

static int append_rows(ms_corpus_writer *w, hid_t d, int rank, const hsize_t *row_dims, long long count,
                       hid_t mem_type, const void *buf)
{
    hsize_t newdims[4], start[4] = { (hsize_t)w->N, 0, 0, 0 }, cnt[4];
    for (int i = 0; i < rank; i++) {
        newdims[i] = i ? row_dims[i] : (hsize_t)(w->N + count);
        cnt[i] = i ? row_dims[i] : (hsize_t)count;
    }
    if (H5Dset_extent(d, newdims) < 0) return MS_ERR_RUNTIME;
    hid_t fs = H5Dget_space(d), ms = H5Screate_simple(rank, cnt, NULL);
    int ok = fs >= 0 && ms >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, cnt, NULL) >= 0 &&
             H5Dwrite(d, mem_type, ms, fs, H5P_DEFAULT, buf) >= 0;
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    return ok ? MS_OK : MS_ERR_RUNTIME;
}

static int corpus_writer_append_locked(ms_corpus_writer *w, long long count, const void *images, const int32_t *labels,
                         const uint8_t *masks, const int32_t *domains)
{
    CHECK(count >= 1 && images);
    CHECK((labels != NULL) == (w->labels >= 0) && (masks != NULL) == (w->masks >= 0) &&
          (domains != NULL) == (w->domains >= 0));
    for (long long i = 0; labels && i < count; i++)
        if (labels[i] < -1 || (w->n_classes > 0 && labels[i] >= w->n_classes))
            return MS_FAIL(MS_ERR_INPUT, "%s: label %d of sample %lld is out of range", w->path, labels[i], w->N + i);
    if (w->dtype == DTYPE_F32) {
        const float *f = images;
        size_t n = (size_t)count * w->C * w->H * w->W;
        for (size_t i = 0; i < n; i++)
            if (!isfinite(f[i]))
                return MS_FAIL(MS_ERR_INPUT, "%s: sample %lld holds a non-finite value", w->path,
                               w->N + (long long)(i / ((size_t)w->C * w->H * w->W)));
    }
    const hsize_t img[4] = { 0, (hsize_t)w->C, (hsize_t)w->H, (hsize_t)w->W }, mask[3] = { 0, (hsize_t)w->H, (hsize_t)w->W },
                  vec[1] = { 0 };
    int rc = append_rows(w, w->images, 4, img, count, w->dtype == DTYPE_U8 ? H5T_NATIVE_UINT8 : H5T_NATIVE_FLOAT, images);
    if (!rc && labels) rc = append_rows(w, w->labels, 1, vec, count, H5T_NATIVE_INT32, labels);
    if (!rc && masks) rc = append_rows(w, w->masks, 3, mask, count, H5T_NATIVE_UINT8, masks);
    if (!rc && domains) rc = append_rows(w, w->domains, 1, vec, count, H5T_NATIVE_INT32, domains);
    if (rc) return MS_FAIL(MS_ERR_RUNTIME, "%s: writing %lld samples failed (disk full?)", w->tmp_path, count);
    w->N += count;
    return MS_OK;
}

static int corpus_writer_finish_locked(ms_corpus_writer *w)
{
    if (w->N < 1) {
        corpus_writer_abort_locked(w);
        return MS_FAIL(MS_ERR_INPUT, "%s: no images to write", w->path);
    }
    const int version = CORPUS_VERSION; /* int32 in the file */
    int ok = h5_attr_write_str(w->file, "format", CORPUS_FORMAT) == 0 &&
             h5_attr_write(w->file, "version", H5T_STD_I32LE, H5T_NATIVE_INT, &version) == 0;
    h5_close_dset(&w->images);
    h5_close_dset(&w->labels);
    h5_close_dset(&w->masks);
    h5_close_dset(&w->domains);
    ok = ok && H5Fclose(w->file) >= 0;
    w->file = H5I_INVALID_HID;
    if (!ok) {
        const int failed = MS_FAIL(MS_ERR_RUNTIME, "%s: finishing the corpus failed (disk full?)", w->tmp_path);
        corpus_writer_abort_locked(w); /* after the message: it names the temporary file */
        return failed;
    }
    const int rc = atomic_publish(w->tmp_path, w->path);
    w->tmp_path[0] = '\0'; /* published or removed */
    return rc;
}

static void corpus_writer_abort_locked(ms_corpus_writer *w)
{
    h5_close_dset(&w->images);
    h5_close_dset(&w->labels);
    h5_close_dset(&w->masks);
    h5_close_dset(&w->domains);
    if (w->file >= 0) H5Fclose(w->file);
    w->file = H5I_INVALID_HID;
    if (w->tmp_path[0]) atomic_discard(w->tmp_path);
    w->tmp_path[0] = '\0';
}

int corpus_writer_create(ms_corpus_writer *w, const char *path, int C, int H, int W, ms_dtype dtype,
                         unsigned flags, int gzip, const char *class_names)
{
    h5_lock();
    int rc = corpus_writer_create_locked(w, path, C, H, W, dtype, flags, gzip, class_names);
    h5_unlock();
    return rc;
}

int corpus_writer_append(ms_corpus_writer *w, long long count, const void *images, const int32_t *labels,
                         const uint8_t *masks, const int32_t *domains)
{
    h5_lock();
    int rc = corpus_writer_append_locked(w, count, images, labels, masks, domains);
    h5_unlock();
    return rc;
}

int corpus_writer_finish(ms_corpus_writer *w)
{
    h5_lock();
    int rc = corpus_writer_finish_locked(w);
    h5_unlock();
    return rc;
}

void corpus_writer_abort(ms_corpus_writer *w)
{
    h5_lock();
    corpus_writer_abort_locked(w);
    h5_unlock();
}
