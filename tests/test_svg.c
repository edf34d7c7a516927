/* test_svg — the report's chart writer (src/report/svg.c) and text buffer
 * (src/core/text.c): nice numbers and tick positions worked by hand (linear
 * and log axes, degenerate and non-finite ranges), tick labels, HTML escapes,
 * base64 against RFC 4648's vectors, and the series count and gaps of a
 * line chart. */
#include "medssl/svg.h"
#include "medssl/text.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void ticks_are(const svg_axis *a, const double *want, int n)
{
    TU_CHECKF(a->n == n, "%d ticks, expected %d", a->n, n);
    for (int i = 0; i < n && i < a->n; i++) TU_CLOSE(a->ticks[i], want[i], 1e-12, 1e-9);
}

static void nice_numbers(void)
{
    /* Heckbert: 1.37 -> 2 (up), 0.5 -> 0.5 (nearest), 0.34 -> 0.5 (up) / 0.2 (nearest: 3.4 < 7? -> 5) */
    TU_CLOSE(svg_nice_number(1.37, 0), 2, 0, 1e-12);
    TU_CLOSE(svg_nice_number(0.5, 1), 0.5, 0, 1e-12);
    TU_CLOSE(svg_nice_number(0.34, 0), 0.5, 0, 1e-12);
    TU_CLOSE(svg_nice_number(0.34, 1), 0.5, 0, 1e-12);  /* f = 3.4: 3 <= f < 7 -> 5 */
    TU_CLOSE(svg_nice_number(0.29, 1), 0.2, 0, 1e-12);  /* f = 2.9: 1.5 <= f < 3 -> 2 */
    TU_CLOSE(svg_nice_number(7500, 1), 10000, 0, 1e-12);
    TU_CLOSE(svg_nice_number(12, 0), 20, 0, 1e-12);
    TU_CLOSE(svg_nice_number(10, 0), 10, 0, 1e-12);
}

static void linear_axes(void)
{
    svg_axis a;
    /* [0, 1.37], 5 ticks: range nice(1.37) = 2, step nice(2/4 = 0.5) = 0.5 -> 0 .. 1.5 */
    svg_axis_linear(&a, 0, 1.37, 5);
    ticks_are(&a, (const double[]){ 0, 0.5, 1, 1.5 }, 4);
    TU_CLOSE(a.lo, 0, 0, 0);
    TU_CLOSE(a.hi, 1.5, 1e-12, 0);
    /* a loss falling from 2.31 to 0.42, 6 ticks: range nice(1.89) = 2, step nice(0.4) = 0.5 -> 0 .. 2.5 */
    svg_axis_linear(&a, 0.42, 2.31, 6);
    ticks_are(&a, (const double[]){ 0, 0.5, 1, 1.5, 2, 2.5 }, 6);
    /* images/s 1188 .. 1526, 6 ticks: range nice(338) = 500, step nice(100) = 100 -> 1100 .. 1600 */
    svg_axis_linear(&a, 1188, 1526, 6);
    ticks_are(&a, (const double[]){ 1100, 1200, 1300, 1400, 1500, 1600 }, 6);
    /* negative to positive: [-0.3, 0.7], 5 ticks: range 1, step nice(0.25) = 0.2 -> -0.4 .. 0.8 */
    svg_axis_linear(&a, -0.3, 0.7, 5);
    ticks_are(&a, (const double[]){ -0.4, -0.2, 0, 0.2, 0.4, 0.6, 0.8 }, 7);
    TU_CHECK(a.ticks[2] == 0 && !signbit(a.ticks[2])); /* exactly 0, not -5.5e-17 */
    /* one value: widened by 10% of it: [0.9, 1.1] -> range nice(0.2) = 0.2, step nice(0.04) = 0.05 */
    svg_axis_linear(&a, 1, 1, 5);
    ticks_are(&a, (const double[]){ 0.9, 0.95, 1, 1.05, 1.1 }, 5);
    /* zero alone: [-1, 1] */
    svg_axis_linear(&a, 0, 0, 5);
    ticks_are(&a, (const double[]){ -1, -0.5, 0, 0.5, 1 }, 5);
    /* non-finite bounds: [0, 1] */
    svg_axis_linear(&a, NAN, INFINITY, 6);
    TU_CLOSE(a.lo, 0, 0, 0);
    TU_CLOSE(a.hi, 1, 1e-12, 0);
    /* reversed bounds are swapped */
    svg_axis_linear(&a, 1.37, 0, 5);
    ticks_are(&a, (const double[]){ 0, 0.5, 1, 1.5 }, 4);
    /* a huge target never overflows the tick array */
    svg_axis_linear(&a, 0, 1e6, 1000);
    TU_CHECK(a.n <= SVG_MAX_TICKS && a.n >= 2);
}

