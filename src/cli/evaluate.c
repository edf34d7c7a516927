/* evaluate — `medssl evaluate`: the metrics of a fine-tuned model on a
 * labeled corpus, as metrics.json (DESIGN.md keys) and a table.
 *
 * Under mpirun the ranks split the corpus into contiguous ranges, predict
 * their range and send the predictions to rank 0, which computes the metrics
 * (every sample once: the result does not depend on the rank count).
 *
 * Dimension legend: n images, K classes, HW pixels per image.
 */
#include "cli.h"
#include "medssl/atomic.h"
#include "medssl/ckpt.h"
#include "medssl/common.h"
#include "medssl/corpus.h"
#include "medssl/dist.h"
#include "medssl/h5util.h"
#include "medssl/list.h"
#include "medssl/metrics.h"
#include "medssl/parallel.h"
#include "medssl/predict.h"
#include "medssl/runctl.h"
#include "medssl/trainer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *model, *data, *out, *overlays, *probabilities;
    int by_domain, json, ci, batch, seed, overlay_count, threads;
} evaluate_opts;

/* Writes dir/metrics.json atomically from the task's metrics accumulator. */
static int write_json_file(const char *dir, const ms_task_judge *jd, const void *acc, const metrics_report_opts *ro)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/metrics.json", dir);
    ms_atomic_file a;
    int rc = atomic_open(&a, path);
    if (rc) return rc;
    if ((rc = jd->write_json(a.f, acc, ro))) {
        atomic_abort(&a);
        return rc;
    }
    return atomic_commit(&a);
}

static int report(const evaluate_opts *o, ms_corpus *c, const ms_predictor *p, const ms_predictions *e)
{
    const ms_task_judge *jd = &p->task->judge;
    const char *extra[] = { "model", o->model, "data", o->data, "task", p->task->name, NULL };
    metrics_report_opts ro = { .by_domain = o->by_domain, .ci_resamples = o->ci, .seed = (uint64_t)o->seed,
                               .extra = extra };
    void *acc = jd->metrics_new(p->K);
    long long added = 0;
    int rc = jd->metrics_add(acc, e, c->H, c->W, &added);
    if (!rc && added == 0) rc = MS_FAIL(MS_ERR_INPUT, "%s: no labeled samples to evaluate", o->data);
    if (!rc && o->out) {
        if (!(rc = runctl_make_dir(o->out))) rc = write_json_file(o->out, jd, acc, &ro);
    }
    if (!rc) rc = o->json ? jd->write_json(stdout, acc, &ro) : jd->print(stdout, acc, &ro);
    if (!rc && o->overlays) rc = jd->pictures(c, e, o->overlays, o->overlay_count);
    jd->metrics_free(acc);
    if (!rc && o->out) fprintf(stderr, "medssl evaluate: wrote %s/metrics.json\n", o->out);
    return rc;
}

/* --probabilities FILE.h5: the softmax probabilities the metrics come from, for
 * comparing medssl with another implementation (tools/medssl_torch.py --check):
 * /probabilities float32 [N, K] (classify) or [N, K, H, W] (segment), every sample of
 * --data in corpus order (unlabeled ones too). Written to FILE.tmp.<pid>, renamed into place. */
static int write_probabilities(const char *path, const float *probs, long long n, int K, int H, int W, int per_pixel)
{
    char tmp[4200];
    int rc = atomic_tmp_name(path, tmp, sizeof tmp);
    if (rc) return rc;
    hsize_t dims[4] = { (hsize_t)n, (hsize_t)K, (hsize_t)H, (hsize_t)W };
    h5_lock();
    h5_quiet();
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t sp = f >= 0 ? H5Screate_simple(per_pixel ? 4 : 2, dims, NULL) : -1;
    hid_t ds = sp >= 0 ? H5Dcreate2(f, "probabilities", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
    int ok = ds >= 0 && H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, probs) >= 0;
    if (ds >= 0) H5Dclose(ds);
    if (sp >= 0) H5Sclose(sp);
    if (f >= 0) ok &= H5Fclose(f) >= 0;
    h5_unlock();
    if (!ok) {
        atomic_discard(tmp);
        return MS_FAIL(MS_ERR_RUNTIME, "--probabilities %s: cannot write (is the folder writable?)", path);
    }
    if ((rc = atomic_publish(tmp, path))) return rc;
    fprintf(stderr, "medssl evaluate: wrote %s (/probabilities, %lld samples)\n", path, n);
    return MS_OK;
}

