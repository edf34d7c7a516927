/* png_io — checked libpng wrappers (see include/medssl/png_io.h).
 *
 * Every libpng call that can fail runs inside one function that owns the
 * setjmp; libpng's error callback copies its message into a png_ctx and
 * longjmps back there, where it becomes MS_FAIL(MS_ERR_INPUT, "<path>: ...").
 * Everything allocated while libpng runs hangs off the png_ctx (an object
 * whose address libpng holds), so the error path can free it after a longjmp.
 */
#include "medssl/png_io.h"
#include "medssl/atomic.h"
#include "medssl/common.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    const char *path;
    FILE *f;
    char msg[200];       /* libpng's last error message */
    png_bytep buf;       /* decoded rows (H, rowbytes) */
    png_bytepp rows;     /* H row pointers into buf */
    float *pixels;       /* (C,H,W) result */
} png_ctx;

static void on_error(png_structp png, png_const_charp msg)
{
    png_ctx *ctx = png_get_error_ptr(png);
    snprintf(ctx->msg, sizeof ctx->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg; /* libpng warnings (unknown chunks, bad ancillary CRCs) are not worth a line */
}

static void on_read(png_structp png, png_bytep data, size_t n)
{
    png_ctx *ctx = png_get_io_ptr(png);
    if (fread(data, 1, n, ctx->f) != n) png_error(png, ferror(ctx->f) ? "read error" : "file ends early (truncated)");
}

static void on_write(png_structp png, png_bytep data, size_t n)
{
    png_ctx *ctx = png_get_io_ptr(png);
    if (fwrite(data, 1, n, ctx->f) != n) png_error(png, "write failed (disk full?)");
}

static void on_flush(png_structp png)
{
    png_ctx *ctx = png_get_io_ptr(png);
    fflush(ctx->f);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Checks the signature and the IHDR chunk's size by hand before libpng sees
 * the file, so "not a PNG" and "absurd size" get their own clear messages,
 * then rewinds. */
static int precheck(png_ctx *ctx)
{
    uint8_t head[8 + 8 + 13];
    size_t got = fread(head, 1, sizeof head, ctx->f);
    if (got < 8 || png_sig_cmp(head, 0, 8) != 0)
        return MS_FAIL(MS_ERR_INPUT, "%s: not a PNG file (no PNG signature)", ctx->path);
    if (got < sizeof head) return MS_FAIL(MS_ERR_INPUT, "%s: truncated PNG (file ends inside the header)", ctx->path);
    if (be32(head + 8) != 13 || memcmp(head + 12, "IHDR", 4) != 0)
        return MS_FAIL(MS_ERR_INPUT, "%s: corrupt PNG (the first chunk is not a 13-byte IHDR)", ctx->path);
    uint32_t W = be32(head + 16), H = be32(head + 20);
    if (W < 1 || H < 1 || W > PNG_IO_MAX_SIDE || H > PNG_IO_MAX_SIDE)
        return MS_FAIL(MS_ERR_INPUT, "%s: PNG header claims %u x %u pixels (W x H); expected 1 to %d per side", ctx->path,
                       W, H, PNG_IO_MAX_SIDE);
    rewind(ctx->f);
    return MS_OK;
}

/* Runs libpng on ctx->f: the header only (want_pixels == 0) or the whole
 * image into ctx->pixels. The only function that calls setjmp. */
static int decode(png_structp png, png_infop info, png_ctx *ctx, int want_pixels, int *H, int *W, int *C,
                  int *bit_depth)
{
    if (setjmp(png_jmpbuf(png))) return MS_FAIL(MS_ERR_INPUT, "%s: corrupt or truncated PNG: %s", ctx->path, ctx->msg);
    png_set_read_fn(png, ctx, on_read);
    png_read_info(png, info);
    png_uint_32 w, h;
    int depth, color, interlace;
    png_get_IHDR(png, info, &w, &h, &depth, &color, &interlace, NULL, NULL);
    if (w > PNG_IO_MAX_SIDE || h > PNG_IO_MAX_SIDE) /* precheck saw the same IHDR; belt and braces */
        return MS_FAIL(MS_ERR_INPUT, "%s: %u x %u pixels; expected at most %d per side", ctx->path, (unsigned)w,
                       (unsigned)h, PNG_IO_MAX_SIDE);
    const int rgb = (color & PNG_COLOR_MASK_COLOR) != 0; /* RGB, RGBA and palette */
    *H = (int)h;
    *W = (int)w;
    *C = rgb ? 3 : 1;
    *bit_depth = color == PNG_COLOR_TYPE_PALETTE ? 8 : depth;
    if (!want_pixels) return MS_OK;

    /* The declared pixels must fit in the file before anything is allocated: the
     * rows (a filter byte each) are one zlib stream in the IDAT chunks, and
     * deflate inflates at most 1032:1, so a valid file holds at least
     * H * (rowbytes + 1) / 1032 bytes. A small file declaring 16384 x 16384
     * 16-bit RGBA pixels (2 GiB decoded) is refused here. */
    struct stat st;
    const double raw_bytes = (double)h * ((double)png_get_rowbytes(png, info) + 1.0);
    if (fstat(fileno(ctx->f), &st) == 0 && raw_bytes / 1032.0 > (double)st.st_size)
        return MS_FAIL(MS_ERR_INPUT, "%s: the header declares %u x %u pixels (%.0f bytes of rows) but the file holds "
                       "only %lld bytes (truncated or corrupt PNG)", ctx->path, (unsigned)w, (unsigned)h, raw_bytes,
                       (long long)st.st_size);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    const int channels = png_get_channels(png, info), out_depth = png_get_bit_depth(png, info);
    const size_t rowbytes = png_get_rowbytes(png, info);
    if ((channels != 1 && channels != 2 && channels != 3 && channels != 4) || (out_depth != 8 && out_depth != 16) ||
        (channels >= 3) != rgb || rowbytes < (size_t)w * channels * (out_depth / 8))
        png_error(png, "unexpected layout after expansion");
    /* plain malloc: a large image that does not fit in memory is an error, not an abort */
    ctx->buf = malloc(rowbytes * h);
    ctx->rows = malloc(h * sizeof *ctx->rows);
    ctx->pixels = malloc((size_t)*C * w * h * sizeof(float));
    if (!ctx->buf || !ctx->rows || !ctx->pixels)
        return MS_FAIL(MS_ERR_RUNTIME, "%s: out of memory for %u x %u pixels", ctx->path, (unsigned)w, (unsigned)h);
    for (png_uint_32 y = 0; y < h; y++) ctx->rows[y] = ctx->buf + y * rowbytes;
    png_read_image(png, ctx->rows);
    png_read_end(png, NULL); /* checks the CRCs and chunks up to IEND */

    const size_t HW = (size_t)w * h;
    for (png_uint_32 y = 0; y < h; y++) {
        const png_bytep row = ctx->rows[y];
        for (png_uint_32 x = 0; x < w; x++)
            for (int c = 0; c < *C; c++) { /* alpha, if any, is the last channel: skipped */
                size_t k = (size_t)x * channels + c;
                float v = out_depth == 8 ? row[k] / 255.0f : (float)((unsigned)row[2 * k] << 8 | row[2 * k + 1]) / 65535.0f;
                ctx->pixels[(size_t)c * HW + (size_t)y * w + x] = v;
            }
    }
    return MS_OK;
}

static int read_png(const char *path, int want_pixels, float **pixels, int *H, int *W, int *C, int *bit_depth)
{
    if (pixels) *pixels = NULL;
    png_ctx ctx = { .path = path };
    ctx.f = fopen(path, "rb");
    if (!ctx.f) return MS_FAIL(MS_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
    int rc = precheck(&ctx);
    if (rc) {
        fclose(ctx.f);
        return rc;
    }
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) rc = MS_FAIL(MS_ERR_RUNTIME, "%s: cannot set up libpng (out of memory?)", path);
    else rc = decode(png, info, &ctx, want_pixels, H, W, C, bit_depth);
    if (png) png_destroy_read_struct(&png, info ? &info : NULL, NULL);
    fclose(ctx.f);
    free(ctx.buf);
    free(ctx.rows);
    if (rc) free(ctx.pixels);
    else if (pixels) *pixels = ctx.pixels;
    return rc;
}

int png_probe(const char *path, int *H, int *W, int *C, int *bit_depth)
{
    return read_png(path, 0, NULL, H, W, C, bit_depth);
}

int png_read(const char *path, float **pixels, int *H, int *W, int *C, int *bit_depth)
{
    return read_png(path, 1, pixels, H, W, C, bit_depth);
}

/* Encodes px (H,W,ch), ch 1 (gray) or 3 (RGB), into ctx->f; the only writer
 * function that calls setjmp. */
static int encode(png_structp png, png_infop info, png_ctx *ctx, const uint8_t *px, int H, int W, int ch)
{
    if (setjmp(png_jmpbuf(png))) return MS_FAIL(MS_ERR_RUNTIME, "%s: writing the PNG failed: %s", ctx->path, ctx->msg);
    png_set_write_fn(png, ctx, on_write, on_flush);
    png_set_IHDR(png, info, (png_uint_32)W, (png_uint_32)H, 8, ch == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < H; y++) png_write_row(png, px + (size_t)y * W * ch);
    png_write_end(png, NULL);
    return MS_OK;
}

static int write_png8(const char *path, const uint8_t *px, int H, int W, int ch)
{
    CHECK(px != NULL);
    if (H < 1 || W < 1 || H > PNG_IO_MAX_SIDE || W > PNG_IO_MAX_SIDE)
        return MS_FAIL(MS_ERR_INPUT, "%s: cannot write a %d x %d image (1 to %d pixels per side)", path, W, H,
                       PNG_IO_MAX_SIDE);
    ms_atomic_file a;
    int rc = atomic_open(&a, path);
    if (rc) return rc;
    png_ctx ctx = { .path = path, .f = a.f };
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    rc = info ? encode(png, info, &ctx, px, H, W, ch) : MS_FAIL(MS_ERR_RUNTIME, "%s: cannot set up libpng (out of memory?)", path);
    if (png) png_destroy_write_struct(&png, info ? &info : NULL);
    if (rc) {
        atomic_abort(&a);
        return rc;
    }
    return atomic_commit(&a);
}

int png_write_rgb8(const char *path, const uint8_t *rgb, int H, int W) { return write_png8(path, rgb, H, W, 3); }

int png_write_gray8(const char *path, const uint8_t *gray, int H, int W) { return write_png8(path, gray, H, W, 1); }

/* ---- drawing ---- */

#define OVERLAY_ALPHA 0.4f
#define OVERLAY_N_COLORS 10

/* mask class k is drawn in overlay_palette[k % OVERLAY_N_COLORS] */
static const uint8_t overlay_palette[OVERLAY_N_COLORS][3] = {
    { 31, 119, 180 }, { 255, 127, 14 }, { 44, 160, 44 }, { 214, 39, 40 }, { 148, 103, 189 },
    { 140, 86, 75 }, { 227, 119, 194 }, { 255, 221, 0 }, { 188, 189, 34 }, { 23, 190, 207 },
};

void png_draw_overlay(uint8_t *rgb, int GW, int y0, int x0, const float *img, const uint8_t *mask, int C, int H,
                      int W)
{
    const size_t HW = (size_t)H * W;
    const int shown = C == 3 ? 3 : 1; /* channels that reach the screen */
    float lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < (size_t)shown * HW; i++) {
        if (img[i] < lo) lo = img[i];
        if (img[i] > hi) hi = img[i];
    }
    /* a constant image shows its value (clamped to [0,1]) instead of a division by zero */
    const float scale = hi > lo ? 255.0f / (hi - lo) : 0.0f;
    const float flat = lo < 0 ? 0 : lo > 1 ? 255.0f : lo * 255.0f;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            const size_t i = (size_t)y * W + x;
            uint8_t *px = rgb + ((size_t)(y0 + y) * GW + (size_t)(x0 + x)) * 3;
            for (int c = 0; c < 3; c++) {
                float v = hi > lo ? (img[(shown == 3 ? (size_t)c : 0) * HW + i] - lo) * scale : flat;
                if (mask && mask[i] != 255)
                    v = (1 - OVERLAY_ALPHA) * v + OVERLAY_ALPHA * overlay_palette[mask[i] % OVERLAY_N_COLORS][c];
                px[c] = (uint8_t)lroundf(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
}