static void log_axes(void)
{
    svg_axis a;
    /* a learning rate 0.00125 .. 0.1: decades 1e-3 .. 1e-1, two decades -> 2x and 5x ticks too */
    svg_axis_log(&a, 0.00125, 0.1);
    ticks_are(&a, (const double[]){ 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 1e-1 }, 7);
    TU_CHECK(a.log == 1);
    TU_CLOSE(a.lo, 1e-3, 0, 1e-12);
    TU_CLOSE(a.hi, 1e-1, 0, 1e-12);
    /* exactly one decade value: 0.01 .. 0.01 -> [0.01, 0.1] */
    svg_axis_log(&a, 0.01, 0.01);
    ticks_are(&a, (const double[]){ 1e-2, 2e-2, 5e-2, 1e-1 }, 4);
    /* five decades: decades only */
    svg_axis_log(&a, 3e-6, 0.05);
    ticks_are(&a, (const double[]){ 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1 }, 6);
    /* twenty decades: every third decade (at most about 8 labels) */
    svg_axis_log(&a, 1e-20, 1);
    ticks_are(&a, (const double[]){ 1e-20, 1e-17, 1e-14, 1e-11, 1e-8, 1e-5, 1e-2 }, 7);
    /* a zero or negative bound: a linear [0, 1] axis */
    svg_axis_log(&a, 0, 0.1);
    TU_CHECK(a.log == 0);
}

static void labels(void)
{
    svg_axis a;
    char buf[48];
    svg_axis_linear(&a, 0, 1.37, 5);
    svg_tick_label(&a, 0.5, buf, sizeof buf);
    TU_CHECKF(strcmp(buf, "0.5") == 0, "%s", buf);
    svg_tick_label(&a, 1, buf, sizeof buf);
    TU_CHECKF(strcmp(buf, "1.0") == 0, "%s", buf);
    svg_tick_label(&a, 0, buf, sizeof buf);
    TU_CHECKF(strcmp(buf, "0") == 0, "%s", buf);
    svg_axis_linear(&a, 1188, 1526, 6);
    svg_tick_label(&a, 1300, buf, sizeof buf);
    TU_CHECKF(strcmp(buf, "1300") == 0, "%s", buf);
    svg_axis_linear(&a, 1, 1, 5); /* step 0.05 */
    svg_tick_label(&a, 0.95, buf, sizeof buf);
    TU_CHECKF(strcmp(buf, "0.95") == 0, "%s", buf);
    svg_axis_log(&a, 0.00125, 0.1);
    svg_tick_label(&a, 0.002, buf, sizeof buf);
    TU_CHECKF(strcmp(buf, "0.002") == 0, "%s", buf);
    svg_tick_label(&a, 1e-5, buf, sizeof buf);
    TU_CHECKF(strcmp(buf, "1e-05") == 0, "%s", buf);
}

static void escapes_and_base64(void)
{
    ms_text t = { 0 };
    text_html(&t, "<script>alert('x & \"y\"')</script>\x01");
    TU_CHECKF(strcmp(t.buf, "&lt;script&gt;alert(&#39;x &amp; &quot;y&quot;&#39;)&lt;/script&gt;&#xFFFD;") == 0, "%s",
              t.buf);
    text_free(&t);
    /* RFC 4648 section 10 */
    const char *in[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
    const char *out[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
    for (int i = 0; i < 7; i++) {
        text_base64(&t, (const unsigned char *)in[i], strlen(in[i]));
        TU_CHECKF(strcmp(t.buf ? t.buf : "", out[i]) == 0, "base64(%s) = %s", in[i], t.buf ? t.buf : "");
        text_free(&t);
    }
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle)) n++;
    return n;
}

