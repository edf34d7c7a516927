/* metrics — evaluation metrics of classification and segmentation models, per
 * domain, with bootstrap confidence intervals, written as the metrics.json of
 * `medssl evaluate` (DESIGN.md) or as a human table. Pure library code: no MPI,
 * no HDF5; a caller feeds batches into an accumulator, then writes a report.
 *
 * Classification (metrics_cls). Each sample brings K class probabilities, its
 * true label and optionally a domain id. The predicted class is the argmax of
 * the probabilities (the lowest index on ties). From the K x K confusion matrix
 * C (rows = true class, columns = predicted class), with TP/FN/FP/TN of class k
 * taken one-vs-rest:
 *   accuracy           = trace(C) / n
 *   sensitivity (recall) = TP / (TP + FN)   NaN if class k has no samples
 *   specificity        = TN / (TN + FP)     NaN if every sample is class k
 *   precision          = TP / (TP + FP)     NaN if class k is never predicted
 *   f1                 = 2TP / (2TP + FP + FN)  (= harmonic mean of precision
 *                        and recall when both exist; 0 when the class is
 *                        present but never predicted correctly; NaN if it is
 *                        neither present nor predicted)
 *   auc                = one-vs-rest ROC AUC of score probs[:, k]: the exact
 *                        Mann-Whitney statistic P(s_pos > s_neg) + 0.5 P(s_pos
 *                        == s_neg), equal to the rank-sum formula with average
 *                        ranks for ties; NaN without positives or negatives
 *   balanced_accuracy  = mean sensitivity over the classes present (NaN if n = 0)
 *   macro_auc          = K = 2: the auc of class 1; K > 2: the mean auc over the
 *                        classes that have both positives and negatives (NaN if
 *                        none has)
 *
 * Segmentation (metrics_seg). Each image brings a predicted mask and a true
 * mask (H, W) of class indices in [0, K); true pixels equal to 255 are ignored
 * (excluded from every count, whatever was predicted there). Per image i and
 * class c, with P and T the predicted and true pixel sets of c:
 *   DSC(i, c) = 2 |P ∩ T| / (|P| + |T|).
 * When P and T are both empty, DSC is undefined and image i is EXCLUDED from
 * class c's statistics (counted in that class's n_empty, not as 1 or 0). An
 * empty prediction with a non-empty truth (or the converse) counts as DSC 0.
 *   per class dsc_mean, dsc_std = mean and SAMPLE standard deviation (divisor
 *                        n - 1; 0 when n = 1; both NaN when n = 0) of DSC(i, c)
 *                        over the images not excluded for c
 *   per class sensitivity, specificity = pooled over all non-ignored pixels of
 *                        all images: sum TP / sum (TP + FN), sum TN / sum (TN + FP)
 *                        (NaN when the denominator is 0)
 *   dsc_mean, dsc_std  = overall, over the foreground classes 1..K-1: for each
 *                        image, fg(i) = mean of DSC(i, c) over the foreground
 *                        classes not excluded for image i; images where every
 *                        foreground class is excluded (no foreground in either
 *                        mask) have no fg(i) and are left out; dsc_mean and
 *                        dsc_std are the mean and sample std of fg(i) over the
 *                        remaining images (n_fg of them). For K = 2 they equal
 *                        per_class[1]'s dsc_mean and dsc_std.
 *
 * Undefined values are NaN in the result structs and `null` in JSON.
 *
 * Domains. Every sample (image) may carry a domain id in [0,
 * METRICS_MAX_DOMAINS); NULL domains (or -1 entries) mean "no domain". The
 * accumulator keeps what it needs per sample, so the same metrics can be
 * finished for all samples (domain = METRICS_ALL) or for one domain's samples.
 *
 * Bootstrap (percentile method). Replicate b (b = 0..B-1) draws n samples
 * (images) uniformly with replacement from the n samples of the subset being
 * evaluated, with the key rng_key(seed, METRICS_BOOT_TAG + domain + 1, b,
 * RNG_SPLIT), and recomputes the metric on the draw. The interval [lo, hi] is
 * the 2.5% and 97.5% quantile of the B replicate values (linear interpolation
 * between order statistics at position q (B' - 1), as numpy's default), over
 * the B' replicates where the metric is defined (e.g. a draw without any
 * negatives of a class has no AUC for it). NaN if B' = 0. Deterministic for a
 * seed. Classification: accuracy, balanced_accuracy, macro_auc; segmentation:
 * the overall dsc_mean.
 *
 * JSON layout (metrics_*_write_json), one object; numbers with 12 significant
 * digits, NaN as null:
 *   classification:
 *     { "n": 120, "accuracy": a, "balanced_accuracy": b, "macro_auc": m,
 *       "confusion": [[c00, c01, ...], ...],            (K rows, true class)
 *       "per_class": [{"sensitivity":, "specificity":, "precision":, "f1":, "auc":}, ...],
 *       "roc": [{"fpr": [0, ..., 1], "tpr": [0, ..., 1]}, null, ...],
 *                    (K entries, class k positive one-vs-rest: metrics_cls_roc's
 *                     vertices with at most METRICS_ROC_POINTS per class, 6
 *                     significant digits; null without positives or negatives)
 *       "ci95": {"resamples": B, "seed": s, "accuracy": [lo, hi],
 *                "balanced_accuracy": [lo, hi], "macro_auc": [lo, hi]},   (if B > 0)
 *       "domains": {"0": {same keys, without "domains"}, "3": {...}},      (if by_domain)
 *       <extra members> }
 *   segmentation:
 *     { "n": images, "n_fg": images with foreground, "dsc_mean": m, "dsc_std": s,
 *       "per_class": [{"dsc_mean":, "dsc_std":, "sensitivity":, "specificity":,
 *                      "n":, "n_empty":}, ...],         (K entries, class 0 first)
 *       "dsc_per_image": [[d, ...], ...],  (K arrays, class 0 first: class c's
 *                    per-image DSC in sample order, the per_class[c].n images
 *                    not excluded for c (metrics_seg_dsc_per_image), 6
 *                    significant digits; [] when n = 0)
 *       "ci95": {"resamples": B, "seed": s, "dsc_mean": [lo, hi]},         (if B > 0)
 *       "domains": {...}, <extra members> }
 * Domain objects are keyed by the decimal domain id, in increasing order, and
 * only domains with at least one sample appear. Samples without a domain count
 * in the top-level object only.
 *
 * Dimension legend: n samples (or images) in a batch, K classes, H, W mask
 * size, B bootstrap resamples.
 */
