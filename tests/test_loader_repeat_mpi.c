/* test_loader_repeat_mpi — repeat counts and the HDF5 driver on real ranks
 * (ctest runs it with mpirun -np 2 and -np 3; it also runs alone).
 *
 * MPI is initialised with MPI_THREAD_MULTIPLE, as training needs for MPI-IO
 * reads from the prefetch thread. Rank 0 writes a corpus with imbalanced
 * labels (a third unlabeled) and domains; then, for each driver choice
 * (automatic, MEDSSL_HDF5_DRIVER=sec2, =mpio), every rank opens it (checking
 * the driver picked), reads /labels and /domains whole, and streams epochs
 * with random repeat counts, class-balanced counts and a 1% selection, the
 * main thread running a non-blocking all-reduce per batch meanwhile (as the
 * gradient sync does while the loader prefetches). Every rank gathers the
 * (sample, copy) counts: each copy exactly once across the ranks, equal step
 * counts, balanced class totals exact, labels/domains/pixels right. */
#include "medssl/common.h"
#include "medssl/corpus.h"
#include "medssl/dist.h"
#include "medssl/loader.h"
#include "medssl/rng.h"
#include "testutil.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { N = 3001, S = 32, K = 3, MAXREP = 10 }; /* 1x32x32 uint8: 1024 per chunk, 3 chunks */

static int RANK, SIZE, PROVIDED;
static ms_dist D; /* the world, for corpus_open */
static char PATH[256];

static int32_t label_of(int i) { return i % 3 == 0 ? -1 : i % 10 < 7 ? 0 : i % 10 < 9 ? 1 : 2; }
static int32_t domain_of(int i) { return (i / 7) % 4; }
static uint8_t pixel_of(int i, int k) { return (uint8_t)((i * 13 + k * 7) % 253); }

static void write_corpus(void)
{
    ms_corpus_writer w;
    CHECK(corpus_writer_create(&w, PATH, 1, S, S, DTYPE_U8, CORPUS_WITH_LABELS | CORPUS_WITH_DOMAINS, 0, NULL) == 0);
    uint8_t img[S * S];
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < S * S; k++) img[k] = pixel_of(i, k);
        int32_t lab = label_of(i), dom = domain_of(i);
        CHECK(corpus_writer_append(&w, 1, img, &lab, NULL, &dom) == 0);
    }
    CHECK(corpus_writer_finish(&w) == 0);
}

/* One epoch on every rank; returns the (sample, copy) counts summed over the
 * ranks into all (N*MAXREP). */
