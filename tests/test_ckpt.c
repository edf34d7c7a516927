/* test_ckpt — checkpoint round trips (parameters, BN buffers, SGD and AdamW
 * state, training state), encoder-only loading into another head, clear
 * errors for mismatched shapes, wrong files and truncation, atomic writing;
 * checksums: every dataset written is fletcher32-filtered in a checksummed
 * file format, a flipped bit in data or metadata is refused with "checksum
 * mismatch", a checkpoint without checksums (the older format) still loads. */
#include "medssl/ckpt.h"
#include "medssl/common.h"
#include "medssl/corpus.h"
#include "medssl/model.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char DIR_[256];

static const char *tmp(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", DIR_, name);
    return buf[k];
}

static void build(ms_model *m, const char *text, uint64_t seed)
{
    ms_model_spec spec;
    CHECK(model_spec_parse(&spec, text) == 0);
    model_build(m, &spec);
    model_init_weights(m, seed);
    /* make every array distinguishable */
    for (size_t i = 0; i < m->slab.n; i++) {
        m->slab.mom1[i] = (float)i * 0.5f + (float)seed;
        m->slab.mom2[i] = (float)i * 0.25f + (float)seed;
    }
}

static const char *SPEC = "encoder:in=1,widths=4-8,convs=1;head:linear,classes=3";

static void test_round_trip(void)
{
    for (int kind = 0; kind < OPT__COUNT; kind++) {
        ms_model a, b;
        build(&a, SPEC, 1);
        build(&b, SPEC, 2);
        ms_tensor *rv = slab_find(&a.slab, "encoder.stage1.bn0.running_var");
        a.slab.val[rv->offset + 3] = 7.25f; /* BN buffers travel too */
        ms_optim opt = kind == OPT_SGD ? optim_sgd(0.9f, 1, 5e-4f) : optim_adamw(0.9f, 0.999f, 1e-8f, 0.01f);
        opt.step = 42;
        ms_train_state st = { .epoch = 3, .step = 420, .samples_seen = 13440, .seed = 99, .rng_position = 12345,
                              .best_metric = 0.75, .best_epoch = 2 };
        uint8_t perms[3 * 9];
        for (int i = 0; i < 27; i++) perms[i] = (uint8_t)((i * 5 + kind) % 9);
        ms_ckpt_meta meta = { SPEC, "rotation", "medssl pretrain --task rotation", perms, 3, NULL, "1x8x8" };
        const char *path = tmp("rt.h5");
        TU_CHECK(ckpt_save(path, &a.slab, &opt, &st, &meta) == 0);
        char spec[256], task[64];
        TU_CHECK(ckpt_read_meta(path, spec, sizeof spec, task, sizeof task) == 0);
        TU_CHECK(strcmp(spec, SPEC) == 0 && strcmp(task, "rotation") == 0);
        ms_optim opt2 = optim_sgd(0, 0, 0);
        ms_train_state st2 = { 0 };
        int ignored = -1;
        TU_CHECK(ckpt_load(path, &b.slab, "", &opt2, &st2, &ignored) == 0);
        TU_CHECK(ignored == 0);
        TU_CHECK(memcmp(a.slab.val, b.slab.val, a.slab.n * sizeof(float)) == 0);
        int mom_same = 1;
        for (int t = 0; t < a.slab.n_tensors; t++) {
            const ms_tensor *tn = &a.slab.t[t];
            if (tn->flags & SLAB_BUFFER) continue;
            mom_same &= memcmp(a.slab.mom1 + tn->offset, b.slab.mom1 + tn->offset, tn->size * sizeof(float)) == 0;
            if (kind == OPT_ADAMW)
                mom_same &= memcmp(a.slab.mom2 + tn->offset, b.slab.mom2 + tn->offset, tn->size * sizeof(float)) == 0;
        }
        TU_CHECK(mom_same);
        TU_CHECK(opt2.kind == opt.kind && opt2.step == 42 && opt2.momentum == opt.momentum &&
                 opt2.nesterov == opt.nesterov && opt2.weight_decay == opt.weight_decay && opt2.beta2 == opt.beta2);
        TU_CHECK(st2.epoch == 3 && st2.step == 420 && st2.samples_seen == 13440 && st2.seed == 99 &&
                 st2.rng_position == 12345 && st2.best_metric == 0.75 && st2.best_epoch == 2);
        uint8_t back[10 * 9];
        int P = -1;
        TU_CHECK(ckpt_read_permutations(path, back, 10, &P) == 0 && P == 3 && memcmp(back, perms, sizeof perms) == 0);
        TU_CHECK(ckpt_read_permutations(path, back, 2, &P) == MS_ERR_INPUT); /* more rows than the caller holds */
        TU_CHECK(access(path, F_OK) == 0);
        /* no temporary file left next to it */
        char tmpname[600];
        snprintf(tmpname, sizeof tmpname, "%s.tmp.%ld", path, (long)getpid());
        TU_CHECK(access(tmpname, F_OK) != 0);
        model_free(&a);
        model_free(&b);
    }
}

