/* test_nifti — nifti_import: NIfTI volumes written here with nifticlib itself
 * (.nii, .nii.gz, .hdr/.img, NIfTI-1 and NIfTI-2, both byte orders, every
 * supported datatype) are sliced along x, y and z and read back with
 * corpus_read; every pixel must equal the window/min-max formula of the
 * header applied to the voxel the header's slicing table names, and every
 * mask pixel the label voxel. Also: --window
 * clipping, scl_slope/scl_inter, --size (bilinear image against a linear ramp,
 * nearest-exact mask), --domain, --append (counts, old samples copied exactly,
 * incompatible targets refused and left byte-identical), --skip-empty, and
 * broken inputs (missing, truncated .nii / .nii.gz, text, 2-D, 4-D, NaN, Inf,
 * label dims and values, absurd dims, complex voxels, bad options), each an
 * MS_ERR_INPUT naming the file, printing nothing, leaving no output file.
 *
 * Dimension legend: NX, NY, NZ volume dims (x fastest); N slices; H, W slice size.
 */
#include "medssl/common.h"
#include "medssl/corpus.h"
#include "medssl/nifti_import.h"
#include "testutil.h"

#include <nifti2_io.h>

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { NX = 9, NY = 8, NZ = 7, NVOX = NX * NY * NZ };

static char DIR_[256];

/* "<test folder>/name"; every call gets its own buffer, valid until exit. */
static const char *tmp(const char *name)
{
    static char buf[512][320];
    static int k;
    CHECK(k < 512);
    snprintf(buf[k], sizeof buf[k], "%s/%s", DIR_, name);
    return buf[k++];
}

static double pattern(int x, int y, int z) { return x + 10 * y + 100 * z; }
#define PATTERN_MAX (NX - 1 + 10 * (NY - 1) + 100 * (NZ - 1)) /* 678 */

/* A cube of class 1 (x, y, z in 1..3) and a ball of class 2 (radius 1.5 around (6,5,4)). */
static int label_of(int x, int y, int z)
{
    if (x >= 1 && x <= 3 && y >= 1 && y <= 3 && z >= 1 && z <= 3) return 1;
    int dx = x - 6, dy = y - 5, dz = z - 4;
    return dx * dx + dy * dy + dz * dz <= 2 ? 2 : 0; /* integer r^2 <= 2.25 */
}

/* vals (NX*NY*NZ) from a function of (x, y, z), x fastest. */
static void fill(double *vals, int nx, int ny, int nz, double (*f)(int, int, int))
{
    for (int z = 0; z < nz; z++)
        for (int y = 0; y < ny; y++)
            for (int x = 0; x < nx; x++) vals[(size_t)x + (size_t)nx * (y + (size_t)ny * z)] = f(x, y, z);
}
static double label_d(int x, int y, int z) { return label_of(x, y, z); }

/* How a test file is written: nifticlib's writer (NIfTI-1; .nii or .nii.gz by
 * name), or header + data by hand for what that writer cannot do. */
typedef enum { NII1, NII2, NII1_SWAPPED } nii_format;

/* Writes a NIfTI file: dims as in the header (dims8[0] = rank), stored as
 * datatype, voxel i = vals[i] (cast; NULL: zeros), scl_slope/scl_inter as given. */
static void write_nifti_as(const char *path, const int64_t *dims8, int datatype, const double *vals, double slope,
                           double inter, nii_format format)
{
    nifti_image *nim = nifti_make_new_nim(dims8, datatype, 1);
    CHECK(nim != NULL);
    for (size_t i = 0; vals && i < (size_t)nim->nvox; i++) {
        double v = vals[i];
        switch (datatype) {
        case DT_UINT8: ((uint8_t *)nim->data)[i] = (uint8_t)v; break;
        case DT_INT8: ((int8_t *)nim->data)[i] = (int8_t)v; break;
        case DT_INT16: ((int16_t *)nim->data)[i] = (int16_t)v; break;
        case DT_UINT16: ((uint16_t *)nim->data)[i] = (uint16_t)v; break;
        case DT_INT32: ((int32_t *)nim->data)[i] = (int32_t)v; break;
        case DT_UINT32: ((uint32_t *)nim->data)[i] = (uint32_t)v; break;
        case DT_FLOAT32: ((float *)nim->data)[i] = (float)v; break;
        case DT_FLOAT64: ((double *)nim->data)[i] = v; break;
        default: break; /* other types: left zero */
        }
    }
    nim->scl_slope = slope;
    nim->scl_inter = inter;
    if (format == NII1) {
        CHECK(nifti_set_filenames(nim, path, 0, 1) == 0); /* .hdr: a .hdr/.img pair */
        nifti_image_write(nim);
    } else {
        /* NIfTI-2: libnifti2 3.0.1's nifti_image_write leaves the header out of
         * a single-file NIfTI-2. Swapped: the other byte order (big-endian here). */
        nifti_1_header h1;
        nifti_2_header h2;
        void *hdr;
        size_t hdr_bytes;
        if (format == NII2) {
            nim->nifti_type = NIFTI_FTYPE_NIFTI2_1;
            CHECK(nifti_convert_nim2n2hdr(nim, &h2) == 0 && memcmp(h2.magic, "n+2", 4) == 0);
            h2.vox_offset = sizeof h2 + 4; /* 540 + 4 bytes of "no extensions" */
            hdr = &h2;
            hdr_bytes = sizeof h2;
        } else {
            nim->nifti_type = NIFTI_FTYPE_NIFTI1_1;
            CHECK(nifti_convert_nim2n1hdr(nim, &h1) == 0 && memcmp(h1.magic, "n+1", 4) == 0);
            h1.vox_offset = sizeof h1 + 4;
            nifti_swap_as_nifti1(&h1);
            if (nim->nbyper > 1) nifti_swap_Nbytes(nim->nvox, nim->nbyper, nim->data);
            hdr = &h1;
            hdr_bytes = sizeof h1;
        }
        const char no_ext[4] = { 0 };
        FILE *f = fopen(path, "wb");
        CHECK(f && fwrite(hdr, hdr_bytes, 1, f) == 1 && fwrite(no_ext, 4, 1, f) == 1 &&
              fwrite(nim->data, (size_t)nim->nbyper, (size_t)nim->nvox, f) == (size_t)nim->nvox);
        fclose(f);
    }
    nifti_image_free(nim);
    CHECK(access(path, F_OK) == 0);
}

