"""Autoencoders of the target model (LRSC "Implementation Details", DSC-Net).

- Text: one fully-connected encoder layer and one fully-connected decoder layer.
- Images: stride-2 convolutions (default four 3x3 with 10-20-30-40 channels) and a mirrored
  transposed-convolution decoder; a 32x32 input gives a 40x2x2 = 160-dim latent code.
  ``kernel``, ``stride`` and ``padding`` are one number for every layer or a list with one
  entry per encoder layer, as DSC-Net's configurations write them (e.g. channels 3-3-5 with
  kernels 5-3-3). The decoder mirrors the encoder layer for layer (decoder layer j undoes
  encoder layer L-1-j with the same kernel, stride and padding); its output paddings are
  computed so that every decoder layer gives back exactly the matching encoder input size.

ReLU follows every layer except the decoder's last one: the reconstruction is linear, so it
can reach the whole input range (SVD features are signed). ``latent_relu`` (arch key
``latent_relu``, default true as in DSC-Net) says whether the last encoder layer has one too.
Without it the code Z = encoder(X) is linear in the last layer's pre-activations, so no latent
unit can die (``deepsc.health``); the module indices, hence the state_dict keys, are the same
either way (ReLU has no parameters), so checkpoints load strictly in both.

``init`` (arch key ``init``): 'default' keeps PyTorch's layer initialisation (uniform,
kaiming with a = sqrt(5), bias uniform in +-1/sqrt(fan_in)); 'kaiming' draws the weights from
He et al.'s normal init for ReLU (std sqrt(2 / fan_in)) and sets the biases to zero.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

INITS = ("default", "kaiming")


def init_weights(module: nn.Module, init: str = "default") -> nn.Module:
    """Re-initialise every Linear / (transposed) convolution of ``module`` in place."""
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; use one of {', '.join(INITS)}")
    if init == "default":
        return module
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            # ConvTranspose2d stores (in, out, k, k): its fan-in is the 'fan_out' of the tensor
            mode = "fan_out" if isinstance(m, nn.ConvTranspose2d) else "fan_in"
            nn.init.kaiming_normal_(m.weight, mode=mode, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


class FCAutoencoder(nn.Module):
    def __init__(self, in_dim: int, latent_dim: int, latent_relu: bool = True,
                 init: str = "default"):
        super().__init__()
        enc = [nn.Linear(in_dim, latent_dim)] + ([nn.ReLU()] if latent_relu else [])
        self.encoder = nn.Sequential(*enc)
        self.decoder = nn.Linear(latent_dim, in_dim)
        init_weights(self, init)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)


def per_layer(value, n_layers: int, name: str) -> list[int]:
    """``value`` (one int, or a list of one int per layer) as a list of ``n_layers`` ints."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        out = [int(v) for v in value]
        if len(out) != n_layers:
            raise ValueError(f"{name} has {len(out)} entries but there are {n_layers} layers "
                             f"(channels); give one per layer or a single number")
        return out
    return [int(value)] * n_layers


def channels_last_(net: nn.Module) -> nn.Module:
    """Keep a conv network's kernels channels-last, in place (the conv AE, SSCN's AE, the ResNet
    teacher). A memory layout only: same shapes, same state_dict keys, outputs equal to the NCHW
    network's up to float rounding. On the CPU, oneDNN's convolutions with these narrow channel
    counts take 1.3-1.4x less time per forward + backward at 1,000-10,000 images and 1.15-1.3x
    at a batch of 128 than in NCHW (``benchmarks/conv_layout.py``, ``make bench-conv``)."""
    return net.to(memory_format=torch.channels_last)


def code_maps(z: torch.Tensor, code_shape: tuple[int, int, int]) -> torch.Tensor:
    """Flat codes (n, c*h*w) as the decoder's input maps (n, c, h, w), channels-last like its
    kernels (``channels_last_``): a decoder fed NCHW maps reorders them on every layer."""
    return z.view(-1, *code_shape).contiguous(memory_format=torch.channels_last)


class ConvAutoencoder(nn.Module):
    def __init__(self, in_channels: int = 1, channels=(10, 20, 30, 40), kernel=3,
                 image_size: int = 32, stride=2, padding=None, latent_relu: bool = True,
                 init: str = "default"):
        super().__init__()
        L = len(channels)
        ks = per_layer(kernel, L, "kernel")
        ss = per_layer(stride, L, "stride")
        ps = [k // 2 for k in ks] if padding is None else per_layer(padding, L, "padding")
        sides = [image_size]  # input side of every encoder layer, then the code's side
        for k, s, p in zip(ks, ss, ps):
            side = (sides[-1] + 2 * p - k) // s + 1
            if side < 1:
                raise ValueError(f"a {image_size}x{image_size} input shrinks to nothing with "
                                 f"kernels {ks}, strides {ss}, paddings {ps}")
            sides.append(side)
        enc, c_in = [], in_channels
        for j, (c, k, s, p) in enumerate(zip(channels, ks, ss, ps)):
            enc.append(nn.Conv2d(c_in, c, k, stride=s, padding=p))
            if j < L - 1 or latent_relu:
                enc.append(nn.ReLU())
            c_in = c
        self.encoder = nn.Sequential(*enc)
        dec, rev = [], list(channels[::-1]) + [in_channels]
        for j, (a, b) in enumerate(zip(rev[:-1], rev[1:])):
            i = L - 1 - j  # the encoder layer this decoder layer mirrors
            k, s, p = ks[i], ss[i], ps[i]
            out_pad = sides[i] - ((sides[i + 1] - 1) * s - 2 * p + k)
            if not 0 <= out_pad < s:
                raise ValueError(f"encoder layer {i} (kernel {k}, stride {s}, padding {p}) "
                                 f"cannot be mirrored by a transposed convolution")
            dec.append(nn.ConvTranspose2d(a, b, k, stride=s, padding=p, output_padding=out_pad))
            if j < L - 1:
                dec.append(nn.ReLU())
        self.decoder = nn.Sequential(*dec)
        self.code_shape = (channels[-1], sides[-1], sides[-1])
        init_weights(self, init)
        channels_last_(self)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x).flatten(1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(code_maps(z, self.code_shape))


def build_autoencoder(kind: str, input_shape: tuple[int, ...], arch: dict) -> nn.Module:
    """The target model's autoencoder for ``kind`` ('text' or 'image').

    ``arch`` keys: text: latent_dim; image: channels, kernel (int or one per layer), and
    optionally stride (default 2), padding (default kernel // 2), both int or per layer;
    both kinds: latent_relu (default true), init ('default' | 'kaiming'). Other keys (k1, lr,
    ...) are ignored."""
    latent_relu = bool(arch.get("latent_relu", True))
    init = str(arch.get("init", "default"))
    if kind == "text":
        (in_dim,) = input_shape
        return FCAutoencoder(in_dim, int(arch["latent_dim"]), latent_relu=latent_relu, init=init)
    if kind == "image":
        c, h, w = input_shape
        if h != w:
            raise ValueError(f"square images expected, got {h}x{w}")
        return ConvAutoencoder(c, tuple(arch["channels"]), arch["kernel"], h,
                               stride=arch.get("stride", 2), padding=arch.get("padding"),
                               latent_relu=latent_relu, init=init)
    raise ValueError(f"unknown data kind {kind!r}; use 'text' or 'image'")
