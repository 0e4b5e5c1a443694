r"""The asymmetric unified focal family (Yeung et al., Comput. Med. Imaging Graph. 2022): the
asymmetric focal loss and the unified loss, the weighted sum of the asymmetric focal and
asymmetric focal Tversky losses (the latter, a region loss, is
:func:`jaxseg_losses.region.asymmetric_focal_tversky_loss`).

"Asymmetric": the background is *suppressed* (focal modulation on its cross-entropy, a plain
Tversky term) while the foreground is *enhanced* (plain cross-entropy, a focal Tversky term with
exponent :math:`1 - \gamma < 1`). Roles, for every mode:

* ``"multiclass"`` (softmax, ``C >= 2``): class 0 is the background, classes ``1..C-1`` are
  foreground; the class average runs over the ``C`` classes (the paper's multiclass form; MONAI
  implements the binary case only).
* ``"binary"`` / ``"multilabel"`` (sigmoid): each channel is a two-class problem whose
  background has probability :math:`1 - p` and target :math:`1 - y`; the average runs over the
  ``2C`` (background, foreground) pairs. For ``"binary"`` this is exactly MONAI's two-channel
  ``[1 - p, p]`` expansion.

Defaults follow MONAI (``delta=0.7`` everywhere; ``gamma=2`` for the focal loss, ``0.75`` for the
focal Tversky loss, ``0.5`` for the unified loss, ``focal_weight=0.5``: MONAI's ``weight``),
which match the authors' code except its unified default ``delta=0.6``. MONAI clamps
probabilities to ``[1e-7, 1 - 1e-7]``; here log-probabilities come from
``log_softmax``/``log_sigmoid`` (no clamping needed), which agrees with MONAI to float32
precision away from saturated outputs.

Known MONAI quirk (1.6.1): ``AsymmetricUnifiedFocalLoss``'s docstring asks for logits, but its
code applies no sigmoid; pass it probabilities to compare.
"""

from __future__ import annotations

import jax

from jaxseg_losses._inputs import (
    Mode,
    boolean_options,
    check_number,
    renamed_options,
)
from jaxseg_losses.region._unified_focal import (
    DEFAULT_SMOOTH,
    AsymmetricRoles,
    check_delta_gamma,
    focal_term,
    per_example,
    prepare_inputs,
    tversky_term,
)

__all__ = (
    "asymmetric_focal_loss",
    "asymmetric_unified_focal_loss",
)


@boolean_options
def asymmetric_focal_loss(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    mode: Mode = "multiclass",
    from_logits: bool = True,
    delta: float = 0.7,
    gamma: float = 2.0,
    per_image: bool = True,
    axis_name: str | None = None,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
) -> jax.Array:
    r"""Asymmetric focal loss (Yeung et al. 2022, Eq. 14): focal on the background only.

    .. math::
        \ell(x) = \frac{1}{K}\Big[\sum_{k \in bg} -(1-\delta)\,(1-q_k)^\gamma\,t_k\log q_k
                 + \sum_{k \in fg} -\delta\,t_k \log q_k\Big],\qquad
        L = \frac{\sum_x v\,\ell(x)}{\sum_x v}

    with :math:`q, t` the probabilities and targets of the :math:`K` classes and their roles as
    in the module docstring. Equals MONAI ``AsymmetricFocalLoss(delta, gamma)`` on the
    two-channel ``[1 - p, p]`` expansion (binary mode), per example.

    Empty masks: a perfect prediction gives 0 (also on an empty truth); a fully masked example
    gives 0 with zero gradient.

    Args:
      predictions: ``(B, *spatial, C)`` logits (or probabilities with ``from_logits=False``).
      labels: ``(B, *spatial)`` integer class indices or ``(B, *spatial, C)`` one-hot/soft targets.
      mode: ``"multiclass"`` (default, softmax), ``"multilabel"`` or ``"binary"`` (sigmoid).
      from_logits: whether ``predictions`` are logits. Default ``True``.
      delta: foreground weight :math:`\delta \in [0, 1]`; the background gets
        :math:`1 - \delta`. Default 0.7.
      gamma: focusing exponent :math:`\gamma \ge 0` of the background term. Default 2.
      per_image: ``True`` (default) mean over each example's pixels; ``False`` over the batch.
      axis_name: ``shard_map`` axis for ``per_image=False``. Default ``None``.
      mask: optional ``(B, *spatial)`` pixel weights. Default ``None``.
      ignore_index: integer label excluded from value and gradient. Default ``None``.

    Returns:
      ``(B,)`` float32 losses.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.pixelwise import asymmetric_focal_loss
      >>> probs = jnp.full((1, 1, 1, 1), 0.5)  # one pixel, p = 0.5, foreground
      >>> # foreground term 0.7 log 2, background term 0 (its target is 0), over K = 2
      >>> asymmetric_focal_loss(probs, jnp.ones((1, 1, 1), int), mode="binary", from_logits=False)
      Array([0.24260151], dtype=float32)
    """
    check_delta_gamma(delta, gamma, tversky=False)
    prep = prepare_inputs(predictions, labels, mode, from_logits, mask, ignore_index)
    loss = focal_term(prep, AsymmetricRoles(prep), delta, gamma, per_image, axis_name)
    return per_example(loss, prep)


