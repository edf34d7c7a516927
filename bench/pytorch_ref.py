#!/usr/bin/python3
"""The reference encoder of `medssl bench`, trained with PyTorch on CPU, for a
side-by-side throughput figure. A benchmark, not a test dependency: needs
Debian's python3-torch (1.13, oneDNN). Same network, same global batch, same
optimizer, random data.

    /usr/bin/python3 bench/pytorch_ref.py [--threads 2] [--batch 64] [--steps 20] [--channels-last]
"""
import argparse
import json
import time

import torch
import torch.nn as nn


def encoder(widths=(32, 64, 128, 256), convs=2, classes=4):
    layers, c = [], 1
    for s, w in enumerate(widths):
        if s > 0:
            layers.append(nn.MaxPool2d(2))
        for _ in range(convs):
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            c = w
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, classes)]
    return nn.Sequential(*layers)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--mkldnn-off", action="store_true", help="torch.backends.mkldnn.enabled = False")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.mkldnn_off:
        torch.backends.mkldnn.enabled = False
    torch.manual_seed(0)
    model = encoder()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(a.batch, 1, a.size, a.size)
    y = torch.randint(0, 4, (a.batch,))
    if a.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for step in range(a.warmup + a.steps):
        if step == a.warmup:
            t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    elapsed = time.perf_counter() - t0
    print(json.dumps({"torch": torch.__version__, "threads": a.threads, "batch": a.batch,
                      "channels_last": a.channels_last, "mkldnn": torch.backends.mkldnn.enabled,
                      "images_per_s": round(a.batch * a.steps / elapsed, 2),
                      "step_ms": round(elapsed / a.steps * 1e3, 2)}))


if __name__ == "__main__":
    main()
