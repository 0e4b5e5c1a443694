r"""Region-wise loss (Valverde & Tohka, "Region-wise loss for biomedical image segmentation",
Pattern Recognition 136, 2023; arXiv 2108.01405; code: github.com/jmlipman/RegionWiseLoss).

The loss is the pixel-wise product of the probabilities and a *region-wise (RW) map* :math:`z`
of the truth, averaged. The maps are computed from the labels inside the compiled function by
the library's exact EDT (:mod:`jaxseg_losses.distance`); the authors compute them with SciPy in
the data pipeline. Maps carry no gradient.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from jaxseg_losses._activations import prepared_probabilities
from jaxseg_losses._inputs import (
    Mode,
    boolean_options,
    check_choice,
    check_class_vector,
    prepare,
    shape_str,
)
from jaxseg_losses._numerics import (
    PIXEL_REDUCTIONS,
    keep_classes,
    reduce_pixels,
    safe_divide,
    spatial_axes,
)
from jaxseg_losses.distance import distance_transform_edt, per_channel, signed_distance_map

__all__ = ("region_wise_loss", "region_wise_map")

RW_MAPS = ("rrw", "boundary")


def region_wise_map(
    targets: jax.typing.ArrayLike,
    *,
    kind: str = "rrw",
    sampling: float | Sequence[float] | None = None,
) -> jax.Array:
    r"""The region-wise maps of Valverde & Tohka (2023) of dense targets, per class.

    ``kind="rrw"``: the *rectified region-wise* map (their Eq. 9 and ``RWLoss``): inside class
    :math:`c`, minus the distance to the nearest pixel outside it, normalised by its maximum
    over the image; 1 everywhere else:

    .. math::
        z_c(x) = \begin{cases} -\,d_c(x) / \max_{x'} d_c(x') & y_c(x) = 1 \\
                               1 & \text{otherwise} \end{cases}

    (:math:`d_c` the Euclidean distance transform of the class mask, so :math:`z_c \in [-1, 0)`
    inside). A class absent from the image gets 1 everywhere; a class filling the image gets
    -1 everywhere (SciPy has no background to measure to there).

    ``kind="boundary"``: the boundary loss's signed distance map (Kervadec et al.), which the
    paper recasts as an RW map and the authors' ``BoundaryLoss`` computes: ``+edt`` of the
    outside (distance to the class), ``-edt`` of the inside (object pixels on the boundary get
    -1: :func:`~jaxseg_losses.distance.signed_distance_map` with ``inside_offset=0``); 0 for an
    absent or full class.

    Args:
      targets: ``(B, *spatial, C)`` one-hot/soft targets (foreground: ``>= 0.5``).
      kind: ``"rrw"`` (default) or ``"boundary"``.
      sampling: voxel spacing per spatial axis (see
        :func:`~jaxseg_losses.distance.distance_transform_edt`). Default 1.

    Returns:
      ``(B, *spatial, C)`` float32 maps, without gradient.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.region_wise import region_wise_map
      >>> y = jnp.array([[0, 1, 1, 1, 0]])[:, None, :, None]  # (B, H, W, C) = (1, 1, 5, 1)
      >>> region_wise_map(y)[0, 0, :, 0].tolist()
      [1.0, -0.5, -1.0, -0.5, 1.0]
    """
    check_choice("kind", kind, RW_MAPS)
    targets = jax.lax.stop_gradient(jnp.asarray(targets))
    inside = targets >= 0.5
    if kind == "boundary":
        return signed_distance_map(inside, sampling=sampling, inside_offset=0.0)
    edt = functools.partial(distance_transform_edt, fill_value=1.0)  # full class: all -1
    distance = per_channel(edt, inside, sampling=sampling)
    largest = jnp.max(distance, axis=spatial_axes(distance.ndim), keepdims=True)
    return jnp.where(inside, -safe_divide(distance, largest), 1.0)


@boolean_options
def region_wise_loss(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    kind: str = "rrw",
    maps: jax.typing.ArrayLike | None = None,
    mode: Mode = "multiclass",
    from_logits: bool = True,
    sampling: float | Sequence[float] | None = None,
    include_background: bool = True,
    class_weights: jax.typing.ArrayLike | None = None,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
    reduction: str = "example",
) -> jax.Array:
    r"""Region-wise loss (Valverde & Tohka, Pattern Recognition 2023, Eq. 5).

    .. math::
        L_b = \frac{1}{\sum_c w_c} \sum_c w_c\,
              \frac{\sum_x v(x)\, p_c(x)\, z_c(x)}{\sum_x v(x)}

    with :math:`p` the softmax (or sigmoid) probabilities, :math:`z` the RW maps
    (:func:`region_wise_map`; ``kind="rrw"``, the paper's rectified maps, by default) and
    :math:`v` the pixel weights. Without ``class_weights`` this is the authors'
    ``torch.mean(softmax * rrwmap)`` per example. The RRW map is negative on each class's own
    region and 1 elsewhere, so at every pixel the true class has the smallest value (the paper's
    condition for a stable optimum): the loss is minimal, and negative, for the perfect
    prediction, and bounded in [-1, 1].

    ``maps``: your own ``(B, *spatial, C)`` RW map (e.g. class-balancing weights, or maps from
    a previous epoch's errors, as the paper suggests); ``kind`` and ``sampling`` are then unused.

    The maps are computed from the dense targets (foreground ``>= 0.5``); pixels of
    ``ignore_index`` have no class there (they count as outside every class) and, like masked
    pixels, leave the mean.

    Args:
      predictions: ``(B, *spatial, C)`` logits (or probabilities with ``from_logits=False``).
      labels: ``(B, *spatial)`` integer class indices or ``(B, *spatial, C)`` one-hot/soft targets.
      kind: ``"rrw"`` (default) or ``"boundary"`` (see :func:`region_wise_map`).
      maps: optional precomputed ``(B, *spatial, C)`` maps. Default ``None``.
      mode: ``"multiclass"`` (default, softmax), ``"multilabel"`` or ``"binary"`` (sigmoid).
      from_logits: whether ``predictions`` are logits. Default ``True``.
      sampling: voxel spacing per spatial axis for the maps. Default 1.
      include_background: ``False`` drops class 0 from the class mean. Default ``True``.
      class_weights: optional ``(C,)`` weights :math:`w_c` of the class mean. Default ``None``.
      mask: optional ``(B, *spatial)`` pixel weights. Default ``None``.
      ignore_index: integer label excluded from value and gradient. Default ``None``.
      reduction: ``"example"`` -> ``(B,)``; ``"pixel"`` -> ``(B, *spatial)``, the weighted class
        mean :math:`v \sum_c w_c p_c z_c / \sum_c w_c` per pixel.

    Returns:
      ``(B,)`` float32 losses in [-1, 1] for the RRW maps (or the per-pixel map). An example with
      no valid pixel gives 0.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.region_wise import region_wise_loss
      >>> labels = jnp.array([[[0, 1, 1, 1, 0]]])  # (B, H, W) = (1, 1, 5)
      >>> perfect = jnp.stack([labels == 0, labels == 1], -1).astype(jnp.float32)
      >>> region_wise_loss(perfect, labels, from_logits=False)  # (-1 -.5 -1 -.5 -1) / 10
      Array([-0.4], dtype=float32)
    """
    check_choice("reduction", reduction, PIXEL_REDUCTIONS)
    prep = prepare(predictions, labels, mode=mode, from_logits=from_logits, mask=mask,
                   ignore_index=ignore_index)
    if maps is None:
        maps = region_wise_map(prep.targets, kind=kind, sampling=sampling)
    else:
        check_choice("kind", kind, RW_MAPS)
        maps = jax.lax.stop_gradient(jnp.asarray(maps, jnp.float32))
        if maps.shape != prep.predictions.shape:
            raise ValueError(f"maps: expected shape {shape_str(prep.predictions.shape)} (the "
                             f"predictions'); got {shape_str(maps.shape)}")
    weights = check_class_vector(class_weights, prep.num_classes, name="class_weights")
    weights = jnp.ones((prep.num_classes,)) if weights is None else weights
    weights = keep_classes(weights, include_background)
    terms = keep_classes(prepared_probabilities(prep) * maps, include_background)
    pixel = safe_divide(
        jnp.tensordot(terms, weights, axes=1, precision=jax.lax.Precision.HIGHEST),
        jnp.sum(weights),
    )
    return reduce_pixels(pixel, prep.valid, reduction)


# A pixel-wise loss: no per-class values (read by combine.on_classes, which refuses it when built).
region_wise_loss.reductions = PIXEL_REDUCTIONS
