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
 * The machine may be shared: the 1-minute load average before and after is
 * reported with the figures.
 * (b) Memory: corpora of 1x128x128 uint8 of increasing size (default 0.25, 1
 *     and 2 GiB, written to --dir, deleted after) are each streamed for one
 *     epoch (no augmentation) by a fresh child process (this program with
 *     --rss-child) with the same shuffle buffer; the child reports its RSS
 *     before the loader opens and its peak after the epoch (VmHWM, and
 *     getrusage's ru_maxrss, which after exec also covers the parent's peak).
 *     Bounded memory means the peak does not grow with the corpus.
 *
 * Prints a table, or one JSON object with --json (logs go to stderr). Speed
 * is measured here, never asserted in tests.
 *
 *   bench_loader [--json] [--images N] [--batch B] [--buffer M] [--steps S]
 *                [--step-ms T] [--rss-gib 0.25,1,2] [--dir D] [--no-steps] [--no-rss]
 */
#include "medssl/augment.h"
#include "medssl/common.h"
#include "medssl/corpus.h"
#include "medssl/loader.h"
#include "medssl/rng.h"

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

static const char *const aug_lists[N_AUG] = { "none", AUG_FULL, AUG_ELASTIC };

typedef struct {
    int json, images, batch, steps, step_ms, no_steps, no_rss;
    long long buffer;
    const char *dir;
    double rss_gib[MAX_RSS_SIZES];
    int n_rss;
    double load_before, load_after; /* 1-minute load average around the run */
} bench_opts;

typedef struct {
    int steps;
    double first_wait_s, wait_s, max_wait_s; /* wait_s, max_wait_s: steps 2..S */
    double step_alone_s, step_s;             /* busy: mean step without the loader (run just before), with it */
    double cpu_s;                            /* sleep: process CPU time over the S steps = the loader's */
} step_result;

typedef struct {
    double images_per_s, first_batch_s, epoch_s;
    long long seen;
    step_result sleep, busy;
} aug_result;

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
    ms_loader_cfg cfg = { .rank = 0, .size = 1, .seed = 1, .batch = o->batch, .buffer = o->buffer,
                          .split = SPLIT_ALL, .shuffle = 1, .augment = aug, .want_labels = 1 };
    return cfg;
}

static int measure_epoch(const bench_opts *o, ms_corpus *c, const ms_augment *aug, aug_result *r)
{
    ms_loader_cfg cfg = loader_cfg(o, aug);
    ms_loader *L;
    int rc = loader_open(&L, c, &cfg);
    if (rc) return rc;
    double t0 = ms_now();
    rc = loader_start_epoch(L, 0);
    long long steps = rc ? 0 : loader_steps(L);
    r->seen = 0;
    for (long long s = 0; s < steps && !rc; s++) {
        ms_batch b;
        rc = loader_next(L, &b);
        if (s == 0) r->first_batch_s = ms_now() - t0;
        r->seen += rc ? 0 : b.n;
    }
    r->epoch_s = ms_now() - t0;
    r->images_per_s = (double)r->seen / r->epoch_s;
    loader_close(L);
    if (!rc && r->seen != c->N)
        rc = MS_FAIL(MS_ERR_RUNTIME, "loader yielded %lld of %lld samples", r->seen, c->N);
    return rc;
}

/* S steps of epoch 1 with a fake training step after each batch: busy_iters
 * 0 sleeps step_s, else runs busy_step(threads, busy_iters). */
