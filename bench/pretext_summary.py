#!/usr/bin/env python3
"""Tables of bench/pretext.sh from its OUT folder (runs.tsv + the run folders'
metrics.jsonl), as Markdown on stdout.

  /usr/bin/python3 bench/pretext_summary.py runs/pretext-bench

speed:   images/s of the log intervals after the first (start-up and the
         shuffle-buffer fill left out): all those intervals' images over their
         time, per run; median (min-max) over the rounds. Scaling efficiency
         = 2x1 / (2 * 1x1), per round (same round = nearest in time).
wait:    from the epoch lines: epoch time = steps * batch / images_per_s (the
         training steps only; validation and checkpoints are outside it);
         loader_wait_s and allreduce_wait_s are cumulative since the start of
         the run on rank 0, so their increments per epoch are used.
quality: the last epoch line of each quality run.
"""
import csv
import gzip
import json
import os
import statistics
import sys

BATCH = 128
CONFIG_NAMES = {"1x2": "1 rank x 2 threads", "1x1": "1 rank x 1 thread", "2x1": "2 ranks x 1 thread"}
TASK_NAMES = {"rotation": "rotation", "jigsaw": "jigsaw (P=100)", "autoencoder": "autoencoder (plain)"}


def lines(path):
    with open(path) as f:
        return [d for d in map(json.loads, filter(str.strip, f)) if "event" not in d]  # skip start lines


def med_range(xs, fmt="{:.0f}"):
    if not xs:
        return "-"
    m = statistics.median(xs)
    if len(xs) == 1:
        return fmt.format(m)
    return f"{fmt.format(m)} ({fmt.format(min(xs))}–{fmt.format(max(xs))})"


def interval_rate(metrics):
    """images/s over the log intervals after the first."""
    iv = sorted((l for l in metrics if "loader_wait_s" not in l), key=lambda l: l["step"])
    imgs = secs = 0.0
    prev = iv[0]["step"] if iv else 0
    for l in iv[1:]:
        n = (l["step"] - prev) * BATCH
        imgs += n
        secs += n / l["images_per_s"]
        prev = l["step"]
    return imgs / secs if secs > 0 else None


def epochs(metrics):
    """Per epoch: steps, seconds, loader wait, allreduce wait (increments)."""
    out, prev_step, prev_lw, prev_aw = [], 0, 0.0, 0.0
    for l in sorted((l for l in metrics if "loader_wait_s" in l), key=lambda l: l["step"]):
        steps = l["step"] - prev_step
        out.append(dict(steps=steps, secs=steps * BATCH / l["images_per_s"], lw=l["loader_wait_s"] - prev_lw,
                        aw=l["allreduce_wait_s"] - prev_aw, line=l))
        prev_step, prev_lw, prev_aw = l["step"], l["loader_wait_s"], l["allreduce_wait_s"]
    return out


