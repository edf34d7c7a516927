/* h5util — the HDF5 lock, error quieting, dataset closing, attribute writers,
 * checked attribute readers and checksum failures (see include/medssl/h5util.h). */
#include "medssl/h5util.h"
#include "medssl/common.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the lock and handles ------------------------------------------------------------ */

/* Debian's parallel HDF5 is not built thread-safe, and loaders read from
 * background threads: every HDF5 call in medssl runs under this one lock. */
static pthread_mutex_t h5_mutex = PTHREAD_MUTEX_INITIALIZER;
void h5_lock(void) { pthread_mutex_lock(&h5_mutex); }
void h5_unlock(void) { pthread_mutex_unlock(&h5_mutex); }

void h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* HDF5 never hands out id 0: a struct that was zeroed and never opened (a
 * command that failed before opening its corpus) closes nothing. */
void h5_close_dset(hid_t *d)
{
    if (*d > 0) H5Dclose(*d);
    *d = H5I_INVALID_HID;
}

/* ---- writing ------------------------------------------------------------------------ */

int h5_attr_write(hid_t obj, const char *name, hid_t file_type, hid_t mem_type, const void *v)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = sp >= 0 ? H5Acreate2(obj, name, file_type, sp, H5P_DEFAULT, H5P_DEFAULT) : H5I_INVALID_HID;
    int ok = a >= 0 && H5Awrite(a, mem_type, v) >= 0;
    if (a >= 0) H5Aclose(a);
    if (sp >= 0) H5Sclose(sp);
    return ok ? 0 : -1;
}

int h5_attr_write_str(hid_t obj, const char *name, const char *v)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    int rc = t >= 0 && H5Tset_size(t, strlen(v) + 1) >= 0 ? h5_attr_write(obj, name, t, t, v) : -1;
    if (t >= 0) H5Tclose(t);
    return rc;
}

int h5_attr_write_vstr(hid_t obj, const char *name, const char *v)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    int rc = t >= 0 && H5Tset_size(t, H5T_VARIABLE) >= 0 ? h5_attr_write(obj, name, t, t, &v) : -1;
    if (t >= 0) H5Tclose(t);
    return rc;
}

int h5_attr_write_i64(hid_t obj, const char *name, long long v)
{
    return h5_attr_write(obj, name, H5T_STD_I64LE, H5T_NATIVE_LLONG, &v);
}

int h5_attr_write_u64(hid_t obj, const char *name, uint64_t v)
{
    return h5_attr_write(obj, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &v);
}

int h5_attr_write_f32(hid_t obj, const char *name, float v)
{
    return h5_attr_write(obj, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, &v);
}

int h5_attr_write_f64(hid_t obj, const char *name, double v)
{
    return h5_attr_write(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
}

/* ---- checksums ---------------------------------------------------------------------- */

static herr_t find_checksum_error(unsigned n, const H5E_error2_t *e, void *found)
{
    (void)n;
    if (e->desc && strstr(e->desc, "checksum")) *(int *)found = 1;
    return 0;
}

int h5_checksum_failed(void)
{
    int found = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, find_checksum_error, &found);
    return found;
}

int h5_fail_checksum(const char *path, const char *what)
{
    return MS_FAIL(MS_ERR_INPUT, "%s: checksum mismatch in %s (the file is corrupt)", path, what);
}

int h5_fail_read(const char *path, const char *what, const char *otherwise)
{
    if (h5_checksum_failed()) return h5_fail_checksum(path, what);
    return MS_FAIL(MS_ERR_INPUT, otherwise, path);
}

/* ---- reading ------------------------------------------------------------------------ */

/* How the messages name each kind: "is not <a>", "must be <one>". */
static const struct {
    const char *a, *one;
} kind_words[H5_ATTR__COUNT] = {
    [H5_ATTR_STRING] = { "a string", "one string" },
    [H5_ATTR_INTEGER] = { "an integer", "one integer" },
    [H5_ATTR_NUMBER] = { "a number", "one number" },
};
_Static_assert(sizeof kind_words / sizeof *kind_words == H5_ATTR__COUNT, "attribute kind words");

static int kind_holds(h5_attr_kind want, H5T_class_t cls)
{
    switch (want) {
    case H5_ATTR_STRING: return cls == H5T_STRING;
    case H5_ATTR_INTEGER: return cls == H5T_INTEGER;
    default: return cls == H5T_INTEGER || cls == H5T_FLOAT;
    }
}

/* Opens attribute `name` of obj with its type in *a, *t (closed by the
 * caller) when it is present, of kind `want` and one value; MS_OK with
 * *present = 0 and both invalid when it is absent. */
