/* test_cfs — Correlation-based Feature Selection (finetune/cfs.c) on cases
 * worked by hand: entropies and symmetric uncertainty of tiny tables, MDL
 * cuts (one cut at the midpoint between two separated classes; none when MDL
 * rejects the best split or no boundary exists), the merit formula on set
 * correlations, a search on set correlations, and a search on data showing
 * Weka's rules (an SU of 0 between features counts as 1; a perfect copy is
 * added by the locally predictive step, not by the search).
 * The comparison with Weka itself is in tests/cli_select.sh. */
#include "medssl/cfs.h"
#include "medssl/common.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void test_entropy(void)
{
    const double half[2] = { 2, 2 }, quarter[4] = { 1, 1, 1, 1 }, pure[2] = { 4, 0 }, skew[2] = { 1, 3 }, none[2] = { 0, 0 };
    TU_CLOSE(cfs_entropy(half, 2), 1.0, 1e-12, 0);
    TU_CLOSE(cfs_entropy(quarter, 4), 2.0, 1e-12, 0);
    TU_CLOSE(cfs_entropy(pure, 2), 0.0, 1e-12, 0);
    TU_CLOSE(cfs_entropy(skew, 2), 0.8112781244591328, 1e-12, 0); /* -(1/4 log2 1/4 + 3/4 log2 3/4) */
    TU_CLOSE(cfs_entropy(none, 2), 0.0, 0, 0);
    const double split[4] = { 2, 0, 0, 2 }, mixed[4] = { 1, 1, 1, 1 }, half_mixed[4] = { 2, 0, 1, 1 };
    TU_CLOSE(cfs_entropy_given_rows(split, 2, 2), 0.0, 1e-12, 0);
    TU_CLOSE(cfs_entropy_given_rows(mixed, 2, 2), 1.0, 1e-12, 0);
    TU_CLOSE(cfs_entropy_given_rows(half_mixed, 2, 2), 0.5, 1e-12, 0); /* half the samples in a 1-bit row */
}

static void test_symmetric_uncertainty(void)
{
    const double same[4] = { 2, 0, 0, 2 }, independent[4] = { 1, 1, 1, 1 }, table[4] = { 2, 1, 0, 1 };
    const double constant[4] = { 3, 1, 0, 0 };
    TU_CLOSE(cfs_symmetric_uncertainty(same, 2, 2), 1.0, 1e-12, 0);
    TU_CLOSE(cfs_symmetric_uncertainty(independent, 2, 2), 0.0, 1e-12, 0);
    /* rows (3, 1): H(X) = 0.811278; columns (2, 2): H(Y) = 1; cells (2, 1, 0, 1)/4: H(X,Y) = 1.5;
     * SU = 2 (0.811278 + 1 - 1.5) / (0.811278 + 1) */
    TU_CLOSE(cfs_symmetric_uncertainty(table, 2, 2), 0.3437110184854509, 1e-12, 0);
    TU_CLOSE(cfs_symmetric_uncertainty(constant, 2, 2), 0.0, 0, 0); /* one row used: H(X) = 0 */
}

