r"""Calibration losses: the neighbour-aware calibration loss (NACL).

NACL (Murugesan et al., "Trust your neighbours: Penalty-based constraints for model calibration",
MICCAI 2023; MONAI ``NACLLoss``) adds to the softmax cross-entropy a linear penalty that pulls
every logit towards the proportion of its class in the pixel's neighbourhood:

.. math::
    \ell(x) = \mathrm{CE}(x) + \alpha\,\frac{1}{C}\sum_c d\big(\tau_c(x),\ z_c(x)\big),\qquad
    \tau_c = K * y_c

with :math:`z` the logits, :math:`y` the one-hot (or soft) labels, :math:`K` a mean or
Gaussian kernel (:math:`\tau` is the "soft class proportion" of the neighbours) and :math:`d`
the absolute (``"l1"``) or squared (``"l2"``) difference. The penalty is on the **logits**, as
in the paper and MONAI, so the loss takes logits only (no ``from_logits``). It is a pixel-wise
loss of :mod:`jaxseg_losses.pixelwise` (a mean over the valid pixels), whose target depends on
the neighbours' labels.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxseg_losses._activations import (
    pixel_cross_entropy,
)
from jaxseg_losses._filters import (
    box_kernel,
    gaussian_kernel,
    separable_filter,
    static_number,
)
from jaxseg_losses._inputs import check_choice, check_count, check_number, prepare
from jaxseg_losses._numerics import reduce_pixels

__all__ = ("nacl_loss", "nacl_kernel")

NACL_KERNELS = ("mean", "gaussian")
NACL_DISTANCES = ("l1", "l2")
# MONAI's GaussianFilter default: the window reaches 4 sigma each side (erf approximation).
GAUSSIAN_TRUNCATION = 4.0


def nacl_kernel(*, kernel: str = "mean", kernel_size: int | None = None,
                sigma: float = 1.0) -> np.ndarray:
    r"""The 1-D factor of NACL's spatial kernel (the kernel is its outer product on every axis).

    * ``"mean"``: ``kernel_size`` weights of ``1 / kernel_size`` (default size 3), MONAI's
      ``MeanFilter(size) / size**dim``;
    * ``"gaussian"``: the Gaussian's mass on each pixel,
      :math:`\tfrac12[\mathrm{erf}(\tfrac{x + 1/2}{\sigma\sqrt2}) -
      \mathrm{erf}(\tfrac{x - 1/2}{\sigma\sqrt2})]` for :math:`|x| \le \lfloor 4\sigma + 1/2
      \rfloor`, not normalised: MONAI's ``GaussianFilter(sigma)``. Its window is set by
      ``sigma``; ``kernel_size`` must not be given (MONAI ignores it).

    Args:
      kernel: ``"mean"`` (default) or ``"gaussian"``.
      kernel_size: the mean filter's side (default 3).
      sigma: the Gaussian's standard deviation in pixels, > 0. Default 1.

    Returns:
      The float64 weights.

    Example:
      >>> from jaxseg_losses.pixelwise.calibration import nacl_kernel
      >>> nacl_kernel(kernel="mean").round(4).tolist()
      [0.3333, 0.3333, 0.3333]
    """
    check_choice("kernel", kernel, NACL_KERNELS)
    if kernel == "mean":
        return box_kernel(3 if kernel_size is None else check_count("kernel_size", kernel_size))
    if kernel_size is not None:
        raise ValueError("kernel_size: only for kernel='mean'; the Gaussian's window is set by "
                         f"sigma (4 sigma each side, as MONAI); got kernel_size={kernel_size!r}")
    sigma = static_number("sigma", sigma)
    return gaussian_kernel(sigma, truncated=GAUSSIAN_TRUNCATION, approx="erf")


def nacl_loss(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    kernel: str = "mean",
    kernel_size: int | None = None,
    sigma: float = 1.0,
    alpha: float = 0.1,
    distance: str = "l1",
    ignore_index: int | None = None,
    mask: jax.typing.ArrayLike | None = None,
    reduction: str = "example",
) -> jax.Array:
    r"""Neighbour-aware calibration loss (NACL; Murugesan et al., MICCAI 2023).

    .. math::
        L_b = \frac{\sum_x v(x)\,\big[\mathrm{CE}(x)
              + \alpha\,\frac{1}{C}\sum_c d(\tau_c(x), z_c(x))\big]}{\sum_x v(x)},\qquad
        \tau_c = K * y_c

    :math:`\mathrm{CE}(x) = -\sum_c y_c \log \mathrm{softmax}(z)_c`; :math:`\tau_c(x)` is the
    label :math:`y_c` smoothed by the spatial kernel :math:`K` (mean or Gaussian, see
    :func:`nacl_kernel`) with zero padding, so near the image border and next to ignored pixels
    (whose one-hot targets are zero) the proportions sum to less than 1, as MONAI's.
    :math:`d(a, b) = |a - b|` (``"l1"``) or :math:`(a - b)^2` (``"l2"``), on the logits
    :math:`z`. :math:`\tau` carries no gradient (it is made of labels). A masked pixel keeps its
    class in the neighbours' :math:`\tau` (``mask`` weighs the terms); an ignored pixel
    (``ignore_index``) has none. With the defaults, the batch mean equals MONAI
    ``NACLLoss(classes=C, dim=d)`` (a scalar: CE over all pixels plus ``alpha`` times the
    penalty averaged over batch, classes and pixels).

    Empty masks: an example without a valid pixel gives 0 with a zero gradient. A perfect
    prediction does not give 0: the penalty pulls the logits towards :math:`\tau \in [0, 1]`.

    Args:
      predictions: ``(B, *spatial, C)`` logits, ``C >= 2`` (softmax over the classes), 1 to 3
        spatial axes.
      labels: ``(B, *spatial)`` integer class indices or ``(B, *spatial, C)`` one-hot/soft
        targets (smoothed as they are).
      kernel: ``"mean"`` (default, MONAI's default) or ``"gaussian"``.
      kernel_size: side of the mean filter, >= 1. Default ``None``: 3. Not for ``"gaussian"``.
      sigma: standard deviation of the Gaussian, in pixels, > 0; it sets the window
        (:math:`\pm\lfloor 4\sigma + 1/2\rfloor`). Default 1.
      alpha: weight :math:`\alpha \ge 0` of the penalty. Default 0.1.
      distance: ``"l1"`` (default) or ``"l2"``.
      ignore_index: integer label excluded from value and gradient. Default ``None``.
      mask: optional ``(B, *spatial)`` pixel weights. Default ``None``.
      reduction: ``"example"`` -> ``(B,)``; ``"pixel"`` -> ``(B, *spatial)`` weighted map.

    Returns:
      ``(B,)`` float32 losses (or the per-pixel map).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses import nacl_loss
      >>> labels = jnp.zeros((1, 3, 3), int)  # background: tau_0 = 4/9 (corners), 6/9, 1 (centre)
      >>> nacl_loss(jnp.zeros((1, 3, 3, 2)), labels)  # log 2 + 0.1 * (49/81 + 0) / 2
      Array([0.7233941], dtype=float32)
    """
    check_choice("distance", distance, NACL_DISTANCES)
    check_number("alpha", alpha)
    check_number("sigma", sigma, strict=True)  # checked with either kernel
    weights = nacl_kernel(kernel=kernel, kernel_size=kernel_size, sigma=sigma)
    prep = prepare(predictions, labels, mode="multiclass", from_logits=True, mask=mask,
                   ignore_index=ignore_index)
    spatial_ndim = prep.predictions.ndim - 2
    tau = jax.lax.stop_gradient(separable_filter(prep.targets, [weights] * spatial_ndim))
    gap = tau - prep.predictions
    penalty = jnp.mean(jnp.abs(gap) if distance == "l1" else gap * gap, axis=-1)
    return reduce_pixels(pixel_cross_entropy(prep) + alpha * penalty, prep.valid, reduction)
