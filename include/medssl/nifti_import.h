/* nifti_import — NIfTI volumes sliced into a medssl corpus: the library side
 * of `medssl import nifti VOLUME [--labels VOLUME] [--axis x|y|z]
 * [--window LO:HI] [--size S] [--domain D] [--append] --out FILE`.
 *
 * Input: one 3-D volume in a NIfTI-1 or NIfTI-2 file (.nii, .nii.gz; a
 * .hdr/.img pair also works, named by its .hdr), read with nifticlib
 * (libnifti2). "3-D" means dim[0] == 3, or dim[0] == 4 with dim[4] == 1;
 * every spatial dim must be in 1..NIFTI_MAX_SIDE and the voxel count at most
 * NIFTI_MAX_VOXELS. Voxel datatypes: uint8, int8, int16, uint16, int32,
 * uint32, float32, float64 (anything else, e.g. complex or RGB, is refused).
 * When scl_slope is non-zero the value of a voxel is
 * scl_slope * stored + scl_inter (computed in double), as the NIfTI standard
 * says; otherwise the stored value.
 *
 * Header checks (before nifticlib builds its image, because it would hide
 * these): dim[1..dim[0]] >= 1 (nifticlib turns 0 and negative dims into 1);
 * a supported datatype; vox_offset finite and a whole number of bytes, not
 * negative (a negative one is kept only for Analyze 7.5 .hdr/.img, where it
 * means "the last bytes of the .img"), and at least 352 (NIfTI-1) or 544
 * (NIfTI-2) when the voxels are in the header's own file (.nii, .nii.gz);
 * scl_slope and scl_inter finite in a NIfTI file, even when scl_slope is 0
 * (nifticlib would read NaN/Inf as 0, i.e. as "no scaling"). Each failure is
 * an input error naming the file and the field.
 *
 * Orientation: NONE is applied. qform/sform and pixdim are ignored; slices are
 * cut in the file's voxel index order (i, j, k) = (x, y, z), x fastest in
 * memory. Slice s along an axis is the 2-D image (rows r, columns c):
 *
 *   axis z:  H = ny, W = nx,  pixel (r, c) = voxel (x = c, y = r, z = s)
 *   axis y:  H = nz, W = nx,  pixel (r, c) = voxel (x = c, y = s, z = r)
 *   axis x:  H = nz, W = ny,  pixel (r, c) = voxel (x = s, y = c, z = r)
 *
 * Row 0 is the first row of the image; nothing is flipped or transposed, so a
 * slice may look mirrored or rotated compared with a viewer that honours the
 * orientation matrices. Slices are written in increasing s; N = the dim
 * along the axis (fewer with skip_empty).
 *
 * Intensities (the corpus is 1-channel float32, values in [0, 1]):
 *   with a window [LO, HI] (LO < HI, finite):  v' = (min(max(v, LO), HI) - LO) / (HI - LO)
 *   without:  v' = (v - min) / (max - min) over the whole volume (one min/max
 *             per volume, not per slice); a constant volume gives all 0.
 * A NaN or +-Inf voxel is an input error in both cases (the message names the
 * file and the first such voxel as (x,y,z) in index order).
 *
 * Labels (optional): a second volume with the same nx, ny, nz (datatype may
 * differ). Every voxel value (after scl_slope/scl_inter) must be an integer
 * in 0..254 — 255 is the corpus's "ignore" class and is not accepted from a
 * file; anything else (negative, fractional, > 254, NaN) is an input error
 * naming the file, the voxel and the value. Label slices become /masks.
 *
 * Resize (size S > 0): every slice to S x S — the image bilinearly, the mask
 * by nearest neighbour; both with align_corners=False pixel centres (output
 * pixel y samples source coordinate (y + 0.5) * H / S - 0.5; bilinear clamps at
 * the edges; nearest takes row floor((y + 0.5) * H / S), i.e. PyTorch's
 * "nearest-exact"), the same sampling as resize_u8_bilinear (resample.h).
 *
 * Writing: always through corpus_writer (a temporary file renamed into place
 * only when complete), so an error never leaves an output file that looks
 * complete and never damages an existing one. Every input is read and
 * validated before the writer is created. Without append, an existing file at
 * `out` is replaced (on success only).
 *
 * Append: when `out` exists, it is opened and validated (corpus_open) and must
 * be compatible: C = 1, dtype float32, the same H x W as the new slices, /masks
 * present exactly when a label volume is given, /domains present exactly when
 * domain >= 0. A NEW corpus with the old samples first (copied exactly,
 * class_names kept) and then the new slices is written to a temporary file and
 * renamed over `out`; if the old corpus has /labels, the new slices get label
 * -1 (unlabeled). An incompatible or unreadable old corpus is an input error
 * naming it, and it is left untouched. When `out` does not exist, append
 * simply creates it.
 *
 * nifticlib's own messages are switched off (nifti_set_debug_level(0), a
 * process-wide setting of that library), and the header checks above refuse
 * what nifticlib would report with "** ERROR" lines whatever that level (dim[1]
 * <= 0, datatype 0 or 1), so a bad file gives one message, ours.
 *
 * Dimension legend: nx, ny, nz volume dims in voxel index order; N slices;
 * H, W slice size; S resized side.
 */
