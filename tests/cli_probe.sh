#!/usr/bin/env bash
# CLI test of the scale-robust probe: a feature-extractor (and two-stage) head
# gets a BatchNorm on the frozen features by default (head:...,norm=bn), so a
# linear probe learns on a random encoder whose features are tiny, where the
# plain linear head at the same learning rate stays near chance;
# --head-norm none|bn overrides, a bad value exits 2 with one line.
set -euo pipefail
MEDSSL=$1
PHANTOM=$(dirname "$MEDSSL")/medssl_phantom
fail() { echo "FAIL: $*"; exit 1; }
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
cd "$out"
"$PHANTOM" --kind cls --n 600 --seed 1 --out tr.h5
"$PHANTOM" --kind cls --n 300 --seed 2 --out te.h5
FT=(--task classify --train tr.h5 --strategy feature-extractor --encoder "encoder:widths=8-16-32,convs=1" --epochs 5
    --threads 1 --log-every 100000)
acc() { "$MEDSSL" evaluate --model "$1" --data te.h5 --json --threads 1 2>/dev/null |
        /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["accuracy"])'; }
spec() { h5dump -a /model_spec "$1" | grep -o '"encoder:[^"]*"'; }

"$MEDSSL" finetune "${FT[@]}" --out bn 2> bn.log || { cat bn.log; fail "default probe"; }
"$MEDSSL" finetune "${FT[@]}" --out none --head-norm none 2> none.log || { cat none.log; fail "--head-norm none"; }
spec bn/best.h5 | grep -q ',norm=bn"' || fail "default feature-extractor spec has no norm=bn: $(spec bn/best.h5)"
spec none/best.h5 | grep -q 'norm=' && fail "--head-norm none still normalises: $(spec none/best.h5)"
a_bn=$(acc bn/best.h5); a_none=$(acc none/best.h5)
echo "random 8-16-32 encoder, linear probe on 600 phantoms, test accuracy: norm=bn $a_bn, none $a_none"
/usr/bin/python3 -c "import sys; a, b = $a_bn, $a_none; sys.exit(0 if a >= 0.55 and a >= b + 0.15 else 1)" ||
    fail "the normalised probe did not learn ($a_bn) or not better than the plain one ($a_none)"
# two-stage also gets it; scratch does not
"$MEDSSL" finetune "${FT[@]}" --strategy two-stage --epochs 2 --out ts 2> /dev/null || fail "two-stage"
spec ts/last.h5 | grep -q ',norm=bn"' || fail "two-stage spec has no norm=bn"
"$MEDSSL" finetune "${FT[@]}" --strategy scratch --epochs 1 --out sc 2> /dev/null || fail "scratch"
spec sc/last.h5 | grep -q 'norm=' && fail "scratch got a head norm"
set +e
err=$("$MEDSSL" finetune "${FT[@]}" --out bad --head-norm layer 2>&1 >/dev/null); rc=$?
set -e
[ $rc -eq 2 ] && [ "$err" = "medssl finetune: --head-norm layer: expected bn or none" ] ||
    fail "bad --head-norm: exit $rc, '$err'"
echo "cli_probe: ok"
