/* bench_loader — what the sharded streaming loader costs on one rank.
 *
 * (a) Throughput: a generated corpus of 1x64x64 uint8 images (default 20,000,
 *     written to --dir, deleted after) is streamed for one epoch, batch 64,
 *     shuffle buffer 4096, with no augmentation, with the list AUG_FULL and
 *     with AUG_FULL plus elastic:34:4; images/s counts the whole epoch, the
 *     first batch's latency (filling the shuffle buffer) included. Then, for
 *     each list, a fake training step of fixed length runs between batches
 *     and loader_next's blocking time (the consumer's wait) is summed: the
 *     first call (buffer fill) separately from the steady state.
 *       sleep: the step sleeps --step-ms (1070 ms = 64 images at the reference
 *              encoder's ~60 images/s), leaving both cores to the prefetch thread;
 *       busy:  the step is a fixed amount of arithmetic on one thread per core
 *              (calibrated to last --step-ms on an idle machine), so the prefetch
 *              thread competes with it for the cores as it does with a real
 *              training step; the mean step with the loader is reported beside
 *              the mean of the same steps run just before without it.
 *     Under mpirun every rank streams its share of the same epoch (rank 0
 *     writes the corpus): images/s is the whole corpus over the slowest
 *     rank's epoch. --drivers sec2,mpio repeats (a) once per HDF5 driver
 *     (MEDSSL_HDF5_DRIVER, see corpus.h); --allreduce-floats F runs a
 *     non-blocking all-reduce of F floats per batch on the main thread while
 *     the prefetch thread reads (the gradient sync of a training step);
 *     --no-augment runs (a) without augmentation only (the reading path);
 *     --thread-level funneled|multiple is what MPI_Init_thread asks for
 *     (default multiple, which MPI-IO needs; funneled is what dist_init asks
 *     for today, and makes corpus_open fall back to sec2).
 * The machine may be shared: the 1-minute load average before and after is
 * reported with the figures.
 * (b) Memory: corpora of 1x128x128 uint8 of increasing size (default 0.25, 1
 *     and 2 GiB, written to --dir, deleted after) are each streamed for one
 *     epoch (no augmentation) by a fresh child process (this program with
 *     --rss-child) with the same shuffle buffer; the child reports its RSS
 *     before the loader opens and its peak after the epoch (VmHWM, and
 *     getrusage's ru_maxrss, which after exec also covers the parent's peak).
 *     Bounded memory means the peak does not grow with the corpus. One rank
 *     only (skipped under mpirun with more than one rank).
 * (c) Sparse selections: a corpus of --sparse-images (default 60,000)
 *     1x64x64 uint8 images with repeat counts selecting a fraction of them
 *     (1 per selected sample, picked by hash): for each fraction, one loader
 *     epoch (no augmentation), and this rank's planned runs read directly
 *     both ways the loader can: whole runs (corpus_read: the selected samples
 *     and everything between them in the chunk) and gathered (corpus_read_rows:
 *     the selected rows only). The loader gathers when under half of a run is
 *     selected. The corpus is read from the page cache (it was just written).
 *
 * Prints a table, or one JSON object with --json (logs go to stderr). Speed
 * is measured here, never asserted in tests.
 *
 *   bench_loader [--json] [--images N] [--batch B] [--buffer M] [--steps S]
 *                [--step-ms T] [--rss-gib 0.25,1,2] [--dir D] [--no-steps] [--no-rss]
 *                [--drivers auto|sec2|mpio,..] [--allreduce-floats F] [--thread-level funneled|multiple]
 *                [--sparse-images N] [--no-sparse] [--no-augment]
 */
#include "medssl/augment.h"
#include "medssl/common.h"
#include "medssl/corpus.h"
#include "medssl/dist.h"
#include "medssl/list.h"
#include "medssl/loader.h"
#include "medssl/rng.h"

#include <mpi.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define AUG_FULL "flip:h,rotate:15,crop:0.8,shift:0.1,scale:0.9-1.1,noise:0.05"
#define AUG_ELASTIC AUG_FULL ",elastic:34:4"
#define MAX_RSS_SIZES 8
#define N_AUG 3
#define BUSY_MAX_THREADS 64
#define MAX_DRIVERS 3
#define N_SPARSE 7

static const double sparse_fractions[N_SPARSE] = { 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75 };

static const char *const aug_lists[N_AUG] = { "none", AUG_FULL, AUG_ELASTIC };

typedef struct {
    int json, images, batch, steps, step_ms, no_steps, no_rss, no_sparse, sparse_images;
    int n_aug;                        /* op lists of (a): N_AUG, or 1 (none) with --no-augment */
    long long buffer;
    const char *dir;
    double rss_gib[MAX_RSS_SIZES];
    int n_rss;
    const char *drivers[MAX_DRIVERS]; /* MEDSSL_HDF5_DRIVER per pass of (a) */
    int n_drivers;
    long allreduce_floats;            /* per batch during (a)'s epochs, 0 = none */
    int thread_level, provided;       /* asked of MPI_Init_thread, given */
    int rank, size;
    ms_dist dist;                     /* the world: the ranks corpus_open opens over */
    long pid;                         /* rank 0's, names the corpora */
    double load_before, load_after; /* 1-minute load average around the run */
} bench_opts;

