#!/usr/bin/env bash
# CLI test of `medssl report`, rendered in a real browser (headless Chromium,
# tools/render_html.sh):
#   - real run folders (rotation pretraining on 2 ranks, two classify
#     fine-tunings with evaluate --out and bootstrap intervals, an ensemble
#     evaluation, a segmentation run with overlays, an autoencoder run with its
#     reconstructions) plus damaged ones: a
#     metrics.jsonl line with NaN (not JSON) and one with null, an empty
#     metrics.jsonl, a folder named with HTML that would run script, a title
#     that closes <title> and opens <script>;
#   - the page renders: the screenshot is not blank (grey-level spread and
#     ink above a floor), the DOM holds each expected chart with the expected
#     number of series (curves per task, one confusion heat map and ROC chart
#     per classify evaluation, the DSC box plot per foreground class), every
#     <img> is an inlined PNG that decodes (chunks and CRCs), the browser logged
#     no console message, no script element exists and the injected handler
#     never ran, the skipped line and the empty file are noted on the page;
#   - usage errors: exit 2 with one line naming the folder or flag, nothing written.
# Without chromium (not installable) the browser checks are skipped with a note.
set -euo pipefail
MEDSSL=$(readlink -f "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
RENDER=$HERE/../tools/render_html.sh
PHANTOM=$(dirname "$MEDSSL")/medssl_phantom
fail() { echo "FAIL: $*"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
cd "$out"
PY=/usr/bin/python3

# --- usage errors ------------------------------------------------------------------------------
expect2() { # expected stderr line, then the arguments
    local want=$1; shift
    set +e; err=$("$MEDSSL" report "$@" 2>&1 >/dev/null); rc=$?; set -e
    [ $rc -eq 2 ] || fail "report $*: exit $rc, expected 2 ($err)"
    [ "$err" = "$want" ] || fail "report $*: '$err', expected '$want'"
}
mkdir empty
expect2 "medssl report: a RUN_DIR is required (see medssl report --help)" --out r.html
expect2 "medssl report: --out FILE is required (see medssl report --help)" empty
expect2 "medssl report: nope: No such file or directory" nope --out r.html
expect2 "medssl report: empty: not a run folder (no metrics.jsonl, metrics.json, checkpoint or PNG in it)" empty --out r.html
touch afile
expect2 "medssl report: afile: not a folder (give a run folder)" afile --out r.html
ls r.html* > /dev/null 2>&1 && fail "a failed report left $(ls r.html*)"
"$MEDSSL" report --help | grep -q "self-contained" || fail "report --help"

# --- real run folders ---------------------------------------------------------------------------
"$PHANTOM" --kind cls --n 240 --seed 1 --out c.h5
"$PHANTOM" --kind seg --n 80 --size 32 --seed 3 --out s.h5
ENC="encoder:widths=8-16,convs=1"
FT=(--threads 1 --log-every 4)
mpirun -np 2 "$MEDSSL" pretrain --task rotation --corpus c.h5 --encoder "$ENC" --epochs 2 --batch 32 "${FT[@]}" \
    --out rotation 2> pre.log || { cat pre.log; fail "pretrain"; }
"$MEDSSL" finetune --task classify --train c.h5 --out scratch --strategy scratch --encoder "$ENC" --epochs 3 \
    "${FT[@]}" 2> ft1.log || { cat ft1.log; fail "finetune scratch"; }
"$MEDSSL" finetune --task classify --train c.h5 --out probe --strategy feature-extractor --init rotation/last.h5 \
    --epochs 3 --lr 2 "${FT[@]}" 2> ft2.log || { cat ft2.log; fail "finetune probe"; }
for r in scratch probe; do
    "$MEDSSL" evaluate --model $r/best.h5 --data c.h5 --ci 50 --out $r/test > /dev/null 2>&1 || fail "evaluate $r"
done
"$MEDSSL" ensemble evaluate --members scratch/best.h5,probe/best.h5 --data c.h5 --combiner average,vote \
    --out ens > /dev/null 2>&1 || fail "ensemble evaluate"
"$MEDSSL" pretrain --task autoencoder --corpus s.h5 --encoder "$ENC" --epochs 6 --batch 16 "${FT[@]}" \
    --out ae 2> ae.log || { cat ae.log; fail "pretrain autoencoder"; }
"$MEDSSL" finetune --task segment --train s.h5 --out seg --strategy scratch --encoder "$ENC" --epochs 2 \
    "${FT[@]}" 2> seg.log || { cat seg.log; fail "finetune segment"; }
"$MEDSSL" evaluate --model seg/best.h5 --data s.h5 --out seg/test --overlays seg/test/overlays --overlay-count 3 \
    > /dev/null 2>&1 || fail "evaluate segment"

# --- damaged and hostile folders ----------------------------------------------------------------
cp -r scratch nanrun
$PY - nanrun/metrics.jsonl <<'PY'
import sys
p = sys.argv[1]
lines = open(p).read().splitlines()
# a diverged value written by a tool that is not medssl (NaN is not JSON), and a null
lines.insert(2, '{"epoch": 1, "step": 99, "loss": NaN, "lr": 0.1, "images_per_s": 1}')
lines.append('{"epoch": 3, "step": 120, "loss": null, "lr": 0.01, "images_per_s": 10, "loader_wait_s": 0.1, '
             '"allreduce_wait_s": 0, "val_loss": null, "val_accuracy": null}')
open(p, "w").write("\n".join(lines) + "\n")
PY
mkdir emptyrun && : > emptyrun/metrics.jsonl
XSS="x<img src=x onerror=document.body.setAttribute('data-pwned',1)>"
cp -r probe "$XSS"
TITLE="</title><script>document.body.setAttribute('data-pwned','2')</script> & co"
RUNS=(rotation scratch probe ens seg ae nanrun emptyrun "$XSS")
"$MEDSSL" report "${RUNS[@]}" --out report.html --title "$TITLE" --pictures 4 2> report.log || { cat report.log; fail "report"; }
grep -q "medssl report: nanrun: metrics.jsonl line 3 skipped: line 1, column 34: expected a value" report.log || { cat report.log; fail "no note for the NaN line"; }
grep -q "<script" report.html && fail "report.html holds a <script"
grep -qF "$XSS" report.html && fail "report.html holds the folder name unescaped"

if ! command -v chromium > /dev/null; then
    echo "note: chromium is not installed (apt-get install chromium): skipped the browser checks"
    echo "cli_report: ok (without a browser)"
    exit 0
fi
"$RENDER" report.html shot 1280 2400 || fail "chromium could not render the report"
K=$($PY -c 'import json; print(len(json.load(open("scratch/test/metrics.json"))["per_class"]))')
KS=$($PY -c 'import json; print(len(json.load(open("seg/test/metrics.json"))["per_class"]))')
NPNG=$(( $(find seg -name "*.png" | wc -l) + 4 ))  # seg: 3 overlays; ae: 4 of its 6 reconstructions (--pictures 4)
TEST_UTIL=$HERE/util $PY - shot.png shot.dom.html shot.log "$K" "$KS" "$NPNG" <<'PY' || fail "the rendered report"
import base64, html.parser, os, re, sys

sys.path.insert(0, os.environ["TEST_UTIL"])
from pngdecode import decode as png_decode

png_path, dom_path, log_path, K, KS, NPNG = sys.argv[1], sys.argv[2], sys.argv[3], *map(int, sys.argv[4:])
problems = []

# the screenshot is not blank
w, h, ch, px = png_decode(open(png_path, "rb").read())
grey = [sum(px[i:i + 3]) // 3 for i in range(0, len(px), ch * 7)]  # every 7th pixel
mean = sum(grey) / len(grey)
sd = (sum((g - mean) ** 2 for g in grey) / len(grey)) ** 0.5
ink = sum(g < 200 for g in grey) / len(grey)
print("screenshot %dx%d: grey mean %.1f, sd %.1f, %.1f%% ink" % (w, h, mean, sd, 100 * ink))
if sd < 15 or ink < 0.01: problems.append("the screenshot looks blank (sd %.1f, ink %.3f)" % (sd, ink))

# the DOM: charts and their series
class Dom(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(); self.charts, self.section, self.imgs, self.scripts, self.pwned, self.text = [], None, [], 0, 0, []
        self.stack_svg = None; self.h2 = False; self.h2text = ""
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if any(k == "data-pwned" for k in a) : self.pwned += 1
        if tag == "script": self.scripts += 1
        if tag == "h2": self.h2, self.h2text = True, ""
        if tag == "svg" and a.get("class") == "chart":
            self.stack_svg = {"section": self.section, "label": a.get("aria-label"), "declared": int(a["data-series"]), "series": 0}
            self.charts.append(self.stack_svg)
        if tag == "g" and a.get("class") == "series" and self.stack_svg is not None: self.stack_svg["series"] += 1
        if tag == "img": self.imgs.append(a.get("src", ""))
        if tag == "body" and "data-pwned" in a: self.pwned += 1
    def handle_endtag(self, tag):
        if tag == "svg": self.stack_svg = None
        if tag == "h2": self.h2 = False; self.section = self.h2text
    def handle_data(self, d):
        self.text.append(d)
        if self.h2: self.h2text += d
dom = Dom(); dom.feed(open(dom_path).read())
text = "".join(dom.text)
for c in dom.charts:
    if c["series"] != c["declared"]: problems.append("chart %r declares %d series, draws %d" % (c["label"], c["declared"], c["series"]))
def charts(section_prefix, label):
    return [c for c in dom.charts if (c["section"] or "").startswith(section_prefix) and c["label"] == label]
want = [("Training curves: classify (4 runs)", "training loss", 1, 4),    # scratch, probe, nanrun, the hostile name
        ("Training curves: classify (4 runs)", "validation accuracy", 1, 4),
        ("Training curves: classify (4 runs)", "learning rate", 1, 4),
        ("Training curves: rotation (1 run)", "training loss", 1, 1),
        ("Training curves: rotation (1 run)", "waiting for the all-reduce", 1, 1),
        ("Training curves: segment (1 run)", "validation dsc", 1, 1),
        ("Training curves: autoencoder (1 run)", "validation psnr", 1, 1)]
for sec, label, n, series in want:
    got = charts(sec, label)
    if len(got) != n or any(c["series"] != series for c in got):
        problems.append("%s / %s: %s, expected %d chart(s) of %d series" % (sec, label, [c["series"] for c in got], n, series))
heat = [c for c in dom.charts if (c["label"] or "").startswith("confusion matrix")]
roc = [c for c in dom.charts if (c["label"] or "").startswith("ROC curves")]
box = [c for c in dom.charts if (c["label"] or "").startswith("DSC per image")]
# classify evaluations: scratch/test, probe/test, their copies in nanrun and the hostile folder, 2 combiners
if len(heat) != 6: problems.append("%d confusion heat maps, expected 6" % len(heat))
if len(roc) != 6 or any(c["series"] != K for c in roc): problems.append("ROC charts %s, expected 6 of %d series" % ([c["series"] for c in roc], K))
if len(box) != 1 or box[0]["series"] != KS - 1: problems.append("DSC box plots %s, expected 1 of %d groups" % ([c["series"] for c in box], KS - 1))
# pictures: every one an inlined PNG that decodes
if len(dom.imgs) != NPNG: problems.append("%d images, expected %d (the PNGs in seg/ and ae/)" % (len(dom.imgs), NPNG))
if "ae/recon/epoch-0006.png" not in " ".join(re.findall(r'alt="([^"]*)"', open(dom_path).read())) and \
   not any("recon/epoch-0006.png" in t for t in dom.text): problems.append("the last reconstruction is not shown")
for src in dom.imgs:
    if not src.startswith("data:image/png;base64,"): problems.append("an image is not inlined: %.60s" % src); continue
    try: png_decode(base64.b64decode(src.split(",", 1)[1], validate=True))
    except Exception as e: problems.append("a broken image: %s" % e)
# nothing ran, everything escaped, damage noted
if dom.scripts: problems.append("%d script elements" % dom.scripts)
if dom.pwned: problems.append("an injected handler ran")
if "</title><script>document.body.setAttribute('data-pwned','2')</script> & co" not in text: problems.append("the title is not shown as text")
if "x<img src=x onerror=" not in text: problems.append("the hostile folder name is not shown as text")
if "metrics.jsonl line 3 skipped" not in text: problems.append("no note about the NaN line")
if "metrics.jsonl holds no metrics yet" not in text: problems.append("no note about the empty metrics.jsonl")
console = [l for l in open(log_path, errors="replace") if "CONSOLE" in l]
if console: problems.append("console messages: %s" % console[:3])
print("%d charts, %d images, %d heat maps, %d ROC charts" % (len(dom.charts), len(dom.imgs), len(heat), len(roc)))
for p in problems: print("  " + p)
sys.exit(1 if problems else 0)
PY
[ -n "${MEDSSL_REPORT_SHOT:-}" ] && cp shot.png "$MEDSSL_REPORT_SHOT"
echo "cli_report: ok"
