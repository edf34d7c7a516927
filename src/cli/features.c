/* features — `medssl features --model CKPT --data FILE [--stage K] --out
 * FEATS.h5 [--csv FILE]`: the global-average-pooled features of encoder stage
 * K for every sample of a corpus (include/medssl/features_file.h holds the
 * format), e.g. for `medssl select`.
 *
 * Under mpirun the ranks split the corpus into contiguous ranges and rank 0
 * gathers them in order and writes: the file does not depend on the rank
 * count (the encoder runs in eval mode, one sample's features do not depend
 * on its batch).
 *
 * Dimension legend: N samples, F features.
 */
#include "cli.h"
#include "medssl/atomic.h"
#include "medssl/common.h"
#include "medssl/corpus.h"
#include "medssl/dist.h"
#include "medssl/features_file.h"
#include "medssl/stage_features.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --csv: index,label,domain,f0..fF-1 (domain -1 when the corpus has none). */
static int write_csv(const char *path, const ms_features_table *t)
{
    ms_atomic_file a;
    int rc = atomic_open(&a, path);
    if (rc) return rc;
    fprintf(a.f, "index,label,domain");
    for (int k = 0; k < t->F; k++) fprintf(a.f, ",f%d", k);
    fputc('\n', a.f);
    for (long long i = 0; i < t->N; i++) {
        fprintf(a.f, "%lld,%d,%d", i, (int)t->labels[i], t->domains ? (int)t->domains[i] : -1);
        for (int k = 0; k < t->F; k++) fprintf(a.f, ",%.9g", (double)t->features[(size_t)i * t->F + k]);
        fputc('\n', a.f);
    }
    return atomic_commit(&a);
}

typedef struct {
    cli_progress progress;
    int ranks;
} progress_ctx;

static void on_batch(void *ctx, long long done)
{
    progress_ctx *p = ctx;
    const long long all = done * p->ranks; /* rank 0's share scaled: the ranks move together */
    cli_progress_update(&p->progress, all < p->progress.total ? all : p->progress.total);
}

/* Every rank computes its range; rank 0 gathers into t (N rows). */
static int compute(const ms_dist *d, ms_stage_features *s, ms_corpus *c, ms_features_table *t)
{
    const long long N = c->N;
    long long *first = ms_malloc((size_t)d->size * sizeof(long long)), *counts = ms_malloc((size_t)d->size * sizeof(long long));
    dist_split_rows(d, N, first, counts);
    const long long mine = counts[d->rank], rows = d->rank == 0 ? N : mine;
    t->N = N;
    t->F = s->F;
    t->features = ms_malloc((size_t)(rows ? rows : 1) * s->F * sizeof(float));
    t->labels = ms_malloc((size_t)(rows ? rows : 1) * sizeof(int32_t));
    t->domains = corpus_has_domains(c) ? ms_malloc((size_t)(rows ? rows : 1) * sizeof(int32_t)) : NULL;
    const int labeled = corpus_has_labels(c);
    if (!labeled)
        for (long long i = 0; i < rows; i++) t->labels[i] = -1;
    progress_ctx pc = { .ranks = d->size };
    cli_progress_begin(&pc.progress, "features", "images", N);
    int rc = stage_features_run(s, c, first[d->rank], mine, t->features, labeled ? t->labels : NULL, t->domains,
                                d->rank == 0 ? on_batch : NULL, &pc);
    const int bad = rc != 0, any = dist_any(d, bad);
    if (!any) {
        dist_gather_rows(d, t->features, mine, (size_t)s->F * sizeof(float), first, counts);
        dist_gather_rows(d, t->labels, mine, sizeof(int32_t), first, counts);
        if (t->domains) dist_gather_rows(d, t->domains, mine, sizeof(int32_t), first, counts);
        if (d->rank == 0) cli_progress_end(&pc.progress, N);
    }
    free(first);
    free(counts);
    if (any && !bad) return MS_FAIL(MS_ERR_INPUT, "another rank failed to read %s", c->path);
    return rc;
}

int cmd_features(int argc, char **argv)
{
    const char *model = NULL, *data = NULL, *out = NULL, *csv = NULL;
    int stage = -1, batch = 256, threads = 0;
    const ms_arg args[] = {
        { "model", ARG_STRING, &model, 0, 0, "CKPT", "a checkpoint with an encoder: pretrain or finetune output (required)" },
        { "data", ARG_STRING, &data, 0, 0, "FILE", "the corpus (required)" },
        { "stage", ARG_INT, &stage, 0, 64, "K", "pool encoder stage K (default: the last)" },
        { "out", ARG_STRING, &out, 0, 0, "FEATS.h5", "the features file to write (required)" },
        { "csv", ARG_STRING, &csv, 0, 0, "FILE", "also write index,label,domain,f0..fF-1" },
        { "batch", ARG_INT, &batch, 1, 65536, "B", "images per forward pass (default 256)" },
        { "threads", ARG_INT, &threads, 1, 256, "T", "threads per rank (default: cores / ranks)" },
    };
    int rc = cli_parse("features", "--model CKPT --data FILE [--stage K] --out FEATS.h5 [--csv FILE]",
                       "Global-average-pooled features of encoder stage K (eval mode) for every sample of a\n"
                       "corpus: /features float32 [N,F], /labels int32 [N] (-1 = unlabeled), /domains when the\n"
                       "corpus has them. Under mpirun the ranks split the samples and rank 0 writes.",
                       args, (int)(sizeof args / sizeof *args), argc, argv, NULL, 0, NULL);
    if (rc) return rc < 0 ? 0 : rc;
    if (!model || !data || !out) {
        fprintf(stderr, "medssl features: %s is required (see medssl features --help)\n",
                !model ? "--model CKPT" : !data ? "--data FILE" : "--out FEATS.h5");
        return 2;
    }
    ms_dist d;
    if (dist_init(&d, &argc, &argv)) return cli_report("features", MS_ERR_RUNTIME);
    cli_set_threads(&d, threads);
    ms_corpus c;
    ms_stage_features s;
    ms_features_table t;
    memset(&c, 0, sizeof c);
    memset(&s, 0, sizeof s);
    memset(&t, 0, sizeof t);
    rc = corpus_open(&c, data, &d);
    const int opened = rc == 0;
    if (!rc) rc = stage_features_open(&s, model, stage, &c, batch);
    rc = dist_agree(&d, "features", rc);
    if (!rc) rc = dist_agree(&d, "features", compute(&d, &s, &c, &t));
    int written = MS_OK; /* rank 0's write */
    if (!rc && d.rank == 0) {
        t.model = model;
        t.model_spec = s.spec;
        t.stage = s.stage;
        if (csv) written = write_csv(csv, &t);
        if (!written) written = features_file_write(out, &t);
        if (!written)
            fprintf(stderr, "medssl features: wrote %s: %lld samples x %d features (stage %d)%s%s\n", out, t.N, t.F,
                    s.stage, csv ? " and " : "", csv ? csv : "");
    }
    if (!rc) rc = dist_agree(&d, "features", written);
    features_table_free(&t);
    stage_features_close(&s);
    if (opened) corpus_close(&c);
    dist_finalize(&d);
    return rc;
}
