"""Classical self-expressive subspace-clustering baselines: SSC, EnSC, SSC-OMP and LRR.

Every method computes a coefficient matrix C and clusters the affinity A = |C| + |C|^T with
``deepsc.cluster.spectral_clustering`` (Ng-Jordan-Weiss; only its k-means initialisation
depends on the seed, so C is computed once for all seeds).

Conventions
-----------
* ``X`` is (n, d) with one point per ROW (images are flattened with ``X.reshape(n, -1)``).
* ``C`` is (n, n) and column j holds the coefficients that express point j:
  x_j ~ sum_i C[i, j] x_i, i.e. X^T ~ X^T C (the paper's D = D C with D = X^T, d x n).
* diag(C) = 0 for every method (SSC, EnSC and SSC-OMP exclude point j from its own dictionary;
  LRR does not constrain the diagonal, see below).
* Preprocessing: every solver L2-normalises the rows of X first (standard for SSC, EnSC and
  SSC-OMP, where it makes the regularisation scale-free; also done for LRR so that ``lam``
  means the same for every data set). All formulas and optimality conditions below refer to
  the normalised points, written x_j again.
* SSC, EnSC and SSC-OMP return ``scipy.sparse`` CSC matrices; LRR returns a dense ndarray.

Methods
-------
SSC (Elhamifar & Vidal, "Sparse subspace clustering: algorithm, theory, and applications",
TPAMI 2013), Lasso form, per point j::

    min_c 1/2 ||x_j - sum_{i != j} c_i x_i||^2 + lam_j ||c||_1,   lam_j = mu_j / alpha,
    mu_j = max_{i != j} |<x_i, x_j>|.

mu_j is the smallest lam giving c = 0, so alpha > 1 is required; alpha = 20 is the value of
Elhamifar's SSC code, which puts lambda = alpha / mu on the data term with one global
mu = min_j mu_j; here mu_j is per point, as in ChongYou's code (``gamma_nz=True``).

EnSC (You, Li, Robinson & Vidal, "Oracle based active set algorithm for scalable elastic net
subspace clustering", CVPR 2016), per point j::

    min_c l1_ratio ||c||_1 + (1 - l1_ratio)/2 ||c||^2 + gamma_j/2 ||x_j - sum_{i != j} c_i x_i||^2

with ChongYou's ``gamma_nz=True`` convention (his ``subspace-clustering`` package):
gamma_j = gamma * gamma0_j, where gamma0_j = l1_ratio / mu_j is the largest value for which
the solution is 0 (Prop. 1 of the paper), so gamma > 1. Defaults gamma = 50 (the package
default) and l1_ratio (the paper's lambda, ChongYou's tau) = 0.9 (the value of the package's
MNIST example). With l1_ratio = 1 EnSC is exactly SSC with alpha = gamma.

SSC and EnSC are solved per point with scikit-learn's ``Lasso`` / ``ElasticNet`` (coordinate
descent on a precomputed Gram matrix, gap tolerance ``tol`` = 1e-6 of ||x_j||^2 = 1) inside
the oracle-guided active-set scheme of the EnSC paper (ORGEN): solve on a working set S
(initially the ``support_size`` = 100 atoms most correlated with x_j), compute the
correlations of all atoms with the residual (one matrix product for a whole chunk of points),
and if some atom violates the optimality condition |<x_i, r>| <= lam_j, continue with
S = nonzeros of the current solution + the strongest violators (S grows by 10% when the
nonzeros fill 80% of it); stop when no atom violates it or the objective stops decreasing.
The result solves the full problem up to the coordinate-descent tolerance. scikit-learn
minimises
1/(2 n_samples) ||y - Xw||^2 + a (rho ||w||_1 + (1 - rho)/2 ||w||^2) with n_samples = d here,
so the problems above map to rho = l1_ratio and a = lam_j / d (SSC) or
a = 1 / (gamma_j d) (EnSC).

SSC-OMP (You, Robinson & Vidal, "Scalable sparse subspace clustering by orthogonal matching
pursuit", CVPR 2016): per point, orthogonal matching pursuit over the dictionary of all the
other (normalised) points, at most ``n_nonzero`` atoms, stopping early once the residual norm
is <= ``tol``. Defaults n_nonzero = 10 and tol = 1e-3 (the paper's k_max = 10; ChongYou's code
stops when the squared residual is < thr = 1e-6, i.e. residual norm < 1e-3). Implemented as a
batched OMP in NumPy (many points per matrix product, least squares via batched QR), so the
coefficients on the support are exactly the least-squares fit of x_j on the chosen atoms.

LRR (Liu, Lin & Yu, "Robust subspace segmentation by low-rank representation", ICML 2010;
Liu et al., TPAMI 2013)::

    min_{C, E} ||C||_* + lam ||E||_{2,1}   s.t.  D = D C + E,   D = X^T (d x n)

(||E||_{2,1} = sum of the column norms: sample-specific corruptions). ``solver="alm"``
(default) is the inexact augmented Lagrange multiplier method of Liu's ``solve_lrr`` /
``inexact_alm_lrr_l21`` (auxiliary J = C, mu0 = 1e-6, rho = 1.1, mu_max = 1e10, tol = 1e-8),
run on small variables: with Q = orth(D^T) (n x r, r = rank D <= d) the minimiser is
C = Q C' (Liu et al.; their ``solve_lrr`` does the same), so the ALM works with the r x n
matrix C' and the dictionary B = D Q = V_r diag(s). All iterates then live in span(V_r), and
the ALM is run in those r coordinates (B becomes diag(s); column norms, hence ||E||_{2,1}, are
unchanged), so an iteration costs O(r^2 n + r^3): the singular value thresholding is done
through the eigendecomposition of an r x r matrix. The stopping test (max-abs of the two
constraint residuals < tol) is applied in these coordinates.
``solver="closed_form"`` returns the solution of the noise-free problem
min ||C||_* s.t. D = D C, the shape-interaction matrix C = V_r V_r^T (V_r: right singular
vectors of D for its r nonzero singular values). LRR does not constrain diag(C); the returned
C has its diagonal set to 0 (``zero_diag=True``, the default) because the diagonal only adds
self-loops to the affinity; pass ``zero_diag=False`` for the raw minimiser.
The default lam = 0.18 is the face-clustering (Extended Yale B) setting commonly cited for LRR
(Liu et al., TPAMI 2013); Liu's ``lrr.m`` code defaults to lam = 1. There is no published
value for the data sets of this project: pass ``lam`` explicitly.

Parallelism
-----------
The per-point solvers (SSC, EnSC, SSC-OMP) split the points into fixed chunks of
``CHUNK_SIZE`` and run them with joblib (loky backend; ``n_jobs=1`` runs serially in-process).
Every chunk runs under ``threadpool_limits(1)`` so BLAS threads do not oversubscribe the
cores, and the chunking does not depend on ``n_jobs``: the result is bit-identical for any
``n_jobs``. LRR is a single matrix iteration and uses the BLAS threads instead.
"""
from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import scipy.linalg
from scipy.linalg.blas import dsyrk
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import ElasticNet, Lasso
from sklearn.preprocessing import normalize
from threadpoolctl import threadpool_limits

