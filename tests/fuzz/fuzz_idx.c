/* fuzz_idx — the IDX readers (src/data/idx.c) on the input bytes as a
 * file (raw or gzip: zlib reads both): idx_read_images and idx_read_labels.
 * Either reads a well-formed file or fails with MS_ERR_INPUT. */
#include "fuzz_common.h"
#include "medssl/common.h"
#include "medssl/idx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512];
    fuzz_write_file(path, sizeof path, "idx", ".idx", data, size);
    uint8_t *v = NULL;
    int N = 0, H = 0, W = 0;
    int rc = idx_read_images(path, &v, &N, &H, &W);
    if (rc != MS_OK && rc != MS_ERR_INPUT) abort();
    if (rc == MS_OK) {
        volatile unsigned sum = 0; /* touch every byte: the buffer must be as large as declared */
        for (size_t i = 0; i < (size_t)N * H * W; i++) sum += v[i];
        free(v);
    }
    v = NULL;
    rc = idx_read_labels(path, &v, &N);
    if (rc != MS_OK && rc != MS_ERR_INPUT) abort();
    if (rc == MS_OK) {
        volatile unsigned sum = 0;
        for (int i = 0; i < N; i++) sum += v[i];
        free(v);
    }
    unlink(path);
    return 0;
}
