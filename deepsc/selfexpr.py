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
