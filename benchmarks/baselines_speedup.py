"""Wall time of the classical baselines (deepsc.baselines) with n_jobs=1 and n_jobs=2.

Data: a synthetic union of ``--k`` random ``--subdim``-dimensional linear subspaces of R^dim,
``n`` points in total (rows), plus Gaussian noise of relative size ``--noise``. Only the
coefficient computation is timed (the spectral clustering that follows is the same code for
every method). Example::

    .venv/bin/python benchmarks/baselines_speedup.py                    # n=2000, all methods
    .venv/bin/python benchmarks/baselines_speedup.py --n 10000 --methods ssc_omp lrr --jobs 2
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from deepsc.baselines import CHUNK_SIZE, METHODS, baseline_coef


def union_of_subspaces(n: int, dim: int, k: int, subdim: int, noise: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    X = np.empty((n, dim))
    for c in range(k):
        B = np.linalg.qr(rng.normal(size=(dim, subdim)))[0]
        idx = np.flatnonzero(y == c)
        X[idx] = rng.normal(size=(len(idx), subdim)) @ B.T
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    X += noise / np.sqrt(dim) * rng.normal(size=X.shape)
    return X, y


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=2000, help="number of points (default 2000)")
    p.add_argument("--dim", type=int, default=1024, help="ambient dimension (default 1024)")
    p.add_argument("--k", type=int, default=10, help="number of subspaces (default 10)")
    p.add_argument("--subdim", type=int, default=8, help="subspace dimension (default 8)")
    p.add_argument("--noise", type=float, default=0.05, help="relative noise (default 0.05)")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--jobs", nargs="+", type=int, default=[1, 2],
                   help="n_jobs values to time (default 1 2); the ratio is first/last")
    a = p.parse_args(argv)

    X, y = union_of_subspaces(a.n, a.dim, a.k, a.subdim, a.noise)
    print(f"union of {a.k} subspaces of dim {a.subdim} in R^{a.dim}, n={a.n}, noise={a.noise}")
    head = f"{'method':<9}" + "".join(f"{'n_jobs=' + str(j) + ' [s]':>15}" for j in a.jobs)
    if len(a.jobs) > 1:
        head += f"{'speed-up':>10}"
    print(head + f"{'nnz/col':>9}")
    if max(a.jobs) > 1:  # start the worker processes outside the timings
        baseline_coef("ssc_omp", X[:2 * CHUNK_SIZE + 1], n_jobs=max(a.jobs))
    for m in a.methods:
        # LRR is one BLAS-threaded matrix iteration: n_jobs does not apply, time it once
        jobs = a.jobs[:1] if m == "lrr" else a.jobs
        times, C = [], None
        for j in jobs:
            t0 = time.perf_counter()
            C = baseline_coef(m, X, n_jobs=j)
            times.append(time.perf_counter() - t0)
        nnz = C.nnz if hasattr(C, "nnz") else np.count_nonzero(C)
        cells = [f"{t:>15.1f}" for t in times] + [f"{'-':>15}"] * (len(a.jobs) - len(times))
        row = f"{m:<9}" + "".join(cells)
        if len(a.jobs) > 1:
            row += f"{times[0] / times[-1]:>10.2f}" if len(times) > 1 else f"{'-':>10}"
        print(row + f"{nnz / a.n:>9.1f}", flush=True)
    if "lrr" in a.methods:
        print("lrr: single process, BLAS threads (n_jobs does not apply); dense C")


if __name__ == "__main__":
    main()
