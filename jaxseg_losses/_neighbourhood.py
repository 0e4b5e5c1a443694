"""Pixel neighbourhoods shared by the adjacency loss and the connected components.

``connectivity`` is spelled as a neighbour count everywhere (as ``connected-components-3d``):
4 or 8 in 2-D, 6, 18 or 26 in 3-D, ``None`` for the full box (8 / 26, as scikit-image's
default). A neighbour count ``k`` corresponds to the offsets in {-1, 0, 1}^n with 1 to
``m`` non-zero components (scikit-image's ``connectivity=m``).
"""

from __future__ import annotations

import itertools
import math

import jax


def connectivity_levels(num_spatial: int) -> dict[int, int]:
    """Neighbour count -> largest number of non-zero offset components, e.g. 2D {4: 1, 8: 2}."""
    levels, total = {}, 0
    for nonzero in range(1, num_spatial + 1):
        total += math.comb(num_spatial, nonzero) * 2**nonzero
        levels[total] = nonzero
    return levels


def nonzero_components(connectivity: int | None, num_spatial: int) -> int:
    """The largest number of non-zero components of a neighbour offset for ``connectivity``
    (``None``: all ``num_spatial``); ``ValueError`` naming ``connectivity`` for a count that
    does not exist in ``num_spatial`` dimensions."""
    levels = connectivity_levels(num_spatial)
    if connectivity is None:
        return num_spatial
    if isinstance(connectivity, bool) or connectivity not in levels:
        raise ValueError(
            f"connectivity: expected one of {tuple(levels)} for {num_spatial} spatial axes "
            f"(or None for the full {max(levels)}-neighbourhood); got {connectivity!r}"
        )
    return levels[connectivity]


def neighbour_offsets(num_spatial: int, nonzero: int) -> tuple[tuple[int, ...], ...]:
    """Neighbour offsets in {-1, 0, 1}^n with 1 to ``nonzero`` non-zero components."""
    return tuple(
        d
        for d in itertools.product((-1, 0, 1), repeat=num_spatial)
        if 0 < sum(map(abs, d)) <= nonzero
    )


def shifted(padded: jax.Array, offset: tuple[int, ...], spatial: tuple[int, ...]) -> jax.Array:
    """``out[b, x] = array[b, x + offset]`` from an array padded by 1 on every
    spatial axis (with zeros, or any value that means "outside")."""
    window = tuple(slice(1 + d, 1 + d + s) for d, s in zip(offset, spatial, strict=True))
    index = (slice(None),) + window
    return padded[index]
