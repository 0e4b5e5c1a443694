r"""Connected components of batched 2-D and 3-D masks, inside the compiled step.

:func:`connected_components` labels the foreground of every image of a ``(B, *spatial)`` batch:
the same label maps as ``scipy.ndimage.label`` (with the matching structuring element) and
``cc3d.connected_components``, numbered exactly as SciPy numbers them (in raster order of each
component's first element), and the number of components per image.

Algorithm
---------
Union-find without a host-side stack: every foreground element ``u`` keeps a parent pointer
``f[u]``, a raster index in its own component with ``f[u] <= u``; the component's label is its
smallest raster index, which every pointer reaches at the end. Start: each row run (along the
last axis) points to its first element, one cumulative maximum. Each round (FastSV, Zhang, Azad
and Hu, "FastSV: A distributed-memory connected component algorithm with fast convergence",
SIAM PP 2020), with ``g = f[f]`` the grandparents and ``m[u]`` the smallest ``g`` among ``u``'s
foreground neighbours (shifted slices, no gather):

* stochastic hooking ``f[f[u]] = min(f[f[u]], m[u])`` (one scatter-min),
* aggressive hooking ``f[u] = min(f[u], m[u])``,
* shortcutting ``f[u] = min(f[u], g[u])`` (pointer jumping).

Pointers only decrease and stay in their component. The loop stops when every tree is a star
(``g == f``) and no edge joins two stars (``m >= f`` on the foreground): then each component is
one star rooted at its smallest index, whatever the number of rounds (no convergence is
assumed). A final cumulative sum over the roots gives SciPy's consecutive numbering.

Cost: each round is one gather, one segment-minimum (a scatter) and the neighbour minimum (a
separable box minimum for the full neighbourhood), a few fused kernels on GPU/TPU. The rounds
run in one ``lax.while_loop`` whose stop depends on the data; XLA:GPU reads such a loop's
condition on the host once per iteration, so GPU and TPU run ``_ROUNDS_PER_CHECK`` = 4 rounds
per test (at most 3 idle rounds; CPU tests every round). Pointer jumping and hooking whole trees
make the round count grow like the logarithm of the longest path through a component, not its
length: measured 9 rounds on random blobs, 16-19 on one-element-wide spirals and serpentines of
256^2-512^2 (paths of 33k-130k elements), where label propagation needs one per element of the
path. Compiled for an H100 at (8, 256, 256): one while loop, 8-10 kernel launches, 4-6 CUDA
graphs and 4-6 host syncs per call (``benchmarks/components.py --tools``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from jaxseg_losses._neighbourhood import neighbour_offsets, nonzero_components, shifted
from jaxseg_losses._numerics import in_row_pieces
from jaxseg_losses._scans import running

__all__ = ["connected_components"]

_NONE = jnp.iinfo(jnp.int32).max  # "no neighbour": larger than every raster index
# GPU/TPU: rounds per test of the stop condition. XLA:GPU reads the condition of a loop without
# a known trip count on the host (one sync, 10-30 us) per iteration; a round is one CUDA graph
# of ~9 kernels. Testing every 4th round cuts the syncs 4x for at most 3 idle rounds.
_ROUNDS_PER_CHECK = 4


def connected_components(
    mask: ArrayLike, *, connectivity: int | None = None
) -> tuple[jax.Array, jax.Array]:
    r"""Label the connected components of the foreground of each image of a batch.

    Two foreground elements are connected when a chain of foreground neighbours joins them;
    neighbours differ by an offset :math:`d \in \{-1, 0, 1\}^n \setminus \{0\}` with at most
    :math:`m` non-zero components, :math:`m` given by ``connectivity`` as a neighbour count
    (the spelling of ``connected-components-3d`` and of this library's adjacency loss):

    ========  ===========================  ==============================================
    spatial   ``connectivity``             SciPy / scikit-image equivalent
    ========  ===========================  ==============================================
    2-D       4, 8 (default ``None`` = 8)  ``generate_binary_structure(2, 1 | 2)``
    3-D       6, 18, 26 (``None`` = 26)    ``generate_binary_structure(3, 1 | 2 | 3)``
    ========  ===========================  ==============================================

    The default is the full neighbourhood, as ``cc3d`` (26) and ``skimage.measure.label``, the
    tools the blob loss and lesion-wise metrics use; ``scipy.ndimage.label`` defaults to the
    cross (4 / 6): pass ``connectivity=4`` or ``6`` for that.

    Labels are 0 on the background and ``1..n`` on the ``n`` components of each image,
    numbered in raster (C) order of each component's first element, which is SciPy's
    numbering: ``labels[b]`` equals ``scipy.ndimage.label(mask[b], structure)[0]`` exactly.
    Images are labelled independently (the numbering restarts at 1 in every image). An empty
    image gets all zeros and count 0. The algorithm (union-find rounds of hooking and pointer
    jumping in one ``lax.while_loop``, FastSV) is described in the module docstring.

    Args:
        mask: ``(B, *spatial)`` array of bool, int or float with 1 to 3 (or more) spatial axes;
            non-zero = foreground. The leading axis is the batch.
        connectivity: neighbour count (see the table) or ``None`` (default) for the full
            neighbourhood.

    Returns:
        ``(labels, counts)``: int32 ``labels`` of ``mask.shape`` and int32 ``counts`` of shape
        ``(B,)``, the number of components of each image. Integer outputs: no gradient.

    Raises:
        ValueError: rank < 2 (no batch or no spatial axis), a ``connectivity`` that does not
            exist for the number of spatial axes, or more than 2**31 - 2 elements.

    Works under ``jit`` and ``vmap`` (``connectivity`` must be a Python int).

    Example:
        >>> import jax.numpy as jnp
        >>> m = jnp.array([[[1, 1, 0, 0],
        ...                 [0, 0, 1, 0],
        ...                 [1, 0, 0, 1]]])
        >>> labels, counts = connected_components(m)
        >>> labels[0].tolist(), counts.tolist()
        ([[1, 1, 0, 0], [0, 0, 1, 0], [2, 0, 0, 1]], [2])
        >>> labels, counts = connected_components(m, connectivity=4)
        >>> labels[0].tolist(), counts.tolist()
        ([[1, 1, 0, 0], [0, 0, 2, 0], [3, 0, 0, 4]], [4])
    """
    mask = jnp.asarray(mask)
    if mask.ndim < 2:
        raise ValueError(
            "mask must have a batch axis and at least one spatial axis, i.e. shape "
            f"(B, *spatial) with rank >= 2; received shape {mask.shape}"
        )
    nonzero = nonzero_components(connectivity, mask.ndim - 1)
    if mask.size >= _NONE:
        raise ValueError(
            f"mask has {mask.size} elements; connected_components indexes them in int32 and "
            f"takes at most {_NONE - 1}: label the batch in parts"
        )
    labels, counts, _ = _label(mask.astype(bool), nonzero)  # != 0, for bool masks too
    return labels, counts


def _neighbour_min(g: jax.Array, fg: jax.Array, nonzero: int) -> jax.Array:
    """``min over d of g[u + d]`` over the foreground neighbours ``u + d`` of each foreground
    element (``_NONE`` where there is none and on the background), from shifted slices of one
    padded array. The full box is separable (3 slices per axis instead of 8 / 26 shifts).
    Both forms include ``u`` itself, which changes no round (``g[u] = f[f[u]]`` is already the
    shortcut's value, and the stop test asks ``g == f`` anyway) and makes ``m <= g`` on the
    foreground (:func:`_hook`)."""
    spatial = g.shape[1:]
    values = jnp.where(fg, g, _NONE)
    if nonzero == len(spatial):
        for axis in range(1, g.ndim):
            pad = [(0, 0)] * g.ndim
            pad[axis] = (1, 1)
            padded = jnp.pad(values, pad, constant_values=_NONE)
            n = g.shape[axis]
            values = functools.reduce(jnp.minimum, [
                lax.slice_in_dim(padded, k, k + n, axis=axis) for k in range(3)])
        return jnp.where(fg, values, _NONE)
    padded = jnp.pad(values, [(0, 0)] + [(1, 1)] * len(spatial), constant_values=_NONE)
    out = values
    for d in neighbour_offsets(len(spatial), nonzero):
        out = jnp.minimum(out, shifted(padded, d, spatial))
    return jnp.where(fg, out, _NONE)


@functools.partial(jax.jit, static_argnames=("nonzero",))
def _label(fg: jax.Array, nonzero: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Labels, counts and the number of rounds (for the benchmarks) of a boolean batch."""
    batch, spatial = fg.shape[0], fg.shape[1:]
    if fg.size == 0:
        return jnp.zeros(fg.shape, jnp.int32), jnp.zeros((batch,), jnp.int32), jnp.int32(0)
    index = lax.iota(jnp.int32, fg.size).reshape(fg.shape)  # raster index over the batch
    last = fg.ndim - 1
    # Row runs along the last axis point to their first element: stars from the start.
    previous = jnp.pad(lax.slice_in_dim(fg, 0, fg.shape[last] - 1, axis=last),
                       [(0, 0)] * last + [(1, 0)])
    starts = running(jnp.maximum, jnp.where(fg & ~previous, index, -1), last)
    parent = jnp.where(fg, starts, index).reshape(-1)

    def one_round(f):
        g = f[f]
        m = _neighbour_min(g.reshape(fg.shape), fg, nonzero).reshape(-1)
        settled = jnp.all(g == f) & jnp.all(m >= f)
        return lax.platform_dependent(
            f, m, cuda=_hook_in_place, rocm=_hook_in_place,
            tpu=functools.partial(_hook, image=fg[0].size), default=_hook), settled

    def rounds_loop(f, per_check):
        """Rounds until settled, ``per_check`` of them per loop iteration (one stop test)."""
        def body(state):
            f, _, rounds = state
            for _ in range(per_check - 1):
                f, _ = one_round(f)
            f, settled = one_round(f)
            return f, settled, rounds + per_check

        state = (f, jnp.bool_(False), jnp.int32(0))
        f, _, rounds = lax.while_loop(lambda state: ~state[1], body, state)
        return f, rounds

    parent, rounds = lax.platform_dependent(
        parent,
        cpu=functools.partial(rounds_loop, per_check=1),
        default=functools.partial(rounds_loop, per_check=_ROUNDS_PER_CHECK),
    )
    flat_fg = fg.reshape(-1)
    roots = flat_fg & (parent == index.reshape(-1))
    rank = _inclusive_count(roots.reshape(batch, -1, spatial[-1]))
    labels = jnp.where(flat_fg, rank.reshape(-1)[parent], 0).reshape(fg.shape)
    return labels, rank[:, -1, -1], rounds


def _hook(f: jax.Array, m: jax.Array, image: int | None = None) -> jax.Array:
    """One round's new pointers: stochastic hooking (a segment minimum into a fresh array; the
    in-place ``f.at[f].min(m)``, operand = indices, took 13 ms instead of 1.2 on XLA:CPU),
    aggressive hooking and shortcutting. ``min(f, m)`` is all of the last two: on the
    foreground ``m <= g <= f`` (``m``'s box includes ``u``; pointers only decrease), on the
    background ``m`` is ``_NONE``."""
    return jnp.minimum(jnp.minimum(f, m), _segment_min(m, f, image))


def _hook_in_place(f: jax.Array, m: jax.Array) -> jax.Array:
    """:func:`_hook` for XLA:GPU, as a scatter-minimum onto ``t = min(f, m)`` with ``t`` as the
    updates (``t = m`` on the foreground; a background element, its own parent, updates itself
    with itself): three int32 arrays of the batch at a time, not five (the fresh segment
    minimum's output and ``g`` alive beside ``f``, ``m`` and ``t``: H100 temporaries of the
    multiclass blob loss 5.2 -> 3.4x the logits at (2, 96, 96, 96, 14); issue 29)."""
    t = jnp.minimum(f, m)
    return t.at[f].min(t, mode="promise_in_bounds")


def _segment_min(m: jax.Array, f: jax.Array, image: int | None = None) -> jax.Array:
    """``segment_min(m, f)`` over all the elements, or with ``image`` in pieces of whole images
    of that many elements (`in_row_pieces`; no pointer leaves its image). XLA:TPU implements the
    segment minimum as a sort of all the elements, whose code generation took most of the
    multiclass blob loss's 18 s compile at (4, 128, 128, 150) (596 planes, 9.8M elements); in
    pieces: 8.3 s (issue 29)."""
    def piece(start, stop):
        return jax.ops.segment_min(m[start:stop], f[start:stop] - start,
                                   num_segments=stop - start)

    size = f.shape[0]
    return piece(0, size) if image is None else in_row_pieces(piece, size, image)


def _inclusive_count(x: jax.Array) -> jax.Array:
    """Running count of ``x`` (B, rows, cols) in raster order per image, in two levels (along
    the rows, then over the row totals): one cumulative sum over a whole 3-D image took
    128 MiB of temporary on XLA:TPU at (2, 64, 64, 64)."""
    within = running(jnp.add, x.astype(jnp.int32), 2)
    before = running(jnp.add, within[:, :, -1], 1) - within[:, :, -1]
    return within + before[:, :, None]
