/* nifti_export — slices back into a volume shaped like their source
 * (include/medssl/nifti_export.h). */
#include "medssl/nifti_export.h"
#include "medssl/atomic.h"
#include "medssl/common.h"

#include <nifti2_io.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The voxel index (x fastest) of pixel (r, c) of slice s. */
static size_t voxel_of(ms_nifti_axis axis, int64_t nx, int64_t ny, int s, int r, int c)
{
    int64_t x, y, z;
    switch (axis) {
    case NIFTI_AXIS_Z: x = c, y = r, z = s; break;
    case NIFTI_AXIS_Y: x = c, y = s, z = r; break;
    default: x = s, y = c, z = r; break;
    }
    return (size_t)(x + nx * (y + ny * z));
}

/* Reads like's header and checks that (N, H, W) is its slicing along axis. */
static int open_like(const char *like, ms_nifti_axis axis, int N, int H, int W, nifti_image **nim_out)
{
    nifti_set_debug_level(0);
    nifti_image *nim = nifti_image_read(like, 0);
    if (!nim) return MS_FAIL(MS_ERR_INPUT, "%s: not a readable NIfTI file", like);
    const int64_t nx = nim->nx, ny = nim->ny, nz = nim->nz;
    const int64_t want[NIFTI_AXIS__COUNT][3] = { { nx, nz, ny }, { ny, nz, nx }, { nz, ny, nx } }; /* N, H, W */
    if (want[axis][0] != N || want[axis][1] != H || want[axis][2] != W) {
        nifti_image_free(nim);
        return MS_FAIL(MS_ERR_INPUT, "%s: %lld x %lld x %lld voxels do not give %d slices of %d x %d along that axis", like,
                       (long long)nx, (long long)ny, (long long)nz, N, H, W);
    }
    *nim_out = nim;
    return MS_OK;
}

/* Writes nim with data (its dims and datatype already set) to out, atomically. */
static int write_volume(nifti_image *nim, void *data, const char *out)
{
    const size_t len = strlen(out);
    const int gz = len > 3 && strcmp(out + len - 3, ".gz") == 0;
    if (!(len > 4 && strcmp(out + len - 4, ".nii") == 0) && !(gz && len > 7 && strcmp(out + len - 7, ".nii.gz") == 0))
        return MS_FAIL(MS_ERR_INPUT, "%s: a NIfTI output must end in .nii or .nii.gz", out);
    /* nifticlib picks compression by the name: the temporary keeps the ending */
    char tmp[ATOMIC_PATH_MAX + 64];
    snprintf(tmp, sizeof tmp, "%.*s.tmp%d%s", (int)(len - (gz ? 7 : 4)), out, (int)getpid(), gz ? ".nii.gz" : ".nii");
    ms_temp_register(tmp);
    free(nim->fname);
    free(nim->iname);
    nim->fname = strdup(tmp);
    nim->iname = strdup(tmp);
    CHECK(nim->fname && nim->iname);
    nim->nifti_type = nim->nifti_type == NIFTI_FTYPE_NIFTI2_1 || nim->nifti_type == NIFTI_FTYPE_NIFTI2_2
                          ? NIFTI_FTYPE_NIFTI2_1 : NIFTI_FTYPE_NIFTI1_1; /* one file */
    nim->iname_offset = nim->nifti_type == NIFTI_FTYPE_NIFTI2_1 ? 544 : 352;
    nim->scl_slope = 0;
    nim->scl_inter = 0;
    nim->data = data;
    nifti_image_write(nim);
    nim->data = NULL;
    struct stat st;
    if (stat(tmp, &st) != 0 || st.st_size < nim->iname_offset) {
        unlink(tmp);
        ms_temp_unregister(tmp);
        return MS_FAIL(MS_ERR_RUNTIME, "%s: writing the NIfTI volume failed (is the folder writable? the disk full?)", out);
    }
    int rc = atomic_publish(tmp, out);
    ms_temp_unregister(tmp);
    return rc;
}

int nifti_write_labels(const char *like, ms_nifti_axis axis, const uint8_t *labels, int N, int H, int W, int max_label,
                       const char *out)
{
    nifti_image *nim;
    int rc = open_like(like, axis, N, H, W, &nim);
    if (rc) return rc;
    const int64_t nx = nim->nx, ny = nim->ny;
    uint8_t *vol = ms_malloc((size_t)N * H * W);
    for (int s = 0; s < N; s++)
        for (int r = 0; r < H; r++)
            for (int c = 0; c < W; c++) vol[voxel_of(axis, nx, ny, s, r, c)] = labels[((size_t)s * H + r) * W + c];
    nim->datatype = DT_UINT8;
    nim->nbyper = 1;
    nim->cal_min = 0;
    nim->cal_max = max_label;
    nim->intent_code = NIFTI_INTENT_LABEL;
    rc = write_volume(nim, vol, out);
    free(vol);
    nifti_image_free(nim);
    return rc;
}

int nifti_write_probabilities(const char *like, ms_nifti_axis axis, const float *probs, int N, int K, int H, int W,
                              const char *out)
{
    nifti_image *nim;
    int rc = open_like(like, axis, N, H, W, &nim);
    if (rc) return rc;
    const int64_t nx = nim->nx, ny = nim->ny;
    const size_t V = (size_t)N * H * W;
    float *vol = ms_malloc(V * K * sizeof *vol);
    for (int s = 0; s < N; s++)
        for (int k = 0; k < K; k++)
            for (int r = 0; r < H; r++)
                for (int c = 0; c < W; c++)
                    vol[(size_t)k * V + voxel_of(axis, nx, ny, s, r, c)] = probs[(((size_t)s * K + k) * H + r) * W + c];
    nim->ndim = nim->dim[0] = 4;
    nim->nt = nim->dim[4] = K;
    nim->nu = nim->nv = nim->nw = nim->dim[5] = nim->dim[6] = nim->dim[7] = 1;
    nim->pixdim[4] = nim->dt = 1;
    nim->nvox = (int64_t)V * K;
    nim->datatype = DT_FLOAT32;
    nim->nbyper = 4;
    nim->cal_min = 0;
    nim->cal_max = 1;
    nim->intent_code = NIFTI_INTENT_NONE;
    rc = write_volume(nim, vol, out);
    free(vol);
    nifti_image_free(nim);
    return rc;
}
