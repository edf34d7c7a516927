/* pretext — self-supervised pretext tasks: turn a batch of unlabeled images
 * into model inputs and targets.
 *
 *   rotation     (Gidaris et al. 2018) each image, centre-cropped to a square
 *                of side S = min(H, W) (offset floor((H-S)/2), floor((W-S)/2)),
 *                is rotated by k * 90 degrees counter-clockwise (k = 1 is
 *                numpy.rot90: out[i][j] = in[j][S-1-i]); the target is k
 *                (4-way classification on the pooled encoder features).
 *                all_rotations = 1: all four rotations of every image in the
 *                batch (4 rows per image, in order k = 0..3); 0: one rotation
 *                per image drawn from (seed, epoch, index).
 *   jigsaw       (Noroozi & Favaro 2016) the centre square of the image, side
 *                S = 3 * floor(min(H, W) / 3), is cut into a 3x3 grid of cells
 *                of side cell = S / 3 (cell k = row * 3 + col); from each cell a
 *                tile of side tile = max(1, floor(cell * 85 / 100)) is cropped
 *                at a random offset in [0, cell - tile]^2 (gap/jitter, so edge
 *                continuity does not solve the puzzle); the 9 tiles are shuffled
 *                by one of P permutations and each tile, channel by channel, is
 *                normalised to mean 0 and std 1 (std floored at 1e-3, so a flat
 *                tile becomes 0 instead of noise; mean intensity does not solve
 *                the puzzle either); the tiles go through the shared encoder
 *                (9 rows per image, in shuffled order) and the target is the
 *                permutation index.
 *                The permutation set is chosen greedily for maximal minimum
 *                Hamming distance, deterministically from the seed (see
 *                pretext_permutation_set).
 *                Tiles smaller than min_tile (the encoder's minimum input) are
 *                resized up to tile_out = min_tile (bilinear, half-pixel
 *                centres, edges clamped: PyTorch's align_corners=False) before
 *                they are normalised.
 *   autoencoder  reconstruct the image (MSE); variants: plain (input = image),
 *                denoising (input + Gaussian noise of std noise_sigma, not
 *                clipped), inpainting (square blocks of side mask_block, all
 *                channels, zeroed at random positions until at least
 *                mask_fraction of the pixels are covered; the loss is on the
 *                whole image, as in Models Genesis).
 *
 * Every random draw is keyed by (seed, epoch, global sample index,
 * RNG_PRETEXT), so the pretext transform of a sample does not depend on the
 * rank count, on the batch it is in, or on where a run resumed.
 *
 * Dimension legend: n images in a batch, C channels, H, W image size,
 * R rows per image (rotation 4 or 1, jigsaw 9, autoencoder 1), P permutations.
 */
#ifndef MEDSSL_PRETEXT_H
#define MEDSSL_PRETEXT_H

#include <stddef.h>
#include <stdint.h>

#include "medssl/log.h"
#include "medssl/model.h"
#include "medssl/task_ops.h"

typedef enum { PRETEXT_ROTATION, PRETEXT_JIGSAW, PRETEXT_AUTOENCODER, PRETEXT__COUNT } ms_pretext_kind;
typedef enum { AE_PLAIN, AE_DENOISING, AE_INPAINTING, AE__COUNT } ms_ae_variant;

#define PRETEXT_MAX_PERMUTATIONS 1000

typedef struct {
    ms_pretext_kind kind;
    uint64_t seed;
    int C, H, W;              /* corpus image shape */
    int min_tile;             /* smallest input side the encoder accepts (e.g. 2^(stages-1)), >= 1 */
    /* rotation */
    int all_rotations;        /* default 1 */
    /* jigsaw */
    int permutations;         /* P, default 100, 2..1000 */
    int tile;                 /* tile side cropped from each cell (derived by pretext_init) */
    int tile_out;             /* side fed to the model: max(tile, min_tile) (derived) */
    uint8_t *perms;           /* (P, 9): perms[p*9 + i] = which cell goes to position i (built by pretext_init) */
    /* autoencoder */
    ms_ae_variant ae_variant; /* default plain */
    float noise_sigma;        /* denoising, default 0.1 */
    float mask_fraction;      /* inpainting, default 0.25, in [0, 1] */
    int mask_block;           /* inpainting, 1..min(H, W); default max(2, min(H, W) / 8), at most min(H, W) */
} ms_pretext;

/* Parses "rotation" / "jigsaw" / "autoencoder" and "plain" / "denoising" /
 * "inpainting"; -1 if unknown. */
int pretext_kind_parse(const char *name);
int pretext_ae_variant_parse(const char *name);
const char *pretext_kind_name(ms_pretext_kind kind);
const char *pretext_ae_variant_name(ms_ae_variant variant);

/* pretext_defaults fills every option with its default for `kind` and the
 * image shape (allocates nothing). Options may be changed between
 * pretext_defaults and pretext_init. pretext_init validates the options,
 * derives tile/tile_out and builds the jigsaw permutation set; it returns
 * MS_ERR_INPUT (message says what is needed) when the image is too small for
 * the task (jigsaw: at least 3x3; every task: the model input side at least
 * min_tile, where the jigsaw resizes instead) or an option is out of range.
 * pretext_free releases the permutation set (safe after a failed init). */
