"""Eq. (8), eq. (9) and Algorithm 2 against small cases worked out independently."""
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from deepsc.finetune import pretrain_autoencoder, train_dscnet, train_lrsc
from deepsc.losses import (distillation_loss, dscnet_loss, heat_kernel_weights, infonce_loss,
                           lrsc_loss, reconstruction_loss)
from deepsc.nets import build_autoencoder

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "stages"))


def _direct_infonce(z, g, sigma):
    """Eq. (8) summed over i, one point at a time with explicit normalisation and sums."""
    z, g = np.asarray(z, float), np.asarray(g, float)
    zn = [zi / math.sqrt(sum(v * v for v in zi)) for zi in z]
    gn = [gi / math.sqrt(sum(v * v for v in gi)) for gi in g]
    total = 0.0
    for i in range(len(z)):
        num = math.exp(float(np.dot(zn[i], gn[i])) / sigma)
        den = sum(math.exp(float(np.dot(zn[i], gn[j])) / sigma) for j in range(len(z)))
        total += -math.log(num / den)
    return total


def test_infonce_matches_direct_sum_and_cross_entropy():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(6, 4, generator=g, dtype=torch.float64)
    zc = torch.randn(6, 4, generator=g, dtype=torch.float64)
    for sigma in (0.1, 0.5, 2.0):
        got = infonce_loss(z, zc, sigma)
        assert float(got) == pytest.approx(_direct_infonce(z, zc, sigma), rel=1e-10)
        zn, gn = F.normalize(z, dim=1), F.normalize(zc, dim=1)
        ce = F.cross_entropy(zn @ gn.T / sigma, torch.arange(6))
        assert float(infonce_loss(z, zc, sigma, reduction="mean")) == pytest.approx(float(ce), rel=1e-12)
        assert float(got) == pytest.approx(6 * float(ce), rel=1e-12)


def test_infonce_is_invariant_to_rescaling_each_point():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(8, 5, generator=g, dtype=torch.float64)
    zc = torch.randn(8, 5, generator=g, dtype=torch.float64)
    scale_z = torch.rand(8, 1, generator=g, dtype=torch.float64) * 10 + 0.1
    scale_g = torch.rand(8, 1, generator=g, dtype=torch.float64) * 10 + 0.1
    a = infonce_loss(z, zc, 0.3)
    assert float(infonce_loss(z * scale_z, zc * scale_g, 0.3)) == pytest.approx(float(a), rel=1e-12)
    assert float(infonce_loss(3.0 * z, 0.01 * zc, 0.3)) == pytest.approx(float(a), rel=1e-12)
    # permuting the points permutes pairs and negatives alike: the sum does not change
    perm = torch.randperm(8, generator=g)
    assert float(infonce_loss(z[perm], zc[perm], 0.3)) == pytest.approx(float(a), rel=1e-12)
    # a perfect match with far-apart points is nearly free; a shuffled one is not
    eye = torch.eye(8, dtype=torch.float64)
    assert float(infonce_loss(eye, eye, 0.05)) < 1e-6 < float(infonce_loss(eye, eye[perm], 0.05))
    with pytest.raises(ValueError, match="sigma"):
        infonce_loss(z, zc, 0.0)


def _terms():
    g = torch.Generator().manual_seed(2)
    n = 7
    x, xh = torch.randn(n, 5, generator=g), torch.randn(n, 5, generator=g)
    z = torch.randn(n, 3, generator=g)
    C = torch.randn(n, n, generator=g) * 0.1
    C.fill_diagonal_(0)
    W, _ = heat_kernel_weights(torch.randn(n, 4, generator=g))
    return x, xh, z, C.T @ z, C, W


