/* ensemble_eval — `medssl ensemble evaluate`: combines saved members
 * (--ensemble DIR with members.txt, or --members a.h5,b.h5,..: e.g. models
 * from different pretext inits or strategies) on a labeled corpus with every
 * combiner (medssl/ensemble_math.h), and reports each member and each combiner
 * side by side (metrics.json, table).
 *
 * Dimension legend: M members, n samples, K classes, HW pixels.
 */
#include "cli.h"
#include "medssl/atomic.h"
#include "ensemble_internal.h"
#include "medssl/common.h"
#include "medssl/json.h"
#include "medssl/corpus.h"
#include "medssl/dist.h"
#include "medssl/ensemble_math.h"
#include "medssl/labeled.h"
#include "medssl/list.h"
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

/* ---- evaluation ---- */

typedef struct {
    const char *ensemble, *members, *weights, *data, *val, *out, *combiners;
    int by_domain, json, batch;
} eval_opts;

/* The metrics JSON of one set of predictions (scores or masks) as a malloc'd
 * string, and its headline numbers. */
static char *judge_json(const ms_task_judge *jd, int K, const ms_predictions *e, int H, int W, const eval_opts *o,
                        double *headline, int *rc)
{
    const int by_domain = o->by_domain;
    void *acc = jd->metrics_new(K);
    long long added = 0;
    *rc = jd->metrics_add(acc, e, H, W, &added);
    if (!*rc && added == 0) *rc = MS_FAIL(MS_ERR_INPUT, "%s: no labeled samples", o->data);
    jd->headline(acc, headline);
    ms_json j;
    json_begin(&j, 0);
    metrics_report_opts ro = { .by_domain = by_domain };
    jd->json(&j, NULL, acc, &ro);
    jd->metrics_free(acc);
    return j.buf; /* the writer's buffer, owned by the caller now */
}

/* Splits a comma-separated list of member checkpoints. */
static int members_parse(const char *list, member_list *ml)
{
    ml->M = 0;
    if (!*list) return MS_OK;
    const char *cur = list;
    char path[ENS_PATH];
    for (int r; (r = ms_list_next(&cur, ',', path, sizeof path)) != MS_LIST_END;) {
        if (r == MS_LIST_EMPTY)
            return MS_FAIL(MS_ERR_INPUT, "--members %s: an empty member; expected checkpoints separated by single commas", list);
        if (r == MS_LIST_TOO_LONG)
            return MS_FAIL(MS_ERR_INPUT, "--members: %s...: a path longer than %d characters", path, ENS_PATH - 1);
        if (ml->M >= ENS_MAX_MEMBERS) return MS_FAIL(MS_ERR_INPUT, "--members: more than %d", ENS_MAX_MEMBERS);
        memcpy(ml->path[ml->M], path, sizeof path);
        ml->weight[ml->M++] = 1;
    }
    return MS_OK;
}

/* Every member's predictions over corpus c: probs (M, n, K[, HW]) on rank 0. */
static int predict_members(const ms_dist *d, const member_list *ml, ms_corpus *c, int batch, float **probs, ms_predictions *first,
                           int *K, const ms_task **task)
{
    int rc = MS_OK;
    size_t per = 0;
    *probs = NULL;
    for (int m = 0; m < ml->M && !rc; m++) {
        ms_predictor p;
        rc = dist_agree(d, "ensemble", predictor_open(&p, ml->path[m], c, batch));
        if (!rc && m == 0) {
            *K = p.K;
            *task = p.task;
            per = (size_t)p.K * (p.task->masks ? (size_t)c->H * c->W : 1);
            rc = dist_agree(d, "ensemble", task_check_truth(p.task, c, ml->path[0]));
            if (!rc) *probs = ms_malloc((size_t)ml->M * (size_t)c->N * per * sizeof(float));
        } else if (!rc && (p.K != *K || p.task != *task)) {
            rc = dist_agree(d, "ensemble", MS_FAIL(MS_ERR_INPUT, "%s: %d classes (%s) but %s has %d (%s)", ml->path[m], p.K,
                                                      p.task->name, ml->path[0], *K, (*task)->name));
        }
        ms_predictions e = { 0 };
        if (!rc) rc = dist_agree(d, "ensemble", predict_corpus(d, &p, c, corpus_has_domains(c), 1, &e));
        if (!rc && d->rank == 0) memcpy(*probs + (size_t)m * c->N * per, e.probs, (size_t)c->N * per * sizeof(float));
        if (!rc && m == 0) {
            *first = e;
            first->probs = NULL;
            e.labels = e.domains = NULL;
            e.truth = NULL;
        }
        predictions_free(&e);
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
        for (long long i = 0; i < nv; i++) right += ms_argmax(val_probs + ((size_t)m * nv + i) * K, K, 1) == val_labels[i];
        w[m] = nv ? (float)right / (float)nv : 1.0f;
    }
}

