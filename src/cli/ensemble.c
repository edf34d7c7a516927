/* ensemble — `medssl ensemble train|evaluate`: ensembles of fine-tuned models.
 *
 *   train     members by bagging (bootstrap resamples of the labeled training
 *             samples, one seed each) or boosting (AdaBoost SAMME by resampling:
 *             each member trains on a draw from the sample weights that the
 *             previous members' errors set; its weight alpha comes from its
 *             weighted error). Each member is a `medssl finetune` run in
 *             <out>/member-<i>/ with the finetune flags given after `--`.
 *             Bagging members are independent: `--member I` trains one of them
 *             (one SLURM array task per member, jobs/ensemble.sbatch), and
 *             `--groups G` splits the MPI ranks into G groups (dist_split,
 *             MPI_Comm_split) that train members g, g+G, ... at the same time,
 *             each member data-parallel over its group's ranks.
 *             <out>/members.txt lists the finished members and their weights.
 *   evaluate  combines saved members and reports them side by side
 *             (ensemble_eval.c).
 *
 * members.txt: ensemble_internal.h.
 *
 * Dimension legend: M members, n samples, K classes, HW pixels.
 */
#include "cli.h"
#include "ensemble_internal.h"
#include "medssl/common.h"
#include "medssl/corpus.h"
#include "medssl/dist.h"
#include "medssl/ensemble_math.h"
#include "medssl/labeled.h"
#include "medssl/metrics.h"
#include "medssl/predict.h"
#include "medssl/runctl.h"
#include "medssl/task.h"
#include "medssl/trainer.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


typedef enum { METHOD_BAGGING, METHOD_BOOSTING, METHOD__COUNT } ens_method;
static const char *const method_names[] = { [METHOD_BAGGING] = "bagging", [METHOD_BOOSTING] = "boosting" };
_Static_assert(sizeof method_names / sizeof *method_names == METHOD__COUNT, "one name per method");

/* ---- training ---- */

/* Member i's checkpoint to list: member-<i>/best.h5, or last.h5 when no
 * best.h5 was written; rel is relative to out, path includes it. */
static void member_ckpt(const char *out, int i, char *rel, size_t rel_cap, char *path, size_t path_cap)
{
    snprintf(rel, rel_cap, "member-%d/best.h5", i);
    snprintf(path, path_cap, "%s/%s", out, rel);
    if (access(path, R_OK) == 0) return;
    snprintf(rel, rel_cap, "member-%d/last.h5", i);
    snprintf(path, path_cap, "%s/%s", out, rel);
}

typedef struct {
    const char *method, *train, *out, *members_str;
    int members, member, seed, groups;
    ms_finetune_cfg ft; /* the finetune flags after `--` */
    const char *cmdline;
} train_opts;

/* Runs one member: finetune_run of the flags after `--` with --train T
 * --out DIR --seed S --resume auto and the member's resample, on the ranks of
 * dist_comm() (the world, or the member's group). */
static int train_member(const train_opts *o, int i, const uint16_t *resample, char *dir, size_t cap)
{
    snprintf(dir, cap, "%s/member-%d", o->out, i);
    ms_finetune_cfg c = o->ft;
    c.train = o->train;
    c.run.out = dir;
    c.run.seed = o->seed + 1000 * i;
    c.run.resume = "auto";
    c.run.cmdline = o->cmdline;
    c.resample = resample;
    ms_dist g;
    if (dist_init(&g, NULL, NULL)) return MS_ERR_RUNTIME;
    return finetune_run(&c, &g, NULL);
}

/* Indices of the samples the members train on: the selection of
 * labeled.h (labeled samples, --domains), so that boosting weights and
 * resamples cover exactly them. */
static int selected_indices(ms_corpus *c, const ms_task *t, const char *domains, long long **idx, long long *n)
{
    ms_labeled_sel sel = { .masks = t->masks, .K = c->n_classes, .domains = domains, .target_domain = -1,
                           .target_weight = 1 };
    uint16_t *rep = NULL;
    int rc = labeled_repeat(c, &sel, 0, &rep);
    *idx = ms_malloc((size_t)(c->N ? c->N : 1) * sizeof(long long));
    *n = 0;
    for (long long i = 0; !rc && i < c->N; i++)
        if (rep[i]) (*idx)[(*n)++] = i;
    free(rep);
    return rc;
}

