/* ensemble_math — the math of ensembles of classifiers and segmenters: combining
 * M members' class probabilities, a mixture-of-experts gate trained on
 * validation data, AdaBoost SAMME weight updates, and the resampling used by
 * boosting and bagging. Pure library code (no model, no I/O): members'
 * probabilities come in as arrays.
 *
 * Combiners (ens_combine, ens_seg_combine), per sample (pixel) over the
 * members' probability vectors p_m (K):
 *   average        s_k = mean_m p_m,k
 *   sum            s_k = sum_m p_m,k, then normalized (same scores and argmax as average)
 *   min / max      s_k = min_m / max_m p_m,k, then normalized
 *   vote           s_k = fraction of members whose argmax is k (a member's
 *                  argmax takes the lowest index on ties); a tie between classes
 *                  is broken by the higher average probability
 *   weighted-vote  s_k = sum_m w_m [argmax_m = k] / sum_m w_m with member weights
 *                  w (M, >= 0, positive sum; e.g. SAMME alphas); ties broken by
 *                  the higher weighted average probability sum_m w_m p_m,k
 *   moe            s = sum_m g_m(x) p_m with the trained gate g (ens_moe)
 * Scores are normalized to sum 1 per row (a row of all-zero scores becomes
 * uniform 1/K); the prediction is the argmax of the scores (lowest index on
 * ties, after the vote tie-break). Remaining ties after the tie-break go to
 * the lowest index.
 *
 * Mixture of experts: gate logits z = Wg x + bg, x = the concatenation
 * (p_1, ..., p_M) of the members' probabilities (M*K), g = softmax(z) (M).
 * Training minimizes, full batch with Adam,
 *   L = -(1/n) sum_i log(sum_m g_m(x_i) p_m,y_i(x_i) + ENS_MOE_EPS) + (l2/2) |Wg|^2
 * (bg not decayed), from Wg = 0, bg = 0 (the uniform gate, i.e. average).
 *
 * AdaBoost SAMME (Zhu, Zou, Rosset, Hastie 2009), one round for one member:
 *   err = sum_i w_i [pred_i != y_i] / sum_i w_i
 *   alpha = log((1 - err) / err) + log(K - 1), capped at ENS_SAMME_ALPHA_MAX
 *   w_i *= exp(alpha [pred_i != y_i]), then w /= sum w.
 *
 * Resampling: ens_resample_counts draws n samples with replacement with
 * probabilities w (boosting by resampling); ens_bootstrap_counts uniformly
 * (bagging). counts[i] = how often sample i was drawn; sum counts = n exactly.
 * Keyed by (seed, round): draw j of round r uses rng_key(seed, ENS_RNG_TAG + r,
 * 0, RNG_SPLIT) at counter j.
 *
 * Dimension legend: M members, n samples (images), K classes, H, W image size,
 * P = M*K gate inputs.
 */
#ifndef MEDSSL_ENSEMBLE_MATH_H
#define MEDSSL_ENSEMBLE_MATH_H

#include <stdint.h>

#define ENS_MAX_MEMBERS 64
#define ENS_MAX_CLASSES 255
#define ENS_MOE_MAX_INPUTS 4096 /* M*K of a mixture-of-experts gate */
#define ENS_MOE_EPS 1e-12
#define ENS_SAMME_ALPHA_MAX 20.0
#define ENS_RNG_TAG 0x656e73656d62ull /* "ensemb": keeps the keys apart from other RNG_SPLIT streams */

typedef enum {
    ENS_AVERAGE,
    ENS_SUM,
    ENS_MIN,
    ENS_MAX,
    ENS_VOTE,
    ENS_WEIGHTED_VOTE,
    ENS_MOE,
    ENS__COUNT
} ens_combiner;

/* "average" | "sum" | "min" | "max" | "vote" | "weighted-vote" | "moe"; -1 if unknown. */
int ens_combiner_parse(const char *name);
const char *ens_combiner_name(ens_combiner c); /* "?" if out of range */
/* "average|sum|min|max|vote|weighted-vote|moe", for usage messages. */
const char *ens_combiner_list(void);

/* Mixture-of-experts gate. params (P*M + M) = [Wg (M, P) row-major | bg (M)]. */
typedef struct {
    int M, K;
    float *params;
} ens_moe;

