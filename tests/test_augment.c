/* test_augment — the augmentation module (src/data/augment*.c): parse/format
 * round trips and every kind of malformed spec; exact small cases of the
 * geometric maps (flips, a 90-degree turn as transpose-and-flip, integer
 * shifts, crop/scale/rotate on coordinate ramps); image/mask alignment after
 * every geometric op; intensity ops against their definitions; determinism and
 * independence of the ops' draws; elastic field statistics; probabilities.
 *
 * Dimension legend: C channels, H, W image size; images (C,H,W), masks (H,W).
 */
#include "medssl/augment.h"
#include "medssl/common.h"
#include "medssl/rng.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const FULL = "flip:h,rotate:15,crop:0.8,shift:0.1,scale:0.9-1.1,"
                                "noise:0.05,elastic:34:4";

static ms_augment parse_ok(const char *spec)
{
    ms_augment aug;
    int rc = augment_parse(&aug, spec);
    TU_CHECKF(rc == MS_OK, "'%s': %s", spec, ms_last_error());
    if (rc) aug.n_ops = 0;
    return aug;
}

/* Parses spec and applies it with `key`; mask may be NULL. */
static void apply_spec(const char *spec, float *img, uint8_t *mask, int C, int H, int W,
                       uint64_t key)
{
    ms_augment aug = parse_ok(spec);
    float *work = malloc(augment_workspace_size(C, H, W) * sizeof *work);
    augment_apply(&aug, img, mask, C, H, W, key, work);
    free(work);
}

/* Applies aug with hand-set draws for op 0 (all other ops as drawn from key 1). */
static void apply_forced(const char *spec, float v0, float v1, float *img, uint8_t *mask,
                         int C, int H, int W)
{
    ms_augment aug = parse_ok(spec);
    ms_aug_draw draws[AUG_MAX_OPS];
    augment_draw(&aug, 1, H, W, draws);
    draws[0].applied = 1;
    draws[0].v[0] = v0;
    draws[0].v[1] = v1;
    float *work = malloc(augment_workspace_size(C, H, W) * sizeof *work);
    augment_apply_draws(&aug, draws, img, mask, C, H, W, work);
    free(work);
}

static uint64_t key_of(uint64_t i) { return rng_key(42, 0, i, RNG_AUGMENT); }

/* ---- parsing ------------------------------------------------------------- */

static void test_parse_format_roundtrip(void)
{
    static const struct { const char *in, *canonical; } cases[] = {
        { "flip:h", "flip:h" },
        { "flip:v@1", "flip:v@1" },
        { "flip:hv@0.25", "flip:hv@0.25" },
        { "rotate:15", "rotate:15" },
        { "rotate:180@0.5", "rotate:180@0.5" },
        { "crop:0.8", "crop:0.8" },
        { "crop:1@0", "crop:1@0" },
        { "shift:0.1", "shift:0.1" },
        { "scale:0.9-1.1", "scale:0.9-1.1" },
        { "scale:1e-1-2.5e0@0.7", "scale:0.1-2.5@0.7" },
        { "noise:0.05", "noise:0.05" },
        { "noise:1e-6", "noise:1e-06" },
        { "brightness:1e30", "brightness:1e+30" },
        { "elastic:34:4", "elastic:34:4" },
        { "elastic:0:0.5@0.3", "elastic:0:0.5@0.3" },
        { "brightness:0.1", "brightness:0.1" },
        { "contrast:0.2", "contrast:0.2" },
        { "gamma:0.8-1.25", "gamma:0.8-1.25" },
        { "gamma:2-2@1", "gamma:2-2" },
        { " flip:h , rotate:3.14159274 ", "flip:h,rotate:3.1415927" },
        { "flip:h,rotate:15,crop:0.8,shift:0.1,scale:0.9-1.1,noise:0.05,elastic:34:4,"
          "brightness:0.1,contrast:0.2,gamma:0.8-1.25",
          "flip:h,rotate:15,crop:0.8,shift:0.1,scale:0.9-1.1,noise:0.05,elastic:34:4,"
          "brightness:0.1,contrast:0.2,gamma:0.8-1.25" },
        { "", "none" },
        { "none", "none" },
    };
    int seen[AUG__COUNT] = { 0 };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        ms_augment a = parse_ok(cases[c].in), b;
        char text[1024];
        augment_format(&a, text, sizeof text);
        TU_CHECKF(strcmp(text, cases[c].canonical) == 0, "'%s' formats as '%s', expected '%s'",
                  cases[c].in, text, cases[c].canonical);
        TU_CHECKF(augment_parse(&b, text) == MS_OK, "'%s': %s", text, ms_last_error());
        TU_CHECK(a.n_ops == b.n_ops);
        for (int i = 0; i < a.n_ops && i < b.n_ops; i++) {
            TU_CHECKF(a.ops[i].kind == b.ops[i].kind && a.ops[i].a == b.ops[i].a &&
                      a.ops[i].b == b.ops[i].b && a.ops[i].prob == b.ops[i].prob,
                      "'%s' op %d does not round-trip through '%s'", cases[c].in, i, text);
            seen[a.ops[i].kind] = 1;
        }
    }
    for (int k = 0; k < AUG__COUNT; k++)
        TU_CHECKF(seen[k], "no round trip of %s", augment_kind_name((ms_aug_kind)k));

    ms_augment a = parse_ok("flip:hv,rotate:15,scale:0.9-1.1,elastic:34:4@0.5");
    TU_CHECK(a.n_ops == 4);
    TU_CHECK(a.ops[0].kind == AUG_FLIP && a.ops[0].a == 1 && a.ops[0].b == 1 && a.ops[0].prob == 0.5f);
    TU_CHECK(a.ops[1].kind == AUG_ROTATE && a.ops[1].a == 15 && a.ops[1].prob == 1);
    TU_CHECK(a.ops[2].kind == AUG_SCALE && a.ops[2].a == 0.9f && a.ops[2].b == 1.1f);
    TU_CHECK(a.ops[3].kind == AUG_ELASTIC && a.ops[3].a == 34 && a.ops[3].b == 4 &&
             a.ops[3].prob == 0.5f);
    for (int k = 0; k < AUG__COUNT; k++)
        TU_CHECK(strcmp(augment_kind_name((ms_aug_kind)k), "?") != 0);

    /* A short buffer truncates but stays terminated. */
    char small[8];
    augment_format(&a, small, sizeof small);
    TU_CHECK(strlen(small) < sizeof small);
}

