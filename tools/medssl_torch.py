#!/usr/bin/env python3
"""medssl_torch — a medssl checkpoint as a torch.nn.Module.

    import medssl_torch                      # tools/ on sys.path
    model = medssl_torch.load("runs/ts/best.h5")   # eval mode, weights loaded by name
    logits = model(x)                        # x: float32 (N, C, H, W), uint8 images / 255

The checkpoint's `model_spec` root attribute is parsed with the same grammar
and limits as src/nn/model_spec.c, an equivalent module is built (the same
tensor names as medssl's /params, PyTorch-style shapes), and every tensor is
loaded by name with strict checks: a tensor the module needs that the file
lacks, a tensor in the file the module does not have, a shape or dtype that
differs, or a spec key this loader does not know is a MedsslError naming it.
The format and the layer-by-layer mapping are in docs/checkpoint.md.

Model kinds: classification (encoder + linear or mlp head, head norm=bn, a
--features stageK encoder), segmentation and the autoencoder (U-Net decoder,
nearest or bilinear), rotation (linear head) and jigsaw (siamese mlp head with
tiles=T: the input is T tiles per sample, (N*T, C, t, t), already cut and
normalised; the output has N rows). The module returns the head's logits if
the spec has a head, else the decoder's map, else the pooled features
(medssl's rule, include/medssl/model.h).

Command line:

    python3 tools/medssl_torch.py CKPT                               # the spec and the tensors
    python3 tools/medssl_torch.py CKPT --data CORPUS.h5 [--count N]  # per-sample outputs
    python3 tools/medssl_torch.py CKPT --data CORPUS.h5 --out P.h5   # /probabilities like evaluate's
    python3 tools/medssl_torch.py CKPT --data CORPUS.h5 --check P.h5 # against medssl evaluate --probabilities P.h5

--check compares the softmax probabilities of the torch module with the
/probabilities medssl wrote for the same corpus, prints max |dp| and exits 1
when it exceeds --tol (default 1e-4). Exit 2: bad checkpoint, spec, corpus or
usage (one message), a corrupt file too ("checksum mismatch in ... (the file is
corrupt)", medssl's words).
"""
import argparse
import contextlib
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FORMAT = "medssl-checkpoint"
VERSION = 1
BN_EPS = 1e-5        # src/nn/model_build.c BN_EPS
BN_MOMENTUM = 0.1    # src/nn/model_build.c BN_MOMENTUM (PyTorch's meaning: new = 0.9 old + 0.1 batch)
MAX_STAGES = 8       # MODEL_MAX_STAGES


class MedsslError(ValueError):
    """A checkpoint, spec or corpus this loader cannot use (the message says why)."""


# ---- the model spec (src/nn/model_spec.c) ---------------------------------------------------

def _int(key, v, lo, hi):
    try:
        x = int(v, 10)
    except ValueError:
        x = None
    if x is None or v.strip() != v or not lo <= x <= hi:
        raise MedsslError(f"model spec: {key}={v} is not an integer in [{lo}, {hi}]")
    return x


def _float(key, v, lo, hi):
    try:
        x = float(v)
    except ValueError:
        x = None
    if x is None or v.strip() != v or not lo <= x <= hi:
        raise MedsslError(f"model spec: {key}={v} is not a number in [{lo:g}, {hi:g}]")
    return x