def test_eq9_is_eq1_plus_weighted_distillation_and_infonce():
    x, xh, z, zc, C, W = _terms()
    base = dscnet_loss(x, xh, z, zc, C, 2.0, 0.5, "l2")
    zero = lrsc_loss(x, xh, z, zc, C, W, lambda1=2.0, lambda2=0.5, mu=0.0, gamma=0.0, reg="l2")
    assert torch.equal(zero["loss"], base["loss"]) and set(zero) == set(base)
    full = lrsc_loss(x, xh, z, zc, C, W, lambda1=2.0, lambda2=0.5, mu=0.3, gamma=0.7, sigma=0.5,
                     reg="l1")
    expect = (dscnet_loss(x, xh, z, zc, C, 2.0, 0.5, "l1")["loss"] + 0.3 * distillation_loss(z, W)
              + 0.7 * _direct_infonce(z, zc, 0.5))
    assert float(full["loss"]) == pytest.approx(float(expect), rel=1e-5)
    with pytest.raises(ValueError, match="needs W"):
        lrsc_loss(x, xh, z, zc, C, None, lambda1=1.0, lambda2=1.0, mu=1.0)


def test_lrsc_with_zero_weights_and_random_init_is_dscnet_exactly():
    X = np.random.default_rng(0).normal(size=(40, 16)).astype(np.float32)
    T = np.random.default_rng(1).normal(size=(40, 6)).astype(np.float32)
    kw = dict(arch={"latent_dim": 8}, seed=3, k1=6, batch_size=16, lr_pretrain=1e-3, k2=6, lr=1e-3,
              lambda1=1.0, lambda2=0.1, reg="l2", c_init=1e-4, progress=False)
    d = train_dscnet(X, "text", **kw)
    lr = train_lrsc(X, "text", **kw, init_state=None, T=T, mu=0.0, gamma=0.0, sigma=0.5)
    np.testing.assert_array_equal(d["C"], lr["C"])
    np.testing.assert_array_equal(d["z"], lr["z"])
    assert [r["loss"] for r in d["curve"] if "loss" in r] == [r["loss"] for r in lr["curve"] if "loss" in r]
    # switching a term on changes the result, so the equality above is not vacuous
    other = train_lrsc(X, "text", **kw, T=T, mu=0.0, gamma=1.0, sigma=0.5)
    assert not np.array_equal(d["C"], other["C"])
    with pytest.raises(ValueError, match="mu > 0 needs"):
        train_lrsc(X, "text", **kw, T=None, mu=1.0)
    with pytest.raises(ValueError, match="gamma must be >= 0"):
        train_lrsc(X, "text", **kw, gamma=-1.0)


def test_meta_init_is_the_starting_point():
    X = np.random.default_rng(0).normal(size=(30, 12)).astype(np.float32)
    ae = build_autoencoder("text", (12,), {"latent_dim": 4})
    init = {k: v.clone() for k, v in ae.state_dict().items()}
    res = train_lrsc(X, "text", arch={"latent_dim": 4}, seed=0, k1=0, batch_size=8, lr_pretrain=1e-3,
                     k2=0, lr=1e-3, lambda1=1.0, lambda2=1.0, reg="l2", c_init=1e-4,
                     init_state=init, progress=False)
    for k, v in init.items():
        assert torch.equal(res["state_dict"][k], v)


@pytest.mark.parametrize("form", ["eq4", "rayleigh"])
def test_pretraining_batch_loss_is_eq9_over_n_on_the_full_batch(form):
    """Algorithm 2's first loop with a batch of all n points takes the gradient step of
    (1/2||X - X~||^2 + mu * eq. 4) / n, the K1 loss of eq. (9) with lambda2 = gamma = 0;
    with distill='rayleigh', eq. 4 divided by the batch codes' mean square 1/n sum ||z_i||^2
    (written out here, not through the form argument)."""
    g = torch.Generator().manual_seed(0)
    n, mu = 12, 0.05
    x = torch.randn(n, 10, generator=g)
    W, _ = heat_kernel_weights(torch.randn(n, 3, generator=g))
    torch.manual_seed(0)
    a = build_autoencoder("text", (10,), {"latent_dim": 4})
    b = build_autoencoder("text", (10,), {"latent_dim": 4})
    b.load_state_dict(a.state_dict())
    curve = pretrain_autoencoder(a, x, 1, n, 1e-2, torch.Generator().manual_seed(0),
                                 progress=False, W=W, mu=mu, distill=form)
    opt = torch.optim.Adam(b.parameters(), lr=1e-2)
    z = b.encode(x)
    dist = distillation_loss(z, W)
    if form == "rayleigh":
        dist = dist / (z * z).sum(1).mean()
    # the logged term (Adam's first step is about lr * sign(grad), blind to the term's scale)
    assert curve[-1]["distill"] == pytest.approx(dist.item() / n, rel=1e-5)
    ((reconstruction_loss(x, b.decode(z)) + mu * dist) / n).backward()
    opt.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb)


