/* test_corpus — corpus write/read round trips, atomic writing, and every kind of
 * broken corpus (crafted with the HDF5 API) rejected with MS_ERR_INPUT and a
 * message naming the file and dataset; IDX reading; stratified label subsets
 * (resizing: test_resample.c). */
#include "medssl/common.h"
#include "medssl/corpus.h"
#include "medssl/idx.h"
#include "medssl/label_subset.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char DIR_[256];

static const char *tmp(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", DIR_, name);
    return buf[k];
}

static void test_round_trip_u8_all_datasets(void)
{
    const int N = 37, C = 2, H = 5, W = 3; /* N not a multiple of anything */
    uint8_t *img = ms_malloc((size_t)N * C * H * W), *msk = ms_malloc((size_t)N * H * W);
    int32_t lab[37], dom[37];
    for (size_t i = 0; i < (size_t)N * C * H * W; i++) img[i] = (uint8_t)(i * 7);
    for (size_t i = 0; i < (size_t)N * H * W; i++) msk[i] = (uint8_t)(i % 3 == 0 ? 255 : i % 2);
    for (int i = 0; i < N; i++) { lab[i] = i % 4 - 1; dom[i] = i % 2; }
    ms_corpus_writer w;
    const char *path = tmp("rt.h5");
    TU_CHECK(corpus_writer_create(&w, path, C, H, W, DTYPE_U8, CORPUS_WITH_LABELS | CORPUS_WITH_MASKS | CORPUS_WITH_DOMAINS,
                                  1, "a,b,c") == 0);
    TU_CHECK(access(path, F_OK) != 0); /* nothing under the final name until finish */
    TU_CHECK(corpus_writer_append(&w, 20, img, lab, msk, dom) == 0);
    TU_CHECK(corpus_writer_append(&w, 17, img + 20 * C * H * W, lab + 20, msk + 20 * H * W, dom + 20) == 0);
    TU_CHECK(corpus_writer_finish(&w) == 0);
    TU_CHECK(access(w.tmp_path, F_OK) != 0);

    ms_corpus c;
    int rc = corpus_open(&c, path, NULL);
    TU_CHECKF(rc == 0, "%s", ms_last_error());
    if (rc) return;
    TU_CHECK(c.N == N && c.C == C && c.H == H && c.W == W && c.dtype == DTYPE_U8 && c.n_classes == 3);
    TU_CHECK(corpus_has_labels(&c) && corpus_has_masks(&c) && corpus_has_domains(&c));
    float *f = ms_malloc((size_t)N * C * H * W * sizeof(float));
    uint8_t *m2 = ms_malloc((size_t)N * H * W);
    int32_t l2[37], d2[37];
    TU_CHECK(corpus_read(&c, 0, N, f, l2, m2, d2) == 0);
    int same = 1;
    for (size_t i = 0; i < (size_t)N * C * H * W; i++) same &= f[i] == (float)img[i] * (1.0f / 255.0f);
    TU_CHECK(same);
    TU_CHECK(memcmp(l2, lab, sizeof lab) == 0 && memcmp(d2, dom, sizeof dom) == 0);
    TU_CHECK(memcmp(m2, msk, (size_t)N * H * W) == 0);
    /* a range in the middle */
    TU_CHECK(corpus_read(&c, 13, 5, f, l2, NULL, NULL) == 0);
    TU_CHECK(f[0] == (float)img[13 * C * H * W] / 255.0f && l2[0] == lab[13]);
    corpus_close(&c);
    free(img); free(msk); free(f); free(m2);
}

static void test_round_trip_f32_and_nan(void)
{
    const int N = 3, H = 4, W = 4;
    float img[3 * 16];
    for (int i = 0; i < N * H * W; i++) img[i] = -100.5f + i;
    ms_corpus_writer w;
    const char *path = tmp("f32.h5");
    TU_CHECK(corpus_writer_create(&w, path, 1, H, W, DTYPE_F32, 0, 0, NULL) == 0);
    TU_CHECK(corpus_writer_append(&w, N, img, NULL, NULL, NULL) == 0);
    img[5] = NAN; /* the writer refuses non-finite values */
    TU_CHECK(corpus_writer_append(&w, N, img, NULL, NULL, NULL) == MS_ERR_INPUT);
    TU_CHECK(strstr(ms_last_error(), "non-finite") != NULL);
    TU_CHECK(corpus_writer_finish(&w) == 0);
    ms_corpus c;
    TU_CHECK(corpus_open(&c, path, NULL) == 0);
    float out[48];
    TU_CHECK(c.N == N && c.dtype == DTYPE_F32 && !corpus_has_labels(&c) && c.n_classes == 0);
    TU_CHECK(corpus_read(&c, 0, N, out, NULL, NULL, NULL) == 0);
    TU_CHECK(out[0] == -100.5f && out[47] == -53.5f);
    corpus_close(&c);
}

