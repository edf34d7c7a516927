#!/usr/bin/python3
"""PyTorch twin of `medssl finetune --strategy scratch` for bench/parity.sh:
the same network, initialisation, loss, optimizer, learning-rate schedule,
per-epoch sampling, validation and best-checkpoint rule as medssl, written
from medssl's sources, so that the two can be compared as learners (test
metric over seeds), not bit for bit.

What is mirrored, and where medssl defines it:
  network   src/nn/model_build.c: encoder stages of convs x (conv3x3 no bias,
            BN, ReLU), 2x2 max-pool between stages; classify: global average
            pool, linear; segment: U-Net
            decoder from the deepest stage, per shallower stage: bilinear x2
            (align_corners=False, src/nn/layers.c), concat (upsampled, skip) in
            that order, convs x (conv3x3, BN, ReLU) at the stage's width; 1x1
            output conv with bias.
  init      model_init_weights: conv weights Kaiming normal (fan_out, ReLU
            gain), linear weight/bias and conv bias U(-1/sqrt(fan_in), +),
            BN gamma 1, beta 0 (= PyTorch defaults except the conv weights).
  BN        momentum 0.1 (running = 0.9 running + 0.1 batch, unbiased var),
            eps 1e-5: PyTorch's defaults, the same convention.
  loss      src/nn/loss.c: classify: softmax CE, mean over labeled samples;
            segment: soft Dice over softmax probabilities, every class
            (background too), sums over the whole batch, smooth 1, loss
            1 - mean_k dice_k; plus CE mean over the pixels (unweighted sum).
  optim     src/nn/optim.c + src/cli/finetune.c: SGD momentum 0.9, Nesterov,
            weight decay 5e-4 (L2, added to the gradient) on conv and linear
            weights only (not on BN parameters nor biases); base LR =
            lr * batch / 256; per step s (0-based, before the update):
            s < W: base * (0.1 + 0.9 s / W), W = warmup_epochs * steps/epoch;
            then cosine from base to 0 over the remaining steps.
  sampling  finetune.c epoch_passes + src/data/loader.c: an epoch repeats the
            training samples the fewest whole times giving >= 256 images (or
            --steps-per-epoch x batch), shuffled (the loader's shuffle buffer
            holds the whole epoch here), batches of `batch` with the last,
            partial batch kept; no augmentation.
  split     classify without --val: finetune/labeled.c labeled_split: V =
            round(0.1 n) validation samples, floor(0.1 n_class) per class plus
            the largest remainders; which samples is seeded differently from
            medssl (the seeds' spread covers it).
  select    src/train/trainer.c: after every epoch, validation in eval mode;
            best = higher metric, or the same metric at a lower validation
            loss (batch losses weighted by the batch's scored count).
  metrics   classify: accuracy; segment: finetune/metrics.c dsc_mean: per
            image, the mean over foreground classes present in the truth or
            the argmax prediction of 2|P&T|/(|P|+|T|), images with neither
            left out, mean over images.

    /usr/bin/python3 bench/parity_torch.py seg --train T.h5 --val V.h5 --test X.h5 --seed 0 --out DIR
    /usr/bin/python3 bench/parity_torch.py cls --train fm10.h5 --test fm_test.h5 --seed 0 --out DIR
    /usr/bin/python3 bench/parity_torch.py step-seg --train T.h5 --before A.h5 --after B.h5 --lr 1 --batch 8 --out DIR

step-seg / step-cls check one optimizer step against medssl's: A.h5 is a
checkpoint of `medssl finetune ... --epochs 1 --steps-per-epoch 1 --batch N`
(the whole training set in one batch) at --lr 1e-8 (its weights are the
initial ones up to 1e-9 relative), B.h5 the same run at --lr X. The twin
loads A's weights (through tools/medssl_torch.py), runs forward and backward
on the same N images in training mode and predicts B's weights with the
first SGD step (buffer = d, Nesterov: w -= lr_0 (1 + momentum) d, lr_0 =
0.1 x X x N / 256 at step 0 of the warm-up); result.json holds the largest
relative difference per tensor between medssl's update and the twin's.

Writes DIR/result.json (test metric, best epoch, per-epoch validation) and
DIR/metrics.jsonl (a start line with the environment, one line per epoch).
"""
import argparse
import datetime
import json
import math
import os
import platform
import time

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def conv_bn_relu(c_in, c_out):
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class Net(nn.Module):
    """medssl's plain encoder with a linear head (classes) or a U-Net decoder (dec_out)."""

    def __init__(self, widths, convs, in_ch=1, classes=0, dec_out=0, head_norm=False):
        super().__init__()
        self.stages = nn.ModuleList()
        c = in_ch
        for w in widths:
            layers = []
            for _ in range(convs):
                layers += conv_bn_relu(c, w)
                c = w
            self.stages.append(nn.Sequential(*layers))
        self.classes, self.dec_out = classes, dec_out
        if classes:
            self.head_bn = nn.BatchNorm1d(c) if head_norm else None
            self.fc = nn.Linear(c, classes)
        if dec_out:
            self.ups = nn.ModuleList()
            for st in range(len(widths) - 2, -1, -1):
                layers = []
                for _ in range(convs):
                    layers += conv_bn_relu(c + widths[st] if not layers else widths[st], widths[st])
                c = widths[st]
                self.ups.append(nn.Sequential(*layers))
            self.out = nn.Conv2d(c, dec_out, 1, bias=True)
        for m in self.modules():  # model_init_weights
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:  # the 1x1 output conv: PyTorch's default bias
                    bound = 1.0 / math.sqrt(m.weight[0].numel())
                    nn.init.uniform_(m.bias, -bound, bound)
            elif isinstance(m, nn.Linear):
                bound = 1.0 / math.sqrt(m.in_features)
                nn.init.uniform_(m.weight, -bound, bound)
                nn.init.uniform_(m.bias, -bound, bound)
            # BatchNorm: weight 1, bias 0, running stats 0/1 (PyTorch's default)

    def encode(self, x):
        skips = []
        for i, st in enumerate(self.stages):
            if i > 0:
                x = F.max_pool2d(x, 2)
            x = st(x)
            skips.append(x)
        return skips

    def features(self, x):
        return self.encode(x)[-1].mean(dim=(2, 3))

    def forward(self, x):
        skips = self.encode(x)
        if self.classes:
            f = skips[-1].mean(dim=(2, 3))
            if self.head_bn is not None:
                f = self.head_bn(f)
            return self.fc(f)
        x = skips[-1]
        for j, st in enumerate(range(len(skips) - 2, -1, -1)):
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            x = torch.cat([x, skips[st]], dim=1)
            x = self.ups[j](x)
        return self.out(x)


