"""SSCN (papers/sscn-2020.md): eq. (2)/(3) against explicit n x n forms, Theorem 1's closed form,
the Stiefel update, the block-wise affinity against the dense post-processing, the classifier."""
import numpy as np
import pytest
import torch

from deepsc.cluster import dscnet_postprocess, spectral_clustering
from deepsc.metrics import accuracy
from deepsc.sscn import (SSCN, CayleyAdam, RotationClassifier, count_parameters, embed_batches,
                         predict_images, run_sscn, sscn_affinity, sscn_loss, sscn_terms,
                         spectral_clustering_inplace, train_classifier, train_sscn)
from sklearn.metrics import adjusted_rand_score


def independent_subspaces(dims=(2, 2, 2), n_per=6, ambient=10, seed=0):
    """Noise-free points (rows) on independent subspaces: their bases are disjoint columns of
    a random orthogonal matrix, so rank = sum of dims."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((ambient, ambient)))
    rows, labels, start = [], [], 0
    for k, d in enumerate(dims):
        B = Q[:, start:start + d]
        start += d
        rows.append(rng.standard_normal((n_per, d)) @ B.T)
        labels += [k] * n_per
    return np.vstack(rows), np.array(labels)


def test_parameter_count_matches_the_paper():
    model = SSCN(10, 9)
    assert count_parameters(model.ae) == 14_991
    assert count_parameters(model.h) == 480 * 90
    assert count_parameters(model, RotationClassifier(10, 9).R) == 66_291   # SSCN Table 1


def test_terms_equal_the_explicit_n_by_n_forms():
    torch.manual_seed(0)
    model = SSCN(3, 2).double()
    x = torch.rand(7, 1, 28, 28, dtype=torch.float64)
    z = model.ae.encode(x)
    h = model.h(z)
    terms = sscn_terms(x, z, h, model.ae.decode)
    Q = h @ h.T                                            # the b x b matrix, explicitly
    assert torch.allclose(terms["q"], 0.5 * (Q ** 2).sum())
    assert torch.allclose(terms["selfexp"], 0.5 * ((z - Q @ z) ** 2).sum())
    assert torch.allclose(terms["rec"], 0.5 * ((x - model.ae.decode(Q @ z)) ** 2).sum())
    loss = sscn_loss(terms, 2.0, 3.0)
    assert torch.allclose(loss, terms["q"] + 2 * terms["selfexp"] + 3 * terms["rec"])
    # permuting the batch permutes Q and leaves every term unchanged
    perm = torch.randperm(7)
    t2 = sscn_terms(x[perm], z[perm], h[perm], model.ae.decode)
    for key in terms:
        assert torch.allclose(terms[key], t2[key])


@pytest.mark.parametrize("d_h", [6, 9])
def test_theorem1_linear_h_recovers_the_edsc_closed_form(d_h):
    """h(Z) = Z W^T, Z = X fixed, noise-free independent subspaces: the trained Q equals
    (I + lam X^T X)^-1 lam X^T X (Definition 1's unique solution) and is block-diagonal."""
    X, y = independent_subspaces()
    lam = 5.0
    Z = torch.as_tensor(X)
    G = Z @ Z.T                                            # X^T X in the paper's columns
    Q_star = torch.linalg.solve(torch.eye(len(Z), dtype=G.dtype) + lam * G, lam * G)
    torch.manual_seed(0)
    W = (0.1 * torch.randn(d_h, Z.shape[1], dtype=torch.float64)).requires_grad_(True)
    opt = torch.optim.LBFGS([W], lr=1, max_iter=2000, tolerance_grad=1e-12,
                            tolerance_change=1e-15, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        t = sscn_terms(None, Z, Z @ W.T, None)
        loss = t["q"] + lam * t["selfexp"]
        loss.backward()
        return loss

    for _ in range(5):
        opt.step(closure)
    H = (Z @ W.T).detach()
    Q = H @ H.T
    assert torch.allclose(Q, Q_star, atol=1e-6), (Q - Q_star).abs().max()
    off_block = torch.as_tensor(y[:, None] != y[None, :])
    assert Q[off_block].abs().max() < 1e-6 and Q[~off_block].abs().max() > 0.1


def test_cayley_adam_stays_on_the_stiefel_manifold_and_descends():
    torch.manual_seed(0)
    target, _ = torch.linalg.qr(torch.randn(12, 12, dtype=torch.float64))
    R = torch.eye(12, dtype=torch.float64)
    opt = CayleyAdam(lr=0.1)
    first = float(((R - target) ** 2).sum())
    for step in range(2000):
        G = 2 * (R - target) + (0.5 * torch.randn(12, 12, dtype=torch.float64) if step < 1000 else 0)
        R = opt.step(R, G)
        assert torch.allclose(R.T @ R, torch.eye(12, dtype=torch.float64), atol=1e-5)
    # R reaches the rotation nearest to the target on the manifold (its orthogonal polar factor)
    assert float(((R - target) ** 2).sum()) < 1e-3 * first or torch.det(R) * torch.det(target) < 0


def test_classifier_logits_are_minus_projection_distances():
    clf = RotationClassifier(3, 2)
    clf.R, _ = torch.linalg.qr(torch.randn(6, 6, dtype=torch.float64))
    H = torch.randn(5, 6, dtype=torch.float64)
    Hr = H @ clf.R.T
    for j in range(3):
        S = torch.zeros(6, 2, dtype=torch.float64)
        S[2 * j, 0] = S[2 * j + 1, 1] = 1
        dist = ((Hr - Hr @ S @ S.T) ** 2).sum(1)
        assert torch.allclose(clf.logits(H)[:, j], -dist)


def test_classifier_agrees_with_its_pseudo_labels_on_a_separable_toy():
    """Embeddings on 4 orthogonal 3-dim blocks, hidden by a random rotation: R learns to undo
    it, and the classifier applied to the training points reproduces the pseudo-labels."""
    rng = np.random.default_rng(0)
    K, q, n_per = 4, 3, 60
    H = np.zeros((K * n_per, K * q))
    y = np.repeat(np.arange(K), n_per)
    for k in range(K):
        H[y == k, k * q:(k + 1) * q] = rng.standard_normal((n_per, q))
    rot, _ = np.linalg.qr(rng.standard_normal((K * q, K * q)))
    H = H @ rot.T
    pseudo = (y + 1) % K                                   # labels are arbitrary names
    clf, curve = train_classifier(H, pseudo, K, q, epochs=60, batch_size=64, lr=0.1,
                                  gen=torch.Generator().manual_seed(0))
    assert (clf.predict(H) == pseudo).mean() >= 0.95
    assert curve[-1]["agreement"] >= 0.95 and curve[-1]["clf_loss"] < curve[0]["clf_loss"]
    assert torch.allclose(clf.R.T @ clf.R, torch.eye(K * q, dtype=clf.R.dtype), atol=1e-5)


def test_blockwise_affinity_equals_the_dense_post_processing():
    rng = np.random.default_rng(1)
    H = rng.standard_normal((300, 12)).astype(np.float32)
    dense = dscnet_postprocess((H @ H.T).astype(np.float64), 4, d=2, alpha=8, rho=0.2)
    for block in (64, 300):
        A = sscn_affinity(H, 4, "dscnet", rho=0.2, d=2, alpha=8, block=block)
        assert A.dtype == np.float32 and np.abs(A - dense).max() < 1e-4
    none = sscn_affinity(H, 4, "none", block=50)
    assert np.allclose(none, np.abs(H @ H.T), atol=1e-5)
    with pytest.raises(ValueError, match="post-processing"):
        sscn_affinity(H, 4, "bogus")
    with pytest.raises(ValueError, match="n_clusters"):
        sscn_affinity(H, 301, "none")


def test_inplace_spectral_clustering_matches_the_library_one():
    X, y = independent_subspaces(dims=(2, 2, 2), n_per=40, ambient=10)
    A = np.abs(X @ X.T).astype(np.float32) ** 2
    ref = spectral_clustering(A.astype(np.float64), 3, seed=0)
    got = spectral_clustering_inplace(A.copy(), 3, seed=0)
    assert adjusted_rand_score(ref, got) == 1.0 and accuracy(y, got) == 1.0


def test_run_sscn_end_to_end_and_out_of_sample_prediction():
    rng = np.random.default_rng(0)
    x = rng.random((64, 1, 28, 28)).astype(np.float32)
    model = SSCN(2, 3)
    res = run_sscn(x, model.ae.state_dict(), n_clusters=2, q=3, lambda1=1, lambda2=1, lambda3=1,
                   batch_size=32, epochs=2, lr=1e-3, clf_epochs=2, clf_batch_size=32, clf_lr=0.1,
                   clf_betas=(0.9, 0.99), seed=0, postprocess=["none", "dscnet"],
                   pseudo_labels="dscnet", pp_params={"dscnet": {"rho": 0.5, "d": 2, "alpha": 2}},
                   progress=False)
    assert set(res["labels"]) == {"none", "dscnet"} and len(res["curve"]) == 2
    assert res["parameters"] == count_parameters(res["model"]) + 36
    assert set(res["seconds"]) >= {"selfexpression", "spectral_dscnet", "classifier"}
    # out-of-sample labels: batch size does not matter, and they equal the classifier on H
    lab = predict_images(res["model"], res["clf"], x, batch_size=10)
    assert np.array_equal(lab, predict_images(res["model"], res["clf"], x, batch_size=64))
    assert np.array_equal(lab, res["clf"].predict(embed_batches(res["model"], x)))
    with pytest.raises(ValueError, match="pseudo_labels"):
        run_sscn(x, model.ae.state_dict(), n_clusters=2, q=3, lambda1=1, lambda2=1, lambda3=1,
                 batch_size=32, epochs=1, lr=1e-3, clf_epochs=1, clf_batch_size=32, clf_lr=0.1,
                 clf_betas=(0.9, 0.99), seed=0, postprocess=["none"], pseudo_labels="dscnet",
                 pp_params={}, progress=False)


def test_training_is_deterministic_and_rejects_bad_weights():
    x = torch.rand(40, 1, 28, 28)
    curves = []
    for _ in range(2):
        torch.manual_seed(3)
        model = SSCN(2, 2)
        curves.append(train_sscn(model, x, lambda1=1, lambda2=1, batch_size=20, epochs=2, lr=1e-3,
                                 gen=torch.Generator().manual_seed(3), progress=False))
    assert curves[0] == curves[1]
    with pytest.raises(ValueError, match="lambda1"):
        train_sscn(SSCN(2, 2), x, lambda1=-1, lambda2=1, batch_size=20, epochs=1, lr=1e-3,
                   gen=torch.Generator())