static void test_parse_errors(void)
{
    static const struct { const char *spec, *op; } bad[] = {
        { "blur:3", "blur" },               /* unknown op */
        { "Rotate:15", "Rotate" },
        { "rotate:abc", "rotate" },         /* bad number */
        { "rotate:15deg", "rotate" },
        { "rotate: 15", "rotate" },
        { "rotate:0x10", "rotate" },
        { "rotate:nan", "rotate" },
        { "rotate:inf", "rotate" },
        { "rotate:200", "rotate" },         /* out of range */
        { "rotate:-5", "rotate" },
        { "rotate", "rotate" },             /* missing parameter */
        { "rotate:", "rotate" },
        { "rotate:15:3", "rotate" },        /* extra parameter */
        { "rotate:15@1.5", "rotate" },      /* bad probability */
        { "rotate:15@-0.1", "rotate" },
        { "rotate:15@", "rotate" },
        { "rotate:15@nan", "rotate" },
        { "rotate:15@0.5@0.5", "rotate" },
        { "flip", "flip" },
        { "flip:x", "flip" },
        { "flip:h:v", "flip" },
        { "flip:h@2", "flip" },
        { "crop:0", "crop" },
        { "crop:1.5", "crop" },
        { "crop:abc", "crop" },
        { "shift:-0.1", "shift" },
        { "shift:2", "shift" },
        { "scale:1.1-0.9", "scale" },       /* LO > HI */
        { "scale:0-1", "scale" },           /* LO must be > 0 */
        { "scale:1", "scale" },             /* a range is required */
        { "scale:0.9-", "scale" },
        { "scale:-0.9-1.1", "scale" },
        { "scale:0.9-1.1-1.2", "scale" },
        { "scale:nan-1", "scale" },
        { "scale:0.9-11", "scale" },
        { "noise:-1", "noise" },
        { "noise:", "noise" },
        { "noise:0.1:2", "noise" },
        { "elastic:34", "elastic" },
        { "elastic:34:0", "elastic" },      /* sigma > 0 */
        { "elastic:-1:4", "elastic" },
        { "elastic:34:4:1", "elastic" },
        { "elastic:34:100", "elastic" },
        { "elastic:34:nan", "elastic" },
        { "brightness:-0.1", "brightness" },
        { "contrast:1.5", "contrast" },
        { "gamma:0-1", "gamma" },
        { "gamma:2-1", "gamma" },
        { "gamma:0.8", "gamma" },
        { "flip:h,rotate:abc,crop:0.8", "rotate" }, /* the failing op is named, not the first */
    };
    for (size_t c = 0; c < sizeof bad / sizeof *bad; c++) {
        ms_augment aug = parse_ok("flip:h,rotate:3");
        ms_clear_error();
        int rc = augment_parse(&aug, bad[c].spec);
        const char *msg = ms_last_error();
        TU_CHECKF(rc == MS_ERR_INPUT, "'%s' gave %d", bad[c].spec, rc);
        TU_CHECKF(strstr(msg, bad[c].op) != NULL, "'%s': message '%s' does not name %s",
                  bad[c].spec, msg, bad[c].op);
        TU_CHECKF(strncmp(msg, "augment: ", 9) == 0 && strstr(msg, "expected") != NULL,
                  "'%s': message '%s' does not say what was expected", bad[c].spec, msg);
        TU_CHECKF(aug.n_ops == 2, "'%s': a failed parse changed the pipeline", bad[c].spec);
    }
    ms_augment aug;
    TU_CHECK(augment_parse(&aug, "rotate:abc") == MS_ERR_INPUT);
    TU_CHECKF(strcmp(ms_last_error(), "augment: rotate:abc: 'abc' is not a number; "
                                      "expected rotate:DEGREES (a number in [0, 180])") == 0,
              "%s", ms_last_error());

    /* Structure errors: empty items, too many ops. */
    TU_CHECK(augment_parse(&aug, "flip:h,,rotate:3") == MS_ERR_INPUT);
    TU_CHECK(augment_parse(&aug, "flip:h,") == MS_ERR_INPUT);
    TU_CHECK(augment_parse(&aug, ",flip:h") == MS_ERR_INPUT);
    char many[1024] = "";
    for (int i = 0; i <= AUG_MAX_OPS; i++) strcat(many, i ? ",flip:h" : "flip:h");
    TU_CHECK(augment_parse(&aug, many) == MS_ERR_INPUT);
    many[strlen(many) - strlen(",flip:h")] = 0; /* exactly AUG_MAX_OPS is fine */
    TU_CHECK(augment_parse(&aug, many) == MS_OK && aug.n_ops == AUG_MAX_OPS);
}

