/* main — the medssl binary: dispatches to one subcommand per file in src/cli/. */
#include "cli.h"
#include "medssl/common.h"
#include "medssl/conv.h"
#include "medssl/h5util.h"
#include "medssl/parallel.h"
#include "medssl/runctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


typedef int (*cmd_fn)(int argc, char **argv);

static const struct {
    const char *name;
    cmd_fn run;
    const char *summary;
} commands[] = {
    { "import", cmd_import, "build a corpus (HDF5): fashion-mnist, idx, png folders or nifti volumes" },
    { "inspect", cmd_inspect, "validate a corpus and print what it holds" },
    { "preview", cmd_preview, "write a PNG grid of originals and augmented versions" },
    { "augment", cmd_augment, "write a corpus with the originals plus K augmented copies" },
    { "pretrain", cmd_pretrain, "self-supervised pretraining (rotation, jigsaw, autoencoder) over MPI ranks" },
    { "finetune", cmd_finetune, "transfer an encoder to classification or segmentation (strategies, domains)" },
    { "evaluate", cmd_evaluate, "metrics of a finetuned model on a labeled corpus (metrics.json)" },
    { "ensemble", cmd_ensemble, "ensembles: bagging, AdaBoost SAMME members; combiners incl. mixture of experts" },
    { "predict", cmd_predict, "apply a fine-tuned model to new images: CSV, mask PNGs or a NIfTI label volume" },
    { "gradcam", cmd_gradcam, "Grad-CAM / Seg-Grad-CAM maps and feature maps: where a fine-tuned model looks" },
    { "features", cmd_features, "pooled encoder-stage features of every sample of a corpus (HDF5, CSV)" },
    { "select", cmd_select, "choose a feature subset by CFS (Weka's CfsSubsetEval + BestFirst)" },
    { "report", cmd_report, "one self-contained HTML page of run folders: curves, tables, pictures" },
    { "bench", cmd_bench, "train the reference encoder on random data; images/s and GFLOP/s per layer" },
};

static void usage(FILE *f)
{
    fprintf(f, "usage: medssl <command> [options]   (medssl <command> --help for each)\n\n"
               "Self-supervised pretraining of CNN encoders on medical images, and transfer.\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

/* OpenMP threads that spin while waiting steal the cores OpenBLAS's GEMM threads
 * need (measured: 25 instead of 50 images/s on 2 cores). libgomp reads
 * OMP_WAIT_POLICY before main runs, so when the user has not chosen a policy we
 * set PASSIVE and re-execute ourselves once (same PID, also under mpirun). */
static void ensure_passive_openmp(char **argv)
{
    if (getenv("OMP_WAIT_POLICY")) return;
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    execv("/proc/self/exe", argv);
    /* exec failed (no /proc): carry on with the default policy */
}

int main(int argc, char **argv)
{
    ensure_passive_openmp(argv);
    runctl_signals_init(); /* before any library starts a thread */
    /* errors become one message each (ms_last_error); never HDF5's own error stack */
    h5_lock();
    h5_quiet();
    h5_unlock();
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("medssl %s\n", MEDSSL_VERSION);
        return 0;
    }
    if (parallel_gemm_select(getenv("MEDSSL_GEMM")) || conv_algo_select(getenv("MEDSSL_CONV"))) {
        fprintf(stderr, "medssl: %s\n", ms_last_error());
        return 2;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "medssl: unknown command '%s' (commands:", argv[1]);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) fprintf(stderr, " %s", commands[i].name);
    fprintf(stderr, "; see medssl --help)\n");
    return 2;
}
