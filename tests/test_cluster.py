import numpy as np
import pytest
import scipy.sparse as sp

from deepsc.cluster import (affinity_from_coef, cluster_coef, dscnet_postprocess,
                            kmeans_labels, spectral_clustering, spectral_knn_labels,
                            threshold_columns)
from deepsc.metrics import accuracy


def block_affinity(sizes, noise=0.01, seed=0):
    rng = np.random.default_rng(seed)
    n = sum(sizes)
    A = noise * rng.random((n, n))
    y = np.repeat(np.arange(len(sizes)), sizes)
    A[y[:, None] == y[None, :]] += 1.0
    return 0.5 * (A + A.T), y


def test_affinity_symmetric_abs():
    C = np.array([[0.0, -1.0], [3.0, 0.0]])
    np.testing.assert_allclose(affinity_from_coef(C), [[0, 2], [2, 0]])


def test_spectral_recovers_blocks_dense_and_sparse(monkeypatch):
    A, y = block_affinity([20, 30, 25])
    assert accuracy(y, spectral_clustering(A, 3)) == 1.0
    assert accuracy(y, spectral_clustering(sp.csr_matrix(A), 3)) == 1.0
    # the eigsh path used for large n gives the same answer
    import deepsc.cluster as c
    monkeypatch.setattr(c, "DENSE_EIGH_MAX_N", 10)
    assert accuracy(y, spectral_clustering(A, 3)) == 1.0


@pytest.mark.parametrize("postprocess", ["none", "dscnet", "dscnet_id"])
def test_a_zero_C_gives_one_cluster_with_a_warning_not_a_solver_error(monkeypatch, postprocess):
    import deepsc.cluster as c
    monkeypatch.setattr(c, "DENSE_EIGH_MAX_N", 10)   # the eigsh path, which fails on M = 0
    with pytest.warns(RuntimeWarning, match="all zeros"):
        labels = cluster_coef(np.zeros((40, 40)), 3, postprocess, d=2, alpha=2, rho=1.0)
    assert labels.shape == (40,) and not labels.any()
    with pytest.warns(RuntimeWarning, match="no edge"):
        assert not spectral_clustering(sp.csr_matrix((40, 40)), 3).any()
    A, y = block_affinity([20, 20])   # one edge is enough for the normal path
    assert accuracy(y, spectral_clustering(A, 2)) == 1.0


def test_too_many_clusters_is_a_clear_error():
    A, _ = block_affinity([3, 3])
    with pytest.raises(ValueError, match="n_clusters=7"):
        spectral_clustering(A, 7)


def test_threshold_columns_keeps_mass():
    C = np.array([[0.0, 5.0], [1.0, 0.0], [4.0, -5.0]])
    T = threshold_columns(C, 0.7)
    # column 0: |4| alone is 0.8 of the mass >= 0.7 -> keep only it
    np.testing.assert_allclose(T[:, 0], [0, 0, 4.0])
    # column 1: 5 is 0.5 < 0.7, so the next (-5) is kept too
    np.testing.assert_allclose(T[:, 1], [5.0, 0, -5.0])
    np.testing.assert_allclose(threshold_columns(C, 1.0), C)


def test_dscnet_postprocess_on_block_coefficients():
    A, y = block_affinity([15, 15, 15], noise=0.05)
    np.fill_diagonal(A, 0)
    L = dscnet_postprocess(A, 3, d=2, alpha=2, rho=0.9)
    assert L.shape == A.shape and np.allclose(L, L.T) and L.min() >= 0 and L.max() <= 1
    assert accuracy(y, cluster_coef(A, 3, "dscnet", d=2, alpha=2, rho=0.9)) == 1.0
    with pytest.raises(ValueError, match="post-processing"):
        cluster_coef(A, 3, "magic")


def test_reference_rows_on_separated_blobs():
    rng = np.random.default_rng(0)
    centers = np.eye(4)[:3] * 10
    X = np.vstack([c + rng.normal(size=(20, 4)) for c in centers])
    y = np.repeat(np.arange(3), 20)
    assert accuracy(y, kmeans_labels(X, 3, seed=0)) == 1.0
    assert accuracy(y, spectral_knn_labels(X, 3, seed=0, n_neighbors=5)) == 1.0


def direct_dscnet_id(C, k, d, alpha, rho):
    """DSC-Net's post-processing with the identity, written out directly (loops, full SVD)."""
    C = np.asarray(C, dtype=np.float64)
    n = len(C)
    T = np.zeros_like(C)
    for j in range(n):                     # per column: largest |c| until rho of the L1 mass
        order = np.argsort(-np.abs(C[:, j]))
        total, acc = np.abs(C[:, j]).sum(), 0.0
        for i in order:
            T[i, j] = C[i, j]
            acc += abs(C[i, j])
            if acc > rho * total:
                break
    S = 0.5 * (T + T.T)
    S = S - np.diag(np.diag(S)) + np.eye(n)
    r = d * k + 1
    U, s, _ = np.linalg.svd(S)
    U = U[:, :r] * np.sqrt(s[:r])
    U = U / np.linalg.norm(U, axis=1, keepdims=True)
    A = np.maximum(U @ U.T, 0) ** alpha
    A = A / A.max()
    return 0.5 * (A + A.T)


def test_dscnet_identity_variant_equals_direct_computation():
    rng = np.random.default_rng(1)
    A, y = block_affinity([8, 7, 9], noise=0.3, seed=1)
    C = A * rng.choice([-1.0, 1.0], size=A.shape)   # signed, non-symmetric, diagonal kept
    kw = dict(d=2, alpha=3.0, rho=0.6)
    got = dscnet_postprocess(C, 3, identity=True, **kw)
    np.testing.assert_allclose(got, direct_dscnet_id(C, 3, **kw), atol=1e-10)
    # it is a different post-processing from the plain one ...
    assert not np.allclose(got, dscnet_postprocess(C, 3, **kw), atol=1e-3)
    # ... reached by name with the same keyword arguments, labels from its affinity (the
    # library's own: its top eigenvalue is degenerate here, so an affinity equal only to
    # 1e-10 may give other labels on another CPU's BLAS)
    labels = cluster_coef(C, 3, "dscnet_id", seed=0, **kw)
    np.testing.assert_array_equal(labels, spectral_clustering(got, 3, 0))
    assert accuracy(y, cluster_coef(np.abs(A), 3, "dscnet_id", d=2, alpha=2, rho=0.9)) == 1.0
