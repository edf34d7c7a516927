/* dist — MPI data parallelism: init, parameter broadcast, bucketed
 * overlapped gradient all-reduce (see include/medssl/dist.h). */
#include "medssl/dist.h"
#include "medssl/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The group of dist_split while one is in force (one per process). */
static MPI_Comm group_comm = MPI_COMM_NULL;

MPI_Comm dist_comm(void) { return group_comm != MPI_COMM_NULL ? group_comm : MPI_COMM_WORLD; }

/* ms_fatal_exit on one rank ends them all: the others would otherwise wait in
 * their next collective until the allocation runs out. */
static void abort_world(int code)
{
    int size = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size > 1) MPI_Abort(MPI_COMM_WORLD, code);
}

int dist_init(ms_dist *d, int *argc, char ***argv)
{
    /* MULTIPLE: with the MPI-IO driver the loader's prefetch thread reads the
     * corpus (MPI-IO calls) while the main thread runs the gradient
     * all-reduce; with less, corpus_open falls back to the sec2 driver. */
    return dist_init_thread(d, argc, argv, MPI_THREAD_MULTIPLE);
}

int dist_init_thread(ms_dist *d, int *argc, char ***argv, int level)
{
    memset(d, 0, sizeof *d);
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        int provided;
        if (MPI_Init_thread(argc, argv, level, &provided) != MPI_SUCCESS)
            return MS_FAIL(MS_ERR_RUNTIME, "MPI_Init_thread failed");
        d->we_initialized = 1;
    }
    ms_set_fatal_hook(abort_world);
    d->comm = dist_comm();
    MPI_Comm_rank(d->comm, &d->rank);
    MPI_Comm_size(d->comm, &d->size);
    return MS_OK;
}

int dist_split(const ms_dist *d, int groups, int *group)
{
    if (groups < 1 || groups > d->size)
        return MS_FAIL(MS_ERR_INPUT, "dist_split: %d groups for %d ranks (expected 1..%d)", groups, d->size, d->size);
    if (group_comm != MPI_COMM_NULL) return MS_FAIL(MS_ERR_RUNTIME, "dist_split: already split");
    /* rank r joins group floor(r * groups / size): consecutive ranks, so a group
     * stays on as few nodes as the launcher's placement allows */
    *group = (int)((long long)d->rank * groups / d->size);
    if (MPI_Comm_split(d->comm, *group, d->rank, &group_comm) != MPI_SUCCESS)
        return MS_FAIL(MS_ERR_RUNTIME, "MPI_Comm_split into %d groups failed", groups);
    return MS_OK;
}

void dist_unsplit(void)
{
    if (group_comm != MPI_COMM_NULL) MPI_Comm_free(&group_comm);
    group_comm = MPI_COMM_NULL;
}

void dist_finalize(ms_dist *d)
{
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (d->we_initialized && !finalized) MPI_Finalize();
    d->we_initialized = 0;
}

/* MPI counts are int: large ranges go in pieces. */
#define DIST_CHUNK ((size_t)1 << 30)

void dist_broadcast_params(const ms_dist *d, ms_slab *s)
{
    if (d->size == 1) return;
    for (size_t off = 0; off < s->n; off += DIST_CHUNK) {
        size_t n = s->n - off < DIST_CHUNK ? s->n - off : DIST_CHUNK;
        MPI_Bcast(s->val + off, (int)n, MPI_FLOAT, 0, d->comm);
    }
}

void grad_sync_init(ms_grad_sync *g, const ms_dist *d, ms_slab *s, size_t bucket_floats)
{
    memset(g, 0, sizeof *g);
    g->d = d;
    g->s = s;
    /* At most DIST_MAX_BUCKETS launches per step, whatever the model size. */
    size_t min_bucket = s->n / (DIST_MAX_BUCKETS - 1) + 1;
    g->bucket_floats = bucket_floats > min_bucket ? bucket_floats : min_bucket;
}

void grad_sync_begin(ms_grad_sync *g)
{
    g->lo = g->hi = g->s->n;
    g->n_req = 0;
    g->floats_reduced = 0;
}

/* One all-reduce of grad[lo, hi); past DIST_MAX_BUCKETS in flight, the
 * earlier ones are waited for first. */
