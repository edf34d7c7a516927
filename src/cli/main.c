/* main — the medssl binary: dispatches to one subcommand per file in src/cli/. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#define MEDSSL_VERSION "0.1.0"

typedef int (*cmd_fn)(int argc, char **argv);

static const struct {
    const char *name;
    cmd_fn run;
    const char *summary;
} commands[] = {
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

int main(int argc, char **argv)
{
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
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "medssl: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
