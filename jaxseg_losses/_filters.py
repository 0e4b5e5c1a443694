"""Separable smoothing of channels-last arrays: 1-D kernels (box, Gaussian, Cauchy) applied along
every spatial axis by depthwise convolutions with zero padding.

The kernels are built in NumPy from static options (their width depends on them), the
convolutions run in float32 at the highest precision. Padding follows PyTorch's ``"same"``
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

_SPATIAL_LETTERS = {1: "H", 2: "HW", 3: "DHW"}


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
    """Filters ``(B, *spatial, C)`` with one 1-D kernel per spatial axis, channel by channel.

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
    channels = x.shape[-1]
    letters = _SPATIAL_LETTERS[ndim]
    numbers = jax.lax.conv_dimension_numbers(
        x.shape, (1,) * ndim + (1, channels), ("N" + letters + "C", letters + "IO",
                                               "N" + letters + "C"))
    for axis, kernel in enumerate(kernels):
        kernel = np.asarray(kernel, np.float64)
        if kernel.size == 1 and kernel[0] == 1.0:
            continue
        size = kernel.size
        shape = [1] * ndim
        shape[axis] = size
        weights = np.broadcast_to(kernel.reshape(*shape, 1, 1), (*shape, 1, channels))
        padding = [(0, 0)] * ndim
        padding[axis] = ((size - 1) // 2, size - 1 - (size - 1) // 2)
        x = jax.lax.conv_general_dilated(
            x, jnp.asarray(weights, jnp.float32), window_strides=(1,) * ndim, padding=padding,
            dimension_numbers=numbers, feature_group_count=channels,
            precision=jax.lax.Precision.HIGHEST,
        )
    return x
