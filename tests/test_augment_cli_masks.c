/* test_augment_cli_masks — `medssl augment` (the binary, argv[1]) on corpora
 * the CLI alone cannot make: uint8 with masks, labels, domains and class
 * names, and float32, both written with small HDF5 chunks so the command
 * streams several blocks with a short last one. Every output sample must
 * equal augment_apply of its original with the key (seed, copy, index): the
 * mask moved with its image, labels and domains carried, uint8 rounded and
 * clamped, float32 bit-exact. A non-finite pixel in a later block (after
 * earlier blocks were written) must give exit 2 and leave no file.
 *
 * Dimension legend: N samples, K copies, C, H, W image size, P = C*H*W.
 */
#include "medssl/augment.h"
#include "medssl/common.h"
#include "medssl/corpus.h"
#include "medssl/rng.h"
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char DIR_[256];
static const char *MEDSSL;

static const char *tmp(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", DIR_, name);
    return buf[k];
}

/* Writes a corpus with the HDF5 API, /images chunked by `chunk` samples.
 * img (N,C,H,W) uint8 or float32 per dtype; lab, dom (N), msk (N,H,W) or NULL. */
static void write_raw(const char *path, ms_dtype dtype, int N, int C, int H, int W, int chunk, const void *img,
                      const int32_t *lab, const uint8_t *msk, const int32_t *dom, const char *class_names)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(f >= 0);
    hsize_t dims[4] = { (hsize_t)N, (hsize_t)C, (hsize_t)H, (hsize_t)W }, cdims[4] = { (hsize_t)chunk, (hsize_t)C, (hsize_t)H, (hsize_t)W };
    hid_t sp = H5Screate_simple(4, dims, NULL), pl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(pl, 4, cdims);
    hid_t ftype = dtype == DTYPE_U8 ? H5T_STD_U8LE : H5T_IEEE_F32LE, mtype = dtype == DTYPE_U8 ? H5T_NATIVE_UINT8 : H5T_NATIVE_FLOAT;
    hid_t d = H5Dcreate2(f, "images", ftype, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
    CHECK(d >= 0 && H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, img) >= 0);
    H5Dclose(d);
    H5Pclose(pl);
    H5Sclose(sp);
    hsize_t n1 = (hsize_t)N, mdims[3] = { (hsize_t)N, (hsize_t)H, (hsize_t)W };
    const struct { const char *name; int rank; const hsize_t *dims; hid_t ft, mt; const void *buf; } extra[] = {
        { "labels", 1, &n1, H5T_STD_I32LE, H5T_NATIVE_INT32, lab },
        { "masks", 3, mdims, H5T_STD_U8LE, H5T_NATIVE_UINT8, msk },
        { "domains", 1, &n1, H5T_STD_I32LE, H5T_NATIVE_INT32, dom },
    };
    for (size_t k = 0; k < sizeof extra / sizeof *extra; k++) {
        if (!extra[k].buf) continue;
        sp = H5Screate_simple(extra[k].rank, extra[k].dims, NULL);
        d = H5Dcreate2(f, extra[k].name, extra[k].ft, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        CHECK(d >= 0 && H5Dwrite(d, extra[k].mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, extra[k].buf) >= 0);
        H5Dclose(d);
        H5Sclose(sp);
    }
    const char *strs[2][2] = { { "format", CORPUS_FORMAT }, { "class_names", class_names } };
    for (int k = 0; k < 2; k++) {
        if (!strs[k][1]) continue;
        hid_t t = H5Tcopy(H5T_C_S1), s = H5Screate(H5S_SCALAR);
        H5Tset_size(t, strlen(strs[k][1]) + 1);
        hid_t a = H5Acreate2(f, strs[k][0], t, s, H5P_DEFAULT, H5P_DEFAULT);
        CHECK(a >= 0 && H5Awrite(a, t, strs[k][1]) >= 0);
        H5Aclose(a);
        H5Sclose(s);
        H5Tclose(t);
    }
    int version = CORPUS_VERSION;
    hid_t s = H5Screate(H5S_SCALAR), a = H5Acreate2(f, "version", H5T_STD_I32LE, s, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(a >= 0 && H5Awrite(a, H5T_NATIVE_INT, &version) >= 0);
    H5Aclose(a);
    H5Sclose(s);
    H5Fclose(f);
}

/* Runs `medssl augment <args>` (stderr to a log); returns the exit code. */
static int run_augment(const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' augment %s 2>>'%s/log.txt'", MEDSSL, args, DIR_);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Entries of DIR_ whose name contains ".tmp." */
static int tmp_files_left(void)
{
    DIR *d = opendir(DIR_);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += strstr(e->d_name, ".tmp.") != NULL;
    if (d) closedir(d);
    return n;
}

/* The reference rounding of an augmented [0,1] value to uint8. */
static uint8_t ref_u8(float x)
{
    float v = x * 255.0f;
    if (!(v > 0.0f)) return 0;
    if (v >= 255.0f) return 255;
    return (uint8_t)floorf(v + 0.5f);
}

static void test_u8_masks_labels_domains(void)
{
    enum { N = 10, C = 2, H = 9, W = 7, K = 2, P = C * H * W, HW = H * W };
    const uint64_t seed = 11;
    const char *ops = "flip:hv,rotate:30,shift:0.15,scale:0.8-1.2,elastic:3:2,noise:0.03,contrast:0.2";
    static uint8_t img[N * P], msk[N * HW];
    int32_t lab[N], dom[N];
    for (int i = 0; i < N; i++) {
        for (int c = 0; c < C; c++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) img[i * P + c * HW + y * W + x] = (uint8_t)(20 + 9 * x + 13 * y + 40 * c + 7 * i);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) msk[i * HW + y * W + x] = (uint8_t)(y == 0 ? 255 : (x < W / 2) + 2 * (y < H / 2));
        lab[i] = i == 3 ? -1 : i % 3;
        dom[i] = i % 2 + 5;
    }
    write_raw(tmp("u8.h5"), DTYPE_U8, N, C, H, W, 4, img, lab, msk, dom, "a,b,c");
    char args[1024];
    snprintf(args, sizeof args, "--in '%s' --out '%s' --copies %d --augment '%s' --seed %d", tmp("u8.h5"),
             tmp("u8_aug.h5"), K, ops, (int)seed);
    int rc = run_augment(args);
    TU_CHECKF(rc == 0, "exit %d", rc);
    if (rc) return;

    ms_corpus c;
    rc = corpus_open(&c, tmp("u8_aug.h5"), NULL);
    TU_CHECKF(rc == 0, "%s", ms_last_error());
    if (rc) return;
    TU_CHECK(c.N == (K + 1) * N && c.C == C && c.H == H && c.W == W && c.dtype == DTYPE_U8);
    TU_CHECK(strcmp(c.class_names, "a,b,c") == 0 && c.n_classes == 3);
    TU_CHECK(corpus_has_labels(&c) && corpus_has_masks(&c) && corpus_has_domains(&c));
    static float got[(K + 1) * N * P];
    static uint8_t got_msk[(K + 1) * N * HW];
    int32_t got_lab[(K + 1) * N], got_dom[(K + 1) * N];
    TU_CHECK(corpus_read(&c, 0, c.N, got, got_lab, got_msk, got_dom) == 0);
    corpus_close(&c);

    ms_augment aug;
    CHECK(augment_parse(&aug, ops) == 0);
    float *work = ms_malloc(augment_workspace_size(C, H, W) * sizeof(float));
    int img_bad = 0, msk_bad = 0, meta_bad = 0, masks_moved = 0, classes_bad = 0;
    for (int k = 0; k <= K; k++)
        for (int i = 0; i < N; i++) {
            float want[P];
            uint8_t want_msk[HW];
            for (int p = 0; p < P; p++) want[p] = img[i * P + p] * (1.0f / 255.0f);
            memcpy(want_msk, msk + i * HW, HW);
            if (k > 0) augment_apply(&aug, want, want_msk, C, H, W, rng_key(seed, (uint64_t)k, (uint64_t)i, RNG_AUGMENT), work);
            const int o = k * N + i;
            for (int p = 0; p < P; p++) img_bad += got[(size_t)o * P + p] != ref_u8(want[p]) * (1.0f / 255.0f);
            msk_bad += memcmp(got_msk + (size_t)o * HW, want_msk, HW) != 0;
            masks_moved += k > 0 && memcmp(got_msk + (size_t)o * HW, msk + i * HW, HW) != 0;
            for (int p = 0; p < HW; p++) classes_bad += got_msk[(size_t)o * HW + p] > 3 && got_msk[(size_t)o * HW + p] != 255;
            meta_bad += got_lab[o] != lab[i] || got_dom[o] != dom[i];
        }
    free(work);
    TU_CHECKF(img_bad == 0, "%d pixels differ from augment_apply", img_bad);
    TU_CHECKF(msk_bad == 0, "%d masks differ from augment_apply", msk_bad);
    TU_CHECKF(meta_bad == 0, "%d labels/domains not carried", meta_bad);
    TU_CHECKF(masks_moved >= K * N - 2, "only %d of %d augmented masks changed", masks_moved, K * N);
    TU_CHECKF(classes_bad == 0, "%d mask pixels hold a new class", classes_bad);
    TU_CHECK(tmp_files_left() == 0);
}

static void test_f32_exact(void)
{
    enum { N = 7, C = 1, H = 8, W = 8, K = 1, P = C * H * W };
    const uint64_t seed = 3;
    const char *ops = "rotate:45,noise:0.1,gamma:0.8-1.25@0.5";
    static float img[N * P];
    tu_fill_uniform(img, N * P, 42, -0.5f, 1.5f);
    write_raw(tmp("f32.h5"), DTYPE_F32, N, C, H, W, 3, img, NULL, NULL, NULL, NULL);
    char args[1024];
    snprintf(args, sizeof args, "--in '%s' --out '%s' --copies %d --augment '%s' --seed %d --gzip 3", tmp("f32.h5"),
             tmp("f32_aug.h5"), K, ops, (int)seed);
    int rc = run_augment(args);
    TU_CHECKF(rc == 0, "exit %d", rc);
    if (rc) return;
    ms_corpus c;
    rc = corpus_open(&c, tmp("f32_aug.h5"), NULL);
    TU_CHECKF(rc == 0, "%s", ms_last_error());
    if (rc) return;
    TU_CHECK(c.N == (K + 1) * N && c.dtype == DTYPE_F32 && c.class_names[0] == 0);
    TU_CHECK(!corpus_has_labels(&c) && !corpus_has_masks(&c) && !corpus_has_domains(&c));
    static float got[(K + 1) * N * P];
    TU_CHECK(corpus_read(&c, 0, c.N, got, NULL, NULL, NULL) == 0);
    corpus_close(&c);
    TU_CHECK(memcmp(got, img, sizeof img) == 0); /* originals bit-exact */
    ms_augment aug;
    CHECK(augment_parse(&aug, ops) == 0);
    float *work = ms_malloc(augment_workspace_size(C, H, W) * sizeof(float));
    int bad = 0, outside = 0;
    for (int i = 0; i < N; i++) {
        float want[P];
        memcpy(want, img + i * P, sizeof want);
        augment_apply(&aug, want, NULL, C, H, W, rng_key(seed, 1, (uint64_t)i, RNG_AUGMENT), work);
        bad += memcmp(got + (size_t)(N + i) * P, want, sizeof want) != 0;
        for (int p = 0; p < P; p++) outside += want[p] < 0 || want[p] > 1;
    }
    free(work);
    TU_CHECKF(bad == 0, "%d float32 copies differ from augment_apply", bad);
    TU_CHECK(outside > 0); /* float32 values are not clamped */
}

static void test_failure_after_some_blocks_leaves_nothing(void)
{
    enum { N = 9, P = 16 };
    static float img[N * P];
    tu_fill_uniform(img, N * P, 7, 0, 1);
    img[6 * P + 3] = NAN; /* sample 6: the fourth block of 2 */
    write_raw(tmp("nan.h5"), DTYPE_F32, N, 1, 4, 4, 2, img, NULL, NULL, NULL, NULL);
    char args[1024];
    snprintf(args, sizeof args, "--in '%s' --out '%s' --copies 2 --augment flip:h", tmp("nan.h5"), tmp("nan_aug.h5"));
    int rc = run_augment(args);
    TU_CHECKF(rc == 2, "exit %d, expected 2", rc);
    TU_CHECK(access(tmp("nan_aug.h5"), F_OK) != 0);
    TU_CHECK(tmp_files_left() == 0);
}

int main(int argc, char **argv)
{
    CHECKM(argc >= 2, "usage: test_augment_cli_masks MEDSSL_BINARY");
    MEDSSL = argv[1];
    snprintf(DIR_, sizeof DIR_, "/tmp/medssl_test_augment_cli.%ld", (long)getpid());
    CHECK(mkdir(DIR_, 0700) == 0);
    TU_RUN(test_u8_masks_labels_domains);
    TU_RUN(test_f32_exact);
    TU_RUN(test_failure_after_some_blocks_leaves_nothing);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cat '%s/log.txt' >&2; rm -rf '%s'", DIR_, DIR_);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", DIR_);
    return tu_summary();
}
