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


def test_per_layer_kernels_build_the_intended_shapes():
    ae = build_autoencoder("image", (1, 32, 32), {"channels": [3, 3, 5], "kernel": [5, 3, 3]})
    convs = [m for m in ae.encoder if isinstance(m, torch.nn.Conv2d)]
    deconvs = [m for m in ae.decoder if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [m.kernel_size[0] for m in convs] == [5, 3, 3]
    assert [m.padding[0] for m in convs] == [2, 1, 1]
    assert [m.out_channels for m in convs] == [3, 3, 5]
    assert [m.kernel_size[0] for m in deconvs] == [3, 3, 5]   # mirrored
    assert [m.out_channels for m in deconvs] == [3, 3, 1]
    x = torch.rand(2, 1, 32, 32)
    z = ae.encode(x)
    assert z.shape == (2, 80) and ae.code_shape == (5, 4, 4)   # 32 -> 16 -> 8 -> 4
    assert ae.decode(z).shape == x.shape
    # strides and paddings per layer too; output paddings follow (odd sizes, stride 1)
    ae = build_autoencoder("image", (1, 28, 28), {"channels": [4, 6], "kernel": [5, 3],
                                                  "stride": [2, 1], "padding": [2, 0]})
    assert ae.code_shape == (6, 12, 12)                        # 28 -> 14 -> 12
    assert ae.decode(ae.encode(torch.rand(1, 1, 28, 28))).shape == (1, 1, 28, 28)
    with pytest.raises(ValueError, match="kernel has 2 entries"):
        build_autoencoder("image", (1, 32, 32), {"channels": [3, 3, 5], "kernel": [5, 3]})


def test_default_arch_loads_strict_checkpoints_and_is_unchanged():
    """A checkpoint of the default arch (state_dict keys and shapes as before per-layer
    kernels) loads strictly into the int-kernel, the list-kernel and the linear-latent form,
    and all three compute the same function."""
    arch = {"channels": [10, 20, 30, 40], "kernel": 3}
    torch.manual_seed(0)
    old = ConvAutoencoder(1, (10, 20, 30, 40), 3, 32)
    state = old.state_dict()
    assert [k for k in state][:2] == ["encoder.0.weight", "encoder.0.bias"]
    assert list(state)[-2:] == ["decoder.6.weight", "decoder.6.bias"]
    x = torch.rand(3, 1, 32, 32)
    for a in (arch, {**arch, "kernel": [3, 3, 3, 3]}, {**arch, "stride": [2, 2, 2, 2]}):
        ae = build_autoencoder("image", (1, 32, 32), a)
        ae.load_state_dict(state, strict=True)
        assert torch.equal(ae.decode(ae.encode(x)), old.decode(old.encode(x)))
    lin = build_autoencoder("image", (1, 32, 32), {**arch, "latent_relu": False})
    lin.load_state_dict(state, strict=True)
    assert not isinstance(list(lin.encoder)[-1], torch.nn.ReLU)
    # the same seed gives the same default weights as before the arch keys existed
    torch.manual_seed(0)
    again = build_autoencoder("image", (1, 32, 32), arch).state_dict()
    assert all(torch.equal(state[k], again[k]) for k in state)
    # a per-layer checkpoint refuses another per-layer arch
    narrow = build_autoencoder("image", (1, 32, 32), {"channels": [3, 3, 5], "kernel": [5, 3, 3]})
    other = build_autoencoder("image", (1, 32, 32), {"channels": [3, 3, 5], "kernel": 3})
    with pytest.raises(RuntimeError, match="size mismatch"):
        other.load_state_dict(narrow.state_dict(), strict=True)


def test_kaiming_init():
    torch.manual_seed(0)
    ae = build_autoencoder("image", (1, 32, 32), {"channels": [3, 3, 5], "kernel": [5, 3, 3],
                                                  "init": "kaiming"})
    for m in list(ae.encoder) + list(ae.decoder):
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            assert torch.all(m.bias == 0)
    w = ae.encoder[0].weight                      # fan-in 1 x 5 x 5
    assert 0.5 * (2 / 25) ** 0.5 < w.std() < 1.5 * (2 / 25) ** 0.5
    with pytest.raises(ValueError, match="unknown init"):
        build_autoencoder("text", (4,), {"latent_dim": 2, "init": "xavier"})


def test_channels_last_layout_computes_the_nchw_network():
    """The conv AE keeps its kernels channels-last (speed only): the same weights in NCHW, run
    without the layout conversion, give the same codes, reconstruction and gradients up to
    float32 rounding, and its state_dict loads into an NCHW module and back unchanged."""
    import copy
    torch.manual_seed(0)
    for arch in ({"channels": [10, 20, 30, 40], "kernel": 3},
                 {"channels": [3, 3, 5], "kernel": [5, 3, 3]}):
        ae = build_autoencoder("image", (1, 32, 32), arch)
        convs = [m for m in ae.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
        assert all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convs
                   if m.weight.shape[1] > 1)
        ref = copy.deepcopy(ae).to(memory_format=torch.contiguous_format)
        x = torch.rand(7, 1, 32, 32)
        z, z_ref = ae.encode(x), ref.encoder(x).flatten(1)
        rec, rec_ref = ae.decode(z), ref.decoder(z_ref.view(-1, *ref.code_shape))
        torch.testing.assert_close(z, z_ref, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(rec, rec_ref, rtol=1e-5, atol=1e-6)
        rec.square().sum().backward()
        rec_ref.square().sum().backward()
        for (name, p), p_ref in zip(ae.named_parameters(), ref.parameters()):
            torch.testing.assert_close(p.grad, p_ref.grad, rtol=1e-4, atol=1e-5, msg=name)
        back = build_autoencoder("image", (1, 32, 32), arch)
        ref_sd = {k: v.contiguous() for k, v in ae.state_dict().items()}
        back.load_state_dict(ref_sd)
        for (k, v), v2 in zip(ae.state_dict().items(), back.state_dict().values()):
            assert torch.equal(v, v2), k
