/* test_resample — the importers' resampling (src/data/resample.c): bilinear
 * resize against PyTorch's align_corners=False values, centred pad and crop. */
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

int main(void)
{
    TU_RUN(test_resize);
    TU_RUN(test_pad_and_crop);
    return tu_summary();
}
