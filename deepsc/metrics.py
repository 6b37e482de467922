"""Clustering metrics: ACC with Hungarian matching, NMI, ARI, and mean +- std over seeds."""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix


def accuracy(y_true, y_pred) -> float:
    """Best one-to-one matching of predicted clusters to classes (Hungarian algorithm)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"label arrays differ in shape: {y_true.shape} vs {y_pred.shape}")
    cont = contingency_matrix(y_true, y_pred)
    rows, cols = linear_sum_assignment(cont, maximize=True)
    return float(cont[rows, cols].sum() / y_true.size)


def scores(y_true, y_pred) -> dict:
    return {
        "acc": accuracy(y_true, y_pred),
        "nmi": float(normalized_mutual_info_score(y_true, y_pred)),
        "ari": float(adjusted_rand_score(y_true, y_pred)),
    }


def summarize(per_seed: list[dict]) -> dict:
    """Mean and (population) std of each metric over seeds, plus the per-seed values."""
    out = {}
    for key in ("acc", "nmi", "ari"):
        vals = np.array([s[key] for s in per_seed], dtype=float)
        out[key] = round(float(vals.mean()), 4)
        out[f"{key}_std"] = round(float(vals.std()), 4)
        out[f"{key}_per_seed"] = [round(float(v), 4) for v in vals]
    return out


def knn_agreement(F: np.ndarray, y, k: int = 10) -> float:
    """Share of each point's k nearest neighbours (cosine, i.e. Euclidean on L2-normalised
    rows) that carry its label: how well a feature space's local geometry, which W of eq. (5)
    and the self-expression both rely on, matches the classes. Rows of ``F`` are points."""
    from sklearn.neighbors import NearestNeighbors
    from sklearn.preprocessing import normalize

    y = np.asarray(y)
    F = normalize(np.asarray(F, dtype=np.float64).reshape(len(F), -1))
    k = min(k, len(F) - 1)
    if k < 1:
        raise ValueError("knn_agreement needs at least two points")
    _, idx = NearestNeighbors(n_neighbors=k + 1).fit(F).kneighbors(F)
    return float((y[idx[:, 1:]] == y[:, None]).mean())