/* Predicted classes of the given samples by the member checkpoint. */
static int predict_classes(const char *ckpt, ms_corpus *c, const long long *idx, long long n, int32_t *pred,
                           int32_t *labels)
{
    ms_predictor p;
    int rc = predictor_open(&p, ckpt, c, 64);
    if (rc) return rc;
    float *probs = ms_malloc((size_t)64 * p.K * sizeof(float));
    for (long long i = 0; !rc && i < n;) {
        long long run = 1; /* consecutive indices read together */
        while (i + run < n && run < 64 && idx[i + run] == idx[i] + run) run++;
        rc = predictor_run(&p, c, idx[i], run, probs, labels + i, NULL, NULL);
        for (long long k = 0; !rc && k < run; k++) pred[i + k] = ms_argmax(probs + k * p.K, p.K, 1);
        i += run;
    }
    free(probs);
    predictor_close(&p);
    return rc;
}

static int ensemble_train(const ms_dist *d, const train_opts *o)
{
    int method = -1;
    for (int m = 0; m < METHOD__COUNT; m++)
        if (strcmp(o->method, method_names[m]) == 0) method = m;
    if (method < 0) return MS_FAIL(MS_ERR_INPUT, "--method %s: expected bagging or boosting", o->method);
    if (o->member >= o->members) return MS_FAIL(MS_ERR_INPUT, "--member %d: expected 0..%d", o->member, o->members - 1);
    if (method == METHOD_BOOSTING && o->member >= 0)
        return MS_FAIL(MS_ERR_INPUT, "--member: boosting members depend on each other and train in order");
    const ms_task *task = task_named(o->ft.task);
    if (!task) return MS_FAIL(MS_ERR_INPUT, "--task %s: expected classify or segment", o->ft.task);
    if (method == METHOD_BOOSTING && !task->judge.boosting)
        return MS_FAIL(MS_ERR_INPUT, "--method boosting: classification only");
    const int G = o->groups;
    if (G > 1 && method == METHOD_BOOSTING)
        return MS_FAIL(MS_ERR_INPUT, "--groups: boosting members depend on each other and train in order");
    if (G > 1 && o->member >= 0)
        return MS_FAIL(MS_ERR_INPUT, "--groups with --member (or a SLURM array task): one member runs on all ranks");
    if (G > d->size)
        return MS_FAIL(MS_ERR_INPUT, "--groups %d: more groups than the %d ranks (mpirun -np N with N >= %d)", G,
                       d->size, G);
    int rc = d->rank == 0 ? runctl_make_dir(o->out) : MS_OK;
    if ((rc = dist_agree(d, "ensemble", rc))) return rc;
    ms_corpus c;
    if ((rc = corpus_open(&c, o->train, d))) return rc;
    long long *idx = NULL, n = 0;
    if ((rc = selected_indices(&c, task, o->ft.domains, &idx, &n))) goto done;
    if (n == 0) {
        rc = MS_FAIL(MS_ERR_INPUT, "%s: no labeled samples", o->train);
        goto done;
    }
    member_list done_list;
    if ((rc = ens_members_read(o->out, &done_list))) goto done;
    uint16_t *draw = ms_malloc((size_t)n * sizeof(uint16_t)), *resample = ms_malloc((size_t)c.N * sizeof(uint16_t));
    double *w = ms_malloc((size_t)n * sizeof(double));
    int32_t *pred = ms_malloc((size_t)n * sizeof(int32_t)), *labels = ms_malloc((size_t)n * sizeof(int32_t));
    for (long long i = 0; i < n; i++) w[i] = 1.0 / (double)n;
    /* with groups, each group's rank 0 reports, and the finished members are
     * listed by world rank 0 once every group is done */
    int group = 0, lead = d->rank == 0;
    int trained[ENS_MAX_MEMBERS] = { 0 };
    if (G > 1) {
        rc = dist_split(d, G, &group);
        int grank = 0;
        if (!rc) grank = dist_rank_in(dist_comm());
        lead = grank == 0;
        if (!rc && d->rank == 0)
            fprintf(stderr, "medssl ensemble: %d ranks in %d groups; group g trains members g, g+%d, ...\n", d->size, G, G);
    }
    for (int i = 0; i < o->members && !rc; i++) {
        if (o->member >= 0 && i != o->member) continue;
        if (i % G != group) continue;
        rc = method == METHOD_BAGGING ? ens_bootstrap_counts(draw, n, (uint64_t)o->seed, (uint64_t)i)
                                      : ens_resample_counts(draw, w, n, (uint64_t)o->seed, (uint64_t)i);
        if (rc) break;
        memset(resample, 0, (size_t)c.N * sizeof(uint16_t));
        for (long long k = 0; k < n; k++) resample[idx[k]] = draw[k];
        char dir[ENS_PATH], rel[64], ckpt[ENS_PATH + 32];
        /* listed in members.txt: done, whichever of its checkpoints (best.h5, or last.h5) is listed */
        snprintf(rel, sizeof rel, "/member-%d/", i);
        int listed = 0;
        for (int k = 0; k < done_list.M; k++) listed |= strstr(done_list.path[k], rel) != NULL;
        if (lead)
            fprintf(stderr, "medssl ensemble: %s member %d/%d%s\n", method_names[method], i + 1, o->members,
                    listed ? " (done before; kept)" : "");
        snprintf(dir, sizeof dir, "%s/member-%d", o->out, i);
        if (!listed && (rc = train_member(o, i, resample, dir, sizeof dir))) break;
        if (runctl_stop_signal()) {
            if (lead) fprintf(stderr, "medssl ensemble: stopped by a signal; run again to continue\n");
            break;
        }
        member_ckpt(o->out, i, rel, sizeof rel, ckpt, sizeof ckpt);
        double alpha = 1, err = 0;
        if (method == METHOD_BOOSTING) {
            /* the member's errors on every labeled training sample reweight them */
            if ((rc = predict_classes(ckpt, &c, idx, n, pred, labels))) break;
            ens_samme_status s = ens_samme_update(w, &alpha, &err, pred, labels, n, c.n_classes);
            if (d->rank == 0)
                fprintf(stderr, "medssl ensemble: member %d: weighted training error %.4f, alpha %.4f%s\n", i, err, alpha,
                        s == ENS_SAMME_DISCARD ? " (no better than chance: discarded)" : "");
            if (s == ENS_SAMME_DISCARD) continue;
            if (!listed && d->rank == 0) rc = ens_members_append(o->out, method_names[method], rel, alpha);
            if (s == ENS_SAMME_PERFECT) {
                if (d->rank == 0) fprintf(stderr, "medssl ensemble: member %d fits the training set; boosting stops\n", i);
                break;
            }
        } else if (!listed && G > 1) {
            trained[i] = 1;
        } else if (!listed && d->rank == 0) {
            rc = ens_members_append(o->out, method_names[method], rel, 1.0);
        }
    }
    if (G > 1) { /* every group is back: world rank 0 lists what they trained, in member order */
        dist_unsplit();
        double all[ENS_MAX_MEMBERS];
        for (int i = 0; i < ENS_MAX_MEMBERS; i++) all[i] = trained[i];
        dist_sum(d, all, ENS_MAX_MEMBERS);
        for (int i = 0; i < o->members && d->rank == 0; i++) {
            if (all[i] == 0) continue;
            char rel[64], ckpt[ENS_PATH + 32];
            member_ckpt(o->out, i, rel, sizeof rel, ckpt, sizeof ckpt);
            int err = ens_members_append(o->out, method_names[method], rel, 1.0);
            if (!rc) rc = err;
        }
        /* a failing group has said why; the others exit with its code */
        rc = dist_max_int(d, rc);
    }
    free(draw);
    free(resample);
    free(w);
    free(pred);
    free(labels);
done:
    free(idx);
    corpus_close(&c);
    return rc;
}

