"""The optimised K2 step (issue 15) against the straightforward one: autograd through the
masked C of ``SelfExpression.C``, the full eq. (9) including ||C||_l, and eq. (8) as
``F.cross_entropy``, in float64 on small cases."""
import copy

import pytest
import torch
import torch.nn.functional as F

from deepsc.finetune import finetune_selfexpression, k2_backward
from deepsc.losses import infonce_loss, term_counts
from deepsc.nets import build_autoencoder
from deepsc.selfexpr import SelfExpression, regulariser


def _straightforward_loss(ae, se, x, W, *, lambda1, lambda2, mu, gamma, sigma, reg, scale):
    """Eq. (9) written out term by term, with the distillation term as an explicit double sum."""
    n, cnt = len(x), term_counts(len(x), scale)
    z = ae.encode(x)
    C = se.C
    zc = C.T @ z
    loss = 0.5 * (x - ae.decode(zc)).pow(2).sum() / cnt["rec"]
    loss = loss + lambda1 * 0.5 * (z - zc).pow(2).sum() / cnt["selfexp"]
    loss = loss + lambda2 * regulariser(C, reg) / cnt["reg"]
    zf = z.flatten(1)
    pair = sum(W[i, j] * (zf[i] - zf[j]).pow(2).sum() for i in range(n) for j in range(n) if i != j)
    loss = loss + mu * 0.5 * pair / cnt["distill"]
    zn, gn = F.normalize(zf, dim=1), F.normalize(zc.flatten(1), dim=1)
    ce = F.cross_entropy(zn @ gn.T / sigma, torch.arange(n), reduction="sum")
    return loss + gamma * ce / cnt["selfsup"]


def _case(kind, n=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    if kind == "image":
        x = torch.rand(n, 1, 8, 8, generator=g, dtype=torch.float64)
        arch = {"channels": [2, 3], "kernel": 3}
        ae = build_autoencoder("image", (1, 8, 8), arch).double()
    else:
        x = torch.randn(n, 10, generator=g, dtype=torch.float64)
        ae = build_autoencoder("text", (10,), {"latent_dim": 4}).double()
    T = torch.randn(n, 3, generator=g, dtype=torch.float64)
    W = torch.exp(-torch.cdist(T, T) ** 2) * (1 - torch.eye(n, dtype=torch.float64))
    return x, ae, W


@pytest.mark.parametrize("kind", ["image", "text"])
@pytest.mark.parametrize("reg", ["l1", "l2"])
@pytest.mark.parametrize("scale", ["sum", "mean"])
def test_k2_backward_gives_the_straightforward_loss_and_gradients(kind, reg, scale):
    x, ae, W = _case(kind)
    n = len(x)
    kw = dict(lambda1=3.0, lambda2=0.7, mu=0.4, gamma=0.9, sigma=0.5, reg=reg, scale=scale)
    torch.manual_seed(1)
    se = SelfExpression(n, init=0.0).double()
    with torch.no_grad():   # a generic C: signs mixed, diagonal nonzero in the raw parameter
        se.coef.copy_(torch.randn(n, n, dtype=torch.float64) * 0.2)
    ref_ae = copy.deepcopy(ae)
    ref = _straightforward_loss(ref_ae, se, x, W, **kw)
    ref.backward()

    fast_ae = copy.deepcopy(ae)
    coef = torch.nn.Parameter(se.coef.detach().clone())
    with torch.no_grad():
        coef.fill_diagonal_(0.0)   # the engine's invariant
    _, terms = k2_backward(fast_ae, coef, x, W, zero_diag=True, **kw)
    assert float(terms["loss"]) == pytest.approx(ref.item(), rel=1e-12)
    torch.testing.assert_close(coef.grad, se.coef.grad, rtol=1e-10, atol=1e-12)
    assert torch.all(torch.diagonal(coef.grad) == 0)
    for (name, p), q in zip(ref_ae.named_parameters(), fast_ae.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-10, atol=1e-12, msg=name)
    # lambda2 = 0 (the proximal path) leaves the smooth part's gradient only
    coef.grad = None
    k2_backward(copy.deepcopy(ae), coef, x, W, zero_diag=True, **{**kw, "lambda2": 0.0})
    se.coef.grad = None
    _straightforward_loss(copy.deepcopy(ae), se, x, W, **{**kw, "lambda2": 0.0}).backward()
    torch.testing.assert_close(coef.grad, se.coef.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reg,c_update", [("l2", "adam"), ("l1", "adam"), ("l1", "prox")])
def test_k2_training_follows_the_straightforward_loop(reg, c_update):
    """Five steps of the engine against five steps of autograd on SelfExpression.C with plain
    Adam (and the same proximal step): same C, diag(C) = 0 exactly."""
    from deepsc.finetune import _spectral_norm_sq, prox_c_step

    x, ae, W = _case("text", n=9, seed=2)
    kw = dict(lambda1=2.0, lambda2=0.3, mu=0.2, gamma=0.5, sigma=0.5, reg=reg, scale="mean")
    torch.manual_seed(0)
    se_fast, _ = finetune_selfexpression(copy.deepcopy(ae), x, steps=5, lr=1e-2, W=W, c_init=1e-2,
                                         c_update=c_update, progress=False, **kw)
    ref_ae = copy.deepcopy(ae)
    se = SelfExpression(len(x), init=1e-2).double()
    prox = c_update == "prox"
    opt = torch.optim.Adam(list(ref_ae.parameters()) + ([] if prox else list(se.parameters())),
                           lr=1e-2, foreach=False)
    cnt, v = term_counts(len(x), "mean"), None
    for _ in range(5):
        opt.zero_grad()
        se.coef.grad = None
        _straightforward_loss(ref_ae, se, x, W, **{**kw, "lambda2": 0.0 if prox else 0.3}).backward()
        if prox:
            with torch.no_grad():
                z = ref_ae.encode(x).flatten(1)
                v = torch.ones(z.shape[1], 1, dtype=z.dtype) if v is None else v
                norm2, v = _spectral_norm_sq(z, v)
                prox_c_step(se.coef, se.coef.grad.clone(), 1.0 / (2.0 * norm2 / cnt["selfexp"]),
                            0.3 / cnt["reg"], reg)
        opt.step()
    torch.testing.assert_close(se_fast.coef.detach(), se.C.detach(), rtol=1e-8, atol=1e-11)
    assert torch.all(torch.diagonal(se_fast.coef) == 0)


def test_fused_infonce_has_cross_entropys_gradients():
    g = torch.Generator().manual_seed(4)
    z = torch.randn(6, 3, generator=g, dtype=torch.float64, requires_grad=True)
    zc = torch.randn(6, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: infonce_loss(a, b, 0.3), (z, zc))
    infonce_loss(z, zc, 0.3).backward()
    ga, gb = z.grad.clone(), zc.grad.clone()
    z.grad = zc.grad = None
    zn, gn = F.normalize(z, dim=1), F.normalize(zc, dim=1)
    F.cross_entropy(zn @ gn.T / 0.3, torch.arange(6), reduction="sum").backward()
    torch.testing.assert_close(ga, z.grad)
    torch.testing.assert_close(gb, zc.grad)
