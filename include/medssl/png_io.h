/* png_io — checked libpng wrappers: reading PNG images into float pixels for
 * the importers, and writing 8-bit RGB images (previews, Grad-CAM) atomically.
 *
 * libpng reports errors by longjmp; these wrappers catch them and return
 * MS_ERR_INPUT with one message "<path>: ..." (ms_last_error), and install a
 * warning callback that keeps libpng quiet on the terminal.
 *
 * Reading accepts every PNG colour type: grayscale (1, 2, 4, 8, 16 bits),
 * gray+alpha, RGB, RGBA (8 or 16 bits) and palette images. Palettes are
 * expanded to RGB, alpha is dropped (no compositing), no gamma correction is
 * applied: the stored sample values are returned as value / (2^bits - 1), i.e.
 * value / 255 for 8-bit (and expanded 1/2/4-bit gray) and value / 65535 for
 * 16-bit samples. Images larger than PNG_IO_MAX_SIDE per side, truncated files
 * and corrupt data (bad CRC, bad zlib stream, missing chunks) are input errors.
 *
 * Dimension legend: C channels (1 = gray, 3 = RGB), H, W image size.
 */
#ifndef MEDSSL_PNG_IO_H
#define MEDSSL_PNG_IO_H

#include <stdint.h>

#define PNG_IO_MAX_SIDE 16384

/* The header of a PNG (signature and IHDR checked, nothing decoded):
 * *C = 1 (gray, gray+alpha) or 3 (RGB, RGBA, palette); *bit_depth = the
 * sample depth in the file: 1, 2, 4, 8 or 16 (palette images: 8). */
int png_probe(const char *path, int *H, int *W, int *C, int *bit_depth);

/* Reads the whole image into *pixels (C,H,W) float in [0, 1], planar (one
 * plane per channel, like a corpus sample); malloc'd, the caller frees it.
 * *C and *bit_depth as png_probe. On error *pixels is NULL. */
int png_read(const char *path, float **pixels, int *H, int *W, int *C, int *bit_depth);

/* Writes rgb (H,W,3) uint8, interleaved row-major, as an 8-bit RGB PNG.
 * Written to "<path>.tmp.<pid>", flushed and fsynced, then renamed over path:
 * a failure never leaves a partial file under `path`. */
int png_write_rgb8(const char *path, const uint8_t *rgb, int H, int W);
/* The same for gray (H,W) uint8: an 8-bit gray PNG (e.g. a label mask, pixel = class). */
int png_write_gray8(const char *path, const uint8_t *gray, int H, int W);

/* Draws img (C,H,W), min-max scaled to gray (or RGB when C == 3), with mask
 * (H,W) (NULL: none; 255 = not drawn) blended in a fixed palette of 10
 * class colours, into the picture rgb (.., GW, 3) at top-left (y0, x0). */
void png_draw_overlay(uint8_t *rgb, int GW, int y0, int x0, const float *img, const uint8_t *mask, int C, int H, int W);

#endif