static void stream_epoch(ms_corpus *c, const uint16_t *rep, ms_split split, long epoch, int *all)
{
    ms_loader_cfg cfg = { .rank = RANK, .size = SIZE, .seed = 21, .batch = 16, .buffer = 200, .split = split,
                          .val_fraction = 0.25f, .shuffle = 1, .want_labels = 1, .want_domains = 1, .repeat = rep };
    ms_loader *L;
    CHECK(loader_open(&L, c, &cfg) == 0);
    CHECK(loader_start_epoch(L, epoch) == 0);
    long long steps = loader_steps(L), lo = 0, hi = 0;
    MPI_Allreduce(&steps, &lo, 1, MPI_LONG_LONG, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&steps, &hi, 1, MPI_LONG_LONG, MPI_MAX, MPI_COMM_WORLD);
    TU_CHECKF(lo == steps && hi == steps, "rank %d: %lld steps, others %lld..%lld", RANK, steps, lo, hi);
    int *counts = ms_calloc((size_t)N * MAXREP, sizeof(int)), bad_rows = 0;
    float grad[4096], sum[4096];
    for (long long s = 0; s < steps; s++) {
        /* a "gradient all-reduce" in flight while the prefetch thread reads */
        for (int k = 0; k < 4096; k++) grad[k] = (float)(RANK + k);
        MPI_Request req;
        MPI_Iallreduce(grad, sum, 4096, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req);
        ms_batch b;
        TU_CHECK(loader_next(L, &b) == 0);
        for (int i = 0; i < b.n; i++) {
            const int idx = (int)b.index[i], k = b.copy[i];
            CHECK(idx >= 0 && idx < N && k >= 0 && k < MAXREP);
            counts[idx * MAXREP + k]++;
            int ok = b.labels[i] == label_of(idx) && b.domains[i] == domain_of(idx);
            for (int p = 0; p < S * S; p += 41)
                ok &= b.images[(size_t)i * S * S + p] == (float)pixel_of(idx, p) * (1.0f / 255.0f);
            bad_rows += !ok;
        }
        MPI_Wait(&req, MPI_STATUS_IGNORE);
        TU_CHECK(sum[7] == (float)(SIZE * (SIZE - 1) / 2 + SIZE * 7));
    }
    TU_CHECKF(bad_rows == 0, "rank %d: %d rows with wrong labels, domains or pixels", RANK, bad_rows);
    loader_close(L);
    MPI_Allreduce(counts, all, N * MAXREP, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    free(counts);
}

static void check_exact(const int *all, const uint16_t *rep, ms_split split, const char *what)
{
    int exact = 1;
    for (int i = 0; i < N; i++) {
        const int w = loader_in_split(21, 0.25f, split, i) ? rep[i] : 0;
        for (int k = 0; k < MAXREP; k++) exact &= all[i * MAXREP + k] == (k < w);
    }
    TU_CHECKF(exact, "rank %d of %d, %s, split %d: a copy missed or repeated", RANK, SIZE, what, split);
}

static void run_with_driver(const char *env)
{
    if (env) setenv("MEDSSL_HDF5_DRIVER", env, 1);
    else unsetenv("MEDSSL_HDF5_DRIVER");
    const char *expect = env ? env : SIZE > 1 && PROVIDED == MPI_THREAD_MULTIPLE ? "mpio" : "sec2";
    ms_corpus c;
    CHECK(corpus_open(&c, PATH, &D) == 0);
    TU_CHECKF(strcmp(c.driver, expect) == 0, "driver %s, expected %s", c.driver, expect);

    int32_t *labels = ms_malloc(N * sizeof(int32_t)), *domains = ms_malloc(N * sizeof(int32_t));
    TU_CHECK(corpus_read_labels(&c, labels) == 0 && corpus_read_domains(&c, domains) == 0);
    int read_ok = 1;
    for (int i = 0; i < N; i++) read_ok &= labels[i] == label_of(i) && domains[i] == domain_of(i);
    TU_CHECK(read_ok);

    uint16_t *rep = ms_malloc(N * sizeof(uint16_t));
    int *all = ms_malloc((size_t)N * MAXREP * sizeof(int));
    /* random counts 0..5 */
    ms_rng g = rng_stream(rng_key(5, 0, 0, RNG_DATA));
    for (int i = 0; i < N; i++) rep[i] = (uint16_t)rng_below(&g, 6);
    for (long epoch = 0; epoch < 2; epoch++)
        for (int split = SPLIT_ALL; split <= SPLIT_VAL; split++) {
            stream_epoch(&c, rep, (ms_split)split, epoch, all);
            check_exact(all, rep, (ms_split)split, "random repeats");
        }

    /* class-balanced among the labeled samples of the training split: every
     * class totals exactly the largest class's count */
    int32_t *train_labels = ms_malloc(N * sizeof(int32_t));
    long long n_c[K] = { 0 }, T = 0;
    for (int i = 0; i < N; i++) {
        train_labels[i] = loader_in_split(21, 0.25f, SPLIT_TRAIN, i) ? labels[i] : -1;
        if (train_labels[i] >= 0) n_c[train_labels[i]]++;
    }
    for (int k = 0; k < K; k++) T = n_c[k] > T ? n_c[k] : T;
    TU_CHECK(n_c[0] > 2 * n_c[1] && n_c[1] > 2 * n_c[2]); /* imbalanced */
    TU_CHECK(loader_repeat_balance(train_labels, N, K, 9, rep) == 0);
    stream_epoch(&c, rep, SPLIT_TRAIN, 0, all);
    check_exact(all, rep, SPLIT_TRAIN, "balanced");
    long long total[K] = { 0 }, unlabeled = 0;
    for (int i = 0; i < N; i++)
        for (int k = 0; k < MAXREP; k++) {
            if (labels[i] >= 0) total[labels[i]] += all[i * MAXREP + k];
            else unlabeled += all[i * MAXREP + k];
        }
    for (int k = 0; k < K; k++) TU_CHECKF(total[k] == T, "class %d: %lld draws, expected %lld", k, total[k], T);
    TU_CHECK(unlabeled == 0);

    /* a 1% selection: the labeled samples of domain 2 at every 25th index */
    for (int i = 0; i < N; i++) rep[i] = labels[i] >= 0 && domains[i] == 2 && i % 25 == 1 ? 2 : 0;
    stream_epoch(&c, rep, SPLIT_ALL, 1, all);
    check_exact(all, rep, SPLIT_ALL, "sparse");

    free(train_labels);
    free(rep);
    free(all);
    free(labels);
    free(domains);
    corpus_close(&c); /* collective under MPI-IO: every rank closes */
}

static void test_driver_auto(void) { run_with_driver(NULL); }
static void test_driver_sec2(void) { run_with_driver("sec2"); }
static void test_driver_mpio(void) { run_with_driver("mpio"); }

int main(int argc, char **argv)
{
    CHECK(MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &PROVIDED) == MPI_SUCCESS);
    MPI_Comm_rank(MPI_COMM_WORLD, &RANK);
    MPI_Comm_size(MPI_COMM_WORLD, &SIZE);
    CHECK(dist_init(&D, &argc, &argv) == MS_OK); /* MPI is running: fills D with the world */
    if (RANK == 0 && PROVIDED != MPI_THREAD_MULTIPLE)
        fprintf(stderr, "test_loader_repeat_mpi: MPI provides thread level %d only\n", PROVIDED);
    long pid = (long)getpid();
    MPI_Bcast(&pid, 1, MPI_LONG, 0, MPI_COMM_WORLD);
    snprintf(PATH, sizeof PATH, "/tmp/medssl_test_loader_repeat_mpi.%ld.h5", pid);
    if (RANK == 0) write_corpus();
    MPI_Barrier(MPI_COMM_WORLD);
    TU_RUN(test_driver_auto);
    TU_RUN(test_driver_sec2);
    if (PROVIDED == MPI_THREAD_MULTIPLE) TU_RUN(test_driver_mpio);
    int failed = tu_cases_failed, any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Barrier(MPI_COMM_WORLD);
    if (RANK == 0) unlink(PATH);
    int rc = RANK == 0 ? tu_summary() : 0;
    MPI_Finalize();
    return any ? 1 : rc;
}
