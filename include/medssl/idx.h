/* idx — reading IDX files (MNIST, Fashion-MNIST): the big-endian header
 * (magic 0x00000800 | type << 8 | ndims, then ndims uint32 sizes) and the
 * unsigned-byte values after it, raw or gzip-compressed.
 *
 * Each reader validates its input completely (magic number, dimensions,
 * length, truncation, trailing data) and fails with MS_ERR_INPUT naming the
 * file. Dimension legend: N images, H, W image size.
 */
#ifndef MEDSSL_IDX_H
#define MEDSSL_IDX_H

#include <stdint.h>

/* IDX unsigned-byte files: images have 3 dims (N, H, W), labels 1 dim (N).
 * *out is malloc'd. */
int idx_read_images(const char *path, uint8_t **out, int *N, int *H, int *W);
int idx_read_labels(const char *path, uint8_t **out, int *N);

#endif
