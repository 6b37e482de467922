import numpy as np
import pytest


def union_of_subspaces(n_per=30, k=3, ambient=30, dim=3, seed=0):
    """Points on k independent random linear subspaces of dimension ``dim`` (rows = points)."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    bases = np.linalg.qr(rng.normal(size=(ambient, k * dim)))[0]  # orthonormal => independent
    for c in range(k):
        B = bases[:, c * dim:(c + 1) * dim]
        X.append(rng.normal(size=(n_per, dim)) @ B.T)
        y += [c] * n_per
    return np.vstack(X).astype(np.float64), np.array(y)


@pytest.fixture
def subspaces():
    return union_of_subspaces()
