"""Autoencoders of the target model (LRSC "Implementation Details", DSC-Net).

- Text: one fully-connected encoder layer and one fully-connected decoder layer.
- Images: four 3x3 stride-2 convolutions with 10-20-30-40 channels and a mirrored
  transposed-convolution decoder; a 32x32 input gives a 40x2x2 = 160-dim latent code.

ReLU follows every layer except the decoder's last one: the reconstruction is linear, so it
can reach the whole input range (SVD features are signed).
"""
from __future__ import annotations

import torch
from torch import nn


class FCAutoencoder(nn.Module):
    def __init__(self, in_dim: int, latent_dim: int):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(in_dim, latent_dim), nn.ReLU())
        self.decoder = nn.Linear(latent_dim, in_dim)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)


class ConvAutoencoder(nn.Module):
    def __init__(self, in_channels: int = 1, channels=(10, 20, 30, 40), kernel: int = 3,
                 image_size: int = 32):
        super().__init__()
        pad = kernel // 2
        enc, c_in = [], in_channels
        for c in channels:
            enc += [nn.Conv2d(c_in, c, kernel, stride=2, padding=pad), nn.ReLU()]
            c_in = c
        self.encoder = nn.Sequential(*enc)
        dec, rev = [], list(channels[::-1]) + [in_channels]
        for k, (a, b) in enumerate(zip(rev[:-1], rev[1:])):
            dec.append(nn.ConvTranspose2d(a, b, kernel, stride=2, padding=pad, output_padding=1))
            if k < len(rev) - 2:
                dec.append(nn.ReLU())
        self.decoder = nn.Sequential(*dec)
        side = image_size
        for _ in channels:
            side = (side + 2 * pad - kernel) // 2 + 1
        self.code_shape = (channels[-1], side, side)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x).flatten(1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z.view(-1, *self.code_shape))


def build_autoencoder(kind: str, input_shape: tuple[int, ...], arch: dict) -> nn.Module:
    """The target model's autoencoder for ``kind`` ('text' or 'image')."""
    if kind == "text":
        (in_dim,) = input_shape
        return FCAutoencoder(in_dim, int(arch["latent_dim"]))
    if kind == "image":
        c, h, w = input_shape
        if h != w:
            raise ValueError(f"square images expected, got {h}x{w}")
        return ConvAutoencoder(c, tuple(arch["channels"]), int(arch["kernel"]), h)
    raise ValueError(f"unknown data kind {kind!r}; use 'text' or 'image'")
