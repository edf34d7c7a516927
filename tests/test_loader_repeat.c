/* test_loader_repeat — per-sample repeat counts in the loader: every copy
 * (sample, copy number) exactly once per epoch across 1..7 ranks for random
 * repeat arrays and splits, equal step counts; repeat == NULL gives the same
 * stream as before repeat counts existed (a fingerprint of the old code) and
 * as all-ones; the balance and labeled helpers against counts worked out by
 * hand; copies augmented differently (copy 0 exactly as without repeats) and
 * spread over batches; sparse selections read correctly through gathered
 * reads; corpus_read_rows (also from big gzip chunks) / corpus_read_labels /
 * corpus_read_domains. */
#include "medssl/augment.h"
#include "medssl/common.h"
#include "medssl/corpus.h"
#include "medssl/loader.h"
#include "medssl/rng.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static ms_loader_cfg cfg_of(int rank, int size, ms_split split, const uint16_t *repeat)
{
    ms_loader_cfg c = { .rank = rank, .size = size, .seed = 11, .batch = 4, .buffer = 8, .split = split,
                        .val_fraction = 0.2f, .shuffle = 1, .repeat = repeat };
    return c;
}

/* The copies a run yields, by the run's documented meaning (independent of
 * the loader's reader): seen[i * maxrep + copy]++ for each. */
static long long expand_run(const ms_loader_cfg *cfg, const ms_run *r, int maxrep, int *seen)
{
    long long left = r->n, copy = r->copy0, got = 0;
    for (long long i = r->first; i < r->first + r->count && left > 0; i++) {
        long long w = loader_weight(cfg, i);
        if (w == 0) continue;
        TU_CHECK(copy < w);
        for (; copy < w && left > 0; copy++, left--, got++) seen[i * maxrep + copy]++;
        copy = 0;
    }
    TU_CHECKF(left == 0, "run %lld+%lld yields %lld copies, %lld missing", r->first, r->count, r->n, left);
    return got;
}

static uint16_t *random_repeat(long long N, int maxrep, int zero_pct, uint64_t seed)
{
    uint16_t *rep = ms_malloc((size_t)N * sizeof(uint16_t));
    ms_rng g = rng_stream(rng_key(seed, 0, 0, RNG_DATA));
    for (long long i = 0; i < N; i++)
        rep[i] = (int)rng_below(&g, 100) < zero_pct ? 0 : (uint16_t)(1 + rng_below(&g, (uint32_t)maxrep));
    return rep;
}

