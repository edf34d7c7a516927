/* test_runctl — latest-checkpoint discovery ignores temporary and foreign files,
 * pruning keeps the newest K and deletes temporary files of processes that
 * are gone, metrics lines append whole, stop signals set the
 * flag, run folders are created (and a file in the way is an error). */
#include "medssl/common.h"
#include "medssl/runctl.h"
#include "testutil.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char DIR_[256];

static void touch(const char *name)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", DIR_, name);
    FILE *f = fopen(p, "w");
    CHECK(f);
    fclose(f);
}

static int exists(const char *name)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", DIR_, name);
    return access(p, F_OK) == 0;
}

static void test_latest_and_prune(void)
{
    char path[700], want[700];
    TU_CHECK(runctl_find_latest(DIR_, path, sizeof path) == 0 && path[0] == 0); /* empty folder */
    char name[64];
    for (long long s = 100; s <= 500; s += 100) {
        runctl_ckpt_name(path, sizeof path, DIR_, s);
        touch(strrchr(path, '/') + 1);
    }
    /* a write in progress (this process is alive) and one interrupted by a kill
     * (a child that has exited: its pid names no process) */
    char live[64], dead[64];
    snprintf(live, sizeof live, "step-000000000900.h5.tmp.%ld", (long)getpid());
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) _exit(0);
    CHECK(waitpid(child, NULL, 0) == child);
    snprintf(dead, sizeof dead, "step-000000000800.h5.tmp.%ld", (long)child);
    touch(live);
    touch(dead);
    touch("step-abc.h5");
    touch("best.h5");
    touch("last.h5");
    TU_CHECK(runctl_find_latest(DIR_, path, sizeof path) == 0);
    runctl_ckpt_name(want, sizeof want, DIR_, 500);
    TU_CHECKF(strcmp(path, want) == 0, "%s", path);
    TU_CHECK(runctl_prune(DIR_, 2) == 0);
    snprintf(name, sizeof name, "step-%012d.h5", 300);
    TU_CHECK(!exists(name));
    snprintf(name, sizeof name, "step-%012d.h5", 400);
    TU_CHECK(exists(name));
    TU_CHECK(exists("best.h5") && exists("last.h5") && exists(live));
    TU_CHECK(!exists(dead));
    char missing[700];
    snprintf(missing, sizeof missing, "%s/nope", DIR_);
    TU_CHECK(runctl_find_latest(missing, path, sizeof path) == 0 && path[0] == 0);
}

static void test_metrics_lines(void)
{
    TU_CHECK(runctl_append_metrics(DIR_, "{\"epoch\": 0, \"loss\": 1.5}") == 0);
    TU_CHECK(runctl_append_metrics(DIR_, "{\"epoch\": 1, \"loss\": 0.5}") == 0);
    char p[600], line[256];
    snprintf(p, sizeof p, "%s/metrics.jsonl", DIR_);
    FILE *f = fopen(p, "r");
    CHECK(f);
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        TU_CHECK(line[0] == '{' && line[strlen(line) - 2] == '}' && line[strlen(line) - 1] == '\n');
        n++;
    }
    fclose(f);
    TU_CHECK(n == 2);
}

/* A signal to the process (as SLURM and kill send it) sets the stop flag, taken
 * by the signal thread: this thread blocks it (runctl_signals_init). */
static void test_signals(void)
{
    runctl_signals_init();
    runctl_install_signals();
    TU_CHECK(runctl_stop_signal() == 0);
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    TU_CHECK(sigismember(&cur, SIGUSR1) && sigismember(&cur, SIGTERM) && sigismember(&cur, SIGINT));
    kill(getpid(), SIGUSR1);
    for (int i = 0; i < 1000 && runctl_stop_signal() == 0; i++) nanosleep(&(struct timespec){ 0, 1000000 }, NULL); /* the other thread's turn */
    TU_CHECK(runctl_stop_signal() == SIGUSR1);
}

static void test_make_dir(void)
{
    char p[600];
    snprintf(p, sizeof p, "%s/a/b/c", DIR_);
    TU_CHECK(runctl_make_dir(p) == 0 && runctl_make_dir(p) == 0);
    touch("afile");
    snprintf(p, sizeof p, "%s/afile", DIR_);
    TU_CHECK(runctl_make_dir(p) == MS_ERR_INPUT && strstr(ms_last_error(), "afile"));
}

int main(void)
{
    snprintf(DIR_, sizeof DIR_, "/tmp/medssl_test_runctl.%ld", (long)getpid());
    CHECK(runctl_make_dir(DIR_) == 0);
    TU_RUN(test_latest_and_prune);
    TU_RUN(test_metrics_lines);
    TU_RUN(test_signals);
    TU_RUN(test_make_dir);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", DIR_);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", DIR_);
    return tu_summary();
}
