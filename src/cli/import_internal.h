/* import_internal — what `medssl import`'s sources share (import.c: the
 * command, fashion-mnist, idx and png; import_nifti_cmd.c: nifti). */
#ifndef MEDSSL_CLI_IMPORT_INTERNAL_H
#define MEDSSL_CLI_IMPORT_INTERNAL_H

#include "medssl/resample.h"

/* The --fit flag: name "resize" or "pad" (NULL: resize) into *fit, with the
 * --size side it fits to (> 0 required for a named fit); MS_ERR_INPUT with a
 * message naming the flag otherwise. Defined in import.c. */
int fit_parse(const char *name, int size, ms_fit *fit);

#endif