static void test_names_and_shapes_in_file(void)
{
    ms_model a;
    build(&a, SPEC, 1);
    const char *path = tmp("names.h5");
    TU_CHECK(ckpt_save(path, &a.slab, NULL, NULL, NULL) == 0);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "/params/encoder.stage1.conv0.weight", H5P_DEFAULT);
    TU_CHECK(d >= 0);
    if (d >= 0) {
        hid_t sp = H5Dget_space(d);
        hsize_t dims[4];
        TU_CHECK(H5Sget_simple_extent_ndims(sp) == 4);
        H5Sget_simple_extent_dims(sp, dims, NULL);
        TU_CHECK(dims[0] == 8 && dims[1] == 4 && dims[2] == 3 && dims[3] == 3); /* [O, I, kH, kW] */
        H5Sclose(sp);
        H5Dclose(d);
    }
    TU_CHECK(H5Lexists(f, "/params/head.fc.weight", H5P_DEFAULT) > 0);
    TU_CHECK(H5Lexists(f, "/optim", H5P_DEFAULT) <= 0); /* saved without optimizer */
    H5Fclose(f);
    /* resuming needs the optimizer state: a clear error */
    ms_optim opt = optim_sgd(0.9f, 0, 0);
    TU_CHECK(ckpt_load(path, &a.slab, "", &opt, NULL, NULL) == MS_ERR_INPUT && strstr(ms_last_error(), "/optim"));
    model_free(&a);
}

static void test_encoder_into_other_head_and_mismatch(void)
{
    ms_model pre, fine, other;
    build(&pre, "encoder:in=1,widths=4-8,convs=1;head:linear,classes=4", 1);  /* rotation head */
    build(&fine, "encoder:in=1,widths=4-8,convs=1;head:mlp,classes=10,hidden=16", 2);
    build(&other, "encoder:in=1,widths=4-16,convs=1;head:linear,classes=4", 3);
    const char *path = tmp("pre.h5");
    TU_CHECK(ckpt_save(path, &pre.slab, NULL, NULL, NULL) == 0);
    float *head_before = ms_malloc(fine.slab.n * sizeof(float));
    memcpy(head_before, fine.slab.val, fine.slab.n * sizeof(float));
    int ignored = -1;
    TU_CHECK(ckpt_load(path, &fine.slab, "encoder.", NULL, NULL, &ignored) == 0);
    TU_CHECK(ignored == 2); /* head.fc.weight and head.fc.bias of the pretext head */
    for (int t = 0; t < fine.slab.n_tensors; t++) {
        const ms_tensor *tn = &fine.slab.t[t];
        if (strncmp(tn->name, "encoder.", 8) == 0) {
            ms_tensor *src = slab_find(&pre.slab, tn->name);
            TU_CHECK(memcmp(fine.slab.val + tn->offset, pre.slab.val + src->offset, tn->size * sizeof(float)) == 0);
        } else {
            TU_CHECK(memcmp(fine.slab.val + tn->offset, head_before + tn->offset, tn->size * sizeof(float)) == 0);
        }
    }
    /* a wider encoder: the message names the tensors and both shapes */
    TU_CHECK(ckpt_load(path, &other.slab, "encoder.", NULL, NULL, NULL) == MS_ERR_INPUT);
    TU_CHECKF(strstr(ms_last_error(), "encoder.stage1.conv0.weight has shape 8x4x3x3, model needs 16x4x3x3"),
              "%s", ms_last_error());
    /* the head of another task is missing from the file */
    TU_CHECK(ckpt_load(path, &fine.slab, "", NULL, NULL, NULL) == MS_ERR_INPUT);
    TU_CHECKF(strstr(ms_last_error(), "head.fc0.weight missing"), "%s", ms_last_error());
    TU_CHECK(ckpt_load(path, &fine.slab, "decoder.", NULL, NULL, NULL) == MS_ERR_INPUT);
    free(head_before);
    model_free(&pre);
    model_free(&fine);
    model_free(&other);
}

