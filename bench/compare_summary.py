#!/usr/bin/python3
"""compare_summary — the tables of one bench/compare.sh run folder (markdown).

Per workload: every configuration's median images/s over the rounds (min-max,
runs), ranks/processes x threads, per-step batch per process, global batch
and peak RSS (the largest process of any of its runs, MiB); then, at the
workload's global batch, each side's best and the ratio, and at any batch
(both sides also run at the other batches), each side's fastest and the ratio.
A configuration torch_twins reported as not supported (--jit where neither
tracing nor scripting trains) is listed with its error and left out of the
best and the ratios. Above the tables: the date, the command, the commit, the
CPU, the cores, OPENBLAS_CORETYPE, MEDSSL_GEMM, the medssl GEMM backend, the
torch version and the load average. Checks that both sides trained networks
with the same parameter count (exit 1 after the tables if not) and lists
failed runs.

  bench/compare_summary.py RUN_DIR
"""
import glob
import json
import os
import statistics
import sys

ORDER = ("encoder", "unet", "demo")


def read_env(d):
    env = {}
    path = os.path.join(d, "environment.txt")
    if os.path.exists(path):
        for line in open(path):
            k, sep, v = line.partition(":")
            if sep:
                env[k.strip()] = v.strip()
    return env


def shape(c, r):
    """ranks or processes x threads of a run"""
    if c.startswith("medssl"):
        return f"{r['ranks']} rank{'s' if r['ranks'] > 1 else ''} x {r['threads']}"
    return f"{r['processes']} process{'es' if r['processes'] > 1 else ''} x {r['threads']}"


def main():
    if len(sys.argv) != 2 or not os.path.isdir(sys.argv[1]):
        sys.exit("usage: bench/compare_summary.py RUN_DIR (a folder written by bench/compare.sh)")
    d = sys.argv[1]
    runs = {}  # (workload, config) -> [json, ...]
    for path in sorted(glob.glob(os.path.join(d, "*.json"))):
        parts = os.path.basename(path).split(".")
        if len(parts) != 4:
            continue
        try:
            r = json.loads(open(path).read())
        except (ValueError, OSError) as e:
            sys.exit(f"compare_summary: {path}: {e}")
        runs.setdefault((parts[0], parts[1]), []).append(r)
    if not runs:
        sys.exit(f"compare_summary: {d}: no run JSON files")
    env = read_env(d)
    cmd_path = os.path.join(d, "command.txt")
    cmd = open(cmd_path).read().strip() if os.path.exists(cmd_path) else "?"
    gemm = next((rs[0].get("gemm") for (w, c), rs in runs.items() if c.startswith("medssl")), "?")
    conv = next((rs[0].get("conv") for (w, c), rs in runs.items() if c.startswith("medssl")), None) or "gemm (before MEDSSL_CONV)"
    torch_v = next((rs[0].get("torch") for (w, c), rs in runs.items() if c.startswith("torch")), env.get("torch", "?"))
    print(f"Measured {env.get('start', '?')} to {env.get('end', '?')} (UTC) by `{cmd}` (folder {d}); "
          f"commit {env.get('commit', '?')}; {env.get('cpu', '?')}, {env.get('cores', '?')} cores; "
          f"OPENBLAS_CORETYPE={env.get('OPENBLAS_CORETYPE', '?')}, MEDSSL_GEMM={env.get('MEDSSL_GEMM', '?')} "
          f"(medssl GEMM: {gemm}), MEDSSL_CONV={env.get('MEDSSL_CONV', '?')} (medssl 3x3 convolutions: {conv}); PyTorch {torch_v}, Python {env.get('python', '?')}; load average "
          f"{env.get('loadavg at start', '?')} at the start, {env.get('loadavg at end', '?')} at the end.")
    print("images/s: global images per second, median over the rounds (min-max, runs); peak RSS: ru_maxrss of "
          "the largest process (rank), MiB, largest over the runs.\n")
    mismatch = False
    for w in sorted({w for w, _ in runs}, key=lambda w: (ORDER.index(w) if w in ORDER else 99, w)):
        configs = {c: rs for (ww, c), rs in runs.items() if ww == w}
        params = {r["params"] for rs in configs.values() for r in rs}
        ms_runs = [r for c, rs in configs.items() if c.startswith("medssl") for r in rs]
        # the workload's global batch: that of medssl's runs without a -b<batch> suffix
        base_runs = [r for c, rs in configs.items() if c in ("medssl-1x2", "medssl-2x1") for r in rs] or ms_runs
        base = base_runs[0]["batch"] if base_runs else None
        print(f"#### {w}: {', '.join(f'{p:,}' for p in sorted(params))} parameters"
              + (f", medssl's global batch {base}" if base else "") + "\n")
        if len(params) != 1:
            mismatch = True
            print(f"**The parameter counts differ: {sorted(params)}: the two sides did not train the same "
                  f"network.**\n")
        print("| configuration | ranks/processes x threads | per-step batch per process | global batch | "
              "images/s | peak RSS MiB |\n|---|---|---|---|---|---|")
        med, glob_b = {}, {}
        for c in sorted(configs, key=lambda c: (not c.startswith("medssl"), c)):
            rs = configs[c]
            r0 = rs[0]
            gb = r0.get("global_batch", r0["batch"])
            if any(r.get("supported") is False for r in rs):
                print(f"| {c} | {shape(c, r0)} | {r0['batch']} | {gb} | not supported: {r0.get('error', '?')} | |")
                continue
            v = [r["images_per_s"] for r in rs]
            med[c], glob_b[c] = statistics.median(v), gb
            per = r0["batch"] // r0["ranks"] if c.startswith("medssl") else r0["batch"]
            rss = max(r["peak_rss_mb"] for r in rs)
            print(f"| {c} | {shape(c, r0)} | {per} | {gb} | {med[c]:.1f} ({min(v):.1f}-{max(v):.1f}, {len(v)}) | "
                  f"{rss:.0f} |")
        ms = {c: v for c, v in med.items() if c.startswith("medssl")}
        ms_same = {c: v for c, v in ms.items() if glob_b[c] == base}
        same = {c: v for c, v in med.items() if c.startswith("torch") and glob_b[c] == base}
        anyb = {c: v for c, v in med.items() if c.startswith("torch")}
        print()
        if not ms or not anyb:
            print(f"(no {'medssl' if not ms else 'PyTorch'} runs: no ratio)\n")
            continue
        bm = max(ms, key=ms.get)
        ba = max(anyb, key=anyb.get)
        line = ""
        if same and ms_same:
            bs, bms = max(same, key=same.get), max(ms_same, key=ms_same.get)
            line += (f"At the global batch {base}: medssl's best {bms} {ms_same[bms]:.1f}, PyTorch's best {bs} "
                     f"{same[bs]:.1f} -> medssl **{ms_same[bms] / same[bs]:.2f}x**. ")
        line += (f"At any batch: medssl's fastest {bm} (batch {glob_b[bm]}) {ms[bm]:.1f}, PyTorch's fastest {ba} "
                 f"(batch {glob_b[ba]}) {anyb[ba]:.1f} -> medssl **{ms[bm] / anyb[ba]:.2f}x**.")
        print(line + "\n")
    fail_path = os.path.join(d, "failures.txt")
    failures = [line.strip() for line in open(fail_path)] if os.path.exists(fail_path) else []
    failures = [line for line in failures if line]
    if failures:
        print(f"Failed runs ({len(failures)}), left out above:\n")
        for line in failures:
            print(f"- {line}")
    if mismatch:
        sys.exit(1)


if __name__ == "__main__":
    main()
