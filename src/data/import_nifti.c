/* import_nifti — NIfTI volumes sliced into a 1-channel float32 corpus (see
 * include/medssl/nifti_import.h for the contract).
 *
 * Steps, all inputs validated before anything is written:
 *   1. volume: header (dims, datatype) -> raw voxels -> values (slope/inter, NaN check)
 *      -> vol (nx*ny*nz floats in [0, 1])
 *   2. labels: the same checks, dims equal to the volume's -> lab (nx*ny*nz uint8)
 *   3. append: open the existing corpus and check it is compatible
 *   4. writer: old samples (copied), then the new slices, resized, in batches;
 *      finish renames into place. Any error aborts the writer (temp file removed).
 *
 * Dimension legend: nx, ny, nz volume dims (x fastest in memory); N slices;
 * H0, W0 slice size before resizing; H, W written size.
 */
#include "medssl/nifti_import.h"
#include "medssl/common.h"
#include "medssl/resample.h"
#include "medssl/corpus.h"

#include <nifti2_io.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const axis_names[NIFTI_AXIS__COUNT] = { "x", "y", "z" };
_Static_assert(sizeof axis_names / sizeof *axis_names == NIFTI_AXIS__COUNT, "axis names");

/* For each slicing axis: which voxel dims (0 = x, 1 = y, 2 = z) index the
 * slices, the rows and the columns of a slice (the table in the header). */
static const int axis_plan[NIFTI_AXIS__COUNT][3] = {
    [NIFTI_AXIS_X] = { 0, 2, 1 }, /* slice x, rows z, cols y */
    [NIFTI_AXIS_Y] = { 1, 2, 0 }, /* slice y, rows z, cols x */
    [NIFTI_AXIS_Z] = { 2, 1, 0 }, /* slice z, rows y, cols x */
};
_Static_assert(sizeof axis_plan / sizeof *axis_plan == NIFTI_AXIS__COUNT, "axis plan");

void nifti_import_opts_init(ms_nifti_import_opts *o)
{
    memset(o, 0, sizeof *o);
    o->axis = NIFTI_AXIS_Z;
    o->domain = -1;
}

int nifti_parse_axis(const char *s, ms_nifti_axis *axis)
{
    for (int a = 0; s && a < NIFTI_AXIS__COUNT; a++)
        if (strcmp(s, axis_names[a]) == 0) {
            *axis = (ms_nifti_axis)a;
            return MS_OK;
        }
    return MS_FAIL(MS_ERR_INPUT, "--axis '%s': expected x, y or z", s ? s : "");
}

int nifti_parse_window(const char *s, double *lo, double *hi)
{
    char *end;
    const char *colon = s ? strchr(s, ':') : NULL;
    if (!colon || colon == s) goto bad;
    errno = 0;
    double a = strtod(s, &end);
    if (end != colon || errno) goto bad;
    double b = strtod(colon + 1, &end);
    if (end == colon + 1 || *end || errno) goto bad;
    if (!isfinite(a) || !isfinite(b) || !(a < b))
        return MS_FAIL(MS_ERR_INPUT, "--window '%s': LO must be less than HI, both finite", s);
    *lo = a;
    *hi = b;
    return MS_OK;
bad:
    return MS_FAIL(MS_ERR_INPUT, "--window '%s': expected LO:HI, two numbers, e.g. -1000:400", s ? s : "");
}

/* ---- voxel values ------------------------------------------------------------------ */

/* Converts n stored voxels starting at voxel `first` to double (no scaling). */
typedef void (*to_double_fn)(double *dst, const void *data, size_t first, size_t n);

#define DEFINE_TO_DOUBLE(name, T) \
    static void name(double *dst, const void *data, size_t first, size_t n) \
    { const T *src = (const T *)data + first; for (size_t i = 0; i < n; i++) dst[i] = (double)src[i]; }
DEFINE_TO_DOUBLE(u8_to_double, uint8_t)
DEFINE_TO_DOUBLE(i8_to_double, int8_t)
DEFINE_TO_DOUBLE(i16_to_double, int16_t)
DEFINE_TO_DOUBLE(u16_to_double, uint16_t)
DEFINE_TO_DOUBLE(i32_to_double, int32_t)
DEFINE_TO_DOUBLE(u32_to_double, uint32_t)
DEFINE_TO_DOUBLE(f32_to_double, float)
DEFINE_TO_DOUBLE(f64_to_double, double)

