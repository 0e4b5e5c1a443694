r"""Segmentation metrics on device: Dice, IoU, Hausdorff distance (max and percentile), ASSD.

Inputs are hard segmentations: both integer label maps ``(B, *spatial)`` (with
``num_classes``), or both dense ``(B, *spatial, C)`` masks (bool, or numbers binarised at 0.5).
Every metric returns ``(B, C)`` values (``(B, C - 1)`` without background), jit-compiles and
runs on CPU, GPU and TPU; the surface metrics use the exact EDT of
:mod:`jaxseg_losses.distance`.

Empty masks (documented; NaN only where ``ignore_empty=True`` asks for it):

* Dice / IoU: empty prediction and empty truth score ``empty_score`` (default 1: nothing to
  find, nothing found); with ``ignore_empty=True`` every empty truth gives NaN instead (MONAI's
  ``ignore_empty=True``, its default), to be skipped by ``jnp.nanmean``.
* Hausdorff / surface distances: both empty -> 0; exactly one empty -> ``+inf`` (the distance
  to a surface that does not exist). MONAI gives NaN for the first case and inf for the second;
  filter with ``jnp.isfinite`` before averaging over a data set.

Bad values use the losses' checks: class indices outside ``[0, num_classes - 1]`` (other than
a truth ``ignore_index``), NaN in dense masks and NaN, infinite or negative ``mask`` values raise
``ValueError`` eagerly and are checkify checks under ``jit``; unchecked, the example's metrics
are NaN (never a plausible number). Float label maps with ``num_classes`` are a ``TypeError``.

Excluded pixels (``mask`` zeros, truth pixels equal to ``ignore_index``) are removed from both
masks before anything is counted, as MONAI multiplies both by its ignore mask. For the surface
metrics they act like the outside of the image: surfaces are taken on the masks without them,
so a kept object pixel next to an excluded one is a surface pixel of its mask (as at the image
border), and distances are measured straight across excluded pixels. Scoring a region of
interest is then scoring the image cropped to it (see :func:`hausdorff_distance`'s example).

Surfaces follow MONAI's ``get_mask_edges`` (no ``spacing``-dependent sub-voxel edges): a pixel
is on the surface when it belongs to the mask and one of its face neighbours (4-connectivity in
2D, 6 in 3D) does not, the outside of the image counting as background.

Distance metrics (``distance_metric``, the surface metrics, as MONAI's option of that name):
``"euclidean"`` (default, :func:`~jaxseg_losses.distance.distance_transform_edt`),
``"chessboard"`` (:math:`\max_k s_k |\Delta_k|`) and ``"taxicab"`` (:math:`\sum_k s_k
|\Delta_k|`), both from :func:`~jaxseg_losses.distance.distance_transform_cdt`, for index
offsets :math:`\Delta` and the spacing :math:`s` = ``sampling``. With unit ``sampling`` they equal
MONAI's (SciPy's ``distance_transform_cdt``). MONAI ignores ``spacing`` for these two and counts
voxel steps; here ``sampling`` weights each step, so distances and ``surface_dice``'s
``tolerance`` stay in one unit for every metric: pass ``sampling=None`` for MONAI's numbers.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from jaxseg_losses._inputs import (
    check_choice,
    check_class_indices,
    check_class_vector,
    check_no_ignore_index,
    resolve_mask,
    shape_str,
    value_check,
)
from jaxseg_losses._numerics import keep_classes, safe_divide
from jaxseg_losses.distance import distance_transform_cdt, distance_transform_edt, per_channel


def _as_masks(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    num_classes: int | None,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Both inputs -> boolean one-hot masks ``(B, *spatial, C)`` that hold only the scored
    pixels, a ``(B,)`` flag of the examples with a bad value (their metrics are NaN; eager calls
    raise instead) and a ``(C,)`` flag of the class named by ``ignore_index`` (NaN: not scored).

    Values follow the losses' checks (:func:`check_class_indices`, :func:`resolve_mask`): class
    indices outside ``[0, num_classes - 1]`` (other than a truth ``ignore_index``), NaN in dense
    masks and NaN, infinite or negative ``mask`` values raise eagerly and are reported by
    checkify under ``jit``; unchecked, they make the example's metrics NaN.
    """
    pred, true = jnp.asarray(predictions), jnp.asarray(labels)
    if pred.shape != true.shape:
        raise ValueError(
            f"labels: expected the shape of predictions {shape_str(pred.shape)}; "
            f"got shape {shape_str(true.shape)}"
        )
    if 0 in pred.shape:
        raise ValueError(
            "predictions: nothing to score, every axis needs at least one entry; got shape "
            f"{shape_str(pred.shape)}"
        )
    if num_classes is not None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes: expected an integer >= 1; got {num_classes!r}")
        for name, x in (("predictions", pred), ("labels", true)):
            if not jnp.issubdtype(x.dtype, jnp.integer) or x.ndim not in (2, 3, 4):
                raise TypeError(
                    f"{name}: with num_classes, expected integer label maps (B, *spatial) with "
                    f"1 to 3 spatial axes; got {x.dtype} of shape {shape_str(x.shape)}"
                )
        pred, _, pred_ok = check_class_indices(pred, num_classes, name="predictions")
        true, scored, true_ok = check_class_indices(true, num_classes, ignore_index=ignore_index)
        bad = ~pred_ok | (scored & ~true_ok)
        classes = jnp.arange(num_classes)
        pred, true = pred[..., None] == classes, true[..., None] == classes
        void = classes == (-1 if ignore_index is None else ignore_index)
    else:
        if pred.ndim not in (3, 4, 5):
            raise ValueError(
                "predictions: expected dense masks (B, *spatial, C) with 1 to 3 spatial axes "
                f"(or integer maps with num_classes=); got shape {shape_str(pred.shape)}"
            )
        check_no_ignore_index(ignore_index, pred.shape[:-1], pred.shape)
        bad = jnp.zeros(pred.shape[:-1], bool)
        for name, x in (("predictions", pred), ("labels", true)):
            if jnp.issubdtype(x.dtype, jnp.floating):
                nan = jnp.any(jnp.isnan(x), axis=-1)
                value_check(~jnp.any(nan), f"{name}: dense masks contain NaN")
                bad = bad | nan
        binarise = lambda x: x if x.dtype == jnp.bool_ else x > 0.5
        pred, true = binarise(pred), binarise(true)
        scored = jnp.ones(bad.shape, bool)
        void = jnp.zeros(pred.shape[-1:], bool)
    weights = resolve_mask(mask, bad.shape)  # NaN where a mask value is bad
    scored = scored & (weights > 0)
    bad = jnp.any(bad | jnp.isnan(weights), axis=tuple(range(1, bad.ndim)))
    return pred & scored[..., None], true & scored[..., None], bad, void


