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


E2E_FIRST = ("test_pipeline.py", "test_pipeline_data.py")


def pytest_collection_modifyitems(items):
    """The two end-to-end files (minutes each) first, in this order. Under `make test`
    (pytest-xdist, `-n 2 --dist loadfile --no-loadscope-reorder`) each then starts on its own
    worker at once, and the unit tests (about a minute in all) fill in behind them."""
    rank = {name: i for i, name in enumerate(E2E_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable within a file