def test_variant_switches_multiply_the_top_level_weights():
    from common import variant_settings

    p = {"lambda1": 1.0, "lambda2": 1.0, "lambda3": 1.0, "lambda4": 1.0, "eta": 0.1, "mu": 0.01,
         "gamma": 2.0, "sigma": 0.5,
         "variants": {"a": {"reg": "l2", "task": True, "model": True, "self": True},
                      "b": {"reg": "l1", "task": True, "model": False, "self": False},
                      "c": {"reg": "l2", "task": False, "model": False, "self": False}}}
    assert variant_settings(p, "a") == {"reg": "l2", "init": "task_model", "mu": 0.01,
                                        "gamma": 2.0, "sigma": 0.5}
    assert variant_settings(p, "b")["init"] == "task" and variant_settings(p, "b")["mu"] == 0.0
    assert variant_settings(p, "c")["init"] == "random" and variant_settings(p, "c")["gamma"] == 0.0
    with pytest.raises(SystemExit, match="unknown variant 'zz'"):
        variant_settings(p, "zz")
    with pytest.raises(SystemExit, match="mu must be >= 0"):
        variant_settings({**p, "mu": -1}, "a")
    with pytest.raises(SystemExit, match="sigma"):
        variant_settings({**p, "sigma": 0}, "a")


def test_a_weight_can_be_given_per_data_kind():
    from common import by_kind, variant_settings

    p = {"lambda1": 1.0, "lambda2": 1.0, "lambda3": 1.0, "lambda4": 1.0, "eta": 0.1,
         "mu": {"text": 0.01, "image": 0.001}, "gamma": 1.0, "sigma": 0.5,
         "variants": {"a": {"reg": "l2", "task": True, "model": True, "self": True}}}
    assert variant_settings(p, "a", "text")["mu"] == 0.01
    assert variant_settings(p, "a", "image")["mu"] == 0.001
    assert by_kind(p, "gamma", "image") == 1.0
    with pytest.raises(SystemExit, match="no value for data kind 'audio'"):
        by_kind(p, "mu", "audio")
    with pytest.raises(SystemExit, match="mu must be >= 0"):
        variant_settings({**p, "mu": {"text": -1.0, "image": 0.0}}, "a", "text")


def test_scale_free_eq9_is_the_summed_loss_divided_by_the_stated_counts():
    """scale='mean' = each summed term / the points or pairs it sums over (small case)."""
    x, xh, z, zc, C, W = _terms()        # n = 7 points, x 5 coords, z 3 coords
    n, D = 7, 5
    kw = dict(lambda1=2.0, lambda2=0.5, mu=0.3, gamma=0.7, sigma=0.5, reg="l1")
    s = lrsc_loss(x, xh, z, zc, C, W, **kw)
    m = lrsc_loss(x, xh, z, zc, C, W, **kw, scale="mean")
    counts = {"rec": n, "selfexp": n, "reg": n, "distill": n * (n - 1), "selfsup": n}
    for key, cnt in counts.items():
        assert float(m[key]) == pytest.approx(float(s[key]) / cnt, rel=1e-6), key
    expect = (m["rec"] + 2.0 * m["selfexp"] + 0.5 * m["reg"] + 0.3 * m["distill"]
              + 0.7 * m["selfsup"])
    assert float(m["loss"]) == pytest.approx(float(expect), rel=1e-6)
    # the selfsup mean is F.cross_entropy's mean; rec is MSE / 2
    assert float(m["selfsup"]) == pytest.approx(_direct_infonce(z, zc, 0.5) / n, rel=1e-5)
    assert float(m["rec"]) == pytest.approx(0.5 * D * float(F.mse_loss(xh, x)), rel=1e-6)
    with pytest.raises(ValueError, match="unknown loss scale"):
        lrsc_loss(x, xh, z, zc, C, W, **kw, scale="median")