static void test_mdl_cut(void)
{
    /* two separated classes: one cut, at the midpoint of the boundary values 5 and 11 */
    const double v[10] = { 1, 2, 3, 4, 5, 11, 12, 13, 14, 15 };
    const int32_t y[10] = { 0, 0, 0, 0, 0, 1, 1, 1, 1, 1 };
    double cuts[10];
    TU_CHECK(cfs_mdl_cuts(v, y, 10, 2, cuts, 10) == 1);
    TU_CLOSE(cuts[0], 8.0, 0, 0);
    /* three runs of classes: the first cut splits off the lowest-entropy side, then each half again */
    const double w[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
    const int32_t z[12] = { 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2 };
    TU_CHECK(cfs_mdl_cuts(w, z, 12, 3, cuts, 12) == 2);
    TU_CLOSE(cuts[0], 4.5, 0, 0);
    TU_CLOSE(cuts[1], 8.5, 0, 0);
}

static void test_mdl_rejects(void)
{
    double cuts[8];
    /* 1 2 3 4 with classes 0 1 0 1: the best cut (after 1) gains 0.311 bits; MDL asks
     * (log2 3 + log2 7 - (2 - 2 x 0.918)) / 4 = 1.057 */
    const double v[4] = { 1, 2, 3, 4 };
    const int32_t y[4] = { 0, 1, 0, 1 };
    TU_CHECK(cfs_mdl_cuts(v, y, 4, 2, cuts, 8) == 0);
    /* no boundary between distinct values separates anything: 1 1 2 2 with 0 1 0 1 */
    const double t[4] = { 1, 1, 2, 2 };
    TU_CHECK(cfs_mdl_cuts(t, y, 4, 2, cuts, 8) == 0);
    /* a single value: no candidate at all */
    const double one[4] = { 3, 3, 3, 3 };
    TU_CHECK(cfs_mdl_cuts(one, y, 4, 2, cuts, 8) == 0);
    /* a pure set: no gain */
    const int32_t same[4] = { 1, 1, 1, 1 };
    TU_CHECK(cfs_mdl_cuts(v, same, 4, 2, cuts, 8) == 0);
}

/* An evaluator with set correlations (no data): r_c = (0.5, 0.4, 0.1),
 * r_10 = 0.2, r_20 = 0.3, r_21 = 0.6. */
static void set_correlations(ms_cfs *c)
{
    memset(c, 0, sizeof *c);
    c->F = 3;
    c->r_class = ms_malloc(3 * sizeof(float));
    c->r_pair = ms_malloc(3 * sizeof(float));
    c->r_class[0] = 0.5f;
    c->r_class[1] = 0.4f;
    c->r_class[2] = 0.1f;
    c->r_pair[0] = 0.2f; /* (1, 0) */
    c->r_pair[1] = 0.3f; /* (2, 0) */
    c->r_pair[2] = 0.6f; /* (2, 1) */
}

static void test_merit(void)
{
    ms_cfs c;
    set_correlations(&c);
    const int a[1] = { 0 }, ab[2] = { 1, 0 }, abc[3] = { 2, 0, 1 };
    TU_CLOSE(cfs_merit(&c, NULL, 0), 0.0, 0, 0);
    TU_CLOSE(cfs_merit(&c, a, 1), 0.5, 1e-7, 0);
    TU_CLOSE(cfs_merit(&c, ab, 2), 0.5809475019311126, 1e-7, 0);  /* 0.9 / sqrt(2 + 2 x 0.2) */
    TU_CLOSE(cfs_merit(&c, abc, 3), 0.4385290096535146, 1e-7, 0); /* 1.0 / sqrt(3 + 2 x 1.1) */
    free(c.r_class);
    free(c.r_pair);
}

static void test_search_by_hand(void)
{
    /* {} -> {0} 0.5 (best), {1} 0.4, {2} 0.1; {0} -> {0,1} 0.581 (best), {0,2} 0.372;
     * {0,1} -> {0,1,2} 0.439: then nothing beats 0.581. Locally predictive: feature 2
     * (r_c 0.1) correlates 0.3 with feature 0: not added. */
    ms_cfs c;
    set_correlations(&c);
    ms_cfs_result r;
    const ms_cfs_opts o = { .max_stale = 5, .locally_predictive = 1 };
    TU_CHECK(cfs_select(&c, &o, &r) == MS_OK);
    TU_CHECK(r.n_searched == 2 && r.searched[0] == 0 && r.searched[1] == 1);
    TU_CHECK(r.n_selected == 2 && r.selected[0] == 0 && r.selected[1] == 1);
    TU_CLOSE(r.merit, 0.5809475019311126, 1e-7, 0);
    TU_CHECK(r.n_trace == 7); /* 2 improving expansions, then 5 stale ones */
    TU_CHECK(r.trace[0].size == 1 && r.trace[0].added == 0);
    TU_CHECK(r.trace[1].size == 2 && r.trace[1].added == 1);
    for (int i = 2; i < r.n_trace; i++) TU_CHECK(r.trace[i].added == -1 && r.trace[i].size == 2);
    cfs_result_free(&r);
    free(c.r_class);
    free(c.r_pair);
}

static void test_search_on_data(void)
{
    /* 8 samples, 2 classes; f0 = the class (+ offset), f1 = a copy of f0, f2 constant */
    const int n = 8, F = 3;
    float x[8 * 3];
    int32_t y[8];
    for (int i = 0; i < n; i++) {
        y[i] = i % 2;
        x[i * F + 0] = (float)y[i] + 0.25f * (float)(i / 2);
        x[i * F + 1] = x[i * F + 0];
        x[i * F + 2] = 7.0f;
    }
    ms_cfs c;
    TU_CHECK(cfs_init(&c, x, n, F, y, 2) == MS_OK);
    TU_CHECK(c.n_bins[0] == 2 && c.n_bins[1] == 2 && c.n_bins[2] == 1);
    TU_CLOSE(cfs_corr_class(&c, 0), 1.0, 1e-6, 0);
    TU_CLOSE(cfs_corr_class(&c, 2), 0.0, 0, 0);  /* SU 0 with the class: 0 */
    TU_CLOSE(cfs_corr(&c, 2, 0), 1.0, 0, 0);     /* SU 0 between features: 1 (Weka) */
    TU_CLOSE(cfs_corr(&c, 0, 1), 1.0, 1e-6, 0);
    const int both[2] = { 0, 2 };
    TU_CLOSE(cfs_merit(&c, both, 2), 0.5, 1e-6, 0); /* 1 / sqrt(2 + 2 x 1) */
    ms_cfs_result r;
    const ms_cfs_opts o = { .max_stale = 5, .locally_predictive = 1 };
    TU_CHECK(cfs_select(&c, &o, &r) == MS_OK);
    /* the search keeps {0} ({0,1} has merit 2 / sqrt(4) = 1, no better); the locally
     * predictive step adds the copy: its r_c (1) is not below its correlation with f0 (1) */
    TU_CHECK(r.n_searched == 1 && r.searched[0] == 0);
    TU_CHECK(r.n_selected == 2 && r.selected[0] == 0 && r.selected[1] == 1);
    TU_CLOSE(r.merit, 1.0, 1e-6, 0);
    cfs_result_free(&r);
    const ms_cfs_opts plain = { .max_stale = 5, .locally_predictive = 0 };
    TU_CHECK(cfs_select(&c, &plain, &r) == MS_OK);
    TU_CHECK(r.n_selected == 1 && r.selected[0] == 0);
    cfs_result_free(&r);
    cfs_free(&c);
    /* validation at the door */
    y[3] = 2;
    TU_CHECK(cfs_init(&c, x, n, F, y, 2) == MS_ERR_INPUT);
    TU_CHECK(cfs_init(&c, x, 1, F, y, 2) == MS_ERR_INPUT);
}

int main(void)
{
    TU_RUN(test_entropy);
    TU_RUN(test_symmetric_uncertainty);
    TU_RUN(test_mdl_cut);
    TU_RUN(test_mdl_rejects);
    TU_RUN(test_merit);
    TU_RUN(test_search_by_hand);
    TU_RUN(test_search_on_data);
    return tu_summary();
}
