/* common — error reporting, checked allocation and always-on invariants.
 *
 * Library functions return an int status: MS_OK (0), MS_ERR_RUNTIME (1) or
 * MS_ERR_INPUT (2, bad usage or bad input file). The message for the last
 * failure on this thread is kept in a thread-local buffer (like errno) and read
 * with ms_last_error(); only the CLI prints it and decides to exit.
 *
 * CHECK(cond) is an always-on invariant for programmer errors (not user input):
 * it prints file:line and the condition, then aborts. It never vanishes in
 * release builds, unlike assert().
 */
#ifndef MEDSSL_COMMON_H
#define MEDSSL_COMMON_H

#include <stddef.h>
#include <stdint.h>

enum { MS_OK = 0, MS_ERR_RUNTIME = 1, MS_ERR_INPUT = 2 };

/* Records a formatted message for this thread and returns `code`, so a
 * failing function can `return MS_FAIL(MS_ERR_INPUT, "%s: ...", path);`. */
int ms_fail_at(int code, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define MS_FAIL(code, ...) ms_fail_at((code), __FILE__, __LINE__, __VA_ARGS__)

const char *ms_last_error(void);      /* "" when nothing failed */
const char *ms_last_error_where(void); /* "file.c:123" of the MS_FAIL */
void ms_clear_error(void);

_Noreturn void ms_check_failed(const char *file, int line, const char *cond, const char *msg);
#define CHECK(cond) \
    do { if (!(cond)) ms_check_failed(__FILE__, __LINE__, #cond, NULL); } while (0)
#define CHECKM(cond, msg) \
    do { if (!(cond)) ms_check_failed(__FILE__, __LINE__, #cond, (msg)); } while (0)

/* Allocation that cannot return NULL: out of memory prints one line with the
 * size and the call site and ends the process with exit 1 through ms_fatal_exit
 * (there is no sensible recovery inside a training step, but there is no
 * abort either: temporary files go, the other MPI ranks are ended). */
void *ms_malloc_at(size_t bytes, const char *file, int line);
void *ms_calloc_at(size_t count, size_t size, const char *file, int line);
void *ms_realloc_at(void *p, size_t bytes, const char *file, int line);
/* 64-byte aligned, for activation and parameter buffers; free with free(). */
void *ms_aligned_at(size_t bytes, const char *file, int line);
#define ms_malloc(b) ms_malloc_at((b), __FILE__, __LINE__)
#define ms_calloc(n, s) ms_calloc_at((n), (s), __FILE__, __LINE__)
#define ms_realloc(p, b) ms_realloc_at((p), (b), __FILE__, __LINE__)
#define ms_aligned(b) ms_aligned_at((b), __FILE__, __LINE__)

/* Ending the process on an unrecoverable runtime failure (out of memory):
 * removes the files registered with ms_temp_register (an output being written
 * under a temporary name), runs the hook (dist installs one that ends every
 * MPI rank: MPI_Abort when there are several), then _exit(code). Up to
 * MS_TEMP_SLOTS paths are held at once; registering more is a CHECK failure. */
enum { MS_TEMP_SLOTS = 8 };
void ms_temp_register(const char *path);
void ms_temp_unregister(const char *path);
void ms_set_fatal_hook(void (*hook)(int code));
_Noreturn void ms_fatal_exit(int code);

double ms_now(void); /* monotonic seconds */

/* The index of the largest of x[0], x[stride], ..., x[(n-1)*stride] (the
 * first one on ties; n >= 1): a class from scores, a pixel's class from
 * (K, HW) planes with stride HW. */
int ms_argmax(const float *x, int n, long long stride);
/* qsort comparator of doubles, ascending (NaNs are not ordered: drop them first). */
int ms_cmp_double(const void *a, const void *b);
/* The whole regular file `path` into *buf (malloc'd, NUL-terminated, *len
 * bytes) if it holds at most max bytes; MS_ERR_INPUT naming the file
 * otherwise (missing, not a regular file, too large, read error), *buf NULL. */
int ms_read_file(const char *path, size_t max, char **buf, size_t *len);

#endif
