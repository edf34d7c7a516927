/* fuzz_png — the PNG readers (src/io/png_io.c) on the input bytes as a file:
 * png_probe (header only) then png_read (all pixels), as `medssl import png`
 * calls them. Either succeeds with sizes in range and pixels in [0, 1], agreeing
 * with the probe, or fails with MS_ERR_INPUT. */
#include "fuzz_common.h"
#include "medssl/common.h"
#include "medssl/png_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512];
    fuzz_write_file(path, sizeof path, "png", ".png", data, size);
    int H = 0, W = 0, C = 0, depth = 0;
    int rc = png_probe(path, &H, &W, &C, &depth);
    if (rc != MS_OK && rc != MS_ERR_INPUT) abort();
    if (rc == MS_OK) {
        float *px = NULL;
        int H2 = 0, W2 = 0, C2 = 0, depth2 = 0;
        rc = png_read(path, &px, &H2, &W2, &C2, &depth2);
        if (rc != MS_OK && rc != MS_ERR_INPUT) abort();
        if (rc == MS_OK) {
            if (H2 != H || W2 != W || C2 != C || depth2 != depth || H < 1 || W < 1 || H > PNG_IO_MAX_SIDE ||
                W > PNG_IO_MAX_SIDE || (C != 1 && C != 3))
                abort();
            for (size_t i = 0; i < (size_t)C * H * W; i++)
                if (!(px[i] >= 0.0f && px[i] <= 1.0f)) abort();
        } else if (px) {
            abort(); /* png_read: NULL on error */
        }
        free(px);
    }
    unlink(path);
    return 0;
}