static void reduce_range(ms_grad_sync *g, size_t lo, size_t hi)
{
    if (hi <= lo) return;
    if (g->n_req == DIST_MAX_BUCKETS) {
        MPI_Waitall(g->n_req, g->req, MPI_STATUSES_IGNORE);
        g->n_req = 0;
    }
    CHECK(hi - lo < DIST_CHUNK);
    MPI_Iallreduce(MPI_IN_PLACE, g->s->grad + lo, (int)(hi - lo), MPI_FLOAT, MPI_SUM, g->d->comm, &g->req[g->n_req++]);
    g->floats_reduced += hi - lo;
}

/* All-reduces the pending range [lo, hi) but its frozen tensors: their
 * gradients are zero on every rank (backward skips them), so a frozen
 * encoder costs no traffic (DESIGN.md). Every rank freezes the same tensors,
 * so the ranks still issue the same collectives. */
static void launch(ms_grad_sync *g)
{
    if (g->hi == g->lo) return;
    size_t from = g->lo;
    for (int i = 0; i < g->s->n_tensors; i++) {
        const ms_tensor *t = &g->s->t[i];
        if (!(t->flags & SLAB_FROZEN) || t->offset + t->size <= g->lo || t->offset >= g->hi) continue;
        reduce_range(g, from, t->offset > from ? t->offset : from);
        if (t->offset + t->size > from) from = t->offset + t->size;
    }
    reduce_range(g, from, g->hi);
    g->hi = g->lo;
}

void dist_grads_ready(void *ctx, size_t offset, size_t count)
{
    ms_grad_sync *g = ctx;
    if (g->d->size == 1) return;
    /* Ranges arrive in reverse slab order and are contiguous. */
    CHECK(offset + count == g->lo);
    g->lo = offset;
    if (g->hi - g->lo >= g->bucket_floats) launch(g);
    if (g->n_req) { /* drive progress of what is in flight */
        int done;
        MPI_Testall(g->n_req, g->req, &done, MPI_STATUSES_IGNORE);
    }
}

void grad_sync_finish(ms_grad_sync *g)
{
    if (g->d->size == 1) return;
    g->lo = 0; /* anything before the first reported range (no params) is included */
    launch(g);
    MPI_Waitall(g->n_req, g->req, MPI_STATUSES_IGNORE);
    g->n_req = 0;
    const float inv = 1.0f / (float)g->d->size;
    float *restrict grad = g->s->grad;
    for (int i = 0; i < g->s->n_tensors; i++) {
        const ms_tensor *t = &g->s->t[i];
        if (t->flags & SLAB_FROZEN) continue;
        for (size_t k = t->offset; k < t->offset + t->size; k++) grad[k] *= inv;
    }
}

double dist_sum_double(const ms_dist *d, double x)
{
    dist_sum(d, &x, 1);
    return x;
}

void dist_sum(const ms_dist *d, double *x, int n)
{
    if (d->size > 1) MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_SUM, d->comm);
}

long long dist_sum_ll(const ms_dist *d, long long x)
{
    long long all = x;
    if (d->size > 1) MPI_Allreduce(&x, &all, 1, MPI_LONG_LONG, MPI_SUM, d->comm);
    return all;
}

int dist_max_int(const ms_dist *d, int x)
{
    int all = x;
    if (d->size > 1) MPI_Allreduce(&x, &all, 1, MPI_INT, MPI_MAX, d->comm);
    return all;
}

int dist_any(const ms_dist *d, int flag)
{
    int any = flag != 0;
    if (d->size > 1) MPI_Allreduce(MPI_IN_PLACE, &any, 1, MPI_INT, MPI_MAX, d->comm);
    return any;
}

int dist_agree(const ms_dist *d, const char *cmd, int rc)
{
    int rc_all = rc;
    if (d->size > 1) MPI_Allreduce(&rc, &rc_all, 1, MPI_INT, MPI_MAX, d->comm);
    if (rc && d->size > 1) fprintf(stderr, "medssl %s: rank %d: %s\n", cmd, d->rank, ms_last_error());
    else if (rc) fprintf(stderr, "medssl %s: %s\n", cmd, ms_last_error());
    else if (rc_all && d->rank == 0) fprintf(stderr, "medssl %s: another rank failed; stopping\n", cmd);
    ms_clear_error(); /* reported: callers up the stack print nothing more */
    return rc_all;
}

