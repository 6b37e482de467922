"""The spectral step (``deepsc.cluster.spectral_clustering``) beside scikit-learn's default
``SpectralClustering(affinity='precomputed')`` on the same affinity, in the same run.

A separable case at the paper's size: n points in K groups, C block-diagonal (each point
expressed by random members of its own group, plus small dense noise across groups), as a
trained self-expression layer gives. Two affinities from it:
- dense: A = 1/2 (|C| + |C^T|), the paper's, as an n x n array;
- sparse, thresholded: the same after DSC-Net's per-column thresholding (params.yaml's
  rho = 0.1 of each column's L1 mass, ``deepsc.cluster.threshold_columns``), as CSR;
- sparse, k-NN: the symmetrised 10-NN graph of points drawn from K 5-dimensional subspaces
  of R^50 (the reference row's affinity, ``spectral_knn_labels``), as CSR.
The sparse graphs are where scikit-learn's default arpack shift-invert path (a sparse LU of
the Laplacian) is slowest.
and, when prepared (default: MNIST's 10,000 test images), the 10-NN graph of real features.
Then DSC-Net's post-processing of the planted C (``deepsc.cluster.dscnet_postprocess``: sort-based
thresholding, symmetric Lanczos on the sparse thresholded C) beside the straightforward version
written here (argsort thresholding, ``svds`` on the dense matrix, as the code had it before),
at ``--pp-n`` points: time, ratio, and the largest difference between the two affinities.
Prints each time, the ratio, and the adjusted Rand index between the two labelings and of
each against the planted groups (1.0: the same labels up to permutation).

    python benchmarks/spectral_bench.py            # or: make bench-spectral
    python benchmarks/spectral_bench.py --n 3000 --k 5
"""
import argparse
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import SpectralClustering
from sklearn.metrics import adjusted_rand_score

from sklearn.neighbors import kneighbors_graph

from scipy.sparse.linalg import svds
from sklearn.preprocessing import normalize

from deepsc.cluster import (affinity_from_coef, dscnet_postprocess, spectral_clustering,
                            threshold_columns)

ROOT = Path(__file__).resolve().parent.parent


