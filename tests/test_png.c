/* test_png — png_read / png_probe / png_write_rgb8 against PNGs written here
 * with libpng directly: 8- and 16-bit gray, 1-bit gray, gray+alpha, RGB,
 * RGBA, palette with transparency, Adam7 interlacing; exact values back.
 * Broken inputs (truncated, not a PNG, absurd IHDR size, corrupt IDAT CRC,
 * missing file) give MS_ERR_INPUT naming the path, and nothing is printed on
 * stderr, also for a file whose ancillary-chunk CRC makes libpng warn. */
#include "medssl/common.h"
#include "medssl/png_io.h"
#include "testutil.h"

#include <fcntl.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char DIR_[256];

static const char *tmp(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", DIR_, name);
    return buf[k];
}

/* Writes a PNG with libpng: data holds H rows of rowbytes each, exactly as
 * they go into the file (16-bit samples big-endian). palette: n_pal RGB
 * triples with n_trns alpha entries, for PNG_COLOR_TYPE_PALETTE. */
static int write_png(const char *path, int W, int H, int color, int depth, int interlace, const uint8_t *data,
                     const png_color *palette, int n_pal, const uint8_t *trns, int n_trns, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)W, (png_uint_32)H, depth, color, interlace, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (palette) png_set_PLTE(png, info, palette, n_pal);
    if (trns) png_set_tRNS(png, info, trns, n_trns, NULL);
    if (text) {
        png_text t = { .compression = PNG_TEXT_COMPRESSION_NONE, .key = "Comment", .text = (char *)text };
        png_set_text(png, info, &t, 1);
    }
    png_write_info(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    png_bytepp rows = malloc((size_t)H * sizeof *rows);
    for (int y = 0; y < H; y++) rows[y] = (png_bytep)data + (size_t)y * rowbytes;
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    return fclose(f);
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static uint8_t *slurp(const char *path, long *n)
{
    *n = file_size(path);
    uint8_t *b = malloc((size_t)(*n > 0 ? *n : 1));
    FILE *f = fopen(path, "rb");
    if (!f || fread(b, 1, (size_t)*n, f) != (size_t)*n) *n = -1;
    if (f) fclose(f);
    return b;
}

static uint8_t *find(uint8_t *hay, long n, const char *tag)
{
    for (long i = 0; i + 4 <= n; i++)
        if (memcmp(hay + i, tag, 4) == 0) return hay + i;
    return NULL;
}

static void spit(const char *path, const uint8_t *b, long n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(b, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
}

/* stderr into a file while broken files are read: libpng must stay silent */
static int saved_stderr = -1;
static void stderr_capture(void)
{
    fflush(stderr);
    saved_stderr = dup(2);
    int fd = open(tmp("stderr.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0 && saved_stderr >= 0);
    dup2(fd, 2);
    close(fd);
}
static long stderr_release(void)
{
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    return file_size(tmp("stderr.txt"));
}

static void test_gray8_and_probe(void)
{
    enum { W = 7, H = 5 };
    uint8_t data[H * W];
    for (int i = 0; i < H * W; i++) data[i] = (uint8_t)(i * 37 + 3);
    const char *path = tmp("gray8.png");
    TU_CHECK(write_png(path, W, H, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, data, NULL, 0, NULL, 0, NULL) == 0);
    int h = 0, w = 0, c = 0, bd = 0;
    TU_CHECKF(png_probe(path, &h, &w, &c, &bd) == 0, "%s", ms_last_error());
    TU_CHECK(h == H && w == W && c == 1 && bd == 8);
    float *px = NULL;
    h = w = c = bd = 0;
    TU_CHECKF(png_read(path, &px, &h, &w, &c, &bd) == 0, "%s", ms_last_error());
    TU_CHECK(h == H && w == W && c == 1 && bd == 8 && px);
    int same = 1;
    for (int i = 0; px && i < H * W; i++) same &= px[i] == data[i] / 255.0f;
    TU_CHECK(same);
    TU_CHECK(px && px[0] == 3 / 255.0f);
    free(px);
}

static void test_gray16(void)
{
    enum { W = 6, H = 4 };
    uint8_t data[H * W * 2];
    uint16_t v[H * W];
    for (int i = 0; i < H * W; i++) {
        v[i] = (uint16_t)(i * 4099 + 17);
        data[2 * i] = (uint8_t)(v[i] >> 8);
        data[2 * i + 1] = (uint8_t)v[i];
    }
    v[5] = 65535;
    data[10] = data[11] = 255;
    const char *path = tmp("gray16.png");
    TU_CHECK(write_png(path, W, H, PNG_COLOR_TYPE_GRAY, 16, PNG_INTERLACE_NONE, data, NULL, 0, NULL, 0, NULL) == 0);
    float *px = NULL;
    int h, w, c, bd;
    TU_CHECKF(png_read(path, &px, &h, &w, &c, &bd) == 0, "%s", ms_last_error());
    TU_CHECK(h == H && w == W && c == 1 && bd == 16);
    int same = 1;
    for (int i = 0; px && i < H * W; i++) same &= px[i] == v[i] / 65535.0f;
    TU_CHECK(same);
    TU_CHECK(px && px[5] == 1.0f);
    free(px);
}

static void test_gray1_and_gray_alpha(void)
{
    enum { W = 10, H = 3 };
    /* 1-bit: 2 bytes per row, bits MSB first; pixel (y,x) = (x + y) odd */
    uint8_t bits[H * 2] = { 0 };
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            if ((x + y) & 1) bits[y * 2 + x / 8] |= (uint8_t)(0x80 >> (x % 8));
    const char *path = tmp("gray1.png");
    TU_CHECK(write_png(path, W, H, PNG_COLOR_TYPE_GRAY, 1, PNG_INTERLACE_NONE, bits, NULL, 0, NULL, 0, NULL) == 0);
    float *px = NULL;
    int h, w, c, bd;
    TU_CHECKF(png_read(path, &px, &h, &w, &c, &bd) == 0, "%s", ms_last_error());
    TU_CHECK(h == H && w == W && c == 1 && bd == 1);
    int same = 1;
    for (int y = 0; px && y < H; y++)
        for (int x = 0; x < W; x++) same &= px[y * W + x] == (float)((x + y) & 1);
    TU_CHECK(same);
    free(px);

    uint8_t ga[H * W * 2];
    for (int i = 0; i < H * W; i++) {
        ga[2 * i] = (uint8_t)(i * 11);
        ga[2 * i + 1] = (uint8_t)(255 - i); /* alpha: dropped, not composited */
    }
    path = tmp("gray_alpha.png");
    TU_CHECK(write_png(path, W, H, PNG_COLOR_TYPE_GRAY_ALPHA, 8, PNG_INTERLACE_NONE, ga, NULL, 0, NULL, 0, NULL) == 0);
    TU_CHECKF(png_read(path, &px, &h, &w, &c, &bd) == 0, "%s", ms_last_error());
    TU_CHECK(h == H && w == W && c == 1 && bd == 8);
    same = 1;
    for (int i = 0; px && i < H * W; i++) same &= px[i] == (uint8_t)(i * 11) / 255.0f;
    TU_CHECK(same);
    free(px);
}

/* RGB and RGBA (8-bit), and RGB 16-bit Adam7-interlaced: planar (C,H,W) out */
static void test_rgb_rgba_interlaced(void)
{
    enum { W = 9, H = 7 };
    uint8_t rgb[H * W * 3], rgba[H * W * 4], rgb16[H * W * 6];
    for (int i = 0; i < H * W; i++)
        for (int c = 0; c < 3; c++) {
            uint8_t v = (uint8_t)(i * 13 + c * 71);
            rgb[3 * i + c] = v;
            rgba[4 * i + c] = v;
            uint16_t v16 = (uint16_t)(i * 1013 + c * 20000);
            rgb16[6 * i + 2 * c] = (uint8_t)(v16 >> 8);
            rgb16[6 * i + 2 * c + 1] = (uint8_t)v16;
        }
    for (int i = 0; i < H * W; i++) rgba[4 * i + 3] = (uint8_t)(i * 5);
    TU_CHECK(write_png(tmp("rgb.png"), W, H, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, rgb, NULL, 0, NULL, 0, NULL) == 0);
    TU_CHECK(write_png(tmp("rgba.png"), W, H, PNG_COLOR_TYPE_RGBA, 8, PNG_INTERLACE_NONE, rgba, NULL, 0, NULL, 0, NULL) == 0);
    TU_CHECK(write_png(tmp("rgb16i.png"), W, H, PNG_COLOR_TYPE_RGB, 16, PNG_INTERLACE_ADAM7, rgb16, NULL, 0, NULL, 0,
                       NULL) == 0);
    const char *names[3] = { "rgb.png", "rgba.png", "rgb16i.png" };
    for (int k = 0; k < 3; k++) {
        float *px = NULL;
        int h, w, c, bd;
        TU_CHECKF(png_read(tmp(names[k]), &px, &h, &w, &c, &bd) == 0, "%s: %s", names[k], ms_last_error());
        TU_CHECKF(h == H && w == W && c == 3 && bd == (k == 2 ? 16 : 8), "%s: %d %d %d %d", names[k], h, w, c, bd);
        int same = 1;
        for (int i = 0; px && i < H * W; i++)
            for (int ch = 0; ch < 3; ch++) {
                float want = k == 2 ? (uint16_t)(i * 1013 + ch * 20000) / 65535.0f : rgb[3 * i + ch] / 255.0f;
                same &= px[(size_t)ch * H * W + i] == want;
            }
        TU_CHECKF(same, "%s values", names[k]);
        free(px);
    }
}

static void test_palette(void)
{
    enum { W = 5, H = 4 };
    const png_color pal[4] = { { 0, 0, 0 }, { 255, 0, 0 }, { 10, 200, 30 }, { 7, 8, 9 } };
    const uint8_t trns[2] = { 0, 128 }; /* transparency: dropped like any alpha */
    uint8_t idx[H * W];
    for (int i = 0; i < H * W; i++) idx[i] = (uint8_t)(i % 4);
    const char *path = tmp("palette.png");
    TU_CHECK(write_png(path, W, H, PNG_COLOR_TYPE_PALETTE, 8, PNG_INTERLACE_NONE, idx, pal, 4, trns, 2, NULL) == 0);
    float *px = NULL;
    int h, w, c, bd;
    TU_CHECKF(png_read(path, &px, &h, &w, &c, &bd) == 0, "%s", ms_last_error());
    TU_CHECK(h == H && w == W && c == 3 && bd == 8);
    int same = 1;
    for (int i = 0; px && i < H * W; i++) {
        const png_color p = pal[i % 4];
        same &= px[i] == p.red / 255.0f && px[H * W + i] == p.green / 255.0f && px[2 * H * W + i] == p.blue / 255.0f;
    }
    TU_CHECK(same);
    free(px);
}

static void test_write_rgb8(void)
{
    enum { W = 11, H = 6 };
    uint8_t rgb[H * W * 3];
    for (int i = 0; i < H * W * 3; i++) rgb[i] = (uint8_t)(i * 7 + 1);
    const char *path = tmp("out.png");
    TU_CHECKF(png_write_rgb8(path, rgb, H, W) == 0, "%s", ms_last_error());
    char tmp_path[600];
    snprintf(tmp_path, sizeof tmp_path, "%s.tmp.%ld", path, (long)getpid());
    TU_CHECK(access(tmp_path, F_OK) != 0);
    float *px = NULL;
    int h, w, c, bd;
    TU_CHECKF(png_read(path, &px, &h, &w, &c, &bd) == 0, "%s", ms_last_error());
    TU_CHECK(h == H && w == W && c == 3 && bd == 8);
    int same = 1;
    for (int i = 0; px && i < H * W; i++)
        for (int ch = 0; ch < 3; ch++) same &= px[(size_t)ch * H * W + i] == rgb[3 * i + ch] / 255.0f;
    TU_CHECK(same);
    free(px);
    /* an unwritable destination: an error naming it, nothing left behind */
    const char *bad = tmp("no_such_dir/out.png");
    ms_clear_error();
    TU_CHECK(png_write_rgb8(bad, rgb, H, W) == MS_ERR_INPUT);
    TU_CHECKF(strstr(ms_last_error(), "no_such_dir/out.png") != NULL, "%s", ms_last_error());
    TU_CHECK(png_write_rgb8(tmp("zero.png"), rgb, 0, W) == MS_ERR_INPUT);
    TU_CHECK(access(tmp("zero.png"), F_OK) != 0);
}

/* expects png_read(path) == MS_ERR_INPUT with both the path and `want` in the message */
static void expect_bad(const char *path, const char *want)
{
    float *px = (float *)1;
    int h, w, c, bd;
    ms_clear_error();
    int rc = png_read(path, &px, &h, &w, &c, &bd);
    TU_CHECKF(rc == MS_ERR_INPUT, "%s: rc %d", path, rc);
    TU_CHECK(px == NULL);
    TU_CHECKF(strstr(ms_last_error(), path) && strstr(ms_last_error(), want), "%s: message '%s' lacks '%s'", path,
              ms_last_error(), want);
    if (getenv("TEST_PNG_VERBOSE")) fprintf(stdout, "  %s\n", ms_last_error());
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void test_broken_files(void)
{
    /* a valid RGB PNG with incompressible content, then broken copies of it */
    enum { W = 40, H = 30 };
    uint8_t rgb[H * W * 3];
    uint32_t s = 12345;
    for (int i = 0; i < H * W * 3; i++) {
        s = s * 1664525u + 1013904223u;
        rgb[i] = (uint8_t)(s >> 24);
    }
    const char *good = tmp("good.png");
    TU_CHECK(write_png(good, W, H, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, rgb, NULL, 0, NULL, 0, "hello") == 0);
    long n;
    uint8_t *b = slurp(good, &n);
    TU_CHECK(n > 1000);

    stderr_capture();
    spit(tmp("truncated.png"), b, n / 2);
    expect_bad(tmp("truncated.png"), "file ends early");
    spit(tmp("no_iend.png"), b, n - 12); /* all the pixels, but no IEND */
    expect_bad(tmp("no_iend.png"), "file ends early");
    spit(tmp("header_only.png"), b, 20);
    expect_bad(tmp("header_only.png"), "ends inside the header");

    /* corrupt IDAT: flip a byte of the compressed data (zlib or CRC check fails) */
    uint8_t *c = malloc((size_t)n);
    memcpy(c, b, (size_t)n);
    uint8_t *idat = find(c, n, "IDAT");
    TU_CHECK(idat != NULL);
    if (idat) idat[40] ^= 0x55;
    spit(tmp("bad_crc.png"), c, n);
    expect_bad(tmp("bad_crc.png"), "corrupt");

    /* corrupt tEXt CRC: an ancillary chunk, so libpng only warns: read succeeds, quietly */
    memcpy(c, b, (size_t)n);
    uint8_t *text = find(c, n, "tEXt");
    TU_CHECK(text != NULL);
    if (text) {
        uint32_t len = (uint32_t)text[-4] << 24 | (uint32_t)text[-3] << 16 | (uint32_t)text[-2] << 8 | text[-1];
        text[4 + len] ^= 0xff; /* first CRC byte */
    }
    spit(tmp("bad_text_crc.png"), c, n);
    float *px = NULL;
    int h, w, ch, bd;
    int rc = png_read(tmp("bad_text_crc.png"), &px, &h, &w, &ch, &bd);
    TU_CHECKF(rc == 0 && px && px[0] == rgb[0] / 255.0f && px[H * W - 1] == rgb[3 * (H * W - 1)] / 255.0f, "rc %d: %s", rc,
              ms_last_error());
    free(px);

    /* not a PNG at all */
    spit(tmp("text.png"), (const uint8_t *)"this is not a png file\n", 23);
    expect_bad(tmp("text.png"), "not a PNG");
    expect_bad(tmp("missing.png"), "cannot open");

    /* a valid signature and IHDR (correct CRC) claiming 100000 x 100000 pixels */
    uint8_t huge[8 + 25 + 12];
    memcpy(huge, "\x89PNG\r\n\x1a\n", 8);
    put_be32(huge + 8, 13);
    memcpy(huge + 12, "IHDR", 4);
    put_be32(huge + 16, 100000);
    put_be32(huge + 20, 100000);
    memcpy(huge + 24, "\x08\x00\x00\x00\x00", 5); /* 8-bit gray, deflate, filter 0, no interlace */
    put_be32(huge + 29, (uint32_t)crc32(0, huge + 12, 17));
    put_be32(huge + 33, 0);
    memcpy(huge + 37, "IEND", 4);
    put_be32(huge + 41, (uint32_t)crc32(0, huge + 37, 4));
    spit(tmp("huge.png"), huge, sizeof huge);
    expect_bad(tmp("huge.png"), "100000 x 100000");
    ms_clear_error();
    TU_CHECK(png_probe(tmp("huge.png"), &h, &w, &ch, &bd) == MS_ERR_INPUT);
    TU_CHECK(strstr(ms_last_error(), "huge.png") != NULL);
    long quiet = stderr_release();
    TU_CHECKF(quiet == 0, "%ld bytes on stderr while reading broken PNGs", quiet);
    free(b);
    free(c);
}

int main(void)
{
    snprintf(DIR_, sizeof DIR_, "/tmp/medssl_test_png.%ld", (long)getpid());
    CHECK(mkdir(DIR_, 0700) == 0);
    TU_RUN(test_gray8_and_probe);
    TU_RUN(test_gray16);
    TU_RUN(test_gray1_and_gray_alpha);
    TU_RUN(test_rgb_rgba_interlaced);
    TU_RUN(test_palette);
    TU_RUN(test_write_rgb8);
    TU_RUN(test_broken_files);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", DIR_);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", DIR_);
    return tu_summary();
}
