/* run_flags — what the training commands share on the command line (see
 * cli.h): one table of the common flags onto ms_run_cfg, with each command's
 * defaults in the help, and the start of a run (MPI, threads, signals). */
#include "cli.h"
#include "medssl/common.h"
#include "medssl/parallel.h"
#include "medssl/runctl.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Help texts that show this command's defaults: formatted once per process
 * (a command parses its flags once). */
enum { N_DEFAULT_HELP = 6 };
static char default_help[N_DEFAULT_HELP][160];

int cli_run_flags(ms_arg *rows, int cap, ms_run_cfg *c)
{
    snprintf(default_help[0], sizeof default_help[0], "epochs (default %d)", c->epochs);
    snprintf(default_help[1], sizeof default_help[1], "global batch in images, split over the ranks (default %d)",
             c->batch);
    snprintf(default_help[2], sizeof default_help[2], "learning rate for 256 images, scaled by batch/256 (default %g)",
             (double)c->lr);
    snprintf(default_help[3], sizeof default_help[3], "step checkpoints kept besides last.h5 and best.h5 (default %d)",
             c->keep);
    snprintf(default_help[4], sizeof default_help[4], "held-out fraction without --val (default %g)",
             (double)c->val_fraction);
    snprintf(default_help[5], sizeof default_help[5], "SGD momentum (default %g)", (double)c->momentum);
    const ms_arg common[] = {
        { "out", ARG_STRING, &c->out, 0, 0, "DIR", "run folder: checkpoints and metrics.jsonl (required)" },
        { "epochs", ARG_INT, &c->epochs, 1, 100000, NULL, default_help[0] },
        { "batch", ARG_INT, &c->batch, 1, 1 << 20, "B", default_help[1] },
        { "lr", ARG_FLOAT, &c->lr, 1e-8, 1e6, "X", default_help[2] },
        { "optimizer", ARG_STRING, &c->optimizer, 0, 0, "sgd|adamw", "optimizer (default sgd, momentum 0.9, Nesterov)" },
        { "momentum", ARG_FLOAT, &c->momentum, 0, 0.999, "M", default_help[5] },
        { "weight-decay", ARG_FLOAT, &c->weight_decay, 0, 1, "X", "weight decay (default 5e-4; none on BN and biases)" },
        { "warmup-epochs", ARG_FLOAT, &c->warmup_epochs, 0, 1000, "E", "linear warmup, then cosine decay (default 1)" },
        { "augment", ARG_STRING, &c->augment, 0, 0, "OPS", "online augmentation (see medssl preview)" },
        { "val", ARG_STRING, &c->val, 0, 0, "FILE", "held-out corpus for the validation metric (instead of --val-fraction)" },
        { "val-fraction", ARG_FLOAT, &c->val_fraction, 0, 0.9, "F", default_help[4] },
        { "seed", ARG_INT, &c->seed, 0, 2147483647, "N", "seed of everything random (default 0)" },
        { "resume", ARG_STRING, &c->resume, 0, 0, "auto|PATH", "continue from the newest checkpoint in --out, or PATH" },
        { "keep", ARG_INT, &c->keep, 1, 1000, "K", default_help[3] },
        { "log-every", ARG_INT, &c->log_every, 1, 1000000, "N", "progress line and metrics every N steps (default 50)" },
        { "quiet", ARG_BOOL, &c->quiet, 0, 0, NULL, "no progress lines (errors and the last line only)" },
        { "max-steps", ARG_LONG, &c->max_steps, 1, 1e15, "N", "stop (with a checkpoint) after N steps of this run" },
        { "sync-bn", ARG_BOOL, &c->sync_bn, 0, 0, NULL, "BatchNorm statistics over all ranks' batches (default per rank)" },
        { "buffer", ARG_INT, &c->buffer, 1, 1 << 24, "M", "shuffle buffer in images per rank (default 4096)" },
        { "buffer-mib", ARG_FLOAT, &c->buffer_mib, 1, 1 << 24, "MIB", "and at most MIB MiB per rank (default 256)" },
    };
    const int n = (int)(sizeof common / sizeof *common);
    CHECKM(n <= cap, "cli_run_flags: too few rows");
    memcpy(rows, common, sizeof common);
    return n;
}

int cli_run_start(ms_dist *d, const char *cmd, int *argc, char ***argv, int threads, char *cmdline, size_t cap)
{
    size_t len = 0;
    cmdline[0] = '\0';
    for (int i = 0; i < *argc && len + 2 < cap; i++)
        len += (size_t)snprintf(cmdline + len, cap - len, "%s%s", i ? " " : "medssl ", (*argv)[i]);
    if (dist_init(d, argc, argv)) {
        fprintf(stderr, "medssl %s: %s\n", cmd, ms_last_error());
        return MS_ERR_RUNTIME;
    }
    cli_set_threads(d, threads);
    runctl_install_signals();
    return MS_OK;
}

int cli_set_threads(const ms_dist *d, int threads)
{
    if (threads <= 0) {
        const long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cores > d->size ? (int)(cores / d->size) : 1;
    }
    parallel_set_threads(threads);
    return threads;
}
