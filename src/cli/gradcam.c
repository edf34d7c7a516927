/* gradcam — `medssl gradcam --model CKPT --data FILE (--index I[,J..] | --all
 * [--count N]) [--class C] [--layer NAME] [--feature-maps] --out DIR`: where
 * a fine-tuned model looks (finetune/gradcam.c), as pictures.
 *
 * Per image i, DIR/gradcam-<i>-class<c>-p<prob>.png: the image, the image
 * with the map over it in viridis (a perceptual colour map), and a colour bar
 * (1 at the top, 0 at the bottom); DIR/sheet.png, the overlays of all images
 * in a grid; DIR/gradcam.csv, per image the class explained, its
 * probability, and where the map peaks (row, column); with --feature-maps,
 * DIR/features-<i>.png: the layer's activation maps in a grid, the channels
 * ordered by their mean activation (largest first), each scaled to its own
 * range. Small images are drawn enlarged (nearest neighbour) to >= 128 pixels.
 *
 * Under mpirun the ranks share the images; rank 0 gathers the maps and writes.
 */
#include "cli.h"
#include "medssl/common.h"
#include "medssl/corpus.h"
#include "medssl/dist.h"
#include "medssl/gradcam.h"
#include "medssl/list.h"
#include "medssl/png_io.h"
#include "medssl/predict.h"
#include "medssl/runctl.h"
#include "medssl/atomic.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SHEET_COLS = 8, SHEET_MAX = 64, BAR_W = 12, GAP = 4 };

typedef struct {
    const char *model, *data, *index, *layer, *out, *region;
    int all, count, cls, feature_maps, threads;
} gradcam_opts;

/* Viridis (matplotlib's), as the degree-6 polynomial fit of its 256 colours. */
static void viridis(float t, uint8_t rgb[3])
{
    static const double c[7][3] = { { 0.2777273272234177, 0.005407344544966578, 0.3340998053353061 },
                                    { 0.1050930431085774, 1.404613529898575, 1.384590162594685 },
                                    { -0.3308618287255563, 0.214847559468213, 0.09509516302823659 },
                                    { -4.634230498983486, -5.799100973351585, -19.33244095627987 },
                                    { 6.228269936347081, 14.17993336680509, 56.69055260068105 },
                                    { 4.776384997670288, -13.74514537774601, -65.35303263337234 },
                                    { -5.435455855934631, 4.645852612178535, 26.3124352495832 } };
    const double x = t < 0 ? 0 : t > 1 ? 1 : t;
    for (int k = 0; k < 3; k++) {
        double v = c[6][k];
        for (int j = 5; j >= 0; j--) v = c[j][k] + x * v;
        rgb[k] = (uint8_t)lrint(255 * (v < 0 ? 0 : v > 1 ? 1 : v));
    }
}

static int scale_of(int H, int W)
{
    const int side = H < W ? H : W;
    return side >= 128 ? 1 : (128 + side - 1) / side;
}

/* Draws the image (gray/RGB) and the image with the map blended over it
 * (alpha 0.5) at top-left (y0, x0) of rgb (width GW), enlarged by s. */
static void draw_pair(uint8_t *rgb, int GW, int y0, int x0, const float *img, const float *map, int C, int H, int W, int s)
{
    uint8_t *cell = ms_malloc((size_t)H * W * 3);
    png_draw_overlay(cell, W, 0, 0, img, NULL, C, H, W);
    for (int y = 0; y < H * s; y++)
        for (int x = 0; x < W * s; x++) {
            const uint8_t *g = cell + ((size_t)(y / s) * W + x / s) * 3;
            uint8_t *a = rgb + ((size_t)(y0 + y) * GW + x0 + x) * 3, *b = a + (size_t)(W * s + GAP) * 3, v[3];
            viridis(map[(size_t)(y / s) * W + x / s], v);
            for (int k = 0; k < 3; k++) {
                a[k] = g[k];
                b[k] = (uint8_t)lrint(0.5 * g[k] + 0.5 * v[k]);
            }
        }
    free(cell);
}

