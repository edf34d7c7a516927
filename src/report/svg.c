/* svg — charts as inline SVG text (include/medssl/svg.h). */
#include "medssl/svg.h"
#include "medssl/common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- axes ---------------------------------------------------------------------------------- */

double svg_nice_number(double x, int round)
{
    const double e = floor(log10(x)), f = x / pow(10, e);
    double nf;
    if (round) nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
    else nf = f <= 1 + 1e-9 ? 1 : f <= 2 + 1e-9 ? 2 : f <= 5 + 1e-9 ? 5 : 10; /* 0.2000000000000001 is 0.2 */
    return nf * pow(10, e);
}

void svg_axis_linear(svg_axis *a, double lo, double hi, int target)
{
    memset(a, 0, sizeof *a);
    if (!isfinite(lo) || !isfinite(hi)) lo = 0, hi = 1;
    if (lo > hi) {
        double t = lo;
        lo = hi;
        hi = t;
    }
    if (hi - lo <= 1e-12 * fmax(1, fabs(lo))) { /* one value: a range around it */
        const double pad = lo == 0 ? 1 : fabs(lo) * 0.1;
        lo -= pad;
        hi += pad;
    }
    if (target < 2) target = 2;
    const double range = svg_nice_number(hi - lo, 0);
    double step = svg_nice_number(range / (target - 1), 1);
    double first = floor(lo / step) * step, last = ceil(hi / step) * step;
    while ((last - first) / step + 1.5 > SVG_MAX_TICKS) { /* never more ticks than the array holds */
        step = svg_nice_number(step * 1.5, 1);
        first = floor(lo / step) * step;
        last = ceil(hi / step) * step;
    }
    a->lo = first;
    a->hi = last;
    a->step = step;
    for (double v = first; v <= last + 0.5 * step && a->n < SVG_MAX_TICKS; v += step)
        a->ticks[a->n++] = fabs(v) < 1e-9 * step ? 0 : v;
}

void svg_axis_log(svg_axis *a, double lo, double hi)
{
    if (!(lo > 0) || !(hi > 0) || !isfinite(lo) || !isfinite(hi)) {
        svg_axis_linear(a, 0, 1, 5);
        return;
    }
    memset(a, 0, sizeof *a);
    a->log = 1;
    int d0 = (int)floor(log10(fmin(lo, hi)) + 1e-9), d1 = (int)ceil(log10(fmax(lo, hi)) - 1e-9);
    if (d1 <= d0) d1 = d0 + 1;
    a->lo = pow(10, d0);
    a->hi = pow(10, d1);
    const int decades = d1 - d0, every = decades > 8 ? (decades + 7) / 8 : 1;
    for (int d = d0; d <= d1 && a->n < SVG_MAX_TICKS; d += every) {
        a->ticks[a->n++] = pow(10, d);
        if (decades <= 2 && d < d1) {
            a->ticks[a->n++] = 2 * pow(10, d);
            a->ticks[a->n++] = 5 * pow(10, d);
        }
    }
}

void svg_tick_label(const svg_axis *a, double v, char *buf, int cap)
{
    if (v == 0) {
        snprintf(buf, (size_t)cap, "0");
    } else if (a->log || fabs(v) >= 1e6 || a->step < 1e-4) {
        snprintf(buf, (size_t)cap, "%g", v);
    } else {
        int dec = (int)-floor(log10(a->step) + 1e-9);
        snprintf(buf, (size_t)cap, "%.*f", dec > 0 ? dec : 0, v);
    }
}

/* Where v falls on the axis, 0 (lo) to 1 (hi). */
static double axis_frac(const svg_axis *a, double v)
{
    if (a->log) return (log10(v) - log10(a->lo)) / (log10(a->hi) - log10(a->lo));
    return (v - a->lo) / (a->hi - a->lo);
}

const char *svg_colour(int i)
{
    static const char *const tab10[SVG_PALETTE] = { "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                                    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac" };
    return tab10[(i % SVG_PALETTE + SVG_PALETTE) % SVG_PALETTE];
}

/* ---- pieces shared by the charts --------------------------------------------------------- */

enum { MARGIN_L = 66, MARGIN_R = 20, MARGIN_T = 30, MARGIN_B = 48, LEGEND_ROW = 18 };

static void svg_open(ms_text *t, int w, int h, int series, const char *title)
{
    text_printf(t, "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                   "viewBox=\"0 0 %d %d\" data-series=\"%d\" role=\"img\" aria-label=\"", w, h, w, h, series);
    text_html(t, title ? title : "");
    text_puts(t, "\">");
    if (title && *title) {
        text_printf(t, "<text class=\"title\" x=\"%d\" y=\"18\" font-size=\"13\" font-weight=\"600\">", MARGIN_L);
        text_html(t, title);
        text_puts(t, "</text>");
    }
}

