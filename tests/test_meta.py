"""Eq. (4)-(6) and Algorithm 1 (MAML) against small cases worked out independently."""
import numpy as np
import pytest
import torch

from deepsc.losses import distillation_loss, dscnet_loss, external_loss, heat_kernel_weights
from deepsc.meta import (AEForward, EpisodeSampler, MetaConfig, adapt, heldout_split,
                         maml_objective, meta_gradient, meta_train, solve_c)
from deepsc.nets import build_autoencoder


def test_heat_kernel_weights_match_eq5_and_auto_t_is_median():
    T = torch.randn(7, 4, dtype=torch.float64)
    W, t = heat_kernel_weights(T, "auto")
    d2 = np.array([[float(((T[i] - T[j]) ** 2).sum()) for j in range(7)] for i in range(7)])
    assert t == pytest.approx(np.median(d2[~np.eye(7, dtype=bool)]))
    expect = np.exp(-d2 / t) * (1 - np.eye(7))
    np.testing.assert_allclose(W.numpy(), expect, rtol=1e-10, atol=1e-12)
    W2, t2 = heat_kernel_weights(T, 2.5)
    assert t2 == 2.5 and np.allclose(W2.numpy(), np.exp(-d2 / 2.5) * (1 - np.eye(7)))
    with pytest.raises(ValueError, match="t must be"):
        heat_kernel_weights(T, -1.0)


def test_heat_kernel_weights_in_row_chunks_equal_the_plain_expression_bit_for_bit():
    """The lean W (built in the Gram matrix's buffer, a few rows at a time) does the plain
    expression's float32 arithmetic in the same order: the committed runs' W, exactly."""
    T = torch.randn(23, 5, generator=torch.Generator().manual_seed(3))
    T[7] = T[11]   # a zero distance off the diagonal
    sq = (T * T).sum(1)
    d2 = (sq[:, None] + sq[None, :] - 2.0 * T @ T.T).clamp_min(0.0)
    off = ~torch.eye(23, dtype=torch.bool)
    t_plain = float(d2[off].median())
    plain = torch.exp(-d2 / t_plain) * off
    for chunk in (1, 4, 23, 1000):
        W, t = heat_kernel_weights(T, "auto", chunk=chunk)
        assert t == t_plain and torch.equal(W, plain), chunk
    W, t = heat_kernel_weights(T, 0.7, chunk=5)
    assert t == 0.7 and torch.equal(W, torch.exp(-d2 / 0.7) * off)


def test_distillation_loss_equals_explicit_double_sum():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(9, 5, generator=g, dtype=torch.float64)
    W, _ = heat_kernel_weights(torch.randn(9, 3, generator=g, dtype=torch.float64))
    explicit = 0.5 * sum(float(W[i, j]) * float(((z[i] - z[j]) ** 2).sum())
                         for i in range(9) for j in range(9) if i != j)
    assert float(distillation_loss(z, W)) == pytest.approx(explicit, rel=1e-12)
    # invariant to relabelling the points
    perm = torch.randperm(9, generator=g)
    assert float(distillation_loss(z[perm], W[perm][:, perm])) == pytest.approx(explicit, rel=1e-12)


def test_rayleigh_distillation_is_eq4_on_unit_rms_codes_and_scale_invariant():
    g = torch.Generator().manual_seed(2)
    z = torch.randn(8, 4, generator=g, dtype=torch.float64)
    W, _ = heat_kernel_weights(torch.randn(8, 3, generator=g, dtype=torch.float64))
    s2 = float((z ** 2).sum() / 8)   # the codes' mean square, 1/n sum_i ||z_i||^2
    explicit = 0.5 * sum(float(W[i, j]) * float(((z[i] - z[j]) ** 2).sum()) / s2
                         for i in range(8) for j in range(8) if i != j)
    assert float(distillation_loss(z, W, "rayleigh")) == pytest.approx(explicit, rel=1e-12)
    for c in (1e-3, 7.0):   # Z -> cZ leaves it unchanged, where eq. 4 scales by c^2
        assert float(distillation_loss(c * z, W, "rayleigh")) == pytest.approx(explicit, rel=1e-10)
        assert float(distillation_loss(c * z, W)) == pytest.approx(c * c * s2 * explicit, rel=1e-10)
    # no pull on the scale: the gradient is orthogonal to Z (Euler, degree-0 homogeneous)
    zz = z.clone().requires_grad_(True)
    distillation_loss(zz, W, "rayleigh").backward()
    assert abs(float((zz.grad * z).sum())) < 1e-10 * float(zz.grad.norm() * z.norm())
    zz.grad = None
    distillation_loss(zz, W).backward()   # eq. 4's radial part is 2 L_m > 0: it shrinks Z
    assert float((zz.grad * z).sum()) == pytest.approx(2 * float(distillation_loss(z, W)), rel=1e-10)
    with pytest.raises(ValueError, match="distillation form"):
        distillation_loss(z, W, "dense")


