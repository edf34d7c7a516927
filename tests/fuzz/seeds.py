#!/usr/bin/env python3
"""Seed files for the fuzz targets that need no medssl binary (make_seeds.sh
calls this first): h5py corpora, PNGs of every colour type written with zlib,
NIfTI-1/NIfTI-2 volumes, IDX files, model specs, augmentation pipelines and
JSON texts.
Usage: seeds.py OUT_DIR (OUT_DIR/<target>/ must exist)."""
import gzip, os, struct, sys, zlib

import h5py
import numpy as np

out = sys.argv[1]
rng = np.random.default_rng(0)


def put(target, name, data):
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data)


# ---- corpus: medssl-corpus v1 files in the layouts h5py users write -------------------------
def corpus(name, images, labels=None, masks=None, domains=None, class_names=None, vlen=False, **kw):
    with h5py.File(os.path.join(out, "corpus", name), "w") as f:
        f.create_dataset("images", data=images, **kw)
        if labels is not None:
            f.create_dataset("labels", data=labels)
        if masks is not None:
            f.create_dataset("masks", data=masks)
        if domains is not None:
            f.create_dataset("domains", data=domains)
        if vlen:
            f.attrs["format"] = "medssl-corpus"
        else:
            f.attrs["format"] = np.bytes_(b"medssl-corpus")
        f.attrs["version"] = np.int32(1)
        if class_names is not None:
            f.attrs["class_names"] = class_names


u8 = rng.integers(0, 256, (6, 1, 8, 8), dtype=np.uint8)
corpus("u8_labels_chunked.h5", u8, labels=np.array([0, 1, -1, 2, 0, -1], np.int32),
       class_names="a,b,c", chunks=(2, 1, 8, 8))
corpus("f32_masks_domains_gzip.h5", rng.random((5, 2, 6, 4), dtype=np.float32),
       masks=rng.integers(0, 3, (5, 6, 4), dtype=np.uint8), domains=np.array([0, 1, 0, 2, 1], np.int32),
       vlen=True, chunks=(1, 2, 6, 4), compression="gzip")
corpus("u8_contiguous_int64_labels.h5", u8[:3], labels=np.array([1, 0, 1], np.int64))

# ---- png: every colour type, written by hand with zlib -----------------------------------------
def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff)


def png(name, w, h, depth, color, rows, extra=b""):
    raw = b"".join(b"\x00" + r for r in rows)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 0))
    data += extra + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    put("png", name, data)


png("gray8.png", 5, 4, 8, 0, [bytes(rng.integers(0, 256, 5, dtype=np.uint8)) for _ in range(4)])
png("gray1.png", 9, 3, 1, 0, [bytes([0b10110011, 0b10000000]) for _ in range(3)])
png("gray4.png", 3, 2, 4, 0, [bytes([0x1f, 0xa0]) for _ in range(2)])
png("gray16.png", 3, 3, 16, 0, [struct.pack(">HHH", 0, 40000, 65535) for _ in range(3)])
png("graya8.png", 2, 2, 8, 4, [bytes([10, 255, 200, 0]) for _ in range(2)])
png("rgb8.png", 4, 3, 8, 2, [bytes(rng.integers(0, 256, 12, dtype=np.uint8)) for _ in range(3)])
png("rgba16.png", 2, 2, 16, 6, [bytes(rng.integers(0, 256, 16, dtype=np.uint8)) for _ in range(2)])
png("palette.png", 4, 2, 8, 3, [bytes([0, 1, 2, 1]) for _ in range(2)],
    extra=chunk(b"PLTE", bytes([0, 0, 0, 255, 0, 0, 0, 255, 0])) + chunk(b"tRNS", bytes([0, 255, 128])))
png("palette2.png", 5, 2, 2, 3, [bytes([0b00011011, 0b01000000]) for _ in range(2)],
    extra=chunk(b"PLTE", bytes(range(12))))