def dice_ce(logits, target, smooth=1.0):
    """soft_dice_loss + softmax_ce_loss of src/nn/loss.c. logits (N,K,H,W); target (N,H,W) int64, -1 ignored."""
    K = logits.shape[1]
    valid = target >= 0
    p = torch.softmax(logits, dim=1)  # (N,K,H,W)
    g = F.one_hot(target.clamp(min=0), K).permute(0, 3, 1, 2).to(p.dtype)  # (N,K,H,W)
    v = valid.unsqueeze(1).to(p.dtype)
    inter = (p * g * v).sum(dim=(0, 2, 3))
    psum = (p * v).sum(dim=(0, 2, 3))
    gsum = (g * v).sum(dim=(0, 2, 3))
    dice = (2 * inter + smooth) / (psum + gsum + smooth)
    ce = F.cross_entropy(logits, target, ignore_index=-1)
    return (1 - dice.mean()) + ce


def image_dsc(pred, truth, K):
    """finetune/metrics.c: mean over foreground classes present in pred or truth; NaN when none. (H,W) int arrays."""
    valid = truth != 255
    s, n = 0.0, 0
    for c in range(1, K):
        p = (pred == c) & valid
        t = (truth == c) & valid
        den = int(p.sum()) + int(t.sum())
        if den == 0:
            continue
        s += 2.0 * int((p & t).sum()) / den
        n += 1
    return s / n if n else float("nan")


def stratified_split(labels, frac, rng):
    """labeled_split's quotas (finetune/labeled.c): V = round(frac n); floor(frac n_c) per class, the rest by the
    largest remainders; the samples within a class drawn by rng. Returns a bool array (True = validation)."""
    n = len(labels)
    classes = sorted(set(labels.tolist()))
    n_c = {c: int((labels == c).sum()) for c in classes}
    V = int(math.floor(frac * n + 0.5)) if n >= 2 else 0
    q = {c: int(math.floor(frac * n_c[c])) for c in classes}
    rest = V - sum(q.values())
    for c in sorted(classes, key=lambda c: -(frac * n_c[c] - q[c]))[:max(rest, 0)]:
        q[c] += 1
    in_val = np.zeros(n, dtype=bool)
    for c in classes:
        idx = np.flatnonzero(labels == c)
        in_val[rng.permutation(idx)[:q[c]]] = True
    return in_val


