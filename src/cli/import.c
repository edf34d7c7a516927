/* import — `medssl import SOURCE ...`: builds a medssl corpus from outside data.
 *
 * Sources in this build: fashion-mnist (the IDX files of Debian's
 * dataset-fashion-mnist), idx (any IDX image file with an optional label
 * file), png (a folder of PNG images, with labels from class subfolders or
 * a CSV file, and optional per-pixel masks: png_import.h) and nifti
 * (import_nifti_cmd.c). Options shared by all: --size with --fit (bilinear
 * resize or centred padding), stratified labeled subsets (--labeled-per-class /
 * --labeled-fraction, seeded), --gzip, --out.
 *
 * Dimension legend: N images, C channels, H, W image size, S the --size side.
 */
#include "cli.h"
#include "medssl/common.h"
#include "medssl/corpus.h"
#include "medssl/idx.h"
#include "medssl/label_subset.h"
#include "medssl/png_import.h"
#include "medssl/resample.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"
#define FASHION_MNIST_CLASSES \
    "T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot"

/* The flags of `medssl import` (all sources but nifti). */
typedef struct {
    const char *split, *dir, *out, *images, *labels, *masks, *fit_name;
    int size, labeled_per_class, seed, gzip, channels;
    ms_fit fit;
    float labeled_fraction;
} import_opts;

/* Writes images (N,H,W) uint8 with optional labels (N) as a 1-channel corpus. */
static int write_corpus(const import_opts *o, const uint8_t *img, int N, int H, int W, int32_t *labels,
                        int n_classes, const char *class_names)
{
    if (labels && (o->labeled_per_class >= 0 || o->labeled_fraction >= 0))
        labels_keep_stratified(labels, N, n_classes, o->labeled_per_class, o->labeled_fraction, (uint64_t)o->seed);
    int S_h = o->size > 0 ? o->size : H, S_w = o->size > 0 ? o->size : W;
    ms_corpus_writer w;
    int rc = corpus_writer_create(&w, o->out, 1, S_h, S_w, DTYPE_U8, labels ? CORPUS_WITH_LABELS : 0, o->gzip,
                                  class_names);
    if (rc) return rc;
    const int batch = 4096;
    uint8_t *buf = ms_malloc((size_t)batch * S_h * S_w);
    for (int n0 = 0; n0 < N && !rc; n0 += batch) {
        int cnt = N - n0 < batch ? N - n0 : batch;
        const uint8_t *src = img + (size_t)n0 * H * W;
        if (S_h != H || S_w != W) {
            for (int i = 0; i < cnt; i++)
                fit_u8(o->fit, buf + (size_t)i * S_h * S_w, S_h, S_w, src + (size_t)i * H * W, H, W);
            src = buf;
        }
        rc = corpus_writer_append(&w, cnt, src, labels ? labels + n0 : NULL, NULL, NULL);
    }
    free(buf);
    if (rc) {
        corpus_writer_abort(&w);
        return rc;
    }
    rc = corpus_writer_finish(&w);
    if (!rc) {
        long long labeled = 0;
        for (int i = 0; labels && i < N; i++) labeled += labels[i] >= 0;
        fprintf(stderr, "medssl import: wrote %s: %d image%s of 1x%dx%d, %lld labeled\n", o->out, N, N == 1 ? "" : "s", S_h,
                S_w, labeled);
    }
    return rc;
}

static int import_idx_files(const import_opts *o, const char *images_path, const char *labels_path,
                            const char *class_names)
{
    uint8_t *img = NULL, *lab = NULL;
    int N, H, W, NL = 0;
    int rc = idx_read_images(images_path, &img, &N, &H, &W);
    if (!rc && labels_path) rc = idx_read_labels(labels_path, &lab, &NL);
    if (!rc && labels_path && NL != N)
        rc = MS_FAIL(MS_ERR_INPUT, "%s has %d labels for the %d images of %s", labels_path, NL, N, images_path);
    int32_t *labels = NULL;
    int n_classes = 0;
    if (!rc && lab) {
        labels = ms_malloc((size_t)N * sizeof(int32_t));
        for (int i = 0; i < N; i++) {
            labels[i] = lab[i];
            if (lab[i] + 1 > n_classes) n_classes = lab[i] + 1;
        }
        int named = 0;
        if (class_names) {
            named = 1;
            for (const char *p = class_names; *p; p++) named += *p == ',';
        }
        if (named && n_classes > named)
            rc = MS_FAIL(MS_ERR_INPUT, "%s: label %d but only %d classes", labels_path, n_classes - 1, named);
        if (named) n_classes = named;
    }
    if (!rc) rc = write_corpus(o, img, N, H, W, labels, n_classes, class_names);
    free(img);
    free(lab);
    free(labels);
    return rc;
}

