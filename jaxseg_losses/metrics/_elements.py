r"""Surface elements: the contour (2-D) or surface (3-D) of a mask as pieces on the grid of
voxel corners, each with its length / area (Nikolov et al. 2021; DeepMind ``surface-distance``).

The masks are padded with one background voxel on every side; each point of the corner grid
(``n + 1`` points per axis, between the voxels) sees a ``2 x 2`` (``2 x 2 x 2``) block of voxels
and its *neighbour code* (bit ``k`` set when corner ``k`` of the block is inside; corner ``k``
has offsets given by the binary digits of ``k``, the first axis the most significant). A block
that is neither empty nor full holds a piece of the surface, the isocontour at 1/2 of the mask:

* 2-D (marching squares): segments between the midpoints of the block's edges whose two
  corners differ; a block with two diagonal inside corners holds two segments, each cutting one
  inside corner off. Its length under the spacing ``s`` is the length of the scaled segments.
* 3-D (marching cubes): on each face of the cube the same segments, the ambiguous faces cut
  off the corners of the minority (the inside corners when at most 4 of the 8 are inside, else
  the outside ones); the segments close into polygons, each cut into a fan of triangles. A
  triangle with area vector :math:`n` (unit spacing) has area
  :math:`\lVert (s_1 s_2 n_0, s_0 s_2 n_1, s_0 s_1 n_2) \rVert` under the spacing ``s`` (the
  cofactor of the scaling).

Which vertex a non-planar polygon (pentagons and hexagons) is fanned from changes its area; the
classic marching-cubes triangulation, which DeepMind's table follows, fixes it per cube
configuration, so :data:`_FAN_STARTS` records the fan's first vertex for each polygon of each
code. It was found by matching that table's areas (``surface_distance.lookup_tables``) with
:func:`_triangle_vectors` at several anisotropic spacings (the search is rerun by
``tests/test_metrics_surface.py``, which also checks all 256 codes
against ``surface_distance``). Everything else here is derived from the definition above.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

# Per 3-D code: one digit per polygon (in the order of :func:`_polygons`), the index of the
# vertex its fan starts from. Planar polygons (triangles, quads, regular hexagons) take any.
_FAN_STARTS = (
    " 0 0 0 0 0 00 2 0 00 0 2 0 2 2 0 0 0 00 0 00 1 000 0 00 00 00 0 00 1 20 2 0 00 0 1 00 "
    "00 00 1 00 000 1 0 00 20 1 2 0 1 1 0 00 2 10 0 00 00 2 1 00 00 00 0 0 00 00 00 0 0 00 "
    "0 00 000 00 20 0 0 0 2 0 0 00 2 0 0 00 1 00 10 00 00 2 0 00 0 00 000 00 10 00 00 00 00"
    " 000 0000 10 000 00 000 00 00 2 0 0 1 1 0 00 0 02 000 00 00 00 00 00 0 0 00 00 00 00 0"
    "0 000 20 0 00 0 1 1 0 0 2 00 00 000 00 000 10 0000 000 00 00 00 00 10 00 000 00 0 00 0"
    " 2 00 00 00 00 1 01 0 0 2 00 0 0 2 0 0 0 02 00 000 00 0 00 0 0 00 00 00 0 0 00 00 00 1"
    " 2 01 00 0 00 2 00 0 1 1 0 2 1 02 00 0 1 000 00 1 00 00 00 1 0 00 0 2 02 1 00 0 00 00 "
    "00 0 000 1 00 0 00 0 0 0 2 2 0 2 0 00 0 2 00 0 0 0 0 0 "
)


def _corners(dims: int) -> list[tuple[int, ...]]:
    """Corner ``k`` of the unit block: the binary digits of ``k`` (first axis most significant)."""
    return [tuple((k >> (dims - 1 - a)) & 1 for a in range(dims)) for k in range(2**dims)]


def _inside(code: int, corner: tuple[int, ...]) -> bool:
    index = int("".join(map(str, corner)), 2)
    return bool((code >> index) & 1)


def _midpoint(p, q) -> tuple[float, ...]:
    return tuple((a + b) / 2 for a, b in zip(p, q, strict=True))


def _square_segments(code: int, cycle, cut_inside: bool) -> list[tuple]:
    """Marching squares on one square, its corners ``cycle`` in order around it."""
    inside = [_inside(code, p) for p in cycle]
    sides = [(cycle[i], cycle[(i + 1) % 4]) for i in range(4)]
    crossing = [i for i in range(4) if inside[i] != inside[(i + 1) % 4]]
    if len(crossing) == 2:
        return [(_midpoint(*sides[crossing[0]]), _midpoint(*sides[crossing[1]]))]
    if len(crossing) == 4:  # two diagonal corners: cut each corner of one kind off
        return [(_midpoint(*sides[(i - 1) % 4]), _midpoint(*sides[i]))
                for i in range(4) if inside[i] == cut_inside]
    return []


def _faces() -> list[list[tuple[int, ...]]]:
    """The six faces of the unit cube, each as its four corners in order around it."""
    faces = []
    for axis in range(3):
        others = [a for a in range(3) if a != axis]
        for value in (0, 1):
            cycle = []
            for x, y in ((0, 0), (0, 1), (1, 1), (1, 0)):
                p = [0, 0, 0]
                p[axis], p[others[0]], p[others[1]] = value, x, y
                cycle.append(tuple(p))
            faces.append(cycle)
    return faces


def _polygons(code: int) -> list[list[tuple[float, ...]]]:
    """The closed polygons of the surface in a cube with neighbour ``code``."""
    cut_inside = bin(code).count("1") <= 4
    neighbours: dict[tuple, list[tuple]] = {}
    for face in _faces():
        for a, b in _square_segments(code, face, cut_inside):
            neighbours.setdefault(a, []).append(b)
            neighbours.setdefault(b, []).append(a)
    seen: set[tuple] = set()
    polygons = []
    for start in neighbours:
        if start in seen:
            continue
        polygon, current = [start], start
        seen.add(start)
        while True:
            following = [v for v in neighbours[current] if v not in seen]
            if not following:
                break
            current = following[0]
            polygon.append(current)
            seen.add(current)
        polygons.append(polygon)
    return polygons


def _triangle_vectors(code: int, starts: str | None = None) -> np.ndarray:
    """Area vectors (unit spacing) of the fan triangles of every polygon, ``(T, 3)``."""
    vectors = []
    for j, polygon in enumerate(_polygons(code)):
        k = int(starts[j]) if starts else 0
        ring = np.asarray(polygon[k:] + polygon[:k], np.float64)
        for i in range(1, len(ring) - 1):
            vectors.append(0.5 * np.cross(ring[i] - ring[0], ring[i + 1] - ring[0]))
    return np.asarray(vectors, np.float64).reshape(-1, 3)


@functools.lru_cache(maxsize=1)
def _unit_vectors(dims: int) -> tuple[np.ndarray, ...]:
    """Per code: the segment vectors (2-D) or triangle area vectors (3-D) at unit spacing."""
    if dims == 2:
        cycle = [(0, 0), (0, 1), (1, 1), (1, 0)]
        out = []
        for code in range(16):
            segments = _square_segments(code, cycle, cut_inside=True)
            out.append(np.asarray([np.subtract(b, a) for a, b in segments],
                                  np.float64).reshape(-1, 2))
        return tuple(out)
    starts = _FAN_STARTS.split(" ")
    return tuple(_triangle_vectors(code, starts[code]) for code in range(256))


@functools.lru_cache(maxsize=64)
def element_sizes(spacing: tuple[float, ...]) -> np.ndarray:
    """Length (2-D, 16 codes) or area (3-D, 256 codes) of the surface piece of each neighbour
    code under the voxel ``spacing``, float64."""
    dims = len(spacing)
    if dims not in (2, 3):
        raise ValueError(f"surface='elements': defined for 2-D and 3-D images; got {dims} "
                         "spatial axes")
    s = np.asarray(spacing, np.float64)
    scale = s if dims == 2 else np.array([s[1] * s[2], s[0] * s[2], s[0] * s[1]])
    return np.array([np.linalg.norm(v * scale, axis=-1).sum() for v in _unit_vectors(dims)])


def neighbour_codes(masks: jax.Array) -> jax.Array:
    """``(B, *spatial, C)`` boolean masks -> int32 ``(B, *(spatial + 1), C)`` neighbour codes of
    the corner grid (the masks padded with background on every side): a weighted sum of the
    ``2**d`` shifted slices."""
    dims = masks.ndim - 2
    pad = [(0, 0)] + [(1, 1)] * dims + [(0, 0)]
    padded = jnp.pad(masks.astype(jnp.int32), pad)
    size = [n + 1 for n in masks.shape[1:-1]]
    code = jnp.zeros((masks.shape[0], *size, masks.shape[-1]), jnp.int32)
    for k, corner in enumerate(_corners(dims)):
        start = (0, *corner, 0)
        limit = (masks.shape[0], *(c + n for c, n in zip(corner, size, strict=True)),
                 masks.shape[-1])
        code = code + (jax.lax.slice(padded, start, limit) << k)
    return code


def surface_elements(masks: jax.Array, spacing: tuple[float, ...]) -> jax.Array:
    """float32 ``(B, *(spatial + 1), C)``: the length / area of the surface element at each
    point of the corner grid (0 where the block is empty or full, or off the surface)."""
    table = jnp.asarray(element_sizes(tuple(float(v) for v in spacing)), jnp.float32)
    return jnp.take(table, neighbour_codes(masks), axis=0)
