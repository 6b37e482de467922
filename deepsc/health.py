"""Label-free health check of a pre-trained autoencoder (Algorithm 2's first loop).

A pre-training that collapses (ReLU units die, the decoder outputs the mean image or a
constant) still writes weights, and every later number (C, the tables) silently inherits it. Three
figures on the data X alone, no labels, tell a healthy autoencoder from a collapsed one:

- ``rel_rec``: reconstruction error against the mean-vector baseline,
  ||X - X_hat||_F^2 / ||X - 1 mean(X)^T||_F^2 (X_hat = decoder(encoder(X)); the reconstruction
  term of eq. 1 / eq. 9 over the whole data, relative to the best constant output). A decoder
  that outputs the mean scores exactly 1; a trained autoencoder well below.
- ``dead``: per encoder layer (each Linear / convolution with its activation), the fraction
  of units (for a convolution: channel x position) that take the same value on every point
  of X: for a ReLU unit that is zero on every point, a dead unit, which receives no gradient
  and never recovers. With ``latent_relu: false`` the code layer is linear and such a unit is
  one whose weights see nothing.
- ``dead_decoder``: the same for the decoder's hidden layers (reported, not judged: a fully
  dead hidden decoder layer makes the output constant, which ``rel_rec`` already shows).
- ``eff_rank``: the effective rank (Roy & Vetterli, 2007) of the centred codes
  Z - 1 mean(Z)^T: exp(H(p)) with p_i = s_i / sum_j s_j the normalised singular values and
  H the Shannon entropy; 0 when Z is constant. It is the number of directions the codes
  spread in; the self-expression Z = ZC of eq. 1 needs several (K subspaces).

``healthy`` is true when all three pass the thresholds of ``Thresholds``:
rel_rec <= 0.5 (the autoencoder explains at least half the variance the mean leaves; the
collapse gives 1.0 or more), eff_rank >= 2 (codes spread in more than one direction), and
at most 90 % of the units of the code (last encoder) layer dead. Measured on healthy runs
(benchmarks/collapse_bench.py, k1 = 500-1000): rel_rec 0.03-0.36, eff_rank 25-42 for the
narrow and the default conv AE, up to 38 % of the default AE's code units dead (fmnist1k,
seed 0), so a code is judged only when nearly all of it is dead; collapsed runs: rel_rec
1.38-2.27. Dead units in earlier layers are reported, not judged: a few dead filters in a
wide layer are harmless, and when too many are dead the code and the reconstruction show it.

Why narrow autoencoders collapse (channels 3-3-5, kernels 5-3-3; benchmarks/collapse_bench.py):
with PyTorch's default initialisation (uniform, kaiming a = sqrt(5), biases uniform on the
scale of the weights) the signal shrinks from layer to layer, so deep in the network a unit's
pre-activation is about its bias and a unit with a negative bias is zero on every input. With
three channels, every bias of a layer is negative with probability 1/8: seeds 2 and 3 of both
fmnist1k and digits start with a hidden decoder layer dead on every point. Such a layer
passes no gradient: the encoder never trains and the output stays one constant (the last
bias), rel_rec 1.4-2.3. Narrow layers can also die in the first steps, when the initial output
is far from the data (rel_rec ~4 at step 1) and Adam pushes the last hidden layer's units
below zero. ``init: kaiming`` (deepsc.nets: He normal weights, zero biases) removes the first
cause; ``until_healthy`` is the label-free safety net for both: a fresh initialisation when
the check fails, recorded.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable, TypeVar

import numpy as np
import torch
from torch import nn

T = TypeVar("T")

_PARAMETRIC = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
               nn.ConvTranspose3d)


@dataclass(frozen=True)
class Thresholds:
    """The verdict's thresholds (see the module docstring for why these values)."""
    max_rel_rec: float = 0.5
    min_eff_rank: float = 2.0
    max_dead_code: float = 0.9


