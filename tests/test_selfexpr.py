"""Self-expression maths against closed forms and worked cases."""
import numpy as np
import pytest
import torch

from deepsc.cluster import cluster_coef
from deepsc.losses import dscnet_loss
from deepsc.metrics import accuracy
from deepsc.selfexpr import SelfExpression, regulariser


def fit_linear_C(Z, lambda1, lambda2, reg="l2", zero_diag=True, steps=3000, lr=0.05):
    """Minimise lambda1/2 ||Z - ZC||^2 + lambda2 ||C||_l over C alone (Z fixed, rows = points)."""
    z = torch.as_tensor(Z, dtype=torch.float64)
    se = SelfExpression(len(z), init=1e-4, zero_diag=zero_diag).double()
    opt = torch.optim.LBFGS(se.parameters(), lr=lr, max_iter=steps, tolerance_grad=1e-12,
                            tolerance_change=1e-15, history_size=50, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        zc = se(z)
        loss = lambda1 / 2 * (z - zc).pow(2).sum() + lambda2 * regulariser(se.C, reg)
        loss.backward()
        return loss

    opt.step(closure)
    return se.C.detach().numpy()


def test_selfexpression_layer_zero_diag_and_orientation():
    se = SelfExpression(4, init=0.5)
    assert torch.all(torch.diagonal(se.C) == 0)
    z = torch.randn(4, 3)
    # row i of the output is sum_j C[j, i] z_j: column i of C expresses point i (paper's Z C)
    out = se(z)
    expected = torch.stack([sum(se.C[j, i] * z[j] for j in range(4)) for i in range(4)])
    assert torch.allclose(out, expected)
    out.sum().backward()
    assert torch.all(torch.diagonal(se.coef.grad) == 0)


def test_regularisers():
    C = torch.tensor([[0.0, -2.0], [3.0, 0.0]])
    assert regulariser(C, "l1").item() == 5.0
    assert regulariser(C, "l2").item() == 13.0
    with pytest.raises(ValueError, match="l3"):
        regulariser(C, "l3")


def test_dscnet_loss_terms():
    x, xh = torch.ones(2, 3), torch.zeros(2, 3)
    z, zc = torch.ones(2, 2), torch.zeros(2, 2)
    C = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])
    t = dscnet_loss(x, xh, z, zc, C, lambda1=2.0, lambda2=3.0, reg="l1")
    assert t["rec"].item() == 3.0 and t["selfexp"].item() == 2.0 and t["reg"].item() == 2.0
    assert t["loss"].item() == 3.0 + 2.0 * 2.0 + 3.0 * 2.0


def test_l2_closed_form_without_zero_diag():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(12, 5))  # 12 points in 5 dims, rows = points
    lambda1, lambda2 = 2.0, 0.3
    C = fit_linear_C(Z, lambda1, lambda2, zero_diag=False)
    G = Z @ Z.T  # the paper's Z^T Z for columns-as-points
    a = 2 * lambda2 / lambda1
    closed = np.linalg.solve(G + a * np.eye(12), G)
    np.testing.assert_allclose(C, closed, atol=1e-6)


def test_l2_zero_diag_columns_are_ridge_regressions():
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(10, 4))
    lambda1, lambda2 = 1.0, 0.2
    C = fit_linear_C(Z, lambda1, lambda2, zero_diag=True)
    a = 2 * lambda2 / lambda1
    for i in range(10):
        others = np.delete(np.arange(10), i)
        A = Z[others].T  # columns = the other points
        ridge = np.linalg.solve(A.T @ A + a * np.eye(9), A.T @ Z[i])
        np.testing.assert_allclose(C[others, i], ridge, atol=1e-6)
        assert C[i, i] == 0


@pytest.mark.parametrize("reg", ["l1", "l2"])
def test_union_of_subspaces_block_diagonal_and_acc_1(subspaces, reg):
    X, y = subspaces
    C = fit_linear_C(X, lambda1=50.0, lambda2=1.0 if reg == "l2" else 0.05, reg=reg, zero_diag=True,
                     steps=3000 if reg == "l2" else 300)
    off_block = np.abs(C[y[:, None] != y[None, :]]).sum()
    in_block = np.abs(C[y[:, None] == y[None, :]]).sum()
    # l1 through a smooth optimiser leaves tiny non-zeros: a looser (still strict) bound
    assert off_block < (1e-3 if reg == "l2" else 1e-2) * in_block
    labels = cluster_coef(C, 3, "none", seed=0)
    assert accuracy(y, labels) == 1.0
