r"""Losses on the predicted contour without a distance map: the active contour loss (Chen et al.,
CVPR 2019: contour length plus region terms) and the erosion-based Hausdorff loss (Karimi &
Salcudean, IEEE TMI 2020: repeated soft erosions of the squared error). The losses on
distance maps are in :mod:`jaxseg_losses.boundary`.

The erosion-based Hausdorff loss (1D to 3D) is a surrogate of the Hausdorff distance without any
distance transform: the squared error map :math:`f = (p - y)^2` is eroded repeatedly, and what
survives many erosions (thick error regions, i.e. boundary errors far from the truth) is weighted
more. One erosion is a convolution with the normalised cross kernel :math:`B` (the pixel and its
:math:`2d` face neighbours, each weight :math:`1/(2d+1)`: 0.2 in 2D, 1/7 in 3D; zero padding)
followed by a soft threshold at 0.5 and a min-max normalisation per image and channel (kornia's
``HausdorffERLoss``, whose layout this follows). The iterations run in a checkpointed ``lax.scan``
(backward memory: two arrays per iteration), one (example, class) plane after the other
(``_numerics.map_planes``, chunks of about 2^20 pixels), so under ``jax.grad`` those arrays are one
plane's, not every class's.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from jaxseg_losses._activations import (
    prepared_probabilities,
)
from jaxseg_losses._inputs import (
    Mode,
    boolean_options,
    check_choice,
    check_count,
    check_number,
    prepare,
    renamed_options,
)
from jaxseg_losses._numerics import (
    keep_classes,
    map_planes,
    masked_mean,
    per_platform,
    safe_divide,
    spatial_axes,
)

__all__ = ("active_contour_loss", "hausdorff_erosion_loss")


@renamed_options(aggregate="pixel_reduction")
@boolean_options
def active_contour_loss(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    mode: Mode = "binary",
    from_logits: bool = True,
    region_weight: float = 1.0,
    inside_value: float = 1.0,
    outside_value: float = 0.0,
    epsilon: float = 1e-8,
    include_background: bool = True,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
    pixel_reduction: str = "mean",
) -> jax.Array:
    r"""Active contour loss (Chen et al., CVPR 2019), 2D and its 3D extension.

    .. math::
        L = \underbrace{\operatorname{agg}_x \sqrt{\textstyle\sum_a (\Delta_a u(x))^2 + \epsilon}}
            _{\text{length}}
          + \lambda \underbrace{\operatorname{agg}_x \left[u\,(v - c_1)^2 + (1 - u)(v - c_2)^2
            \right]}_{\text{region}}

    with :math:`u` the predicted probability of a channel, :math:`v` its ground truth,
    :math:`c_1 = 1` (``inside_value``), :math:`c_2 = 0` (``outside_value``),
    :math:`\lambda = 1` (``region_weight``), averaged over channels. Finite differences are
    forward differences taken at the *same* pixel for every axis,
    :math:`\Delta_a u(x) = u(x + e_a) - u(x)`, over the pixels that have a successor on every
    axis (``(H-1)(W-1)`` in 2D, ``(D-1)(H-1)(W-1)`` in 3D); the authors' code pairs differences
    from neighbouring pixels instead. ``pixel_reduction="mean"`` (default) averages both terms
    over their pixels so the balance does not depend on the image size (the authors' final
    code); ``"sum"`` sums them (the paper). The loss is not 0 at a perfect prediction: the
    length term is then the perimeter of the truth.

    Args:
      predictions: ``(B, *spatial, C)`` logits (or probabilities with ``from_logits=False``).
      labels: integer ``(B, *spatial)`` or dense ``(B, *spatial, C)`` labels.
      mode: ``"binary"`` (default), ``"multilabel"`` or ``"multiclass"`` (per softmax channel).
      from_logits: whether ``predictions`` are logits. Default ``True``.
      region_weight: :math:`\lambda`. Default 1.
      inside_value, outside_value: :math:`c_1, c_2`. Defaults 1 and 0.
      epsilon: keeps the square root differentiable. Default 1e-8.
      include_background: keep channel 0 in the channel mean (multiclass). Default ``True``.
      mask, ignore_index: excluded pixels (``mask`` 0, ``ignore_index``, out-of-range labels
        under ``jit``) change neither the value nor the gradient. The region term is the
        ``mask``-weighted mean (or sum) over the kept pixels. The length term sees, at each
        kept base pixel :math:`x` (weighted by its ``mask`` value), only the differences
        :math:`\Delta_a u(x)` whose successor :math:`x + e_a` is kept (``mask`` > 0); a
        difference reaching an excluded pixel counts as 0, so the length is that of the
        contour inside the kept region (a contour along an excluded area's border is not
        counted).
      pixel_reduction: how both terms reduce over the pixels: ``"mean"`` (default) or
        ``"sum"``; the output is ``(B,)`` either way (``reduction`` names the output form).
        Renamed from ``aggregate`` (still accepted, with a ``DeprecationWarning``, until the
        next release).

    Returns:
      ``(B,)`` float32 losses.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses import active_contour_loss
      >>> labels = jnp.zeros((1, 6, 6), int)
      >>> value = active_contour_loss(jnp.zeros((1, 6, 6, 1)), labels, from_logits=False)
      >>> round(float(value[0]), 6)  # a constant map: length sqrt(1e-8) per pixel, no region
      0.0001
    """
    check_choice("pixel_reduction", pixel_reduction, ("mean", "sum"))
    check_number("region_weight", region_weight)
    check_number("epsilon", epsilon, strict=True)
    for name, value in (("inside_value", inside_value), ("outside_value", outside_value)):
        check_number(name, value, high=1.0)
    prep = prepare(
        predictions, labels, mode=mode, from_logits=from_logits,
        mask=mask, ignore_index=ignore_index,
    )
    u = keep_classes(prepared_probabilities(prep), include_background)
    v = keep_classes(prep.targets, include_background)
    valid = prep.valid[..., None]
    region = u * (v - inside_value) ** 2 + (1.0 - u) * (v - outside_value) ** 2
    spatial = spatial_axes(u.ndim)
    # Forward differences at the same base pixel: the pixels with a successor on every axis. A
    # difference whose successor is excluded is 0 (a select: the excluded pixel gets no
    # gradient); an excluded base pixel has weight 0.
    length = _contour_length(u, valid > 0, epsilon)
    length_valid = valid[_crop_all_but(None, u.ndim)]
    axes = spatial
    if pixel_reduction == "sum":
        length_term = jnp.sum(length * length_valid, axis=axes)
        region_term = jnp.sum(region * valid, axis=axes)
    else:
        length_term = masked_mean(length, length_valid, axes)
        region_term = masked_mean(region, valid, axes)
    return jnp.mean(length_term + region_weight * region_term, axis=-1)


def _length_differences(u: jax.Array, kept: jax.Array) -> list[jax.Array]:
    """The forward differences of ``u`` on every spatial axis at the pixels with a successor on
    every axis, 0 where the successor is excluded (``kept`` false)."""
    return [jnp.where(lax.slice_in_dim(kept, 1, None, axis=a)[_crop_all_but(a, u.ndim)],
                      jnp.diff(u, axis=a)[_crop_all_but(a, u.ndim)], 0.0)
            for a in spatial_axes(u.ndim)]


def _contour_length(u: jax.Array, kept: jax.Array, epsilon: float) -> jax.Array:
    """``sqrt(sum_a (Delta_a u)^2 + epsilon)`` at the pixels with a successor on every axis.

    On GPUs and TPUs its backward pass is written out (:func:`_fused_length`): XLA's automatic
    one keeps the ``d`` differences and the length, ``d + 1`` arrays of ``u``'s size, for the
    backward pass (issue 29). XLA:CPU keeps the automatic one (the fused one recomputes every
    difference six times: 1.4-4x slower there). Same values and gradients."""
    epsilon = jnp.asarray(epsilon, u.dtype)  # an argument, not a closure: it may be traced
    return per_platform(u, kept, epsilon, cpu=_autodiff_length, accelerator=_fused_length)


def _autodiff_length(u: jax.Array, kept: jax.Array, epsilon: float) -> jax.Array:
    return jnp.sqrt(sum(d * d for d in _length_differences(u, kept)) + epsilon)


@jax.custom_jvp
def _fused_length(u: jax.Array, kept: jax.Array, epsilon: jax.Array) -> jax.Array:
    """:func:`_contour_length` with its derivative written out so that reverse mode is one fused
    stencil pass from ``u`` alone (``sum_a Delta_a^T (g Delta_a u / length)``); a custom JVP,
    so forward mode (``jax.jvp``, Hessian-vector products) works too."""
    return _window_length(u, kept, epsilon)


@_fused_length.defjvp
def _fused_length_jvp(primals, tangents):
    (u, kept, epsilon), (du, _, d_epsilon) = primals, tangents
    return _window_length(u, kept, epsilon), _length_tangent(u, kept, epsilon, du, d_epsilon)


def _extended(u: jax.Array, kept: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``u`` and ``kept`` padded by one pixel (0, False) on both sides of every spatial axis."""
    ones = [(0, 0, 0)] + [(1, 1, 0)] * (u.ndim - 2) + [(0, 0, 0)]
    return lax.pad(u, 0.0, ones), lax.pad(kept, False, ones)