static void test_plan_repeat_exactly_once(void)
{
    const long long Ns[] = { 1, 7, 97, 1001 }, chunks[] = { 1, 3, 16, 1000 };
    const int maxreps[] = { 1, 3, 40 }, zero_pcts[] = { 0, 50, 99 };
    for (size_t a = 0; a < sizeof Ns / sizeof *Ns; a++)
        for (size_t b = 0; b < sizeof chunks / sizeof *chunks; b++)
            for (size_t m = 0; m < 3; m++)
                for (size_t z = 0; z < 3; z++)
                    for (int split = SPLIT_ALL; split <= SPLIT_VAL; split++)
                        for (int size = 1; size <= 7; size++) {
                            const long long N = Ns[a], chunk = chunks[b];
                            const int maxrep = maxreps[m];
                            uint16_t *rep = random_repeat(N, maxrep, zero_pcts[z], (uint64_t)(a * 100 + m * 10 + z));
                            int *seen = ms_calloc((size_t)(N * maxrep), sizeof(int));
                            long long min_share = -1, max_share = -1, total = -1;
                            for (int r = 0; r < size; r++) {
                                ms_loader_cfg cfg = cfg_of(r, size, (ms_split)split, rep);
                                ms_run *runs;
                                long long n_runs, n_samples, n_total, got = 0, prev_chunk = -1;
                                loader_plan(N, chunk, &cfg, 3, &runs, &n_runs, &n_samples, &n_total);
                                char *chunk_read = ms_calloc((size_t)((N + chunk - 1) / chunk), 1);
                                for (long long k = 0; k < n_runs; k++) {
                                    const ms_run *u = &runs[k];
                                    const long long ck = u->first / chunk;
                                    TU_CHECK(u->count >= 1 && u->count <= chunk && u->n >= 1);
                                    TU_CHECK(ck == (u->first + u->count - 1) / chunk); /* within one chunk */
                                    TU_CHECK(!chunk_read[ck]);                         /* each chunk once */
                                    chunk_read[ck] = 1;
                                    TU_CHECK(ck != prev_chunk);
                                    prev_chunk = ck;
                                    got += expand_run(&cfg, u, maxrep, seen);
                                }
                                free(chunk_read);
                                TU_CHECK(got == n_samples);
                                if (min_share < 0 || n_samples < min_share) min_share = n_samples;
                                if (n_samples > max_share) max_share = n_samples;
                                total = n_total;
                                free(runs);
                            }
                            long long expect_total = 0;
                            int exact = 1;
                            for (long long i = 0; i < N; i++) {
                                int in = loader_in_split(11, 0.2f, (ms_split)split, i);
                                long long w = in ? rep[i] : 0;
                                expect_total += w;
                                for (int k = 0; k < maxrep; k++) exact &= seen[i * maxrep + k] == (k < w);
                            }
                            TU_CHECKF(exact, "N=%lld chunk=%lld maxrep=%d zero%%=%d split=%d ranks=%d: a copy missed "
                                      "or repeated", N, chunk, maxrep, zero_pcts[z], split, size);
                            TU_CHECK(total == expect_total);
                            TU_CHECK(max_share - min_share <= 1);
                            free(seen);
                            free(rep);
                        }
}

/* repeat == NULL and all-ones give the same plan (copy0 0, n = selected). */
static void test_plan_null_is_all_ones(void)
{
    const long long N = 1001;
    uint16_t *ones = ms_malloc(N * sizeof(uint16_t));
    for (long long i = 0; i < N; i++) ones[i] = 1;
    for (int split = SPLIT_ALL; split <= SPLIT_VAL; split++)
        for (int size = 1; size <= 3; size++)
            for (int r = 0; r < size; r++) {
                ms_loader_cfg a = cfg_of(r, size, (ms_split)split, NULL), b = cfg_of(r, size, (ms_split)split, ones);
                ms_run *ra, *rb;
                long long na, nb, sa, sb, ta, tb;
                loader_plan(N, 16, &a, 2, &ra, &na, &sa, &ta);
                loader_plan(N, 16, &b, 2, &rb, &nb, &sb, &tb);
                TU_CHECK(na == nb && sa == sb && ta == tb);
                TU_CHECK(memcmp(ra, rb, (size_t)na * sizeof *ra) == 0);
                for (long long k = 0; k < na; k++) TU_CHECK(ra[k].copy0 == 0);
                free(ra);
                free(rb);
            }
    free(ones);
}

/* ---- helpers -------------------------------------------------------------------- */

static void test_repeat_labeled(void)
{
    const int32_t labels[] = { -1, 0, 3, -1, -1, 1, 0 };
    uint16_t rep[7];
    memset(rep, 0xff, sizeof rep);
    TU_CHECK(loader_repeat_labeled(labels, 7, rep) == 4);
    const uint16_t expect[] = { 0, 1, 1, 0, 0, 1, 1 };
    TU_CHECK(memcmp(rep, expect, sizeof rep) == 0);
}

