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

from .health import effective_rank
from .losses import (DISTILLS, distillation_loss, heat_kernel_weights, lrsc_loss,
                     reconstruction_loss, term_counts)
from .nets import build_autoencoder
from .selfexpr import SelfExpression, add_regulariser_grad_, regulariser_value


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
                         W: torch.Tensor | None = None, mu: float = 0.0, scale: str = "sum",
                         distill: str = "eq4"):
    """Algorithm 2, first loop: mini-batch training on eq. (9) with lambda2 = gamma = 0 and no
    self-expression layer. Returns the loss curve.

    Step (S2) selects the batch's rows and columns of W (eq. 5 on the teacher's features of
    the whole target). The batch loss is scaled to estimate eq. (9) / n: reconstruction summed
    over the b batch points / b, distillation summed over the batch pairs * n / b^2 (a random
    batch holds a share of about b^2 / n^2 of the pairs), so mu means the same in both loops;
    with b = n it is exactly (1/2||X - X~||^2 + mu * eq. 4) / n. With ``scale='mean'`` both
    terms are the batch's scale-free means (``losses.term_counts`` at n = b), which estimate
    the full-data means without a correction. ``distill``: eq. (4) ('eq4') or its
    scale-invariant form ('rayleigh', beyond the paper: ``losses.distillation_loss``) on the batch.
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
        b = len(xb)
        cnt = (term_counts(b, "mean") if scale == "mean"
               else {"rec": b, "distill": b * b / n})
        rec = reconstruction_loss(xb, ae.decode(zb)) / cnt["rec"]
        loss = rec
        if mu:
            distill_term = distillation_loss(zb, W[idx][:, idx], distill) / cnt["distill"]
            loss = loss + mu * distill_term
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % log_every == 0 or step == steps:
            row = {"phase": "pretrain", "step": step, "rec": rec.item()}
            if mu:
                row["distill"] = distill_term.item()
            curve.append(row)
    return curve


def latent_stats(z: torch.Tensor) -> dict:
    """Label-free spread of the latent codes (rows = points): their root-mean-square size and
    their effective rank (``health.effective_rank``). A latent collapse shows as a shrinking
    ``z_rms`` or a falling ``z_erank``."""
    z = z.detach().flatten(1).double()
    rms = float(z.pow(2).mean().sqrt())
    return {"z_rms": rms,
            "z_erank": effective_rank(z.cpu().numpy()) if np.isfinite(rms) else float("nan")}


def collapse_warning(curve: list[dict], rms_drop: float = 0.1, erank_drop: float = 0.25) -> str | None:
    """The collapse monitor: a reason string when the latent codes of a K2 run shrank below
    ``rms_drop`` times their size at the first step, or their effective rank below
    ``erank_drop`` times its first value (or to 1), or when the run diverged (a non-finite
    loss, or a self-expression term 100x its first value); None for a healthy run."""
    rows = [r for r in curve if r.get("phase") == "finetune" and "z_rms" in r]
    if len(rows) < 2:
        return None
    first, last = rows[0], rows[-1]
    if not np.isfinite(last["loss"]) or last["selfexp"] > 100 * max(first["selfexp"], 1e-30):
        return (f"diverged: loss {last['loss']:.3g}, self-expression term {first['selfexp']:.3g} "
                f"-> {last['selfexp']:.3g} by step {last['step']} (lower finetune.c_step or lr)")
    if last["z_rms"] < rms_drop * first["z_rms"]:
        return (f"latent collapse: rms of Z fell from {first['z_rms']:.3g} to {last['z_rms']:.3g} "
                f"(< {rms_drop:g}x) by step {last['step']}")
    if last["z_erank"] < max(erank_drop * first["z_erank"], 1.0 + 1e-6):
        return (f"latent collapse: effective rank of Z fell from {first['z_erank']:.1f} to "
                f"{last['z_erank']:.1f} by step {last['step']}")
    return None


def _spectral_norm_sq(z: torch.Tensor, v: torch.Tensor, iters: int = 3):
    """||Z||_2^2 by warm-started power iteration on Z^T Z (d x d work only); returns (value, v)."""
    for _ in range(iters):
        v = z.T @ (z @ v)
        v = v / v.norm().clamp_min(1e-30)
    return float((z @ v).pow(2).sum()), v


def prox_c_step(coef: torch.Tensor, grad: torch.Tensor, step: float, lambda2: float, reg: str,
                zero_diag: bool = True) -> None:
    """One proximal-gradient step on C, in place: a gradient step of size ``step`` on the smooth
    part of eq. (9), then the prox of ``step * lambda2 * ||C||_l`` (``prox_regulariser_``).
    ``grad`` is used as scratch (no n x n temporary) and holds garbage afterwards."""
    coef.add_(grad, alpha=-step)
    prox_regulariser_(coef, step * lambda2, reg, zero_diag, scratch=grad)


def prox_regulariser_(coef: torch.Tensor, weight: float, reg: str, zero_diag: bool,
                      scratch: torch.Tensor) -> None:
    """The prox of ``weight * ||C||_l``, in place: soft-thresholding at ``weight`` for 'l1'
    (exact zeros), shrinking by 1 / (1 + 2 weight) for 'l2' (the prox of the squared
    Frobenius norm); diag(C) = 0 is a projection. ``scratch``: an n x n buffer (l1)."""
    if reg not in ("l1", "l2"):
        raise ValueError(f"unknown regulariser {reg!r}; use 'l1' or 'l2'")
    if reg == "l1":   # soft-threshold: c - clip(c, -thr, thr)
        torch.clamp(coef, -weight, weight, out=scratch)
        coef.sub_(scratch)
    else:
        coef.div_(1.0 + 2.0 * weight)
    if zero_diag:
        coef.fill_diagonal_(0.0)


C_UPDATES = ("adam", "prox", "prox_backtrack")


def _smooth_c_value(ae, coef: torch.Tensor, x: torch.Tensor, z: torch.Tensor, *, lambda1: float,
                    gamma: float, sigma: float, scale: str) -> float:
    """The part of eq. (9) that depends on C, at fixed autoencoder and codes Z: reconstruction
    of decoder(ZC), lambda1 x self-expression and gamma x eq. (8) (eq. 4 has no C in it).
    A forward pass only (the backtracking test of ``backtracking_prox_c_step``)."""
    with torch.no_grad():
        zc = coef.T @ z
        t = lrsc_loss(x, ae.decode(zc), z, zc, None, None, lambda1=lambda1, lambda2=0.0,
                      gamma=gamma, sigma=sigma, scale=scale)
    return float(t["loss"])


def backtracking_prox_c_step(coef: torch.Tensor, grad: torch.Tensor, f0: float, value, L: float,
                             lambda2: float, reg: str, zero_diag: bool = True,
                             max_tries: int = 40, rtol: float = 1e-6,
                             buffers: tuple[torch.Tensor, torch.Tensor] | None = None
                             ) -> tuple[float, int]:
    """One proximal-gradient step on C with backtracking (Beck & Teboulle 2009, ISTA with
    backtracking), in place: the candidate C+ = prox_{lambda2/L}(C - grad / L) is accepted when
    the smooth part ``value(C+)`` lies under its quadratic model at C,

        f(C+) <= f(C) + <grad, C+ - C> + L/2 ||C+ - C||_F^2     (f(C) = ``f0``),

    else L is doubled and the step retried. The fixed step of ``prox_c_step`` takes L from the
    self-expression term alone; this one also covers the C-dependence of the reconstruction
    of decoder(ZC) and of eq. (8), whose curvature in C is unknown (large while ZC is small:
    eq. 8 normalises ZC). ``rtol`` absorbs float32 rounding of f. When no try is accepted C is
    left as it was (a zero step). Returns (accepted L, number of evaluations of ``value``).
    ``grad`` is kept; two n x n buffers hold the candidate and its difference (``buffers``:
    the caller's, reused across steps, else new ones).
    """
    cand, diff = buffers if buffers is not None else (torch.empty_like(coef),
                                                       torch.empty_like(coef))
    for tries in range(1, max_tries + 1):
        torch.add(coef, grad, alpha=-1.0 / L, out=cand)     # the gradient step, then the prox
        prox_regulariser_(cand, lambda2 / L, reg, zero_diag, scratch=diff)
        torch.sub(cand, coef, out=diff)
        d = diff.view(-1)
        bound = f0 + float(torch.dot(grad.view(-1), d)) + 0.5 * L * float(torch.dot(d, d))
        if value(cand) <= bound + rtol * abs(f0):
            coef.copy_(cand)
            return L, tries
        L *= 2.0
    return L, max_tries


def _adam(groups, lr: float) -> torch.optim.Adam:
    """Adam as one fused pass over each buffer where torch has the kernel (CPU and CUDA
    float32 in torch >= 2.4): on an n x n C the default kernel's several passes over
    param, grad and both moments cost more than the self-expression product itself."""
    try:
        return torch.optim.Adam(groups, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(groups, lr=lr)


def k2_backward(ae, coef: torch.Tensor, x: torch.Tensor, W: torch.Tensor | None, *,
                lambda1: float, lambda2: float, mu: float, gamma: float, sigma: float, reg: str,
                scale: str, zero_diag: bool = True, distill: str = "eq4"):
    """Forward and backward of eq. (9) for one full-batch K2 step, leaving in ``.grad`` of the
    autoencoder's parameters and of ``coef`` (C, its diagonal held at 0 when ``zero_diag``)
    the gradient of eq. (9) with respect to them: autograd for the terms in Z, and for
    lambda2 ||C||_l its value and an in-place analytic gradient (``lambda2 = 0``: the smooth
    part only, for the proximal update). Returns Z and the (scaled) terms, detached."""
    z = ae.encode(x)
    zc = coef.T @ z   # the self-expressed codes (Z C)^T; diag(coef) = 0 replaces the mask
    terms = lrsc_loss(x, ae.decode(zc), z, zc, None, W, lambda1=lambda1, lambda2=lambda2,
                      mu=mu, gamma=gamma, sigma=sigma, reg=reg, scale=scale, distill=distill)
    coef.grad = None
    terms["loss"].backward()
    terms = {k: t.detach() for k, t in terms.items()}
    with torch.no_grad():
        if zero_diag:
            coef.grad.fill_diagonal_(0.0)
        count = term_counts(len(x), scale)["reg"]
        terms["reg"] = regulariser_value(coef, reg) / count
        if lambda2:
            terms["loss"] = terms["loss"] + lambda2 * terms["reg"]
            add_regulariser_grad_(coef.grad, coef, lambda2 / count, reg)
    return z.detach(), terms


def finetune_selfexpression(ae, x: torch.Tensor, *, steps: int, lr: float, lambda1: float,
                            lambda2: float, reg: str, c_init: float = 1e-4, zero_diag: bool = True,
                            W: torch.Tensor | None = None, mu: float = 0.0, gamma: float = 0.0,
                            sigma: float = 1.0, scale: str = "sum", c_update: str = "adam",
                            c_step: float = 1.0, distill: str = "eq4", log_every: int = 10,
                            progress: bool = True):
    """Algorithm 2, second loop, with eq. (9) (eq. (1) when mu = gamma = 0): full-batch
    training of autoencoder and C.

    ``scale``: 'sum' (the paper's sums) or 'mean' (scale-free, ``losses.term_counts``).
    ``c_update``: 'adam' (C is one more parameter of Adam, as in DSC-Net's code) or 'prox'
    (proximal gradient on C: Adam on the autoencoder; C takes a gradient step on the smooth
    part of eq. (9) of size c_step / L, L = lambda1 ||Z||_2^2 / (count of the self-expression
    term), the Lipschitz constant of the self-expression term in C, then the prox of
    ||C||_l: ``prox_c_step``; for l1 this gives exact zeros, which Adam on |C| never does)
    or 'prox_backtrack' (the same step, with L doubled until the step decreases the smooth
    part under its quadratic model: ``backtracking_prox_c_step``; each step starts from half
    the previous step's factor over the self-expression L, never below it, so where that L
    suffices the iterates are those of 'prox'; one more forward pass per try).
    ``distill``: eq. (4) ('eq4') or its scale-invariant form ('rayleigh', an option beyond the
    paper: ``losses.distillation_loss``). Every logged row carries the latent monitor
    (``latent_stats``).

    The step holds the n x n buffers it needs and no more (``benchmarks/k2_step.py``): C with
    diag(C) = 0 kept by zeroing the diagonal of its gradient (Adam then never moves it; prox
    projects), so ZC is one product with no masked copy of C; ||C||_l enters through its
    value and an in-place analytic gradient, not autograd; eq. (8) keeps one n x n buffer
    (``losses.infonce_loss``); Adam is fused. Same loss and gradients as autograd on
    ``SelfExpression.C`` (tested in float64).

    Returns (self-expression layer, loss curve). The final step's C is the result: there is
    no early stopping and no selection of epochs.
    """
    if c_update not in C_UPDATES:
        raise ValueError(f"unknown C update {c_update!r}; use one of {', '.join(C_UPDATES)}")
    se = SelfExpression(len(x), init=c_init, zero_diag=zero_diag).to(x.device, x.dtype)
    coef, prox = se.coef, c_update in ("prox", "prox_backtrack")
    if zero_diag:
        with torch.no_grad():
            coef.fill_diagonal_(0.0)
    groups = [{"params": list(ae.parameters())}] + ([] if prox else [{"params": [coef]}])
    opt = _adam(groups, lr)
    curve, v, cnt, beta, tries = [], None, term_counts(len(x), scale), 1.0, 0
    bufs = ((torch.empty_like(coef), torch.empty_like(coef)) if c_update == "prox_backtrack"
            else None)   # prox_backtrack: its two n x n buffers, kept across steps
    w_reg = lambda2 / cnt["reg"]
    for step in tqdm(range(1, steps + 1), desc="finetune", disable=None if progress else True,
                     leave=False):
        opt.zero_grad(set_to_none=True)
        z, terms = k2_backward(ae, coef, x, W, lambda1=lambda1, lambda2=0.0 if prox else lambda2,
                               mu=mu, gamma=gamma, sigma=sigma, reg=reg, scale=scale,
                               zero_diag=zero_diag, distill=distill)
        if prox:
            with torch.no_grad():
                zf = z.detach().flatten(1)
                if v is None:
                    v = torch.ones(zf.shape[1], 1, dtype=zf.dtype, device=zf.device)
                norm2, v = _spectral_norm_sq(zf, v)
                L = max(lambda1 * norm2 / cnt["selfexp"], 1e-12)
                if c_update == "prox":
                    prox_c_step(coef, coef.grad, c_step / L, w_reg, reg, zero_diag)
                else:
                    f0 = float(terms["rec"] + lambda1 * terms["selfexp"]
                               + gamma * terms.get("selfsup", 0.0))
                    value = lambda c: _smooth_c_value(ae, c, x, z, lambda1=lambda1, gamma=gamma,
                                                      sigma=sigma, scale=scale)
                    beta = max(beta / 2.0, 1.0)
                    L = L / c_step
                    L_ok, tries = backtracking_prox_c_step(coef, coef.grad, f0, value, beta * L,
                                                           w_reg, reg, zero_diag, buffers=bufs)
                    beta = L_ok / L
                coef.grad = None
        opt.step()
        if step % log_every == 0 or step == steps or step == 1:
            if prox:   # the prox path's ||C||_l after its step, as it always was logged
                terms["reg"] = regulariser_value(coef, reg) / cnt["reg"]
                terms["loss"] = terms["loss"] + lambda2 * terms["reg"]
            row = {"phase": "finetune", "step": step,
                   **{k: float(v_.detach()) for k, v_ in terms.items()}, **latent_stats(z)}
            if c_update == "prox_backtrack":   # the step's factor over the self-expression L
                row.update(c_beta=beta, c_tries=tries)
            curve.append(row)
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
             mu: float = 0.0, t="auto", scale: str = "sum", distill: str = "eq4",
             device: str = "auto", progress: bool = True) -> dict:
    """Algorithm 2, first loop, for one seed. The autoencoder starts from ``init_state`` (the
    meta-learner, task level) or fresh weights, and trains on reconstruction plus mu times the
    distillation term with W = eq. (5) on the teacher's features ``T`` of the target (model
    level; mu = 0 or T = None: reconstruction only, DSC-Net's pre-training), in the form
    ``distill`` ('eq4' or the scale-invariant 'rayleigh'). Returns the weights (on the CPU) and
    the loss curve."""
    _check_nonnegative(k1=k1, lr=lr, mu=mu)
    if distill not in DISTILLS:
        raise ValueError(f"unknown distillation form {distill!r}; use one of {', '.join(DISTILLS)}")
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
                                 W=W, mu=mu, scale=scale, distill=distill) if k1 > 0 else []
    return {"state_dict": {k: v.cpu() for k, v in ae.state_dict().items()}, "curve": curve,
            "t": t_used}


def finetune(features: np.ndarray, kind: str, *, arch: dict, state_dict: dict, seed: int, k2: int,
             lr: float, lambda1: float, lambda2: float, reg: str, c_init: float,
             zero_diag: bool = True, T: np.ndarray | None = None, mu: float = 0.0,
             gamma: float = 0.0, sigma: float = 1.0, t="auto", scale: str = "sum",
             c_update: str = "adam", c_step: float = 1.0, distill: str = "eq4",
             device: str = "auto", progress: bool = True) -> dict:
    """Algorithm 2, second loop, with eq. (9) from pre-trained weights (eq. (1), DSC-Net, when
    mu = gamma = 0): returns the final C, the latent codes Z, the fine-tuned weights and the
    loss curve."""
    _check_nonnegative(lambda1=lambda1, lambda2=lambda2, lr=lr, k2=k2, mu=mu, gamma=gamma)
    if distill not in DISTILLS:
        raise ValueError(f"unknown distillation form {distill!r}; use one of {', '.join(DISTILLS)}")
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
                                        gamma=gamma, sigma=sigma, scale=scale, c_update=c_update,
                                        c_step=c_step, distill=distill, progress=progress)
    with torch.no_grad():
        C = se.C.detach().cpu().numpy()
        z = ae.encode(x).cpu().numpy()
    return {"C": C, "z": z, "state_dict": {k: v.cpu() for k, v in ae.state_dict().items()},
            "curve": curve}


def train_lrsc(features: np.ndarray, kind: str, *, arch: dict, seed: int, k1: int,
               batch_size: int, lr_pretrain: float, k2: int, lr: float, lambda1: float,
               lambda2: float, reg: str, c_init: float, zero_diag: bool = True,
               init_state: dict | None = None, T: np.ndarray | None = None, mu: float = 0.0,
               gamma: float = 0.0, sigma: float = 1.0, t="auto", scale: str = "sum",
               c_update: str = "adam", c_step: float = 1.0, distill: str = "eq4",
               device: str = "auto", progress: bool = True) -> dict:
    """Algorithm 2 on one dataset and seed: ``pretrain`` then ``finetune``. With a random
    init and mu = gamma = 0 this is DSC-Net (DSCN-L1 / DSCN-L2), number for number."""
    pre = pretrain(features, kind, arch=arch, seed=seed, k1=k1, batch_size=batch_size,
                   lr=lr_pretrain, init_state=init_state, T=T, mu=mu, t=t, scale=scale,
                   distill=distill, device=device, progress=progress)
    res = finetune(features, kind, arch=arch, state_dict=pre["state_dict"], seed=seed, k2=k2, lr=lr,
                   lambda1=lambda1, lambda2=lambda2, reg=reg, c_init=c_init, zero_diag=zero_diag,
                   T=T, mu=mu, gamma=gamma, sigma=sigma, t=t, scale=scale, c_update=c_update,
                   c_step=c_step, distill=distill, device=device, progress=progress)
    res["curve"] = pre["curve"] + res["curve"]
    return res


def train_dscnet(features: np.ndarray, kind: str, **kw) -> dict:
    """DSC-Net (DSCN-L1 / DSCN-L2): eq. (1), a fresh autoencoder, no external knowledge
    (``train_lrsc`` with no init, no teacher, mu = gamma = 0)."""
    for key in ("init_state", "T", "mu", "gamma"):
        if kw.get(key):
            raise ValueError(f"train_dscnet takes no {key}: DSC-Net uses no external knowledge")
    return train_lrsc(features, kind, **kw)
