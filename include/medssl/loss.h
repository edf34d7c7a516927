/* loss — training losses. Each returns the scalar loss and WRITES (=, not +=)
 * the gradient of that loss with respect to its input into `dlogits`/`dpred`
 * (which may be NULL when only the value is wanted), already divided by the
 * normaliser the loss uses (mean reduction), then multiplied by `scale`
 * (1 for a single loss; e.g. a weight when losses are combined).
 * All are numerically stable (log-sum-exp, softplus).
 *
 * Dimension legend: N batch, K classes, HW pixels per image (1 for
 * classification). Logits are (N, K, HW): class is the second axis, as in
 * PyTorch's CrossEntropyLoss on (N, K, H, W).
 */
#ifndef MEDSSL_LOSS_H
#define MEDSSL_LOSS_H

#include <stddef.h>
#include <stdint.h>

/* Softmax cross-entropy. target (N*HW) int32 class index (in [0,K)) or
 * ignore_index (e.g. -1 or 255; those positions contribute neither loss nor
 * gradient). class_weight (K) or NULL. Reduction as PyTorch 'mean':
 * sum_i w[y_i] * nll_i / sum_i w[y_i] over non-ignored i. Returns 0 with zero
 * gradient when every position is ignored. */
float softmax_ce_loss(float *dlogits, const float *logits, const int32_t *target,
                      const float *class_weight, int ignore_index, int N, int K, int HW,
                      float scale);

/* Mean squared error over n floats: mean((pred - target)^2). */
float mse_loss(float *dpred, const float *pred, const float *target, size_t n, float scale);

/* Binary cross-entropy with logits, mean over n: target in [0,1].
 * loss_i = max(x,0) - x*t + log(1 + exp(-|x|)). */
float bce_logits_loss(float *dlogits, const float *logits, const float *target, size_t n,
                      float scale);

/* Soft Dice over softmax probabilities, multi-class:
 *   p = softmax over K; for each class k over all non-ignored pixels of the batch:
 *   dice_k = (2*sum p_k g_k + smooth) / (sum p_k + sum g_k + smooth), g = one-hot(target)
 *   loss = 1 - mean_k dice_k.
 * probs: workspace (N,K,HW). */
float soft_dice_loss(float *dlogits, float *probs, const float *logits, const int32_t *target,
                     int ignore_index, int N, int K, int HW, float smooth, float scale);

/* Dice + CE: soft_dice_loss + softmax_ce_loss (unweighted sum), gradients summed. */
float dice_ce_loss(float *dlogits, float *probs, const float *logits, const int32_t *target,
                   const float *class_weight, int ignore_index, int N, int K, int HW,
                   float smooth, float scale);

#endif
