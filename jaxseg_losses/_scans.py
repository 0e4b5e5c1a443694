"""Running (cumulative) max / min / sum along an axis, per backend.

XLA:CPU's native ``cummax`` is a windowed reduction, quadratic in the axis length (35 ms at
(8, 256, 256) where an associative scan takes 6); GPU keeps XLA's own cumulative ops (a blocked
scan, a few fused kernels), and so does TPU unless the caller asks for two levels
(`_two_level`): XLA:TPU's code generation for the windowed reductions of the distance
transform's first pass along a tiled axis takes a time that jumps with the size of the other
axes ((56, 128, 128): 14 s; (200, 128, 128): 3.8 s), while windows of 8 and of n / 8 compile in
0.2-3 s at every size tried, at about the same estimated run time. The connected-component
labelling keeps XLA's ops on TPU: two levels compiled no faster there and its estimated run
time rose 1.3-1.4x (BENCHMARKS.md, section 5).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

_NATIVE = {jnp.maximum: lax.cummax, jnp.minimum: lax.cummin, jnp.add: lax.cumsum}
_REDUCE = {jnp.maximum: jnp.max, jnp.minimum: jnp.min, jnp.add: jnp.sum}
_TPU_BLOCK = 8  # the TPU's sublane tile


def running(
    op, x: jax.Array, axis: int, reverse: bool = False, *, two_level_on_tpu: bool = False
) -> jax.Array:
    """Inclusive running ``op`` (``jnp.maximum``, ``jnp.minimum`` or ``jnp.add``) of ``x``
    along ``axis`` (from the end with ``reverse``), chosen per backend when lowered;
    ``two_level_on_tpu``: in blocks on TPU (`_two_level`)."""
    native = _NATIVE[op]
    branches = {"tpu": lambda v: _two_level(op, v, axis, reverse)} if two_level_on_tpu else {}
    return lax.platform_dependent(
        x,
        cpu=lambda v: lax.associative_scan(op, v, axis=axis, reverse=reverse),
        default=lambda v: native(v, axis=axis, reverse=reverse),
        **branches,
    )


def _identity(op, dtype) -> jax.Array:
    if op is jnp.add:
        return jnp.zeros((), dtype)
    if jnp.issubdtype(dtype, jnp.integer):
        info = jnp.iinfo(dtype)
        return jnp.asarray(info.min if op is jnp.maximum else info.max, dtype)
    return jnp.asarray(-jnp.inf if op is jnp.maximum else jnp.inf, dtype)


def _two_level(op, x: jax.Array, axis: int, reverse: bool) -> jax.Array:
    """The running ``op`` within blocks of ``_TPU_BLOCK`` elements, combined with the exclusive
    running ``op`` of the block totals: two short cumulative ops and a reduction, the same work
    as one along the whole axis."""
    n = x.shape[axis]
    nb = -(-n // _TPU_BLOCK)
    if nb == 1:
        return _NATIVE[op](x, axis=axis, reverse=reverse)
    ident = _identity(op, x.dtype)
    pad = [(0, 0)] * x.ndim
    pad[axis] = (0, nb * _TPU_BLOCK - n)
    v = jnp.pad(x, pad, constant_values=ident)
    v = v.reshape(x.shape[:axis] + (nb, _TPU_BLOCK) + x.shape[axis + 1:])
    within = _NATIVE[op](v, axis=axis + 1, reverse=reverse)
    inclusive = _NATIVE[op](_REDUCE[op](v, axis=axis + 1), axis=axis, reverse=reverse)
    # Exclusive: shift the block totals by one block, the identity entering at the start.
    pad = [(0, 0)] * x.ndim
    pad[axis] = (0, 1) if reverse else (1, 0)
    shifted = jnp.pad(inclusive, pad, constant_values=ident)
    start = 1 if reverse else 0
    exclusive = lax.slice_in_dim(shifted, start, start + nb, axis=axis)
    out = op(within, jnp.expand_dims(exclusive, axis + 1))
    out = out.reshape(x.shape[:axis] + (nb * _TPU_BLOCK,) + x.shape[axis + 1:])
    return lax.slice_in_dim(out, 0, n, axis=axis)
