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
 *   evaluate  combines saved members (--ensemble DIR or --members a.h5,b.h5,...,
 *             e.g. models from different pretext inits or strategies) on a
 *             labeled corpus with every combiner (medssl/ensemble.h) and reports
 *             each member and each combiner side by side (metrics.json, table).
 *
 * members.txt: a header line "# medssl-ensemble 1 method=<m>", then one line
 * per member "<checkpoint path relative to the folder> <weight>".
 *
 * Dimension legend: M members, n samples, K classes, HW pixels.
 */
#include "cli.h"
#include "medssl/common.h"
#include "medssl/corpus.h"
#include "medssl/dist.h"
#include "medssl/ensemble.h"
#include "medssl/labeled.h"
#include "medssl/metrics.h"
#include "medssl/predict.h"
#include "medssl/runctl.h"
#include "medssl/trainer.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ENS_PATH 4096

typedef enum { METHOD_BAGGING, METHOD_BOOSTING, METHOD__COUNT } ens_method;
static const char *const method_names[] = { [METHOD_BAGGING] = "bagging", [METHOD_BOOSTING] = "boosting" };
_Static_assert(sizeof method_names / sizeof *method_names == METHOD__COUNT, "one name per method");

/* ---- members.txt ---- */

typedef struct {
    int M;
    char path[ENS_MAX_MEMBERS][ENS_PATH];
    float weight[ENS_MAX_MEMBERS];
} member_list;

/* Reads dir/members.txt (paths made relative to dir). Missing file: M = 0. */
static int members_read(const char *dir, member_list *ml)
{
    char path[ENS_PATH + 32], line[ENS_PATH + 64];
    snprintf(path, sizeof path, "%s/members.txt", dir);
    ml->M = 0;
    FILE *f = fopen(path, "r");
    if (!f) return errno == ENOENT ? MS_OK : MS_FAIL(MS_ERR_INPUT, "%s: cannot read: %s", path, strerror(errno));
    int rc = MS_OK, lineno = 0;
    while (fgets(line, sizeof line, f) && !rc) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n') continue;
        char rel[ENS_PATH];
        float w;
        if (sscanf(line, "%4095s %f", rel, &w) != 2 || !isfinite(w) || w < 0)
            rc = MS_FAIL(MS_ERR_INPUT, "%s:%d: expected '<checkpoint> <weight>'", path, lineno);
        else if (ml->M >= ENS_MAX_MEMBERS) rc = MS_FAIL(MS_ERR_INPUT, "%s: more than %d members", path, ENS_MAX_MEMBERS);
        else {
            snprintf(ml->path[ml->M], ENS_PATH, "%.2000s/%.2000s", dir, rel);
            ml->weight[ml->M++] = w;
        }
    }
    fclose(f);
    return rc;
}

/* Appends one member line (creating the file with its header). */
static int members_append(const char *dir, ens_method method, const char *rel, double weight)
{
    char path[ENS_PATH + 32], line[ENS_PATH + 128];
    snprintf(path, sizeof path, "%s/members.txt", dir);
    int fresh = access(path, F_OK) != 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) return MS_FAIL(MS_ERR_RUNTIME, "%s: cannot write: %s", path, strerror(errno));
    int len = 0;
    if (fresh) len = snprintf(line, sizeof line, "# medssl-ensemble 1 method=%s\n", method_names[method]);
    len += snprintf(line + len, sizeof line - (size_t)len, "%s %.9g\n", rel, weight);
    int ok = write(fd, line, (size_t)len) == len && fsync(fd) == 0;
    close(fd);
    return ok ? MS_OK : MS_FAIL(MS_ERR_RUNTIME, "%s: write failed", path);
}

/* ---- training ---- */

typedef struct {
    const char *method, *train, *out, *members_str;
    int members, member, seed, groups;
    int n_pass;
    char **pass;     /* finetune flags after `--` */
} train_opts;

