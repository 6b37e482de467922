"""Training the target model: Algorithm 2 of LRSC (DSC-Net's eq. 1 when mu = gamma = 0).

Initialisation: a fresh autoencoder, or the meta-learner's weights (task level, Algorithm 1).
Phase 1 (K1 steps): pre-train the autoencoder on random mini-batches with eq. (9) at
lambda2 = gamma = 0 and no self-expression layer: reconstruction plus mu times the
distillation term of eq. (4)/(7) on the batch's rows and columns of W (model level).
Phase 2 (K2 steps): full-batch fine-tuning of the autoencoder and C on the whole of eq. (9):
eq. (1) + mu * eq. (4) with the target's W + gamma * eq. (8) at temperature sigma.

No labels enter here: the functions receive the features (and the teacher's W) only.
"""
from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from .losses import distillation_loss, heat_kernel_weights, lrsc_loss, reconstruction_loss
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
                         gen: torch.Generator, log_every: int = 50, progress: bool = True,
                         W: torch.Tensor | None = None, mu: float = 0.0):
    """Algorithm 2, first loop: mini-batch training on eq. (9) with lambda2 = gamma = 0 and no
    self-expression layer. Returns the loss curve.

    Step (S2) selects the batch's rows and columns of W (eq. 5 on the teacher's features of
    the whole target). The batch loss is scaled to estimate eq. (9) / n: reconstruction summed
    over the b batch points / b, distillation summed over the batch pairs * n / b^2 (a random
    batch holds a share of about b^2 / n^2 of the pairs), so mu means the same in both loops;
    with b = n it is exactly (1/2||X - X~||^2 + mu * eq. 4) / n.
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
        zb = ae.encode(xb)
        rec = reconstruction_loss(xb, ae.decode(zb)) / len(xb)
        loss = rec
        if mu:
            distill = distillation_loss(zb, W[idx][:, idx]) * n / len(xb) ** 2
            loss = loss + mu * distill
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % log_every == 0 or step == steps:
            row = {"phase": "pretrain", "step": step, "rec_per_point": rec.item()}
            if mu:
                row["distill_per_point"] = distill.item()
            curve.append(row)
    return curve


def finetune_selfexpression(ae, x: torch.Tensor, *, steps: int, lr: float, lambda1: float,
                            lambda2: float, reg: str, c_init: float = 1e-4, zero_diag: bool = True,
                            W: torch.Tensor | None = None, mu: float = 0.0, gamma: float = 0.0,
                            sigma: float = 1.0, log_every: int = 10, progress: bool = True):
    """Algorithm 2, second loop, with eq. (9) (eq. (1) when mu = gamma = 0): full-batch
    training of autoencoder and C.

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
        terms = lrsc_loss(x, ae.decode(zc), z, zc, C, W, lambda1=lambda1, lambda2=lambda2, mu=mu,
                          gamma=gamma, sigma=sigma, reg=reg)
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


def teacher_affinity(T, t, device) -> tuple[torch.Tensor | None, float | None]:
    """W of eq. (5) on the teacher's features T of the target (None without a teacher)."""
    if T is None:
        return None, None
    return heat_kernel_weights(torch.as_tensor(np.asarray(T), dtype=torch.float32, device=device), t)


def pretrain(features: np.ndarray, kind: str, *, arch: dict, seed: int, k1: int, batch_size: int,
             lr: float, init_state: dict | None = None, T: np.ndarray | None = None,
             mu: float = 0.0, t="auto", device: str = "auto", progress: bool = True) -> dict:
    """Algorithm 2, first loop, for one seed. The autoencoder starts from ``init_state`` (the
    meta-learner, task level) or fresh weights, and trains on reconstruction plus mu times the
    distillation term with W = eq. (5) on the teacher's features ``T`` of the target (model
    level; mu = 0 or T = None: reconstruction only, DSC-Net's pre-training). Returns the
    weights (on the CPU) and the loss curve."""
    _check_nonnegative(k1=k1, lr=lr, mu=mu)
    if mu and T is None:
        raise ValueError("mu > 0 needs the teacher's features T of the target (model level)")
    dev = pick_device(device)
    gen = seed_everything(seed)
    x = torch.as_tensor(features, dtype=torch.float32, device=dev)
    ae = build_autoencoder(kind, tuple(x.shape[1:]), arch).to(dev)
    if init_state is not None:
        ae.load_state_dict(init_state)
    W, t_used = teacher_affinity(T, t, dev) if mu else (None, None)
    curve = pretrain_autoencoder(ae, x, k1, min(batch_size, len(x)), lr, gen, progress=progress,
                                 W=W, mu=mu) if k1 > 0 else []
    return {"state_dict": {k: v.cpu() for k, v in ae.state_dict().items()}, "curve": curve,
            "t": t_used}