static void test_abort_leaves_nothing(void)
{
    ms_corpus_writer w;
    const char *path = tmp("aborted.h5");
    uint8_t img[4] = { 1, 2, 3, 4 };
    TU_CHECK(corpus_writer_create(&w, path, 1, 2, 2, DTYPE_U8, 0, 0, NULL) == 0);
    TU_CHECK(corpus_writer_append(&w, 1, img, NULL, NULL, NULL) == 0);
    corpus_writer_abort(&w);
    TU_CHECK(access(path, F_OK) != 0 && access(w.tmp_path, F_OK) != 0);
    /* finishing an empty corpus is an error and leaves nothing either */
    TU_CHECK(corpus_writer_create(&w, path, 1, 2, 2, DTYPE_U8, 0, 0, NULL) == 0);
    TU_CHECK(corpus_writer_finish(&w) == MS_ERR_INPUT);
    TU_CHECK(access(path, F_OK) != 0 && access(w.tmp_path, F_OK) != 0);
}

/* ---- broken corpora, written with the raw HDF5 API ------------------------------- */

static void attr_str(hid_t f, const char *name, const char *v)
{
    hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR);
    H5Tset_size(t, strlen(v) + 1);
    hid_t a = H5Acreate2(f, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, v);
    H5Aclose(a); H5Sclose(sp); H5Tclose(t);
}

static void attr_int(hid_t f, const char *name, int v)
{
    hid_t sp = H5Screate(H5S_SCALAR), a = H5Acreate2(f, name, H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_INT, &v);
    H5Aclose(a); H5Sclose(sp);
}

/* A dataset of `rank` dims of type `type`, filled with `fill` bytes (or floats). */
static void dset(hid_t f, const char *name, hid_t type, int rank, const hsize_t *dims, const void *data)
{
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (data) H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    H5Dclose(d); H5Sclose(sp);
}

typedef enum {
    B_NO_IMAGES, B_RANK3, B_INT16, B_LABELS_LEN, B_LABELS_RANGE, B_LABELS_FLOAT, B_ZERO_N, B_HUGE_C, B_FORMAT,
    B_VERSION, B_MASK_SHAPE, B_DOMAINS_NEG, B_NAN, B__COUNT
} breakage;

static const struct { const char *name, *expect; } BREAK[B__COUNT] = {
    [B_NO_IMAGES] = { "missing /images", "/images" },
    [B_RANK3] = { "images of rank 3", "rank 3" },
    [B_INT16] = { "int16 images", "uint8 or float32" },
    [B_LABELS_LEN] = { "labels length mismatch", "/labels has 3 entries for 4" },
    [B_LABELS_RANGE] = { "label beyond class_names", "/labels[2]" },
    [B_LABELS_FLOAT] = { "float labels", "/labels has the wrong element type" },
    [B_ZERO_N] = { "zero images", "no images" },
    [B_HUGE_C] = { "absurd channel count", "C must be" },
    [B_FORMAT] = { "wrong format attribute", "not a medssl corpus" },
    [B_VERSION] = { "version 2", "version 2" },
    [B_MASK_SHAPE] = { "masks of the wrong size", "/masks has shape" },
    [B_DOMAINS_NEG] = { "negative domain", "/domains[1]" },
    [B_NAN] = { "NaN pixel", "non-finite" },
};

static void write_broken(const char *path, breakage b)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    attr_str(f, "format", b == B_FORMAT ? "something-else" : CORPUS_FORMAT);
    attr_int(f, "version", b == B_VERSION ? 2 : 1);
    attr_str(f, "class_names", "x,y");
    uint8_t px[4 * 2 * 2] = { 0 };
    float fpx[4 * 2 * 2] = { 0 };
    fpx[7] = NAN;
    int32_t labels[4] = { 0, 1, b == B_LABELS_RANGE ? 5 : 1, -1 }, domains[4] = { 0, b == B_DOMAINS_NEG ? -3 : 1, 0, 0 };
    float flabels[4] = { 0 };
    hsize_t img4[4] = { b == B_ZERO_N ? 0 : 4, b == B_HUGE_C ? 100000 : 1, 2, 2 }, img3[3] = { 4, 2, 2 };
    if (b == B_RANK3) dset(f, "images", H5T_STD_U8LE, 3, img3, px);
    else if (b == B_INT16) dset(f, "images", H5T_STD_I16LE, 4, img4, NULL);
    else if (b == B_NAN) dset(f, "images", H5T_IEEE_F32LE, 4, img4, fpx);
    else if (b == B_HUGE_C) dset(f, "images", H5T_STD_U8LE, 4, img4, NULL);
    else if (b != B_NO_IMAGES) dset(f, "images", H5T_STD_U8LE, 4, img4, b == B_ZERO_N ? NULL : px);
    hsize_t n_lab[1] = { b == B_LABELS_LEN ? 3 : 4 };
    if (b == B_LABELS_FLOAT) dset(f, "labels", H5T_IEEE_F32LE, 1, n_lab, flabels);
    else dset(f, "labels", H5T_STD_I32LE, 1, n_lab, labels);
    hsize_t n4[1] = { 4 }, mask3[3] = { 4, 2, b == B_MASK_SHAPE ? 3 : 2 };
    dset(f, "domains", H5T_STD_I32LE, 1, n4, domains);
    dset(f, "masks", H5T_STD_U8LE, 3, mask3, NULL);
    H5Fclose(f);
}

