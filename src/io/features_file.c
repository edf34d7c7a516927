/* features_file — the HDF5 file of pooled features (see include/medssl/features_file.h). */
#include "medssl/features_file.h"
#include "medssl/atomic.h"
#include "medssl/common.h"
#include "medssl/h5util.h"

#include <stdlib.h>
#include <string.h>

/* A dataset of rank `rank` with dims, written from buf as mem_type. */
static int write_dataset(hid_t f, const char *name, int rank, const hsize_t *dims, hid_t file_type, hid_t mem_type,
                         const void *buf)
{
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t ds = sp >= 0 ? H5Dcreate2(f, name, file_type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
    int ok = ds >= 0 && H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0;
    if (ds >= 0) ok &= H5Dclose(ds) >= 0;
    if (sp >= 0) H5Sclose(sp);
    return ok ? 0 : -1;
}

int features_file_write(const char *path, const ms_features_table *t)
{
    char tmp[ATOMIC_PATH_MAX + 32];
    int rc = atomic_tmp_name(path, tmp, sizeof tmp);
    if (rc) return rc;
    const hsize_t dims[2] = { (hsize_t)t->N, (hsize_t)t->F };
    h5_lock();
    h5_quiet();
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    int bad = f < 0;
    if (!bad) {
        bad |= h5_attr_write_str(f, "format", FEATURES_FORMAT);
        bad |= h5_attr_write_i64(f, "version", FEATURES_VERSION);
        bad |= h5_attr_write_str(f, "model", t->model ? t->model : "");
        bad |= h5_attr_write_i64(f, "stage", t->stage);
        bad |= h5_attr_write_str(f, "model_spec", t->model_spec ? t->model_spec : "");
        bad |= write_dataset(f, "features", 2, dims, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, t->features);
        bad |= write_dataset(f, "labels", 1, dims, H5T_STD_I32LE, H5T_NATIVE_INT32, t->labels);
        if (t->domains) bad |= write_dataset(f, "domains", 1, dims, H5T_STD_I32LE, H5T_NATIVE_INT32, t->domains);
        bad |= H5Fclose(f) < 0;
    }
    h5_unlock();
    if (bad) {
        atomic_discard(tmp);
        return MS_FAIL(MS_ERR_RUNTIME, "%s: cannot write the features file (is the folder writable, the disk full?)",
                       path);
    }
    return atomic_publish(tmp, path);
}

/* Opens dataset `name` of class `cls` with rank `rank`; dims into dims.
 * Call with the lock held. */
static int open_dataset(const char *path, hid_t f, const char *name, H5T_class_t cls, int rank, hsize_t *dims,
                        hid_t *ds)
{
    *ds = H5Dopen2(f, name, H5P_DEFAULT);
    if (*ds < 0) return MS_FAIL(MS_ERR_INPUT, "%s: no /%s dataset (not a medssl features file?)", path, name);
    hid_t ty = H5Dget_type(*ds), sp = H5Dget_space(*ds);
    const int ok_type = ty >= 0 && H5Tget_class(ty) == cls, r = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    if (r == rank) H5Sget_simple_extent_dims(sp, dims, NULL);
    if (ty >= 0) H5Tclose(ty);
    if (sp >= 0) H5Sclose(sp);
    if (!ok_type || r != rank)
        return MS_FAIL(MS_ERR_INPUT, "%s: /%s must be %s with %d dimension%s", path, name,
                       cls == H5T_FLOAT ? "float32" : "int32", rank, rank == 1 ? "" : "s");
    return MS_OK;
}

static int read_dataset(const char *path, hid_t ds, const char *name, hid_t mem_type, void *buf)
{
    if (H5Dread(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0) return MS_OK;
    return h5_fail_read(path, name, "%s: cannot read its datasets");
}

int features_file_read(const char *path, ms_features_table *t)
{
    memset(t, 0, sizeof *t);
    h5_lock();
    h5_quiet();
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), ds = -1;
    int rc = f < 0 ? MS_FAIL(MS_ERR_INPUT, "%s: cannot open (missing, or not an HDF5 file)", path) : MS_OK;
    const h5_attr_where at = { path, "root attribute" };
    char format[64] = "";
    int present = 0;
    if (!rc) rc = h5_attr_read_str(&at, f, "format", format, sizeof format, &present);
    if (!rc && strcmp(format, FEATURES_FORMAT) != 0)
        rc = MS_FAIL(MS_ERR_INPUT, "%s: root attribute format is '%s', expected '%s' (from medssl features)", path,
                     format, FEATURES_FORMAT);
    long long version = 0, stage = 0;
    if (!rc) rc = h5_attr_read_i64(&at, f, "version", &version, &present);
    if (!rc && version != FEATURES_VERSION)
        rc = MS_FAIL(MS_ERR_INPUT, "%s: root attribute version is %lld, expected %d", path, version, FEATURES_VERSION);
    if (!rc) rc = h5_attr_read_i64(&at, f, "stage", &stage, &present);
    t->stage = (int)stage;
    hsize_t dims[2] = { 0, 0 }, n1 = 0;
    if (!rc) rc = open_dataset(path, f, "features", H5T_FLOAT, 2, dims, &ds);
    if (!rc && (dims[0] > (hsize_t)1 << 31 || dims[1] == 0 || dims[1] > (hsize_t)1 << 20 ||
                dims[0] * dims[1] > (hsize_t)1 << 32))
        rc = MS_FAIL(MS_ERR_INPUT, "%s: /features is [%llu, %llu]; expected N <= 2^31 samples of 1..2^20 features",
                     path, (unsigned long long)dims[0], (unsigned long long)dims[1]);
    if (!rc) {
        t->N = (long long)dims[0];
        t->F = (int)dims[1];
        t->features = ms_malloc((size_t)(t->N ? t->N : 1) * t->F * sizeof(float));
        rc = read_dataset(path, ds, "dataset /features", H5T_NATIVE_FLOAT, t->features);
    }
    h5_close_dset(&ds);
    const char *names[2] = { "labels", "domains" };
    int32_t **dst[2] = { &t->labels, &t->domains };
    for (int k = 0; k < 2 && !rc; k++) {
        if (k == 1 && H5Lexists(f, names[k], H5P_DEFAULT) <= 0) break; /* /domains is optional */
        if ((rc = open_dataset(path, f, names[k], H5T_INTEGER, 1, &n1, &ds))) break;
        if ((long long)n1 != t->N)
            rc = MS_FAIL(MS_ERR_INPUT, "%s: /%s has %llu values but /features has %lld rows", path, names[k],
                         (unsigned long long)n1, t->N);
        if (!rc) {
            *dst[k] = ms_malloc((size_t)(t->N ? t->N : 1) * sizeof(int32_t));
            rc = read_dataset(path, ds, k ? "dataset /domains" : "dataset /labels", H5T_NATIVE_INT32, *dst[k]);
        }
        h5_close_dset(&ds);
    }
    h5_close_dset(&ds);
    if (f >= 0) H5Fclose(f);
    h5_unlock();
    if (rc) features_table_free(t);
    return rc;
}

void features_table_free(ms_features_table *t)
{
    free(t->features);
    free(t->labels);
    free(t->domains);
    t->features = NULL;
    t->labels = t->domains = NULL;
}
