"""Classical baselines (SSC, EnSC, SSC-OMP, LRR): optimality conditions, clustering, API."""
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.preprocessing import normalize

import deepsc.baselines as bl
from deepsc.baselines import (METHODS, affinity, baseline_coef, baseline_labels, ensc_coef,
                              lrr_coef, ssc_coef, ssc_omp_coef)
from deepsc.metrics import accuracy


def random_points(n=30, d=10, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d))


def independent_subspaces(n_per=40, k=5, ambient=30, dim=4, seed=0):
    """k independent random dim-dimensional subspaces of R^ambient, noise-free, rows = points."""
    rng = np.random.default_rng(seed)
    bases = np.linalg.qr(rng.normal(size=(ambient, k * dim)))[0]
    X = np.vstack([rng.normal(size=(n_per, dim)) @ bases[:, c * dim:(c + 1) * dim].T
                   for c in range(k)])
    return X, np.repeat(np.arange(k), n_per)


def coherence(Xn):
    G = np.abs(Xn @ Xn.T)
    np.fill_diagonal(G, 0)
    return G.max(axis=1)  # mu_j = max_{i != j} |<x_i, x_j>|


def assert_enet_kkt(X, C, l1, l2, rtol=1e-4):
    """KKT of min 1/2||x_j - Xn^T c||^2 + l1[j] ||c||_1 + l2[j]/2 ||c||^2 (c_j = 0), per column."""
    Xn = normalize(X)
    C = C.toarray()
    assert np.all(np.diag(C) == 0)
    for j in range(len(X)):
        c = C[:, j]
        g = Xn @ (Xn[j] - Xn.T @ c) - l2[j] * c  # = l1 * subgradient of |c|
        others = np.arange(len(X)) != j
        act = (c != 0) & others
        ina = (c == 0) & others
        assert act.any()
        np.testing.assert_allclose(g[act], l1[j] * np.sign(c[act]), rtol=0, atol=rtol * l1[j])
        assert np.all(np.abs(g[ina]) <= l1[j] * (1 + rtol))


@pytest.mark.parametrize("n, support_size", [(30, 100), (150, 10)])
def test_ssc_lasso_kkt(n, support_size):
    # (150, 10): the active-set rounds are exercised (the working set starts at 10 atoms)
    X = random_points(n=n, d=10)
    alpha = 5.0
    C = ssc_coef(X, alpha=alpha, support_size=support_size, tol=1e-12, max_iter=100000)
    assert sp.issparse(C) and C.shape == (n, n)
    lam = coherence(normalize(X)) / alpha
    assert_enet_kkt(X, C, lam, np.zeros(n))


@pytest.mark.parametrize("n, support_size", [(30, 100), (150, 10)])
def test_ensc_elastic_net_kkt(n, support_size):
    X = random_points(n=n, d=10, seed=1)
    gamma, l1_ratio = 20.0, 0.7
    C = ensc_coef(X, gamma=gamma, l1_ratio=l1_ratio, support_size=support_size, tol=1e-12,
                  max_iter=100000)
    # docstring: min l1_ratio|c|_1 + (1-l1_ratio)/2 |c|^2 + g_j/2 |r|^2, g_j = gamma l1_ratio/mu_j
    # <=> gamma_j X_i^T r - (1-l1_ratio) c_i in l1_ratio d|c_i|; divide by gamma_j:
    g = gamma * l1_ratio / coherence(normalize(X))
    assert_enet_kkt(X, C, l1_ratio / g, (1 - l1_ratio) / g)


def test_ensc_with_l1_ratio_one_is_ssc():
    X = random_points(seed=2)
    np.testing.assert_allclose(ensc_coef(X, gamma=8.0, l1_ratio=1.0, tol=1e-12).toarray(),
                               ssc_coef(X, alpha=8.0, tol=1e-12).toarray(), atol=1e-8)