#ifndef MEDSSL_METRICS_H
#define MEDSSL_METRICS_H

#include "medssl/json.h"

#include <stdint.h>
#include <stdio.h>

#define METRICS_MAX_DOMAINS 64
#define METRICS_ALL (-1)       /* "every sample", as the domain argument */
#define METRICS_IGNORE 255     /* true-mask value excluded from segmentation counts */
#define METRICS_MAX_CLASSES 255
#define METRICS_ROC_POINTS 200 /* ROC vertices per class in metrics.json, at most */
/* Offset of the bootstrap keys' epoch field (keeps them apart from other RNG_SPLIT streams). */
#define METRICS_BOOT_TAG 0x6d6574726963ull /* "metric" */

typedef struct { double lo, hi; } metrics_interval;

/* What a report holds beyond the point estimates. */
typedef struct {
    int by_domain;       /* add the "domains" object */
    int ci_resamples;    /* B bootstrap resamples for "ci95"; 0 = no intervals */
    uint64_t seed;       /* bootstrap seed */
    const char *const *extra; /* string members appended to the top-level object: key, value,
                                 key, value, ..., NULL (escaped by the JSON writer), or NULL */
    const char *const *class_names; /* (K) names for the human table, or NULL (class index) */
} metrics_report_opts;

/* ---- classification ---------------------------------------------------------------- */