/* Why --ensemble DIR (or --members) gave no members, naming what was expected. */
static int no_members(const eval_opts *o)
{
    if (!o->ensemble) return MS_FAIL(MS_ERR_INPUT, "--members: no checkpoints (expected A.h5,B.h5,..)");
    struct stat st;
    if (stat(o->ensemble, &st) != 0 || !S_ISDIR(st.st_mode))
        return MS_FAIL(MS_ERR_INPUT, "--ensemble %s: no such folder (expected the --out folder of medssl ensemble train, "
                                     "with members.txt)", o->ensemble);
    char path[ENS_PATH + 32];
    snprintf(path, sizeof path, "%s/members.txt", o->ensemble);
    if (access(path, F_OK) != 0)
        return MS_FAIL(MS_ERR_INPUT, "--ensemble %s: no members.txt (expected the --out folder of medssl ensemble train)",
                       o->ensemble);
    return MS_FAIL(MS_ERR_INPUT, "%s lists no members (they are added as medssl ensemble train finishes them)", path);
}

/* Combiners that cannot run on this ensemble are errors when asked for by
 * name (--combiner); with the default (all) they are left out with a note. */
static int combiner_unavailable(const eval_opts *o, int k, const ms_task *t)
{
    if (k == ENS_MOE && !o->val)
        return MS_FAIL(MS_ERR_INPUT, "--combiner moe: the mixture of experts trains its gate on a labeled validation "
                                     "corpus: give --val FILE");
    if (t && !(t->judge.combiners & 1u << k)) {
        char list[256] = "";
        for (int c = 0, n = 0; c < ENS__COUNT; c++) {
            if (!(t->judge.combiners & 1u << c)) continue;
            const int last = !(t->judge.combiners >> (c + 1));
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", n++ ? (last ? " or " : ", ") : "",
                     ens_combiner_name((ens_combiner)c));
        }
        return MS_FAIL(MS_ERR_INPUT, "--combiner %s: a %s ensemble combines by %s", ens_combiner_name((ens_combiner)k),
                       t->name, list);
    }
    return MS_OK;
}

