"""Safe arithmetic and reductions: division, power, masked means, spatial sums, class selection."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxseg_losses._inputs import check_choice
from jaxseg_losses._sharding import explicit_sharding_spec


def safe_divide(numerator: jax.Array, denominator: jax.Array, fill: float = 0.0) -> jax.Array:
    """``numerator / denominator`` with ``fill`` (and zero gradient) where the denominator is 0."""
    ok = denominator != 0
    return jnp.where(ok, numerator / jnp.where(ok, denominator, 1.0), fill)


def safe_power(base: jax.Array, exponent) -> jax.Array:
    """``base ** exponent`` for ``base >= 0`` with a finite gradient at ``base == 0``; NaN stays
    NaN (``0 * base`` carries it past the comparison).

    A static integral exponent is multiplied out (exact; XLA rewrites ``pow(x, 2)`` so too);
    any other is ``exp(exponent * log(base))`` on the positive bases. XLA's ``pow``
    generates its cases for negative and zero bases too: in a fusion over every class it made
    XLA:TPU's code generation 3x as slow (bi-tempered loss at C = 150, issue 29)."""
    positive = base > 0
    at_zero = 0.0 ** exponent + 0.0 * base
    positive_base = jnp.where(positive, base, 1.0)
    if isinstance(exponent, (int, float)) and float(exponent).is_integer():
        power = jax.lax.integer_pow(positive_base, int(exponent))
    else:
        power = jnp.exp(exponent * jnp.log(positive_base))
    return jnp.where(positive, power, at_zero)


def safe_sqrt(x: jax.Array) -> jax.Array:
    """``sqrt(x)`` for ``x >= 0`` with a zero (not infinite) gradient at 0; NaN stays NaN."""
    positive = x > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, x, 1.0)), 0.0 * x)


def masked_mean(values: jax.Array, weights: jax.Array, axis) -> jax.Array:
    """Weighted mean over ``axis``; 0 (with zero gradient) where all weights are 0."""
    return safe_divide(jnp.sum(values * weights, axis=axis), jnp.sum(weights, axis=axis))


def pixel_class_mean(values: jax.Array, valid: jax.Array) -> jax.Array:
    """``(B, *spatial, C)`` -> ``(B,)``: the mean over the valid pixels (``valid`` ``(B,
    *spatial)`` weights) of every class, then the mean over the classes."""
    per_class = masked_mean(values, valid[..., None], axis=spatial_axes(values.ndim))
    return jnp.mean(per_class, axis=-1)


def per_example_mean(pixel_values: jax.Array, weights: jax.Array) -> jax.Array:
    """Mean of a ``(B, *spatial)`` map over the valid pixels of each example -> ``(B,)``."""
    return masked_mean(pixel_values, weights, axis=tuple(range(1, pixel_values.ndim)))


def spatial_axes(ndim: int) -> tuple[int, ...]:
    """Spatial axes of a ``(B, *spatial, C)`` array."""
    return tuple(range(1, ndim - 1))


# Pixels folded into the minor axis by spatial_sum (a divisor of the pixel count at most this).
_SUM_FOLD = 128