static void write_nifti(const char *path, const int64_t *dims8, int datatype, const double *vals, double slope,
                        double inter)
{
    write_nifti_as(path, dims8, datatype, vals, slope, inter, NII1);
}

static void write_pattern(const char *path, int datatype, nii_format format)
{
    static double vals[NVOX];
    fill(vals, NX, NY, NZ, pattern);
    const int64_t dims[8] = { 3, NX, NY, NZ, 1, 1, 1, 1 };
    write_nifti_as(path, dims, datatype, vals, 0, 0, format);
}

static void write_labels(const char *path)
{
    static double vals[NVOX];
    fill(vals, NX, NY, NZ, label_d);
    const int64_t dims[8] = { 3, NX, NY, NZ, 1, 1, 1, 1 };
    write_nifti(path, dims, DT_UINT8, vals, 0, 0);
}

/* The voxel behind pixel (r, c) of slice s, written out per axis
 * independently of the importer's table. */
static void voxel_of(ms_nifti_axis axis, int s, int r, int c, int *x, int *y, int *z)
{
    switch (axis) {
    case NIFTI_AXIS_X: *x = s; *y = c; *z = r; break;
    case NIFTI_AXIS_Y: *x = c; *y = s; *z = r; break;
    default: *x = c; *y = r; *z = s; break;
    }
}

static void slice_shape(ms_nifti_axis axis, int nx, int ny, int nz, int *N, int *H, int *W)
{
    *N = axis == NIFTI_AXIS_X ? nx : axis == NIFTI_AXIS_Y ? ny : nz;
    *H = axis == NIFTI_AXIS_Z ? ny : nz;
    *W = axis == NIFTI_AXIS_X ? ny : nx;
}

static float scaled(double v, double lo, double hi)
{
    double x = v < lo ? lo : v > hi ? hi : v;
    return (float)((x - lo) / (hi - lo));
}

/* Reads the whole corpus: images (N,H,W), masks (N,H,W) or NULL, domains (N) or NULL. */
typedef struct {
    ms_corpus c;
    float *img;
    uint8_t *masks;
    int32_t *labels, *domains;
    int open;
} loaded;

static int load(loaded *l, const char *path)
{
    memset(l, 0, sizeof *l);
    int rc = corpus_open(&l->c, path, NULL);
    TU_CHECKF(rc == 0, "%s", ms_last_error());
    if (rc) return rc;
    l->open = 1;
    const size_t N = (size_t)l->c.N, HW = (size_t)l->c.H * l->c.W;
    l->img = ms_malloc(N * l->c.C * HW * sizeof(float));
    l->masks = corpus_has_masks(&l->c) ? ms_malloc(N * HW) : NULL;
    l->labels = corpus_has_labels(&l->c) ? ms_malloc(N * sizeof(int32_t)) : NULL;
    l->domains = corpus_has_domains(&l->c) ? ms_malloc(N * sizeof(int32_t)) : NULL;
    rc = corpus_read(&l->c, 0, l->c.N, l->img, l->labels, l->masks, l->domains);
    TU_CHECKF(rc == 0, "%s", ms_last_error());
    return rc;
}

static void unload(loaded *l)
{
    if (l->open) corpus_close(&l->c);
    free(l->img);
    free(l->masks);
    free(l->labels);
    free(l->domains);
}

/* Checks samples [first, first+N) of l against the pattern volume (lo/hi
 * scaling) and the label volume, sliced along axis. */
static void check_slices(const loaded *l, long long first, ms_nifti_axis axis, double lo, double hi, int with_masks)
{
    int N, H, W;
    slice_shape(axis, NX, NY, NZ, &N, &H, &W);
    TU_CHECK(l->c.C == 1 && l->c.H == H && l->c.W == W && l->c.dtype == DTYPE_F32);
    TU_CHECK(l->c.N >= first + N);
    TU_CHECK(with_masks == (l->masks != NULL));
    if (l->c.H != H || l->c.W != W || l->c.N < first + N) return;
    long long bad_img = 0, bad_mask = 0;
    for (int s = 0; s < N; s++)
        for (int r = 0; r < H; r++)
            for (int c = 0; c < W; c++) {
                int x, y, z;
                voxel_of(axis, s, r, c, &x, &y, &z);
                size_t at = ((size_t)(first + s) * H + r) * W + c;
                bad_img += l->img[at] != scaled(pattern(x, y, z), lo, hi);
                if (l->masks) bad_mask += l->masks[at] != label_of(x, y, z);
            }
    TU_CHECKF(bad_img == 0, "%lld image pixels differ (axis %d)", bad_img, (int)axis);
    TU_CHECKF(bad_mask == 0, "%lld mask pixels differ (axis %d)", bad_mask, (int)axis);
}

