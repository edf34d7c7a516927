#!/usr/bin/env bash
# CLI test of `medssl predict` on real files:
#   - classify on a corpus: predictions.csv has one row per image, the header
#     id,predicted_class,p_0..; the probabilities are evaluate --probabilities'
#     to the printed digits and the class is their argmax; 2 ranks write the
#     same file as 1;
#   - classify on a PNG folder (nested, names with a comma): ids are the paths
#     in sorted order, numbers the same as on the corpus `import png` makes;
#   - segment on a corpus: masks/<id>.png, 8-bit gray, equal to the argmax of
#     probabilities.h5; overlays; 2 ranks the same masks;
#   - segment on a NIfTI volume with an oblique affine (nibabel writes it): the
#     label volume has the input's shape, affine, qform/sform codes and voxel
#     sizes (nibabel reads it back), and for slicing axes z, y and x every
#     voxel equals the mask predicted for that slice of `import nifti --axis`'s
#     corpus; probabilities.nii.gz is (nx, ny, nz, K) with argmax = mask;
#   - bad input: exit 2 with one line, and nothing left in --out.
set -euo pipefail
MEDSSL=$(readlink -f "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
PHANTOM=$(dirname "$MEDSSL")/medssl_phantom
fail() { echo "FAIL: $*"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export TEST_UTIL=$HERE/util
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
cd "$out"
PY=/usr/bin/python3

"$PHANTOM" --kind cls --n 160 --size 24 --seed 1 --out c.h5
"$PHANTOM" --kind seg --n 120 --size 24 --seed 3 --out s.h5
ENC="encoder:widths=8-16,convs=1"
FT=(--threads 1 --log-every 1000 --strategy scratch --encoder "$ENC")
"$MEDSSL" finetune --task classify --train c.h5 --out cls --epochs 2 "${FT[@]}" 2> ft.log || { cat ft.log; fail "finetune classify"; }
"$MEDSSL" finetune --task segment --train s.h5 --out seg --epochs 3 "${FT[@]}" 2> ft.log || { cat ft.log; fail "finetune segment"; }

# --- usage and bad input: one line, exit 2, nothing written -----------------------------------
expect2() { # expected stderr line, then the arguments
    local want=$1; shift
    set +e; err=$("$MEDSSL" predict "$@" 2>&1 >/dev/null); rc=$?; set -e
    [ $rc -eq 2 ] || fail "predict $*: exit $rc, expected 2 ($err)"
    [ "$err" = "$want" ] || fail "predict $*: '$err', expected '$want'"
}
expect2 "medssl predict: --model CKPT is required (see medssl predict --help)" --data c.h5 --out bad
expect2 "medssl predict: give exactly one input: --data FILE, --png DIR or --nifti VOLUME (see medssl predict --help)" \
    --model cls/best.h5 --out bad
expect2 "medssl predict: give exactly one input: --data FILE, --png DIR or --nifti VOLUME (see medssl predict --help)" \
    --model cls/best.h5 --data c.h5 --png . --out bad
expect2 "medssl predict: --out DIR is required (see medssl predict --help)" --model cls/best.h5 --data c.h5
expect2 "medssl predict: --axis is for --nifti inputs" --model cls/best.h5 --data c.h5 --axis x --out bad
expect2 "medssl predict: nope.h5: cannot read: No such file or directory" --model nope.h5 --data c.h5 --out bad
"$MEDSSL" pretrain --task rotation --corpus c.h5 --encoder "$ENC" --epochs 1 --threads 1 --out pre 2> /dev/null
set +e; err=$("$MEDSSL" predict --model pre/last.h5 --data c.h5 --out bad 2>&1 >/dev/null); rc=$?; set -e
[ $rc -eq 2 ] && [ "$(echo "$err" | wc -l)" = 1 ] && case "$err" in *pre/last.h5*) ;; *) false ;; esac ||
    fail "a pretext checkpoint: exit $rc: $err"
mkdir emptydir
expect2 "medssl predict: emptydir: no *.png files found" --model cls/best.h5 --png emptydir --out bad
[ -z "$(ls -A bad 2>/dev/null)" ] || fail "a failed predict left: $(ls -A bad)"

