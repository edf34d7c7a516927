/* import_png — a folder of PNG images, with labels from class subfolders or
 * a CSV file and optional per-pixel masks, into a corpus (see
 * include/medssl/png_import.h; the command is `medssl import png`).
 *
 * Dimension legend: N images, C channels, H, W image size, S the size side.
 */
#include "medssl/png_import.h"
#include "medssl/common.h"
#include "medssl/corpus.h"
#include "medssl/label_subset.h"
#include "medssl/png_io.h"
#include "medssl/resample.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- png: a folder of PNG images -------------------------------------------------------
 *
 * Pass 1 lists the files (sorted by path), works out the labels and reads every
 * header (sizes, gray or colour, bit depth) so the corpus shape, channel count and
 * dtype are known and mismatches are reported before any pixel is decoded; pass 2
 * decodes, converts, resizes and appends the images in batches of about
 * IMPORT_PNG_BATCH_BYTES. */

#define IMPORT_PNG_MAX_DEPTH 32              /* folder nesting followed (ends symlink loops) */
#define IMPORT_PNG_BATCH_BYTES (64u << 20)   /* bytes of images per corpus append */
#define IMPORT_PATH_MAX 4096

typedef struct {
    char *rel;      /* path relative to DIR ('/'-separated) */
    char *name;     /* class name (folder or CSV label), NULL if none */
    int32_t label;  /* class index, -1 = unlabeled */
    int line;       /* CSV line, 0 otherwise */
} png_item;

typedef struct {
    png_item *v;
    int n, cap;
} png_list;

typedef struct {
    int H, W, C, bit_depth;
} png_shape;

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = ms_malloc(n);
    memcpy(d, s, n);
    return d;
}

static void png_list_push(png_list *l, const char *rel, const char *name, int32_t label, int line)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->v = ms_realloc(l->v, (size_t)l->cap * sizeof *l->v);
    }
    l->v[l->n++] = (png_item){ dup_str(rel), name ? dup_str(name) : NULL, label, line };
}

static void png_list_free(png_list *l)
{
    for (int i = 0; i < l->n; i++) {
        free(l->v[i].rel);
        free(l->v[i].name);
    }
    free(l->v);
}

static int cmp_item(const void *a, const void *b)
{
    return strcmp(((const png_item *)a)->rel, ((const png_item *)b)->rel);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_png_suffix(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && strcasecmp(name + n - 4, ".png") == 0;
}

/* "dir/rel" into buf; MS_ERR_INPUT when it does not fit */
static int join_path(char *buf, const char *dir, const char *rel)
{
    if (snprintf(buf, IMPORT_PATH_MAX, "%s/%s", dir, rel) >= IMPORT_PATH_MAX)
        return MS_FAIL(MS_ERR_INPUT, "%.80s/%.80s...: path too long", dir, rel);
    return MS_OK;
}

/* Appends every *.png under root/rel, recursively; names starting with '.' are skipped. */
static int png_walk(const char *root, const char *rel, int depth, png_list *out)
{
    char path[IMPORT_PATH_MAX];
    int rc = MS_OK;
    if (*rel) rc = join_path(path, root, rel);
    else snprintf(path, sizeof path, "%s", root);
    if (rc) return rc;
    if (depth > IMPORT_PNG_MAX_DEPTH)
        return MS_FAIL(MS_ERR_INPUT, "%s: folders nested more than %d deep (a symlink loop?)", path, IMPORT_PNG_MAX_DEPTH);
    DIR *d = opendir(path);
    if (!d) return MS_FAIL(MS_ERR_INPUT, "%s: cannot open the folder: %s", path, strerror(errno));
    struct dirent *e;
    while (!rc && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char child_rel[IMPORT_PATH_MAX], child[IMPORT_PATH_MAX];
        if (*rel) rc = join_path(child_rel, rel, e->d_name);
        else snprintf(child_rel, sizeof child_rel, "%s", e->d_name);
        if (!rc) rc = join_path(child, root, child_rel);
        if (rc) break;
        struct stat st;
        if (stat(child, &st) != 0) {
            if (has_png_suffix(e->d_name)) rc = MS_FAIL(MS_ERR_INPUT, "%s: cannot read: %s", child, strerror(errno));
        } else if (S_ISDIR(st.st_mode)) {
            rc = png_walk(root, child_rel, depth + 1, out);
        } else if (S_ISREG(st.st_mode) && has_png_suffix(e->d_name)) {
            png_list_push(out, child_rel, NULL, -1, 0);
        }
    }
    closedir(d);
    return rc;
}

/* Strips blanks around s and one pair of surrounding double quotes. */
static char *trim_field(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) s[--n] = 0;
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        s[n - 1] = 0;
        s++;
    }
    return s;
}

