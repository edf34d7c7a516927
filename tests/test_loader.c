/* test_loader — epoch plans: every selected sample exactly once per epoch across
 * any number of ranks (1..7, several N and chunk sizes, splits), balanced shares,
 * equal step counts; the shuffle buffer over a real corpus read in shares. */
#include "medssl/common.h"
#include "medssl/corpus.h"
#include "medssl/loader.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static ms_loader_cfg cfg_of(int rank, int size, ms_split split)
{
    ms_loader_cfg c = { .rank = rank, .size = size, .seed = 11, .batch = 4, .buffer = 8, .split = split,
                        .val_fraction = 0.2f, .shuffle = 1 };
    return c;
}

static void test_plan_exactly_once(void)
{
    const long long Ns[] = { 1, 2, 7, 97, 100, 1001 }, chunks[] = { 1, 3, 16, 1000 };
    for (size_t a = 0; a < sizeof Ns / sizeof *Ns; a++)
        for (size_t b = 0; b < sizeof chunks / sizeof *chunks; b++)
            for (int split = SPLIT_ALL; split <= SPLIT_VAL; split++)
                for (int size = 1; size <= 7; size++) {
                    const long long N = Ns[a], chunk = chunks[b];
                    int *seen = ms_calloc((size_t)N, sizeof(int));
                    long long min_share = N + 1, max_share = -1, total = -1;
                    for (int r = 0; r < size; r++) {
                        ms_loader_cfg cfg = cfg_of(r, size, (ms_split)split);
                        ms_run *runs;
                        long long n_runs, n_samples, n_total;
                        loader_plan(N, chunk, &cfg, 3, &runs, &n_runs, &n_samples, &n_total);
                        long long got = 0;
                        for (long long k = 0; k < n_runs; k++) {
                            TU_CHECKF(runs[k].count >= 1 && runs[k].count <= chunk, "N=%lld chunk=%lld split=%d size=%d r=%d run %lld+%lld", N, chunk, split, size, r, runs[k].first, runs[k].count);
                            TU_CHECK(runs[k].first / chunk == (runs[k].first + runs[k].count - 1) / chunk);
                            for (long long i = runs[k].first; i < runs[k].first + runs[k].count; i++)
                                if (loader_in_split(cfg.seed, cfg.val_fraction, cfg.split, i)) {
                                    seen[i]++;
                                    got++;
                                }
                        }
                        TU_CHECK(got == n_samples);
                        if (n_samples < min_share) min_share = n_samples;
                        if (n_samples > max_share) max_share = n_samples;
                        total = n_total;
                        free(runs);
                    }
                    long long expect_total = 0;
                    int once = 1;
                    for (long long i = 0; i < N; i++) {
                        int in = loader_in_split(11, 0.2f, (ms_split)split, i);
                        expect_total += in;
                        once &= seen[i] == in;
                    }
                    TU_CHECKF(once, "N=%lld chunk=%lld split=%d ranks=%d: a sample missed or repeated", N, chunk, split, size);
                    TU_CHECK(total == expect_total);
                    TU_CHECK(max_share - min_share <= 1);
                    free(seen);
                }
}

static void test_plan_orders(void)
{
    ms_loader_cfg cfg = cfg_of(0, 1, SPLIT_ALL);
    ms_run *a, *b, *c;
    long long na, nb, nc, s, t;
    loader_plan(1000, 10, &cfg, 1, &a, &na, &s, &t);
    loader_plan(1000, 10, &cfg, 1, &b, &nb, &s, &t);
    loader_plan(1000, 10, &cfg, 2, &c, &nc, &s, &t);
    TU_CHECK(na == 100 && nb == 100 && nc == 100);
    TU_CHECK(memcmp(a, b, (size_t)na * sizeof *a) == 0);     /* same epoch: same order */
    TU_CHECK(memcmp(a, c, (size_t)na * sizeof *a) != 0);     /* next epoch: another order */
    cfg.shuffle = 0;
    free(a);
    loader_plan(1000, 10, &cfg, 1, &a, &na, &s, &t);
    int sorted = 1;
    for (long long k = 0; k < na; k++) sorted &= a[k].first == 10 * k;
    TU_CHECK(sorted);
    /* the split is about 20% and stable */
    long long val = 0;
    for (long long i = 0; i < 100000; i++) val += loader_in_split(5, 0.2f, SPLIT_VAL, i);
    TU_CHECKF(val > 19000 && val < 21000, "%lld", val);
    free(a); free(b); free(c);
}

/* A corpus of N images of 1x128x128 uint8 (chunks of 64 images), pixel value
 * and label derived from the index. */
static void write_corpus(const char *path, int N)
{
    ms_corpus_writer w;
    CHECK(corpus_writer_create(&w, path, 1, 128, 128, DTYPE_U8, CORPUS_WITH_LABELS, 0, NULL) == 0);
    uint8_t *img = ms_malloc(128 * 128);
    for (int i = 0; i < N; i++) {
        memset(img, i % 251, 128 * 128);
        int32_t lab = i % 7;
        CHECK(corpus_writer_append(&w, 1, img, &lab, NULL, NULL) == 0);
    }
    CHECK(corpus_writer_finish(&w) == 0);
    free(img);
}