/* The data must look like what the model was trained on: at most the model's
 * classes (exactly, when the corpus names its classes), and the image size the
 * checkpoint records (input_size), or for older checkpoints that of the
 * training corpus named by --train in its command_line (skipped when that file
 * is no longer there). */
static int check_data_fits(const char *model, const ms_corpus *c, const ms_predictor *p)
{
    if (!p->task->masks && (c->n_classes > p->K || (c->class_names[0] && c->n_classes != p->K)))
        return MS_FAIL(MS_ERR_INPUT, "%s: %d classes, but %s is a %d-class model", c->path, c->n_classes, model, p->K);
    char cmd[8192], train[4096] = "";
    int present = 0, rc = ckpt_read_string(model, "input_size", cmd, sizeof cmd, &present), C, H, W;
    if (rc) return rc;
    if (present) { /* "CxHxW", written by finetune since 2026-12-04 */
        if (sscanf(cmd, "%dx%dx%d", &C, &H, &W) != 3)
            return MS_FAIL(MS_ERR_INPUT, "%s: input_size '%s' is not CxHxW", model, cmd);
        if (C != c->C || H != c->H || W != c->W)
            return MS_FAIL(MS_ERR_INPUT, "%s: images are %dx%dx%d but %s was trained on %dx%dx%d images", c->path,
                           c->C, c->H, c->W, model, C, H, W);
        return MS_OK;
    }
    /* older checkpoints: the --train corpus of the command line, if still there */
    rc = ckpt_read_string(model, "command_line", cmd, sizeof cmd, &present);
    if (rc || !present) return rc;
    const char *cur = cmd;
    char tok[sizeof train];
    for (int r, value = 0; (r = ms_list_next(&cur, ' ', tok, sizeof tok)) != MS_LIST_END;) {
        if (r == MS_LIST_EMPTY) continue; /* a run of spaces */
        if (value) { /* the word after --train */
            memcpy(train, tok, sizeof train);
            value = 0;
        } else if (strcmp(tok, "--") == 0) {
            break; /* ensemble train: finetune's flags follow, its --train came first */
        } else if (strncmp(tok, "--train=", 8) == 0) {
            snprintf(train, sizeof train, "%s", tok + 8);
        } else {
            value = strcmp(tok, "--train") == 0;
        }
    }
    if (!train[0] || access(train, R_OK) != 0) return MS_OK;
    ms_corpus t;
    if (corpus_open(&t, train, c->dist)) { /* the training corpus has changed since: nothing to compare with */
        ms_clear_error();
        return MS_OK;
    }
    if (t.H != c->H || t.W != c->W || t.C != c->C)
        rc = MS_FAIL(MS_ERR_INPUT, "%s: images are %dx%dx%d but %s was trained on %dx%dx%d images (%s)", c->path, c->C,
                     c->H, c->W, model, t.C, t.H, t.W, train);
    corpus_close(&t);
    return rc;
}

