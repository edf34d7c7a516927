/* import_internal — what `medssl import`'s sources share (import.c: the
 * command, fashion-mnist and idx; import_png.c: PNG folders;
 * import_nifti_cmd.c: NIfTI volumes). */
#ifndef MEDSSL_CLI_IMPORT_INTERNAL_H
#define MEDSSL_CLI_IMPORT_INTERNAL_H

#include "medssl/resample.h"

typedef struct {
    const char *split, *dir, *out, *images, *labels, *masks, *fit_name;
    int size, labeled_per_class, seed, gzip, channels;
    ms_fit fit;
    float labeled_fraction;
} import_opts;

/* The --fit flag: name "resize" or "pad" (NULL: resize) into *fit, with the
 * --size side it fits to (> 0 required for a named fit); MS_ERR_INPUT with a
 * message naming the flag otherwise. Defined in import.c. */
int fit_parse(const char *name, int size, ms_fit *fit);

/* `medssl import png DIR`: the folder's PNGs (and masks) into o->out. */
int import_png(const import_opts *o, const char *dir_arg);

#endif
