/* import_idx — IDX files (MNIST / Fashion-MNIST), stratified labeled subsets and
 * resizing (see include/medssl/importers.h).
 *
 * IDX: a big-endian header (magic 0x00000800 | type << 8 | ndims, then ndims
 * uint32 sizes) followed by the raw values; we accept unsigned bytes (type 0x08).
 * Files may be gzip-compressed (zlib's gzread reads both).
 */
#include "medssl/importers.h"
#include "medssl/common.h"
#include "medssl/rng.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define IDX_MAX_N 100000000L
#define IDX_MAX_SIDE 16384

static int read_exact(gzFile f, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        unsigned chunk = n - got > (1u << 30) ? (1u << 30) : (unsigned)(n - got);
        int r = gzread(f, (char *)buf + got, chunk);
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return 0;
}

/* Opens path, checks the magic for ubyte with `ndims` dims, fills dims. */
static int idx_open(const char *path, int ndims, uint32_t *dims, gzFile *out)
{
    gzFile f = gzopen(path, "rb");
    if (!f) return MS_FAIL(MS_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno ? errno : ENOENT));
    uint8_t head[4 + 4 * 3];
    if (read_exact(f, head, 4) != 0) {
        gzclose(f);
        return MS_FAIL(MS_ERR_INPUT, "%s: too short for an IDX header (truncated or not IDX)", path);
    }
    if (head[0] != 0 || head[1] != 0 || head[2] != 0x08 || head[3] != ndims) {
        gzclose(f);
        return MS_FAIL(MS_ERR_INPUT,
                       "%s: not an IDX %s file (magic %02x %02x %02x %02x, expected 00 00 08 %02x: unsigned bytes, %d dims)",
                       path, ndims == 3 ? "image" : "label", head[0], head[1], head[2], head[3], ndims, ndims);
    }
    if (read_exact(f, head + 4, 4 * (size_t)ndims) != 0) {
        gzclose(f);
        return MS_FAIL(MS_ERR_INPUT, "%s: truncated IDX header", path);
    }
    for (int i = 0; i < ndims; i++) {
        const uint8_t *p = head + 4 + 4 * i;
        dims[i] = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    }
    *out = f;
    return MS_OK;
}

/* Reads the n values the header declares. The buffer grows with the data
 * actually read (doubling from 1 MiB), so a header that declares more than the
 * file holds (up to 1e8 x 16384 x 16384 bytes) is a "truncated" input error
 * after reading what is there, never an allocation of the declared size. */
#define IDX_FIRST_BLOCK ((size_t)1 << 20)
static int idx_read_body(const char *path, gzFile f, size_t n, uint8_t **out)
{
    size_t cap = n < IDX_FIRST_BLOCK ? n : IDX_FIRST_BLOCK, got = 0;
    uint8_t *buf = ms_malloc(cap);
    int truncated = 0;
    while (got < n && !truncated) {
        if (got == cap) {
            cap = n - cap < cap ? n : 2 * cap;
            buf = ms_realloc(buf, cap);
        }
        const unsigned chunk = cap - got > (1u << 30) ? (1u << 30) : (unsigned)(cap - got);
        const int r = gzread(f, buf + got, chunk);
        if (r <= 0) truncated = 1;
        else got += (size_t)r;
    }
    uint8_t extra;
    if (truncated) {
        free(buf);
        gzclose(f);
        return MS_FAIL(MS_ERR_INPUT, "%s: truncated: %zu of the %zu values its header declares", path, got, n);
    }
    if (gzread(f, &extra, 1) > 0) {
        free(buf);
        gzclose(f);
        return MS_FAIL(MS_ERR_INPUT, "%s: more data than its header declares (corrupt header?)", path);
    }
    gzclose(f);
    *out = buf;
    return MS_OK;
}

int idx_read_images(const char *path, uint8_t **out, int *N, int *H, int *W)
{
    uint32_t d[3];
    gzFile f;
    int rc = idx_open(path, 3, d, &f);
    if (rc) return rc;
    if (d[0] < 1 || d[0] > IDX_MAX_N || d[1] < 1 || d[1] > IDX_MAX_SIDE || d[2] < 1 || d[2] > IDX_MAX_SIDE) {
        gzclose(f);
        return MS_FAIL(MS_ERR_INPUT, "%s: implausible IDX dimensions %u x %u x %u", path, d[0], d[1], d[2]);
    }
    *N = (int)d[0];
    *H = (int)d[1];
    *W = (int)d[2];
    return idx_read_body(path, f, (size_t)d[0] * d[1] * d[2], out);
}

int idx_read_labels(const char *path, uint8_t **out, int *N)
{
    uint32_t d[1];
    gzFile f;
    int rc = idx_open(path, 1, d, &f);
    if (rc) return rc;
    if (d[0] < 1 || d[0] > IDX_MAX_N) {
        gzclose(f);
        return MS_FAIL(MS_ERR_INPUT, "%s: implausible IDX label count %u", path, d[0]);
    }
    *N = (int)d[0];
    return idx_read_body(path, f, d[0], out);
}

