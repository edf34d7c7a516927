#!/usr/bin/env bash
# CLI test of `medssl bench`: help, usage errors (exit 2, one message naming the
# flag), a real short run with --json checked for the DESIGN.md keys and for a
# falling loss, and the same under mpirun -np 2 (gradients all-reduced); each
# --workload (encoder, unet, demo) for 2 steps with the keys bench/compare.sh
# reads, and the pretext workloads learning on 2 ranks; MEDSSL_CONV (refused when
# unknown, recorded in the JSON, both algorithms learning).
set -euo pipefail
MEDSSL=$1
fail() { echo "FAIL: $*"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

"$MEDSSL" --help | grep -q "bench" || fail "top-level help lacks bench"
"$MEDSSL" bench --help | grep -q -- "--steps" || fail "bench --help lacks --steps"

expect_usage_error() { # flag-args... ; expected text
  local want=$1; shift
  set +e; err=$("$MEDSSL" "$@" 2>&1 >/dev/null); rc=$?; set -e
  [ "$rc" = 2 ] || fail "'$*' exited $rc, expected 2"
  echo "$err" | grep -q -- "$want" || fail "'$*' message '$err' lacks '$want'"
  [ "$(echo "$err" | wc -l)" = 1 ] || fail "'$*' printed more than one line: $err"
}
expect_usage_error "unknown command" frobnicate
expect_usage_error "--bogus" bench --bogus
expect_usage_error "--steps" bench --steps 0
expect_usage_error "--steps" bench --steps ten
expect_usage_error "--batch" bench --batch
set +e; err=$("$MEDSSL" bench --workload bogus 2>&1 >/dev/null); rc=$?; set -e
[ "$rc" = 2 ] && [ "$err" = "medssl bench: --workload bogus: expected encoder, unet or demo" ] ||
  fail "--workload bogus: exit $rc, '$err'"
"$MEDSSL" bench --help | grep -q -- "--workload" || fail "bench --help lacks --workload"
expect_usage_error "--spec: give only the encoder part" \
  bench --workload unet --spec "encoder:widths=8-16;head:type=linear,classes=4"
expect_usage_error "model spec" bench --spec "encoder:widths=8,colour=red;head:linear,classes=2" --steps 1
# the convolution algorithm: an unknown MEDSSL_CONV is refused before anything runs
set +e; err=$(MEDSSL_CONV=direct "$MEDSSL" bench --steps 1 2>&1 >/dev/null); rc=$?; set -e
[ "$rc" = 2 ] && [ "$err" = "medssl: MEDSSL_CONV=direct: expected winograd or gemm" ] ||
  fail "MEDSSL_CONV=direct: exit $rc, '$err'"
set +e; err=$(mpirun -np 2 "$MEDSSL" bench --batch 7 --steps 1 --threads 1 --size 16 2>&1 >/dev/null); rc=$?; set -e
[ "$rc" = 2 ] || fail "mpirun -np 2 bench --batch 7 exited $rc, expected 2"
echo "$err" | grep -q "divisible" || fail "odd batch over 2 ranks: '$err'"

check_json() {
  /usr/bin/python3 - "$1" "$2" <<'PY' || exit 1
import json, sys
d = json.loads(open(sys.argv[1]).read())
for k in ("images_per_s", "ranks", "threads", "sgemm_gflops", "layers"):
    assert k in d, f"missing key {k}"
assert d["ranks"] == int(sys.argv[2]), d["ranks"]
assert d["images_per_s"] > 0 and d["sgemm_gflops"] > 0
assert len(d["layers"]) == 9 and all({"name", "gflops", "pct_of_sgemm"} <= set(l) for l in d["layers"])
assert d["layers"][0]["name"] == "encoder.stage0.conv0"
# the same random batch every step: SGD must fit it
assert d["loss_last"] < d["loss_first"] * 0.9, (d["loss_first"], d["loss_last"])
PY
}
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
"$MEDSSL" bench --json --steps 12 --warmup 0 --batch 8 --size 32 --sgemm-n 128 --threads 1 > "$out/one.json" 2> "$out/one.err"
[ "$(wc -l < "$out/one.json")" = 1 ] || fail "--json printed more than one line on stdout"
check_json "$out/one.json" 1 || fail "1-rank JSON: $(cat "$out/one.json")"
# Winograd is the default and is recorded; im2col + GEMM (MEDSSL_CONV=gemm) learns the same batch too
MEDSSL_CONV=gemm "$MEDSSL" bench --json --steps 12 --warmup 0 --batch 8 --size 32 --sgemm-n 128 --threads 1 \
  > "$out/gemm.json" 2> "$out/gemm.err"
check_json "$out/gemm.json" 1 || fail "MEDSSL_CONV=gemm JSON: $(cat "$out/gemm.json")"
/usr/bin/python3 -c 'import json, sys; a, b = (json.load(open(p)) for p in sys.argv[1:]); assert (a["conv"], b["conv"]) == ("winograd", "gemm"), (a["conv"], b["conv"])' \
  "$out/one.json" "$out/gemm.json" || fail "the runs do not record their convolution algorithm"
mpirun -np 2 "$MEDSSL" bench --json --steps 12 --warmup 0 --batch 8 --size 32 --sgemm-n 128 --threads 1 > "$out/two.json" 2> "$out/two.err"
check_json "$out/two.json" 2 || fail "2-rank JSON: $(cat "$out/two.json")"
# every workload: 2 steps at its own input size (small batches), one JSON line with the keys
# bench/compare.sh reads; the pretext workloads train with their pretext's batches and loss
for w in encoder:8:1173668:1:9 unet:4:1947713:1:15 demo:8:72276:4:7; do
  IFS=: read -r name batch params rows layers <<< "$w"
  "$MEDSSL" bench --workload "$name" --json --steps 2 --warmup 0 --batch "$batch" --sgemm-n 128 --threads 1 \
    > "$out/$name.json" 2> "$out/$name.err" || fail "--workload $name exited $?: $(cat "$out/$name.err")"
  [ "$(wc -l < "$out/$name.json")" = 1 ] || fail "--workload $name: --json printed more than one line"
  /usr/bin/python3 - "$out/$name.json" "$name" "$batch" "$params" "$rows" "$layers" <<'PY' ||
import json, math, sys
d = json.loads(open(sys.argv[1]).read())
name, batch, params, rows, layers = sys.argv[2], *map(int, sys.argv[3:])
for k in ("workload", "spec", "gemm", "params", "peak_rss_mb", "peak_rss_mb_per_rank", "images_per_s", "ranks",
          "threads", "sgemm_gflops", "batch", "size", "rows_per_image", "steps", "gflop_per_image",
          "achieved_gflops", "layers", "step_ms", "layers_ms", "loss_first", "loss_last"):
    assert k in d, f"missing key {k}"
assert d["workload"] == name and d["batch"] == batch and d["steps"] == 2 and d["ranks"] == 1, d
assert d["size"] == {"encoder": 64, "unet": 96, "demo": 28}[name], d["size"]
assert d["params"] == params, d["params"]
assert d["rows_per_image"] == rows, d["rows_per_image"]
assert len(d["peak_rss_mb_per_rank"]) == 1 and d["peak_rss_mb"] == max(d["peak_rss_mb_per_rank"]) > 0, d
assert d["images_per_s"] > 0 and d["sgemm_gflops"] > 0 and d["gemm"], d
assert math.isfinite(d["loss_first"]) and math.isfinite(d["loss_last"]), d
assert len(d["layers"]) == layers and all(l["gflops"] > 0 for l in d["layers"]), d["layers"]
PY
    fail "--workload $name JSON: $(cat "$out/$name.json")"
done
# the pretext workloads learn (U-Net: MSE against the image; demo: the rotation of each image) and
# split their global batch over 2 ranks, each reporting its peak RSS
for w in unet:16 demo:28; do
  IFS=: read -r name size <<< "$w"
  mpirun -np 2 --bind-to none "$MEDSSL" bench --workload "$name" --json --steps 8 --warmup 0 --batch 4 \
    --size "$size" --sgemm-n 128 --threads 1 > "$out/$name.2.json" 2> "$out/$name.2.err" ||
    fail "mpirun -np 2 --workload $name: $(cat "$out/$name.2.err")"
  /usr/bin/python3 - "$out/$name.2.json" <<'PY' || fail "2-rank $name JSON: $(cat "$out/$name.2.json")"
import json, sys
d = json.loads(open(sys.argv[1]).read())
assert d["ranks"] == 2 and d["batch"] == 4 and len(d["peak_rss_mb_per_rank"]) == 2, d
assert d["loss_last"] < d["loss_first"], (d["loss_first"], d["loss_last"])
PY
done
echo "1 passed, 0 failed"
