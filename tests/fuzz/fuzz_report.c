/* fuzz_report — report_write (src/report/report.c) on a run folder whose
 * metrics.jsonl and test/metrics.json are the input bytes, split at the first
 * line "--8<--" (before: metrics.jsonl, after: metrics.json). The reader sees
 * valid JSON of every odd shape (confusion rows of other lengths, ROC arrays
 * of unequal size, strings where numbers belong, huge counts, deep nesting)
 * as well as invalid text; it must write a page (MS_OK) or refuse with
 * MS_ERR_INPUT, and never crash. */
#include "fuzz_common.h"
#include "medssl/common.h"
#include "medssl/report.h"

#include <sys/stat.h>

static void quiet(void *user, ms_log_level level, const char *line)
{
    (void)user;
    (void)level;
    (void)line;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char cut[] = "\n--8<--\n";
    const uint8_t *split = NULL;
    for (size_t i = 0; i + sizeof cut - 1 <= size && !split; i++)
        if (memcmp(data + i, cut, sizeof cut - 1) == 0) split = data + i;
    const size_t n1 = split ? (size_t)(split - data) : size;
    const uint8_t *second = split ? split + sizeof cut - 1 : data + size;
    const size_t n2 = (size_t)(data + size - second);

    char dir[512], test[600], jsonl[700], json[700], out[700];
    snprintf(dir, sizeof dir, "%s/medssl-fuzz-report-%d", fuzz_tmp_dir(), (int)getpid());
    snprintf(test, sizeof test, "%s/test", dir);
    snprintf(jsonl, sizeof jsonl, "%s/metrics.jsonl", dir);
    snprintf(json, sizeof json, "%s/metrics.json", test);
    snprintf(out, sizeof out, "%s.html", dir);
    mkdir(dir, 0700);
    mkdir(test, 0700);
    FILE *f = fopen(jsonl, "wb");
    if (!f || (n1 && fwrite(data, 1, n1, f) != n1) || fclose(f) != 0) abort();
    f = fopen(json, "wb");
    if (!f || (n2 && fwrite(second, 1, n2, f) != n2) || fclose(f) != 0) abort();

    const char *runs[1] = { dir };
    ms_report_cfg cfg = { .runs = runs, .nruns = 1, .out = out, .log = { quiet, NULL } };
    int rc = report_write(&cfg);
    if (rc != MS_OK && rc != MS_ERR_INPUT) {
        fprintf(stderr, "report_write: %d: %s\n", rc, ms_last_error());
        abort();
    }
    unlink(jsonl);
    unlink(json);
    rmdir(test);
    rmdir(dir);
    unlink(out);
    return 0;
}
