/* predict — `medssl predict --model CKPT (--data FILE | --png DIR | --nifti
 * VOLUME) --out DIR`: a fine-tuned model applied to new, unlabeled images.
 *
 * Inputs: a corpus as it is; a PNG folder or a NIfTI volume are first turned
 * into a temporary corpus beside the outputs by the importers themselves
 * (import png / import nifti: the same discovery, channel conversion, axis
 * and window), so a picture is read here exactly as training read it. Any
 * image size: the model pads and crops inside (model plan).
 *
 * Outputs (rank 0 writes; every file atomically, the mask folder renamed into
 * place when complete):
 *   classify   DIR/predictions.csv    id,predicted_class,p_0..p_K-1 (id: the PNG's
 *                                      path, "slice-S" of a volume, or the corpus index)
 *   segment    DIR/masks/<id>.png      the class of each pixel (8-bit gray), for PNG
 *                                      and corpus inputs; DIR/overlays/ with --overlays
 *              DIR/mask.nii.gz         for a NIfTI input: a uint8 label volume with
 *                                      the input's dims, voxel sizes and qform/sform
 *   --probabilities  DIR/probabilities.h5 (/probabilities [N,K] or [N,K,H,W]);
 *              NIfTI segment: DIR/probabilities.nii.gz (nx, ny, nz, K) as well
 *
 * Under mpirun the ranks share the images (predict_corpus) and rank 0 writes.
 */
#include "cli.h"
#include "medssl/atomic.h"
#include "medssl/ckpt.h"
#include "medssl/common.h"
#include "medssl/corpus.h"
#include "medssl/dist.h"
#include "medssl/model.h"
#include "medssl/nifti_export.h"
#include "medssl/nifti_import.h"
#include "medssl/parallel.h"
#include "medssl/png_import.h"
#include "medssl/png_io.h"
#include "medssl/predict.h"
#include "medssl/runctl.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { P_PATH = 4096 };

typedef struct {
    const char *model, *data, *png, *nifti, *out, *axis, *window, *fit;
    int probabilities, overlays, batch, threads, size;
} predict_opts;

/* The identifiers of the samples, for file names and the CSV. */
typedef struct {
    char **png;        /* (N) relative paths for a PNG folder, else NULL */
    long long n_png;
    int nifti;         /* 1: "slice-S" */
} sample_ids;

static void sample_id(const sample_ids *ids, long long i, char *buf, size_t cap)
{
    if (ids->png) snprintf(buf, cap, "%s", ids->png[i]);
    else if (ids->nifti) snprintf(buf, cap, "slice-%04lld", i);
    else snprintf(buf, cap, "%06lld", i);
}

/* The model's input channels (so a PNG folder converts gray/RGB to what the model takes). */
static int model_channels(const char *ckpt, int *C)
{
    char spec_text[4096];
    int rc = ckpt_read_meta(ckpt, spec_text, sizeof spec_text, NULL, 0);
    ms_model_spec spec;
    if (!rc && (rc = model_spec_parse(&spec, spec_text)))
        rc = MS_FAIL(MS_ERR_INPUT, "%s: its model_spec does not parse: %s", ckpt, ms_last_error());
    if (!rc) *C = spec.in_channels;
    return rc;
}

/* Rank 0: the PNG folder or NIfTI volume into the corpus `tmp`. */
static int import_input(const predict_opts *o, int C, const char *tmp, sample_ids *ids)
{
    int rc;
    if (o->png) {
        ms_png_import_opts p;
        png_import_opts_init(&p);
        p.dir = o->png;
        p.out = tmp;
        p.channels = C == 1 || C == 3 ? C : 0;
        p.size = o->size;
        if ((rc = fit_parse(o->fit, o->size, &p.fit))) return rc;
        if ((rc = png_import_list(&p, &ids->png, &ids->n_png))) return rc;
        return png_import(&p, NULL);
    }
    ms_nifti_import_opts n;
    nifti_import_opts_init(&n);
    n.volume = o->nifti;
    n.out = tmp;
    if (o->axis && (rc = nifti_parse_axis(o->axis, &n.axis))) return rc;
    if (o->window) {
        if ((rc = nifti_parse_window(o->window, &n.window_lo, &n.window_hi))) return rc;
        n.has_window = 1;
    }
    ids->nifti = 1;
    return nifti_import(&n);
}