static int run(ms_nifti_import_opts *o)
{
    ms_clear_error();
    int rc = nifti_import(o);
    if (rc) fprintf(stderr, "    (nifti_import: %s)\n", ms_last_error());
    return rc;
}

/* ---- slicing ------------------------------------------------------------------------ */

static void test_slices_every_axis_nii_and_gz(void)
{
    const char *vols[5] = { tmp("pat.nii"), tmp("pat.nii.gz"), tmp("pat_n2.nii"), tmp("pat_be.nii"), tmp("pat_pair.hdr") };
    write_pattern(vols[0], DT_INT16, NII1);
    write_pattern(vols[1], DT_INT16, NII1);
    write_pattern(vols[2], DT_INT16, NII2);
    write_pattern(vols[3], DT_INT16, NII1_SWAPPED);
    write_pattern(vols[4], DT_INT16, NII1);
    CHECK(access(tmp("pat_pair.img"), F_OK) == 0);
    const char *lab = tmp("lab.nii.gz"), *out = tmp("slices.h5");
    write_labels(lab);
    for (int f = 0; f < 5; f++)
        for (int a = 0; a < NIFTI_AXIS__COUNT; a++) {
            ms_nifti_import_opts o;
            nifti_import_opts_init(&o);
            o.volume = vols[f];
            o.labels = lab;
            o.axis = (ms_nifti_axis)a;
            o.out = out;
            TU_CHECK(run(&o) == 0);
            loaded l;
            if (load(&l, o.out) == 0) {
                int N, H, W;
                slice_shape(o.axis, NX, NY, NZ, &N, &H, &W);
                TU_CHECKF(l.c.N == N, "file %d axis %d: N = %lld, expected %d", f, a, l.c.N, N);
                TU_CHECK(!l.domains && !l.labels);
                check_slices(&l, 0, o.axis, 0, PATTERN_MAX, 1);
            }
            unload(&l);
        }
    /* the default axis is z, and no labels means no /masks */
    ms_nifti_import_opts o;
    nifti_import_opts_init(&o);
    o.volume = vols[1];
    o.out = tmp("default.h5");
    TU_CHECK(run(&o) == 0);
    loaded l;
    if (load(&l, o.out) == 0) {
        TU_CHECK(l.c.N == NZ);
        check_slices(&l, 0, NIFTI_AXIS_Z, 0, PATTERN_MAX, 0);
    }
    unload(&l);
}

/* Every supported datatype, in both byte orders, gives the same slices; a
 * 4-D file with dim[4] = 1 is a volume. */
static void test_datatypes(void)
{
    static const int types[] = { DT_UINT8, DT_INT8, DT_INT16, DT_UINT16, DT_INT32, DT_UINT32, DT_FLOAT32, DT_FLOAT64 };
    enum { SX = 4, SY = 3, SZ = 2 }; /* max value 3 + 20 + 100 = 123 fits int8 */
    double vals[SX * SY * SZ];
    fill(vals, SX, SY, SZ, pattern);
    const char *path = tmp("dt.nii"), *out = tmp("dt.h5");
    for (int swapped = 0; swapped < 2; swapped++)
        for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
            const int64_t dims[8] = { t == 2 ? 4 : 3, SX, SY, SZ, 1, 1, 1, 1 };
            write_nifti_as(path, dims, types[t], vals, 0, 0, swapped ? NII1_SWAPPED : NII1);
            ms_nifti_import_opts o;
            nifti_import_opts_init(&o);
            o.volume = path;
            o.out = out;
            TU_CHECKF(run(&o) == 0, "datatype %s", nifti_datatype_string(types[t]));
            loaded l;
            if (load(&l, o.out) == 0) {
                TU_CHECK(l.c.N == SZ && l.c.H == SY && l.c.W == SX);
                int bad = 0;
                for (int i = 0; i < SX * SY * SZ; i++) bad += l.img[i] != scaled(vals[i], 0, 123);
                TU_CHECKF(bad == 0, "datatype %s%s: %d pixels differ", nifti_datatype_string(types[t]),
                          swapped ? " (swapped)" : "", bad);
            }
            unload(&l);
        }
    /* fractional float32 values: min-max over the values as stored */
    double fvals[SX * SY * SZ];
    for (int i = 0; i < SX * SY * SZ; i++) fvals[i] = (double)(float)(0.37 * i - 2.1);
    const int64_t dims[8] = { 3, SX, SY, SZ, 1, 1, 1, 1 };
    write_nifti(tmp("f.nii"), dims, DT_FLOAT32, fvals, 0, 0);
    ms_nifti_import_opts o;
    nifti_import_opts_init(&o);
    o.volume = tmp("f.nii");
    o.out = tmp("f.h5");
    TU_CHECK(run(&o) == 0);
    loaded l;
    if (load(&l, o.out) == 0) {
        int bad = 0;
        for (int i = 0; i < SX * SY * SZ; i++) bad += l.img[i] != scaled(fvals[i], fvals[0], fvals[SX * SY * SZ - 1]);
        TU_CHECK(bad == 0);
        TU_CHECK(l.img[0] == 0.0f && l.img[SX * SY * SZ - 1] == 1.0f);
    }
    unload(&l);
}