static void test_stream_real_corpus(void)
{
    char path[256];
    snprintf(path, sizeof path, "/tmp/medssl_test_loader.%ld.h5", (long)getpid());
    const int N = 203;
    write_corpus(path, N);
    ms_corpus c;
    CHECK(corpus_open(&c, path, NULL) == 0);
    TU_CHECK(c.chunk_n == 64);
    for (int size = 1; size <= 3; size++) {
        int *seen = ms_calloc(N, sizeof(int));
        long long steps0 = -1;
        for (int r = 0; r < size; r++) {
            ms_loader_cfg cfg = cfg_of(r, size, SPLIT_ALL);
            cfg.batch = 16;
            cfg.buffer = 40;
            cfg.want_labels = 1;
            ms_loader *L;
            TU_CHECK(loader_open(&L, &c, &cfg) == 0);
            TU_CHECK(loader_start_epoch(L, 0) == 0);
            long long steps = loader_steps(L), got = 0;
            if (steps0 < 0) steps0 = steps;
            TU_CHECK(steps == steps0);
            int in_order = 1;
            long long prev = -1;
            for (long long s = 0; s < steps; s++) {
                ms_batch b;
                TU_CHECK(loader_next(L, &b) == 0);
                TU_CHECK(b.n <= 16 && (s < steps - 1 ? b.n == 16 : 1));
                for (int i = 0; i < b.n; i++) {
                    long long idx = b.index[i];
                    seen[idx]++;
                    TU_CHECK(b.labels[i] == idx % 7);
                    TU_CHECK(b.images[(size_t)i * 128 * 128 + 777] == (float)(idx % 251) * (1.0f / 255.0f));
                    in_order &= idx > prev;
                    prev = idx;
                }
                got += b.n;
            }
            ms_batch b;
            TU_CHECK(loader_next(L, &b) == 0 && b.n == 0); /* the share is exhausted */
            TU_CHECK(got == loader_epoch_samples(L));
            TU_CHECK(!in_order); /* shuffled */
            loader_close(L);
        }
        int once = 1;
        for (int i = 0; i < N; i++) once &= seen[i] == 1;
        TU_CHECKF(once, "%d ranks: not exactly once", size);
        free(seen);
    }
    corpus_close(&c);
    unlink(path);
}

/* A non-finite pixel deep in the corpus surfaces from the prefetch thread as one
 * input error naming the file and the sample; closing mid-epoch does not hang. */
static void test_errors_and_early_close(void)
{
    char path[256];
    snprintf(path, sizeof path, "/tmp/medssl_test_loader_nan.%ld.h5", (long)getpid());
    ms_corpus_writer w;
    CHECK(corpus_writer_create(&w, path, 1, 64, 64, DTYPE_F32, 0, 0, NULL) == 0); /* 64 per chunk */
    float *img = ms_calloc(64 * 64, sizeof(float));
    for (int i = 0; i < 150; i++) CHECK(corpus_writer_append(&w, 1, img, NULL, NULL, NULL) == 0);
    CHECK(corpus_writer_finish(&w) == 0);
    free(img);
    /* poke a NaN into sample 137 behind the writer's back */
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT), d = H5Dopen2(f, "images", H5P_DEFAULT);
    hsize_t start[4] = { 137, 0, 5, 5 }, cnt[4] = { 1, 1, 1, 1 };
    hid_t fs = H5Dget_space(d), ms = H5Screate_simple(4, cnt, NULL);
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, cnt, NULL);
    float nan = NAN;
    H5Dwrite(d, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, &nan);
    H5Sclose(ms); H5Sclose(fs); H5Dclose(d); H5Fclose(f);

    ms_corpus c;
    CHECK(corpus_open(&c, path, NULL) == 0);
    ms_loader_cfg cfg = cfg_of(0, 1, SPLIT_ALL);
    cfg.batch = 10;
    ms_loader *L;
    CHECK(loader_open(&L, &c, &cfg) == 0);
    CHECK(loader_start_epoch(L, 0) == 0);
    int rc = 0;
    for (long long s = 0; s < loader_steps(L) && !rc; s++) {
        ms_batch b;
        rc = loader_next(L, &b);
    }
    TU_CHECK(rc == MS_ERR_INPUT);
    TU_CHECKF(strstr(ms_last_error(), "/images[137]") && strstr(ms_last_error(), path), "%s", ms_last_error());
    /* a new epoch after the error, then close after one batch */
    CHECK(loader_start_epoch(L, 1) == 0);
    ms_batch b;
    loader_next(L, &b);
    loader_close(L);
    corpus_close(&c);
    unlink(path);
}

int main(void)
{
    TU_RUN(test_plan_exactly_once);
    TU_RUN(test_plan_orders);
    TU_RUN(test_stream_real_corpus);
    TU_RUN(test_errors_and_early_close);
    return tu_summary();
}
