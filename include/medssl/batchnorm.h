/* batchnorm — 2-D batch normalisation, NCHW float32 (src/nn/batchnorm.c):
 * training mode with batch statistics and PyTorch's running-stat update,
 * eval mode, BN fused with ReLU, and the synchronized (cross-rank) variant in
 * four calls around two sums the caller reduces over ranks (sync-BN: the
 * model reaches MPI through the reducer it is given, medssl/model.h).
 *
 * Dimension legend: N batch size, C channels, HW = H*W pixels per channel,
 * M = N*HW values per channel that are normalised.
 *
 * Conventions (those of medssl/layers.h): plain functions with explicit
 * buffers, nothing allocates; forward overwrites `out`; backward ACCUMULATES
 * (+=) into every gradient it is given; a NULL gradient means "not needed".
 */
#ifndef MEDSSL_BATCHNORM_H
#define MEDSSL_BATCHNORM_H

/* Training mode: normalise with the batch statistics over (N, H, W) per channel,
 * save mean (C) and rstd (C) = 1/sqrt(var_biased + eps) for backward, and update
 * running stats as PyTorch does:
 *   running_mean = (1-momentum)*running_mean + momentum*mean
 *   running_var  = (1-momentum)*running_var  + momentum*var_unbiased
 * out, inp (N,C,HW); gamma, beta, running_* (C). running_* may be NULL (no update). */
void bn2d_forward_train(float *out, float *mean, float *rstd, const float *inp,
                        const float *gamma, const float *beta, float *running_mean,
                        float *running_var, int N, int C, int HW, float momentum, float eps);
/* Eval mode: out = gamma * (inp - running_mean) / sqrt(running_var + eps) + beta. */
void bn2d_forward_eval(float *out, const float *inp, const float *gamma, const float *beta,
                       const float *running_mean, const float *running_var, int N, int C,
                       int HW, float eps);
/* Fused BN + ReLU: out = max(0, bn(inp)), one pass fewer and one buffer fewer
 * than bn2d_forward_* followed by relu_forward. Backward: relu_mask_grad on
 * the output gradient, then bn2d_backward / bn2d_backward_eval. */
void bn2d_relu_forward_train(float *out, float *mean, float *rstd, const float *inp,
                             const float *gamma, const float *beta, float *running_mean,
                             float *running_var, int N, int C, int HW, float momentum, float eps);
void bn2d_relu_forward_eval(float *out, const float *inp, const float *gamma, const float *beta,
                            const float *running_mean, const float *running_var, int N, int C,
                            int HW, float eps);
/* Backward of training mode (batch statistics), using mean/rstd saved by forward.
 * dinp (N,C,HW) may be NULL; dgamma, dbeta (C) may be NULL. */
void bn2d_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                   const float *inp, const float *mean, const float *rstd, const float *gamma,
                   int N, int C, int HW);
/* Backward of eval mode (fixed statistics): a per-channel affine map. */
void bn2d_backward_eval(float *dinp, float *dgamma, float *dbeta, const float *dout,
                        const float *inp, const float *gamma, const float *running_mean,
                        const float *running_var, int N, int C, int HW, float eps);

/* Synchronized (cross-rank) training mode, in four calls around two sums over
 * ranks; the result equals bn2d_forward_train / bn2d_backward on the
 * concatenation of every rank's rows. N may be 0 (a rank with no rows still
 * takes part). Per-rank gamma/beta gradients stay local sums.
 *   1. bn2d_sync_stats_partial: sums (2C+1) = [M = N*HW, sum x (C), sum x^2 (C)]
 *      of this rank's inp (N,C,HW), in double.
 *   -- the caller adds sums over ranks --
 *   2. bn2d_sync_forward_train: mean, rstd (C) from the global sums, running
 *      stats updated with them (unbiased var with the global M), out (N,C,HW)
 *      normalised (fused ReLU when relu). All-zero sums (no rows anywhere):
 *      nothing changes. Needs global M > 1.
 * backward (after relu_mask_grad on dout when fused):
 *   3. bn2d_sync_backward_partial: dgamma, dbeta (C) += this rank's sums (NULL =
 *      skip); sums (2C) = [sum dy (C), sum dy*(x-mean) (C)] of this rank.
 *   -- the caller adds sums over ranks --
 *   4. bn2d_sync_backward_input: dinp (N,C,HW) += the input gradient of BN over
 *      the global batch of M values per channel (M = global sums[0] of step 1). */
void bn2d_sync_stats_partial(double *sums, const float *inp, int N, int C, int HW);
void bn2d_sync_forward_train(float *out, float *mean, float *rstd, const float *inp,
                             const float *gamma, const float *beta, float *running_mean,
                             float *running_var, const double *sums, int N, int C, int HW,
                             float momentum, float eps, int relu);
void bn2d_sync_backward_partial(double *sums, float *dgamma, float *dbeta, const float *dout,
                                const float *inp, const float *mean, const float *rstd, int N,
                                int C, int HW);
void bn2d_sync_backward_input(float *dinp, const double *sums, double M, const float *dout,
                              const float *inp, const float *mean, const float *rstd,
                              const float *gamma, int N, int C, int HW);

#endif