/* scl_slope/scl_inter apply (seen through an absolute window); a window clips. */
static void test_window_and_scaling(void)
{
    const char *path = tmp("win.nii.gz");
    write_pattern(path, DT_INT16, NII1);
    ms_nifti_import_opts o;
    nifti_import_opts_init(&o);
    o.volume = path;
    o.out = tmp("win.h5");
    TU_CHECK(nifti_parse_window("100:400", &o.window_lo, &o.window_hi) == 0);
    o.has_window = 1;
    TU_CHECK(run(&o) == 0);
    loaded l;
    if (load(&l, o.out) == 0) {
        check_slices(&l, 0, NIFTI_AXIS_Z, 100, 400, 0);
        /* z = 0 is all below the window, z >= 4 all above */
        TU_CHECK(l.img[0] == 0.0f && l.img[NX * NY - 1] == 0.0f);
        TU_CHECK(l.img[(size_t)4 * NX * NY] == 1.0f && l.img[(size_t)NZ * NX * NY - 1] == 1.0f);
    }
    unload(&l);

    /* stored s, value 2 s - 50: with window 0:600, pixel = (clip(2s - 50) - 0) / 600 */
    static double vals[NVOX];
    fill(vals, NX, NY, NZ, pattern);
    const int64_t dims[8] = { 3, NX, NY, NZ, 1, 1, 1, 1 };
    write_nifti(tmp("slope.nii"), dims, DT_INT16, vals, 2, -50);
    o.volume = tmp("slope.nii");
    o.window_lo = 0;
    o.window_hi = 600;
    TU_CHECK(run(&o) == 0);
    if (load(&l, o.out) == 0) {
        int bad = 0;
        for (int i = 0; i < NVOX; i++) bad += l.img[i] != scaled(2 * vals[i] - 50, 0, 600);
        TU_CHECKF(bad == 0, "%d pixels differ with scl_slope 2, scl_inter -50", bad);
    }
    unload(&l);
}

/* ---- resizing ----------------------------------------------------------------------- */

static double ramp_y(int x, int y, int z) { return y; }

static void test_size(void)
{
    /* labels with the pattern volume, along x: slices (NZ, NY) -> 16 x 16 */
    const char *vol = tmp("rs.nii"), *lab = tmp("rs_lab.nii");
    static double vals[NVOX];
    fill(vals, NX, NY, NZ, ramp_y);
    const int64_t dims[8] = { 3, NX, NY, NZ, 1, 1, 1, 1 };
    write_nifti(vol, dims, DT_FLOAT32, vals, 0, 0);
    write_labels(lab);
    enum { S = 16 };
    ms_nifti_import_opts o;
    nifti_import_opts_init(&o);
    o.volume = vol;
    o.labels = lab;
    o.axis = NIFTI_AXIS_X;
    o.size = S;
    o.out = tmp("rs.h5");
    TU_CHECK(run(&o) == 0);
    loaded l;
    if (load(&l, o.out) == 0) {
        TU_CHECK(l.c.N == NX && l.c.H == S && l.c.W == S && l.masks);
        if (l.c.H == S && l.c.W == S && l.masks) {
            const int H0 = NZ, W0 = NY; /* rows z, cols y */
            int bad_mask = 0;
            double worst = 0;
            for (int s = 0; s < NX; s++)
                for (int r = 0; r < S; r++)
                    for (int c = 0; c < S; c++) {
                        size_t at = ((size_t)s * S + r) * S + c;
                        /* nearest-exact: source row floor((r + 0.5) H0 / S) */
                        int z = (int)floor((r + 0.5) * H0 / S), y = (int)floor((c + 0.5) * W0 / S);
                        bad_mask += l.masks[at] != label_of(s, y, z);
                        /* the image is y / (NY-1), constant along z: bilinear gives the
                         * clamped source coordinate, scaled */
                        double fy = (c + 0.5) * W0 / S - 0.5;
                        fy = fy < 0 ? 0 : fy > W0 - 1 ? W0 - 1 : fy;
                        double e = fabs(l.img[at] - fy / (NY - 1));
                        if (e > worst) worst = e;
                    }
            TU_CHECKF(bad_mask == 0, "%d mask pixels differ from nearest-exact", bad_mask);
            TU_CHECKF(worst < 1e-5, "bilinear ramp off by %g", worst);
        }
    }
    unload(&l);
    /* shrinking: shape, and values stay in [0, 1] */
    o.size = 4;
    o.axis = NIFTI_AXIS_Z;
    TU_CHECK(run(&o) == 0);
    if (load(&l, o.out) == 0) {
        TU_CHECK(l.c.N == NZ && l.c.H == 4 && l.c.W == 4);
        int out_of_range = 0;
        for (size_t i = 0; i < (size_t)l.c.N * 16; i++) out_of_range += !(l.img[i] >= 0 && l.img[i] <= 1);
        TU_CHECK(out_of_range == 0);
    }
    unload(&l);
}