/* Runs one member: medssl finetune <pass...> --train T --out DIR --seed S. */
static int train_member(const train_opts *o, int i, const uint16_t *resample, char *dir, size_t cap)
{
    snprintf(dir, cap, "%s/member-%d", o->out, i);
    char seed[32];
    snprintf(seed, sizeof seed, "%d", o->seed + 1000 * i);
    char **argv = ms_malloc((size_t)(o->n_pass + 10) * sizeof(char *));
    int argc = 0;
    argv[argc++] = "finetune";
    for (int k = 0; k < o->n_pass; k++) argv[argc++] = o->pass[k];
    argv[argc++] = "--train";
    argv[argc++] = (char *)o->train;
    argv[argc++] = "--out";
    argv[argc++] = dir;
    argv[argc++] = "--seed";
    argv[argc++] = seed;
    argv[argc++] = "--resume";
    argv[argc++] = "auto";
    argv[argc] = NULL;
    int rc = finetune_main(argc, argv, resample);
    free(argv);
    return rc;
}

/* The value of finetune flag `name` among the pass-through flags, or NULL. */
static const char *pass_flag(const train_opts *o, const char *name)
{
    for (int k = 0; k + 1 < o->n_pass; k++)
        if (strcmp(o->pass[k], name) == 0) return o->pass[k + 1];
    return NULL;
}

/* Indices of the samples the members train on: the selection of
 * labeled.h (labeled samples, --domains), so that boosting weights and
 * resamples cover exactly them. */
