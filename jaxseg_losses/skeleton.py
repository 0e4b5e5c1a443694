r"""Hard, topology-preserving skeletons of batched masks on device (2-D and 3-D).

:func:`skeletonize` thins every object of a boolean mask to a one-pixel-wide skeleton with the
same topology (components, holes; in 3-D also tunnels and cavities), inside ``jit``, the way
``skimage.morphology.skeletonize`` does on the host.

2-D: Zhang & Suen's parallel thinning (1984), two subiterations per pass, each a parallel
update driven by a 256-entry table of the 8-neighbourhood. The table is the one of
scikit-image's ``_fast_skeletonize`` (BSD-3-Clause, scikit-image developers): it differs from
the textbook Zhang-Suen conditions on 25 of the 256 configurations, and with it the result is
equal to ``skimage.morphology.skeletonize`` (``method="zhang"``, its 2-D default) pixel for
pixel; the tests check this on blobs, rings, bars and random masks.

3-D: Lee, Kashyap & Chu (1994), the algorithm of ``skimage.morphology.skeletonize`` for 3-D
(``method="lee"``). Each pass visits the six border directions (scikit-image's order: -y, +y,
+x, -x, +z, -z, axes ``(z, y, x)`` = ``(D, H, W)``); in each it collects the candidates (object
points whose neighbour in that direction is background, that are not line ends and that are
simple) and then deletes them one by one, each re-checked for simplicity on the current
image. That re-check is sequential; here it is run as eight parallel steps over the eight
parity subfields of the grid (``(z % 2, y % 2, x % 2)``). Points of one subfield are not
26-adjacent, and whether a point is simple depends only on its 26-neighbourhood, so deleting
the simple candidates of one subfield at once is the same as deleting them one after another:
the result is exactly Lee's algorithm with the candidates visited subfield by subfield instead
of in raster order. The order changes which of two equivalent points survives, so the skeleton
can differ from scikit-image's by a few voxels (one voxel apart, same number of components and
the same Euler number on the test shapes; numbers in ``tests/test_skeleton.py``). One
difference by design: the re-check uses the full simple-point test (scikit-image re-checks only
that the neighbours stay one 26-component, which can delete a point that opens a tunnel).

Simple points (26-connected objects, 6-connected background) are tested without the 26-bit
neighbourhood tables: with each voxel a closed unit cube, a point ``p`` is simple iff the
intersection ``K`` of its cube with the cubes of its object neighbours is contractible, and
for a subcomplex of the cube's surface (a 2-sphere) that holds iff ``K`` is connected and its
Euler characteristic ``V - E + F`` (covered cube vertices, edges and faces) is 1. ``K`` is
connected iff its covered vertices are connected by its covered edges (a graph on the cube's
8 corners, resolved by 7 rounds of min-label propagation). The Euler term is Lee's condition 1
(Euler invariance, his table of :math:`\delta G_{26}`), the connectivity his conditions 2-3.

Iterations and accelerators. The number of passes grows with the half-thickness of the
thickest object. On CPU and TPU the passes run in a ``lax.while_loop`` that stops when a pass
changes nothing (on TPU the predicate stays on the device). On XLA:GPU a loop without a known
trip count costs a device-to-host copy per iteration, so there the loop runs exactly
``max_iterations`` passes (a ``fori_loop`` with a known trip count; passes after convergence
change nothing). ``max_iterations`` defaults to ``ceil(max side / 2) + 1``, more than any object
inside the image needs; on a GPU pass the half-thickness of the thickest structure (plus one)
to save the idle passes. If it stops thinning before convergence, the result is a thicker but
still topology-preserving thinning.

Compiled for a described H100 / TPU v5e (``benchmarks/centerline_accelerator.py``, compiler
estimates): (8, 256, 256) 2-D, 129 fixed passes on the H100: 389 kernel launches, no host
synchronisation, 1 MiB temporaries; v5e one on-device ``while``, about 5 ms for the 6 passes the
benchmark's vessels need. (2, 64, 64, 64) 3-D, 33 fixed passes: 993 launches plus 3,201
CUDA-graph launches (each pass: 6 directions x (8 candidate subfields + 8 sequential re-checks)),
no host synchronisation, 2 MiB temporaries, estimated 19-42 ms; v5e 4 on-device loops, about
410 ms for 8 passes (its dynamic slices of the subfields are slow there). Those figures predate
the neighbour slices' starts computed per axis on GPU/TPU (issue 29): at (2, 96, 96, 96, 14)
value+grad of the skeleton recall loss went from 305,143 kernels in 4,755 CUDA graphs to 18,101
in 2 on the H100, and XLA:TPU's estimate from 910 to 582 ms.

No gradient: the output is boolean (the input passes through ``lax.stop_gradient``).
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxseg_losses._numerics import per_platform

__all__ = ("skeletonize",)

# Zhang-Suen removal table of scikit-image's ``_fast_skeletonize`` (BSD-3-Clause), indexed by
# NW + 2 N + 4 NE + 8 E + 16 SE + 32 S + 64 SW + 128 W: 1 = removable in the first subiteration,
# 2 = in the second, 3 = in both, 0 = kept.
_ZHANG_TABLE = np.array([
    0, 0, 0, 1, 0, 0, 1, 3, 0, 0, 3, 1, 1, 0, 1, 3, 0, 0, 0, 0, 0, 0,
    0, 0, 2, 0, 2, 0, 3, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 3, 0, 2, 2, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 2, 0,
    0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 3, 0, 2, 0, 0, 0, 3, 1,
    0, 0, 1, 3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 1, 3, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 3, 1, 3, 0, 0,
    1, 3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 2, 3, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3,
    0, 1, 0, 0, 0, 0, 2, 2, 0, 0, 2, 0, 0, 0,
], dtype=np.uint8)
# (dy, dx) of the bits of the table index, bit k has weight 2**k.
_ZHANG_BITS = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))
# The removal sets of the two subiterations as 256-bit masks over the table index, in eight
# uint32 words: read with a select and a shift instead of a gather, which XLA:TPU lowers to a
# (pixels, 256) one-hot comparison (512 MiB of temporaries at 8 x 256 x 256).
_ZHANG_REMOVE = tuple(
    np.packbits(np.isin(_ZHANG_TABLE, kinds), bitorder="little").view("<u4").astype(np.uint32)
    for kinds in ((1, 3), (2, 3))
)

# Lee's six border directions in scikit-image's order, as (spatial axis, step).
_LEE_DIRECTIONS = ((1, -1), (1, 1), (2, 1), (2, -1), (0, 1), (0, -1))
_OFFSETS = tuple(d for d in itertools.product((-1, 0, 1), repeat=3) if d != (0, 0, 0))
_CORNERS = tuple(itertools.product((-1, 1), repeat=3))
_PARITIES = tuple(itertools.product((0, 1), repeat=3))


def _cube_edges() -> tuple[tuple[int, int, tuple], ...]:
    """The 12 edges of the unit cube: (corner index, corner index, the offsets of the voxels
    other than the centre that contain the edge)."""
    edges = []
    for i, u in enumerate(_CORNERS):
        for j, v in enumerate(_CORNERS):
            diff = [k for k in range(3) if u[k] != v[k]]
            if i < j and len(diff) == 1:
                k = diff[0]
                ranges = [(0,) if a == k else (0, u[a]) for a in range(3)]
                owners = tuple(d for d in itertools.product(*ranges) if d != (0, 0, 0))
                edges.append((i, j, owners))
    return tuple(edges)


_EDGES = _cube_edges()


def _any(planes: list[jax.Array]) -> jax.Array:
    out = planes[0]
    for plane in planes[1:]:
        out = out | plane
    return out


def _simple_and_endpoint(nb: dict) -> tuple[jax.Array, jax.Array]:
    """Simple-point and line-end tests of the centre from its 26 neighbours (``nb[offset]``,
    bool planes): simple iff the centre cube's contact complex K is connected with
    V - E + F == 1; a line end has exactly one neighbour."""
    corners = [
        _any([nb[d] for d in itertools.product(*[(0, s) for s in c]) if d != (0, 0, 0)])
        for c in _CORNERS
    ]
    edges = [_any([nb[d] for d in owners]) for _, _, owners in _EDGES]
    faces = [nb[d] for d in _OFFSETS if sum(map(abs, d)) == 1]
    count = lambda planes: sum(p.astype(jnp.int32) for p in planes)  # noqa: E731
    euler = count(corners) - count(edges) + count(faces)
    # Min-label propagation over the covered edges; 7 rounds span any path on 8 corners.
    big = len(_CORNERS)
    labels = [jnp.where(c, i, big) for i, c in enumerate(corners)]
    for _ in range(len(_CORNERS) - 1):
        new = list(labels)
        for (i, j, _), e in zip(_EDGES, edges, strict=True):
            new[i] = jnp.where(e, jnp.minimum(new[i], labels[j]), new[i])
            new[j] = jnp.where(e, jnp.minimum(new[j], labels[i]), new[j])
        labels = new
    smallest = labels[0]
    for lab in labels[1:]:
        smallest = jnp.minimum(smallest, lab)
    connected = ~_any([c & (lab != smallest) for c, lab in zip(corners, labels, strict=True)])
    endpoint = count([nb[d] for d in _OFFSETS]) == 1
    return (euler == 1) & connected, endpoint


def _to_subfields(x: jax.Array) -> jax.Array:
    """``(B, D, H, W)`` -> ``(B, 2, 2, 2, D', H', W')`` (parity-major; odd sides padded)."""
    pad = [(0, 0)] + [(0, n % 2) for n in x.shape[1:]]
    x = jnp.pad(x, pad)
    # XLA:TPU lays the reshapes' (.., W', 2) out with the 2 on its 128 lanes: skeleton recall's
    # temporaries at (2, 96, 96, 96, 1) were 17x the logits. There, strided slices and interior
    # padding instead (1.7x; both are needed, and they cost 5 s more compile; issue 29).
    return lax.platform_dependent(x, tpu=_to_subfields_strided, default=_to_subfields_reshaped)


def _to_subfields_reshaped(x: jax.Array) -> jax.Array:
    b, halves = x.shape[0], [n // 2 for n in x.shape[1:]]
    x = x.reshape(b, halves[0], 2, halves[1], 2, halves[2], 2)
    return x.transpose(0, 2, 4, 6, 1, 3, 5)


def _to_subfields_strided(x: jax.Array) -> jax.Array:
    fields = [lax.slice(x, (0,) + parity, x.shape, (1, 2, 2, 2)) for parity in _PARITIES]
    return jnp.stack(fields, axis=1).reshape((x.shape[0], 2, 2, 2) + fields[0].shape[1:])


def _from_subfields(s: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    x = lax.platform_dependent(s, tpu=_from_subfields_dilated, default=_from_subfields_reshaped)
    return x[:, : shape[1], : shape[2], : shape[3]]


def _from_subfields_reshaped(s: jax.Array) -> jax.Array:
    b, _, _, _, d, h, w = s.shape
    return s.transpose(0, 4, 1, 5, 2, 6, 3).reshape(b, 2 * d, 2 * h, 2 * w)


def _from_subfields_dilated(s: jax.Array) -> jax.Array:
    """Each subfield spread by interior padding to its parity's places, the eight or-ed."""
    fields = [
        lax.pad(s[:, i, j, k], jnp.zeros((), s.dtype),
                [(0, 0, 0), (i, 1 - i, 1), (j, 1 - j, 1), (k, 1 - k, 1)])
        for i, j, k in _PARITIES
    ]
    return _any(fields)


def _neighbours(padded: jax.Array, parity: jax.Array) -> dict:
    """The 26 neighbour planes ``(B, D', H', W')`` of the points of subfield ``parity`` (a traced
    ``(3,)`` int), read from the subfield array padded by one (zeros) on its spatial axes."""
    b, _, _, _, d, h, w = padded.shape
    starts = per_platform(parity, cpu=_starts_per_offset, accelerator=_starts_per_axis)
    return {off: lax.dynamic_slice(padded, start, (b, 1, 1, 1, d - 2, h - 2, w - 2))[:, 0, 0, 0]
            for off, start in zip(_OFFSETS, starts, strict=True)}


def _starts_per_offset(parity: jax.Array) -> tuple:
    """The slice starts of the neighbours at ``_OFFSETS``: each neighbour's subfield
    ``(parity + offset) mod 2`` and its shift ``(parity + offset) // 2`` in half-steps."""
    starts = []
    for off in _OFFSETS:
        q = parity + jnp.asarray(off)
        src, shift = q % 2, q // 2
        starts.append((0, src[0], src[1], src[2], 1 + shift[0], 1 + shift[1], 1 + shift[2]))
    return tuple(starts)


def _starts_per_axis(parity: jax.Array) -> tuple:
    """The same starts from the three scalars of ``parity``: per axis, (subfield, shift) is
    (p, 0), (1 - p, p) or (1 - p, p - 1) for the steps 0, +1, -1. GPU/TPU form: XLA:GPU ran the
    per-offset arithmetic as ~55 scalar kernels per loop step (95 % of the 3-D skeleton's
    kernels); XLA:CPU runs the per-offset form 4 % faster (issue 29)."""
    p = [parity[axis] for axis in range(3)]
    choices = [{0: (p[a], 0), 1: (1 - p[a], p[a]), -1: (1 - p[a], p[a] - 1)} for a in range(3)]
    starts = []
    for off in _OFFSETS:
        (src_0, shift_0), (src_1, shift_1), (src_2, shift_2) = (
            choices[a][step] for a, step in enumerate(off))
        starts.append((0, src_0, src_1, src_2, 1 + shift_0, 1 + shift_1, 1 + shift_2))
    return tuple(starts)


def _pad_spatial(s: jax.Array) -> jax.Array:
    return jnp.pad(s, [(0, 0)] * 4 + [(1, 1)] * 3)


def _lee_direction(s: jax.Array, direction: jax.Array) -> jax.Array:
    """One border direction of Lee's pass: candidates from the image at its start, then the
    eight subfields deleted in turn, each candidate re-checked for simplicity."""
    parities = jnp.asarray(_PARITIES, jnp.int32)
    face_offsets = [tuple(step if a == axis else 0 for a in range(3))
                    for axis, step in _LEE_DIRECTIONS]

    def candidates(parity):
        nb = _neighbours(_pad_spatial(s), parity)
        centre = lax.dynamic_slice(s, (0, parity[0], parity[1], parity[2], 0, 0, 0),
                                   (s.shape[0], 1, 1, 1) + s.shape[4:])[:, 0, 0, 0]
        border = ~jnp.stack([nb[f] for f in face_offsets])[direction]
        simple, endpoint = _simple_and_endpoint(nb)
        return centre & border & simple & ~endpoint

    cand = lax.map(candidates, parities)  # (8, B, D', H', W')

    def delete(state, inputs):
        parity, cand_p = inputs
        simple, _ = _simple_and_endpoint(_neighbours(_pad_spatial(state), parity))
        start = (0, parity[0], parity[1], parity[2], 0, 0, 0)
        centre = lax.dynamic_slice(state, start, (state.shape[0], 1, 1, 1) + state.shape[4:])
        kept = centre & ~(cand_p & simple)[:, None, None, None]
        return lax.dynamic_update_slice(state, kept, start), None

    s, _ = lax.scan(delete, s, (parities, cand))
    return s


def _lee_pass(s: jax.Array) -> jax.Array:
    def body(state, direction):
        return _lee_direction(state, direction), None

    s, _ = lax.scan(body, s, jnp.arange(len(_LEE_DIRECTIONS)))
    return s


def _zhang_pass(x: jax.Array) -> jax.Array:
    """Both Zhang-Suen subiterations on ``(B, H, W)`` bool."""
    b, h, w = x.shape
    for remove_set in _ZHANG_REMOVE:
        padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1)))
        index = sum(
            lax.slice(padded, (0, 1 + dy, 1 + dx), (b, 1 + dy + h, 1 + dx + w)).astype(jnp.int32)
            << k
            for k, (dy, dx) in enumerate(_ZHANG_BITS)
        )
        word = jnp.uint32(remove_set[0])
        for k in range(1, len(remove_set)):
            word = jnp.where((index >> 5) == k, jnp.uint32(remove_set[k]), word)
        x = x & ((word >> (index & 31).astype(jnp.uint32)) & 1 == 0)
    return x


