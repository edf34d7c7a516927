/* png_import — a folder of PNG images into a medssl corpus: the library side
 * of `medssl import png DIR [--labels folders|CSV] [--masks MASKDIR]
 * [--channels 1|3] [--size S --fit resize|pad] --out FILE`.
 *
 * Images: every *.png under dir (recursively, sorted by path; names starting
 * with '.' skipped), or the files a CSV lists (relative to dir). 8/16-bit
 * gray, gray+alpha, RGB(A), palette; alpha dropped. Every header is read
 * before any pixel is decoded, so shape, channel and dtype mismatches are
 * reported first. Images must share one size unless size > 0. Any 16-bit
 * input gives a float32 corpus (value / 65535), else uint8 (the bytes, after
 * channel conversion and resizing rounded to the nearest byte).
 *
 * Labels: labels == NULL: none; "folders": class = the first-level
 * subfolder; else a CSV file with the header line 'filename,label' whose
 * labels are all integers (-1..CORPUS_MAX_CLASSES-1, -1 = unlabeled) or all
 * class names (classes = the sorted distinct names, written as class_names).
 *
 * Masks (optional): an 8-bit gray PNG per image under `masks` with the same
 * relative path and size (pixel = class, 255 = ignore); resized by nearest
 * neighbour or padded with class 0 (resample.h).
 *
 * Dimension legend: N images, C channels, H, W image size, S the size side.
 */
#ifndef MEDSSL_PNG_IMPORT_H
#define MEDSSL_PNG_IMPORT_H

#include <stdint.h>

#include "medssl/corpus.h"
#include "medssl/resample.h"

typedef struct {
    const char *dir;          /* required: the image folder (trailing slashes ignored) */
    const char *labels;       /* NULL, "folders" or the CSV file (see above) */
    const char *masks;        /* NULL: no /masks; else the mask folder */
    const char *out;          /* required: the corpus to write */
    int size;                 /* 0: keep the images' common size; > 0: every image to size x size */
    ms_fit fit;               /* with size: FIT_RESIZE (bilinear, masks nearest) or FIT_PAD */
    int channels;             /* 0: 1 when every image is gray, else 3; 1 (RGB -> BT.601 gray) or 3 (gray replicated) */
    int labeled_per_class;    /* >= 0: keep this many labels per class (labels_keep_stratified) */
    double labeled_fraction;  /* >= 0 (with labeled_per_class < 0): keep this fraction per class */
    uint64_t seed;            /* seed of the labeled subset */
    int gzip;                 /* gzip level of the HDF5 chunks, 0 (none) to 9 */
} ms_png_import_opts;

/* What png_import wrote. */
typedef struct {
    long long N, labeled;     /* images; of them with a label >= 0 */
    int C, H, W, n_classes;
    ms_dtype dtype;
    int masks;                /* 1 when /masks was written */
} ms_png_import_summary;

/* Defaults: every pointer NULL, size 0, FIT_RESIZE, channels 0, no labeled
 * subset (labeled_per_class and labeled_fraction -1), seed 0, gzip 0. */
void png_import_opts_init(ms_png_import_opts *o);

/* Writes the corpus o->out (through corpus_writer: nothing under that name
 * unless complete) and fills *done (may be NULL). MS_ERR_INPUT with one
 * message naming the file (and CSV line) for any bad input: unreadable or
 * non-PNG file, missing mask, mask not 8-bit gray or of another size, sizes
 * differing without size, bad CSV lines or labels, too many classes, a labeled
 * subset without labels. Prints nothing. */
int png_import(const ms_png_import_opts *o, ms_png_import_summary *done);
/* The images png_import(o) would write, as paths relative to o->dir, in
 * corpus order (sample i of the corpus is (*files)[i]); *n of them. The same
 * discovery and errors as png_import's listing. Free with png_import_list_free. */
int png_import_list(const ms_png_import_opts *o, char ***files, long long *n);
void png_import_list_free(char **files, long long n);

#endif