static const struct { int datatype, nbyper; to_double_fn to_double; } dtypes[] = {
    { DT_UINT8, 1, u8_to_double },   { DT_INT8, 1, i8_to_double },    { DT_INT16, 2, i16_to_double },
    { DT_UINT16, 2, u16_to_double }, { DT_INT32, 4, i32_to_double },  { DT_UINT32, 4, u32_to_double },
    { DT_FLOAT32, 4, f32_to_double }, { DT_FLOAT64, 8, f64_to_double },
};
#define SUPPORTED_DTYPES "uint8, int8, int16, uint16, int32, uint32, float32, float64"

/* What volume_precheck reads from the header bytes itself, before nifticlib:
 * the library hides these (vox_offset through an int cast and a clamp,
 * NaN/Inf scl_* replaced by 0, dims <= 0 replaced by 1). */
typedef struct {
    int version;        /* 0 Analyze 7.5 (no NIfTI magic), 1 NIfTI-1, 2 NIfTI-2 */
    int hdr_size;       /* 348 or 540 */
    int64_t vox_offset; /* a whole number of bytes; negative only for Analyze */
} raw_header;

/* A loaded volume: nifticlib's image plus what we need to read its values. */
typedef struct {
    const char *path;
    nifti_image *nim;
    raw_header raw;
    size_t nx, ny, nz, nvox;
    to_double_fn to_double;
    double slope, inter; /* slope 0: stored values as they are */
} volume;

static void volume_free(volume *v)
{
    if (v->nim) nifti_image_free(v->nim);
    v->nim = NULL;
}

/* Reads the voxel data of v->nim into nim->data (freed with the image), in
 * this machine's byte order. Not nifti_image_load: it silently replaces
 * NaN/Inf floats by 0, and those must be errors here. */
static int volume_read_data(volume *v)
{
    nifti_image *nim = v->nim;
    const size_t bytes = v->nvox * (size_t)nim->nbyper;
    if (!nim->iname) return MS_FAIL(MS_ERR_INPUT, "%s: no voxel data file named by the header", v->path);
    const int gz = nifti_is_gzfile(nim->iname);
    /* The offset as the header says, not nim->iname_offset (nifticlib raises a
     * single file's offset below the header size to the header size). */
    int64_t offset = v->raw.vox_offset;
    const int single = nim->fname && strcmp(nim->fname, nim->iname) == 0;
    if (single && offset < v->raw.hdr_size + 4)
        return MS_FAIL(MS_ERR_INPUT, "%s: corrupt NIfTI header: vox_offset = %lld points into the header; the voxels of "
                       "a single-file NIfTI-%d start at byte %d or later", v->path, (long long)offset,
                       v->raw.version == 2 ? 2 : 1, v->raw.hdr_size + 4);
    if (offset < 0) { /* Analyze 7.5 only (volume_precheck): a negative offset means "the last bytes of the file" */
        int64_t size = gz ? -1 : nifti_get_filesize(nim->iname);
        if (size < 0)
            return MS_FAIL(MS_ERR_INPUT, "%s: negative vox_offset in a compressed or unreadable file %s", v->path,
                           nim->iname);
        offset = size >= (int64_t)bytes ? size - (int64_t)bytes : 0;
    }
    /* The declared voxels must fit in the file before anything is allocated: a
     * header is a few bytes and may declare up to 2^31 voxels of 8 bytes. Raw
     * data needs offset + bytes <= the file size; gzip data inflates at most
     * 1032:1 (deflate's limit), so its file must hold at least (offset + bytes) / 1032. */
    struct stat st;
    if (stat(nim->iname, &st) != 0)
        return MS_FAIL(MS_ERR_INPUT, "%s: cannot open the voxel data in %s: %s", v->path, nim->iname, strerror(errno));
    const double file_bytes = (double)st.st_size, need = ((double)offset + (double)bytes) / (gz ? 1032.0 : 1.0);
    if (need > file_bytes)
        return MS_FAIL(MS_ERR_INPUT, "%s: the header declares %zux%zux%zu %s voxels (%zu bytes%s) but %s holds %lld bytes "
                       "(truncated file or corrupt header)", v->path, v->nx, v->ny, v->nz,
                       nifti_datatype_string(nim->datatype), bytes, gz ? ", compressed" : " from vox_offset",
                       nim->iname, (long long)st.st_size);
    znzFile fp = znzopen(nim->iname, "rb", gz);
    if (znz_isnull(fp))
        return MS_FAIL(MS_ERR_INPUT, "%s: cannot open the voxel data in %s: %s", v->path, nim->iname,
                       strerror(errno ? errno : ENOENT));
    nim->data = ms_malloc(bytes);
    size_t got = 0;
    if (znzseek(fp, (znz_off_t)offset, SEEK_SET) >= 0) {
        while (got < bytes) {
            size_t chunk = bytes - got < ((size_t)1 << 30) ? bytes - got : ((size_t)1 << 30);
            size_t r = znzread((char *)nim->data + got, 1, chunk, fp);
            got += r;
            if (r < chunk) break;
        }
    }
    znzclose(fp);
    if (got != bytes)
        return MS_FAIL(MS_ERR_INPUT, "%s: truncated or corrupt voxel data: %zu of the %zu bytes of %zux%zux%zu %s voxels",
                       v->path, got, bytes, v->nx, v->ny, v->nz, nifti_datatype_string(nim->datatype));
    if (nim->swapsize > 1 && nim->byteorder != nifti_short_order())
        nifti_swap_Nbytes((int64_t)(bytes / (size_t)nim->swapsize), nim->swapsize, nim->data);
    return MS_OK;
}