def _nan_where(bad: jax.Array, void: jax.Array, values: jax.Array, include_background: bool):
    """``(B, C)`` metric values, NaN for the examples flagged by :func:`_as_masks` and for the
    ``ignore_index`` class."""
    void = keep_classes(void, include_background)
    return jnp.where(bad[:, None] | void, jnp.nan, values)


def _ignore_empty(score: jax.Array, true_sum: jax.Array, ignore_empty: bool) -> jax.Array:
    """MONAI's ``ignore_empty=True``: NaN where the truth is empty, so that ``nanmean`` skips it."""
    return jnp.where(true_sum > 0, score, jnp.nan) if ignore_empty else score


def _counts(pred: jax.Array, true: jax.Array):
    axes = tuple(range(1, pred.ndim - 1))
    total = lambda m: jnp.sum(m, axis=axes, dtype=jnp.float32)
    return total(pred & true), total(pred), total(true)


def dice_score(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    num_classes: int | None = None,
    include_background: bool = True,
    empty_score: float = 1.0,
    ignore_empty: bool = False,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
) -> jax.Array:
    r"""Dice coefficient per example and class, :math:`2|P \cap G| / (|P| + |G|)`.

    Args:
      predictions: predicted label map ``(B, *spatial)`` (with ``num_classes``) or masks
        ``(B, *spatial, C)``.
      labels: ground truth in the same form.
      num_classes: number of classes for integer maps. Default ``None`` (dense masks).
      include_background: keep class 0. Default ``True``.
      empty_score: value when both masks are empty. Default 1.
      ignore_empty: ``True`` gives NaN wherever the truth is empty (whatever the prediction),
        MONAI's ``ignore_empty=True``: ``jnp.nanmean`` over the batch is then MONAI's
        aggregate, and ``jnp.sum(~jnp.isnan(scores), axis=0)`` its count of scored entries
        (``get_not_nans``). Default ``False``: empty truth scores ``empty_score`` against an
        empty prediction and 0 against any other (MONAI's ``ignore_empty=False``).
      mask: ``(B, *spatial)`` pixels to score, non-zero = scored (bool or numbers, finite and
        >= 0). Excluded pixels count in neither the prediction nor the truth. Default ``None``.
      ignore_index: a truth label whose pixels are excluded as ``mask``'s zeros (integer maps
        only; dense masks take ``mask``). A class index in ``[0, C - 1]`` also leaves that class
        unscored: its column is NaN. Default ``None``.

    Returns:
      ``(B, C)`` float32 scores in [0, 1] (NaN for an empty truth with ``ignore_empty``).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses import dice_score
      >>> truth = jnp.array([[0, 1, 1, 0]])
      >>> dice_score(jnp.array([[0, 1, 0, 0]]), truth, num_classes=2)
      Array([[0.8      , 0.6666667]], dtype=float32)
    """
    pred, true, bad, void = _as_masks(predictions, labels, num_classes, mask, ignore_index)
    tp, pred_sum, true_sum = _counts(
        keep_classes(pred, include_background), keep_classes(true, include_background)
    )
    score = safe_divide(2.0 * tp, pred_sum + true_sum, fill=empty_score)
    return _nan_where(bad, void, _ignore_empty(score, true_sum, ignore_empty), include_background)


