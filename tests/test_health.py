import numpy as np
import pytest
import torch

from deepsc.finetune import pretrain
from deepsc.health import (Health, autoencoder_health, checkpoint_health, effective_rank, judge,
                           restart_seed, until_healthy)
from deepsc.nets import FCAutoencoder, build_autoencoder


def subspace_data(n=240, dim=20, k=3, sub=3, seed=0):
    """Points on k random sub-dimensional subspaces of R^dim (non-negative shift, like pixels)."""
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(size=(n // k, sub)) @ rng.normal(size=(sub, dim)) for _ in range(k)])
    return (X + 3.0).astype(np.float32)


def test_constructed_collapse_is_flagged():
    """Dead code layer and a decoder that outputs the mean image: the collapse of issue 17."""
    X = subspace_data()
    ae = FCAutoencoder(X.shape[1], 8)
    with torch.no_grad():
        ae.encoder[0].bias.fill_(-1e3)          # every code unit zero on every point
        ae.decoder.weight.zero_()
        ae.decoder.bias.copy_(torch.as_tensor(X.mean(0)))  # output = mean(X)
    h = autoencoder_health(ae, X)
    assert h.rel_rec == pytest.approx(1.0, abs=1e-5)
    assert h.dead == [1.0] and h.eff_rank == 0.0
    assert not h.healthy and len(h.reasons) == 3
    assert "COLLAPSED" in h.summary()


def test_mean_decoder_alone_is_flagged():
    """A live encoder does not save an autoencoder whose output ignores the code."""
    X = subspace_data()
    ae = FCAutoencoder(X.shape[1], 8)
    with torch.no_grad():
        ae.decoder.weight.zero_()
        ae.decoder.bias.copy_(torch.as_tensor(X.mean(0)))
    h = autoencoder_health(ae, X)
    assert h.rel_rec == pytest.approx(1.0, abs=1e-5) and h.eff_rank > 2
    assert not h.healthy and h.reasons[0].startswith("rel_rec")


def test_trained_autoencoder_passes():
    X = subspace_data()
    arch = {"latent_dim": 8, "latent_relu": False}
    res = pretrain(X, "text", arch=arch, seed=0, k1=150, batch_size=64, lr=3e-2, progress=False,
                   device="cpu")
    h = checkpoint_health("text", arch, res["state_dict"], X)
    assert h.healthy, h.summary()
    assert h.rel_rec < 0.1 and h.eff_rank >= 2 and h.dead == [0.0]
    # an untrained network of the same shape is much worse than the trained one
    assert autoencoder_health(build_autoencoder("text", (20,), arch), X).rel_rec > 5 * h.rel_rec


def test_dead_units_counted_per_layer_and_decoder():
    X = np.random.default_rng(0).random((50, 1, 16, 16)).astype(np.float32)
    torch.manual_seed(0)
    ae = build_autoencoder("image", (1, 16, 16), {"channels": [4, 4], "kernel": 3})
    with torch.no_grad():
        ae.encoder[0].bias[:2] = -1e3    # 2 of 4 channels of layer 1 dead ...
        ae.encoder[0].bias[2:] = 10.0    # ... the other two alive everywhere (|w.x| <= 3)
        ae.decoder[0].bias[:] = -1e3     # the hidden decoder layer dead on every point
    h = autoencoder_health(ae, X)
    assert h.dead[0] == 0.5 and len(h.dead) == 2
    assert h.dead_decoder == [1.0]
    assert not h.healthy  # the output is one constant: worse than the mean image
    assert h.rel_rec > 1


def test_effective_rank():
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.normal(size=(100, 5)))
    assert effective_rank(Q * 3.0, center=False) == pytest.approx(5.0)
    assert effective_rank(np.ones((10, 4))) == 0.0          # constant codes spread nowhere
    assert effective_rank(np.zeros((10, 4))) == 0.0
    assert 1.0 < effective_rank(Q * np.array([10, 1, 1, 1, 1.0])) < 5.0


def test_thresholds_of_the_verdict():
    assert judge(0.5, [0.0, 0.5], 2.0).healthy
    assert not judge(0.51, [0.0], 30).healthy
    assert not judge(0.1, [0.0], 1.9).healthy
    assert not judge(0.1, [0.0, 0.95], 30).healthy
    assert judge(0.1, [0.0, 0.9], 30).healthy
    assert judge(0.1, [0.95, 0.0], 30).healthy  # earlier layers are reported, not judged


def test_until_healthy_restarts_with_fresh_seeds_and_records():
    verdicts = iter([judge(1.3, [0.0], 20), judge(0.9, [1.0], 0.0), judge(0.2, [0.0], 20)])
    seen = []

    def train(s):
        seen.append(s)
        return {"seed": s}

    res, h, attempts = until_healthy(train, lambda r: next(verdicts), seed=2, max_restarts=3)
    assert seen == [2, restart_seed(2, 1), restart_seed(2, 2)] and len(set(seen)) == 3
    assert h.healthy and res["seed"] == seen[-1]
    assert [a["kept"] for a in attempts] == [False, False, True]
    assert [a["healthy"] for a in attempts] == [False, False, True]
    # none healthy: the lowest rel_rec is kept, all attempts recorded
    verdicts = iter([judge(1.3, [0.0], 20), judge(0.9, [1.0], 0.0)])
    res, h, attempts = until_healthy(train, lambda r: next(verdicts), seed=0, max_restarts=1)
    assert not h.healthy and h.rel_rec == 0.9 and [a["kept"] for a in attempts] == [False, True]


def test_narrow_conv_init():
    """The cause of the collapse: with PyTorch's default init some seeds of the 3-3-5 network
    start with a hidden layer dead on every point (no gradient reaches anything but the last
    bias); He init with zero biases starts none so."""
    X = np.random.default_rng(0).random((64, 1, 32, 32)).astype(np.float32)
    arch = {"channels": [3, 3, 5], "kernel": [5, 3, 3]}

    def fully_dead_layers(init, seed):
        torch.manual_seed(seed)
        h = autoencoder_health(build_autoencoder("image", X.shape[1:], {**arch, "init": init}), X)
        return sum(d == 1.0 for d in h.dead + h.dead_decoder)

    assert sum(fully_dead_layers("default", s) > 0 for s in range(10)) >= 2
    assert sum(fully_dead_layers("kaiming", s) for s in range(10)) == 0


def test_health_is_json_ready():
    h = judge(0.2, [0.0], 3.0)
    assert isinstance(h, Health) and set(h.as_dict()) >= {"rel_rec", "dead", "eff_rank", "healthy"}