/* A text element at (x, y) with the given anchor and extra attributes. */
static void label(ms_text *t, double x, double y, const char *anchor, const char *attrs, const char *s)
{
    text_printf(t, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" %s>", x, y, anchor, attrs ? attrs : "");
    text_html(t, s);
    text_puts(t, "</text>");
}

/* Horizontal grid lines and labels of y axis a over the plot box. */
static void y_axis(ms_text *t, const svg_axis *a, int x0, int y0, int w, int h, const char *ylabel)
{
    char buf[48];
    for (int i = 0; i < a->n; i++) {
        const double y = y0 + h - axis_frac(a, a->ticks[i]) * h;
        const int decade = !a->log || fabs(log10(a->ticks[i]) - round(log10(a->ticks[i]))) < 1e-9;
        text_printf(t, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>", x0, x0 + w, y, y,
                    decade ? "#dddddd" : "#eeeeee");
        svg_tick_label(a, a->ticks[i], buf, sizeof buf);
        label(t, x0 - 6, y + 4, "end", "font-size=\"11\"", buf);
    }
    if (ylabel && *ylabel) {
        text_printf(t, "<text transform=\"translate(14 %.1f) rotate(-90)\" text-anchor=\"middle\" font-size=\"11\">",
                    y0 + h / 2.0);
        text_html(t, ylabel);
        text_puts(t, "</text>");
    }
}

static void x_axis(ms_text *t, const svg_axis *a, int x0, int y0, int w, int h, const char *xlabel)
{
    char buf[48];
    for (int i = 0; i < a->n; i++) {
        const double x = x0 + axis_frac(a, a->ticks[i]) * w;
        text_printf(t, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#999999\"/>", x, x, y0 + h,
                    y0 + h + 4);
        svg_tick_label(a, a->ticks[i], buf, sizeof buf);
        label(t, x, y0 + h + 16, "middle", "font-size=\"11\"", buf);
    }
    text_printf(t, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#999999\"/>", x0, y0, w,
                h);
    if (xlabel && *xlabel) label(t, x0 + w / 2.0, y0 + h + 34, "middle", "font-size=\"11\"", xlabel);
}

/* ---- line chart ---------------------------------------------------------------------------- */

static int usable(const svg_chart *c, double y) { return isfinite(y) && (!c->logy || y > 0); }

