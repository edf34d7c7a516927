/* rotation — predict by how many quarter turns an image was rotated
 * (Gidaris et al. 2018; see include/medssl/pretext.h).
 *
 * The centre S x S square (S = min(H, W), offsets floor((H-S)/2) and
 * floor((W-S)/2)) is rotated by k * 90 degrees counter-clockwise, as
 * numpy.rot90(crop, k):
 *   k=0 out[i][j] = in[i][j]        k=1 out[i][j] = in[j][S-1-i]
 *   k=2 out[i][j] = in[S-1-i][S-1-j] k=3 out[i][j] = in[S-1-j][i]
 * Each case is one (start, step per output row, step per output column) walk
 * over the crop, so one loop serves all four.
 *
 * Dimension legend: C channels, H, W image size, S crop side, R = 4 or 1 rows.
 */
#include "medssl/common.h"
#include "medssl/pretext.h"
#include "medssl/rng.h"

#include <stdio.h>

static int rotation_side(const ms_pretext *p) { return p->H < p->W ? p->H : p->W; }

static int rotation_init(ms_pretext *p)
{
    int S = rotation_side(p);
    if (S < p->min_tile)
        return MS_FAIL(MS_ERR_INPUT, "pretext rotation: the %dx%d centre crop of %dx%d images is smaller "
                       "than the encoder's smallest input %d", S, S, p->H, p->W, p->min_tile);
    if (p->all_rotations != 0 && p->all_rotations != 1)
        return MS_FAIL(MS_ERR_INPUT, "pretext rotation: all_rotations=%d (expected 0 or 1)", p->all_rotations);
    return MS_OK;
}

static int rotation_rows(const ms_pretext *p) { return p->all_rotations ? 4 : 1; }

static void rotation_dims(const ms_pretext *p, int *in_h, int *in_w)
{
    *in_h = *in_w = rotation_side(p);
}

static int rotation_classes(const ms_pretext *p) { return 4; }

static void rotation_head_spec(const ms_pretext *p, char *buf, size_t cap)
{
    snprintf(buf, cap, "head:type=linear,classes=4");
}

/* crop: first pixel of the S x S square inside a plane of row stride W;
 * out (S,S) = rot90(crop, k) */
static void rot90_plane(float *out, const float *crop, int S, int W, int k)
{
    /* where out[0][0] comes from, and the source step per output i and j */
    const long last = S - 1;
    const long start[4] = { 0, last, last * W + last, last * W };
    const long step_i[4] = { W, -1, -(long)W, 1 };
    const long step_j[4] = { 1, W, -1, -(long)W };
    for (int i = 0; i < S; i++) {
        const float *src = crop + start[k] + i * step_i[k];
        for (int j = 0; j < S; j++) out[(size_t)i * S + j] = src[j * step_j[k]];
    }
}

/* image (C,H,W) -> inputs (R,C,S,S), targets (R) */
static void rotation_make_one(const ms_pretext *p, const float *image, uint64_t key, float *inputs,
                              int32_t *targets, float *recon)
{
    int C = p->C, H = p->H, W = p->W, S = rotation_side(p);
    size_t plane = (size_t)S * S;
    const float *crop = image + (size_t)((H - S) / 2) * W + (W - S) / 2;
    ms_rng r = rng_stream(key);
    int R = rotation_rows(p);
    for (int row = 0; row < R; row++) {
        int k = p->all_rotations ? row : (int)rng_below(&r, 4);
        for (int c = 0; c < C; c++)
            rot90_plane(inputs + ((size_t)row * C + c) * plane, crop + (size_t)c * H * W, S, W, k);
        if (targets) targets[row] = k;
    }
}

const ms_pretext_task pretext_rotation_task = {
    .init = rotation_init,
    .rows_per_image = rotation_rows,
    .input_dims = rotation_dims,
    .classes = rotation_classes,
    .head_spec = rotation_head_spec,
    .make_one = rotation_make_one,
};
