#!/usr/bin/python3
"""torch_twins — the three `medssl bench --workload` networks in PyTorch, for
an honest speed comparison (bench/compare.sh runs both sides interleaved).

  encoder  1x64x64, widths 32-64-128-256, 2x (conv3x3 no bias, BN, ReLU) per
           stage, 2x2 max-pool between stages, global average pool, linear
           256->4, cross-entropy on random labels
  unet     that encoder at 1x96x96 plus medssl's decoder: per level bilinear
           2x upsampling (align_corners=False), concat with the skip, 2x
           (conv3x3 no bias, BN, ReLU); a 1x1 conv with bias to 1 channel;
           MSE against the input
  demo     encoder 16-32-64 at 1x28x28 + linear 64->4; every image in its 4
           rotations (4 rows per image), cross-entropy on the rotation index;
           images/s counts images, as medssl bench does

SGD momentum 0.9, weight decay 5e-4, random data. The parameter counts equal
medssl's (printed as "params"; compare.sh checks them).

  torch_twins.py --workload W [--batch B] [--threads T] [--steps N] [--warmup N]
                 [--channels-last] [--jit] [--ddp P]

--batch is the global batch of images (default: the workload's, as in
medssl bench); --ddp P runs P processes (torch.multiprocessing, gloo on
127.0.0.1), each with 1 thread and batch B/P, gradients averaged by
DistributedDataParallel. --jit trains torch.jit.trace(model); where tracing
or its first training step fails, the line says "supported": false and the
error instead of a speed. Prints one JSON line.
"""
import argparse
import json
import os
import resource
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F

WORKLOADS = {  # name: (widths, size, batch, rows per image)
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


def batch_of(workload, images, gen):
    size, rows = WORKLOADS[workload][1], WORKLOADS[workload][3]
    x = torch.randn(images, 1, size, size, generator=gen)
    if workload == "unet":
        return x, x
    if workload == "demo":  # the 4 rotations of every image, target = the rotation
        x = torch.cat([torch.rot90(x, k, (2, 3)) for k in range(rows)])
        return x, torch.arange(rows).repeat_interleave(images)
    return x, torch.randint(0, 4, (images,), generator=gen)


def train(args, rank, world):
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build(args.workload)
    params = sum(p.numel() for p in model.parameters())
    images = args.batch // world
    gen = torch.Generator().manual_seed(1 + rank)
    x, y = batch_of(args.workload, images, gen)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
        if args.workload == "unet":
            y = x
    jit_error = None
    if args.jit:
        try:
            model = torch.jit.trace(model, x)
        except Exception as e:  # noqa: BLE001 -- any failure means "not supported here"
            jit_error = e
    if world > 1:
        model = nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    loss_fn = F.mse_loss if args.workload == "unet" else F.cross_entropy

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    if args.jit and jit_error is None:
        try:  # a trace can succeed and its training step still fail
            step()
        except Exception as e:  # noqa: BLE001
            jit_error = e
    if jit_error is not None:  # reported, not timed: the eager model must not run under the jit's name
        return {"workload": args.workload, "supported": False,
                "error": f"{type(jit_error).__name__}: {str(jit_error).splitlines()[0] if str(jit_error) else ''}",
                "params": params, "batch": args.batch, "steps": 0}
    for _ in range(args.warmup):
        step()
    if world > 1:
        dist.barrier()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    if world > 1:
        dist.barrier()
    elapsed = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB -> MiB
    if world > 1:
        t = torch.tensor([rss])
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        rss = float(t[0])
    return {"workload": args.workload, "images_per_s": round(args.batch * args.steps / elapsed, 2),
            "peak_rss_mb": round(rss, 1), "params": params, "batch": args.batch, "steps": args.steps}


def ddp_worker(rank, args, world, port, out):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    r = train(args, rank, world)
    if rank == 0:
        out.put(r)
    dist.destroy_process_group()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workload", choices=sorted(WORKLOADS), default="encoder")
    p.add_argument("--batch", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--jit", action="store_true")
    p.add_argument("--ddp", type=int, default=0)
    args = p.parse_args()
    if not args.batch:
        args.batch = WORKLOADS[args.workload][2]
    world = max(args.ddp, 1)
    if args.batch % world:
        sys.exit(f"torch_twins: --batch {args.batch} is not divisible by --ddp {world}")
    if args.ddp > 1:
        args.threads = 1
        ctx = mp.get_context("spawn")
        out = ctx.SimpleQueue()
        port = 29500 + os.getpid() % 1000
        mp.spawn(ddp_worker, args=(args, world, port, out), nprocs=world, join=True)
        r = out.get()
    else:
        r = train(args, 0, 1)
    config = (f"DDP {world}x1" if world > 1 else f"1x{args.threads}") + (" channels_last" if args.channels_last else "") \
        + (" jit" if args.jit else "") \
        + (f" OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}" if os.environ.get("OMP_WAIT_POLICY") else "")
    r.update({"config": config, "torch": torch.__version__, "threads": args.threads, "processes": world})
    print(json.dumps(r))


if __name__ == "__main__":
    main()
