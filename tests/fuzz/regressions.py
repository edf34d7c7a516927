#!/usr/bin/env python3
"""Regression cases for the fuzz targets, generated (no binary is committed):
each is an input that once crashed a reader (or the issue-10 reproducer it
stands for) and must now fail cleanly with MS_ERR_INPUT. run.sh replays
OUT_DIR/<target>/* and tests/fuzz/regressions/<target>/* (small minimized
inputs) before fuzzing.
Usage: regressions.py OUT_DIR VALID_CHECKPOINT"""
import os, shutil, struct, sys, zlib

import h5py
import numpy as np

out, ckpt = sys.argv[1], sys.argv[2]
for t in ("corpus", "ckpt", "png", "nifti", "idx", "model_spec", "augment"):
    os.makedirs(os.path.join(out, t), exist_ok=True)


def corpus(name, attrs_fn=None, **datasets):
    with h5py.File(os.path.join(out, "corpus", name), "w") as f:
        f.create_dataset("images", data=np.zeros((2, 1, 4, 4), np.uint8))
        for k, v in datasets.items():
            f.create_dataset(k, data=v)
        f.attrs["format"] = np.bytes_(b"medssl-corpus")
        f.attrs["version"] = np.int32(1)
        if attrs_fn:
            attrs_fn(f.attrs)


def ckpt_mutant(name, fn):
    path = os.path.join(out, "ckpt", name)
    shutil.copy(ckpt, path)
    with h5py.File(path, "r+") as f:
        fn(f)


# issue 10 item 1: attributes written as arrays overflowed the readers' buffers
corpus("format_array.h5", lambda a: a.__setitem__("format", np.array([b"medssl-corpus", b"x"])))
corpus("version_array.h5", lambda a: a.__setitem__("version", np.array([1, 1], np.int32)))
corpus("class_names_array.h5", lambda a: a.__setitem__("class_names", np.array([b"a,b", b"c"])))
ckpt_mutant("momentum_array.h5", lambda f: f["optim"].attrs.__setitem__("momentum", np.zeros(32, np.float32)))
ckpt_mutant("epoch_array.h5", lambda f: f["state"].attrs.__setitem__("epoch", np.zeros(32, np.int64)))
ckpt_mutant("model_spec_array.h5", lambda f: f.attrs.__setitem__("model_spec", np.array([b"widths=4", b"x"])))

# fuzz_idx finding 1: a 20-byte IDX whose header declares 8388614 x 10 x 4641
# images (389 GB) made idx_read_body allocate the declared size up front:
# ms_malloc aborted ("out of memory"). Now the buffer grows with the data read.
import struct
with open(os.path.join(out, "idx", "declares_389GB.idx"), "wb") as f:
    f.write(bytes([0, 0, 8, 3]) + struct.pack(">III", 0x800006, 10, 0x1221) + b"\x08\x5c\x48\xa3")
with open(os.path.join(out, "idx", "labels_declare_1e8.idx"), "wb") as f:
    f.write(bytes([0, 0, 8, 1]) + struct.pack(">I", 100000000) + b"\x01\x02")

# Declared sizes drove allocation before they were checked against the file
# (issue 10 item 2); each of these aborted in ms_malloc or exceeded the
# fuzzer's 1 GB malloc limit, and is now an input error naming the file.
import zlib


def png_chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff)


# a 100-byte PNG declaring 16384 x 16384 16-bit RGBA pixels (2 GiB of rows)
with open(os.path.join(out, "png", "declares_2GiB.png"), "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 16384, 16384, 16, 6, 0, 0, 0)) +
            png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + png_chunk(b"IEND", b""))

# a 356-byte NIfTI-1 declaring 16384 x 16384 x 8 float64 voxels (16 GiB)
h = bytearray(348)
struct.pack_into("<i", h, 0, 348)
struct.pack_into("<8h", h, 40, 3, 16384, 16384, 8, 1, 1, 1, 1)
struct.pack_into("<hh", h, 70, 64, 64)
struct.pack_into("<8f", h, 76, 1, 1, 1, 1, 1, 1, 1, 1)
struct.pack_into("<fff", h, 108, 352.0, 0.0, 0.0)
h[344:348] = b"n+1\x00"
with open(os.path.join(out, "nifti", "declares_16GiB.nii"), "wb") as f:
    f.write(bytes(h) + b"\x00" * 8)

# a corpus declaring 2^33 images (and labels) in chunks that were never written
with h5py.File(os.path.join(out, "corpus", "declares_8e9_images.h5"), "w") as f:
    f.create_dataset("images", shape=(1 << 33, 1, 4, 4), dtype=np.uint8, chunks=(1024, 1, 4, 4))
    f.create_dataset("labels", shape=(1 << 33,), dtype=np.int32, chunks=(1 << 16,))
    f.attrs["format"] = np.bytes_(b"medssl-corpus")
    f.attrs["version"] = np.int32(1)
# a contiguous /images whose storage was never allocated
with h5py.File(os.path.join(out, "corpus", "contiguous_unallocated.h5"), "w") as f:
    f.create_dataset("images", shape=(1 << 20, 1, 64, 64), dtype=np.uint8)
    f.attrs["format"] = np.bytes_(b"medssl-corpus")
    f.attrs["version"] = np.int32(1)

# a checkpoint whose model_spec asks for ~2e10 parameters (model_build aborted allocating them)
ckpt_mutant("model_spec_2e10_params.h5", lambda f: f.attrs.__setitem__(
    "model_spec", np.bytes_(b"encoder:in=1,widths=4096-4096-4096-4096-4096-4096-4096-4096,convs=16;head:type=linear,classes=4")))
with open(os.path.join(out, "model_spec", "2e10_params.txt"), "wb") as f:
    f.write(b"encoder:in=1,widths=4096-4096-4096-4096-4096-4096-4096-4096,convs=16")

# fuzz_nifti finding: a NIfTI-2 header with dim[0] = 768 (and a bad datatype)
# smashed the stack inside libnifti2's nifti_image_read ("stack smashing
# detected", SIGABRT; under ASan a SEGV in volume_load). import_nifti.c now
# checks sizeof_hdr and dim[0] itself before calling the library.
h = bytearray(544)
struct.pack_into("<i", h, 0, 540)
h[4:12] = b"n+2\x00\r\np\x1a"
struct.pack_into("<hh", h, 12, 0x400a, 0x4000)
struct.pack_into("<8q", h, 16, 768, 2, 3, 2, 1, 1, 1, 1)
with open(os.path.join(out, "nifti", "n2_dim0_768.nii"), "wb") as f:
    f.write(bytes(h))
h1 = bytearray(352)   # the same for NIfTI-1: dim[0] = 300
struct.pack_into("<i", h1, 0, 348)
struct.pack_into("<8h", h1, 40, 300, 2, 2, 2, 1, 1, 1, 1)
struct.pack_into("<hh", h1, 70, 2, 8)
h1[344:348] = b"n+1\x00"
with open(os.path.join(out, "nifti", "n1_dim0_300.nii"), "wb") as f:
    f.write(bytes(h1))