def test_external_loss_is_eq1_plus_eta_times_distillation():
    g = torch.Generator().manual_seed(1)
    x, x_hat = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    z, C = torch.randn(6, 3, generator=g), torch.randn(6, 6, generator=g)
    W, _ = heat_kernel_weights(torch.randn(6, 2, generator=g))
    zc = C.T @ z
    base = dscnet_loss(x, x_hat, z, zc, C, 3.0, 0.5, "l1")["loss"]
    kw = dict(lambda3=3.0, lambda4=0.5, reg="l1")
    assert torch.allclose(external_loss(x, x_hat, z, zc, C, W, eta=0.0, **kw)["loss"], base)
    e = external_loss(x, x_hat, z, zc, C, W, eta=2.0, **kw)
    assert torch.allclose(e["loss"], base + 2.0 * distillation_loss(z, W))


def test_solve_c_l2_reaches_the_zero_diagonal_ridge_solution():
    rng = np.random.default_rng(0)
    z = torch.tensor(rng.normal(size=(8, 5)))
    lam3, lam4 = 4.0, 0.3
    C = solve_c(z, torch.zeros(8, 8, dtype=torch.float64), 5000, lambda3=lam3, lambda4=lam4, reg="l2")
    G, alpha = (z @ z.T).numpy(), 2 * lam4 / lam3
    for i in range(8):  # column i: min ||z_i - sum_{j != i} c_j z_j||^2 + alpha ||c||^2
        o = [j for j in range(8) if j != i]
        ci = np.linalg.solve(G[np.ix_(o, o)] + alpha * np.eye(7), G[o, i])
        np.testing.assert_allclose(C[o, i].numpy(), ci, atol=1e-6)
        assert C[i, i] == 0


def test_solve_c_l1_satisfies_lasso_kkt():
    rng = np.random.default_rng(1)
    z = torch.tensor(rng.normal(size=(10, 4)))
    lam3, lam4 = 2.0, 0.5
    C = solve_c(z, torch.zeros(10, 10, dtype=torch.float64), 20000, lambda3=lam3, lambda4=lam4,
                reg="l1")
    G = (z @ z.T)
    g = (lam3 * (G @ C - G)).numpy()  # gradient of the smooth part
    C, off = C.numpy(), ~np.eye(10, dtype=bool)
    nz, zero = off & (np.abs(C) > 1e-9), off & (np.abs(C) <= 1e-9)
    assert nz.any() and zero.any()
    np.testing.assert_allclose(g[nz], -lam4 * np.sign(C[nz]), atol=1e-6)
    assert np.all(np.abs(g[zero]) <= lam4 + 1e-6)
    assert np.all(np.diag(C) == 0)


def _tiny_task(seed=0, n=6):
    g = torch.Generator().manual_seed(seed)
    x_tr, x_te = torch.randn(n, 5, generator=g, dtype=torch.float64), torch.randn(n, 5, generator=g, dtype=torch.float64)
    W_tr, _ = heat_kernel_weights(torch.randn(n, 3, generator=g, dtype=torch.float64))
    W_te, _ = heat_kernel_weights(torch.randn(n, 3, generator=g, dtype=torch.float64))
    return x_tr, W_tr, x_te, W_te


def _tiny_model():
    torch.manual_seed(0)
    return AEForward(build_autoencoder("text", (5,), {"latent_dim": 3})).double()


