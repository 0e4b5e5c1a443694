r"""Erosion-based Hausdorff loss (Karimi & Salcudean, IEEE TMI 2019, Sec. II-C), 1D to 3D.

A surrogate of the Hausdorff distance without any distance transform: the squared error map
:math:`f = (p - y)^2` is eroded repeatedly, and what survives many erosions (thick error regions,
i.e. boundary errors far from the truth) is weighted more. One erosion is a convolution with the
normalised cross kernel :math:`B` (the pixel and its :math:`2d` face neighbours, each weight
:math:`1/(2d+1)`: 0.2 in 2D, 1/7 in 3D; zero padding) followed by a soft threshold at 0.5 and a
min-max normalisation per image and channel (kornia's ``HausdorffERLoss``, whose layout this
follows). The iterations run in a checkpointed ``lax.scan`` (backward memory: two arrays per
iteration).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxseg_losses._inputs import (
    Mode,
    prepare,
)
from jaxseg_losses._numerics import keep_classes, pixel_class_mean, safe_divide, spatial_axes

__all__ = ("hausdorff_erosion_loss",)


def _cross_mean(x: jax.Array) -> jax.Array:
    """Convolution of ``(B, *spatial, C)`` with the cross kernel of weight 1/(2d+1), zero padded."""
    axes = spatial_axes(x.ndim)
    total = x
    for a in axes:
        pad = [(0, 0)] * x.ndim
        pad[a] = (1, 1)
        padded = jnp.pad(x, pad)
        n = x.shape[a]
        total = total + lax.slice_in_dim(padded, 0, n, axis=a) + lax.slice_in_dim(
            padded, 2, n + 2, axis=a)
    return total / (2 * len(axes) + 1)


def _erode(bound: jax.Array) -> jax.Array:
    dilation = _cross_mean(bound)
    erosion = jnp.where(dilation < 0.5, 0.0, dilation - 0.5)
    axes = spatial_axes(bound.ndim)
    high = jnp.max(erosion, axis=axes, keepdims=True)
    low = jnp.min(erosion, axis=axes, keepdims=True)
    spread = high - low
    return jnp.where(spread != 0, safe_divide(erosion - low, spread), erosion)


def hausdorff_erosion_loss(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    mode: Mode = "multiclass",
    from_logits: bool = True,
    alpha: float = 2.0,
    iterations: int = 10,
    include_background: bool = True,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
) -> jax.Array:
    r"""Erosion-based Hausdorff loss (Karimi & Salcudean, IEEE TMI 2019, "HD-ER").

    .. math::
        f^{(0)} = (p - y)^2,\quad
        f^{(k)} = \mathrm{norm}\big(\max(f^{(k-1)} * B - 0.5,\ 0)\big),\quad
        L_b = \frac{1}{|K|}\sum_{c \in K} \frac{\sum_x v\,\sum_{k=1}^{K_e} k^\alpha f^{(k)}_c(x)}
              {\sum_x v}

    per channel :math:`c` (probabilities :math:`p`, targets :math:`y`), with :math:`B` the
    normalised cross kernel, "norm" the min-max normalisation over the image (skipped when the
    map is constant), :math:`K_e` = ``iterations``. Defaults ``alpha=2``, ``iterations=10`` are
    kornia's (the paper's :math:`\alpha = 2`). With probabilities it equals kornia
    ``HausdorffERLoss(alpha, k)`` (2D) / ``HausdorffERLoss3D`` (3D) per example (kornia's
    ``"mean"`` averages classes, pixels and the batch). The value is a unitless surrogate, not a
    distance in pixels.

    Empty masks: a perfect prediction gives :math:`f = 0` and loss 0 (also on an empty truth).
    Excluded pixels (``mask`` 0, ``ignore_index``) count as correct in :math:`f` and are left out
    of the mean, so their predictions change neither the value nor the gradient; a fully
    masked example gives 0.

    Args:
      predictions: ``(B, *spatial, C)`` logits (or probabilities with ``from_logits=False``).
      labels: ``(B, *spatial)`` integer class indices or ``(B, *spatial, C)`` one-hot/soft targets.
      mode: ``"multiclass"`` (default, softmax), ``"multilabel"`` or ``"binary"`` (sigmoid).
      from_logits: whether ``predictions`` are logits. Default ``True``.
      alpha: exponent of the iteration weights :math:`k^\alpha`. Default 2.
      iterations: number of erosions :math:`K_e \ge 1` (static). Default 10.
      include_background: keep channel 0 in the class mean. Default ``True`` (as kornia).
      mask: optional ``(B, *spatial)`` pixel weights. Default ``None``.
      ignore_index: integer label excluded from value and gradient. Default ``None``.

    Returns:
      ``(B,)`` float32 losses (non-negative).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.hausdorff_erosion import hausdorff_erosion_loss
      >>> labels = jnp.zeros((1, 8, 8), int).at[0, 2:6, 2:6].set(1)
      >>> perfect = jnp.eye(2)[labels]
      >>> hausdorff_erosion_loss(perfect, labels, from_logits=False)
      Array([0.], dtype=float32)
      >>> shifted = jnp.eye(2)[jnp.roll(labels, 3, axis=2)]  # a thick boundary error
      >>> bool(hausdorff_erosion_loss(shifted, labels, from_logits=False)[0] > 0)
      True
    """
    if not isinstance(iterations, int | np.integer) or isinstance(iterations, bool):
        raise TypeError(f"iterations: expected an int; got {type(iterations).__name__}")
    if iterations < 1:
        raise ValueError(f"iterations: expected a value >= 1; got {iterations}")
    if alpha < 0:
        raise ValueError(f"alpha: expected a value >= 0; got {alpha}")
    prep = prepare(
        predictions, labels, mode=mode, from_logits=from_logits, mask=mask,
        ignore_index=ignore_index,
    )
    p = keep_classes(prep.probabilities(), include_background)
    y = keep_classes(prep.targets, include_background)
    valid = prep.valid[..., None]
    bound = jnp.where(valid > 0, (p - y) ** 2, 0.0)

    @jax.checkpoint
    def step(carry, weight):
        bound, total = carry
        eroded = _erode(bound)
        return (eroded, total + weight * eroded), None

    weights = jnp.arange(1, iterations + 1, dtype=jnp.float32) ** alpha
    (_, total), _ = lax.scan(step, (bound, jnp.zeros_like(bound)), weights)
    return pixel_class_mean(total, prep.valid)
