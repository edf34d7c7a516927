/* dist — data-parallel training over MPI ranks.
 *
 * A run started without mpirun is a world of one rank: every function here
 * then does nothing (no #ifdef anywhere). Gradients are averaged with
 * non-blocking all-reduces over slab ranges, issued in bucket order as
 * model_backward reports ranges final (dist_grads_ready is its callback), so
 * communication overlaps the rest of backward. Every rank issues the same
 * collectives in the same order: the bucket boundaries depend only on the
 * model, its frozen tensors and the bucket size. Frozen tensors (SLAB_FROZEN)
 * are never all-reduced nor rescaled: their gradients are zero everywhere.
 */
#ifndef MEDSSL_DIST_H
#define MEDSSL_DIST_H

#include <stddef.h>

#include <mpi.h>

#include "medssl/slab.h"

typedef struct {
    MPI_Comm comm;        /* the ranks that train together: the world, or a group of dist_split */
    int rank, size;       /* in comm */
    int we_initialized;   /* dist_init called MPI_Init, so dist_finalize finalizes */
} ms_dist;

/* Initializes MPI if needed; d describes dist_comm(): the world, or the
 * calling rank's group while a dist_split is in force. */
int dist_init(ms_dist *d, int *argc, char ***argv);
/* As dist_init, asking MPI_Init_thread for `level` (MPI_THREAD_FUNNELED ..
 * MPI_THREAD_MULTIPLE; dist_init asks MULTIPLE): for measuring what the level
 * changes (bench/bench_loader.c). */
int dist_init_thread(ms_dist *d, int *argc, char ***argv, int level);
void dist_finalize(ms_dist *d);
/* The communicator runs train on while a dist_split is in force (the world
 * otherwise), for code started inside a group without an ms_dist at hand
 * (dist_init describes it; ensemble members). */
MPI_Comm dist_comm(void);
/* Splits d's ranks into `groups` groups of consecutive ranks (sizes differ by
 * at most one; groups <= d->size) and makes the caller's group dist_comm(),
 * so that runs started inside (dist_init) train within their group, e.g. one
 * ensemble member per group. Collective over d->comm. Returns the group index
 * in *group. dist_unsplit (collective over the group) goes back to d->comm. */
int dist_split(const ms_dist *d, int groups, int *group);
void dist_unsplit(void);
/* Gives every rank rank 0's parameter values (including BN running stats). */
void dist_broadcast_params(const ms_dist *d, ms_slab *s);

#define DIST_MAX_BUCKETS 256

typedef struct {
    const ms_dist *d;
    ms_slab *s;
    size_t bucket_floats;  /* launch an all-reduce once a pending range reaches this */
    size_t lo, hi;         /* pending range [lo, hi) not yet launched */
    MPI_Request req[DIST_MAX_BUCKETS];
    int n_req;
    size_t floats_reduced; /* this step's all-reduced floats: frozen tensors are left out */
} ms_grad_sync;

void grad_sync_init(ms_grad_sync *g, const ms_dist *d, ms_slab *s, size_t bucket_floats);
/* Start of a step's backward. */
void grad_sync_begin(ms_grad_sync *g);
/* ms_grads_ready_fn: the gradients in [offset, offset+count) are final. */
void dist_grads_ready(void *grad_sync, size_t offset, size_t count);
/* Launches what is pending, waits for all, divides by the rank count. */
void grad_sync_finish(ms_grad_sync *g);

/* ---- agreement: every "did any rank ..." goes through these (collectives) ---- */

/* Sum of a double over ranks (for logging losses and metrics). */
double dist_sum_double(const ms_dist *d, double x);
/* x[0..n) summed over the ranks, in place: one collective for several
 * per-step numbers (the trainer fuses its loss and its flags this way). */
void dist_sum(const ms_dist *d, double *x, int n);
long long dist_sum_ll(const ms_dist *d, long long x);
/* The largest x over the ranks (e.g. the worst exit code, quietly). */
int dist_max_int(const ms_dist *d, int x);
/* 1 on every rank when flag is nonzero on any rank. */
int dist_any(const ms_dist *d, int flag);
/* After a step that may fail on some ranks: every rank gets the worst code;
 * a failing rank prints its message ("medssl <cmd>: [rank r: ]..."), rank 0
 * says so when only another rank failed; the error is then cleared
 * (ms_clear_error), so callers print nothing more. */
int dist_agree(const ms_dist *d, const char *cmd, int rc);
/* Contiguous ranges of N rows for the ranks of d, in rank order: rank r
 * takes rows [first[r], first[r] + counts[r]) (sizes differ by at most 1);
 * first and counts hold d->size values. */
void dist_split_rows(const ms_dist *d, long long N, long long *first, long long *counts);
/* Gathers the ranks' rows to rank 0 in rank order: rank r holds counts[r]
 * rows of row_bytes (mine of them: counts[rank]) that go to row first[r] of
 * rank 0's array; on rank 0, rows is the whole array with its own share
 * already at first[0] (in place), elsewhere only the rank's share. */
void dist_gather_rows(const ms_dist *d, void *rows, long long mine, size_t row_bytes, const long long *first,
                      const long long *counts);
/* The MPI library ("Open MPI v4.1.4") and the thread level it provides
 * ("multiple", ...); "unknown" before MPI_Init. */
void dist_library(char *mpi, size_t mpi_cap, char *level, size_t level_cap);
void dist_barrier(const ms_dist *d);
/* This process's rank in comm (e.g. its group's, for who reports). */
int dist_rank_in(MPI_Comm comm);

/* An ms_sum_fn (medssl/model.h) over MPI: buf[0..count) summed over the ranks
 * of `dist` (an ms_dist *, read only), in place, on every rank; a collective.
 * Sync-BN reaches the other ranks through it:
 *   if (sync_bn && d->size > 1) model_set_bn_reducer(m, dist_sum_doubles_inplace, (void *)d); */
void dist_sum_doubles_inplace(double *buf, int count, void *dist);

/* The thread level MPI provides (MPI_THREAD_SINGLE .. MPI_THREAD_MULTIPLE),
 * or -1 when MPI is not running (before MPI_Init or after MPI_Finalize). */
int dist_thread_level(void);
/* "single", "funneled", "serialized" or "multiple". */
const char *dist_thread_level_name(int level);
/* 1 when MPI lets a second thread call it while the main one does
 * (MPI_THREAD_MULTIPLE): the loader's prefetch thread may then read through
 * MPI-IO during the training collectives. */
int dist_threads_call_mpi(void);

/* ---- for benchmarks: the world's extremes, a broadcast, a pending sum ---- */

double dist_max_double(const ms_dist *d, double x);
/* Rank 0's x, on every rank. */
long dist_bcast_long(const ms_dist *d, long x);
/* A float sum over the ranks in flight (in place, n < DIST_CHUNK), finished by dist_wait. */
typedef struct {
    MPI_Request req;
} ms_dist_pending;
void dist_sum_floats_start(const ms_dist *d, float *x, size_t n, ms_dist_pending *p);
void dist_wait(ms_dist_pending *p);
/* Ends every rank of d at once with exit code `code` (a failure nothing else can recover). */
void dist_abort(const ms_dist *d, int code);

#endif
