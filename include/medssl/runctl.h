/* runctl — what a long training run needs around its loop: stop requests from
 * SLURM (SIGTERM, SIGUSR1 before the time limit), agreed by all ranks; the
 * run folder's checkpoints (finding the newest complete one for --resume auto,
 * keeping the last K); and metrics.jsonl lines.
 *
 * Signals only set a flag, in a thread of their own; the trainer polls
 * runctl_stop_signal() once per step and OR-reduces it over the ranks (in its
 * one per-step agreement), so every rank stops after the same step.
 */
#ifndef MEDSSL_RUNCTL_H
#define MEDSSL_RUNCTL_H

#include <stddef.h>
#include <stdio.h>

#include "medssl/dist.h"

/* Starts the thread that alone takes SIGTERM, SIGUSR1 and SIGINT; the calling
 * thread, and every thread it starts afterwards, blocks them. Call it first
 * in main, before MPI, OpenMP or the loader start threads: a signal handler
 * then never runs on a thread inside a compute kernel (oneDNN's sgemm was seen
 * to corrupt the heap when a stop signal landed on it). Until
 * runctl_install_signals, the signals end the process as by default. */
void runctl_signals_init(void);
/* From now on SIGTERM and SIGUSR1 (SIGINT too) request a stop
 * (runctl_stop_signal) instead of ending the process. */
void runctl_install_signals(void);
/* Which signal asked to stop (0 = none). */
int runctl_stop_signal(void);

/* Checkpoints in a run folder are named step-<step, 12 digits>.h5; best.h5 and
 * last.h5 are copies kept beside them. Temporary files (*.tmp.*) never count. */
void runctl_ckpt_name(char *buf, size_t cap, const char *dir, long long step);
/* The complete checkpoint with the highest step in dir, or "" if none
 * (returns 0 either way; MS_ERR_INPUT if dir cannot be read). */
int runctl_find_latest(const char *dir, char *path, size_t cap);
/* Deletes step-*.h5 checkpoints in dir except the `keep` newest, and the
 * temporary files (*.tmp.<pid>) of processes that no longer run (a run
 * killed in the middle of a checkpoint write). */
int runctl_prune(const char *dir, int keep);

/* Appends one line to <dir>/metrics.jsonl: `json_object` must be a complete
 * JSON object without a newline; the line is flushed and fsynced. */
int runctl_append_metrics(const char *dir, const char *json_object);

/* mkdir -p for a run folder; MS_ERR_INPUT naming it when it cannot be made. */
int runctl_make_dir(const char *dir);

/* Makes this process the one writer of run folder dir: an fcntl write lock on
 * <dir>/.medssl.lock (holding the owner's pid for the message), released when
 * the process ends however it ends, so a lock is never stale. A second run on
 * the same folder gets MS_ERR_INPUT naming the folder and the owner. A
 * process holds one run folder at a time (a new lock releases the previous).
 * Also refuses a metrics.jsonl that is a symbolic link (appends would land
 * outside the folder). */
int runctl_own_dir(const char *dir);

/* The checkpoints of dir a resume may use, newest first: step-*.h5 by step,
 * then last.h5 (paths into list, at most max of cap bytes each; *n set). */
int runctl_list_checkpoints(const char *dir, char (*list)[4096], int max, int *n);

/* After a resume from step S: drops metrics.jsonl's progress and epoch lines
 * of steps after S (written after the checkpoint by a run that then died),
 * so the file holds each step once. Start lines stay. Atomic (rename). */
int runctl_truncate_metrics(const char *dir, long long step);

#endif