@dataclass
class Health:
    rel_rec: float
    dead: list[float]
    eff_rank: float
    healthy: bool
    reasons: list[str] = field(default_factory=list)
    dead_decoder: list[float] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        dead = "/".join(f"{d:.2f}" for d in self.dead)
        dec = "/".join(f"{d:.2f}" for d in self.dead_decoder) or "-"
        verdict = "healthy" if self.healthy else "COLLAPSED (" + "; ".join(self.reasons) + ")"
        return (f"rel_rec={self.rel_rec:.3f} dead(enc)={dead} dead(dec)={dec} "
                f"eff_rank={self.eff_rank:.1f} {verdict}")


def layer_outputs(net: nn.Module) -> list[nn.Module]:
    """The modules whose outputs are the layers of ``net`` (an encoder or decoder): each
    Linear / (transposed) convolution, or the parameter-free module (activation) right after
    it in a Sequential."""
    mods = list(net) if isinstance(net, nn.Sequential) else [net]
    outs = []
    for i, m in enumerate(mods):
        if isinstance(m, _PARAMETRIC):
            nxt = mods[i + 1] if i + 1 < len(mods) else None
            act = nxt is not None and not isinstance(nxt, _PARAMETRIC) and \
                not any(True for _ in nxt.parameters())
            outs.append(nxt if act else m)
    return outs


def effective_rank(Z: np.ndarray, center: bool = True) -> float:
    """exp of the Shannon entropy of the normalised singular values of Z (Roy & Vetterli);
    0 for a zero (or, centred, a constant) matrix."""
    Z = np.asarray(Z, dtype=np.float64).reshape(len(Z), -1)
    if center:
        Z = Z - Z.mean(axis=0, keepdims=True)
    s = np.linalg.svd(Z, compute_uv=False)
    total = s.sum()
    if not np.isfinite(total) or total <= 1e-12 * max(1.0, np.abs(Z).max(initial=0.0)):
        return 0.0
    p = s[s > 0] / total
    return float(np.exp(-(p * np.log(p)).sum()))


def _dead_fraction(lo: torch.Tensor, hi: torch.Tensor) -> float:
    """Share of units whose value spans nothing over the data (relative to the layer's scale)."""
    scale = float(torch.maximum(lo.abs(), hi.abs()).max()) if lo.numel() else 0.0
    return float(((hi - lo) <= 1e-7 * max(scale, 1e-30)).double().mean())


@torch.no_grad()
def autoencoder_health(ae: nn.Module, X, batch_size: int = 512,
                       thresholds: Thresholds = Thresholds()) -> Health:
    """The health figures of ``ae`` (with ``encode``, ``decode`` and ``encoder`` / ``decoder``
    modules) on the data X (array or tensor; moved to ``ae``'s device batch by batch).
    Labels are never needed."""
    was_training = ae.training
    ae.eval()
    dev = next(ae.parameters()).device
    x_all = X if torch.is_tensor(X) else torch.as_tensor(np.asarray(X))
    x_all = x_all.float()
    enc = layer_outputs(ae.encoder)
    dec = layer_outputs(ae.decoder)[:-1] if hasattr(ae, "decoder") else []
    layers = enc + dec
    acts: dict[int, torch.Tensor] = {}
    hooks = [m.register_forward_hook(lambda _m, _i, out, j=j: acts.__setitem__(j, out))
             for j, m in enumerate(layers)]
    lo: list = [None] * len(layers)
    hi: list = [None] * len(layers)
    sq_err = sxx = 0.0
    sx = 0.0
    zs = []
    try:
        for start in range(0, len(x_all), batch_size):
            xb = x_all[start:start + batch_size].to(dev)
            z = ae.encode(xb)
            xh = ae.decode(z)
            xb64, xh64 = xb.double().flatten(1), xh.double().flatten(1)
            sq_err += float(((xb64 - xh64) ** 2).sum())
            sx = sx + xb64.sum(0)
            sxx += float((xb64 ** 2).sum())
            zs.append(z.double().cpu())
            for j in range(len(layers)):
                a = acts[j].flatten(1)
                bmin, bmax = a.min(0).values, a.max(0).values
                lo[j] = bmin if lo[j] is None else torch.minimum(lo[j], bmin)
                hi[j] = bmax if hi[j] is None else torch.maximum(hi[j], bmax)
    finally:
        for h in hooks:
            h.remove()
        ae.train(was_training)
    baseline = sxx - float((sx ** 2).sum()) / len(x_all)  # ||X - 1 mean(X)^T||_F^2
    rel_rec = sq_err / baseline if baseline > 0 else float("inf")
    dead = [_dead_fraction(a, b) for a, b in zip(lo, hi)]
    eff = effective_rank(torch.cat(zs).numpy())
    return judge(rel_rec, dead[:len(enc)], eff, thresholds, dead_decoder=dead[len(enc):])


