"""Loss functions of the papers, one function each, equation number in the docstring."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .selfexpr import regulariser

SCALES = ("sum", "mean")


def term_counts(n: int, scale: str = "sum") -> dict:
    """What each term of eq. (9) is divided by. ``'sum'``: nothing (the paper's sums).
    ``'mean'`` (scale-free): each term by the number of points or pairs it sums over,

        rec      1/2 ||X - X~||_F^2              / n          points
        selfexp  1/2 ||Z - ZC||_F^2              / n          points
        reg      ||C||_l                         / n          points (columns of C)
        distill  1/2 sum_{i!=j} W_ij |Z_i-Z_j|^2 / (n (n-1))  ordered pairs
        selfsup  sum_i L_c(i)                    / n          points

    so that mu and gamma mean the same at any n (in the sums, eq. 4 grows like n^2 and the
    rest like n). Coordinates stay summed, as in eq. (1): rec, selfexp and reg keep their
    ratios, so lambda1 and lambda2 mean what they mean in the sums (and Adam, invariant to a
    constant factor on the loss, takes the same eq. (1) steps).
    """
    if scale == "sum":
        return dict.fromkeys(("rec", "selfexp", "reg", "distill", "selfsup"), 1)
    if scale == "mean":
        return {"rec": n, "selfexp": n, "reg": n, "distill": max(n * (n - 1), 1), "selfsup": n}
    raise ValueError(f"unknown loss scale {scale!r}; use one of {', '.join(SCALES)}")


def dscnet_loss(x, x_hat, z, zc, C, lambda1: float, lambda2: float, reg: str,
                scale: str = "sum") -> dict:
    """LRSC eq. (1), the DSC-Net base loss, as sums (``scale='sum'``):

        L_b = 1/2 ||X - X_hat||_F^2 + lambda1/2 ||Z - ZC||_F^2 + lambda2 ||C||_l

    with X_hat = decoder(ZC); ``scale='mean'`` divides each term by ``term_counts``. Returns
    the total and its three (scaled) terms (for the curves); with ``C=None`` the last term is
    left out (the K2 loop adds its value and gradient without an n x n autograd temporary).
    """
    cnt = term_counts(len(x), scale)
    rec = 0.5 * (x - x_hat).pow(2).sum() / cnt["rec"]
    selfexp = 0.5 * (z - zc).pow(2).sum() / cnt["selfexp"]
    total = rec + lambda1 * selfexp
    if C is None:   # the caller handles ||C||_l itself (``finetune``: analytic gradient or prox)
        return {"loss": total, "rec": rec, "selfexp": selfexp}
    creg = regulariser(C, reg) / cnt["reg"]
    return {"loss": total + lambda2 * creg, "rec": rec, "selfexp": selfexp, "reg": creg}


def reconstruction_loss(x, x_hat) -> torch.Tensor:
    """The first term of eq. (1), used alone in Algorithm 2's pre-training (no C)."""
    return 0.5 * (x - x_hat).pow(2).sum()


def heat_kernel_weights(T: torch.Tensor, t="auto", chunk: int = 1024) -> tuple[torch.Tensor, float]:
    """LRSC eq. (5): W_ij = exp(-||T_i - T_j||^2 / t), T the teacher's features (rows = points).

    ``t='auto'`` sets t to the median squared distance over the pairs i != j, so a typical
    pair gets weight exp(-1) whatever the scale of the teacher's features. The diagonal is set
    to 0 (eq. 4 sums over i != j). Returns (W, t); W carries no gradient.

    W is built in the buffer of the Gram matrix T T^T, ``chunk`` rows at a time, so the only
    other n x n buffer is the median's one copy (t = 'auto'): two at the peak where the
    plain expression held about six (at n = 10,000, 400 MB each, kept by malloc for the rest
    of the stage). The arithmetic is the plain expression's, in the same order.
    """
    T = T.detach().flatten(1)
    sq = (T * T).sum(1)
    d2 = T @ T.T
    for i in range(0, len(T), chunk):   # (|T_i|^2 + |T_j|^2) - 2 T_i.T_j, clamped at 0
        rows = d2[i:i + chunk]
        torch.sub(sq[i:i + chunk, None] + sq[None, :], rows.mul_(2.0), out=rows).clamp_min_(0.0)
    if t == "auto":
        if len(T) > 1:   # the median over i != j: NaN on the diagonal, which nanmedian skips
            d2.fill_diagonal_(float("nan"))
            t = float(torch.nanmedian(d2))
        else:
            t = 1.0
        t = t if t > 0 else 1.0
    t = float(t)
    if not t > 0:
        raise ValueError(f"t must be > 0 or 'auto', got {t}")
    W = d2.neg_().div_(t).exp_()
    W.fill_diagonal_(0.0)
    return W, t


DISTILLS = ("eq4", "rayleigh")


def distillation_loss(z: torch.Tensor, W: torch.Tensor, form: str = "eq4") -> torch.Tensor:
    """LRSC eq. (4): L_m = 1/2 sum_{i != j} W_ij ||Z_i - Z_j||^2, for a symmetric W.

    Computed as the Laplacian trace tr(Z^T L Z) with L = D - W, D = diag(W 1):
    1/2 sum_ij W_ij (|z_i|^2 + |z_j|^2 - 2 z_i.z_j) = sum_i D_ii |z_i|^2 - sum_ij W_ij z_i.z_j,
    O(n^2 d) time and no n x n x d tensor. Rows of ``z`` are points.

    ``form='rayleigh'`` (an option beyond the paper) is eq. (4) on the codes divided by their
    rms, Z / s with s^2 = 1/n sum_i ||Z_i||^2: L_m(Z) / s^2, the Rayleigh quotient that Laplacian
    eigenmaps minimise (Belkin & Niyogi 2003) in place of L_m itself, whose minimum is Z = 0.
    It is invariant to the scale of Z (its gradient is orthogonal to Z), so distillation shapes
    the codes without shrinking them; it equals eq. (4) where the codes have rms 1.
    """
    if form not in DISTILLS:
        raise ValueError(f"unknown distillation form {form!r}; use one of {', '.join(DISTILLS)}")
    sq = (z * z).flatten(1).sum(1)
    deg = W.sum(1)
    value = (deg * sq).sum() - (z.flatten(1) * (W @ z.flatten(1))).sum()
    return value if form == "eq4" else value / sq.mean()


def external_loss(x, x_hat, z, zc, C, W, *, lambda3: float, lambda4: float, eta: float,
                  reg: str) -> dict:
    """LRSC eq. (6), the loss of a meta-learning episode (eq. (3) when eta = 0), as sums:

        L_e = 1/2 sum_i ||x_i - x~_i||^2 + lambda3/2 ||Z~ - Z~C~||_F^2 + lambda4 ||C~||_l
              + eta/2 sum_{i != j} W_ij ||Z~_i - Z~_j||^2

    It is eq. (1) with (lambda3, lambda4) for (lambda1, lambda2), plus eq. (4) weighted by eta.
    """
    terms = dscnet_loss(x, x_hat, z, zc, C, lambda3, lambda4, reg)
    if eta:
        terms["distill"] = distillation_loss(z, W)
        terms["loss"] = terms["loss"] + eta * terms["distill"]
    return terms


class _InfoNCESum(torch.autograd.Function):
    """sum_i [logsumexp_j S_ij - S_ii] for S = A B^T, holding one n x n buffer.

    ``F.cross_entropy(A @ B.T, arange(n), reduction='sum')`` keeps the logits, the log-softmax
    and, in backward, two n x n gradients: four n x n buffers. Here the logits become the
    softmax P in place (saved for backward), and backward forms dS = g (P - I) once for the
    two products dA = dS B, dB = dS^T A. Same value and gradients (tested
    against cross_entropy in float64): two n x n buffers at the peak of backward, not four.
    No double backward.
    """

    @staticmethod
    def forward(ctx, a, b):
        s = a @ b.T
        diag = torch.diagonal(s).sum()
        lse = torch.logsumexp(s, dim=1)
        p = s.sub_(lse[:, None]).exp_()   # softmax, in the logits' buffer
        ctx.save_for_backward(a, b, p)
        return lse.sum() - diag

    @staticmethod
    def backward(ctx, g):
        a, b, p = ctx.saved_tensors
        ds = p * g   # not in place: a retained graph may run backward again
        torch.diagonal(ds).sub_(g)
        return ds @ b, ds.T @ a


def infonce_loss(z: torch.Tensor, g: torch.Tensor, sigma: float, reduction: str = "sum"):
    """LRSC eq. (8), the self-supervised task: Z_i and G_i = (ZC)_i are a positive pair, Z_i
    and every G_j (j != i) a negative one, after L2-normalisation of both:

        L_c(i) = -log( exp(Zn_i . Gn_i / sigma) / sum_{j=1..n} exp(Zn_i . Gn_j / sigma) )

    i.e. the n-way softmax cross-entropy of classifying Z_i as G_i. ``reduction='sum'`` sums
    over the n points, the scale of the other terms of eq. (9) (sums over points);
    ``'mean'`` gives ``F.cross_entropy(Zn @ Gn.T / sigma, arange(n))``. Rows are points.
    The n x n logits live in one buffer (``_InfoNCESum``); 1/sigma scales Zn (n x d), not
    the logits.
    """
    if not sigma > 0:
        raise ValueError(f"sigma (the temperature of eq. 8) must be > 0, got {sigma}")
    if reduction not in ("sum", "mean"):
        raise ValueError(f"unknown reduction {reduction!r}; use 'sum' or 'mean'")
    zn, gn = F.normalize(z.flatten(1), dim=1), F.normalize(g.flatten(1), dim=1)
    total = _InfoNCESum.apply(zn / sigma, gn)
    return total if reduction == "sum" else total / len(z)


def lrsc_loss(x, x_hat, z, zc, C, W=None, *, lambda1: float, lambda2: float, mu: float = 0.0,
              gamma: float = 0.0, sigma: float = 1.0, reg: str = "l2", scale: str = "sum",
              distill: str = "eq4") -> dict:
    """LRSC eq. (9), the loss on the target data (eq. (7) when gamma = 0), as sums:

        L_f = 1/2 ||X - X~||^2 + lambda1/2 ||Z - ZC||_F^2 + lambda2 ||C||_l
              + mu/2 sum_{i != j} W_ij ||Z_i - Z_j||^2 + gamma sum_i L_c(i)

    with L_c eq. (8) at temperature sigma and W eq. (5) on the teacher's features of the
    target. The paper writes ||C||_F^2 in eq. (9) (LRSC-L2); LRSC-L1 uses the l1 norm
    (``reg``). A term with weight 0 is not computed, so mu = gamma = 0 is eq. (1) exactly.
    ``scale='mean'`` is the scale-free form: every term divided by ``term_counts``.
    ``distill``: eq. (4) as written ('eq4') or its scale-invariant form ('rayleigh',
    ``distillation_loss``).
    """
    terms = dscnet_loss(x, x_hat, z, zc, C, lambda1, lambda2, reg, scale)
    cnt = term_counts(len(x), scale)
    if mu:
        if W is None:
            raise ValueError("mu > 0 needs W (eq. 5), the teacher's affinity of the target data")
        terms["distill"] = distillation_loss(z, W, distill) / cnt["distill"]
        terms["loss"] = terms["loss"] + mu * terms["distill"]
    if gamma:
        terms["selfsup"] = infonce_loss(z, zc, sigma) / cnt["selfsup"]
        terms["loss"] = terms["loss"] + gamma * terms["selfsup"]
    return terms
