/* import_nifti_cmd — `medssl import nifti VOLUME ...`: the CLI side of
 * nifti_import (include/medssl/nifti_import.h), called by cmd_import. */
#include "cli.h"
#include "medssl/resample.h"
#include "medssl/common.h"
#include "medssl/corpus.h"
#include "medssl/nifti_import.h"

#include <stdio.h>
#include <string.h>

int import_nifti_main(int argc, char **argv)
{
    ms_nifti_import_opts o;
    nifti_import_opts_init(&o);
    const char *axis = NULL, *window = NULL, *fit = NULL;
    int append = 0, skip_empty = 0;
    const ms_arg args[] = {
        { "labels", ARG_STRING, &o.labels, 0, 0, "VOLUME", "label volume (same dims, values 0..254) -> /masks" },
        { "axis", ARG_STRING, &axis, 0, 0, "x|y|z", "slice along this voxel axis (default z)" },
        { "window", ARG_STRING, &window, 0, 0, "LO:HI", "clip intensities to [LO, HI], scale to [0, 1] (default: volume min-max)" },
        { "size", ARG_INT, &o.size, 1, 16384, "S", "slices to SxS (see --fit)" },
        { "fit", ARG_STRING, &fit, 0, 0, "resize|pad", "with --size: resample (image bilinear, mask nearest; default) "
                                                      "or centre with zero padding / crop" },
        { "domain", ARG_INT, &o.domain, 0, 1000000, "D", "write /domains = D for every slice (site, scanner)" },
        { "append", ARG_BOOL, &append, 0, 0, NULL, "add the slices to an existing compatible corpus at --out" },
        { "skip-empty", ARG_BOOL, &skip_empty, 0, 0, NULL, "drop slices whose mask is all zero (needs --labels)" },
        { "gzip", ARG_INT, &o.gzip, 0, 9, "L", "gzip level of the HDF5 chunks (default 0)" },
        { "out", ARG_STRING, &o.out, 0, 0, "FILE", "the corpus to write (required)" },
    };
    const char *pos[1];
    int n_pos = 0;
    int rc = cli_parse("import nifti", "VOLUME [options] --out FILE",
                       "Slices a 3-D NIfTI volume (.nii, .nii.gz) into 2-D images of a 1-channel float32 corpus, in\n"
                       "the file's voxel order (no reorientation), with an optional label volume as masks.",
                       args, (int)(sizeof args / sizeof *args), argc, argv, pos, 1, &n_pos);
    if (rc) return rc < 0 ? 0 : rc;
    if (n_pos != 1 || !o.out) {
        fprintf(stderr, "medssl import nifti: name one VOLUME and --out FILE (see medssl import nifti --help)\n");
        return 2;
    }
    o.volume = pos[0];
    o.append = append;
    o.skip_empty = skip_empty;
    if (axis && nifti_parse_axis(axis, &o.axis)) return cli_report("import", MS_ERR_INPUT);
    if (window && nifti_parse_window(window, &o.window_lo, &o.window_hi)) return cli_report("import", MS_ERR_INPUT);
    o.has_window = window != NULL;
    if (fit_parse(fit, o.size, &o.fit)) return cli_report("import", MS_ERR_INPUT);
    if ((rc = nifti_import(&o))) return cli_report("import", rc);
    ms_corpus c;
    if (corpus_open(&c, o.out, NULL) == 0) {
        fprintf(stderr, "medssl import: wrote %s: %lld slice%s of 1x%dx%d%s\n", o.out, c.N, c.N == 1 ? "" : "s", c.H, c.W,
                corpus_has_masks(&c) ? " with masks" : "");
        corpus_close(&c);
    }
    return 0;
}
