#!/usr/bin/env bash
# CLI test of `medssl gradcam`:
#   - the pointing game: on 48x48 phantoms whose class is decided by one
#     bright shape at a random place (tests/util/phantom.c --masks gives its
#     pixels), the Grad-CAM map of a trained classifier peaks inside the shape
#     in >= 90% of 100 held-out images; a random-weights model of the same
#     architecture fails that (the check is not vacuous);
#   - outputs: one panel per image (class and probability in the name), the
#     contact sheet and feature-map grids decode as PNGs, gradcam.csv has a row
#     per image; 2 ranks write the same files as 1;
#   - Seg-Grad-CAM on a segmentation model runs and explains the predicted class;
#   - bad input: exit 2 with one line.
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

"$PHANTOM" --kind cls --n 800 --size 48 --seed 1 --out tr.h5
"$PHANTOM" --kind cls --n 100 --size 48 --seed 7 --masks --out te.h5
ENC="encoder:widths=8-16-32,convs=2"
"$MEDSSL" finetune --task classify --train tr.h5 --out trained --strategy scratch --encoder "$ENC" --epochs 10 \
    --threads 2 --log-every 1000 2> ft.log || { cat ft.log; fail "finetune"; }
"$MEDSSL" finetune --task classify --train tr.h5 --out random --strategy scratch --encoder "$ENC" --epochs 1 \
    --max-steps 1 --lr 1e-8 --seed 2 --threads 2 2> fr.log || { cat fr.log; fail "the random-weights model"; }

pointing() { # DIR: the share of peaks inside the shape, in percent
    $PY - te.h5 "$1/gradcam.csv" <<'PY'
import csv, sys, h5py
m = h5py.File(sys.argv[1])["masks"][()]
rows = list(csv.DictReader(open(sys.argv[2])))
assert len(rows) == 100, len(rows)
print(sum(m[int(r["index"]), int(r["peak_row"]), int(r["peak_col"])] > 0 for r in rows))
PY
}
"$MEDSSL" gradcam --model trained/best.h5 --data te.h5 --all --out g --feature-maps 2> g.log || { cat g.log; fail "gradcam"; }
"$MEDSSL" gradcam --model random/last.h5 --data te.h5 --all --out gr 2> gr.log || { cat gr.log; fail "gradcam random"; }
hit=$(pointing g); hit_random=$(pointing gr)
echo "pointing game: trained $hit%, random weights $hit_random% (the shape covers about 19% of an image)"
[ "$hit" -ge 90 ] || fail "pointing game: the trained model's map peaks inside the shape in $hit% of the images"
[ "$hit_random" -lt 90 ] || fail "pointing game: random weights score $hit_random%: the check is vacuous"

# --- outputs ---------------------------------------------------------------------------------------
[ "$(ls g/gradcam-*.png | wc -l)" = 100 ] || fail "$(ls g/gradcam-*.png | wc -l) panels"
[ "$(ls g/features-*.png | wc -l)" = 100 ] || fail "$(ls g/features-*.png | wc -l) feature grids"
ls g/gradcam-000000-class[0-2]-p[01].[0-9][0-9].png > /dev/null || fail "panel name: $(ls g | head -3)"
$PY - g <<'PY' || fail "the PNGs"
import glob, os, sys
sys.path.insert(0, os.environ["TEST_UTIL"])
from pngdecode import decode
d = sys.argv[1]
w, h, ch, _ = decode(open(d + "/sheet.png", "rb").read())
assert ch == 3 and w > 8 * 96 and h > 0, (w, h, ch)
w, h, ch, px = decode(open(sorted(glob.glob(d + "/gradcam-000000-*.png"))[0], "rb").read())
assert (w, h) == (2 * 48 * 3 + 2 * 4 + 12, 48 * 3), (w, h)      # image | overlay | bar, enlarged 3x
top, bottom = px[(0 * w + w - 1) * 3:(0 * w + w) * 3], px[((h - 1) * w + w - 1) * 3:((h - 1) * w + w) * 3]
assert top[1] > 200 and bottom[2] > 60 and bottom[1] < 20, (top, bottom)   # viridis: yellow top, purple bottom
decode(open(d + "/features-000000.png", "rb").read())
print("sheet, panel (%dx%d) and feature grid decode" % (w, h))
PY
"$MEDSSL" gradcam --model trained/best.h5 --data te.h5 --index 3,1,4 --out g1 2> /dev/null || fail "gradcam --index"
mpirun -np 2 "$MEDSSL" gradcam --model trained/best.h5 --data te.h5 --index 3,1,4 --out g2 2> g2.log || { cat g2.log; fail "gradcam on 2 ranks"; }
diff -r g1 g2 > /dev/null || fail "2 ranks wrote other files than 1"
[ "$(cut -d, -f1 g1/gradcam.csv | tr '\n' ' ')" = "index 3 1 4 " ] || fail "gradcam.csv rows: $(cut -d, -f1 g1/gradcam.csv)"

# --- Seg-Grad-CAM ------------------------------------------------------------------------------------
"$PHANTOM" --kind seg --n 60 --size 32 --seed 3 --out s.h5
"$MEDSSL" finetune --task segment --train s.h5 --out seg --strategy scratch --encoder "encoder:widths=8-16,convs=1" \
    --epochs 2 --threads 2 --log-every 1000 2> fs.log || { cat fs.log; fail "finetune segment"; }
"$MEDSSL" gradcam --model seg/best.h5 --data s.h5 --index 0,1 --class 1 --out gs 2> gs.log || { cat gs.log; fail "Seg-Grad-CAM"; }
[ "$(tail -n +2 gs/gradcam.csv | cut -d, -f2 | sort -u)" = 1 ] || fail "Seg-Grad-CAM did not explain class 1: $(cat gs/gradcam.csv)"
"$MEDSSL" gradcam --model seg/best.h5 --data s.h5 --index 0,1 --class 1 --region truth --out gst 2> gst.log ||
    { cat gst.log; fail "Seg-Grad-CAM over the true region"; }
[ "$(ls gst/gradcam-*.png | wc -l)" = 2 ] || fail "Seg-Grad-CAM --region truth: $(ls gst)"

# --- bad input ---------------------------------------------------------------------------------------
expect2() { # expected stderr line, then the arguments
    local want=$1; shift
    set +e; err=$("$MEDSSL" gradcam "$@" 2>&1 >/dev/null); rc=$?; set -e
    [ $rc -eq 2 ] || fail "gradcam $*: exit $rc, expected 2 ($err)"
    [ "$err" = "$want" ] || fail "gradcam $*: '$err', expected '$want'"
}
expect2 "medssl gradcam: give --index I[,J..] or --all (see medssl gradcam --help)" --model trained/best.h5 --data te.h5 --out x
expect2 "medssl gradcam: --index 5,100: '100' is not an image index in 0..99" --model trained/best.h5 --data te.h5 --index 5,100 --out x
expect2 "medssl gradcam: --class 7: trained/best.h5 has classes 0..2" --model trained/best.h5 --data te.h5 --all --class 7 --out x
expect2 "medssl gradcam: --region: trained/best.h5 is a classify model; regions are for segmentation" --model trained/best.h5 --data te.h5 --all --region truth --out x
expect2 "medssl gradcam: --layer stage5: the encoder has stages 0..2" --model trained/best.h5 --data te.h5 --all --layer stage5 --out x
[ ! -e x ] || fail "a failed gradcam left x/"
echo "cli_gradcam: ok"
