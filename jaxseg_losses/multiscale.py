r"""Deep supervision: one loss applied to the outputs of several decoder scales.

.. math::
    L(\{\hat y_l\}, y) = \sum_{l=0}^{n-1} w_l\, L\big(\hat y_l,\ \mathrm{resize}(y, \hat y_l)\big)

Level 0 is the full-resolution output; labels (and a ``mask=`` keyword, if given) are resized to
each level's spatial shape by nearest neighbour (:func:`resize_nearest`, PyTorch's
``"nearest-exact"`` rule, as MONAI's ``DeepSupervisionLoss``), so integer labels stay integer
labels and soft targets are not blurred. Weights follow MONAI: ``weight_mode="exp"`` (default)
:math:`w_l = \max(2^{-l}, 1/16)`; ``"two"``: 1 then 0.5; ``"same"``: 1; explicit ``weights``
(at least one per level) take precedence. The weighted sum is not normalised (MONAI; nnU-Net
normalises its weights, pass them explicitly for that).

The result is an ordinary loss term ``(predictions, labels, **kwargs) -> (B,)``: it jit-compiles,
vmaps, differentiates and composes with :mod:`jaxseg_losses.combine`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxseg_losses._inputs import (
    check_choice,
    shape_str,
)

__all__ = ("deep_supervision", "deep_supervision_weights", "resize_nearest")

WEIGHT_MODES = ("exp", "two", "same")


def _source_indices(size_in: int, size_out: int) -> np.ndarray:
    """PyTorch ``nearest-exact``: ``floor((i + 0.5) * in / out)``, clipped to ``in - 1``."""
    scale = size_in / size_out
    return np.minimum(np.floor((np.arange(size_out) + 0.5) * scale).astype(np.int64), size_in - 1)


def resize_nearest(
    x: jax.typing.ArrayLike, spatial_shape: Sequence[int], *, channels_last: bool = False
) -> jax.Array:
    r"""Nearest-neighbour resize of ``(B, *spatial)`` or ``(B, *spatial, C)`` arrays.

    Output pixel :math:`i` of an axis of input size :math:`n` and output size :math:`m` reads
    input pixel :math:`\min(\lfloor (i + 1/2)\,n/m \rfloor, n - 1)` (PyTorch ``"nearest-exact"``,
    used by MONAI's ``DeepSupervisionLoss``; pixel centres are aligned, so halving a size reads
    input pixels 1, 3, 5, ...). Works for down- and upsampling and any dtype (labels keep their
    dtype); the indices are static.

    Args:
      x: ``(B, *spatial)`` or, with ``channels_last=True``, ``(B, *spatial, C)``.
      spatial_shape: the output spatial shape (same number of axes).
      channels_last: whether ``x`` has a trailing channel axis. Default ``False``.

    Returns:
      The resized array.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.multiscale import resize_nearest
      >>> resize_nearest(jnp.arange(6)[None], (3,))
      Array([[1, 3, 5]], dtype=int32)
    """
    x = jnp.asarray(x)
    spatial = x.shape[1:-1] if channels_last else x.shape[1:]
    spatial_shape = tuple(int(s) for s in spatial_shape)
    if len(spatial_shape) != len(spatial):
        raise ValueError(
            f"spatial_shape: expected {len(spatial)} sizes for an input of spatial shape "
            f"{shape_str(spatial)}; got {spatial_shape}"
        )
    for axis, (n, m) in enumerate(zip(spatial, spatial_shape, strict=True), start=1):
        if n != m:
            x = jnp.take(x, jnp.asarray(_source_indices(n, m)), axis=axis)
    return x


def deep_supervision_weights(
    levels: int, *, weights: Sequence[float] | None = None, weight_mode: str = "exp"
) -> list[float]:
    """The weight of each level, as MONAI's ``DeepSupervisionLoss.get_weights``.

    Args:
      levels: number of output scales (the first is the full resolution).
      weights: explicit weights, one per level at least; overrides ``weight_mode``.
      weight_mode: ``"exp"`` (default: halving per level, floored at 1/16), ``"two"`` (1 for the
        first level, 0.5 for the others) or ``"same"`` (all 1).

    Returns:
      A list of ``levels`` floats.

    Example:
      >>> from jaxseg_losses.multiscale import deep_supervision_weights
      >>> deep_supervision_weights(6)
      [1.0, 0.5, 0.25, 0.125, 0.0625, 0.0625]
    """
    check_choice("weight_mode", weight_mode, WEIGHT_MODES)
    levels = max(1, int(levels))
    if weights is not None:
        weights = [float(w) for w in weights]
        if len(weights) < levels:
            raise ValueError(
                f"weights: expected at least one weight per level ({levels}); got {len(weights)}"
            )
        return weights[:levels]
    if weight_mode == "exp":
        return [max(0.5**level, 0.0625) for level in range(levels)]
    if weight_mode == "two":
        return [1.0 if level == 0 else 0.5 for level in range(levels)]
    return [1.0] * levels


def deep_supervision(
    loss: Callable[..., jax.Array],
    *,
    weights: Sequence[float] | None = None,
    weight_mode: str = "exp",
) -> Callable[..., jax.Array]:
    r"""Wraps ``loss`` so that it takes a list of outputs at several scales (deep supervision).

    .. math::
        L = \sum_l w_l\, \mathrm{loss}\big(\hat y_l,\ \mathrm{resize}(y, \hat y_l)\big)

    The returned function is ``supervised(predictions, labels, **kwargs) -> (B,)`` where
    ``predictions`` is a sequence of ``(B, *spatial_l, C)`` arrays, level 0 first (a single
    array is one level), and ``labels`` are the full-resolution labels, integer
    ``(B, *spatial)`` or dense ``(B, *spatial, C)``, resized to every level by
    :func:`resize_nearest`. A ``mask=`` keyword of shape ``(B, *spatial)`` is resized the same
    way; every other keyword is passed unchanged to each call of ``loss`` (so per-pixel arrays
    other than ``mask``, e.g. ``distance_maps``, are not supported). Equals MONAI
    ``DeepSupervisionLoss(loss, weight_mode, weights)`` with matched losses. When ``loss`` is a
    combined loss returning ``(total, aux)`` (:func:`jaxseg_losses.combine.named_sum`), the
    result is ``(total, aux)`` too, with every entry under ``"scale<l>/"`` plus ``"scale<l>"``
    (the level's unweighted total) and ``"scale<l>/weight"``.

    Empty masks: whatever ``loss`` does at every scale (the resized labels of an empty truth are
    empty).

    Args:
      loss: a loss term ``(predictions, labels, **kwargs) -> (B,)``.
      weights: optional per-level weights (at least one per level given at call time); take
        precedence over ``weight_mode``. Default ``None``.
      weight_mode: ``"exp"`` (default: 1, 1/2, 1/4, ..., floored at 1/16), ``"two"`` (1, then
        1/2) or ``"same"`` (all 1).

    Returns:
      The deep-supervision loss, returning ``(B,)`` float32 values (or ``(total, aux)``).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.multiscale import deep_supervision
      >>> from jaxseg_losses.region import dice_loss
      >>> labels = jnp.zeros((1, 8, 8), int).at[0, 2:6, 2:6].set(1)
      >>> outputs = [jnp.zeros((1, 8, 8, 2)), jnp.zeros((1, 4, 4, 2))]
      >>> supervised = deep_supervision(dice_loss)  # weights 1 and 0.5
      >>> supervised(outputs, labels)  # 1.5 x the Dice loss (8/15) of a uniform prediction
      Array([0.8], dtype=float32)
    """
    check_choice("weight_mode", weight_mode, WEIGHT_MODES)
    if not callable(loss):
        raise TypeError(f"loss: expected a callable loss term; got {type(loss).__name__}")

    def supervised(predictions, labels, **kwargs: Any) -> jax.Array:
        outputs = [predictions] if hasattr(predictions, "shape") else list(predictions)
        if not outputs:
            raise ValueError("predictions: expected at least one output scale; got none")
        level_weights = deep_supervision_weights(
            len(outputs), weights=weights, weight_mode=weight_mode
        )
        y = jnp.asarray(labels)
        first = jnp.shape(outputs[0])
        if y.ndim not in (len(first) - 1, len(first)):
            raise ValueError(
                f"labels: expected (B, *spatial) or (B, *spatial, C) of rank {len(first) - 1} or "
                f"{len(first)} for predictions of shape {shape_str(first)}; got shape "
                f"{shape_str(y.shape)}"
            )
        dense = y.ndim == len(first)
        mask = kwargs.pop("mask", None)
        total, aux = None, {}
        for level, (output, w) in enumerate(zip(outputs, level_weights, strict=False)):
            shape = jnp.shape(output)
            if len(shape) != len(first) or shape[0] != first[0]:
                raise ValueError(
                    f"predictions[{level}]: expected shape (B, *spatial, C) with B = {first[0]} "
                    f"and rank {len(first)}; got shape {shape_str(shape)}"
                )
            spatial = shape[1:-1]
            level_labels = resize_nearest(y, spatial, channels_last=dense)
            options = dict(kwargs)
            if mask is not None:
                options["mask"] = resize_nearest(mask, spatial)
            value = loss(output, level_labels, **options)
            if isinstance(value, tuple):  # a combined loss: (total, aux)
                value, level_aux = value
                aux.update({f"scale{level}/{k}": v for k, v in level_aux.items()})
                aux[f"scale{level}"] = jnp.asarray(value, jnp.float32)
                aux[f"scale{level}/weight"] = jnp.float32(w)
            value = jnp.asarray(value, jnp.float32)
            total = w * value if total is None else total + w * value
        return (total, aux) if aux else total

    supervised.__name__ = f"deep_supervision_{getattr(loss, '__name__', 'loss')}"
    supervised.__doc__ = f"Deep supervision of {getattr(loss, '__name__', 'a loss')}."
    return supervised