typedef struct {
    int steps;
    double first_wait_s, wait_s, max_wait_s; /* wait_s, max_wait_s: steps 2..S */
    double step_alone_s, step_s;             /* busy: mean step without the loader (run just before), with it */
    double cpu_s;                            /* sleep: process CPU time over the S steps = the loader's */
} step_result;

typedef struct {
    double images_per_s, first_batch_s, epoch_s; /* all ranks: epoch_s and first_batch_s of the slowest */
    long long seen;                              /* all ranks */
    step_result sleep, busy;
} aug_result;

typedef struct {
    char driver[8];          /* what corpus_open chose */
    aug_result aug[N_AUG];
} driver_result;

typedef struct {
    double fraction;
    long long selected, runs;          /* selected samples (all ranks); this rank's runs (chunks read) */
    long long whole_rows;              /* rows a whole-run read touches on this rank */
    double epoch_s, images_per_s;      /* loader epoch: slowest rank; selected / epoch_s */
    double whole_s, gather_s;          /* this rank's runs read whole / gathered (rank 0) */
} sparse_result;

typedef struct {
    double gib, write_s, epoch_s;
    long long images, seen;
    long base_kib, hwm_kib, maxrss_kib; /* VmRSS before the loader, VmHWM and ru_maxrss after the epoch */
} rss_result;

/* ---- corpora ---------------------------------------------------------------------- */

/* N images of 1xSxS uint8: a per-image gradient plus noise (content does not
 * change the loader's cost); written in blocks of the writer's chunk. */
static int write_corpus(const char *path, long long N, int S)
{
    ms_corpus_writer w;
    int rc = corpus_writer_create(&w, path, 1, S, S, DTYPE_U8, CORPUS_WITH_LABELS, 0, NULL);
    if (rc) return rc;
    const long long B = w.chunk_n;
    uint8_t *img = ms_malloc((size_t)B * S * S);
    int32_t *lab = ms_malloc((size_t)B * sizeof(int32_t));
    for (long long n0 = 0; n0 < N && !rc; n0 += B) {
        const long long n = N - n0 < B ? N - n0 : B;
        for (long long i = 0; i < n; i++) {
            ms_rng r = rng_stream(rng_key(1, 0, (uint64_t)(n0 + i), RNG_DATA));
            const int gx = (int)rng_below(&r, 5), gy = (int)rng_below(&r, 5);
            uint8_t *p = img + (size_t)i * S * S;
            for (int y = 0; y < S; y++)
                for (int x = 0; x < S; x++) p[y * S + x] = (uint8_t)((gx * x + gy * y + (int)rng_below(&r, 32)) & 255);
            lab[i] = (int32_t)((n0 + i) % 10);
        }
        rc = corpus_writer_append(&w, n, img, lab, NULL, NULL);
    }
    free(img);
    free(lab);
    if (rc) {
        corpus_writer_abort(&w);
        return rc;
    }
    return corpus_writer_finish(&w);
}

/* ---- memory ----------------------------------------------------------------------- */

/* ru_maxrss (KiB on Linux). After exec it is at least the peak of the process
 * image that exec'd (Linux keeps the old image's high-water mark), so the
 * child below also reads VmHWM, the peak of its own image only. */
static long peak_rss_kib(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss;
}

/* A "Key:  N kB" line of /proc/self/status (VmRSS, VmHWM), or -1. */
static long proc_status_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0 && line[n] == ':') {
            v = strtol(line + n + 1, NULL, 10);
            break;
        }
    if (f) fclose(f);
    return v;
}

static double cpu_seconds(void) /* user + system time of the whole process */
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + 1e-6 * (double)u.ru_utime.tv_usec + (double)u.ru_stime.tv_sec +
           1e-6 * (double)u.ru_stime.tv_usec;
}

static double load_average(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1) l = -1;
        fclose(f);
    }
    return l;
}

/* ---- fake training steps ------------------------------------------------------------ */

static void sleep_s(double s)
{
    struct timespec t = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
    while (nanosleep(&t, &t) != 0) {}
}

typedef struct {
    long long iters;
    double sink;
} busy_arg;

static void *busy_main(void *p)
{
    busy_arg *a = p;
    double x = 1.0, y = 0.5;
    for (long long i = 0; i < a->iters; i++) {
        x = x * 0.999999 + y;
        y = y * 0.999998 + 1e-9 * x;
    }
    a->sink = x + y;
    return NULL;
}

/* A fixed amount of arithmetic on `threads` threads; returns its duration. */
static double busy_step(int threads, long long iters)
{
    pthread_t t[BUSY_MAX_THREADS];
    busy_arg a[BUSY_MAX_THREADS];
    CHECK(threads >= 1 && threads <= BUSY_MAX_THREADS);
    double t0 = ms_now();
    for (int k = 0; k < threads; k++) {
        a[k].iters = iters;
        CHECK(pthread_create(&t[k], NULL, busy_main, &a[k]) == 0);
    }
    for (int k = 0; k < threads; k++) pthread_join(t[k], NULL);
    return ms_now() - t0;
}

