/* test_loader_mpi — real ranks (ctest runs it with mpirun -np 2 and -np 3):
 * rank 0 writes a corpus whose size is a multiple of nothing convenient; every
 * rank streams its share for two epochs (train split, and all samples); rank 0
 * gathers the indices and checks exactly-once coverage and equal step counts,
 * and that the HDF5 driver follows the MPI thread level. */
#include "medssl/common.h"
#include "medssl/corpus.h"
#include "medssl/dist.h"
#include "medssl/loader.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static ms_dist D;
static char PATH[256];
enum { N = 211 };

static void check_epoch(ms_corpus *c, ms_split split, long epoch)
{
    ms_loader_cfg cfg = { .rank = D.rank, .size = D.size, .seed = 5, .batch = 8, .buffer = 30, .split = split,
                          .val_fraction = 0.25f, .shuffle = 1, .want_labels = 1 };
    ms_loader *L;
    CHECK(loader_open(&L, c, &cfg) == 0);
    CHECK(loader_start_epoch(L, epoch) == 0);
    long long steps = loader_steps(L), max_steps = 0;
    MPI_Allreduce(&steps, &max_steps, 1, MPI_LONG_LONG, MPI_MAX, MPI_COMM_WORLD);
    TU_CHECK(steps == max_steps);
    int counts[N] = { 0 }, all[N];
    for (long long s = 0; s < steps; s++) {
        ms_batch b;
        TU_CHECK(loader_next(L, &b) == 0);
        for (int i = 0; i < b.n; i++) {
            counts[b.index[i]]++;
            TU_CHECK(b.labels[i] == (int32_t)(b.index[i] % 5));
        }
    }
    loader_close(L);
    MPI_Allreduce(counts, all, N, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    int once = 1;
    for (int i = 0; i < N; i++) once &= all[i] == loader_in_split(5, 0.25f, split, i);
    TU_CHECKF(once, "rank %d of %d, split %d, epoch %ld: a sample missed or repeated", D.rank, D.size, split, epoch);
}

static void test_shards_cover_exactly_once(void)
{
    ms_corpus c;
    CHECK(corpus_open(&c, PATH, &D) == 0);
    /* the driver: MPI-IO only with more than one rank and MPI_THREAD_MULTIPLE
     * (the loader reads from its prefetch thread), unless overridden */
    int level = MPI_THREAD_SINGLE;
    MPI_Query_thread(&level);
    const char *env = getenv("MEDSSL_HDF5_DRIVER");
    const char *expect = env && *env && strcmp(env, "auto") != 0 ? env
                         : D.size > 1 && level == MPI_THREAD_MULTIPLE ? "mpio" : "sec2";
    TU_CHECKF(strcmp(c.driver, expect) == 0, "rank %d: driver %s, expected %s", D.rank, c.driver, expect);
    for (long epoch = 0; epoch < 2; epoch++) {
        check_epoch(&c, SPLIT_ALL, epoch);
        check_epoch(&c, SPLIT_TRAIN, epoch);
        check_epoch(&c, SPLIT_VAL, epoch);
    }
    corpus_close(&c);
}

int main(int argc, char **argv)
{
    if (dist_init(&D, &argc, &argv)) return 1;
    long pid = (long)getpid();
    MPI_Bcast(&pid, 1, MPI_LONG, 0, MPI_COMM_WORLD);
    snprintf(PATH, sizeof PATH, "/tmp/medssl_test_loader_mpi.%ld.h5", pid);
    if (D.rank == 0) {
        ms_corpus_writer w;
        CHECK(corpus_writer_create(&w, PATH, 1, 96, 96, DTYPE_U8, CORPUS_WITH_LABELS, 0, NULL) == 0); /* 113 per chunk */
        uint8_t img[96 * 96];
        for (int i = 0; i < N; i++) {
            memset(img, i, sizeof img);
            int32_t lab = i % 5;
            CHECK(corpus_writer_append(&w, 1, img, &lab, NULL, NULL) == 0);
        }
        CHECK(corpus_writer_finish(&w) == 0);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    TU_RUN(test_shards_cover_exactly_once);
    int failed = tu_cases_failed, any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Barrier(MPI_COMM_WORLD);
    if (D.rank == 0) unlink(PATH);
    int rc = D.rank == 0 ? tu_summary() : 0;
    dist_finalize(&D);
    return any ? 1 : rc;
}