def parse_spec(text):
    """model_spec text -> dict, with medssl's defaults, limits and error rules."""
    s = dict(in_channels=1, widths=[], block="plain", convs=2, head=None, classes=0, hidden=256,
             dropout=0.0, head_norm=False, tiles=1, subset=None, decoder=False, dec_out=1, up="bilinear")
    if not text or len(text) > 4000:
        raise MedsslError("model spec: empty or too long")
    seen_encoder = False
    parts = [p for p in text.split(";") if p]  # strtok_r: empty fields are skipped
    for n, part in enumerate(parts):
        if ":" not in part and n == 0 and "=" in part:  # "widths=32-64,convs=2"
            kind, items = "encoder", part
        elif ":" not in part:
            raise MedsslError(f"model spec: part '{part}' has no ':' (e.g. encoder:widths=32-64)")
        else:
            kind, items = part.split(":", 1)
        if kind == "encoder":
            seen_encoder = True
        elif kind == "head":
            s["head"] = s["head"] or "linear"
        elif kind == "decoder":
            s["decoder"] = True
        else:
            raise MedsslError(f"model spec: unknown part '{kind}' (expected encoder, head or decoder)")
        for item in (i for i in items.split(",") if i):
            key, eq, val = item.partition("=")
            if kind == "encoder":
                if key == "in":
                    s["in_channels"] = _int("in", val, 1, 64)
                elif key == "widths":
                    ws = [w for w in val.split("-") if w]
                    if len(ws) > MAX_STAGES:
                        raise MedsslError(f"model spec: widths={val} has more than {MAX_STAGES} stages")
                    if not ws:
                        raise MedsslError("model spec: widths is empty (e.g. widths=32-64-128)")
                    s["widths"] = [_int("widths", w, 1, 4096) for w in ws]
                elif key == "convs":
                    s["convs"] = _int("convs", val, 1, 16)
                elif key == "block":
                    if val not in ("plain", "residual"):
                        raise MedsslError(f"model spec: block={val} (expected plain or residual)")
                    s["block"] = val
                else:
                    raise MedsslError(f"model spec: unknown encoder key '{key}' (expected in, widths, block, convs)")
            elif kind == "head":
                if not eq or key == "type":
                    word = val if eq else key
                    if word not in ("linear", "mlp"):
                        raise MedsslError(f"model spec: head type '{word}' (expected linear or mlp)")
                    s["head"] = word
                elif key == "classes":
                    s["classes"] = _int("classes", val, 1, 100000)
                elif key == "hidden":
                    s["hidden"] = _int("hidden", val, 1, 65536)
                elif key == "dropout":
                    s["dropout"] = _float("dropout", val, 0.0, 0.95)
                elif key == "tiles":
                    s["tiles"] = _int("tiles", val, 1, 64)
                elif key == "subset":
                    try:
                        sub = [int(t) for t in val.split("-")]
                    except ValueError:
                        raise MedsslError(f"model spec: subset={val} (expected increasing feature indices)") from None
                    if not sub or any(b <= a for a, b in zip(sub, sub[1:])) or sub[0] < 0 or len(sub) > 128:
                        raise MedsslError(f"model spec: subset={val} (expected increasing feature indices)")
                    s["subset"] = sub
                elif key == "norm":
                    if val not in ("bn", "none"):
                        raise MedsslError(f"model spec: norm={val} (expected bn or none)")
                    s["head_norm"] = val == "bn"
                else:
                    raise MedsslError(f"model spec: unknown head key '{key}' "
                                      "(expected type, classes, hidden, dropout, tiles, norm, subset)")
            else:
                if key == "out":
                    s["dec_out"] = _int("out", val, 1, 4096)
                elif key == "up":
                    if val not in ("nearest", "bilinear"):
                        raise MedsslError(f"model spec: up={val} (expected nearest or bilinear)")
                    s["up"] = val
                else:
                    raise MedsslError(f"model spec: unknown decoder key '{key}' (expected out, up)")
    if not seen_encoder or not s["widths"]:
        raise MedsslError("model spec: an encoder with widths is required (e.g. encoder:in=1,widths=32-64-128-256)")
    if s["head"] and s["classes"] < 1:
        raise MedsslError("model spec: head needs classes=K")
    if s["tiles"] > 1 and not s["head"]:
        raise MedsslError(f"model spec: tiles={s['tiles']} needs a head")
    if s["tiles"] > 1 and s["decoder"]:
        raise MedsslError("model spec: tiles and a decoder cannot be combined")
    if s["subset"] and (not s["head"] or s["tiles"] > 1):
        raise MedsslError("model spec: subset needs a head without tiles")
    if s["subset"] and s["widths"] and s["subset"][-1] >= s["widths"][-1]:
        raise MedsslError(f"model spec: subset feature {s['subset'][-1]}, but the encoder gives {s['widths'][-1]} features")
    if s["block"] == "residual" and s["convs"] % 2:
        raise MedsslError("model spec: block=residual needs an even convs (2 convs per block)")
    return s


