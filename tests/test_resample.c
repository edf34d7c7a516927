/* test_resample — resampling (src/data/resample.c): bilinear resize against
 * PyTorch's align_corners=False values, also on a window of a larger plane
 * (jigsaw tiles); nearest (masks) against the two formulas it replaced;
 * centred pad and crop; the --fit dispatch. */
#include "medssl/resample.h"
#include "testutil.h"

#include <string.h>

static void test_resize(void)
{
    uint8_t src[4] = { 0, 100, 200, 255 }, dst[16], same[4];
    resize_u8_bilinear(same, 2, 2, src, 2, 2);
    TU_CHECK(memcmp(same, src, 4) == 0);
    resize_u8_bilinear(dst, 4, 4, src, 2, 2);
    /* PyTorch bilinear, align_corners=False: row 0 = [0, 25, 75, 100], last row = [200, 213.75, 241.25, 255] */
    TU_CHECK(dst[0] == 0 && dst[1] == 25 && dst[2] == 75 && dst[3] == 100);
    TU_CHECK(dst[12] == 200 && dst[13] == 214 && dst[14] == 241 && dst[15] == 255);
    float fsrc[4] = { 0, 100, 200, 255 }, fdst[16];
    resize_f32_bilinear(fdst, 4, 4, fsrc, 2, 2);
    TU_CHECK(fdst[1] == 25 && fdst[2] == 75 && fdst[13] == 213.75f && fdst[14] == 241.25f);
}

/* A window of a larger plane (jigsaw tiles) resizes as the same window copied out. */
static void test_strided_window(void)
{
    enum { PH = 9, PW = 11, T = 3, TO = 8 };
    float plane[PH * PW], win[T * T], a[TO * TO], b[TO * TO];
    for (int i = 0; i < PH * PW; i++) plane[i] = (float)((i * 37) % 101) / 7.0f;
    const float *w0 = plane + 4 * PW + 5; /* the window at row 4, column 5 */
    for (int y = 0; y < T; y++)
        for (int x = 0; x < T; x++) win[y * T + x] = w0[y * PW + x];
    resize_f32_bilinear_strided(a, TO, TO, w0, T, T, PW);
    resize_f32_bilinear(b, TO, TO, win, T, T);
    TU_CHECK(memcmp(a, b, sizeof a) == 0);
}

static void test_pad_and_crop(void)
{
    /* 2x3 into 4x4: offsets floor((4-2)/2) = 1 rows, floor((4-3)/2) = 0 columns */
    const uint8_t src[6] = { 1, 2, 3, 4, 5, 6 };
    uint8_t dst[16];
    pad_u8(dst, 4, 4, src, 2, 3);
    const uint8_t want[16] = { 0, 0, 0, 0, 1, 2, 3, 0, 4, 5, 6, 0, 0, 0, 0, 0 };
    TU_CHECK(memcmp(dst, want, 16) == 0);
    /* 3x3 into 2x2: a centre crop at offset floor((2-3)/2) = -1, i.e. source rows/columns 1..2 */
    const float fsrc[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
    float fdst[4];
    pad_f32(fdst, 2, 2, fsrc, 3, 3);
    TU_CHECK(fdst[0] == 5 && fdst[1] == 6 && fdst[2] == 8 && fdst[3] == 9);
}

/* The PNG importer's former mask resize: pixel centres in double, clamped. */
static void old_png_nearest(uint8_t *dst, int S_h, int S_w, const uint8_t *src, int H, int W)
{
    for (int y = 0; y < S_h; y++) {
        int sy = (int)((y + 0.5) * H / S_h);
        if (sy > H - 1) sy = H - 1;
        for (int x = 0; x < S_w; x++) {
            int sx = (int)((x + 0.5) * W / S_w);
            dst[y * S_w + x] = src[sy * W + (sx > W - 1 ? W - 1 : sx)];
        }
    }
}

static void test_nearest_matches_the_old_formulas(void)
{
    /* every source and target size 1..40 (up and down, odd and even); the
     * NIfTI importer's former copy is the integer formula resize_u8_nearest keeps */
    enum { MAX = 40 };
    uint8_t src[MAX * MAX], got[MAX * MAX], want[MAX * MAX];
    for (int i = 0; i < MAX * MAX; i++) src[i] = (uint8_t)(i * 37 + i / 7);
    int same = 1;
    for (int H = 1; H <= MAX; H++)
        for (int S = 1; S <= MAX; S++) {
            const int W = MAX + 1 - H, S_w = MAX + 1 - S;
            resize_u8_nearest(got, S, S_w, src, H, W);
            old_png_nearest(want, S, S_w, src, H, W);
            same &= memcmp(got, want, (size_t)S * S_w) == 0;
        }
    TU_CHECK(same);
    /* 2 -> 4 is pixel replication; 4 -> 2 takes rows/columns 1 and 3 (centres 1.0 and 3.0) */
    const uint8_t s2[4] = { 1, 2, 3, 4 }, s4[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
    uint8_t d4[16], d2[4];
    resize_u8_nearest(d4, 4, 4, s2, 2, 2);
    const uint8_t rep[16] = { 1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4 };
    TU_CHECK(memcmp(d4, rep, 16) == 0);
    resize_u8_nearest(d2, 2, 2, s4, 4, 4);
    TU_CHECK(d2[0] == 5 && d2[1] == 7 && d2[2] == 13 && d2[3] == 15);
}

static void test_fit_dispatch(void)
{
    const uint8_t src[4] = { 0, 100, 200, 255 };
    const float fsrc[4] = { 0, 100, 200, 255 };
    uint8_t a[16], b[16], ma[16], mb[16];
    float fa[16], fb[16];
    for (int pad = 0; pad < 2; pad++) {
        const ms_fit fit = pad ? FIT_PAD : FIT_RESIZE;
        fit_u8(fit, a, 4, 4, src, 2, 2);
        (pad ? pad_u8 : resize_u8_bilinear)(b, 4, 4, src, 2, 2);
        fit_mask_u8(fit, ma, 4, 4, src, 2, 2);
        (pad ? pad_u8 : resize_u8_nearest)(mb, 4, 4, src, 2, 2);
        fit_f32(fit, fa, 4, 4, fsrc, 2, 2);
        (pad ? pad_f32 : resize_f32_bilinear)(fb, 4, 4, fsrc, 2, 2);
        TU_CHECKF(memcmp(a, b, 16) == 0 && memcmp(ma, mb, 16) == 0 && memcmp(fa, fb, sizeof fa) == 0,
                  "fit %s", pad ? "pad" : "resize");
    }
    TU_CHECK(memcmp(a, ma, 16) == 0);      /* padding: image and mask alike */
    fit_u8(FIT_RESIZE, a, 4, 4, src, 2, 2);
    fit_mask_u8(FIT_RESIZE, ma, 4, 4, src, 2, 2);
    TU_CHECK(memcmp(a, ma, 16) != 0);      /* resizing: bilinear vs nearest */
}

int main(void)
{
    TU_RUN(test_resize);
    TU_RUN(test_strided_window);
    TU_RUN(test_pad_and_crop);
    TU_RUN(test_nearest_matches_the_old_formulas);
    TU_RUN(test_fit_dispatch);
    return tu_summary();
}
