/* pretrain — `medssl pretrain`: the flags of a pretraining run onto
 * ms_pretrain_cfg, then pretrain_run (src/train/pretrain_run.c) on the MPI
 * world. SIGTERM/SIGUSR1 finish the step, checkpoint and exit 0; a
 * non-finite loss or model on any rank stops every rank (exit 1) and keeps
 * the last good checkpoint; --resume auto continues from the newest complete
 * checkpoint, bit-identically for the same seed and rank count.
 */
#include "cli.h"
#include "medssl/common.h"
#include "medssl/run.h"

#include <stdio.h>

int cmd_pretrain(int argc, char **argv)
{
    ms_pretrain_cfg c;
    pretrain_cfg_defaults(&c);
    int threads = 0;
    ms_arg args[64] = {
        { "task", ARG_STRING, &c.task, 0, 0, "rotation|jigsaw|autoencoder", "the pretext task (required)" },
        { "corpus", ARG_STRING, &c.corpus, 0, 0, "FILE", "the unlabeled corpus (required)" },
        { "encoder", ARG_STRING, &c.encoder, 0, 0, "SPEC", "encoder spec (default encoder:widths=32-64-128-256,convs=2)" },
        { "threads", ARG_INT, &threads, 1, 256, "T", "threads per rank (default: cores / ranks)" },
        { "permutations", ARG_INT, &c.permutations, 2, 1000, "P", "jigsaw: permutation set size (default 100)" },
        { "one-rotation", ARG_BOOL, &c.one_rotation, 0, 0, NULL, "rotation: one random rotation per image, not all 4" },
        { "ae-variant", ARG_STRING, &c.ae_variant, 0, 0, "V", "autoencoder: plain|denoising|inpainting (default plain)" },
        { "noise-sigma", ARG_FLOAT, &c.noise_sigma, 0, 10, "S", "denoising: noise std" },
        { "mask-fraction", ARG_FLOAT, &c.mask_fraction, 0, 0.95, "F", "inpainting: masked fraction" },
        { "recon-every", ARG_INT, &c.recon_every, 0, 1000000, "E", "autoencoder: <out>/recon/epoch-E.png of held-out "
                                                                  "images every E epochs (default 1, 0 = never)" },
        { "recon-count", ARG_INT, &c.recon_count, 1, 64, "K", "autoencoder: images per reconstruction PNG (default 8)" },
    };
    int n = 0;
    while (args[n].name) n++;
    n += cli_run_flags(args + n, (int)(sizeof args / sizeof *args) - n, &c.run);
    int rc = cli_parse("pretrain", "--task T --corpus FILE --out DIR [options]",
                       "Self-supervised pretraining of an encoder with a pretext task, data-parallel under\n"
                       "mpirun/srun. SIGTERM or SIGUSR1 checkpoint and exit 0; --resume auto continues.",
                       args, n, argc, argv, NULL, 0, NULL);
    if (rc) return rc < 0 ? 0 : rc;
    if (!c.task || !c.corpus || !c.run.out) {
        fprintf(stderr, "medssl pretrain: --task, --corpus and --out are required (see medssl pretrain --help)\n");
        return 2;
    }
    ms_dist d;
    char cmdline[2048];
    if ((rc = cli_run_start(&d, "pretrain", &argc, &argv, threads, cmdline, sizeof cmdline))) return rc;
    c.run.cmdline = cmdline;
    rc = pretrain_run(&c, &d, NULL);
    dist_finalize(&d);
    return rc;
}
