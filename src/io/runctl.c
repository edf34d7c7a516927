/* runctl — stop signals, run-folder checkpoints and metrics lines (see
 * include/medssl/runctl.h). */
#include "medssl/runctl.h"
#include "medssl/atomic.h"
#include "medssl/common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static volatile sig_atomic_t stop_signal;
static volatile sig_atomic_t stop_mode;    /* 0: a signal ends the process as by default; 1: it requests a stop */
static pthread_once_t signal_thread_once = PTHREAD_ONCE_INIT;
static int signal_thread_ok;

static void stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGUSR1);
    sigaddset(set, SIGINT);
}

/* The one thread that takes the stop signals (every other thread blocks them),
 * so no signal frame is ever pushed onto a thread in the middle of a compute
 * kernel. Before a run asks for stops, a signal ends the process exactly as
 * its default action would (SIGTERM: exit 143). */
static void *signal_thread_main(void *arg)
{
    (void)arg;
    sigset_t set;
    stop_signals(&set);
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) continue;
        if (stop_mode) {
            stop_signal = sig;
            continue;
        }
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigemptyset(&dfl.sa_mask);
        sigaction(sig, &dfl, NULL);
        sigset_t one;
        sigemptyset(&one);
        sigaddset(&one, sig);
        pthread_sigmask(SIG_UNBLOCK, &one, NULL);
        raise(sig); /* delivered to this thread: the default action ends the process */
        _exit(128 + sig);
    }
    return NULL;
}

static void start_signal_thread(void)
{
    sigset_t set, old;
    stop_signals(&set);
    /* block first: the new thread inherits the mask (sigwait needs it), and so
     * does every thread the calling thread starts from now on */
    pthread_sigmask(SIG_BLOCK, &set, &old);
    pthread_attr_t attr;
    pthread_t th;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    signal_thread_ok = pthread_create(&th, &attr, signal_thread_main, NULL) == 0;
    pthread_attr_destroy(&attr);
    if (!signal_thread_ok) pthread_sigmask(SIG_SETMASK, &old, NULL); /* leave signals to the handler below */
}

void runctl_signals_init(void)
{
    pthread_once(&signal_thread_once, start_signal_thread);
}

static void on_signal(int sig) { stop_signal = sig; }

void runctl_install_signals(void)
{
    runctl_signals_init();
    stop_mode = 1;
    /* for threads started before runctl_signals_init (a library caller's own,
     * or if the signal thread could not start), a handler that only sets the
     * flag; SA_RESTART so no system call of theirs fails with EINTR */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

int runctl_stop_signal(void) { return stop_signal; }

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

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

/* The steps of dir's step-*.h5 checkpoints, sorted ascending (malloc'd, *n of
 * them; NULL when none). With prune_tmp, also deletes the temporary checkpoint
 * files of processes that no longer run (killed in the middle of a write).
 * Returns NULL with *n = (size_t)-1 when dir cannot be read (errno set). */
static long long *scan_steps(const char *dir, int prune_tmp, size_t *n)
{
    DIR *dp = opendir(dir);
    *n = 0;
    if (!dp) {
        *n = (size_t)-1;
        return NULL;
    }
    long long *steps = NULL;
    size_t cap = 0;
    for (struct dirent *e; (e = readdir(dp));) {
        const char *tmp = strstr(e->d_name, ".tmp.");
        if (tmp) {
            char *end;
            long pid = strtol(tmp + 5, &end, 10);
            if (prune_tmp && *end == '\0' && pid > 0 && pid != (long)getpid() && kill((pid_t)pid, 0) != 0 &&
                errno == ESRCH) {
                char path[4096];
                snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
                unlink(path);
            }
            continue;
        }
        long long s = step_of(e->d_name);
        if (s < 0) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            steps = ms_realloc(steps, cap * sizeof *steps);
        }
        steps[(*n)++] = s;
    }
    closedir(dp);
    if (*n) qsort(steps, *n, sizeof *steps, cmp_ll);
    return steps;
}