# ---- the modules (src/nn/model_build.c); attribute paths = medssl tensor names ---------------

def _conv3x3(cin, cout):
    return nn.Conv2d(cin, cout, 3, stride=1, padding=1, bias=False)


def _bn(c):
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=BN_MOMENTUM)


class PlainStage(nn.Module):
    """convs x (conv3x3 without bias, BN, ReLU): conv{i}, bn{i}."""

    def __init__(self, cin, width, convs):
        super().__init__()
        self.convs = convs
        for i in range(convs):
            setattr(self, f"conv{i}", _conv3x3(cin if i == 0 else width, width))
            setattr(self, f"bn{i}", _bn(width))

    def forward(self, x):
        for i in range(self.convs):
            x = F.relu(getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(x)))
        return x


class BasicBlock(nn.Module):
    """relu(bn1(conv1(relu(bn0(conv0(x))))) + shortcut(x)); shortcut = proj_bn(proj(x)) (1x1 conv
    without bias) when the width changes, else x (torchvision's BasicBlock, stride 1)."""

    def __init__(self, cin, width):
        super().__init__()
        self.conv0, self.bn0 = _conv3x3(cin, width), _bn(width)
        self.conv1, self.bn1 = _conv3x3(width, width), _bn(width)
        self.has_proj = cin != width
        if self.has_proj:
            self.proj = nn.Conv2d(cin, width, 1, stride=1, padding=0, bias=False)
            self.proj_bn = _bn(width)

    def forward(self, x):
        y = self.bn1(self.conv1(F.relu(self.bn0(self.conv0(x)))))
        return F.relu(y + (self.proj_bn(self.proj(x)) if self.has_proj else x))


class ResidualStage(nn.Module):
    """convs/2 basic blocks: block{b}."""

    def __init__(self, cin, width, convs):
        super().__init__()
        self.blocks = convs // 2
        for b in range(self.blocks):
            setattr(self, f"block{b}", BasicBlock(cin if b == 0 else width, width))

    def forward(self, x):
        for b in range(self.blocks):
            x = getattr(self, f"block{b}")(x)
        return x


class Encoder(nn.Module):
    """stage0, 2x2 max-pool (stride 2, an odd last row/column dropped), stage1, ...; returns the
    stage outputs (before pooling: the U-Net skips); features = their last's global average."""

    def __init__(self, s):
        super().__init__()
        self.n_stages = len(s["widths"])
        cin = s["in_channels"]
        for st, w in enumerate(s["widths"]):
            stage = PlainStage(cin, w, s["convs"]) if s["block"] == "plain" else ResidualStage(cin, w, s["convs"])
            setattr(self, f"stage{st}", stage)
            cin = w

    def forward(self, x):
        skips = []
        for st in range(self.n_stages):
            if st > 0:
                x = F.max_pool2d(x, kernel_size=2, stride=2)
            x = getattr(self, f"stage{st}")(x)
            skips.append(x)
        return skips


