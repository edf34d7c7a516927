/* ckpt — write and read medssl-checkpoint files (see include/medssl/ckpt.h). */
#include "medssl/ckpt.h"
#include "medssl/common.h"
#include "medssl/corpus.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const opt_names[OPT__COUNT] = { "sgd", "adamw" };
_Static_assert(sizeof opt_names / sizeof *opt_names == OPT__COUNT, "optimizer names");

static int attr_write(hid_t obj, const char *name, hid_t file_type, hid_t mem_type, const void *v)
{
    hid_t sp = H5Screate(H5S_SCALAR), a = H5Acreate2(obj, name, file_type, sp, H5P_DEFAULT, H5P_DEFAULT);
    int ok = a >= 0 && H5Awrite(a, mem_type, v) >= 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return ok ? 0 : -1;
}

static int attr_write_str(hid_t obj, const char *name, const char *v)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(v) + 1);
    int rc = attr_write(obj, name, t, t, v);
    H5Tclose(t);
    return rc;
}

static int attr_write_i64(hid_t obj, const char *name, long long v)
{
    return attr_write(obj, name, H5T_STD_I64LE, H5T_NATIVE_LLONG, &v);
}

static int attr_write_f32(hid_t obj, const char *name, float v)
{
    return attr_write(obj, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, &v);
}

/* Test hook (tests/cli_crash.sh): MEDSSL_TEST_CRASH_IN_CKPT=N makes the
 * process SIGKILL itself at its N-th checkpoint-write event (each tensor
 * written, each rename about to happen), to test crashes inside a write. */
static void crash_point(void)
{
    static long target = -1, events;
    if (target < 0) {
        const char *e = getenv("MEDSSL_TEST_CRASH_IN_CKPT");
        target = e ? atol(e) : 0;
    }
    if (target > 0 && ++events == target) raise(SIGKILL);
}

/* Checksums (docs/checkpoint.md, "Checksums"). The file is in HDF5's 1.10
 * format (ckpt_save's libver bounds): superblock version 3, version-2 object
 * headers (attributes, links, dataset shapes and layouts live there), v2
 * B-trees, fractal heaps and chunk indexes all carry a checksum that HDF5
 * checks whenever it reads them. The data of every dataset with elements is
 * chunked with the fletcher32 filter, checked by every H5Dread (the default
 * error-detection setting); one chunk is the whole tensor unless it is above
 * CKPT_CHUNK_MAX bytes (HDF5 chunks stay below 4 GiB), then rows of the
 * leading dimensions are split off. A scalar or empty dataset cannot be
 * chunked: it is compact, its value (if any) inside its object header, under
 * that header's checksum. */
#define CKPT_CHUNK_MAX ((size_t)1 << 30)

