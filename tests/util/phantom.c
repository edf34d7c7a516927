/* phantom — writes synthetic labeled corpora for the fine-tuning tests:
 * shapes with known masks on a noisy, smoothly varying background, with a
 * controllable contrast shift between acquisition domains.
 *
 *   phantom --kind seg|cls --n N [--target-n M --target-shift X] --size S --seed K
 *           [--unlabeled-from U] --out FILE
 *
 * Images are S x S, or H x W with --height H --width W (each defaults to S;
 * shapes scale with the shorter side). A square image is the same for --size S
 * and --height S --width S.
 *
 * seg: 1-3 shapes per image, disks (mask class 1) and squares (class 2); the
 *      rest is background (class 0).
 * cls: one shape per image; label 0 disk, 1 square, 2 cross (with --masks also
 *      /masks: the shape's pixels 1, the rest 0).
 * Intensity: background ~0.2 + smooth gradient + noise, shapes ~0.75 + noise;
 * the domain's contrast shift maps I -> (1 - X) I + X (1 - I) (X = 1 inverts).
 * Samples 0..N-1 are domain 0 (no shift), N..N+M-1 domain 1 (shift X).
 * --unlabeled-from U sets the labels of samples U.. to -1 (cls); --minority F
 * keeps the label of only a fraction F of the class-2 samples (imbalance).
 */
#include "medssl/common.h"
#include "medssl/corpus.h"
#include "medssl/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double uni(uint64_t key, uint64_t *ctr)
{
    return (double)(rng_at(key, (*ctr)++) >> 11) * 0x1.0p-53;
}

/* Paints one shape of class `cls` (1 disk, 2 square, 3 cross) centred at
 * (cy, cx) with radius r into img (H,W) and mask (H,W). */
static void paint(float *img, uint8_t *mask, int H, int W, int cls, double cy, double cx, double r, float value,
                  uint8_t mval)
{
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            double dy = y + 0.5 - cy, dx = x + 0.5 - cx;
            int in = cls == 1   ? dy * dy + dx * dx <= r * r
                     : cls == 2 ? fabs(dy) <= r * 0.85 && fabs(dx) <= r * 0.85
                                : (fabs(dy) <= r * 0.3 && fabs(dx) <= r) || (fabs(dx) <= r * 0.3 && fabs(dy) <= r);
            if (!in) continue;
            img[y * W + x] = value;
            if (mask) mask[y * W + x] = mval;
        }
}

int main(int argc, char **argv)
{
    const char *kind = "seg", *out = NULL;
    int n0 = 100, n1 = 0, S = 32, H = 0, W = 0, seed = 1;
    long unlabeled_from = -1;
    double minority = 1; /* cls: fraction of class-2 samples that keep their label */
    double target_shift = 0;
    int cls_masks = 0; /* cls --masks: /masks holds the shape (1) on background (0), for Grad-CAM's pointing game */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--kind")) kind = v;
        else if (!strcmp(a, "--n")) n0 = atoi(v);
        else if (!strcmp(a, "--size")) S = atoi(v);
        else if (!strcmp(a, "--height")) H = atoi(v);
        else if (!strcmp(a, "--width")) W = atoi(v);
        else if (!strcmp(a, "--target-n")) n1 = atoi(v);
        else if (!strcmp(a, "--target-shift")) target_shift = atof(v);
        else if (!strcmp(a, "--seed")) seed = atoi(v);
        else if (!strcmp(a, "--unlabeled-from")) unlabeled_from = atol(v);
        else if (!strcmp(a, "--minority")) minority = atof(v);
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--masks")) { cls_masks = 1; continue; }
        else { fprintf(stderr, "phantom: unknown flag %s\n", a); return 2; }
        i++;
    }
    const int seg = strcmp(kind, "seg") == 0, n = n0 + n1;
    if (H == 0) H = S;
    if (W == 0) W = S;
    if (!out || n0 <= 0 || n1 < 0 || H < 8 || W < 8) {
        fprintf(stderr, "phantom: --out, --n > 0 and --size (or --height and --width) >= 8 are required\n");
        return 2;
    }
    S = H < W ? H : W; /* shapes scale with the shorter side */
    const size_t HW = (size_t)H * W;
    float *img = ms_malloc((size_t)n * HW * sizeof(float));
    uint8_t *mask = seg || cls_masks ? ms_malloc((size_t)n * HW) : NULL;
    int32_t *labels = seg ? NULL : ms_malloc((size_t)n * sizeof(int32_t));
    int32_t *domains = ms_malloc((size_t)n * sizeof(int32_t));
    for (int i = 0; i < n; i++) {
        const int is_source = i < n0;
        const double shift = is_source ? 0 : target_shift;
        uint64_t key = rng_key((uint64_t)seed, 0, (uint64_t)i, (ms_rng_purpose)0), ctr = 0;
        float *im = img + (size_t)i * HW;
        uint8_t *mk = mask ? mask + (size_t)i * HW : NULL;
        double gy = uni(key, &ctr) - 0.5, gx = uni(key, &ctr) - 0.5;
        for (size_t p = 0; p < HW; p++) im[p] = (float)(0.2 + 0.15 * (gy * (double)(p / W) + gx * (double)(p % W)) / S);
        if (mk) memset(mk, 0, HW);
        if (seg) {
            int shapes = 1 + (int)(uni(key, &ctr) * 3);
            for (int s = 0; s < shapes; s++) {
                int cls = 1 + (int)(uni(key, &ctr) * 2);
                double r = S * (0.1 + 0.08 * uni(key, &ctr));
                double cy = r + uni(key, &ctr) * (H - 2 * r), cx = r + uni(key, &ctr) * (W - 2 * r);
                paint(im, mk, H, W, cls, cy, cx, r, (float)(0.7 + 0.1 * uni(key, &ctr)), (uint8_t)cls);
            }
        } else {
            int cls = (int)(uni(key, &ctr) * 3);
            double r = S * (0.2 + 0.12 * uni(key, &ctr));
            double cy = r + uni(key, &ctr) * (H - 2 * r), cx = r + uni(key, &ctr) * (W - 2 * r);
            paint(im, mk, H, W, cls + 1, cy, cx, r, (float)(0.7 + 0.1 * uni(key, &ctr)), 1);
            labels[i] = (unlabeled_from >= 0 && i >= unlabeled_from) || (cls == 2 && minority < 1 && uni(key, &ctr) >= minority) ? -1 : cls;
        }
        for (size_t p = 0; p < HW; p++) {
            double u1 = uni(key, &ctr) + 1e-12, u2 = uni(key, &ctr);
            double v = im[p] + 0.05 * sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
            v = (1 - shift) * v + shift * (1 - v);
            im[p] = (float)v;
        }
        domains[i] = is_source ? 0 : 1;
    }
    ms_corpus_writer w;
    unsigned flags = (seg ? CORPUS_WITH_MASKS : CORPUS_WITH_LABELS) | (cls_masks ? CORPUS_WITH_MASKS : 0) | CORPUS_WITH_DOMAINS;
    int rc = corpus_writer_create(&w, out, 1, H, W, DTYPE_F32, flags, 0, seg ? NULL : "disk,square,cross");
    if (!rc) rc = corpus_writer_append(&w, n, img, labels, mask, domains);
    if (!rc) rc = corpus_writer_finish(&w);
    else corpus_writer_abort(&w);
    if (rc) fprintf(stderr, "phantom: %s\n", ms_last_error());
    free(img);
    free(mask);
    free(labels);
    free(domains);
    return rc ? 1 : 0;
}
