r"""The generalized Wasserstein Dice loss (Fidon et al., BrainLes 2017): a Dice whose errors are
weighted by a distance between classes.

Conventions of the region family: :mod:`jaxseg_losses.region`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxseg_losses._activations import (
    prepared_probabilities,
)
from jaxseg_losses._inputs import (
    boolean_options,
    check_choice,
    prepare,
    renamed_options,
    shape_str,
    value_check,
)
from jaxseg_losses._numerics import per_platform
from jaxseg_losses.region._engine import (
    DEFAULT_SMOOTH,
    aggregate,
    ratio,
    smooth_pair,
)

__all__ = (
    "generalized_wasserstein_dice_loss",
)

WASSERSTEIN_WEIGHTINGS = ("default", "GDL")


def _check_distance_matrix(matrix, num_classes: int) -> jax.Array:
    m = jnp.asarray(matrix, jnp.float32)
    if m.shape != (num_classes, num_classes):
        raise ValueError(
            f"distance_matrix: expected shape (C, C) = ({num_classes}, {num_classes}) (one row "
            f"and column per class); got shape {shape_str(m.shape)}"
        )
    value_check(jnp.all(jnp.isfinite(m) & (m >= 0)) & (jnp.max(m) > 0),
                "distance_matrix: values must be finite and >= 0, with a positive maximum; "
                "got {matrix}", matrix=m)
    return m / jnp.max(m)


def _label_rows(m: jax.Array, class_index: jax.Array) -> jax.Array:
    """``(B, *spatial, C)`` rows ``M[l(x)]`` (zeros where ``class_index`` is -1), gathered."""
    rows = jnp.take(m, class_index, axis=0, mode="clip")
    return jnp.where(class_index[..., None] >= 0, rows, 0.0)


def _label_rows_by_dot(m: jax.Array, class_index: jax.Array) -> jax.Array:
    """:func:`_label_rows` as one-hot rows times M, for XLA:TPU.

    A gather's ``(pixels, C)`` result takes C as its minor dimension, padded to the TPU's 128
    lanes (2.3x the memory at C = 14), and a float32 dot at HIGHEST precision compiled 7x slower
    at C = 150 than at C = 4. Here the one-hot rows are exact in bfloat16 and M is the sum of
    three bfloat16 parts (:func:`_bfloat16_parts`): one single-pass bfloat16 dot over
    (part, class) with float32 accumulation adds the label's three parts, M's entries exactly
    in any order of accumulation.
    """
    onehot = jax.nn.one_hot(class_index, m.shape[0], dtype=jnp.bfloat16)  # zeros for -1
    onehot = jnp.broadcast_to(onehot[..., None, :], onehot.shape[:-1] + (3, m.shape[0]))
    # HIGHEST asks nothing more of bfloat16 operands (one pass); it says that the dot is exact.
    return jnp.einsum("...kl,klc->...c", onehot, _bfloat16_parts(m),
                      preferred_element_type=jnp.float32, precision=jax.lax.Precision.HIGHEST)


def _bfloat16_parts(m: jax.Array) -> jax.Array:
    """``(3, *m.shape)`` bfloat16 parts whose float32 sum is ``m`` (normal numbers): its
    significand cut toward zero into pieces of 8 bits. The pieces' bits do not overlap, so every
    partial sum is exact too (with rounded pieces, of mixed signs, ``(p0 + p2) + p1`` could miss
    by an ulp). The gradient flows through the first part."""
    parts, rest = [], jax.lax.stop_gradient(m)
    for _ in range(3):
        bits = jax.lax.bitcast_convert_type(rest, jnp.uint32) & jnp.uint32(0xFFFF0000)
        part = jax.lax.bitcast_convert_type(bits, jnp.float32)
        parts.append(part)
        rest = rest - part
    parts[0] = m - jax.lax.stop_gradient(m - parts[0])
    return jnp.stack(parts).astype(jnp.bfloat16)


@renamed_options(weighting_mode="class_weighting")
@boolean_options
def generalized_wasserstein_dice_loss(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    distance_matrix: jax.typing.ArrayLike,
    from_logits: bool = True,
    class_weighting: str = "default",
    smooth: float | tuple[float, float] = DEFAULT_SMOOTH,
    per_image: bool = True,
    axis_name: str | None = None,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
) -> jax.Array:
    r"""Generalized Wasserstein Dice loss (Fidon et al., BrainLes 2017), softmax.

    Per pixel, the Wasserstein distance between the predicted distribution :math:`p` and the
    label :math:`l` under the class distance matrix :math:`M` (normalised to a maximum of 1) is
    :math:`W(x) = \sum_c M_{l c}\,p_c` (for soft targets :math:`y`, :math:`\sum_{l,c} y_l M_{lc}
    p_c`: the cost of the independent coupling, exact for one-hot targets). Then

    .. math::
        TP = \sum_x v\,\alpha_{l(x)}\,(1 - W(x)),\qquad
        L = 1 - \frac{2\,TP + s}{D + s}

    with ``class_weighting="default"`` (the paper): :math:`\alpha_0 = 0` for the background class
    0, :math:`\alpha_l = 1` otherwise, and :math:`D = 2\,TP + \sum_x v\,W(x)`; or
    ``"GDL"`` (Tilborghs et al. 2020, appendix): :math:`\alpha_l = 1/(V_l + 1)` with :math:`V_l`
    the label volumes (of the example, or of the batch when ``per_image=False``; no gradient)
    and :math:`D = \sum_x v\,\alpha_{l(x)}\,(2 - W(x))`. Equals MONAI
    ``GeneralizedWassersteinDiceLoss(dist_matrix, weighting_mode=class_weighting, smooth_nr=s,
    smooth_dr=s, reduction="none")``. With :math:`M = 1 - I` and two classes, the default mode is
    the soft Dice of the foreground class.

    Empty masks: an all-background truth predicted perfectly gives :math:`TP = D = 0`, loss 0
    (any ``smooth``, 0/0 counting as a perfect score); a fully masked example gives 0.

    Args:
      predictions: ``(B, *spatial, C)`` logits (or probabilities with ``from_logits=False``).
      labels: ``(B, *spatial)`` integer class indices or ``(B, *spatial, C)`` one-hot/soft targets.
      distance_matrix: ``(C, C)`` non-negative class distances :math:`M` (e.g. 0 on the diagonal,
        1 between background and the rest, smaller between related classes); divided by its
        maximum. Required.
      from_logits: whether ``predictions`` are logits. Default ``True``.
      class_weighting: ``"default"`` or ``"GDL"`` (MONAI's ``weighting_mode``). Default
        ``"default"``. Renamed from ``weighting_mode`` (still accepted, with a
        ``DeprecationWarning``, until the next release).
      smooth: :math:`s` (or ``(smooth_nr, smooth_dr)``). Default ``1e-5`` (MONAI's).
      per_image, axis_name, mask, ignore_index: as in :func:`jaxseg_losses.dice_loss`.

    Returns:
      ``(B,)`` float32 losses in [0, 1].

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.region import generalized_wasserstein_dice_loss
      >>> m = jnp.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.5], [1.0, 0.5, 0.0]])
      >>> labels = jnp.array([[0, 1, 2]])
      >>> logits = 1000.0 * jnp.eye(3)[None]  # (1, 3, 3): perfect
      >>> generalized_wasserstein_dice_loss(logits, labels, distance_matrix=m)
      Array([0.], dtype=float32)
    """
    check_choice("class_weighting", class_weighting, WASSERSTEIN_WEIGHTINGS)
    nr, dr = smooth_pair(smooth)
    prep = prepare(
        predictions, labels, mode="multiclass", from_logits=from_logits, mask=mask,
        ignore_index=ignore_index,
    )
    m = _check_distance_matrix(distance_matrix, prep.num_classes)
    p, y, v = prepared_probabilities(prep), prep.targets, prep.valid
    agg = functools.partial(aggregate, per_image=per_image, axis_name=axis_name)
    if prep.class_index is None:
        # (B, *spatial). HIGHEST: at the default precision XLA:TPU rounds the float32 operands
        # of this dot to bfloat16 and XLA:GPU may use TF32 (7 and 10 mantissa bits).
        wasserstein = jnp.einsum("...l,lc,...c->...", y, m, p,
                                 precision=jax.lax.Precision.HIGHEST)
    else:  # integer labels: y M is the label's row of M
        rows = per_platform(m, prep.class_index, cpu=_label_rows, accelerator=_label_rows,
                            tpu=_label_rows_by_dot)
        wasserstein = jnp.sum(rows * p, axis=-1)
    if class_weighting == "default":
        alpha = jnp.ones((prep.num_classes,), jnp.float32).at[0].set(0.0)
        alpha = alpha.reshape((1,) * (y.ndim - 1) + alpha.shape)
    else:
        volumes = jax.lax.stop_gradient(agg(v[..., None] * y))  # (B or 1, C)
        alpha = 1.0 / (volumes + 1.0)
        alpha = alpha.reshape(alpha.shape[:1] + (1,) * (y.ndim - 2) + alpha.shape[1:])
    alpha_pixel = jnp.sum(y * alpha, axis=-1)  # (B, *spatial)
    tp = agg((v * alpha_pixel * (1.0 - wasserstein))[..., None])[..., 0]
    if class_weighting == "default":
        denominator = 2.0 * tp + agg((v * wasserstein)[..., None])[..., 0]
    else:
        denominator = agg((v * alpha_pixel * (2.0 - wasserstein))[..., None])[..., 0]
    loss = 1.0 - ratio(2.0 * tp + nr, denominator + dr)
    return jnp.broadcast_to(loss, (prep.predictions.shape[0],))


