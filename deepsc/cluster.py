"""From a coefficient matrix C to cluster labels.

- ``affinity_from_coef``: A = 1/2 (|C| + |C^T|), the affinity of LRSC/DSC-Net.
- ``dscnet_postprocess``: DSC-Net's "post_proC" (REFERENCE.md section 4): per-column
  thresholding at rho of the L1 mass, symmetrisation, rank r = d*K + 1 SVD (as the leading
  eigenvectors of the symmetric, usually sparse matrix), row-normalised
  scaled singular vectors, A = max(U U^T, 0)^alpha. With ``identity=True`` (post-processing
  "dscnet_id", the variant DSC-Net's code uses for some datasets) the symmetrised C becomes
  C - diag(C) + I before the SVD.
- ``spectral_clustering``: Ng-Jordan-Weiss on the normalised affinity D^-1/2 A D^-1/2, with a
  direct eigen-solver (dense ``eigh`` for small n, ``eigsh`` otherwise) and k-means on the
  row-normalised eigenvectors. scikit-learn's default arpack shift-invert path is 100-300x
  slower on this kind of CPU, so it is not used.
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.sparse.linalg import eigsh
from sklearn.cluster import KMeans
from sklearn.neighbors import kneighbors_graph
from sklearn.preprocessing import normalize

DENSE_EIGH_MAX_N = 3000
SPARSE_MAX_DENSITY = 0.1   # dscnet_postprocess: a thresholded C this sparse goes to CSR


def _check_k(n: int, k: int) -> None:
    if not 1 <= k <= n:
        raise ValueError(f"n_clusters={k} must be between 1 and the number of points ({n})")


def affinity_from_coef(C: np.ndarray) -> np.ndarray:
    """A = 1/2 (|C| + |C|^T) (LRSC, text after eq. 9)."""
    A = np.abs(C)
    return 0.5 * (A + A.T)


def threshold_columns(C: np.ndarray, rho: float) -> np.ndarray:
    """Keep, per column, the largest |c| until their sum reaches rho times the column's L1 norm
    (every entry as large as the last one kept: ties at the threshold are all kept).

    One sort per column (of the rows of C^T, contiguous), not an argsort and two scatters:
    column j keeps its m_j largest magnitudes, m_j = 1 + #{i < n - 1: s_1 + ... + s_i <
    rho * total}, i.e. the entries with |c| >= its m_j-th largest."""
    if not 0 < rho <= 1:
        raise ValueError(f"rho must be in (0, 1], got {rho}")
    if rho == 1:
        return C
    absC = np.abs(C)
    desc = -np.sort(-absC.T, axis=1)   # row j: column j's magnitudes, largest first
    csum = np.cumsum(desc, axis=1)
    m = 1 + np.count_nonzero(csum[:, :-1] < rho * csum[:, -1:], axis=1)
    tau = desc[np.arange(len(m)), m - 1]
    return np.where(absC >= tau[None, :], C, 0.0)


def dscnet_postprocess(C: np.ndarray, n_clusters: int, d: int, alpha: float, rho: float,
                       seed: int = 0, identity: bool = False) -> np.ndarray:
    """DSC-Net's post-processing of C into an affinity (see module docstring); ``identity``:
    replace the diagonal of the thresholded, symmetrised C by ones (C - diag(C) + I)."""
    n = C.shape[0]
    _check_k(n, n_clusters)
    Cp = threshold_columns(np.asarray(C, dtype=np.float64), rho)
    Cp = 0.5 * (Cp + Cp.T)
    if identity:
        np.fill_diagonal(Cp, 1.0)  # C - diag(C) + I
    r = min(d * n_clusters + 1, n - 1)
    v0 = np.random.default_rng(seed).uniform(-1, 1, n)
    # Cp is symmetric: its r leading singular vectors are its eigenvectors of largest
    # |eigenvalue| (singular values = |eigenvalues|; U U^T below is blind to their signs), found
    # by symmetric Lanczos with one product per iteration where svds takes two, on a CSR copy
    # when the thresholding left Cp sparse (rho = 0.1 keeps about 0.1-1 % of the entries): at
    # n = 10,000 seconds instead of minutes
    M = sp.csr_matrix(Cp) if np.count_nonzero(Cp) <= SPARSE_MAX_DENSITY * Cp.size else Cp
    w, U = eigsh(M, k=r, which="LM", v0=v0)
    S = np.abs(w)
    U = U * np.sqrt(S)[None, :]
    U = normalize(U)
    Z = U @ U.T
    Z = np.maximum(Z, 0.0) ** alpha
    Z = Z / max(Z.max(), 1e-300)
    return 0.5 * (Z + Z.T)


def spectral_embedding(A, k: int, seed: int = 0) -> np.ndarray:
    """Top-k eigenvectors of D^-1/2 A D^-1/2 (rows normalised), A dense or sparse, symmetric."""
    n = A.shape[0]
    _check_k(n, k)
    deg = np.asarray(A.sum(axis=1)).ravel()
    dinv = 1.0 / np.sqrt(np.maximum(deg, 1e-12))
    if sp.issparse(A):
        M = sp.diags(dinv) @ A @ sp.diags(dinv)
    else:
        M = (A * dinv[:, None]) * dinv[None, :]
    if n <= DENSE_EIGH_MAX_N:
        Md = M.toarray() if sp.issparse(M) else M
        _, V = scipy.linalg.eigh(Md, subset_by_index=[n - k, n - 1])
    else:
        v0 = np.random.default_rng(seed).uniform(-1, 1, n)
        _, V = eigsh(M, k=k, which="LA", v0=v0, tol=1e-6)
    return normalize(V)


def _one_cluster(n: int, why: str) -> np.ndarray:
    warnings.warn(f"{why}: every point is put in one cluster", RuntimeWarning, stacklevel=3)
    return np.zeros(n, dtype=int)


def spectral_clustering(A, k: int, seed: int = 0, n_init: int = 10) -> np.ndarray:
    """Ng-Jordan-Weiss spectral clustering of a precomputed affinity. An affinity with no edge
    at all (e.g. from C = 0, a collapsed latent) carries no grouping: every point goes to
    cluster 0, with a warning, where the eigensolver would fail on it."""
    return spectral_clustering_seeds(A, k, [seed], n_init)[seed]


def spectral_clustering_seeds(A, k: int, seeds, n_init: int = 10) -> dict:
    """``{seed: spectral_clustering(A, k, seed)}`` with the spectral embedding computed once: it
    is a function of A alone (the seed only draws the eigensolver's start vector, here the
    first seed's; it converges to the same subspace, and k-means on the row-normalised
    eigenvectors is invariant to a rotation of them), so only k-means runs per seed. The
    first seed's labels are ``spectral_clustering``'s."""
    seeds = list(seeds)
    if not seeds:
        return {}
    if (A.count_nonzero() if sp.issparse(A) else np.count_nonzero(A)) == 0:   # no n x n copy
        labels = _one_cluster(A.shape[0], "the affinity has no edge")
        return {s: labels for s in seeds}
    V = spectral_embedding(A, k, seeds[0])
    return {s: KMeans(n_clusters=k, n_init=n_init, random_state=s).fit_predict(V) for s in seeds}


def _coef_affinity(C: np.ndarray, k: int, postprocess: str, seed: int, **pp):
    """The affinity of C under the named post-processing; None when C is all zeros."""
    if postprocess in ("none", "dscnet", "dscnet_id") and not np.any(C):
        return None
    if postprocess == "none":
        return affinity_from_coef(C)
    if postprocess in ("dscnet", "dscnet_id"):
        return dscnet_postprocess(C, k, d=int(pp["d"]), alpha=float(pp["alpha"]), rho=float(pp["rho"]),
                                  seed=seed, identity=postprocess == "dscnet_id")
    raise ValueError(f"unknown post-processing {postprocess!r}; use 'none', 'dscnet' or "
                     f"'dscnet_id'")


def cluster_coef(C: np.ndarray, k: int, postprocess: str, seed: int = 0, **pp) -> np.ndarray:
    """Labels from C with the named post-processing: 'none' (plain 1/2(|C|+|C^T|)), 'dscnet'
    or 'dscnet_id' (DSC-Net's with C - diag(C) + I before the SVD; the same rho, d, alpha)."""
    return cluster_coef_seeds(C, k, postprocess, [seed], **pp)[seed]


def cluster_coef_seeds(C: np.ndarray, k: int, postprocess: str, seeds, **pp) -> dict:
    """``{seed: cluster_coef(C, k, postprocess, seed)}`` for one C and several seeds: the
    affinity (its eigensolver started from the first seed's vector) and its spectral embedding
    are computed once, k-means runs per seed (``spectral_clustering_seeds``)."""
    seeds = list(seeds)
    if not seeds:
        return {}
    A = _coef_affinity(C, k, postprocess, seeds[0], **pp)
    if A is None:
        labels = _one_cluster(len(C), "C is all zeros (a collapsed latent?)")
        return {s: labels for s in seeds}
    return spectral_clustering_seeds(A, k, seeds)


# --- the two reference rows on the raw prepared features ---------------------------------

def kmeans_labels(X: np.ndarray, k: int, seed: int, n_init: int = 10) -> np.ndarray:
    _check_k(len(X), k)
    return KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(X.reshape(len(X), -1))


def spectral_knn_labels(X: np.ndarray, k: int, seed: int, n_neighbors: int = 10) -> np.ndarray:
    """Spectral clustering of the symmetrised k-NN connectivity graph of the features."""
    X = X.reshape(len(X), -1)
    G = kneighbors_graph(X, n_neighbors=min(n_neighbors, len(X) - 1), include_self=False)
    A = 0.5 * (G + G.T)
    return spectral_clustering(sp.csr_matrix(A), k, seed)