static void test_broken_corpora(void)
{
    for (int b = 0; b < B__COUNT; b++) {
        const char *path = tmp("broken.h5");
        write_broken(path, (breakage)b);
        ms_corpus c;
        ms_clear_error();
        int rc = corpus_open(&c, path, NULL);
        if (rc == 0 && b == B_NAN) { /* structure is fine: the pixel check happens on read */
            float out[16];
            rc = corpus_read(&c, 0, 4, out, NULL, NULL, NULL);
            corpus_close(&c);
        } else if (rc == 0) {
            corpus_close(&c);
        }
        TU_CHECKF(rc == MS_ERR_INPUT, "%s: rc %d", BREAK[b].name, rc);
        TU_CHECKF(strstr(ms_last_error(), BREAK[b].expect) != NULL && strstr(ms_last_error(), path) != NULL,
                  "%s: message '%s' lacks '%s' or the path", BREAK[b].name, ms_last_error(), BREAK[b].expect);
    }
}

static void test_not_hdf5_truncated_missing(void)
{
    ms_corpus c;
    const char *text = tmp("text.h5");
    FILE *f = fopen(text, "w");
    fputs("this is not HDF5\n", f);
    fclose(f);
    TU_CHECK(corpus_open(&c, text, NULL) == MS_ERR_INPUT && strstr(ms_last_error(), "not an HDF5 file"));
    TU_CHECK(corpus_open(&c, tmp("does-not-exist.h5"), NULL) == MS_ERR_INPUT && strstr(ms_last_error(), "cannot read"));
    /* a valid corpus cut in half */
    const char *good = tmp("rt.h5"), *cut = tmp("cut.h5");
    FILE *in = fopen(good, "rb"), *out = fopen(cut, "wb");
    CHECK(in && out);
    fseek(in, 0, SEEK_END);
    long size = ftell(in);
    fseek(in, 0, SEEK_SET);
    char *buf = ms_malloc((size_t)size);
    CHECK(fread(buf, 1, (size_t)size, in) == (size_t)size);
    fwrite(buf, 1, (size_t)size / 2, out);
    fclose(in);
    fclose(out);
    free(buf);
    int rc = corpus_open(&c, cut, NULL);
    if (rc == 0) { /* the header may survive; then the data read must fail cleanly */
        float *img = ms_malloc((size_t)c.N * c.C * c.H * c.W * sizeof(float));
        rc = corpus_read(&c, 0, c.N, img, NULL, NULL, NULL);
        free(img);
        corpus_close(&c);
    }
    TU_CHECKF(rc == MS_ERR_INPUT, "truncated corpus: rc %d (%s)", rc, ms_last_error());
}

/* What h5py writes by default: variable-length UTF-8 string attributes, an int64
 * version and int64 labels, a contiguous /images. */
static void test_h5py_style_file(void)
{
    const char *path = tmp("h5py.h5");
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    const char *fmt = CORPUS_FORMAT, *names = "lesion,healthy";
    hid_t a = H5Acreate2(f, "format", t, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, &fmt);
    H5Aclose(a);
    a = H5Acreate2(f, "class_names", t, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, &names);
    H5Aclose(a);
    long long version = 1, labels[3] = { 1, -1, 0 };
    a = H5Acreate2(f, "version", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_LLONG, &version);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    uint8_t px[3 * 4] = { 0, 51, 102, 255 };
    hsize_t img[4] = { 3, 1, 2, 2 }, n[1] = { 3 };
    dset(f, "images", H5T_STD_U8LE, 4, img, px);
    hid_t s1 = H5Screate_simple(1, n, NULL);
    hid_t d = H5Dcreate2(f, "labels", H5T_STD_I64LE, s1, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels);
    H5Dclose(d);
    H5Sclose(s1);
    H5Fclose(f);
    ms_corpus c;
    int rc = corpus_open(&c, path, NULL);
    TU_CHECKF(rc == 0, "%s", ms_last_error());
    if (rc) return;
    TU_CHECK(!c.chunked && c.n_classes == 2 && strcmp(c.class_names, "lesion,healthy") == 0);
    float out[12];
    int32_t lab[3];
    TU_CHECK(corpus_read(&c, 0, 3, out, lab, NULL, NULL) == 0);
    TU_CHECK(lab[0] == 1 && lab[1] == -1 && lab[2] == 0 && out[3] == 1.0f);
    TU_CLOSE(out[1], 0.2, 1e-7, 0);
    corpus_close(&c);
}

