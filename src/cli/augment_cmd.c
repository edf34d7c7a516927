/* augment_cmd — `medssl augment --in A.h5 --out B.h5 --copies K --augment OPS`:
 * writes a new corpus holding the originals and K augmented copies of each.
 *
 * Layout of the output (copy-major): output sample c*N + i is copy c of input
 * sample i, c = 0 the original (unchanged), c = 1..K augmented with the key
 * rng_key(seed, c, i, RNG_AUGMENT) — exactly the augmentation the loader gives
 * sample i in epoch c with the same seed and op list. So the first N samples
 * are the input, and the copies of one image sit N samples apart (in different
 * HDF5 chunks, which the loader's chunk shuffle then mixes like any others).
 * Labels, domains and class_names are carried along; masks are transformed
 * with their image (augment_apply: nearest neighbour, 255 outside).
 *
 * uint8 corpora stay uint8 (the augmented [0,1] floats are scaled by 255,
 * clamped to 0..255 and rounded half up); float32 corpora stay float32 as
 * augmented (noise may leave [0,1]). The input is streamed K+1 times, one
 * block (its HDF5 chunk, at most BLOCK_MAX_BYTES of floats) at a time, so
 * memory is bounded by one block whatever N is; the samples of a block are
 * augmented on the OpenMP threads (each sample depends only on its key, so
 * the output does not depend on the thread count). The writer is atomic:
 * on any failure nothing is left under --out.
 *
 * Dimension legend: N input samples, K copies, B samples per block, C, H, W
 * image size, P = C*H*W, HW = H*W.
 */
#include "cli.h"
#include "medssl/augment.h"
#include "medssl/common.h"
#include "medssl/corpus.h"
#include "medssl/rng.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define COPIES_MAX 1000
#define BLOCK_MAX_BYTES (64u << 20) /* float images per block */

typedef struct {
    const char *in, *out, *ops;
    int copies, seed, gzip;
} augment_opts;

/* Buffers for one block of B samples (NULL where the corpus has no such dataset). */
typedef struct {
    long long B;
    float *img;      /* (B, C, H, W) */
    uint8_t *img_u8; /* (B, C, H, W), uint8 corpora only */
    int32_t *lab;    /* (B) */
    uint8_t *msk;    /* (B, H, W) */
    int32_t *dom;    /* (B) */
    float *work;     /* (threads, augment_workspace_size) */
    size_t work_per_thread;
    int threads;
} block_bufs;

static void block_alloc(block_bufs *b, const ms_corpus *c)
{
    const size_t P = (size_t)c->C * c->H * c->W, HW = (size_t)c->H * c->W;
    long long B = c->chunk_n > 0 ? c->chunk_n : 1;
    const long long cap = (long long)(BLOCK_MAX_BYTES / (P * sizeof(float)));
    if (B > cap) B = cap > 0 ? cap : 1;
    memset(b, 0, sizeof *b);
    b->B = B;
    b->img = ms_aligned((size_t)B * P * sizeof(float));
    if (c->dtype == DTYPE_U8) b->img_u8 = ms_malloc((size_t)B * P);
    if (corpus_has_labels(c)) b->lab = ms_malloc((size_t)B * sizeof(int32_t));
    if (corpus_has_masks(c)) b->msk = ms_malloc((size_t)B * HW);
    if (corpus_has_domains(c)) b->dom = ms_malloc((size_t)B * sizeof(int32_t));
    b->threads = omp_get_max_threads();
    if (b->threads < 1) b->threads = 1;
    b->work_per_thread = augment_workspace_size(c->C, c->H, c->W);
    b->work = ms_aligned((size_t)b->threads * b->work_per_thread * sizeof(float));
}

static void block_free(block_bufs *b)
{
    free(b->img);
    free(b->img_u8);
    free(b->lab);
    free(b->msk);
    free(b->dom);
    free(b->work);
}

/* x in [0,1] -> round(clamp(255 x, 0, 255)); NaN -> 0. */
static uint8_t to_u8(float x)
{
    float v = x * 255.0f;
    if (!(v > 0.0f)) return 0;
    if (v >= 255.0f) return 255;
    return (uint8_t)(v + 0.5f);
}

/* Augments samples [0, n) of the block, input indices first.., as copy `copy`. */
static void augment_block(const ms_augment *aug, const ms_corpus *c, block_bufs *b, long long first, long long n,
                          int copy, uint64_t seed)
{
    const size_t P = (size_t)c->C * c->H * c->W, HW = (size_t)c->H * c->W;
#pragma omp parallel for schedule(dynamic, 4) num_threads(b->threads)
    for (long long s = 0; s < n; s++) {
        float *work = b->work + (size_t)omp_get_thread_num() * b->work_per_thread;
        uint64_t key = rng_key(seed, (uint64_t)copy, (uint64_t)(first + s), RNG_AUGMENT);
        augment_apply(aug, b->img + (size_t)s * P, b->msk ? b->msk + (size_t)s * HW : NULL, c->C, c->H, c->W, key,
                      work);
    }
}

