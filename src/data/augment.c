/* augment — drawing and applying an augmentation pipeline (see augment.h;
 * the text form is in augment_parse.c).
 *
 * Two stages: augment_draw makes every random choice (op i from its own
 * sub-stream rng_at(key, i)), augment_apply_draws executes them. Each op kind
 * is one row of `op_table`: how it draws, and either its inverse map (geometric
 * ops: an affine 2x3 matrix, or a per-pixel warp for elastic) or its intensity
 * function. A run of consecutive geometric ops is composed, last op first,
 * into one map from output pixel to source coordinate and resampled once.
 *
 * Dimension legend: C channels, H, W image size, HW = H*W.
 *   img (C,H,W) float; mask (H,W) uint8; map: sx (H,W), sy (H,W) source coordinates;
 *   elastic fields dx (H,W), dy (H,W).
 * Workspace (floats): out (C,H,W) | sx | sy | dx | dy | tmp (H,W) | mask out (HW bytes).
 */
#include "medssl/augment.h"
#include "medssl/common.h"
#include "medssl/rng.h"

#include <math.h>
#include <string.h>

#define ELASTIC_MAX_RADIUS 192 /* ceil(3 * 64): SIGMA <= 64 is enforced by the parser */

/* Inverse affine map: source = (m[0] x + m[1] y + m[2], m[3] x + m[4] y + m[5]). */
typedef struct { double m[6]; } affine;

static affine affine_identity(void)
{
    affine a = { { 1, 0, 0, 0, 1, 0 } };
    return a;
}

/* outer ∘ inner: first inner, then outer. */
static affine affine_compose(affine outer, affine inner)
{
    const double *o = outer.m, *i = inner.m;
    affine r = { {
        o[0] * i[0] + o[1] * i[3], o[0] * i[1] + o[1] * i[4], o[0] * i[2] + o[1] * i[5] + o[2],
        o[3] * i[0] + o[4] * i[3], o[3] * i[1] + o[4] * i[4], o[3] * i[2] + o[4] * i[5] + o[5],
    } };
    return r;
}

/* ---- draws -------------------------------------------------------------- */

static float sym(ms_rng *r) { return 2.0f * rng_uniform(r) - 1.0f; } /* U(-1, 1) */

/* Every op except flip: one "apply?" draw, then its parameters. */
static void draw_flip(const ms_aug_op *op, ms_rng *r, int H, int W, ms_aug_draw *d)
{
    float uh = rng_uniform(r), uv = rng_uniform(r);
    d->v[0] = (op->a != 0 && uh < op->prob) ? 1.0f : 0.0f;
    d->v[1] = (op->b != 0 && uv < op->prob) ? 1.0f : 0.0f;
    d->applied = d->v[0] != 0 || d->v[1] != 0;
}
static void draw_rotate(const ms_aug_op *op, ms_rng *r, int H, int W, ms_aug_draw *d)
{
    d->v[0] = op->a * sym(r);
}
static void draw_crop(const ms_aug_op *op, ms_rng *r, int H, int W, ms_aug_draw *d)
{
    d->v[0] = rng_uniform(r) * (float)W * (1.0f - op->a);
    d->v[1] = rng_uniform(r) * (float)H * (1.0f - op->a);
}
static void draw_shift(const ms_aug_op *op, ms_rng *r, int H, int W, ms_aug_draw *d)
{
    d->v[0] = op->a * (float)W * sym(r);
    d->v[1] = op->a * (float)H * sym(r);
}
static void draw_lo_hi(const ms_aug_op *op, ms_rng *r, int H, int W, ms_aug_draw *d)
{
    d->v[0] = op->a + (op->b - op->a) * rng_uniform(r);
}
static void draw_key(const ms_aug_op *op, ms_rng *r, int H, int W, ms_aug_draw *d)
{
    d->key = rng_u64(r);
}
static void draw_brightness(const ms_aug_op *op, ms_rng *r, int H, int W, ms_aug_draw *d)
{
    d->v[0] = op->a * sym(r);
}
static void draw_contrast(const ms_aug_op *op, ms_rng *r, int H, int W, ms_aug_draw *d)
{
    d->v[0] = 1.0f + op->a * sym(r);
}