/* Iterations per thread that make busy_step last `seconds` on an idle machine. */
static long long busy_calibrate(int threads, double seconds, double *alone_s)
{
    long long iters = 1000000;
    while (busy_step(threads, iters) < 0.1) iters *= 2;
    double best = 1e30;
    for (int k = 0; k < 3; k++) {
        double t = busy_step(threads, iters);
        if (t < best) best = t;
    }
    iters = (long long)((double)iters * seconds / best);
    best = 1e30;
    for (int k = 0; k < 3; k++) {
        double t = busy_step(threads, iters);
        if (t < best) best = t;
    }
    *alone_s = best;
    return iters;
}

/* ---- (a) throughput and consumer wait ---------------------------------------------- */

static ms_loader_cfg loader_cfg(const bench_opts *o, const ms_augment *aug)
{
    ms_loader_cfg cfg = { .rank = o->rank, .size = o->size, .seed = 1, .batch = o->batch, .buffer = o->buffer,
                          .split = SPLIT_ALL, .shuffle = 1, .augment = aug, .want_labels = 1 };
    return cfg;
}

/* Any rank's failure fails every rank (so none waits in a collective). */
static const ms_dist *world; /* every rank (main sets it) */

static int agree(int rc)
{
    const int worst = dist_max_int(world, rc);
    return worst ? (rc ? rc : MS_FAIL(worst, "another rank failed")) : MS_OK;
}

static double max_over_ranks(double x) { return dist_max_double(world, x); }

/* One epoch of this rank's share, with o->allreduce_floats floats all-reduced
 * per batch (started before loader_next, waited after, as a training step
 * overlaps its gradient sync with the prefetch of the next batch). */
static int measure_epoch(const bench_opts *o, ms_corpus *c, const ms_augment *aug, aug_result *r)
{
    ms_loader_cfg cfg = loader_cfg(o, aug);
    ms_loader *L;
    int rc = loader_open(&L, c, &cfg);
    if (rc) return rc;
    float *grad = o->allreduce_floats ? ms_calloc((size_t)o->allreduce_floats, sizeof(float)) : NULL;
    dist_barrier(world);
    double t0 = ms_now();
    rc = loader_start_epoch(L, 0);
    long long steps = rc ? 0 : loader_steps(L), seen = 0;
    for (long long s = 0; s < steps && !rc; s++) {
        ms_dist_pending req;
        if (grad) dist_sum_floats_start(world, grad, (size_t)o->allreduce_floats, &req);
        ms_batch b;
        rc = loader_next(L, &b);
        if (grad) dist_wait(&req);
        if (s == 0) r->first_batch_s = ms_now() - t0;
        seen += rc ? 0 : b.n;
    }
    const double epoch_s = ms_now() - t0;
    loader_close(L);
    free(grad);
    rc = agree(rc);
    r->seen = dist_sum_ll(world, seen);
    r->epoch_s = max_over_ranks(epoch_s);
    r->first_batch_s = max_over_ranks(r->first_batch_s);
    r->images_per_s = (double)r->seen / r->epoch_s;
    if (!rc && r->seen != c->N)
        rc = MS_FAIL(MS_ERR_RUNTIME, "loader yielded %lld of %lld samples", r->seen, c->N);
    return rc;
}

/* S steps of epoch 1 with a fake training step after each batch: busy_iters
 * 0 sleeps step_s, else runs busy_step(threads, busy_iters). */
static int measure_steps(const bench_opts *o, ms_corpus *c, const ms_augment *aug, double step_s, int threads,
                         long long busy_iters, step_result *r)
{
    const long long share = (c->N + o->size - 1) / o->size;
    const long long epoch_steps = (share + o->batch - 1) / o->batch; /* the largest share */
    const long long S = epoch_steps < o->steps ? epoch_steps : o->steps;
    double step_sum = 0;
    r->steps = (int)S;
    r->step_alone_s = step_s;
    if (busy_iters) { /* the same steps without the loader, just before: the machine is shared */
        for (long long s = 0; s < S; s++) step_sum += busy_step(threads, busy_iters);
        r->step_alone_s = step_sum / (double)S;
        step_sum = 0;
    }
    ms_loader_cfg cfg = loader_cfg(o, aug);
    ms_loader *L;
    int rc = loader_open(&L, c, &cfg);
    if (rc) return rc;
    const double cpu0 = cpu_seconds();
    rc = loader_start_epoch(L, 1);
    CHECK(rc || loader_steps(L) == epoch_steps);
    r->wait_s = r->max_wait_s = 0;
    for (long long s = 0; s < S && !rc; s++) {
        ms_batch b;
        double t0 = ms_now();
        rc = loader_next(L, &b);
        double waited = ms_now() - t0;
        if (s == 0) {
            r->first_wait_s = waited;
        } else {
            r->wait_s += waited;
            if (waited > r->max_wait_s) r->max_wait_s = waited;
        }
        if (busy_iters) step_sum += busy_step(threads, busy_iters);
        else sleep_s(step_s);
    }
    r->step_s = busy_iters ? step_sum / (double)S : step_s;
    loader_close(L);
    r->cpu_s = busy_iters ? -1 : cpu_seconds() - cpu0; /* busy: the steps' own CPU time swamps it */
    return rc;
}