/* `medssl import png DIR`: the flags into png_import, and its one-line report. */
static int import_png_dir(const import_opts *o, const char *dir)
{
    ms_png_import_opts p;
    png_import_opts_init(&p);
    p.dir = dir;
    p.labels = o->labels;
    p.masks = o->masks;
    p.out = o->out;
    p.size = o->size;
    p.fit = o->fit;
    p.channels = o->channels;
    p.labeled_per_class = o->labeled_per_class;
    p.labeled_fraction = o->labeled_fraction;
    p.seed = (uint64_t)o->seed;
    p.gzip = o->gzip;
    ms_png_import_summary s;
    int rc = png_import(&p, &s);
    if (!rc)
        fprintf(stderr, "medssl import: wrote %s: %lld image%s of %dx%dx%d %s, %lld labeled (%d class%s)%s\n", o->out,
                s.N, s.N == 1 ? "" : "s", s.C, s.H, s.W, corpus_dtype_name(s.dtype), s.labeled, s.n_classes,
                s.n_classes == 1 ? "" : "es", s.masks ? ", with masks" : "");
    return rc;
}

int cmd_import(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "nifti") == 0) return import_nifti_main(argc - 1, argv + 1);
    import_opts o = { .dir = FASHION_MNIST_DIR, .labeled_per_class = -1, .labeled_fraction = -1, .seed = 0 };
    const ms_arg args[] = {
        { "split", ARG_STRING, &o.split, 0, 0, "train|test", "fashion-mnist: which split" },
        { "dir", ARG_STRING, &o.dir, 0, 0, "D", "fashion-mnist: folder of the IDX files (default " FASHION_MNIST_DIR ")" },
        { "images", ARG_STRING, &o.images, 0, 0, "FILE", "idx: the IDX image file (.gz or raw)" },
        { "labels", ARG_STRING, &o.labels, 0, 0, "FILE",
          "idx: the IDX label file (optional); png: 'folders' (class = first-level subfolder) or a CSV file "
          "'filename,label'" },
        { "masks", ARG_STRING, &o.masks, 0, 0, "DIR",
          "png: folder of 8-bit gray mask PNGs, same relative paths as the images (pixel = class, 255 = ignore)" },
        { "channels", ARG_INT, &o.channels, 1, 3, "1|3",
          "png: 1 (RGB -> gray) or 3 (gray replicated); default 1 if every image is gray, else 3" },
        { "size", ARG_INT, &o.size, 4, 4096, "S", "every image to SxS (see --fit)" },
        { "fit", ARG_STRING, &o.fit_name, 0, 0, "resize|pad", "with --size: resample (bilinear, masks nearest; "
                                                               "default) or centre with zero padding / crop" },
        { "labeled-per-class", ARG_INT, &o.labeled_per_class, 0, 100000000, "K",
          "keep K labels per class (stratified, seeded); the rest become -1" },
        { "labeled-fraction", ARG_FLOAT, &o.labeled_fraction, 0, 1, "F", "keep the fraction F of each class's labels" },
        { "seed", ARG_INT, &o.seed, 0, 2147483647, "N", "seed of the labeled subset (default 0)" },
        { "gzip", ARG_INT, &o.gzip, 0, 9, "L", "gzip level of the HDF5 chunks (default 0: none)" },
        { "out", ARG_STRING, &o.out, 0, 0, "FILE", "the corpus to write (required)" },
    };
    const char *pos[2];
    int n_pos = 0;
    int rc = cli_parse("import", "fashion-mnist|idx|png|nifti [DIR|VOLUME] [options] --out FILE",
                       "Builds a medssl corpus (HDF5) from outside data. Sources:\n"
                       "  fashion-mnist  --split train|test [--dir D]   Debian's dataset-fashion-mnist\n"
                       "  idx            --images FILE [--labels FILE]  any IDX unsigned-byte image file\n"
                       "  png DIR        [--labels folders|CSV] [--masks MASKDIR] [--channels 1|3]\n"
                       "                 every *.png under DIR (recursively, sorted by path; names starting with\n"
                       "                 '.' skipped), or the files a CSV lists (relative to DIR); labels are class\n"
                       "                 names (sorted alphabetically) or integers; unlabeled without --labels.\n"
                       "                 8/16-bit gray, gray+alpha, RGB(A), palette; alpha dropped. Images must\n"
                       "                 share one size unless --size is given. Any 16-bit input gives a float32\n"
                       "                 corpus (value/65535), else uint8.\n"
                       "  nifti VOLUME   3-D NIfTI sliced into 2-D images: see medssl import nifti --help\n"
                       "The corpus is written to a temporary file and renamed into place when complete.",
                       args, (int)(sizeof args / sizeof *args), argc, argv, pos, 2, &n_pos);
    if (rc) return rc < 0 ? 0 : rc;
    if (fit_parse(o.fit_name, o.size, &o.fit)) return cli_report("import", MS_ERR_INPUT);
    if (n_pos < 1) {
        fprintf(stderr, "medssl import: name the source: fashion-mnist, idx, png or nifti (see medssl import --help)\n");
        return 2;
    }
    const int png = strcmp(pos[0], "png") == 0;
    if (!png && strcmp(pos[0], "fashion-mnist") != 0 && strcmp(pos[0], "idx") != 0) {
        fprintf(stderr, "medssl import: unknown source '%s' (this build imports fashion-mnist, idx, png and nifti)\n", pos[0]);
        return 2;
    }
    if (n_pos != (png ? 2 : 1)) {
        if (png) fprintf(stderr, "medssl import: png needs the image folder: medssl import png DIR ... --out FILE\n");
        else fprintf(stderr, "medssl import: unexpected argument '%s' (see medssl import --help)\n", pos[1]);
        return 2;
    }
    if (!o.out) {
        fprintf(stderr, "medssl import: --out FILE is required\n");
        return 2;
    }
    if (o.labeled_per_class >= 0 && o.labeled_fraction >= 0) {
        fprintf(stderr, "medssl import: give --labeled-per-class or --labeled-fraction, not both\n");
        return 2;
    }
    if (!png && (o.masks || o.channels)) {
        fprintf(stderr, "medssl import: --masks and --channels apply to the png source only\n");
        return 2;
    }
    if (o.channels == 2) {
        fprintf(stderr, "medssl import: --channels 2: expected 1 or 3\n");
        return 2;
    }
    if (strcmp(pos[0], "fashion-mnist") == 0) {
        if (!o.split || (strcmp(o.split, "train") && strcmp(o.split, "test"))) {
            fprintf(stderr, "medssl import: fashion-mnist needs --split train or --split test\n");
            return 2;
        }
        const char *stem = strcmp(o.split, "train") == 0 ? "train" : "t10k";
        char images[2048], labels[2048];
        snprintf(images, sizeof images, "%s/%s-images-idx3-ubyte.gz", o.dir, stem);
        snprintf(labels, sizeof labels, "%s/%s-labels-idx1-ubyte.gz", o.dir, stem);
        rc = import_idx_files(&o, images, labels, FASHION_MNIST_CLASSES);
    } else if (strcmp(pos[0], "idx") == 0) {
        if (!o.images) {
            fprintf(stderr, "medssl import: idx needs --images FILE\n");
            return 2;
        }
        rc = import_idx_files(&o, o.images, o.labels, NULL);
    } else {
        if (o.images || o.split) {
            fprintf(stderr, "medssl import: --images and --split do not apply to the png source\n");
            return 2;
        }
        rc = import_png_dir(&o, pos[1]);
    }
    return rc ? cli_report("import", rc) : 0;
}
