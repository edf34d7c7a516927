/* vec — private helpers of the layer files: fixed-width loops the compiler
 * vectorises, blocked parallel loops, and the shared float kernels.
 *
 * Hot elementwise loops are written with a fixed-width inner block (VEC_FOR):
 * at -O2, GCC 12's "very cheap" vectoriser cost model leaves a plain loop with an
 * unknown trip count scalar but vectorises a constant 8-iteration body.
 * Sums use VW float lanes flushed to a double every SUM_BLOCK floats, which
 * keeps both the speed of float SIMD and the accuracy of a double total.
 */
#ifndef MEDSSL_NN_VEC_H
#define MEDSSL_NN_VEC_H

#include <stddef.h>

#include "medssl/parallel.h"

#define VW 8
#define SUM_BLOCK 1024 /* floats summed in float lanes before the flush to double */
/* for (size_t i = 0; i < n; i++) BODY, in blocks of VW (BODY must be elementwise in i). */
#define VEC_FOR(i, n, ...)                                                                 \
    do {                                                                                   \
        size_t i##_blk_ = 0, i##_n_ = (size_t)(n);                                         \
        for (; i##_blk_ + VW <= i##_n_; i##_blk_ += VW)                                    \
            for (size_t i = i##_blk_; i < i##_blk_ + VW; i++) { __VA_ARGS__; }             \
        for (size_t i = i##_blk_; i < i##_n_; i++) { __VA_ARGS__; }                        \
    } while (0)

/* Runs KERNEL(lo, len) over [0, n) in blocks, split over the threads. */
#define PARALLEL_BLOCKS(n, KERNEL)                                               \
    do {                                                                         \
        const size_t blk_ = 16384, n_ = (n);                                     \
        const long nb_ = (long)((n_ + blk_ - 1) / blk_);                         \
        PARALLEL_FOR(n_)                                                         \
        for (long b_ = 0; b_ < nb_; b_++) {                                      \
            size_t lo = (size_t)b_ * blk_, len = n_ - lo < blk_ ? n_ - lo : blk_; \
            KERNEL;                                                              \
        }                                                                        \
    } while (0)

/* dst (n) += src (n) */
void vec_add_into(float *restrict dst, const float *restrict src, size_t n);
/* Sum of x (n), float lanes with a double total. */
double vec_sum(const float *restrict x, size_t n);

#endif
