/* fuzz_augment — augment_parse (src/data/augment_parse.c) on the input bytes as
 * a string; a pipeline that parses must format to text that parses back to
 * the same canonical text, and is applied once to a small image with a mask
 * (C=2, H=9, W=7): every pixel stays finite, every mask value stays a class
 * of the input or 255. */
#include "fuzz_common.h"
#include "medssl/augment.h"
#include "medssl/common.h"

#include <math.h>

enum { FC = 2, FH = 9, FW = 7 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_string(data, size);
    ms_augment aug, again;
    int rc = augment_parse(&aug, text);
    if (rc != MS_OK && rc != MS_ERR_INPUT) abort();
    if (rc == MS_OK) {
        if (aug.n_ops < 0 || aug.n_ops > AUG_MAX_OPS) abort();
        char buf[4096], buf2[4096];
        augment_format(&aug, buf, sizeof buf);
        if (augment_parse(&again, buf) != MS_OK) {
            fprintf(stderr, "formatted pipeline does not parse: '%s': %s\n", buf, ms_last_error());
            abort();
        }
        augment_format(&again, buf2, sizeof buf2);
        if (strcmp(buf, buf2) != 0) {
            fprintf(stderr, "format is not stable: '%s' -> '%s'\n", buf, buf2);
            abort();
        }
        float img[FC * FH * FW];
        uint8_t mask[FH * FW];
        for (int i = 0; i < FC * FH * FW; i++) img[i] = (float)(i % 13) / 12.0f;
        for (int i = 0; i < FH * FW; i++) mask[i] = (uint8_t)(i % 3);
        float *work = malloc(augment_workspace_size(FC, FH, FW) * sizeof(float));
        if (!work) abort();
        augment_apply(&aug, img, mask, FC, FH, FW, (uint64_t)size * 0x9E3779B97F4A7C15ull, work);
        for (int i = 0; i < FC * FH * FW; i++)
            if (!isfinite(img[i])) {
                fprintf(stderr, "'%s' made pixel %d non-finite (%g)\n", buf, i, (double)img[i]);
                abort();
            }
        for (int i = 0; i < FH * FW; i++)
            if (mask[i] > 2 && mask[i] != 255) {
                fprintf(stderr, "'%s' made mask value %d\n", buf, mask[i]);
                abort();
            }
        free(work);
    }
    free(text);
    return 0;
}