/* H5Ovisit callback: every dataset of the file, checked for its checksum. */
typedef struct {
    int n_datasets, n_filtered, n_compact;
} visit_count;

static herr_t visit_dataset(hid_t root, const char *name, const H5O_info_t *info, void *ctx)
{
    visit_count *c = ctx;
    if (info->type != H5O_TYPE_DATASET) return 0;
    c->n_datasets++;
    hid_t ds = H5Dopen2(root, name, H5P_DEFAULT), dcpl = H5Dget_create_plist(ds), sp = H5Dget_space(ds);
    unsigned flags = 0, config = 0;
    size_t nvals = 0;
    char fname[32];
    const H5D_layout_t layout = H5Pget_layout(dcpl);
    if (layout == H5D_COMPACT && H5Sget_simple_extent_npoints(sp) <= 1) c->n_compact++; /* scalar or empty */
    if (layout == H5D_CHUNKED &&
        H5Pget_filter_by_id2(dcpl, H5Z_FILTER_FLETCHER32, &flags, &nvals, NULL, sizeof fname, fname, &config) >= 0) {
        /* one chunk: the whole tensor */
        hsize_t dims[8], chunk[8];
        const int nd = H5Sget_simple_extent_dims(sp, dims, NULL);
        int whole = nd > 0 && H5Pget_chunk(dcpl, 8, chunk) == nd;
        for (int d = 0; whole && d < nd; d++) whole = chunk[d] == dims[d];
        c->n_filtered += whole;
        if (!whole) fprintf(stderr, "  %s: not one chunk\n", name);
    } else if (layout != H5D_COMPACT) {
        fprintf(stderr, "  %s: no fletcher32 filter\n", name);
    }
    H5Sclose(sp);
    H5Pclose(dcpl);
    H5Dclose(ds);
    return 0;
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static void flip_bit(const char *from, const char *to, long pos, int bit)
{
    FILE *in = fopen(from, "rb");
    const long n = file_size(from);
    CHECK(in && n > 0 && pos < n);
    unsigned char *b = ms_malloc((size_t)n);
    CHECK(fread(b, 1, (size_t)n, in) == (size_t)n);
    fclose(in);
    b[pos] ^= (unsigned char)(1u << bit);
    FILE *out = fopen(to, "wb");
    CHECK(out && fwrite(b, 1, (size_t)n, out) == (size_t)n);
    fclose(out);
    free(b);
}

/* The file offset of the data of dataset `name` (one chunk). */
static long data_offset(const char *path, const char *name)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), ds = H5Dopen2(f, name, H5P_DEFAULT);
    hsize_t offset[8] = { 0 }, nchunks = 0;
    haddr_t addr = HADDR_UNDEF;
    unsigned mask = 0;
    hsize_t size = 0;
    hid_t sp = H5Dget_space(ds);
    CHECK(H5Dget_num_chunks(ds, sp, &nchunks) >= 0 && nchunks == 1);
    CHECK(H5Dget_chunk_info(ds, sp, 0, offset, &mask, &addr, &size) >= 0 && mask == 0);
    H5Sclose(sp);
    H5Dclose(ds);
    H5Fclose(f);
    return (long)addr;
}

/* Byte offset of the first occurrence of text in the file, -1 if none. */
static long find_text(const char *path, const char *text)
{
    const long n = file_size(path);
    FILE *in = fopen(path, "rb");
    char *b = ms_malloc((size_t)n);
    CHECK(in && fread(b, 1, (size_t)n, in) == (size_t)n);
    fclose(in);
    long at = -1;
    for (long i = 0; at < 0 && i + (long)strlen(text) <= n; i++)
        if (memcmp(b + i, text, strlen(text)) == 0) at = i;
    free(b);
    return at;
}