/* ---- exact geometry ------------------------------------------------------ */

static void test_flip_exact(void)
{
    /* 2x3: rows {0 1 2}, {3 4 5}. */
    static const float hflip[6] = { 2, 1, 0, 5, 4, 3 }, vflip[6] = { 3, 4, 5, 0, 1, 2 },
                       both[6] = { 5, 4, 3, 2, 1, 0 };
    static const struct { const char *spec; const float *want; } cases[] = {
        { "flip:h@1", hflip }, { "flip:v@1", vflip }, { "flip:hv@1", both },
    };
    for (size_t c = 0; c < 3; c++) {
        float img[6];
        uint8_t mask[6];
        for (int i = 0; i < 6; i++) { img[i] = (float)i; mask[i] = (uint8_t)i; }
        apply_spec(cases[c].spec, img, mask, 1, 2, 3, key_of(c));
        TU_ALLCLOSE(img, cases[c].want, 6, 0, 0);
        for (int i = 0; i < 6; i++) TU_CHECKF(mask[i] == cases[c].want[i], "%s mask[%d]", cases[c].spec, i);
    }
}

/* Rotating a square image by +90 degrees (counter-clockwise on screen) is
 * transpose(flip_h(x)): out[y][x] = in[x][N-1-y] (numpy's rot90); -90 is the
 * inverse, out[y][x] = in[N-1-x][y]. Both through the real rotate op. */
static void test_rotate90_exact(void)
{
    for (int N = 4; N <= 5; N++) {
        for (int sign = -1; sign <= 1; sign += 2) {
            int C = 2;
            float img[2 * 25], want[2 * 25];
            uint8_t mask[25], wmask[25];
            tu_fill_uniform(img, (size_t)C * N * N, 7 + N, -1, 1);
            for (int i = 0; i < N * N; i++) mask[i] = (uint8_t)(i * 7 % 11);
            for (int c = 0; c < C; c++)
                for (int y = 0; y < N; y++)
                    for (int x = 0; x < N; x++) {
                        int sy = sign > 0 ? x : N - 1 - x, sx = sign > 0 ? N - 1 - y : y;
                        want[(c * N + y) * N + x] = img[(c * N + sy) * N + sx];
                        if (c == 0) wmask[y * N + x] = mask[sy * N + sx];
                    }
            apply_forced("rotate:90", 90.0f * (float)sign, 0, img, mask, C, N, N);
            TU_ALLCLOSE(img, want, (size_t)C * N * N, 1e-6, 0);
            TU_CHECKF(memcmp(mask, wmask, (size_t)N * N) == 0, "N=%d sign=%d mask", N, sign);
        }
    }
}

