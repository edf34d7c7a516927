#!/usr/bin/env python3
"""Table of bench/probe.sh's runs: test accuracy of linear probes with and
without feature standardisation, mean and range over seeds, from the run
folders (OUT/probe-<encoder>-<features>-<norm>-s<seed>/test/metrics.json) and
the environment the runs recorded (metrics.jsonl's start line).

    python3 bench/probe_summary.py runs/probe
"""
import glob
import json
import os
import re
import statistics
import sys


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "runs/probe"
    acc, envs, times = {}, [], []
    for d in sorted(glob.glob(os.path.join(out, "probe-*-s*"))):
        m = re.match(r"probe-(random|rotation)-(last|stage1)-(none|bn)-s(\d+)$", os.path.basename(d))
        mp = os.path.join(d, "test", "metrics.json")
        if not m or not os.path.exists(mp):
            continue
        acc.setdefault(m.groups()[:3], {})[int(m.group(4))] = json.load(open(mp))["accuracy"]
        for line in open(os.path.join(d, "metrics.jsonl")):
            e = json.loads(line)
            if e.get("event") == "start":
                envs.append(e["environment"])
                times.append(e["time"])

    def cell(key):
        r = acc.get(key, {})
        if not r:
            return "missing", None
        v = [r[s] for s in sorted(r)]
        return f"{statistics.mean(v):.3f} ({min(v):.3f}–{max(v):.3f}, {len(v)} seeds)", v

    print("| encoder | features | plain linear head (`--head-norm none`) | BatchNorm, then linear (`--head-norm bn`, default) | gain |")
    print("|---|---|---|---|---|")
    for enc in ("random", "rotation"):
        for feat in ("last", "stage1"):
            a, va = cell((enc, feat, "none"))
            b, vb = cell((enc, feat, "bn"))
            gain = f"{statistics.mean(vb) - statistics.mean(va):+.3f}" if va and vb else ""
            if va and vb and min(vb) > max(va):
                gain += " (every seed)"
            name = "random init" if enc == "random" else "rotation-pretrained (1 epoch)"
            fname = "pooled last stage" if feat == "last" else "pooled stage1 (`--features stage1`)"
            print(f"| {name} | {fname} | {a} | {b} | {gain} |")
    if envs:
        def uniq(k):
            return ", ".join(sorted({str(e.get(k)) for e in envs}))
        print(f"\nMeasured {min(times)} to {max(times)} (UTC) by `bench/probe.sh`, table by "
              f"`python3 bench/probe_summary.py {out}`: medssl {uniq('medssl_commit')}, 1 rank x {uniq('threads')} "
              f"thread per run, {uniq('blas')} (core {uniq('blas_core')}), CPU {uniq('cpu')}.")


if __name__ == "__main__":
    main()
