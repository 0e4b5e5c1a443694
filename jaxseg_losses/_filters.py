"""Separable smoothing of channels-last arrays: 1-D kernels (box, Gaussian, Cauchy) applied along
every spatial axis as weighted sums of shifted copies, with zero padding.

The kernels are built in NumPy from static options (their width depends on them), the sums
run in float32. Padding follows PyTorch's ``"same"``
convolution (and MONAI's ``separable_filtering``): a kernel of size :math:`k` reads
:math:`\\lfloor (k-1)/2 \\rfloor` pixels before and the rest after each output pixel, zeros
outside the image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxseg_losses._inputs import check_number, is_concrete


def static_number(name: str, value, *, low: float = 0.0, strict: bool = True) -> float:
    """A concrete, finite option that sets a kernel's width: ``ValueError``/``TypeError`` naming
    it otherwise (a traced value cannot set a static shape)."""
    if not is_concrete(value):
        raise TypeError(f"{name}: expected a concrete number (it sets the kernel width), not a "
                        "traced value; pass it as a Python float")
    check_number(name, value, low=low, strict=strict)
    return float(np.asarray(value, np.float64))


def box_kernel(size: int) -> np.ndarray:
    """``size`` weights of ``1 / size`` (the mean filter, one axis)."""
    return np.full(size, 1.0 / size)


def gaussian_kernel(sigma: float, *, truncated: float, approx: str) -> np.ndarray:
    r"""A 1-D Gaussian of standard deviation ``sigma`` on the offsets :math:`|x| \le t`,
    :math:`t = \lfloor \max(\sigma\,\mathrm{truncated}, 1/2) + 1/2 \rfloor` (MONAI's
    ``gaussian_1d`` window), not normalised:

    * ``approx="erf"``: :math:`\tfrac12[\mathrm{erf}((x + \tfrac12)/(\sigma\sqrt2)) -
      \mathrm{erf}((x - \tfrac12)/(\sigma\sqrt2))]`, the Gaussian's mass on each pixel;
    * ``approx="sampled"``: :math:`e^{-x^2/(2\sigma^2)} / (\sqrt{2\pi}\,\sigma)`.
    """
    tail = int(max(sigma * truncated, 0.5) + 0.5)
    x = np.arange(-tail, tail + 1, dtype=np.float64)
    if approx == "erf":
        scale = 1.0 / (math.sqrt(2.0) * sigma)
        erf = np.vectorize(math.erf)
        return np.maximum(0.5 * (erf(scale * (x + 0.5)) - erf(scale * (x - 0.5))), 0.0)
    if approx == "sampled":
        return np.exp(-0.5 * (x / sigma) ** 2) / (math.sqrt(2.0 * math.pi) * sigma)
    raise ValueError(f"approx: expected 'erf' or 'sampled'; got {approx!r}")


def cauchy_kernel(sigma: float) -> np.ndarray:
    r""":math:`1 / (1 + (x/\sigma)^2)` on :math:`|x| \le \lfloor 5\sigma \rfloor`, normalised to
    sum 1 (MONAI's ``make_cauchy_kernel``)."""
    tail = int(sigma * 5)
    x = np.arange(-tail, tail + 1, dtype=np.float64)
    k = 1.0 / ((x / sigma) ** 2 + 1.0)
    return k / k.sum()


def separable_filter(x: jax.Array, kernels: Sequence[np.ndarray]) -> jax.Array:
    r"""Filters ``(B, *spatial, C)`` with one 1-D kernel per spatial axis, channel by channel.

    Each axis is a weighted sum of shifted copies of the zero-padded array,
    :math:`\sum_j w_j\,x[i + j - \lfloor (k-1)/2 \rfloor]` (elementwise, one fusion per axis),
    not a depthwise convolution: a convolution puts the channel (class) axis on XLA:TPU's 128
    lanes (C = 14: 9x the bytes of every array around it, 21x the logits for value+grad of the
    3-D NACL) and costs XLA:GPU channels-first copies (benchmarks/results/memory.md).

    Args:
      x: channels-last array with 1 to 3 spatial axes.
      kernels: one 1-D kernel per spatial axis (axis order), applied as a correlation (the
        kernels used here are symmetric) with zero padding and the output shape of the input.

    Returns:
      float32 array of the shape of ``x``.
    """
    x = jnp.asarray(x, jnp.float32)
    ndim = x.ndim - 2
    if len(kernels) != ndim:
        raise ValueError(f"kernels: expected one kernel per spatial axis ({ndim}); got "
                         f"{len(kernels)}")
    for axis, kernel in enumerate(kernels, start=1):
        kernel = np.asarray(kernel, np.float64)
        if kernel.size == 1 and kernel[0] == 1.0:
            continue
        x = _correlate_axis(x, kernel, axis)
    return x


def _correlate_axis(x: jax.Array, kernel: np.ndarray, axis: int) -> jax.Array:
    """``x`` correlated with the 1-D ``kernel`` along ``axis``, zero padding, same shape."""
    size, length = kernel.size, x.shape[axis]
    before = (size - 1) // 2
    padding = [(0, 0)] * x.ndim
    padding[axis] = (before, size - 1 - before)
    padded = jnp.pad(x, padding)
    total = None
    for offset, weight in enumerate(kernel.astype(np.float32)):
        term = weight * jax.lax.slice_in_dim(padded, offset, offset + length, axis=axis)
        total = term if total is None else total + term
    return total
