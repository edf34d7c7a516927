/* report — one self-contained HTML page about run folders: what ran (command
 * line, model, environment), the training curves of all runs overlaid per
 * task (loss, validation metric, learning rate, images/s, loader and
 * all-reduce waits), a summary table, the evaluations found in the folders
 * (evaluate's and ensemble evaluate's metrics.json: confusion heat map,
 * per-class table, ROC curves, intervals; DSC per image for segmentation) and
 * the pictures (reconstructions, overlays, Grad-CAM sheets).
 *
 * The page needs nothing else: charts are inline SVG (svg.h), PNGs are data
 * URIs, the CSS is inline, there is no script. Every string that came from a
 * file or a command line is HTML-escaped. A damaged metrics line or file is
 * noted on the page (and through the logger) and the rest still renders.
 *
 *     ms_report_cfg cfg = { .runs = dirs, .nruns = 3, .out = "report.html", .title = "FM 1%" };
 *     if (report_write(&cfg)) fprintf(stderr, "%s\n", ms_last_error());
 */
#ifndef MEDSSL_REPORT_H
#define MEDSSL_REPORT_H

#include "medssl/log.h"

typedef struct {
    const char *const *runs;  /* (nruns) folders: training runs, evaluate --out or ensemble --out folders */
    int nruns;
    const char *out;          /* the HTML file (written atomically) */
    const char *title;        /* NULL: "medssl report" */
    const char *version;      /* medssl's version for the footer, or NULL */
    int max_pictures;         /* per run; 0 = 48 */
    ms_logger log;            /* notes about skipped lines or files; empty = stderr */
} ms_report_cfg;

/* MS_OK; MS_ERR_INPUT when a folder is missing or holds nothing a report can
 * show (the message names it); MS_ERR_RUNTIME when the page cannot be written. */
int report_write(const ms_report_cfg *cfg);

#endif
