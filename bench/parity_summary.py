#!/usr/bin/python3
"""Tables of bench/parity.sh's run folders: medssl against its PyTorch twin
(test metric per seed, mean ± sample std, range, and whether the gap is
within the seed noise), the one-step check, and the linear-probe table of
bench/probe.sh (printed by bench/probe_summary.py), with the date and the
environment the runs recorded.

    /usr/bin/python3 bench/parity_summary.py runs/parity

"Within seed noise" is judged two ways, both printed: the two seed ranges
overlap, and Welch's t = (mean_a - mean_b) / sqrt(s_a^2/n_a + s_b^2/n_b) is
below 2 in size (with 3 seeds a side this is a coarse test: it can only flag
gaps that are large against the spread).
"""
import glob
import json
import math
import os
import re
import statistics
import subprocess
import sys

PROTOCOLS = [
    ("seg", "Phantom segmentation, 8 labeled training images (scratch U-Net)", "test dsc_mean (200 images)"),
    ("cls", "Fashion-MNIST, 10 labels per class (scratch, 90 train / 10 val)", "test accuracy (10,000 images)"),
]


def start_line(path):
    with open(path) as f:
        e = json.loads(f.readline())
    return e if e.get("event") == "start" else None


def medssl_result(d, proto):
    p = os.path.join(d, "test", "metrics.json")
    if not os.path.exists(p):
        return None
    m = json.load(open(p))
    v = m["dsc_mean"] if proto == "seg" else m["accuracy"]
    best_epoch, val = None, None
    for line in open(os.path.join(d, "metrics.jsonl")):
        e = json.loads(line)
        key = "val_dsc" if proto == "seg" else "val_accuracy"
        if key in e and (val is None or e[key] > val[0] or (e[key] == val[0] and e["val_loss"] < val[1])):
            val, best_epoch = (e[key], e["val_loss"]), e["epoch"]
    return v, best_epoch


def torch_result(d, proto):
    p = os.path.join(d, "result.json")
    if not os.path.exists(p):
        return None
    r = json.load(open(p))
    return r["test_dsc_mean" if proto == "seg" else "test_accuracy"], r["best_epoch"]


