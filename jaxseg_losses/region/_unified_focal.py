r"""The shared pieces of the asymmetric unified focal family (Yeung et al., Comput. Med. Imaging
Graph. 2022): the background / foreground roles, the asymmetric focal (cross-entropy) term and
the asymmetric focal Tversky term. The losses are
:func:`jaxseg_losses.pixelwise.asymmetric_focal_loss`,
:func:`jaxseg_losses.region.asymmetric_focal_tversky_loss` and
:func:`jaxseg_losses.pixelwise.asymmetric_unified_focal_loss`; the roles per mode are described
in :mod:`jaxseg_losses.pixelwise.unified_focal`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxseg_losses._activations import (
    label_log_p,
    log_not_p,
    log_p,
    prepared_probabilities,
)
from jaxseg_losses._inputs import (
    Prepared,
    check_number,
    prepare,
)
from jaxseg_losses._numerics import safe_divide, safe_power
from jaxseg_losses.region._engine import aggregate, smooth_pair, soft_statistics, tversky_index

# MONAI's and the authors' smoothing of the Tversky term.
DEFAULT_SMOOTH = 1e-7


class AsymmetricRoles:
    """The ``K`` "classes" with background/foreground roles, as ``parts``: tuples ``(q, 1 - q,
    log q, t, background)`` of ``(B, *spatial, K_i)`` arrays and a ``(K_i,)`` flag. Softmax: one
    part, the classes. Sigmoid modes: two parts, the background ``1 - p`` and the foreground
    ``p`` of every channel (``K = 2C``), kept apart, not concatenated: no ``(B, *spatial, 2C)``
    copies (issue 29)."""

    def __init__(self, prep: Prepared):
        if prep.mode == "multiclass":
            q = prepared_probabilities(prep)
            background = jnp.arange(prep.num_classes) == 0
            self.parts = [(q, jnp.clip(1.0 - q, 0.0, 1.0), log_p(prep), prep.targets, background)]
        else:  # sigmoid: (background = 1 - p, foreground = p) per channel
            p = prepared_probabilities(prep)
            not_p = jax.nn.sigmoid(-prep.predictions) if prep.from_logits else 1.0 - p
            y, c = prep.targets, prep.num_classes
            self.parts = [(not_p, p, log_not_p(prep), 1.0 - y, jnp.ones(c, bool)),
                          (p, not_p, log_p(prep), y, jnp.zeros(c, bool))]
        self.count = sum(part[0].shape[-1] for part in self.parts)
        self.background = jnp.concatenate([part[4] for part in self.parts])


def check_delta_gamma(delta, gamma, *, tversky: bool) -> None:
    check_number("delta", delta, high=1.0)
    if tversky:
        check_number("gamma", gamma)
        if gamma >= 1:
            raise ValueError(
                f"gamma: expected a value in [0, 1) (the foreground exponent is 1 - gamma); "
                f"got {gamma}"
            )
    else:
        check_number("gamma", gamma)


def prepare_inputs(predictions, labels, mode, from_logits, mask, ignore_index) -> Prepared:
    return prepare(
        predictions, labels, mode=mode, from_logits=from_logits, mask=mask,
        ignore_index=ignore_index,
    )


def focal_term(
    prep: Prepared, roles: AsymmetricRoles, delta, gamma, per_image, axis_name
) -> jax.Array:
    log_pt = label_log_p(prep) if prep.mode == "multiclass" else None
    if log_pt is not None:
        # Integer labels and logits: only the labelled class has a term, so work per pixel on
        # log p_y (XLA:TPU's code generation time grows with the elementwise work over the
        # (B, *spatial, C) tensor: v5e compile at C = 150 several times that at C = 4 with the
        # per-class chain below). 1 - p_y = -expm1(log p_y); ignored pixels have log p_y = 0.
        ce = -log_pt
        one_minus_pt = jnp.clip(-jnp.expm1(log_pt), 0.0, 1.0)
        background = (1.0 - delta) * safe_power(one_minus_pt, gamma) * ce
        pixel = jnp.where(prep.class_index == 0, background, delta * ce) / prep.num_classes
    else:
        pixel = 0.0
        for _, one_minus_q, log_q, t, is_background in roles.parts:
            ce = -t * log_q
            background = (1.0 - delta) * safe_power(one_minus_q, gamma) * ce
            pixel = pixel + jnp.sum(jnp.where(is_background, background, delta * ce), axis=-1)
        pixel = pixel / roles.count
    v = prep.valid
    agg = functools.partial(aggregate, per_image=per_image, axis_name=axis_name)
    return safe_divide(agg((v * pixel)[..., None])[..., 0], agg(v[..., None])[..., 0])


def tversky_term(prep: Prepared, roles: AsymmetricRoles, delta, gamma, smooth, per_image,
                  axis_name) -> jax.Array:
    nr, dr = smooth_pair(smooth)
    index = jnp.concatenate([
        tversky_index(soft_statistics(q, t, prep.valid[..., None], per_image=per_image,
                                      axis_name=axis_name), 1.0 - delta, delta, nr, dr)
        for q, _, _, t, _ in roles.parts
    ], axis=-1)
    one_minus = jnp.maximum(1.0 - index, 0.0)
    per_class = jnp.where(roles.background, one_minus, safe_power(one_minus, 1.0 - gamma))
    return jnp.mean(per_class, axis=-1)


def per_example(loss: jax.Array, prep: Prepared) -> jax.Array:
    return jnp.broadcast_to(loss, (prep.predictions.shape[0],))