/* Streams the input K+1 times into the writer; prints progress every ~10%. */
static int write_copies(const augment_opts *o, const ms_augment *aug, ms_corpus *c, ms_corpus_writer *w)
{
    block_bufs b;
    block_alloc(&b, c);
    const size_t P = (size_t)c->C * c->H * c->W;
    const long long total = (long long)(o->copies + 1) * c->N;
    long long done = 0;
    int decile = 0, rc = MS_OK;
    for (int copy = 0; copy <= o->copies && !rc; copy++) {
        for (long long n0 = 0; n0 < c->N && !rc; n0 += b.B) {
            const long long n = c->N - n0 < b.B ? c->N - n0 : b.B;
            rc = corpus_read(c, n0, n, b.img, b.lab, b.msk, b.dom);
            if (rc) break;
            if (copy > 0) augment_block(aug, c, &b, n0, n, copy, (uint64_t)o->seed);
            const void *images = b.img;
            if (b.img_u8) {
                for (size_t i = 0; i < (size_t)n * P; i++) b.img_u8[i] = to_u8(b.img[i]);
                images = b.img_u8;
            }
            rc = corpus_writer_append(w, n, images, b.lab, b.msk, b.dom);
            done += n;
            if (!rc && done * 10 / total > decile) {
                decile = (int)(done * 10 / total);
                fprintf(stderr, "medssl augment: %3d%% (%lld of %lld sample%s)\n", decile * 10, done, total,
                        total == 1 ? "" : "s");
            }
        }
    }
    block_free(&b);
    return rc;
}

/* Same file (by device and inode) when both exist. */
static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int cmd_augment(int argc, char **argv)
{
    augment_opts o = { 0 };
    const ms_arg args[] = {
        { "in", ARG_STRING, &o.in, 0, 0, "FILE", "the corpus to augment (required)" },
        { "out", ARG_STRING, &o.out, 0, 0, "FILE", "the corpus to write (required; must not be --in)" },
        { "copies", ARG_INT, &o.copies, 1, COPIES_MAX, "K", "augmented copies per image, 1..1000 (required)" },
        { "augment", ARG_STRING, &o.ops, 0, 0, "OPS",
          "op list, e.g. flip:h,rotate:15,crop:0.8,noise:0.05 (required; see README)" },
        { "seed", ARG_INT, &o.seed, 0, 2147483647, "N", "seed of the augmentation keys (default 0)" },
        { "gzip", ARG_INT, &o.gzip, 0, 9, "L", "gzip level of the output's HDF5 chunks (default 0: none)" },
    };
    int rc = cli_parse("augment", "--in FILE --out FILE --copies K --augment OPS [--seed N] [--gzip L]",
                       "Writes a corpus with every image of --in plus K augmented copies of it (offline\n"
                       "augmentation). Order: all N originals first (unchanged), then copy 1 of every image,\n"
                       "then copy 2, ...: output sample c*N + i is copy c of input sample i, augmented with\n"
                       "the key (seed, c, i) - the same augmentation the loader gives sample i in epoch c.\n"
                       "Labels, domains and class names are carried along; masks move with their image.\n"
                       "uint8 corpora stay uint8 (rounded, clamped to 0..255), float32 stay float32.\n"
                       "Streams one chunk at a time (the input is read K+1 times); progress goes to stderr.\n"
                       "The output is written to a temporary file and renamed into place when complete.",
                       args, (int)(sizeof args / sizeof *args), argc, argv, NULL, 0, NULL);
    if (rc) return rc < 0 ? 0 : rc;
    const char *missing = !o.in ? "--in FILE" : !o.out ? "--out FILE" : !o.copies ? "--copies K"
                          : !o.ops ? "--augment OPS" : NULL;
    if (missing) {
        fprintf(stderr, "medssl augment: %s is required (see medssl augment --help)\n", missing);
        return 2;
    }
    ms_augment aug;
    if ((rc = augment_parse(&aug, o.ops))) return cli_report("augment", rc);
    if (aug.n_ops == 0) {
        fprintf(stderr, "medssl augment: --augment '%s' names no op: the copies would equal the originals\n", o.ops);
        return 2;
    }
    if (same_file(o.in, o.out)) {
        fprintf(stderr, "medssl augment: --out %s is the input file; write to a new file\n", o.out);
        return 2;
    }
    ms_corpus c;
    if ((rc = corpus_open(&c, o.in, NULL))) return cli_report("augment", rc);
    unsigned flags = (corpus_has_labels(&c) ? CORPUS_WITH_LABELS : 0) | (corpus_has_masks(&c) ? CORPUS_WITH_MASKS : 0) |
                     (corpus_has_domains(&c) ? CORPUS_WITH_DOMAINS : 0);
    ms_corpus_writer w;
    rc = corpus_writer_create(&w, o.out, c.C, c.H, c.W, c.dtype, flags, o.gzip, c.class_names);
    if (!rc) {
        rc = write_copies(&o, &aug, &c, &w);
        if (rc) corpus_writer_abort(&w);
        else rc = corpus_writer_finish(&w);
    }
    if (!rc) {
        char canon[1024];
        augment_format(&aug, canon, sizeof canon);
        fprintf(stderr, "medssl augment: wrote %s: %lld original%s + %d x %lld cop%s = %lld images of %dx%dx%d %s (%s)\n",
                o.out, c.N, c.N == 1 ? "" : "s", o.copies, c.N, c.N == 1 ? "y" : "ies", (long long)(o.copies + 1) * c.N,
                c.C, c.H, c.W,
                corpus_dtype_name(c.dtype), canon);
    }
    corpus_close(&c);
    return rc ? cli_report("augment", rc) : 0;
}