/* ---- domains, append, skip-empty ---------------------------------------------------- */

static double pattern_b(int x, int y, int z) { return 1000 - pattern(x, y, z); }

static int read_file(const char *path, char **buf, long *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    *len = ftell(f);
    fseek(f, 0, SEEK_SET);
    *buf = ms_malloc((size_t)*len);
    size_t got = fread(*buf, 1, (size_t)*len, f);
    fclose(f);
    return got == (size_t)*len ? 0 : -1;
}

/* No "<name>.tmp.<pid>" files left in the test folder. */
static int tmp_files_left(void)
{
    DIR *d = opendir(DIR_);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    if (d) closedir(d);
    return n;
}

/* An append that must fail with MS_ERR_INPUT naming `out` and leave it byte-identical. */
static void check_append_refused(ms_nifti_import_opts *o, const char *what)
{
    char *before = NULL, *after = NULL;
    long len0 = 0, len1 = 0;
    CHECK(read_file(o->out, &before, &len0) == 0);
    ms_clear_error();
    int rc = nifti_import(o);
    TU_CHECKF(rc == MS_ERR_INPUT, "%s: rc %d", what, rc);
    TU_CHECKF(strstr(ms_last_error(), o->out) != NULL, "%s: message '%s' does not name %s", what, ms_last_error(),
              o->out);
    TU_CHECK(read_file(o->out, &after, &len1) == 0);
    TU_CHECKF(len0 == len1 && memcmp(before, after, (size_t)len0) == 0, "%s: the old corpus changed", what);
    TU_CHECK(tmp_files_left() == 0);
    free(before);
    free(after);
}

static void test_domain_and_append(void)
{
    const char *a = tmp("a.nii.gz"), *b = tmp("b.nii"), *lab = tmp("ab_lab.nii.gz"), *out = tmp("ab.h5");
    write_pattern(a, DT_INT16, NII1);
    static double vals[NVOX];
    fill(vals, NX, NY, NZ, pattern_b);
    const int64_t dims[8] = { 3, NX, NY, NZ, 1, 1, 1, 1 };
    write_nifti(b, dims, DT_INT32, vals, 0, 0);
    write_labels(lab);
    unlink(out);

    ms_nifti_import_opts o;
    nifti_import_opts_init(&o);
    o.volume = a;
    o.labels = lab;
    o.domain = 0;
    o.append = 1; /* no file yet: creates it */
    o.out = out;
    TU_CHECK(run(&o) == 0);
    loaded first;
    if (load(&first, out) == 0) {
        TU_CHECK(first.c.N == NZ && first.domains && first.masks);
        for (int i = 0; first.domains && i < NZ; i++) TU_CHECK(first.domains[i] == 0);
    }
    o.volume = b;
    o.domain = 1;
    TU_CHECK(run(&o) == 0);
    loaded both;
    if (load(&both, out) == 0 && first.img) {
        TU_CHECK(both.c.N == 2 * NZ && both.domains && both.masks);
        if (both.c.N == 2 * NZ && both.domains) {
            const size_t n0 = (size_t)NZ * NX * NY;
            TU_CHECK(memcmp(both.img, first.img, n0 * sizeof(float)) == 0);
            TU_CHECK(memcmp(both.masks, first.masks, n0) == 0);
            check_slices(&both, 0, NIFTI_AXIS_Z, 0, PATTERN_MAX, 1);
            int bad = 0;
            for (size_t i = 0; i < n0; i++) bad += both.img[n0 + i] != scaled(vals[i], 1000 - PATTERN_MAX, 1000);
            TU_CHECKF(bad == 0, "%d pixels of the appended volume differ", bad);
            TU_CHECK(memcmp(both.masks + n0, first.masks, n0) == 0);
            for (int i = 0; i < 2 * NZ; i++) TU_CHECK(both.domains[i] == (i < NZ ? 0 : 1));
        }
    }
    unload(&first);
    unload(&both);

    /* incompatible appends: refused, old corpus untouched */
    o.axis = NIFTI_AXIS_X; /* slices NZ x NY instead of NY x NX */
    check_append_refused(&o, "other slice shape");
    o.axis = NIFTI_AXIS_Z;
    o.domain = -1;
    check_append_refused(&o, "no --domain");
    o.domain = 1;
    o.labels = NULL;
    check_append_refused(&o, "no --labels");
    o.labels = lab;
    o.size = 32;
    check_append_refused(&o, "other --size");
    o.size = 0;
    /* a uint8 corpus of the same shape */
    const char *u8 = tmp("u8.h5");
    ms_corpus_writer w;
    uint8_t img[NX * NY] = { 0 }, msk[NX * NY] = { 0 };
    int32_t dom = 0;
    TU_CHECK(corpus_writer_create(&w, u8, 1, NY, NX, DTYPE_U8, CORPUS_WITH_MASKS | CORPUS_WITH_DOMAINS, 0, NULL) == 0);
    TU_CHECK(corpus_writer_append(&w, 1, img, NULL, msk, &dom) == 0);
    TU_CHECK(corpus_writer_finish(&w) == 0);
    o.out = u8;
    check_append_refused(&o, "uint8 corpus");
    /* not a corpus at all */
    const char *txt = tmp("notes.h5");
    FILE *f = fopen(txt, "w");
    fputs("not hdf5\n", f);
    fclose(f);
    o.out = txt;
    check_append_refused(&o, "text file");

    /* a labeled float32 corpus: new slices come in unlabeled (-1), class names kept */
    const char *lab_out = tmp("labeled.h5");
    float fimg[2 * NX * NY] = { 0 };
    int32_t labels[2] = { 0, 1 };
    TU_CHECK(corpus_writer_create(&w, lab_out, 1, NY, NX, DTYPE_F32, CORPUS_WITH_LABELS, 0, "cat,dog") == 0);
    TU_CHECK(corpus_writer_append(&w, 2, fimg, labels, NULL, NULL) == 0);
    TU_CHECK(corpus_writer_finish(&w) == 0);
    nifti_import_opts_init(&o);
    o.volume = a;
    o.append = 1;
    o.out = lab_out;
    TU_CHECK(run(&o) == 0);
    loaded l;
    if (load(&l, lab_out) == 0) {
        TU_CHECK(l.c.N == 2 + NZ && l.labels && strcmp(l.c.class_names, "cat,dog") == 0);
        for (int i = 0; l.labels && i < l.c.N; i++) TU_CHECK(l.labels[i] == (i < 2 ? labels[i] : -1));
    }
    unload(&l);

    /* without append, an existing corpus is replaced */
    o.append = 0;
    o.out = out;
    TU_CHECK(run(&o) == 0);
    if (load(&l, out) == 0) TU_CHECK(l.c.N == NZ && !l.domains && !l.masks);
    unload(&l);
}