static int attr_open_one(const h5_attr_where *at, hid_t obj, const char *name, h5_attr_kind want, const char *one,
                         hid_t *a, hid_t *t, int *present)
{
    *a = *t = H5I_INVALID_HID;
    *present = 0;
    const htri_t exists = H5Aexists(obj, name); /* < 0: the object header or attribute heap is unreadable */
    if (exists == 0) return MS_OK;
    *present = 1;
    *a = exists > 0 ? H5Aopen(obj, name, H5P_DEFAULT) : H5I_INVALID_HID;
    if (*a < 0 && h5_checksum_failed()) { /* the attributes of the whole object (its header or attribute heap) */
        char obj_name[64] = "", what[96] = "the attributes of an object";
        if (H5Iget_name(obj, obj_name, sizeof obj_name) > 0) /* "/optim"; after the stack was read */
            snprintf(what, sizeof what, "the attributes of %s", obj_name);
        return h5_fail_checksum(at->path, what);
    }
    *t = *a >= 0 ? H5Aget_type(*a) : H5I_INVALID_HID;
    hid_t sp = *a >= 0 ? H5Aget_space(*a) : H5I_INVALID_HID;
    const int ndims = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    const long long n = sp >= 0 ? (long long)H5Sget_simple_extent_npoints(sp) : -1;
    const H5T_class_t cls = *t >= 0 ? H5Tget_class(*t) : H5T_NO_CLASS;
    if (sp >= 0) H5Sclose(sp);
    int rc = MS_OK;
    if (*a < 0 || *t < 0)
        rc = MS_FAIL(MS_ERR_INPUT, "%s: cannot read %s %s", at->path, at->noun, name);
    else if (!kind_holds(want, cls))
        rc = MS_FAIL(MS_ERR_INPUT, "%s: %s %s is not %s", at->path, at->noun, name, kind_words[want].a);
    else if (ndims < 0 || ndims > 1 || n != 1)
        rc = MS_FAIL(MS_ERR_INPUT, "%s: %s %s must be %s, not an array of %lld", at->path, at->noun, name,
                     one ? one : kind_words[want].one, n);
    if (!rc) return MS_OK;
    if (*t >= 0) H5Tclose(*t);
    if (*a >= 0) H5Aclose(*a);
    *a = *t = H5I_INVALID_HID;
    return rc;
}

int h5_attr_read_str_alloc(const h5_attr_where *at, hid_t obj, const char *name, size_t max_len, const char *one,
                           char **out, int *present)
{
    *out = NULL;
    hid_t a, t;
    int rc = attr_open_one(at, obj, name, H5_ATTR_STRING, one, &a, &t, present);
    if (rc || !*present) return rc;
    const char *text = NULL; /* what was read, NUL-terminated */
    size_t len = 0;
    char *vlen = NULL, *fixed = NULL;
    if (H5Tis_variable_str(t) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(t)); /* h5py writes UTF-8 */
        if (H5Aread(a, mt, &vlen) < 0 || !vlen) rc = MS_FAIL(MS_ERR_INPUT, "%s: cannot read %s %s", at->path, at->noun, name);
        else len = strlen(text = vlen);
        H5Tclose(mt);
    } else {
        const size_t sz = H5Tget_size(t);
        if (sz == 0 || sz > H5_ATTR_STR_MAX) {
            rc = MS_FAIL(MS_ERR_INPUT, "%s: %s %s is a %zu-byte string", at->path, at->noun, name, sz);
        } else {
            fixed = ms_calloc(sz + 1, 1); /* + 1: a terminator even when the string fills all sz bytes */
            hid_t mt = H5Tcopy(t);        /* the file's own string type: raw bytes, no conversion */
            if (mt < 0 || H5Aread(a, mt, fixed) < 0) {
                rc = MS_FAIL(MS_ERR_INPUT, "%s: cannot read %s %s", at->path, at->noun, name);
            } else {
                len = strlen(text = fixed);
                if (H5Tget_strpad(t) == H5T_STR_SPACEPAD)
                    while (len > 0 && fixed[len - 1] == ' ') len--;
            }
            if (mt >= 0) H5Tclose(mt);
        }
    }
    if (!rc && len > max_len)
        rc = MS_FAIL(MS_ERR_INPUT, "%s: %s %s is %zu bytes long (at most %zu)", at->path, at->noun, name, len, max_len);
    if (!rc) {
        *out = ms_malloc(len + 1);
        memcpy(*out, text, len);
        (*out)[len] = 0;
    }
    if (vlen) H5free_memory(vlen);
    free(fixed);
    H5Tclose(t);
    H5Aclose(a);
    return rc;
}

int h5_attr_read_str(const h5_attr_where *at, hid_t obj, const char *name, char *buf, size_t cap, int *present)
{
    CHECK(cap >= 1);
    char *v;
    int rc = h5_attr_read_str_alloc(at, obj, name, cap - 1, NULL, &v, present);
    snprintf(buf, cap, "%s", v ? v : "");
    free(v);
    return rc;
}

int h5_attr_read_number(const h5_attr_where *at, hid_t obj, const char *name, h5_attr_kind want, hid_t mem_type,
                        void *out, int *present)
{
    CHECK(want == H5_ATTR_INTEGER || want == H5_ATTR_NUMBER);
    hid_t a, t;
    int rc = attr_open_one(at, obj, name, want, NULL, &a, &t, present);
    if (rc || !*present) return rc;
    if (H5Aread(a, mem_type, out) < 0) rc = MS_FAIL(MS_ERR_INPUT, "%s: cannot read %s %s", at->path, at->noun, name);
    H5Tclose(t);
    H5Aclose(a);
    return rc;
}

int h5_attr_read_i64(const h5_attr_where *at, hid_t obj, const char *name, long long *out, int *present)
{
    return h5_attr_read_number(at, obj, name, H5_ATTR_INTEGER, H5T_NATIVE_LLONG, out, present);
}