static void test_repeat_balance_by_hand(void)
{
    /* class 0: 7 samples, class 1: 2, class 2: 3, class 3: none, 4 unlabeled.
     * T = 7: class 0 one copy each; class 1 floor(7/2) = 3 each, 7 mod 2 = 1 of them 4;
     * class 2 floor(7/3) = 2 each, 7 mod 3 = 1 of them 3. */
    const int32_t labels[] = { 0, -1, 1, 0, 2, 0, 0, -1, 2, 1, 0, -1, 0, 2, 0, -1 };
    const long long N = sizeof labels / sizeof *labels;
    uint16_t rep[sizeof labels / sizeof *labels];
    const uint64_t seed = 42;
    TU_CHECK(loader_repeat_balance(labels, N, 4, seed, rep) == MS_OK);
    long long total[4] = { 0 };
    for (long long i = 0; i < N; i++) {
        if (labels[i] < 0) TU_CHECK(rep[i] == 0);
        else total[labels[i]] += rep[i];
        if (labels[i] == 0) TU_CHECK(rep[i] == 1);
        if (labels[i] == 1) TU_CHECK(rep[i] == 3 || rep[i] == 4);
        if (labels[i] == 2) TU_CHECK(rep[i] == 2 || rep[i] == 3);
    }
    TU_CHECK(total[0] == 7 && total[1] == 7 && total[2] == 7 && total[3] == 0);
    /* the extra copy goes to the smaller hash: class 1 is {2, 9}, class 2 {4, 8, 13} */
    const uint64_t hk = rng_key(seed, 0, LOADER_BALANCE_STREAM, RNG_SPLIT);
    const long long c1_extra = rng_at(hk, 2) < rng_at(hk, 9) ? 2 : 9;
    TU_CHECK(rep[c1_extra] == 4 && rep[c1_extra == 2 ? 9 : 2] == 3);
    long long c2_extra = 4;
    if (rng_at(hk, 8) < rng_at(hk, c2_extra)) c2_extra = 8;
    if (rng_at(hk, 13) < rng_at(hk, c2_extra)) c2_extra = 13;
    TU_CHECK(rep[c2_extra] == 3);

    /* a larger imbalanced set: exact totals; the extras depend on the seed */
    enum { M = 10000 };
    int32_t *lab = ms_malloc(M * sizeof(int32_t));
    uint16_t *r1 = ms_malloc(M * sizeof(uint16_t)), *r2 = ms_malloc(M * sizeof(uint16_t));
    long long n[5] = { 0 };
    for (int i = 0; i < M; i++) {
        lab[i] = i % 3 == 0 ? -1 : i % 97 == 1 ? 4 : i % 11 == 2 ? 3 : i % 5 == 1 ? 2 : i % 2;
        if (lab[i] >= 0) n[lab[i]]++;
    }
    long long T = 0;
    for (int c = 0; c < 5; c++) T = n[c] > T ? n[c] : T;
    TU_CHECK(loader_repeat_balance(lab, M, 5, 1, r1) == MS_OK);
    TU_CHECK(loader_repeat_balance(lab, M, 5, 2, r2) == MS_OK);
    long long tot[5] = { 0 };
    int differ = 0;
    for (int i = 0; i < M; i++) {
        if (lab[i] >= 0) {
            tot[lab[i]] += r1[i];
            TU_CHECK(r1[i] == T / n[lab[i]] || r1[i] == T / n[lab[i]] + 1);
        } else {
            TU_CHECK(r1[i] == 0);
        }
        differ |= r1[i] != r2[i];
    }
    for (int c = 0; c < 5; c++) TU_CHECKF(tot[c] == T, "class %d: %lld of %lld", c, tot[c], T);
    TU_CHECK(differ);
    free(lab);
    free(r1);
    free(r2);

    /* errors: a label out of range, a count beyond uint16 (repeat left all 0) */
    const int32_t bad[] = { 0, 1, 5 };
    uint16_t rb[3] = { 7, 7, 7 };
    TU_CHECK(loader_repeat_balance(bad, 3, 4, 1, rb) == MS_ERR_INPUT && strstr(ms_last_error(), "label 5"));
    TU_CHECK(rb[0] == 0 && rb[1] == 0 && rb[2] == 0);
    int32_t *big = ms_malloc(70000 * sizeof(int32_t));
    uint16_t *rbig = ms_malloc(70000 * sizeof(uint16_t));
    for (int i = 0; i < 70000; i++) big[i] = i == 5 ? 1 : 0;
    TU_CHECK(loader_repeat_balance(big, 70000, 2, 1, rbig) == MS_ERR_INPUT && strstr(ms_last_error(), "class 1"));
    free(big);
    free(rbig);
}

