"""Loss functions of the papers, one function each, equation number in the docstring."""
from __future__ import annotations

import torch

from .selfexpr import regulariser


def dscnet_loss(x, x_hat, z, zc, C, lambda1: float, lambda2: float, reg: str) -> dict:
    """LRSC eq. (1), the DSC-Net base loss, as sums (not means):

        L_b = 1/2 ||X - X_hat||_F^2 + lambda1/2 ||Z - ZC||_F^2 + lambda2 ||C||_l

    with X_hat = decoder(ZC). Returns the total and its three terms (for the curves).
    """
    rec = 0.5 * (x - x_hat).pow(2).sum()
    selfexp = 0.5 * (z - zc).pow(2).sum()
    creg = regulariser(C, reg)
    total = rec + lambda1 * selfexp + lambda2 * creg
    return {"loss": total, "rec": rec, "selfexp": selfexp, "reg": creg}


def reconstruction_loss(x, x_hat) -> torch.Tensor:
    """The first term of eq. (1), used alone in Algorithm 2's pre-training (no C)."""
    return 0.5 * (x - x_hat).pow(2).sum()
