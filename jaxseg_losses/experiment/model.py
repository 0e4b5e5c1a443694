"""A small Flax NNX U-Net (Ronneberger et al. 2015) for 2D images and 3D volumes.

Channels last, as the losses: ``(B, *spatial, C_in) -> (B, *spatial, num_classes)`` logits. Each
level is two 3x3(x3) convolutions with GroupNorm and ReLU; max-pooling down, a stride-2
transposed convolution up, skip connections by concatenation. ``depth`` poolings need spatial
sizes divisible by ``2**depth``. GroupNorm (not BatchNorm) keeps the model stateless apart from
its parameters, so train and evaluation use the same call.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx


class ConvBlock(nnx.Module):
    """Two (conv -> GroupNorm -> ReLU) layers."""

    def __init__(self, in_features: int, out_features: int, ndim: int, *, rngs: nnx.Rngs):
        kernel = (3,) * ndim
        groups = min(4, out_features)
        self.conv1 = nnx.Conv(in_features, out_features, kernel, rngs=rngs)
        self.norm1 = nnx.GroupNorm(out_features, num_groups=groups, rngs=rngs)
        self.conv2 = nnx.Conv(out_features, out_features, kernel, rngs=rngs)
        self.norm2 = nnx.GroupNorm(out_features, num_groups=groups, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = jax.nn.relu(self.norm1(self.conv1(x)))
        return jax.nn.relu(self.norm2(self.conv2(x)))


class UNet(nnx.Module):
    """U-Net with ``depth`` down/up levels and ``features * 2**level`` channels per level.

    Args:
      in_channels: image channels.
      num_classes: output channels (logits).
      ndim: 2 (images) or 3 (volumes).
      features: channels of the first level. Default 8.
      depth: number of poolings. Default 2.
      rngs: ``nnx.Rngs`` for the initialisation.
    """

    def __init__(self, in_channels: int, num_classes: int, *, ndim: int = 2, features: int = 8,
                 depth: int = 2, rngs: nnx.Rngs):
        if ndim not in (2, 3):
            raise ValueError(f"ndim: expected 2 or 3 spatial axes; got {ndim}")
        if depth < 1 or features < 1:
            raise ValueError(f"depth and features must be >= 1; got {depth} and {features}")
        self.ndim, self.depth = ndim, depth
        widths = [features * 2**level for level in range(depth + 1)]
        self.down = nnx.List([ConvBlock(c_in, c_out, ndim, rngs=rngs) for c_in, c_out
                              in zip([in_channels, *widths[:-2]], widths[:-1], strict=True)])
        self.bottom = ConvBlock(widths[-2], widths[-1], ndim, rngs=rngs)
        self.upsample = nnx.List([
            nnx.ConvTranspose(widths[level + 1], widths[level], (2,) * ndim, (2,) * ndim,
                              rngs=rngs)
            for level in reversed(range(depth))
        ])
        self.up = nnx.List([ConvBlock(2 * widths[level], widths[level], ndim, rngs=rngs)
                            for level in reversed(range(depth))])
        self.head = nnx.Conv(widths[0], num_classes, (1,) * ndim, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        factor = 2**self.depth
        if x.ndim != self.ndim + 2 or any(s % factor for s in x.shape[1:-1]):
            raise ValueError(
                f"UNet: expected input (B, *spatial, C) with {self.ndim} spatial axes divisible "
                f"by {factor} (2**depth); got shape {tuple(x.shape)}")
        window = (2,) * self.ndim
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = nnx.max_pool(x, window, strides=window)
        x = self.bottom(x)
        for upsample, block, skip in zip(self.upsample, self.up, reversed(skips), strict=True):
            x = block(jnp.concatenate([upsample(x), skip], axis=-1))
        return self.head(x)
