/* resample — bilinear resize (PyTorch align_corners=False) and centred
 * pad/crop of one image plane (see include/medssl/resample.h).
 *
 * Dimension legend: H, W source size; dst_h, dst_w target size.
 */
#include "medssl/resample.h"
#include "medssl/common.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

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

/* The bilinear value at output (ty, tx) of a plane src of row stride `stride`. */
#define BILINEAR_AT(src, stride, ty, tx)                                                              \
    ((1 - (ty).w) * ((1 - (tx).w) * (src)[(ty).i0 * (stride) + (tx).i0] + (tx).w * (src)[(ty).i0 * (stride) + (tx).i1]) + \
     (ty).w * ((1 - (tx).w) * (src)[(ty).i1 * (stride) + (tx).i0] + (tx).w * (src)[(ty).i1 * (stride) + (tx).i1]))

void resize_f32_bilinear_strided(float *dst, int dst_h, int dst_w, const float *src, int H, int W, size_t stride)
{
    const float sy = (float)H / dst_h, sx = (float)W / dst_w;
    for (int y = 0; y < dst_h; y++) {
        const bilinear_tap ty = tap_of(y, sy, H);
        for (int x = 0; x < dst_w; x++) {
            const bilinear_tap tx = tap_of(x, sx, W);
            dst[(size_t)y * dst_w + x] = BILINEAR_AT(src, stride, ty, tx);
        }
    }
}

void resize_f32_bilinear(float *dst, int dst_h, int dst_w, const float *src, int H, int W)
{
    resize_f32_bilinear_strided(dst, dst_h, dst_w, src, H, W, (size_t)W);
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

/* Source row floor((y + 0.5) * H / dst_h) = floor((2y + 1) H / (2 dst_h)), in
 * integers (always <= H - 1); likewise for columns. */
void resize_u8_nearest(uint8_t *dst, int dst_h, int dst_w, const uint8_t *src, int H, int W)
{
    for (int y = 0; y < dst_h; y++) {
        long long sy = ((2LL * y + 1) * H) / (2LL * dst_h);
        for (int x = 0; x < dst_w; x++) {
            long long sx = ((2LL * x + 1) * W) / (2LL * dst_w);
            dst[(size_t)y * dst_w + x] = src[sy * W + sx];
        }
    }
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

void fit_u8(ms_fit fit, uint8_t *dst, int dst_h, int dst_w, const uint8_t *src, int H, int W)
{
    (fit == FIT_PAD ? pad_u8 : resize_u8_bilinear)(dst, dst_h, dst_w, src, H, W);
}

void fit_f32(ms_fit fit, float *dst, int dst_h, int dst_w, const float *src, int H, int W)
{
    (fit == FIT_PAD ? pad_f32 : resize_f32_bilinear)(dst, dst_h, dst_w, src, H, W);
}

void fit_mask_u8(ms_fit fit, uint8_t *dst, int dst_h, int dst_w, const uint8_t *src, int H, int W)
{
    (fit == FIT_PAD ? pad_u8 : resize_u8_nearest)(dst, dst_h, dst_w, src, H, W);
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
