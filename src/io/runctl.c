/* runctl — stop signals, run-folder checkpoints and metrics lines (see
 * include/medssl/runctl.h). */
#include "medssl/runctl.h"
#include "medssl/common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) { stop_signal = sig; }

void runctl_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

int runctl_stop_signal(void) { return stop_signal; }

int runctl_stop_signalled(void) { return stop_signal != 0; }

int runctl_stop_requested(const ms_dist *d)
{
    int mine = stop_signal != 0, any = mine;
    if (d->size > 1) MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, d->comm);
    return any;
}

void runctl_ckpt_name(char *buf, size_t cap, const char *dir, long long step)
{
    snprintf(buf, cap, "%s/step-%012lld.h5", dir, step);
}

/* step of "step-<digits>.h5", or -1 */
static long long step_of(const char *name)
{
    if (strncmp(name, "step-", 5) != 0) return -1;
    char *end;
    long long s = strtoll(name + 5, &end, 10);
    if (end == name + 5 || strcmp(end, ".h5") != 0 || s < 0) return -1;
    return s;
}

int runctl_find_latest(const char *dir, char *path, size_t cap)
{
    path[0] = 0;
    DIR *dp = opendir(dir);
    if (!dp) {
        if (errno == ENOENT) return MS_OK;
        return MS_FAIL(MS_ERR_INPUT, "%s: cannot read the run folder: %s", dir, strerror(errno));
    }
    long long best = -1;
    char name[256] = "";
    for (struct dirent *e; (e = readdir(dp));) {
        long long s = step_of(e->d_name);
        if (s > best) {
            best = s;
            snprintf(name, sizeof name, "%s", e->d_name);
        }
    }
    closedir(dp);
    if (best >= 0) snprintf(path, cap, "%s/%s", dir, name);
    return MS_OK;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

int runctl_prune(const char *dir, int keep)
{
    DIR *dp = opendir(dir);
    if (!dp) return MS_FAIL(MS_ERR_RUNTIME, "%s: cannot read the run folder: %s", dir, strerror(errno));
    long long *steps = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *e; (e = readdir(dp));) {
        /* a temporary checkpoint of a process that no longer runs (killed in a write) */
        const char *tmp = strstr(e->d_name, ".tmp.");
        if (tmp) {
            char *end;
            long pid = strtol(tmp + 5, &end, 10);
            if (*end == '\0' && pid > 0 && pid != (long)getpid() && kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
                char path[4096];
                snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
                unlink(path);
            }
            continue;
        }
        long long s = step_of(e->d_name);
        if (s < 0) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            steps = ms_realloc(steps, cap * sizeof *steps);
        }
        steps[n++] = s;
    }
    closedir(dp);
    if (n) qsort(steps, n, sizeof *steps, cmp_ll);
    int rc = MS_OK;
    for (size_t i = 0; keep >= 0 && i + (size_t)keep < n; i++) {
        char path[4096];
        runctl_ckpt_name(path, sizeof path, dir, steps[i]);
        if (unlink(path) != 0 && errno != ENOENT)
            rc = MS_FAIL(MS_ERR_RUNTIME, "%s: cannot delete: %s", path, strerror(errno));
    }
    free(steps);
    return rc;
}

int runctl_append_metrics(const char *dir, const char *json_object)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) return MS_FAIL(MS_ERR_RUNTIME, "%s: cannot open: %s", path, strerror(errno));
    size_t len = strlen(json_object);
    char *line = ms_malloc(len + 2);
    memcpy(line, json_object, len);
    line[len] = '\n';
    /* one write() of the whole line: a crash leaves whole lines only (O_APPEND) */
    ssize_t w = write(fd, line, len + 1);
    int rc = (w == (ssize_t)(len + 1) && fsync(fd) == 0) ? MS_OK
                                                           : MS_FAIL(MS_ERR_RUNTIME, "%s: write failed (disk full?)", path);
    free(line);
    close(fd);
    return rc;
}

int runctl_make_dir(const char *dir)
{
    char buf[4096];
    if (strlen(dir) >= sizeof buf || !*dir) return MS_FAIL(MS_ERR_INPUT, "output folder name is empty or too long");
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return MS_FAIL(MS_ERR_INPUT, "%s: cannot create folder: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return MS_FAIL(MS_ERR_INPUT, "%s: cannot create folder: %s", buf, strerror(errno));
    struct stat st;
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) return MS_FAIL(MS_ERR_INPUT, "%s: is not a folder", buf);
    return MS_OK;
}