/* Dims and datatype of the header in v->nim; fills nx, ny, nz, nvox, to_double. */
static int volume_check_header(volume *v)
{
    const nifti_image *nim = v->nim;
    const int64_t *d = nim->dim;
    if (!(d[0] == 3 || (d[0] == 4 && d[4] == 1))) {
        char dims[160] = "";
        for (int i = 1; i <= d[0] && i <= 7; i++)
            snprintf(dims + strlen(dims), sizeof dims - strlen(dims), "%s%lld", i > 1 ? "x" : "", (long long)d[i]);
        return MS_FAIL(MS_ERR_INPUT, "%s: not a 3-D volume: %lld dims (%s); expected 3 dims, or 4 with dim[4] = 1",
                       v->path, (long long)d[0], dims);
    }
    for (int i = 1; i <= 3; i++)
        if (d[i] < 1 || d[i] > NIFTI_MAX_SIDE)
            return MS_FAIL(MS_ERR_INPUT, "%s: dims %lldx%lldx%lld out of range (each must be 1..%d)", v->path,
                           (long long)d[1], (long long)d[2], (long long)d[3], NIFTI_MAX_SIDE);
    v->nx = (size_t)d[1];
    v->ny = (size_t)d[2];
    v->nz = (size_t)d[3];
    v->nvox = v->nx * v->ny * v->nz;
    if ((long long)v->nvox > NIFTI_MAX_VOXELS)
        return MS_FAIL(MS_ERR_INPUT, "%s: %zux%zux%zu = %zu voxels is more than the %lld this importer takes", v->path,
                       v->nx, v->ny, v->nz, v->nvox, NIFTI_MAX_VOXELS);
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (dtypes[i].datatype == nim->datatype && dtypes[i].nbyper == nim->nbyper) v->to_double = dtypes[i].to_double;
    if (!v->to_double)
        return MS_FAIL(MS_ERR_INPUT, "%s: unsupported voxel datatype %s (code %d); expected one of " SUPPORTED_DTYPES,
                       v->path, nifti_datatype_string(nim->datatype), nim->datatype);
    return MS_OK;
}

/* What nifticlib must not see, or would hide. libnifti2 2.1's nifti_image_read
 * trusts dim[0] and smashes its own stack when it is above 7 (a header found by
 * fuzzing, tests/fuzz); it prints "** ERROR" lines whatever the debug level for
 * dim[1] <= 0 and datatype 0 or 1; it turns dims <= 0 into 1, NaN/Inf scl_slope
 * and scl_inter into 0 (no scaling) and a NaN, negative or too small vox_offset
 * of a .nii into the header size (voxels shifted). So the header bytes of `hdr`
 * (the file the library will read, through znz so .nii.gz too) are checked
 * here first: sizeof_hdr (348: NIfTI-1 or Analyze 7.5, 540: NIfTI-2; either
 * byte order), the magic, dim[0] in 1..7, dim[1..dim[0]] >= 1, a supported
 * datatype, vox_offset (finite, whole, >= 0 except in Analyze 7.5, where a
 * negative one means "the last bytes of the .img") and, for NIfTI, finite
 * scl_slope and scl_inter. Messages name `path`, the file the user gave. */
