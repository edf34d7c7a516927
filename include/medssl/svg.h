/* svg — the charts of the HTML report as inline SVG text: line charts (linear
 * or log y, several series with a legend, gaps at missing values), a heat map
 * with counts (confusion matrices) and box-and-strip plots (DSC per image).
 * No scripts, no external resources; every string is HTML-escaped.
 *
 * Axes use "nice" ticks (Heckbert, Graphics Gems 1990): steps of 1, 2 or 5
 * times a power of ten, the range widened to whole steps; a log axis ticks the
 * decades (and 2x, 5x inside them when it spans at most two decades).
 *
 * Every chart is one <svg class="chart" data-series="S"> whose series are
 * elements with class "series" (one per series), so tests can count them.
 */
#ifndef MEDSSL_SVG_H
#define MEDSSL_SVG_H

#include <stdint.h>

#include "medssl/text.h"

enum { SVG_MAX_TICKS = 32, SVG_PALETTE = 10 };

typedef struct {
    double lo, hi;              /* the axis range (whole steps, or whole decades) */
    double step;                /* linear: the tick step; log: 0 */
    int log;
    int n;
    double ticks[SVG_MAX_TICKS];
} svg_axis;

/* Heckbert's nice number near x > 0: 1, 2, 5 or 10 times a power of ten,
 * rounded to the nearest (round = 1) or the next above (round = 0). */
double svg_nice_number(double x, int round);
/* Linear ticks covering [lo, hi] with about `target` ticks. A degenerate
 * range (lo == hi) is widened around its value; non-finite bounds give [0, 1]. */
void svg_axis_linear(svg_axis *a, double lo, double hi, int target);
/* Log ticks covering [lo, hi], both > 0 (else as svg_axis_linear(0, 1)). */
void svg_axis_log(svg_axis *a, double lo, double hi);
/* A tick's label: as few decimals as the step needs ("0.5", "1200", "1e-05"). */
void svg_tick_label(const svg_axis *a, double v, char *buf, int cap);

/* The colour of series i (Tableau 10, distinguishable and print-safe). */
const char *svg_colour(int i);

typedef struct {
    const char *name;
    const double *x, *y;   /* (n); a non-finite y (or y <= 0 on a log axis) leaves a gap */
    int n;
    int dashed;
} svg_series;

typedef struct {
    const char *title, *xlabel, *ylabel;
    int logy;
    int fixed;                   /* use the ranges below instead of the data's */
    double xmin, xmax, ymin, ymax;
    int diagonal;                /* a dashed y = x reference (ROC curves) */
    int width, height;           /* of the plot area's box; 0 = 520 x 260 */
} svg_chart;

/* A line chart of ns series with a legend. Series without a finite point are
 * listed in the legend as "(no data)". */
void svg_line_chart(ms_text *t, const svg_chart *c, const svg_series *s, int ns);

/* A K x K heat map of counts (row t = truth, column p = prediction), coloured
 * by the row's fraction, each cell showing its count; names (K) label the
 * rows and columns (NULL: class indices). */
void svg_heatmap(ms_text *t, const char *title, const int64_t *counts, int K, const char *const *names);

typedef struct {
    const char *name;
    const double *v;   /* (n) values; non-finite ones are skipped */
    int n;
} svg_group;

/* One box (quartiles, whiskers at 1.5 IQR) with its points jittered beside it
 * per group, on a y range [ymin, ymax]. */
void svg_box_strip(ms_text *t, const char *title, const char *ylabel, double ymin, double ymax, const svg_group *g,
                   int ng);

#endif