void svg_line_chart(ms_text *t, const svg_chart *c, const svg_series *s, int ns)
{
    const int W = c->width > 0 ? c->width : 520, H = c->height > 0 ? c->height : 260;
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int k = 0; k < ns; k++)
        for (int i = 0; i < s[k].n; i++)
            if (isfinite(s[k].x[i]) && usable(c, s[k].y[i])) {
                xlo = fmin(xlo, s[k].x[i]);
                xhi = fmax(xhi, s[k].x[i]);
                ylo = fmin(ylo, s[k].y[i]);
                yhi = fmax(yhi, s[k].y[i]);
            }
    const int empty = !(xlo <= xhi);
    svg_axis ax, ay;
    if (c->fixed) {
        svg_axis_linear(&ax, c->xmin, c->xmax, 6);
        if (c->logy) svg_axis_log(&ay, c->ymin, c->ymax);
        else svg_axis_linear(&ay, c->ymin, c->ymax, 6);
    } else if (empty) {
        svg_axis_linear(&ax, 0, 1, 6);
        svg_axis_linear(&ay, 0, 1, 6);
    } else {
        svg_axis_linear(&ax, xlo, xhi, 7);
        if (c->logy) svg_axis_log(&ay, ylo, yhi);
        else svg_axis_linear(&ay, ylo, yhi, 6);
    }
    const int x0 = MARGIN_L, y0 = MARGIN_T;
    const int width = MARGIN_L + W + MARGIN_R, height = MARGIN_T + H + MARGIN_B + ns * LEGEND_ROW + 4;
    svg_open(t, width, height, ns, c->title);
    y_axis(t, &ay, x0, y0, W, H, c->ylabel);
    x_axis(t, &ax, x0, y0, W, H, c->xlabel);
    if (c->diagonal)
        text_printf(t, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#bbbbbb\" stroke-dasharray=\"4 4\"/>", x0,
                    y0 + H, x0 + W, y0);
    if (empty) label(t, x0 + W / 2.0, y0 + H / 2.0, "middle", "font-size=\"12\" fill=\"#888888\"", "no data");
    for (int k = 0; k < ns; k++) {
        const char *col = svg_colour(k);
        text_puts(t, "<g class=\"series\" data-name=\"");
        text_html(t, s[k].name ? s[k].name : "");
        text_printf(t, "\"><path fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\"%s d=\"", col,
                    s[k].dashed ? " stroke-dasharray=\"6 3\"" : "");
        int pen = 0, finite = 0;
        for (int i = 0; i < s[k].n; i++) {
            if (!isfinite(s[k].x[i]) || !usable(c, s[k].y[i])) {
                pen = 0;
                continue;
            }
            const double fx = axis_frac(&ax, s[k].x[i]), fy = axis_frac(&ay, s[k].y[i]);
            if (fx < -1e-9 || fx > 1 + 1e-9 || fy < -1e-9 || fy > 1 + 1e-9) { /* outside a fixed range */
                pen = 0;
                continue;
            }
            text_printf(t, "%s%.1f %.1f", pen ? " L" : (finite ? " M" : "M"), x0 + fx * W, y0 + H - fy * H);
            pen = 1;
            finite++;
        }
        text_puts(t, "\"/>");
        if (finite > 0 && finite <= 40) /* few points: show each */
            for (int i = 0; i < s[k].n; i++) {
                if (!isfinite(s[k].x[i]) || !usable(c, s[k].y[i])) continue;
                const double fx = axis_frac(&ax, s[k].x[i]), fy = axis_frac(&ay, s[k].y[i]);
                if (fx < -1e-9 || fx > 1 + 1e-9 || fy < -1e-9 || fy > 1 + 1e-9) continue;
                text_printf(t, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.4\" fill=\"%s\"/>", x0 + fx * W, y0 + H - fy * H,
                            col);
            }
        const double ly = y0 + H + MARGIN_B + k * LEGEND_ROW;
        text_printf(t, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2.5\"%s/>", x0,
                    x0 + 22, ly, ly, col, s[k].dashed ? " stroke-dasharray=\"6 3\"" : "");
        ms_text name = { 0 };
        text_printf(&name, "%s%s", s[k].name ? s[k].name : "", finite ? "" : " (no data)");
        label(t, x0 + 28, ly + 4, "start", "font-size=\"11\"", name.buf);
        text_free(&name);
        text_puts(t, "</g>");
    }
    text_puts(t, "</svg>\n");
}

/* ---- heat map ------------------------------------------------------------------------------ */

void svg_heatmap(ms_text *t, const char *title, const int64_t *counts, int K, const char *const *names)
{
    const int cs = K <= 10 ? 40 : K <= 42 ? 420 / K : 10, gx = 120, gy = MARGIN_T + 16;
    const int width = gx + K * cs + 24, height = gy + K * cs + 56;
    svg_open(t, width, height, 1, title);
    text_puts(t, "<g class=\"series\" data-name=\"counts\">");
    char buf[64];
    for (int r = 0; r < K; r++) {
        int64_t row = 0;
        for (int p = 0; p < K; p++) row += counts[(size_t)r * K + p];
        for (int p = 0; p < K; p++) {
            const int64_t n = counts[(size_t)r * K + p];
            const double f = row > 0 ? (double)n / (double)row : 0;
            /* white to #08519c (a sequential blue), by the fraction of the true class's row */
            const int R = (int)lround(255 + f * (8 - 255)), G = (int)lround(255 + f * (81 - 255)),
                      B = (int)lround(255 + f * (156 - 255));
            text_printf(t, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"rgb(%d,%d,%d)\" stroke=\"#ffffff\">"
                           "<title>true %d, predicted %d: %lld (%.1f%% of class %d)</title></rect>",
                        gx + p * cs, gy + r * cs, cs, cs, R, G, B, r, p, (long long)n, 100 * f, r);
            if (cs >= 18) {
                snprintf(buf, sizeof buf, "%lld", (long long)n);
                text_printf(t, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"%d\" fill=\"%s\">%s</text>",
                            gx + p * cs + cs / 2, gy + r * cs + cs / 2 + 4, cs >= 34 ? 11 : 9,
                            f > 0.5 ? "#ffffff" : "#222222", buf);
            }
        }
    }
    text_puts(t, "</g>");
    const int step = cs >= 14 ? 1 : (14 + cs - 1) / cs; /* label every class while they fit */
    for (int k = 0; k < K; k += step) {
        if (names && names[k]) snprintf(buf, sizeof buf, "%s", names[k]);
        else snprintf(buf, sizeof buf, "%d", k);
        label(t, gx - 6, gy + k * cs + cs / 2.0 + 4, "end", "font-size=\"11\"", buf);
        snprintf(buf, sizeof buf, "%d", k);
        label(t, gx + k * cs + cs / 2.0, gy + K * cs + 14, "middle", "font-size=\"11\"", buf);
    }
    label(t, gx + K * cs / 2.0, gy + K * cs + 32, "middle", "font-size=\"11\"", "predicted class");
    label(t, gx - 6, gy - 6, "end", "font-size=\"11\"", "true class");
    text_puts(t, "</svg>\n");
}