/* ---- geometric ops as inverse maps (pixel centres at integer coordinates) -- */

static affine map_flip(const ms_aug_op *op, const ms_aug_draw *d, int H, int W)
{
    affine a = affine_identity();
    if (d->v[0] != 0) { a.m[0] = -1; a.m[2] = W - 1; }
    if (d->v[1] != 0) { a.m[4] = -1; a.m[5] = H - 1; }
    return a;
}

/* Content turns counter-clockwise on screen (rows grow downwards) by the angle:
 * source = c + R(-angle) (p - c) in row-down coordinates. */
static affine map_rotate(const ms_aug_op *op, const ms_aug_draw *d, int H, int W)
{
    double t = (double)d->v[0] * (3.14159265358979323846 / 180.0);
    double c = cos(t), s = sin(t), cx = 0.5 * (W - 1), cy = 0.5 * (H - 1);
    affine a = { { c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy } };
    return a;
}

/* Window [left, left + F W) x [top, top + F H) in edge coordinates, stretched
 * over the output: source = left - 0.5 + (p + 0.5) F. */
static affine map_crop(const ms_aug_op *op, const ms_aug_draw *d, int H, int W)
{
    double f = op->a;
    affine a = { { f, 0, d->v[0] - 0.5 + 0.5 * f, 0, f, d->v[1] - 0.5 + 0.5 * f } };
    return a;
}

static affine map_shift(const ms_aug_op *op, const ms_aug_draw *d, int H, int W)
{
    affine a = { { 1, 0, -(double)d->v[0], 0, 1, -(double)d->v[1] } };
    return a;
}

/* Zoom about the centre: source = c + (p - c) / factor. */
static affine map_scale(const ms_aug_op *op, const ms_aug_draw *d, int H, int W)
{
    double z = 1.0 / d->v[0], cx = 0.5 * (W - 1), cy = 0.5 * (H - 1);
    affine a = { { z, 0, cx - z * cx, 0, z, cy - z * cy } };
    return a;
}

/* Gaussian of std sigma truncated at radius ceil(3 sigma), normalised, times
 * `gain`; returns the radius. kern (2*ELASTIC_MAX_RADIUS+1). */