def test_prox_c_step_is_soft_thresholding_of_a_gradient_step_with_exact_zeros():
    from deepsc.finetune import prox_c_step

    g = torch.Generator().manual_seed(3)
    n, step, lam = 6, 0.5, 0.2
    C0 = torch.randn(n, n, generator=g, dtype=torch.float64) * 0.3
    grad = torch.randn(n, n, generator=g, dtype=torch.float64)
    C = C0.clone()
    prox_c_step(C, grad.clone(), step, lam, "l1")   # grad is the step's scratch space
    for i in range(n):
        for j in range(n):
            u = float(C0[i, j] - step * grad[i, j])
            want = 0.0 if i == j else math.copysign(max(abs(u) - step * lam, 0.0), u)
            assert float(C[i, j]) == pytest.approx(want, abs=1e-15)
    off = ~torch.eye(n, dtype=torch.bool)
    u = (C0 - step * grad)[off]
    assert int((C[off] == 0).sum()) == int((u.abs() <= step * lam).sum()) > 0  # exact zeros
    C2 = C0.clone()
    prox_c_step(C2, grad.clone(), step, lam, "l2", zero_diag=False)  # prox of lam ||C||_F^2
    torch.testing.assert_close(C2, (C0 - step * grad) / (1 + 2 * step * lam))


def test_backtracking_prox_step_accepts_the_plain_step_when_l_is_right_and_descends_when_not():
    """On f(C) = lambda1/2 ||Z - ZC||_F^2 (curvature lambda1 ||Z||_2^2, worked out in closed
    form), with l1: at the true L the first try is taken and equals ``prox_c_step``; at L/64 the
    plain step raises F = f + lam ||C||_1 while the backtracking step lowers it, after doubling
    L until the quadratic model holds (so the accepted L is at most twice the true one)."""
    from deepsc.finetune import backtracking_prox_c_step, prox_c_step

    g = torch.Generator().manual_seed(5)
    n, d, lam1, lam = 12, 4, 3.0, 0.05
    Z = torch.randn(n, d, generator=g, dtype=torch.float64)   # rows = points
    C = torch.randn(n, n, generator=g, dtype=torch.float64) * 0.1
    C.fill_diagonal_(0.0)

    def f(c):
        return 0.5 * lam1 * float((Z - c.T @ Z).pow(2).sum())

    def grad(c):   # d/dC of lam1/2 ||Z^T - Z^T C||^2 = -lam1 Z (Z^T - Z^T C)
        return -lam1 * Z @ (Z.T - Z.T @ c)

    def F_(c):
        return f(c) + lam * float(c.abs().sum())

    L_true = lam1 * float(torch.linalg.matrix_norm(Z, ord=2)) ** 2
    G = grad(C)
    G.fill_diagonal_(0.0)
    bt = C.clone()
    L_ok, tries = backtracking_prox_c_step(bt, G, f(C), f, L_true, lam, "l1")
    plain = C.clone()
    prox_c_step(plain, G.clone(), 1.0 / L_true, lam, "l1")
    assert (L_ok, tries) == (L_true, 1)
    # the same step up to float64 rounding (the two paths may fuse the multiply-add differently:
    # 1 ulp apart on some CPUs), and the same exact zeros
    torch.testing.assert_close(bt, plain, rtol=1e-14, atol=1e-17)
    assert torch.equal(bt == 0, plain == 0)
    assert torch.equal(G, grad(C).fill_diagonal_(0.0))   # the gradient is left intact

    small = C.clone()
    prox_c_step(small, G.clone(), 64.0 / L_true, lam, "l1")
    assert F_(small) > F_(C)                             # the too-long plain step ascends
    bt = C.clone()
    L_ok, tries = backtracking_prox_c_step(bt, G, f(C), f, L_true / 64, lam, "l1")
    assert tries > 1 and L_true / 64 < L_ok <= 2 * L_true
    assert F_(bt) < F_(C) and float(bt.diagonal().abs().max()) == 0.0
    want = C.clone()
    prox_c_step(want, G.clone(), 1.0 / L_ok, lam, "l1")
    torch.testing.assert_close(bt, want, rtol=1e-14, atol=1e-17)
    assert torch.equal(bt == 0, want == 0)
    assert int((bt == 0).sum()) > n                    # exact zeros off the diagonal too


