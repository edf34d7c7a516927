#!/usr/bin/python3
"""compare_summary — the tables of one bench/compare.sh run folder: per
workload, every configuration's median images/s (min-max over rounds) and
peak RSS, medssl's best, PyTorch's best at the same global batch, PyTorch's
fastest at any per-step batch, and the two ratios. Checks that both sides
trained networks with the same parameter count.

  bench/compare_summary.py RUN_DIR
"""
import glob
import json
import os
import statistics
import sys


def main():
    if len(sys.argv) != 2 or not os.path.isdir(sys.argv[1]):
        sys.exit("usage: bench/compare_summary.py RUN_DIR (a folder written by bench/compare.sh)")
    d = sys.argv[1]
    runs = {}  # (workload, config) -> list of json
    for path in sorted(glob.glob(os.path.join(d, "*.json"))):
        w, config, _r, _ext = os.path.basename(path).split(".")
        try:
            runs.setdefault((w, config), []).append(json.load(open(path)))
        except (ValueError, OSError) as e:
            sys.exit(f"compare_summary: {path}: {e}")
    if not runs:
        sys.exit(f"compare_summary: {d}: no run JSON files")
    env = open(os.path.join(d, "environment.txt")).read().split("\n")
    cmd = open(os.path.join(d, "command.txt")).read().strip()
    gemm = next((r[0].get("gemm") for (w, c), r in runs.items() if c.startswith("medssl")), "?")
    print(f"Measured {env[0]} by `{cmd}` (folder {d}), commit {env[5]}: {env[1]}, {env[2]} cores; "
          f"medssl GEMM {gemm}, {env[3]}; PyTorch {env[4]}. Images/s: median over rounds (min-max); "
          f"peak RSS: the largest process, MiB.\n")
    for w in ("encoder", "unet", "demo"):
        configs = {c: r for (ww, c), r in runs.items() if ww == w}
        if not configs:
            continue
        params = {r["params"] for rs in configs.values() for r in rs}
        if len(params) != 1:
            sys.exit(f"compare_summary: {w}: the two sides' parameter counts differ: {sorted(params)}")
        base_batch = configs.get("medssl-1x2", configs.get("medssl-2x1"))[0]["batch"]
        print(f"#### {w} ({params.pop():,} parameters, global batch {base_batch})\n")
        print("| configuration | per-step batch | images/s | peak RSS |\n|---|---|---|---|")
        med = {}
        for c in sorted(configs, key=lambda c: (not c.startswith("medssl"), c)):
            if any(r.get("supported") is False for r in configs[c]):  # torch_twins --jit where tracing fails
                print(f"| {c} | {configs[c][0]['batch']} | not supported: {configs[c][0]['error']} | |")
                continue
            v = [r["images_per_s"] for r in configs[c]]
            med[c] = statistics.median(v)
            rss = max(r["peak_rss_mb"] for r in configs[c])
            print(f"| {c} | {configs[c][0]['batch']} | {med[c]:.1f} ({min(v):.1f}-{max(v):.1f}, {len(v)} runs) | "
                  f"{rss:.0f} |")
        ms = {c: v for c, v in med.items() if c.startswith("medssl")}
        same = {c: v for c, v in med.items() if c.startswith("torch") and configs[c][0]["batch"] == base_batch}
        anyb = {c: v for c, v in med.items() if c.startswith("torch")}
        best_m = max(ms, key=ms.get)
        best_s = max(same, key=same.get)
        best_a = max(anyb, key=anyb.get)
        print(f"\nmedssl best: {best_m} {ms[best_m]:.1f}; PyTorch best at batch {base_batch}: {best_s} "
              f"{same[best_s]:.1f} -> **{ms[best_m] / same[best_s]:.2f}x**; PyTorch fastest at any batch: "
              f"{best_a} {anyb[best_a]:.1f} -> **{ms[best_m] / anyb[best_a]:.2f}x**.\n")


if __name__ == "__main__":
    main()