/* ---- streaming from a real corpus ------------------------------------------------- */

enum { S = 24 }; /* 1xSxS uint8 images: 1820 per 1 MiB chunk */

/* N images whose pixels encode the index; labels index % 7, domains index % 3. */
static void write_corpus(const char *path, int N)
{
    ms_corpus_writer w;
    CHECK(corpus_writer_create(&w, path, 1, S, S, DTYPE_U8, CORPUS_WITH_LABELS | CORPUS_WITH_DOMAINS, 0, NULL) == 0);
    uint8_t *img = ms_malloc((size_t)N * S * S);
    int32_t *lab = ms_malloc((size_t)N * sizeof(int32_t)), *dom = ms_malloc((size_t)N * sizeof(int32_t));
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < S * S; k++) img[(size_t)i * S * S + k] = (uint8_t)((i * 31 + k) % 251);
        lab[i] = i % 7;
        dom[i] = i % 3;
    }
    CHECK(corpus_writer_append(&w, N, img, lab, NULL, dom) == 0);
    CHECK(corpus_writer_finish(&w) == 0);
    free(img);
    free(lab);
    free(dom);
}

static int pixels_match(const float *img, long long idx)
{
    int ok = 1;
    for (int k = 0; k < S * S; k += 37) ok &= img[k] == (float)((idx * 31 + k) % 251) * (1.0f / 255.0f);
    return ok;
}

/* Streams one epoch on `size` ranks (in turn, in this process);
 * counts[i*maxrep + copy]++ per row, checking labels, domains and pixels. */
static void stream(ms_corpus *c, const uint16_t *rep, int maxrep, int size, ms_split split, long long buffer, int batch,
                   int *counts)
{
    long long steps0 = -1;
    for (int r = 0; r < size; r++) {
        ms_loader_cfg cfg = cfg_of(r, size, split, rep);
        cfg.batch = batch;
        cfg.buffer = buffer;
        cfg.want_labels = cfg.want_domains = 1;
        ms_loader *L;
        CHECK(loader_open(&L, c, &cfg) == 0);
        CHECK(loader_start_epoch(L, 1) == 0);
        const long long steps = loader_steps(L);
        if (steps0 < 0) steps0 = steps;
        TU_CHECK(steps == steps0);
        long long got = 0;
        for (long long s = 0; s < steps; s++) {
            ms_batch b;
            TU_CHECK(loader_next(L, &b) == 0);
            TU_CHECK(s < steps - 1 ? b.n == batch : b.n <= batch);
            for (int i = 0; i < b.n; i++) {
                const long long idx = b.index[i], k = b.copy[i];
                TU_CHECK(k >= 0 && k < maxrep);
                counts[idx * maxrep + k]++;
                TU_CHECK(b.labels[i] == idx % 7 && b.domains[i] == idx % 3);
                TU_CHECK(pixels_match(b.images + (size_t)i * S * S, idx));
            }
            got += b.n;
        }
        ms_batch b;
        TU_CHECK(loader_next(L, &b) == 0 && b.n == 0);
        TU_CHECK(got == loader_epoch_samples(L));
        loader_close(L);
    }
}

static void test_stream_repeat(void)
{
    char path[256];
    snprintf(path, sizeof path, "/tmp/medssl_test_loader_repeat.%ld.h5", (long)getpid());
    const int N = 4000; /* 3 chunks, the last short */
    write_corpus(path, N);
    ms_corpus c;
    CHECK(corpus_open(&c, path, NULL) == 0);
    TU_CHECK(c.chunk_n == (1 << 20) / (S * S));
    const int maxrep = 5;
    uint16_t *rep = random_repeat(N, maxrep - 1, 30, 7);
    for (int size = 1; size <= 3; size++)
        for (int split = SPLIT_ALL; split <= SPLIT_TRAIN; split++) {
            int *counts = ms_calloc((size_t)N * maxrep, sizeof(int));
            stream(&c, rep, maxrep, size, (ms_split)split, 300, 32, counts);
            int exact = 1;
            for (int i = 0; i < N; i++) {
                const int w = loader_in_split(11, 0.2f, (ms_split)split, i) ? rep[i] : 0;
                for (int k = 0; k < maxrep; k++) exact &= counts[i * maxrep + k] == (k < w);
            }
            TU_CHECKF(exact, "%d ranks, split %d: not each copy exactly once", size, split);
            free(counts);
        }
    free(rep);
    corpus_close(&c);
    unlink(path);
}