/* rank 0 writes, every rank waits for the file */
static int write_shared(const bench_opts *o, const char *path, long long N, int S)
{
    int rc = o->rank == 0 ? write_corpus(path, N, S) : MS_OK;
    return agree(rc);
}

static int part_a(const bench_opts *o, driver_result res[MAX_DRIVERS])
{
    char path[1200];
    snprintf(path, sizeof path, "%s/medssl_bench_loader.%ld.64.h5", o->dir, o->pid);
    if (o->rank == 0) fprintf(stderr, "bench_loader: writing %d images of 1x64x64 to %s\n", o->images, path);
    int rc = write_shared(o, path, o->images, 64);
    if (rc) return rc;
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    const int threads = cores < 1 ? 1 : cores > BUSY_MAX_THREADS ? BUSY_MAX_THREADS : (int)cores;
    double alone_s = 0;
    long long iters = 0;
    if (!o->no_steps) {
        iters = busy_calibrate(threads, o->step_ms * 1e-3, &alone_s);
        fprintf(stderr, "bench_loader: busy step calibrated: %.3f s on %d threads alone\n", alone_s, threads);
    }
    for (int d = 0; d < o->n_drivers && !rc; d++) {
        if (strcmp(o->drivers[d], "auto") == 0) unsetenv("MEDSSL_HDF5_DRIVER");
        else setenv("MEDSSL_HDF5_DRIVER", o->drivers[d], 1);
        ms_corpus c;
        if ((rc = agree(corpus_open(&c, path, &o->dist)))) break;
        snprintf(res[d].driver, sizeof res[d].driver, "%s", c.driver);
        for (int a = 0; a < o->n_aug && !rc; a++) {
            ms_augment aug;
            CHECK(augment_parse(&aug, aug_lists[a]) == 0);
            aug_result *r = &res[d].aug[a];
            memset(r, 0, sizeof *r);
            rc = measure_epoch(o, &c, &aug, r);
            if (rc) break;
            if (o->rank == 0)
                fprintf(stderr, "bench_loader: %s, %d rank(s): %-60s %8.0f images/s (epoch %.2f s, first batch %.3f s)\n",
                        c.driver, o->size, aug_lists[a], r->images_per_s, r->epoch_s, r->first_batch_s);
            if (o->no_steps) continue;
            rc = measure_steps(o, &c, &aug, o->step_ms * 1e-3, threads, 0, &r->sleep);
            if (!rc) rc = measure_steps(o, &c, &aug, o->step_ms * 1e-3, threads, iters, &r->busy);
            rc = agree(rc);
            if (!rc && o->rank == 0)
                fprintf(stderr, "bench_loader:   %d steps: sleep step waited %.3f s (first %.3f s), busy step waited %.3f s "
                                "(first %.3f s), busy step %.3f s vs %.3f s alone\n",
                        r->sleep.steps, r->sleep.wait_s, r->sleep.first_wait_s, r->busy.wait_s, r->busy.first_wait_s,
                        r->busy.step_s, r->busy.step_alone_s);
        }
        corpus_close(&c);
    }
    unsetenv("MEDSSL_HDF5_DRIVER");
    dist_barrier(world);
    if (o->rank == 0) unlink(path);
    return rc;
}

/* ---- (b) peak RSS against corpus size ----------------------------------------------- */

/* In the child: streams one epoch of `path`; prints "rss BASE HWM MAXRSS SEEN SECONDS". */
static int rss_child(const bench_opts *o, const char *path)
{
    ms_corpus c;
    int rc = corpus_open(&c, path, NULL); /* no MPI in the child */
    if (rc) return rc;
    long base = proc_status_kib("VmRSS");
    ms_loader_cfg cfg = loader_cfg(o, NULL);
    ms_loader *L;
    if ((rc = loader_open(&L, &c, &cfg))) {
        corpus_close(&c);
        return rc;
    }
    double t0 = ms_now();
    rc = loader_start_epoch(L, 0);
    long long steps = rc ? 0 : loader_steps(L), seen = 0;
    for (long long s = 0; s < steps && !rc; s++) {
        ms_batch b;
        rc = loader_next(L, &b);
        seen += rc ? 0 : b.n;
    }
    double t = ms_now() - t0;
    loader_close(L);
    corpus_close(&c);
    if (!rc) printf("rss %ld %ld %ld %lld %.3f\n", base, proc_status_kib("VmHWM"), peak_rss_kib(), seen, t);
    return rc;
}

/* Runs this program with --rss-child on `path`; parses its line into r. */
static int spawn_rss_child(const bench_opts *o, const char *path, rss_result *r)
{
    int fd[2];
    if (pipe(fd) != 0) return MS_FAIL(MS_ERR_RUNTIME, "pipe failed");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd[1], 1);
    posix_spawn_file_actions_addclose(&fa, fd[0]);
    char batch[32], buffer[32];
    snprintf(batch, sizeof batch, "%d", o->batch);
    snprintf(buffer, sizeof buffer, "%lld", o->buffer);
    char *argv[] = { "bench_loader", "--rss-child", (char *)path, "--batch", batch, "--buffer", buffer, NULL };
    pid_t pid;
    int err = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fd[1]);
    if (err) {
        close(fd[0]);
        return MS_FAIL(MS_ERR_RUNTIME, "cannot start the child: %s", strerror(err));
    }
    FILE *f = fdopen(fd[0], "r");
    char line[256] = { 0 };
    int got = f && fgets(line, sizeof line, f) &&
              sscanf(line, "rss %ld %ld %ld %lld %lf", &r->base_kib, &r->hwm_kib, &r->maxrss_kib, &r->seen,
                     &r->epoch_s) == 5;
    if (f) fclose(f);
    int st = 0;
    waitpid(pid, &st, 0);
    if (!got || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return MS_FAIL(MS_ERR_RUNTIME, "the child streaming %s failed (status %d)", path, st);
    return MS_OK;
}

