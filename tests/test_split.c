/* test_split — the exact, stratified train/validation split of fine-tuning
 * (finetune/labeled.c): round(f n) validation samples (at least 1 when n >= 2,
 * never all), shared over the classes by largest remainder, unlabeled samples
 * on neither side, the same split for the same seed and another for another
 * seed; segmentation strata by mask foreground. */
#include "medssl/common.h"
#include "medssl/corpus.h"
#include "medssl/labeled.h"
#include "medssl/loader.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char DIR_[256];

/* A corpus of n_classes classes with the given sizes, then `unlabeled` samples
 * of label -1, interleaved; 1x2x2 images; masks: foreground for even indices. */
static void write_corpus(const char *path, const int *sizes, int n_classes, int unlabeled, int with_masks)
{
    int N = unlabeled;
    for (int k = 0; k < n_classes; k++) N += sizes[k];
    int32_t *lab = ms_malloc((size_t)N * sizeof(int32_t));
    uint8_t *img = ms_calloc((size_t)N * 4, 1), *msk = ms_calloc((size_t)N * 4, 1);
    int left[16], n_left = unlabeled, i = 0;
    memcpy(left, sizes, (size_t)n_classes * sizeof(int));
    while (i < N) /* round-robin over the classes and the unlabeled, so classes interleave */
        for (int k = 0; k <= n_classes && i < N; k++) {
            if (k < n_classes && left[k] > 0) { lab[i++] = k; left[k]--; }
            else if (k == n_classes && n_left > 0) { lab[i++] = -1; n_left--; }
        }
    for (i = 0; i < N; i++) msk[(size_t)i * 4] = (uint8_t)(i % 2 == 0);
    ms_corpus_writer w;
    TU_CHECK(corpus_writer_create(&w, path, 1, 2, 2, DTYPE_U8, CORPUS_WITH_LABELS | (with_masks ? CORPUS_WITH_MASKS : 0),
                                  1, NULL) == 0);
    TU_CHECK(corpus_writer_append(&w, N, img, lab, with_masks ? msk : NULL, NULL) == 0);
    TU_CHECK(corpus_writer_finish(&w) == 0);
    free(lab);
    free(img);
    free(msk);
}

static void test_val_count(void)
{
    TU_CHECK(labeled_val_count(0, 0.1f) == 0);
    TU_CHECK(labeled_val_count(1, 0.1f) == 0);
    TU_CHECK(labeled_val_count(2, 0.1f) == 1);
    TU_CHECK(labeled_val_count(5, 0.1f) == 1);
    TU_CHECK(labeled_val_count(8, 0.1f) == 1);
    TU_CHECK(labeled_val_count(600, 0.1f) == 60);
    TU_CHECK(labeled_val_count(10, 0.9f) == 9);
    TU_CHECK(labeled_val_count(2, 0.9f) == 1);
    TU_CHECK(labeled_val_count(100, 0.0f) == 0);
}

static void split_counts(const char *path, int K, uint64_t seed, float f, long long *val_k, long long *train_k,
                         int8_t **in_val_out)
{
    ms_corpus c;
    int rc = corpus_open(&c, path, NULL);
    TU_CHECKF(rc == 0, "%s", ms_last_error());
    if (rc) return;
    ms_labeled_sel sel = { .masks = 0, .K = K, .seed = seed, .target_domain = -1, .target_weight = 1 };
    int8_t *in_val = NULL;
    ms_split_info si;
    rc = labeled_split(&c, &sel, f, &in_val, &si);
    TU_CHECKF(rc == 0, "%s", ms_last_error());
    int32_t *lab = ms_malloc((size_t)c.N * sizeof(int32_t));
    TU_CHECK(corpus_read_labels(&c, lab) == 0);
    memset(val_k, 0, (size_t)K * sizeof(long long));
    memset(train_k, 0, (size_t)K * sizeof(long long));
    for (long long i = 0; !rc && i < c.N; i++) {
        if (lab[i] < 0) TU_CHECK(in_val[i] == -1);
        else if (in_val[i] == 1) val_k[lab[i]]++;
        else if (in_val[i] == 0) train_k[lab[i]]++;
        else TU_CHECKF(0, "labeled sample %lld is on neither side", i);
    }
    long long v = 0, t = 0;
    for (int k = 0; k < K; k++) { v += val_k[k]; t += train_k[k]; }
    TU_CHECK(si.n_val == v && si.n_train == t);
    /* labeled_repeat with the split: exactly the training side, then exactly the validation side */
    uint16_t *rep = NULL;
    sel.split = SPLIT_TRAIN;
    sel.in_val = in_val;
    TU_CHECK(labeled_repeat(&c, &sel, 1, &rep) == 0);
    for (long long i = 0; rep && i < c.N; i++) TU_CHECK(rep[i] == (in_val[i] == 0));
    free(rep);
    rep = NULL;
    sel.split = SPLIT_VAL;
    if (si.n_val > 0) {
        TU_CHECK(labeled_repeat(&c, &sel, 0, &rep) == 0);
        for (long long i = 0; rep && i < c.N; i++) TU_CHECK(rep[i] == (in_val[i] == 1));
        free(rep);
    } else {
        TU_CHECK(labeled_repeat(&c, &sel, 0, &rep) == MS_ERR_INPUT); /* nothing to validate on */
    }
    free(lab);
    corpus_close(&c);
    if (in_val_out) *in_val_out = in_val;
    else free(in_val);
}