static int write_panel(const char *dir, long long idx, const gradcam_info *info, const float *img, const float *map,
                       int C, int H, int W)
{
    const int s = scale_of(H, W), PW = 2 * W * s + 2 * GAP + BAR_W, PH = H * s;
    uint8_t *rgb = ms_malloc((size_t)PW * PH * 3);
    memset(rgb, 255, (size_t)PW * PH * 3);
    draw_pair(rgb, PW, 0, 0, img, map, C, H, W, s);
    for (int y = 0; y < PH; y++) { /* the colour bar: 1 at the top */
        uint8_t v[3];
        viridis(1.0f - (float)y / (float)(PH > 1 ? PH - 1 : 1), v);
        for (int x = PW - BAR_W; x < PW; x++) memcpy(rgb + ((size_t)y * PW + x) * 3, v, 3);
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/gradcam-%06lld-class%d-p%.2f.png", dir, idx, info->cls, info->prob);
    int rc = png_write_rgb8(path, rgb, PH, PW);
    free(rgb);
    return rc;
}

/* The layer's K maps (K, h, w) in a grid, channels by mean activation, each min-max scaled. */
static int write_features(const char *dir, long long idx, const float *acts, int K, int h, int w)
{
    const int s = scale_of(h, w) > 4 ? 4 : scale_of(h, w), cols = (int)ceil(sqrt((double)K)), rows = (K + cols - 1) / cols;
    const int GW = cols * (w * s + 2) + 2, GH = rows * (h * s + 2) + 2;
    int *order = ms_malloc((size_t)K * sizeof *order);
    double *mean = ms_malloc((size_t)K * sizeof *mean);
    for (int k = 0; k < K; k++) {
        double m = 0;
        for (int i = 0; i < h * w; i++) m += acts[(size_t)k * h * w + i];
        mean[k] = m / (h * w);
        order[k] = k;
    }
    for (int a = 1; a < K; a++) /* insertion sort, largest mean first, ties by channel */
        for (int b = a; b > 0 && mean[order[b]] > mean[order[b - 1]]; b--) {
            int t = order[b];
            order[b] = order[b - 1];
            order[b - 1] = t;
        }
    uint8_t *rgb = ms_malloc((size_t)GW * GH * 3);
    memset(rgb, 64, (size_t)GW * GH * 3);
    for (int q = 0; q < K; q++) {
        const float *a = acts + (size_t)order[q] * h * w;
        float lo = a[0], hi = a[0];
        for (int i = 1; i < h * w; i++) lo = fminf(lo, a[i]), hi = fmaxf(hi, a[i]);
        const int y0 = 2 + (q / cols) * (h * s + 2), x0 = 2 + (q % cols) * (w * s + 2);
        for (int y = 0; y < h * s; y++)
            for (int x = 0; x < w * s; x++) {
                const float v = hi > lo ? (a[(y / s) * w + x / s] - lo) / (hi - lo) : 0;
                memset(rgb + ((size_t)(y0 + y) * GW + x0 + x) * 3, (int)lrintf(255 * v), 3);
            }
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/features-%06lld.png", dir, idx);
    int rc = png_write_rgb8(path, rgb, GH, GW);
    free(rgb);
    free(order);
    free(mean);
    return rc;
}

/* The images to explain: --index I,J,.. or --all (the first --count). */
static int pick(const gradcam_opts *o, long long N, long long **idx, long long *n)
{
    *idx = NULL;
    *n = 0;
    if (o->all) {
        *n = o->count > 0 && o->count < N ? o->count : N;
        *idx = ms_malloc((size_t)(*n ? *n : 1) * sizeof **idx);
        for (long long i = 0; i < *n; i++) (*idx)[i] = i;
        return MS_OK;
    }
    const char *cur = o->index;
    char tok[64];
    for (int r; (r = ms_list_next(&cur, ',', tok, sizeof tok)) != MS_LIST_END;) {
        char *end;
        const long long v = r == MS_LIST_ITEM ? strtoll(tok, &end, 10) : -1;
        if (r != MS_LIST_ITEM || *end || end == tok || v < 0 || v >= N) {
            free(*idx);
            *idx = NULL;
            return MS_FAIL(MS_ERR_INPUT, "--index %s: '%s' is not an image index in 0..%lld", o->index, tok, N - 1);
        }
        *idx = ms_realloc(*idx, (size_t)(*n + 1) * sizeof **idx);
        (*idx)[(*n)++] = v;
    }
    if (*n == 0) return MS_FAIL(MS_ERR_INPUT, "--index: no index given");
    return MS_OK;
}

int cmd_gradcam(int argc, char **argv)
{
    gradcam_opts o = { .cls = -1, .count = 0 };
    const ms_arg args[] = {
        { "model", ARG_STRING, &o.model, 0, 0, "CKPT", "a checkpoint from medssl finetune (required)" },
        { "data", ARG_STRING, &o.data, 0, 0, "FILE", "the corpus the images come from (required)" },
        { "index", ARG_STRING, &o.index, 0, 0, "I,J,..", "the images to explain (sample indices)" },
        { "all", ARG_BOOL, &o.all, 0, 0, NULL, "explain the images in order (all, or the first --count)" },
        { "count", ARG_INT, &o.count, 1, 100000000, "N", "with --all: the first N images" },
        { "class", ARG_INT, &o.cls, 0, 254, "C", "the class to explain (default: the predicted one)" },
        { "layer", ARG_STRING, &o.layer, 0, 0, "NAME", "stageK or an op name (default: the last encoder stage)" },
        { "region", ARG_STRING, &o.region, 0, 0, "predicted|truth",
          "segment: the pixels y_c sums over: predicted as the class (default) or the class in the corpus's /masks" },
        { "feature-maps", ARG_BOOL, &o.feature_maps, 0, 0, NULL, "also DIR/features-<i>.png: the layer's maps" },
        { "out", ARG_STRING, &o.out, 0, 0, "DIR", "the output folder (required)" },
        { "threads", ARG_INT, &o.threads, 1, 256, "T", "threads per rank (default: cores / ranks)" },
    };
    int rc = cli_parse("gradcam", "--model CKPT --data FILE (--index I[,J..] | --all [--count N]) --out DIR",
                       "Grad-CAM (classify) or Seg-Grad-CAM (segment: the class's logits summed over the pixels\n"
                       "predicted as that class): where the model looks. Per image a PNG of the image, the\n"
                       "map over it (viridis) and a colour bar; a contact sheet; gradcam.csv with the class,\n"
                       "its probability and the map's peak; --feature-maps the layer's activation maps.",
                       args, (int)(sizeof args / sizeof *args), argc, argv, NULL, 0, NULL);
    if (rc) return rc < 0 ? 0 : rc;
    if (!o.model || !o.data || !o.out || (!o.index == !o.all)) {
        fprintf(stderr, "medssl gradcam: %s (see medssl gradcam --help)\n",
                !o.model || !o.data ? "--model and --data are required"
                : !o.out            ? "--out DIR is required"
                                    : "give --index I[,J..] or --all");
        return 2;
    }
    if (o.count && !o.all) {
        fprintf(stderr, "medssl gradcam: --count goes with --all\n");
        return 2;
    }
    ms_dist d;
    if (dist_init(&d, &argc, &argv)) return cli_report("gradcam", MS_ERR_RUNTIME);
    cli_set_threads(&d, o.threads);
    ms_corpus c;
    ms_predictor p;
    memset(&c, 0, sizeof c);
    memset(&p, 0, sizeof p);
    long long *idx = NULL, n = 0;
    int layer = -1, opened = 0;
    rc = corpus_open(&c, o.data, &d);
    opened = rc == 0;
    if (!rc) rc = predictor_open(&p, o.model, &c, 1);
    if (!rc && o.cls >= p.K) rc = MS_FAIL(MS_ERR_INPUT, "--class %d: %s has classes 0..%d", o.cls, o.model, p.K - 1);
    const int truth = o.region && strcmp(o.region, "truth") == 0;
    if (!rc && o.region && !truth && strcmp(o.region, "predicted") != 0)
        rc = MS_FAIL(MS_ERR_INPUT, "--region %s: expected predicted or truth", o.region);
    if (!rc && o.region && !p.task->masks)
        rc = MS_FAIL(MS_ERR_INPUT, "--region: %s is a %s model; regions are for segmentation", o.model, p.task->name);
    if (!rc && truth && o.cls < 0) rc = MS_FAIL(MS_ERR_INPUT, "--region truth needs --class C (the class whose pixels to use)");
    if (!rc && truth && !corpus_has_masks(&c)) rc = MS_FAIL(MS_ERR_INPUT, "--region truth: %s has no /masks", o.data);
    if (!rc) rc = gradcam_layer(&p, o.layer, &layer);
    if (!rc) rc = gradcam_prepare(&p);
    if (!rc) rc = pick(&o, c.N, &idx, &n);
    if (!rc && d.rank == 0) rc = runctl_make_dir(o.out);
    rc = dist_agree(&d, "gradcam", rc);
    if (!rc) {
        const int C = c.C, H = c.H, W = c.W, HW = H * W;
        const ms_value *lv = &p.model.values[layer];
        const size_t A = (size_t)lv->C * lv->H * lv->W;
        /* my share of the picked images, gathered on rank 0 in order */
        long long *first = ms_malloc((size_t)d.size * sizeof *first), *counts = ms_malloc((size_t)d.size * sizeof *counts);
        dist_split_rows(&d, n, first, counts);
        const long long mine = counts[d.rank], rows = d.rank == 0 ? n : mine;
        float *imgs = ms_malloc((size_t)(rows ? rows : 1) * C * HW * sizeof(float));
        float *maps = ms_malloc((size_t)(rows ? rows : 1) * HW * sizeof(float));
        float *acts = o.feature_maps ? ms_malloc((size_t)(rows ? rows : 1) * A * sizeof(float)) : NULL;
        gradcam_info *info = ms_calloc((size_t)(rows ? rows : 1), sizeof *info);
        uint8_t *mask = truth ? ms_malloc((size_t)HW) : NULL;
        for (long long j = 0; j < mine && !rc; j++) {
            const long long i = idx[first[d.rank] + j];
            float *img = imgs + (size_t)j * C * HW;
            if ((rc = corpus_read(&c, i, 1, img, NULL, mask, NULL))) break;
            for (int q = 0; mask && q < HW; q++) mask[q] = mask[q] == o.cls; /* the region: the class's true pixels */
            rc = gradcam_run(&p, layer, img, o.cls, mask, maps + (size_t)j * HW, &info[j], acts ? acts + (size_t)j * A : NULL,
                             NULL);
        }
        free(mask);
        rc = dist_agree(&d, "gradcam", rc);
        if (!rc) {
            dist_gather_rows(&d, imgs, mine, (size_t)C * HW * sizeof(float), first, counts);
            dist_gather_rows(&d, maps, mine, (size_t)HW * sizeof(float), first, counts);
            dist_gather_rows(&d, info, mine, sizeof *info, first, counts);
            if (acts) dist_gather_rows(&d, acts, mine, A * sizeof(float), first, counts);
        }
        if (!rc && d.rank == 0) {
            char path[4200];
            snprintf(path, sizeof path, "%s/gradcam.csv", o.out);
            ms_atomic_file f;
            rc = atomic_open(&f, path);
            if (!rc) fprintf(f.f, "index,class,probability,peak_row,peak_col\n");
            for (long long j = 0; j < n && !rc; j++) {
                const float *m = maps + (size_t)j * HW;
                const int peak = ms_argmax(m, HW, 1);
                fprintf(f.f, "%lld,%d,%.6f,%d,%d\n", idx[j], info[j].cls, info[j].prob, peak / W, peak % W);
                rc = write_panel(o.out, idx[j], &info[j], imgs + (size_t)j * C * HW, m, C, H, W);
                if (!rc && acts) rc = write_features(o.out, idx[j], acts + (size_t)j * A, lv->C, lv->H, lv->W);
            }
            if (!rc) rc = atomic_commit(&f);
            else if (f.f) atomic_abort(&f);
            if (!rc) { /* the contact sheet: image | overlay pairs, SHEET_COLS per row */
                const int s = scale_of(H, W) > 2 ? 2 : 1, shown = n < SHEET_MAX ? (int)n : SHEET_MAX;
                const int cw = 2 * W * s + GAP + 8, ch = H * s + 8, cols = shown < SHEET_COLS ? shown : SHEET_COLS;
                const int GW = cols * cw, GH = ((shown + SHEET_COLS - 1) / SHEET_COLS) * ch;
                uint8_t *sheet = ms_malloc((size_t)GW * GH * 3);
                memset(sheet, 255, (size_t)GW * GH * 3);
                for (int j = 0; j < shown; j++)
                    draw_pair(sheet, GW, (j / SHEET_COLS) * ch + 4, (j % SHEET_COLS) * cw + 4, imgs + (size_t)j * C * HW,
                              maps + (size_t)j * HW, C, H, W, s);
                snprintf(path, sizeof path, "%s/sheet.png", o.out);
                rc = png_write_rgb8(path, sheet, GH, GW);
                free(sheet);
            }
            if (!rc)
                fprintf(stderr, "medssl gradcam: wrote %lld panel%s, sheet.png and gradcam.csv to %s (layer %s: %d maps of "
                                "%dx%d)%s\n", n, n == 1 ? "" : "s", o.out, o.layer ? o.layer : "the last stage", lv->C,
                        lv->H, lv->W, acts ? ", with feature maps" : "");
        }
        rc = dist_agree(&d, "gradcam", rc);
        free(first);
        free(counts);
        free(imgs);
        free(maps);
        free(acts);
        free(info);
    }
    free(idx);
    predictor_close(&p);
    if (opened) corpus_close(&c);
    dist_finalize(&d);
    return rc;
}