static int part_b(const bench_opts *o, rss_result res[MAX_RSS_SIZES])
{
    const int S = 128;
    int rc = MS_OK;
    for (int k = 0; k < o->n_rss && !rc; k++) {
        rss_result *r = &res[k];
        memset(r, 0, sizeof *r);
        r->gib = o->rss_gib[k];
        r->images = (long long)(r->gib * (1 << 30) / (S * S));
        char path[1200];
        snprintf(path, sizeof path, "%s/medssl_bench_loader.%ld.rss%d.h5", o->dir, (long)getpid(), k);
        fprintf(stderr, "bench_loader: writing %.2f GiB (%lld images of 1x%dx%d) to %s\n", r->gib, r->images, S, S, path);
        double t0 = ms_now();
        rc = write_corpus(path, r->images, S);
        r->write_s = ms_now() - t0;
        if (!rc) rc = spawn_rss_child(o, path, r);
        if (!rc && r->seen != r->images)
            rc = MS_FAIL(MS_ERR_RUNTIME, "%s: the loader yielded %lld of %lld samples", path, r->seen, r->images);
        unlink(path);
        if (!rc)
            fprintf(stderr, "bench_loader:   peak RSS %.1f MiB (ru_maxrss %.1f MiB; %.1f MiB before the loader), "
                            "epoch %.2f s\n", r->hwm_kib / 1024.0, r->maxrss_kib / 1024.0, r->base_kib / 1024.0, r->epoch_s);
    }
    return rc;
}

/* ---- (c) sparse selections -------------------------------------------------------- */

/* This rank's planned runs read whole (gather 0) or only their selected rows;
 * returns the seconds taken. */
static double read_runs(ms_corpus *c, const ms_loader_cfg *cfg, const ms_run *runs, long long n_runs, int gather,
                        float *img, int64_t *rows, int *rc)
{
    double t0 = ms_now();
    for (long long k = 0; k < n_runs && !*rc; k++) {
        const ms_run *r = &runs[k];
        if (!gather) {
            *rc = corpus_read(c, r->first, r->count, img, NULL, NULL, NULL);
            continue;
        }
        long long n = 0;
        for (long long i = r->first; i < r->first + r->count; i++)
            if (loader_weight(cfg, i) > 0) rows[n++] = i;
        *rc = corpus_read_rows(c, rows, n, img, NULL, NULL, NULL);
    }
    return ms_now() - t0;
}

static int part_c(const bench_opts *o, sparse_result res[N_SPARSE])
{
    char path[1200];
    snprintf(path, sizeof path, "%s/medssl_bench_loader.%ld.sparse.h5", o->dir, o->pid);
    const long long N = o->sparse_images;
    if (o->rank == 0) fprintf(stderr, "bench_loader: writing %lld images of 1x64x64 to %s\n", N, path);
    int rc = write_shared(o, path, N, 64);
    ms_corpus c;
    if (!rc) rc = agree(corpus_open(&c, path, &o->dist));
    if (rc) {
        if (o->rank == 0) unlink(path);
        return rc;
    }
    uint16_t *rep = ms_malloc((size_t)N * sizeof(uint16_t));
    float *img = ms_aligned((size_t)c.chunk_n * 64 * 64 * sizeof(float));
    int64_t *rows = ms_malloc((size_t)c.chunk_n * sizeof(int64_t));
    const uint64_t pick = rng_key(7, 0, 0, RNG_DATA);
    for (int f = 0; f < N_SPARSE && !rc; f++) {
        sparse_result *r = &res[f];
        memset(r, 0, sizeof *r);
        r->fraction = sparse_fractions[f];
        for (long long i = 0; i < N; i++) {
            rep[i] = rng_uniform_at(pick, (uint64_t)i) < r->fraction;
            r->selected += rep[i];
        }
        ms_loader_cfg cfg = loader_cfg(o, NULL);
        cfg.repeat = rep;
        ms_loader *L;
        if ((rc = loader_open(&L, &c, &cfg))) break;
        dist_barrier(world);
        double t0 = ms_now();
        rc = loader_start_epoch(L, 0);
        for (long long s = 0, steps = rc ? 0 : loader_steps(L); s < steps && !rc; s++) {
            ms_batch b;
            rc = loader_next(L, &b);
        }
        const double epoch_s = ms_now() - t0;
        loader_close(L);
        if ((rc = agree(rc))) break;
        r->epoch_s = max_over_ranks(epoch_s);
        r->images_per_s = (double)r->selected / r->epoch_s;
        ms_run *runs;
        long long n_runs, n_samples, n_total;
        loader_plan(N, c.chunk_n, &cfg, 0, &runs, &n_runs, &n_samples, &n_total);
        r->runs = n_runs;
        for (long long k = 0; k < n_runs; k++) r->whole_rows += runs[k].count;
        r->whole_s = r->gather_s = 1e30; /* best of two alternating rounds */
        for (int round = 0; round < 2 && !rc; round++) {
            double w = read_runs(&c, &cfg, runs, n_runs, 0, img, rows, &rc);
            double g = read_runs(&c, &cfg, runs, n_runs, 1, img, rows, &rc);
            if (w < r->whole_s) r->whole_s = w;
            if (g < r->gather_s) r->gather_s = g;
        }
        free(runs);
        rc = agree(rc);
        if (!rc && o->rank == 0)
            fprintf(stderr, "bench_loader: sparse %5.1f%% (%lld of %lld): loader epoch %.3f s; rank 0 reads %lld runs: "
                            "whole %.3f s (%lld rows), gathered %.3f s\n", 100 * r->fraction, r->selected, N, r->epoch_s,
                    r->runs, r->whole_s, r->whole_rows, r->gather_s);
    }
    free(rep);
    free(img);
    free(rows);
    corpus_close(&c);
    dist_barrier(world);
    if (o->rank == 0) unlink(path);
    return rc;
}