/* classify: DIR/predictions.csv. An id with a comma, quote or line break is quoted (RFC 4180). */
static int write_csv(const char *dir, const sample_ids *ids, const float *probs, long long n, int K)
{
    char path[P_PATH + 32], id[P_PATH];
    snprintf(path, sizeof path, "%s/predictions.csv", dir);
    ms_atomic_file a;
    int rc = atomic_open(&a, path);
    if (rc) return rc;
    fprintf(a.f, "id,predicted_class");
    for (int k = 0; k < K; k++) fprintf(a.f, ",p_%d", k);
    fputc('\n', a.f);
    for (long long i = 0; i < n; i++) {
        const float *p = probs + i * K;
        const int best = ms_argmax(p, K, 1);
        sample_id(ids, i, id, sizeof id);
        if (strpbrk(id, ",\"\r\n")) {
            fputc('"', a.f);
            for (const char *c = id; *c; c++) {
                if (*c == '"') fputc('"', a.f);
                fputc(*c, a.f);
            }
            fputc('"', a.f);
        } else {
            fputs(id, a.f);
        }
        fprintf(a.f, ",%d", best);
        for (int k = 0; k < K; k++) fprintf(a.f, ",%.6g", p[k]);
        fputc('\n', a.f);
    }
    rc = atomic_commit(&a);
    if (!rc) fprintf(stderr, "medssl predict: wrote %s (%lld rows)\n", path, n);
    return rc;
}

/* mkdir -p of the folders of `path` below `root` (root exists). */
static int make_parents(const char *path)
{
    char d[P_PATH * 3];
    snprintf(d, sizeof d, "%s", path);
    char *slash = strrchr(d, '/');
    if (!slash) return MS_OK;
    *slash = '\0';
    return runctl_make_dir(d);
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[P_PATH * 2];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) remove_tree(p);
        else unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* segment, PNG or corpus input: DIR/masks/<id>.png (and DIR/overlays/<id>.png),
 * written into DIR/<name>.tmp.<pid> folders that replace the old ones when complete. */
static int write_masks(const predict_opts *o, ms_corpus *c, const sample_ids *ids, const uint8_t *pred, long long n)
{
    const int H = c->H, W = c->W, C = c->C;
    const char *names[2] = { "masks", "overlays" };
    char tmp[2][P_PATH + 64], fin[2][P_PATH + 16], id[P_PATH], path[P_PATH * 3];
    const int nout = o->overlays ? 2 : 1;
    int rc = MS_OK;
    for (int k = 0; k < nout && !rc; k++) {
        snprintf(fin[k], sizeof fin[k], "%s/%s", o->out, names[k]);
        snprintf(tmp[k], sizeof tmp[k], "%s/.%s.tmp.%d", o->out, names[k], (int)getpid());
        remove_tree(tmp[k]);
        rc = runctl_make_dir(tmp[k]);
    }
    float *img = o->overlays ? ms_malloc((size_t)C * H * W * sizeof *img) : NULL;
    uint8_t *rgb = o->overlays ? ms_malloc((size_t)H * 2 * W * 3) : NULL;
    for (long long i = 0; i < n && !rc; i++) {
        sample_id(ids, i, id, sizeof id);
        size_t len = strlen(id);
        if (len > 4 && strcmp(id + len - 4, ".png") == 0) id[len - 4] = '\0';
        const uint8_t *m = pred + (size_t)i * H * W;
        snprintf(path, sizeof path, "%s/%s.png", tmp[0], id);
        if (!(rc = make_parents(path))) rc = png_write_gray8(path, m, H, W);
        if (!rc && o->overlays) { /* image | image with the predicted mask */
            if (!(rc = corpus_read(c, i, 1, img, NULL, NULL, NULL))) {
                png_draw_overlay(rgb, 2 * W, 0, 0, img, NULL, C, H, W);
                png_draw_overlay(rgb, 2 * W, 0, W, img, m, C, H, W);
                snprintf(path, sizeof path, "%s/%s.png", tmp[1], id);
                if (!(rc = make_parents(path))) rc = png_write_rgb8(path, rgb, H, 2 * W);
            }
        }
    }
    free(img);
    free(rgb);
    for (int k = 0; k < nout; k++) {
        if (rc) {
            remove_tree(tmp[k]);
            continue;
        }
        char old[P_PATH + 64];
        snprintf(old, sizeof old, "%s/.%s.old.%d", o->out, names[k], (int)getpid());
        const int had = rename(fin[k], old) == 0;
        if (rename(tmp[k], fin[k]) != 0) {
            rc = MS_FAIL(MS_ERR_RUNTIME, "%s: cannot rename %s into place: %s", fin[k], tmp[k], strerror(errno));
            if (had) rename(old, fin[k]);
            remove_tree(tmp[k]);
        } else if (had) {
            remove_tree(old);
        }
    }
    if (!rc) fprintf(stderr, "medssl predict: wrote %s/masks/ (%lld PNG%s, pixel = class)%s\n", o->out, n, n == 1 ? "" : "s",
                     o->overlays ? " and overlays/" : "");
    return rc;
}

