"""Task-level transfer of LRSC: Algorithm 1, MAML on subspace-clustering episodes.

An *episode* draws K classes of the external (meta) data and n points per class, split into
a train part M^(tr) and a disjoint test part M^(te). The base-learner adapts the shared
initialisation theta (the target autoencoder's weights) on M^(tr) with eq. (6); the
meta-learner updates theta with the same loss on M^(te) at the adapted weights.

Choices the paper leaves open, made here:

- C~ is episode-specific (its size is the episode's): initialised to the constant ``c_init``
  off the diagonal, then, at every inner step, ``c_steps`` proximal-gradient (ISTA) steps on
  the C-terms of eq. (6) at the current Z, with step 1/L (L the Lipschitz constant of the
  smooth part), so the inner loop needs no learning rate for C and stays stable for any
  lambda3. The test part gets its own C~ the same way, at the adapted weights.
- theta takes ``inner_steps`` plain gradient steps of size ``inner_lr`` on eq. (6) divided
  by the number of points (so the step does not depend on the episode size).
- Second-order MAML differentiates through the whole inner loop (``torch.func.grad`` nested
  in ``torch.func.grad``); first-order MAML (``first_order=True``) uses the test-part gradient
  at the adapted weights as the meta-gradient.

Validation never touches target data: held-out episodes of the external data (whole classes
held out where there are enough, else held-out samples of the same classes) are adapted to
and clustered (spectral clustering of |C|+|C^T| of the adapted codes), and their ACC/NMI is
the early-stopping signal.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, grad_and_value
from tqdm import tqdm

from .cluster import cluster_coef
from .finetune import pick_device, seed_everything
from .losses import external_loss, heat_kernel_weights
from .metrics import scores
from .nets import build_autoencoder


@dataclass
class MetaConfig:
    """Hyper-parameters of Algorithm 1 (params.yaml ``meta:`` plus lambda3, lambda4, eta, t)."""
    k: int                      # classes per episode
    n_per_class: int            # points per class in an episode (train + test)
    n_train: int                # of which in the train part M^(tr)
    tasks_per_batch: int = 4
    inner_steps: int = 3
    inner_lr: float = 0.01
    c_steps: int = 10
    meta_lr: float = 1e-3
    meta_iters: int = 200
    first_order: bool = False
    val_frac: float = 0.25      # share of classes (or samples) held out for validation
    val_episodes: int = 20
    val_every: int = 25
    val_c_steps: int = 100
    val_normalize: bool = False  # L2-normalise the codes before fitting C~ in validation
    lambda3: float = 10.0
    lambda4: float = 1.0
    eta: float = 0.0
    t: float | str = "auto"
    reg: str = "l2"
    c_init: float = 1e-4
    zero_diag: bool = True

    def __post_init__(self):
        for name in ("k", "n_per_class", "n_train", "tasks_per_batch", "inner_steps", "c_steps",
                     "meta_iters", "val_episodes", "val_every", "val_c_steps"):
            if int(getattr(self, name)) < 1 and name not in ("inner_steps", "meta_iters"):
                raise ValueError(f"meta.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("inner_lr", "meta_lr", "lambda3", "lambda4", "eta", "c_init"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 1 <= self.n_train < self.n_per_class:
            raise ValueError(f"meta.n_train={self.n_train} must be in [1, n_per_class="
                             f"{self.n_per_class}): both parts of an episode need points")
        if self.k < 2:
            raise ValueError(f"meta.k={self.k}: an episode needs at least 2 classes")


class AEForward(nn.Module):
    """The target autoencoder as forward(x, C) -> (Z, ZC, X_hat), for ``functional_call``.

    Its parameters are the autoencoder's, prefixed with ``ae.``; ``ae_state`` strips it.
    """

    def __init__(self, ae: nn.Module):
        super().__init__()
        self.ae = ae

    def forward(self, x, C):
        z = self.ae.encode(x)
        zc = C.T @ z
        return z, zc, self.ae.decode(zc)


def ae_state(params: dict) -> dict:
    """Weights of ``AEForward`` -> a state_dict that loads into the target autoencoder."""
    return {k.removeprefix("ae."): v.detach().cpu().clone() for k, v in params.items()}


# ---------------------------------------------------------------------------- episodes
def heldout_split(y: np.ndarray, k: int, frac: float, seed: int):
    """Meta-train / validation split of the external data.

    Whole classes are held out when both sides keep at least ``k`` classes (the validation
    episodes then test adaptation to unseen classes); otherwise ``frac`` of each class's
    samples are held out. Returns (train indices, validation indices, 'classes'|'samples').
    """
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    n_val = max(k, int(round(frac * len(classes))))
    if len(classes) - n_val >= k:
        val = np.isin(y, rng.choice(classes, n_val, replace=False))
        return np.flatnonzero(~val), np.flatnonzero(val), "classes"
    val = np.zeros(len(y), bool)
    for c in classes:
        idx = rng.permutation(np.flatnonzero(y == c))
        val[idx[: int(round(frac * len(idx)))]] = True
    return np.flatnonzero(~val), np.flatnonzero(val), "samples"


class EpisodeSampler:
    """Episodes of K classes x n points from the rows ``pool`` of the external data."""

    def __init__(self, y: np.ndarray, pool: np.ndarray, k: int, n_per_class: int, n_train: int):
        by_class = {c: pool[y[pool] == c] for c in np.unique(y[pool])}
        self.by_class = {c: idx for c, idx in by_class.items() if len(idx) >= n_per_class}
        if len(self.by_class) < k:
            raise ValueError(f"episodes need {k} classes with >= {n_per_class} points each; the "
                             f"external data has {len(self.by_class)}: lower meta.n_per_class or k")
        self.classes = np.array(sorted(self.by_class))
        self.k, self.n, self.n_train = k, n_per_class, n_train

    def sample(self, rng: np.random.Generator):
        """Returns (train indices, test indices, train labels, test labels), labels 0..K-1."""
        tr, te = [], []
        for c in rng.choice(self.classes, self.k, replace=False):
            idx = rng.choice(self.by_class[c], self.n, replace=False)
            tr.append(idx[: self.n_train])
            te.append(idx[self.n_train:])
        ytr = np.repeat(np.arange(self.k), self.n_train)
        yte = np.repeat(np.arange(self.k), self.n - self.n_train)
        return np.concatenate(tr), np.concatenate(te), ytr, yte


# ---------------------------------------------------------------------------- inner loop
def solve_c(z: torch.Tensor, C: torch.Tensor, steps: int, *, lambda3: float, lambda4: float,
            reg: str, zero_diag: bool = True) -> torch.Tensor:
    """Proximal-gradient steps on the C-terms of eq. (6) at fixed Z (rows = points):

        min_C lambda3/2 ||Z - ZC||_F^2 + lambda4 ||C||_l   (s.t. diag(C) = 0)

    The smooth part's gradient is lambda3 G (C - I), G = Z^T Z (n x n Gram); step 1/L with
    L = lambda3 ||G||_2 (+ 2 lambda4 for the squared Frobenius norm). For 'l1' the prox is a
    soft threshold at lambda4 / L. diag(C) = 0 is a projection. Differentiable in Z.
    """
    G = z @ z.T
    L = lambda3 * torch.linalg.matrix_norm(z, ord=2) ** 2 + (2.0 * lambda4 if reg == "l2" else 0.0)
    if float(L.detach()) <= 0:
        return C
    off = 1.0 - torch.eye(len(C), dtype=C.dtype, device=C.device)
    for _ in range(steps):
        g = lambda3 * (G @ C - G)
        if reg == "l2":
            C = C - (g + 2.0 * lambda4 * C) / L
        elif reg == "l1":
            C = C - g / L
            C = torch.sign(C) * torch.relu(C.abs() - lambda4 / L)
        else:
            raise ValueError(f"unknown regulariser {reg!r}; use 'l1' or 'l2'")
        if zero_diag:
            C = C * off
    return C


def _c0(n: int, cfg: MetaConfig, like: torch.Tensor) -> torch.Tensor:
    C = torch.full((n, n), cfg.c_init, dtype=like.dtype, device=like.device)
    return C.fill_diagonal_(0.0) if cfg.zero_diag else C


def _episode_loss(fwd, params, C, x, W, cfg: MetaConfig) -> torch.Tensor:
    """Eq. (6) on one part of an episode, divided by its number of points."""
    z, zc, x_hat = functional_call(fwd, params, (x, C))
    return external_loss(x, x_hat, z, zc, C, W, lambda3=cfg.lambda3, lambda4=cfg.lambda4,
                         eta=cfg.eta, reg=cfg.reg)["loss"] / len(x)


def _fit_c(fwd, params, x, cfg: MetaConfig, steps: int, normalize: bool = False) -> torch.Tensor:
    C = _c0(len(x), cfg, x)
    z = functional_call(fwd, params, (x, C))[0]
    if normalize:
        z = z / z.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return solve_c(z, C, steps, lambda3=cfg.lambda3, lambda4=cfg.lambda4, reg=cfg.reg,
                   zero_diag=cfg.zero_diag)


def adapt(fwd, params: dict, x, W, cfg: MetaConfig):
    """Algorithm 1, first inner loop (S1-S4) for one episode: the base-learner theta_i.

    Alternates ``c_steps`` ISTA steps on C~ and one gradient step of size ``inner_lr`` on the
    autoencoder, ``inner_steps`` times. Differentiable in ``params`` (second-order MAML).
    Returns (adapted params, C~).
    """
    C = _c0(len(x), cfg, x)
    for _ in range(cfg.inner_steps):
        z = functional_call(fwd, params, (x, C))[0]
        C = solve_c(z, C, cfg.c_steps, lambda3=cfg.lambda3, lambda4=cfg.lambda4, reg=cfg.reg,
                    zero_diag=cfg.zero_diag)
        g = grad(_episode_loss, argnums=1)(fwd, params, C, x, W, cfg)
        params = {k: p - cfg.inner_lr * g[k] for k, p in params.items()}
    return params, C


def query_loss(fwd, params: dict, x_te, W_te, cfg: MetaConfig) -> torch.Tensor:
    """Algorithm 1, second inner loop (S1-S3): eq. (6) on M^(te) at the adapted weights, with
    the test part's own C~ fitted by the same ISTA steps."""
    C = _fit_c(fwd, params, x_te, cfg, cfg.inner_steps * cfg.c_steps)
    return _episode_loss(fwd, params, C, x_te, W_te, cfg)


