/* augment — data augmentation of one image (and its mask) at a time.
 *
 * An augmentation pipeline is parsed from a comma-separated op list, e.g.
 *   flip:h,rotate:15,crop:0.8,shift:0.1,scale:0.9-1.1,noise:0.05,elastic:34:4,
 *   brightness:0.1,contrast:0.2,gamma:0.8-1.25
 * Each op may end in @P, the probability (in [0, 1]) it is applied (default
 * 0.5 for flips, 1 for every other op), e.g. "rotate:15@0.5".
 *
 *   flip:h | flip:v | flip:hv      horizontal / vertical mirror; each named axis is
 *                                  flipped independently with probability P
 *   rotate:DEG                     rotation by U(-DEG, DEG) degrees about the centre,
 *                                  DEG in [0, 180]; positive = counter-clockwise on screen
 *   crop:F                         random crop of side F*H x F*W (F in (0,1]), resized back
 *   shift:F                        translation by U(-F, F) of H and W, F in [0, 1]
 *   scale:LO-HI                    zoom by a factor U(LO, HI) about the centre, 0 < LO <= HI <= 10
 *   noise:SIGMA                    additive Gaussian noise, std SIGMA >= 0
 *   elastic:ALPHA:SIGMA            Simard et al. 2003: displacement fields U(-1,1) per pixel,
 *                                  each smoothed by a Gaussian of std SIGMA pixels (truncated
 *                                  at 3 SIGMA, normalised, edges clamped), scaled by ALPHA
 *                                  pixels; ALPHA >= 0, 0 < SIGMA <= 64
 *   brightness:B                   x += U(-B, B), B >= 0
 *   contrast:C                     x = mean + (x - mean) * U(1-C, 1+C), C in [0, 1], mean per channel
 *   gamma:LO-HI                    x = x^g (x clamped to [0,1] first), g = U(LO, HI), 0 < LO <= HI <= 10
 *
 * Geometric ops move image and mask together. Each is an inverse map (output
 * pixel -> source coordinate); a run of consecutive geometric ops is composed
 * into one map and resampled once: the image bilinearly, the mask with nearest
 * neighbour (never a new class). Pixel centres sit at integer coordinates; a
 * source coordinate outside the image's area [-0.5, W-0.5) x [-0.5, H-0.5)
 * gives 0 in the image and 255 (ignore) in the mask.
 * Intensity ops touch only the image.
 *
 * Randomness is a pure function of the key: augment_apply(..., key) with key
 * = rng_key(seed, epoch, global sample index, RNG_AUGMENT) gives the same result
 * on any rank, thread or resume.
 *
 * Dimension legend: C channels, H, W image size; images are (C,H,W) float32,
 * masks (H,W) uint8.
 */
#ifndef MEDSSL_AUGMENT_H
#define MEDSSL_AUGMENT_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    AUG_FLIP, AUG_ROTATE, AUG_CROP, AUG_SHIFT, AUG_SCALE, AUG_NOISE, AUG_ELASTIC,
    AUG_BRIGHTNESS, AUG_CONTRAST, AUG_GAMMA, AUG__COUNT
} ms_aug_kind;

typedef struct {
    ms_aug_kind kind;
    float a, b;   /* parameters: see the table above (flip: a = horizontal, b = vertical) */
    float prob;   /* probability the op is applied */
} ms_aug_op;

#define AUG_MAX_OPS 32

typedef struct {
    ms_aug_op ops[AUG_MAX_OPS];
    int n_ops;
} ms_augment;

/* Parses an op list; "" or "none" gives an empty pipeline. On error returns
 * MS_ERR_INPUT with a message naming the op and what was expected. */
int augment_parse(ms_augment *aug, const char *text);
/* Canonical text of a pipeline (parse(format(a)) == a). */
void augment_format(const ms_augment *aug, char *buf, size_t cap);

/* Floats of workspace augment_apply needs for an image of this size. */
size_t augment_workspace_size(int C, int H, int W);

/* Applies the pipeline in place to img (C,H,W) and, if non-NULL, mask (H,W).
 * work: augment_workspace_size(C,H,W) floats. Deterministic in key. Allocates
 * nothing. Same as augment_draw followed by augment_apply_draws. */
void augment_apply(const ms_augment *aug, float *img, uint8_t *mask, int C, int H, int W,
                   uint64_t key, float *work);

/* The random choices one op makes for one sample. Op i draws from its own
 * sub-stream rng_at(key, i): its draws depend only on the key, the op and its
 * position, so appending an op or changing another one leaves them alone.
 * Exposed so tests and tools can apply exact parameters. */
typedef struct {
    int applied;   /* 0: the op leaves this sample alone */
    float v[2];    /* flip: horizontal, vertical (0 or 1); rotate: degrees;
                      crop: left, top of the window in pixels; shift: dx, dy in pixels
                      (content moves right / down); scale: factor; brightness: delta;
                      contrast: factor; gamma: exponent; noise, elastic: unused */
    uint64_t key;  /* per-pixel stream of noise and elastic */
} ms_aug_draw;

/* Fills draws[0 .. aug->n_ops) for an image of H x W pixels. */
void augment_draw(const ms_augment *aug, uint64_t key, int H, int W, ms_aug_draw *draws);
/* Applies the pipeline with these draws; arguments as augment_apply. */
void augment_apply_draws(const ms_augment *aug, const ms_aug_draw *draws, float *img,
                         uint8_t *mask, int C, int H, int W, float *work);

const char *augment_kind_name(ms_aug_kind kind);

#endif