static int write_outputs(const predict_opts *o, ms_corpus *c, const ms_predictor *p, const sample_ids *ids,
                         const ms_predictions *e)
{
    const int seg = p->task->masks, H = c->H, W = c->W;
    int rc = MS_OK;
    uint8_t *pred = e->pred;
    if (seg && !pred) { /* kept probabilities: the argmax too */
        pred = ms_malloc((size_t)(e->n ? e->n : 1) * H * W);
        predict_argmax_pixels(e->probs, e->n, p->K, H * W, pred);
    }
    if (!seg) rc = write_csv(o->out, ids, e->probs, e->n, p->K);
    else if (o->nifti) {
        char path[P_PATH + 32];
        ms_nifti_axis axis = NIFTI_AXIS_Z;
        if (o->axis) nifti_parse_axis(o->axis, &axis);
        snprintf(path, sizeof path, "%s/mask.nii.gz", o->out);
        rc = nifti_write_labels(o->nifti, axis, pred, (int)e->n, H, W, p->K - 1, path);
        if (!rc) fprintf(stderr, "medssl predict: wrote %s (labels 0..%d over %s)\n", path, p->K - 1, o->nifti);
        if (!rc && o->probabilities) {
            snprintf(path, sizeof path, "%s/probabilities.nii.gz", o->out);
            rc = nifti_write_probabilities(o->nifti, axis, e->probs, (int)e->n, p->K, H, W, path);
            if (!rc) fprintf(stderr, "medssl predict: wrote %s (one volume per class)\n", path);
        }
    }
    if (seg && !o->nifti && !rc) rc = write_masks(o, c, ids, pred, e->n);
    if (!rc && o->probabilities) {
        char path[P_PATH + 32];
        snprintf(path, sizeof path, "%s/probabilities.h5", o->out);
        rc = predict_write_probabilities(path, e->probs, e->n, p->K, H, W, seg);
        if (!rc) fprintf(stderr, "medssl predict: wrote %s (/probabilities)\n", path);
    }
    if (pred != e->pred) free(pred);
    return rc;
}

/* Rank 0's progress over its share of the images (a line every 5 s when it takes that long). */
static void progress_batch(void *user, long long done, long long n)
{
    cli_progress *pr = user;
    pr->total = n; /* the share is known once predictor_run runs */
    cli_progress_update(pr, done);
}

