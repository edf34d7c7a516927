/* finetune — `medssl finetune`: the flags of a transfer run onto
 * ms_finetune_cfg, then finetune_run (src/train/finetune_run.c) on the MPI
 * world. The tasks (classify, segment) are finetune/classify.c and
 * finetune/segment.c; the strategies finetune/transfer.c.
 */
#include "cli.h"
#include "medssl/common.h"
#include "medssl/labeled.h"
#include "medssl/run.h"

#include <stdio.h>

int finetune_parse(ms_finetune_cfg *c, int *threads, int argc, char **argv)
{
    const char *probe = NULL;
    ms_arg args[80] = {
        { "task", ARG_STRING, &c->task, 0, 0, "classify|segment", "the labeled task (required)" },
        { "train", ARG_STRING, &c->train, 0, 0, "FILE", "labeled corpus (unlabeled samples, label -1, are skipped)" },
        { "init", ARG_STRING, &c->init, 0, 0, "CKPT", "any medssl checkpoint: its encoder is loaded by name" },
        { "strategy", ARG_STRING, &c->strategy, 0, 0, "S", "feature-extractor|finetune|two-stage|scratch (required)" },
        { "freeze", ARG_STRING, &c->freeze, 0, 0, "L,..", "finetune: frozen layers (stage0,stage1 or name prefixes)" },
        { "unfreeze", ARG_STRING, &c->unfreeze, 0, 0, "L,..", "two-stage: layers trained in stage 2 (default all)" },
        { "stage1-epochs", ARG_INT, &c->stage1_epochs, 0, 100000, "E", "two-stage: head-only epochs (default epochs/3)" },
        { "encoder-lr-mult", ARG_FLOAT, &c->encoder_lr_mult, 0, 100, "X", "encoder LR factor (finetune 1, two-stage 0.1)" },
        { "features", ARG_STRING, &c->features, 0, 0, "stageK", "classify: pool features of encoder stage K" },
        { "head", ARG_STRING, &c->head, 0, 0, "linear|mlp", "classify head (default linear)" },
        { "probe", ARG_STRING, &probe, 0, 0, "linear|mlp", "the same as --head (feature-extractor wording)" },
        { "head-norm", ARG_STRING, &c->head_norm, 0, 0, "bn|none", "classify: BatchNorm on the features before the head "
                                                                  "(default bn for feature-extractor and two-stage)" },
        { "hidden", ARG_INT, &c->hidden, 1, 65536, "N", "mlp head: hidden units (default 256)" },
        { "dropout", ARG_FLOAT, &c->dropout, 0, 0.95, "P", "mlp head: dropout (default 0.5)" },
        { "encoder", ARG_STRING, &c->encoder, 0, 0, "SPEC", "encoder without --init (default widths=32-64-128-256)" },
        { "feature-subset", ARG_STRING, &c->feature_subset, 0, 0, "SUBSET.json",
          "classify: the head sees only the features medssl select chose (same --features stage)" },
        { "keep-head", ARG_BOOL, &c->keep_head, 0, 0, NULL, "also load the head (classify) or decoder (segment) of --init" },
        { "classes", ARG_INT, &c->classes, 2, LABELED_MAX_CLASSES, "K", "classes (default: from the corpus)" },
        { "class-weights", ARG_STRING, &c->class_weights, 0, 0, "auto|w0,w1,..", "loss class weights (auto: inverse frequency)" },
        { "balance", ARG_STRING, &c->balance, 0, 0, "none|oversample", "classify: class-balanced oversampling" },
        { "domains", ARG_STRING, &c->domains, 0, 0, "D,..", "train only on these /domains values" },
        { "target-domain", ARG_INT, &c->target_domain, 0, 1 << 30, "D", "domain oversampled by --target-weight" },
        { "target-weight", ARG_FLOAT, &c->target_weight, 1, 1000, "W", "repeats of each target-domain sample (default 1)" },
        { "steps-per-epoch", ARG_LONG, &c->steps_per_epoch, 1, 1e9, "S", "at least S steps per epoch: the training samples "
                                                                        "repeated a whole number of times (default: "
                                                                        "enough passes for 256 images)" },
        { "no-feature-cache", ARG_BOOL, &c->no_feature_cache, 0, 0, NULL, "feature-extractor: run the frozen encoder every "
                                                                        "epoch (default: once per sample, without --augment)" },
        { "select", ARG_STRING, &c->select, 0, 0, "metric|loss", "best.h5 by the validation metric or loss" },
        { "patience", ARG_INT, &c->patience, 0, 100000, "E", "early stop after E epochs without a better best (0: off)" },
        { "threads", ARG_INT, threads, 1, 256, "T", "threads per rank (default: cores / ranks)" },
    };
    int n = 0;
    while (args[n].name) n++;
    n += cli_run_flags(args + n, (int)(sizeof args / sizeof *args) - n, &c->run);
    int rc = cli_parse("finetune", "--task classify|segment --train FILE --out DIR --strategy S [--init CKPT] [options]",
                       "Transfer an encoder to a labeled task (classification or segmentation), data-parallel\n"
                       "under mpirun/srun. SIGTERM or SIGUSR1 checkpoint and exit 0; --resume auto continues.",
                       args, n, argc, argv, NULL, 0, NULL);
    if (rc) return rc;
    if (probe) c->head = probe;
    return MS_OK;
}

int cmd_finetune(int argc, char **argv)
{
    ms_finetune_cfg c;
    finetune_cfg_defaults(&c);
    int threads = 0;
    int rc = finetune_parse(&c, &threads, argc, argv);
    if (rc) return rc < 0 ? 0 : rc;
    if (!c.task || !c.train || !c.run.out || !c.strategy) {
        fprintf(stderr, "medssl finetune: --task, --train, --out and --strategy are required (see medssl finetune --help)\n");
        return 2;
    }
    ms_dist d;
    char cmdline[2048];
    if ((rc = cli_run_start(&d, "finetune", &argc, &argv, threads, cmdline, sizeof cmdline))) return rc;
    c.run.cmdline = cmdline;
    rc = finetune_run(&c, &d, NULL);
    dist_finalize(&d);
    return rc;
}