def _iterate(step, x: jax.Array, max_iterations: int) -> jax.Array:
    """``step`` repeated until nothing changes (CPU, TPU) or exactly ``max_iterations`` times
    (GPU: a known trip count, no host round trip per iteration)."""

    def until_stable(x):
        def cond(state):
            i, _, changed = state
            return changed & (i < max_iterations)

        def body(state):
            i, x, _ = state
            new = step(x)
            return i + 1, new, jnp.any(new != x)

        return lax.while_loop(cond, body, (jnp.int32(0), x, jnp.bool_(True)))[1]

    def fixed(x):
        return lax.fori_loop(0, max_iterations, lambda _, x: step(x), x)

    return lax.platform_dependent(x, cuda=fixed, rocm=fixed, default=until_stable)


def skeletonize(masks: jax.typing.ArrayLike, *, max_iterations: int | None = None) -> jax.Array:
    r"""Topology-preserving skeleton of a batch of 2-D or 3-D masks (no gradient).

    2-D ``(B, H, W)``: Zhang & Suen's thinning ("A fast parallel algorithm for thinning digital
    patterns", CACM 1984) with scikit-image's table, equal to ``skimage.morphology.skeletonize``
    pixel for pixel. 3-D ``(B, D, H, W)``: Lee, Kashyap & Chu ("Building skeleton models via 3-D
    medial surface/axis thinning algorithms", CVGIP 1994), the 3-D algorithm of scikit-image,
    with its sequential re-check run subfield by subfield (see the module docstring: same
    topology, a few voxels may differ from scikit-image). Objects touching the image border are
    thinned as if the image were padded with background (as scikit-image does).

    Args:
      masks: ``(B, H, W)`` or ``(B, D, H, W)`` masks of any dtype; non-zero is foreground. A
        single image needs its batch axis (``masks[None]``).
      max_iterations: the most thinning passes (static int >= 0). Default ``None``:
        ``ceil(max spatial side / 2) + 1``. CPU and TPU stop as soon as a pass changes
        nothing; XLA:GPU runs exactly this many passes (no host synchronisation).

    Returns:
      bool array of ``masks.shape``: the skeleton. An empty mask gives an empty skeleton; an
      isolated pixel stays.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.skeleton import skeletonize
      >>> bar = jnp.zeros((1, 5, 7), bool).at[0, 1:4, 1:6].set(True)
      >>> skeletonize(bar)[0].astype(int)  # as skimage.morphology.skeletonize(bar[0])
      Array([[0, 0, 0, 0, 0, 0, 0],
             [0, 0, 0, 0, 1, 0, 0],
             [0, 1, 1, 1, 0, 0, 0],
             [0, 0, 0, 0, 0, 0, 0],
             [0, 0, 0, 0, 0, 0, 0]], dtype=int32)
    """
    masks = lax.stop_gradient(jnp.asarray(masks))
    if masks.ndim not in (3, 4):
        raise ValueError(
            "masks: expected shape (B, H, W) or (B, D, H, W) (a leading batch axis and 2 or 3 "
            f"spatial axes); got shape {tuple(masks.shape)}"
        )
    if max_iterations is None:
        max_iterations = -(-max(masks.shape[1:]) // 2) + 1
    elif not isinstance(max_iterations, int | np.integer) or isinstance(max_iterations, bool):
        raise TypeError(
            f"max_iterations: expected an int or None; got {type(max_iterations).__name__}"
        )
    elif max_iterations < 0:
        raise ValueError(f"max_iterations: expected a value >= 0; got {max_iterations}")
    x = masks.astype(bool)  # != 0, for bool masks too
    if x.size == 0:
        return x
    if x.ndim == 3:
        return _iterate(_zhang_pass, x, int(max_iterations))
    s = _iterate(_lee_pass, _to_subfields(x), int(max_iterations))
    return _from_subfields(s, x.shape)
