/* atomic — outputs that appear whole or not at all (see include/medssl/atomic.h). */
#define _POSIX_C_SOURCE 200809L
#include "medssl/atomic.h"
#include "medssl/common.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int fsync_path(const char *path, int directory)
{
    int fd = open(path, directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int atomic_tmp_name(const char *path, char *tmp, size_t cap)
{
    if ((size_t)snprintf(tmp, cap, "%s.tmp.%ld", path, (long)getpid()) >= cap)
        return MS_FAIL(MS_ERR_INPUT, "%.64s...: path too long", path);
    ms_temp_register(tmp);
    return MS_OK;
}

void atomic_discard(const char *tmp)
{
    unlink(tmp);
    ms_temp_unregister(tmp);
}

int atomic_publish(const char *tmp, const char *path)
{
    if (fsync_path(tmp, 0) != 0) {
        const int e = errno;
        atomic_discard(tmp);
        return MS_FAIL(MS_ERR_RUNTIME, "%s: writing failed: %s", path, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        const int e = errno;
        atomic_discard(tmp);
        return MS_FAIL(MS_ERR_RUNTIME, "%s: cannot rename into place: %s", path, strerror(e));
    }
    ms_temp_unregister(tmp);
    char dir[ATOMIC_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    fsync_path(dirname(dir), 1); /* the rename itself survives a crash */
    return MS_OK;
}

int atomic_open(ms_atomic_file *a, const char *path)
{
    memset(a, 0, sizeof *a);
    if (strlen(path) >= sizeof a->path) return MS_FAIL(MS_ERR_INPUT, "%.64s...: path too long", path);
    memcpy(a->path, path, strlen(path) + 1);
    int rc = atomic_tmp_name(path, a->tmp, sizeof a->tmp);
    if (rc) return rc;
    a->f = fopen(a->tmp, "w");
    if (!a->f) {
        const int e = errno;
        ms_temp_unregister(a->tmp);
        return MS_FAIL(MS_ERR_INPUT, "%s: cannot create: %s", a->tmp, strerror(e));
    }
    return MS_OK;
}

int atomic_commit(ms_atomic_file *a)
{
    int bad = ferror(a->f) || fflush(a->f) != 0;
    const int e = errno;
    bad |= fclose(a->f) != 0;
    a->f = NULL;
    if (bad) {
        atomic_discard(a->tmp);
        return MS_FAIL(MS_ERR_RUNTIME, "%s: writing failed: %s (disk full?)", a->path, strerror(e ? e : EIO));
    }
    return atomic_publish(a->tmp, a->path);
}

void atomic_abort(ms_atomic_file *a)
{
    if (a->f) fclose(a->f);
    a->f = NULL;
    atomic_discard(a->tmp);
}