def _window(ext: jax.Array, shift, shape) -> jax.Array:
    """``ext`` (padded by at least one pixel before every spatial axis) at ``y + shift`` for
    every pixel ``y`` of the spatial ``shape``."""
    return ext[(slice(None),) + tuple(
        slice(1 + s, 1 + s + n) for s, n in zip(shift, shape, strict=True)
    ) + (slice(None),)]


def _window_length(u: jax.Array, kept: jax.Array, epsilon: jax.Array) -> jax.Array:
    """:func:`_autodiff_length`'s values from full-size windows of the padded ``u``, cropped at
    the end (the same numbers at the same pixels): XLA:TPU materialised both sliced operands
    of every ``jnp.diff`` (six arrays of the classes' size at 3-D; issue 29)."""
    u_ext, kept_ext = _extended(u, kept)
    shape = u.shape[1:-1]
    steps = [[int(i == a) for i in range(len(shape))] for a in range(len(shape))]
    diffs = [jnp.where(_window(kept_ext, st, shape), _window(u_ext, st, shape) - u, 0.0)
             for st in steps]
    return jnp.sqrt(sum(d * d for d in diffs) + epsilon)[_crop_all_but(None, u.ndim)]


@functools.partial(jax.checkpoint, prevent_cse=False)
def _length_tangent(u, kept, epsilon, du, d_epsilon):
    # Linear in (du, d_epsilon) and written as the transpose of the backward pass
    # (:func:`_length_cotangents`), so that reverse mode transposes it back into that fused
    # pass; jax.checkpoint keeps only the primal inputs (u is kept anyway) as its residuals.
    # prevent_cse=False: the optimisation barrier would materialise the length's cotangent
    # (H100 temporaries 1.21x -> 2.15x the logits at (2, 96, 96, 96, 14)).
    # eval_shape keeps the length's sharding (an Explicit mesh types it; a bare shape would not
    # match the cotangent's type).
    like = jax.eval_shape(_autodiff_length, u, kept, epsilon)
    transpose = jax.linear_transpose(lambda g: _length_cotangents(u, kept, epsilon, g), like)
    return transpose((du, d_epsilon))[0]