/* ---- output ---------------------------------------------------------------------- */

static const char *const aug_short[N_AUG] = { "none", "full", "full+elastic" };

static void print_table(const bench_opts *o, const driver_result *dr, const rss_result *b, const sparse_result *sp)
{
    printf("loader, %d rank(s) (MPI thread level %s): %d images of 1x64x64 uint8, batch %d per rank, shuffle buffer "
           "%lld (load average %.2f before, %.2f after)\n", o->size, dist_thread_level_name(o->provided), o->images, o->batch,
           o->buffer, o->load_before, o->load_after);
    printf("  full = %s\n  full+elastic = full,elastic:34:4\n", AUG_FULL);
    if (o->allreduce_floats) printf("  an all-reduce of %ld floats per batch during the epoch\n", o->allreduce_floats);
    for (int d = 0; d < o->n_drivers; d++) {
        const aug_result *a = dr[d].aug;
        printf("\nHDF5 driver %s (MEDSSL_HDF5_DRIVER=%s)\n", dr[d].driver, o->drivers[d]);
        printf("%-14s %10s %9s %11s\n", "augmentation", "images/s", "epoch s", "1st batch s");
        for (int k = 0; k < o->n_aug; k++)
            printf("%-14s %10.0f %9.2f %11.3f\n", aug_short[k], a[k].images_per_s, a[k].epoch_s, a[k].first_batch_s);
        if (o->no_steps) continue;
        printf("\n%d fake training steps of %d ms between batches; wait = time blocked in loader_next "
               "(1st: the buffer fill; rest: steps 2..%d, total and max)\n", a[0].sleep.steps, o->step_ms,
               a[0].sleep.steps);
        printf("%-14s | %-44s | %-50s\n", "", "sleep step", "busy step (all cores)");
        printf("%-14s | %8s %9s %9s %14s | %8s %9s %9s %10s %10s\n", "augmentation", "1st wait", "rest wait",
               "max wait", "loader CPU", "1st wait", "rest wait", "max wait", "step alone", "step+load");
        for (int k = 0; k < o->n_aug; k++) {
            const step_result *sl = &a[k].sleep, *bu = &a[k].busy;
            printf("%-14s | %7.3fs %8.3fs %8.3fs %13.4fs | %7.3fs %8.3fs %8.3fs %9.3fs %9.3fs\n", aug_short[k],
                   sl->first_wait_s, sl->wait_s, sl->max_wait_s, sl->cpu_s, bu->first_wait_s, bu->wait_s,
                   bu->max_wait_s, bu->step_alone_s, bu->step_s);
        }
    }
    if (!o->no_rss) {
        printf("\npeak RSS streaming one epoch of 1x128x128 uint8, batch %d, shuffle buffer %lld (fresh process each)\n",
               o->batch, o->buffer);
        printf("%8s %10s %14s %12s %16s %15s %10s\n", "GiB", "images", "before (MiB)", "peak (MiB)", "ru_maxrss (MiB)",
               "peak-before", "epoch s");
        for (int k = 0; k < o->n_rss; k++)
            printf("%8.2f %10lld %14.1f %12.1f %16.1f %15.1f %10.2f\n", b[k].gib, b[k].images, b[k].base_kib / 1024.0,
                   b[k].hwm_kib / 1024.0, b[k].maxrss_kib / 1024.0, (b[k].hwm_kib - b[k].base_kib) / 1024.0,
                   b[k].epoch_s);
        printf("before = VmRSS after corpus_open; peak = VmHWM after the epoch\n");
    }
    if (o->no_sparse) return;
    printf("\nsparse selections of %d images of 1x64x64 uint8 (repeat 1 on a fraction, 0 elsewhere), no augmentation;\n"
           "rank 0's planned runs read whole (corpus_read) and gathered (corpus_read_rows), best of 2\n",
           o->sparse_images);
    printf("%9s %9s %10s %12s %6s %11s %9s %10s\n", "selected", "samples", "epoch s", "selected/s", "runs",
           "whole rows", "whole s", "gathered s");
    for (int k = 0; k < N_SPARSE; k++)
        printf("%8.1f%% %9lld %10.3f %12.0f %6lld %11lld %9.3f %10.3f\n", 100 * sp[k].fraction, sp[k].selected,
               sp[k].epoch_s, sp[k].images_per_s, sp[k].runs, sp[k].whole_rows, sp[k].whole_s, sp[k].gather_s);
}