# ---- nifti: NIfTI-1 (.nii, .nii.gz) and NIfTI-2 volumes ------------------------------------------
def nifti1(dims, dtype_code, bitpix, data, slope=0.0, inter=0.0):
    h = bytearray(348)
    struct.pack_into("<i", h, 0, 348)
    d = [len(dims)] + list(dims) + [1] * (7 - len(dims))
    struct.pack_into("<8h", h, 40, *d)
    struct.pack_into("<hh", h, 70, dtype_code, bitpix)
    struct.pack_into("<8f", h, 76, 1, 1, 1, 1, 1, 1, 1, 1)
    struct.pack_into("<fff", h, 108, 352.0, slope, inter)
    h[344:348] = b"n+1\x00"
    return bytes(h) + b"\x00" * 4 + data


def nifti2(dims, dtype_code, bitpix, data):
    h = bytearray(540)
    struct.pack_into("<i", h, 0, 540)
    h[4:12] = b"n+2\x00\r\n\x1a\n"
    struct.pack_into("<hh", h, 12, dtype_code, bitpix)
    d = [len(dims)] + list(dims) + [1] * (7 - len(dims))
    struct.pack_into("<8q", h, 16, *d)
    struct.pack_into("<8d", h, 104, 1, 1, 1, 1, 1, 1, 1, 1)
    struct.pack_into("<qdd", h, 168, 544, 0.0, 0.0)
    return bytes(h) + b"\x00" * 4 + data


vol = rng.integers(0, 200, (3, 4, 5), dtype=np.uint8)         # z, y, x
put("nifti", "u8.nii", nifti1((5, 4, 3), 2, 8, vol.tobytes()))
put("nifti", "i16_scaled.nii", nifti1((4, 3, 2), 4, 16, rng.integers(-1000, 1000, 24, dtype=np.int16).tobytes(),
                                      slope=0.5, inter=10.0))
put("nifti", "f32_4d.nii", nifti1((3, 3, 2, 1), 16, 32, rng.random(18, dtype=np.float32).tobytes()))
put("nifti", "u8.nii.gz", gzip.compress(nifti1((2, 2, 2), 2, 8, bytes(range(8))), mtime=0))
put("nifti", "f64_n2.nii", nifti2((2, 3, 2), 64, 64, rng.random(12).tobytes()))

# ---- idx: MNIST-style images and labels, raw and gzip ----------------------------------------------
images3 = bytes([0, 0, 8, 3]) + struct.pack(">III", 6, 8, 8) + bytes(rng.integers(0, 256, 6 * 64, dtype=np.uint8))
labels = bytes([0, 0, 8, 1]) + struct.pack(">I", 6) + bytes([0, 1, 2, 0, 1, 2])
put("idx", "images3.idx", images3)
put("idx", "labels.idx", labels)
put("idx", "images3.idx.gz", gzip.compress(images3, mtime=0))
put("idx", "labels.idx.gz", gzip.compress(labels, mtime=0))

# ---- text: model specs and augmentation pipelines -------------------------------------------------
specs = ["encoder:in=1,widths=32-64-128-256,block=plain,convs=2;head:type=linear,classes=4",
         "widths=16-32-64,convs=2", "encoder:in=3,widths=8-16,block=residual,convs=2;head:type=mlp,classes=10,hidden=256,dropout=0.5",
         "encoder:widths=4-8;head:type=linear,classes=10,norm=bn", "encoder:widths=8;head:type=mlp,classes=100,hidden=512,tiles=9",
         "encoder:in=1,widths=8-16-32;decoder:out=2,up=bilinear", "encoder:widths=4-8;decoder:out=3,up=nearest;head:linear,classes=2",
         "encoder:widths=8-16;head:type=linear,classes=3,norm=bn,subset=0-5-15"]
for i, s in enumerate(specs):
    put("model_spec", "spec%d.txt" % i, s.encode())
pipes = ["flip:h,rotate:15,crop:0.8,shift:0.1,scale:0.9-1.1,noise:0.05,elastic:34:4,brightness:0.1,contrast:0.2,gamma:0.8-1.25",
         "rotate:15@0.5", "flip:hv@0.3,crop:1", "none", "", "elastic:0:64,scale:0.1-10,gamma:10-10", "flip:v,shift:1@1"]