static uint32_t bswap32(uint32_t x) { return x >> 24 | (x >> 8 & 0xff00) | (x << 8 & 0xff0000) | x << 24; }
static uint64_t bswap64(uint64_t x) { return (uint64_t)bswap32((uint32_t)x) << 32 | bswap32((uint32_t)(x >> 32)); }
static int16_t hdr_i16(const unsigned char *p, int swap)
{
    uint16_t x;
    memcpy(&x, p, 2);
    return (int16_t)(swap ? (uint16_t)(x >> 8 | x << 8) : x);
}
static int64_t hdr_i64(const unsigned char *p, int swap)
{
    uint64_t x;
    memcpy(&x, p, 8);
    return (int64_t)(swap ? bswap64(x) : x);
}
static double hdr_f32(const unsigned char *p, int swap)
{
    uint32_t x;
    float f;
    memcpy(&x, p, 4);
    if (swap) x = bswap32(x);
    memcpy(&f, &x, 4);
    return f;
}
static double hdr_f64(const unsigned char *p, int swap)
{
    uint64_t x;
    double f;
    memcpy(&x, p, 8);
    if (swap) x = bswap64(x);
    memcpy(&f, &x, 8);
    return f;
}

static int volume_precheck(const char *path, const char *hdr, raw_header *raw)
{
    unsigned char h[540];
    znzFile fp = znzopen(hdr, "rb", nifti_is_gzfile(hdr));
    if (znz_isnull(fp)) return MS_FAIL(MS_ERR_INPUT, "%s: cannot open: %s", hdr, strerror(errno ? errno : ENOENT));
    const size_t got = znzread(h, 1, sizeof h, fp);
    znzclose(fp);
    uint32_t size = 0;
    if (got >= 4) memcpy(&size, h, 4);
    const int swap = bswap32(size) == 348 || bswap32(size) == 540;
    if (swap) size = bswap32(size);
    /* NIfTI-1 offsets: dim 40, datatype 70, vox_offset 108, scl_slope 112, scl_inter 116, magic 344.
     * NIfTI-2 offsets: magic 4, datatype 12, dim 16, vox_offset 168, scl_slope 176, scl_inter 184. */
    long long dim[8];
    int datatype;
    double vox_offset, slope, inter;
    if (got >= 348 && size == 348) {
        const char *m = (const char *)h + 344;
        raw->version = m[0] == 'n' && (m[1] == 'i' || m[1] == '+') && m[2] >= '1' && m[2] <= '9' && m[3] == '\0'
                           ? m[2] - '0' : 0;
        if (raw->version > 1)
            return MS_FAIL(MS_ERR_INPUT, "%s: corrupt NIfTI header: magic \"%.3s\" in a 348-byte (NIfTI-1) header",
                           path, m);
        for (int i = 0; i < 8; i++) dim[i] = hdr_i16(h + 40 + 2 * i, swap);
        datatype = hdr_i16(h + 70, swap);
        vox_offset = hdr_f32(h + 108, swap);
        slope = hdr_f32(h + 112, swap);
        inter = hdr_f32(h + 116, swap);
    } else if (got >= 540 && size == 540) {
        if (memcmp(h + 4, "n+2\0", 4) != 0 && memcmp(h + 4, "ni2\0", 4) != 0)
            return MS_FAIL(MS_ERR_INPUT, "%s: corrupt NIfTI header: a 540-byte (NIfTI-2) header without the magic "
                           "\"n+2\" or \"ni2\"", path);
        raw->version = 2;
        for (int i = 0; i < 8; i++) dim[i] = hdr_i64(h + 16 + 8 * i, swap);
        datatype = hdr_i16(h + 12, swap);
        const int64_t off = hdr_i64(h + 168, swap);
        vox_offset = (double)off;
        slope = hdr_f64(h + 176, swap);
        inter = hdr_f64(h + 184, swap);
    } else {
        return MS_FAIL(MS_ERR_INPUT, "%s: not a readable NIfTI file (header missing, truncated or corrupt; "
                       "expected .nii, .nii.gz or .hdr/.img)", path);
    }
    raw->hdr_size = (int)size;
    if (dim[0] < 1 || dim[0] > 7)
        return MS_FAIL(MS_ERR_INPUT, "%s: corrupt NIfTI header: dim[0] = %lld (must be 1..7)", path, dim[0]);
    for (int i = 1; i <= dim[0]; i++)
        if (dim[i] < 1)
            return MS_FAIL(MS_ERR_INPUT, "%s: corrupt NIfTI header: dim[%d] = %lld (dim[1..dim[0]] must be >= 1)", path,
                           i, dim[i]);
    int known = 0;
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++) known |= dtypes[i].datatype == datatype;
    if (!known)
        return MS_FAIL(MS_ERR_INPUT, "%s: unsupported voxel datatype %s (code %d); expected one of " SUPPORTED_DTYPES,
                       path, nifti_datatype_string(datatype), datatype);
    if (!isfinite(vox_offset) || vox_offset != floor(vox_offset) || fabs(vox_offset) > 9.0e15)
        return MS_FAIL(MS_ERR_INPUT, "%s: corrupt NIfTI header: vox_offset = %g (must be a whole number of bytes)", path,
                       vox_offset);
    if (vox_offset < 0 && raw->version != 0)
        return MS_FAIL(MS_ERR_INPUT, "%s: corrupt NIfTI header: vox_offset = %g is negative (allowed in Analyze 7.5 "
                       "only, not in a NIfTI-%d file)", path, vox_offset, raw->version);
    raw->vox_offset = (int64_t)vox_offset;
    /* scl_slope 0 or NaN means no scaling (the NIfTI-1 standard says 0;
     * nibabel and nifticlib read NaN the same way, and real files carry it:
     * fMRIPrep 20.2 masks); an infinite slope, or a scaling slope with a
     * NaN/Inf intercept, is a corrupt header */
    const int scaled = isfinite(slope) && slope != 0;
    if (raw->version != 0 && (isinf(slope) || (scaled && !isfinite(inter))))
        return MS_FAIL(MS_ERR_INPUT, "%s: corrupt NIfTI header: scl_slope = %g, scl_inter = %g (a scaling needs both "
                       "finite; scl_slope 0 or NaN means no scaling)", path, slope, inter);
    return MS_OK;
}