/* ---- IDX, stratified labels ------------------------------------------------------ */

static void write_idx(const char *path, int gz, const uint8_t *head, size_t nhead, const uint8_t *body, size_t nbody)
{
    if (gz) {
        gzFile f = gzopen(path, "wb");
        gzwrite(f, head, (unsigned)nhead);
        if (nbody) gzwrite(f, body, (unsigned)nbody);
        gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        fwrite(head, 1, nhead, f);
        if (nbody) fwrite(body, 1, nbody, f);
        fclose(f);
    }
}

static void test_idx(void)
{
    uint8_t head[16] = { 0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 2 }; /* 2 images of 3x2 */
    uint8_t body[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
    uint8_t *img;
    int N, H, W;
    for (int gz = 0; gz < 2; gz++) {
        const char *p = tmp(gz ? "ok.idx.gz" : "ok.idx");
        write_idx(p, gz, head, 16, body, 12);
        TU_CHECK(idx_read_images(p, &img, &N, &H, &W) == 0 && N == 2 && H == 3 && W == 2 && img[11] == 12);
        free(img);
    }
    const char *p = tmp("bad.idx");
    write_idx(p, 1, head, 16, body, 11); /* one value short */
    TU_CHECK(idx_read_images(p, &img, &N, &H, &W) == MS_ERR_INPUT && strstr(ms_last_error(), "truncated"));
    write_idx(p, 1, head, 16, body, 12);
    uint8_t lab_head[8] = { 0, 0, 8, 1, 0, 0, 0, 2 };
    TU_CHECK(idx_read_labels(p, &img, &N) == MS_ERR_INPUT && strstr(ms_last_error(), "not an IDX label file"));
    write_idx(p, 0, head, 10, NULL, 0); /* header cut */
    TU_CHECK(idx_read_images(p, &img, &N, &H, &W) == MS_ERR_INPUT && strstr(ms_last_error(), "truncated IDX header"));
    uint8_t huge[16] = { 0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 28, 0, 0, 0, 28 };
    write_idx(p, 0, huge, 16, NULL, 0);
    TU_CHECK(idx_read_images(p, &img, &N, &H, &W) == MS_ERR_INPUT && strstr(ms_last_error(), "implausible"));
    write_idx(p, 0, lab_head, 8, body, 3); /* trailing data */
    TU_CHECK(idx_read_labels(p, &img, &N) == MS_ERR_INPUT && strstr(ms_last_error(), "more data"));
}

static void test_stratified_labels(void)
{
    enum { N = 1000, K = 4 };
    int32_t lab[N], lab2[N];
    for (int i = 0; i < N; i++) lab[i] = i < 100 ? 0 : (i % 3) + 1; /* class 0 is rare */
    memcpy(lab2, lab, sizeof lab);
    labels_keep_stratified(lab, N, K, 7, -1, 3);
    int count[K] = { 0 }, unl = 0;
    for (int i = 0; i < N; i++) {
        if (lab[i] < 0) unl++;
        else count[lab[i]]++;
    }
    TU_CHECK(count[0] == 7 && count[1] == 7 && count[2] == 7 && count[3] == 7 && unl == N - 28);
    int32_t lab3[N];
    memcpy(lab3, lab2, sizeof lab2);
    labels_keep_stratified(lab2, N, K, 7, -1, 3);
    TU_CHECK(memcmp(lab, lab2, sizeof lab) == 0); /* same seed, same subset */
    labels_keep_stratified(lab3, N, K, -1, 0.1, 3);
    memset(count, 0, sizeof count);
    for (int i = 0; i < N; i++) if (lab3[i] >= 0) count[lab3[i]]++;
    TU_CHECK(count[0] == 10 && count[1] == 30 && count[2] == 30 && count[3] == 30);
}

int main(void)
{
    snprintf(DIR_, sizeof DIR_, "/tmp/medssl_test_corpus.%ld", (long)getpid());
    CHECK(mkdir(DIR_, 0700) == 0);
    TU_RUN(test_round_trip_u8_all_datasets);
    TU_RUN(test_round_trip_f32_and_nan);
    TU_RUN(test_abort_leaves_nothing);
    TU_RUN(test_broken_corpora);
    TU_RUN(test_not_hdf5_truncated_missing);
    TU_RUN(test_h5py_style_file);
    TU_RUN(test_idx);
    TU_RUN(test_stratified_labels);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", DIR_);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", DIR_);
    return tu_summary();
}