static int gaussian_kernel(float *kern, float sigma, float gain)
{
    int r = (int)ceilf(3.0f * sigma);
    CHECK(r >= 0 && r <= ELASTIC_MAX_RADIUS);
    double sum = 0;
    for (int i = -r; i <= r; i++) sum += exp(-0.5 * (double)i * i / ((double)sigma * sigma));
    for (int i = -r; i <= r; i++)
        kern[i + r] = (float)(gain * exp(-0.5 * (double)i * i / ((double)sigma * sigma)) / sum);
    return r;
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* field (H,W) <- separable blur of field, edges clamped; tmp (H,W). */
static void blur_field(float *field, float *tmp, int H, int W, const float *kern, int r)
{
    for (int y = 0; y < H; y++) { /* along rows: field -> tmp */
        const float *row = field + (size_t)y * W;
        float *out = tmp + (size_t)y * W;
        for (int x = 0; x < W; x++) {
            float acc = 0;
            if (x >= r && x + r < W) {
                for (int k = -r; k <= r; k++) acc += kern[k + r] * row[x + k];
            } else {
                for (int k = -r; k <= r; k++) acc += kern[k + r] * row[clampi(x + k, 0, W - 1)];
            }
            out[x] = acc;
        }
    }
    for (int y = 0; y < H; y++) { /* along columns: tmp -> field */
        float *out = field + (size_t)y * W;
        for (int x = 0; x < W; x++) out[x] = 0;
        for (int k = -r; k <= r; k++) {
            const float *src = tmp + (size_t)clampi(y + k, 0, H - 1) * W;
            float w = kern[k + r];
            for (int x = 0; x < W; x++) out[x] += w * src[x];
        }
    }
}

/* Bilinear value of a field (H,W) at (x, y), coordinates clamped to the grid. */
static float field_at(const float *f, int H, int W, float x, float y)
{
    x = x < 0 ? 0 : x > (float)(W - 1) ? (float)(W - 1) : x;
    y = y < 0 ? 0 : y > (float)(H - 1) ? (float)(H - 1) : y;
    int x0 = (int)x, y0 = (int)y;
    int x1 = x0 + 1 < W ? x0 + 1 : x0, y1 = y0 + 1 < H ? y0 + 1 : y0;
    float fx = x - (float)x0, fy = y - (float)y0;
    const float *r0 = f + (size_t)y0 * W, *r1 = f + (size_t)y1 * W;
    float top = r0[x0] + fx * (r0[x1] - r0[x0]);
    float bot = r1[x0] + fx * (r1[x1] - r1[x0]);
    return top + fy * (bot - top);
}

/* Simard et al. 2003: dx, dy ~ U(-1,1) per pixel, Gaussian-smoothed, times
 * alpha; the map becomes q + d(q) for each current source coordinate q.
 * sx, sy (H,W) updated in place; dx, dy, tmp (H,W) scratch. */
static void warp_elastic(const ms_aug_op *op, const ms_aug_draw *d, float *sx, float *sy,
                         float *dx, float *dy, float *tmp, int H, int W)
{
    size_t HW = (size_t)H * W;
    for (size_t i = 0; i < HW; i++) {
        dx[i] = 2.0f * rng_uniform_at(d->key, i) - 1.0f;
        dy[i] = 2.0f * rng_uniform_at(d->key, HW + i) - 1.0f;
    }
    float kern[2 * ELASTIC_MAX_RADIUS + 1];
    int r = gaussian_kernel(kern, op->b, 1.0f);
    blur_field(dx, tmp, H, W, kern, r);
    blur_field(dy, tmp, H, W, kern, r);
    float alpha = op->a;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            size_t i = (size_t)y * W + x;
            float qx = sx[i], qy = sy[i];
            if (qx == (float)x && qy == (float)y) { /* on the grid: no interpolation */
                sx[i] = qx + alpha * dx[i];
                sy[i] = qy + alpha * dy[i];
            } else {
                sx[i] = qx + alpha * field_at(dx, H, W, qx, qy);
                sy[i] = qy + alpha * field_at(dy, H, W, qx, qy);
            }
        }
}

/* ---- intensity ops (image only) ----------------------------------------- */

/* Each: img (C,H,W) in place, HW = H*W. */
static void apply_noise(const ms_aug_op *op, const ms_aug_draw *d, float *img, int C, size_t HW)
{
    ms_rng r = rng_stream(d->key);
    for (size_t i = 0; i < (size_t)C * HW; i++) img[i] += op->a * rng_normal(&r);
}
static void apply_brightness(const ms_aug_op *op, const ms_aug_draw *d, float *img, int C,
                             size_t HW)
{
    for (size_t i = 0; i < (size_t)C * HW; i++) img[i] += d->v[0];
}
/* x = mean + (x - mean) * factor, the mean taken per channel. */
static void apply_contrast(const ms_aug_op *op, const ms_aug_draw *d, float *img, int C,
                           size_t HW)
{
    for (int c = 0; c < C; c++) {
        float *x = img + (size_t)c * HW;
        double sum = 0;
        for (size_t i = 0; i < HW; i++) sum += x[i];
        float mean = (float)(sum / (double)HW), f = d->v[0];
        for (size_t i = 0; i < HW; i++) x[i] = mean + (x[i] - mean) * f;
    }
}
static void apply_gamma(const ms_aug_op *op, const ms_aug_draw *d, float *img, int C, size_t HW)
{
    float g = d->v[0];
    for (size_t i = 0; i < (size_t)C * HW; i++) {
        float x = img[i] < 0 ? 0 : img[i] > 1 ? 1 : img[i];
        img[i] = powf(x, g);
    }
}

/* ---- the table ----------------------------------------------------------- */

typedef struct {
    void (*draw)(const ms_aug_op *op, ms_rng *r, int H, int W, ms_aug_draw *d);
    /* Exactly one of the following: an affine inverse map, a per-pixel warp of
     * the map (geometric ops), or an intensity change of the image. */
    affine (*map)(const ms_aug_op *op, const ms_aug_draw *d, int H, int W);
    void (*warp)(const ms_aug_op *op, const ms_aug_draw *d, float *sx, float *sy,
                 float *dx, float *dy, float *tmp, int H, int W);
    void (*intensity)(const ms_aug_op *op, const ms_aug_draw *d, float *img, int C, size_t HW);
} op_impl;

