"""Class-axis activations: softmax / sigmoid and their log forms, plane by plane for few classes.

Two layers: functions of arrays (:func:`softmax`, :func:`log_softmax`, :func:`probabilities`,
...), and functions of the checked inputs of a loss, a :class:`~jaxseg_losses._inputs.Prepared`
record (:func:`prepared_probabilities`, :func:`log_p`, :func:`log_not_p`, :func:`class_hits`,
:func:`probability_planes`, :func:`overlap_planes`, :func:`label_log_p`,
:func:`pixel_cross_entropy`, :func:`sigmoid_cross_entropy`, :func:`target_weight`): a loss
prepares its inputs, then asks this module for the activations it needs. Stable for logits up
to +-1e4; probabilities given by the user are clipped by ``PROB_EPS`` before a logarithm.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxseg_losses._inputs import Mode, Prepared

# Smallest probability used where a loss needs log(p) of probabilities given by the user.
PROB_EPS = 1e-7


# XLA:CPU reduces a short minor axis (the class axis of channels-last data) several times slower
# than it maps elementwise, and the gradient of jax.nn.softmax / log_softmax pays that twice. Up
# to this many classes the activations below work on the C planes ``x[..., c]`` (elementwise over
# the pixels) and stack the result, and integer labels take the class-plane paths of Prepared:
# 1.5-4x faster value+grad at C = 2..5 for every loss measured, same values. The plane-wise work
# grows faster than C, though: at C = 6 the integer-label Dice was 1.2x slower than the jax.nn
# forms, at C >= 8 the one-hot Dice and focal too (benchmarks/loss_revisions.py, --shape
# 4,128,128,C, both --labels). Larger class axes use the jax.nn / one-hot forms.
PLANE_MAX_CLASSES = 5

# Larger class axes on XLA:GPU: a reduction over the class axis (the minor one, channels last)
# whose result is broadcast back against its own input (the softmax "diamond": max, sum of exp,
# and in the gradient the sum of g * p) is turned into a Triton normalisation fusion, and the
# priority-fusion pass then runs a tiling search (768 tilings at (4, 128, 128, 8)) for every
# producer or consumer it considers fusing into it: 2-120 s of compile time per loss (the same on
# a device; a deviceless compile only skips the autotuner), growing with the elementwise work
# around the softmax (benchmarks/results/compile_time.md). The GPU forms below put an
# ``optimization_barrier`` on every per-pixel class reduction that is broadcast back (and so,
# transposed, on the class sums of the gradient): no diamond, no Triton fusion, compile time
# flat in C, the same values. XLA:CPU and XLA:TPU keep the jax.nn forms
# (``lax.platform_dependent``).


def _per_backend(x: jax.Array, cpu, gpu) -> jax.Array:
    """``gpu(x)`` when compiled for XLA:GPU, ``cpu(x)`` for every other backend (XLA:TPU has no
    Triton fusions: the barriers did not shorten its compile, so it keeps its program)."""
    return jax.lax.platform_dependent(x, cuda=gpu, rocm=gpu, default=cpu)


def _pixel_shift(z: jax.Array) -> jax.Array:
    """The stable-softmax shift ``max_c z`` (keepdims, no gradient) behind a barrier; 0 where it
    is not finite (a row of -inf), as ``jax.nn.logsumexp``."""
    shift = jax.lax.stop_gradient(jnp.max(z, axis=-1, keepdims=True))
    return jax.lax.optimization_barrier(jnp.where(jnp.isfinite(shift), shift, 0.0))


def _barrier_log_softmax(z: jax.Array) -> jax.Array:
    shifted = z - _pixel_shift(z)
    log_total = jnp.log(jnp.sum(jnp.exp(shifted), axis=-1, keepdims=True))
    return shifted - jax.lax.optimization_barrier(log_total)


def _barrier_softmax(z: jax.Array) -> jax.Array:
    exps = jnp.exp(z - _pixel_shift(z))
    return exps / jax.lax.optimization_barrier(jnp.sum(exps, axis=-1, keepdims=True))


def _barrier_logsumexp(z: jax.Array) -> jax.Array:
    """``logsumexp`` over the last axis, keepdims."""
    shift = _pixel_shift(z)
    log_total = jnp.log(jnp.sum(jnp.exp(z - shift), axis=-1, keepdims=True))
    return shift + jax.lax.optimization_barrier(log_total)


def _vector_softmax(z: jax.Array) -> jax.Array:
    return _per_backend(z, lambda x: jax.nn.softmax(x, axis=-1), _barrier_softmax)


def _vector_log_softmax(z: jax.Array) -> jax.Array:
    return _per_backend(z, lambda x: jax.nn.log_softmax(x, axis=-1), _barrier_log_softmax)


def _vector_logsumexp(z: jax.Array) -> jax.Array:
    return _per_backend(z, lambda x: jax.nn.logsumexp(x, axis=-1, keepdims=True),
                           _barrier_logsumexp)


def class_planes(x: jax.Array) -> list[jax.Array]:
    """The class planes ``x[..., c]`` as a list of ``(B, *spatial)`` arrays."""
    return [x[..., c] for c in range(x.shape[-1])]


def small_class_planes(x: jax.Array) -> list[jax.Array] | None:
    """The class planes of a small class axis, or ``None`` for a large one."""
    if x.shape[-1] > PLANE_MAX_CLASSES:
        return None
    return class_planes(x)


def max_shift(planes: list[jax.Array]) -> jax.Array:
    """Elementwise max of the planes without gradient: the shift of a stable (log-)softmax,
    which does not change its value."""
    return jax.lax.stop_gradient(functools.reduce(jnp.maximum, planes))


def shifted_log_total(planes: list[jax.Array]) -> tuple[jax.Array, jax.Array]:
    """``(m, log sum_c exp(x_c - m))`` of the planes with ``m = max_shift(planes)`` (the
    log-sum-exp is ``m + log_total``)."""
    shift = max_shift(planes)
    return shift, jnp.log(functools.reduce(jnp.add, [jnp.exp(p - shift) for p in planes]))


def select_planes(hits: list[jax.Array], planes: list[jax.Array]) -> jax.Array:
    """``planes[c]`` where ``hits[c]`` (0 where no class hits), elementwise."""
    return functools.reduce(
        jnp.add, [jnp.where(hit, plane, 0.0) for hit, plane in zip(hits, planes, strict=True)]
    )


def softmax_planes(z: jax.Array) -> list[jax.Array]:
    """The softmax over the last axis as a list of ``(B, *spatial)`` class planes (meant for at
    most ``PLANE_MAX_CLASSES`` classes; the callers choose)."""
    planes = class_planes(z)
    shift = max_shift(planes)
    exps = [jnp.exp(plane - shift) for plane in planes]
    inverse_total = 1.0 / functools.reduce(jnp.add, exps)
    return [e * inverse_total for e in exps]


def softmax(z: jax.Array) -> jax.Array:
    """Softmax over the last (class) axis."""
    if z.shape[-1] > PLANE_MAX_CLASSES:
        return _vector_softmax(z)
    return jnp.stack(softmax_planes(z), axis=-1)


def log_softmax(z: jax.Array) -> jax.Array:
    """Log-softmax over the last (class) axis, stable for logits up to +-1e4."""
    planes = small_class_planes(z)
    if planes is None:
        return _vector_log_softmax(z)
    shift, log_total = shifted_log_total(planes)
    return jnp.stack([plane - shift - log_total for plane in planes], axis=-1)


def log_softmax_complement(z: jax.Array) -> jax.Array:
    """``log(1 - softmax(z))`` per class: log-sum-exp of the other classes minus that of all."""
    planes = small_class_planes(z)
    if planes is None:  # a (C, C) intermediate, fine for the rare many-class case
        num_classes = z.shape[-1]
        off_diagonal = jnp.where(jnp.eye(num_classes, dtype=bool), -jnp.inf, 0.0)
        others = _vector_logsumexp(z[..., None, :] + off_diagonal)[..., 0]
        return others - _vector_logsumexp(z)
    log_all = sum(shifted_log_total(planes))
    return jnp.stack(
        [sum(shifted_log_total(planes[:c] + planes[c + 1:])) - log_all
         for c in range(len(planes))],
        axis=-1,
    )


def softmax_cross_entropy(logits: jax.Array, targets: jax.Array) -> jax.Array:
    r"""Per-pixel :math:`-\sum_c t_c \log\mathrm{softmax}(z)_c` -> ``(B, *spatial)``.

    Written as :math:`\sum_c t_c (m - z_c) + \log\sum_c e^{z_c - m} \cdot \sum_c t_c` with
    :math:`m = \max_c z_c`: no ``(B, *spatial, C)`` log-softmax is formed, which makes the
    value+grad of the cross-entropy about 1.3x faster on XLA:CPU; stable for logits up to +-1e4.
    ``targets`` may be weighted or soft.
    """
    planes = small_class_planes(logits)
    if planes is None:
        return -jnp.sum(targets * _vector_log_softmax(logits), axis=-1)
    shift, log_total = shifted_log_total(planes)
    return (jnp.sum(targets * (shift[..., None] - logits), axis=-1)
            + log_total * jnp.sum(targets, axis=-1))


def probabilities(predictions: jax.Array, *, mode: Mode, from_logits: bool) -> jax.Array:
    if not from_logits:
        return predictions
    if mode == "multiclass":
        return softmax(predictions)
    return jax.nn.sigmoid(predictions)


def log_probability(predictions: jax.Array, *, mode: Mode, from_logits: bool) -> jax.Array:
    """``log p``, stable for logits up to +-1e4; probabilities are clipped to ``[1e-7, 1]``."""
    if not from_logits:
        return jnp.log(jnp.clip(predictions, PROB_EPS, 1.0))
    if mode == "multiclass":
        return log_softmax(predictions)
    return jax.nn.log_sigmoid(predictions)


def log_complement(predictions: jax.Array, *, mode: Mode, from_logits: bool) -> jax.Array:
    """``log(1 - p)``, stable for logits up to +-1e4.

    Sigmoid: ``log_sigmoid(-z)``. Softmax: :func:`log_softmax_complement`. Probabilities are
    clipped to ``[0, 1 - 1e-7]`` first.
    """
    if not from_logits:
        return jnp.log1p(-jnp.clip(predictions, 0.0, 1.0 - PROB_EPS))
    if mode != "multiclass":
        return jax.nn.log_sigmoid(-predictions)
    return log_softmax_complement(predictions)


# --- On the checked inputs of a loss (a Prepared record) -----------------------------------


def prepared_probabilities(prep: Prepared) -> jax.Array:
    """The probabilities ``p`` ``(B, *spatial, C)`` of the record's predictions."""
    return probabilities(prep.predictions, mode=prep.mode, from_logits=prep.from_logits)