def spatial_sum(values: jax.Array) -> jax.Array:
    """Sum of ``(B, *spatial, C)`` over the spatial axes -> ``(B, C)``.

    XLA:CPU sums a big axis into a short minor (class) axis about 2x slower than it streams the
    data; folding ``k`` pixels into the minor axis, ``(B, N / k, k C)``, summing the major axis
    and then the ``k`` partial sums runs at memory speed (benchmarks/losses.py). XLA:TPU sums the
    spatial axes directly (``lax.platform_dependent``): the fold is a bitcast only in a
    class-minor layout, so it made layout assignment put the class axis of every array feeding it
    on the 128 lanes (C = 14: 9x the logits' bytes per array, 37x in all for value+grad of the 3-D
    Dice; benchmarks/results/memory.md).
    """
    batch, num_classes = values.shape[0], values.shape[-1]
    pixels = math.prod(values.shape[1:-1])
    fold = math.gcd(pixels, _SUM_FOLD)
    spec = explicit_sharding_spec(values)
    out_sharding = None
    if spec is not None:  # sharding in types: the reshape may merge only unsharded axes
        if any(entry is not None for entry in spec[1:]):
            return _direct_spatial_sum(values)
        out_sharding = jax.P(spec[0], None, None)

    def folded_sum(values: jax.Array) -> jax.Array:
        folded = jnp.reshape(
            values, (batch, pixels // fold, fold * num_classes), out_sharding=out_sharding
        )
        partial = jnp.sum(folded, axis=1)
        return jnp.sum(partial.reshape(batch, fold, num_classes), axis=1)

    return jax.lax.platform_dependent(values, tpu=_direct_spatial_sum, default=folded_sum)


def _direct_spatial_sum(values: jax.Array) -> jax.Array:
    return jnp.sum(values, axis=spatial_axes(values.ndim))


def keep_classes(values: jax.Array, include_background: bool) -> jax.Array:
    """Drops channel 0 of ``(..., C)`` when ``include_background=False`` and ``C > 1``."""
    if include_background or values.shape[-1] == 1:
        return values
    return values[..., 1:]


PIXEL_REDUCTIONS = ("example", "pixel")


def reduce_pixels(
    pixel_loss: jax.Array,
    valid: jax.Array,
    reduction: str,
    normaliser: jax.Array | None = None,
) -> jax.Array:
    """Per-example weighted mean (``reduction="example"``) or the masked per-pixel map
    (``"pixel"``) of a ``(B, *spatial)`` pixel-wise loss; ``normaliser`` replaces the valid-pixel
    count as the denominator."""
    check_choice("reduction", reduction, PIXEL_REDUCTIONS)
    weighted = pixel_loss * valid
    if reduction == "pixel":
        return weighted
    axes = tuple(range(1, weighted.ndim))
    denominator = valid if normaliser is None else normaliser
    return safe_divide(jnp.sum(weighted, axis=axes), jnp.sum(denominator, axis=axes))


# Sudre's generalized-Dice class weights (the loss and the metric): 1 / V^2, 1 / V or 1.
VOLUME_WEIGHTS = ("square", "simple", "uniform")


def inverse_volume_weights(volume: jax.Array, class_weighting: str) -> jax.Array:
    """Class weights from ``(B, C)`` truth volumes :math:`V_c` (Sudre et al., DLMIA 2017):
    :math:`1/V_c^2` (``"square"``), :math:`1/V_c` (``"simple"``) or 1 (``"uniform"``) for the
    classes present (:math:`V_c > 0`), 0 for the absent ones."""
    present = volume > 0
    if class_weighting == "uniform":
        return jnp.where(present, 1.0, 0.0)
    safe_volume = jnp.where(present, volume, 1.0)
    scale = safe_volume * safe_volume if class_weighting == "square" else safe_volume
    return jnp.where(present, 1.0 / scale, 0.0)


def largest_for_absent(weights: jax.Array, present: jax.Array) -> jax.Array:
    """``(B, C)`` weights with each absent class given the largest weight of its example (1
    when that is 0: nothing present): NiftyNet's and MONAI's rule for generalized Dice."""
    largest = jnp.max(weights, axis=-1, keepdims=True)
    return jnp.where(present, weights, jnp.where(largest > 0, largest, 1.0))


def per_platform(*args, cpu, accelerator, tpu=None):
    """``accelerator(*args)`` when compiled for a GPU or TPU (``tpu(*args)`` there if given),
    ``cpu(*args)`` on XLA:CPU (and any other backend): for formulations that save accelerator
    memory at a CPU speed cost."""
    return jax.lax.platform_dependent(
        *args, cuda=accelerator, rocm=accelerator, tpu=accelerator if tpu is None else tpu,
        default=cpu)


# XLA:TPU compiles a scatter or a sort over the flattened elements of many rows in 5-7 s up to
# 2^21 elements but in 13-18 s at 5-10M (issue 29): its forms cut such ops in pieces.
TPU_PIECE_ELEMENTS = 2**21


def rows_per_piece(row: int) -> int:
    """Whole rows of ``row`` elements in a piece of at most ``TPU_PIECE_ELEMENTS`` (at least 1)."""
    return max(1, TPU_PIECE_ELEMENTS // row)


def in_row_pieces(fn, size: int, row: int) -> jax.Array:
    """``fn(start, stop)`` for consecutive pieces of whole rows of ``row`` elements covering
    ``range(size)``, ``rows_per_piece(row)`` rows each (the last may have fewer),
    concatenated."""
    step = rows_per_piece(row) * row
    return jnp.concatenate([fn(start, min(start + step, size)) for start in range(0, size, step)])


# Pixels per chunk of map_planes: one (example, class) plane of a 3-D volume of 96^3 or more
# per step, many planes of a 2-D image at once (few loop steps, few kernel launches).
PLANE_CHUNK_PIXELS = 2**20
KEPT = "map_planes_kept"


def map_planes(fn, arrays, shared=(), classes=None):
    """``fn`` on the (example, class) planes of ``(B, *spatial, C)`` arrays, a chunk of planes
    at a time, rematerialised: value+grad keeps the inputs and one chunk's intermediates
    instead of every plane's (an iterative loss's temporaries shrink up to ``B C`` times).

    ``fn(*planes, *shared_planes)`` must work per (example, class) plane on ``(b, *spatial, c)``
    arrays and return a pytree of ``(b, c)`` arrays (or of ``(b, *spatial, c)`` planes). When
    every plane fits in one chunk of ``PLANE_CHUNK_PIXELS`` pixels (a 2-D batch, usually) it
    gets ``arrays`` and the ``(B, *spatial, 1)`` arrays ``shared`` themselves: the former
    program exactly, no loop.
    Otherwise it gets ``(k, *spatial, 1)`` arrays: ``k`` planes as a batch (``k`` the largest
    divisor of ``B C`` within the chunk size, at least 1) and the matching examples of
    ``shared`` (the same for every class of an example); no ``vmap`` (it would turn a
    data-dependent loop, as in the distance transform, into a masked one). The chunks run in a
    ``lax.map`` (a loop of known trip count, no host round trip) whose body is a
    ``jax.checkpoint``: the backward pass recomputes one chunk's forward at a time, except the
    values that ``fn`` names ``KEPT`` (``jax.ad_checkpoint.checkpoint_name(x, KEPT)``: costly to
    recompute, e.g. distance maps), which are kept for the backward pass. The result is
    ``(B, C)`` (or ``(B, *spatial, C)``).

    ``classes``: optional int ``(B, *spatial)`` class indices of which ``arrays[-1]`` is the
    one-hot encoding (plane ``c`` is ``classes == c``; negative values match no plane). The
    loop then builds each chunk's planes of ``arrays[-1]`` from them instead of slicing a
    planes-major copy of it, which XLA:TPU materialised before the loop (1x the logits at
    ``(2, 96, 96, 96, 14)``; issue 29). Without a loop, ``arrays`` are used as given.
    Under an Explicit mesh there is no loop (see below).
    """
    batch, num_classes = arrays[0].shape[0], arrays[0].shape[-1]
    spatial = arrays[0].shape[1:-1]
    count = num_classes * batch
    most = max(1, PLANE_CHUNK_PIXELS // math.prod(spatial))
    # One chunk: the arrays as they are, no loop, no recomputation. Under an Explicit mesh too:
    # the planes' reshape would merge the sharded batch axis with the classes, which an
    # explicitly sharded array refuses (ShardingTypeError); each device then holds its examples'
    # planes at once.
    if count <= most or explicit_sharding_spec(arrays[0]) is not None:
        return fn(*arrays, *shared)
    chunk = max(k for k in range(1, most + 1) if count % k == 0)
    # Plane q is class q // batch of example q % batch.
    sliced = arrays if classes is None else arrays[:-1]
    planes = tuple(jnp.moveaxis(a, -1, 0).reshape(count // chunk, chunk, *spatial, 1)
                   for a in sliced)
    plane = jnp.arange(count, dtype=jnp.int32).reshape(count // chunk, chunk)
    example, plane_class = plane % batch, plane // batch

    def one_chunk(xs):
        index, chunk_class, *chunk_planes = xs
        if classes is not None:
            chunk_class = chunk_class.reshape((chunk,) + (1,) * len(spatial))
            hits = jnp.take(classes, index, axis=0) == chunk_class
            chunk_planes.append(hits[..., None].astype(arrays[-1].dtype))
        return fn(*chunk_planes, *(jnp.take(s, index, axis=0) for s in shared))

    policy = jax.checkpoint_policies.save_only_these_names(KEPT)
    out = jax.lax.map(jax.checkpoint(one_chunk, policy=policy),
                      (example, plane_class, *planes))
    return jax.tree.map(
        lambda o: jnp.moveaxis(o.reshape(num_classes, batch, *o.shape[2:-1]), 0, -1), out)
