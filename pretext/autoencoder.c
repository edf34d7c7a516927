/* autoencoder — reconstruct the clean image from a plain, noisy or partly
 * erased copy (see include/medssl/pretext.h). The model input is (1, C, H, W)
 * per image and the target recon is the clean image.
 *
 * Variants, one corruption function each (table indexed by ms_ae_variant):
 *   plain       input = image
 *   denoising   input = image + noise_sigma * N(0, 1), one draw per value, not clipped
 *   inpainting  square blocks of side b = mask_block are zeroed in every
 *               channel. Random phase: block corners uniform in
 *               [0, H-b] x [0, W-b] until at least ceil(mask_fraction * H * W)
 *               pixels are covered, at most 4 * ceil(H*W / b^2) + 16 blocks;
 *               if that cap is hit (only for fractions near 1), a raster sweep
 *               places blocks at the first uncovered pixels until the
 *               fraction is reached, so the guarantee always holds.
 *               Which pixels are covered is tracked in the first plane of
 *               recon, which is overwritten with the clean image afterwards
 *               (no allocation in the step).
 *
 * Dimension legend: C channels, H, W image size, HW = H * W.
 */
#include "medssl/common.h"
#include "medssl/pretext.h"
#include "medssl/rng.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int ae_init(ms_pretext *p)
{
    if (p->H < p->min_tile || p->W < p->min_tile)
        return MS_FAIL(MS_ERR_INPUT, "pretext autoencoder: images of %dx%d are smaller than the encoder's "
                       "smallest input %d", p->H, p->W, p->min_tile);
    if ((unsigned)p->ae_variant >= AE__COUNT)
        return MS_FAIL(MS_ERR_INPUT, "pretext autoencoder: unknown variant %d (expected plain, denoising or "
                       "inpainting)", (int)p->ae_variant);
    if (!(p->noise_sigma >= 0 && isfinite(p->noise_sigma)))
        return MS_FAIL(MS_ERR_INPUT, "pretext autoencoder: noise_sigma=%g (expected a finite number >= 0)",
                       (double)p->noise_sigma);
    if (!(p->mask_fraction >= 0 && p->mask_fraction <= 1))
        return MS_FAIL(MS_ERR_INPUT, "pretext autoencoder: mask_fraction=%g (expected 0..1)",
                       (double)p->mask_fraction);
    int side = p->H < p->W ? p->H : p->W;
    if (p->mask_block < 1 || p->mask_block > side)
        return MS_FAIL(MS_ERR_INPUT, "pretext autoencoder: mask_block=%d (expected 1..%d for %dx%d images)",
                       p->mask_block, side, p->H, p->W);
    return MS_OK;
}

static int ae_rows(const ms_pretext *p) { return 1; }

static void ae_dims(const ms_pretext *p, int *in_h, int *in_w)
{
    *in_h = p->H;
    *in_w = p->W;
}

static int ae_classes(const ms_pretext *p) { return 0; }

static void ae_head_spec(const ms_pretext *p, char *buf, size_t cap)
{
    snprintf(buf, cap, "decoder:out=%d,up=bilinear", p->C);
}

/* Each corruption: input (C,H,W) already holds the image; scratch (H,W) may be used. */
typedef void (*ae_corrupt_fn)(const ms_pretext *p, float *input, float *scratch, ms_rng *r);

static void corrupt_none(const ms_pretext *p, float *input, float *scratch, ms_rng *r) {}

static void corrupt_noise(const ms_pretext *p, float *input, float *scratch, ms_rng *r)
{
    size_t n = (size_t)p->C * p->H * p->W;
    for (size_t i = 0; i < n; i++) input[i] += p->noise_sigma * rng_normal(r);
}

/* covered (H,W): 1 where masked; marks the b x b block at (y, x), returns newly covered pixels */
static long mark_block(float *covered, int W, int y, int x, int b)
{
    long added = 0;
    for (int yy = y; yy < y + b; yy++)
        for (int xx = x; xx < x + b; xx++) {
            float *c = covered + (size_t)yy * W + xx;
            if (*c == 0) { *c = 1; added++; }
        }
    return added;
}

static void corrupt_inpaint(const ms_pretext *p, float *input, float *covered, ms_rng *r)
{
    int H = p->H, W = p->W, b = p->mask_block;
    long HW = (long)H * W;
    long need = (long)ceil((double)p->mask_fraction * (double)HW);
    if (need > HW) need = HW;
    memset(covered, 0, (size_t)HW * sizeof *covered);
    long done = 0;
    long cap = 4 * ((HW + (long)b * b - 1) / ((long)b * b)) + 16;
    for (long it = 0; it < cap && done < need; it++) {
        int y = (int)rng_below(r, (uint32_t)(H - b + 1));
        int x = (int)rng_below(r, (uint32_t)(W - b + 1));
        done += mark_block(covered, W, y, x, b);
    }
    for (long i = 0; i < HW && done < need; i++) {
        if (covered[i]) continue;
        int y = (int)(i / W), x = (int)(i % W);
        done += mark_block(covered, W, y < H - b ? y : H - b, x < W - b ? x : W - b, b);
    }
    for (int c = 0; c < p->C; c++)
        for (long i = 0; i < HW; i++)
            if (covered[i]) input[(size_t)c * HW + i] = 0;
}

static const ae_corrupt_fn corrupt_table[AE__COUNT] = {
    [AE_PLAIN] = corrupt_none,
    [AE_DENOISING] = corrupt_noise,
    [AE_INPAINTING] = corrupt_inpaint,
};
_Static_assert(sizeof corrupt_table / sizeof *corrupt_table == AE__COUNT, "one corruption per ms_ae_variant");

/* image (C,H,W) -> inputs (1,C,H,W), recon (C,H,W) */
static void ae_make_one(const ms_pretext *p, const float *image, uint64_t key, float *inputs,
                        int32_t *targets, float *recon)
{
    CHECKM(recon != NULL, "pretext autoencoder: recon is the target and must not be NULL");
    size_t n = (size_t)p->C * p->H * p->W;
    memcpy(inputs, image, n * sizeof *inputs);
    ms_rng r = rng_stream(key);
    corrupt_table[p->ae_variant](p, inputs, recon, &r); /* recon's first plane: scratch */
    memcpy(recon, image, n * sizeof *recon);
    if (targets) targets[0] = 0;
}

const ms_pretext_task pretext_autoencoder_task = {
    .init = ae_init,
    .rows_per_image = ae_rows,
    .input_dims = ae_dims,
    .classes = ae_classes,
    .head_spec = ae_head_spec,
    .make_one = ae_make_one,
};