void dist_split_rows(const ms_dist *d, long long N, long long *first, long long *counts)
{
    for (int r = 0; r < d->size; r++) {
        first[r] = N * r / d->size;
        counts[r] = N * (r + 1) / d->size - first[r];
    }
}

void dist_gather_rows(const ms_dist *d, void *rows, long long mine, size_t row_bytes, const long long *first,
                      const long long *counts)
{
    if (d->size == 1 || row_bytes == 0) return;
    /* one row is one element: counts stay small whatever the bytes */
    MPI_Datatype row;
    MPI_Type_contiguous((int)row_bytes, MPI_BYTE, &row);
    MPI_Type_commit(&row);
    int *cnt = ms_malloc((size_t)d->size * sizeof(int)), *displ = ms_malloc((size_t)d->size * sizeof(int));
    for (int r = 0; r < d->size; r++) {
        cnt[r] = (int)counts[r];
        displ[r] = (int)first[r];
    }
    if (d->rank == 0) MPI_Gatherv(MPI_IN_PLACE, 0, row, rows, cnt, displ, row, 0, d->comm);
    else MPI_Gatherv(rows, (int)mine, row, NULL, cnt, displ, row, 0, d->comm);
    free(cnt);
    free(displ);
    MPI_Type_free(&row);
}

void dist_library(char *mpi, size_t mpi_cap, char *level, size_t level_cap)
{
    snprintf(mpi, mpi_cap, "unknown");
    snprintf(level, level_cap, "unknown");
    const int provided = dist_thread_level();
    if (provided < 0) return; /* MPI not running */
    char v[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(v, &len);
    v[strcspn(v, "\n,")] = '\0'; /* "Open MPI v4.1.4, package: ..." -> "Open MPI v4.1.4" */
    snprintf(mpi, mpi_cap, "%s", v);
    snprintf(level, level_cap, "%s", dist_thread_level_name(provided));
}

const char *dist_thread_level_name(int level)
{
    return level == MPI_THREAD_MULTIPLE     ? "multiple"
           : level == MPI_THREAD_SERIALIZED ? "serialized"
           : level == MPI_THREAD_FUNNELED   ? "funneled"
                                            : "single";
}

int dist_threads_call_mpi(void) { return dist_thread_level() == MPI_THREAD_MULTIPLE; }

double dist_max_double(const ms_dist *d, double x)
{
    double m = x;
    if (d->size > 1) MPI_Allreduce(&x, &m, 1, MPI_DOUBLE, MPI_MAX, d->comm);
    return m;
}

long dist_bcast_long(const ms_dist *d, long x)
{
    if (d->size > 1) MPI_Bcast(&x, 1, MPI_LONG, 0, d->comm);
    return x;
}

void dist_sum_floats_start(const ms_dist *d, float *x, size_t n, ms_dist_pending *p)
{
    p->req = MPI_REQUEST_NULL;
    CHECK(n < DIST_CHUNK);
    if (d->size > 1) MPI_Iallreduce(MPI_IN_PLACE, x, (int)n, MPI_FLOAT, MPI_SUM, d->comm, &p->req);
}

void dist_wait(ms_dist_pending *p)
{
    if (p->req != MPI_REQUEST_NULL) MPI_Wait(&p->req, MPI_STATUS_IGNORE);
}

void dist_abort(const ms_dist *d, int code) { MPI_Abort(d->comm, code); }

void dist_barrier(const ms_dist *d)
{
    if (d->size > 1) MPI_Barrier(d->comm);
}

int dist_rank_in(MPI_Comm comm)
{
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    return rank;
}

void dist_sum_doubles_inplace(double *buf, int count, void *dist) { dist_sum(dist, buf, count); }

int dist_thread_level(void)
{
    int inited = 0, finalized = 0, level = MPI_THREAD_SINGLE;
    MPI_Initialized(&inited);
    if (inited) MPI_Finalized(&finalized);
    if (!inited || finalized) return -1;
    MPI_Query_thread(&level);
    return level;
}