int cmd_predict(int argc, char **argv)
{
    predict_opts o = { .batch = 64 };
    const ms_arg args[] = {
        { "model", ARG_STRING, &o.model, 0, 0, "CKPT", "a checkpoint from medssl finetune (required)" },
        { "data", ARG_STRING, &o.data, 0, 0, "FILE", "input: a corpus (labels and masks, if any, are not used)" },
        { "png", ARG_STRING, &o.png, 0, 0, "DIR", "input: every *.png under DIR (as import png finds them)" },
        { "nifti", ARG_STRING, &o.nifti, 0, 0, "VOLUME", "input: a 3-D NIfTI volume (.nii, .nii.gz), cut into slices" },
        { "out", ARG_STRING, &o.out, 0, 0, "DIR", "the output folder (required)" },
        { "probabilities", ARG_BOOL, &o.probabilities, 0, 0, NULL,
          "also write DIR/probabilities.h5 (and probabilities.nii.gz for a volume)" },
        { "overlays", ARG_BOOL, &o.overlays, 0, 0, NULL, "segment: DIR/overlays/<id>.png, image | image with the mask" },
        { "axis", ARG_STRING, &o.axis, 0, 0, "x|y|z", "--nifti: the slicing axis, as import nifti (default z)" },
        { "window", ARG_STRING, &o.window, 0, 0, "LO:HI", "--nifti: intensity window, as import nifti (default min-max)" },
        { "size", ARG_INT, &o.size, 0, CORPUS_MAX_SIDE, "S", "--png: bring every image to S x S first (mixed sizes)" },
        { "fit", ARG_STRING, &o.fit, 0, 0, "resize|pad", "--png with --size: how (default resize)" },
        { "batch", ARG_INT, &o.batch, 1, 65536, "B", "images per forward pass (default 64)" },
        { "threads", ARG_INT, &o.threads, 1, 256, "T", "threads per rank (default: cores / ranks)" },
    };
    int rc = cli_parse("predict", "--model CKPT (--data FILE | --png DIR | --nifti VOLUME) --out DIR [--probabilities]",
                       "Applies a fine-tuned model to new images. classify: DIR/predictions.csv (id,\n"
                       "predicted_class, p_0..p_K-1). segment: DIR/masks/<id>.png (pixel = class), or for a\n"
                       "NIfTI volume DIR/mask.nii.gz with the input's dims, voxel sizes and orientation, so it\n"
                       "opens aligned over the input in a viewer. Under mpirun the ranks share the images.",
                       args, (int)(sizeof args / sizeof *args), argc, argv, NULL, 0, NULL);
    if (rc) return rc < 0 ? 0 : rc;
    const int inputs = !!o.data + !!o.png + !!o.nifti;
    if (!o.model || !o.out || inputs != 1) {
        fprintf(stderr, "medssl predict: %s (see medssl predict --help)\n",
                !o.model ? "--model CKPT is required"
                : inputs != 1 ? "give exactly one input: --data FILE, --png DIR or --nifti VOLUME"
                              : "--out DIR is required");
        return 2;
    }
    if ((o.axis || o.window) && !o.nifti) {
        fprintf(stderr, "medssl predict: --%s is for --nifti inputs\n", o.axis ? "axis" : "window");
        return 2;
    }
    if ((o.size || o.fit) && !o.png) {
        fprintf(stderr, "medssl predict: --%s is for --png inputs\n", o.size ? "size" : "fit");
        return 2;
    }
    ms_dist d;
    if (dist_init(&d, &argc, &argv)) return cli_report("predict", MS_ERR_RUNTIME);
    cli_set_threads(&d, o.threads);

    /* the input as a corpus: rank 0 imports a PNG folder or volume beside the outputs */
    char tmp[P_PATH + 64] = "";
    sample_ids ids = { 0 };
    int C = 0;
    rc = model_channels(o.model, &C);
    if (!rc && d.rank == 0) rc = runctl_make_dir(o.out);
    if (!rc && !o.data) {
        const long pid0 = dist_bcast_long(&d, (long)getpid());
        snprintf(tmp, sizeof tmp, "%s/.predict-input.tmp.%ld.h5", o.out, pid0);
        if (d.rank == 0) {
            ms_temp_register(tmp);
            rc = import_input(&o, C, tmp, &ids);
        }
    }
    rc = dist_agree(&d, "predict", rc);
    ms_corpus c;
    ms_predictor p;
    ms_predictions e = { 0 };
    memset(&c, 0, sizeof c);
    memset(&p, 0, sizeof p);
    int opened = 0;
    if (!rc) {
        rc = corpus_open(&c, o.data ? o.data : tmp, &d);
        opened = rc == 0;
        if (!rc) rc = predictor_open(&p, o.model, &c, o.batch);
        rc = dist_agree(&d, "predict", rc);
    }
    if (!rc) {
        if (d.rank == 0)
            fprintf(stderr, "medssl predict: %s model on %lld image%s of %dx%dx%d from %s, %d rank(s)\n", p.task->name,
                    c.N, c.N == 1 ? "" : "s", c.C, c.H, c.W, o.data ? o.data : o.png ? o.png : o.nifti, d.size);
        cli_progress pr = { 0 };
        if (d.rank == 0) {
            cli_progress_begin(&pr, "predict", d.size > 1 ? "images (rank 0's share)" : "images", -1);
            p.on_batch = progress_batch;
            p.on_batch_user = &pr;
        }
        const int keep = p.task->masks && o.probabilities;
        rc = dist_agree(&d, "predict", predict_corpus(&d, &p, &c, 0, keep, &e));
        if (d.rank == 0 && pr.total > 0) cli_progress_end(&pr, pr.total);
        if (!rc && d.rank == 0) rc = write_outputs(&o, &c, &p, &ids, &e);
        rc = dist_agree(&d, "predict", rc);
    }
    predictions_free(&e);
    predictor_close(&p);
    if (opened) corpus_close(&c);
    if (d.rank == 0 && tmp[0]) {
        unlink(tmp);
        ms_temp_unregister(tmp);
    }
    if (ids.png) png_import_list_free(ids.png, ids.n_png);
    dist_finalize(&d);
    return rc;
}
