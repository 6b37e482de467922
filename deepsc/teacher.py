"""The deeper network Phi_T of LRSC (model-level transfer, eqs. 4-5, and the Remark).

Phi_T is trained with a cross-entropy loss on the labelled meta (external) data M; its
feature extraction module gives T_i, from which eq. (5) builds the weights
W_ij = exp(-||T_i - T_j||^2 / t) of the distilled loss (4).

- Images: ResNet-18 (torchvision's BasicBlock, layers [2, 2, 2, 2]) adapted to 32x32 inputs:
  3x3 stride-1 stem, no max-pool, stage widths width * (1, 2, 4, 8) so it trains on a CPU.
- Text: a 4-layer MLP.

Remark (two folds): M is split into M1 and M2; a teacher trained on M1 gives the features of
M2 and one trained on M2 gives those of M1, so no meta sample's feature comes from a network
that saw it. Either teacher (or the mean of both) gives the features of the target data.

Training uses AdamW with a per-step cosine decay of the learning rate to 0 (no warm-up,
no augmentation): it trains both kinds well in a few epochs without tuning per kind.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torchvision.models.resnet import BasicBlock, ResNet
from tqdm import tqdm

from .finetune import pick_device, seed_everything
from .metrics import knn_agreement
from .nets import channels_last_


class ResNetTeacher(ResNet):
    """ResNet-18 for 32x32 images: 17 3x3 convolutions (stem + 8 BasicBlocks) + 1 linear layer.

    Built from torchvision's own ``BasicBlock`` and ``_make_layer``; only the stem, the
    missing max-pool and the stage widths differ from ``torchvision.models.resnet18``.
    ``classes`` (a buffer, saved with the weights) maps output index -> original label.
    """

    def __init__(self, num_classes: int, in_channels: int = 1, width: int = 16):
        nn.Module.__init__(self)  # ResNet.__init__ hard-codes width 64 and a 7x7 stem
        # what torchvision's _make_layer reads (BasicBlock requires groups 1, base_width 64)
        self._norm_layer, self.dilation, self.groups, self.base_width = nn.BatchNorm2d, 1, 1, 64
        self.inplanes = width
        self.conv1 = nn.Conv2d(in_channels, width, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity()
        self.layer1 = self._make_layer(BasicBlock, width, 2)
        self.layer2 = self._make_layer(BasicBlock, 2 * width, 2, stride=2)
        self.layer3 = self._make_layer(BasicBlock, 4 * width, 2, stride=2)
        self.layer4 = self._make_layer(BasicBlock, 8 * width, 2, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8 * width, num_classes)
        self.register_buffer("classes", torch.arange(num_classes))
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        channels_last_(self)   # deepsc.nets.channels_last_: a memory layout only

    feature_layers = 4

    def features(self, x: torch.Tensor, layer: int | None = None) -> torch.Tensor:
        """T_i of eq. (5): the global-average-pooled output of stage ``layer`` (1-4; default 4,
        the penultimate representation, (n, 8*width))."""
        layer = _check_layer(self, layer)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4)[:layer]:
            x = stage(x)
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


class MLPTeacher(nn.Module):
    """4 fully connected layers in_dim -> h1 -> h2 -> h3 -> num_classes, ReLU in between.

    ``features`` (T_i of eq. 5) is the third layer's output after its ReLU, or with ``layer``
    the output of an earlier hidden layer after its ReLU (teacher.<kind>.layer).
    """
    feature_layers = 3

    def __init__(self, in_dim: int, num_classes: int, hidden=(512, 256, 128),
                 dropout: float = 0.0):
        super().__init__()
        h1, h2, h3 = hidden
        layers = []
        for a, b in [(in_dim, h1), (h1, h2), (h2, h3)]:
            layers += [nn.Linear(a, b), nn.ReLU(), nn.Dropout(dropout)]
        self.body = nn.Sequential(*layers[:-1])  # no dropout on the features themselves
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(h3, num_classes)
        self.register_buffer("classes", torch.arange(num_classes))

    def features(self, x: torch.Tensor, layer: int | None = None) -> torch.Tensor:
        layer = _check_layer(self, layer)
        return self.body[: 3 * layer - 1](x)   # (Linear, ReLU, Dropout) per layer, no last Dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.body(x)))


def _check_layer(model: nn.Module, layer: int | None) -> int:
    """``layer`` of a teacher's ``features`` (None: the last one); a clear error otherwise."""
    if layer is None:
        return model.feature_layers
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) \
            or not 1 <= layer <= model.feature_layers:
        raise ValueError(f"teacher feature layer must be 1..{model.feature_layers} for "
                         f"{type(model).__name__}, got {layer!r}")
    return int(layer)