void labels_keep_stratified(int32_t *labels, int N, int n_classes, int labeled_per_class,
                            double labeled_fraction, uint64_t seed)
{
    int *idx = ms_malloc((size_t)N * sizeof(int));
    for (int c = 0; c < n_classes; c++) {
        int n = 0;
        for (int i = 0; i < N; i++)
            if (labels[i] == c) idx[n++] = i;
        /* Fisher-Yates with a stream keyed by (seed, class) */
        ms_rng r = rng_stream(rng_key(seed, 0, (uint64_t)c, RNG_SPLIT));
        for (int i = n - 1; i > 0; i--) {
            int j = (int)rng_below(&r, (uint32_t)(i + 1));
            int t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
        }
        int keep = labeled_per_class;
        if (keep < 0) {
            keep = (int)lround(labeled_fraction * n);
            if (keep == 0 && labeled_fraction > 0 && n > 0) keep = 1;
        }
        if (keep > n) keep = n;
        for (int i = keep; i < n; i++) labels[idx[i]] = -1;
    }
    free(idx);
}

/* Source taps of output coordinate `o` for a bilinear resize by `scale` (= in / out)
 * over `n` input samples: align_corners=False, clamped at the edges. */
typedef struct {
    int i0, i1;
    float w; /* weight of i1 */
} bilinear_tap;

static bilinear_tap tap_of(int o, float scale, int n)
{
    float f = (o + 0.5f) * scale - 0.5f;
    if (f < 0) f = 0;
    bilinear_tap t = { (int)f, 0, 0 };
    t.i1 = t.i0 + 1 < n ? t.i0 + 1 : n - 1;
    t.w = f - t.i0;
    return t;
}

/* The bilinear value at output (ty, tx) of a plane src (H, W) of type T. */
#define BILINEAR_AT(src, W, ty, tx)                                                                  \
    ((1 - (ty).w) * ((1 - (tx).w) * (src)[(ty).i0 * (W) + (tx).i0] + (tx).w * (src)[(ty).i0 * (W) + (tx).i1]) + \
     (ty).w * ((1 - (tx).w) * (src)[(ty).i1 * (W) + (tx).i0] + (tx).w * (src)[(ty).i1 * (W) + (tx).i1]))

void resize_f32_bilinear(float *dst, int dst_h, int dst_w, const float *src, int H, int W)
{
    const float sy = (float)H / dst_h, sx = (float)W / dst_w;
    for (int y = 0; y < dst_h; y++) {
        const bilinear_tap ty = tap_of(y, sy, H);
        for (int x = 0; x < dst_w; x++) {
            const bilinear_tap tx = tap_of(x, sx, W);
            dst[(size_t)y * dst_w + x] = BILINEAR_AT(src, W, ty, tx);
        }
    }
}

int fit_parse(const char *name, int size, ms_fit *fit)
{
    *fit = FIT_RESIZE;
    if (!name) return MS_OK;
    if (strcmp(name, "pad") == 0) *fit = FIT_PAD;
    else if (strcmp(name, "resize") != 0) return MS_FAIL(MS_ERR_INPUT, "--fit %s: expected resize or pad", name);
    if (size <= 0) return MS_FAIL(MS_ERR_INPUT, "--fit %s needs --size S (the side to fit to)", name);
    return MS_OK;
}

/* dst (dst_h, dst_w) = src (H, W) centred, zeros around, cropped if larger. */
#define PAD_CENTRED(dst, dst_h, dst_w, src, H, W)                                     \
    do {                                                                              \
        const int oy = ((dst_h) - (H)) / 2 - ((dst_h) - (H) < 0 && ((dst_h) - (H)) % 2), \
                  ox = ((dst_w) - (W)) / 2 - ((dst_w) - (W) < 0 && ((dst_w) - (W)) % 2); \
        for (int y = 0; y < (dst_h); y++)                                             \
            for (int x = 0; x < (dst_w); x++) {                                       \
                const int sy = y - oy, sx = x - ox;                                   \
                (dst)[(size_t)y * (dst_w) + x] =                                      \
                    sy >= 0 && sy < (H) && sx >= 0 && sx < (W) ? (src)[(size_t)sy * (W) + sx] : 0; \
            }                                                                         \
    } while (0)

void pad_u8(uint8_t *dst, int dst_h, int dst_w, const uint8_t *src, int H, int W)
{
    PAD_CENTRED(dst, dst_h, dst_w, src, H, W);
}

void pad_f32(float *dst, int dst_h, int dst_w, const float *src, int H, int W)
{
    PAD_CENTRED(dst, dst_h, dst_w, src, H, W);
}

void resize_u8_bilinear(uint8_t *dst, int dst_h, int dst_w, const uint8_t *src, int H, int W)
{
    const float sy = (float)H / dst_h, sx = (float)W / dst_w;
    for (int y = 0; y < dst_h; y++) {
        const bilinear_tap ty = tap_of(y, sy, H);
        for (int x = 0; x < dst_w; x++) {
            const bilinear_tap tx = tap_of(x, sx, W);
            float v = BILINEAR_AT(src, W, ty, tx);
            dst[(size_t)y * dst_w + x] = (uint8_t)lroundf(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
}