/* A 1% selection (the labeled samples of a mostly unlabeled corpus): exact
 * multiplicity and the right pixels through gathered reads, with repeat 3 on
 * some; a chunk without selected samples is never in the plan. */
static void test_sparse_selection(void)
{
    char path[256];
    snprintf(path, sizeof path, "/tmp/medssl_test_loader_sparse.%ld.h5", (long)getpid());
    const int N = 6000;
    write_corpus(path, N);
    ms_corpus c;
    CHECK(corpus_open(&c, path, NULL) == 0);
    int32_t *lab = ms_malloc(N * sizeof(int32_t));
    for (int i = 0; i < N; i++) lab[i] = i % 100 == 17 || (i > 1830 && i < 1836) ? i % 7 : -1;
    for (int i = 3640; i < 5460; i++) lab[i] = -1; /* the third chunk: nothing selected */
    uint16_t *rep = ms_malloc(N * sizeof(uint16_t));
    const long long n_labeled = loader_repeat_labeled(lab, N, rep);
    TU_CHECK(n_labeled > 40 && n_labeled < 60);
    for (int i = 0; i < N; i += 300) rep[i] *= 3;
    const int maxrep = 3;
    for (int size = 1; size <= 3; size++) {
        int *counts = ms_calloc((size_t)N * maxrep, sizeof(int));
        stream(&c, rep, maxrep, size, SPLIT_ALL, 64, 8, counts);
        int exact = 1;
        for (int i = 0; i < N; i++)
            for (int k = 0; k < maxrep; k++) exact &= counts[i * maxrep + k] == (k < rep[i]);
        TU_CHECKF(exact, "%d ranks: sparse selection not exact", size);
        free(counts);
        ms_loader_cfg cfg = cfg_of(0, size, SPLIT_ALL, rep);
        ms_run *runs;
        long long n_runs, ns, nt;
        loader_plan(N, c.chunk_n, &cfg, 1, &runs, &n_runs, &ns, &nt);
        for (long long k = 0; k < n_runs; k++) TU_CHECK(runs[k].first / c.chunk_n != 2);
        free(runs);
    }
    /* nothing selected: an input error that says so */
    memset(rep, 0, N * sizeof(uint16_t));
    ms_loader_cfg cfg = cfg_of(0, 1, SPLIT_ALL, rep);
    ms_loader *L;
    CHECK(loader_open(&L, &c, &cfg) == 0);
    TU_CHECK(loader_start_epoch(L, 0) == MS_ERR_INPUT && strstr(ms_last_error(), "repeat count"));
    loader_close(L);
    free(lab);
    free(rep);
    corpus_close(&c);
    unlink(path);
}

/* A corpus written with plain HDF5 calls (as h5py would): 1x32x32 uint8 images
 * in gzip chunks of 2048 (2 MiB, beyond HDF5's default chunk cache), int64
 * labels, uint8 masks. */