@renamed_options(weight="focal_weight")
@boolean_options
def asymmetric_unified_focal_loss(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    mode: Mode = "multiclass",
    from_logits: bool = True,
    focal_weight: float = 0.5,
    delta: float = 0.7,
    gamma: float = 0.5,
    smooth: float | tuple[float, float] = DEFAULT_SMOOTH,
    per_image: bool = True,
    axis_name: str | None = None,
    mask: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
) -> jax.Array:
    r"""Asymmetric unified focal loss (Yeung et al. 2022, Eq. 20).

    .. math::
        L = \lambda\,L_{aF}(\delta, \gamma) + (1 - \lambda)\,L_{aFT}(\delta, \gamma)

    :func:`asymmetric_focal_loss` and :func:`asymmetric_focal_tversky_loss` sharing
    :math:`\delta` and :math:`\gamma`, as in the paper (one :math:`\gamma` both suppresses the
    background of the focal term and enhances the foreground of the Tversky term). Defaults are
    MONAI's ``AsymmetricUnifiedFocalLoss`` (``weight=0.5`` (here ``focal_weight``),
    ``delta=0.7, gamma=0.5``; the authors' code uses ``delta=0.6``). Equals MONAI's binary loss
    (given probabilities, see the module note) per example.

    Empty masks: a perfect prediction gives 0; a fully masked example gives 0.

    Args:
      predictions, labels, mode, from_logits, smooth, per_image, axis_name, mask, ignore_index:
        as in :func:`asymmetric_focal_tversky_loss`.
      focal_weight: :math:`\lambda \in [0, 1]`, the focal term's weight (the focal Tversky
        term gets :math:`1 - \lambda`). Default 0.5. Renamed from ``weight`` (still accepted,
        with a ``DeprecationWarning``, until the next release).
      delta: :math:`\delta \in [0, 1]`. Default 0.7.
      gamma: :math:`\gamma \in [0, 1)`. Default 0.5.

    Returns:
      ``(B,)`` float32 losses.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.pixelwise import asymmetric_unified_focal_loss
      >>> labels = jnp.array([[[0, 1], [2, 0]]])
      >>> logits = 50.0 * jnp.eye(3)[labels]  # confident and right
      >>> asymmetric_unified_focal_loss(logits, labels)
      Array([0.], dtype=float32)
    """
    check_number("focal_weight", focal_weight, high=1.0)
    check_delta_gamma(delta, gamma, tversky=True)
    prep = prepare_inputs(predictions, labels, mode, from_logits, mask, ignore_index)
    def terms(predictions):
        with_preds = prep._replace(predictions=predictions)
        roles = AsymmetricRoles(with_preds)
        return (focal_term(with_preds, roles, delta, gamma, per_image, axis_name),
                tversky_term(with_preds, roles, delta, gamma, smooth, per_image, axis_name))

    # Sigmoid modes: the backward pass recomputes the per-pixel terms from the logits instead of
    # keeping three arrays of their size (issue 29: 3.5x -> 2.0x the logits on an H100 at
    # (2, 96, 96, 96, 1)); with softmax the recomputation would take more memory, not less.
    focal, tversky = (terms if prep.mode == "multiclass" else jax.checkpoint(terms))(
        prep.predictions)
    return per_example(focal_weight * focal + (1.0 - focal_weight) * tversky, prep)
