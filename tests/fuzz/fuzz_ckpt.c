/* fuzz_ckpt — loading a checkpoint as `medssl finetune --init` and `pretrain
 * --resume` do (src/io/ckpt.c): the input bytes as an HDF5 file; ckpt_read_meta
 * (model_spec, task), model_spec_parse, model_build from that spec, then
 * ckpt_load of every tensor with the optimizer and training state, and
 * ckpt_read_permutations / ckpt_read_string. Each step either succeeds or
 * fails with MS_ERR_INPUT; a loaded model holds only finite values.
 *
 * Harness limit (not a reader check): a spec of more than FUZZ_MAX_PARAMS
 * parameters (an upper bound computed here) is not built, to stay within the
 * fuzzer's memory limit; model_spec_parse's own cap is what the CLI relies on. */
#include "fuzz_common.h"
#include "medssl/ckpt.h"
#include "medssl/common.h"
#include "medssl/model.h"
#include "medssl/optim.h"

#include <math.h>

#define FUZZ_MAX_PARAMS 2e6 /* models above this are parsed and checked, not built */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512];
    fuzz_write_file(path, sizeof path, "ckpt", ".h5", data, size);
    char spec_text[4096], task[64];
    int rc = ckpt_read_meta(path, spec_text, sizeof spec_text, task, sizeof task);
    if (rc != MS_OK && rc != MS_ERR_INPUT) abort();
    ms_model_spec spec;
    if (rc == MS_OK) {
        rc = model_spec_parse(&spec, spec_text);
        if (rc != MS_OK && rc != MS_ERR_INPUT) abort();
    }
    if (rc == MS_OK && model_spec_params_bound(&spec) <= FUZZ_MAX_PARAMS) {
        ms_model m;
        model_build(&m, &spec);
        ms_optim opt;
        ms_train_state st;
        memset(&opt, 0, sizeof opt);
        memset(&st, 0, sizeof st);
        int n_ignored = 0;
        rc = ckpt_load(path, &m.slab, "", NULL, NULL, &n_ignored);
        if (rc != MS_OK && rc != MS_ERR_INPUT) abort();
        if (rc == MS_OK) {
            if (slab_first_nonfinite(&m.slab) >= 0) {
                fprintf(stderr, "ckpt_load accepted a non-finite tensor\n");
                abort();
            }
            rc = ckpt_load(path, &m.slab, "encoder.", &opt, &st, NULL);
            if (rc != MS_OK && rc != MS_ERR_INPUT) abort();
        }
        model_free(&m);
        uint8_t perms[64 * 9];
        int P = 0;
        rc = ckpt_read_permutations(path, perms, 64, &P);
        if (rc != MS_OK && rc != MS_ERR_INPUT) abort();
        if (rc == MS_OK && (P < 0 || P > 64)) abort();
        char buf[256];
        int present = 0;
        rc = ckpt_read_string(path, "input_size", buf, sizeof buf, &present);
        if (rc != MS_OK && rc != MS_ERR_INPUT) abort();
    }
    unlink(path);
    return 0;
}