def build_teacher(kind: str, input_shape: tuple[int, ...], num_classes: int,
                  arch: dict) -> nn.Module:
    """Phi_T for ``kind``: 'image' (input_shape (c, h, w), arch {"width"}) or 'text'
    (input_shape (d,), arch {"hidden", "dropout"})."""
    if kind == "image":
        c = input_shape[0]
        return ResNetTeacher(num_classes, in_channels=c, width=int(arch.get("width", 16)))
    if kind == "text":
        (in_dim,) = input_shape
        return MLPTeacher(in_dim, num_classes, hidden=tuple(arch.get("hidden", (512, 256, 128))),
                          dropout=float(arch.get("dropout", 0.0)))
    raise ValueError(f"unknown teacher kind {kind!r}: expected 'image' or 'text'")


def train_teacher(X: np.ndarray, y: np.ndarray, kind: str, arch: dict, *, epochs: int,
                  batch_size: int, lr: float, weight_decay: float, seed: int,
                  device: str = "auto", progress: bool = True):
    """Train Phi_T by cross-entropy on the meta data's labels (AdamW, cosine LR decay per step).

    Labels may be any integers: they are mapped to 0..k-1 (``model.classes`` maps back).
    Mini-batches are shuffled by a generator seeded with ``seed``: deterministic on a CPU.
    Returns (model in eval mode on the CPU, curve: one dict per epoch {epoch, loss, train_acc}).
    """
    if epochs < 0 or batch_size < 1 or lr < 0 or weight_decay < 0:
        raise ValueError("need epochs >= 0, batch_size >= 1, lr >= 0, weight_decay >= 0")
    dev = pick_device(device)
    gen = seed_everything(seed)
    classes, y_idx = np.unique(np.asarray(y), return_inverse=True)
    x = torch.as_tensor(X, dtype=torch.float32, device=dev)
    t = torch.as_tensor(y_idx, dtype=torch.long, device=dev)
    model = build_teacher(kind, tuple(x.shape[1:]), len(classes), arch)
    model.classes.copy_(torch.as_tensor(classes, dtype=torch.long))
    model.to(dev)
    n, bs = len(x), min(batch_size, len(x))
    steps_per_epoch = -(-n // bs)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs * steps_per_epoch))
    curve = []
    bar = tqdm(range(1, epochs + 1), desc=f"teacher[{kind}]", disable=None if progress else True,
               leave=False)
    for epoch in bar:
        model.train()
        perm = torch.randperm(n, generator=gen).to(dev)
        total, correct = 0.0, 0
        for i in range(0, n, bs):
            idx = perm[i: i + bs]
            logits = model(x[idx])
            loss = F.cross_entropy(logits, t[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            correct += (logits.argmax(1) == t[idx]).sum().item()
        curve.append({"epoch": epoch, "loss": total / n, "train_acc": correct / n})
        bar.set_postfix(loss=f"{total / n:.3f}", acc=f"{correct / n:.3f}")
    _recalibrate_batchnorm(model, x, bs)
    return model.cpu().eval(), curve


@torch.no_grad()
def _recalibrate_batchnorm(model: nn.Module, x: torch.Tensor, batch_size: int) -> None:
    """Set BatchNorm running statistics to exact averages over the training data.

    With few optimisation steps the exponential running averages lag far behind the weights
    and eval-mode features become near-random; one extra forward pass fixes that.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns or len(x) == 0:
        return
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    model.train()
    for i in range(0, len(x), batch_size):
        model(x[i: i + batch_size])
    for m in bns:
        m.momentum = 0.1


@torch.no_grad()
def _batched(fn, model: nn.Module, X: np.ndarray, batch_size: int, device: str) -> np.ndarray:
    dev = pick_device(device)
    home = next(model.parameters()).device
    was_training = model.training
    model.to(dev).eval()
    out = [fn(torch.as_tensor(X[i: i + batch_size], dtype=torch.float32, device=dev)).cpu()
           for i in range(0, len(X), batch_size)]
    model.to(home).train(was_training)
    return torch.cat(out).numpy()


def extract_features(model: nn.Module, X: np.ndarray, batch_size: int = 512,
                     device: str = "auto", layer: int | None = None) -> np.ndarray:
    """T of eq. (5) for the rows of X: the teacher's feature extraction module (up to hidden
    layer ``layer``; None: all of it), float32."""
    return _batched(lambda x: model.features(x, layer), model, X, batch_size,
                    device).astype(np.float32)


def layer_agreement(model: nn.Module, X: np.ndarray, y: np.ndarray, k: int = 10,
                    device: str = "auto") -> dict[int, float]:
    """k-NN label agreement (``deepsc.metrics.knn_agreement``) of the features of every layer
    of ``model`` on labelled rows it did not see: the label-free-for-the-target choice of T
    (teacher.<kind>.layer = auto) scores the proxy teacher on the held-out external classes."""
    return {layer: knn_agreement(extract_features(model, X, device=device, layer=layer), y, k)
            for layer in range(1, model.feature_layers + 1)}


def choose_layer(spec, agreement: dict[int, float]) -> int:
    """teacher.<kind>.layer: an int (that layer) or 'auto' (the layer of ``agreement``, from
    ``layer_agreement``, with the largest agreement; the deepest of equals)."""
    if spec == "auto":
        return max(agreement, key=lambda layer: (agreement[layer], layer))
    if isinstance(spec, bool) or not isinstance(spec, int) or spec not in agreement:
        raise ValueError(f"teacher layer must be 'auto' or one of {sorted(agreement)}, got {spec!r}")
    return spec


def predict(model: nn.Module, X: np.ndarray, batch_size: int = 512,
            device: str = "auto") -> np.ndarray:
    """Class indices 0..k-1 in the teacher's label space; ``model.classes[idx]`` is the label."""
    return _batched(lambda x: model(x).argmax(1), model, X, batch_size, device)


def accuracy(model: nn.Module, X: np.ndarray, y: np.ndarray, batch_size: int = 512,
             device: str = "auto") -> float:
    """Fraction of rows whose predicted original label equals y (labels unseen in training
    count as errors)."""
    labels = model.classes.cpu().numpy()[predict(model, X, batch_size, device)]
    return float(np.mean(labels == np.asarray(y)))


def two_fold_split(y: np.ndarray, seed: int) -> np.ndarray:
    """Fold ids (0 = M1, 1 = M2) of the Remark: half of each class in each fold, at random.

    An odd class's extra sample goes alternately to M1 and M2, so the folds stay balanced.
    """
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=np.int64)
    for k, c in enumerate(np.unique(y)):
        idx = rng.permutation(np.flatnonzero(y == c))
        fold[idx] = (np.arange(len(idx)) + k) % 2
    return fold


def two_fold_teachers(X: np.ndarray, y: np.ndarray, kind: str, arch: dict, *, epochs: int,
                      batch_size: int, lr: float, weight_decay: float, seed: int,
                      device: str = "auto", progress: bool = True,
                      layer: int | None = None) -> dict:
    """The Remark: train teacher m1 on M1 and m2 on M2, each with the same ``seed``;
    meta_features[i] comes from the teacher that did not see sample i (features of ``layer``)."""
    fold = two_fold_split(y, seed)
    kw = dict(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, seed=seed,
              device=device, progress=progress)
    models, curves, heldout = {}, {}, {}
    meta_features = None
    for name, train_fold in [("m1", 0), ("m2", 1)]:
        seen, other = fold == train_fold, fold != train_fold
        model, curves[name] = train_teacher(X[seen], y[seen], kind, arch, **kw)
        feats = extract_features(model, X[other], device=device, layer=layer)
        if meta_features is None:
            meta_features = np.zeros((len(X), feats.shape[1]), dtype=np.float32)
        meta_features[other] = feats
        heldout[name] = accuracy(model, X[other], y[other], device=device)
        models[name] = model
    return {"fold": fold, "meta_features": meta_features, "models": models,
            "heldout_acc": heldout, "curves": curves}


def proxy_teacher(X: np.ndarray, y: np.ndarray, train_idx: np.ndarray, kind: str,
                  arch: dict, **kw) -> nn.Module:
    """The teacher of the proxy targets (``deepsc.tune``): a teacher trained on the rows
    ``train_idx`` only (Algorithm 1's meta-train split), applied to every row of X.

    A proxy target is drawn from the held-out rows. The two-fold teachers have seen the
    held-out *classes* (out-of-fold means other samples of the same classes), so their W is far
    better on a proxy than on a real target, whose classes no teacher has seen; this teacher has
    not seen the held-out classes either (when whole classes are held out), so the proxy
    mimics the target's situation. Its features of every row of X: ``extract_features``."""
    return train_teacher(X[train_idx], y[train_idx], kind, arch, **kw)[0]


def target_features(models: dict, X: np.ndarray, which: str, batch_size: int = 512,
                    device: str = "auto", layer: int | None = None) -> np.ndarray:
    """T of the target data X from teacher 'm1', 'm2', or 'mean' (the average of both)."""
    if which in ("m1", "m2"):
        return extract_features(models[which], X, batch_size, device, layer)
    if which == "mean":
        return (extract_features(models["m1"], X, batch_size, device, layer)
                + extract_features(models["m2"], X, batch_size, device, layer)) / 2
    raise ValueError(f"which must be one of 'm1', 'm2', 'mean', got {which!r}")
