#!/usr/bin/python3
"""torch_twins — the three `medssl bench --workload` networks in PyTorch, for
an honest speed comparison (bench/compare.sh runs both sides interleaved).

  encoder  1x64x64, widths 32-64-128-256, 2x (conv3x3 no bias, BN, ReLU) per
           stage, 2x2 max-pool between stages, global average pool, linear
           256->4, cross-entropy on random labels; global batch 64
  unet     that encoder at 1x96x96 plus medssl's decoder: per level bilinear
           2x upsampling (align_corners=False), concat with the skip, 2x
           (conv3x3 no bias, BN, ReLU); a 1x1 conv with bias to 1 channel;
           MSE against the input image (the plain autoencoder); global batch 16
  demo     encoder 16-32-64 at 1x28x28 + linear 64->4; every image in its 4
           rotations (built every step from the images, as medssl's rotation
           pretext does), cross-entropy on the rotation index; global batch
           128 images (512 model rows); images/s counts images, as medssl does

SGD momentum 0.9, weight decay 5e-4, lr 0.01; the same fixed random batch
every step (noise on a vertical ramp, as medssl bench). Layer shapes and the
parameter counts equal medssl's (printed as "params"; compare_summary.py
checks them against medssl bench's); initialisation differs (irrelevant here).

  torch_twins.py [--workload W] [--batch B] [--threads T] [--steps N] [--warmup N]
                 [--channels-last] [--jit] [--ddp P] [--params]

--batch is the per-step batch of images of each process (default: the
workload's global batch divided by the processes). --ddp P spawns P processes
itself (torch.multiprocessing, no torchrun; gloo on 127.0.0.1), each with 1
thread and B images, gradients averaged by DistributedDataParallel: the global
batch is P x B. --jit trains torch.jit.trace's module (torch.jit.script's if
tracing fails); where neither works, or its first training step fails, the
line says "supported": false and the error instead of a speed (the eager model
is not timed under the jit's name). OMP_WAIT_POLICY, when set, is named in
the config. Prints one JSON line: workload, config, images_per_s (global
images per second), peak_rss_mb (ru_maxrss, the largest process) and more.
"""
import argparse
import json
import os
import resource
import socket
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F

WORKLOADS = {  # name: (widths, size, global batch, rows per image)
    "encoder": ((32, 64, 128, 256), 64, 64, 1),
    "unet": ((32, 64, 128, 256), 96, 16, 1),
    "demo": ((16, 32, 64), 28, 128, 4),
}


def block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Classifier(nn.Module):
    def __init__(self, widths, classes=4):
        super().__init__()
        chans = (1,) + tuple(widths)
        self.stages = nn.ModuleList(block(chans[i], chans[i + 1]) for i in range(len(widths)))
        self.fc = nn.Linear(widths[-1], classes)

    def forward(self, x):
        for i, s in enumerate(self.stages):
            x = s(x)
            if i + 1 < len(self.stages):
                x = F.max_pool2d(x, 2)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class UNet(nn.Module):
    def __init__(self, widths):
        super().__init__()
        chans = (1,) + tuple(widths)
        self.stages = nn.ModuleList(block(chans[i], chans[i + 1]) for i in range(len(widths)))
        ups = []
        below = widths[-1]
        for skip in reversed(widths[:-1]):
            ups.append(block(below + skip, skip))
            below = skip
        self.ups = nn.ModuleList(ups)
        self.out = nn.Conv2d(widths[0], 1, 1)

    def forward(self, x):
        skips = []
        for i, s in enumerate(self.stages):
            x = s(x)
            if i + 1 < len(self.stages):
                skips.append(x)
                x = F.max_pool2d(x, 2)
        for up in self.ups:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            x = up(torch.cat([x, skips.pop()], 1))
        return self.out(x)


def build(workload):
    widths = WORKLOADS[workload][0]
    return UNet(widths) if workload == "unet" else Classifier(widths)


def count_params(workload):
    return sum(p.numel() for p in build(workload).parameters())


def images_of(workload, n, gen):
    """n random images (noise on a top-to-bottom ramp, as medssl bench) and,
    for the encoder, random labels."""
    size = WORKLOADS[workload][1]
    ramp = (torch.arange(size, dtype=torch.float32) / size).view(1, 1, size, 1)
    x = ramp + 0.25 * torch.randn(n, 1, size, size, generator=gen)
    y = torch.randint(0, 4, (n,), generator=gen) if workload == "encoder" else None
    return x, y


def rotations(x):
    """(n, C, S, S) -> the 4 rotations of every image, image by image (rows
    4i..4i+3 = image i turned by 0..3 quarter turns, numpy.rot90's sense, as
    medssl's rotation pretext), and their targets."""
    n = x.shape[0]
    rows = torch.stack([torch.rot90(x, k, (2, 3)) for k in range(4)], 1).flatten(0, 1)
    return rows, torch.arange(4).repeat(n)


def first_line(e):
    return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