static const op_impl op_table[AUG__COUNT] = {
    [AUG_FLIP]       = { draw_flip,       map_flip,   NULL,         NULL },
    [AUG_ROTATE]     = { draw_rotate,     map_rotate, NULL,         NULL },
    [AUG_CROP]       = { draw_crop,       map_crop,   NULL,         NULL },
    [AUG_SHIFT]      = { draw_shift,      map_shift,  NULL,         NULL },
    [AUG_SCALE]      = { draw_lo_hi,      map_scale,  NULL,         NULL },
    [AUG_NOISE]      = { draw_key,        NULL,       NULL,         apply_noise },
    [AUG_ELASTIC]    = { draw_key,        NULL,       warp_elastic, NULL },
    [AUG_BRIGHTNESS] = { draw_brightness, NULL,       NULL,         apply_brightness },
    [AUG_CONTRAST]   = { draw_contrast,   NULL,       NULL,         apply_contrast },
    [AUG_GAMMA]      = { draw_lo_hi,      NULL,       NULL,         apply_gamma },
};
_Static_assert(sizeof op_table / sizeof *op_table == AUG__COUNT, "one row per ms_aug_kind");

static int is_geometric(ms_aug_kind k) { return op_table[k].map || op_table[k].warp; }

size_t augment_workspace_size(int C, int H, int W)
{
    size_t HW = (size_t)H * (size_t)W;
    return (size_t)C * HW + 5 * HW + (HW + sizeof(float) - 1) / sizeof(float);
}

void augment_draw(const ms_augment *aug, uint64_t key, int H, int W, ms_aug_draw *draws)
{
    for (int i = 0; i < aug->n_ops; i++) {
        const ms_aug_op *op = &aug->ops[i];
        CHECK((unsigned)op->kind < AUG__COUNT);
        ms_aug_draw *d = &draws[i];
        memset(d, 0, sizeof *d);
        ms_rng r = rng_stream(rng_at(key, (uint64_t)i));
        if (op->kind != AUG_FLIP) d->applied = rng_uniform(&r) < op->prob;
        op_table[op->kind].draw(op, &r, H, W, d);
    }
}

/* img (C,H,W), mask (H,W) or NULL resampled through the map sx, sy (H,W):
 * image bilinear, mask nearest; sources outside [-0.5, W-0.5) x [-0.5, H-0.5)
 * give 0 / 255. out (C,H,W), mout (H,W) scratch; results copied back. */
static void resample(float *img, uint8_t *mask, int C, int H, int W, const float *sx,
                     const float *sy, float *out, uint8_t *mout)
{
    size_t HW = (size_t)H * W;
    float xmax = (float)W - 0.5f, ymax = (float)H - 0.5f;
    for (size_t i = 0; i < HW; i++) {
        float x = sx[i], y = sy[i];
        if (!(x >= -0.5f && x < xmax && y >= -0.5f && y < ymax)) {
            for (int c = 0; c < C; c++) out[(size_t)c * HW + i] = 0;
            if (mask) mout[i] = 255;
            continue;
        }
        float xf = floorf(x), yf = floorf(y);
        int x0 = (int)xf, y0 = (int)yf;
        float fx = x - xf, fy = y - yf;
        int xa = x0 < 0 ? 0 : x0, xb = x0 + 1 > W - 1 ? W - 1 : x0 + 1;
        int ya = y0 < 0 ? 0 : y0, yb = y0 + 1 > H - 1 ? H - 1 : y0 + 1;
        size_t ia = (size_t)ya * W, ib = (size_t)yb * W;
        for (int c = 0; c < C; c++) {
            const float *p = img + (size_t)c * HW;
            float top = p[ia + xa] + fx * (p[ia + xb] - p[ia + xa]);
            float bot = p[ib + xa] + fx * (p[ib + xb] - p[ib + xa]);
            out[(size_t)c * HW + i] = top + fy * (bot - top);
        }
        if (mask) {
            int xn = (int)floorf(x + 0.5f), yn = (int)floorf(y + 0.5f);
            xn = xn > W - 1 ? W - 1 : xn; /* x + 0.5 can round up to W in float */
            yn = yn > H - 1 ? H - 1 : yn;
            mout[i] = mask[(size_t)yn * W + xn];
        }
    }
    memcpy(img, out, (size_t)C * HW * sizeof *img);
    if (mask) memcpy(mask, mout, HW);
}

