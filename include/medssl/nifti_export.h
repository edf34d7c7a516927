/* nifti_export — per-slice results put back into a NIfTI volume aligned with
 * the volume they were cut from (nifti_import.h's slicing, undone): what
 * `medssl predict --nifti` writes, so a viewer (ITK-SNAP, FSLeyes) shows the
 * label volume over its input.
 *
 * The header of `like` is kept: dims, voxel sizes (pixdim), qform and sform
 * (codes, quaternion, matrices), units, the description; the datatype becomes
 * uint8 (labels) or float32 (probabilities), scaling is removed. The file
 * format follows `out`'s name: .nii.gz compressed, .nii plain (always one
 * file; a .hdr/.img input gives a .nii). Written atomically (a temporary
 * name, renamed when complete).
 *
 * Slice s of N along `axis` is the (H, W) image the importer cut:
 *   axis z:  pixel (r, c) = voxel (x = c, y = r, z = s)
 *   axis y:  pixel (r, c) = voxel (x = c, y = s, z = r)
 *   axis x:  pixel (r, c) = voxel (x = s, y = c, z = r)
 */
#ifndef MEDSSL_NIFTI_EXPORT_H
#define MEDSSL_NIFTI_EXPORT_H

#include <stdint.h>

#include "medssl/nifti_import.h"

/* Labels (N, H, W) into `out`, shaped like `like` (N, H, W must match its dims
 * along axis: MS_ERR_INPUT otherwise). cal_min/cal_max = 0 and max_label. */
int nifti_write_labels(const char *like, ms_nifti_axis axis, const uint8_t *labels, int N, int H, int W, int max_label,
                       const char *out);
/* Probabilities (N, K, H, W) into a 4-D float32 volume (nx, ny, nz, K) at out. */
int nifti_write_probabilities(const char *like, ms_nifti_axis axis, const float *probs, int N, int K, int H, int W,
                              const char *out);

#endif
