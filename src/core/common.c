/* common — error buffer, CHECK, checked allocation (see include/medssl/common.h). */
#define _POSIX_C_SOURCE 200809L
#include "medssl/common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

static _Thread_local char err_msg[1024];
static _Thread_local char err_where[128];

int ms_fail_at(int code, const char *file, int line, const char *fmt, ...)
{
    /* Format into a local buffer first: callers wrap the previous message
     * (MS_FAIL(rc, "--flag: %s", ms_last_error())), which lives in err_msg. */
    char msg[sizeof err_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(err_msg, msg, sizeof err_msg);
    const char *base = strrchr(file, '/');
    snprintf(err_where, sizeof err_where, "%s:%d", base ? base + 1 : file, line);
    return code;
}

const char *ms_last_error(void) { return err_msg; }
const char *ms_last_error_where(void) { return err_where; }
void ms_clear_error(void) { err_msg[0] = 0; err_where[0] = 0; }

void ms_check_failed(const char *file, int line, const char *cond, const char *msg)
{
    fprintf(stderr, "medssl: internal error at %s:%d: CHECK(%s) failed%s%s\n", file, line, cond,
            msg ? ": " : "", msg ? msg : "");
    fflush(stderr);
    abort();
}

/* Registered temporary outputs. Written by the thread that owns the output,
 * read by whichever thread runs out of memory: a slot is a fixed buffer, so
 * the exit path allocates nothing. */
static char temp_paths[MS_TEMP_SLOTS][4096];
static void (*fatal_hook)(int code);

void ms_temp_register(const char *path)
{
    CHECKM(strlen(path) < sizeof temp_paths[0], "temporary path too long");
    for (int i = 0; i < MS_TEMP_SLOTS; i++)
        if (!temp_paths[i][0]) {
            memcpy(temp_paths[i], path, strlen(path) + 1);
            return;
        }
    CHECKM(0, "more than MS_TEMP_SLOTS temporary files registered");
}

void ms_temp_unregister(const char *path)
{
    for (int i = 0; i < MS_TEMP_SLOTS; i++)
        if (strcmp(temp_paths[i], path) == 0) temp_paths[i][0] = 0;
}

void ms_set_fatal_hook(void (*hook)(int code)) { fatal_hook = hook; }

void ms_fatal_exit(int code)
{
    for (int i = 0; i < MS_TEMP_SLOTS; i++)
        if (temp_paths[i][0]) unlink(temp_paths[i]);
    if (fatal_hook) fatal_hook(code);
    _exit(code);
}

static _Noreturn void oom(size_t bytes, const char *file, int line)
{
    const char *base = strrchr(file, '/');
    fprintf(stderr, "medssl: out of memory: cannot allocate %.1f MiB (at %s:%d)\n", (double)bytes / (1 << 20),
            base ? base + 1 : file, line);
    fflush(stderr);
    ms_fatal_exit(MS_ERR_RUNTIME);
}

void *ms_malloc_at(size_t bytes, const char *file, int line)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p) oom(bytes, file, line);
    return p;
}

void *ms_calloc_at(size_t count, size_t size, const char *file, int line)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) oom(count * size, file, line);
    return p;
}

void *ms_realloc_at(void *p, size_t bytes, const char *file, int line)
{
    void *q = realloc(p, bytes ? bytes : 1);
    if (!q) oom(bytes, file, line);
    return q;
}

void *ms_aligned_at(size_t bytes, const char *file, int line)
{
    void *p = NULL;
    size_t rounded = (bytes + 63) / 64 * 64;
    if (posix_memalign(&p, 64, rounded ? rounded : 64) != 0) oom(bytes, file, line);
    return p;
}

double ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int ms_argmax(const float *x, int n, long long stride)
{
    int best = 0;
    for (int k = 1; k < n; k++)
        if (x[k * stride] > x[best * stride]) best = k;
    return best;
}

int ms_cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int ms_read_file(const char *path, size_t max, char **buf, size_t *len)
{
    *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return MS_FAIL(MS_ERR_INPUT, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return MS_FAIL(MS_ERR_INPUT, "%s: not a regular file", path);
    }
    if ((size_t)st.st_size > max) {
        fclose(f);
        return MS_FAIL(MS_ERR_INPUT, "%s: %lld bytes, more than the %zu MiB read from it", path,
                       (long long)st.st_size, max >> 20);
    }
    char *b = ms_malloc((size_t)st.st_size + 1);
    size_t n = fread(b, 1, (size_t)st.st_size, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(b);
        return MS_FAIL(MS_ERR_INPUT, "%s: read error", path);
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return MS_OK;
}