int cmd_evaluate(int argc, char **argv)
{
    evaluate_opts o = { .batch = 256, .overlay_count = 16, .seed = 0 };
    const ms_arg args[] = {
        { "model", ARG_STRING, &o.model, 0, 0, "CKPT", "a checkpoint from medssl finetune (required)" },
        { "data", ARG_STRING, &o.data, 0, 0, "FILE", "labeled corpus (labels for classify, masks for segment)" },
        { "out", ARG_STRING, &o.out, 0, 0, "DIR", "write DIR/metrics.json" },
        { "json", ARG_BOOL, &o.json, 0, 0, NULL, "print the metrics JSON on stdout instead of the table" },
        { "by-domain", ARG_BOOL, &o.by_domain, 0, 0, NULL, "every metric also per /domains value" },
        { "ci", ARG_INT, &o.ci, 0, 100000, "B", "bootstrap 95% intervals with B resamples (e.g. 1000)" },
        { "seed", ARG_INT, &o.seed, 0, 2147483647, "N", "bootstrap seed (default 0)" },
        { "batch", ARG_INT, &o.batch, 1, 65536, "B", "images per forward pass (default 256)" },
        { "overlays", ARG_STRING, &o.overlays, 0, 0, "DIR", "segment: PNGs of image | truth | prediction" },
        { "probabilities", ARG_STRING, &o.probabilities, 0, 0, "FILE.h5",
          "write /probabilities [N,K] (segment: [N,K,H,W]) of every sample" },
        { "overlay-count", ARG_INT, &o.overlay_count, 1, 1000000, "N", "overlays written (default 16)" },
        { "threads", ARG_INT, &o.threads, 1, 256, "T", "threads per rank (default: cores / ranks)" },
    };
    int rc = cli_parse("evaluate", "--model CKPT --data FILE [--by-domain] [--out DIR] [--json]",
                       "Metrics of a fine-tuned model on a labeled corpus: accuracy, balanced accuracy, AUC,\n"
                       "per-class sensitivity/specificity/precision/F1 and the confusion matrix (classify), or\n"
                       "Dice per class (segment).",
                       args, (int)(sizeof args / sizeof *args), argc, argv, NULL, 0, NULL);
    if (rc) return rc < 0 ? 0 : rc;
    if (!o.model || !o.data) {
        fprintf(stderr, "medssl evaluate: --model and --data are required (see medssl evaluate --help)\n");
        return 2;
    }
    ms_dist d;
    if (dist_init(&d, &argc, &argv)) return cli_report("evaluate", MS_ERR_RUNTIME);
    cli_set_threads(&d, o.threads);
    ms_corpus c;
    ms_predictor p;
    ms_predictions e = { 0 };
    memset(&c, 0, sizeof c);
    memset(&p, 0, sizeof p);
    int opened = 0;
    rc = corpus_open(&c, o.data, &d);
    opened = rc == 0;
    if (!rc) rc = predictor_open(&p, o.model, &c, o.batch);
    if (!rc) rc = check_data_fits(o.model, &c, &p);
    if (!rc && o.overlays && !p.task->judge.pictures)
        rc = MS_FAIL(MS_ERR_INPUT, "--overlays %s: overlays draw segmentation masks, but %s is a %s model", o.overlays,
                     o.model, p.task->name);
    if (!rc) rc = task_check_truth(p.task, &c, o.model);
    if (!rc && o.by_domain && !corpus_has_domains(&c))
        rc = MS_FAIL(MS_ERR_INPUT, "%s: --by-domain: the corpus has no /domains dataset", o.data);
    rc = dist_agree(&d, "evaluate", rc);
    if (!rc) {
        /* segment keeps its per-pixel probabilities only when asked to write them */
        const int keep = o.probabilities && p.task->masks;
        rc = dist_agree(&d, "evaluate", predict_corpus(&d, &p, &c, corpus_has_domains(&c), keep, &e));
        if (!rc && d.rank == 0 && keep) {
            e.pred = ms_malloc((size_t)(e.n ? e.n : 1) * c.H * c.W);
            predict_argmax_pixels(e.probs, e.n, p.K, c.H * c.W, e.pred);
        }
        if (!rc && d.rank == 0 && o.probabilities &&
            (rc = write_probabilities(o.probabilities, e.probs, e.n, p.K, c.H, c.W, p.task->masks)))
            cli_report("evaluate", rc);
        if (!rc && d.rank == 0 && (rc = report(&o, &c, &p, &e))) cli_report("evaluate", rc);
    }
    predictions_free(&e);
    predictor_close(&p);
    if (opened) corpus_close(&c);
    dist_finalize(&d);
    return rc;
}