static void test_skip_empty(void)
{
    const char *vol = tmp("se.nii"), *lab = tmp("se_lab.nii");
    write_pattern(vol, DT_INT16, NII1);
    write_labels(lab);
    ms_nifti_import_opts o;
    nifti_import_opts_init(&o);
    o.volume = vol;
    o.labels = lab;
    o.skip_empty = 1;
    o.out = tmp("se.h5");
    TU_CHECK(run(&o) == 0);
    loaded l;
    if (load(&l, o.out) == 0) { /* z = 0 and z = 6 hold no label */
        TU_CHECK(l.c.N == NZ - 2);
        /* slice 0 written is z = 1 */
        TU_CHECK(l.img[0] == scaled(pattern(0, 0, 1), 0, PATTERN_MAX));
        TU_CHECK(l.img[(size_t)(NZ - 3) * NX * NY] == scaled(pattern(0, 0, 5), 0, PATTERN_MAX));
    }
    unload(&l);
    o.axis = NIFTI_AXIS_X; /* x = 0, 4 and 8 are empty */
    TU_CHECK(run(&o) == 0);
    if (load(&l, o.out) == 0) TU_CHECK(l.c.N == NX - 3);
    unload(&l);
    /* an all-zero label volume leaves nothing: an error, no file */
    const int64_t dims[8] = { 3, NX, NY, NZ, 1, 1, 1, 1 };
    write_nifti(tmp("zero.nii"), dims, DT_UINT8, NULL, 0, 0);
    o.labels = tmp("zero.nii");
    o.out = tmp("se_none.h5");
    ms_clear_error();
    TU_CHECK(nifti_import(&o) == MS_ERR_INPUT);
    TU_CHECK(strstr(ms_last_error(), o.labels) != NULL);
    TU_CHECK(access(o.out, F_OK) != 0 && tmp_files_left() == 0);
}

/* ---- broken inputs ------------------------------------------------------------------ */

/* nifti_import must fail with MS_ERR_INPUT, name `named` (and `named2` if
 * given), print nothing, and leave no output file. */
static void expect_input_error(ms_nifti_import_opts *o, const char *named, const char *named2, const char *what)
{
    const char *err_path = tmp("stderr.txt");
    fflush(stderr);
    int saved = dup(2), fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    ms_clear_error();
    int rc = nifti_import(o);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    struct stat st;
    TU_CHECKF(stat(err_path, &st) == 0 && st.st_size == 0, "%s: %lld bytes printed on stderr", what,
              (long long)st.st_size);
    TU_CHECKF(rc == MS_ERR_INPUT, "%s: rc %d (%s)", what, rc, ms_last_error());
    TU_CHECKF(named == NULL || strstr(ms_last_error(), named), "%s: '%s' does not name %s", what, ms_last_error(), named);
    TU_CHECKF(named2 == NULL || strstr(ms_last_error(), named2), "%s: '%s' does not name %s", what, ms_last_error(),
              named2);
    TU_CHECKF(access(o->out, F_OK) != 0, "%s: %s exists", what, o->out);
    TU_CHECK(tmp_files_left() == 0);
    if (rc == MS_ERR_INPUT) fprintf(stderr, "    ok, %s: %s\n", what, ms_last_error());
}

static void truncate_file(const char *src, const char *dst, long keep)
{
    char *buf;
    long len;
    CHECK(read_file(src, &buf, &len) == 0 && keep < len);
    FILE *f = fopen(dst, "wb");
    CHECK(f && fwrite(buf, 1, (size_t)keep, f) == (size_t)keep);
    fclose(f);
    free(buf);
}