def planted_coef(n: int, k: int, per_point: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    groups = rng.permutation(np.arange(n) % k)
    members = [np.flatnonzero(groups == g) for g in range(k)]
    C = (rng.standard_normal((n, n)) * 1e-4).astype(np.float32)   # weak dense noise
    for i in range(n):
        own = members[groups[i]]
        j = rng.choice(own[own != i], size=min(per_point, len(own) - 1), replace=False)
        C[j, i] += rng.uniform(0.2, 1.0, len(j)) * rng.choice([-1, 1], len(j))
    np.fill_diagonal(C, 0.0)
    return C, groups


def knn_affinity(X: np.ndarray) -> sp.csr_matrix:
    """The symmetrised 10-NN connectivity graph, as ``deepsc.cluster.spectral_knn_labels`` builds it."""
    G = kneighbors_graph(X.reshape(len(X), -1), n_neighbors=10, include_self=False)
    return sp.csr_matrix(0.5 * (G + G.T))


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def dscnet_postprocess_reference(C: np.ndarray, k: int, d: int, alpha: float, rho: float,
                                 seed: int = 0) -> np.ndarray:
    """DSC-Net's post-processing the plain way: argsort per column, svds on the dense matrix."""
    C = np.asarray(C, dtype=np.float64)
    absC = np.abs(C)
    order = np.argsort(-absC, axis=0)
    csum = np.cumsum(np.take_along_axis(absC, order, axis=0), axis=0)
    keep_sorted = np.concatenate([np.ones((1, C.shape[1]), bool), csum[:-1] < rho * csum[-1:]], 0)
    keep = np.zeros_like(keep_sorted)
    np.put_along_axis(keep, order, keep_sorted, axis=0)
    Cp = np.where(keep, C, 0.0)
    Cp = 0.5 * (Cp + Cp.T)
    n = len(C)
    U, S, _ = svds(Cp, k=min(d * k + 1, n - 1), v0=np.random.default_rng(seed).uniform(-1, 1, n))
    U = normalize(U * np.sqrt(S)[None, :])
    Z = np.maximum(U @ U.T, 0.0) ** alpha
    Z = Z / max(Z.max(), 1e-300)
    return 0.5 * (Z + Z.T)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--per-point", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--features", default="data/prepared/mnist10k/features.npz",
                    help="also time the 10-NN graph of these prepared features (skipped if absent)")
    ap.add_argument("--pp-n", type=int, default=5000,
                    help="size of the post-processing comparison (0: skip; the reference's dense "
                         "svds takes minutes at 10,000)")
    args = ap.parse_args()
    C, groups = planted_coef(args.n, args.k, args.per_point, args.seed)
    dense = affinity_from_coef(C).astype(np.float64)
    Ct = threshold_columns(C.astype(np.float64), 0.1)
    sparse = sp.csr_matrix(affinity_from_coef(Ct))
    del C, Ct
    rng = np.random.default_rng(args.seed + 1)
    bases = [np.linalg.qr(rng.standard_normal((50, 5)))[0] for _ in range(args.k)]
    X = np.stack([bases[g] @ rng.standard_normal(5) for g in groups]) + 0.01 * rng.standard_normal((args.n, 50))
    knn = knn_affinity(X)
    print(f"spectral step, n = {args.n}, K = {args.k}: deepsc.cluster.spectral_clustering vs "
          f"sklearn SpectralClustering(affinity='precomputed', defaults), same affinity")
    print(f"{'affinity':>26} {'ours s':>8} {'sklearn s':>10} {'speed-up':>9} {'ARI ours/sk':>12} "
          f"{'ARI ours/truth':>15} {'ARI sk/truth':>13}")
    cases = [("dense 1/2(|C|+|C^T|)", dense, groups),
             (f"thresholded ({sparse.nnz / args.n:.0f} nnz/row)", sparse, groups),
             (f"10-NN graph ({knn.nnz / args.n:.0f} nnz/row)", knn, groups)]
    feats = ROOT / args.features
    if feats.is_file():   # a real graph: the reference row's affinity on prepared features
        with np.load(feats) as f:
            Xr = f[f.files[0]]
        cases.append((f"10-NN of {feats.parent.name}", knn_affinity(Xr), None))
    for name, A, truth in cases:
        ours, t_ours = timed(lambda: spectral_clustering(A, args.k, seed=args.seed))
        sk, t_sk = timed(lambda: SpectralClustering(n_clusters=args.k, affinity="precomputed",
                                                    random_state=args.seed).fit_predict(A))
        vs_truth = ((f"{adjusted_rand_score(truth, ours):>15.3f} {adjusted_rand_score(truth, sk):>13.3f}")
                    if truth is not None else f"{'-':>15} {'-':>13}")
        print(f"{name:>26} {t_ours:>8.2f} {t_sk:>10.2f} {t_sk / t_ours:>8.1f}x "
              f"{adjusted_rand_score(ours, sk):>12.3f} {vs_truth}", flush=True)
    if args.pp_n:
        Cq, _ = planted_coef(args.pp_n, args.k, args.per_point, args.seed)
        pp = {"d": 9, "alpha": 8.0, "rho": 0.1}   # params.yaml cluster.dscnet
        ours, t_ours = timed(lambda: dscnet_postprocess(Cq, args.k, seed=args.seed, **pp))
        ref, t_ref = timed(lambda: dscnet_postprocess_reference(Cq, args.k, seed=args.seed, **pp))
        print(f"DSC-Net post-processing, n = {args.pp_n}: ours {t_ours:.2f} s, argsort + dense "
              f"svds {t_ref:.2f} s, {t_ref / t_ours:.1f}x; max |A_ours - A_ref| = "
              f"{np.abs(ours - ref).max():.1e}", flush=True)


if __name__ == "__main__":
    main()
