/* fuzz_corpus — corpus_open + corpus_read of one batch (src/data/corpus.c) on
 * the input bytes as an HDF5 file, as `medssl inspect` and the loader use
 * them: open and validate, then read the first batch of up to 4 samples
 * (images, and labels, masks, domains when present) and, when N > 4, the last
 * sample with corpus_read_rows. Either every step succeeds or one fails with
 * MS_ERR_INPUT.
 *
 * Harness limit (not a reader check): samples of more than 1M values are not
 * read (the buffer is the caller's, sized from the validated header). */
#include "fuzz_common.h"
#include "medssl/common.h"
#include "medssl/corpus.h"

#define FUZZ_MAX_SAMPLE_VALUES (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512];
    fuzz_write_file(path, sizeof path, "corpus", ".h5", data, size);
    ms_corpus c;
    int rc = corpus_open(&c, path, NULL);
    if (rc != MS_OK && rc != MS_ERR_INPUT) abort();
    if (rc == MS_OK) {
        if (c.N < 1 || c.C < 1 || c.C > CORPUS_MAX_CHANNELS || c.H < 1 || c.H > CORPUS_MAX_SIDE || c.W < 1 ||
            c.W > CORPUS_MAX_SIDE)
            abort();
        const size_t per = (size_t)c.C * c.H * c.W, HW = (size_t)c.H * c.W;
        if (per <= FUZZ_MAX_SAMPLE_VALUES) {
            const long long count = c.N < 4 ? c.N : 4;
            float *img = malloc((size_t)count * per * sizeof(float));
            int32_t *lab = corpus_has_labels(&c) ? malloc((size_t)count * sizeof(int32_t)) : NULL;
            uint8_t *msk = corpus_has_masks(&c) ? malloc((size_t)count * HW) : NULL;
            int32_t *dom = corpus_has_domains(&c) ? malloc((size_t)count * sizeof(int32_t)) : NULL;
            rc = corpus_read(&c, 0, count, img, lab, msk, dom);
            if (rc != MS_OK && rc != MS_ERR_INPUT) abort();
            if (rc == MS_OK && c.N > 4) {
                const int64_t rows[1] = { c.N - 1 };
                rc = corpus_read_rows(&c, rows, 1, img, lab, msk, dom);
                if (rc != MS_OK && rc != MS_ERR_INPUT) abort();
            }
            free(img);
            free(lab);
            free(msk);
            free(dom);
        }
        corpus_close(&c);
    }
    unlink(path);
    return 0;
}