def _length_cotangents(u, kept, epsilon, g):
    """The cotangents of ``u`` and ``epsilon`` for a cotangent ``g`` of the length."""
    # grad u(y) = sum_a F_a(y - e_a) - F_a(y), F_a = g m_a Delta_a u / length (0 off the grid of
    # ``g``). Each F_a is recomputed from shifted windows of ``u``, not shared: one fused pass.
    spatial = spatial_axes(u.ndim)
    u_ext, kept_ext = _extended(u, kept)
    g_ext = lax.pad(g, 0.0, [(0, 0, 0)] + [(1, 2, 0)] * len(spatial) + [(0, 0, 0)])

    def window(ext, shift):  # ext at y + shift for every pixel y (shift per spatial axis)
        return _window(ext, shift, u.shape[1:-1])

    def flows(back):  # F_a(y - back) for every axis a
        base = [-b for b in back]
        at = window(u_ext, base)
        steps = [[b + (i == a) for i, b in enumerate(base)] for a in range(len(spatial))]
        diffs = [jnp.where(window(kept_ext, st), window(u_ext, st) - at, 0.0) for st in steps]
        scale = window(g_ext, base) / jnp.sqrt(sum(d * d for d in diffs) + epsilon)
        return [scale * d for d in diffs]

    zero = [0] * len(spatial)
    here = flows(zero)
    grad = -sum(here)
    for a in range(len(spatial)):
        grad = grad + flows([int(i == a) for i in range(len(spatial))])[a]
    # d length / d epsilon = 1 / (2 length) (dropped by XLA when epsilon is a constant).
    grad_epsilon = jnp.sum(0.5 * g / _window_length(u, kept, epsilon))
    return grad, grad_epsilon


def _crop_all_but(kept_axis: int | None, ndim: int) -> tuple[slice, ...]:
    """Drops the last index of every spatial axis except ``kept_axis`` (already a ``diff``)."""
    return (slice(None),) + tuple(
        slice(None) if axis == kept_axis else slice(0, -1) for axis in range(1, ndim - 1)
    ) + (slice(None),)


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


@boolean_options
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
      >>> from jaxseg_losses.contour import hausdorff_erosion_loss
      >>> labels = jnp.zeros((1, 8, 8), int).at[0, 2:6, 2:6].set(1)
      >>> perfect = jnp.eye(2)[labels]
      >>> hausdorff_erosion_loss(perfect, labels, from_logits=False)
      Array([0.], dtype=float32)
      >>> shifted = jnp.eye(2)[jnp.roll(labels, 3, axis=2)]  # a thick boundary error
      >>> bool(hausdorff_erosion_loss(shifted, labels, from_logits=False)[0] > 0)
      True
    """
    iterations = check_count("iterations", iterations)
    check_number("alpha", alpha)
    prep = prepare(
        predictions, labels, mode=mode, from_logits=from_logits, mask=mask,
        ignore_index=ignore_index,
    )
    p = keep_classes(prepared_probabilities(prep), include_background)
    y = keep_classes(prep.targets, include_background)
    valid = prep.valid[..., None]
    bound = jnp.where(valid > 0, (p - y) ** 2, 0.0)
    weights = jnp.arange(1, iterations + 1, dtype=jnp.float32) ** alpha

    @jax.checkpoint
    def step(carry, weight):
        bound, total = carry
        eroded = _erode(bound)
        return (eroded, total + weight * eroded), None

    def plane_mean(bound, valid):  # (example, class) planes (b, *spatial, c) -> means (b, c)
        (_, total), _ = lax.scan(step, (bound, jnp.zeros_like(bound)), weights)
        return masked_mean(total, valid, axis=spatial_axes(total.ndim))

    # Plane by plane (rematerialised): the same means, far less memory under grad.
    return jnp.mean(map_planes(plane_mean, (bound,), shared=(valid,)), axis=-1)
