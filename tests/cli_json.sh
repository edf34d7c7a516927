#!/usr/bin/env bash
# CLI test: every JSON medssl writes parses (python3 json), whatever the run
# did and whatever the names: a run folder, corpus and model path holding a
# quote, a backslash, a tab and '<script>' (escaped by the one JSON writer,
# src/core/json.c), and a diverged run whose loss is NaN (written as null).
# Covered: metrics.jsonl (start, step and epoch lines), inspect --json,
# evaluate --json and its metrics.json, ensemble evaluate --json and its
# metrics.json, bench --json.
set -euo pipefail
MEDSSL=$1
PHANTOM=$(dirname "$MEDSSL")/medssl_phantom
fail() { echo "FAIL: $*"; exit 1; }
PY=/usr/bin/python3
$PY -c 'import json' 2>/dev/null || { echo "note: /usr/bin/python3 missing: skipped"; exit 0; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cd "$out"
odd=$'we"ird\\na\tme<script>'
mkdir -p "$odd"
# every line (jsonl) or the whole file (json) must parse; prints what it checked
parses() { # FILE jsonl|json
    $PY - "$1" "$2" <<'PY' || fail "$1 is not valid JSON"
import json, sys
path, kind = sys.argv[1], sys.argv[2]
text = open(path, encoding="utf-8").read()
docs = [json.loads(l) for l in text.splitlines() if l.strip()] if kind == "jsonl" else [json.loads(text)]
assert docs, "empty"
PY
}

"$PHANTOM" --kind cls --n 200 --seed 3 --out "$odd/c.h5" > /dev/null
"$MEDSSL" inspect "$odd/c.h5" --json > inspect.json
parses inspect.json json
$PY -c 'import json,sys; d=json.load(open("inspect.json")); assert d["path"] == sys.argv[1] + "/c.h5", d["path"]' "$odd" ||
    fail "inspect --json: the path does not round-trip"

PRE=(pretrain --task rotation --corpus "$odd/c.h5" --encoder "encoder:widths=8-16,convs=1" --batch 32 --threads 1 --log-every 2)
"$MEDSSL" "${PRE[@]}" --epochs 2 --out "$odd/run" 2> /dev/null || fail "pretrain"
parses "$odd/run/metrics.jsonl" jsonl
$PY -c 'import json,sys
lines = [json.loads(l) for l in open(sys.argv[1] + "/run/metrics.jsonl")]
assert lines[0]["event"] == "start" and lines[0]["resumed_from"] is None, lines[0]
assert any("val_loss" in l for l in lines) and any("images_per_s" in l for l in lines[1:])' "$odd" || fail "metrics.jsonl content"
"$MEDSSL" "${PRE[@]}" --epochs 3 --resume auto --out "$odd/run" 2> /dev/null || fail "pretrain --resume auto"
$PY -c 'import json,sys
starts = [json.loads(l) for l in open(sys.argv[1] + "/run/metrics.jsonl") if "event" in l]
assert len(starts) == 2 and starts[1]["resumed_from"].startswith(sys.argv[1] + "/run/"), starts[1]' "$odd" ||
    fail "metrics.jsonl: the resume start line does not name the checkpoint"

# a diverged run: NaN losses are null, never the bare word nan
set +e; "$MEDSSL" "${PRE[@]}" --epochs 2 --lr 1e6 --out nan > /dev/null 2>&1; set -e
parses nan/metrics.jsonl jsonl
grep -qiw nan nan/metrics.jsonl && fail "metrics.jsonl holds a bare nan"

"$MEDSSL" finetune --task classify --train "$odd/c.h5" --init "$odd/run/last.h5" --strategy finetune --epochs 1 \
    --batch 32 --threads 1 --out "$odd/ft" 2> /dev/null || fail "finetune"
parses "$odd/ft/metrics.jsonl" jsonl
"$MEDSSL" evaluate --model "$odd/ft/last.h5" --data "$odd/c.h5" --json --out "$odd/ev" > ev.json 2> /dev/null || fail "evaluate"
parses ev.json json
parses "$odd/ev/metrics.json" json
$PY -c 'import json,sys; d=json.load(open("ev.json")); assert d["model"] == sys.argv[1] + "/ft/last.h5", d["model"]' "$odd" ||
    fail "evaluate --json: the model path does not round-trip"
"$MEDSSL" ensemble evaluate --members "$odd/ft/last.h5,$odd/ft/best.h5" --data "$odd/c.h5" --json --out "$odd/ens" \
    > ens.json 2> /dev/null || fail "ensemble evaluate"
parses ens.json json
parses "$odd/ens/metrics.json" json
$PY -c 'import json,sys; d=json.load(open("ens.json")); assert d["members"][0]["path"] == sys.argv[1] + "/ft/last.h5"' "$odd" ||
    fail "ensemble evaluate --json: the member path does not round-trip"

"$MEDSSL" bench --json --steps 1 --warmup 0 --batch 4 --size 32 --threads 1 --sgemm-n 64 > bench.json 2> /dev/null || fail "bench"
parses bench.json json
echo "cli_json: every output parses (metrics.jsonl x3, inspect, evaluate x2, ensemble x2, bench)"
