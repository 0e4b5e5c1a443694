r"""Surface metrics: Hausdorff distance (max and percentile), average surface distance and
surface Dice, from the surfaces of hard segmentations and the exact distance transform.

Surfaces follow MONAI's ``get_mask_edges`` (no ``spacing``-dependent sub-voxel edges): a pixel
is on the surface when it belongs to the mask and one of its face neighbours (4-connectivity in
2D, 6 in 3D) does not, the outside of the image counting as background.

``surface="elements"`` takes DeepMind's definition instead (Nikolov et al. 2021; MONAI's
``use_subvoxels=True``): surface elements on the grid between the pixels (marching squares /
cubes, :mod:`jaxseg_losses.metrics._elements`), each weighted by its length / area under
``sampling``, distances between element centres. 2-D and 3-D.

A missed object (exactly one mask empty) scores ``empty_distance`` in the distance metrics
(``"inf"``, ``"nan"``, ``"diagonal"`` or a number); two empty masks score 0.

Distance metrics (``distance_metric``, as MONAI's option of that name): ``"euclidean"``
(default, :func:`~jaxseg_losses.distance.distance_transform_edt`), ``"chessboard"``
(:math:`\max_k s_k |\Delta_k|`) and ``"taxicab"`` (:math:`\sum_k s_k |\Delta_k|`), both from
:func:`~jaxseg_losses.distance.distance_transform_cdt`, for index offsets :math:`\Delta` and the
spacing :math:`s` = ``sampling``. With unit ``sampling`` they equal MONAI's (SciPy's
``distance_transform_cdt``). MONAI ignores ``spacing`` for these two and counts voxel steps;
here ``sampling`` weights each step, so distances and ``surface_dice``'s ``tolerance`` stay in
one unit for every metric: pass ``sampling=None`` for MONAI's numbers.

Excluded pixels act like the outside of the image: surfaces are taken on the masks without them,
so a kept object pixel next to an excluded one is a surface pixel of its mask (as at the image
border), and distances are measured straight across excluded pixels.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from jaxseg_losses._inputs import (
    boolean_options,
    check_choice,
    check_class_vector,
    check_number,
)
from jaxseg_losses._numerics import keep_classes, per_platform, safe_divide
from jaxseg_losses._sharding import explicit_sharding_spec
from jaxseg_losses.distance import (
    distance_transform_cdt,
    distance_transform_edt,
    per_channel,
    resolve_sampling,
)
from jaxseg_losses.metrics._elements import surface_elements
from jaxseg_losses.metrics._hard import hard_masks, nan_where


def surface_mask(masks: jax.Array) -> jax.Array:
    """Surface pixels of boolean masks ``(B, *spatial, C)``.

    A pixel is on the surface when it is in the mask and a face neighbour is not.

    The image border counts as outside (SciPy's ``binary_erosion`` with its default cross
    structure and ``border_value=0``, as MONAI's ``get_mask_edges``).

    Args:
      masks: boolean ``(B, *spatial, C)`` masks.

    Returns:
      boolean ``(B, *spatial, C)`` surface pixels.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses import surface_mask
      >>> square = jnp.zeros((1, 5, 5, 1), bool).at[0, 1:4, 1:4].set(True)
      >>> int(surface_mask(square).sum())  # the 3x3 square minus its centre
      8
    """
    eroded = masks
    for axis in range(1, masks.ndim - 1):
        pad = [(0, 0)] * masks.ndim
        pad[axis] = (1, 1)
        padded = jnp.pad(masks, pad, constant_values=False)
        size = masks.shape[axis]
        before = jax.lax.slice_in_dim(padded, 0, size, axis=axis)
        after = jax.lax.slice_in_dim(padded, 2, size + 2, axis=axis)
        eroded = eroded & before & after
    return masks & ~eroded


DISTANCE_METRICS = ("euclidean", "chessboard", "taxicab")
SURFACES = ("pixels", "elements")
DIRECTIONS = ("each_direction", "pooled")
EMPTY_DISTANCES = ("inf", "nan", "diagonal")


def _surface_distances(pred, true, sampling, include_background, distance_metric, surface):
    """``(forward, backward, pred_weights, true_weights)``, all ``(B, *grid, C)``: distances from
    each surface point of the prediction to the true surface (read where ``pred_weights > 0``)
    and back, and each point's weight: 1 per surface pixel (``"pixels"``), or the element's
    length / area on the corner grid (``"elements"``)."""
    check_choice("distance_metric", distance_metric, DISTANCE_METRICS)
    check_choice("surface", surface, SURFACES)
    if distance_metric == "euclidean":
        transform = distance_transform_edt
    else:
        transform = functools.partial(distance_transform_cdt, distance_metric=distance_metric)
    pred, true = keep_classes(pred, include_background), keep_classes(true, include_background)
    batch, classes = pred.shape[0], pred.shape[-1]

    def distances(pred, true):
        if surface == "pixels":
            pred_weights = surface_mask(pred).astype(jnp.float32)
            true_weights = surface_mask(true).astype(jnp.float32)
        else:
            spacing = resolve_sampling(sampling, pred.ndim - 2)
            pred_weights, true_weights = (surface_elements(pred, spacing),
                                          surface_elements(true, spacing))
        # forward: from the predicted surface to the true one (read on pred_weights); backward:
        # reverse.
        forward = per_channel(transform, ~(true_weights > 0), sampling=sampling)
        backward = per_channel(transform, ~(pred_weights > 0), sampling=sampling)
        return forward, backward, pred_weights, true_weights

    def by_plane(pred, true):
        """XLA:TPU: every class plane as an image of one channel. Channel-last, the corner grid's
        arrays kept C as their minor dimension, padded to the 128 lanes (at (2, 96, 96, 96, 4),
        surface elements: 3.5-5.1 GiB of temporaries, 0.5 GiB by plane)."""
        def planes(x):  # (B, *s, C) -> (B C, *s, 1)
            return jnp.moveaxis(x, -1, 1).reshape(batch * classes, *x.shape[1:-1], 1)

        def unplanes(x):  # (B C, *grid, 1) -> (B, *grid, C)
            return jnp.moveaxis(x.reshape(batch, classes, *x.shape[1:-1]), 1, -1)

        return tuple(unplanes(x) for x in distances(planes(pred), planes(true)))

    # Under an Explicit mesh the sharded batch axis cannot merge with the classes.
    tpu = distances if explicit_sharding_spec(pred) is not None else by_plane
    return per_platform(pred, true, cpu=distances, accelerator=distances, tpu=tpu)


def _flatten_spatial(x: jax.Array) -> jax.Array:
    """``(B, *spatial, C)`` -> ``(B, C, N)``."""
    return jnp.moveaxis(x, -1, 1).reshape(x.shape[0], x.shape[-1], -1)


def _masked_quantile(values: jax.Array, members: jax.Array, q: float) -> jax.Array:
    """Quantile of ``values[members]`` along the last axis (linear, as ``torch.quantile``).

    Static shapes: non-members are sorted last as +inf. Empty sets give NaN (handled by callers).
    """
    ordered = jnp.sort(jnp.where(members, values, jnp.inf), axis=-1)
    count = jnp.sum(members, axis=-1)
    position = q * jnp.maximum(count - 1, 0).astype(jnp.float32)
    low = jnp.floor(position).astype(jnp.int32)
    high = jnp.minimum(low + 1, jnp.maximum(count - 1, 0))
    lo = jnp.take_along_axis(ordered, low[..., None], axis=-1)[..., 0]
    hi = jnp.take_along_axis(ordered, high[..., None], axis=-1)[..., 0]
    frac = position - low
    return jnp.where(frac > 0, lo + frac * (hi - lo), lo)


def _weighted_quantile(values: jax.Array, weights: jax.Array, q: float) -> jax.Array:
    """DeepMind's ``compute_robust_hausdorff`` along the last axis: the values sorted, their
    cumulative weight over the total, the first value where it reaches ``q`` (the last value if
    none does). Static shapes: non-members (weight 0) are sorted last as +inf."""
    key = jnp.where(weights > 0, values, jnp.inf)
    # Stable: the order of tied values' weights decides the float32 running sum's last bit,
    # which can move the quantile across a run boundary.
    key, weights = jax.lax.sort((key, weights), dimension=key.ndim - 1, num_keys=1)
    cumulative = jnp.cumsum(weights, axis=-1)
    share = cumulative / cumulative[..., -1:]
    index = jnp.sum(share < jnp.float32(q), axis=-1)
    count = jnp.sum(weights > 0, axis=-1)
    index = jnp.minimum(index, jnp.maximum(count - 1, 0))
    return jnp.take_along_axis(key, index[..., None], axis=-1)[..., 0]


def _check_empty_distance(empty_distance) -> None:
    if isinstance(empty_distance, str):
        check_choice("empty_distance", empty_distance, EMPTY_DISTANCES)
        return
    if isinstance(empty_distance, bool) or not isinstance(empty_distance, (int, float)):
        raise TypeError(f"empty_distance: expected one of {EMPTY_DISTANCES} or a number >= 0; "
                        f"got {empty_distance!r}")
    check_number("empty_distance", empty_distance)


def _missed_value(empty_distance, shape: tuple[int, ...], sampling) -> float:
    """The distance given to a missed object (exactly one mask empty)."""
    if empty_distance == "inf":
        return math.inf
    if empty_distance == "nan":
        return math.nan
    if empty_distance == "diagonal":
        spacing = resolve_sampling(sampling, len(shape))
        return math.sqrt(sum((n * s) ** 2 for n, s in zip(shape, spacing, strict=True)))
    return float(empty_distance)


def _empty_policy(value, pred_any, true_any, missed: float) -> jax.Array:
    both_empty = ~pred_any & ~true_any
    one_empty = pred_any ^ true_any
    return jnp.where(both_empty, 0.0, jnp.where(one_empty, jnp.float32(missed), value))


def _weighted_sum(distances: jax.Array, weights: jax.Array, axes) -> jax.Array:
    return jnp.sum(jnp.where(weights > 0, distances * weights, 0.0), axis=axes)


@boolean_options
def hausdorff_distance(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    num_classes: int | None = None,
    mode: str = "multiclass",
    from_logits: bool = True,
    threshold: float = 0.5,
    percentile: float | None = None,
    sampling: Sequence[float] | None = None,
    include_background: bool = True,
    directed: bool = False,
    distance_metric: str = "euclidean",
    surface: str = "pixels",
    percentile_of: str = "each_direction",
    empty_distance: float | str = "inf",
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
) -> jax.Array:
    r"""Hausdorff distance between the surfaces of prediction and truth, per example and class.

    .. math::
        HD = \max\Bigl(\max_{s \in \partial P} d(s, \partial G),\
                        \max_{s \in \partial G} d(s, \partial P)\Bigr)

    With ``percentile=95`` the maxima become 95th percentiles (HD95; linear interpolation, as
    ``torch.quantile`` in MONAI). Equals MONAI's ``compute_hausdorff_distance`` on non-empty
    masks, with ``spacing`` as ``sampling``; with ``percentile_of="pooled"`` (one percentile of
    both directions' distances together) medpy's ``hd95`` / ``hd`` (``voxelspacing``); with
    ``surface="elements"`` DeepMind's ``compute_robust_hausdorff`` (the percentile weighted by
    the elements' areas: the first sorted distance whose cumulative area share reaches
    ``percentile / 100``; ``percentile=100`` or ``None``: the maximum).

    Args:
      predictions, labels, num_classes, mode, from_logits, threshold, include_background, mask,
        ignore_index: as :func:`~jaxseg_losses.metrics.dice_score` (excluded pixels: see
        :mod:`jaxseg_losses.metrics.surface`).
      percentile: ``None`` (default) for the maximum, or a value in [0, 100].
      sampling: voxel spacing per spatial axis. Default ``None`` (unit).
      directed: only the prediction-to-truth direction. Default ``False``.
      distance_metric: ``"euclidean"`` (default), ``"chessboard"`` or ``"taxicab"``, as MONAI's
        option of that name (see the module docstring: with ``sampling``, the chessboard and
        taxicab distances are in its units, where MONAI counts voxel steps).
      surface: ``"pixels"`` (default: the surface pixels, one each; MONAI's ``get_mask_edges``,
        medpy) or ``"elements"`` (the surface elements between the pixels, weighted by length /
        area; DeepMind ``surface-distance``, MONAI ``use_subvoxels=True``). 2-D and 3-D.
      percentile_of: with a ``percentile``, ``"each_direction"`` (default: the larger of the two
        directed percentiles; MONAI, DeepMind) or ``"pooled"`` (the percentile of both
        directions' distances together; medpy's ``hd95``). The maximum is the same either way.
      empty_distance: the value when exactly one mask is empty (a missed or a phantom object):
        ``"inf"`` (default), ``"nan"``, ``"diagonal"`` (the image diagonal
        :math:`\sqrt{\sum_k (n_k s_k)^2}` in the units of ``sampling``) or a number >= 0. Both
        empty: 0 whatever this option says.

    Returns:
      ``(B, C)`` float32 distances; 0 when both masks are empty, ``empty_distance`` (+inf) when
      one is.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses import hausdorff_distance
      >>> truth = jnp.zeros((1, 7, 7), int).at[0, 2:5, 2:5].set(1)
      >>> pred = jnp.zeros((1, 7, 7), int).at[0, 2:5, 2:6].set(1)
      >>> hausdorff_distance(pred, truth, num_classes=2)[:, 1]
      Array([1.], dtype=float32)
      >>> keep = jnp.ones((1, 7, 7)).at[0, :, 5].set(0)  # column 5 not scored
      >>> hausdorff_distance(pred, truth, num_classes=2, mask=keep)[:, 1]
      Array([0.], dtype=float32)
    """
    if percentile is not None and not 0 <= percentile <= 100:
        raise ValueError(f"percentile: expected a value in [0, 100] or None; got {percentile}")
    check_choice("percentile_of", percentile_of, DIRECTIONS)
    _check_empty_distance(empty_distance)
    masks = hard_masks(predictions, labels, num_classes=num_classes, mode=mode,
                       from_logits=from_logits, threshold=threshold, mask=mask,
                       ignore_index=ignore_index)
    forward, backward, pred_weights, true_weights = _surface_distances(
        masks.pred, masks.true, sampling, include_background, distance_metric, surface
    )
    flat = [_flatten_spatial(x) for x in (forward, pred_weights, backward, true_weights)]
    if directed:
        flat = flat[:2]
    elif percentile is not None and percentile_of == "pooled":
        flat = [jnp.concatenate(flat[0::2], axis=-1), jnp.concatenate(flat[1::2], axis=-1)]

    def reduce(distances, weights):
        if percentile is None:
            return jnp.max(jnp.where(weights > 0, distances, -jnp.inf), axis=-1)
        if surface == "elements":
            return _weighted_quantile(distances, weights, percentile / 100.0)
        return _masked_quantile(distances, weights > 0, percentile / 100.0)

    value = reduce(*flat[:2])
    if len(flat) == 4:
        value = jnp.maximum(value, reduce(*flat[2:]))
    axes = tuple(range(1, pred_weights.ndim - 1))
    missed = _missed_value(empty_distance, masks.pred.shape[1:-1], sampling)
    value = _empty_policy(value, jnp.any(pred_weights > 0, axes),
                          jnp.any(true_weights > 0, axes), missed)
    return nan_where(masks, value, include_background)


@boolean_options
def average_surface_distance(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    num_classes: int | None = None,
    mode: str = "multiclass",
    from_logits: bool = True,
    threshold: float = 0.5,
    sampling: Sequence[float] | None = None,
    include_background: bool = True,
    symmetric: bool = True,
    distance_metric: str = "euclidean",
    surface: str = "pixels",
    average_of: str = "pooled",
    empty_distance: float | str = "inf",
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
) -> jax.Array:
    r"""Average surface distance per example and class.

    ``symmetric=True`` (default, ASSD): the mean over the surface points of both masks of their
    distance to the other surface. ``symmetric=False``: the mean over the predicted surface of
    the distance to the true surface. Both as MONAI's ``compute_average_surface_distance``
    (whose default is ``symmetric=False``); ``symmetric=False`` is medpy's ``asd(pred, truth)``.
    ``symmetric=True`` is also medpy 0.5's ``assd``; ``average_of="each_direction"`` averages
    the two directed means instead (medpy < 0.5's ``assd``).
    With ``surface="elements"`` every point counts with its element's length / area: the
    directed means are DeepMind's ``compute_average_surface_distance`` (its pair, averaged by
    ``average_of="each_direction"``).

    Args:
      predictions, labels, num_classes, mode, from_logits, threshold, include_background, mask,
        ignore_index: as :func:`~jaxseg_losses.metrics.dice_score` (excluded pixels: see
        :mod:`jaxseg_losses.metrics.surface`).
      sampling: voxel spacing per spatial axis. Default ``None`` (unit).
      symmetric: average both directions. Default ``True``.
      distance_metric, surface, empty_distance: as :func:`hausdorff_distance`.
      average_of: with ``symmetric``, ``"pooled"`` (default: the mean over the points of both
        surfaces; MONAI, medpy 0.5's ``assd``) or ``"each_direction"`` (the mean of the two
        directed means; DeepMind's pair averaged).

    Returns:
      ``(B, C)`` float32 distances; 0 when both masks are empty, ``empty_distance`` (+inf) when
      one is.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses import average_surface_distance
      >>> truth = jnp.zeros((1, 7, 7), int).at[0, 2:5, 2:5].set(1)
      >>> average_surface_distance(truth, truth, num_classes=2)
      Array([[0., 0.]], dtype=float32)
    """
    check_choice("average_of", average_of, DIRECTIONS)
    _check_empty_distance(empty_distance)
    masks = hard_masks(predictions, labels, num_classes=num_classes, mode=mode,
                       from_logits=from_logits, threshold=threshold, mask=mask,
                       ignore_index=ignore_index)
    forward, backward, pred_weights, true_weights = _surface_distances(
        masks.pred, masks.true, sampling, include_background, distance_metric, surface
    )
    axes = tuple(range(1, pred_weights.ndim - 1))
    total, count = _weighted_sum(forward, pred_weights, axes), jnp.sum(pred_weights, axis=axes)
    back_total, back_count = _weighted_sum(backward, true_weights, axes), jnp.sum(true_weights,
                                                                                   axis=axes)
    if not symmetric:
        value = safe_divide(total, count)
    elif average_of == "pooled":
        value = safe_divide(total + back_total, count + back_count)
    else:
        value = 0.5 * (safe_divide(total, count) + safe_divide(back_total, back_count))
    missed = _missed_value(empty_distance, masks.pred.shape[1:-1], sampling)
    value = _empty_policy(value, count > 0, back_count > 0, missed)
    return nan_where(masks, value, include_background)


@boolean_options
def surface_dice(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    tolerance: float | Sequence[float],
    num_classes: int | None = None,
    mode: str = "multiclass",
    from_logits: bool = True,
    threshold: float = 0.5,
    sampling: Sequence[float] | None = None,
    include_background: bool = True,
    empty_score: float = 1.0,
    distance_metric: str = "euclidean",
    surface: str = "pixels",
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
) -> jax.Array:
    r"""Surface Dice (normalised surface distance, NSD) at a tolerance, per example and class.

    The fraction of both surfaces that lies within ``tolerance`` of the other surface
    (Nikolov et al., *Clinically applicable segmentation of head and neck anatomy for
    radiotherapy*, JMIR 2021):

    .. math::
        NSD_\tau = \frac{|\{s \in \partial P: d(s, \partial G) \le \tau\}|
                        + |\{s \in \partial G: d(s, \partial P) \le \tau\}|}
                       {|\partial P| + |\partial G|}

    Surfaces and distances as :func:`hausdorff_distance` (MONAI's ``get_mask_edges``, the exact
    EDT with ``sampling``), so it equals MONAI's ``compute_surface_dice`` with
    ``use_subvoxels=False`` and ``spacing=sampling``, except for two empty masks: MONAI gives
    NaN there, this gives ``empty_score`` (1: nothing to find, nothing found). One empty mask
    gives 0 (the other surface has no counterpart).

    ``surface="elements"`` measures each surface by its elements' lengths / areas instead of
    counting pixels, the definition of the paper: it equals DeepMind's
    ``compute_surface_dice_at_tolerance`` (``spacing_mm`` = ``sampling``; it gives NaN for two
    empty masks) and MONAI's ``compute_surface_dice(use_subvoxels=True)``.

    Args:
      predictions, labels, num_classes, mode, from_logits, threshold, include_background, mask,
        ignore_index: as :func:`~jaxseg_losses.metrics.dice_score` (excluded pixels: see
        :mod:`jaxseg_losses.metrics.surface`).
      tolerance: :math:`\tau \ge 0` in the units of ``sampling``, one number or one per kept
        class (``(C,)``, or ``(C - 1,)`` without background), as MONAI's ``class_thresholds``.
      sampling: voxel spacing per spatial axis. Default ``None`` (unit).
      empty_score: value when both masks are empty. Default 1.
      distance_metric, surface: as :func:`hausdorff_distance`.

    Returns:
      ``(B, C)`` float32 scores in [0, 1] (``(B, C - 1)`` without background).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses import surface_dice
      >>> truth = jnp.zeros((1, 8, 8), int).at[0, 2:6, 2:6].set(1)
      >>> shifted = jnp.zeros((1, 8, 8), int).at[0, 2:6, 3:7].set(1)
      >>> surface_dice(shifted, truth, num_classes=2, tolerance=1.0, include_background=False)
      Array([[1.]], dtype=float32)
      >>> surface_dice(shifted, truth, num_classes=2, tolerance=0.0, include_background=False)
      Array([[0.5]], dtype=float32)
    """
    masks = hard_masks(predictions, labels, num_classes=num_classes, mode=mode,
                       from_logits=from_logits, threshold=threshold, mask=mask,
                       ignore_index=ignore_index)
    forward, backward, pred_weights, true_weights = _surface_distances(
        masks.pred, masks.true, sampling, include_background, distance_metric, surface
    )
    tau = check_class_vector(tolerance, pred_weights.shape[-1], name="tolerance")
    axes = tuple(range(1, pred_weights.ndim - 1))
    correct = jnp.sum(jnp.where(forward <= tau, pred_weights, 0.0), axis=axes)
    correct = correct + jnp.sum(jnp.where(backward <= tau, true_weights, 0.0), axis=axes)
    total = jnp.sum(pred_weights, axis=axes) + jnp.sum(true_weights, axis=axes)
    return nan_where(masks, safe_divide(correct, total, fill=empty_score), include_background)


__all__ = [
    "average_surface_distance",
    "hausdorff_distance",
    "surface_dice",
    "surface_mask",
]
