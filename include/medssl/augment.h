/* augment — data augmentation of one image (and its mask) at a time.
 *
 * An augmentation pipeline is parsed from a comma-separated op list, e.g.
 *   flip:h,rotate:15,crop:0.8,shift:0.1,scale:0.9-1.1,noise:0.05,elastic:34:4,
 *   brightness:0.1,contrast:0.2,gamma:0.8-1.25
 * Each op may end in @P, the probability it is applied (default 1 for
 * intensity/noise ops, 0.5 for flips), e.g. "rotate:15@0.5".
 *
 *   flip:h | flip:v | flip:hv      horizontal / vertical mirror (each axis p=0.5)
 *   rotate:DEG                     rotation by U(-DEG, DEG) degrees about the centre (bilinear)
 *   crop:F                         random crop of side F*H x F*W (F in (0,1]), resized back (bilinear)
 *   shift:F                        translation by U(-F, F) of H and W (zero fill)
 *   scale:LO-HI                    zoom by a factor U(LO, HI) about the centre
 *   noise:SIGMA                    additive Gaussian noise, std SIGMA
 *   elastic:ALPHA:SIGMA            Simard et al. 2003: displacement fields U(-1,1) per pixel,
 *                                  smoothed by a Gaussian of std SIGMA pixels, scaled by ALPHA
 *                                  pixels, bilinear sampling
 *   brightness:B                   x += U(-B, B)
 *   contrast:C                     x = mean + (x - mean) * U(1-C, 1+C)
 *   gamma:LO-HI                    x = x^g (x clamped to [0,1] first), g = U(LO, HI)
 *
 * Geometric ops move image and mask together: the image is resampled
 * bilinearly, the mask with nearest neighbour (never a new class), pixels from
 * outside the image become 0 in the image and 255 (ignore) in the mask.
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
 * work: augment_workspace_size(C,H,W) floats. Deterministic in key. */
void augment_apply(const ms_augment *aug, float *img, uint8_t *mask, int C, int H, int W,
                   uint64_t key, float *work);

const char *augment_kind_name(ms_aug_kind kind);

#endif
