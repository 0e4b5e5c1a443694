"""Per-object sums in static shapes: the components of each (example, class) plane, and sums of
values over each component (or each pair of components) by one ``segment_sum`` with a bound on
the number of objects. Shared by the blob loss and the object-level metrics.

The number of components is data-dependent; the arrays are not. A plane with ``K`` allowed
objects gets ``K + 1`` segments (0: background, ``1..K``: the components in SciPy's numbering);
a plane with more than ``K`` components is *over the bound*: its excess components are summed
into segment ``K`` and the caller must not use the plane's result (the callers raise eagerly,
record a checkify check under ``jit``, and give NaN for the example otherwise).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from jaxseg_losses._inputs import value_check
from jaxseg_losses.components import connected_components


def plane_components(
    masks: jax.Array, connectivity: int | None
) -> tuple[jax.Array, jax.Array]:
    """Components of every class plane of bool ``(B, *spatial, C)`` masks.

    Returns ``(labels, counts)``: int32 ``(B, C, *spatial)`` labels (0 background, ``1..n``)
    and ``(B, C)`` counts. No gradient (integer outputs of a ``stop_gradient``-ed mask).
    """
    masks = lax.stop_gradient(masks)
    batch, classes = masks.shape[0], masks.shape[-1]
    planes = jnp.moveaxis(masks, -1, 1).reshape((batch * classes,) + masks.shape[1:-1])
    labels, counts = connected_components(planes, connectivity=connectivity)
    return (labels.reshape((batch, classes) + masks.shape[1:-1]),
            counts.reshape(batch, classes))


def segment_sums(ids: jax.Array, values: jax.Array, num_segments: int) -> jax.Array:
    """Sums of ``values`` ``(R, *spatial, Q)`` over the pixels of each segment id ``(R,
    *spatial)`` (ids in ``[0, num_segments)``, per row ``R``) -> ``(R, num_segments, Q)``: one
    scatter-add over the flattened rows."""
    rows = ids.shape[0]
    offset = (jnp.arange(rows, dtype=jnp.int32) * num_segments).reshape(
        (rows,) + (1,) * (ids.ndim - 1))
    flat = (ids + offset).reshape(-1)
    summed = jax.ops.segment_sum(values.reshape(flat.shape + values.shape[ids.ndim:]), flat,
                                 num_segments=rows * num_segments, indices_are_sorted=False)
    return summed.reshape((rows, num_segments) + values.shape[ids.ndim:])


def bounded(labels: jax.Array, bound: int) -> jax.Array:
    """Component labels clipped to the bound: components beyond it fall into segment ``bound``."""
    return jnp.minimum(labels, bound)


def check_counts(counts: jax.Array, bound: int, name: str) -> jax.Array:
    """``(B, ...)`` component counts against the bound: ``ValueError`` naming ``name`` on
    concrete input, a checkify check under tracing; returns bool ``(B,)``: the examples within
    the bound (the callers put NaN elsewhere)."""
    within = jnp.all(counts.reshape(counts.shape[0], -1) <= bound, axis=1)
    value_check(jnp.all(within),
                f"{name}: an image has {{count}} connected components, more than "
                f"{name}={bound}; raise {name}", count=jnp.max(counts))
    return within


__all__ = ["bounded", "check_counts", "plane_components", "segment_sums"]