static void test_checksums_in_file(void)
{
    ms_model a, b;
    build(&a, SPEC, 1);
    build(&b, SPEC, 2);
    ms_optim opt = optim_adamw(0.9f, 0.999f, 1e-8f, 0.01f);
    ms_train_state st = { .epoch = 1, .step = 10, .best_metric = -INFINITY, .best_epoch = -1, .best_val_loss = INFINITY };
    uint8_t perms[2 * 9];
    for (int i = 0; i < 18; i++) perms[i] = (uint8_t)(i % 9);
    ms_ckpt_meta meta = { SPEC, "rotation", "medssl pretrain", perms, 2, NULL, "1x8x8" };
    const char *path = tmp("sum.h5"), *bad = tmp("sum-flipped.h5");
    TU_CHECK(ckpt_save(path, &a.slab, &opt, &st, &meta) == 0);

    /* every dataset (params, both moments, permutations) is one fletcher32 chunk */
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    TU_CHECK(f >= 0);
    H5F_info2_t finfo;
    TU_CHECK(H5Fget_info2(f, &finfo) >= 0 && finfo.super.version >= 2); /* a checksummed superblock */
    visit_count c = { 0, 0, 0 };
    TU_CHECK(H5Ovisit(f, H5_INDEX_NAME, H5_ITER_NATIVE, visit_dataset, &c) >= 0);
    size_t n_trainable = 0;
    for (int t = 0; t < a.slab.n_tensors; t++) n_trainable += !(a.slab.t[t].flags & SLAB_BUFFER);
    TU_CHECKF(c.n_datasets == a.slab.n_tensors + 2 * (int)n_trainable + 1 && c.n_filtered == c.n_datasets,
              "%d datasets, %d with fletcher32", c.n_datasets, c.n_filtered);
    /* every object header is version 2 (with a checksum): attributes live there */
    H5O_info_t oinfo;
    TU_CHECK(H5Oget_info_by_name2(f, "/", &oinfo, H5O_INFO_HDR, H5P_DEFAULT) >= 0 && oinfo.hdr.version == 2);
    TU_CHECK(H5Oget_info_by_name2(f, "/params/head.fc.weight", &oinfo, H5O_INFO_HDR, H5P_DEFAULT) >= 0 &&
             oinfo.hdr.version == 2);
    H5Fclose(f);

    /* a flipped bit in a tensor's data: refused, naming the dataset */
    const long at = data_offset(path, "/params/encoder.stage1.conv0.weight");
    for (int bit = 0; bit < 8; bit += 3) {
        flip_bit(path, bad, at + 37, bit);
        TU_CHECK(ckpt_load(bad, &b.slab, "", NULL, NULL, NULL) == MS_ERR_INPUT);
        TU_CHECKF(strstr(ms_last_error(), "checksum mismatch in dataset /params/encoder.stage1.conv0.weight (the file is "
                                          "corrupt)"), "%s", ms_last_error());
    }
    /* ... in an optimizer moment: loading the weights alone works, resuming does not */
    flip_bit(path, bad, data_offset(path, "/optim/mom2/head.fc.bias") + 5, 6);
    TU_CHECK(ckpt_load(bad, &b.slab, "", NULL, NULL, NULL) == 0);
    ms_optim opt2 = optim_sgd(0, 0, 0);
    ms_train_state st2;
    TU_CHECK(ckpt_load(bad, &b.slab, "", &opt2, &st2, NULL) == MS_ERR_INPUT);
    TU_CHECKF(strstr(ms_last_error(), "checksum mismatch in dataset /optim/mom2/head.fc.bias"), "%s", ms_last_error());
    /* ... in the permutations */
    flip_bit(path, bad, data_offset(path, "/pretext/permutations") + 3, 0);
    uint8_t back[9 * 9];
    int P = -1;
    TU_CHECK(ckpt_read_permutations(bad, back, 9, &P) == MS_ERR_INPUT && P == 0);
    TU_CHECKF(strstr(ms_last_error(), "checksum mismatch in dataset /pretext/permutations"), "%s", ms_last_error());
    /* ... in an attribute (the model spec, in the root group's object header) */
    const long spec_at = find_text(path, "widths=4-8");
    TU_CHECK(spec_at > 0);
    flip_bit(path, bad, spec_at + 7, 0); /* widths=4-9 */
    char spec[256];
    TU_CHECK(ckpt_read_meta(bad, spec, sizeof spec, NULL, 0) == MS_ERR_INPUT);
    TU_CHECKF(strstr(ms_last_error(), "checksum mismatch in the attributes of / (the file is corrupt)"), "%s",
              ms_last_error());
    /* ... in the superblock (its end-of-file address) */
    flip_bit(path, bad, 30, 1);
    TU_CHECK(ckpt_read_meta(bad, spec, sizeof spec, NULL, 0) == MS_ERR_INPUT);
    TU_CHECKF(strstr(ms_last_error(), "checksum mismatch in the superblock or root group"), "%s", ms_last_error());
    /* the unflipped file loads */
    TU_CHECK(ckpt_load(path, &b.slab, "", &opt2, &st2, NULL) == 0);
    TU_CHECK(memcmp(a.slab.val, b.slab.val, a.slab.n * sizeof(float)) == 0);
    model_free(&a);
    model_free(&b);
}