def log_p(prep: Prepared) -> jax.Array:
    """``log p`` per channel (``log_softmax`` / ``log_sigmoid`` of logits)."""
    return log_probability(prep.predictions, mode=prep.mode, from_logits=prep.from_logits)


def log_not_p(prep: Prepared) -> jax.Array:
    """``log(1 - p)`` per channel, stable (see :func:`log_complement`)."""
    return log_complement(prep.predictions, mode=prep.mode, from_logits=prep.from_logits)


def class_hits(prep: Prepared) -> list[jax.Array] | None:
    """``[class_index == c for c]`` (bool ``(B, *spatial)`` planes): the one-hot targets plane by
    plane, or ``None`` without integer labels or with many classes."""
    if prep.class_index is None or prep.num_classes > PLANE_MAX_CLASSES:
        return None
    return [prep.class_index == c for c in range(prep.num_classes)]


def probability_planes(prep: Prepared) -> list[jax.Array]:
    """The probabilities ``p[..., c]`` as a list of ``(B, *spatial)`` planes."""
    if prep.mode == "multiclass" and prep.from_logits:
        return softmax_planes(prep.predictions)
    return class_planes(prepared_probabilities(prep))


class OverlapPlanes(NamedTuple):
    """A loss's probabilities and targets in the layout its per-class sums read
    (:func:`overlap_planes`): the input of the region engine.

    Attributes:
      probabilities: with ``hits``, the ``C`` class planes ``p[..., c]`` (a list of
        ``(B, *spatial)`` arrays); without, the ``(B, *spatial, C)`` probabilities.
      hits: the one-hot targets plane by plane, ``[class_index == c for c]`` (bool
        ``(B, *spatial)``), with integer labels and few classes (:func:`class_hits`); else
        ``None``.
      targets: ``(B, *spatial, C)`` dense targets (the record's).
      valid: ``(B, *spatial)`` pixel weights (the record's).
    """

    probabilities: jax.Array | list[jax.Array]
    hits: list[jax.Array] | None
    targets: jax.Array
    valid: jax.Array

    @property
    def batch_size(self) -> int:
        return self.valid.shape[0]


