/* fuzz_model_spec — model_spec_parse (src/nn/model_spec.c) on the input bytes
 * as a string. A spec that parses must format to text that parses back to the
 * same spec (model.h: parse(format(s)) == s); anything else must be a
 * clean MS_ERR_INPUT. */
#include "fuzz_common.h"
#include "medssl/common.h"
#include "medssl/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_string(data, size);
    ms_model_spec spec, again;
    int rc = model_spec_parse(&spec, text);
    if (rc != MS_OK && rc != MS_ERR_INPUT) abort();
    if (rc == MS_OK) {
        char buf[4096];
        model_spec_format(&spec, buf, sizeof buf);
        if (model_spec_parse(&again, buf) != MS_OK) {
            fprintf(stderr, "formatted spec does not parse: '%s': %s\n", buf, ms_last_error());
            abort();
        }
        char buf2[4096];
        model_spec_format(&again, buf2, sizeof buf2);
        if (strcmp(buf, buf2) != 0) {
            fprintf(stderr, "format is not stable: '%s' -> '%s'\n", buf, buf2);
            abort();
        }
    }
    free(text);
    return 0;
}
