/* ckpt — write and read medssl-checkpoint files (see include/medssl/ckpt.h):
 * what goes where in the file, saving and loading. What makes the file
 * checksummed (fletcher32 datasets, the 1.10 format built in memory, the
 * superblock checksum) is ckpt_checksum.c; attributes go through h5util. */
#include "medssl/ckpt.h"
#include "medssl/common.h"
#include "medssl/corpus.h"
#include "medssl/h5util.h"
#include "ckpt_internal.h"

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

static int write_tensor(hid_t group, const ms_tensor *t, const float *data)
{
    hsize_t dims[4];
    for (int d = 0; d < t->ndim; d++) dims[d] = (hsize_t)t->shape[d];
    int rc = ckpt_write_dataset(group, t->name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, t->ndim, dims, data);
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
    bad |= h5_attr_write_str(f, "format", CKPT_FORMAT);
    bad |= h5_attr_write_i64(f, "version", CKPT_VERSION);
    bad |= h5_attr_write_str(f, "model_spec", m && m->model_spec ? m->model_spec : "");
    bad |= h5_attr_write_str(f, "task", m && m->task ? m->task : "");
    bad |= h5_attr_write_str(f, "command_line", m && m->command_line ? m->command_line : "");
    if (m && m->environment) bad |= h5_attr_write_str(f, "environment", m->environment);
    if (m && m->input_size) bad |= h5_attr_write_str(f, "input_size", m->input_size);
    hid_t g = H5Gcreate2(f, "params", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    for (int i = 0; i < s->n_tensors && !bad; i++) bad |= write_tensor(g, &s->t[i], s->val + s->t[i].offset);
    H5Gclose(g);
    if (m && m->permutations && m->n_permutations > 0 && !bad) {
        hid_t gp = H5Gcreate2(f, "pretext", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        const hsize_t dims[2] = { (hsize_t)m->n_permutations, 9 };
        bad |= ckpt_write_dataset(gp, "permutations", H5T_STD_U8LE, H5T_NATIVE_UINT8, 2, dims, m->permutations);
        H5Gclose(gp);
    }
    if (opt && !bad) {
        hid_t go = H5Gcreate2(f, "optim", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        bad |= h5_attr_write_str(go, "kind", opt_names[opt->kind]);
        bad |= h5_attr_write_i64(go, "step", opt->step);
        bad |= h5_attr_write_f32(go, "momentum", opt->momentum);
        bad |= h5_attr_write_i64(go, "nesterov", opt->nesterov);
        bad |= h5_attr_write_i64(go, "decoupled_wd", opt->decoupled_wd);
        bad |= h5_attr_write_f32(go, "weight_decay", opt->weight_decay);
        bad |= h5_attr_write_f32(go, "beta1", opt->beta1);
        bad |= h5_attr_write_f32(go, "beta2", opt->beta2);
        bad |= h5_attr_write_f32(go, "eps", opt->eps);
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
        bad |= h5_attr_write_i64(gs, "epoch", st->epoch);
        bad |= h5_attr_write_i64(gs, "step", st->step);
        bad |= h5_attr_write_i64(gs, "samples_seen", st->samples_seen);
        bad |= h5_attr_write_u64(gs, "seed", st->seed);
        bad |= h5_attr_write_u64(gs, "rng_position", st->rng_position);
        bad |= h5_attr_write_f64(gs, "best_metric", st->best_metric);
        bad |= h5_attr_write_i64(gs, "best_epoch", st->best_epoch);
        bad |= h5_attr_write_f64(gs, "best_val_loss", st->best_val_loss);
        H5Gclose(gs);
    }
    return bad ? -1 : 0;
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
    h5_quiet();
    hid_t f = ckpt_image_create(tmp); /* the checksummed format (ckpt_checksum.c) */
    int rc = MS_OK;
    void *image = NULL;
    ssize_t size = -1;
    if (f < 0) {
        rc = MS_FAIL(MS_ERR_RUNTIME, "%s: cannot create the checkpoint in memory", tmp);
    } else {
        int bad = write_all(f, s, opt, st, meta);
        bad = bad || ckpt_image_take(f, &image, &size) != 0;
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
        h5_fail_read(path, "the superblock or root group", "%s: cannot open as HDF5 (truncated or corrupt?)");
        return -1;
    }
    const h5_attr_where at = { path, "attribute" };
    char format[64];
    long long version = 0;
    int has = 0, rc = h5_attr_read_str(&at, f, "format", format, sizeof format, &has);
    if (!rc && (!has || strcmp(format, CKPT_FORMAT) != 0))
        rc = MS_FAIL(MS_ERR_INPUT, "%s: not a medssl checkpoint (format = \"%s\")", path, has ? format : "(missing)");
    if (!rc) rc = h5_attr_read_number(&at, f, "version", H5_ATTR_NUMBER, H5T_NATIVE_LLONG, &version, &has);
    if (!rc && (!has || version != CKPT_VERSION))
        rc = MS_FAIL(MS_ERR_INPUT, "%s: checkpoint version %lld is not supported (expected %d)", path,
                     has ? version : -1LL, CKPT_VERSION);
    if (rc) { /* the message is set */
        H5Fclose(f);
        return -1;
    }
    return f;
}

int ckpt_read_meta(const char *path, char *model_spec, size_t spec_cap, char *task, size_t task_cap)
{
    h5_lock();
    h5_quiet();
    hid_t f = open_checkpoint(path);
    int rc = f < 0 ? MS_ERR_INPUT : MS_OK;
    const h5_attr_where at = { path, "attribute" };
    int has = 1;
    if (!rc && model_spec) rc = h5_attr_read_str(&at, f, "model_spec", model_spec, spec_cap, &has);
    if (!rc && !has) rc = MS_FAIL(MS_ERR_INPUT, "%s: missing root attribute model_spec", path);
    if (!rc && task) rc = h5_attr_read_str(&at, f, "task", task, task_cap, &has); /* absent: "" */
    if (f >= 0) H5Fclose(f);
    h5_unlock();
    return rc;
}

int ckpt_read_string(const char *path, const char *name, char *buf, size_t cap, int *present)
{
    *present = 0;
    h5_lock();
    h5_quiet();
    hid_t f = open_checkpoint(path);
    int rc = f < 0 ? MS_ERR_INPUT : MS_OK;
    const h5_attr_where at = { path, "attribute" };
    if (!rc) rc = h5_attr_read_str(&at, f, name, buf, cap, present);
    if (rc) *present = 0;
    if (f >= 0) H5Fclose(f);
    h5_unlock();
    return rc;
}

int ckpt_read_permutations(const char *path, uint8_t *perms, int cap, int *P)
{
    *P = 0;
    h5_lock();
    h5_quiet();
    hid_t f = open_checkpoint(path);
    int rc = f < 0 ? MS_ERR_INPUT : MS_OK;
    htri_t has = rc ? 0 : H5Lexists(f, "pretext", H5P_DEFAULT); /* < 0: unreadable, not absent */
    if (has > 0) has = H5Lexists(f, "pretext/permutations", H5P_DEFAULT);
    if (has < 0) rc = h5_fail_read(path, "group /pretext", "%s: cannot read group /pretext");
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
        else if (sum) rc = h5_fail_checksum(path, "dataset /pretext/permutations");
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
    if (g < 0) return h5_fail_read(path, "group /params", "%s: missing group /params");
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
            rc = h5_fail_checksum(path, what);
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
    if (go < 0 && has != 0) return h5_fail_read(path, "group /optim", "%s: cannot read group /optim");
    if (go < 0) return MS_FAIL(MS_ERR_INPUT, "%s: no optimizer state (/optim) to resume from", path);
    char kind[32];
    long long step = 0, nesterov = 0, decoupled = 0;
    const struct { const char *name; hid_t type; void *out; } nums[] = {
        { "step", H5T_NATIVE_LLONG, &step },           { "nesterov", H5T_NATIVE_LLONG, &nesterov },
        { "decoupled_wd", H5T_NATIVE_LLONG, &decoupled }, { "momentum", H5T_NATIVE_FLOAT, &opt->momentum },
        { "weight_decay", H5T_NATIVE_FLOAT, &opt->weight_decay }, { "beta1", H5T_NATIVE_FLOAT, &opt->beta1 },
        { "beta2", H5T_NATIVE_FLOAT, &opt->beta2 },    { "eps", H5T_NATIVE_FLOAT, &opt->eps },
    };
    const h5_attr_where at = { path, "attribute" };
    int present = 0, rc = h5_attr_read_str(&at, go, "kind", kind, sizeof kind, &present);
    for (size_t i = 0; !rc && present && i < sizeof nums / sizeof *nums; i++)
        rc = h5_attr_read_number(&at, go, nums[i].name, H5_ATTR_NUMBER, nums[i].type, nums[i].out, &present);
    if (!rc && !present) rc = MS_FAIL(MS_ERR_INPUT, "%s: /optim lacks an attribute", path);
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
            rc = h5_fail_read(path, m ? "group /optim/mom2" : "group /optim/mom1", "%s: /optim lacks its moments");
    for (int i = 0; i < s->n_tensors && !rc; i++) {
        const ms_tensor *t = &s->t[i];
        if (!has_optim_state(t)) continue;
        for (int m = 0; m < 2 && g[m] >= 0 && !rc; m++) {
            char got[64];
            const int r = read_tensor(g[m], t, (m ? s->mom2 : s->mom1) + t->offset, got, sizeof got);
            if (r == -2) {
                char what[SLAB_NAME_MAX + 32];
                snprintf(what, sizeof what, "dataset /optim/mom%d/%s", m + 1, t->name);
                rc = h5_fail_checksum(path, what);
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
    if (gs < 0 && has != 0) return h5_fail_read(path, "group /state", "%s: cannot read group /state");
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
    const h5_attr_where at = { path, "attribute" };
    int rc = MS_OK, complete = gs >= 0;
    for (size_t i = 0; !rc && complete && i < sizeof attrs / sizeof *attrs; i++) {
        int present = 0;
        rc = h5_attr_read_number(&at, gs, attrs[i].name, H5_ATTR_NUMBER, attrs[i].type, attrs[i].out, &present);
        complete = present || attrs[i].optional;
    }
    if (gs >= 0) H5Gclose(gs);
    if (rc) return rc; /* the message is set */
    if (!complete) return MS_FAIL(MS_ERR_INPUT, "%s: missing or incomplete /state", path);
    if (st->epoch < 0 || st->step < 0 || st->samples_seen < 0 || st->best_epoch < -1 || isnan(st->best_metric))
        return MS_FAIL(MS_ERR_INPUT, "%s: /state holds impossible values (epoch %lld, step %lld, samples_seen %lld, "
                       "best_epoch %lld): a damaged file", path, st->epoch, st->step, st->samples_seen, st->best_epoch);
    return MS_OK;
}

int ckpt_load(const char *path, ms_slab *s, const char *prefix, ms_optim *opt, ms_train_state *st, int *n_ignored)
{
    h5_lock();
    h5_quiet();
    hid_t f = open_checkpoint(path);
    int rc = f < 0 ? MS_ERR_INPUT : load_params(path, f, s, prefix ? prefix : "", n_ignored);
    if (!rc && opt) rc = load_optim(path, f, s, opt);
    if (!rc && st) rc = load_state(path, f, st);
    if (f >= 0) H5Fclose(f);
    h5_unlock();
    return rc;
}
