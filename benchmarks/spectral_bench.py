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
Prints each time, the ratio, and the adjusted Rand index between the two labelings and of
each against the planted groups (1.0: the same labels up to permutation).

    python benchmarks/spectral_bench.py            # or: make bench-spectral
    python benchmarks/spectral_bench.py --n 3000 --k 5
"""
import argparse
import time

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import SpectralClustering
from sklearn.metrics import adjusted_rand_score

from sklearn.neighbors import kneighbors_graph

from deepsc.cluster import affinity_from_coef, spectral_clustering, threshold_columns


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


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--per-point", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    C, groups = planted_coef(args.n, args.k, args.per_point, args.seed)
    dense = affinity_from_coef(C).astype(np.float64)
    Ct = threshold_columns(C.astype(np.float64), 0.1)
    sparse = sp.csr_matrix(affinity_from_coef(Ct))
    del C, Ct
    rng = np.random.default_rng(args.seed + 1)
    bases = [np.linalg.qr(rng.standard_normal((50, 5)))[0] for _ in range(args.k)]
    X = np.stack([bases[g] @ rng.standard_normal(5) for g in groups]) + 0.01 * rng.standard_normal((args.n, 50))
    G = kneighbors_graph(X, n_neighbors=10, include_self=False)
    knn = sp.csr_matrix(0.5 * (G + G.T))
    print(f"spectral step, n = {args.n}, K = {args.k}: deepsc.cluster.spectral_clustering vs "
          f"sklearn SpectralClustering(affinity='precomputed', defaults), same affinity")
    print(f"{'affinity':>26} {'ours s':>8} {'sklearn s':>10} {'speed-up':>9} {'ARI ours/sk':>12} "
          f"{'ARI ours/truth':>15} {'ARI sk/truth':>13}")
    for name, A in (("dense 1/2(|C|+|C^T|)", dense),
                    (f"thresholded ({sparse.nnz / args.n:.0f} nnz/row)", sparse),
                    (f"10-NN graph ({knn.nnz / args.n:.0f} nnz/row)", knn)):
        ours, t_ours = timed(lambda: spectral_clustering(A, args.k, seed=args.seed))
        sk, t_sk = timed(lambda: SpectralClustering(n_clusters=args.k, affinity="precomputed",
                                                    random_state=args.seed).fit_predict(A))
        print(f"{name:>26} {t_ours:>8.2f} {t_sk:>10.2f} {t_sk / t_ours:>8.1f}x "
              f"{adjusted_rand_score(ours, sk):>12.3f} {adjusted_rand_score(groups, ours):>15.3f} "
              f"{adjusted_rand_score(groups, sk):>13.3f}", flush=True)


if __name__ == "__main__":
    main()
