/* fuzz_nifti — `medssl import nifti` without the CLI (src/data/import_nifti.c):
 * the input bytes as a .nii file (.nii.gz when they start with the gzip magic),
 * imported with nifti_import into a corpus in the temporary folder. Either the
 * import succeeds and leaves a corpus that corpus_open accepts, or it fails
 * with MS_ERR_INPUT and leaves no output. */
#include "fuzz_common.h"
#include "medssl/common.h"
#include "medssl/corpus.h"
#include "medssl/nifti_import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512], out[512];
    const int gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    fuzz_write_file(path, sizeof path, "nifti", gz ? ".nii.gz" : ".nii", data, size);
    snprintf(out, sizeof out, "%s/medssl-fuzz-nifti-out-%d.h5", fuzz_tmp_dir(), (int)getpid());
    unlink(out);
    ms_nifti_import_opts o;
    nifti_import_opts_init(&o);
    o.volume = path;
    o.out = out;
    int rc = nifti_import(&o);
    if (rc != MS_OK && rc != MS_ERR_INPUT) {
        fprintf(stderr, "nifti_import returned %d: %s\n", rc, ms_last_error());
        abort();
    }
    if (rc == MS_OK) {
        ms_corpus c;
        if (corpus_open(&c, out, NULL) != MS_OK) {
            fprintf(stderr, "imported corpus does not open: %s\n", ms_last_error());
            abort();
        }
        corpus_close(&c);
    } else if (access(out, F_OK) == 0) {
        fprintf(stderr, "a failed import left %s\n", out);
        abort();
    }
    unlink(out);
    unlink(path);
    return 0;
}
