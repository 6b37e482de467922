"""Training the target model: Algorithm 2 of LRSC, here with the DSC-Net loss (eq. 1).

Phase 1 (K1 steps): pre-train the autoencoder on random mini-batches with the reconstruction
term only (lambda2 = gamma = 0 and no self-expression layer).
Phase 2 (K2 steps): full-batch fine-tuning of the autoencoder and C on the whole of eq. (1).

No labels enter here: the functions receive the features only.
"""
from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from .losses import dscnet_loss, reconstruction_loss
from .nets import build_autoencoder
from .selfexpr import SelfExpression


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> torch.Generator:
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def pretrain_autoencoder(ae, x: torch.Tensor, steps: int, batch_size: int, lr: float,
                         gen: torch.Generator, log_every: int = 50, progress: bool = True):
    """Algorithm 2, first loop: mini-batch reconstruction training. Returns the loss curve.

    Progress bars show on a terminal only (tqdm's ``disable=None``), so DVC logs stay short.
    """
    opt = torch.optim.Adam(ae.parameters(), lr=lr)
    n, curve, perm, pos = len(x), [], torch.randperm(len(x), generator=gen), 0
    for step in tqdm(range(1, steps + 1), desc="pretrain", disable=None if progress else True,
                     leave=False):
        if pos + batch_size > n:
            perm, pos = torch.randperm(n, generator=gen), 0
        idx = perm[pos: pos + batch_size].to(x.device)
        pos += batch_size
        xb = x[idx]
        loss = reconstruction_loss(xb, ae.decode(ae.encode(xb))) / len(xb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % log_every == 0 or step == steps:
            curve.append({"phase": "pretrain", "step": step, "rec_per_point": loss.item()})
    return curve


def finetune_selfexpression(ae, x: torch.Tensor, *, steps: int, lr: float, lambda1: float,
                            lambda2: float, reg: str, c_init: float = 1e-4, zero_diag: bool = True,
                            log_every: int = 10, progress: bool = True):
    """Algorithm 2, second loop, with eq. (1): full-batch training of autoencoder and C.

    Returns (self-expression layer, loss curve). The final step's C is the result: there is
    no early stopping and no selection of epochs.
    """
    se = SelfExpression(len(x), init=c_init, zero_diag=zero_diag).to(x.device)
    opt = torch.optim.Adam(list(ae.parameters()) + list(se.parameters()), lr=lr)
    curve = []
    for step in tqdm(range(1, steps + 1), desc="finetune", disable=None if progress else True,
                     leave=False):
        z = ae.encode(x)
        zc = se(z)
        C = se.C
        terms = dscnet_loss(x, ae.decode(zc), z, zc, C, lambda1, lambda2, reg)
        opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        opt.step()
        if step % log_every == 0 or step == steps or step == 1:
            curve.append({"phase": "finetune", "step": step,
                          **{k: v.item() for k, v in terms.items()}})
    return se, curve


def _check_nonnegative(**values) -> None:
    for name, value in values.items():
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")


def pretrain(features: np.ndarray, kind: str, *, arch: dict, seed: int, k1: int, batch_size: int,
             lr: float, device: str = "auto", progress: bool = True) -> dict:
    """Algorithm 2, first loop, for one seed: a freshly initialised autoencoder trained on
    reconstruction. Returns its weights (on the CPU) and the loss curve."""
    _check_nonnegative(k1=k1, lr=lr)
    dev = pick_device(device)
    gen = seed_everything(seed)
    x = torch.as_tensor(features, dtype=torch.float32, device=dev)
    ae = build_autoencoder(kind, tuple(x.shape[1:]), arch).to(dev)
    curve = pretrain_autoencoder(ae, x, k1, min(batch_size, len(x)), lr, gen,
                                 progress=progress) if k1 > 0 else []
    return {"state_dict": {k: v.cpu() for k, v in ae.state_dict().items()}, "curve": curve}


def finetune(features: np.ndarray, kind: str, *, arch: dict, state_dict: dict, seed: int, k2: int,
             lr: float, lambda1: float, lambda2: float, reg: str, c_init: float,
             zero_diag: bool = True, device: str = "auto", progress: bool = True) -> dict:
    """Algorithm 2, second loop, with eq. (1), from pre-trained weights: returns the final C,
    the latent codes Z, the fine-tuned weights and the loss curve."""
    _check_nonnegative(lambda1=lambda1, lambda2=lambda2, lr=lr, k2=k2)
    dev = pick_device(device)
    seed_everything(seed)
    x = torch.as_tensor(features, dtype=torch.float32, device=dev)
    ae = build_autoencoder(kind, tuple(x.shape[1:]), arch).to(dev)
    ae.load_state_dict(state_dict)
    se, curve = finetune_selfexpression(ae, x, steps=k2, lr=lr, lambda1=lambda1, lambda2=lambda2,
                                        reg=reg, c_init=c_init, zero_diag=zero_diag,
                                        progress=progress)
    with torch.no_grad():
        C = se.C.detach().cpu().numpy()
        z = ae.encode(x).cpu().numpy()
    return {"C": C, "z": z, "state_dict": {k: v.cpu() for k, v in ae.state_dict().items()},
            "curve": curve}


def train_dscnet(features: np.ndarray, kind: str, *, arch: dict, seed: int, k1: int,
                 batch_size: int, lr_pretrain: float, k2: int, lr: float, lambda1: float,
                 lambda2: float, reg: str, c_init: float, zero_diag: bool = True,
                 device: str = "auto", progress: bool = True) -> dict:
    """DSC-Net (DSCN-L1 / DSCN-L2) on one dataset and seed: ``pretrain`` then ``finetune``."""
    pre = pretrain(features, kind, arch=arch, seed=seed, k1=k1, batch_size=batch_size,
                   lr=lr_pretrain, device=device, progress=progress)
    res = finetune(features, kind, arch=arch, state_dict=pre["state_dict"], seed=seed, k2=k2, lr=lr,
                   lambda1=lambda1, lambda2=lambda2, reg=reg, c_init=c_init, zero_diag=zero_diag,
                   device=device, progress=progress)
    res["curve"] = pre["curve"] + res["curve"]
    return res