/* Shift by (dx, dy) = (2, -1) pixels: out(x, y) = in(x - 2, y + 1), zeros and
 * 255 where that falls outside. Exact. */
static void test_shift_exact(void)
{
    enum { H = 4, W = 5 };
    float img[H * W];
    uint8_t mask[H * W];
    for (int i = 0; i < H * W; i++) { img[i] = (float)(i + 1); mask[i] = (uint8_t)(i + 1); }
    float want[H * W];
    uint8_t wmask[H * W];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int sx = x - 2, sy = y + 1, in = sx >= 0 && sx < W && sy >= 0 && sy < H;
            want[y * W + x] = in ? img[sy * W + sx] : 0.0f;
            wmask[y * W + x] = in ? mask[sy * W + sx] : 255;
        }
    apply_forced("shift:0.5", 2, -1, img, mask, 1, H, W);
    TU_ALLCLOSE(img, want, H * W, 0, 0);
    TU_CHECK(memcmp(mask, wmask, sizeof mask) == 0);
}

/* On ramps img0 = x, img1 = y, bilinear sampling is exact, so the output is the
 * source coordinate itself: checks each affine op's map against its formula
 * (pixel centres at integer coordinates). */
static void test_affine_maps_on_ramps(void)
{
    enum { H = 16, W = 20 };
    const double cx = 0.5 * (W - 1), cy = 0.5 * (H - 1);
    for (int op = 0; op < 4; op++) {
        float img[2 * H * W];
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                img[y * W + x] = (float)x;
                img[H * W + y * W + x] = (float)y;
            }
        const double t = 30 * 3.14159265358979323846 / 180;
        switch (op) {
        case 0: apply_forced("crop:0.5", 3, 5, img, NULL, 2, H, W); break;
        case 1: apply_forced("scale:1-2", 1.25f, 0, img, NULL, 2, H, W); break;
        case 2: apply_forced("shift:0.5", 1.5f, -2.25f, img, NULL, 2, H, W); break;
        case 3: apply_forced("rotate:30", 30, 0, img, NULL, 2, H, W); break;
        }
        int checked = 0;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                double sx = 0, sy = 0;
                switch (op) {
                case 0: sx = 3 - 0.5 + (x + 0.5) * 0.5; sy = 5 - 0.5 + (y + 0.5) * 0.5; break;
                case 1: sx = cx + (x - cx) / 1.25; sy = cy + (y - cy) / 1.25; break;
                case 2: sx = x - 1.5; sy = y + 2.25; break;
                case 3: /* content turns counter-clockwise: source = c + R(-t)(p - c) */
                    sx = cx + cos(t) * (x - cx) - sin(t) * (y - cy);
                    sy = cy + sin(t) * (x - cx) + cos(t) * (y - cy);
                    break;
                }
                if (sx < 0 || sx > W - 1 || sy < 0 || sy > H - 1) continue;
                TU_CLOSE(img[y * W + x], sx, 1e-4, 0);
                TU_CLOSE(img[H * W + y * W + x], sy, 1e-4, 0);
                checked++;
            }
        TU_CHECKF(checked > H * W / 4, "op %d: only %d pixels inside", op, checked);
    }
}

/* ---- image/mask alignment ------------------------------------------------ */

static void test_mask_alignment(void)
{
    enum { H = 64, W = 64, KEYS = 20 };
    static const char *const specs[] = {
        "rotate:30", "crop:0.6", "shift:0.2", "scale:0.7-1.3", "elastic:34:4", "flip:hv@1",
        "elastic:34:4,rotate:30,crop:0.8", "rotate:30,elastic:20:3,scale:0.8-1.2", NULL,
    };
    for (int s = 0; s < (int)(sizeof specs / sizeof *specs); s++) {
        const char *spec = specs[s] ? specs[s] : FULL;
        long in1 = 0, in1_hi = 0, in0 = 0, in0_lo = 0, bad_values = 0, changed = 0;
        long ignored = 0, ignored_nonzero = 0;
        for (int k = 0; k < KEYS; k++) {
            float img[H * W];
            uint8_t mask[H * W], orig[H * W];
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    int inside = x >= 14 && x < 44 && y >= 20 && y < 50;
                    img[y * W + x] = inside ? 1.0f : 0.0f;
                    mask[y * W + x] = orig[y * W + x] = inside ? 1 : 0;
                }
            apply_spec(spec, img, mask, 1, H, W, key_of(1000 * s + k));
            changed += memcmp(mask, orig, sizeof mask) != 0;
            for (int i = 0; i < H * W; i++) {
                if (mask[i] == 1) { in1++; in1_hi += img[i] > 0.5f; }
                else if (mask[i] == 0) { in0++; in0_lo += img[i] < 0.5f; }
                else if (mask[i] == 255) { ignored++; ignored_nonzero += img[i] != 0; }
                else bad_values++;
            }
        }
        TU_CHECKF(bad_values == 0, "%s: %ld mask values outside {0,1,255}", spec, bad_values);
        TU_CHECKF(in1 > 0 && in1_hi >= 0.95 * in1, "%s: %ld of %ld mask==1 pixels bright",
                  spec, in1_hi, in1);
        TU_CHECKF(in0 > 0 && in0_lo >= 0.95 * in0, "%s: %ld of %ld mask==0 pixels dark",
                  spec, in0_lo, in0);
        TU_CHECKF(changed >= KEYS / 2, "%s: only %ld of %d keys changed the mask", spec, changed, KEYS);
        if (specs[s]) /* no noise: outside pixels are exactly 0 */
            TU_CHECKF(ignored_nonzero == 0, "%s: %ld of %ld ignored pixels not zero", spec,
                      ignored_nonzero, ignored);
    }
}

