/* winograd — 3x3, stride-1, pad-1 convolutions by Winograd's minimal filtering
 * F(2x2, 3x3) (Lavin & Gray 2016), private to src/nn (conv.c dispatches here).
 *
 * Each 2x2 output tile comes from a 4x4 input tile in 16 multiplications per
 * (input, output) channel pair instead of 36. Over a block of tiles, the 16
 * transformed positions become 16 independent GEMMs (parallel_sgemm):
 *   forward   M_xi (K, T) = U_xi (K, C) * V_xi (C, T)      U = G g G^T, V = B^T d B
 *             y = A^T M A for each tile
 *   dinp      the forward of dout with the weights rotated by 180 degrees and
 *             transposed (a same-padding conv), accumulated into dinp
 *   dw        Mw_xi (K, C) += DY_xi (K, T) * V_xi^T (T, C)  DY = A dy A^T
 *             dw += G^T Mw G
 * with the matrices of F(2,3) at the points 0, 1, -1, infinity:
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
 *   G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
 *   A^T = [1 1 1 0; 0 1 -1 -1]
 * Tiles at an odd right or bottom edge are half outside the image: their
 * missing inputs and output gradients are zero, their missing outputs are not
 * written. The error against the direct sum stays at float rounding (the
 * transforms only add and halve); tests/test_conv.c compares both paths with
 * the seven-loop reference.
 */
#ifndef MEDSSL_NN_WINOGRAD_H
#define MEDSSL_NN_WINOGRAD_H

#include "medssl/conv.h"

#include <stddef.h>

/* 3x3 kernel, stride 1, pad 1 (so OH == H, OW == W). */
int wino_shape_fits(const ms_conv_shape *cs);
/* Floats of workspace wino_forward/wino_backward need. */
size_t wino_ws_size(const ms_conv_shape *cs);
/* out (N,K,H,W) = conv(inp, w) + bias (NULL: none); overwrites out. */
void wino_forward(const ms_conv_shape *cs, float *out, float *ws, const float *inp, const float *w,
                  const float *bias);
/* dinp += dL/dinp, dw += dL/dw (either may be NULL); the bias gradient is conv.c's. */
void wino_backward(const ms_conv_shape *cs, float *dinp, float *dw, float *ws, const float *dout,
                   const float *inp, const float *w);

#endif