/* ---- box and strip ------------------------------------------------------------------------- */

/* The q-quantile of sorted v (n > 0), linear between order statistics. */
static double quantile(const double *v, int n, double q)
{
    const double pos = q * (n - 1);
    const int i = (int)floor(pos);
    return i + 1 < n ? v[i] + (pos - i) * (v[i + 1] - v[i]) : v[n - 1];
}

void svg_box_strip(ms_text *t, const char *title, const char *ylabel, double ymin, double ymax, const svg_group *g,
                   int ng)
{
    const int slot = ng > 0 && 520 / ng >= 60 ? 520 / ng : 60, W = slot * (ng > 0 ? ng : 1), H = 220;
    const int x0 = MARGIN_L, y0 = MARGIN_T;
    svg_axis ay;
    svg_axis_linear(&ay, ymin, ymax, 6);
    svg_open(t, x0 + W + MARGIN_R, y0 + H + MARGIN_B + 8, ng, title);
    y_axis(t, &ay, x0, y0, W, H, ylabel);
    text_printf(t, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#999999\"/>", x0, y0, W,
                H);
#define YPX(v) (y0 + H - axis_frac(&ay, (v)) * H)
    for (int k = 0; k < ng; k++) {
        double *v = ms_malloc((size_t)(g[k].n > 0 ? g[k].n : 1) * sizeof *v);
        int n = 0;
        for (int i = 0; i < g[k].n; i++)
            if (isfinite(g[k].v[i])) v[n++] = g[k].v[i];
        qsort(v, (size_t)n, sizeof *v, ms_cmp_double);
        const double cx = x0 + slot * (k + 0.5);
        const char *col = svg_colour(k);
        text_puts(t, "<g class=\"series\" data-name=\"");
        text_html(t, g[k].name ? g[k].name : "");
        text_printf(t, "\" data-n=\"%d\">", n);
        if (n > 0) {
            const double q1 = quantile(v, n, 0.25), med = quantile(v, n, 0.5), q3 = quantile(v, n, 0.75);
            const double iqr = q3 - q1;
            double wlo = q1, whi = q3;
            for (int i = 0; i < n; i++) {
                if (v[i] >= q1 - 1.5 * iqr && v[i] < wlo) wlo = v[i];
                if (v[i] <= q3 + 1.5 * iqr && v[i] > whi) whi = v[i];
            }
            const double bw = slot * 0.28;
            text_printf(t, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#555555\"/>", cx - bw / 2,
                        cx - bw / 2, YPX(wlo), YPX(whi));
            text_printf(t, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" fill-opacity=\"0.25\" "
                           "stroke=\"%s\"/>", cx - bw, YPX(q3), bw, fmax(YPX(q1) - YPX(q3), 0.5), col, col);
            text_printf(t, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>",
                        cx - bw, cx, YPX(med), YPX(med), col);
            /* the points to the right of the box, jittered by a fixed hash of their rank;
             * at most 1500 drawn (evenly through the sorted values) */
            const int stride = n > 1500 ? (n + 1499) / 1500 : 1;
            for (int i = 0; i < n; i += stride) {
                const uint32_t h = (uint32_t)i * 2654435761u;
                const double jx = cx + 4 + (double)(h >> 8 & 0xffff) / 65535.0 * slot * 0.3;
                text_printf(t, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"1.8\" fill=\"%s\" fill-opacity=\"0.55\"/>", jx,
                            YPX(v[i]), col);
            }
        }
        ms_text name = { 0 };
        text_printf(&name, "%s", g[k].name ? g[k].name : "");
        label(t, cx, y0 + H + 16, "middle", "font-size=\"11\"", name.buf);
        text_free(&name);
        char nb[32];
        snprintf(nb, sizeof nb, "n = %d", n);
        label(t, cx, y0 + H + 30, "middle", "font-size=\"10\" fill=\"#666666\"", nb);
        text_puts(t, "</g>");
        free(v);
    }
#undef YPX
    text_puts(t, "</svg>\n");
}