#ifndef MEDSSL_NIFTI_IMPORT_H
#define MEDSSL_NIFTI_IMPORT_H

#include "medssl/resample.h"

#define NIFTI_MAX_SIDE 16384                 /* = CORPUS_MAX_SIDE */
#define NIFTI_MAX_VOXELS (1LL << 31)         /* 8 GiB as float32 */

/* The slicing axis; the values are the voxel index dims (x = dim[1]). */
typedef enum { NIFTI_AXIS_X = 0, NIFTI_AXIS_Y = 1, NIFTI_AXIS_Z = 2, NIFTI_AXIS__COUNT } ms_nifti_axis;

typedef struct {
    const char *volume;     /* required: the intensity volume (.nii / .nii.gz) */
    const char *labels;     /* NULL: no masks; else the label volume (same dims) */
    const char *out;        /* required: the corpus to write */
    ms_nifti_axis axis;     /* slicing axis; default NIFTI_AXIS_Z */
    int has_window;         /* 1: clip to [window_lo, window_hi] then scale; 0: min-max */
    double window_lo, window_hi;
    int size;               /* 0: keep the slice size; 1..NIFTI_MAX_SIDE: resize to size x size */
    ms_fit fit;             /* with size: FIT_RESIZE (default) or FIT_PAD */
    int domain;             /* >= 0: /domains with this value for every new slice; -1: no /domains */
    int append;             /* 1: keep the samples of an existing `out` (see Append above) */
    int skip_empty;         /* 1: drop slices whose (resized) mask is all 0; needs labels */
    int gzip;               /* gzip level of the output's HDF5 chunks, 0 (none) to 9 */
} ms_nifti_import_opts;

/* Defaults: every pointer NULL, axis z, no window, size 0, domain -1, append 0,
 * skip_empty 0, gzip 0. */
void nifti_import_opts_init(ms_nifti_import_opts *o);

/* "x" | "y" | "z" -> *axis; anything else: MS_ERR_INPUT naming --axis. */
int nifti_parse_axis(const char *s, ms_nifti_axis *axis);
/* "LO:HI" (two finite numbers, LO < HI, e.g. "-1000:400") -> *lo, *hi;
 * anything else: MS_ERR_INPUT naming --window and the expected form. */
int nifti_parse_window(const char *s, double *lo, double *hi);

/* Slices o->volume (and o->labels) along o->axis into the corpus o->out, as
 * described above. Returns MS_OK; MS_ERR_INPUT for bad options (the message
 * names the flag: --axis, --window, --size, --domain, --gzip, --skip-empty)
 * and for any bad input file — missing or unreadable, not NIfTI, truncated,
 * not 3-D, dims out of range, unsupported datatype, bad vox_offset, NaN/Inf
 * scl_slope or scl_inter, NaN/Inf voxel, label dims
 * differing from the volume's (both files named), bad label values,
 * incompatible or invalid corpus to append to, no slice left after
 * skip_empty — with one message naming the file; the corpus writer's codes
 * when writing fails (MS_ERR_INPUT if the output folder is not writable,
 * MS_ERR_RUNTIME for a failed write, e.g. disk full). On any error no new
 * file is left and an existing `out` is unchanged. Messages: ms_last_error().
 * Prints nothing. */
int nifti_import(const ms_nifti_import_opts *o);

#endif