def maml_objective(fwd, params: dict, task, cfg: MetaConfig) -> torch.Tensor:
    """L_T(theta_i; M^(te)) as a function of the initialisation theta (second order)."""
    x_tr, W_tr, x_te, W_te = task
    adapted, _ = adapt(fwd, params, x_tr, W_tr, cfg)
    return query_loss(fwd, adapted, x_te, W_te, cfg)


def meta_gradient(fwd, params: dict, tasks, cfg: MetaConfig):
    """Gradient of the meta-objective sum_T L_T(theta_T; M^(te)) / |batch| w.r.t. theta.

    Second order: ``torch.func.grad`` through the inner loop. First order: the gradient of
    the test-part loss at the adapted weights, theta_T treated as a constant function of theta.
    Returns (gradient dict, mean meta-loss).
    """
    params = {k: v.detach() for k, v in params.items()}
    total = {k: torch.zeros_like(v) for k, v in params.items()}
    losses = []
    for task in tasks:
        if cfg.first_order:
            adapted, _ = adapt(fwd, params, task[0], task[1], cfg)
            adapted = {k: v.detach() for k, v in adapted.items()}
            g, loss = grad_and_value(query_loss, argnums=1)(fwd, adapted, task[2], task[3], cfg)
        else:
            g, loss = grad_and_value(maml_objective, argnums=1)(fwd, params, task, cfg)
        losses.append(float(loss))
        for k in total:
            total[k] += g[k] / len(tasks)
    return total, float(np.mean(losses))


