/* fuzz_common — what every medssl libFuzzer target shares: the input bytes
 * written to a temporary file (the readers take paths), named per process so
 * parallel fuzzing jobs do not collide, and removed after each run.
 *
 * The temporary files live in $MEDSSL_FUZZ_TMP (default /dev/shm, else /tmp).
 */
#ifndef MEDSSL_FUZZ_COMMON_H
#define MEDSSL_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *fuzz_tmp_dir(void)
{
    const char *d = getenv("MEDSSL_FUZZ_TMP");
    if (d && *d) return d;
    return access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
}

/* Writes data[0..size) to "<tmp>/medssl-fuzz-<tag>-<pid><suffix>" into path
 * (cap bytes); aborts if it cannot (a broken harness, not a finding). */
static void fuzz_write_file(char *path, size_t cap, const char *tag, const char *suffix, const uint8_t *data,
                            size_t size)
{
    snprintf(path, cap, "%s/medssl-fuzz-%s-%d%s", fuzz_tmp_dir(), tag, (int)getpid(), suffix);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

/* The bytes as a NUL-terminated string (malloc'd). */
static char *fuzz_string(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = 0;
    return s;
}

#endif
