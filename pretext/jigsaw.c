/* jigsaw — put 9 shuffled tiles of an image back in order (Noroozi & Favaro
 * 2016; see include/medssl/pretext.h).
 *
 * Geometry: the centre square of side S = 3 * floor(min(H, W) / 3) (offsets
 * y0 = floor((H-S)/2), x0 = floor((W-S)/2)) is cut into 3x3 cells of side
 * cell = S / 3; cell k = row * 3 + col. From cell k a tile of side
 * tile = max(1, floor(cell * 0.85)) (integer arithmetic: cell * 85 / 100) is
 * cropped at offset (oy_k, ox_k) in [0, cell - tile]^2 inside the cell: the
 * gap of about 15% of the cell plus the jitter keep the network from matching
 * edges. Tiles smaller than min_tile are resized to tile_out = min_tile with
 * bilinear interpolation (half-pixel centres, clamped edges: resample.h).
 *
 * Draws, from the sample's stream in this order: the permutation index t in
 * [0, P), then (oy_k, ox_k) for cells k = 0..8.
 * Row j of the image (j = 0..8) holds the tile of cell perms[t*9 + j]; every
 * channel of a row is normalised to mean 0 and std 1 (std floored at 1e-3, so
 * a flat tile becomes zeros rather than amplified rounding noise). The 9 rows
 * share the target t.
 *
 * Dimension legend: C channels, H, W image size, T tile side, TO tile_out,
 * P permutations.
 */
#include "medssl/common.h"
#include "medssl/pretext.h"
#include "medssl/resample.h"
#include "medssl/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define JIGSAW_STD_FLOOR 1e-3

typedef struct {
    int S, cell, y0, x0;
} jigsaw_geometry;

static jigsaw_geometry jigsaw_geom(const ms_pretext *p)
{
    jigsaw_geometry g;
    int side = p->H < p->W ? p->H : p->W;
    g.S = 3 * (side / 3);
    g.cell = g.S / 3;
    g.y0 = (p->H - g.S) / 2;
    g.x0 = (p->W - g.S) / 2;
    return g;
}

static int jigsaw_init(ms_pretext *p)
{
    if (p->H < 3 || p->W < 3)
        return MS_FAIL(MS_ERR_INPUT, "pretext jigsaw: images of %dx%d are too small (a 3x3 grid of cells "
                       "needs at least 3x3 pixels)", p->H, p->W);
    if (p->permutations < 2 || p->permutations > PRETEXT_MAX_PERMUTATIONS)
        return MS_FAIL(MS_ERR_INPUT, "pretext jigsaw: permutations=%d (expected 2..%d)", p->permutations,
                       PRETEXT_MAX_PERMUTATIONS);
    jigsaw_geometry g = jigsaw_geom(p);
    p->tile = g.cell * 85 / 100 > 1 ? g.cell * 85 / 100 : 1;
    p->tile_out = p->tile > p->min_tile ? p->tile : p->min_tile;
    p->perms = ms_malloc((size_t)p->permutations * 9);
    pretext_permutation_set(p->perms, p->permutations, p->seed);
    return MS_OK;
}

static int jigsaw_rows(const ms_pretext *p) { return 9; }

static void jigsaw_dims(const ms_pretext *p, int *in_h, int *in_w)
{
    CHECKM(p->tile_out > 0 && p->perms, "pretext jigsaw: used before pretext_init");
    *in_h = *in_w = p->tile_out;
}

static int jigsaw_classes(const ms_pretext *p) { return p->permutations; }

static void jigsaw_head_spec(const ms_pretext *p, char *buf, size_t cap)
{
    snprintf(buf, cap, "head:type=mlp,classes=%d,hidden=512,dropout=0.5,tiles=9", p->permutations);
}

/* src: first pixel of a T x T tile in a plane of row stride W; out (TO,TO).
 * A copy when TO == T, else bilinear with half-pixel centres and clamping
 * (resample.h, PyTorch's align_corners=False). */
static void tile_resample(float *out, int TO, const float *src, int T, int W)
{
    if (TO == T) {
        for (int y = 0; y < T; y++)
            for (int x = 0; x < T; x++) out[(size_t)y * T + x] = src[(size_t)y * W + x];
        return;
    }
    resize_f32_bilinear_strided(out, TO, TO, src, T, T, (size_t)W);
}

/* x (n): x = (x - mean) / max(std, floor) */
static void normalise(float *x, size_t n)
{
    double sum = 0, sq = 0;
    for (size_t i = 0; i < n; i++) sum += x[i];
    double mean = sum / (double)n;
    for (size_t i = 0; i < n; i++) sq += (x[i] - mean) * (x[i] - mean);
    double sd = sqrt(sq / (double)n);
    float inv = (float)(1.0 / (sd > JIGSAW_STD_FLOOR ? sd : JIGSAW_STD_FLOOR));
    float m = (float)mean;
    for (size_t i = 0; i < n; i++) x[i] = (x[i] - m) * inv;
}

/* image (C,H,W) -> inputs (9,C,TO,TO), targets (9) */
static void jigsaw_make_one(const ms_pretext *p, const float *image, uint64_t key, float *inputs,
                            int32_t *targets, float *recon)
{
    jigsaw_geometry g = jigsaw_geom(p);
    int C = p->C, H = p->H, W = p->W, T = p->tile, TO = p->tile_out;
    ms_rng r = rng_stream(key);
    int t = (int)rng_below(&r, (uint32_t)p->permutations);
    int oy[9], ox[9];
    for (int k = 0; k < 9; k++) {
        oy[k] = (int)rng_below(&r, (uint32_t)(g.cell - T + 1));
        ox[k] = (int)rng_below(&r, (uint32_t)(g.cell - T + 1));
    }
    const uint8_t *perm = p->perms + (size_t)t * 9;
    size_t plane = (size_t)TO * TO;
    for (int j = 0; j < 9; j++) {
        int k = perm[j];
        int y = g.y0 + (k / 3) * g.cell + oy[k], x = g.x0 + (k % 3) * g.cell + ox[k];
        for (int c = 0; c < C; c++) {
            float *out = inputs + ((size_t)j * C + c) * plane;
            tile_resample(out, TO, image + ((size_t)c * H + y) * W + x, T, W);
            normalise(out, plane);
        }
        if (targets) targets[j] = t;
    }
}

const ms_pretext_task pretext_jigsaw_task = {
    .init = jigsaw_init,
    .rows_per_image = jigsaw_rows,
    .input_dims = jigsaw_dims,
    .classes = jigsaw_classes,
    .head_spec = jigsaw_head_spec,
    .make_one = jigsaw_make_one,
};