def train(args, rank, world):
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build(args.workload)
    params = sum(p.numel() for p in model.parameters())
    gen = torch.Generator().manual_seed(1 + rank)
    images, labels = images_of(args.workload, args.batch, gen)
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)

    def inputs():
        """the model's input and target for this step, built as medssl's task does"""
        if args.workload == "demo":
            x, y = rotations(images)
            return x.contiguous(memory_format=fmt), y
        x = images.contiguous(memory_format=fmt)
        return x, (x if args.workload == "unet" else labels)

    jit, jit_error = "", None
    if args.jit:
        try:
            model = torch.jit.trace(model, inputs()[0])
            jit = "trace"
        except Exception as e:  # noqa: BLE001 - any tracing failure: try scripting
            print(f"torch_twins: torch.jit.trace failed ({first_line(e)}); trying torch.jit.script", file=sys.stderr)
            try:
                model = torch.jit.script(model)
                jit = "script"
            except Exception as e2:  # noqa: BLE001 - neither: "not supported here"
                jit_error = e2
    if world > 1:
        model = nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    loss_fn = F.mse_loss if args.workload == "unet" else F.cross_entropy

    def step():
        x, y = inputs()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    losses = []
    if args.jit and jit_error is None:
        try:  # a module can compile and its training step still fail
            losses.append(step())
        except Exception as e:  # noqa: BLE001
            jit_error = e
    if jit_error is not None:  # reported, not timed: the eager model must not run under the jit's name
        return {"workload": args.workload, "supported": False, "error": first_line(jit_error), "params": params,
                "batch": args.batch, "global_batch": args.batch * world, "steps": 0}
    losses += [step() for _ in range(args.warmup - len(losses))]
    warmup = len(losses)  # the jit's trial step is one of them
    if world > 1:
        dist.barrier()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        losses.append(step())
    if world > 1:
        dist.barrier()
    elapsed = time.perf_counter() - t0
    rss = [0.0] * world
    rss[rank] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB -> MiB
    if world > 1:
        t = torch.tensor(rss, dtype=torch.float64)
        dist.all_reduce(t)
        rss = t.tolist()
    global_batch = args.batch * world
    return {"workload": args.workload, "images_per_s": round(global_batch * args.steps / elapsed, 2),
            "peak_rss_mb": round(max(rss), 1), "peak_rss_mb_per_process": [round(r, 1) for r in rss],
            "params": params, "batch": args.batch, "global_batch": global_batch, "size": WORKLOADS[args.workload][1],
            "rows_per_image": WORKLOADS[args.workload][3], "steps": args.steps, "warmup": warmup,
            "step_ms": round(elapsed / args.steps * 1e3, 2), "jit": jit,
            "loss_first": round(losses[0], 4), "loss_last": round(losses[-1], 4)}


def ddp_worker(rank, args, world, port, out):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    r = train(args, rank, world)
    if rank == 0:
        out.put(r)
    dist.destroy_process_group()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="See the top of bench/torch_twins.py for the networks.")
    p.add_argument("--workload", choices=sorted(WORKLOADS), default="encoder")
    p.add_argument("--batch", type=int, default=0,
                   help="images per step per process (default: the workload's global batch / processes)")
    p.add_argument("--threads", type=int, default=2, help="threads of the one process (--ddp: 1 each)")
    p.add_argument("--steps", type=int, default=20, help="timed steps (default 20)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    p.add_argument("--channels-last", action="store_true", help="model and input in torch.channels_last")
    p.add_argument("--jit", action="store_true", help="train torch.jit.trace's module (else torch.jit.script's)")
    p.add_argument("--ddp", type=int, default=0, metavar="P",
                   help="P processes x 1 thread, DistributedDataParallel over gloo on localhost")
    p.add_argument("--params", action="store_true", help="print the parameter count and exit")
    args = p.parse_args()
    if args.params:
        print(count_params(args.workload))
        return
    world = max(args.ddp, 1)
    if args.steps < 1 or args.warmup < 0 or args.batch < 0 or args.threads < 1:
        p.error("--steps must be >= 1, --warmup and --batch >= 0, --threads >= 1")
    if not args.batch:
        if WORKLOADS[args.workload][2] % world:
            p.error(f"--ddp {world}: the global batch {WORKLOADS[args.workload][2]} is not divisible; give --batch")
        args.batch = WORKLOADS[args.workload][2] // world
    if world > 1:
        args.threads = 1
        ctx = mp.get_context("spawn")
        out = ctx.SimpleQueue()
        mp.spawn(ddp_worker, args=(args, world, free_port(), out), nprocs=world, join=True)
        r = out.get()
    else:
        r = train(args, 0, 1)
    config = (f"DDP {world}x1" if world > 1 else f"1x{args.threads}") \
        + (" channels_last" if args.channels_last else "") \
        + ((f" jit-{r['jit']}" if r.get("jit") else " jit") if args.jit else "") + f" b{args.batch}" \
        + (f" OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}" if os.environ.get("OMP_WAIT_POLICY") else "")
    r.update({"config": config, "torch": torch.__version__, "threads": args.threads, "processes": world,
              "channels_last": args.channels_last, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
              "mkldnn": torch.backends.mkldnn.is_available(), "python": sys.version.split()[0]})
    print(json.dumps(r))


if __name__ == "__main__":
    main()
