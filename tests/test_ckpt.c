/* test_ckpt — checkpoint round trips (parameters, BN buffers, SGD and AdamW
 * state, training state), encoder-only loading into another head, clear
 * errors for mismatched shapes, wrong files and truncation, atomic writing. */
#include "medssl/ckpt.h"
#include "medssl/common.h"
#include "medssl/corpus.h"
#include "medssl/model.h"
#include "testutil.h"

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
    TU_RUN(test_bad_files);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", DIR_);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", DIR_);
    return tu_summary();
}