/* Every channel gets the same geometric transform: ch1 = 2 ch0 survives it. */
static void test_channels_move_together(void)
{
    enum { C = 3, H = 24, W = 24 };
    float img[C * H * W];
    tu_fill_uniform(img, H * W, 3, 0, 1);
    for (int i = 0; i < H * W; i++) { img[H * W + i] = 2 * img[i]; img[2 * H * W + i] = -img[i]; }
    apply_spec("flip:hv,rotate:20,crop:0.8,shift:0.1,scale:0.9-1.1,elastic:10:3", img, NULL,
               C, H, W, key_of(5));
    for (int i = 0; i < H * W; i++) {
        TU_CLOSE(img[H * W + i], 2 * img[i], 1e-5, 0);
        TU_CLOSE(img[2 * H * W + i], -img[i], 1e-6, 0);
    }
}

/* ---- intensity ops ------------------------------------------------------- */

static double mean_of(const float *x, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += x[i];
    return s / (double)n;
}

static double std_of(const float *x, size_t n)
{
    double m = mean_of(x, n), s = 0;
    for (size_t i = 0; i < n; i++) s += (x[i] - m) * (x[i] - m);
    return sqrt(s / (double)n);
}

static void test_intensity_ops(void)
{
    enum { H = 16, W = 16, N = H * W };
    float base[N];
    uint8_t mask0[N];
    tu_fill_uniform(base, N, 11, 0, 1);
    for (int i = 0; i < N; i++) mask0[i] = (uint8_t)(i % 3 == 0 ? 255 : i % 2);

    /* brightness: one shift for every pixel, within [-B, B], and it varies. */
    double lo = 1, hi = -1;
    for (int k = 0; k < 50; k++) {
        float img[N];
        uint8_t mask[N];
        memcpy(img, base, sizeof img);
        memcpy(mask, mask0, sizeof mask);
        apply_spec("brightness:0.2", img, mask, 1, H, W, key_of(k));
        TU_CHECK(memcmp(mask, mask0, sizeof mask) == 0);
        double d = img[0] - base[0];
        for (int i = 0; i < N; i++) TU_CLOSE(img[i] - base[i], d, 1e-6, 0);
        TU_CHECKF(fabs(d) <= 0.2 + 1e-6, "brightness shift %g", d);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    TU_CHECKF(lo < -0.1 && hi > 0.1, "brightness shifts only span [%g, %g]", lo, hi);

    /* contrast: mean kept, deviations scaled by one factor in [1-C, 1+C]. */
    lo = 10, hi = -10;
    double m0 = mean_of(base, N);
    for (int k = 0; k < 50; k++) {
        float img[N];
        uint8_t mask[N];
        memcpy(img, base, sizeof img);
        memcpy(mask, mask0, sizeof mask);
        apply_spec("contrast:0.5", img, mask, 1, H, W, key_of(k));
        TU_CHECK(memcmp(mask, mask0, sizeof mask) == 0);
        TU_CLOSE(mean_of(img, N), m0, 1e-5, 0);
        double f = (img[0] - m0) / (base[0] - m0);
        for (int i = 0; i < N; i++) TU_CLOSE(img[i] - m0, f * (base[i] - m0), 1e-5, 0);
        TU_CHECKF(f >= 0.5 - 1e-4 && f <= 1.5 + 1e-4, "contrast factor %g", f);
        lo = f < lo ? f : lo;
        hi = f > hi ? f : hi;
    }
    TU_CHECKF(lo < 0.75 && hi > 1.25, "contrast factors only span [%g, %g]", lo, hi);

    /* gamma on known values, input clamped to [0, 1] first. */
    static const float x[8] = { -0.5f, 0, 0.25f, 0.5f, 0.9f, 1, 1.7f, 0.04f };
    static const float sq[8] = { 0, 0, 0.0625f, 0.25f, 0.81f, 1, 1, 0.0016f };
    static const float rt[8] = { 0, 0, 0.5f, 0.70710678f, 0.94868330f, 1, 1, 0.2f };
    float img[8];
    uint8_t mask[8] = { 1, 2, 3, 4, 5, 6, 7, 255 }, m8[8];
    memcpy(m8, mask, sizeof m8);
    memcpy(img, x, sizeof img);
    apply_spec("gamma:2-2", img, mask, 1, 2, 4, key_of(1));
    TU_ALLCLOSE(img, sq, 8, 1e-6, 1e-6);
    memcpy(img, x, sizeof img);
    apply_spec("gamma:0.5-0.5", img, mask, 1, 2, 4, key_of(2));
    TU_ALLCLOSE(img, rt, 8, 1e-6, 1e-6);
    TU_CHECK(memcmp(mask, m8, sizeof m8) == 0);

    /* noise: std sigma over a 64x64 image (within 10%), mean kept. */
    enum { NH = 64, NW = 64 };
    float *noisy = malloc(NH * NW * sizeof *noisy);
    uint8_t *nm = malloc(NH * NW), *nm0 = malloc(NH * NW);
    for (int i = 0; i < NH * NW; i++) { noisy[i] = 0.5f; nm[i] = nm0[i] = (uint8_t)(i & 1); }
    apply_spec("noise:0.1", noisy, nm, 1, NH, NW, key_of(3));
    double sd = std_of(noisy, NH * NW);
    TU_CHECKF(fabs(sd - 0.1) <= 0.01, "noise std %g, expected 0.1", sd);
    TU_CLOSE(mean_of(noisy, NH * NW), 0.5, 0.01, 0);
    TU_CHECK(memcmp(nm, nm0, NH * NW) == 0);
    free(noisy);
    free(nm);
    free(nm0);
}

/* ---- determinism and independent draws ----------------------------------- */

static void test_determinism(void)
{
    enum { H = 32, W = 32, N = H * W };
    float base[N], a[N], b[N];
    uint8_t mbase[N], ma[N], mb[N];
    tu_fill_uniform(base, N, 21, 0, 1);
    for (int i = 0; i < N; i++) mbase[i] = (uint8_t)(base[i] > 0.5f);
    const char *spec = "flip:hv,rotate:15,crop:0.8,shift:0.1,scale:0.9-1.1,noise:0.05,"
                       "elastic:34:4,brightness:0.1,contrast:0.2,gamma:0.8-1.25";

    memcpy(a, base, sizeof a); memcpy(ma, mbase, sizeof ma);
    memcpy(b, base, sizeof b); memcpy(mb, mbase, sizeof mb);
    apply_spec(spec, a, ma, 1, H, W, key_of(9));
    apply_spec(spec, b, mb, 1, H, W, key_of(9));
    TU_CHECK(memcmp(a, b, sizeof a) == 0 && memcmp(ma, mb, sizeof ma) == 0);

    memcpy(b, base, sizeof b); memcpy(mb, mbase, sizeof mb);
    apply_spec(spec, b, mb, 1, H, W, key_of(10));
    TU_CHECK(memcmp(a, b, sizeof a) != 0);

    /* An extra op at the end leaves the earlier ops' draws alone. */
    static const struct { const char *shorter, *longer; } pairs[] = {
        { "flip:h@1,rotate:30", "flip:h@1,rotate:30,brightness:0@1" },
        { "flip:h@1,rotate:30", "flip:h@1,rotate:30,scale:1-1" },
        { "rotate:30,elastic:20:4,noise:0.1", "rotate:30,elastic:20:4,noise:0.1,shift:0" },
        { FULL, "flip:h,rotate:15,crop:0.8,shift:0.1,scale:0.9-1.1,noise:0.05,elastic:34:4,"
                "contrast:0.3@0" },
    };
    for (size_t p = 0; p < sizeof pairs / sizeof *pairs; p++) {
        for (int k = 0; k < 5; k++) {
            memcpy(a, base, sizeof a); memcpy(ma, mbase, sizeof ma);
            memcpy(b, base, sizeof b); memcpy(mb, mbase, sizeof mb);
            apply_spec(pairs[p].shorter, a, ma, 1, H, W, key_of(100 + k));
            apply_spec(pairs[p].longer, b, mb, 1, H, W, key_of(100 + k));
            TU_CHECKF(memcmp(a, b, sizeof a) == 0 && memcmp(ma, mb, sizeof ma) == 0,
                      "'%s' vs '%s' key %d", pairs[p].shorter, pairs[p].longer, k);
        }
    }
    /* The same holds draw by draw, and a changed op leaves its neighbours alone. */
    ms_augment s1 = parse_ok("rotate:15,scale:0.5-2,shift:0.2");
    ms_augment s2 = parse_ok("rotate:15,crop:0.5,shift:0.2,noise:1"); /* crop draws more than scale */
    ms_aug_draw d1[AUG_MAX_OPS], d2[AUG_MAX_OPS];
    augment_draw(&s1, key_of(7), H, W, d1);
    augment_draw(&s2, key_of(7), H, W, d2);
    TU_CHECK(d1[0].v[0] == d2[0].v[0] && d1[2].v[0] == d2[2].v[0] && d1[2].v[1] == d2[2].v[1]);
}

/* ---- elastic ------------------------------------------------------------- */

static void test_elastic_field(void)
{
    /* alpha = 0: nothing moves, bit for bit (even with a wide kernel). */
    {
        enum { H = 40, W = 40 };
        float img[H * W], orig[H * W];
        uint8_t mask[H * W], morig[H * W];
        tu_fill_uniform(orig, H * W, 5, 0, 1);
        for (int i = 0; i < H * W; i++) morig[i] = (uint8_t)(i % 5);
        memcpy(img, orig, sizeof img);
        memcpy(mask, morig, sizeof mask);
        apply_spec("elastic:0:16", img, mask, 1, H, W, key_of(1));
        TU_CHECK(memcmp(img, orig, sizeof img) == 0 && memcmp(mask, morig, sizeof mask) == 0);
    }
    /* Ramps img0 = x, img1 = y come out as x + dx, y + dy: the displacement field
     * itself, in the interior (away from edge clamping and the zero fill). */
    enum { H = 128, W = 128, C = 2, MARGIN = 20, KEYS = 4 };
    const float alpha = 34, sigma = 4;
    int r = (int)ceilf(3 * sigma);
    double ksum = 0, ksq = 0;
    for (int i = -r; i <= r; i++) ksum += exp(-0.5 * i * i / (sigma * sigma));
    for (int i = -r; i <= r; i++) {
        double w = exp(-0.5 * i * i / (sigma * sigma)) / ksum;
        ksq += w * w;
    }
    /* U(-1,1) has variance 1/3; each separable pass multiplies it by sum w^2. */
    double want_std = alpha * sqrt(ksq * ksq / 3.0);

    float *img = malloc((size_t)C * H * W * sizeof *img);
    double sxx = 0, syy = 0, sx = 0, sy = 0, cxx = 0, cyy = 0, cxy = 0;
    long n = 0, nx = 0, ny = 0;
    for (int k = 0; k < KEYS; k++) {
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                img[y * W + x] = (float)x;
                img[H * W + y * W + x] = (float)y;
            }
        apply_spec("elastic:34:4", img, NULL, C, H, W, key_of(300 + k));
        const float *ox = img, *oy = img + H * W;
        for (int y = MARGIN; y < H - MARGIN; y++)
            for (int x = MARGIN; x < W - MARGIN; x++) {
                double dx = ox[y * W + x] - x, dy = oy[y * W + x] - y;
                sx += dx; sy += dy; sxx += dx * dx; syy += dy * dy; cxy += dx * dy; n++;
                cxx += dx * (ox[y * W + x + 1] - (x + 1)); nx++;      /* dx with its right neighbour */
                cyy += dy * (oy[(y + 1) * W + x] - (y + 1)); ny++;    /* dy with the one below */
            }
    }
    free(img);
    double mx = sx / n, my = sy / n;
    double vx = sxx / n - mx * mx, vy = syy / n - my * my;
    double stdx = sqrt(vx), stdy = sqrt(vy);
    TU_CHECKF(fabs(stdx - want_std) <= 0.25 * want_std, "std dx %g, expected %g", stdx, want_std);
    TU_CHECKF(fabs(stdy - want_std) <= 0.25 * want_std, "std dy %g, expected %g", stdy, want_std);
    double corr_x = (cxx / nx - mx * mx) / vx, corr_y = (cyy / ny - my * my) / vy;
    double corr_xy = (cxy / n - mx * my) / sqrt(vx * vy);
    TU_CHECKF(corr_x > 0.9, "neighbouring dx correlation %g", corr_x);
    TU_CHECKF(corr_y > 0.9, "neighbouring dy correlation %g", corr_y);
    TU_CHECKF(fabs(corr_xy) < 0.3, "dx and dy correlated: %g", corr_xy);
}