# --- classify on a corpus; 2 ranks -------------------------------------------------------------
"$MEDSSL" predict --model cls/best.h5 --data c.h5 --out pc 2> p.log || { cat p.log; fail "predict classify"; }
mpirun -np 2 "$MEDSSL" predict --model cls/best.h5 --data c.h5 --out pc2 2> p2.log || { cat p2.log; fail "predict 2 ranks"; }
cmp -s pc/predictions.csv pc2/predictions.csv || fail "2 ranks wrote another predictions.csv"
"$MEDSSL" evaluate --model cls/best.h5 --data c.h5 --probabilities ev.h5 > /dev/null 2>&1 || fail "evaluate --probabilities"
$PY - pc/predictions.csv ev.h5 <<'PY' || fail "predictions.csv"
import csv, sys, h5py, numpy as np
rows = list(csv.reader(open(sys.argv[1])))
p = h5py.File(sys.argv[2])["probabilities"][()]
K = p.shape[1]
assert rows[0] == ["id", "predicted_class"] + ["p_%d" % k for k in range(K)], rows[0]
assert len(rows) == 1 + len(p), (len(rows), len(p))
got = np.array([[float(x) for x in r[2:]] for r in rows[1:]])
assert np.allclose(got, p, rtol=1e-5, atol=1e-6), abs(got - p).max()
assert [int(r[1]) for r in rows[1:]] == list(got.argmax(1))
assert [r[0] for r in rows[1:3]] == ["000000", "000001"]
print("classify: %d rows, K = %d, agree with evaluate" % (len(rows) - 1, K))
PY

# --- classify on a PNG folder --------------------------------------------------------------------
$PY - c.h5 <<'PY'
import os, sys, h5py, numpy as np
sys.path.insert(0, os.environ["TEST_UTIL"])
from pngdecode import encode_gray
im = h5py.File(sys.argv[1])["images"][()]
im = (np.clip(im.astype(np.float32) / (255.0 if im.dtype == np.uint8 else 1.0), 0, 1) * 255).round().astype(np.uint8)
for i in range(12):
    d = "pngs/%s" % ("a" if i < 5 else "b/c")
    os.makedirs(d, exist_ok=True)
    name = "%s/img %02d%s.png" % (d, i, ",x" if i == 3 else "")
    open(name, "wb").write(encode_gray(im.shape[3], im.shape[2], im[i, 0].tobytes()))
PY
"$MEDSSL" predict --model cls/best.h5 --png pngs --out pp 2> pp.log || { cat pp.log; fail "predict --png"; }
"$MEDSSL" import png pngs --out pngs.h5 2> /dev/null || fail "import png"
"$MEDSSL" predict --model cls/best.h5 --data pngs.h5 --out ppc 2> /dev/null || fail "predict on the imported PNGs"
$PY - pp/predictions.csv ppc/predictions.csv <<'PY' || fail "predict --png"
import csv, sys
a, b = list(csv.reader(open(sys.argv[1]))), list(csv.reader(open(sys.argv[2])))
ids = [r[0] for r in a[1:]]
assert ids == sorted(ids) and ids[0] == "a/img 00.png" and "a/img 03,x.png" in ids and ids[-1] == "b/c/img 11.png", ids
assert [r[1:] for r in a] == [r[1:] for r in b], "the numbers differ from the imported corpus"
print("png: %d rows, ids %s .. %s" % (len(ids), ids[0], ids[-1]))
PY

# --- segment on a corpus; 2 ranks ----------------------------------------------------------------
"$MEDSSL" predict --model seg/best.h5 --data s.h5 --out ps --probabilities --overlays 2> ps.log || { cat ps.log; fail "predict segment"; }
mpirun -np 2 "$MEDSSL" predict --model seg/best.h5 --data s.h5 --out ps2 2> ps2.log || { cat ps2.log; fail "predict segment 2 ranks"; }
diff -r ps/masks ps2/masks > /dev/null || fail "2 ranks wrote other masks"
[ "$(ls ps/overlays | wc -l)" = 120 ] || fail "overlays: $(ls ps/overlays | wc -l)"
ls -A ps | grep -q tmp && fail "temporary files left in ps: $(ls -A ps)"
$PY - ps <<'PY' || fail "segment masks"
import os, sys, h5py, numpy as np
sys.path.insert(0, os.environ["TEST_UTIL"])
from pngdecode import decode
d = sys.argv[1]
p = h5py.File(d + "/probabilities.h5")["probabilities"][()]
N, K, H, W = p.shape
names = sorted(os.listdir(d + "/masks"))
assert len(names) == N and names[0] == "000000.png", (len(names), names[:2])
for i in range(N):
    w, h, ch, px = decode(open("%s/masks/%s" % (d, names[i]), "rb").read())
    assert (w, h, ch) == (W, H, 1)
    assert (np.frombuffer(px, np.uint8).reshape(H, W) == p[i].argmax(0)).all(), names[i]