typedef struct metrics_cls metrics_cls; /* accumulator: keeps every sample's probabilities */

typedef struct {
    double sensitivity, specificity, precision, f1, auc;
    int64_t support;   /* samples whose true class is k (row sum of the confusion) */
    int64_t predicted; /* samples predicted as k (column sum) */
} metrics_cls_class;

typedef struct {
    int K;
    int domain;                   /* METRICS_ALL or the domain id */
    int64_t n;                    /* samples evaluated */
    double accuracy, balanced_accuracy, macro_auc;
    int64_t *confusion;           /* (K, K): confusion[t * K + p], t true, p predicted */
    metrics_cls_class *per_class; /* (K) */
    int ci_resamples;             /* B; 0 = the ci_* fields are not set */
    uint64_t ci_seed;
    metrics_interval ci_accuracy, ci_balanced_accuracy, ci_macro_auc;
} metrics_cls_result;

/* K in [2, METRICS_MAX_CLASSES]. Never NULL (allocation failure aborts). */
metrics_cls *metrics_cls_new(int K);
void metrics_cls_free(metrics_cls *acc);

/* Adds n samples: probs (n, K) finite scores (usually probabilities), labels (n)
 * in [0, K), domains (n) in [-1, METRICS_MAX_DOMAINS) or NULL (= all -1).
 * MS_ERR_INPUT naming the first bad sample (index within the batch) if a label
 * or domain is out of range or a score is not finite; then nothing is added. */
int metrics_cls_add(metrics_cls *acc, const float *probs, const int32_t *labels,
                    const int32_t *domains, int64_t n);

int metrics_cls_K(const metrics_cls *acc);
/* Number of samples added in `domain` (METRICS_ALL: all of them). */
int64_t metrics_cls_count(const metrics_cls *acc, int domain);
/* Writes the ids of the domains that have samples, increasing, into ids
 * (capacity METRICS_MAX_DOMAINS) and returns how many. */
int metrics_cls_domains(const metrics_cls *acc, int *ids);

/* Computes the metrics of `domain` (METRICS_ALL or an id) into *res, which
 * owns its arrays afterwards (free with metrics_cls_result_free). B > 0 adds
 * bootstrap intervals keyed by seed. An empty subset gives n = 0 and NaNs. */
void metrics_cls_finish(const metrics_cls *acc, int domain, int B, uint64_t seed,
                        metrics_cls_result *res);
void metrics_cls_result_free(metrics_cls_result *res);

/* The one-vs-rest ROC curve of class k (positive) over the samples of
 * `domain`, by the score probs[:, k]: its vertices (fpr, tpr) from (0, 0) to
 * (1, 1), one per distinct score (tied scores form one step, a diagonal
 * segment), by decreasing threshold: vertex v counts the samples of the v
 * highest distinct scores as positive. The trapezoid area under all the
 * vertices equals per_class[k].auc (the Mann-Whitney statistic with ties 1/2).
 * max_points >= 2 thins the list to at most max_points vertices when there are
 * more, keeping those at evenly spaced ranks v = floor(i (V - 1) / (max_points
 * - 1)), i = 0..max_points-1 (the first and last among them; still monotone,
 * but the area may then differ from the AUC); max_points = 0 keeps every
 * vertex. fpr and tpr hold max_points entries (0: metrics_cls_count(acc,
 * domain) + 1). Returns the number of vertices written, 0 when the subset has
 * no positives or no negatives of class k. */
int metrics_cls_roc(const metrics_cls *acc, int domain, int k, int max_points, double *fpr, double *tpr);