def test_omp_support_and_least_squares():
    X = random_points(n=40, d=12, seed=3)
    C = ssc_omp_coef(X, n_nonzero=4, tol=0.0).toarray()
    Xn = normalize(X)
    assert np.all(np.diag(C) == 0)
    for j in range(len(X)):
        S = np.flatnonzero(C[:, j])
        assert 1 <= len(S) <= 4 and j not in S
        ls = np.linalg.lstsq(Xn[S].T, Xn[j], rcond=None)[0]
        np.testing.assert_allclose(C[S, j], ls, atol=1e-10)
        r = Xn[j] - Xn[S].T @ C[S, j]
        np.testing.assert_allclose(Xn[S] @ r, 0, atol=1e-10)  # residual orthogonal to atoms
    # the first atom is the most coherent other point
    G = np.abs(Xn @ Xn.T)
    np.fill_diagonal(G, -1)
    assert np.all(C[G.argmax(axis=1), np.arange(len(X))] != 0)


def test_omp_stops_when_residual_vanishes():
    X, _ = independent_subspaces(n_per=20, k=3, dim=3)
    C = ssc_omp_coef(X, n_nonzero=10, tol=1e-6)
    nnz = np.diff(C.tocsc().indptr)
    assert nnz.max() <= 3  # a point of a 3-dim subspace is spanned by 3 others


def test_lrr_alm_constraint_and_closed_form():
    X, _ = independent_subspaces(n_per=20, k=3, ambient=20, dim=3)
    X = X + 0.01 * np.random.default_rng(1).normal(size=X.shape)  # full rank, noisy
    Xn = normalize(X)
    C, E = lrr_coef(X, lam=0.5, zero_diag=False, return_noise=True)
    assert isinstance(C, np.ndarray) and C.shape == (60, 60) and E.shape == Xn.shape
    np.testing.assert_allclose(C.T @ Xn + E, Xn, atol=1e-6)  # D = DC + E, D = Xn^T
    assert np.linalg.norm(E) > 1e-3  # lam = 0.5 does use the noise term here
    Cz = lrr_coef(X, lam=0.5)
    assert np.all(np.diag(Cz) == 0)
    np.testing.assert_allclose(Cz, C - np.diag(np.diag(C)), atol=1e-12)


def test_lrr_noise_free_closed_form_and_large_lambda():
    X, _ = independent_subspaces(n_per=15, k=3, ambient=20, dim=3)
    Xn = normalize(X)
    D = Xn.T
    VVt = np.linalg.pinv(D) @ D  # = V_r V_r^T of the skinny SVD of D
    Ccf = lrr_coef(X, solver="closed_form", zero_diag=False)
    np.testing.assert_allclose(Ccf, VVt, atol=1e-10)
    Calm = lrr_coef(X, lam=1e3, zero_diag=False)
    np.testing.assert_allclose(Calm, VVt, atol=1e-4)
    for solver in ("alm", "closed_form"):
        assert np.all(np.diag(lrr_coef(X, solver=solver)) == 0)


def test_every_baseline_clusters_independent_subspaces():
    X, y = independent_subspaces(n_per=40, k=5, ambient=30, dim=4)
    for method in METHODS:
        labels = baseline_labels(method, X, 5, seeds=[0, 1])
        assert sorted(labels) == [0, 1]
        for seed, lab in labels.items():
            assert accuracy(y, lab) == 1.0, (method, seed)


def test_affinity_stays_sparse_and_images_are_flattened():
    X, _ = independent_subspaces(n_per=10, k=2, ambient=16, dim=2)
    C = baseline_coef("ssc_omp", X.reshape(20, 4, 4), n_nonzero=2)
    A = affinity(C)
    assert sp.issparse(A)
    np.testing.assert_allclose(A.toarray(), np.abs(C.toarray()) + np.abs(C.toarray()).T)
    np.testing.assert_allclose(C.toarray(), baseline_coef("ssc_omp", X, n_nonzero=2).toarray())


def test_n_jobs_gives_identical_coefficients(monkeypatch):
    monkeypatch.setattr(bl, "CHUNK_SIZE", 16)  # 4 chunks for 60 points
    X, _ = independent_subspaces(n_per=20, k=3, ambient=20, dim=3)
    X = X + 0.01 * np.random.default_rng(0).normal(size=X.shape)
    for method, kw in [("ssc", {}), ("ensc", {}), ("ssc_omp", {})]:
        C1 = baseline_coef(method, X, n_jobs=1, **kw)
        C2 = baseline_coef(method, X, n_jobs=2, **kw)
        assert (C1 != C2).nnz == 0, method
        assert C1.nnz > 0