static void print_step_json(const char *name, const step_result *s)
{
    printf(", \"%s\": {\"steps\": %d, \"step_alone_s\": %.4f, \"step_s\": %.4f, \"first_wait_s\": %.4f, "
           "\"wait_s\": %.4f, \"max_wait_s\": %.4f",
           name, s->steps, s->step_alone_s, s->step_s, s->first_wait_s, s->wait_s, s->max_wait_s);
    if (s->cpu_s >= 0) printf(", \"loader_cpu_s\": %.4f", s->cpu_s);
    printf("}");
}

static void print_json(const bench_opts *o, const driver_result *dr, const rss_result *b, const sparse_result *sp)
{
    char date[32];
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    printf("{\"date\": \"%s\", \"load_before\": %.2f, \"load_after\": %.2f, \"ranks\": %d, \"mpi_thread_level\": \"%s\", "
           "\"throughput\": {\"images\": %d, \"shape\": [1, 64, 64], \"dtype\": \"uint8\", \"batch\": %d, \"buffer\": %lld, "
           "\"allreduce_floats\": %ld, \"drivers\": [",
           date, o->load_before, o->load_after, o->size, dist_thread_level_name(o->provided), o->images, o->batch, o->buffer,
           o->allreduce_floats);
    for (int d = 0; d < o->n_drivers; d++) {
        printf("%s{\"requested\": \"%s\", \"driver\": \"%s\", \"runs\": [", d ? ", " : "", o->drivers[d], dr[d].driver);
        for (int k = 0; k < o->n_aug; k++) {
            const aug_result *a = &dr[d].aug[k];
            printf("%s{\"augment\": \"%s\", \"images_per_s\": %.1f, \"epoch_s\": %.3f, \"first_batch_s\": %.4f",
                   k ? ", " : "", aug_lists[k], a->images_per_s, a->epoch_s, a->first_batch_s);
            if (!o->no_steps) {
                print_step_json("sleep_step", &a->sleep);
                print_step_json("busy_step", &a->busy);
            }
            printf("}");
        }
        printf("]}");
    }
    printf("]}");
    if (!o->no_rss) {
        printf(", \"rss\": {\"shape\": [1, 128, 128], \"dtype\": \"uint8\", \"batch\": %d, \"buffer\": %lld, \"runs\": [",
               o->batch, o->buffer);
        for (int k = 0; k < o->n_rss; k++)
            printf("%s{\"gib\": %.3f, \"images\": %lld, \"rss_before_mib\": %.1f, \"peak_rss_mib\": %.1f, "
                   "\"ru_maxrss_mib\": %.1f, \"epoch_s\": %.3f, \"write_s\": %.3f}",
                   k ? ", " : "", b[k].gib, b[k].images, b[k].base_kib / 1024.0, b[k].hwm_kib / 1024.0,
                   b[k].maxrss_kib / 1024.0, b[k].epoch_s, b[k].write_s);
        printf("]}");
    }
    if (!o->no_sparse) {
        printf(", \"sparse\": {\"images\": %d, \"shape\": [1, 64, 64], \"runs\": [", o->sparse_images);
        for (int k = 0; k < N_SPARSE; k++)
            printf("%s{\"fraction\": %.4f, \"selected\": %lld, \"epoch_s\": %.4f, \"selected_per_s\": %.1f, "
                   "\"rank0_runs\": %lld, \"rank0_whole_rows\": %lld, \"rank0_whole_s\": %.4f, \"rank0_gathered_s\": %.4f}",
                   k ? ", " : "", sp[k].fraction, sp[k].selected, sp[k].epoch_s, sp[k].images_per_s, sp[k].runs,
                   sp[k].whole_rows, sp[k].whole_s, sp[k].gather_s);
        printf("]}");
    }
    printf("}\n");
}

/* ---- flags ------------------------------------------------------------------------- */

static int parse_sizes(bench_opts *o, const char *s)
{
    double g[MAX_RSS_SIZES];
    const int n = ms_list_numbers(s, ',', g, MAX_RSS_SIZES);
    if (n < 1 || n > MAX_RSS_SIZES) return -1;
    for (int k = 0; k < n; k++) {
        if (!(g[k] > 0 && g[k] <= 64)) return -1;
        o->rss_gib[k] = g[k];
    }
    o->n_rss = n;
    return 0;
}