# ---------------------------------------------------------------------------- validation
def evaluate_episodes(fwd, params: dict, episodes, cfg: MetaConfig, seed: int = 0) -> dict:
    """Cluster held-out episodes with the adapted model: adapt on M^(tr), encode the whole
    episode, fit C~ by ``val_c_steps`` ISTA steps, spectral clustering of 1/2(|C|+|C^T|).
    Returns mean ACC / NMI / ARI over the episodes (labels of the *external* data)."""
    params = {k: v.detach() for k, v in params.items()}
    res = []
    for x_tr, W_tr, x_all, y_all in episodes:
        adapted, _ = adapt(fwd, params, x_tr, W_tr, cfg)
        with torch.no_grad():
            C = _fit_c(fwd, adapted, x_all, cfg, cfg.val_c_steps, cfg.val_normalize)
        pred = cluster_coef(C.cpu().numpy().astype(np.float64), cfg.k, "none", seed=seed)
        res.append(scores(y_all, pred))
    return {m: float(np.mean([r[m] for r in res])) for m in res[0]}


# ---------------------------------------------------------------------------- Algorithm 1
def meta_train(X: np.ndarray, y: np.ndarray, T: np.ndarray, kind: str, arch: dict,
               cfg: MetaConfig, *, seed: int, device: str = "auto", progress: bool = True,
               log=None) -> dict:
    """Algorithm 1: meta-learn the target autoencoder's initialisation on external data.

    X, y: the external data and its labels; T: the teacher's features of X (out-of-fold, see
    ``teacher.two_fold_teachers``), used for W of eq. (5). ``log(step, metrics)`` receives the
    validation curve (e.g. dvclive). Returns the initialisation selected on the held-out
    episodes (``state_dict``, loads into ``build_autoencoder(kind, X.shape[1:], arch)``), the
    final one, and the validation numbers of the meta-learned and of the random initialisation.
    """
    dev = pick_device(device)
    seed_everything(seed)
    rng = np.random.default_rng(seed)
    Xt = torch.as_tensor(X, dtype=torch.float32, device=dev)
    Tt = torch.as_tensor(T, dtype=torch.float32, device=dev)
    fwd = AEForward(build_autoencoder(kind, tuple(X.shape[1:]), arch)).to(dev)
    train_idx, val_idx, how = heldout_split(y, cfg.k, cfg.val_frac, seed)
    sampler = EpisodeSampler(y, train_idx, cfg.k, cfg.n_per_class, cfg.n_train)
    val_sampler = EpisodeSampler(y, val_idx, cfg.k, cfg.n_per_class, cfg.n_train)

    def weights(idx):
        return heat_kernel_weights(Tt[idx], cfg.t)[0]

    val_rng = np.random.default_rng(seed + 10_000)
    episodes = []
    for _ in range(cfg.val_episodes):
        tr, te, ytr, yte = val_sampler.sample(val_rng)
        both = np.concatenate([tr, te])
        episodes.append((Xt[tr], weights(tr), Xt[both], np.concatenate([ytr, yte])))

    params = dict(fwd.named_parameters())
    random_init = evaluate_episodes(fwd, params, episodes, cfg, seed)
    history = [{"iter": 0, "meta_loss": None, **{f"val_{k}": v for k, v in random_init.items()}}]
    if log:
        log(0, history[0])
    best = (random_init["acc"], 0, ae_state(params))
    opt = torch.optim.Adam(fwd.parameters(), lr=cfg.meta_lr)
    losses = []
    bar = tqdm(range(1, cfg.meta_iters + 1), desc="meta", disable=None if progress else True,
               leave=False)
    for it in bar:
        tasks = []
        for _ in range(cfg.tasks_per_batch):
            tr, te, _, _ = sampler.sample(rng)
            tasks.append((Xt[tr], weights(tr), Xt[te], weights(te)))
        g, loss = meta_gradient(fwd, dict(fwd.named_parameters()), tasks, cfg)
        losses.append(loss)
        for name, p in fwd.named_parameters():
            p.grad = g[name]
        opt.step()
        if it % cfg.val_every == 0 or it == cfg.meta_iters:
            v = evaluate_episodes(fwd, dict(fwd.named_parameters()), episodes, cfg, seed)
            row = {"iter": it, "meta_loss": float(np.mean(losses)),
                   **{f"val_{k}": x for k, x in v.items()}}
            history.append(row)
            losses = []
            if log:
                log(it, row)
            if v["acc"] > best[0]:
                best = (v["acc"], it, ae_state(dict(fwd.named_parameters())))
            bar.set_postfix(val_acc=f"{v['acc']:.3f}")
    final = history[-1]
    return {"state_dict": best[2], "best_iter": best[1], "final_state_dict":
            ae_state(dict(fwd.named_parameters())), "history": history, "holdout": how,
            "n_meta_train": int(len(train_idx)), "n_val": int(len(val_idx)),
            "random_init": random_init,
            "selected": next(h for h in history if h["iter"] == best[1]),
            "final": final}