/* ---- probabilities ------------------------------------------------------- */

static void test_probability(void)
{
    enum { H = 8, W = 8, N = H * W };
    float base[N];
    uint8_t mbase[N];
    tu_fill_uniform(base, N, 31, 0, 1);
    for (int i = 0; i < N; i++) mbase[i] = (uint8_t)(i % 7);

    static const char *const never[] = {
        "flip:hv@0", "rotate:30@0", "crop:0.5@0", "shift:0.3@0", "scale:0.5-2@0",
        "noise:0.1@0", "elastic:34:4@0", "brightness:0.5@0", "contrast:0.5@0", "gamma:0.5-2@0",
    };
    for (size_t s = 0; s < sizeof never / sizeof *never; s++) {
        int changed = 0;
        for (int k = 0; k < 200; k++) {
            float img[N];
            uint8_t mask[N];
            memcpy(img, base, sizeof img);
            memcpy(mask, mbase, sizeof mask);
            apply_spec(never[s], img, mask, 1, H, W, key_of(k));
            changed += memcmp(img, base, sizeof img) != 0 || memcmp(mask, mbase, sizeof mask) != 0;
        }
        TU_CHECKF(changed == 0, "%s changed %d of 200 images", never[s], changed);
    }

    /* @0.5 applies on about half of 2000 keys; flip:hv flips each axis independently. */
    int applied = 0, h_only = 0, v_only = 0, both = 0;
    ms_augment rot = parse_ok("rotate:30@0.5"), fl = parse_ok("flip:hv");
    ms_aug_draw d[AUG_MAX_OPS];
    for (int k = 0; k < 2000; k++) {
        float img[N];
        memcpy(img, base, sizeof img);
        apply_spec("brightness:0.5@0.5", img, NULL, 1, H, W, key_of(5000 + k));
        applied += memcmp(img, base, sizeof img) != 0;
        augment_draw(&rot, key_of(k), H, W, d);
        TU_CHECK(fabsf(d[0].v[0]) <= 30);
        augment_draw(&fl, key_of(k), H, W, d);
        h_only += d[0].v[0] != 0 && d[0].v[1] == 0;
        v_only += d[0].v[0] == 0 && d[0].v[1] != 0;
        both += d[0].v[0] != 0 && d[0].v[1] != 0;
    }
    TU_CHECKF(applied >= 900 && applied <= 1100, "@0.5 applied %d of 2000 times", applied);
    TU_CHECKF(h_only >= 400 && h_only <= 600 && v_only >= 400 && v_only <= 600 &&
              both >= 400 && both <= 600, "flip:hv: h only %d, v only %d, both %d of 2000",
              h_only, v_only, both);
}