static int parse_drivers(bench_opts *o, const char *s)
{
    static const char *const names[] = { "auto", "sec2", "mpio" };
    const int n_names = (int)(sizeof names / sizeof names[0]);
    const char *cur = s;
    char item[8];
    o->n_drivers = 0;
    for (int r; (r = ms_list_next(&cur, ',', item, sizeof item)) != MS_LIST_END;) {
        int k = 0;
        while (k < n_names && strcmp(item, names[k]) != 0) k++;
        if (r != MS_LIST_ITEM || k == n_names || o->n_drivers >= MAX_DRIVERS) return -1;
        o->drivers[o->n_drivers++] = names[k];
    }
    return o->n_drivers > 0 ? 0 : -1;
}

static int usage(int code)
{
    fprintf(code ? stderr : stdout,
            "usage: bench_loader [--json] [--images N] [--batch B] [--buffer M] [--steps S] [--step-ms T]\n"
            "                    [--rss-gib G1,G2,..] [--dir D] [--no-steps] [--no-rss]\n"
            "                    [--drivers auto|sec2|mpio,..] [--allreduce-floats F] [--thread-level funneled|multiple]\n"
            "                    [--sparse-images N] [--no-sparse] [--no-augment]\n"
            "defaults: 20000 images, batch 64, buffer 4096, 20 steps of 1070 ms, 0.25,1,2 GiB, /tmp, driver auto,\n"
            "          no all-reduce, thread level multiple, 60000 sparse images. Under mpirun: every rank streams its share.\n");
    return code;
}

int main(int argc, char **argv)
{
    bench_opts o = { .images = 20000, .batch = 64, .buffer = 4096, .steps = 20, .step_ms = 1070, .dir = "/tmp",
                     .sparse_images = 60000, .thread_level = MPI_THREAD_MULTIPLE, .size = 1, .n_aug = N_AUG };
    parse_sizes(&o, "0.25,1,2");
    parse_drivers(&o, "auto");
    const char *child = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        if (!strcmp(a, "--json")) { o.json = 1; takes = 0; }
        else if (!strcmp(a, "--no-steps")) { o.no_steps = 1; takes = 0; }
        else if (!strcmp(a, "--no-rss")) { o.no_rss = 1; takes = 0; }
        else if (!strcmp(a, "--no-sparse")) { o.no_sparse = 1; takes = 0; }
        else if (!strcmp(a, "--no-augment")) { o.n_aug = 1; takes = 0; }
        else if (!strcmp(a, "--help")) return usage(0);
        else if (!v) return usage(2);
        else if (!strcmp(a, "--images")) o.images = atoi(v);
        else if (!strcmp(a, "--batch")) o.batch = atoi(v);
        else if (!strcmp(a, "--buffer")) o.buffer = atoll(v);
        else if (!strcmp(a, "--steps")) o.steps = atoi(v);
        else if (!strcmp(a, "--step-ms")) o.step_ms = atoi(v);
        else if (!strcmp(a, "--dir")) o.dir = v;
        else if (!strcmp(a, "--rss-child")) child = v;
        else if (!strcmp(a, "--rss-gib")) { if (parse_sizes(&o, v)) return usage(2); }
        else if (!strcmp(a, "--drivers")) { if (parse_drivers(&o, v)) return usage(2); }
        else if (!strcmp(a, "--allreduce-floats")) o.allreduce_floats = atol(v);
        else if (!strcmp(a, "--sparse-images")) o.sparse_images = atoi(v);
        else if (!strcmp(a, "--thread-level")) {
            if (!strcmp(v, "funneled")) o.thread_level = MPI_THREAD_FUNNELED;
            else if (!strcmp(v, "multiple")) o.thread_level = MPI_THREAD_MULTIPLE;
            else return usage(2);
        }
        else return usage(2);
        i += takes;
    }
    if (o.images < 1 || o.batch < 1 || o.buffer < 1 || o.steps < 1 || o.step_ms < 1 || o.sparse_images < 1 ||
        o.allreduce_floats < 0 || o.allreduce_floats > (1L << 30))
        return usage(2);
    int rc;
    if (child) { /* no MPI in the child: one rank, the sec2 driver */
        rc = rss_child(&o, child);
        if (rc) fprintf(stderr, "bench_loader: %s\n", ms_last_error());
        return rc;
    }
    if (dist_init_thread(&o.dist, &argc, &argv, o.thread_level)) return 1;
    world = &o.dist;
    o.provided = dist_thread_level();
    o.rank = o.dist.rank;
    o.size = o.dist.size;
    o.pid = dist_bcast_long(world, (long)getpid());
    if (o.size > 1) o.no_rss = 1; /* one process per corpus size: a one-rank measurement */
    driver_result a[MAX_DRIVERS];
    rss_result b[MAX_RSS_SIZES];
    sparse_result c[N_SPARSE];
    o.load_before = load_average();
    rc = part_a(&o, a);
    if (!rc && !o.no_rss) rc = part_b(&o, b);
    if (!rc && !o.no_sparse) rc = part_c(&o, c);
    if (rc) {
        fprintf(stderr, "bench_loader (rank %d): %s\n", o.rank, ms_last_error());
        dist_abort(world, rc);
    }
    o.load_after = load_average();
    if (o.rank == 0 && o.json) print_json(&o, a, b, c);
    else if (o.rank == 0) print_table(&o, a, b, c);
    dist_finalize(&o.dist);
    return 0;
}
