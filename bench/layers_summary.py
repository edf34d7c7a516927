#!/usr/bin/env python3
"""layers_summary.py OUT — per-layer tables from a bench/layers.sh run folder.

Per workload: images/s and the sgemm ceiling for each algorithm (medians over the
rounds), then per convolution the forward + backward milliseconds under
MEDSSL_CONV=gemm and =winograd, the speed-up, and Winograd's GFLOP/s counted as the
direct convolution's FLOPs with its percentage of the sgemm ceiling measured in the
same runs. Medians over the rounds; every number comes from the JSON files."""
import glob, json, os, statistics, sys

ORDER = ["encoder", "unet", "demo"]


def main(d):
    runs = {}
    for p in sorted(glob.glob(os.path.join(d, "*-r*.json"))):
        w, conv, _ = os.path.basename(p)[:-5].rsplit("-", 2)
        try:
            runs.setdefault((w, conv), []).append(json.load(open(p)))
        except (json.JSONDecodeError, OSError) as e:
            print(f"({p}: unreadable, {e})", file=sys.stderr)
    if not runs:
        sys.exit(f"layers_summary: {d}: no run JSON files")
    env = {}
    for line in open(os.path.join(d, "environment.txt")):
        k, _, v = line.partition(":")
        env[k.strip()] = v.strip()
    cmd = open(os.path.join(d, "command.txt")).read().strip()
    print(f"Measured {env.get('start')} to {env.get('end')} (UTC) by `{cmd}` (folder {d}); commit "
          f"{env.get('commit')}; {env.get('cpu')}; 1 rank x 1 thread; OPENBLAS_CORETYPE={env.get('OPENBLAS_CORETYPE')}; "
          f"MEDSSL_GEMM={env.get('MEDSSL_GEMM')}; load average {env.get('loadavg at start')} at the start, "
          f"{env.get('loadavg at end')} at the end. Medians over the rounds.\n")
    med = statistics.median
    for w in sorted({w for w, _ in runs}, key=lambda w: ORDER.index(w) if w in ORDER else 99):
        g, v = runs.get((w, "gemm"), []), runs.get((w, "winograd"), [])
        if not g or not v:
            continue
        r0 = v[0]
        ceil = med([r["sgemm_gflops"] for r in g + v])
        print(f"#### {w}: 1x{r0['size']}x{r0['size']}, batch {r0['batch']} on one core, {len(g)}+{len(v)} runs\n")
        ig, iv = med([r["images_per_s"] for r in g]), med([r["images_per_s"] for r in v])
        print(f"images/s: gemm {ig:.1f}, winograd {iv:.1f} (**{iv / ig:.2f}x**); step {med([r['step_ms'] for r in g]):.1f} "
              f"-> {med([r['step_ms'] for r in v]):.1f} ms; sgemm ceiling {ceil:.1f} GFLOP/s "
              f"(median of all {len(g) + len(v)} runs; {v[0].get('gemm', '?')})\n")
        print("| layer | gemm fwd+bwd ms | winograd fwd+bwd ms | speed-up | winograd GFLOP/s | % of sgemm ceiling |")
        print("|---|---|---|---|---|---|")
        names = [l["name"] for l in r0["layers"] if l["kind"] == "conv"]
        tg = tv = 0.0
        for n in names:
            def t(rs):
                return med([sum(l["fwd_ms"] + l["bwd_ms"] for l in r["layers"] if l["name"] == n) for r in rs])
            def gf(rs):
                return med([next(l["gflops"] for l in r["layers"] if l["name"] == n) for r in rs])
            a, b = t(g), t(v)
            tg += a
            tv += b
            print(f"| {n} | {a:.2f} | {b:.2f} | {a / b:.2f}x | {gf(v):.1f} | {100 * gf(v) / ceil:.0f}% |")
        print(f"| all convolutions | {tg:.2f} | {tv:.2f} | {tg / tv:.2f}x | | |\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: layers_summary.py RUN_FOLDER")
    main(sys.argv[1])