def read_corpus(path, segment, labeled_only=True):
    with h5py.File(path, "r") as f:
        if segment:
            x = f["images"][:]
            y = f["masks"][:].astype(np.int64)
        else:
            lab = f["labels"][:]
            idx = np.flatnonzero(lab >= 0) if labeled_only else np.arange(len(lab))
            x = f["images"][idx] if len(idx) < len(lab) else f["images"][:]
            y = lab[idx].astype(np.int64)
    if x.dtype == np.uint8:
        x = x.astype(np.float32) * np.float32(1.0 / 255.0)  # corpus.c: bytes / 255
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), torch.from_numpy(y)


def param_groups(model):
    """Conv and linear weights decay; BN parameters and biases do not (SLAB_NO_DECAY in model_build.c)."""
    decay, no_decay = [], []
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            decay.append(m.weight)
            if m.bias is not None:
                no_decay.append(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            no_decay += [m.weight, m.bias]
    assert len(decay) + len(no_decay) == len(list(model.parameters()))
    return decay, no_decay


def lr_at(step, base, warm, total):
    """sched_lr, SCHED_COSINE, warmup_start 0.1, min_lr 0 (src/nn/optim.c)."""
    if step < warm:
        return base * (0.1 + 0.9 * step / warm)
    span = total - warm
    t = (step - warm) / span if span > 0 else 1.0
    t = min(max(t, 0.0), 1.0)
    return base * 0.5 * (1.0 + math.cos(math.pi * t))


@torch.no_grad()
def evaluate(model, x, y, segment, K, batch):
    """(metric, loss) as trainer_validate: batch losses weighted by the batch's scored count."""
    model.eval()
    s_loss = s_score = s_count = 0.0
    for i in range(0, len(x), batch):
        xb, yb = x[i:i + batch], y[i:i + batch]
        out = model(xb)
        if segment:
            loss = float(dice_ce(out, torch.where(yb == 255, torch.full_like(yb, -1), yb)))
            pred = out.argmax(dim=1).numpy()
            d = [image_dsc(pred[j], yb[j].numpy(), K) for j in range(len(xb))]
            d = [v for v in d if not math.isnan(v)]
            score, count = sum(d), len(d)
        else:
            loss = float(F.cross_entropy(out, yb))
            score, count = float((out.argmax(dim=1) == yb).sum()), len(xb)
        s_loss += loss * count
        s_score += score
        s_count += count
    return s_score / s_count, s_loss / s_count


def environment():
    return {"torch": torch.__version__, "threads": torch.get_num_threads(), "python": platform.python_version(),
            "numpy": np.__version__, "cpu": platform.processor() or platform.machine(),
            "openblas_coretype_env": os.environ.get("OPENBLAS_CORETYPE")}


def twin_from_medssl(a, segment):
    """medssl's checkpoints before and after (as torch modules through tools/medssl_torch.py), the
    training images and targets, and the twin built for them holding `before`'s weights."""
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
    import medssl_torch
    before, after = medssl_torch.load(a.before), medssl_torch.load(a.after)
    x, y = read_corpus(a.train, segment)
    K = int(y[y != 255].max()) + 1
    net = Net([int(w) for w in a.widths.split("-")], a.convs, in_ch=x.shape[1], classes=0 if segment else K,
              dec_out=K if segment else 0)
    theirs, ours = list(before.state_dict().items()), list(net.state_dict().keys())
    assert len(theirs) == len(ours), "the twin's tensors do not line up with medssl's"
    net.load_state_dict({k: v.clone() for k, (_, v) in zip(ours, theirs)})
    return before, after, x, y, net


def one_step(a, segment):
    before, after, x, y, net = twin_from_medssl(a, segment)
    before.train()
    net.train()
    out = net(x)
    fwd = float((out - before(x)).abs().max())
    loss = dice_ce(out, torch.where(y == 255, torch.full_like(y, -1), y)) if segment else F.cross_entropy(out, y)
    loss.backward()
    decay, _ = param_groups(net)
    decay = {id(p) for p in decay}
    lr0 = 0.1 * a.lr * a.batch / 256.0
    rows = []
    for (name, p), (_, w1) in zip(net.named_parameters(), after.named_parameters()):
        d = p.grad + (a.weight_decay * p.detach() if id(p) in decay else 0)
        dw_twin = -lr0 * (1 + a.momentum) * d
        dw_medssl = w1.detach() - p.detach()
        rows.append({"tensor": name, "max_abs_update": float(dw_twin.abs().max()),
                     "rel_diff": float((dw_medssl - dw_twin).abs().max() / dw_twin.abs().max()),
                     "ratio": float((dw_medssl * dw_twin).sum() / (dw_twin * dw_twin).sum())})
    res = {"task": a.task, "loss": float(loss), "forward_max_abs_diff_vs_medssl_torch": fwd, "images": len(x),
           "max_rel_diff": max(r["rel_diff"] for r in rows), "tensors": rows, "environment": environment()}
    os.makedirs(a.out, exist_ok=True)
    json.dump(res, open(os.path.join(a.out, "result.json"), "w"), indent=1)
    print(f"{a.task}: loss {res['loss']:.6f}; largest relative difference of one SGD step, medssl vs the twin: "
          f"{res['max_rel_diff']:.2e} over {len(rows)} tensors")


def multi_step(a, segment):
    """N optimizer steps (medssl: --epochs N --steps-per-epoch 1, the whole set in each batch) from medssl's
    initial weights, with the twin's own torch.optim.SGD, schedule and BatchNorm running statistics."""
    before, after, x, y, net = twin_from_medssl(a, segment)
    for m in net.modules():  # the --lr 1e-8 run has taken one step: back to the initial running statistics
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.reset_running_stats()
    w0 = {k: v.clone() for k, v in net.state_dict().items()}
    yy = torch.where(y == 255, torch.full_like(y, -1), y)

    def train(state, noise):
        """The twin's N steps from `state`, the parameters first multiplied by (1 + noise N(0,1)) (seeded)."""
        net.load_state_dict(state)
        if noise:
            g = torch.Generator().manual_seed(1)
            with torch.no_grad():
                for p in net.parameters():
                    p.mul_(1 + noise * torch.randn(p.shape, generator=g))
        decay, no_decay = param_groups(net)
        base = a.lr * a.batch / 256.0
        opt = torch.optim.SGD([{"params": decay, "weight_decay": a.weight_decay},
                               {"params": no_decay, "weight_decay": 0.0}], lr=base, momentum=a.momentum, nesterov=True)
        net.train()
        losses = []
        for step in range(a.check_steps):  # warm-up of one epoch = 1 step, then cosine over the rest
            out = net(x)
            loss = dice_ce(out, yy) if segment else F.cross_entropy(out, yy)
            for g in opt.param_groups:
                g["lr"] = lr_at(step, base, 1, a.check_steps)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss))
        return {k: v.clone() for k, v in net.state_dict().items()}, losses

    perturbed, _ = train(w0, 1e-6)
    final, losses = train(w0, 0.0)

    def rel(k, other):
        moved = (other - w0[k]).abs().max()
        return float((final[k] - other).abs().max() / moved) if moved > 0 else 0.0

    rows = []
    for k, (name, v1) in zip(net.state_dict().keys(), after.state_dict().items()):
        if k.endswith("num_batches_tracked"):
            continue
        rows.append({"tensor": k, "medssl_name": name, "moved": float((v1 - w0[k]).abs().max()),
                     "rel_diff": rel(k, v1.detach()), "rel_diff_twin_perturbed": rel(k, perturbed[k])})
    res = {"task": a.task, "steps": a.check_steps, "images": len(x), "losses": losses,
           "max_rel_diff": max(r["rel_diff"] for r in rows),
           "max_rel_diff_twin_perturbed": max(r["rel_diff_twin_perturbed"] for r in rows),
           "tensors": rows, "environment": environment()}
    os.makedirs(a.out, exist_ok=True)
    json.dump(res, open(os.path.join(a.out, "result.json"), "w"), indent=1)
    worst = max(rows, key=lambda r: r["rel_diff"])
    print(f"{a.task}: {a.check_steps} steps, losses {' '.join(f'{v:.4f}' for v in losses)}; largest difference "
          f"medssl vs twin relative to the tensor's change: {res['max_rel_diff']:.2e} ({worst['medssl_name']}) "
          f"over {len(rows)} tensors incl. BN running stats; the twin against itself from weights x (1 + 1e-6 noise): "
          f"{res['max_rel_diff_twin_perturbed']:.2e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("task", choices=["seg", "cls", "step-seg", "step-cls"])
    ap.add_argument("--before", help="step-*: checkpoint of the --lr 1e-8 one-step run")
    ap.add_argument("--after", help="step-*: checkpoint of the --lr X run (--epochs N --steps-per-epoch 1)")
    ap.add_argument("--check-steps", type=int, default=1, help="step-*: N; above 1 the twin trains N steps itself")
    ap.add_argument("--train", required=True)
    ap.add_argument("--val", help="validation corpus (default: the stratified --val-fraction split of --train)")
    ap.add_argument("--test")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--widths", default="16-32-64")
    ap.add_argument("--convs", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.1, help="for 256 images, scaled by batch/256 (SGD)")
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--warmup-epochs", type=float, default=1.0)
    ap.add_argument("--steps-per-epoch", type=int, default=0)
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    segment = a.task in ("seg", "step-seg")
    if a.task.startswith("step-"):
        return one_step(a, segment) if a.check_steps == 1 else multi_step(a, segment)
    t_start = time.time()
    log = open(os.path.join(a.out, "metrics.jsonl"), "w")
    log.write(json.dumps({"event": "start", "time": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
                          "args": vars(a), "environment": environment()}) + "\n")

    x_all, y_all = read_corpus(a.train, segment)
    rng = np.random.default_rng(a.seed)
    if a.val:
        x_tr, y_tr = x_all, y_all
        x_va, y_va = read_corpus(a.val, segment)
    else:
        in_val = torch.from_numpy(stratified_split(y_all.numpy(), a.val_fraction, rng))
        x_tr, y_tr, x_va, y_va = x_all[~in_val], y_all[~in_val], x_all[in_val], y_all[in_val]
    x_te, y_te = read_corpus(a.test, segment)
    K = int(y_all[y_all != 255].max()) + 1  # labeled_check: classes from the training corpus

    torch.manual_seed(a.seed)
    widths = [int(w) for w in a.widths.split("-")]
    model = Net(widths, a.convs, in_ch=x_tr.shape[1], classes=0 if segment else K, dec_out=K if segment else 0)

    n = len(x_tr)
    want = a.steps_per_epoch * a.batch if a.steps_per_epoch > 0 else 256
    passes = max(1, -(-want // n))
    per_epoch = n * passes
    steps_per_epoch = -(-per_epoch // a.batch)
    total = a.epochs * steps_per_epoch
    warm = int(a.warmup_epochs * steps_per_epoch)
    gen = torch.Generator().manual_seed(a.seed)

    decay, no_decay = param_groups(model)
    base = a.lr * a.batch / 256.0
    opt = torch.optim.SGD([{"params": decay, "weight_decay": a.weight_decay},
                           {"params": no_decay, "weight_decay": 0.0}],
                          lr=base, momentum=a.momentum, nesterov=True)
    best = (-math.inf, math.inf, -1, None)
    step = 0
    for epoch in range(a.epochs):
        model.train()
        order = torch.randperm(per_epoch, generator=gen) % n  # each sample `passes` times, shuffled
        loss_sum = 0.0
        for i in range(0, per_epoch, a.batch):
            b = order[i:i + a.batch]
            xb, yb = x_tr[b], y_tr[b]
            out = model(xb)
            if segment:
                loss = dice_ce(out, torch.where(yb == 255, torch.full_like(yb, -1), yb))
            else:
                loss = F.cross_entropy(out, yb)
            for g in opt.param_groups:
                g["lr"] = lr_at(step, base, warm, total)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            loss_sum += float(loss)
        metric, vloss = evaluate(model, x_va, y_va, segment, K, a.batch)
        is_best = metric > best[0] or (metric == best[0] and vloss < best[1])
        if is_best:
            best = (metric, vloss, epoch, {k: v.clone() for k, v in model.state_dict().items()})
        log.write(json.dumps({"epoch": epoch, "step": step, "loss": loss_sum / steps_per_epoch, "val_loss": vloss,
                              ("val_dsc" if segment else "val_accuracy"): metric, "best": is_best}) + "\n")
        log.flush()
    model.load_state_dict(best[3])
    metric, _ = evaluate(model, x_te, y_te, segment, K, 256)
    res = {"task": a.task, "seed": a.seed, ("test_dsc_mean" if segment else "test_accuracy"): metric,
           "best_epoch": best[2], ("val_dsc" if segment else "val_accuracy"): best[0], "steps": step,
           "steps_per_epoch": steps_per_epoch, "passes": passes, "n_train": n, "n_val": len(x_va),
           "n_test": len(x_te), "seconds": time.time() - t_start}
    json.dump(res, open(os.path.join(a.out, "result.json"), "w"), indent=1)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
