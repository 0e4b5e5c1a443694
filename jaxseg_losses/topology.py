r"""Topology-preserving losses: the soft skeleton and clDice (Shit et al., CVPR 2021).

The soft skeleton (Shit et al., Alg. 1) is built from soft morphology on ``(B, *spatial, C)``
probabilities, per channel:

* soft erosion: the minimum over the axis-aligned 3-pixel crosses, i.e. the minimum of a
  ``3 x 1`` and a ``1 x 3`` min-pool in 2D (``3x1x1``, ``1x3x1``, ``1x1x3`` in 3D);
* soft dilation: a ``3 x 3`` (``3 x 3 x 3``) max-pool;
* soft opening: dilation of the erosion;
* skeleton: :math:`S_0 = \mathrm{relu}(I - \mathrm{open}(I))`, then ``iterations`` times
  :math:`I \leftarrow \mathrm{erode}(I)`, :math:`\Delta = \mathrm{relu}(I - \mathrm{open}(I))`,
  :math:`S \leftarrow S + \mathrm{relu}(\Delta - S\,\Delta)`.

Borders are padded with the neutral element (:math:`+\infty` for erosion, :math:`-\infty` for
dilation), which equals PyTorch's implicit padding of ``max_pool`` in MONAI and the authors' code,
so the skeletons match theirs exactly. 1D inputs work the same way (``3``-windows).

Memory. The iterations run in a ``lax.scan`` whose body is wrapped in ``jax.checkpoint``: the
backward pass keeps the carry (two arrays) per iteration and recomputes the pooling
intermediates, instead of the roughly ten per iteration an unrolled loop keeps; each iteration
erodes once (the erosion inside the opening is reused as the next iteration's image). The
pools are written as minima/maxima of three shifted slices per axis (the dilation separably)
rather than with ``lax.reduce_window``: same values, but the gradient is a few selects instead of
XLA's windowed select-and-scatter. :func:`cldice_loss` skeletonises one (example, class) plane
after the other (a rematerialised ``lax.map`` over chunks of about 2^20 pixels,
``_numerics.map_planes``; a 2-D batch is one chunk), so the backward pass holds the pooling
masks of one plane, not of every class; with integer labels each chunk's one-hot planes are
built inside the loop from the class indices. Temporary memory of value+grad at
``(2, 96, 96, 96, 14)`` for a described H100 went from 31.4x to 2.1x the logits (TPU v5e: out
of memory at 222x, now 3.6x; ``benchmarks/compile_memory.py``, BENCHMARKS.md section 5).

clDice is computed per class, like every region loss of the library (statistics per example and
class, then the shared class reduction of :mod:`jaxseg_losses.region`). MONAI's
``SoftclDiceLoss`` pools the sums over the channels it keeps; the two agree whenever one channel
is kept (binary, or ``C == 2`` with ``include_background=False``), and the per-class form equals
MONAI applied to each channel separately and averaged.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxseg_losses._activations import (
    prepared_probabilities,
)
from jaxseg_losses._inputs import (
    Mode,
    boolean_options,
    check_count,
    check_number,
    prepare_region,
    renamed_options,
)
from jaxseg_losses._numerics import map_planes, safe_divide, spatial_sum
from jaxseg_losses.region._engine import (
    OverlapStatistics,
    dice_index,
    over_batch,
    ratio,
    reduce_classes,
    smooth_pair,
)

__all__ = ("cldice_loss", "dice_cldice_loss", "soft_dilate", "soft_erode", "soft_skeleton")


def _window3(x: jax.Array, op, axis: int, fill: float) -> jax.Array:
    """``op`` over the 3-pixel window along ``axis`` (stride 1, same size), border = ``fill``.

    Written as ``op`` of three shifted slices rather than ``lax.reduce_window``: the values are
    the same, and the gradient is three selects instead of XLA's windowed scatter, which halves
    the peak memory of value+grad on CPU (measured: see ``benchmarks/cldice_memory.py``).
    """
    pad = [(0, 0)] * x.ndim
    pad[axis] = (1, 1)
    padded = jnp.pad(x, pad, constant_values=fill)
    n = x.shape[axis]
    left, centre, right = (lax.slice_in_dim(padded, i, n + i, axis=axis) for i in range(3))
    return op(op(left, centre), right)


def soft_erode(x: jax.Array) -> jax.Array:
    r"""Soft erosion of ``(B, *spatial, C)``: minimum over the 3-pixel cross of each pixel.

    The minimum of the ``3 x 1`` and ``1 x 3`` (``3x1x1``, ``1x3x1``, ``1x1x3``) min-pools, padded
    with :math:`+\infty` (MONAI's ``soft_erode``).

    Args:
      x: ``(B, *spatial, C)`` values, 1 to 3 spatial axes.

    Returns:
      The eroded array, same shape and dtype.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses import soft_erode
      >>> soft_erode(jnp.array([[0.0, 1.0, 1.0, 1.0, 0.0]])[..., None])[0, :, 0].tolist()
      [0.0, 0.0, 1.0, 0.0, 0.0]
    """
    axes = range(1, x.ndim - 1)
    return functools.reduce(jnp.minimum, [_window3(x, jnp.minimum, a, np.inf) for a in axes])


def soft_dilate(x: jax.Array) -> jax.Array:
    r"""Soft dilation of ``(B, *spatial, C)``: maximum over the ``3^d`` neighbourhood.

    The ``3 x 3`` (``3 x 3 x 3``) max-pool padded with :math:`-\infty` (MONAI's ``soft_dilate``),
    computed separably, one axis after the other (exact for a maximum over a box).

    Args:
      x: ``(B, *spatial, C)`` values, 1 to 3 spatial axes.

    Returns:
      The dilated array, same shape and dtype.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses import soft_dilate
      >>> soft_dilate(jnp.array([[0.0, 0.0, 1.0, 0.0, 0.0]])[..., None])[0, :, 0].tolist()
      [0.0, 1.0, 1.0, 1.0, 0.0]
    """
    for a in range(1, x.ndim - 1):
        x = _window3(x, jnp.maximum, a, -np.inf)
    return x


def soft_skeleton(x: jax.typing.ArrayLike, *, iterations: int = 3) -> jax.Array:
    r"""Soft skeleton of ``(B, *spatial, C)`` values in [0, 1], per channel (Shit et al., Alg. 1).

    .. math::
        S \leftarrow \mathrm{relu}(I - \mathrm{open}(I));\quad \text{repeat } k \text{ times: }
        I \leftarrow \mathrm{erode}(I),\ \Delta = \mathrm{relu}(I - \mathrm{open}(I)),\
        S \leftarrow S + \mathrm{relu}(\Delta - S\Delta)

    equal to MONAI's ``soft_skel(img, iter_=k)`` (channels last here). The ``k`` iterations run
    in a checkpointed ``lax.scan``, so memory under ``jax.grad`` grows by two arrays per
    iteration. ``iterations`` (:math:`k \ge 0`, static) should be about the largest radius of the
    structures; the authors use 3 to 25 depending on the data set.

    Args:
      x: ``(B, *spatial, C)`` probabilities (or binary masks), 1 to 3 spatial axes.
      iterations: number of erosion steps :math:`k`. Default 3 (MONAI's default).

    Returns:
      ``(B, *spatial, C)`` float32 soft skeleton, values in [0, 1].

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.topology import soft_skeleton
      >>> bar = jnp.zeros((1, 5, 7, 1)).at[0, 1:4, 1:6, 0].set(1.0)  # a 3-pixel-thick bar
      >>> soft_skeleton(bar)[0, :, :, 0].astype(int)  # its middle line, minus the end pixels
      Array([[0, 0, 0, 0, 0, 0, 0],
             [0, 0, 0, 0, 0, 0, 0],
             [0, 0, 1, 1, 1, 0, 0],
             [0, 0, 0, 0, 0, 0, 0],
             [0, 0, 0, 0, 0, 0, 0]], dtype=int32)
    """
    iterations = check_count("iterations", iterations, low=0)
    x = jnp.asarray(x, jnp.float32)
    if x.ndim not in (3, 4, 5):
        raise ValueError(
            "x: expected shape (B, *spatial, C) with 1 to 3 spatial axes (rank 3 to 5); "
            f"got rank {x.ndim}"
        )
    eroded = soft_erode(x)
    skeleton = jax.nn.relu(x - soft_dilate(eroded))

    @jax.checkpoint
    def step(carry, _):
        image, skel = carry
        image_eroded = soft_erode(image)
        delta = jax.nn.relu(image - soft_dilate(image_eroded))
        skel = skel + jax.nn.relu(delta - skel * delta)
        return (image_eroded, skel), None

    (_, skeleton), _ = lax.scan(step, (eroded, skeleton), None, length=int(iterations))
    return skeleton


def _cldice_per_class(prep, *, iterations, nr, dr, harmonic, per_image, axis_name,
                      with_dice: bool = False):
    """``(B or 1, C)`` clDice losses from prepared inputs; with ``with_dice``, also the soft
    Dice losses ``1 - dice_index`` of the same planes (summed in the same plane loop: no
    second pass over class-sized arrays for :func:`dice_cldice_loss`)."""
    y = prep.targets
    v = prep.valid[..., None]
    # Excluded pixels take the target's value in the predicted image, so that their predictions
    # reach neither the value nor the gradient through the neighbourhood of the skeleton.
    p = jnp.where(v > 0, prepared_probabilities(prep), y)

    def sums(p, y, v):  # (example, class) planes (b, *spatial, c) -> four (b, c) sums
        skel_p = soft_skeleton(p, iterations=iterations)
        skel_y = jax.lax.stop_gradient(soft_skeleton(y, iterations=iterations))
        skeleton_sums = (spatial_sum(v * skel_p * y), spatial_sum(v * skel_p),
                         spatial_sum(v * skel_y * p), spatial_sum(v * skel_y))
        # v p = v p_prepared (an excluded pixel has v = 0): Dice's statistics.
        dice_sums = (spatial_sum(v * p * y), spatial_sum(v * p), spatial_sum(v * y))
        return skeleton_sums + (dice_sums if with_dice else ())

    # Plane by plane (see the module docstring, Memory): the same sums, far less memory.
    tp_p, s_p, tp_y, s_y, *dice_sums = (over_batch(s, per_image, axis_name)
                                        for s in map_planes(sums, (p, y), shared=(v,),
                                                            classes=prep.class_index))
    t_prec = ratio(tp_p + nr, s_p + dr)
    t_sens = ratio(tp_y + nr, s_y + dr)
    cldice = 1.0 - safe_divide(2.0 * t_prec * t_sens, t_prec + t_sens + harmonic)
    if not with_dice:
        return cldice
    tp, sum_p, sum_y = dice_sums
    stats = OverlapStatistics(tp, sum_p - tp, sum_y - tp, sum_p, sum_y)
    return cldice, 1.0 - dice_index(stats, nr, dr)


@renamed_options(epsilon="smooth_harmonic")
@boolean_options
def cldice_loss(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    mode: Mode = "multiclass",
    from_logits: bool = True,
    iterations: int = 3,
    smooth: float | tuple[float, float] = 1.0,
    smooth_harmonic: float = 0.0,
    include_background: bool = True,
    class_weights: jax.typing.ArrayLike | None = None,
    per_image: bool = True,
    axis_name: str | None = None,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
    reduction: str = "example",
) -> jax.Array:
    r"""Soft clDice loss (Shit et al., "clDice", CVPR 2021), per class.

    .. math::
        T_{prec} = \frac{\sum_x v\,S_P\,Y + s_{nr}}{\sum_x v\,S_P + s_{dr}},\quad
        T_{sens} = \frac{\sum_x v\,S_Y\,P + s_{nr}}{\sum_x v\,S_Y + s_{dr}},\quad
        L_c = 1 - \frac{2\,T_{prec}\,T_{sens}}{T_{prec} + T_{sens} + s_h}

    with :math:`S_P, S_Y` the soft skeletons (:func:`soft_skeleton`, ``iterations`` steps) of
    the predicted probabilities :math:`P` and of the targets :math:`Y` (the latter without
    gradient), :math:`v` the pixel weights, averaged over the kept classes like
    :func:`jaxseg_losses.dice_loss`. Defaults follow MONAI's ``SoftclDiceLoss``:
    ``iterations=3``, ``smooth=1`` (:math:`s_{nr} = s_{dr} = 1`; a pair sets them apart), except
    :math:`s_h`: MONAI adds ``smooth=1e-4`` to the harmonic-mean denominator, which leaves a
    loss of 5e-5 on a perfect prediction; here ``smooth_harmonic=0`` (the 0/0 case gives a score
    of 0, loss 1, with zero gradient), so a perfect prediction scores exactly 0. With
    ``smooth_harmonic=1e-4`` and one kept channel it equals MONAI ``SoftclDiceLoss(iter_=iterations,
    smooth_nr, smooth_dr, smooth=1e-4)`` per example; with several channels it equals MONAI
    applied to each channel and averaged (MONAI pools the channels' sums).

    Empty masks: an empty prediction on an empty truth has empty skeletons, so
    :math:`T_{prec} = T_{sens} = s_{nr}/s_{dr}` (= 1 by default, and 1 for ``smooth=0`` by the
    0/0 rule of the family) and the loss is 0. A fully masked example gives 0 with zero gradient.
    A prediction that fills the whole image has an empty soft skeleton (erosion never reaches
    the padded border), so clDice alone does not penalise it: train with
    :func:`dice_cldice_loss` (as the authors do), which does.
    Excluded pixels (``mask`` 0, ``ignore_index``) take the target's value in the predicted
    image before skeletonisation (ignored labels are background), and are left out of the sums:
    their predictions change neither the value nor the gradient. Positive float mask values
    weight the sums.

    Args:
      predictions: ``(B, *spatial, C)`` logits (or probabilities with ``from_logits=False``),
        2D or 3D (1D works too).
      labels: ``(B, *spatial)`` integer class indices or ``(B, *spatial, C)`` one-hot/soft targets.
      mode: ``"multiclass"`` (default, softmax), ``"multilabel"`` or ``"binary"`` (sigmoid).
      from_logits: whether ``predictions`` are logits. Default ``True``.
      iterations: soft-skeleton iterations (static int >= 0). Default 3.
      smooth: :math:`s` added to numerators and denominators of :math:`T_{prec}, T_{sens}`, or a
        pair ``(smooth_nr, smooth_dr)``. Default 1.
      smooth_harmonic: :math:`s_h`, added to the harmonic-mean denominator. Default 0 (MONAI:
        1e-4). Renamed from ``epsilon`` (still accepted, with a ``DeprecationWarning``, until
        the next release).
      include_background: ``False`` drops class 0 from the class average. Default ``True``.
      class_weights: optional ``(C,)`` weights of the class average. Default ``None``.
      per_image: ``True`` (default) per example; ``False``: sums over the batch (and
        ``axis_name``) before the ratios.
      axis_name: ``shard_map`` axis for ``per_image=False``. Default ``None``.
      mask: optional ``(B, *spatial)`` pixel weights. Default ``None``.
      ignore_index: integer label excluded from the sums. Default ``None``.
      reduction: ``"example"`` (default) -> ``(B,)``; ``"class"`` -> ``(B, C_kept)``.

    Returns:
      ``(B,)`` float32 losses in [0, 1] (or ``(B, C_kept)``).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.topology import cldice_loss
      >>> labels = jnp.zeros((1, 7, 7), int).at[0, 2:5, 1:6].set(1)
      >>> cldice_loss(labels[..., None].astype(float), labels, mode="binary", from_logits=False)
      Array([0.], dtype=float32)
    """
    check_number("smooth_harmonic", smooth_harmonic)
    nr, dr = smooth_pair(smooth)
    prep, weights = prepare_region(
        predictions, labels, mode=mode, from_logits=from_logits, mask=mask,
        ignore_index=ignore_index, class_weights=class_weights, reduction=reduction,
    )
    per_class = _cldice_per_class(
        prep, iterations=iterations, nr=nr, dr=dr, harmonic=smooth_harmonic, per_image=per_image,
        axis_name=axis_name,
    )
    return reduce_classes(
        per_class, batch_size=prep.predictions.shape[0], include_background=include_background,
        class_weights=weights, reduction=reduction,
    )


@renamed_options(epsilon="smooth_harmonic")
@boolean_options
def dice_cldice_loss(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    mode: Mode = "multiclass",
    from_logits: bool = True,
    alpha: float = 0.5,
    iterations: int = 3,
    smooth: float | tuple[float, float] = 1.0,
    smooth_harmonic: float = 0.0,
    include_background: bool = True,
    class_weights: jax.typing.ArrayLike | None = None,
    per_image: bool = True,
    axis_name: str | None = None,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
    reduction: str = "example",
) -> jax.Array:
    r"""Soft Dice plus soft clDice (Shit et al., CVPR 2021), the authors' training loss.

    .. math::
        L = (1 - \alpha)\,L_{Dice}(s) + \alpha\,L_{clDice}(s)

    :math:`L_{Dice}` is :func:`jaxseg_losses.dice_loss` with the same ``smooth`` (default
    1, as MONAI's ``SoftDiceclDiceLoss``; the Dice family default is 1e-5) and
    :math:`L_{clDice}` is :func:`cldice_loss`. ``alpha=0.5`` is MONAI's default (the paper tunes
    it in [0.1, 0.5]). With ``smooth_harmonic=1e-4`` and one kept channel it equals MONAI
    ``SoftDiceclDiceLoss(iter_, alpha, smooth_nr, smooth_dr, smooth=1e-4)``.

    Empty masks: both terms are 0 for an empty prediction on an empty truth.

    Args:
      predictions, labels, mode, from_logits, iterations, smooth, smooth_harmonic,
        include_background, class_weights, per_image, axis_name, mask, ignore_index, reduction:
        as in
        :func:`cldice_loss` (``smooth`` also smooths the Dice term).
      alpha: weight of the clDice term, in [0, 1]. Default 0.5.

    Returns:
      ``(B,)`` float32 losses in [0, 1] (or ``(B, C_kept)``).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.topology import dice_cldice_loss
      >>> labels = jnp.zeros((1, 7, 7), int).at[0, 3, 1:6].set(1)  # a thin line
      >>> probs = jnp.zeros((1, 7, 7, 1))  # predicts nothing
      >>> dice_cldice_loss(probs, labels, mode="binary", from_logits=False, smooth=0.0)
      Array([1.], dtype=float32)
    """
    check_number("alpha", alpha, high=1.0)
    check_number("smooth_harmonic", smooth_harmonic)
    nr, dr = smooth_pair(smooth)
    prep, weights = prepare_region(
        predictions, labels, mode=mode, from_logits=from_logits, mask=mask,
        ignore_index=ignore_index, class_weights=class_weights, reduction=reduction,
    )
    # Both terms' sums in one plane loop (issue 29: the separate dice_loss added class-sized
    # arrays to the clDice loop's memory); dice_loss's value for these options.
    cl, dice = _cldice_per_class(
        prep, iterations=iterations, nr=nr, dr=dr, harmonic=smooth_harmonic, per_image=per_image,
        axis_name=axis_name, with_dice=True,
    )
    cl, dice = (reduce_classes(
        per_class, batch_size=prep.predictions.shape[0], include_background=include_background,
        class_weights=weights, reduction=reduction) for per_class in (cl, dice))
    return (1.0 - alpha) * dice + alpha * cl