def judge(rel_rec: float, dead: list[float], eff_rank: float,
          thresholds: Thresholds = Thresholds(), dead_decoder: list[float] = ()) -> Health:
    """The verdict on the three figures (thresholds: ``Thresholds``)."""
    t = thresholds
    reasons = []
    if not rel_rec <= t.max_rel_rec:
        reasons.append(f"rel_rec {rel_rec:.3f} > {t.max_rel_rec} (1.0 = the mean image)")
    if not eff_rank >= t.min_eff_rank:
        reasons.append(f"eff_rank {eff_rank:.2f} < {t.min_eff_rank}")
    if dead and not dead[-1] <= t.max_dead_code:
        reasons.append(f"{dead[-1]:.0%} of the code units dead > {t.max_dead_code:.0%}")
    return Health(float(rel_rec), [float(d) for d in dead], float(eff_rank), not reasons, reasons,
                  [float(d) for d in dead_decoder])


# --- a label-free restart when the check fails --------------------------------------------

RESTART_STRIDE = 100_003  # restart a of seed s trains with seed s + a * RESTART_STRIDE


def restart_seed(seed: int, attempt: int) -> int:
    """The seed of restart ``attempt`` (0: ``seed`` itself): a fresh initialisation and batch
    order, far from the suite's own seeds so that two seeds' restarts never coincide."""
    return int(seed) + int(attempt) * RESTART_STRIDE


def until_healthy(train: Callable[[int], T], check: Callable[[T], Health], seed: int,
                  max_restarts: int) -> tuple[T, Health, list[dict]]:
    """Run ``train(seed)``; while ``check`` says the result is not healthy, start again with a
    fresh seed (``restart_seed``), at most ``max_restarts`` times. No labels: the verdict is
    the health check's. Returns the first healthy result (when none is, the one with the
    lowest rel_rec), its health, and every attempt's seed, health figures and whether it is
    the one kept (``kept``)."""
    attempts, best = [], None
    for a in range(int(max_restarts) + 1):
        s = restart_seed(seed, a)
        res = train(s)
        h = check(res)
        attempts.append({"attempt": a, "seed": s, "kept": False, **h.as_dict()})
        if best is None or h.healthy or h.rel_rec < best[1].rel_rec:
            best = (res, h, a)
        if h.healthy:
            break
    attempts[best[2]]["kept"] = True
    return best[0], best[1], attempts


def checkpoint_health(kind: str, arch: dict, state_dict: dict, X,
                      device: str | torch.device = "cpu",
                      thresholds: Thresholds = Thresholds()) -> Health:
    """``autoencoder_health`` of the weights ``state_dict`` of ``build_autoencoder(kind, ...)``."""
    from .nets import build_autoencoder

    ae = build_autoencoder(kind, tuple(np.shape(X)[1:]), arch)
    ae.load_state_dict(state_dict)
    return autoencoder_health(ae.to(device), X, thresholds=thresholds)