from deepsc.cluster import spectral_clustering

METHODS = ("ssc", "ensc", "ssc_omp", "lrr")
CHUNK_SIZE = 200  # points per parallel task (fixed so results do not depend on n_jobs)

# ---------------------------------------------------------------------------------------
# validation helpers


def _as_points(X) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim < 2:
        raise ValueError(f"X must have one point per row (n, d...), got shape {X.shape}")
    X = X.reshape(len(X), -1)
    if len(X) < 2:
        raise ValueError(f"X needs at least 2 points, got {len(X)}")
    if not np.isfinite(X).all():
        raise ValueError("X contains NaN or infinite values")
    return X


def _normalized(X) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), C-contiguous float64."""
    return np.ascontiguousarray(normalize(_as_points(X), norm="l2"))


def _check_real(name: str, value, low: float, low_open: bool = True, high: float | None = None,
                high_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    bad = value <= low if low_open else value < low
    if high is not None:
        bad = bad or (value >= high if high_open else value > high)
    if bad:
        lo = "(" if low_open else "["
        hi = "inf)" if high is None else (f"{high})" if high_open else f"{high}]")
        raise ValueError(f"{name} must be in {lo}{low}, {hi}, got {value!r}")
    return float(value)


def _check_int(name: str, value, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        rng = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be {rng}, got {value!r}")
    return int(value)


def _check_n_jobs(n_jobs) -> int:
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, Integral) or n_jobs == 0:
        raise ValueError(f"n_jobs must be a non-zero integer (-1 = all cores), got {n_jobs!r}")
    return int(n_jobs)


def _run_chunks(func, n: int, n_jobs: int, *args) -> sp.csc_matrix:
    """Run ``func(idx, *args) -> (rows, cols, vals)`` over fixed chunks, assemble C (CSC)."""
    chunks = [np.arange(s, min(s + CHUNK_SIZE, n)) for s in range(0, n, CHUNK_SIZE)]
    if n_jobs == 1 or len(chunks) == 1:
        parts = [func(idx, *args) for idx in chunks]
    else:
        parts = Parallel(n_jobs=n_jobs, backend="loky")(delayed(func)(idx, *args) for idx in chunks)
    rows = np.concatenate([p[0] for p in parts])
    cols = np.concatenate([p[1] for p in parts])
    vals = np.concatenate([p[2] for p in parts])
    C = sp.csc_matrix((vals, (rows, cols)), shape=(n, n))
    C.eliminate_zeros()
    C.sort_indices()
    return C


# ---------------------------------------------------------------------------------------
# SSC / EnSC: per-point Lasso / elastic net with an oracle-guided active set


def _solve_subproblem(XS: np.ndarray, y: np.ndarray, beta1: float, beta2: float, c0: np.ndarray,
                      tol: float, max_iter: int) -> np.ndarray:
    """min_c 1/2 ||y - XS^T c||^2 + beta1 ||c||_1 + beta2/2 ||c||^2 with scikit-learn.

    XS is (s, d) (atoms as rows). scikit-learn's data term carries 1/(2 n_samples), n_samples = d.
    """
    d = XS.shape[1]
    A = np.asfortranarray(XS.T)  # (d, s): samples = pixel coordinates, features = atoms
    gram = XS @ XS.T
    a = (beta1 + beta2) / d
    if beta2 == 0.0:
        model = Lasso(alpha=a, fit_intercept=False, precompute=gram, tol=tol, max_iter=max_iter,
                      warm_start=True)
    else:
        model = ElasticNet(alpha=a, l1_ratio=beta1 / (beta1 + beta2), fit_intercept=False,
                           precompute=gram, tol=tol, max_iter=max_iter, warm_start=True)
    model.coef_ = c0.copy()  # warm start from the previous working set's solution
    model.fit(A, y, check_input=False)
    return model.coef_


def _enet_chunk(idx: np.ndarray, X: np.ndarray, l1_weight: float, l2_ratio: float,
                support_size: int, max_active_iter: int, tol: float, max_iter: int):
    """Coefficients of the points ``idx``; per point j the problem is
    min 1/2||x_j - X^T c||^2 + beta1 ||c||_1 + beta2/2 ||c||^2 with
    beta1 = mu_j / l1_weight, beta2 = l2_ratio * beta1, c_j = 0.

    The points of the chunk go through the active-set rounds together, so that the oracle
    (correlations of every atom with the residuals) is one matrix product per round.
    """
    n = len(X)
    b = len(idx)
    with threadpool_limits(1):
        G = X[idx] @ X.T  # correlations of the chunk's points with every atom
        G[np.arange(b), idx] = 0.0
        absG = np.abs(G)
        mu = absG.max(axis=1)
        beta1 = mu / l1_weight
        s0 = min(support_size, n - 1)
        supports, coefs = [], []
        for t, j in enumerate(idx):
            if s0 >= n - 1:
                S = np.delete(np.arange(n), j)
            else:
                S = np.sort(np.argpartition(-absG[t], s0 - 1)[:s0])
            supports.append(S)
            coefs.append(np.zeros(len(S)))
        del G, absG
        sizes = [s0] * b
        objs = [np.inf] * b
        # mu_j = 0: x_j is zero or orthogonal to all others, c = 0 is optimal
        pending = [t for t in range(b) if mu[t] > 0.0]
        for _ in range(max_active_iter):
            if not pending:
                break
            R = np.empty((len(pending), X.shape[1]))
            for p, t in enumerate(pending):
                XS = X[supports[t]]
                coefs[t] = _solve_subproblem(XS, X[idx[t]], beta1[t], l2_ratio * beta1[t],
                                             coefs[t], tol, max_iter)
                R[p] = X[idx[t]] - coefs[t] @ XS
            H = np.abs(R @ X.T)  # oracle: correlations of all atoms with the residuals
            still = []
            for p, t in enumerate(pending):
                c = coefs[t]
                obj = (0.5 * R[p] @ R[p] + beta1[t] * np.abs(c).sum()
                       + 0.5 * l2_ratio * beta1[t] * (c @ c))
                if objs[t] - obj <= 1e-10 * obj:  # no progress: the working set is optimal
                    continue
                objs[t] = obj
                h = H[p]
                h[supports[t]] = 0.0
                h[idx[t]] = 0.0
                viol = np.flatnonzero(h > beta1[t] * (1.0 + 1e-6))
                if viol.size == 0:
                    continue
                # new working set: current nonzeros + the strongest violators (EnSC paper,
                # ORGEN); it grows by 10% when the nonzeros fill most of it
                act = c != 0
                n_act = int(act.sum())
                if n_act > 0.8 * sizes[t]:
                    sizes[t] = min(int(round(max(n_act, sizes[t]) * 1.1)), n - 1)
                room = max(sizes[t] - n_act, 1)
                if viol.size > room:
                    viol = viol[np.argpartition(-h[viol], room - 1)[:room]]
                S_new = np.union1d(supports[t][act], viol)
                c_new = np.zeros(len(S_new))
                c_new[np.searchsorted(S_new, supports[t][act])] = c[act]
                supports[t], coefs[t] = S_new, c_new
                still.append(t)
            pending = still
        if pending:
            warnings.warn(f"active-set search did not converge in {max_active_iter} iterations "
                          f"for {len(pending)} points", ConvergenceWarning)
            for t in pending:  # the last working set was changed but not solved: solve it
                coefs[t] = _solve_subproblem(X[supports[t]], X[idx[t]], beta1[t],
                                             l2_ratio * beta1[t], coefs[t], tol, max_iter)
    rows, cols, vals = [], [], []
    for t, j in enumerate(idx):
        nz = coefs[t] != 0
        rows.append(supports[t][nz])
        cols.append(np.full(int(nz.sum()), j))
        vals.append(coefs[t][nz])
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)


def _check_active_set_args(support_size, max_active_iter, tol, max_iter):
    _check_int("support_size", support_size, 1)
    _check_int("max_active_iter", max_active_iter, 1)
    _check_real("tol", tol, 0.0)
    _check_int("max_iter", max_iter, 1)


def ssc_coef(X, alpha: float = 20.0, n_jobs: int = 1, *, support_size: int = 100,
             max_active_iter: int = 40, tol: float = 1e-6, max_iter: int = 10000) -> sp.csc_matrix:
    """SSC (Lasso form) coefficients, see the module docstring.

    Per (row-normalised) point j: min_c 1/2 ||x_j - sum_{i!=j} c_i x_i||^2 + lam_j ||c||_1 with
    lam_j = mu_j / alpha, mu_j = max_{i!=j} |<x_i, x_j>| (alpha > 1; 20 = Elhamifar's code).
    ``tol``/``max_iter``: scikit-learn coordinate-descent settings; ``support_size`` and
    ``max_active_iter``: the active-set scheme. Returns C (n x n CSC), diag(C) = 0.
    """
    alpha = _check_real("alpha", alpha, 1.0)
    n_jobs = _check_n_jobs(n_jobs)
    _check_active_set_args(support_size, max_active_iter, tol, max_iter)
    Xn = _normalized(X)
    return _run_chunks(_enet_chunk, len(Xn), n_jobs, Xn, alpha, 0.0, support_size,
                       max_active_iter, tol, max_iter)


def ensc_coef(X, gamma: float = 50.0, l1_ratio: float = 0.9, n_jobs: int = 1, *,
              support_size: int = 100, max_active_iter: int = 40, tol: float = 1e-6,
              max_iter: int = 10000) -> sp.csc_matrix:
    """EnSC coefficients, see the module docstring.

    Per (row-normalised) point j:
    min_c l1_ratio ||c||_1 + (1-l1_ratio)/2 ||c||^2 + gamma_j/2 ||x_j - sum_{i!=j} c_i x_i||^2,
    gamma_j = gamma * l1_ratio / mu_j (ChongYou's gamma_nz convention; gamma > 1,
    l1_ratio in (0, 1]). Returns C (n x n CSC), diag(C) = 0.
    """
    gamma = _check_real("gamma", gamma, 1.0)
    l1_ratio = _check_real("l1_ratio", l1_ratio, 0.0, high=1.0)
    n_jobs = _check_n_jobs(n_jobs)
    _check_active_set_args(support_size, max_active_iter, tol, max_iter)
    Xn = _normalized(X)
    # dividing the objective by gamma_j: beta1 = l1_ratio/gamma_j = mu_j/gamma,
    # beta2 = (1-l1_ratio)/gamma_j = beta1 (1-l1_ratio)/l1_ratio
    return _run_chunks(_enet_chunk, len(Xn), n_jobs, Xn, gamma, (1.0 - l1_ratio) / l1_ratio,
                       support_size, max_active_iter, tol, max_iter)


# ---------------------------------------------------------------------------------------
# SSC-OMP: batched orthogonal matching pursuit


def _omp_chunk(idx: np.ndarray, X: np.ndarray, n_nonzero: int, tol: float):
    b = len(idx)
    ar = np.arange(b)
    with threadpool_limits(1):
        Xc = X[idx]
        R = Xc.copy()
        supp = np.zeros((b, n_nonzero), dtype=np.int64)
        coef = np.zeros((b, n_nonzero))
        n_sel = np.zeros(b, dtype=np.int64)
        active = np.linalg.norm(R, axis=1) > tol
        for t in range(n_nonzero):
            a = np.flatnonzero(active)
            if a.size == 0:
                break
            H = np.abs(R[a] @ X.T)
            H[ar[:a.size], idx[a]] = -1.0  # exclude the point itself
            if t:
                H[ar[:a.size, None], supp[a, :t]] = -1.0  # and atoms already chosen
            new = np.argmax(H, axis=1)
            # residual orthogonal to every atom: nothing left to explain
            dead = H[ar[:a.size], new] <= 1e-12
            if dead.any():
                active[a[dead]] = False
                a, new = a[~dead], new[~dead]
                if a.size == 0:
                    break
            supp[a, t] = new
            XS = X[supp[a, :t + 1]]                     # (m, t+1, d)
            Q, Rt = np.linalg.qr(np.swapaxes(XS, 1, 2))  # (m, d, t+1), (m, t+1, t+1)
            qx = np.einsum("mdk,md->mk", Q, Xc[a])
            c = np.linalg.solve(Rt, qx[..., None])[..., 0]  # least squares on the support
            coef[a, :t + 1] = c
            n_sel[a] = t + 1
            R[a] = Xc[a] - np.einsum("mk,mkd->md", c, XS)
            active[a] = np.linalg.norm(R[a], axis=1) > tol
    mask = np.arange(n_nonzero)[None, :] < n_sel[:, None]
    cols = np.broadcast_to(idx[:, None], mask.shape)[mask]
    return supp[mask], cols, coef[mask]


def ssc_omp_coef(X, n_nonzero: int = 10, tol: float = 1e-3, n_jobs: int = 1) -> sp.csc_matrix:
    """SSC-OMP coefficients, see the module docstring.

    Per (row-normalised) point j, OMP on the dictionary {x_i, i != j}: at most ``n_nonzero``
    atoms (1 <= n_nonzero < n), stopping once ||residual|| <= tol (tol >= 0). The coefficients
    are the least-squares fit of x_j on the selected atoms. Returns C (n x n CSC), diag(C) = 0.
    """
    Xn = _normalized(X)
    n = len(Xn)
    n_nonzero = _check_int("n_nonzero", n_nonzero, 1, n - 1)
    tol = _check_real("tol", tol, 0.0, low_open=False)
    n_jobs = _check_n_jobs(n_jobs)
    return _run_chunks(_omp_chunk, n, n_jobs, Xn, n_nonzero, tol)


# ---------------------------------------------------------------------------------------
# LRR


def _l21_shrink(M: np.ndarray, t: float) -> np.ndarray:
    """Column-wise shrinkage: argmin_E t ||E||_{2,1} + 1/2 ||E - M||_F^2."""
    norms = np.linalg.norm(M, axis=0)
    scale = np.where(norms > t, 1.0 - t / np.maximum(norms, 1e-300), 0.0)
    return M * scale[None, :]


def _svt(M: np.ndarray, tau: float) -> np.ndarray:
    """Singular value thresholding argmin_J tau ||J||_* + 1/2 ||J - M||_F^2 of a wide M (r x n).

    Through the eigendecomposition of the small r x r matrix M M^T = U diag(s^2) U^T:
    J = U diag(max(s - tau, 0) / s) U^T M. About 4x faster than an SVD of M; the error it adds
    is confined to singular values below ~1e-8 s_max.
    """
    # M M^T with a symmetric rank-k update (half the flops of a product); M.T is Fortran
    W = dsyrk(1.0, M.T, trans=1, lower=0)
    lam, U = scipy.linalg.eigh(W, lower=False, driver="evd")
    s = np.sqrt(np.maximum(lam, 0.0))
    keep = s > tau
    if not keep.any():
        return np.zeros_like(M)
    Uk = U[:, keep]
    return (Uk * ((s[keep] - tau) / s[keep])) @ (Uk.T @ M)


def lrr_coef(X, lam: float = 0.18, solver: str = "alm", *, rho: float = 1.1, mu: float = 1e-6,
             max_mu: float = 1e10, tol: float = 1e-8, max_iter: int = 1000,
             zero_diag: bool = True, return_noise: bool = False):
    """LRR coefficients (dense n x n), see the module docstring.

    ``solver="alm"`` (default): inexact ALM for min ||C||_* + lam ||E||_{2,1} s.t. D = D C + E
    (D = X^T of the row-normalised points; rho, mu, max_mu, tol, max_iter as in Liu's code,
    except max_iter, which Liu sets to 1e6). ``solver="closed_form"``: noise-free LRR,
    C = V_r V_r^T (E = 0; ``lam`` is ignored). diag(C) is set to 0 unless ``zero_diag=False``.
    With ``return_noise=True`` returns (C, E) with E in row convention (n x d), so that the
    normalised X satisfies X = C^T X + E (before the diagonal is zeroed).
    """
    if solver not in ("alm", "closed_form"):
        raise ValueError(f"solver must be 'alm' or 'closed_form', got {solver!r}")
    lam = _check_real("lam", lam, 0.0)
    rho = _check_real("rho", rho, 1.0)
    mu = _check_real("mu", mu, 0.0)
    max_mu = _check_real("max_mu", max_mu, 0.0)
    tol = _check_real("tol", tol, 0.0)
    max_iter = _check_int("max_iter", max_iter, 1)
    Xn = _normalized(X)
    n, d = Xn.shape
    # row space of D = column space of Xn: Xn = U diag(s) Vt, Q = U_r = orth(D^T)
    U, s, Vt = scipy.linalg.svd(Xn, full_matrices=False, lapack_driver="gesdd")
    r = int(np.sum(s > s[0] * max(n, d) * np.finfo(float).eps)) if s.size and s[0] > 0 else 0
    Q = U[:, :r]
    if solver == "closed_form" or r == 0:
        C = Q @ Q.T
        E = np.zeros_like(Xn)
    else:
        # Work in the coordinates of the column space of D: D = V_r diag(s) U_r^T, so with
        # B = D Q = V_r diag(s) every iterate (D - BZ, E, Y1) lies in span(V_r), and
        # multiplying by V_r^T (an isometry there; the column norms of ||.||_{2,1} are kept)
        # turns B into diag(s) and D into diag(s) U_r^T: no d x n products per iteration.
        sr = s[:r, None]
        Dr = sr * Q.T                 # V_r^T D, r x n
        inv_diag = 1.0 / (1.0 + sr ** 2)  # (I + B^T B)^-1
        Z = np.zeros((r, n))
        J = np.zeros((r, n))
        E = np.zeros((r, n))
        Y1 = np.zeros((r, n))
        Y2 = np.zeros((r, n))
        for _ in range(max_iter):
            J = _svt(Z + Y2 / mu, 1.0 / mu)
            # Z = (I + B^T B)^-1 (B^T (D - E) + J + (B^T Y1 - Y2)/mu)
            Z = inv_diag * (sr * (Dr - E + Y1 / mu) + J - Y2 / mu)
            DmBZ = Dr - sr * Z
            E = _l21_shrink(DmBZ + Y1 / mu, lam / mu)
            leq1 = DmBZ - E           # D - BZ - E (rotated)
            leq2 = Z - J
            if max(np.abs(leq1).max(), np.abs(leq2).max()) < tol:
                break
            Y1 += mu * leq1
            Y2 += mu * leq2
            mu = min(max_mu, mu * rho)
        else:
            warnings.warn(f"LRR inexact ALM did not reach tol={tol} in {max_iter} iterations",
                          ConvergenceWarning)
        C = Q @ Z
        E = (Vt[:r].T @ E).T          # back to R^d, one row per point
    if zero_diag:
        np.fill_diagonal(C, 0.0)
    return (C, E) if return_noise else C


# ---------------------------------------------------------------------------------------
# dispatch and clustering

_COEF = {"ssc": ssc_coef, "ensc": ensc_coef, "ssc_omp": ssc_omp_coef, "lrr": lrr_coef}


def _check_method(method) -> None:
    if method not in _COEF:
        raise ValueError(f"unknown baseline method {method!r}; valid methods: "
                         + ", ".join(repr(m) for m in METHODS))


def baseline_coef(method: str, X, **params):
    """C for ``method`` in ("ssc", "ensc", "ssc_omp", "lrr"); ``params`` go to its function
    (``n_jobs`` is accepted for every method and ignored by "lrr")."""
    _check_method(method)
    if method == "lrr":
        if "n_jobs" in params:
            _check_n_jobs(params.pop("n_jobs"))
    return _COEF[method](X, **params)


AFFINITIES = ("none", "l2norm")


def _check_affinity(name) -> None:
    if name not in AFFINITIES:
        raise ValueError(f"unknown affinity {name!r} (baselines.affinity in params.yaml); "
                         f"valid: {', '.join(AFFINITIES)}")


def affinity(C, normalize: str = "none"):
    """A = |C| + |C|^T (sparse CSR for sparse C, dense otherwise).

    ``normalize="l2norm"``: each point's coefficient vector (a column of C) is first scaled to
    unit L2 norm (zero columns stay zero), as ChongYou's subspace-clustering code does before
    |C| + |C|^T; "none": C as it is (the affinity the LRSC paper describes)."""
    _check_affinity(normalize)
    if normalize == "l2norm":
        norms = np.sqrt(np.asarray(abs(C).power(2).sum(axis=0)).ravel() if sp.issparse(C)
                        else (np.asarray(C) ** 2).sum(axis=0))
        scale = np.divide(1.0, norms, out=np.zeros_like(norms, dtype=float), where=norms > 0)
        C = sp.csc_matrix(C) @ sp.diags(scale) if sp.issparse(C) else np.asarray(C) * scale
    if sp.issparse(C):
        A = abs(C)
        return sp.csr_matrix(A + A.T)
    A = np.abs(C)
    return A + A.T


def baseline_labels_by_affinity(method: str, X, k: int, seeds=(0,), affinities=("none",),
                                n_jobs: int = 1, **params) -> dict:
    """{affinity: {seed: labels}}: C computed once, then spectral clustering of each affinity
    (see ``affinity``) for each seed."""
    _check_method(method)
    for a in affinities:  # before the (costly) C
        _check_affinity(a)
    seeds = [int(s) for s in seeds]
    C = baseline_coef(method, X, n_jobs=n_jobs, **params)
    out = {}
    for a in affinities:
        A = affinity(C, a)
        out[a] = {s: spectral_clustering(A, k, s) for s in seeds}
    return out


def baseline_labels(method: str, X, k: int, seeds=(0,), n_jobs: int = 1, **params) -> dict:
    """{seed: labels}: C computed once, spectral clustering of |C| + |C|^T for each seed."""
    return baseline_labels_by_affinity(method, X, k, seeds, ("none",), n_jobs, **params)["none"]