/* 100 labeled in classes of 50, 30, 12, 7, 1 (+ 40 unlabeled), f = 0.1:
 * 10 validation samples; floors 5, 3, 1, 0, 0 and the largest remainder
 * (0.7 of class 3) takes the tenth. */
static void test_stratified_exact(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/cls.h5", DIR_);
    const int sizes[5] = { 50, 30, 12, 7, 1 };
    write_corpus(path, sizes, 5, 40, 0);
    long long v[5], t[5];
    int8_t *a = NULL, *b = NULL, *c = NULL;
    split_counts(path, 5, 0, 0.1f, v, t, &a);
    const long long want_v[5] = { 5, 3, 1, 1, 0 };
    for (int k = 0; k < 5; k++) TU_CHECKF(v[k] == want_v[k] && v[k] + t[k] == sizes[k], "class %d: %lld val, %lld train", k, v[k], t[k]);
    split_counts(path, 5, 0, 0.1f, v, t, &b);
    split_counts(path, 5, 7, 0.1f, v, t, &c);
    for (int k = 0; k < 5; k++) TU_CHECK(v[k] == want_v[k]); /* the counts do not depend on the seed */
    TU_CHECK(memcmp(a, b, 140) == 0);                      /* the same seed: the same samples */
    TU_CHECK(memcmp(a, c, 140) != 0);                      /* another seed: other samples */
    free(a);
    free(b);
    free(c);
    /* 600 in 10 classes of 60 at 10%: 6 per class (the demo's 540/60) */
    snprintf(path, sizeof path, "%s/cls600.h5", DIR_);
    int s10[10];
    for (int k = 0; k < 10; k++) s10[k] = 60;
    write_corpus(path, s10, 10, 1000, 0);
    long long v10[10], t10[10];
    split_counts(path, 10, 0, 0.1f, v10, t10, NULL);
    for (int k = 0; k < 10; k++) TU_CHECK(v10[k] == 6 && t10[k] == 54);
}

/* Tiny sets: 2 samples give 1 + 1, 5 give 4 + 1, for every seed; 1 gives no validation. */
static void test_tiny(void)
{
    char path[512];
    for (int n = 1; n <= 5; n++) {
        snprintf(path, sizeof path, "%s/tiny%d.h5", DIR_, n);
        const int sizes[2] = { (n + 1) / 2, n / 2 };
        write_corpus(path, sizes, 2, 0, 0);
        for (uint64_t seed = 0; seed < 8; seed++) {
            long long v[2], t[2];
            split_counts(path, 2, seed, 0.1f, v, t, NULL);
            TU_CHECKF(v[0] + v[1] == (n >= 2 ? 1 : 0) && t[0] + t[1] == n - (n >= 2), "n %d seed %llu: %lld val", n,
                      (unsigned long long)seed, v[0] + v[1]);
            if (n >= 3) TU_CHECK(t[0] >= 1); /* the larger class keeps a training sample */
        }
    }
}

/* Segmentation: strata by mask foreground (even indices have it): 20 samples,
 * 10 with foreground, f = 0.2: 2 + 2 in validation. */
static void test_segment_strata(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/seg.h5", DIR_);
    const int sizes[1] = { 20 };
    write_corpus(path, sizes, 1, 0, 1);
    ms_corpus c;
    TU_CHECK(corpus_open(&c, path, NULL) == 0);
    ms_labeled_sel sel = { .masks = 1, .K = 2, .seed = 3, .target_domain = -1, .target_weight = 1 };
    int8_t *in_val = NULL;
    ms_split_info si;
    TU_CHECKF(labeled_split(&c, &sel, 0.2f, &in_val, &si) == 0, "%s", ms_last_error());
    int fg_val = 0, bg_val = 0;
    for (int i = 0; in_val && i < 20; i++) {
        fg_val += in_val[i] == 1 && i % 2 == 0;
        bg_val += in_val[i] == 1 && i % 2 == 1;
    }
    TU_CHECK(si.n_val == 4 && si.n_train == 16 && fg_val == 2 && bg_val == 2 && si.n_strata == 2);
    free(in_val);
    corpus_close(&c);
}

int main(void)
{
    snprintf(DIR_, sizeof DIR_, "/tmp/medssl_test_split_%d", (int)getpid());
    char cmd[300];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", DIR_);
    if (system(cmd) != 0) return 1;
    TU_RUN(test_val_count);
    TU_RUN(test_stratified_exact);
    TU_RUN(test_tiny);
    TU_RUN(test_segment_strata);
    snprintf(cmd, sizeof cmd, "rm -rf %s", DIR_);
    if (system(cmd) != 0) return 1;
    return tu_summary();
}