/* Opens `path`, validates its header and reads its voxels. On error v holds nothing. */
static int volume_load(volume *v, const char *path)
{
    memset(v, 0, sizeof *v);
    v->path = path;
    struct stat st;
    if (stat(path, &st) != 0) return MS_FAIL(MS_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return MS_FAIL(MS_ERR_INPUT, "%s: not a regular file", path);
    nifti_set_debug_level(0);
    /* The header file nifticlib will read: `path` itself, or the .hdr of an .img. */
    char *hdr = nifti_findhdrname(path);
    if (!hdr)
        return MS_FAIL(MS_ERR_INPUT,
                       "%s: not a readable NIfTI file (header missing, truncated or corrupt; "
                       "expected .nii, .nii.gz or .hdr/.img)", path);
    int rc = volume_precheck(path, hdr, &v->raw);
    free(hdr);
    if (rc) return rc;
    v->nim = nifti_image_read(path, 0); /* the header only */
    if (!v->nim)
        return MS_FAIL(MS_ERR_INPUT,
                       "%s: not a readable NIfTI file (header missing, truncated or corrupt; "
                       "expected .nii, .nii.gz or .hdr/.img)", path);
    rc = volume_check_header(v);
    if (!rc) rc = volume_read_data(v);
    if (rc) {
        volume_free(v);
        return rc;
    }
    if (v->nim->scl_slope != 0) { /* finite: volume_precheck */
        v->slope = v->nim->scl_slope;
        v->inter = v->nim->scl_inter;
    }
    return MS_OK;
}

/* Values of voxels [first, first+n) after scl_slope/scl_inter. */
static void volume_values(const volume *v, size_t first, size_t n, double *dst)
{
    v->to_double(dst, v->nim->data, first, n);
    if (v->slope != 0)
        for (size_t i = 0; i < n; i++) dst[i] = v->slope * dst[i] + v->inter;
}

#define VALUE_BLOCK 4096

/* "(x,y,z)" of voxel index i. */
static void voxel_xyz(const volume *v, size_t i, char *buf, size_t len)
{
    snprintf(buf, len, "(%zu,%zu,%zu)", i % v->nx, i / v->nx % v->ny, i / (v->nx * v->ny));
}

/* The intensity volume as floats in [0, 1]: vol (nx*ny*nz). */
static int volume_normalize(const volume *v, const ms_nifti_import_opts *o, float *vol)
{
    double *buf = ms_malloc(VALUE_BLOCK * sizeof(double));
    double lo = INFINITY, hi = -INFINITY;
    for (size_t first = 0; first < v->nvox; first += VALUE_BLOCK) { /* pass 1: finite, min, max */
        size_t n = v->nvox - first < VALUE_BLOCK ? v->nvox - first : VALUE_BLOCK;
        volume_values(v, first, n, buf);
        for (size_t i = 0; i < n; i++) {
            if (!isfinite(buf[i])) {
                char at[96];
                const double bad = buf[i];
                voxel_xyz(v, first + i, at, sizeof at);
                free(buf);
                return MS_FAIL(MS_ERR_INPUT, "%s: voxel %s is %g; NaN and Inf are not accepted (first one shown)",
                               v->path, at, bad);
            }
            if (buf[i] < lo) lo = buf[i];
            if (buf[i] > hi) hi = buf[i];
        }
    }
    if (o->has_window) {
        lo = o->window_lo;
        hi = o->window_hi;
    }
    const double range = hi - lo;
    for (size_t first = 0; first < v->nvox; first += VALUE_BLOCK) { /* pass 2: clip and scale */
        size_t n = v->nvox - first < VALUE_BLOCK ? v->nvox - first : VALUE_BLOCK;
        volume_values(v, first, n, buf);
        for (size_t i = 0; i < n; i++) {
            double x = buf[i] < lo ? lo : buf[i] > hi ? hi : buf[i];
            vol[first + i] = range > 0 ? (float)((x - lo) / range) : 0.0f;
        }
    }
    free(buf);
    return MS_OK;
}

/* The label volume as classes 0..254: lab (nx*ny*nz). */
static int volume_classes(const volume *v, uint8_t *lab)
{
    double *buf = ms_malloc(VALUE_BLOCK * sizeof(double));
    for (size_t first = 0; first < v->nvox; first += VALUE_BLOCK) {
        size_t n = v->nvox - first < VALUE_BLOCK ? v->nvox - first : VALUE_BLOCK;
        volume_values(v, first, n, buf);
        for (size_t i = 0; i < n; i++) {
            double x = buf[i];
            if (!(x >= 0 && x <= 254 && x == floor(x))) {
                char at[96];
                voxel_xyz(v, first + i, at, sizeof at);
                free(buf);
                return MS_FAIL(MS_ERR_INPUT,
                               "%s: label voxel %s is %g; mask classes must be integers 0..254 (255 is reserved for ignore)",
                               v->path, at, x);
            }
            lab[first + i] = (uint8_t)x;
        }
    }
    free(buf);
    return MS_OK;
}

/* ---- slicing and resizing ---------------------------------------------------------- */

typedef struct {
    size_t slice_stride, row_stride, col_stride; /* in voxels */
    int N, H0, W0;
} slicing;

static slicing slicing_for(ms_nifti_axis axis, size_t nx, size_t ny, size_t nz)
{
    const size_t len[3] = { nx, ny, nz }, stride[3] = { 1, nx, nx * ny };
    const int *p = axis_plan[axis];
    return (slicing){ stride[p[0]], stride[p[1]], stride[p[2]], (int)len[p[0]], (int)len[p[1]], (int)len[p[2]] };
}

/* dst (H0, W0) = slice s of vol */
static void slice_f32(float *dst, const float *vol, const slicing *sl, int s)
{
    const float *base = vol + (size_t)s * sl->slice_stride;
    for (int r = 0; r < sl->H0; r++)
        for (int c = 0; c < sl->W0; c++) dst[(size_t)r * sl->W0 + c] = base[r * sl->row_stride + c * sl->col_stride];
}

static void slice_u8(uint8_t *dst, const uint8_t *lab, const slicing *sl, int s)
{
    const uint8_t *base = lab + (size_t)s * sl->slice_stride;
    for (int r = 0; r < sl->H0; r++)
        for (int c = 0; c < sl->W0; c++) dst[(size_t)r * sl->W0 + c] = base[r * sl->row_stride + c * sl->col_stride];
}

/* ---- writing ----------------------------------------------------------------------- */

static int check_opts(const ms_nifti_import_opts *o)
{
    if (!o->volume || !*o->volume) return MS_FAIL(MS_ERR_INPUT, "import nifti: no VOLUME given");
    if (!o->out || !*o->out) return MS_FAIL(MS_ERR_INPUT, "import nifti: --out FILE is required");
    if ((int)o->axis < 0 || o->axis >= NIFTI_AXIS__COUNT)
        return MS_FAIL(MS_ERR_INPUT, "--axis %d: expected x, y or z", (int)o->axis);
    if (o->has_window && !(isfinite(o->window_lo) && isfinite(o->window_hi) && o->window_lo < o->window_hi))
        return MS_FAIL(MS_ERR_INPUT, "--window %g:%g: LO must be less than HI, both finite", o->window_lo, o->window_hi);
    if (o->size < 0 || o->size > NIFTI_MAX_SIDE)
        return MS_FAIL(MS_ERR_INPUT, "--size %d: expected 0 (keep) or 1..%d", o->size, NIFTI_MAX_SIDE);
    if (o->domain < -1) return MS_FAIL(MS_ERR_INPUT, "--domain %d: expected a domain >= 0", o->domain);
    if (o->gzip < 0 || o->gzip > 9) return MS_FAIL(MS_ERR_INPUT, "--gzip %d: expected 0..9", o->gzip);
    if (o->skip_empty && !o->labels)
        return MS_FAIL(MS_ERR_INPUT, "--skip-empty needs --labels VOLUME (it drops slices whose mask is all 0)");
    return MS_OK;
}

/* The corpus at o->out must be able to take slices of H x W with these datasets. */
static int check_append_target(const ms_corpus *c, const ms_nifti_import_opts *o, int H, int W)
{
    const char *why = NULL;
    char detail[160] = "";
    if (c->C != 1 || c->dtype != DTYPE_F32 || c->H != H || c->W != W) {
        why = "image shape or dtype differs";
        snprintf(detail, sizeof detail, "it holds %dx%dx%d %s images, the new slices are 1x%dx%d float32", c->C, c->H,
                 c->W, corpus_dtype_name(c->dtype), H, W);
    } else if (corpus_has_masks(c) != (o->labels != NULL)) {
        why = "masks differ";
        snprintf(detail, sizeof detail, "it %s /masks and the new slices %s (--labels)",
                 corpus_has_masks(c) ? "has" : "has no", o->labels ? "have them" : "have none");
    } else if (corpus_has_domains(c) != (o->domain >= 0)) {
        why = "domains differ";
        snprintf(detail, sizeof detail, "it %s /domains and the new slices %s (--domain)",
                 corpus_has_domains(c) ? "has" : "has no", o->domain >= 0 ? "have one" : "have none");
    }
    if (!why) return MS_OK;
    return MS_FAIL(MS_ERR_INPUT, "%s: cannot append %s to it: %s (%s); the file is left unchanged", c->path,
                   o->volume, why, detail);
}

/* Copies every sample of c into w, in blocks. */
static int copy_corpus(ms_corpus *c, ms_corpus_writer *w)
{
    const size_t HW = (size_t)c->H * c->W;
    long long block = (long long)((8u << 20) / (HW * sizeof(float)));
    if (block < 1) block = 1;
    if (block > c->N) block = c->N;
    float *img = ms_malloc((size_t)block * HW * sizeof(float));
    int32_t *labels = corpus_has_labels(c) ? ms_malloc((size_t)block * sizeof(int32_t)) : NULL;
    uint8_t *masks = corpus_has_masks(c) ? ms_malloc((size_t)block * HW) : NULL;
    int32_t *domains = corpus_has_domains(c) ? ms_malloc((size_t)block * sizeof(int32_t)) : NULL;
    int rc = MS_OK;
    for (long long first = 0; first < c->N && !rc; first += block) {
        long long n = c->N - first < block ? c->N - first : block;
        rc = corpus_read(c, first, n, img, labels, masks, domains);
        if (!rc) rc = corpus_writer_append(w, n, img, labels, masks, domains);
    }
    free(img);
    free(labels);
    free(masks);
    free(domains);
    return rc;
}

/* Appends the new slices (resized, skip_empty applied) to w; *written = how many. */
static int write_slices(ms_corpus_writer *w, const ms_nifti_import_opts *o, const float *vol, const uint8_t *lab,
                        const slicing *sl, int H, int W, int with_labels, long long *written)
{
    const size_t HW0 = (size_t)sl->H0 * sl->W0, HW = (size_t)H * W;
    const int resize = H != sl->H0 || W != sl->W0;
    int batch = (int)((8u << 20) / (HW * sizeof(float)));
    if (batch < 1) batch = 1;
    if (batch > sl->N) batch = sl->N;
    float *img = ms_malloc((size_t)batch * HW * sizeof(float)), *tmp = ms_malloc(HW0 * sizeof(float));
    uint8_t *masks = lab ? ms_malloc((size_t)batch * HW) : NULL, *tmp_mask = lab ? ms_malloc(HW0) : NULL;
    int32_t *labels = ms_malloc((size_t)batch * sizeof(int32_t)), *domains = ms_malloc((size_t)batch * sizeof(int32_t));
    for (int i = 0; i < batch; i++) {
        labels[i] = -1;
        domains[i] = o->domain;
    }
    int rc = MS_OK, n = 0;
    *written = 0;
    for (int s = 0; s < sl->N && !rc; s++) {
        float *dst = img + (size_t)n * HW;
        uint8_t *mdst = masks ? masks + (size_t)n * HW : NULL;
        if (lab) {
            slice_u8(resize ? tmp_mask : mdst, lab, sl, s);
            if (resize) fit_mask_u8(o->fit, mdst, H, W, tmp_mask, sl->H0, sl->W0);
            if (o->skip_empty) {
                size_t nz = 0;
                for (size_t i = 0; i < HW && !nz; i++) nz = mdst[i] != 0;
                if (!nz) continue;
            }
        }
        slice_f32(resize ? tmp : dst, vol, sl, s);
        if (resize) fit_f32(o->fit, dst, H, W, tmp, sl->H0, sl->W0);
        if (++n == batch) {
            rc = corpus_writer_append(w, n, img, with_labels ? labels : NULL, masks, o->domain >= 0 ? domains : NULL);
            *written += n;
            n = 0;
        }
    }
    if (!rc && n > 0) {
        rc = corpus_writer_append(w, n, img, with_labels ? labels : NULL, masks, o->domain >= 0 ? domains : NULL);
        *written += n;
    }
    free(img);
    free(tmp);
    free(masks);
    free(tmp_mask);
    free(labels);
    free(domains);
    return rc;
}

int nifti_import(const ms_nifti_import_opts *o)
{
    int rc = check_opts(o);
    if (rc) return rc;

    /* 1. the intensity volume */
    volume v;
    if ((rc = volume_load(&v, o->volume))) return rc;
    const size_t nx = v.nx, ny = v.ny, nz = v.nz;
    float *vol = ms_malloc(v.nvox * sizeof(float));
    rc = volume_normalize(&v, o, vol);
    volume_free(&v);
    if (rc) {
        free(vol);
        return rc;
    }

    /* 2. the label volume */
    uint8_t *lab = NULL;
    if (o->labels) {
        volume lv;
        if ((rc = volume_load(&lv, o->labels))) {
            free(vol);
            return rc;
        }
        if (lv.nx != nx || lv.ny != ny || lv.nz != nz) {
            rc = MS_FAIL(MS_ERR_INPUT, "%s: label volume is %zux%zux%zu but %s is %zux%zux%zu; they must have the same dims",
                         o->labels, lv.nx, lv.ny, lv.nz, o->volume, nx, ny, nz);
        } else {
            lab = ms_malloc(lv.nvox);
            rc = volume_classes(&lv, lab);
        }
        volume_free(&lv);
        if (rc) {
            free(vol);
            free(lab);
            return rc;
        }
    }

    const slicing sl = slicing_for(o->axis, nx, ny, nz);
    const int H = o->size > 0 ? o->size : sl.H0, W = o->size > 0 ? o->size : sl.W0;

    /* 3. the corpus to append to */
    ms_corpus old;
    int have_old = 0;
    if (o->append && access(o->out, F_OK) == 0) {
        if ((rc = corpus_open(&old, o->out, NULL))) goto done;
        have_old = 1;
        if ((rc = check_append_target(&old, o, H, W))) goto done;
    }

    /* 4. write */
    const int with_labels = have_old && corpus_has_labels(&old);
    unsigned flags = (with_labels ? CORPUS_WITH_LABELS : 0) | (lab ? CORPUS_WITH_MASKS : 0) |
                     (o->domain >= 0 ? CORPUS_WITH_DOMAINS : 0);
    ms_corpus_writer w;
    rc = corpus_writer_create(&w, o->out, 1, H, W, DTYPE_F32, flags, o->gzip, have_old ? old.class_names : NULL);
    if (rc) goto done;
    if (have_old) rc = copy_corpus(&old, &w);
    long long written = 0;
    if (!rc) rc = write_slices(&w, o, vol, lab, &sl, H, W, with_labels, &written);
    if (!rc && written == 0)
        rc = MS_FAIL(MS_ERR_INPUT, "%s: every slice along %s has an all-zero mask in %s (--skip-empty): nothing to write",
                     o->volume, axis_names[o->axis], o->labels);
    if (have_old) { /* closed before the rename replaces it */
        corpus_close(&old);
        have_old = 0;
    }
    if (rc) corpus_writer_abort(&w);
    else rc = corpus_writer_finish(&w);
done:
    if (have_old) corpus_close(&old);
    free(vol);
    free(lab);
    return rc;
}
