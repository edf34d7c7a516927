/* h5util — the HDF5 helpers corpora, checkpoints and other HDF5 outputs
 * share: the process-wide HDF5 lock, quieting HDF5's error printing, closing
 * a dataset handle, attribute writers, checked attribute readers, and telling
 * a checksum failure from another.
 *
 * Writers put one value under a scalar dataspace and return 0, or -1 when an
 * HDF5 call failed (no message: the caller names what it was writing).
 *
 * Readers validate at the door: an attribute must be present to be read
 * (*present = 0 and MS_OK when it is absent; the caller decides whether that
 * is an error), of the expected class, one value (a scalar dataspace or 1-D of
 * length 1, as h5py writes either; an array is refused before H5Aread, which
 * would write all its values into room for one) and, for strings, at most a
 * given length. Anything else is MS_ERR_INPUT with one message naming the file
 * and the attribute, "<path>: <noun> <name> ...", where the noun is what the
 * caller's format calls its attributes ("attribute", "root attribute"). A
 * checksum mismatch in the object header or attribute heap is
 * "<path>: checksum mismatch in the attributes of <object> (the file is corrupt)".
 *
 * Every call holds h5_lock() with HDF5's error printing off (h5_quiet).
 */
#ifndef MEDSSL_H5UTIL_H
#define MEDSSL_H5UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <hdf5.h>

/* The longest fixed-length string attribute a reader takes (bytes). */
#define H5_ATTR_STR_MAX ((size_t)1 << 20)

/* ---- the lock and handles ------------------------------------------------------------ */

/* The process-wide lock every HDF5 call in medssl takes (Debian's parallel
 * HDF5 is not thread-safe; loaders read from background threads): corpora,
 * checkpoints and any other code that calls HDF5 must hold it. */
void h5_lock(void);
void h5_unlock(void);
/* Switches HDF5's own error-stack printing off (each failure becomes one
 * message of ours). Call with h5_lock() held. */
void h5_quiet(void);
/* Closes a dataset handle if open and marks it closed. */
void h5_close_dset(hid_t *d);

/* ---- writing ------------------------------------------------------------------------ */

/* Attribute `name` of obj: *v as mem_type, stored as file_type. */
int h5_attr_write(hid_t obj, const char *name, hid_t file_type, hid_t mem_type, const void *v);
/* A fixed-length string of strlen(v) + 1 bytes (NUL-terminated): in the
 * object header, so up to about 64 KiB. */
int h5_attr_write_str(hid_t obj, const char *name, const char *v);
/* A variable-length string (kept on the global heap): for longer ones. */
int h5_attr_write_vstr(hid_t obj, const char *name, const char *v);
int h5_attr_write_i64(hid_t obj, const char *name, long long v);  /* int64 LE */
int h5_attr_write_u64(hid_t obj, const char *name, uint64_t v);   /* uint64 LE */
int h5_attr_write_f32(hid_t obj, const char *name, float v);      /* float32 LE */
int h5_attr_write_f64(hid_t obj, const char *name, double v);     /* float64 LE */

/* ---- reading ------------------------------------------------------------------------ */

/* Whose attribute is read, for the messages: the file and what its format
 * calls an attribute ("attribute", "root attribute"). */
typedef struct {
    const char *path;
    const char *noun;
} h5_attr_where;

/* What an attribute must hold. */
typedef enum {
    H5_ATTR_STRING,  /* fixed- or variable-length string */
    H5_ATTR_INTEGER, /* integer class only */
    H5_ATTR_NUMBER,  /* integer or float class (read with conversion) */
    H5_ATTR__COUNT
} h5_attr_kind;

/* A string attribute into *out (allocated, NUL-terminated; NULL when absent or
 * on error), at most max_len bytes. A fixed-length string (up to
 * H5_ATTR_STR_MAX bytes) is read as its raw bytes and ends at the first NUL
 * or, space-padded, at the padding, so one written without a terminator
 * (h5py's np.bytes_, NULLPAD) keeps its last character; a variable-length one
 * as it is. `one` is how the shape message names one value ("one string" when
 * NULL, e.g. "one string (names separated by ',')"). */
int h5_attr_read_str_alloc(const h5_attr_where *at, hid_t obj, const char *name, size_t max_len, const char *one,
                           char **out, int *present);
/* h5_attr_read_str_alloc into buf (cap bytes with the NUL, so at most cap - 1
 * long); buf is "" when absent or on error. */
int h5_attr_read_str(const h5_attr_where *at, hid_t obj, const char *name, char *buf, size_t cap, int *present);
/* One value of class `want` (H5_ATTR_INTEGER or H5_ATTR_NUMBER) into *out as
 * mem_type (H5T_NATIVE_LLONG, H5T_NATIVE_UINT64, H5T_NATIVE_FLOAT, ...). */
int h5_attr_read_number(const h5_attr_where *at, hid_t obj, const char *name, h5_attr_kind want, hid_t mem_type,
                        void *out, int *present);
/* An integer attribute (integer class) as a long long. */
int h5_attr_read_i64(const h5_attr_where *at, hid_t obj, const char *name, long long *out, int *present);

/* ---- checksums ---------------------------------------------------------------------- */

/* Whether the HDF5 call that just failed failed on a checksum: the fletcher32
 * filter on a dataset's data ("data error detected by Fletcher32 checksum") or
 * the checksum of a piece of metadata ("incorrect metadata checksum"). Ask
 * right after the failing call: the next HDF5 call clears the error stack. */
int h5_checksum_failed(void);
/* MS_ERR_INPUT "<path>: checksum mismatch in <what> (the file is corrupt)";
 * `what` names the object, e.g. "dataset /params/head.fc.weight". */
int h5_fail_checksum(const char *path, const char *what);
/* After a failed call: h5_fail_checksum(path, what) when it failed on a
 * checksum, else MS_ERR_INPUT with `otherwise` ("%s" there is path). */
int h5_fail_read(const char *path, const char *what, const char *otherwise);

#endif