def finetune(features: np.ndarray, kind: str, *, arch: dict, state_dict: dict, seed: int, k2: int,
             lr: float, lambda1: float, lambda2: float, reg: str, c_init: float,
             zero_diag: bool = True, T: np.ndarray | None = None, mu: float = 0.0,
             gamma: float = 0.0, sigma: float = 1.0, t="auto", device: str = "auto",
             progress: bool = True) -> dict:
    """Algorithm 2, second loop, with eq. (9) from pre-trained weights (eq. (1), DSC-Net, when
    mu = gamma = 0): returns the final C, the latent codes Z, the fine-tuned weights and the
    loss curve."""
    _check_nonnegative(lambda1=lambda1, lambda2=lambda2, lr=lr, k2=k2, mu=mu, gamma=gamma)
    if mu and T is None:
        raise ValueError("mu > 0 needs the teacher's features T of the target (model level)")
    dev = pick_device(device)
    seed_everything(seed)
    x = torch.as_tensor(features, dtype=torch.float32, device=dev)
    ae = build_autoencoder(kind, tuple(x.shape[1:]), arch).to(dev)
    ae.load_state_dict(state_dict)
    W, _ = teacher_affinity(T, t, dev) if mu else (None, None)
    se, curve = finetune_selfexpression(ae, x, steps=k2, lr=lr, lambda1=lambda1, lambda2=lambda2,
                                        reg=reg, c_init=c_init, zero_diag=zero_diag, W=W, mu=mu,
                                        gamma=gamma, sigma=sigma, progress=progress)
    with torch.no_grad():
        C = se.C.detach().cpu().numpy()
        z = ae.encode(x).cpu().numpy()
    return {"C": C, "z": z, "state_dict": {k: v.cpu() for k, v in ae.state_dict().items()},
            "curve": curve}


def train_lrsc(features: np.ndarray, kind: str, *, arch: dict, seed: int, k1: int,
               batch_size: int, lr_pretrain: float, k2: int, lr: float, lambda1: float,
               lambda2: float, reg: str, c_init: float, zero_diag: bool = True,
               init_state: dict | None = None, T: np.ndarray | None = None, mu: float = 0.0,
               gamma: float = 0.0, sigma: float = 1.0, t="auto", device: str = "auto",
               progress: bool = True) -> dict:
    """Algorithm 2 on one dataset and seed: ``pretrain`` then ``finetune``. With a random
    init and mu = gamma = 0 this is DSC-Net (DSCN-L1 / DSCN-L2), number for number."""
    pre = pretrain(features, kind, arch=arch, seed=seed, k1=k1, batch_size=batch_size,
                   lr=lr_pretrain, init_state=init_state, T=T, mu=mu, t=t, device=device,
                   progress=progress)
    res = finetune(features, kind, arch=arch, state_dict=pre["state_dict"], seed=seed, k2=k2, lr=lr,
                   lambda1=lambda1, lambda2=lambda2, reg=reg, c_init=c_init, zero_diag=zero_diag,
                   T=T, mu=mu, gamma=gamma, sigma=sigma, t=t, device=device, progress=progress)
    res["curve"] = pre["curve"] + res["curve"]
    return res


def train_dscnet(features: np.ndarray, kind: str, *, arch: dict, seed: int, k1: int,
                 batch_size: int, lr_pretrain: float, k2: int, lr: float, lambda1: float,
                 lambda2: float, reg: str, c_init: float, zero_diag: bool = True,
                 device: str = "auto", progress: bool = True) -> dict:
    """DSC-Net (DSCN-L1 / DSCN-L2): eq. (1), a fresh autoencoder, no external knowledge."""
    pre = pretrain(features, kind, arch=arch, seed=seed, k1=k1, batch_size=batch_size,
                   lr=lr_pretrain, device=device, progress=progress)
    res = finetune(features, kind, arch=arch, state_dict=pre["state_dict"], seed=seed, k2=k2, lr=lr,
                   lambda1=lambda1, lambda2=lambda2, reg=reg, c_init=c_init, zero_diag=zero_diag,
                   device=device, progress=progress)
    res["curve"] = pre["curve"] + res["curve"]
    return res
