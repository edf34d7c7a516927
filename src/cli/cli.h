/* cli — the subcommands of the medssl binary and the flag parser they share.
 *
 * Each subcommand is `int cmd_<name>(int argc, char **argv)` (argv[0] is the
 * subcommand name) returning the process exit code: 0 success, 1 runtime
 * failure, 2 bad usage or bad input (DESIGN.md). Flags are long GNU-style
 * (`--epochs 10` or `--epochs=10`); every subcommand answers --help.
 */
#ifndef MEDSSL_CLI_H
#define MEDSSL_CLI_H

#define MEDSSL_VERSION "0.1.0"

#include <stddef.h>
#include <stdint.h>

#include "medssl/corpus.h"
#include "medssl/dist.h"
#include "medssl/predict.h"
#include "medssl/run.h"

typedef enum { ARG_BOOL, ARG_INT, ARG_LONG, ARG_FLOAT, ARG_STRING, ARG__COUNT } ms_arg_type;

typedef struct {
    const char *name;   /* without the leading "--" */
    ms_arg_type type;
    void *dst;          /* int* (BOOL, INT), long*, float*, const char ** */
    double lo, hi;      /* accepted range for numbers */
    const char *meta;   /* e.g. "N" in "--steps N" */
    const char *help;
} ms_arg;

/* Parses argv[1..] against the flag table; positional arguments are stored
 * in pos[0..max_pos) and counted in *n_pos (pos may be NULL when none are
 * accepted). Returns 0 on success, -1 after printing help for --help (the
 * caller exits 0), or 2 after printing one error naming the flag. */
int cli_parse(const char *cmd, const char *synopsis, const char *about, const ms_arg *args,
              int n_args, int argc, char **argv, const char **pos, int max_pos, int *n_pos);

/* The flags every training command shares (run_flags.c), as rows onto cfg
 * (whose values are the defaults shown in the help); returns the rows
 * written (at most cap). */
int cli_run_flags(ms_arg *rows, int cap, ms_run_cfg *cfg);
/* Threads per rank: `threads`, or when <= 0 the cores divided by the ranks
 * (at least 1), set for the GEMMs and OpenMP (parallel_set_threads); returns it. */
int cli_set_threads(const ms_dist *d, int threads);
/* The start of a training command: the command line into cmdline (for the
 * checkpoints), MPI (dist_init), threads per rank (<= 0: cores / ranks), the
 * stop signals. Returns 0 or the exit code (the message is printed). */
int cli_run_start(ms_dist *d, const char *cmd, int *argc, char ***argv, int threads, char *cmdline, size_t cap);

/* Progress of a long pass on stderr, a line every 5 s
 * ("medssl inspect: 1200000/6000000 images (20%), ETA 2m05s") and a last one
 * ("... done in 2m40s") only when a line was printed before: short work stays quiet. */
typedef struct {
    const char *cmd, *unit;
    long long total;
    double t0, last;
    int spoke;
} cli_progress;
void cli_progress_begin(cli_progress *p, const char *cmd, const char *unit, long long total);
void cli_progress_update(cli_progress *p, long long done);
void cli_progress_end(cli_progress *p, long long done);

/* Prints "medssl <cmd>: <message>" for the last library error and returns its code. */
int cli_report(const char *cmd, int code);

int cmd_bench(int argc, char **argv);
int cmd_import(int argc, char **argv);
int import_nifti_main(int argc, char **argv); /* `medssl import nifti ...` */
int cmd_inspect(int argc, char **argv);
int cmd_preview(int argc, char **argv);
int cmd_augment(int argc, char **argv);
int cmd_pretrain(int argc, char **argv);
int cmd_finetune(int argc, char **argv);
/* The finetune flags onto c (`ensemble train` parses the flags after `--`
 * with it): 0, -1 after --help, or 2 after printing the error. argv[0] is
 * the command's name for messages. */
int finetune_parse(ms_finetune_cfg *c, int *threads, int argc, char **argv);
int cmd_ensemble(int argc, char **argv);

int cmd_evaluate(int argc, char **argv);
int cmd_features(int argc, char **argv);
int cmd_select(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_gradcam(int argc, char **argv);

#endif