def overlap_planes(prep: Prepared) -> OverlapPlanes:
    """The probabilities of the record as class planes beside its class hits (integer labels, few
    classes: the sums then need no one-hot array), else as one array beside ``hits=None``."""
    hits = class_hits(prep)
    if hits is None:
        return OverlapPlanes(prepared_probabilities(prep), None, prep.targets, prep.valid)
    return OverlapPlanes(probability_planes(prep), hits, prep.targets, prep.valid)


def label_log_p(prep: Prepared) -> jax.Array | None:
    """:math:`\\log p_y` of the labelled class per pixel (0 on ignored pixels) from logits and
    integer labels (plane by plane for few classes, else the one-hot targets times the
    log-softmax summed over the classes: the form the cross-entropy had there, and the focal
    losses then work per pixel); ``None`` without integer labels or logits."""
    if prep.class_index is None or not prep.from_logits:
        return None
    hits = class_hits(prep)
    if hits is None:  # many classes: the one-hot targets (0 where ignored) pick it
        return jnp.sum(prep.targets * log_softmax(prep.predictions), axis=-1)
    planes = small_class_planes(prep.predictions)
    shift, log_total = shifted_log_total(planes)
    kept = prep.class_index >= 0
    return jnp.where(kept, select_planes(hits, planes) - shift - log_total, 0.0)