static void write_big_chunk_corpus(const char *path, int N)
{
    enum { Q = 32 };
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    uint8_t *img = ms_malloc((size_t)N * Q * Q), *msk = ms_malloc((size_t)N * Q * Q);
    int64_t *lab = ms_malloc((size_t)N * sizeof(int64_t));
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < Q * Q; k++) {
            img[(size_t)i * Q * Q + k] = (uint8_t)((i * 7 + k) % 253);
            msk[(size_t)i * Q * Q + k] = (uint8_t)((i + k) % 3);
        }
        lab[i] = i % 5 == 0 ? -1 : i % 4;
    }
    const hsize_t idims[4] = { (hsize_t)N, 1, Q, Q }, ichunk[4] = { 2048, 1, Q, Q };
    const hsize_t mdims[3] = { (hsize_t)N, Q, Q }, mchunk[3] = { 2048, Q, Q }, ldims[1] = { (hsize_t)N };
    hid_t pl = H5Pcreate(H5P_DATASET_CREATE), sp = H5Screate_simple(4, idims, NULL);
    H5Pset_chunk(pl, 4, ichunk);
    H5Pset_deflate(pl, 4);
    hid_t d = H5Dcreate2(f, "images", H5T_STD_U8LE, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
    CHECK(H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, img) >= 0);
    H5Dclose(d); H5Sclose(sp); H5Pclose(pl);
    pl = H5Pcreate(H5P_DATASET_CREATE);
    sp = H5Screate_simple(3, mdims, NULL);
    H5Pset_chunk(pl, 3, mchunk);
    H5Pset_deflate(pl, 4);
    d = H5Dcreate2(f, "masks", H5T_STD_U8LE, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
    CHECK(H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, msk) >= 0);
    H5Dclose(d); H5Sclose(sp); H5Pclose(pl);
    sp = H5Screate_simple(1, ldims, NULL);
    d = H5Dcreate2(f, "labels", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, lab) >= 0);
    H5Dclose(d); H5Sclose(sp);
    hid_t as = H5Screate(H5S_SCALAR), t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(CORPUS_FORMAT) + 1);
    hid_t a = H5Acreate2(f, "format", t, as, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, CORPUS_FORMAT);
    H5Aclose(a);
    int version = CORPUS_VERSION;
    a = H5Acreate2(f, "version", H5T_STD_I32LE, as, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_INT, &version);
    H5Aclose(a); H5Tclose(t); H5Sclose(as);
    H5Fclose(f);
    free(img); free(msk); free(lab);
}

/* corpus_read_rows packs exactly the rows corpus_read returns one by one, for
 * the writer's corpus and for big gzip chunks (the chunk-cache path);
 * corpus_read_labels / corpus_read_domains read everything, and name the file
 * when the dataset is absent. */
static void test_read_rows_and_whole_columns(void)
{
    char path[256], big[256];
    snprintf(path, sizeof path, "/tmp/medssl_test_loader_rows.%ld.h5", (long)getpid());
    snprintf(big, sizeof big, "/tmp/medssl_test_loader_rows_gz.%ld.h5", (long)getpid());
    write_corpus(path, 3000);
    write_big_chunk_corpus(big, 5000);
    const char *paths[2] = { path, big };
    for (int p = 0; p < 2; p++) {
        ms_corpus c;
        CHECK(corpus_open(&c, paths[p], NULL) == 0);
        const int P = c.C * c.H * c.W, HW = c.H * c.W, has_m = corpus_has_masks(&c), has_d = corpus_has_domains(&c);
        TU_CHECK(p == 0 || c.chunk_n == 2048);
        int64_t rows[300];
        long long n = 0;
        ms_rng g = rng_stream(rng_key(3, 0, (uint64_t)p, RNG_DATA));
        for (long long i = 0; i < c.N && n < 300; i++) /* stretches of 1..3 rows with gaps */
            if (rng_below(&g, 100) < 3) {
                for (int k = (int)rng_below(&g, 3); k >= 0 && i < c.N && n < 300; k--) rows[n++] = i++;
            }
        float *img = ms_malloc((size_t)n * P * sizeof(float)), *one = ms_malloc((size_t)P * sizeof(float));
        int32_t *lab = ms_malloc((size_t)n * sizeof(int32_t)), *dom = has_d ? ms_malloc((size_t)n * sizeof(int32_t)) : NULL;
        uint8_t *msk = has_m ? ms_malloc((size_t)n * HW) : NULL, *one_m = ms_malloc((size_t)HW);
        TU_CHECK(corpus_read_rows(&c, rows, n, img, lab, msk, dom) == 0);
        int same = 1;
        for (long long j = 0; j < n; j++) {
            int32_t l1, d1 = 0;
            CHECK(corpus_read(&c, rows[j], 1, one, &l1, has_m ? one_m : NULL, has_d ? &d1 : NULL) == 0);
            same &= memcmp(one, img + (size_t)j * P, (size_t)P * sizeof(float)) == 0 && l1 == lab[j];
            if (has_m) same &= memcmp(one_m, msk + (size_t)j * HW, (size_t)HW) == 0;
            if (has_d) same &= d1 == dom[j];
        }
        TU_CHECKF(same && n > 100, "%s: %lld gathered rows differ from single reads", paths[p], n);
        int32_t *all = ms_malloc((size_t)c.N * sizeof(int32_t));
        TU_CHECK(corpus_read_labels(&c, all) == 0);
        int ok = 1;
        for (long long i = 0; i < c.N; i++) ok &= all[i] == (p == 0 ? i % 7 : i % 5 == 0 ? -1 : i % 4);
        TU_CHECK(ok);
        if (has_d) {
            TU_CHECK(corpus_read_domains(&c, all) == 0);
            for (long long i = 0; i < c.N; i++) ok &= all[i] == i % 3;
            TU_CHECK(ok);
        } else {
            TU_CHECK(corpus_read_domains(&c, all) == MS_ERR_INPUT && strstr(ms_last_error(), paths[p]) &&
                     strstr(ms_last_error(), "/domains"));
        }
        free(img); free(one); free(lab); free(dom); free(msk); free(one_m); free(all);
        corpus_close(&c);
    }
    unlink(path);
    unlink(big);
}