static void test_broken_volumes(void)
{
    const char *good = tmp("good.nii"), *good_gz = tmp("good.nii.gz");
    write_pattern(good, DT_FLOAT32, NII1);
    write_pattern(good_gz, DT_FLOAT32, NII1);
    ms_nifti_import_opts o;
    nifti_import_opts_init(&o);
    o.out = tmp("broken.h5");
    unlink(o.out);

    o.volume = tmp("missing.nii");
    expect_input_error(&o, o.volume, NULL, "missing file");
    o.volume = tmp("good"); /* nifticlib would find good.nii from the prefix; we do not */
    expect_input_error(&o, o.volume, NULL, "prefix without extension");

    const char *t1 = tmp("trunc_data.nii"), *t2 = tmp("trunc_hdr.nii"), *t3 = tmp("trunc.nii.gz");
    truncate_file(good, t1, 352 + NVOX * 4 / 2);
    truncate_file(good, t2, 200);
    struct stat st;
    CHECK(stat(good_gz, &st) == 0);
    truncate_file(good_gz, t3, (long)st.st_size / 2);
    o.volume = t1;
    expect_input_error(&o, t1, NULL, "truncated data");
    o.volume = t2;
    expect_input_error(&o, t2, NULL, "truncated header");
    o.volume = t3;
    expect_input_error(&o, t3, NULL, "truncated .nii.gz");
    const char *hdr = tmp("lonely.hdr");
    write_pattern(hdr, DT_FLOAT32, NII1);
    CHECK(unlink(tmp("lonely.img")) == 0);
    o.volume = hdr;
    expect_input_error(&o, hdr, "lonely.img", ".hdr without its .img");

    const char *txt = tmp("notes.nii"), *txt2 = tmp("notes.txt");
    FILE *f = fopen(txt, "w");
    fputs("patient 17, T1, see scanner log\n", f);
    fclose(f);
    truncate_file(txt, txt2, 20);
    o.volume = txt;
    expect_input_error(&o, txt, NULL, "text file named .nii");
    o.volume = txt2;
    expect_input_error(&o, txt2, NULL, "text file");
    o.volume = DIR_;
    expect_input_error(&o, DIR_, NULL, "a folder");

    static double vals[NVOX];
    fill(vals, NX, NY, NZ, pattern);
    const int64_t dims2d[8] = { 2, NX, NY, 1, 1, 1, 1, 1 };
    write_nifti(tmp("flat.nii"), dims2d, DT_FLOAT32, vals, 0, 0);
    o.volume = tmp("flat.nii");
    expect_input_error(&o, o.volume, NULL, "2-D image");
    const int64_t dims4d[8] = { 4, NX, NY, NZ, 2, 1, 1, 1 };
    write_nifti(tmp("time.nii"), dims4d, DT_FLOAT32, NULL, 0, 0);
    o.volume = tmp("time.nii");
    expect_input_error(&o, o.volume, NULL, "4-D with two volumes");
    const int64_t dims_big[8] = { 3, 20000, 1, 1, 1, 1, 1, 1 };
    write_nifti(tmp("big.nii"), dims_big, DT_UINT8, NULL, 0, 0);
    o.volume = tmp("big.nii");
    expect_input_error(&o, o.volume, NULL, "dim 20000");
    const int64_t dims3[8] = { 3, NX, NY, NZ, 1, 1, 1, 1 };
    write_nifti(tmp("complex.nii"), dims3, DT_COMPLEX64, NULL, 0, 0);
    o.volume = tmp("complex.nii");
    expect_input_error(&o, o.volume, "complex", "complex voxels");

    vals[2 + NX * 1] = NAN; /* voxel (2,1,0) */
    write_nifti(tmp("nan.nii.gz"), dims3, DT_FLOAT32, vals, 0, 0);
    o.volume = tmp("nan.nii.gz");
    expect_input_error(&o, o.volume, "(2,1,0)", "NaN voxel");
    o.has_window = 1; /* a window does not hide it */
    o.window_lo = 0;
    o.window_hi = 100;
    expect_input_error(&o, o.volume, "(2,1,0)", "NaN voxel with a window");
    o.has_window = 0;
    vals[2 + NX * 1] = 0;
    vals[NX * NY * 3] = -INFINITY; /* voxel (0,0,3) */
    write_nifti(tmp("inf.nii"), dims3, DT_FLOAT64, vals, 0, 0);
    o.volume = tmp("inf.nii");
    expect_input_error(&o, o.volume, "(0,0,3)", "-Inf voxel");
}

