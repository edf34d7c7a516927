/* ckpt — medssl-checkpoint files (format version 1): a model's parameters,
 * optimizer state and training position, written atomically.
 *
 * Layout (DESIGN.md, the contract; readable with h5py):
 *   /params/<name>        float32, the tensor's shape (PyTorch names: conv [O, I, kH, kW],
 *                         linear [out, in], BN weight/bias/running_mean/running_var)
 *   /optim/mom1/<name>    SGD momentum or Adam first moment (every parameter, frozen too; not BN buffers)
 *   /optim/mom2/<name>    Adam second moment (AdamW only)
 *   /optim                attributes: kind ("sgd"|"adamw"), step, momentum, nesterov,
 *                         decoupled_wd, weight_decay, beta1, beta2, eps
 *   /state                attributes: epoch, step, samples_seen, seed, rng_position,
 *                         best_metric, best_epoch, best_val_loss (optional: absent means none)
 *   /pretext/permutations uint8 [P, 9], jigsaw only: the permutation set (row p = the
 *                         cell shown at each of the 9 positions for class p)
 *   root attributes       format = "medssl-checkpoint", version = 1, model_spec, task,
 *                         command_line
 *                         environment (JSON: commit, ranks, threads, BLAS core, MPI, HDF5, CPU)
 *                         input_size ("CxHxW" of the training images; evaluate checks data against it)
 *
 * Checksums (docs/checkpoint.md): every dataset is one chunk with the
 * fletcher32 filter and the file is in HDF5's 1.10 format, whose superblock,
 * object headers (attributes), B-trees and heaps carry checksums; HDF5 checks
 * them on every read and a mismatch is MS_ERR_INPUT "<path>: checksum
 * mismatch in <dataset or group> (the file is corrupt)". Checkpoints without
 * checksums (the earlier format) still load.
 *
 * ckpt_save writes `<path>.tmp.<pid>`, flushes, fsyncs and renames it over
 * `path`: a crash never leaves a half-written file under the final name.
 * Every HDF5 call holds h5_lock() (h5util.h).
 */
#ifndef MEDSSL_CKPT_H
#define MEDSSL_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "medssl/optim.h"
#include "medssl/slab.h"

#define CKPT_FORMAT "medssl-checkpoint"
#define CKPT_VERSION 1

typedef struct {
    long long epoch;          /* epochs completed */
    long long step;           /* optimizer steps taken */
    long long samples_seen;
    uint64_t seed;
    uint64_t rng_position;    /* where the run's random stream resumes: the step (every draw is keyed by seed, epoch, step) */
    double best_metric;       /* best validation metric so far ("higher is better" orientation;
                                 -inf when none); optional attribute, for early stopping on resume */
    long long best_epoch;     /* epoch index of best_metric, -1 when none */
    double best_val_loss;     /* validation loss at best_epoch (ties of the metric go to the lower
                                 loss); optional attribute, +inf when none */
} ms_train_state;

typedef struct {
    const char *model_spec;
    const char *task;         /* e.g. "rotation", "classify" */
    const char *command_line;
    const uint8_t *permutations; /* jigsaw: (n_permutations, 9) tile orders, or NULL */
    int n_permutations;
    const char *environment;  /* runenv_describe's JSON (commit, ranks, threads, BLAS, ...), or NULL */
    const char *input_size;   /* "CxHxW" of the images the model was trained on, or NULL */
} ms_ckpt_meta;

/* Writes every slab tensor, the optimizer state (opt may be NULL) and the
 * training state (st may be NULL). */
int ckpt_save(const char *path, const ms_slab *s, const ms_optim *opt, const ms_train_state *st,
              const ms_ckpt_meta *meta);

/* Reads the root attributes model_spec and task (so the caller can build the
 * model first); either buffer may be NULL. */
int ckpt_read_meta(const char *path, char *model_spec, size_t spec_cap, char *task, size_t task_cap);

/* Reads the root string attribute `name` (e.g. command_line) into buf; *present = 0
 * and "" when the checkpoint lacks it. */
int ckpt_read_string(const char *path, const char *name, char *buf, size_t cap, int *present);

/* Reads /pretext/permutations (P rows of 9) into perms (capacity cap rows);
 * *P = 0 when the checkpoint has none. */
int ckpt_read_permutations(const char *path, uint8_t *perms, int cap, int *P);
/* Loads the tensors whose names start with `prefix` ("" = all) into the slab;
 * with opt non-NULL also the optimizer state, with st non-NULL the training
 * state. Every tensor of the slab under the prefix must be in the file with
 * the same shape: otherwise MS_ERR_INPUT with a message listing what is
 * missing or mismatched. Tensors in the file that the slab lacks are ignored
 * (e.g. a pretext head when fine-tuning) and counted in *n_ignored if non-NULL. */
int ckpt_load(const char *path, ms_slab *s, const char *prefix, ms_optim *opt, ms_train_state *st,
              int *n_ignored);

#endif