/* Copies of a sample get their own augmentation (copy 0 the key of a run
 * without repeats, copy k loader_copy_key of it) and, with a buffer much
 * larger than the batch, land in different batches. */
static void test_copies_augmented_and_spread(void)
{
    char path[256];
    snprintf(path, sizeof path, "/tmp/medssl_test_loader_copies.%ld.h5", (long)getpid());
    enum { N = 400, R = 4, P = S * S };
    write_corpus(path, N);
    ms_corpus c;
    CHECK(corpus_open(&c, path, NULL) == 0);
    ms_augment aug;
    CHECK(augment_parse(&aug, "flip:h,shift:0.1,noise:0.05") == 0);
    uint16_t *rep = ms_malloc(N * sizeof(uint16_t));
    for (int i = 0; i < N; i++) rep[i] = R;
    ms_loader_cfg cfg = cfg_of(0, 1, SPLIT_ALL, rep);
    cfg.batch = 8;
    cfg.buffer = 256;
    cfg.augment = &aug;
    ms_loader *L;
    CHECK(loader_open(&L, &c, &cfg) == 0);
    CHECK(loader_start_epoch(L, 1) == 0);
    float *got = ms_malloc((size_t)N * R * P * sizeof(float));
    long long *batch_of = ms_malloc((size_t)N * R * sizeof(long long));
    for (long long s = 0; s < loader_steps(L); s++) {
        ms_batch b;
        TU_CHECK(loader_next(L, &b) == 0);
        for (int i = 0; i < b.n; i++) {
            const long long slot = b.index[i] * R + b.copy[i];
            memcpy(got + (size_t)slot * P, b.images + (size_t)i * P, P * sizeof(float));
            batch_of[slot] = s;
        }
    }
    loader_close(L);
    float *raw = ms_malloc(P * sizeof(float)), *ref = ms_malloc(P * sizeof(float));
    float *work = ms_aligned(augment_workspace_size(1, S, S) * sizeof(float));
    int copy0_as_before = 1, copies_as_keyed = 1, copies_differ = 1, all_in_one = 0;
    double spread = 0;
    for (int i = 0; i < N; i++) {
        CHECK(corpus_read(&c, i, 1, raw, NULL, NULL, NULL) == 0);
        const uint64_t key = rng_key(cfg.seed, 1, (uint64_t)i, RNG_AUGMENT);
        TU_CHECK(loader_copy_key(key, 0) == key);
        for (int k = 0; k < R; k++) {
            memcpy(ref, raw, P * sizeof(float));
            augment_apply(&aug, ref, NULL, 1, S, S, loader_copy_key(key, k), work);
            const int same = memcmp(ref, got + ((size_t)i * R + k) * P, P * sizeof(float)) == 0;
            if (k == 0) copy0_as_before &= same;
            else copies_as_keyed &= same;
            for (int j = 0; j < k; j++)
                copies_differ &= memcmp(got + ((size_t)i * R + j) * P, got + ((size_t)i * R + k) * P, P * sizeof(float)) != 0;
        }
        int distinct = 0;
        for (int k = 0; k < R; k++) {
            int seen_before = 0;
            for (int j = 0; j < k; j++) seen_before |= batch_of[i * R + j] == batch_of[i * R + k];
            distinct += !seen_before;
        }
        all_in_one += distinct == 1;
        spread += distinct;
    }
    TU_CHECK(copy0_as_before);
    TU_CHECK(copies_as_keyed);
    TU_CHECK(copies_differ);
    TU_CHECKF(all_in_one == 0, "%d of %d samples had all %d copies in one batch", all_in_one, N, R);
    TU_CHECKF(spread / N > 3.5, "copies spread over %.2f batches on average", spread / N);
    free(raw); free(ref); free(work); free(got); free(batch_of); free(rep);
    corpus_close(&c);
    unlink(path);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* Without repeat counts the stream (order, labels, domains, pixels) is the
 * one of the loader before repeat counts existed: the fingerprint below was
 * computed with that code (commit d620c38) on the same corpus and settings. */
#define FINGERPRINT_BEFORE_REPEAT 0x399b1d2275d22c27ull
static void test_stream_unchanged_without_repeat(void)
{
    char path[256];
    snprintf(path, sizeof path, "/tmp/medssl_test_loader_fp.%ld.h5", (long)getpid());
    write_corpus(path, 4000);
    ms_corpus c;
    CHECK(corpus_open(&c, path, NULL) == 0);
    uint64_t h = 1469598103934665603ull;
    for (int split = SPLIT_ALL; split <= SPLIT_VAL; split++)
        for (int r = 0; r < 2; r++) {
            ms_loader_cfg cfg = { .rank = r, .size = 2, .seed = 3, .batch = 16, .buffer = 100, .split = (ms_split)split,
                                  .val_fraction = 0.3f, .shuffle = split != SPLIT_VAL, .want_labels = 1,
                                  .want_domains = 1 };
            ms_loader *L;
            CHECK(loader_open(&L, &c, &cfg) == 0);
            for (long e = 0; e < 2; e++) {
                CHECK(loader_start_epoch(L, e) == 0);
                for (long long s = 0; s < loader_steps(L); s++) {
                    ms_batch b;
                    CHECK(loader_next(L, &b) == 0);
                    h = fnv(h, &b.n, sizeof b.n);
                    h = fnv(h, b.index, (size_t)b.n * sizeof *b.index);
                    h = fnv(h, b.labels, (size_t)b.n * sizeof *b.labels);
                    h = fnv(h, b.domains, (size_t)b.n * sizeof *b.domains);
                    h = fnv(h, b.images, (size_t)b.n * S * S * sizeof(float));
                }
            }
            loader_close(L);
        }
    TU_CHECKF(h == FINGERPRINT_BEFORE_REPEAT, "fingerprint %016llx", (unsigned long long)h);
    corpus_close(&c);
    unlink(path);
}

int main(void)
{
    TU_RUN(test_plan_repeat_exactly_once);
    TU_RUN(test_plan_null_is_all_ones);
    TU_RUN(test_repeat_labeled);
    TU_RUN(test_repeat_balance_by_hand);
    TU_RUN(test_stream_repeat);
    TU_RUN(test_sparse_selection);
    TU_RUN(test_copies_augmented_and_spread);
    TU_RUN(test_read_rows_and_whole_columns);
    TU_RUN(test_stream_unchanged_without_repeat);
    return tu_summary();
}