static void test_broken_labels(void)
{
    const char *vol = tmp("lv.nii");
    write_pattern(vol, DT_INT16, NII1);
    ms_nifti_import_opts o;
    nifti_import_opts_init(&o);
    o.volume = vol;
    o.out = tmp("lbroken.h5");
    unlink(o.out);

    static double vals[NVOX];
    fill(vals, NX, NY, NZ, label_d);
    const int64_t short_dims[8] = { 3, NX, NY, NZ - 1, 1, 1, 1, 1 }, dims[8] = { 3, NX, NY, NZ, 1, 1, 1, 1 };
    write_nifti(tmp("lab_short.nii"), short_dims, DT_UINT8, vals, 0, 0);
    o.labels = tmp("lab_short.nii");
    expect_input_error(&o, o.labels, vol, "label dims mismatch");

    vals[4 + NX * (2 + NY * 5)] = 300; /* voxel (4,2,5) */
    write_nifti(tmp("lab300.nii"), dims, DT_INT16, vals, 0, 0);
    o.labels = tmp("lab300.nii");
    expect_input_error(&o, o.labels, "300", "label 300");
    vals[4 + NX * (2 + NY * 5)] = 255;
    write_nifti(tmp("lab255.nii"), dims, DT_INT16, vals, 0, 0);
    o.labels = tmp("lab255.nii");
    expect_input_error(&o, o.labels, "(4,2,5)", "label 255 (reserved)");
    vals[4 + NX * (2 + NY * 5)] = -1;
    write_nifti(tmp("labneg.nii"), dims, DT_INT16, vals, 0, 0);
    o.labels = tmp("labneg.nii");
    expect_input_error(&o, o.labels, "(4,2,5)", "label -1");
    vals[4 + NX * (2 + NY * 5)] = 1.5;
    write_nifti(tmp("labfrac.nii"), dims, DT_FLOAT32, vals, 0, 0);
    o.labels = tmp("labfrac.nii");
    expect_input_error(&o, o.labels, "1.5", "label 1.5");
    o.labels = tmp("no_labels.nii");
    expect_input_error(&o, o.labels, NULL, "missing label file");

    /* integral float labels and 254 are fine */
    vals[4 + NX * (2 + NY * 5)] = 254;
    write_nifti(tmp("lab254.nii"), dims, DT_FLOAT32, vals, 0, 0);
    o.labels = tmp("lab254.nii");
    TU_CHECK(run(&o) == 0);
    loaded l;
    if (load(&l, o.out) == 0) TU_CHECK(l.masks && l.masks[(size_t)5 * NX * NY + 2 * NX + 4] == 254);
    unload(&l);
}

static void test_options(void)
{
    ms_nifti_axis axis = NIFTI_AXIS_Z;
    TU_CHECK(nifti_parse_axis("x", &axis) == 0 && axis == NIFTI_AXIS_X);
    TU_CHECK(nifti_parse_axis("y", &axis) == 0 && axis == NIFTI_AXIS_Y);
    TU_CHECK(nifti_parse_axis("z", &axis) == 0 && axis == NIFTI_AXIS_Z);
    TU_CHECK(nifti_parse_axis("w", &axis) == MS_ERR_INPUT && strstr(ms_last_error(), "--axis"));
    TU_CHECK(nifti_parse_axis("", &axis) == MS_ERR_INPUT);
    TU_CHECK(nifti_parse_axis("xy", &axis) == MS_ERR_INPUT);
    double lo = 0, hi = 0;
    TU_CHECK(nifti_parse_window("-1000:400", &lo, &hi) == 0 && lo == -1000 && hi == 400);
    TU_CHECK(nifti_parse_window("0.5:1e3", &lo, &hi) == 0 && lo == 0.5 && hi == 1000);
    static const char *bad[] = { "400", "1:a", "5:1", "3:3", ":3", "3:", "nan:4", "1:inf", "1:2:3", "", "a:b" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        TU_CHECKF(nifti_parse_window(bad[i], &lo, &hi) == MS_ERR_INPUT && strstr(ms_last_error(), "--window"),
                  "'%s' accepted", bad[i]);

    const char *vol = tmp("opt.nii");
    write_pattern(vol, DT_UINT16, NII1);
    ms_nifti_import_opts o;
    nifti_import_opts_init(&o);
    TU_CHECK(o.axis == NIFTI_AXIS_Z && o.domain == -1 && !o.has_window && o.size == 0 && !o.append);
    o.volume = vol;
    o.out = tmp("opt.h5");
    unlink(o.out);
    o.has_window = 1;
    o.window_lo = o.window_hi = 5;
    expect_input_error(&o, "--window", NULL, "empty window");
    o.has_window = 0;
    o.size = -1;
    expect_input_error(&o, "--size", NULL, "size -1");
    o.size = NIFTI_MAX_SIDE + 1;
    expect_input_error(&o, "--size", NULL, "size too big");
    o.size = 0;
    o.domain = -2;
    expect_input_error(&o, "--domain", NULL, "domain -2");
    o.domain = -1;
    o.skip_empty = 1;
    expect_input_error(&o, "--skip-empty", NULL, "skip-empty without labels");
    o.skip_empty = 0;
    o.axis = (ms_nifti_axis)7;
    expect_input_error(&o, "--axis", NULL, "axis 7");
    o.axis = NIFTI_AXIS_Z;
    o.gzip = 4; /* and a good run with gzip */
    TU_CHECK(run(&o) == 0);
    loaded l;
    if (load(&l, o.out) == 0) check_slices(&l, 0, NIFTI_AXIS_Z, 0, PATTERN_MAX, 0);
    unload(&l);
}

int main(void)
{
    snprintf(DIR_, sizeof DIR_, "/tmp/medssl_test_nifti.%ld", (long)getpid());
    CHECK(mkdir(DIR_, 0700) == 0);
    TU_RUN(test_slices_every_axis_nii_and_gz);
    TU_RUN(test_datatypes);
    TU_RUN(test_window_and_scaling);
    TU_RUN(test_size);
    TU_RUN(test_domain_and_append);
    TU_RUN(test_skip_empty);
    TU_RUN(test_broken_volumes);
    TU_RUN(test_broken_labels);
    TU_RUN(test_options);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", DIR_);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", DIR_);
    return tu_summary();
}
