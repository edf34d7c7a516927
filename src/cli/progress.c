/* progress — a line on stderr every few seconds while a long pass runs (see
 * cli.h). Quiet for work that ends within the first interval. */
#include "cli.h"
#include "medssl/common.h"

#include <stdio.h>

#define PROGRESS_EVERY 5.0 /* seconds between lines */

static void say(const cli_progress *p, long long done, const char *eta_or_done, double secs)
{
    fprintf(stderr, "medssl %s: %lld/%lld %s (%.0f%%), %s %dm%02ds\n", p->cmd, done, p->total, p->unit,
            p->total > 0 ? 100.0 * (double)done / (double)p->total : 100.0, eta_or_done, (int)(secs / 60),
            (int)secs % 60);
}

void cli_progress_begin(cli_progress *p, const char *cmd, const char *unit, long long total)
{
    p->cmd = cmd;
    p->unit = unit;
    p->total = total;
    p->t0 = p->last = ms_now();
    p->spoke = 0;
}

void cli_progress_update(cli_progress *p, long long done)
{
    const double now = ms_now();
    if (now - p->last < PROGRESS_EVERY || done <= 0) return;
    p->last = now;
    p->spoke = 1;
    say(p, done, "ETA", (now - p->t0) * (double)(p->total - done) / (double)done);
}

void cli_progress_end(cli_progress *p, long long done)
{
    if (p->spoke) say(p, done, "done in", ms_now() - p->t0);
}