/* Without "--", the first flag that is not ensemble train's (likely one of
 * finetune's, such as --task) gets a hint at "--" instead of cli_parse's
 * plain "unknown flag". */
static int finetune_flag_without_dashes(const ms_arg *args, int n, int argc, char **argv)
{
    for (int i = 2; i < argc; i++) {
        const char *tok = argv[i];
        if (strncmp(tok, "--", 2) != 0 || strcmp(tok, "--help") == 0) continue;
        const size_t len = strcspn(tok + 2, "=");
        const ms_arg *a = NULL;
        for (int k = 0; k < n && !a; k++)
            if (strlen(args[k].name) == len && strncmp(args[k].name, tok + 2, len) == 0) a = &args[k];
        if (!a) {
            fprintf(stderr, "medssl ensemble train: unknown flag '--%.*s' (finetune flags go after --: medssl ensemble "
                            "train --train FILE --out DIR -- --task ... --strategy ...)\n", (int)len, tok + 2);
            return MS_ERR_INPUT;
        }
        if (a->type != ARG_BOOL && !tok[2 + len]) i++; /* its value */
    }
    return MS_OK;
}

int cmd_ensemble(int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "";
    if (strcmp(sub, "train") != 0 && strcmp(sub, "evaluate") != 0) {
        if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
            printf("usage: medssl ensemble train --method bagging|boosting --members M --train FILE --out DIR\n"
                   "                              [--member I | --groups G]\n"
                   "                              -- <medssl finetune flags: --task, --strategy, --init, --epochs ...>\n"
                   "       medssl ensemble evaluate (--ensemble DIR | --members A.h5,B.h5,..) --data FILE [--val FILE]\n"
                   "                              [--combiner all|%s] [--by-domain] [--out DIR] [--json]\n",
                   ens_combiner_list());
            return 0;
        }
        fprintf(stderr, "medssl ensemble: expected 'train' or 'evaluate' (see medssl ensemble --help)\n");
        return 2;
    }
    if (strcmp(sub, "evaluate") == 0) return ensemble_evaluate_cmd(argc, argv);
    int rc;
    ms_dist d;
    train_opts o = { .method = "bagging", .members = 5, .member = -1, .groups = 1 };
    int split = argc;
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], "--") == 0) {
            split = i;
            break;
        }
    finetune_cfg_defaults(&o.ft);
    const ms_arg args[] = {
        { "method", ARG_STRING, &o.method, 0, 0, "bagging|boosting", "how members differ (default bagging)" },
        { "members", ARG_INT, &o.members, 1, ENS_MAX_MEMBERS, "M", "members (default 5)" },
        { "member", ARG_INT, &o.member, 0, ENS_MAX_MEMBERS - 1, "I", "bagging: train only member I (SLURM arrays)" },
        { "train", ARG_STRING, &o.train, 0, 0, "FILE", "labeled training corpus (required)" },
        { "out", ARG_STRING, &o.out, 0, 0, "DIR", "ensemble folder: member-<i>/ and members.txt (required)" },
        { "seed", ARG_INT, &o.seed, 0, 1000000, "N", "seed of the resamples; member i uses seed + 1000 i" },
        { "groups", ARG_INT, &o.groups, 1, ENS_MAX_MEMBERS, "G", "bagging: split the MPI ranks into G groups that train "
                                                              "members at the same time (default 1)" },
    };
    if (split == argc && (rc = finetune_flag_without_dashes(args, (int)(sizeof args / sizeof *args), argc, argv)))
        return rc;
    rc = cli_parse("ensemble train", "--method M --members M --train FILE --out DIR -- <finetune flags>",
                   "Trains ensemble members (medssl finetune runs) by bagging or AdaBoost SAMME.", args,
                   (int)(sizeof args / sizeof *args), split - 1, argv + 1, NULL, 0, NULL);
    if (rc) return rc < 0 ? 0 : rc;
    if (!o.train || !o.out) {
        fprintf(stderr, "medssl ensemble train: --train and --out are required\n");
        return 2;
    }
    /* the finetune flags after "--" (argv[split] = "--" stands for the command name) */
    int threads = 0;
    if (split < argc && (rc = finetune_parse(&o.ft, &threads, argc - split, argv + split))) return rc < 0 ? 0 : rc;
    if (split == argc || !o.ft.task || !o.ft.strategy) {
        fprintf(stderr, "medssl ensemble train: the finetune flags after -- need --task and --strategy\n");
        return 2;
    }
    const char *task = getenv("SLURM_ARRAY_TASK_ID");
    if (o.member < 0 && task && *task && strcmp(o.method, "bagging") == 0) o.member = atoi(task);
    char cmdline[2048];
    if ((rc = cli_run_start(&d, "ensemble", &argc, &argv, threads, cmdline, sizeof cmdline))) return rc;
    o.cmdline = cmdline;
    rc = ensemble_train(&d, &o);
    if (rc && *ms_last_error()) cli_report("ensemble", rc);
    dist_finalize(&d);
    return rc;
}