/* sx, sy (H,W) <- a applied to every pixel centre (computed in double, so an
 * exact map such as a flip or a 90-degree turn lands exactly on the grid). */
static void fill_map(float *sx, float *sy, affine a, int H, int W)
{
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            sx[(size_t)y * W + x] = (float)(a.m[0] * x + a.m[1] * y + a.m[2]);
            sy[(size_t)y * W + x] = (float)(a.m[3] * x + a.m[4] * y + a.m[5]);
        }
}

/* Ops [first, last) are geometric: compose their inverse maps (last op first,
 * since source = M_first(... M_last(p))) and resample once. */
static void apply_geometric_run(const ms_augment *aug, const ms_aug_draw *draws, int first,
                                int last, float *img, uint8_t *mask, int C, int H, int W,
                                float *work)
{
    size_t HW = (size_t)H * W;
    float *out = work, *sx = out + (size_t)C * HW, *sy = sx + HW;
    float *dx = sy + HW, *dy = dx + HW, *tmp = dy + HW;
    uint8_t *mout = (uint8_t *)(tmp + HW);

    affine a = affine_identity();
    int have_map = 0, any = 0;
    for (int k = last - 1; k >= first; k--) {
        const ms_aug_op *op = &aug->ops[k];
        const op_impl *impl = &op_table[op->kind];
        if (!draws[k].applied) continue;
        any = 1;
        if (impl->map && !have_map) {
            a = affine_compose(impl->map(op, &draws[k], H, W), a);
            continue;
        }
        if (!have_map) { /* a warp needs the map so far pixel by pixel */
            fill_map(sx, sy, a, H, W);
            have_map = 1;
        }
        if (impl->warp) {
            impl->warp(op, &draws[k], sx, sy, dx, dy, tmp, H, W);
        } else {
            affine m = impl->map(op, &draws[k], H, W);
            for (size_t i = 0; i < HW; i++) {
                double x = sx[i], y = sy[i];
                sx[i] = (float)(m.m[0] * x + m.m[1] * y + m.m[2]);
                sy[i] = (float)(m.m[3] * x + m.m[4] * y + m.m[5]);
            }
        }
    }
    if (!any) return;
    if (!have_map) fill_map(sx, sy, a, H, W);
    resample(img, mask, C, H, W, sx, sy, out, mout);
}

void augment_apply_draws(const ms_augment *aug, const ms_aug_draw *draws, float *img,
                         uint8_t *mask, int C, int H, int W, float *work)
{
    CHECK(C > 0 && H > 0 && W > 0);
    size_t HW = (size_t)H * W;
    int i = 0;
    while (i < aug->n_ops) {
        const ms_aug_op *op = &aug->ops[i];
        CHECK((unsigned)op->kind < AUG__COUNT);
        if (is_geometric(op->kind)) {
            int j = i;
            while (j < aug->n_ops && is_geometric(aug->ops[j].kind)) j++;
            apply_geometric_run(aug, draws, i, j, img, mask, C, H, W, work);
            i = j;
            continue;
        }
        if (draws[i].applied) {
            op_table[op->kind].intensity(op, &draws[i], img, C, HW);
        }
        i++;
    }
}

void augment_apply(const ms_augment *aug, float *img, uint8_t *mask, int C, int H, int W,
                   uint64_t key, float *work)
{
    ms_aug_draw draws[AUG_MAX_OPS];
    CHECK(aug->n_ops >= 0 && aug->n_ops <= AUG_MAX_OPS);
    augment_draw(aug, key, H, W, draws);
    augment_apply_draws(aug, draws, img, mask, C, H, W, work);
}
