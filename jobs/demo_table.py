#!/usr/bin/env python3
"""The demo's comparison table, from its run folders (jobs/demo.sh writes them).

    python3 jobs/demo_table.py runs/demo > table.md

Reads OUT/ft-<protocol>-s<seed>/test/metrics.json (medssl evaluate on the
10,000 test images), OUT/ensemble/metrics.json, OUT/rotation/metrics.jsonl and
the environment each run recorded (the start line of metrics.jsonl), and prints
Markdown: per protocol the mean test accuracy over the fine-tuning seeds, its
range and each seed's value, balanced accuracy and macro AUC (means); the
ensemble; the held-out rotation accuracy; the environment and dates; and
whether two-stage beats scratch by more than the seed spread. Nothing is typed
in: a missing run is shown as missing.
"""
import glob
import json
import os
import re
import statistics
import sys

PROTOCOLS = [
    ("fe-random", "linear probe on a frozen random encoder"),
    ("fe-rotation", "linear probe on the frozen rotation-pretrained encoder"),
    ("scratch", "scratch (all layers from random init)"),
    ("two-stage", "two-stage from rotation pretraining (head only, then all at 0.3x LR)"),
]


def start_lines(path):
    out = []
    if os.path.exists(path):
        for line in open(path):
            d = json.loads(line)
            if d.get("event") == "start":
                out.append(d)
    return out


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "runs/demo"
    runs = {}  # protocol -> {seed: metrics}
    envs, times = [], []
    for d in sorted(glob.glob(os.path.join(out, "ft-*-s*"))):
        m = re.match(r"ft-(.+)-s(\d+)$", os.path.basename(d))
        mpath = os.path.join(d, "test", "metrics.json")
        if not m or not os.path.exists(mpath):
            continue
        runs.setdefault(m.group(1), {})[int(m.group(2))] = json.load(open(mpath))
        for s in start_lines(os.path.join(d, "metrics.jsonl")):
            envs.append(s["environment"])
            times.append(s.get("time", "?"))
    pre = start_lines(os.path.join(out, "rotation", "metrics.jsonl"))
    rot = [json.loads(l) for l in open(os.path.join(out, "rotation", "metrics.jsonl"))
           if '"val_accuracy"' in l] if os.path.exists(os.path.join(out, "rotation", "metrics.jsonl")) else []

    print("| model (same encoder architecture) | test accuracy, mean | range over seeds | per seed | "
          "balanced acc. | macro AUC |")
    print("|---|---|---|---|---|---|")
    acc = {}
    for key, name in PROTOCOLS:
        r = runs.get(key, {})
        if not r:
            print(f"| {name} | missing | | | | |")
            continue
        seeds = sorted(r)
        a = [r[s]["accuracy"] for s in seeds]
        acc[key] = a
        ba = statistics.mean(r[s]["balanced_accuracy"] for s in seeds)
        auc = statistics.mean(r[s]["macro_auc"] for s in seeds)
        per = ", ".join(f"{s}: {r[s]['accuracy']:.3f}" for s in seeds)
        print(f"| {name} | {statistics.mean(a):.3f} | {min(a):.3f}–{max(a):.3f} | {per} | {ba:.3f} | {auc:.3f} |")
    ens = os.path.join(out, "ensemble", "metrics.json")
    if os.path.exists(ens):
        e = json.load(open(ens))["combiners"]
        for c in ("average", "vote"):
            if c in e:
                print(f"| ensemble of the seed-{min(runs.get('scratch', {0: 0}))} two-stage, scratch and rotation-probe "
                      f"runs ({c}) | {e[c]['accuracy']:.3f} | one run | | {e[c]['balanced_accuracy']:.3f} | "
                      f"{e[c]['macro_auc']:.3f} |")
    print()
    if rot:
        print("Held-out rotation accuracy of the pretrained encoder: " +
              ", ".join(f"epoch {d['epoch'] + 1}: {d['val_accuracy']:.3f}" for d in rot) + ".")
    if "scratch" in acc and "two-stage" in acc:
        s, t = acc["scratch"], acc["two-stage"]
        gap = statistics.mean(t) - statistics.mean(s)
        verdict = ("larger than the seed spread: every two-stage seed beats every scratch seed"
                   if min(t) > max(s) else
                   "larger than the seed spread: every scratch seed beats every two-stage seed"
                   if min(s) > max(t) else "within the seed spread (the ranges overlap)")
        print(f"Two-stage minus scratch: {gap:+.3f} in mean test accuracy over {len(t)} and {len(s)} seeds, {verdict}.")
    print()
    all_env = envs + [p["environment"] for p in pre]
    if all_env:
        def uniq(k):
            return ", ".join(sorted({str(e.get(k)) for e in all_env}))
        pre_env = pre[-1]["environment"] if pre else {}
        all_times = sorted(t for t in times + [p.get("time", "?") for p in pre] if t != "?")
        when = f"{all_times[0]} to {all_times[-1]}" if all_times else "unknown dates"
        print(f"Measured {when} (UTC) by `jobs/demo.sh`; table by `python3 jobs/demo_table.py {out}`. "
              f"Environment recorded by the runs: medssl {uniq('medssl_commit')}; pretraining "
              f"{pre_env.get('ranks', '?')} ranks x {pre_env.get('threads', '?')} thread, fine-tuning 1 rank x "
              f"{uniq('threads')} thread; GEMM {uniq('gemm')}; {uniq('blas')} (core {uniq('blas_core')}, "
              f"OPENBLAS_CORETYPE={uniq('openblas_coretype_env')}); {uniq('mpi')}, thread level {uniq('mpi_thread_level')}; "
              f"HDF5 {uniq('hdf5')}; CPU {uniq('cpu')} ({uniq('cpu_flags')}).")


if __name__ == "__main__":
    main()