int runctl_find_latest(const char *dir, char *path, size_t cap)
{
    path[0] = 0;
    size_t n;
    long long *steps = scan_steps(dir, 0, &n);
    if (n == (size_t)-1) {
        if (errno == ENOENT) return MS_OK;
        return MS_FAIL(MS_ERR_INPUT, "%s: cannot read the run folder: %s", dir, strerror(errno));
    }
    if (n) runctl_ckpt_name(path, cap, dir, steps[n - 1]);
    free(steps);
    return MS_OK;
}

int runctl_prune(const char *dir, int keep)
{
    size_t n;
    long long *steps = scan_steps(dir, 1, &n);
    if (n == (size_t)-1) return MS_FAIL(MS_ERR_RUNTIME, "%s: cannot read the run folder: %s", dir, strerror(errno));
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
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0644);
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

static int lock_fd = -1; /* the run folder this process owns (runctl_own_dir) */

int runctl_own_dir(const char *dir)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
        return MS_FAIL(MS_ERR_INPUT, "%s is a symbolic link: medssl writes only inside --out (remove it)", path);
    snprintf(path, sizeof path, "%s/.medssl.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) return MS_FAIL(MS_ERR_INPUT, "%s: cannot create the run folder's lock: %s", path, strerror(errno));
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
    if (fcntl(fd, F_SETLK, &fl) != 0) {
        const int err = errno;
        char owner[32] = "";
        ssize_t r = pread(fd, owner, sizeof owner - 1, 0);
        owner[r > 0 ? r : 0] = '\0';
        owner[strcspn(owner, "\n")] = '\0';
        close(fd);
        if (err == EACCES || err == EAGAIN)
            return MS_FAIL(MS_ERR_INPUT, "%s: another medssl run (pid %s) is writing to this folder; wait for it to end "
                           "or choose another --out", dir, owner[0] ? owner : "?");
        return MS_FAIL(MS_ERR_INPUT, "%s: cannot lock: %s", path, strerror(err));
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) { /* the pid is for messages only */ }
    if (lock_fd >= 0) close(lock_fd);
    lock_fd = fd;
    return MS_OK;
}

int runctl_list_checkpoints(const char *dir, char (*list)[4096], int max, int *n)
{
    *n = 0;
    size_t k;
    long long *steps = scan_steps(dir, 0, &k);
    if (k == (size_t)-1) {
        if (errno == ENOENT) return MS_OK;
        return MS_FAIL(MS_ERR_INPUT, "%s: cannot read the run folder: %s", dir, strerror(errno));
    }
    for (size_t i = k; i > 0 && *n < max; i--) runctl_ckpt_name(list[(*n)++], 4096, dir, steps[i - 1]);
    free(steps);
    char last[4096];
    snprintf(last, sizeof last, "%s/last.h5", dir);
    if (*n < max && access(last, F_OK) == 0) snprintf(list[(*n)++], 4096, "%s", last);
    return MS_OK;
}

int runctl_truncate_metrics(const char *dir, long long step)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    FILE *in = fopen(path, "r");
    if (!in) return MS_OK; /* nothing written yet */
    ms_atomic_file a;
    int rc = atomic_open(&a, path);
    if (rc) {
        fclose(in);
        return rc;
    }
    FILE *out = a.f;
    char *line = NULL;
    size_t cap = 0;
    long dropped = 0;
    int bad = 0;
    for (ssize_t len; (len = getline(&line, &cap, in)) > 0;) {
        const char *p = strstr(line, "\"step\": ");
        const int start = strstr(line, "\"event\": ") != NULL;
        if (!start && p && strtoll(p + 8, NULL, 10) > step) {
            dropped++;
            continue;
        }
        bad |= fwrite(line, 1, (size_t)len, out) != (size_t)len;
    }
    free(line);
    fclose(in);
    if (bad || dropped == 0) { /* nothing to drop: the file stays as it is */
        atomic_abort(&a);
        return bad ? MS_FAIL(MS_ERR_RUNTIME, "%s: cannot rewrite (disk full?)", path) : MS_OK;
    }
    return atomic_commit(&a);
}