/* Reads `filename,label` lines (after that header line) into out; *all_int = 1
 * when every label is an integer. Filenames are relative to the image folder. */
static int png_read_csv(const char *csv, png_list *out, int *all_int)
{
    FILE *f = fopen(csv, "r");
    if (!f) return MS_FAIL(MS_ERR_INPUT, "%s: cannot open the label file: %s", csv, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, rc = MS_OK;
    *all_int = 1;
    while (!rc && getline(&line, &cap, f) >= 0) {
        lineno++;
        char *text = line;
        if (lineno == 1 && (unsigned char)text[0] == 0xEF && (unsigned char)text[1] == 0xBB &&
            (unsigned char)text[2] == 0xBF)
            text += 3; /* a UTF-8 byte-order mark */
        char *comma = strrchr(text, ',');
        if (!comma) {
            if (*trim_field(text) == 0 && lineno > 1) continue; /* blank line */
            rc = MS_FAIL(MS_ERR_INPUT, "%s:%d: expected %s", csv, lineno,
                         lineno == 1 ? "the header line 'filename,label'" : "'filename,label'");
            break;
        }
        *comma = 0;
        char *name = trim_field(text), *label = trim_field(comma + 1);
        if (lineno == 1) {
            if (strcmp(name, "filename") != 0 || strcmp(label, "label") != 0)
                rc = MS_FAIL(MS_ERR_INPUT, "%s:1: expected the header line 'filename,label'", csv);
            continue;
        }
        if (!*name || !*label) {
            rc = MS_FAIL(MS_ERR_INPUT, "%s:%d: empty %s (expected 'filename,label')", csv, lineno,
                         *name ? "label" : "filename");
            break;
        }
        /* An integer is an optional sign and digits; one that does not fit a
         * long (strtol's ERANGE) is out of range, not a class name. */
        const char *digits = label + (*label == '-' || *label == '+');
        const int is_int = *digits && strspn(digits, "0123456789") == strlen(digits);
        long v = -1;
        if (is_int) {
            errno = 0;
            v = strtol(label, NULL, 10);
            if (errno == ERANGE || v < -1 || v >= CORPUS_MAX_CLASSES) {
                rc = MS_FAIL(MS_ERR_INPUT, "%s:%d: label %s is out of range [-1, %d]", csv, lineno, label,
                             CORPUS_MAX_CLASSES - 1);
                break;
            }
        }
        *all_int &= is_int;
        png_list_push(out, name, label, is_int ? (int32_t)v : -1, lineno);
    }
    free(line);
    fclose(f);
    if (!rc && lineno == 0) rc = MS_FAIL(MS_ERR_INPUT, "%s: empty (expected the header line 'filename,label')", csv);
    return rc;
}

/* Class index = rank of the item's name among the sorted distinct names;
 * *class_names = those names joined by ',' (allocated; at most
 * CORPUS_MAX_CLASSES names and CORPUS_MAX_NAMES_BYTES bytes, what corpus_open
 * accepts). `what` names their source in messages. */
static int png_index_names(png_list *l, const char *what, char **class_names, int *n_classes)
{
    char **names = ms_malloc((size_t)l->n * sizeof *names);
    for (int i = 0; i < l->n; i++) names[i] = l->v[i].name;
    qsort(names, (size_t)l->n, sizeof *names, cmp_str);
    int k = 0, rc = MS_OK;
    for (int i = 0; i < l->n; i++)
        if (k == 0 || strcmp(names[k - 1], names[i]) != 0) names[k++] = names[i];
    size_t bytes = 0; /* of the joined names, without the NUL */
    if (k > CORPUS_MAX_CLASSES) rc = MS_FAIL(MS_ERR_INPUT, "%s: %d classes, more than %d", what, k, CORPUS_MAX_CLASSES);
    for (int c = 0; c < k && !rc; c++) {
        bytes += strlen(names[c]) + (c > 0);
        if (strchr(names[c], ',') || strchr(names[c], '"'))
            rc = MS_FAIL(MS_ERR_INPUT, "%s: class name '%s' contains ',' or '\"'", what, names[c]);
        else if (bytes >= CORPUS_MAX_NAMES_BYTES)
            rc = MS_FAIL(MS_ERR_INPUT, "%s: the class names need more than %d bytes", what, CORPUS_MAX_NAMES_BYTES - 1);
    }
    if (!rc) {
        char *joined = ms_malloc(bytes + 1);
        size_t used = 0;
        for (int c = 0; c < k; c++) {
            const size_t n = strlen(names[c]);
            if (c) joined[used++] = ',';
            memcpy(joined + used, names[c], n);
            used += n;
        }
        joined[used] = 0;
        *class_names = joined;
    }
    for (int i = 0; i < l->n && !rc; i++) {
        char **hit = bsearch(&l->v[i].name, names, (size_t)k, sizeof *names, cmp_str);
        CHECK(hit != NULL);
        l->v[i].label = (int32_t)(hit - names);
    }
    *n_classes = k;
    free(names);
    return rc;
}

/* What every image of one import turns into, and scratch buffers for it. */
typedef struct {
    const char *dir, *mask_dir;
    int C, S_h, S_w;          /* corpus sample shape (C, S_h, S_w) */
    ms_fit fit;               /* how an image of another size becomes S_h x S_w */
    ms_dtype dtype;
    float *conv;              /* (C, H, W) after the channel conversion, H*W <= the largest image */
    float *sized;             /* (C, S_h, S_w) */
    uint8_t *mask;            /* (H, W) */
} png_target;

/* Decodes one image (and its mask) into img (C,S_h,S_w) as uint8 or float32 per
 * t->dtype and mask (S_h,S_w) (NULL when no masks). shape: what pass 1 saw. */
static int png_load_one(const png_target *t, const char *rel, const png_shape *shape, void *img, uint8_t *mask)
{
    char path[IMPORT_PATH_MAX];
    int rc = join_path(path, t->dir, rel);
    if (rc) return rc;
    float *px;
    int H, W, C_in, depth;
    if ((rc = png_read(path, &px, &H, &W, &C_in, &depth))) return rc;
    if (H != shape->H || W != shape->W || C_in != shape->C) {
        free(px);
        return MS_FAIL(MS_ERR_INPUT, "%s: changed while it was being imported", path);
    }
    /* channels: (C_in,H,W) -> conv (C,H,W) */
    const size_t HW = (size_t)H * W, SS = (size_t)t->S_h * t->S_w;
    for (size_t i = 0; i < HW; i++) {
        if (C_in == t->C) {
            for (int c = 0; c < t->C; c++) t->conv[c * HW + i] = px[c * HW + i];
        } else if (C_in == 1) { /* gray -> RGB: replicate */
            for (int c = 0; c < 3; c++) t->conv[c * HW + i] = px[i];
        } else { /* RGB -> gray: ITU-R BT.601 luma */
            t->conv[i] = 0.299f * px[i] + 0.587f * px[HW + i] + 0.114f * px[2 * HW + i];
        }
    }
    free(px);
    const float *src = t->conv;
    if (H != t->S_h || W != t->S_w) {
        for (int c = 0; c < t->C; c++)
            fit_f32(t->fit, t->sized + c * SS, t->S_h, t->S_w, t->conv + c * HW, H, W);
        src = t->sized;
    }
    if (t->dtype == DTYPE_F32) {
        memcpy(img, src, (size_t)t->C * SS * sizeof(float));
    } else {
        uint8_t *dst = img;
        for (size_t i = 0; i < (size_t)t->C * SS; i++) {
            float v = src[i] < 0 ? 0 : src[i] > 1 ? 1 : src[i];
            dst[i] = (uint8_t)lroundf(v * 255.0f);
        }
    }
    if (!mask) return MS_OK;

    char mpath[IMPORT_PATH_MAX];
    if ((rc = join_path(mpath, t->mask_dir, rel))) return rc;
    if (access(mpath, F_OK) != 0)
        return MS_FAIL(MS_ERR_INPUT, "%s: missing: every image needs a mask with the same relative path (for %s)",
                       mpath, path);
    int mH, mW, mC, mdepth;
    if ((rc = png_read(mpath, &px, &mH, &mW, &mC, &mdepth))) return rc;
    if (mC != 1 || mdepth != 8)
        rc = MS_FAIL(MS_ERR_INPUT, "%s: a mask must be an 8-bit grayscale PNG (class index per pixel), not %d-bit %s",
                     mpath, mdepth, mC == 1 ? "gray" : "colour");
    else if (mH != H || mW != W)
        rc = MS_FAIL(MS_ERR_INPUT, "%s: mask is %dx%d pixels but its image %s is %dx%d (W x H)", mpath, mW, mH, path, W,
                     H);
    if (!rc) {
        uint8_t *m = (H != t->S_h || W != t->S_w) ? t->mask : mask;
        for (size_t i = 0; i < HW; i++) m[i] = (uint8_t)lroundf(px[i] * 255.0f);
        if (m != mask) fit_mask_u8(t->fit, mask, t->S_h, t->S_w, m, H, W);
    }
    free(px);
    return rc;
}

/* Lists the images of `dir` with their labels (per --labels), sorted by path. */
static int png_list_images(const ms_png_import_opts *o, const char *dir, png_list *l, int32_t **labels, int *n_classes,
                           char **class_names)
{
    const int folders = o->labels && strcmp(o->labels, "folders") == 0, csv = o->labels && !folders;
    int all_int = 0, rc = csv ? png_read_csv(o->labels, l, &all_int) : png_walk(dir, "", 0, l);
    if (rc) return rc;
    if (l->n == 0)
        return MS_FAIL(MS_ERR_INPUT, "%s: no %s", csv ? o->labels : dir,
                       csv ? "images listed (expected 'filename,label' lines)" : "*.png files found");
    qsort(l->v, (size_t)l->n, sizeof *l->v, cmp_item);
    for (int i = 1; i < l->n && csv; i++)
        if (strcmp(l->v[i - 1].rel, l->v[i].rel) == 0)
            return MS_FAIL(MS_ERR_INPUT, "%s:%d: %s is listed twice", o->labels, l->v[i].line, l->v[i].rel);
    for (int i = 0; i < l->n && folders; i++) {
        const char *slash = strchr(l->v[i].rel, '/');
        if (!slash)
            return MS_FAIL(MS_ERR_INPUT, "%s/%s: with --labels folders every PNG must sit in a class subfolder", dir,
                           l->v[i].rel);
        l->v[i].name = ms_malloc((size_t)(slash - l->v[i].rel) + 1);
        memcpy(l->v[i].name, l->v[i].rel, (size_t)(slash - l->v[i].rel));
        l->v[i].name[slash - l->v[i].rel] = 0;
    }
    if (folders || (csv && !all_int)) {
        rc = png_index_names(l, folders ? dir : o->labels, class_names, n_classes);
        if (rc) return rc;
    } else if (csv) {
        for (int i = 0; i < l->n; i++)
            if (l->v[i].label + 1 > *n_classes) *n_classes = l->v[i].label + 1;
    }
    if (o->labels) {
        *labels = ms_malloc((size_t)l->n * sizeof **labels);
        for (int i = 0; i < l->n; i++) (*labels)[i] = l->v[i].label;
    }
    return MS_OK;
}

/* A copy of a folder argument without trailing slashes (so messages say dir/rel). */
static void folder_arg(char *buf, const char *arg)
{
    snprintf(buf, IMPORT_PATH_MAX, "%s", arg);
    for (size_t n = strlen(buf); n > 1 && buf[n - 1] == '/'; n--) buf[n - 1] = 0;
}

void png_import_opts_init(ms_png_import_opts *o)
{
    *o = (ms_png_import_opts){ .fit = FIT_RESIZE, .labeled_per_class = -1, .labeled_fraction = -1 };
}

int png_import_list(const ms_png_import_opts *o, char ***files, long long *n)
{
    *files = NULL;
    *n = 0;
    if (!o->dir || !*o->dir) return MS_FAIL(MS_ERR_INPUT, "import png: no image folder given");
    char dir[IMPORT_PATH_MAX];
    folder_arg(dir, o->dir);
    png_list l = { 0 };
    int32_t *labels = NULL;
    int n_classes = 0;
    char *class_names = NULL;
    int rc = png_list_images(o, dir, &l, &labels, &n_classes, &class_names);
    if (!rc) {
        *files = ms_malloc((size_t)l.n * sizeof **files);
        for (int i = 0; i < l.n; i++) (*files)[i] = dup_str(l.v[i].rel);
        *n = l.n;
    }
    free(labels);
    free(class_names);
    png_list_free(&l);
    return rc;
}

void png_import_list_free(char **files, long long n)
{
    for (long long i = 0; i < n; i++) free(files[i]);
    free(files);
}

int png_import(const ms_png_import_opts *o, ms_png_import_summary *done)
{
    char dir[IMPORT_PATH_MAX], mask_dir[IMPORT_PATH_MAX];
    if (!o->dir || !*o->dir) return MS_FAIL(MS_ERR_INPUT, "import png: no image folder given");
    if (!o->out || !*o->out) return MS_FAIL(MS_ERR_INPUT, "import png: --out FILE is required");
    if (o->channels != 0 && o->channels != 1 && o->channels != 3)
        return MS_FAIL(MS_ERR_INPUT, "--channels %d: expected 1 or 3", o->channels);
    if (o->size < 0 || o->size > CORPUS_MAX_SIDE)
        return MS_FAIL(MS_ERR_INPUT, "--size %d: expected 1..%d", o->size, CORPUS_MAX_SIDE);
    folder_arg(dir, o->dir);
    if (o->masks) folder_arg(mask_dir, o->masks);
    png_list l = { 0 };
    int32_t *labels = NULL;
    int n_classes = 0;
    char *class_names = NULL; /* names of CSV or folder classes, NULL for integer labels or none */
    int rc = png_list_images(o, dir, &l, &labels, &n_classes, &class_names);
    if (!rc && !labels && (o->labeled_per_class >= 0 || o->labeled_fraction >= 0))
        rc = MS_FAIL(MS_ERR_INPUT, "--labeled-per-class and --labeled-fraction need labels (--labels folders|CSV)");

    /* pass 1: every header */
    png_shape *shape = ms_calloc((size_t)(l.n > 0 ? l.n : 1), sizeof *shape);
    int all_gray = 1, any16 = 0;
    size_t max_hw = 0;
    for (int i = 0; i < l.n && !rc; i++) {
        char path[IMPORT_PATH_MAX];
        png_shape *s = &shape[i];
        rc = join_path(path, dir, l.v[i].rel);
        if (!rc) rc = png_probe(path, &s->H, &s->W, &s->C, &s->bit_depth);
        if (!rc && o->size <= 0 && (s->H != shape[0].H || s->W != shape[0].W))
            rc = MS_FAIL(MS_ERR_INPUT, "%s: %dx%d pixels (W x H), but %s/%s is %dx%d: give --size S to resize every "
                         "image to SxS", path, s->W, s->H, dir, l.v[0].rel, shape[0].W, shape[0].H);
        all_gray &= s->C == 1;
        any16 |= s->bit_depth == 16;
        if ((size_t)s->H * s->W > max_hw) max_hw = (size_t)s->H * s->W;
    }
    png_target t = { .dir = dir, .mask_dir = o->masks ? mask_dir : NULL, .fit = o->fit };
    if (!rc) {
        t.C = o->channels ? o->channels : all_gray ? 1 : 3;
        t.S_h = o->size > 0 ? o->size : shape[0].H;
        t.S_w = o->size > 0 ? o->size : shape[0].W;
        t.dtype = any16 ? DTYPE_F32 : DTYPE_U8;
    }
    if (!rc && labels && (o->labeled_per_class >= 0 || o->labeled_fraction >= 0))
        labels_keep_stratified(labels, l.n, n_classes, o->labeled_per_class, o->labeled_fraction, o->seed);

    /* pass 2: decode and append in batches */
    ms_corpus_writer w;
    int writing = 0;
    if (!rc) {
        rc = corpus_writer_create(&w, o->out, t.C, t.S_h, t.S_w, t.dtype,
                                  (labels ? CORPUS_WITH_LABELS : 0) | (o->masks ? CORPUS_WITH_MASKS : 0), o->gzip,
                                  class_names);
        writing = rc == MS_OK;
    }
    void *img = NULL;
    uint8_t *mask = NULL;
    if (!rc) {
        const size_t SS = (size_t)t.S_h * t.S_w, img_bytes = (size_t)t.C * SS * (t.dtype == DTYPE_U8 ? 1 : 4);
        long long batch = (long long)(IMPORT_PNG_BATCH_BYTES / img_bytes);
        batch = batch < 1 ? 1 : batch > 1024 ? 1024 : batch;
        img = ms_malloc((size_t)batch * img_bytes);
        mask = o->masks ? ms_malloc((size_t)batch * SS) : NULL;
        t.conv = ms_malloc((size_t)t.C * max_hw * sizeof(float));
        t.sized = ms_malloc((size_t)t.C * SS * sizeof(float));
        t.mask = ms_malloc(max_hw);
        for (int i0 = 0; i0 < l.n && !rc; i0 += (int)batch) {
            int cnt = l.n - i0 < batch ? l.n - i0 : (int)batch;
            for (int k = 0; k < cnt && !rc; k++)
                rc = png_load_one(&t, l.v[i0 + k].rel, &shape[i0 + k], (uint8_t *)img + (size_t)k * img_bytes,
                                  mask ? mask + (size_t)k * SS : NULL);
            if (!rc) rc = corpus_writer_append(&w, cnt, img, labels ? labels + i0 : NULL, mask, NULL);
        }
    }
    if (writing) {
        if (rc) corpus_writer_abort(&w);
        else rc = corpus_writer_finish(&w);
    }
    if (!rc && done) {
        *done = (ms_png_import_summary){ .N = l.n, .C = t.C, .H = t.S_h, .W = t.S_w, .n_classes = n_classes,
                                         .dtype = t.dtype, .masks = o->masks != NULL };
        for (int i = 0; labels && i < l.n; i++) done->labeled += labels[i] >= 0;
    }
    free(img);
    free(mask);
    free(t.conv);
    free(t.sized);
    free(t.mask);
    free(shape);
    free(labels);
    free(class_names);
    png_list_free(&l);
    return rc;
}