/* Tensors the models never have: a scalar (no dimensions) and an empty one
 * cannot be chunked; they are compact (inside the object header, under its
 * checksum) and round-trip. */
static void test_scalar_and_empty_tensors(void)
{
    ms_tensor t[3] = { { .name = "w", .offset = 0, .size = 3, .ndim = 1, .shape = { 3 } },
                       { .name = "scalar", .offset = 3, .size = 1, .ndim = 0 },
                       { .name = "empty", .offset = 4, .size = 0, .ndim = 2, .shape = { 0, 5 } } };
    float val[4] = { 1.5f, -2, 3, 42 }, back[4] = { 0 };
    ms_slab s = { .t = t, .n_tensors = 3, .cap = 3, .n = 4, .val = val };
    const char *path = tmp("odd.h5"), *bad = tmp("odd-flipped.h5");
    TU_CHECK(ckpt_save(path, &s, NULL, NULL, NULL) == 0);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    visit_count c = { 0, 0, 0 };
    TU_CHECK(H5Ovisit(f, H5_INDEX_NAME, H5_ITER_NATIVE, visit_dataset, &c) >= 0);
    TU_CHECKF(c.n_datasets == 3 && c.n_filtered == 1 && c.n_compact == 2, "%d datasets, %d filtered, %d compact",
              c.n_datasets, c.n_filtered, c.n_compact);
    H5Fclose(f);
    s.val = back;
    TU_CHECK(ckpt_load(path, &s, "", NULL, NULL, NULL) == 0);
    TU_CHECK(memcmp(val, back, sizeof val) == 0);
    /* the scalar's value (42.0f = 00 00 28 42) sits in its object header: a flip is a checksum mismatch */
    const long n = file_size(path);
    FILE *in = fopen(path, "rb");
    unsigned char *b = ms_malloc((size_t)n);
    CHECK(in && fread(b, 1, (size_t)n, in) == (size_t)n);
    fclose(in);
    long at = -1;
    for (long i = 0; at < 0 && i + 4 <= n; i++)
        if (memcmp(b + i, &val[3], 4) == 0) at = i;
    free(b);
    TU_CHECK(at > 0);
    flip_bit(path, bad, at + 2, 0);
    TU_CHECK(ckpt_load(bad, &s, "", NULL, NULL, NULL) == MS_ERR_INPUT);
    TU_CHECKF(strstr(ms_last_error(), "checksum mismatch in dataset /params/scalar"), "%s", ms_last_error());
}

/* A checkpoint as medssl wrote it before checksums (and as h5py writes by
 * default): the earliest file format, contiguous datasets without filters. */