static int measure_steps(const bench_opts *o, ms_corpus *c, const ms_augment *aug, double step_s, int threads,
                         long long busy_iters, step_result *r)
{
    const long long epoch_steps = (c->N + o->batch - 1) / o->batch; /* one rank, every sample */
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

static int part_a(const bench_opts *o, aug_result res[N_AUG])
{
    char path[1200];
    snprintf(path, sizeof path, "%s/medssl_bench_loader.%ld.64.h5", o->dir, (long)getpid());
    fprintf(stderr, "bench_loader: writing %d images of 1x64x64 to %s\n", o->images, path);
    int rc = write_corpus(path, o->images, 64);
    if (rc) return rc;
    ms_corpus c;
    if ((rc = corpus_open(&c, path))) {
        unlink(path);
        return rc;
    }
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    const int threads = cores < 1 ? 1 : cores > BUSY_MAX_THREADS ? BUSY_MAX_THREADS : (int)cores;
    double alone_s = 0;
    long long iters = 0;
    if (!o->no_steps) {
        iters = busy_calibrate(threads, o->step_ms * 1e-3, &alone_s);
        fprintf(stderr, "bench_loader: busy step calibrated: %.3f s on %d threads alone\n", alone_s, threads);
    }
    for (int a = 0; a < N_AUG && !rc; a++) {
        ms_augment aug;
        CHECK(augment_parse(&aug, aug_lists[a]) == 0);
        aug_result *r = &res[a];
        memset(r, 0, sizeof *r);
        rc = measure_epoch(o, &c, &aug, r);
        if (rc) break;
        fprintf(stderr, "bench_loader: %-60s %8.0f images/s (epoch %.2f s, first batch %.3f s)\n", aug_lists[a],
                r->images_per_s, r->epoch_s, r->first_batch_s);
        if (o->no_steps) continue;
        rc = measure_steps(o, &c, &aug, o->step_ms * 1e-3, threads, 0, &r->sleep);
        if (!rc) rc = measure_steps(o, &c, &aug, o->step_ms * 1e-3, threads, iters, &r->busy);
        if (!rc)
            fprintf(stderr, "bench_loader:   %d steps: sleep step waited %.3f s (first %.3f s), busy step waited %.3f s "
                            "(first %.3f s), busy step %.3f s vs %.3f s alone\n",
                    r->sleep.steps, r->sleep.wait_s, r->sleep.first_wait_s, r->busy.wait_s, r->busy.first_wait_s,
                    r->busy.step_s, r->busy.step_alone_s);
    }
    corpus_close(&c);
    unlink(path);
    return rc;
}

/* ---- (b) peak RSS against corpus size ----------------------------------------------- */

/* In the child: streams one epoch of `path`; prints "rss BASE HWM MAXRSS SEEN SECONDS". */
static int rss_child(const bench_opts *o, const char *path)
{
    ms_corpus c;
    int rc = corpus_open(&c, path);
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

/* ---- output ---------------------------------------------------------------------- */

static const char *const aug_short[N_AUG] = { "none", "full", "full+elastic" };

static void print_table(const bench_opts *o, const aug_result *a, const rss_result *b)
{
    printf("loader, one rank: %d images of 1x64x64 uint8, batch %d, shuffle buffer %lld "
           "(load average %.2f before, %.2f after)\n", o->images, o->batch, o->buffer, o->load_before, o->load_after);
    printf("  full = %s\n  full+elastic = full,elastic:34:4\n\n", AUG_FULL);
    printf("%-14s %10s %9s %11s\n", "augmentation", "images/s", "epoch s", "1st batch s");
    for (int k = 0; k < N_AUG; k++)
        printf("%-14s %10.0f %9.2f %11.3f\n", aug_short[k], a[k].images_per_s, a[k].epoch_s, a[k].first_batch_s);
    if (!o->no_steps) {
        printf("\n%d fake training steps of %d ms between batches; wait = time blocked in loader_next "
               "(1st: the buffer fill; rest: steps 2..%d, total and max)\n", a[0].sleep.steps, o->step_ms,
               a[0].sleep.steps);
        printf("%-14s | %-44s | %-50s\n", "", "sleep step", "busy step (all cores)");
        printf("%-14s | %8s %9s %9s %14s | %8s %9s %9s %10s %10s\n", "augmentation", "1st wait", "rest wait",
               "max wait", "loader CPU", "1st wait", "rest wait", "max wait", "step alone", "step+load");
        for (int k = 0; k < N_AUG; k++) {
            const step_result *sl = &a[k].sleep, *bu = &a[k].busy;
            printf("%-14s | %7.3fs %8.3fs %8.3fs %13.4fs | %7.3fs %8.3fs %8.3fs %9.3fs %9.3fs\n", aug_short[k],
                   sl->first_wait_s, sl->wait_s, sl->max_wait_s, sl->cpu_s, bu->first_wait_s, bu->wait_s,
                   bu->max_wait_s, bu->step_alone_s, bu->step_s);
        }
    }
    if (o->no_rss) return;
    printf("\npeak RSS streaming one epoch of 1x128x128 uint8, batch %d, shuffle buffer %lld (fresh process each)\n",
           o->batch, o->buffer);
    printf("%8s %10s %14s %12s %16s %15s %10s\n", "GiB", "images", "before (MiB)", "peak (MiB)", "ru_maxrss (MiB)",
           "peak-before", "epoch s");
    for (int k = 0; k < o->n_rss; k++)
        printf("%8.2f %10lld %14.1f %12.1f %16.1f %15.1f %10.2f\n", b[k].gib, b[k].images, b[k].base_kib / 1024.0,
               b[k].hwm_kib / 1024.0, b[k].maxrss_kib / 1024.0, (b[k].hwm_kib - b[k].base_kib) / 1024.0, b[k].epoch_s);
    printf("before = VmRSS after corpus_open; peak = VmHWM after the epoch\n");
}

static void print_step_json(const char *name, const step_result *s)
{
    printf(", \"%s\": {\"steps\": %d, \"step_alone_s\": %.4f, \"step_s\": %.4f, \"first_wait_s\": %.4f, "
           "\"wait_s\": %.4f, \"max_wait_s\": %.4f",
           name, s->steps, s->step_alone_s, s->step_s, s->first_wait_s, s->wait_s, s->max_wait_s);
    if (s->cpu_s >= 0) printf(", \"loader_cpu_s\": %.4f", s->cpu_s);
    printf("}");
}

static void print_json(const bench_opts *o, const aug_result *a, const rss_result *b)
{
    char date[32];
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    printf("{\"date\": \"%s\", \"load_before\": %.2f, \"load_after\": %.2f, \"throughput\": {\"images\": %d, \"shape\": [1, 64, 64], \"dtype\": \"uint8\", "
           "\"batch\": %d, \"buffer\": %lld, \"runs\": [",
           date, o->load_before, o->load_after, o->images, o->batch, o->buffer);
    for (int k = 0; k < N_AUG; k++) {
        printf("%s{\"augment\": \"%s\", \"images_per_s\": %.1f, \"epoch_s\": %.3f, \"first_batch_s\": %.4f", k ? ", " : "",
               aug_lists[k], a[k].images_per_s, a[k].epoch_s, a[k].first_batch_s);
        if (!o->no_steps) {
            print_step_json("sleep_step", &a[k].sleep);
            print_step_json("busy_step", &a[k].busy);
        }
        printf("}");
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
    printf("}\n");
}

/* ---- flags ------------------------------------------------------------------------- */

static int parse_sizes(bench_opts *o, const char *s)
{
    o->n_rss = 0;
    char *end;
    for (const char *p = s; *p;) {
        double g = strtod(p, &end);
        if (end == p || g <= 0 || g > 64 || o->n_rss >= MAX_RSS_SIZES || (*end && *end != ',')) return -1;
        o->rss_gib[o->n_rss++] = g;
        p = *end ? end + 1 : end;
    }
    return o->n_rss > 0 ? 0 : -1;
}

static int usage(int code)
{
    fprintf(code ? stderr : stdout,
            "usage: bench_loader [--json] [--images N] [--batch B] [--buffer M] [--steps S] [--step-ms T]\n"
            "                    [--rss-gib G1,G2,..] [--dir D] [--no-steps] [--no-rss]\n"
            "defaults: 20000 images, batch 64, buffer 4096, 20 steps of 1070 ms, 0.25,1,2 GiB, /tmp\n");
    return code;
}

int main(int argc, char **argv)
{
    bench_opts o = { .images = 20000, .batch = 64, .buffer = 4096, .steps = 20, .step_ms = 1070, .dir = "/tmp" };
    parse_sizes(&o, "0.25,1,2");
    const char *child = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        if (!strcmp(a, "--json")) { o.json = 1; takes = 0; }
        else if (!strcmp(a, "--no-steps")) { o.no_steps = 1; takes = 0; }
        else if (!strcmp(a, "--no-rss")) { o.no_rss = 1; takes = 0; }
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
        else return usage(2);
        i += takes;
    }
    if (o.images < 1 || o.batch < 1 || o.buffer < 1 || o.steps < 1 || o.step_ms < 1) return usage(2);
    int rc;
    if (child) {
        rc = rss_child(&o, child);
        if (rc) fprintf(stderr, "bench_loader: %s\n", ms_last_error());
        return rc;
    }
    aug_result a[N_AUG];
    rss_result b[MAX_RSS_SIZES];
    o.load_before = load_average();
    rc = part_a(&o, a);
    if (!rc && !o.no_rss) rc = part_b(&o, b);
    if (rc) {
        fprintf(stderr, "bench_loader: %s\n", ms_last_error());
        return rc;
    }
    o.load_after = load_average();
    if (o.json) print_json(&o, a, b);
    else print_table(&o, a, b);
    return 0;
}
