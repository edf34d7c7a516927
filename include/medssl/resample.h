/* resample — one image plane of another size made S_h x S_w: the resize and
 * pad/crop of every importer (`--size` with `--fit`).
 *
 * Bilinear resize follows PyTorch's F.interpolate(mode="bilinear",
 * align_corners=False): output pixel y samples source coordinate
 * (y + 0.5) * H / S_h - 0.5, clamped at the edges (likewise for x).
 * Dimension legend: H, W source size; dst_h, dst_w (S_h, S_w) target size.
 */
#ifndef MEDSSL_RESAMPLE_H
#define MEDSSL_RESAMPLE_H

#include <stddef.h>
#include <stdint.h>

/* Bilinear resize of one uint8 plane (H,W) -> (dst_h,dst_w), rounded to nearest. */
void resize_u8_bilinear(uint8_t *dst, int dst_h, int dst_w, const uint8_t *src, int H, int W);
/* The same sampling for one float plane, without rounding (PNG and NIfTI import). */
void resize_f32_bilinear(float *dst, int dst_h, int dst_w, const float *src, int H, int W);
/* The same for an (H, W) window of a larger float plane whose rows are
 * `stride` floats apart (jigsaw tiles cut from an image). */
void resize_f32_bilinear_strided(float *dst, int dst_h, int dst_w, const float *src, int H, int W, size_t stride);
/* Nearest-neighbour resize of one uint8 plane (a class mask), in integer arithmetic. */
void resize_u8_nearest(uint8_t *dst, int dst_h, int dst_w, const uint8_t *src, int H, int W);

/* How an image of another size becomes S x S (`--fit`): FIT_RESIZE resamples
 * (images bilinear, masks nearest); FIT_PAD places it centred without
 * resampling: zero padding where it is smaller (masks: class 0), a centre crop
 * where it is larger (offsets floor((S - H) / 2), likewise for W). */
typedef enum { FIT_RESIZE, FIT_PAD } ms_fit;
void pad_u8(uint8_t *dst, int dst_h, int dst_w, const uint8_t *src, int H, int W);
void pad_f32(float *dst, int dst_h, int dst_w, const float *src, int H, int W);

/* dst (dst_h, dst_w) from src (H, W) as `fit` says: an image bilinearly
 * (fit_u8, fit_f32) or a class mask by nearest neighbour (fit_mask_u8), or
 * either padded / cropped (pad_u8, pad_f32). */
/* The --fit flag: name "resize" or "pad" (NULL: resize) into *fit, with the
 * --size side it fits to (> 0 required for a named fit); MS_ERR_INPUT with a
 * message naming the flag otherwise. */
int fit_parse(const char *name, int size, ms_fit *fit);
void fit_u8(ms_fit fit, uint8_t *dst, int dst_h, int dst_w, const uint8_t *src, int H, int W);
void fit_f32(ms_fit fit, float *dst, int dst_h, int dst_w, const float *src, int H, int W);
void fit_mask_u8(ms_fit fit, uint8_t *dst, int dst_h, int dst_w, const uint8_t *src, int H, int W);

#endif