static void test_old_checkpoint_without_checksums(void)
{
    ms_model a, b;
    build(&a, SPEC, 1);
    build(&b, SPEC, 2);
    const char *path = tmp("old.h5");
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    const char *attrs[3][2] = { { "format", CKPT_FORMAT }, { "model_spec", SPEC }, { "task", "rotation" } };
    hid_t scalar = H5Screate(H5S_SCALAR);
    for (int i = 0; i < 3; i++) {
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, strlen(attrs[i][1]) + 1);
        hid_t at = H5Acreate2(f, attrs[i][0], t, scalar, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(at, t, attrs[i][1]);
        H5Aclose(at);
        H5Tclose(t);
    }
    const long long version = CKPT_VERSION;
    hid_t at = H5Acreate2(f, "version", H5T_STD_I64LE, scalar, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(at, H5T_NATIVE_LLONG, &version);
    H5Aclose(at);
    H5Sclose(scalar);
    hid_t g = H5Gcreate2(f, "params", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    for (int i = 0; i < a.slab.n_tensors; i++) {
        const ms_tensor *t = &a.slab.t[i];
        hsize_t dims[4];
        for (int d = 0; d < t->ndim; d++) dims[d] = (hsize_t)t->shape[d];
        hid_t sp = H5Screate_simple(t->ndim, dims, NULL);
        hid_t ds = H5Dcreate2(g, t->name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        TU_CHECK(H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, a.slab.val + t->offset) >= 0);
        H5Dclose(ds);
        H5Sclose(sp);
    }
    H5Gclose(g);
    H5F_info2_t finfo;
    TU_CHECK(H5Fget_info2(f, &finfo) >= 0 && finfo.super.version == 0);
    H5Fclose(f);
    char spec[256];
    TU_CHECK(ckpt_read_meta(path, spec, sizeof spec, NULL, 0) == 0 && strcmp(spec, SPEC) == 0);
    TU_CHECKF(ckpt_load(path, &b.slab, "", NULL, NULL, NULL) == 0, "%s", ms_last_error());
    TU_CHECK(memcmp(a.slab.val, b.slab.val, a.slab.n * sizeof(float)) == 0);
    model_free(&a);
    model_free(&b);
}

static void test_bad_files(void)
{
    ms_model a;
    build(&a, SPEC, 1);
    TU_CHECK(ckpt_load(tmp("missing.h5"), &a.slab, "", NULL, NULL, NULL) == MS_ERR_INPUT &&
             strstr(ms_last_error(), "cannot read"));
    /* a corpus is not a checkpoint */
    ms_corpus_writer w;
    uint8_t px[4] = { 0 };
    const char *corpus = tmp("corpus.h5");
    CHECK(corpus_writer_create(&w, corpus, 1, 2, 2, DTYPE_U8, 0, 0, NULL) == 0);
    CHECK(corpus_writer_append(&w, 1, px, NULL, NULL, NULL) == 0);
    CHECK(corpus_writer_finish(&w) == 0);
    TU_CHECK(ckpt_load(corpus, &a.slab, "", NULL, NULL, NULL) == MS_ERR_INPUT &&
             strstr(ms_last_error(), "not a medssl checkpoint"));
    /* truncated */
    const char *good = tmp("good.h5"), *cut = tmp("cut.h5");
    CHECK(ckpt_save(good, &a.slab, NULL, NULL, NULL) == 0);
    FILE *in = fopen(good, "rb"), *out = fopen(cut, "wb");
    char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, in);
    fwrite(buf, 1, n / 3, out);
    fclose(in);
    fclose(out);
    TU_CHECK(ckpt_load(cut, &a.slab, "", NULL, NULL, NULL) == MS_ERR_INPUT);
    /* an unwritable place fails cleanly */
    TU_CHECK(ckpt_save("/nonexistent-dir/x.h5", &a.slab, NULL, NULL, NULL) == MS_ERR_RUNTIME);
    model_free(&a);
}

int main(void)
{
    snprintf(DIR_, sizeof DIR_, "/tmp/medssl_test_ckpt.%ld", (long)getpid());
    CHECK(mkdir(DIR_, 0700) == 0);
    TU_RUN(test_round_trip);
    TU_RUN(test_names_and_shapes_in_file);
    TU_RUN(test_encoder_into_other_head_and_mismatch);
    TU_RUN(test_checksums_in_file);
    TU_RUN(test_scalar_and_empty_tensors);
    TU_RUN(test_old_checkpoint_without_checksums);
    TU_RUN(test_bad_files);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", DIR_);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", DIR_);
    return tu_summary();
}
