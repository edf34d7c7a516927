/* import_internal — what `medssl import`'s sources share (import.c: the
 * command, fashion-mnist and idx; import_png.c: PNG folders). */
#ifndef MEDSSL_CLI_IMPORT_INTERNAL_H
#define MEDSSL_CLI_IMPORT_INTERNAL_H

#include "medssl/importers.h"

typedef struct {
    const char *split, *dir, *out, *images, *labels, *masks, *fit_name;
    int size, labeled_per_class, seed, gzip, channels;
    ms_fit fit;
    float labeled_fraction;
} import_opts;

/* `medssl import png DIR`: the folder's PNGs (and masks) into o->out. */
int import_png(const import_opts *o, const char *dir_arg);

#endif
