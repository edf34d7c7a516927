/* idx — IDX files (MNIST / Fashion-MNIST), see include/medssl/idx.h.
 *
 * IDX: a big-endian header (magic 0x00000800 | type << 8 | ndims, then ndims
 * uint32 sizes) followed by the raw values; we accept unsigned bytes (type 0x08).
 * Files may be gzip-compressed (zlib's gzread reads both).
 */
#include "medssl/idx.h"
#include "medssl/common.h"

#include <errno.h>
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