def mean_image_baseline(fm_dir, n):
    """MSE and PSNR of predicting the mean image of the first n training images for each of them."""
    try:
        import numpy as np
        raw = gzip.open(os.path.join(fm_dir, "train-images-idx3-ubyte.gz")).read()
        x = np.frombuffer(raw, np.uint8, offset=16)[: n * 784].reshape(n, 784).astype(np.float64) / 255.0
        mse = float(((x - x.mean(axis=0)) ** 2).mean())
        return mse, 10 * np.log10(1.0 / mse)
    except Exception:  # no numpy or no dataset: leave the baseline out
        return None


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "runs/pretext-bench"
    with open(os.path.join(out, "runs.tsv")) as f:
        runs = list(csv.DictReader(f, delimiter="\t"))
    for r in runs:
        p = os.path.join(r["dir"], "metrics.jsonl")
        r["metrics"] = lines(p) if os.path.exists(p) else []
    tasks = list(dict.fromkeys(r["task"] for r in runs))
    spans = [r["start"] for r in runs]
    loads = [float(r["load1"]) for r in runs]
    if runs:
        print(f"Runs from {min(spans)} to {max(spans)} (UTC); 1-minute load average at the start of each run "
              f"{min(loads):.2f}–{max(loads):.2f} on {os.cpu_count()} cores.\n")

    # --- speed ---------------------------------------------------------------------------
    speed = [r for r in runs if r["part"] == "speed"]
    if speed:
        rate = {}
        for r in speed:
            v = interval_rate(r["metrics"])
            if v:
                rate.setdefault((r["task"], r["config"]), {})[r["round"]] = v
        nr = len({r["round"] for r in speed})
        print(f"### Throughput (images/s after the first log interval; median (min–max) of {nr} round(s))\n")
        print("| task | 1 rank x 2 threads | 1 rank x 1 thread | 2 ranks x 1 thread | scaling efficiency 2x1 / (2 x 1x1) | 2x1 / 1x2 |")
        print("|---|---|---|---|---|---|")
        for t in tasks:
            cols = [med_range(list(rate.get((t, c), {}).values())) for c in ("1x2", "1x1", "2x1")]
            a, b, c = (rate.get((t, k), {}) for k in ("1x1", "2x1", "1x2"))
            eff = [b[k] / (2 * a[k]) for k in a if k in b]
            sp = [b[k] / c[k] for k in c if k in b]
            print(f"| {TASK_NAMES.get(t, t)} | " + " | ".join(cols) +
                  f" | {med_range([100 * e for e in eff], '{:.0f}%')} | {med_range(sp, '{:.2f}x')} |")
        print()
        print("Per run (images/s):\n")
        rounds = sorted({r["round"] for r in speed}, key=int)
        print("| task | config | " + " | ".join(f"round {k}" for k in rounds) + " |")
        print("|---|---|" + "---|" * len(rounds))
        for t in tasks:
            for c in ("1x2", "1x1", "2x1"):
                d = rate.get((t, c), {})
                if d:
                    print(f"| {t} | {c} | " + " | ".join(f"{d[k]:.0f}" if k in d else "-" for k in rounds) + " |")
        print()

    # --- wait ----------------------------------------------------------------------------
    wait = [r for r in runs if r["part"] == "wait"]
    if wait:
        n = wait[0]["corpus_n"]
        ne = max(len(epochs(r["metrics"])) for r in wait)
        nr = len({r["round"] for r in wait})
        print(f"### Where a step's time goes ({n}-image subset, {ne} epoch(s) per run; median (min–max) of {nr} round(s))\n")
        print("Shares of the epoch time (training steps only), from rank 0's cumulative `loader_wait_s` and "
              "`allreduce_wait_s`.\n")
        print("| task | config | steps/epoch | step time, ms | loader wait, epoch 1 | loader wait, later epochs "
              "| exposed all-reduce wait, ms/step | exposed all-reduce, % of step |")
        print("|---|---|---|---|---|---|---|---|")
        for t in tasks:
            for c in ("2x1", "1x2", "1x1"):
                rs = [r for r in wait if r["task"] == t and r["config"] == c]
                if not rs:
                    continue
                st, lw1, lw2, awms, awp, spe = [], [], [], [], [], []
                for r in rs:
                    e = epochs(r["metrics"])
                    if not e:
                        continue
                    steps = sum(x["steps"] for x in e)
                    secs = sum(x["secs"] for x in e)
                    spe.append(e[0]["steps"])
                    st.append(1000 * secs / steps)
                    lw1.append(100 * e[0]["lw"] / e[0]["secs"])
                    if len(e) > 1:
                        lw2.append(100 * sum(x["lw"] for x in e[1:]) / sum(x["secs"] for x in e[1:]))
                    aw = sum(x["aw"] for x in e)
                    awms.append(1000 * aw / steps)
                    awp.append(100 * aw / secs)
                ar = (med_range(awms, "{:.1f}"), med_range(awp, "{:.1f}%")) if c == "2x1" else ("(1 rank)", "")
                print(f"| {TASK_NAMES.get(t, t)} | {c} | {med_range(spe)} | {med_range(st)} | "
                      f"{med_range(lw1, '{:.1f}%')} | {med_range(lw2, '{:.1f}%')} | {ar[0]} | {ar[1]} |")
        print()

    # --- quality -------------------------------------------------------------------------
    qual = [r for r in runs if r["part"] == "quality"]
    if qual:
        print("### Held-out pretext metric after a fixed budget (2 ranks x 1 thread, --val-fraction 0.05)\n")
        print("| task | corpus | epochs | held-out metric | val_loss | reference | epoch images/s | epoch time "
              "| loader wait | exposed all-reduce |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for r in qual:
            e = epochs(r["metrics"])
            if not e:
                print(f"| {r['task']} | {r['corpus_n']} | - | (no epoch line) | | | | | | |")
                continue
            last = e[-1]["line"]
            secs = sum(x["secs"] for x in e)
            steps = sum(x["steps"] for x in e)
            if "val_accuracy" in last:
                metric = f"accuracy {last['val_accuracy']:.4f}"
                ref = "chance 0.25" if r["task"] == "rotation" else "chance 0.01" if r["task"] == "jigsaw" else ""
            else:
                metric = f"MSE {last['val_mse']:.5f}, PSNR {last['val_psnr']:.2f} dB"
                b = mean_image_baseline(os.environ.get("FM", "/usr/share/datasets/fashion-mnist"), int(r["corpus_n"]))
                ref = f"mean image: MSE {b[0]:.4f}, {b[1]:.2f} dB" if b else ""
            lw = sum(x["lw"] for x in e)
            aw = sum(x["aw"] for x in e)
            print(f"| {TASK_NAMES.get(r['task'], r['task'])} | {int(r['corpus_n']):,} images | {len(e)} | {metric} | "
                  f"{last['val_loss']:.4g} | {ref} | {steps * BATCH / secs:.0f} | {secs / 60:.1f} min "
                  f"| {100 * lw / secs:.1f}% ({lw:.1f} s) | {100 * aw / secs:.1f}% ({1000 * aw / steps:.1f} ms/step) |")
        print()


if __name__ == "__main__":
    main()