def test_backtracking_finetuning_logs_its_factor_and_stays_finite():
    from deepsc.finetune import finetune

    X = np.random.default_rng(1).normal(size=(40, 16)).astype(np.float32)
    ae = build_autoencoder("text", (16,), {"latent_dim": 8})
    kw = dict(arch={"latent_dim": 8}, state_dict=ae.state_dict(), seed=0, k2=20, lr=1e-3,
              lambda1=10.0, lambda2=0.1, reg="l1", c_init=1e-4, scale="mean", gamma=0.05,
              sigma=0.5, progress=False)
    res = finetune(X, "text", **kw, c_update="prox_backtrack")
    rows = [r for r in res["curve"] if r["phase"] == "finetune"]
    assert all(r["c_beta"] >= 1.0 and r["c_tries"] >= 1 for r in rows)
    assert all(np.isfinite(r["loss"]) for r in rows) and np.all(np.diag(res["C"]) == 0)
    assert "c_beta" not in finetune(X, "text", **kw, c_update="prox")["curve"][-1]


def test_rayleigh_distillation_does_not_shrink_the_codes_as_eq4_does():
    from deepsc.finetune import finetune

    rng = np.random.default_rng(3)
    X, T = rng.normal(size=(40, 16)).astype(np.float32), rng.normal(size=(40, 5))
    ae = build_autoencoder("text", (16,), {"latent_dim": 8})
    kw = dict(arch={"latent_dim": 8}, state_dict=ae.state_dict(), seed=0, k2=40, lr=1e-2,
              lambda1=1.0, lambda2=1.0, reg="l2", c_init=1e-4, scale="mean", T=T, mu=100.0,
              progress=False)
    rms = {form: finetune(X, "text", **kw, distill=form)["curve"][-1]["z_rms"]
           for form in ("eq4", "rayleigh")}
    start = finetune(X, "text", **{**kw, "k2": 1})["curve"][0]["z_rms"]
    assert rms["eq4"] < 0.5 * start < rms["rayleigh"], (start, rms)
    with pytest.raises(ValueError, match="unknown distillation form 'pca'"):
        finetune(X, "text", **kw, distill="pca")


def test_prox_finetuning_gives_sparse_c_and_adam_does_not():
    from deepsc.finetune import finetune

    X = np.random.default_rng(0).normal(size=(40, 16)).astype(np.float32)
    ae = build_autoencoder("text", (16,), {"latent_dim": 8})
    kw = dict(arch={"latent_dim": 8}, state_dict=ae.state_dict(), seed=0, k2=30, lr=1e-3,
              lambda1=10.0, lambda2=1.0, reg="l1", c_init=1e-4, scale="mean", progress=False)
    prox = finetune(X, "text", **kw, c_update="prox")
    adam = finetune(X, "text", **kw, c_update="adam")
    off = ~np.eye(40, dtype=bool)
    assert (prox["C"][off] == 0).mean() > 0.5 and np.all(np.diag(prox["C"]) == 0)
    assert (adam["C"][off] == 0).mean() == 0.0
    assert all(np.isfinite(r["loss"]) for r in prox["curve"])
    with pytest.raises(ValueError, match="unknown C update"):
        finetune(X, "text", **kw, c_update="sgd")


