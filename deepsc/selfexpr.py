"""The self-expression layer of DSC-Net (LRSC eq. 1-2) and its regularisers.

Convention: points are the *columns* of Z in the paper (d x n) and C is n x n, so column i
of C holds the coefficients that express point i by the others: Z ~ Z C. The code stores
points as rows (``z`` is n x d, as torch does), so the self-expressed codes are ``C^T z``.
"""
from __future__ import annotations

import torch
from torch import nn


class SelfExpression(nn.Module):
    """A bias-free fully-connected layer whose weight is the coefficient matrix C."""

    def __init__(self, n: int, init: float = 1e-4, zero_diag: bool = True):
        super().__init__()
        self.coef = nn.Parameter(torch.full((n, n), float(init)))
        self.zero_diag = zero_diag

    @property
    def C(self) -> torch.Tensor:
        """C with diag(C) = 0 enforced (the diagonal receives no gradient)."""
        if not self.zero_diag:
            return self.coef
        return self.coef - torch.diag_embed(torch.diagonal(self.coef))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Rows of (Z C) for rows-as-points ``z``: returns C^T z."""
        return self.C.T @ z


def regulariser(C: torch.Tensor, kind: str) -> torch.Tensor:
    """||C||_l of eq. (1): 'l1' = sum |c_ij| (DSCN-L1), 'l2' = ||C||_F^2 (DSCN-L2)."""
    if kind == "l1":
        return C.abs().sum()
    if kind == "l2":
        return (C * C).sum()
    raise ValueError(f"unknown regulariser {kind!r}; use 'l1' or 'l2'")


def regulariser_value(C: torch.Tensor, kind: str) -> torch.Tensor:
    """``regulariser`` without autograd and without an n x n temporary (a reduction only)."""
    with torch.no_grad():
        flat = C.reshape(-1)
        if kind == "l1":
            return torch.linalg.vector_norm(flat, ord=1)
        if kind == "l2":
            return torch.dot(flat, flat)
    raise ValueError(f"unknown regulariser {kind!r}; use 'l1' or 'l2'")


def add_regulariser_grad_(grad: torch.Tensor, C: torch.Tensor, weight: float, kind: str) -> None:
    """grad += weight * d||C||_l / dC, in place: 2 C for 'l2'; sign(C) for 'l1' (the
    subgradient autograd takes for |c|, 0 at c = 0)."""
    with torch.no_grad():
        if kind == "l2":
            grad.add_(C, alpha=2.0 * weight)
        elif kind == "l1":
            grad.add_(torch.sign(C), alpha=weight)
        else:
            raise ValueError(f"unknown regulariser {kind!r}; use 'l1' or 'l2'")