print("segment: %d masks of %dx%d, K = %d, equal to the argmax of the probabilities" % (N, H, W, K))
PY

# --- segment on a NIfTI volume -------------------------------------------------------------------
if ! $PY -c "import nibabel" 2> /dev/null; then
    echo "note: python3-nibabel not installed: skipped the NIfTI checks"
    echo "cli_predict: ok (without NIfTI)"
    exit 0
fi
$PY - s.h5 <<'PY'
import h5py, sys, numpy as np, nibabel as nib
im = h5py.File(sys.argv[1])["images"][()].astype(np.float32)
vol = np.transpose(im[:18, 0], (2, 1, 0)) * 900 - 100     # x = column, y = row, z = slice
vol = vol[:, :, :18][:, :20, :]                            # nx 24, ny 20, nz 18: every axis differs
aff = np.array([[0.8, 0.05, 0, -10], [0, 0.9, 0.1, 5], [0.02, 0, 2.5, 30], [0, 0, 0, 1]])
img = nib.Nifti1Image(vol.astype(np.float32), aff)
img.header.set_qform(aff, code=1)
img.header.set_sform(aff, code=2)
nib.save(img, "vol.nii.gz")
PY
for axis in z y x; do
    "$MEDSSL" predict --model seg/best.h5 --nifti vol.nii.gz --axis $axis --out pn-$axis --probabilities 2> pn.log ||
        { cat pn.log; fail "predict --nifti --axis $axis"; }
    "$MEDSSL" import nifti vol.nii.gz --axis $axis --out vol-$axis.h5 2> /dev/null || fail "import nifti --axis $axis"
    "$MEDSSL" predict --model seg/best.h5 --data vol-$axis.h5 --out pv-$axis 2> /dev/null || fail "predict on the slices"
    $PY - vol.nii.gz pn-$axis pv-$axis $axis <<'PY' || fail "the label volume, axis $axis"
import os, sys, numpy as np, nibabel as nib
sys.path.insert(0, os.environ["TEST_UTIL"])
from pngdecode import decode
src, pn, pv, axis = sys.argv[1:]
a, b = nib.load(src), nib.load(pn + "/mask.nii.gz")
assert b.shape == a.shape and b.get_data_dtype() == np.uint8, (b.shape, b.get_data_dtype())
assert np.allclose(b.affine, a.affine) and np.allclose(b.header.get_qform(), a.header.get_qform())
assert int(b.header["qform_code"]) == 1 and int(b.header["sform_code"]) == 2
assert np.allclose(b.header.get_zooms(), a.header.get_zooms())
m = np.asarray(b.dataobj)
names = sorted(os.listdir(pv + "/masks"))
for s, name in enumerate(names):
    w, h, ch, px = decode(open("%s/masks/%s" % (pv, name), "rb").read())
    sl = np.frombuffer(px, np.uint8).reshape(h, w)          # rows r, columns c, as import nifti cut them
    vs = {"z": lambda: m[:, :, s].T, "y": lambda: m[:, s, :].T, "x": lambda: m[s, :, :].T}[axis]()
    assert (vs == sl).all(), "slice %d differs" % s
p = np.asarray(nib.load(pn + "/probabilities.nii.gz").dataobj)
assert p.shape == a.shape + (p.shape[3],) and (p.argmax(-1) == m).all()
print("nifti axis %s: %s, %d slices placed back, affine and codes kept" % (axis, b.shape, len(names)))
PY
done
echo "cli_predict: ok"
