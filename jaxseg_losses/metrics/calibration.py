r"""Calibration error of predicted probabilities: expected, average, maximum and RMS calibration
error over equal-width probability bins, per class or of the top label.

The probabilities are binned by value into ``num_bins`` equal bins of [0, 1]; in bin :math:`k`
with :math:`n_k` pixels, mean probability :math:`\bar p_k` and mean truth :math:`\bar y_k` (the
frequency of the class), the gap is :math:`|\bar p_k - \bar y_k|`:

* ``"expected"`` (ECE, Guo et al., ICML 2017): :math:`\sum_k n_k\,|\bar p_k - \bar y_k| / \sum_k
  n_k`;
* ``"average"`` (ACE, Barfoot et al. 2025): the mean gap of the non-empty bins;
* ``"maximum"`` (MCE, Naeini et al., AAAI 2015): the largest gap of the non-empty bins;
* ``"rms"``: :math:`\sqrt{\sum_k n_k (\bar p_k - \bar y_k)^2 / \sum_k n_k}` (torchmetrics'
  ``norm="l2"``).

Unlike the other metrics these read the probabilities, not hard masks: they take logits
(``from_logits=True``, activated by ``mode``) or probabilities, as the losses do, and the
losses' input checks.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxseg_losses._activations import (
    prepared_probabilities,
)
from jaxseg_losses._inputs import (
    Mode,
    boolean_options,
    check_choice,
    prepare,
)
from jaxseg_losses._numerics import keep_classes
from jaxseg_losses.metrics._reduce import (
    CALIBRATION_REDUCTIONS,
    binned_statistics,
    calibration_from_bins,
    expand_batch,
    pool_batch,
)


def _bad_labels(labels, index_shape, num_labels: int, ignore_index) -> jax.Array | None:
    """``(B,)`` examples holding an integer label out of range (excluded, unchecked, by
    ``prepare``; a metric gives NaN there), or ``None`` for dense labels."""
    y = jnp.asarray(labels)
    if y.shape != tuple(index_shape) or not (jnp.issubdtype(y.dtype, jnp.integer)
                                             or y.dtype == jnp.bool_):
        return None
    y = y.astype(jnp.int32)
    out = (y < 0) | (y >= num_labels)
    if ignore_index is not None:
        out = out & (y != ignore_index)
    return jnp.any(out, axis=tuple(range(1, y.ndim)))


@boolean_options
def calibration_error(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    num_bins: int = 20,
    calibration_reduction: str = "expected",
    top_label: bool = False,
    right: bool = False,
    mode: Mode = "multiclass",
    from_logits: bool = True,
    include_background: bool = True,
    per_image: bool = True,
    axis_name: str | None = None,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
) -> jax.Array:
    r"""Calibration error of the predicted probabilities, per example and class (or of the
    top label).

    Per class (default, MONAI's ``CalibrationErrorMetric``): the probability of class ``c`` at
    every scored pixel against the truth of class ``c`` (1 where the pixel is of that class),
    binned by probability. ``top_label=True`` (``mode="multiclass"`` only, torchmetrics'
    ``multiclass_calibration_error``, Guo et al.): the probability of the predicted (argmax)
    class, the confidence, against whether that class is right. See
    :mod:`jaxseg_losses.metrics.calibration` for the four ``calibration_reduction`` formulas.

    Equals MONAI's ``CalibrationErrorMetric(num_bins, calibration_reduction, right=False)``
    per example and class (``per_image=True``; MONAI's bin edges are :math:`(1 + \epsilon)k/n`
    and it puts a probability on an edge in the lower bin; the numbers agree off the edges);
    torchmetrics' ``binary_calibration_error`` / ``multiclass_calibration_error(n_bins,
    norm="l1" | "max" | "l2")`` pool the whole batch: ``per_image=False`` with
    ``"expected"`` / ``"maximum"`` / ``"rms"`` (``mode="binary"``, or ``top_label=True``);
    torchmetrics gives probabilities equal to 1.0 a bin of their own, here they are in the last
    bin.

    Empty cases: a class absent from the truth is scored like any other (its probabilities
    should be near 0); no scored pixel at all (everything masked) gives NaN, as MONAI.

    Args:
      predictions: logits (``from_logits=True``, default: softmax for ``"multiclass"``, sigmoid
        otherwise) or probabilities ``(B, *spatial, C)`` (hard masks and class maps are not
        probabilities: use the confusion metrics).
      labels: integer class indices ``(B, *spatial)`` or dense ``(B, *spatial, C)`` targets in
        [0, 1] (soft targets are the frequencies as given).
      num_bins: number of equal-width bins of [0, 1]. Default 20 (MONAI; torchmetrics: 15).
      calibration_reduction: ``"expected"`` (default, ECE), ``"average"`` (ACE), ``"maximum"``
        (MCE) or ``"rms"`` (MONAI's option name; torchmetrics' ``norm`` l1 / max / l2).
      top_label: the top-label calibration (one value per example) instead of one per class.
        Default ``False``.
      right: bins ``(k/n, (k+1)/n]`` instead of ``[k/n, (k+1)/n)`` (a probability on an edge
        goes to the lower bin). Default ``False``.
      mode, from_logits, include_background, mask, ignore_index: as the losses
        (:func:`~jaxseg_losses.dice_loss`): ``mask`` zeros and ``ignore_index`` truth pixels are
        not binned (non-zero ``mask`` values score the pixel); an ``ignore_index`` naming a class
        gives that class NaN. ``include_background=False`` drops class 0 (per class only).
      per_image: ``True`` (default): bins per example; ``False``: bins of the whole batch (the
        value repeated over the batch).
      axis_name: with ``per_image=False`` inside ``shard_map``, the batch axis whose bins are
        ``psum``-ed. Default ``None``.

    Returns:
      float32 ``(B, C)`` (``(B, C - 1)`` without background), or ``(B,)`` with ``top_label``;
      values in [0, 1]. NaN for an example holding a bad value (unchecked under ``jit``).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses import calibration_error
      >>> probs = jnp.array([[[0.9], [0.9], [0.2], [0.2]]])  # binary, (1, 4, 1)
      >>> truth = jnp.array([[1, 0, 0, 0]])
      >>> calibration_error(probs, truth, mode="binary", from_logits=False, num_bins=10)
      Array([[0.3]], dtype=float32)
    """
    check_choice("calibration_reduction", calibration_reduction, CALIBRATION_REDUCTIONS)
    if isinstance(num_bins, bool) or not isinstance(num_bins, int) or num_bins < 1:
        raise ValueError(f"num_bins: expected an integer >= 1; got {num_bins!r}")
    if top_label and mode != "multiclass":
        raise ValueError(f"top_label=True: needs mode='multiclass' (exclusive classes); got "
                         f"mode={mode!r}")
    if top_label and not include_background:
        raise ValueError("include_background=False: the top label is taken over every class; "
                         "use top_label=False for per-class values without the background")
    prep = prepare(predictions, labels, mode=mode, from_logits=from_logits, mask=mask,
                   ignore_index=ignore_index)
    p = prepared_probabilities(prep)
    y = prep.targets
    spatial = tuple(range(1, prep.valid.ndim))
    num_classes = prep.num_classes
    bad = jnp.any(jnp.isnan(p), axis=spatial + (prep.valid.ndim,)) | jnp.any(
        jnp.isnan(prep.valid), axis=spatial)
    out_of_range = _bad_labels(labels, prep.valid.shape,
                               2 if mode == "binary" else num_classes, ignore_index)
    if out_of_range is not None:
        bad = bad | out_of_range
    weights = jnp.where(prep.valid > 0, 1.0, 0.0)
    if top_label:
        predicted = jnp.argmax(p, axis=-1)
        p = jnp.max(p, axis=-1, keepdims=True)
        y = jnp.take_along_axis(y, predicted[..., None], axis=-1)
        void = jnp.zeros((1,), bool)
    else:
        p, y = keep_classes(p, include_background), keep_classes(y, include_background)
        named = -1 if ignore_index is None or mode == "binary" else ignore_index
        void = keep_classes(jnp.arange(num_classes) == named, include_background)
    stats = binned_statistics(p, y, weights, num_bins=num_bins, right=right)
    stats = pool_batch(stats, per_image, axis_name)
    value = calibration_from_bins(*stats, calibration_reduction)
    if not per_image:
        bad = jnp.any(bad, keepdims=True)
        if axis_name is not None:
            bad = jax.lax.psum(bad.astype(jnp.int32), axis_name) > 0
    value = jnp.where(bad[:, None] | void, jnp.nan, value)
    value = expand_batch(value, prep.valid.shape[0])
    return value[:, 0] if top_label else value


__all__ = ["calibration_error"]