def test_collapse_monitor_fires_on_a_collapsing_run_and_not_on_a_healthy_one():
    from deepsc.finetune import collapse_warning, finetune, latent_stats

    # effective rank: d equal singular values give d, one direction gives 1
    r = torch.randn(50, 4, dtype=torch.float64)
    q, _ = torch.linalg.qr(r - r.mean(0))   # centred orthonormal columns
    assert latent_stats(q * 3.0)["z_erank"] == pytest.approx(4.0, rel=1e-6)
    line = torch.outer(torch.linspace(-1, 1, 50), torch.ones(4))
    assert latent_stats(line)["z_erank"] == pytest.approx(1.0, abs=1e-6)
    X = np.random.default_rng(0).normal(size=(40, 16)).astype(np.float32)
    torch.manual_seed(0)
    ae = build_autoencoder("text", (16,), {"latent_dim": 8})
    kw = dict(arch={"latent_dim": 8}, state_dict=ae.state_dict(), seed=0, k2=150, lr=1e-2,
              lambda2=0.0, reg="l2", c_init=0.0, progress=False)
    # with C = 0 fixed near zero and a huge self-expression weight, Z = 0 is the optimum
    bad = finetune(X, "text", **kw, lambda1=1e6)
    assert "latent collapse" in (collapse_warning(bad["curve"]) or "")
    good = finetune(X, "text", **kw, lambda1=0.1)
    assert collapse_warning(good["curve"]) is None
    # a proximal C step far beyond 1/L blows the self-expression term up: flagged as diverged
    wild = finetune(X, "text", **{**kw, "lr": 1e-3, "k2": 20}, lambda1=1.0, c_update="prox",
                    c_step=50.0)
    assert "diverged" in (collapse_warning(wild["curve"]) or "")


def test_tune_grid_may_be_one_grid_or_one_per_data_kind():
    from tune import grid_for
    flat = {"mu": [0.0, 2.0], "gamma": [0.05]}
    assert grid_for({"grid": flat}, "text") == flat == grid_for({"grid": flat}, "image")
    per_kind = {"text": {"mu": [0.0, 20.0], "gamma": [0.0]}, "image": {"mu": [1.0], "gamma": [0.0, 1.0]}}
    assert grid_for({"grid": per_kind}, "image") == per_kind["image"]
    assert grid_for({"grid": per_kind}, "text") == per_kind["text"]
    with pytest.raises(SystemExit, match="no grid for data kind 'image'"):
        grid_for({"grid": {"text": flat}}, "image")
    with pytest.raises(SystemExit, match="mu, gamma and distill only"):
        grid_for({"grid": {"image": {"lambda1": [1.0]}}}, "image")
    forms = {"distill": ["eq4", "rayleigh"], "mu": [1.0]}
    assert grid_for({"grid": forms}, "text") == forms
    with pytest.raises(SystemExit, match=r"tune.grid.distill has \['pca'\]"):
        grid_for({"grid": {"distill": ["pca"], "mu": [1.0]}}, "text")


def test_distill_form_is_by_kind_and_a_variant_overrides_it_in_k2():
    from common import distill_form

    p = {"distill": {"text": "rayleigh", "image": "eq4"},
         "variants": {"a": {"reg": "l2"}, "r": {"reg": "l2", "distill": "eq4"}}}
    assert distill_form(p, "text") == "rayleigh" and distill_form(p, "image") == "eq4"
    assert distill_form(p, "text", "a") == "rayleigh" and distill_form(p, "text", "r") == "eq4"
    assert distill_form({"variants": {}}, "text") == "eq4"   # absent: the paper's eq. 4
    with pytest.raises(SystemExit, match="variants.r.distill is 'pca'"):
        distill_form({"variants": {"r": {"distill": "pca"}}}, "text", "r")
    with pytest.raises(SystemExit, match="no value for data kind 'image'"):
        distill_form({"distill": {"text": "eq4"}, "variants": {}}, "image")
