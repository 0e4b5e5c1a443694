r"""Boundary Difference over Union loss (Sun et al., "Boundary Difference Over Union Loss For
Medical Image Segmentation", MICCAI 2023; code: github.com/sunfan-bvb/BoundaryDoULoss).

A region loss of the overlap engine (:mod:`jaxseg_losses.region._engine`): soft V-Net statistics per
(example, class), a per-class formula whose weight :math:`\alpha` comes from the shape of the
truth (its boundary length over its area, computed here on the device), and the shared class
reduction.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxseg_losses._activations import overlap_planes
from jaxseg_losses._inputs import Mode, boolean_options, check_number, prepare_region
from jaxseg_losses._numerics import safe_divide
from jaxseg_losses.region._engine import (
    OverlapStatistics,
    over_batch,
    region_loss,
    smooth_pair,
)

__all__ = ("boundary_dou_loss", "boundary_pixel_counts")


def _interior(foreground: jax.Array) -> jax.Array:
    """Foreground pixels whose ``2d`` face neighbours are all foreground (zero padding outside
    the image), for ``(B, *spatial, C)`` boolean masks."""
    inside = foreground
    for axis in range(1, foreground.ndim - 1):
        pad = [(0, 0)] * foreground.ndim
        pad[axis] = (1, 1)
        padded = jnp.pad(foreground, pad)
        size = foreground.shape[axis]
        inside = (inside & jax.lax.slice_in_dim(padded, 0, size, axis=axis)
                  & jax.lax.slice_in_dim(padded, 2, size + 2, axis=axis))
    return inside


def boundary_pixel_counts(foreground: jax.typing.ArrayLike) -> tuple[jax.Array, jax.Array]:
    """The boundary and area pixel counts of masks, per example and channel (the :math:`C` and
    :math:`S` of :func:`boundary_dou_loss`).

    A boundary pixel is a foreground pixel with a background (or outside-the-image) face
    neighbour: the authors' rule (a 3x3 cross convolution of the mask reaches 5 only inside; a
    6-neighbour cross in 3-D). Empty masks count 0 and 0.

    Args:
      foreground: ``(B, *spatial, C)`` masks (boolean, or numbers read as ``!= 0``), 1 to 3
        spatial axes.

    Returns:
      ``(boundary, area)``: two ``(B, C)`` float32 arrays, the boundary pixels and all the
      foreground pixels.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.region.boundary_dou import boundary_pixel_counts
      >>> square = jnp.zeros((1, 6, 6, 1), bool).at[0, 1:5, 1:5].set(True)
      >>> boundary_pixel_counts(square)
      (Array([[12.]], dtype=float32), Array([[16.]], dtype=float32))
    """
    if jnp.ndim(foreground) not in (3, 4, 5):
        raise ValueError(
            f"foreground: expected (B, *spatial, C) with 1 to 3 spatial axes, got shape "
            f"{jnp.shape(foreground)}")
    foreground = jnp.asarray(foreground, bool)
    axes = tuple(range(1, foreground.ndim - 1))
    area = jnp.sum(foreground, axis=axes, dtype=jnp.float32)
    boundary = area - jnp.sum(_interior(foreground), axis=axes, dtype=jnp.float32)
    return boundary, area


@boolean_options
def boundary_dou_loss(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    mode: Mode = "multiclass",
    from_logits: bool = True,
    smooth: float | tuple[float, float] = 1e-5,
    alpha_max: float = 0.8,
    include_background: bool = True,
    class_weights: jax.typing.ArrayLike | None = None,
    absent_classes: str = "score",
    per_image: bool = True,
    axis_name: str | None = None,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
    reduction: str = "example",
) -> jax.Array:
    r"""Boundary DoU loss (Sun et al., MICCAI 2023, Eq. 5-6), per class.

    .. math::
        L_c = \frac{G \cup P - G \cap P}{G \cup P - \alpha\, G \cap P}
            = \frac{\Sigma p^2 + \Sigma y^2 - 2\,\Sigma p y + s}
                   {\Sigma p^2 + \Sigma y^2 - (1 + \alpha)\,\Sigma p y + s}

    (the authors' code: :math:`G \cup P` as :math:`\Sigma p^2 + \Sigma y^2 - \Sigma py`, sums
    over the valid pixels), with the weight of the intersection set per class from the truth:

    .. math::
        \alpha = \min\Big(1 - 2\,\frac{C + s}{S + s},\ \alpha_{max}\Big)

    where :math:`S` is the area (foreground pixel count) of the class and :math:`C` its boundary
    pixel count: the foreground pixels with a background face neighbour (4-neighbourhood in
    2-D, the 3x3 cross convolution of the authors' code; 6-neighbourhood in 3-D; the outside
    of the image counts as background). :math:`\alpha \to 1` (the loss tends to
    :math:`1 - \mathrm{IoU}`'s behaviour on the boundary only) for large compact objects,
    :math:`\alpha < 0` for thin ones; the authors clamp it at 0.8 (``alpha_max``). Hence
    :math:`L_c` is 0 for a perfect prediction.

    The authors sum the statistics over the whole batch (``per_image=False`` here); the
    default is per example, as the library's region losses. A class absent from the truth has
    :math:`L_c = (\Sigma p^2 + s)/(\Sigma p^2 + s) = 1` whatever the prediction (no gradient;
    the authors' value); ``absent_classes="zero"`` / ``"exclude"`` set it to 0 / drop it from
    the class mean. With ``smooth=0`` an empty prediction on an empty truth (0/0) is 0. An
    example whose pixels are all excluded (``mask``, ``ignore_index``) gives 0 with zero
    gradient, as every region loss (the formula would give :math:`s/s = 1`).

    The truth's counts use the foreground of the dense targets thresholded at 0.5 (hard labels
    as given) on the valid pixels (``mask`` > 0, not ``ignore_index``). They carry no gradient.

    Args:
      predictions: ``(B, *spatial, C)`` logits (or probabilities with ``from_logits=False``).
      labels: ``(B, *spatial)`` integer class indices or ``(B, *spatial, C)`` one-hot/soft targets.
      mode: ``"multiclass"`` (default, softmax), ``"multilabel"`` or ``"binary"`` (sigmoid).
      from_logits: whether ``predictions`` are logits. Default ``True``.
      smooth: :math:`s` in the ratio and in :math:`\alpha` (or ``(smooth_nr, smooth_dr)`` for
        the ratio). Default ``1e-5`` (the authors').
      alpha_max: the clamp of :math:`\alpha`, at most 1 (``alpha_max=1`` is the unclamped
        formula of the paper). Default 0.8 (the authors' recommendation).
      include_background, class_weights, absent_classes, per_image, axis_name, mask,
        ignore_index, reduction: as in :func:`~jaxseg_losses.region.dice_loss`.

    Returns:
      ``(B,)`` float32 losses in [0, 1] (or ``(B, C_kept)`` with ``reduction="class"``).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.region.boundary_dou import boundary_dou_loss
      >>> labels = jnp.zeros((1, 6, 6), int).at[0, 1:5, 1:5].set(1)  # S = 16, C = 12
      >>> probs = jnp.where(labels == 1, 0.9, 0.0)[..., None]
      >>> boundary_dou_loss(probs, labels, mode="binary", from_logits=False)  # alpha = -0.5
      Array([0.00735339], dtype=float32)
    """
    check_number("alpha_max", alpha_max, low=-1.0, high=1.0)
    nr, dr = smooth_pair(smooth)
    prep, weights = prepare_region(
        predictions, labels, mode=mode, from_logits=from_logits, mask=mask,
        ignore_index=ignore_index, class_weights=class_weights, reduction=reduction,
        absent_classes=absent_classes,
    )
    planes = overlap_planes(prep)
    foreground = (planes.targets >= 0.5) & (planes.valid[..., None] > 0)

    def formula(s: OverlapStatistics, n: jax.Array) -> jax.Array:
        boundary, area = (over_batch(count, per_image, axis_name)
                          for count in boundary_pixel_counts(foreground))
        # an absent class (0/0 without smoothing) gets the smoothed value, alpha = -1
        alpha = jnp.minimum(1.0 - 2.0 * safe_divide(boundary + nr, area + nr, fill=1.0),
                            alpha_max)
        union = s.sum_p + s.sum_y
        per_class = safe_divide(union - 2.0 * s.tp + nr, union - (1.0 + alpha) * s.tp + dr)
        return jnp.where(n == 0, 0.0, per_class)  # nothing scored: 0 (NaN kept)

    return region_loss(
        planes, formula, class_weights=weights, include_background=include_background,
        per_image=per_image, axis_name=axis_name, reduction=reduction, squared=True,
        absent_classes=absent_classes,
    )