def pixel_cross_entropy(prep: Prepared, weights: jax.Array | None = None) -> jax.Array:
    r"""Per-pixel softmax CE :math:`-\sum_c w_c t_c \log p_c` -> ``(B, *spatial)``.

    ``weights`` broadcast against ``(B, *spatial, C)`` (default 1). Integer labels:
    :math:`-w_y \log p_y` (:func:`label_log_p`); otherwise :func:`softmax_cross_entropy`.
    """
    # Many classes: the one-hot form below (label_log_p's would add a second class sum).
    picked = None if class_hits(prep) is None else label_log_p(prep)
    if picked is not None:
        return -picked if weights is None else -picked * target_weight(prep, weights)
    targets = prep.targets if weights is None else weights * prep.targets
    if prep.from_logits:
        return softmax_cross_entropy(prep.predictions, targets)
    return -jnp.sum(targets * log_p(prep), axis=-1)


def sigmoid_cross_entropy(
    prep: Prepared,
    *,
    targets: jax.Array | None = None,
    positive_weight=None,
    negative_weight=None,
) -> jax.Array:
    r"""The sigmoid (per channel) cross-entropy
    :math:`-[w_+\,y \log p + w_-\,(1-y) \log(1-p)]` -> ``(B, *spatial, C)``, from the stable
    log forms (:func:`log_p`, :func:`log_not_p`); ``targets`` replace the record's (smoothed
    labels), the weights default to 1 (``pos_weight``, Combo's :math:`\beta`)."""
    y = prep.targets if targets is None else targets
    positive = y if positive_weight is None else positive_weight * y
    negative = 1.0 - y if negative_weight is None else negative_weight * (1.0 - y)
    return -(positive * log_p(prep) + negative * log_not_p(prep))


def target_weight(prep: Prepared, weights: jax.Array) -> jax.Array:
    r""":math:`\sum_c w_c t_c` per pixel -> ``(B, *spatial)`` (``weights`` broadcast against
    ``(B, *spatial, C)``)."""
    hits = class_hits(prep)
    if hits is None:
        return jnp.sum(jnp.broadcast_to(weights, prep.targets.shape) * prep.targets, axis=-1)
    weights = jnp.broadcast_to(weights, weights.shape[:-1] + (prep.num_classes,))
    return select_planes(hits, class_planes(weights))