void pretext_defaults(ms_pretext *p, ms_pretext_kind kind, uint64_t seed, int C, int H, int W, int min_tile);
int pretext_init(ms_pretext *p);
void pretext_free(ms_pretext *p);

/* Rows of model input per image (R) and the model input size: S x S for
 * rotation (S = min(H, W)) and jigsaw (S = tile_out), H x W for the autoencoder. */
int pretext_rows_per_image(const ms_pretext *p);
void pretext_input_dims(const ms_pretext *p, int *in_h, int *in_w);
/* Classes of the pretext head (4, P) or 0 for the autoencoder. */
int pretext_classes(const ms_pretext *p);
/* The head/decoder part of the model spec: "head:type=linear,classes=4",
 * "head:type=mlp,classes=P,hidden=512,dropout=0.5,tiles=9" or
 * "decoder:out=C,up=bilinear". */
void pretext_head_spec(const ms_pretext *p, char *buf, size_t cap);

/* Builds one batch: images (n, C, H, W) with their global indices (n) ->
 * inputs (n*R, C, in_h, in_w), targets (n*R) class indices (rotation: per row; jigsaw:
 * the permutation index, repeated for the 9 rows of an image, i.e. targets[i*9]
 * is image i's target), and for the autoencoder recon (n, C, H, W) = the clean
 * image (targets unused, may be NULL; recon is unused by the other tasks, may be
 * NULL; it must not overlap images). No allocation. */
void pretext_make(const ms_pretext *p, const float *images, const int64_t *index, int n, long epoch,
                  float *inputs, int32_t *targets, float *recon);

/* The jigsaw permutation set (P <= PRETEXT_MAX_PERMUTATIONS): perms (P, 9).
 * The first permutation is drawn from the seed; each next one is, among all
 * 9! permutations in lexicographic order, the one whose minimum Hamming
 * distance to those already chosen is largest (ties: the smallest
 * lexicographic index). Costs O(P * 9!) with a running min-distance array;
 * the first P' rows of the set for P > P' are the set for P'. */
void pretext_permutation_set(uint8_t *perms, int P, uint64_t seed);

/* ---- The task interface: one implementation per file in pretext/ ---------
 * pretext.c dispatches through a table of these indexed by ms_pretext_kind;
 * callers use the functions above. make_one turns one image (C, H, W) with its
 * key rng_key(seed, epoch, index, RNG_PRETEXT) into R rows of inputs
 * (R, C, in_h, in_w), R targets and (autoencoder) recon (C, H, W). */
typedef struct {
    int (*init)(ms_pretext *p); /* validate options, derive sizes; MS_OK or MS_FAIL(...) */
    int (*rows_per_image)(const ms_pretext *p);
    void (*input_dims)(const ms_pretext *p, int *in_h, int *in_w);
    int (*classes)(const ms_pretext *p);
    void (*head_spec)(const ms_pretext *p, char *buf, size_t cap);
    void (*make_one)(const ms_pretext *p, const float *image, uint64_t key, float *inputs,
                     int32_t *targets, float *recon);
} ms_pretext_task;

extern const ms_pretext_task pretext_rotation_task;
extern const ms_pretext_task pretext_jigsaw_task;
extern const ms_pretext_task pretext_autoencoder_task;

/* ---- Training: a pretext task as the trainer's task (pretext_train.c) ------
 * The trainer (medssl/trainer.h) sees a pretext task through
 * pretext_train_ops(kind) with an ms_pretext_train as its context: prepare
 * turns a loader batch into model inputs and targets (pretext_make) and sets
 * the model's rows; the loss is cross-entropy over the pretext classes
 * (metric val_accuracy) or the reconstruction MSE (metric val_mse, and
 * val_psnr in metrics.jsonl); the autoencoder writes
 * <out>/recon/epoch-E.png of its first validation batch every recon_every
 * epochs (rank 0). Buffers hold `batch` images of this rank. */
typedef struct {
    const ms_pretext *p;
    ms_model *model;
    int R, in_h, in_w;
    float *inputs, *recon;          /* (batch*R, C, in_h, in_w), (batch, C, H, W) */
    int32_t *targets, *row_targets; /* (batch*R) */
    const char *out;
    int recon_every, recon_count, rank;
    const ms_logger *log;           /* warnings (a reconstruction PNG not written); NULL: stderr */
    long epoch;                     /* the epoch running */
    int recon_pending;              /* the next validation batch becomes a reconstruction PNG */
} ms_pretext_train;

int pretext_train_init(ms_pretext_train *pt, const ms_pretext *p, ms_model *m, int batch, const char *out,
                       int recon_every, int recon_count, int rank);
void pretext_train_free(ms_pretext_train *pt);
const ms_task_ops *pretext_train_ops(ms_pretext_kind kind);

#endif