/* metrics.json for the accumulator (layout above); MS_ERR_RUNTIME on a write error. */
int metrics_cls_write_json(FILE *f, const metrics_cls *acc, const metrics_report_opts *opts);
/* The same report as the member `key` of an open JSON object (NULL: a value). */
void metrics_cls_json(ms_json *j, const char *key, const metrics_cls *acc, const metrics_report_opts *opts);
/* The same numbers as a table for people (per-class rows, confusion matrix, one
 * summary line per domain with by_domain). MS_ERR_RUNTIME on a write error. */
int metrics_cls_print(FILE *f, const metrics_cls *acc, const metrics_report_opts *opts);

/* ---- segmentation ------------------------------------------------------------------ */

typedef struct metrics_seg metrics_seg; /* accumulator: per image and class counts */

typedef struct {
    double dsc_mean, dsc_std;          /* over the n images not excluded for this class */
    double sensitivity, specificity;   /* pooled over pixels */
    int64_t n;                         /* images in the DSC statistics */
    int64_t n_empty;                   /* images excluded: class absent from both masks */
} metrics_seg_class;

typedef struct {
    int K;
    int domain;
    int64_t n;                         /* images evaluated */
    int64_t n_fg;                      /* images with a foreground DSC (in dsc_mean/std) */
    double dsc_mean, dsc_std;          /* overall foreground DSC, see the top of this file */
    metrics_seg_class *per_class;      /* (K), class 0 = background first */
    int ci_resamples;
    uint64_t ci_seed;
    metrics_interval ci_dsc_mean;
} metrics_seg_result;

/* K in [2, METRICS_MAX_CLASSES]. Never NULL. */
metrics_seg *metrics_seg_new(int K);
void metrics_seg_free(metrics_seg *acc);

/* Adds n images: pred (n, H, W) in [0, K); truth (n, H, W) in [0, K) or 255
 * (ignored); domains (n) as for metrics_cls_add. MS_ERR_INPUT naming the image
 * and pixel if a value is out of range; then nothing is added. */
int metrics_seg_add(metrics_seg *acc, const uint8_t *pred, const uint8_t *truth,
                    const int32_t *domains, int64_t n, int H, int W);

int metrics_seg_K(const metrics_seg *acc);
int64_t metrics_seg_count(const metrics_seg *acc, int domain);
int metrics_seg_domains(const metrics_seg *acc, int *ids);
/* DSC(i, c) of the i-th image added (0-based, over all adds), NaN if excluded. */
double metrics_seg_image_dsc(const metrics_seg *acc, int64_t image, int c);

/* The DSC(i, c) of the images i of `domain` that are not excluded for class c
 * (exactly the per_class[c].n images behind dsc_mean and dsc_std of
 * metrics_seg_finish), in the order they were added, into dsc (capacity
 * metrics_seg_count(acc, domain)); returns how many. */
int64_t metrics_seg_dsc_per_image(const metrics_seg *acc, int domain, int c, double *dsc);

void metrics_seg_finish(const metrics_seg *acc, int domain, int B, uint64_t seed,
                        metrics_seg_result *res);
void metrics_seg_result_free(metrics_seg_result *res);

int metrics_seg_write_json(FILE *f, const metrics_seg *acc, const metrics_report_opts *opts);
void metrics_seg_json(ms_json *j, const char *key, const metrics_seg *acc, const metrics_report_opts *opts);
int metrics_seg_print(FILE *f, const metrics_seg *acc, const metrics_report_opts *opts);

/* ---- building blocks (exposed for tests and other modules) -------------------------- */

/* One-vs-rest AUC of score (n) for positives pos (n, 0/1), each sample counted
 * w[i] times (w NULL = once): the Mann-Whitney statistic with ties counted 1/2.
 * NaN if the weighted positives or negatives are 0. O(n log n). */
double metrics_auc(const float *score, const uint8_t *pos, const double *w, int64_t n);

/* Quantile q in [0, 1] of v (n, sorted in place), linear interpolation at
 * q (n - 1) after dropping NaNs; NaN if nothing is left. */
double metrics_quantile(double *v, int64_t n, double q);

#endif