for i, p in enumerate(pipes):
    put("augment", "aug%d.txt" % i, p.encode())

# ---- jsonr: JSON texts like medssl's metrics.json / metrics.jsonl, and the grammar's corners ------
texts = ['{"step": 12, "loss": 0.25, "lr": 1e-3, "ips": 1234.57, "nan": null, "path": "run/we\\"ird\\na\\tme"}',
         '{\n  "accuracy": 0.8125,\n  "per_class": [\n    {"dsc": 0.5, "ci": [0.1, 0.9]},\n    {"dsc": null}\n  ],\n'
         '  "none": [],\n  "env": {"mpi": true, "ranks": 2, "gemm": "openblas"}\n}\n',
         '["\\" \\\\ \\/ \\b \\f \\n \\r \\t", "\\u0041\\u00e9\\u20AC\\uD83D\\uDE00", "\u00e9\\u007f"]',
         '[-0, 0.5, -12.25e1, 1E+2, 1e-400, 1.7976931348623157e308, 123456789012345678901234567890, true, false, null]',
         '{"a": {"a": [[{"": [{}]}]]}, "a": 1}', '"x"', " \t\r\n 7 "]
for i, t in enumerate(texts):
    put("jsonr", "text%d.json" % i, t.encode())

# ---- report: a run folder's metrics.jsonl, "--8<--", its test/metrics.json ----------------------
jsonl = ('{"event": "start", "time": "2026-12-04T12:53:39Z", "step": 0, "environment": {"ranks": 2, "gemm": "onednn"}}\n'
         '{"epoch": 0, "step": 4, "loss": 1.5, "lr": 0.01, "images_per_s": 100.5}\n'
         '{"epoch": 0, "step": 8, "loss": 1.2, "lr": 0.02, "images_per_s": 120, "loader_wait_s": 0.1, '
         '"allreduce_wait_s": 0.2, "val_loss": 1.1, "val_accuracy": 0.5}\n'
         '{"epoch": 1, "step": 16, "loss": null, "lr": 0.01, "images_per_s": 130, "loader_wait_s": 0.05, '
         '"allreduce_wait_s": 0.3, "val_loss": null, "val_dsc": 0.7}\n')
cls = ('{"n": 4, "accuracy": 0.75, "balanced_accuracy": 0.75, "macro_auc": 0.8, "confusion": [[1, 1], [0, 2]], '
       '"per_class": [{"sensitivity": 0.5, "specificity": 1, "precision": 1, "f1": 0.67, "auc": 0.8}, '
       '{"sensitivity": 1, "specificity": 0.5, "precision": 0.67, "f1": 0.8, "auc": 0.8}], '
       '"roc": [{"fpr": [0, 0.5, 1], "tpr": [0, 1, 1]}, null], "ci95": {"resamples": 50, "seed": 0, '
       '"accuracy": [0.5, 1]}, "domains": {"0": {"n": 2, "accuracy": 1}}, "model": "m<b>.h5", "task": "classify"}')
seg = ('{"n": 3, "n_fg": 3, "dsc_mean": 0.8, "dsc_std": 0.1, "per_class": [{"dsc_mean": 0.9, "n": 3, "n_empty": 0}, '
       '{"dsc_mean": 0.8, "n": 2, "n_empty": 1}], "dsc_per_image": [[0.9, 0.95, 0.85], [0.7, 0.9]], '
       '"domains": {"a": {"n": 1, "dsc_per_image": [[1], [0.5]]}}}')
ens = '{"task": "classify", "members": [{"path": "a.h5", "weight": 1, "metrics": %s}], "combiners": {"average": %s}}' % (cls, cls)
for i, m in enumerate([cls, seg, ens, "", "[]"]):
    put("report", "run%d.txt" % i, (jsonl + "--8<--\n" + m).encode())