def stats(v):
    m = statistics.mean(v)
    s = statistics.stdev(v) if len(v) > 1 else 0.0
    return m, s


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "runs/parity"
    envs, tenvs, times = [], [], []
    print("### medssl against its PyTorch twin\n")
    print("| protocol | metric | medssl: mean ± std (min–max) | PyTorch twin: mean ± std (min–max) | "
          "medssl − PyTorch | within seed noise? |")
    print("|---|---|---|---|---|---|")
    per_seed = []
    for proto, title, metric in PROTOCOLS:
        res = {"medssl": {}, "torch": {}}
        for d in sorted(glob.glob(os.path.join(out, f"{proto}-*-s*"))):
            m = re.match(rf"{proto}-(medssl|torch)-s(\d+)$", os.path.basename(d))
            if not m:
                continue
            side, seed = m.group(1), int(m.group(2))
            r = medssl_result(d, proto) if side == "medssl" else torch_result(d, proto)
            if r is None:
                continue
            res[side][seed] = r
            e = start_line(os.path.join(d, "metrics.jsonl"))
            if e:
                (envs if side == "medssl" else tenvs).append(e["environment"])
                times.append(e["time"])
        a = [res["medssl"][s][0] for s in sorted(res["medssl"])]
        b = [res["torch"][s][0] for s in sorted(res["torch"])]
        if not a or not b:
            print(f"| {title} | {metric} | {len(a)} runs | {len(b)} runs | | |")
            continue
        (ma, sa), (mb, sb) = stats(a), stats(b)
        se = math.sqrt(sa * sa / len(a) + sb * sb / len(b))
        t = (ma - mb) / se if se > 0 else float("inf")
        overlap = min(a) <= max(b) and min(b) <= max(a)
        verdict = ("yes" if overlap and abs(t) < 2 else "no") + f" (ranges {'overlap' if overlap else 'disjoint'}, t = {t:+.2f})"
        print(f"| {title} | {metric} | {ma:.3f} ± {sa:.3f} ({min(a):.3f}–{max(a):.3f}, {len(a)} seeds) | "
              f"{mb:.3f} ± {sb:.3f} ({min(b):.3f}–{max(b):.3f}, {len(b)} seeds) | {ma - mb:+.3f} | {verdict} |")
        for side in ("medssl", "torch"):
            for s in sorted(res[side]):
                per_seed.append((proto, side, s) + tuple(res[side][s]))
    print("\nPer seed (test metric; best epoch by validation, 0-based):\n")
    print("| protocol | seed | medssl | PyTorch twin |")
    print("|---|---|---|---|")
    for proto, _, _ in PROTOCOLS:
        seeds = sorted({s for p, _, s, _, _ in per_seed if p == proto})
        for s in seeds:
            cell = {side: f"{v:.4f} (epoch {ep})" for p, side, ss, v, ep in per_seed if p == proto and ss == s}
            print(f"| {proto} | {s} | {cell.get('medssl', '')} | {cell.get('torch', '')} |")

    checks = []
    for task in ("seg", "cls"):
        p = os.path.join(out, f"check-{task}", "result.json")
        if os.path.exists(p):
            checks.append((task, json.load(open(p))))
    if checks:
        print("\nOne SGD step on the whole training set in one batch, from medssl's initial weights loaded into the twin "
              "(`check-*`):\n")
        print("| task | images | loss (twin) | twin forward vs tools/medssl_torch.py | largest relative difference of the "
              "update, medssl vs twin, over all tensors | update ratio range |")
        print("|---|---|---|---|---|---|")
        for task, r in checks:
            ratios = [t["ratio"] for t in r["tensors"]]
            print(f"| {task} | {r['images']} | {r['loss']:.5f} | {r['forward_max_abs_diff_vs_medssl_torch']:.1e} | "
                  f"{r['max_rel_diff']:.1e} ({len(r['tensors'])} tensors) | {min(ratios):.5f}–{max(ratios):.5f} |")
    multi = []
    for task in ("seg", "cls"):
        p = os.path.join(out, f"check-{task}-twin10", "result.json")
        if os.path.exists(p):
            r = json.load(open(p))
            med = [json.loads(l) for l in open(os.path.join(out, f"check-{task}-10steps", "metrics.jsonl"))]
            med = [e["loss"] for e in med if "loss" in e and "loader_wait_s" not in e]  # the step lines
            multi.append((task, r, med))
    if multi:
        print("\nTen SGD steps (1 warm-up, 9 cosine; the whole training set in each batch) from medssl's initial weights, "
              "the twin training on its own (`check-*-twin10`):\n")
        print("| task | loss per step, medssl | loss per step, twin | weights and BN statistics after 10 steps: largest "
              "difference medssl vs twin, relative to the tensor's change | the same, twin vs twin from weights x "
              "(1 + 1e-6 N(0,1)) |")
        print("|---|---|---|---|---|")
        for task, r, med in multi:
            print(f"| {task} | {' '.join(f'{v:.4f}' for v in med)} | {' '.join(f'{v:.4f}' for v in r['losses'])} | "
                  f"{r['max_rel_diff']:.3f} | {r['max_rel_diff_twin_perturbed']:.3f} |")

    if envs or tenvs:
        def uniq(es, k):
            return ", ".join(sorted({str(e.get(k)) for e in es}))
        print(f"\nMeasured {min(times)} to {max(times)} (UTC) by `bench/parity.sh`, tables by "
              f"`/usr/bin/python3 bench/parity_summary.py {out}`. medssl {uniq(envs, 'medssl_commit')}, "
              f"{uniq(envs, 'ranks')} rank x {uniq(envs, 'threads')} thread per run, {uniq(envs, 'blas')} "
              f"(core {uniq(envs, 'blas_core')}), {uniq(envs, 'mpi')}, HDF5 {uniq(envs, 'hdf5')}, CPU {uniq(envs, 'cpu')}; "
              f"PyTorch {uniq(tenvs, 'torch')} with {uniq(tenvs, 'threads')} thread, Python {uniq(tenvs, 'python')}, "
              f"NumPy {uniq(tenvs, 'numpy')}. Each medssl run and the twin's run of the same seed ran side by side.")

    probe = os.path.join(out, "probe")
    if glob.glob(os.path.join(probe, "probe-*")):
        print("\n### Linear probes: `--head-norm none` against `bn` (bench/probe.sh, 3 seeds)\n")
        here = os.path.dirname(os.path.abspath(__file__))
        sys.stdout.flush()
        subprocess.run([sys.executable, os.path.join(here, "probe_summary.py"), probe], check=True)
        rot = os.path.join(probe, "rotation", "metrics.jsonl")
        if os.path.exists(rot):
            accs = [json.loads(l) for l in open(rot)]
            accs = [e for e in accs if "val_accuracy" in e]
            if accs:
                print(f"\nRotation pretraining ({probe}/rotation): held-out rotation accuracy "
                      f"{accs[-1]['val_accuracy']:.4f} after epoch {accs[-1]['epoch'] + 1}.")


if __name__ == "__main__":
    main()