static int write_dataset(hid_t group, const char *name, hid_t file_type, hid_t mem_type, int ndim, const hsize_t *dims,
                         const void *data)
{
    const size_t elem = H5Tget_size(file_type);
    hsize_t chunk[H5S_MAX_RANK];
    size_t bytes = elem;
    for (int d = 0; d < ndim; d++) bytes *= (size_t)(chunk[d] = dims[d]);
    hid_t sp = ndim > 0 ? H5Screate_simple(ndim, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    int ok = sp >= 0 && dcpl >= 0;
    if (ok && (ndim == 0 || bytes == 0)) {
        ok = H5Pset_layout(dcpl, H5D_COMPACT) >= 0;
    } else if (ok) {
        for (int d = 0; d < ndim && bytes > CKPT_CHUNK_MAX; d++) { /* bytes = product of chunk[] * elem */
            const size_t rest = bytes / chunk[d];                /* one step along dimension d */
            chunk[d] = rest >= CKPT_CHUNK_MAX ? 1 : CKPT_CHUNK_MAX / rest;
            bytes = rest * chunk[d];
        }
        ok = H5Pset_chunk(dcpl, ndim, chunk) >= 0 && H5Pset_fletcher32(dcpl) >= 0;
    }
    hid_t ds = ok ? H5Dcreate2(group, name, file_type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT) : H5I_INVALID_HID;
    ok = ds >= 0 && (bytes == 0 || H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    if (ds >= 0) H5Dclose(ds);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (sp >= 0) H5Sclose(sp);
    return ok ? 0 : -1;
}

static int write_tensor(hid_t group, const ms_tensor *t, const float *data)
{
    hsize_t dims[4];
    for (int d = 0; d < t->ndim; d++) dims[d] = (hsize_t)t->shape[d];
    int rc = write_dataset(group, t->name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, t->ndim, dims, data);
    crash_point();
    return rc;
}

/* Tensors with optimizer state in the file: every parameter, frozen or not
 * (a run that freezes layers for some epochs, like two-stage fine-tuning,
 * resumes whatever the freezing state at the checkpoint), not BN buffers. */
static int has_optim_state(const ms_tensor *t) { return !(t->flags & SLAB_BUFFER); }

static int write_all(hid_t f, const ms_slab *s, const ms_optim *opt, const ms_train_state *st, const ms_ckpt_meta *m)
{
    int bad = 0;
    bad |= attr_write_str(f, "format", CKPT_FORMAT);
    bad |= attr_write_i64(f, "version", CKPT_VERSION);
    bad |= attr_write_str(f, "model_spec", m && m->model_spec ? m->model_spec : "");
    bad |= attr_write_str(f, "task", m && m->task ? m->task : "");
    bad |= attr_write_str(f, "command_line", m && m->command_line ? m->command_line : "");
    if (m && m->environment) bad |= attr_write_str(f, "environment", m->environment);
    if (m && m->input_size) bad |= attr_write_str(f, "input_size", m->input_size);
    hid_t g = H5Gcreate2(f, "params", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    for (int i = 0; i < s->n_tensors && !bad; i++) bad |= write_tensor(g, &s->t[i], s->val + s->t[i].offset);
    H5Gclose(g);
    if (m && m->permutations && m->n_permutations > 0 && !bad) {
        hid_t gp = H5Gcreate2(f, "pretext", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        const hsize_t dims[2] = { (hsize_t)m->n_permutations, 9 };
        bad |= write_dataset(gp, "permutations", H5T_STD_U8LE, H5T_NATIVE_UINT8, 2, dims, m->permutations);
        H5Gclose(gp);
    }
    if (opt && !bad) {
        hid_t go = H5Gcreate2(f, "optim", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        bad |= attr_write_str(go, "kind", opt_names[opt->kind]);
        bad |= attr_write_i64(go, "step", opt->step);
        bad |= attr_write_f32(go, "momentum", opt->momentum);
        bad |= attr_write_i64(go, "nesterov", opt->nesterov);
        bad |= attr_write_i64(go, "decoupled_wd", opt->decoupled_wd);
        bad |= attr_write_f32(go, "weight_decay", opt->weight_decay);
        bad |= attr_write_f32(go, "beta1", opt->beta1);
        bad |= attr_write_f32(go, "beta2", opt->beta2);
        bad |= attr_write_f32(go, "eps", opt->eps);
        hid_t g1 = H5Gcreate2(go, "mom1", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        hid_t g2 = opt->kind == OPT_ADAMW ? H5Gcreate2(go, "mom2", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
        for (int i = 0; i < s->n_tensors && !bad; i++) {
            if (!has_optim_state(&s->t[i])) continue;
            bad |= write_tensor(g1, &s->t[i], s->mom1 + s->t[i].offset);
            if (g2 >= 0) bad |= write_tensor(g2, &s->t[i], s->mom2 + s->t[i].offset);
        }
        H5Gclose(g1);
        if (g2 >= 0) H5Gclose(g2);
        H5Gclose(go);
    }
    if (st && !bad) {
        hid_t gs = H5Gcreate2(f, "state", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        bad |= attr_write_i64(gs, "epoch", st->epoch);
        bad |= attr_write_i64(gs, "step", st->step);
        bad |= attr_write_i64(gs, "samples_seen", st->samples_seen);
        bad |= attr_write(gs, "seed", H5T_STD_U64LE, H5T_NATIVE_UINT64, &st->seed);
        bad |= attr_write(gs, "rng_position", H5T_STD_U64LE, H5T_NATIVE_UINT64, &st->rng_position);
        bad |= attr_write(gs, "best_metric", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &st->best_metric);
        bad |= attr_write_i64(gs, "best_epoch", st->best_epoch);
        bad |= attr_write(gs, "best_val_loss", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &st->best_val_loss);
        H5Gclose(gs);
    }
    return bad ? -1 : 0;
}

/* Jenkins' lookup3 hash (hashlittle, initial value 0), byte by byte: the
 * checksum HDF5 puts on every piece of metadata of the newer formats (the
 * file format specification names it). */
#define L3_ROT(x, k) (((x) << (k)) | ((x) >> (32 - (k))))
static uint32_t h5_lookup3(const uint8_t *k, size_t len)
{
    uint32_t a, b, c;
    a = b = c = 0xdeadbeefu + (uint32_t)len;
    for (; len > 12; len -= 12, k += 12) {
        a += k[0] + ((uint32_t)k[1] << 8) + ((uint32_t)k[2] << 16) + ((uint32_t)k[3] << 24);
        b += k[4] + ((uint32_t)k[5] << 8) + ((uint32_t)k[6] << 16) + ((uint32_t)k[7] << 24);
        c += k[8] + ((uint32_t)k[9] << 8) + ((uint32_t)k[10] << 16) + ((uint32_t)k[11] << 24);
        a -= c; a ^= L3_ROT(c, 4);  c += b;
        b -= a; b ^= L3_ROT(a, 6);  a += c;
        c -= b; c ^= L3_ROT(b, 8);  b += a;
        a -= c; a ^= L3_ROT(c, 16); c += b;
        b -= a; b ^= L3_ROT(a, 19); a += c;
        c -= b; c ^= L3_ROT(b, 4);  b += a;
    }
    if (len == 0) return c;
    uint8_t tail[12] = { 0 };
    memcpy(tail, k, len);
    a += tail[0] + ((uint32_t)tail[1] << 8) + ((uint32_t)tail[2] << 16) + ((uint32_t)tail[3] << 24);
    b += tail[4] + ((uint32_t)tail[5] << 8) + ((uint32_t)tail[6] << 16) + ((uint32_t)tail[7] << 24);
    c += tail[8] + ((uint32_t)tail[9] << 8) + ((uint32_t)tail[10] << 16) + ((uint32_t)tail[11] << 24);
    c ^= b; c -= L3_ROT(b, 14);
    a ^= c; a -= L3_ROT(c, 11);
    b ^= a; b -= L3_ROT(a, 25);
    c ^= b; c -= L3_ROT(b, 16);
    a ^= c; a -= L3_ROT(c, 4);
    b ^= a; b -= L3_ROT(a, 14);
    c ^= b; c -= L3_ROT(b, 24);
    return c;
}

/* HDF5 1.10's H5Fget_file_image clears the superblock's status flags in the
 * image (they say "open for writing" while the file is open) but leaves the
 * superblock's checksum as computed with them set: that image does not open
 * ("incorrect metadata checksum"). A superblock of version 2 or 3 (at offset
 * 0: no user block) is signature, version, sizes of offsets and lengths,
 * flags (1 byte each after the 8-byte signature), 4 addresses, then the
 * lookup3 checksum of all bytes before it: recomputed here (a no-op where
 * HDF5 got it right). 0, or -1 for an image that is not such a superblock. */
static int fix_superblock_checksum(uint8_t *image, size_t size)
{
    static const uint8_t signature[8] = { 0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n' };
    if (size < 12 || memcmp(image, signature, 8) != 0 || (image[8] != 2 && image[8] != 3)) return -1;
    const size_t n = 12 + 4 * (size_t)image[9]; /* bytes covered by the checksum */
    if (image[9] != 8 || n + 4 > size) return -1;
    const uint32_t sum = h5_lookup3(image, n);
    for (int i = 0; i < 4; i++) image[n + (size_t)i] = (uint8_t)(sum >> (8 * i)); /* little-endian */
    return 0;
}

int ckpt_save(const char *path, const ms_slab *s, const ms_optim *opt, const ms_train_state *st,
              const ms_ckpt_meta *meta)
{
    char tmp[CORPUS_PATH_MAX + 32];
    if (strlen(path) >= CORPUS_PATH_MAX) return MS_FAIL(MS_ERR_INPUT, "%.64s...: path too long", path);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    /* The file is built in memory (HDF5's core driver, no backing store) and
     * written out by us: a full disk or an I/O error is then our write()'s
     * error, never a half-closed HDF5 file (HDF5 1.10 crashes at exit closing
     * a file whose H5Fclose failed for lack of space). */
    h5_lock();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    /* The 1.10 file format: every piece of metadata has a checksum (see
     * write_dataset); readable by HDF5 1.10 and later (h5py 3). */
    int ok = fapl >= 0 && H5Pset_fapl_core(fapl, (size_t)1 << 20, 0) >= 0 &&
             H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) >= 0 &&
             H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110) >= 0;
    hid_t f = ok ? H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl) : -1;
    if (fapl >= 0) H5Pclose(fapl);
    int rc = MS_OK;
    void *image = NULL;
    ssize_t size = -1;
    if (f < 0) {
        rc = MS_FAIL(MS_ERR_RUNTIME, "%s: cannot create the checkpoint in memory", tmp);
    } else {
        int bad = write_all(f, s, opt, st, meta);
        if (!bad && H5Fflush(f, H5F_SCOPE_GLOBAL) >= 0 && (size = H5Fget_file_image(f, NULL, 0)) > 0) {
            image = malloc((size_t)size);
            bad = !image || H5Fget_file_image(f, image, (size_t)size) != size ||
                  fix_superblock_checksum(image, (size_t)size) != 0;
        } else {
            bad = 1;
        }
        bad |= H5Fclose(f) < 0;
        if (bad) rc = MS_FAIL(MS_ERR_RUNTIME, "%s: building the checkpoint failed (out of memory?)", tmp);
    }
    h5_unlock();
    if (!rc) {
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        const char *what = fd < 0 ? "cannot create" : NULL;
        for (ssize_t done = 0; fd >= 0 && !what && done < size;) {
            ssize_t w = write(fd, (const char *)image + done, (size_t)(size - done));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) what = "cannot write";
            else done += w;
        }
        if (!what && fsync(fd) != 0) what = "cannot fsync";
        if (fd >= 0 && close(fd) != 0 && !what) what = "cannot close";
        if (what)
            rc = MS_FAIL(MS_ERR_RUNTIME, "%s: %s the checkpoint: %s", tmp, what, errno ? strerror(errno) : "short write");
    }
    free(image);
    if (!rc) crash_point();
    if (!rc && rename(tmp, path) != 0) rc = MS_FAIL(MS_ERR_RUNTIME, "%s: cannot rename into place: %s", path, strerror(errno));
    if (rc) {
        unlink(tmp);
        return rc;
    }
    char dir[CORPUS_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return MS_OK;
}

/* ---- reading ------------------------------------------------------------------------ */

static herr_t find_checksum_error(unsigned n, const H5E_error2_t *e, void *found)
{
    (void)n;
    if (e->desc && strstr(e->desc, "checksum")) *(int *)found = 1;
    return 0;
}

/* Whether the HDF5 call that just failed failed on a checksum: the fletcher32
 * filter on a dataset's data ("data error detected by Fletcher32 checksum") or
 * the checksum of a piece of metadata ("incorrect metadata checksum"). Ask
 * right after the failing call: the next HDF5 call clears the error stack.
 * (Its printing is off: H5Eset_auto2 in every entry point.) */
static int h5_checksum_failed(void)
{
    int found = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, find_checksum_error, &found);
    return found;
}

/* The one message for a checksum mismatch; `what` names the object, e.g.
 * "dataset /params/head.fc.weight". */
static int fail_checksum(const char *path, const char *what)
{
    return MS_FAIL(MS_ERR_INPUT, "%s: checksum mismatch in %s (the file is corrupt)", path, what);
}

/* MS_ERR_INPUT with the checksum message when the failed call says so, else
 * with `otherwise` ("%s" there is path). */
static int fail_read(const char *path, const char *what, const char *otherwise)
{
    if (h5_checksum_failed()) return fail_checksum(path, what);
    return MS_FAIL(MS_ERR_INPUT, otherwise, path);
}

/* Attribute readers: 0 read, -1 absent, -2 malformed (the message, naming
 * path and the attribute, is set). An attribute holds one value: a scalar
 * dataspace, or 1-D of length 1; an array is refused before H5Aread, which
 * would otherwise write all its values into room for one. */
static int attr_open_one(const char *path, hid_t obj, const char *name, H5T_class_t want, hid_t *a, hid_t *t)
{
    *a = *t = H5I_INVALID_HID;
    const htri_t exists = H5Aexists(obj, name); /* < 0: the object header or attribute heap is unreadable */
    if (exists == 0) return -1;
    *a = exists > 0 ? H5Aopen(obj, name, H5P_DEFAULT) : H5I_INVALID_HID;
    if (*a < 0 && h5_checksum_failed()) { /* the attributes of the whole object (its header or attribute heap) */
        char obj_name[64] = "", what[96] = "the attributes of an object";
        if (H5Iget_name(obj, obj_name, sizeof obj_name) > 0) /* "/optim"; after the stack was read */
            snprintf(what, sizeof what, "the attributes of %s", obj_name);
        fail_checksum(path, what);
        return -2;
    }
    *t = *a >= 0 ? H5Aget_type(*a) : H5I_INVALID_HID;
    hid_t sp = *a >= 0 ? H5Aget_space(*a) : H5I_INVALID_HID;
    const int ndims = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    const long long n = sp >= 0 ? (long long)H5Sget_simple_extent_npoints(sp) : -1;
    const H5T_class_t cls = *t >= 0 ? H5Tget_class(*t) : H5T_NO_CLASS;
    if (sp >= 0) H5Sclose(sp);
    int rc = 0;
    if (*a < 0 || *t < 0) {
        rc = MS_FAIL(MS_ERR_INPUT, "%s: cannot read attribute %s", path, name);
    } else if (want == H5T_STRING ? cls != H5T_STRING : cls != H5T_INTEGER && cls != H5T_FLOAT) {
        rc = MS_FAIL(MS_ERR_INPUT, "%s: attribute %s is not a %s", path, name, want == H5T_STRING ? "string" : "number");
    } else if (ndims < 0 || ndims > 1 || n != 1) {
        rc = MS_FAIL(MS_ERR_INPUT, "%s: attribute %s must be one %s, not an array of %lld", path, name,
                     want == H5T_STRING ? "string" : "number", n);
    }
    if (!rc) return 0;
    if (*t >= 0) H5Tclose(*t);
    if (*a >= 0) H5Aclose(*a);
    *a = *t = H5I_INVALID_HID;
    return -2;
}

/* A fixed-length string is read as its raw bytes and ends at the first NUL
 * or, space-padded, at the padding (h5py's np.bytes_ has no terminator:
 * NULLPAD, all sz bytes used); a variable-length one as it is. */
static int attr_read_str(const char *path, hid_t obj, const char *name, char *buf, size_t cap)
{
    buf[0] = 0;
    hid_t a, t;
    int r = attr_open_one(path, obj, name, H5T_STRING, &a, &t);
    if (r) return r;
    char *v = NULL;
    size_t len = 0;
    if (H5Tis_variable_str(t) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_cset(mt, H5Tget_cset(t));
        H5Tset_size(mt, H5T_VARIABLE);
        if (H5Aread(a, mt, &v) < 0 || !v) r = -2;
        else len = strlen(v);
        H5Tclose(mt);
    } else {
        const size_t sz = H5Tget_size(t);
        hid_t mt = sz > 0 && sz <= (1 << 20) ? H5Tcopy(t) : H5I_INVALID_HID; /* the file's type: raw bytes */
        if (mt >= 0) v = ms_calloc(sz + 1, 1);                                 /* + 1: always a terminator */
        if (mt < 0 || H5Aread(a, mt, v) < 0) r = -2;
        else len = strlen(v);
        if (!r && H5Tget_strpad(t) == H5T_STR_SPACEPAD)
            while (len > 0 && v[len - 1] == ' ') len--;
        if (mt >= 0) H5Tclose(mt);
    }
    if (r) {
        MS_FAIL(MS_ERR_INPUT, "%s: cannot read attribute %s", path, name);
    } else if (len >= cap) {
        MS_FAIL(MS_ERR_INPUT, "%s: attribute %s is %zu bytes long (at most %zu)", path, name, len, cap - 1);
        r = -2;
    } else {
        memcpy(buf, v, len);
        buf[len] = 0;
    }
    if (v && H5Tis_variable_str(t) > 0) H5free_memory(v);
    else free(v);
    H5Tclose(t);
    H5Aclose(a);
    return r;
}

static int attr_read_num(const char *path, hid_t obj, const char *name, hid_t mem_type, void *out)
{
    hid_t a, t;
    int r = attr_open_one(path, obj, name, H5T_INTEGER, &a, &t);
    if (r) return r;
    if (H5Aread(a, mem_type, out) < 0) {
        MS_FAIL(MS_ERR_INPUT, "%s: cannot read attribute %s", path, name);
        r = -2;
    }
    H5Tclose(t);
    H5Aclose(a);
    return r;
}

static hid_t open_checkpoint(const char *path)
{
    if (access(path, R_OK) != 0) {
        MS_FAIL(MS_ERR_INPUT, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    if (H5Fis_hdf5(path) <= 0) {
        MS_FAIL(MS_ERR_INPUT, "%s: not an HDF5 file (or truncated/corrupt)", path);
        return -1;
    }
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        fail_read(path, "the superblock or root group", "%s: cannot open as HDF5 (truncated or corrupt?)");
        return -1;
    }
    char format[64];
    long long version = 0;
    int r = attr_read_str(path, f, "format", format, sizeof format);
    if (r == -1 || (r == 0 && strcmp(format, CKPT_FORMAT) != 0))
        MS_FAIL(MS_ERR_INPUT, "%s: not a medssl checkpoint (format = \"%s\")", path, r ? "(missing)" : format);
    if (!r && strcmp(format, CKPT_FORMAT) == 0) {
        r = attr_read_num(path, f, "version", H5T_NATIVE_LLONG, &version);
        if (r == -1 || (r == 0 && version != CKPT_VERSION)) {
            MS_FAIL(MS_ERR_INPUT, "%s: checkpoint version %lld is not supported (expected %d)", path, r ? -1LL : version,
                    CKPT_VERSION);
            r = -1;
        }
    } else {
        r = -1;
    }
    if (r) { /* the message is set */
        H5Fclose(f);
        return -1;
    }
    return f;
}

int ckpt_read_meta(const char *path, char *model_spec, size_t spec_cap, char *task, size_t task_cap)
{
    h5_lock();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = open_checkpoint(path);
    int rc = f < 0 ? MS_ERR_INPUT : MS_OK;
    int r = rc || !model_spec ? 0 : attr_read_str(path, f, "model_spec", model_spec, spec_cap);
    if (r == -1) rc = MS_FAIL(MS_ERR_INPUT, "%s: missing root attribute model_spec", path);
    else if (r) rc = MS_ERR_INPUT;
    if (!rc && task && attr_read_str(path, f, "task", task, task_cap) == -2) rc = MS_ERR_INPUT;
    if (f >= 0) H5Fclose(f);
    h5_unlock();
    return rc;
}

int ckpt_read_string(const char *path, const char *name, char *buf, size_t cap, int *present)
{
    *present = 0;
    h5_lock();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = open_checkpoint(path);
    int rc = f < 0 ? MS_ERR_INPUT : MS_OK;
    const int r = rc ? -1 : attr_read_str(path, f, name, buf, cap);
    if (r == -2) rc = MS_ERR_INPUT;
    *present = r == 0;
    if (f >= 0) H5Fclose(f);
    h5_unlock();
    return rc;
}

int ckpt_read_permutations(const char *path, uint8_t *perms, int cap, int *P)
{
    *P = 0;
    h5_lock();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = open_checkpoint(path);
    int rc = f < 0 ? MS_ERR_INPUT : MS_OK;
    htri_t has = rc ? 0 : H5Lexists(f, "pretext", H5P_DEFAULT); /* < 0: unreadable, not absent */
    if (has > 0) has = H5Lexists(f, "pretext/permutations", H5P_DEFAULT);
    if (has < 0) rc = fail_read(path, "group /pretext", "%s: cannot read group /pretext");
    if (has > 0) {
        hid_t ds = H5Dopen2(f, "pretext/permutations", H5P_DEFAULT);
        int sum = ds < 0 && h5_checksum_failed();
        hid_t sp = ds >= 0 ? H5Dget_space(ds) : -1;
        hsize_t dims[2] = { 0, 0 };
        int ok = sp >= 0 && H5Sget_simple_extent_ndims(sp) == 2 && H5Sget_simple_extent_dims(sp, dims, NULL) == 2 &&
                 dims[1] == 9 && dims[0] >= 1 && dims[0] <= (hsize_t)cap;
        if (ok && H5Dread(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, perms) < 0) {
            ok = 0;
            sum = h5_checksum_failed();
        }
        if (ok) *P = (int)dims[0];
        else if (sum) rc = fail_checksum(path, "dataset /pretext/permutations");
        else rc = MS_FAIL(MS_ERR_INPUT, "%s: /pretext/permutations is not a [P<=%d, 9] uint8 dataset", path, cap);
        if (sp >= 0) H5Sclose(sp);
        if (ds >= 0) H5Dclose(ds);
    }
    if (f >= 0) H5Fclose(f);
    h5_unlock();
    return rc;
}

/* Reads group/<name> into data if it exists with exactly the tensor's shape:
 * 0 ok, 1 missing, 2 shape mismatch (shape written to got), -1 read error,
 * -2 checksum mismatch (of the data, the dataset's header or the group's
 * links). */
static int read_tensor(hid_t group, const ms_tensor *t, float *data, char *got, size_t cap)
{
    const htri_t exists = H5Lexists(group, t->name, H5P_DEFAULT);
    if (exists == 0) return 1;
    hid_t ds = exists > 0 ? H5Dopen2(group, t->name, H5P_DEFAULT) : H5I_INVALID_HID;
    if (ds < 0) return h5_checksum_failed() ? -2 : -1;
    hid_t sp = H5Dget_space(ds);
    hsize_t dims[8];
    int nd = H5Sget_simple_extent_ndims(sp), same = nd == t->ndim;
    if (nd > 0 && nd <= 8) H5Sget_simple_extent_dims(sp, dims, NULL);
    for (int d = 0; same && d < nd; d++) same = dims[d] == (hsize_t)t->shape[d];
    int rc = 0;
    if (!same) {
        size_t n = 0;
        for (int d = 0; d < nd && d < 8 && n < cap; d++)
            n += (size_t)snprintf(got + n, cap - n, "%s%llu", d ? "x" : "", (unsigned long long)dims[d]);
        rc = 2;
    } else if (H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
        rc = h5_checksum_failed() ? -2 : -1; /* fletcher32 (on by default in H5Dread) */
    }
    H5Sclose(sp);
    H5Dclose(ds);
    return rc;
}

static void shape_str(const ms_tensor *t, char *buf, size_t cap)
{
    size_t n = 0;
    for (int d = 0; d < t->ndim && n < cap; d++) n += (size_t)snprintf(buf + n, cap - n, "%s%d", d ? "x" : "", t->shape[d]);
}

static int load_params(const char *path, hid_t f, ms_slab *s, const char *prefix, int *n_ignored)
{
    hid_t g = H5Gopen2(f, "params", H5P_DEFAULT);
    if (g < 0) return fail_read(path, "group /params", "%s: missing group /params");
    char problems[900] = "";
    size_t plen = 0;
    int n_bad = 0, n_loaded = 0, rc = MS_OK;
    const size_t len = strlen(prefix);
    for (int i = 0; i < s->n_tensors; i++) {
        const ms_tensor *t = &s->t[i];
        if (strncmp(t->name, prefix, len) != 0) continue;
        char got[64] = "", want[64];
        int r = read_tensor(g, t, s->val + t->offset, got, sizeof got);
        if (r == -2) {
            char what[SLAB_NAME_MAX + 32];
            snprintf(what, sizeof what, "dataset /params/%s", t->name);
            rc = fail_checksum(path, what);
            break;
        }
        if (r < 0) {
            rc = MS_FAIL(MS_ERR_INPUT, "%s: cannot read /params/%s (truncated file?)", path, t->name);
            break;
        }
        if (r == 0) {
            const float *v = s->val + t->offset;
            const int is_var = strlen(t->name) > 12 && strcmp(t->name + strlen(t->name) - 12, ".running_var") == 0;
            for (size_t k = 0; k < t->size; k++)
                if (!isfinite(v[k]) || (is_var && v[k] < 0)) {
                    rc = MS_FAIL(MS_ERR_INPUT, "%s: /params/%s holds %s (value %g at %zu): the model is not usable "
                                 "(a diverged run or a damaged file)", path, t->name,
                                 isfinite(v[k]) ? "a negative variance" : "NaN or Inf", (double)v[k], k);
                    break;
                }
            if (rc) break;
            n_loaded++;
            continue;
        }
        shape_str(t, want, sizeof want);
        if (n_bad++ < 6 && plen < sizeof problems)
            plen += (size_t)snprintf(problems + plen, sizeof problems - plen, "%s%s %s", n_bad > 1 ? "; " : "", t->name,
                                     r == 1 ? "missing" : "has shape");
        if (r == 2 && plen < sizeof problems)
            plen += (size_t)snprintf(problems + plen, sizeof problems - plen, " %s, model needs %s", got, want);
    }
    if (!rc && n_bad)
        rc = MS_FAIL(MS_ERR_INPUT, "%s: %d tensor(s) do not match the model: %s%s", path, n_bad, problems,
                     n_bad > 6 ? "; ..." : "");
    if (!rc && n_loaded == 0) rc = MS_FAIL(MS_ERR_INPUT, "%s: no tensor named %s* in the checkpoint", path, prefix);
    if (!rc && n_ignored) {
        hsize_t n_links = 0;
        H5G_info_t info;
        if (H5Gget_info(g, &info) >= 0) n_links = info.nlinks;
        *n_ignored = (int)n_links - n_loaded;
    }
    H5Gclose(g);
    return rc;
}

static int load_optim(const char *path, hid_t f, ms_slab *s, ms_optim *opt)
{
    const htri_t has = H5Lexists(f, "optim", H5P_DEFAULT);
    hid_t go = has > 0 ? H5Gopen2(f, "optim", H5P_DEFAULT) : H5I_INVALID_HID;
    if (go < 0 && has != 0) return fail_read(path, "group /optim", "%s: cannot read group /optim");
    if (go < 0) return MS_FAIL(MS_ERR_INPUT, "%s: no optimizer state (/optim) to resume from", path);
    char kind[32];
    long long step = 0, nesterov = 0, decoupled = 0;
    const struct { const char *name; hid_t type; void *out; } nums[] = {
        { "step", H5T_NATIVE_LLONG, &step },           { "nesterov", H5T_NATIVE_LLONG, &nesterov },
        { "decoupled_wd", H5T_NATIVE_LLONG, &decoupled }, { "momentum", H5T_NATIVE_FLOAT, &opt->momentum },
        { "weight_decay", H5T_NATIVE_FLOAT, &opt->weight_decay }, { "beta1", H5T_NATIVE_FLOAT, &opt->beta1 },
        { "beta2", H5T_NATIVE_FLOAT, &opt->beta2 },    { "eps", H5T_NATIVE_FLOAT, &opt->eps },
    };
    int r = attr_read_str(path, go, "kind", kind, sizeof kind), rc = MS_OK;
    for (size_t i = 0; !r && i < sizeof nums / sizeof *nums; i++)
        r = attr_read_num(path, go, nums[i].name, nums[i].type, nums[i].out);
    if (r == -1) rc = MS_FAIL(MS_ERR_INPUT, "%s: /optim lacks an attribute", path);
    else if (r) rc = MS_ERR_INPUT; /* the message is set */
    int k = rc ? -1 : optim_kind_parse(kind);
    if (!rc && k < 0) rc = MS_FAIL(MS_ERR_INPUT, "%s: unknown optimizer kind '%s'", path, kind);
    if (!rc) {
        opt->kind = (ms_opt_kind)k;
        opt->step = (long)step;
        opt->nesterov = (int)nesterov;
        opt->decoupled_wd = (int)decoupled;
    }
    hid_t g[2] = { H5I_INVALID_HID, H5I_INVALID_HID }; /* mom1, mom2 (AdamW only) */
    const int n_mom = rc ? 0 : opt->kind == OPT_ADAMW ? 2 : 1;
    for (int m = 0; m < n_mom && !rc; m++)
        if ((g[m] = H5Gopen2(go, m ? "mom2" : "mom1", H5P_DEFAULT)) < 0)
            rc = fail_read(path, m ? "group /optim/mom2" : "group /optim/mom1", "%s: /optim lacks its moments");
    for (int i = 0; i < s->n_tensors && !rc; i++) {
        const ms_tensor *t = &s->t[i];
        if (!has_optim_state(t)) continue;
        for (int m = 0; m < 2 && g[m] >= 0 && !rc; m++) {
            char got[64];
            r = read_tensor(g[m], t, (m ? s->mom2 : s->mom1) + t->offset, got, sizeof got);
            if (r == -2) {
                char what[SLAB_NAME_MAX + 32];
                snprintf(what, sizeof what, "dataset /optim/mom%d/%s", m + 1, t->name);
                rc = fail_checksum(path, what);
            } else if (r != 0) {
                rc = MS_FAIL(MS_ERR_INPUT, "%s: optimizer state for %s is missing or has another shape", path, t->name);
            }
        }
    }
    for (int m = 0; m < 2; m++)
        if (g[m] >= 0) H5Gclose(g[m]);
    H5Gclose(go);
    return rc;
}

static int load_state(const char *path, hid_t f, ms_train_state *st)
{
    const htri_t has = H5Lexists(f, "state", H5P_DEFAULT);
    hid_t gs = has > 0 ? H5Gopen2(f, "state", H5P_DEFAULT) : H5I_INVALID_HID;
    if (gs < 0 && has != 0) return fail_read(path, "group /state", "%s: cannot read group /state");
    /* the best_* attributes are optional (older checkpoints): absent means none */
    st->best_metric = -INFINITY;
    st->best_epoch = -1;
    st->best_val_loss = INFINITY;
    const struct { const char *name; hid_t type; void *out; int optional; } attrs[] = {
        { "epoch", H5T_NATIVE_LLONG, &st->epoch, 0 },
        { "step", H5T_NATIVE_LLONG, &st->step, 0 },
        { "samples_seen", H5T_NATIVE_LLONG, &st->samples_seen, 0 },
        { "seed", H5T_NATIVE_UINT64, &st->seed, 0 },
        { "rng_position", H5T_NATIVE_UINT64, &st->rng_position, 0 },
        { "best_metric", H5T_NATIVE_DOUBLE, &st->best_metric, 1 },
        { "best_epoch", H5T_NATIVE_LLONG, &st->best_epoch, 1 },
        { "best_val_loss", H5T_NATIVE_DOUBLE, &st->best_val_loss, 1 },
    };
    int r = gs < 0 ? -1 : 0; /* -1 missing, -2 unreadable (the message is set) */
    for (size_t i = 0; !r && i < sizeof attrs / sizeof *attrs; i++)
        if ((r = attr_read_num(path, gs, attrs[i].name, attrs[i].type, attrs[i].out)) == -1 && attrs[i].optional) r = 0;
    if (gs >= 0) H5Gclose(gs);
    if (r == -1) return MS_FAIL(MS_ERR_INPUT, "%s: missing or incomplete /state", path);
    if (r) return MS_ERR_INPUT;
    if (st->epoch < 0 || st->step < 0 || st->samples_seen < 0 || st->best_epoch < -1 || isnan(st->best_metric))
        return MS_FAIL(MS_ERR_INPUT, "%s: /state holds impossible values (epoch %lld, step %lld, samples_seen %lld, "
                       "best_epoch %lld): a damaged file", path, st->epoch, st->step, st->samples_seen, st->best_epoch);
    return MS_OK;
}

int ckpt_load(const char *path, ms_slab *s, const char *prefix, ms_optim *opt, ms_train_state *st, int *n_ignored)
{
    h5_lock();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = open_checkpoint(path);
    int rc = f < 0 ? MS_ERR_INPUT : load_params(path, f, s, prefix ? prefix : "", n_ignored);
    if (!rc && opt) rc = load_optim(path, f, s, opt);
    if (!rc && st) rc = load_state(path, f, st);
    if (f >= 0) H5Fclose(f);
    h5_unlock();
    return rc;
}