typedef struct {
    const float *weights;  /* (M) member weights: weighted-vote; NULL for the others */
    const ens_moe *gate;   /* trained gate: moe; NULL for the others */
} ens_params;

/* Combines classification outputs. probs (M, n, K) member probabilities;
 * scores (n, K) out, each row sums to 1; pred (n) out or NULL.
 * MS_ERR_INPUT if the combiner needs weights or a gate that p lacks (or they
 * do not fit M, K), or M, K are out of range. */
int ens_combine(ens_combiner c, float *scores, int32_t *pred, const float *probs,
                const ens_params *p, int M, int64_t n, int K);

/* Per-pixel combination of segmentation outputs: probs (M, n, K, H, W), the
 * K class maps of each image consecutive; mask (n, H, W) out = the argmax of
 * the combined scores (K <= 255). The same combiners and errors as ens_combine;
 * average and vote are the usual choices. */
int ens_seg_combine(ens_combiner c, uint8_t *mask, const float *probs, const ens_params *p,
                    int M, int64_t n, int K, int H, int W);

/* ---- mixture of experts ------------------------------------------------------------- */

typedef struct {
    int steps;       /* full-batch Adam steps, default 300 */
    float lr;        /* default 0.05 */
    float l2;        /* on Wg, default 1e-4 */
} ens_moe_opts;

void ens_moe_defaults(ens_moe_opts *o);
/* Allocates params for M members, K classes (M*K <= ENS_MOE_MAX_INPUTS), all
 * zero (the uniform gate). */
void ens_moe_init(ens_moe *g, int M, int K);
void ens_moe_free(ens_moe *g);
int64_t ens_moe_param_count(int M, int K); /* P*M + M */

/* The training loss L above at the current params, for probs (M, n, K) and
 * labels (n) in [0, K); dparams (P*M + M) out = dL/dparams, or NULL. */
double ens_moe_loss(const ens_moe *g, float *dparams, const float *probs, const int32_t *labels,
                    int64_t n, float l2);
/* Trains g (from its current params; ens_moe_init gives zeros) on validation
 * data. Returns MS_ERR_INPUT for labels out of range, else MS_OK; *final_loss
 * (may be NULL) = the loss after the last step. */
int ens_moe_train(ens_moe *g, const float *probs, const int32_t *labels, int64_t n,
                  const ens_moe_opts *o, double *final_loss);
/* Gate values gates (n, M) out for probs (M, n, K). */
void ens_moe_gates(const ens_moe *g, float *gates, const float *probs, int64_t n);

/* ---- AdaBoost SAMME ------------------------------------------------------------------ */

typedef enum {
    ENS_SAMME_OK = 0,      /* weights updated; use the member with weight alpha */
    ENS_SAMME_PERFECT = 1, /* err == 0: alpha = ENS_SAMME_ALPHA_MAX, weights unchanged;
                              keep the member and stop boosting (nothing left to reweight) */
    ENS_SAMME_DISCARD = 2, /* err >= 1 - 1/K: no better than chance; alpha = 0,
                              weights unchanged: discard the member */
} ens_samme_status;

/* One SAMME round. w (n) sample weights (positive sum; updated in place and
 * renormalized to sum 1 when OK); pred, labels (n) in [0, K); K >= 2.
 * *alpha and *err (either may be NULL) receive the member's weight and error. */
ens_samme_status ens_samme_update(double *w, double *alpha, double *err, const int32_t *pred,
                                  const int32_t *labels, int64_t n, int K);

/* ---- resampling ---------------------------------------------------------------------- */

/* counts (n) = a multinomial draw of n samples with probabilities w (n, >= 0,
 * positive sum, need not be normalized; MS_ERR_INPUT otherwise). MS_ERR_RUNTIME
 * if a count would exceed 65535 (only possible for n > 65535 with a very
 * concentrated w). */
int ens_resample_counts(uint16_t *counts, const double *w, int64_t n, uint64_t seed, uint64_t round);
/* counts (n) = a uniform draw of n samples with replacement (the bootstrap of bagging). */
int ens_bootstrap_counts(uint16_t *counts, int64_t n, uint64_t seed, uint64_t round);

#endif
