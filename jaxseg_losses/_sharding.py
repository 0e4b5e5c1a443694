"""Sharding helpers shared by the losses and the distance transform."""

from __future__ import annotations

import jax


def explicit_sharding_spec(x: jax.Array) -> jax.P | None:
    """The PartitionSpec of ``x`` when some axis is sharded over an Explicit mesh, else None."""
    sharding = jax.typeof(x).sharding
    mesh = getattr(sharding, "mesh", None)
    if mesh is None or not getattr(mesh, "axis_names", ()):
        return None
    explicit = jax.sharding.AxisType.Explicit
    if not any(t == explicit for t in getattr(mesh, "axis_types", ())):
        return None
    spec = tuple(sharding.spec) + (None,) * (x.ndim - len(sharding.spec))
    return jax.P(*spec) if any(entry is not None for entry in spec) else None
