import numpy as np
import pytest
import torch

from deepsc.finetune import train_dscnet
from deepsc.nets import ConvAutoencoder, FCAutoencoder, build_autoencoder


def test_conv_autoencoder_shapes_match_paper():
    ae = ConvAutoencoder()
    x = torch.rand(2, 1, 32, 32)
    z = ae.encode(x)
    assert z.shape == (2, 160)  # 40 channels x 2 x 2
    assert ae.decode(z).shape == x.shape
    convs = [m for m in ae.encoder if isinstance(m, torch.nn.Conv2d)]
    assert [m.out_channels for m in convs] == [10, 20, 30, 40]
    assert all(m.kernel_size == (3, 3) and m.stride == (2, 2) for m in convs)


def test_fc_autoencoder_and_factory():
    ae = build_autoencoder("text", (256,), {"latent_dim": 64})
    assert isinstance(ae, FCAutoencoder)
    assert ae.decode(ae.encode(torch.randn(3, 256))).shape == (3, 256)
    with pytest.raises(ValueError, match="kind"):
        build_autoencoder("audio", (3,), {})


def test_train_dscnet_is_deterministic_and_label_free():
    X = np.random.default_rng(0).normal(size=(40, 16)).astype(np.float32)
    kw = dict(arch={"latent_dim": 8}, seed=3, k1=5, batch_size=16, lr_pretrain=1e-3, k2=5, lr=1e-3,
              lambda1=1.0, lambda2=0.1, reg="l2", c_init=1e-4, progress=False)
    a, b = train_dscnet(X, "text", **kw), train_dscnet(X, "text", **kw)
    np.testing.assert_array_equal(a["C"], b["C"])
    assert a["C"].shape == (40, 40) and np.all(np.diag(a["C"]) == 0)
    with pytest.raises(ValueError, match="lambda2 must be >= 0"):
        train_dscnet(X, "text", **{**kw, "lambda2": -1.0})
