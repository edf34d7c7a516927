/* report — `medssl report RUN_DIR [RUN_DIR..] --out report.html [--title T]`:
 * one self-contained HTML page about run folders (src/report/report.c). */
#include "cli.h"
#include "medssl/common.h"
#include "medssl/report.h"

#include <stdio.h>
#include <string.h>

enum { REPORT_MAX_RUNS = 256 };

int cmd_report(int argc, char **argv)
{
    const char *out = NULL, *title = NULL;
    int pictures = 48;
    const ms_arg args[] = {
        { "out", ARG_STRING, &out, 0, 0, "FILE", "the HTML page to write (required), e.g. report.html" },
        { "title", ARG_STRING, &title, 0, 0, "T", "the page's title (default: medssl report)" },
        { "pictures", ARG_INT, &pictures, 1, 10000, "N", "at most N PNGs inlined per folder (default 48)" },
    };
    const char *runs[REPORT_MAX_RUNS];
    int nruns = 0;
    int rc = cli_parse("report", "RUN_DIR [RUN_DIR..] --out FILE [--title T] [--pictures N]",
                       "Writes one HTML page about the run folders: a summary table; the training curves of\n"
                       "the runs of each task overlaid (loss, validation metric, learning rate, images/s,\n"
                       "loader and all-reduce waits); per run the command line, model and environment, the\n"
                       "evaluations found up to two folders down (metrics.json of evaluate --out and\n"
                       "ensemble evaluate --out: confusion heat map, per-class table, ROC curves, bootstrap\n"
                       "intervals, DSC per image) and the PNGs found there (reconstructions, overlays).\n"
                       "The page is self-contained (inline SVG, inline PNGs, no script): copy it anywhere\n"
                       "and open it offline. A damaged metrics line or file is noted and skipped.",
                       args, (int)(sizeof args / sizeof *args), argc, argv, runs, REPORT_MAX_RUNS, &nruns);
    if (rc) return rc < 0 ? 0 : rc;
    if (nruns == 0 || !out) {
        fprintf(stderr, "medssl report: %s is required (see medssl report --help)\n",
                nruns == 0 ? "a RUN_DIR" : "--out FILE");
        return 2;
    }
    ms_report_cfg cfg = { .runs = runs, .nruns = nruns, .out = out, .title = title, .version = MEDSSL_VERSION,
                          .max_pictures = pictures };
    if ((rc = report_write(&cfg))) return cli_report("report", rc);
    fprintf(stderr, "medssl report: wrote %s (%d run folder%s)\n", out, nruns, nruns == 1 ? "" : "s");
    return 0;
}
