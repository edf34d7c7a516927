/* cfs — Correlation-based Feature Selection (Hall 1999) over a feature
 * matrix with class labels, computed as Weka 3.6's CfsSubsetEval with its
 * default options (discretised features, locally predictive on) searched by
 * BestFirst with its defaults (forward from the empty set, searchTermination 5).
 * A library API: `medssl select` calls it, and so can anything that wants to
 * rank encoder features (e.g. an architecture search).
 *
 * The steps, each as Weka does it (tests/cli_select.sh compares with Weka):
 *  1. Every feature is discretised by Fayyad & Irani's MDL method
 *     (weka.filters.supervised.attribute.Discretize, useBetterEncoding as CFS
 *     sets it): the samples sorted by the feature, the cut with the lowest
 *     class entropy among the midpoints between distinct neighbouring values
 *     (the first one on ties), accepted when its gain exceeds
 *     (log2(c - 1) + log2(3^k - 2) - (k E - k1 E1 - k2 E2)) / n, with c the
 *     number of candidate cuts (distinct values - 1), k, k1, k2 the classes
 *     present in the set and its two halves and E, E1, E2 their entropies;
 *     then the same on each half. A value v goes to bin j = the first cut
 *     with v <= cut[j]. A feature without an accepted cut has one bin.
 *  2. Correlations are symmetric uncertainties SU = 2 (H(X) + H(Y) - H(X,Y)) /
 *     (H(X) + H(Y)) of the bins, computed on first use and kept as float (as
 *     Weka's float matrix). An SU within 1e-6 of 0 counts as 0 between a
 *     feature and the class but as 1 (fully redundant) between two features.
 *  3. merit(S) = sum r_cf / sqrt(k + 2 sum_{i<j} r_ij) over the k features of
 *     S (= k mean(r_cf) / sqrt(k + k(k-1) mean(r_ff))), 0 for the empty set.
 *  4. Best-first search: an open list of at most max_stale subsets ordered by
 *     merit (a new one goes after those of equal merit; a full list drops its
 *     last), starting with the empty set. Each expansion takes the head and
 *     inserts each of its one-feature extensions (in feature order, also ones
 *     seen before: Weka's lookup table only caches merits); an extension whose
 *     merit beats the best by more than 1e-5 becomes the best. The search ends
 *     after max_stale consecutive expansions without a new best, or when the
 *     list is empty.
 *  5. Locally predictive features (Weka's default): repeatedly the unselected,
 *     not yet considered feature with the highest class correlation (first on
 *     ties) is added when its class correlation exceeds its correlation with
 *     every selected feature (those added in this step included).
 *
 * The merit reported is the search's best (step 4), before step 5, as Weka's
 * "Merit of best subset found".
 *
 * Dimension legend: n samples, F features, K classes, B bins of a feature.
 */
#ifndef MEDSSL_CFS_H
#define MEDSSL_CFS_H

#include <stddef.h>
#include <stdint.h>

/* ---- the information measures (Weka's ContingencyTables) ---- */

/* Entropy in bits of counts (n): 0 when they sum to 0. */
double cfs_entropy(const double *counts, int n);
/* Entropy in bits of the columns given the rows of counts (rows, cols). */
double cfs_entropy_given_rows(const double *counts, int rows, int cols);
/* Symmetric uncertainty of the contingency table counts (rows, cols):
 * 2 I(X;Y) / (H(X) + H(Y)); 0 when either entropy is 0. */
double cfs_symmetric_uncertainty(const double *counts, int rows, int cols);

/* ---- MDL discretisation ---- */

/* Fayyad-Irani MDL cut points of one feature: values (n) sorted ascending with
 * their classes cls (n, 0..K-1). Writes the cuts (ascending) into cuts (room
 * for cap; n - 1 always suffices) and returns how many. */
int cfs_mdl_cuts(const double *values, const int32_t *cls, int n, int K, double *cuts, int cap);

/* ---- the evaluator ---- */

typedef struct {
    int n, F, K;
    int32_t *cls;    /* (n) class 0..K-1 */
    int32_t *bins;   /* (F, n) bin of every sample per feature */
    int *n_bins;     /* (F) */
    float *r_class;  /* (F) SU with the class, NAN until computed */
    float *r_pair;   /* (F*(F-1)/2) SU of features i > j at i*(i-1)/2 + j, NAN until computed */
    long long n_corr; /* correlations computed so far */
} ms_cfs;

/* Discretises every feature of x (n, F) (row-major, sample by sample) against
 * labels (n, each 0..K-1; the caller keeps labeled samples only). MS_ERR_INPUT
 * for fewer than 2 samples or a label out of range. */
int cfs_init(ms_cfs *c, const float *x, int n, int F, const int32_t *labels, int K);
void cfs_free(ms_cfs *c);
/* Correlation (step 2) of feature f with the class, and of features f != g. */
float cfs_corr_class(ms_cfs *c, int f);
float cfs_corr(ms_cfs *c, int f, int g);
/* merit (step 3) of the features in[0..k) (any order: summed in ascending
 * feature order, as Weka). */
double cfs_merit(ms_cfs *c, const int *in, int k);

/* ---- the search ---- */

typedef struct {
    int max_stale;          /* Weka's searchTermination (5) */
    int locally_predictive; /* step 5 (1) */
} ms_cfs_opts;

/* The best subset after one expansion of the search. */
typedef struct {
    int size;
    double merit;
    int added; /* the feature this expansion added to reach a new best, or -1 */
} ms_cfs_step;

typedef struct {
    int *selected, n_selected;   /* ascending, after step 5 */
    int *searched, n_searched;   /* the search's best subset, ascending */
    double merit;                /* merit of `searched` */
    ms_cfs_step *trace;          /* one per expansion */
    int n_trace;
    long long evaluations;       /* extensions evaluated (Weka's "Total number of subsets evaluated") */
} ms_cfs_result;

int cfs_select(ms_cfs *c, const ms_cfs_opts *o, ms_cfs_result *r);
void cfs_result_free(ms_cfs_result *r);

#endif
