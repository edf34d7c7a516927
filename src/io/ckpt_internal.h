/* ckpt_internal — what the checkpoint writer (ckpt.c) takes from
 * ckpt_checksum.c, the part that makes a checkpoint file checksummed; not
 * part of the public API. Every call holds h5_lock(). */
#ifndef MEDSSL_CKPT_INTERNAL_H
#define MEDSSL_CKPT_INTERNAL_H

#include <stddef.h>
#include <sys/types.h>

#include <hdf5.h>

/* A checkpoint built in memory (HDF5's core driver, no backing store; `name`
 * is only its name) in HDF5's 1.10 file format, where every piece of metadata
 * has a checksum; H5I_INVALID_HID on failure. */
hid_t ckpt_image_create(const char *name);
/* The bytes of the file f built by ckpt_image_create, flushed, into *image
 * (malloc'd, *size bytes; the caller frees it, on failure too), its
 * superblock checksum made right; 0, or -1 (out of memory, or HDF5 failed).
 * f stays open. */
int ckpt_image_take(hid_t f, void **image, ssize_t *size);
/* Dataset group/name of ndim dims (0: a scalar) from data as mem_type, stored
 * as file_type under a checksum: chunked with the fletcher32 filter, or
 * compact when it is a scalar or empty. 0, or -1. */
int ckpt_write_dataset(hid_t group, const char *name, hid_t file_type, hid_t mem_type, int ndim, const hsize_t *dims,
                       const void *data);

#endif
