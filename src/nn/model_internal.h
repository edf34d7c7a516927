/* model_internal — what model.c (planning, passes) needs from model_build.c
 * (the graph) beyond medssl/model.h. */
#ifndef MEDSSL_MODEL_INTERNAL_H
#define MEDSSL_MODEL_INTERNAL_H

#include "medssl/model.h"

/* Makes the graph fit an input padded by (top, bottom, left, right) zero
 * rows/columns: removes the previous plan's OP_PAD (ops[0]) and OP_CROP (the
 * last op), then, unless all four are 0, inserts OP_PAD (input -> padded)
 * before the encoder, whose reads of the input then read `padded`, and with a
 * decoder appends OP_CROP (dec_map -> cropped), which becomes the output when
 * the decoder's map was. */
void model_fit_ops(ms_model *m, int top, int bottom, int left, int right);

#endif