static int selected_indices(ms_corpus *c, int segment, const char *domains, long long **idx, long long *n)
{
    ms_labeled_sel sel = { .segment = segment, .K = c->n_classes, .domains = domains, .target_domain = -1,
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
    float *probs = ms_malloc((size_t)64 * (p.K > 0 ? p.K : 1) * sizeof(float));
    for (long long i = 0; !rc && i < n;) {
        long long run = 1; /* consecutive indices read together */
        while (i + run < n && run < 64 && idx[i + run] == idx[i] + run) run++;
        rc = predictor_run(&p, c, idx[i], run, probs, labels + i, NULL, NULL);
        for (long long k = 0; !rc && k < run; k++) {
            int best = 0;
            for (int q = 1; q < p.K; q++)
                if (probs[k * p.K + q] > probs[k * p.K + best]) best = q;
            pred[i + k] = best;
        }
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
    const char *task = pass_flag(o, "--task");
    const int segment = task && strcmp(task, "segment") == 0;
    if (method == METHOD_BOOSTING && segment) return MS_FAIL(MS_ERR_INPUT, "--method boosting: classification only");
    const int G = o->groups;
    if (G > 1 && method == METHOD_BOOSTING)
        return MS_FAIL(MS_ERR_INPUT, "--groups: boosting members depend on each other and train in order");
    if (G > 1 && o->member >= 0)
        return MS_FAIL(MS_ERR_INPUT, "--groups with --member (or a SLURM array task): one member runs on all ranks");
    if (G > d->size)
        return MS_FAIL(MS_ERR_INPUT, "--groups %d: more groups than the %d ranks (mpirun -np N with N >= %d)", G,
                       d->size, G);
    int rc = d->rank == 0 ? runctl_make_dir(o->out) : MS_OK;
    if ((rc = trainer_agree(d, "ensemble", rc))) return rc;
    ms_corpus c;
    if ((rc = corpus_open(&c, o->train))) return rc;
    long long *idx = NULL, n = 0;
    if ((rc = selected_indices(&c, segment, pass_flag(o, "--domains"), &idx, &n))) goto done;
    if (n == 0) {
        rc = MS_FAIL(MS_ERR_INPUT, "%s: no labeled samples", o->train);
        goto done;
    }
    member_list done_list;
    if ((rc = members_read(o->out, &done_list))) goto done;
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
        if (!rc) MPI_Comm_rank(dist_comm(), &grank);
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
        char dir[ENS_PATH], rel[64], ckpt[ENS_PATH + 16];
        snprintf(rel, sizeof rel, "member-%d/best.h5", i);
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
        snprintf(ckpt, sizeof ckpt, "%s/best.h5", dir);
        if (access(ckpt, R_OK) != 0) snprintf(ckpt, sizeof ckpt, "%s/last.h5", dir), snprintf(rel, sizeof rel, "member-%d/last.h5", i);
        double alpha = 1, err = 0;
        if (method == METHOD_BOOSTING) {
            /* the member's errors on every labeled training sample reweight them */
            if ((rc = predict_classes(ckpt, &c, idx, n, pred, labels))) break;
            ens_samme_status s = ens_samme_update(w, &alpha, &err, pred, labels, n, c.n_classes);
            if (d->rank == 0)
                fprintf(stderr, "medssl ensemble: member %d: weighted training error %.4f, alpha %.4f%s\n", i, err, alpha,
                        s == ENS_SAMME_DISCARD ? " (no better than chance: discarded)" : "");
            if (s == ENS_SAMME_DISCARD) continue;
            if (!listed && d->rank == 0) rc = members_append(o->out, (ens_method)method, rel, alpha);
            if (s == ENS_SAMME_PERFECT) {
                if (d->rank == 0) fprintf(stderr, "medssl ensemble: member %d fits the training set; boosting stops\n", i);
                break;
            }
        } else if (!listed && G > 1) {
            trained[i] = 1;
        } else if (!listed && d->rank == 0) {
            rc = members_append(o->out, (ens_method)method, rel, 1.0);
        }
    }
    if (G > 1) { /* every group is back: world rank 0 lists what they trained, in member order */
        dist_unsplit();
        int all[ENS_MAX_MEMBERS];
        MPI_Allreduce(trained, all, ENS_MAX_MEMBERS, MPI_INT, MPI_MAX, d->comm);
        for (int i = 0; i < o->members && d->rank == 0; i++) {
            if (!all[i]) continue;
            char rel[64], ckpt[ENS_PATH + 32];
            snprintf(rel, sizeof rel, "member-%d/best.h5", i);
            snprintf(ckpt, sizeof ckpt, "%s/%s", o->out, rel);
            if (access(ckpt, R_OK) != 0) snprintf(rel, sizeof rel, "member-%d/last.h5", i);
            int err = members_append(o->out, (ens_method)method, rel, 1.0);
            if (!rc) rc = err;
        }
        /* a failing group has said why; the others exit with its code */
        int rc_all = rc;
        MPI_Allreduce(&rc, &rc_all, 1, MPI_INT, MPI_MAX, d->comm);
        rc = rc_all;
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

/* ---- evaluation ---- */

typedef struct {
    const char *ensemble, *members, *weights, *data, *val, *out, *combiners;
    int by_domain, json, batch;
} eval_opts;

/* The metrics JSON of one set of scores, as a malloc'd string. */
static char *cls_json(int K, const float *scores, const int32_t *labels, const int32_t *domains, long long n, int by_domain,
                      double *headline)
{
    metrics_cls *acc = metrics_cls_new(K);
    metrics_cls_add(acc, scores, labels, domains, n);
    metrics_cls_result r;
    metrics_cls_finish(acc, METRICS_ALL, 0, 0, &r);
    headline[0] = r.accuracy;
    headline[1] = r.balanced_accuracy;
    headline[2] = r.macro_auc;
    metrics_cls_result_free(&r);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    metrics_report_opts ro = { .by_domain = by_domain };
    metrics_cls_write_json(f, acc, &ro);
    fclose(f);
    metrics_cls_free(acc);
    return buf;
}

static char *seg_json(int K, const uint8_t *pred, const uint8_t *truth, const int32_t *domains, long long n, int H, int W,
                      int by_domain, double *headline)
{
    metrics_seg *acc = metrics_seg_new(K);
    metrics_seg_add(acc, pred, truth, domains, n, H, W);
    metrics_seg_result r;
    metrics_seg_finish(acc, METRICS_ALL, 0, 0, &r);
    headline[0] = r.dsc_mean;
    headline[1] = r.dsc_std;
    headline[2] = NAN;
    metrics_seg_result_free(&r);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    metrics_report_opts ro = { .by_domain = by_domain };
    metrics_seg_write_json(f, acc, &ro);
    fclose(f);
    metrics_seg_free(acc);
    return buf;
}

/* Splits a comma-separated list of member checkpoints. */
static int members_parse(const char *list, member_list *ml)
{
    ml->M = 0;
    char buf[ENS_MAX_MEMBERS * 256];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (ml->M >= ENS_MAX_MEMBERS) return MS_FAIL(MS_ERR_INPUT, "--members: more than %d", ENS_MAX_MEMBERS);
        snprintf(ml->path[ml->M], ENS_PATH, "%s", t);
        ml->weight[ml->M++] = 1;
    }
    return MS_OK;
}

/* Every member's predictions over corpus c: probs (M, n, K[, HW]) on rank 0. */
static int predict_members(const ms_dist *d, const member_list *ml, ms_corpus *c, int batch, float **probs, eval_data *first,
                           int *K, int *segment)
{
    int rc = MS_OK;
    size_t per = 0;
    *probs = NULL;
    for (int m = 0; m < ml->M && !rc; m++) {
        ms_predictor p;
        rc = trainer_agree(d, "ensemble", predictor_open(&p, ml->path[m], c, batch));
        if (!rc && m == 0) {
            *K = p.K;
            *segment = p.segment;
            per = (size_t)p.K * (p.segment ? (size_t)c->H * c->W : 1);
            if (!p.segment && !corpus_has_labels(c)) rc = MS_FAIL(MS_ERR_INPUT, "%s: no /labels dataset", c->path);
            if (p.segment && !corpus_has_masks(c)) rc = MS_FAIL(MS_ERR_INPUT, "%s: no /masks dataset", c->path);
            rc = trainer_agree(d, "ensemble", rc);
            if (!rc) *probs = ms_malloc((size_t)ml->M * (size_t)c->N * per * sizeof(float));
        } else if (!rc && (p.K != *K || p.segment != *segment)) {
            rc = trainer_agree(d, "ensemble", MS_FAIL(MS_ERR_INPUT, "%s: %d classes (%s) but %s has %d (%s)", ml->path[m], p.K,
                                                      p.segment ? "segment" : "classify", ml->path[0], *K,
                                                      *segment ? "segment" : "classify"));
        }
        eval_data e = { 0 };
        if (!rc) rc = trainer_agree(d, "ensemble", eval_predict(d, &p, c, corpus_has_domains(c), 1, &e));
        if (!rc && d->rank == 0) memcpy(*probs + (size_t)m * c->N * per, e.probs, (size_t)c->N * per * sizeof(float));
        if (!rc && m == 0) {
            *first = e;
            first->probs = NULL;
            e.labels = e.domains = NULL;
            e.truth = NULL;
        }
        eval_free(&e);
        predictor_close(&p);
    }
    return rc;
}

/* Weighted-vote weights: members.txt weights (boosting), else accuracy on
 * the validation corpus (needs --val), else equal. */
static void vote_weights(const member_list *ml, const float *val_probs, const int32_t *val_labels, long long nv, int K,
                         float *w)
{
    int from_file = 0;
    for (int m = 0; m < ml->M; m++) from_file |= ml->weight[m] != 1.0f;
    for (int m = 0; m < ml->M; m++) {
        w[m] = from_file ? ml->weight[m] : 1.0f;
        if (from_file || !val_probs) continue;
        long long right = 0;
        for (long long i = 0; i < nv; i++) {
            const float *p = val_probs + ((size_t)m * nv + i) * K;
            int best = 0;
            for (int k = 1; k < K; k++)
                if (p[k] > p[best]) best = k;
            right += best == val_labels[i];
        }
        w[m] = nv ? (float)right / (float)nv : 1.0f;
    }
}

static int ensemble_evaluate(const ms_dist *d, const eval_opts *o)
{
    member_list ml;
    int rc = o->ensemble ? members_read(o->ensemble, &ml) : members_parse(o->members, &ml);
    if (!rc && ml.M == 0) rc = MS_FAIL(MS_ERR_INPUT, "%s: no members", o->ensemble ? o->ensemble : "--members");
    if (!rc && o->weights) {
        const char *p = o->weights;
        for (int m = 0; m < ml.M && !rc; m++) {
            char *end;
            ml.weight[m] = strtof(p, &end);
            if (end == p || ml.weight[m] < 0) rc = MS_FAIL(MS_ERR_INPUT, "--weights %s: expected %d numbers", o->weights, ml.M);
            p = *end == ',' ? end + 1 : end;
        }
    }
    if ((rc = trainer_agree(d, "ensemble", rc))) return rc;
    int run[ENS__COUNT] = { 0 };
    if (!o->combiners || strcmp(o->combiners, "all") == 0) {
        for (int k = 0; k < ENS__COUNT; k++) run[k] = 1;
    } else {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", o->combiners);
        for (char *save = NULL, *t = strtok_r(buf, ",", &save); t && !rc; t = strtok_r(NULL, ",", &save)) {
            int k = ens_combiner_parse(t);
            if (k < 0) rc = MS_FAIL(MS_ERR_INPUT, "--combiner %s: expected all or %s", t, ens_combiner_list());
            else run[k] = 1;
        }
    }
    if ((rc = trainer_agree(d, "ensemble", rc))) return rc;
    ms_corpus c, vc;
    int have_v = 0;
    if ((rc = trainer_agree(d, "ensemble", corpus_open(&c, o->data)))) return rc;
    float *probs = NULL, *vprobs = NULL;
    eval_data e = { 0 }, ve = { 0 };
    int K = 0, segment = 0, Kv, segv;
    rc = predict_members(d, &ml, &c, o->batch, &probs, &e, &K, &segment);
    if (!rc && o->val) {
        if (!(rc = trainer_agree(d, "ensemble", corpus_open(&vc, o->val)))) {
            have_v = 1;
            rc = predict_members(d, &ml, &vc, o->batch, &vprobs, &ve, &Kv, &segv);
        }
    }
    if (rc || d->rank != 0) goto done;
    const long long n = c.N, nv = have_v ? vc.N : 0;
    const int HW = c.H * c.W, M = ml.M;
    if (!segment) { /* keep labeled samples only */
        long long kept = 0;
        for (long long i = 0; i < n; i++) {
            if (e.labels[i] < 0) continue;
            for (int m = 0; m < M; m++)
                memmove(probs + ((size_t)m * n + kept) * K, probs + ((size_t)m * n + i) * K, (size_t)K * sizeof(float));
            e.labels[kept] = e.labels[i];
            if (e.domains) e.domains[kept] = e.domains[i];
            kept++;
        }
        if (kept == 0) {
            rc = MS_FAIL(MS_ERR_INPUT, "%s: no labeled samples", o->data);
            goto done;
        }
        /* compact the member blocks to stride `kept` */
        for (int m = 1; m < M; m++)
            memmove(probs + (size_t)m * kept * K, probs + (size_t)m * n * K, (size_t)kept * K * sizeof(float));
        e.n = kept;
    }
    const long long ne = segment ? n : e.n;
    float w[ENS_MAX_MEMBERS];
    vote_weights(&ml, have_v && !segment ? vprobs : NULL, ve.labels, nv, K, w);
    ens_moe gate = { 0 };
    if (run[ENS_MOE] && (segment || !have_v)) {
        fprintf(stderr, "medssl ensemble: moe skipped: it needs --val (a labeled validation corpus) and classification\n");
        run[ENS_MOE] = 0;
    }
    if (run[ENS_MOE]) {
        ens_moe_opts mo;
        ens_moe_defaults(&mo);
        ens_moe_init(&gate, M, K);
        double loss;
        if ((rc = ens_moe_train(&gate, vprobs, ve.labels, nv, &mo, &loss))) goto done;
    }
    /* the report: members, then combiners */
    char *names[ENS_MAX_MEMBERS + ENS__COUNT], *json[ENS_MAX_MEMBERS + ENS__COUNT];
    double head[ENS_MAX_MEMBERS + ENS__COUNT][3];
    int rows = 0;
    float *scores = ms_malloc((size_t)ne * K * (segment ? HW : 1) * sizeof(float));
    uint8_t *mask = segment ? ms_malloc((size_t)n * HW) : NULL;
    for (int m = 0; m < M; m++) {
        names[rows] = ml.path[m];
        const float *pm = probs + (size_t)m * ne * K * (segment ? HW : 1);
        if (segment) {
            predict_argmax_pixels(pm, n, K, HW, mask);
            json[rows] = seg_json(K, mask, e.truth, e.domains, n, c.H, c.W, o->by_domain, head[rows]);
        } else {
            json[rows] = cls_json(K, pm, e.labels, e.domains, ne, o->by_domain, head[rows]);
        }
        rows++;
    }
    ens_params ep = { .weights = w, .gate = run[ENS_MOE] ? &gate : NULL };
    for (int k = 0; k < ENS__COUNT && !rc; k++) {
        if (!run[k]) continue;
        if (segment) {
            if (k != ENS_AVERAGE && k != ENS_VOTE && k != ENS_WEIGHTED_VOTE) continue;
            rc = ens_seg_combine((ens_combiner)k, mask, probs, &ep, M, n, K, c.H, c.W);
            if (!rc) json[rows] = seg_json(K, mask, e.truth, e.domains, n, c.H, c.W, o->by_domain, head[rows]);
        } else {
            rc = ens_combine((ens_combiner)k, scores, NULL, probs, &ep, M, ne, K);
            if (!rc) json[rows] = cls_json(K, scores, e.labels, e.domains, ne, o->by_domain, head[rows]);
        }
        if (!rc) names[rows++] = (char *)ens_combiner_name((ens_combiner)k);
    }
    if (!rc) {
        FILE *f = stdout;
        if (!o->json) {
            printf("%-40s %10s %10s %10s\n", "model", segment ? "dsc_mean" : "accuracy", segment ? "dsc_std" : "bal_acc",
                   segment ? "" : "macro_auc");
            for (int r = 0; r < rows; r++) {
                printf("%-40s %10.4f %10.4f", r < M ? names[r] : names[r], head[r][0], head[r][1]);
                if (!segment) printf(" %10.4f", head[r][2]);
                printf("%s\n", r == M - 1 ? "\n---- combiners" : "");
            }
        }
        char *doc = NULL;
        size_t len = 0;
        FILE *mf = open_memstream(&doc, &len);
        fprintf(mf, "{\"task\": \"%s\", \"data\": \"%s\", \"members\": [", segment ? "segment" : "classify", o->data);
        for (int m = 0; m < M; m++)
            fprintf(mf, "%s{\"path\": \"%s\", \"weight\": %.9g, \"metrics\": %s}", m ? ", " : "", ml.path[m], (double)w[m],
                    json[m]);
        fprintf(mf, "], \"combiners\": {");
        for (int r = M; r < rows; r++) fprintf(mf, "%s\"%s\": %s", r > M ? ", " : "", names[r], json[r]);
        fprintf(mf, "}}\n");
        fclose(mf);
        if (o->json) fputs(doc, f);
        if (o->out) {
            char path[ENS_PATH + 32];
            if (!(rc = runctl_make_dir(o->out))) {
                snprintf(path, sizeof path, "%s/metrics.json", o->out);
                FILE *out = fopen(path, "w");
                if (!out || fputs(doc, out) < 0) rc = MS_FAIL(MS_ERR_RUNTIME, "%s: cannot write", path);
                if (out) fclose(out);
                if (!rc) fprintf(stderr, "medssl ensemble: wrote %s\n", path);
            }
        }
        free(doc);
    }
    for (int r = 0; r < rows; r++) free(json[r]);
    free(scores);
    free(mask);
    ens_moe_free(&gate);
done:
    free(probs);
    free(vprobs);
    eval_free(&e);
    eval_free(&ve);
    corpus_close(&c);
    if (have_v) corpus_close(&vc);
    return rc;
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
    int rc;
    ms_dist d;
    if (strcmp(sub, "train") == 0) {
        train_opts o = { .method = "bagging", .members = 5, .member = -1, .groups = 1 };
        int split = argc;
        for (int i = 2; i < argc; i++)
            if (strcmp(argv[i], "--") == 0) {
                split = i;
                break;
            }
        o.pass = argv + split + (split < argc);
        o.n_pass = split < argc ? argc - split - 1 : 0;
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
        rc = cli_parse("ensemble train", "--method M --members M --train FILE --out DIR -- <finetune flags>",
                       "Trains ensemble members (medssl finetune runs) by bagging or AdaBoost SAMME.", args,
                       (int)(sizeof args / sizeof *args), split - 1, argv + 1, NULL, 0, NULL);
        if (rc) return rc < 0 ? 0 : rc;
        if (!o.train || !o.out) {
            fprintf(stderr, "medssl ensemble train: --train and --out are required\n");
            return 2;
        }
        const char *task = getenv("SLURM_ARRAY_TASK_ID");
        if (o.member < 0 && task && *task && strcmp(o.method, "bagging") == 0) o.member = atoi(task);
        if (dist_init(&d, &argc, &argv)) return cli_report("ensemble", MS_ERR_RUNTIME);
        runctl_install_signals();
        rc = ensemble_train(&d, &o);
    } else {
        eval_opts o = { .batch = 256 };
        const ms_arg args[] = {
            { "ensemble", ARG_STRING, &o.ensemble, 0, 0, "DIR", "a folder from ensemble train (members.txt)" },
            { "members", ARG_STRING, &o.members, 0, 0, "A.h5,B.h5", "member checkpoints (any finetune runs)" },
            { "weights", ARG_STRING, &o.weights, 0, 0, "w1,w2,..", "weighted-vote weights (default: members.txt, else --val "
                                                                    "accuracy, else equal)" },
            { "data", ARG_STRING, &o.data, 0, 0, "FILE", "labeled corpus to evaluate on (required)" },
            { "val", ARG_STRING, &o.val, 0, 0, "FILE", "labeled validation corpus: vote weights and the moe gate" },
            { "combiner", ARG_STRING, &o.combiners, 0, 0, "C,..", "combiners (default all)" },
            { "by-domain", ARG_BOOL, &o.by_domain, 0, 0, NULL, "metrics per /domains value too" },
            { "out", ARG_STRING, &o.out, 0, 0, "DIR", "write DIR/metrics.json" },
            { "json", ARG_BOOL, &o.json, 0, 0, NULL, "print the JSON on stdout instead of the table" },
            { "batch", ARG_INT, &o.batch, 1, 65536, "B", "images per forward pass (default 256)" },
        };
        rc = cli_parse("ensemble evaluate", "(--ensemble DIR | --members A,B,..) --data FILE [options]",
                       "Combines ensemble members and reports every member and every combiner.", args,
                       (int)(sizeof args / sizeof *args), argc - 1, argv + 1, NULL, 0, NULL);
        if (rc) return rc < 0 ? 0 : rc;
        if (!o.data || (!o.ensemble == !o.members)) {
            fprintf(stderr, "medssl ensemble evaluate: --data and one of --ensemble / --members are required\n");
            return 2;
        }
        if (dist_init(&d, &argc, &argv)) return cli_report("ensemble", MS_ERR_RUNTIME);
        rc = ensemble_evaluate(&d, &o);
    }
    if (rc && *ms_last_error()) cli_report("ensemble", rc);
    dist_finalize(&d);
    return rc;
}