class Head(nn.Module):
    """[subset: the chosen feature columns (medssl select)] [tiles: (N, F) -> (N/T, T*F), rows
    concatenated in order] [bn: BatchNorm1d] then fc (linear) or fc0, ReLU, Dropout, fc1 (mlp)."""

    def __init__(self, s, features):
        super().__init__()
        self.tiles, self.kind = s["tiles"], s["head"]
        self.subset = s["subset"]
        f = len(self.subset) if self.subset else features * self.tiles
        if s["head_norm"]:
            self.bn = nn.BatchNorm1d(f, eps=BN_EPS, momentum=BN_MOMENTUM)
        if self.kind == "linear":
            self.fc = nn.Linear(f, s["classes"])
        else:
            self.fc0 = nn.Linear(f, s["hidden"])
            self.dropout0 = nn.Dropout(s["dropout"])
            self.fc1 = nn.Linear(s["hidden"], s["classes"])

    def forward(self, x):
        if self.subset:
            x = x[:, self.subset]
        if self.tiles > 1:
            if x.shape[0] % self.tiles:
                raise MedsslError(f"batch of {x.shape[0]} images is not a multiple of the {self.tiles} tiles per sample")
            x = x.reshape(x.shape[0] // self.tiles, self.tiles * x.shape[1])
        if hasattr(self, "bn"):
            x = self.bn(x)
        if self.kind == "linear":
            return self.fc(x)
        return self.fc1(self.dropout0(F.relu(self.fc0(x))))


class DecoderLevel(PlainStage):
    """Upsample 2x, torch.cat([up, skip], 1), convs x (conv3x3 without bias, BN, ReLU): the upsampling
    and the concatenation are Decoder's; the convs are a PlainStage's (conv{i}, bn{i})."""


class Decoder(nn.Module):
    """U-Net decoder: level j (up{j}, 0 = deepest) joins stage n_stages-2-j; out = 1x1 conv with bias."""

    def __init__(self, s):
        super().__init__()
        w = s["widths"]
        self.up_mode = s["up"]
        self.levels = len(w) - 1
        cin = w[-1]
        for j, st in enumerate(range(len(w) - 2, -1, -1)):
            setattr(self, f"up{j}", DecoderLevel(cin + w[st], w[st], s["convs"]))
            cin = w[st]
        self.out = nn.Conv2d(w[0], s["dec_out"], 1, stride=1, padding=0, bias=True)

    def upsample(self, x):
        if self.up_mode == "bilinear":
            return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        return F.interpolate(x, scale_factor=2, mode="nearest")

    def forward(self, skips):
        x = skips[-1]
        for j in range(self.levels):
            skip = skips[len(skips) - 2 - j]
            x = torch.cat([self.upsample(x), skip], 1)
            x = getattr(self, f"up{j}")(x)
        return self.out(x)


class MedsslModel(nn.Module):
    """The model of one medssl model_spec. forward(x (N, C, H, W)) -> head logits (N/tiles, classes),
    else the decoder map (N, out, H, W), else the pooled features (N, widths[-1])."""

    def __init__(self, spec_text):
        super().__init__()
        self.spec_text = spec_text
        self.spec = s = parse_spec(spec_text)
        self.encoder = Encoder(s)
        if s["head"]:
            self.head = Head(s, s["widths"][-1])
        if s["decoder"]:
            self.decoder = Decoder(s)

    def check_input(self, x):
        s = self.spec
        if x.dim() != 4 or x.shape[1] != s["in_channels"]:
            raise MedsslError(f"input {tuple(x.shape)}: the model takes (N, {s['in_channels']}, H, W)")

    def padding(self, H, W):
        """medssl's model_plan: zeros around the input so that the 2x2 pools fit, split evenly (the extra
        row/column at the bottom/right): a decoder model runs at H, W rounded up to multiples of
        2^(stages-1), an encoder-only model at max(H, 2^(stages-1)) x max(W, 2^(stages-1)).
        Returns (left, right, top, bottom)."""
        d = 1 << (len(self.spec["widths"]) - 1)
        if self.spec["decoder"]:
            Hp, Wp = -(-H // d) * d, -(-W // d) * d
        else:
            Hp, Wp = max(H, d), max(W, d)
        return ((Wp - W) // 2, Wp - W - (Wp - W) // 2, (Hp - H) // 2, Hp - H - (Hp - H) // 2)

    def features(self, x):
        """The pooled features (N, widths[-1]) the head sees."""
        pad = self.padding(x.shape[2], x.shape[3])
        return self.encoder(F.pad(x, pad) if any(pad) else x)[-1].mean(dim=(2, 3))

    def forward(self, x):
        self.check_input(x)
        H, W = x.shape[2], x.shape[3]
        pad = self.padding(H, W)
        skips = self.encoder(F.pad(x, pad) if any(pad) else x)
        if hasattr(self, "head"):
            return self.head(skips[-1].mean(dim=(2, 3)))
        if hasattr(self, "decoder"):
            y = self.decoder(skips)
            return y[:, :, pad[2]:pad[2] + H, pad[0]:pad[0] + W]  # cropped back to the input's size
        return skips[-1].mean(dim=(2, 3))


# ---- loading --------------------------------------------------------------------------------

@contextlib.contextmanager
def _reading(path, what, cannot=None):
    """h5py's error while reading `what` of the file `path` as a MedsslError: a checksum mismatch
    (the fletcher32 filter on a dataset's data: OSError; the checksum of an object's header: KeyError
    from opening it) in medssl's words (h5_fail_checksum, src/io/h5util.c); any other OSError as
    `cannot` ("cannot read <what>") with h5py's reason."""
    try:
        yield
    except (OSError, KeyError) as e:
        if "checksum" in str(e):
            raise MedsslError(f"{path}: checksum mismatch in {what} (the file is corrupt)") from None
        if isinstance(e, KeyError):
            raise
        raise MedsslError(f"{path}: {cannot or 'cannot read ' + what} ({e})") from None


def _attr_str(f, name, path):
    if name not in f.attrs:
        return None
    v = f.attrs[name]
    if isinstance(v, np.ndarray):
        if v.size != 1:
            raise MedsslError(f"{path}: attribute {name} must be one string")
        v = v.reshape(-1)[0]
    if isinstance(v, bytes):
        v = v.decode("utf-8")
    return str(v)


def read_meta(path):
    """The root attributes as a dict of strings (format, version, model_spec, task, ...)."""
    with _reading(path, "the superblock or root group", "cannot open as HDF5"):
        f = h5py.File(path, "r")
    with f, _reading(path, "the root attributes"):
        fmt = _attr_str(f, "format", path)
        if fmt != FORMAT:
            raise MedsslError(f"{path}: not a medssl checkpoint (format = {fmt!r}, expected {FORMAT!r})")
        version = f.attrs.get("version")
        if version is None or int(np.asarray(version).reshape(-1)[0]) != VERSION:
            raise MedsslError(f"{path}: checkpoint version {version} is not supported (expected {VERSION})")
        meta = {k: _attr_str(f, k, path) for k in f.attrs if k != "version"}
        meta["version"] = VERSION
        if not meta.get("model_spec"):
            raise MedsslError(f"{path}: missing root attribute model_spec")
        return meta


def load(path, device="cpu"):
    """The checkpoint at `path` as a MedsslModel in eval mode, every tensor loaded by name.
    Attributes: .meta (root attributes), .spec (parsed model_spec), .task."""
    meta = read_meta(path)
    model = MedsslModel(meta["model_spec"])
    want = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    problems, state = [], {}
    with _reading(path, "group /params"), h5py.File(path, "r") as f:
        if "params" not in f or not isinstance(f["params"], h5py.Group):
            raise MedsslError(f"{path}: missing group /params")
        g = f["params"]
        have = set(g.keys())
        for name, t in want.items():
            if name not in have:
                problems.append(f"{name} missing")
                continue
            with _reading(path, f"dataset /params/{name}"):
                ds = g[name]
                if ds.dtype != np.float32:
                    problems.append(f"{name} is {ds.dtype}, expected float32")
                    continue
                if tuple(ds.shape) != tuple(t.shape):
                    problems.append(f"{name} has shape {list(ds.shape)}, the model needs {list(t.shape)}")
                    continue
                a = ds[()]
            if not np.all(np.isfinite(a)):
                problems.append(f"{name} holds NaN or Inf")
            state[name] = torch.from_numpy(np.ascontiguousarray(a))
        for name in sorted(have - set(want)):
            problems.append(f"{name} is in the file but not in the model of its model_spec")
    if problems:
        raise MedsslError(f"{path}: {len(problems)} tensor(s) do not match model_spec "
                          f"'{meta['model_spec']}': " + "; ".join(problems[:8]) + ("; ..." if len(problems) > 8 else ""))
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert all(k.endswith("num_batches_tracked") for k in missing) and not unexpected, (missing, unexpected)
    model.meta, model.task = meta, meta.get("task", "")
    return model.to(device).eval()


# ---- corpus reading -------------------------------------------------------------------------

def read_images(corpus, first, count):
    """Images [first, first+count) of a medssl corpus as float32 (n, C, H, W) (uint8 / 255),
    with /labels (n) or None."""
    with _reading(corpus, "the corpus"), h5py.File(corpus, "r") as f:
        if "images" not in f:
            raise MedsslError(f"{corpus}: no /images dataset (not a medssl corpus?)")
        ds = f["images"]
        if ds.ndim != 4 or ds.dtype not in (np.uint8, np.float32):
            raise MedsslError(f"{corpus}: /images must be uint8 or float32 [N, C, H, W], not {ds.dtype} {ds.shape}")
        with _reading(corpus, "dataset /images"):
            x = ds[first:first + count]
        x = x.astype(np.float32) * np.float32(1.0 / 255.0) if x.dtype == np.uint8 else x.astype(np.float32)
        with _reading(corpus, "dataset /labels"):
            labels = f["labels"][first:first + count] if "labels" in f else None
        return x, labels


def run(model, x, batch=256):
    """Model outputs of x (numpy float32 (n, C, H, W)), in batches, without gradients."""
    outs = []
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            outs.append(model(torch.from_numpy(x[i:i + batch])).numpy())
    return np.concatenate(outs) if outs else np.zeros((0,), np.float32)


# ---- command line ---------------------------------------------------------------------------

def _summary(model):
    m = model.meta
    print(f"format {m['format']} version {m['version']}  task {m.get('task')!r}  input_size {m.get('input_size')!r}")
    print(f"model_spec {m['model_spec']}")
    n = 0
    for name, t in model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            continue
        n += t.numel()
        print(f"  {name:48s} {list(t.shape)}")
    print(f"{n} floats in /params; torch module:\n{model}")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="medssl_torch.py", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", help="a medssl checkpoint (.h5)")
    ap.add_argument("--data", help="a medssl corpus: print the model's outputs for its images")
    ap.add_argument("--first", type=int, default=0, help="first sample (default 0)")
    ap.add_argument("--count", type=int, help="samples (default: all from --first)")
    ap.add_argument("--batch", type=int, default=256, help="images per forward (default 256)")
    ap.add_argument("--logits", action="store_true", help="classify: print logits instead of probabilities")
    ap.add_argument("--out", help="write /probabilities (the layout of medssl evaluate --probabilities)")
    ap.add_argument("--check", metavar="PROBS.h5",
                    help="compare with /probabilities from medssl evaluate --probabilities (same --data)")
    ap.add_argument("--tol", type=float, default=1e-4, help="--check: largest allowed |dp| (default 1e-4)")
    ap.add_argument("--quiet", action="store_true", help="no per-sample lines")
    a = ap.parse_args(argv)
    try:
        model = load(a.checkpoint)
        if not a.data:
            if a.check or a.out:
                raise MedsslError("--check and --out need --data CORPUS.h5")
            _summary(model)
            return 0
        s = model.spec
        if s["tiles"] > 1:
            raise MedsslError(f"{a.checkpoint}: a siamese model (tiles={s['tiles']}, task {model.task!r}) takes "
                              f"{s['tiles']} cut and normalised tiles per sample; call medssl_torch.load() and feed them")
        with _reading(a.data, "the corpus"), h5py.File(a.data, "r") as f:
            n_all = f["images"].shape[0] if "images" in f else 0
        if a.first < 0 or a.first > n_all:
            raise MedsslError(f"--first {a.first}: {a.data} has {n_all} samples")
        count = n_all - a.first if a.count is None else min(a.count, n_all - a.first)
        x, labels = read_images(a.data, a.first, count)
        if x.shape[1] != s["in_channels"]:
            raise MedsslError(f"{a.checkpoint}: the model takes {s['in_channels']} channel(s) but {a.data} has {x.shape[1]}")
        want = model.meta.get("input_size")
        if want and want != "x".join(map(str, x.shape[1:])):
            print(f"medssl_torch: note: {a.data} holds {'x'.join(map(str, x.shape[1:]))} images, "
                  f"the model was trained on {want}", file=sys.stderr)
        out = run(model, x, a.batch)
        dense = out.ndim == 4
        if model.task == "autoencoder":
            mse = ((out - x) ** 2).reshape(len(x), -1).mean(axis=1)
            if not a.quiet:
                print("index,mse")
                for i in range(len(x)):
                    print(f"{a.first + i},{mse[i]:.6g}")
            print(f"{len(x)} samples: mean reconstruction MSE {mse.mean() if len(x) else float('nan'):.6g}",
                  file=sys.stderr)
            return 0
        probs = torch.softmax(torch.from_numpy(out), dim=1).numpy()
        if a.out:
            with h5py.File(a.out, "w") as f:
                f.create_dataset("probabilities", data=probs.astype(np.float32))
        if not a.quiet:
            K = out.shape[1]
            if dense:  # per sample: the mean probability and the argmax share of each class
                pred = probs.argmax(axis=1)
                print("index," + ",".join(f"mean_p_{k}" for k in range(K)) + "," +
                      ",".join(f"frac_{k}" for k in range(K)))
                for i in range(len(x)):
                    mp = probs[i].reshape(K, -1).mean(axis=1)
                    fr = [(pred[i] == k).mean() for k in range(K)]
                    print(f"{a.first + i}," + ",".join(f"{v:.6f}" for v in mp) + "," + ",".join(f"{v:.4f}" for v in fr))
            else:
                v = out if a.logits else probs
                print("index,label,predicted," + ",".join(f"{'z' if a.logits else 'p'}_{k}" for k in range(K)))
                for i in range(len(x)):
                    lab = int(labels[i]) if labels is not None else -1
                    print(f"{a.first + i},{lab},{int(probs[i].argmax())}," + ",".join(f"{t:.6g}" for t in v[i]))
        if a.check:
            with _reading(a.check, "dataset /probabilities"), h5py.File(a.check, "r") as f:
                if "probabilities" not in f:
                    raise MedsslError(f"{a.check}: no /probabilities (write it with medssl evaluate --probabilities)")
                ref = f["probabilities"][a.first:a.first + count]
            if ref.shape != probs.shape:
                raise MedsslError(f"{a.check}: /probabilities rows have shape {ref.shape[1:]} for {ref.shape[0]} "
                                  f"samples, the torch module gives {probs.shape[1:]} for {probs.shape[0]}")
            d = float(np.abs(ref.astype(np.float64) - probs).max()) if probs.size else 0.0
            ok = d <= a.tol
            print(f"check: max |dp| = {d:.3g} over {probs.size} probabilities of {len(x)} samples "
                  f"({'ok' if ok else 'FAIL'}, tolerance {a.tol:g})")
            return 0 if ok else 1
        return 0
    except MedsslError as e:
        print(f"medssl_torch: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
