"""Label-free choice of LRSC's target-side weights (mu, gamma): a sweep on proxy targets.

The paper gives no values for mu, gamma (eq. 9) and a target's labels may never choose them.
A *proxy target* is drawn from the part of the external data that Algorithm 1 held out for
validation (``meta.heldout_split``: whole classes where there are enough, else held-out
samples), with the target's number of clusters K and number of points n, and its own
out-of-fold teacher features. It goes through Algorithm 2 exactly as the target does; its
clustering is scored against the *external* labels. Several draws (different points, and
different classes where more than K are held out) and several seeds per draw; a setting's
score is the mean over draws and seeds.

Two label-free internal criteria are reported beside proxy ACC, to see how well each tracks
it (Spearman's rho over the settings): the eigengap of the normalised affinity
1/2(|C| + |C^T|) at K (large = K well-separated groups) and the relative self-expression
residual ||Z - ZC||_F^2 / ||Z||_F^2 (small = Z is well expressed by C).
"""
from __future__ import annotations

import itertools

import numpy as np
import scipy.linalg
from scipy.stats import spearmanr

from .cluster import affinity_from_coef, cluster_coef
from .finetune import collapse_warning, finetune, pretrain
from .meta import heldout_split
from .metrics import knn_agreement, scores


def draw_proxy(y: np.ndarray, k: int, n: int, *, val_frac: float, split_seed: int, draw: int):
    """Indices of a proxy target in the held-out external data: K held-out classes (drawn
    with ``draw`` when more than K are held out) and n // K points of each (fewer where a class
    has fewer). Returns (indices, proxy labels 0..K-1, 'classes' | 'samples')."""
    _, val, how = heldout_split(y, k, val_frac, split_seed)
    rng = np.random.default_rng(draw)
    pool = np.unique(y[val])
    if len(pool) < k:
        raise ValueError(f"the held-out external data has {len(pool)} classes, the target {k}: "
                         f"raise meta.val_frac")
    classes = np.sort(rng.choice(pool, k, replace=False))
    per = max(n // k, 1)
    idx = np.concatenate([rng.choice(val[y[val] == c], min(per, int((y[val] == c).sum())),
                                     replace=False) for c in classes])
    return idx, np.searchsorted(classes, y[idx]), how


def eigengap(C: np.ndarray, k: int) -> float:
    """lambda_K - lambda_{K+1} of D^-1/2 A D^-1/2, A = 1/2(|C| + |C^T|) (descending order)."""
    A = affinity_from_coef(C)
    d = 1.0 / np.sqrt(np.maximum(A.sum(1), 1e-12))
    n = len(A)
    ev = scipy.linalg.eigh(A * d[:, None] * d[None, :], eigvals_only=True,
                           subset_by_index=[max(n - k - 1, 0), n - 1])[::-1]
    return float(ev[k - 1] - ev[k]) if len(ev) > k else float("nan")


def residual_ratio(z: np.ndarray, C: np.ndarray) -> float:
    """||Z - ZC||_F^2 / ||Z||_F^2 with rows of ``z`` as points (ZC = C^T z)."""
    z = z.reshape(len(z), -1).astype(np.float64)
    return float(((z - C.T.astype(np.float64) @ z) ** 2).sum() / max((z ** 2).sum(), 1e-300))


def last_rms(curve: list[dict]) -> float | None:
    """The rms of the latent codes at the last logged K2 step (the collapse monitor's figure)."""
    rows = [r for r in curve if r.get("phase") == "finetune" and "z_rms" in r]
    return float(rows[-1]["z_rms"]) if rows else None


def sweep(X: np.ndarray, y: np.ndarray, T: np.ndarray, kind: str, *, k: int, n: int,
          grid: dict, draws, seeds, init_state: dict | None, val_frac: float, split_seed: int,
          pretrain_kw: dict, finetune_kw: dict, log=print) -> dict:
    """Run every setting of ``grid`` ({'mu': [...], 'gamma': [...]}, optionally 'distill': the
    forms of eq. (4), ``losses.DISTILLS``, in K1 and K2) on every proxy draw and seed; K1 is
    shared by the settings with the same mu (and form). Returns {'rows': [...], 'best': ...}
    with per-run ACC / NMI / ARI (against the external labels) and the internal criteria, and
    'knowledge': per draw, the k-NN(10) label agreement of the proxy's features and teacher."""
    names = list(grid)
    settings = [dict(zip(names, vals)) for vals in itertools.product(*(grid[k_] for k_ in names))]
    if "distill" in grid:   # at mu = 0 the form of eq. (4) does not matter: run it once
        settings = [s for s in settings
                    if float(s.get("mu", 0.0)) or s["distill"] == grid["distill"][0]]
    runs, knowledge = [], []
    for draw in draws:
        idx, yp, how = draw_proxy(y, k, n, val_frac=val_frac, split_seed=split_seed, draw=draw)
        Xp, Tp = X[idx], T[idx]
        knowledge.append({"draw": draw, "features_knn10": knn_agreement(Xp, yp),
                          "teacher_knn10": knn_agreement(Tp, yp)})
        for seed in seeds:
            pre_by_mu = {}
            for s in settings:
                mu, gamma = float(s.get("mu", 0.0)), float(s.get("gamma", 0.0))
                form = {"distill": s["distill"]} if "distill" in s else {}
                key = (mu, s.get("distill") if mu else None)
                if key not in pre_by_mu:
                    pre_by_mu[key] = pretrain(Xp, kind, seed=seed, init_state=init_state,
                                              T=Tp if mu else None, mu=mu, progress=False,
                                              **{**pretrain_kw, **form})["state_dict"]
                res = finetune(Xp, kind, state_dict=pre_by_mu[key], seed=seed,
                               T=Tp if mu else None, mu=mu, gamma=gamma, progress=False,
                               **{**finetune_kw, **form})
                sc = scores(yp, cluster_coef(res["C"], k, "none", seed=seed))
                run = {**s, "draw": draw, "seed": seed, "heldout": how, "n": int(len(idx)), **sc,
                       "eigengap": eigengap(res["C"], k), "residual": residual_ratio(res["z"], res["C"]),
                       "z_rms": last_rms(res["curve"]), "collapse": collapse_warning(res["curve"])}
                runs.append(run)
                log(" ".join(f"{key}={val:.4g}" if isinstance(val, float) else f"{key}={val}"
                             for key, val in run.items()))
    table = []
    for s in settings:
        mine = [r for r in runs if all(r[key] == val for key, val in s.items())]
        accs = [r["acc"] for r in mine]
        table.append({**s, "acc_mean": float(np.mean(accs)), "acc_std": float(np.std(accs)),
                      "nmi_mean": float(np.mean([r["nmi"] for r in mine])),
                      "acc_per_run": accs,
                      "eigengap_mean": float(np.mean([r["eigengap"] for r in mine])),
                      "residual_mean": float(np.mean([r["residual"] for r in mine])),
                      "collapsed_runs": sum(bool(r["collapse"]) for r in mine)})
    best = max(table, key=lambda r: r["acc_mean"])
    tracking = {}
    if len(runs) > 2:
        for crit, sign in (("eigengap", 1), ("residual", -1)):
            rho = spearmanr([r["acc"] for r in runs], [sign * r[crit] for r in runs]).statistic
            tracking[crit] = None if np.isnan(rho) else float(rho)
    return {"settings": table, "runs": runs, "best": {key: best[key] for key in names},
            "criteria_spearman_with_acc": tracking, "knowledge": knowledge}