def iou_score(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    num_classes: int | None = None,
    include_background: bool = True,
    empty_score: float = 1.0,
    ignore_empty: bool = False,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
) -> jax.Array:
    r"""Intersection over union (Jaccard index) per example and class.

    :math:`|P \cap G| / |P \cup G|`.

    Args:
      predictions: predicted label map ``(B, *spatial)`` (with ``num_classes``) or masks
        ``(B, *spatial, C)``.
      labels: ground truth in the same form.
      num_classes, include_background, empty_score, ignore_empty, mask, ignore_index: as in
        :func:`dice_score` (MONAI's ``compute_iou`` takes the same ``ignore_empty``).

    Returns:
      ``(B, C)`` float32 scores in [0, 1] (NaN for an empty truth with ``ignore_empty``).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses import iou_score
      >>> iou_score(jnp.array([[0, 1, 0, 0]]), jnp.array([[0, 1, 1, 0]]), num_classes=2)
      Array([[0.6666667, 0.5      ]], dtype=float32)
    """
    pred, true, bad, void = _as_masks(predictions, labels, num_classes, mask, ignore_index)
    tp, pred_sum, true_sum = _counts(
        keep_classes(pred, include_background), keep_classes(true, include_background)
    )
    score = safe_divide(tp, pred_sum + true_sum - tp, fill=empty_score)
    return _nan_where(bad, void, _ignore_empty(score, true_sum, ignore_empty), include_background)


GDS_WEIGHTS = ("square", "simple", "uniform")


def generalized_dice_score(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    num_classes: int | None = None,
    include_background: bool = True,
    weight_type: str = "square",
    empty_score: float = 1.0,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
) -> jax.Array:
    r"""Generalized Dice score per example, the classes pooled with volume weights (Sudre et al.,
    DLMIA 2017):

    .. math::
        GDS = \frac{2 \sum_c w_c |P_c \cap G_c|}{\sum_c w_c (|P_c| + |G_c|)},\qquad
        w_c = 1 / |G_c|^2\ (\text{square}),\ 1 / |G_c|\ (\text{simple}),\ 1\ (\text{uniform})

    A class absent from the truth would get an infinite weight; as in MONAI it gets the largest
    finite weight of the example (1 if there is none). Equals MONAI's
    ``compute_generalized_dice(..., sum_over_classes=True)`` (whose per-class form is plain
    Dice, :func:`dice_score`). Nothing in either mask: ``empty_score`` (MONAI: 1). A class
    named by ``ignore_index`` leaves the pool, as in MONAI.

    Args:
      predictions, labels, num_classes, include_background, mask, ignore_index: as
        :func:`dice_score` (excluded pixels in the surface metrics: see the module docstring).
      weight_type: ``"square"`` (default), ``"simple"`` or ``"uniform"``.
      empty_score: value when every kept class is empty in both masks. Default 1.

    Returns:
      ``(B,)`` float32 scores in [0, 1].

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses import generalized_dice_score
      >>> truth = jnp.array([[0, 1, 1, 2]])
      >>> generalized_dice_score(truth, truth, num_classes=3)
      Array([1.], dtype=float32)
    """
    check_choice("weight_type", weight_type, GDS_WEIGHTS)
    pred, true, bad, void = _as_masks(predictions, labels, num_classes, mask, ignore_index)
    tp, pred_sum, true_sum = _counts(
        keep_classes(pred, include_background), keep_classes(true, include_background)
    )
    if weight_type == "uniform":
        weights = jnp.ones_like(true_sum)
    else:
        volume = true_sum if weight_type == "simple" else true_sum * true_sum
        finite = volume > 0
        weights = jnp.where(finite, 1.0 / jnp.where(finite, volume, 1.0), 0.0)
        largest = jnp.max(weights, axis=-1, keepdims=True)
        weights = jnp.where(finite, weights, jnp.where(largest > 0, largest, 1.0))
    weights = jnp.where(keep_classes(void, include_background), 0.0, weights)  # ignore_index
    numerator = 2.0 * jnp.sum(weights * tp, axis=-1)
    denominator = jnp.sum(weights * (pred_sum + true_sum), axis=-1)
    return jnp.where(bad, jnp.nan, safe_divide(numerator, denominator, fill=empty_score))


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


