/* importers — turning outside formats into medssl corpora: IDX files (MNIST,
 * Fashion-MNIST), with stratified labeled subsets and resizing.
 *
 * Each reader validates its input completely (magic numbers, dimensions,
 * lengths, truncation) and fails with MS_ERR_INPUT naming the file.
 * Dimension legend: N images, H, W image size.
 */
#ifndef MEDSSL_IMPORTERS_H
#define MEDSSL_IMPORTERS_H

#include <stdint.h>

/* IDX (optionally gzip-compressed) unsigned-byte files: images have 3 dims
 * (N, H, W), labels 1 dim (N). *out is malloc'd. */
int idx_read_images(const char *path, uint8_t **out, int *N, int *H, int *W);
int idx_read_labels(const char *path, uint8_t **out, int *N);

/* Keeps `labeled_per_class` labels per class (or, if < 0, the fraction
 * `labeled_fraction` of each class, rounded, at least 1 when the fraction is
 * > 0), chosen at random by `seed`; the others become -1. labels (N) in place. */
void labels_keep_stratified(int32_t *labels, int N, int n_classes, int labeled_per_class,
                            double labeled_fraction, uint64_t seed);

/* Bilinear resize of one uint8 image (H,W) -> (S_h,S_w), align_corners=False,
 * rounded to nearest. */
void resize_u8_bilinear(uint8_t *dst, int dst_h, int dst_w, const uint8_t *src, int H, int W);
/* The same sampling for one float plane, without rounding (PNG and NIfTI import). */
void resize_f32_bilinear(float *dst, int dst_h, int dst_w, const float *src, int H, int W);

/* How an image of another size becomes S x S (`--fit`): FIT_RESIZE resamples
 * (images bilinear, masks nearest); FIT_PAD places it centred without
 * resampling: zero padding where it is smaller (masks: class 0), a centre crop
 * where it is larger (offsets floor((S - H) / 2), likewise for W). */
typedef enum { FIT_RESIZE, FIT_PAD } ms_fit;
/* The --fit flag: name "resize" or "pad" (NULL: resize) into *fit, with the
 * --size side it fits to (> 0 required for a named fit); MS_ERR_INPUT with a
 * message naming the flag otherwise. */
int fit_parse(const char *name, int size, ms_fit *fit);
void pad_u8(uint8_t *dst, int dst_h, int dst_w, const uint8_t *src, int H, int W);
void pad_f32(float *dst, int dst_h, int dst_w, const float *src, int H, int W);

#endif