/* The workspace is exactly what augment_workspace_size promises: guard floats
 * after it stay untouched. */
static void test_workspace_bounds(void)
{
    enum { C = 3, H = 17, W = 23, GUARD = 64 };
    size_t ws = augment_workspace_size(C, H, W);
    float *work = malloc((ws + GUARD) * sizeof *work);
    for (int i = 0; i < GUARD; i++) work[ws + i] = -12345.0f;
    float img[C * H * W];
    uint8_t mask[H * W];
    tu_fill_uniform(img, C * H * W, 2, 0, 1);
    memset(mask, 1, sizeof mask);
    ms_augment aug = parse_ok("flip:hv@1,rotate:15,elastic:30:4,crop:0.8,noise:0.1,"
                              "elastic:5:2,contrast:0.2,gamma:0.8-1.25");
    augment_apply(&aug, img, mask, C, H, W, key_of(1), work);
    int touched = 0;
    for (int i = 0; i < GUARD; i++) touched += work[ws + i] != -12345.0f;
    TU_CHECK(touched == 0);
    for (int i = 0; i < C * H * W; i++) TU_CHECK(isfinite(img[i]));
    free(work);
}

int main(void)
{
    TU_RUN(test_parse_format_roundtrip);
    TU_RUN(test_parse_errors);
    TU_RUN(test_flip_exact);
    TU_RUN(test_rotate90_exact);
    TU_RUN(test_shift_exact);
    TU_RUN(test_affine_maps_on_ramps);
    TU_RUN(test_mask_alignment);
    TU_RUN(test_channels_move_together);
    TU_RUN(test_intensity_ops);
    TU_RUN(test_determinism);
    TU_RUN(test_elastic_field);
    TU_RUN(test_probability);
    TU_RUN(test_workspace_bounds);
    return tu_summary();
}