def _surface_distances(pred, true, sampling, include_background, distance_metric):
    check_choice("distance_metric", distance_metric, DISTANCE_METRICS)
    if distance_metric == "euclidean":
        transform = distance_transform_edt
    else:
        transform = functools.partial(distance_transform_cdt, metric=distance_metric)
    pred, true = keep_classes(pred, include_background), keep_classes(true, include_background)
    pred_surface, true_surface = surface_mask(pred), surface_mask(true)
    # forward: from the predicted surface to the true one (read on pred_surface); backward: reverse.
    forward = per_channel(transform, ~true_surface, sampling=sampling)
    backward = per_channel(transform, ~pred_surface, sampling=sampling)
    return forward, backward, pred_surface, true_surface


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


def _empty_policy(value: jax.Array, pred_any: jax.Array, true_any: jax.Array) -> jax.Array:
    both_empty = ~pred_any & ~true_any
    one_empty = pred_any ^ true_any
    return jnp.where(both_empty, 0.0, jnp.where(one_empty, jnp.inf, value))


def hausdorff_distance(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    num_classes: int | None = None,
    percentile: float | None = None,
    sampling: Sequence[float] | None = None,
    include_background: bool = True,
    directed: bool = False,
    distance_metric: str = "euclidean",
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
) -> jax.Array:
    r"""Hausdorff distance between the surfaces of prediction and truth, per example and class.

    .. math::
        HD = \max\Bigl(\max_{s \in \partial P} d(s, \partial G),\
                        \max_{s \in \partial G} d(s, \partial P)\Bigr)

    With ``percentile=95`` the maxima become 95th percentiles (HD95; linear interpolation, as
    ``torch.quantile`` in MONAI). Equals MONAI's ``compute_hausdorff_distance`` on non-empty
    masks, with ``spacing`` as ``sampling``.

    Args:
      predictions, labels, num_classes, include_background, mask, ignore_index: as
        :func:`dice_score` (excluded pixels in the surface metrics: see the module docstring).
      percentile: ``None`` (default) for the maximum, or a value in [0, 100].
      sampling: voxel spacing per spatial axis. Default ``None`` (unit).
      directed: only the prediction-to-truth direction. Default ``False``.
      distance_metric: ``"euclidean"`` (default), ``"chessboard"`` or ``"taxicab"``, as MONAI's
        option of that name (see the module docstring: with ``sampling``, the chessboard and
        taxicab distances are in its units, where MONAI counts voxel steps).

    Returns:
      ``(B, C)`` float32 distances; 0 when both masks are empty, +inf when one is.

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
    pred, true, bad, void = _as_masks(predictions, labels, num_classes, mask, ignore_index)
    forward, backward, pred_surface, true_surface = _surface_distances(
        pred, true, sampling, include_background, distance_metric
    )

    def reduce(distances, members):
        flat_d, flat_m = _flatten_spatial(distances), _flatten_spatial(members)
        if percentile is None:
            return jnp.max(jnp.where(flat_m, flat_d, -jnp.inf), axis=-1)
        return _masked_quantile(flat_d, flat_m, percentile / 100.0)

    value = reduce(forward, pred_surface)
    if not directed:
        value = jnp.maximum(value, reduce(backward, true_surface))
    axes = tuple(range(1, pred_surface.ndim - 1))
    value = _empty_policy(value, jnp.any(pred_surface, axes), jnp.any(true_surface, axes))
    return _nan_where(bad, void, value, include_background)


def average_surface_distance(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    num_classes: int | None = None,
    sampling: Sequence[float] | None = None,
    include_background: bool = True,
    symmetric: bool = True,
    distance_metric: str = "euclidean",
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
) -> jax.Array:
    r"""Average surface distance per example and class.

    ``symmetric=True`` (default, ASSD): the mean over the surface points of both masks of their
    distance to the other surface. ``symmetric=False``: the mean over the predicted surface of
    the distance to the true surface. Both as MONAI's ``compute_average_surface_distance``
    (whose default is ``symmetric=False``).

    Args:
      predictions, labels, num_classes, include_background, mask, ignore_index: as
        :func:`dice_score` (excluded pixels in the surface metrics: see the module docstring).
      sampling: voxel spacing per spatial axis. Default ``None`` (unit).
      symmetric: average both directions. Default ``True``.
      distance_metric: as :func:`hausdorff_distance`.

    Returns:
      ``(B, C)`` float32 distances; 0 when both masks are empty, +inf when one is.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses import average_surface_distance
      >>> truth = jnp.zeros((1, 7, 7), int).at[0, 2:5, 2:5].set(1)
      >>> average_surface_distance(truth, truth, num_classes=2)
      Array([[0., 0.]], dtype=float32)
    """
    pred, true, bad, void = _as_masks(predictions, labels, num_classes, mask, ignore_index)
    forward, backward, pred_surface, true_surface = _surface_distances(
        pred, true, sampling, include_background, distance_metric
    )
    axes = tuple(range(1, pred_surface.ndim - 1))
    total = jnp.sum(jnp.where(pred_surface, forward, 0.0), axis=axes)
    count = jnp.sum(pred_surface, axis=axes, dtype=jnp.float32)
    if symmetric:
        total = total + jnp.sum(jnp.where(true_surface, backward, 0.0), axis=axes)
        count = count + jnp.sum(true_surface, axis=axes, dtype=jnp.float32)
    value = safe_divide(total, count)
    value = _empty_policy(value, jnp.any(pred_surface, axes), jnp.any(true_surface, axes))
    return _nan_where(bad, void, value, include_background)


def surface_dice(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    tolerance: float | Sequence[float],
    num_classes: int | None = None,
    sampling: Sequence[float] | None = None,
    include_background: bool = True,
    empty_score: float = 1.0,
    distance_metric: str = "euclidean",
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

    Args:
      predictions, labels, num_classes, include_background, mask, ignore_index: as
        :func:`dice_score` (excluded pixels in the surface metrics: see the module docstring).
      tolerance: :math:`\tau \ge 0` in the units of ``sampling``, one number or one per kept
        class (``(C,)``, or ``(C - 1,)`` without background), as MONAI's ``class_thresholds``.
      sampling: voxel spacing per spatial axis. Default ``None`` (unit).
      empty_score: value when both masks are empty. Default 1.
      distance_metric: as :func:`hausdorff_distance`.

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
    pred, true, bad, void = _as_masks(predictions, labels, num_classes, mask, ignore_index)
    forward, backward, pred_surface, true_surface = _surface_distances(
        pred, true, sampling, include_background, distance_metric
    )
    tau = check_class_vector(tolerance, pred_surface.shape[-1], name="tolerance")
    axes = tuple(range(1, pred_surface.ndim - 1))
    correct = jnp.sum(pred_surface & (forward <= tau), axis=axes, dtype=jnp.float32)
    correct = correct + jnp.sum(true_surface & (backward <= tau), axis=axes, dtype=jnp.float32)
    total = jnp.sum(pred_surface, axis=axes, dtype=jnp.float32)
    total = total + jnp.sum(true_surface, axis=axes, dtype=jnp.float32)
    return _nan_where(bad, void, safe_divide(correct, total, fill=empty_score),
                      include_background)


__all__ = [
    "average_surface_distance",
    "dice_score",
    "generalized_dice_score",
    "hausdorff_distance",
    "iou_score",
    "surface_dice",
    "surface_mask",
]