@pytest.mark.parametrize("reg", ["l2", "l1"])
def test_second_order_meta_gradient_matches_finite_differences(reg):
    cfg = MetaConfig(k=2, n_per_class=6, n_train=3, inner_steps=2, inner_lr=0.05, c_steps=3,
                     lambda3=2.0, lambda4=0.1, eta=0.5, reg=reg)
    fwd, task = _tiny_model(), _tiny_task()
    params = {k: v.detach() for k, v in fwd.named_parameters()}
    g, loss = meta_gradient(fwd, params, [task], cfg)
    assert loss == pytest.approx(float(maml_objective(fwd, params, task, cfg)))
    gen = torch.Generator().manual_seed(3)
    for _ in range(3):  # directional derivatives along random directions
        v = {k: torch.randn(p.shape, generator=gen, dtype=p.dtype) for k, p in params.items()}
        eps = 1e-6
        f = lambda s: float(maml_objective(fwd, {k: p + s * v[k] for k, p in params.items()}, task, cfg))
        fd = (f(eps) - f(-eps)) / (2 * eps)
        analytic = sum(float((g[k] * v[k]).sum()) for k in params)
        assert analytic == pytest.approx(fd, rel=1e-5, abs=1e-8)


def test_second_order_differs_from_first_order_and_both_agree_without_inner_steps():
    fwd, task = _tiny_model(), _tiny_task(1)
    params = {k: v.detach() for k, v in fwd.named_parameters()}
    kw = dict(k=2, n_per_class=6, n_train=3, inner_lr=0.2, c_steps=3, eta=0.5)
    for steps in (0, 2):
        g2, _ = meta_gradient(fwd, params, [task], MetaConfig(inner_steps=steps, **kw))
        g1, _ = meta_gradient(fwd, params, [task], MetaConfig(inner_steps=steps, first_order=True, **kw))
        diff = max(float((g2[k] - g1[k]).abs().max()) for k in params)
        assert (diff < 1e-12) if steps == 0 else (diff > 1e-6)


def test_adapt_lowers_the_episode_loss():
    fwd, (x, W, _, _) = _tiny_model(), _tiny_task(2)
    params = {k: v.detach() for k, v in fwd.named_parameters()}
    cfg = MetaConfig(k=2, n_per_class=6, n_train=3, inner_steps=5, inner_lr=0.05, c_steps=5, eta=0.1)
    from deepsc.meta import _episode_loss
    adapted, C = adapt(fwd, params, x, W, cfg)
    assert float(_episode_loss(fwd, adapted, C, x, W, cfg)) < float(_episode_loss(fwd, params, C, x, W, cfg))


def test_heldout_split_by_classes_or_samples_and_disjoint_episodes():
    y = np.repeat(np.arange(20), 30)
    tr, va, how = heldout_split(y, k=5, frac=0.25, seed=0)
    assert how == "classes" and not set(y[tr]) & set(y[va]) and len(set(y[va])) == 5
    tr, va, how = heldout_split(np.repeat(np.arange(10), 30), k=10, frac=0.2, seed=0)
    assert how == "samples" and not set(tr) & set(va) and len(va) == 60
    s = EpisodeSampler(y, np.arange(len(y)), k=4, n_per_class=10, n_train=6)
    a, b, ya, yb = s.sample(np.random.default_rng(0))
    assert not set(a) & set(b) and len(a) == 24 and len(b) == 16
    assert len(set(y[a])) == 4 and set(y[a]) == set(y[b])
    # episode labels follow the classes
    assert all(len(set(y[a][ya == c])) == 1 for c in range(4))
    with pytest.raises(ValueError, match="n_per_class"):
        EpisodeSampler(y, np.arange(len(y)), k=4, n_per_class=31, n_train=6)
    with pytest.raises(ValueError, match="n_train"):
        MetaConfig(k=4, n_per_class=10, n_train=10)


@pytest.mark.parametrize("kind,shape,arch", [
    ("text", (12,), {"latent_dim": 6}),
    ("image", (1, 32, 32), {"channels": [4, 4, 4, 4], "kernel": 3}),
])
def test_meta_checkpoint_loads_into_the_target_model(kind, shape, arch):
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 12)
    X = rng.normal(size=(len(y), *shape)).astype(np.float32)
    T = rng.normal(size=(len(y), 3)).astype(np.float32)
    cfg = MetaConfig(k=2, n_per_class=6, n_train=3, tasks_per_batch=2, inner_steps=1,
                     meta_iters=2, val_episodes=2, val_every=1, val_c_steps=5, val_frac=0.5,
                     eta=0.1, first_order=(kind == "image"))
    res = meta_train(X, y, T, kind, arch, cfg, seed=0, progress=False)
    target = build_autoencoder(kind, shape, arch)
    missing, unexpected = target.load_state_dict(res["state_dict"], strict=True)
    assert not missing and not unexpected
    target.load_state_dict(res["final_state_dict"], strict=True)
    assert [h["iter"] for h in res["history"]] == [0, 1, 2]
    assert 0 <= res["random_init"]["acc"] <= 1
