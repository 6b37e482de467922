import numpy as np
import pytest
import torch
from torchvision.models.resnet import BasicBlock

import deepsc.teacher as teacher
from deepsc.teacher import (MLPTeacher, ResNetTeacher, accuracy, build_teacher, extract_features,
                            predict, target_features, train_teacher, two_fold_split,
                            two_fold_teachers)

TEXT = dict(epochs=15, batch_size=32, lr=3e-3, weight_decay=0.0, seed=0, device="cpu",
            progress=False)
ARCH = {"hidden": [32, 32, 16], "dropout": 0.0}


def blobs(n_per=50, k=3, dim=20, seed=0, labels=None):
    """Gaussian blobs: well separated, every row unique (so rows identify samples)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(k, dim))
    y = np.repeat(np.arange(k) if labels is None else np.asarray(labels), n_per)
    X = centers[np.repeat(np.arange(k), n_per)] + rng.normal(size=(k * n_per, dim))
    return X.astype(np.float32), y


def test_resnet_teacher_is_resnet18_for_32x32():
    m = ResNetTeacher(10, width=4)
    convs = [c for c in m.modules() if isinstance(c, torch.nn.Conv2d)]
    assert sum(c.kernel_size == (3, 3) for c in convs) == 17
    assert all(c.kernel_size == (1, 1) for c in convs if c.kernel_size != (3, 3))  # shortcuts
    assert sum(isinstance(c, torch.nn.Linear) for c in m.modules()) == 1
    assert m.conv1.stride == (1, 1) and m.conv1.kernel_size == (3, 3)
    assert isinstance(m.maxpool, torch.nn.Identity)
    assert not any(isinstance(c, torch.nn.MaxPool2d) for c in m.modules())
    assert sum(isinstance(c, BasicBlock) for c in m.modules()) == 8  # torchvision's own
    x = torch.rand(2, 1, 32, 32)
    assert m(x).shape == (2, 10) and m.features(x).shape == (2, 32)


def test_mlp_teacher_and_factory():
    m = MLPTeacher(20, 5)
    assert sum(isinstance(c, torch.nn.Linear) for c in m.modules()) == 4
    x = torch.randn(3, 20)
    assert m(x).shape == (3, 5) and m.features(x).shape == (3, 128)
    assert (m.features(x) >= 0).all()  # after the third ReLU
    assert isinstance(build_teacher("image", (1, 32, 32), 7, {"width": 4}), ResNetTeacher)
    assert isinstance(build_teacher("text", (20,), 7, ARCH), MLPTeacher)
    with pytest.raises(ValueError, match="kind"):
        build_teacher("audio", (3,), 2, {})


def test_teacher_learns_separable_data_with_any_labels():
    X, y = blobs(n_per=100, labels=[7, 42, -3])
    train = np.arange(len(y)) % 2 == 0
    model, curve = train_teacher(X[train], y[train], "text", ARCH, **TEXT)
    assert not model.training and next(model.parameters()).device.type == "cpu"
    assert [c["epoch"] for c in curve] == list(range(1, 16))
    assert curve[-1]["loss"] < curve[0]["loss"]
    assert model.classes.tolist() == [-3, 7, 42]
    assert accuracy(model, X[~train], y[~train]) > 0.9
    pred = predict(model, X[~train])
    assert pred.min() >= 0 and pred.max() <= 2


def test_training_is_deterministic_for_a_seed():
    X, y = blobs(n_per=20)
    a, _ = train_teacher(X, y, "text", ARCH, **TEXT)
    b, _ = train_teacher(X, y, "text", ARCH, **TEXT)
    c, _ = train_teacher(X, y, "text", ARCH, **{**TEXT, "seed": 1})
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    np.testing.assert_array_equal(extract_features(a, X), extract_features(b, X))
    assert not np.array_equal(extract_features(a, X), extract_features(c, X))
    img = np.random.default_rng(0).random((16, 1, 32, 32), dtype=np.float32)
    kw = dict(epochs=1, batch_size=8, lr=1e-3, weight_decay=0.0, seed=0, device="cpu",
              progress=False)
    fa = extract_features(train_teacher(img, np.arange(16) % 2, "image", {"width": 2}, **kw)[0], img)
    fb = extract_features(train_teacher(img, np.arange(16) % 2, "image", {"width": 2}, **kw)[0], img)
    assert fa.shape == (16, 16) and fa.dtype == np.float32
    np.testing.assert_array_equal(fa, fb)


def test_batchnorm_statistics_are_those_of_the_training_data():
    """Few steps leave exponential running averages stale; train_teacher recomputes them."""
    img = np.random.default_rng(1).random((16, 1, 32, 32), dtype=np.float32) * 3 + 1
    model, _ = train_teacher(img, np.arange(16) % 2, "image", {"width": 2}, epochs=1,
                             batch_size=8, lr=1e-3, weight_decay=0.0, seed=0, device="cpu",
                             progress=False)
    with torch.no_grad():
        act = model.conv1(torch.as_tensor(img))
    torch.testing.assert_close(model.bn1.running_mean, act.mean(dim=(0, 2, 3)))


def test_two_fold_split_is_stratified_disjoint_and_complete():
    y = np.repeat([0, 1, 2, 3, 9], [10, 11, 7, 1, 4])
    fold = two_fold_split(y, seed=0)
    assert fold.shape == y.shape and set(np.unique(fold)) <= {0, 1}  # each sample in one fold
    for c in np.unique(y):
        n0, n1 = np.sum(fold[y == c] == 0), np.sum(fold[y == c] == 1)
        assert abs(n0 - n1) <= 1
    assert abs(np.sum(fold == 0) - np.sum(fold == 1)) <= 1
    np.testing.assert_array_equal(fold, two_fold_split(y, seed=0))
    assert not np.array_equal(fold, two_fold_split(y, seed=1))


def test_meta_features_come_from_the_teacher_that_did_not_see_the_sample(monkeypatch):
    X, y = blobs(n_per=30)
    row_id = {row.tobytes(): i for i, row in enumerate(X)}
    assert len(row_id) == len(X)
    seen, real_train = [], teacher.train_teacher

    def recording_train(Xs, ys, *args, **kw):
        seen.append({row_id[r.tobytes()] for r in Xs})
        return real_train(Xs, ys, *args, **kw)

    monkeypatch.setattr(teacher, "train_teacher", recording_train)
    out = two_fold_teachers(X, y, "text", ARCH, **TEXT)
    fold, feats, models = out["fold"], out["meta_features"], out["models"]
    assert len(seen) == 2
    trained_on = {"m1": seen[0], "m2": seen[1]}
    assert trained_on["m1"] == set(np.flatnonzero(fold == 0))
    assert trained_on["m2"] == set(np.flatnonzero(fold == 1))
    np.testing.assert_array_equal(feats[fold == 1], extract_features(models["m1"], X[fold == 1]))
    np.testing.assert_array_equal(feats[fold == 0], extract_features(models["m2"], X[fold == 0]))
    by_model = {k: extract_features(m, X) for k, m in models.items()}
    for i in range(len(X)):
        source = [k for k, f in by_model.items() if np.array_equal(f[i], feats[i])]
        assert len(source) == 1 and i not in trained_on[source[0]]
    assert set(out["heldout_acc"]) == {"m1", "m2"} and min(out["heldout_acc"].values()) > 0.9
    assert out["heldout_acc"]["m1"] == accuracy(models["m1"], X[fold == 1], y[fold == 1])
    assert set(out["curves"]) == {"m1", "m2"}


def test_target_features_choice():
    X, y = blobs(n_per=10)
    models = {"m1": MLPTeacher(20, 3, (16, 16, 8)).eval(), "m2": MLPTeacher(20, 3, (16, 16, 8)).eval()}
    f1, f2 = extract_features(models["m1"], X), extract_features(models["m2"], X)
    np.testing.assert_array_equal(target_features(models, X, "m1"), f1)
    np.testing.assert_array_equal(target_features(models, X, "m2"), f2)
    np.testing.assert_allclose(target_features(models, X, "mean"), (f1 + f2) / 2)
    with pytest.raises(ValueError, match="'m1', 'm2', 'mean'"):
        target_features(models, X, "both")


def test_proxy_teacher_never_sees_the_held_out_classes(monkeypatch):
    from deepsc.meta import heldout_split

    X, y = blobs(n_per=20, k=6)
    train_idx, val_idx, how = heldout_split(y, 2, 0.25, 0)
    assert how == "classes"
    seen, real_train = [], teacher.train_teacher

    def recording_train(Xs, ys, *args, **kw):
        seen.append(set(np.unique(ys)))
        return real_train(Xs, ys, *args, **kw)

    monkeypatch.setattr(teacher, "train_teacher", recording_train)
    feats = teacher.extract_features(teacher.proxy_teacher(X, y, train_idx, "text", ARCH, **TEXT), X)
    assert feats.shape[0] == len(X) and feats.dtype == np.float32
    assert len(seen) == 1 and seen[0] == set(np.unique(y[train_idx]))
    assert seen[0].isdisjoint(set(np.unique(y[val_idx])))


def test_mlp_feature_layers_are_the_hidden_relu_outputs():
    """features(x, layer) = ReLU(W_l ... ReLU(W_1 x + b_1) ... + b_l), written out by hand."""
    torch.manual_seed(0)
    m = MLPTeacher(6, 3, hidden=(5, 4, 2), dropout=0.5).eval()
    x = torch.randn(7, 6)
    lin = [c for c in m.body if isinstance(c, torch.nn.Linear)]
    h, by_hand = x, {}
    for layer, f in enumerate(lin, 1):
        h = torch.clamp(h @ f.weight.T + f.bias, min=0)
        by_hand[layer] = h
    for layer in (1, 2, 3):
        torch.testing.assert_close(m.features(x, layer), by_hand[layer])
    torch.testing.assert_close(m.features(x), by_hand[3])   # default: the last hidden layer
    torch.testing.assert_close(m(x), by_hand[3] @ m.fc.weight.T + m.fc.bias)   # forward unchanged
    np.testing.assert_allclose(extract_features(m, x.numpy(), layer=1), by_hand[1].detach().numpy(),
                               rtol=1e-6)
    for bad in (0, 4, 1.0, True, "1"):
        with pytest.raises(ValueError, match="1..3"):
            m.features(x, bad)


def test_resnet_feature_layers_pool_each_stage():
    m = ResNetTeacher(10, width=4).eval()
    x = torch.rand(2, 1, 32, 32)
    torch.testing.assert_close(m.features(x, 4), m.features(x))
    stem = m.relu(m.bn1(m.conv1(x)))
    torch.testing.assert_close(m.features(x, 1), m.layer1(stem).mean(dim=(2, 3)))
    assert [m.features(x, layer).shape[1] for layer in (1, 2, 3, 4)] == [4, 8, 16, 32]
    with pytest.raises(ValueError, match="1..4"):
        m.features(x, 5)


def test_choose_layer_auto_takes_the_best_agreement_deepest_of_ties():
    assert teacher.choose_layer("auto", {1: 0.78, 2: 0.59, 3: 0.56}) == 1
    assert teacher.choose_layer("auto", {1: 0.5, 2: 0.7, 3: 0.7}) == 3
    assert teacher.choose_layer(2, {1: 0.9, 2: 0.1, 3: 0.1}) == 2
    for bad in (0, 4, "best", 1.5, True):
        with pytest.raises(ValueError, match="auto"):
            teacher.choose_layer(bad, {1: 0.5, 2: 0.5, 3: 0.5})


def test_layer_agreement_scores_every_layer_on_the_given_rows():
    from deepsc.metrics import knn_agreement

    X, y = blobs(n_per=30, k=3)
    model, _ = train_teacher(X, y, "text", ARCH, **TEXT)
    got = teacher.layer_agreement(model, X, y, k=5, device="cpu")
    assert sorted(got) == [1, 2, 3]
    for layer, value in got.items():
        assert value == knn_agreement(extract_features(model, X, layer=layer), y, 5)
    assert min(got.values()) > 0.9   # separable blobs: every layer keeps the classes apart