static int ensemble_evaluate(const ms_dist *d, const eval_opts *o)
{
    member_list ml;
    int rc = o->ensemble ? ens_members_read(o->ensemble, &ml) : members_parse(o->members, &ml);
    if (!rc && ml.M == 0) rc = no_members(o);
    if (!rc && o->weights) {
        double w[ENS_MAX_MEMBERS];
        const int n = ms_list_numbers(o->weights, ',', w, ENS_MAX_MEMBERS);
        for (int m = 0; m < ml.M && !rc; m++) {
            ml.weight[m] = m < n ? (float)w[m] : -1;
            if (!(ml.weight[m] >= 0)) rc = MS_FAIL(MS_ERR_INPUT, "--weights %s: expected %d numbers", o->weights, ml.M);
        }
    }
    if ((rc = dist_agree(d, "ensemble", rc))) return rc;
    int run[ENS__COUNT] = { 0 };
    if (!o->combiners || strcmp(o->combiners, "all") == 0) {
        for (int k = 0; k < ENS__COUNT; k++) run[k] = 1;
    } else {
        const char *cur = o->combiners;
        char name[64];
        for (int r; !rc && (r = ms_list_next(&cur, ',', name, sizeof name)) != MS_LIST_END;) {
            int k = r == MS_LIST_EMPTY ? -1 : ens_combiner_parse(name);
            if (k < 0)
                rc = MS_FAIL(MS_ERR_INPUT, "--combiner %s: expected all or %s", r == MS_LIST_EMPTY ? o->combiners : name,
                             ens_combiner_list());
            else run[k] = 1;
        }
        for (int k = 0; k < ENS__COUNT && !rc; k++)
            if (run[k] && k == ENS_MOE) rc = combiner_unavailable(o, k, NULL);
    }
    if ((rc = dist_agree(d, "ensemble", rc))) return rc;
    ms_corpus c, vc;
    int have_v = 0;
    if ((rc = dist_agree(d, "ensemble", corpus_open(&c, o->data, d)))) return rc;
    float *probs = NULL, *vprobs = NULL;
    ms_predictions e = { 0 }, ve = { 0 };
    int K = 0, Kv;
    const ms_task *task = NULL, *vtask = NULL;
    rc = predict_members(d, &ml, &c, o->batch, &probs, &e, &K, &task);
    const int named = o->combiners && strcmp(o->combiners, "all") != 0;
    for (int k = 0; k < ENS__COUNT && !rc && named; k++)
        if (run[k]) rc = combiner_unavailable(o, k, task);
    if (!rc && o->val) {
        if (!(rc = dist_agree(d, "ensemble", corpus_open(&vc, o->val, d)))) {
            have_v = 1;
            rc = predict_members(d, &ml, &vc, o->batch, &vprobs, &ve, &Kv, &vtask);
        }
    }
    if (rc || d->rank != 0) goto done;
    const ms_task_judge *jd = &task->judge;
    const long long n = c.N, nv = have_v ? vc.N : 0;
    const int HW = c.H * c.W, M = ml.M;
    const size_t per = (size_t)K * (task->masks ? HW : 1); /* output floats per image */
    float w[ENS_MAX_MEMBERS];
    /* accuracy weights need labels: classification members */
    vote_weights(&ml, have_v && ve.labels ? vprobs : NULL, ve.labels, nv, K, w);
    ens_moe gate = { 0 };
    if (run[ENS_MOE] && (!(jd->combiners & 1u << ENS_MOE) || !have_v)) {
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
    for (int m = 0; m < M && !rc; m++) {
        ms_predictions pm = e; /* the truth of e, member m's probabilities */
        pm.probs = probs + (size_t)m * n * per;
        pm.pred = NULL;
        names[rows] = ml.path[m];
        json[rows] = judge_json(jd, K, &pm, c.H, c.W, o, head[rows], &rc);
        rows++;
    }
    ens_params ep = { .weights = w, .gate = run[ENS_MOE] ? &gate : NULL };
    for (int k = 0; k < ENS__COUNT && !rc; k++) {
        if (!run[k] || !(jd->combiners & 1u << k)) continue;
        ms_predictions out = { 0 };
        rc = jd->combine(k, probs, &ep, M, n, K, c.H, c.W, &out);
        if (!rc) {
            out.labels = e.labels;
            out.truth = e.truth;
            out.domains = e.domains;
            json[rows] = judge_json(jd, K, &out, c.H, c.W, o, head[rows], &rc);
            names[rows++] = (char *)ens_combiner_name((ens_combiner)k);
        }
        free(out.probs);
        free(out.pred);
    }
    if (!rc) {
        FILE *f = stdout;
        if (!o->json) {
            printf("%-40s %10s %10s %10s\n", "model", jd->columns[0], jd->columns[1],
                   jd->columns[2] ? jd->columns[2] : "");
            for (int r = 0; r < rows; r++) {
                printf("%-40s %10.4f %10.4f", names[r], head[r][0], head[r][1]);
                if (jd->columns[2]) printf(" %10.4f", head[r][2]);
                printf("%s\n", r == M - 1 ? "\n---- combiners" : "");
            }
        }
        ms_json j;
        json_begin(&j, 0);
        json_object(&j, NULL);
        json_str(&j, "task", task->name);
        json_str(&j, "data", o->data);
        json_array(&j, "members");
        for (int m = 0; m < M; m++) {
            json_object(&j, NULL);
            json_str(&j, "path", ml.path[m]);
            json_num(&j, "weight", (double)w[m], 9);
            json_raw(&j, "metrics", json[m]); /* written by the same writer */
            json_end(&j);
        }
        json_end(&j);
        json_object(&j, "combiners");
        for (int r = M; r < rows; r++) json_raw(&j, names[r], json[r]);
        json_end(&j);
        json_end(&j);
        const char *doc = json_text(&j);
        if (o->json) fprintf(f, "%s\n", doc);
        if (o->out) {
            char path[ENS_PATH + 32];
            if (!(rc = runctl_make_dir(o->out))) {
                snprintf(path, sizeof path, "%s/metrics.json", o->out);
                ms_atomic_file a;
                if (!(rc = atomic_open(&a, path))) {
                    fprintf(a.f, "%s\n", doc);
                    rc = atomic_commit(&a);
                }
                if (!rc) fprintf(stderr, "medssl ensemble: wrote %s\n", path);
            }
        }
        json_free(&j);
    }
    for (int r = 0; r < rows; r++) free(json[r]);
    ens_moe_free(&gate);
done:
    free(probs);
    free(vprobs);
    predictions_free(&e);
    predictions_free(&ve);
    corpus_close(&c);
    if (have_v) corpus_close(&vc);
    return rc;
}

int ensemble_evaluate_cmd(int argc, char **argv)
{
    int rc;
    ms_dist d;
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
    if (rc && *ms_last_error()) cli_report("ensemble", rc);
    dist_finalize(&d);
    return rc;
}
