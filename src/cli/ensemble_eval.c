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
    ms_json j;
    json_begin(&j, 0);
    metrics_report_opts ro = { .by_domain = by_domain };
    metrics_cls_json(&j, NULL, acc, &ro);
    metrics_cls_free(acc);
    return j.buf; /* the writer's buffer, owned by the caller now */
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
    ms_json j;
    json_begin(&j, 0);
    metrics_report_opts ro = { .by_domain = by_domain };
    metrics_seg_json(&j, NULL, acc, &ro);
    metrics_seg_free(acc);
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
                           int *K, int *segment)
{
    int rc = MS_OK;
    size_t per = 0;
    *probs = NULL;
    for (int m = 0; m < ml->M && !rc; m++) {
        ms_predictor p;
        rc = dist_agree(d, "ensemble", predictor_open(&p, ml->path[m], c, batch));
        if (!rc && m == 0) {
            *K = p.K;
            *segment = p.segment;
            per = (size_t)p.K * (p.segment ? (size_t)c->H * c->W : 1);
            if (!p.segment && !corpus_has_labels(c)) rc = MS_FAIL(MS_ERR_INPUT, "%s: no /labels dataset", c->path);
            if (p.segment && !corpus_has_masks(c)) rc = MS_FAIL(MS_ERR_INPUT, "%s: no /masks dataset", c->path);
            rc = dist_agree(d, "ensemble", rc);
            if (!rc) *probs = ms_malloc((size_t)ml->M * (size_t)c->N * per * sizeof(float));
        } else if (!rc && (p.K != *K || p.segment != *segment)) {
            rc = dist_agree(d, "ensemble", MS_FAIL(MS_ERR_INPUT, "%s: %d classes (%s) but %s has %d (%s)", ml->path[m], p.K,
                                                      p.segment ? "segment" : "classify", ml->path[0], *K,
                                                      *segment ? "segment" : "classify"));
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
static int combiner_unavailable(const eval_opts *o, int k, int segment)
{
    if (k == ENS_MOE && !o->val)
        return MS_FAIL(MS_ERR_INPUT, "--combiner moe: the mixture of experts trains its gate on a labeled validation "
                                     "corpus: give --val FILE");
    if (segment && k != ENS_AVERAGE && k != ENS_VOTE && k != ENS_WEIGHTED_VOTE)
        return MS_FAIL(MS_ERR_INPUT, "--combiner %s: a segmentation ensemble combines by average, vote or weighted-vote",
                       ens_combiner_name((ens_combiner)k));
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
            if (run[k] && k == ENS_MOE) rc = combiner_unavailable(o, k, 0);
    }
    if ((rc = dist_agree(d, "ensemble", rc))) return rc;
    ms_corpus c, vc;
    int have_v = 0;
    if ((rc = dist_agree(d, "ensemble", corpus_open(&c, o->data, d)))) return rc;
    float *probs = NULL, *vprobs = NULL;
    ms_predictions e = { 0 }, ve = { 0 };
    int K = 0, segment = 0, Kv, segv;
    rc = predict_members(d, &ml, &c, o->batch, &probs, &e, &K, &segment);
    const int named = o->combiners && strcmp(o->combiners, "all") != 0;
    for (int k = 0; k < ENS__COUNT && !rc && named && segment; k++)
        if (run[k]) rc = combiner_unavailable(o, k, segment);
    if (!rc && o->val) {
        if (!(rc = dist_agree(d, "ensemble", corpus_open(&vc, o->val, d)))) {
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
        ms_json j;
        json_begin(&j, 0);
        json_object(&j, NULL);
        json_str(&j, "task", segment ? "segment" : "classify");
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
    free(scores);
    free(mask);
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
