/* preview — `medssl preview --in FILE --augment OPS [--count N] [--copies K]
 * [--seed S] [--out GRID.png]`: a PNG grid for looking at what an augmentation
 * pipeline does to a corpus. One row per sample (the first N), the original
 * then K augmented versions, each keyed like the loader keys epoch `copy`:
 * rng_key(seed, copy, sample index, RNG_AUGMENT), so column k+1 shows what
 * training with this seed does to the sample in epoch k.
 *
 * Each cell is min-max scaled to 0..255 on its own (1 channel as gray, 3 as
 * RGB, other channel counts show channel 0 as gray); a mask, when the corpus
 * has one, is blended over it in a fixed colour per class (alpha 0.4, 255 =
 * ignore: no colour). Cells are separated by PREVIEW_BORDER black pixels.
 *
 * Dimension legend: n rows (samples), C channels, H, W image size; the grid is
 * (GH, GW, 3) uint8 with GH = n*H + (n-1)*B, GW = (K+1)*W + K*B.
 */
#include "cli.h"
#include "medssl/augment.h"
#include "medssl/common.h"
#include "medssl/corpus.h"
#include "medssl/png_io.h"
#include "medssl/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREVIEW_BORDER 2
/* Renders and writes the grid for the first n samples of c. */
static int preview_write(ms_corpus *c, const ms_augment *aug, int n, int copies, int seed, const char *out)
{
    const int C = c->C, H = c->H, W = c->W, B = PREVIEW_BORDER, cols = 1 + copies;
    const long long GH = (long long)n * H + (long long)(n - 1) * B, GW = (long long)cols * W + (long long)copies * B;
    if (GH > PNG_IO_MAX_SIDE || GW > PNG_IO_MAX_SIDE)
        return MS_FAIL(MS_ERR_INPUT, "the grid would be %lld x %lld pixels (W x H), more than %d per side: "
                       "lower --count or --copies", GW, GH, PNG_IO_MAX_SIDE);
    const size_t P = (size_t)C * H * W, HW = (size_t)H * W;
    float *images = ms_malloc((size_t)n * P * sizeof(float)), *cell = ms_malloc(P * sizeof(float));
    float *work = ms_malloc(augment_workspace_size(C, H, W) * sizeof(float));
    uint8_t *masks = corpus_has_masks(c) ? ms_malloc((size_t)n * HW) : NULL;
    uint8_t *cell_mask = masks ? ms_malloc(HW) : NULL;
    uint8_t *rgb = ms_calloc((size_t)GH * (size_t)GW * 3, 1); /* black: the borders */
    int rc = corpus_read(c, 0, n, images, NULL, masks, NULL);
    for (int i = 0; i < n && !rc; i++)
        for (int col = 0; col < cols; col++) {
            memcpy(cell, images + (size_t)i * P, P * sizeof(float));
            if (masks) memcpy(cell_mask, masks + (size_t)i * HW, HW);
            if (col > 0) /* copy col-1 = what epoch col-1 of the loader does to sample i */
                augment_apply(aug, cell, cell_mask, C, H, W,
                              rng_key((uint64_t)seed, (uint64_t)(col - 1), (uint64_t)i, RNG_AUGMENT), work);
            png_draw_overlay(rgb, (int)GW, i * (H + B), col * (W + B), cell, cell_mask, C, H, W);
        }
    if (!rc) rc = png_write_rgb8(out, rgb, (int)GH, (int)GW);
    if (!rc)
        fprintf(stderr, "medssl preview: wrote %s: %d sample%s x (original + %d augmented), %lld x %lld pixels%s\n", out,
                n, n == 1 ? "" : "s", copies, GW, GH, masks ? ", masks overlaid" : "");
    free(images);
    free(cell);
    free(work);
    free(masks);
    free(cell_mask);
    free(rgb);
    return rc;
}

int cmd_preview(int argc, char **argv)
{
    const char *in = NULL, *ops = NULL, *out = "preview.png";
    int count = 8, copies = 5, seed = 0;
    const ms_arg args[] = {
        { "in", ARG_STRING, &in, 0, 0, "FILE", "the corpus (required)" },
        { "augment", ARG_STRING, &ops, 0, 0, "OPS",
          "augmentation op list, e.g. flip:h,rotate:15,elastic:34:4 (required; 'none' shows originals)" },
        { "count", ARG_INT, &count, 1, 1024, "N", "rows: the first N samples (default 8)" },
        { "copies", ARG_INT, &copies, 0, 256, "K", "augmented versions per sample (default 5)" },
        { "seed", ARG_INT, &seed, 0, 2147483647, "S", "augmentation seed, as in training (default 0)" },
        { "out", ARG_STRING, &out, 0, 0, "GRID.png", "the PNG to write (default preview.png)" },
    };
    int rc = cli_parse("preview", "--in FILE --augment OPS [--count N] [--copies K] [--seed S] [--out GRID.png]",
                       "Writes a PNG grid: one row per sample (the first N), the original then K augmented\n"
                       "versions (version k is what epoch k of training with --seed S does to the sample).\n"
                       "Each cell is min-max scaled on its own (1 channel: gray, 3: RGB, others: channel 0);\n"
                       "masks, if the corpus has them, are overlaid in one colour per class (255 = ignore: none).",
                       args, (int)(sizeof args / sizeof *args), argc, argv, NULL, 0, NULL);
    if (rc) return rc < 0 ? 0 : rc;
    if (!in || !ops) {
        fprintf(stderr, "medssl preview: %s is required (see medssl preview --help)\n",
                !in ? "--in FILE" : "--augment OPS");
        return 2;
    }
    ms_augment aug;
    if ((rc = augment_parse(&aug, ops))) return cli_report("preview", rc);
    ms_corpus c;
    if ((rc = corpus_open(&c, in, NULL))) return cli_report("preview", rc);
    rc = preview_write(&c, &aug, c.N < count ? (int)c.N : count, copies, seed, out);
    corpus_close(&c);
    return rc ? cli_report("preview", rc) : 0;
}
