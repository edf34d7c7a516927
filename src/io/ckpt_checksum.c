/* ckpt_checksum — what makes a medssl checkpoint checksummed (see
 * include/medssl/ckpt.h and docs/checkpoint.md, "Checksums"): datasets under
 * the fletcher32 filter, the file in HDF5's 1.10 format, built in memory, and
 * the superblock checksum HDF5 1.10 gets wrong in a file image. Reading checks
 * them through HDF5 (h5_checksum_failed, include/medssl/h5util.h).
 *
 * The file is in HDF5's 1.10 format (ckpt_image_create's libver bounds):
 * superblock version 3, version-2 object headers (attributes, links, dataset
 * shapes and layouts live there), v2 B-trees, fractal heaps and chunk indexes
 * all carry a checksum that HDF5 checks whenever it reads them. The data of
 * every dataset with elements is chunked with the fletcher32 filter, checked
 * by every H5Dread (the default error-detection setting); one chunk is the
 * whole tensor unless it is above CKPT_CHUNK_MAX bytes (HDF5 chunks stay below
 * 4 GiB), then rows of the leading dimensions are split off. A scalar or empty
 * dataset cannot be chunked: it is compact, its value (if any) inside its
 * object header, under that header's checksum.
 */
#include "ckpt_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CKPT_CHUNK_MAX ((size_t)1 << 30)

int ckpt_write_dataset(hid_t group, const char *name, hid_t file_type, hid_t mem_type, int ndim, const hsize_t *dims,
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

hid_t ckpt_image_create(const char *name)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    /* The 1.10 file format: every piece of metadata has a checksum (see
     * ckpt_write_dataset); readable by HDF5 1.10 and later (h5py 3). */
    int ok = fapl >= 0 && H5Pset_fapl_core(fapl, (size_t)1 << 20, 0) >= 0 &&
             H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) >= 0 &&
             H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110) >= 0;
    hid_t f = ok ? H5Fcreate(name, H5F_ACC_TRUNC, H5P_DEFAULT, fapl) : H5I_INVALID_HID;
    if (fapl >= 0) H5Pclose(fapl);
    return f;
}

int ckpt_image_take(hid_t f, void **image, ssize_t *size)
{
    *image = NULL;
    *size = -1;
    if (H5Fflush(f, H5F_SCOPE_GLOBAL) < 0 || (*size = H5Fget_file_image(f, NULL, 0)) <= 0) return -1;
    *image = malloc((size_t)*size);
    if (!*image || H5Fget_file_image(f, *image, (size_t)*size) != *size ||
        fix_superblock_checksum(*image, (size_t)*size) != 0)
        return -1;
    return 0;
}