@pytest.mark.parametrize("func, kwargs, name", [
    (ssc_coef, {"alpha": -1.0}, "alpha"),
    (ssc_coef, {"alpha": 1.0}, "alpha"),
    (ssc_coef, {"n_jobs": 0}, "n_jobs"),
    (ssc_coef, {"support_size": 0}, "support_size"),
    (ensc_coef, {"l1_ratio": 0.0}, "l1_ratio"),
    (ensc_coef, {"l1_ratio": 1.5}, "l1_ratio"),
    (ensc_coef, {"gamma": -3.0}, "gamma"),
    (ssc_omp_coef, {"n_nonzero": 0}, "n_nonzero"),
    (ssc_omp_coef, {"n_nonzero": 30}, "n_nonzero"),
    (ssc_omp_coef, {"n_nonzero": 2.5}, "n_nonzero"),
    (ssc_omp_coef, {"tol": -1e-3}, "tol"),
    (lrr_coef, {"lam": -1.0}, "lam"),
    (lrr_coef, {"solver": "admm"}, "solver"),
    (lrr_coef, {"rho": 1.0}, "rho"),
])
def test_invalid_parameters_name_the_argument(func, kwargs, name):
    with pytest.raises(ValueError, match=name):
        func(random_points(), **kwargs)


def test_unknown_method_lists_the_valid_ones():
    X = random_points()
    for call in (lambda: baseline_coef("kmeans", X), lambda: baseline_labels("kmeans", X, 2)):
        with pytest.raises(ValueError, match="kmeans") as err:
            call()
        for m in ("ssc", "ensc", "ssc_omp", "lrr"):
            assert repr(m) in str(err.value)
    with pytest.raises(ValueError, match="n_clusters"):
        baseline_labels("ssc_omp", X, 40)


def test_l2norm_affinity_is_chongyous_column_normalisation():
    C = np.array([[0.0, 3.0, 0.0],
                  [4.0, 0.0, 0.0],
                  [-3.0, 4.0, 0.0]])  # column j: the coefficients of point j; column 2 is zero
    # worked out by hand: columns scaled to unit norm (1/5, 1/5, zero stays zero), then |C|+|C|^T
    Cn = np.array([[0.0, 0.6, 0.0], [0.8, 0.0, 0.0], [-0.6, 0.8, 0.0]])
    expected = np.abs(Cn) + np.abs(Cn).T
    assert np.allclose(affinity(C, "l2norm"), expected)
    assert np.allclose(affinity(sp.csc_matrix(C), "l2norm").toarray(), expected)
    assert np.allclose(affinity(C, "none"), np.abs(C) + np.abs(C).T)
    # invariant to rescaling each point's coefficients; "none" is not
    D = C * np.array([10.0, 0.1, 1.0])
    assert np.allclose(affinity(D, "l2norm"), expected)
    assert not np.allclose(affinity(D, "none"), affinity(C, "none"))
    with pytest.raises(ValueError, match="baselines.affinity"):
        affinity(C, "cosine")


def test_labels_by_affinity_share_one_c_and_match_the_single_affinity_call():
    from conftest import union_of_subspaces
    from deepsc.baselines import baseline_labels_by_affinity
    # dim 3: every subspace's OMP graph is connected (at dim 2 it splits into 5 components, the
    # top-3 eigenspace of the affinity is degenerate and the labels depend on the CPU's BLAS)
    X, y = union_of_subspaces(n_per=20, k=3, ambient=20, dim=3)
    both = baseline_labels_by_affinity("ssc_omp", X, 3, seeds=(0, 1), affinities=("none", "l2norm"))
    assert set(both) == {"none", "l2norm"} and set(both["none"]) == {0, 1}
    assert all(np.array_equal(both["none"][s], baseline_labels("ssc_omp", X, 3, (0, 1))[s])
               for s in (0, 1))
    assert accuracy(y, both["l2norm"][0]) == 1.0