static void line_chart(void)
{
    const double x[5] = { 1, 2, 3, 4, 5 };
    const double y1[5] = { 2.0, 1.5, NAN, 1.0, 0.8 }; /* a gap: two pieces */
    const double y2[5] = { NAN, NAN, NAN, NAN, NAN };
    const svg_series s[3] = { { "run <a>", x, y1, 5, 0 }, { "empty", x, y2, 5, 0 }, { "b", x, y1, 2, 1 } };
    ms_text t = { 0 };
    svg_line_chart(&t, &(svg_chart){ .title = "loss & more", .xlabel = "epoch", .ylabel = "loss" }, s, 3);
    TU_CHECK(count(t.buf, "<svg ") == 1 && count(t.buf, "</svg>") == 1);
    TU_CHECK(count(t.buf, "data-series=\"3\"") == 1);
    TU_CHECK(count(t.buf, "class=\"series\"") == 3);
    TU_CHECK(strstr(t.buf, "run &lt;a&gt;") != NULL && strstr(t.buf, "run <a>") == NULL);
    TU_CHECK(strstr(t.buf, "loss &amp; more") != NULL);
    TU_CHECK(strstr(t.buf, "empty (no data)") != NULL);
    /* the first series' path: M, L, then a fresh M after the NaN, then L */
    const char *d = strstr(t.buf, "d=\"M");
    TU_CHECK(d != NULL);
    if (d) {
        const char *end = strchr(d + 3, '"');
        int m = 0, l = 0;
        for (const char *p = d + 3; p < end; p++) m += *p == 'M', l += *p == 'L';
        TU_CHECKF(m == 2 && l == 2, "M %d, L %d", m, l);
    }
    text_free(&t);
    /* log y drops values <= 0 and never writes NaN coordinates */
    const double lr[5] = { 0, 0.001, 0.01, 0.1, 0.05 };
    const svg_series one = { "lr", x, lr, 5, 0 };
    svg_line_chart(&t, &(svg_chart){ .title = "lr", .logy = 1 }, &one, 1);
    TU_CHECK(strstr(t.buf, "nan") == NULL && strstr(t.buf, "inf") == NULL);
    TU_CHECK(count(t.buf, "<circle") == 4);
    text_free(&t);
}

static void heatmap_and_boxes(void)
{
    const int64_t conf[9] = { 5, 1, 0, 0, 7, 1, 2, 0, 0 }; /* class 2 never predicted right; row 2 sums to 2 */
    ms_text t = { 0 };
    svg_heatmap(&t, "confusion", conf, 3, (const char *const[]){ "a", "b<c", "d" });
    TU_CHECK(count(t.buf, "<rect ") == 9);
    TU_CHECK(strstr(t.buf, "b&lt;c") != NULL);
    TU_CHECK(strstr(t.buf, "true 2, predicted 0: 2 (100.0% of class 2)") != NULL);
    text_free(&t);
    const double v[6] = { 0.9, 0.8, NAN, 0.7, 0.95, 0.1 };
    const svg_group g[2] = { { "class 1", v, 6 }, { "class 2", v, 0 } };
    svg_box_strip(&t, "DSC", "DSC", 0, 1, g, 2);
    TU_CHECK(count(t.buf, "class=\"series\"") == 2);
    TU_CHECK(strstr(t.buf, "data-n=\"5\"") != NULL && strstr(t.buf, "data-n=\"0\"") != NULL);
    TU_CHECK(count(t.buf, "<circle") == 5);
    TU_CHECK(strstr(t.buf, "nan") == NULL);
    text_free(&t);
}

int main(void)
{
    TU_RUN(nice_numbers);
    TU_RUN(linear_axes);
    TU_RUN(log_axes);
    TU_RUN(labels);
    TU_RUN(escapes_and_base64);
    TU_RUN(line_chart);
    TU_RUN(heatmap_and_boxes);
    return tu_summary();
}
