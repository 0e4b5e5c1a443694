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
    """Per-"class" arrays with background/foreground roles, all ``(B, *spatial, K)``."""

    def __init__(self, prep: Prepared):
        if prep.mode == "multiclass":
            self.q = prepared_probabilities(prep)
            self.one_minus_q = jnp.clip(1.0 - self.q, 0.0, 1.0)
            self.log_q = log_p(prep)
            self.t = prep.targets
            self.background = jnp.arange(prep.num_classes) == 0
        else:  # sigmoid: (background = 1 - p, foreground = p) per channel
            p = prepared_probabilities(prep)
            not_p = jax.nn.sigmoid(-prep.predictions) if prep.from_logits else 1.0 - p
            self.q = jnp.concatenate([not_p, p], axis=-1)
            self.one_minus_q = jnp.concatenate([p, not_p], axis=-1)
            self.log_q = jnp.concatenate([log_not_p(prep), log_p(prep)], axis=-1)
            y = prep.targets
            self.t = jnp.concatenate([1.0 - y, y], axis=-1)
            c = prep.num_classes
            self.background = jnp.arange(2 * c) < c


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
        ce = -roles.t * roles.log_q
        background = (1.0 - delta) * safe_power(roles.one_minus_q, gamma) * ce
        pixel = jnp.mean(jnp.where(roles.background, background, delta * ce), axis=-1)
    v = prep.valid
    agg = functools.partial(aggregate, per_image=per_image, axis_name=axis_name)
    return safe_divide(agg((v * pixel)[..., None])[..., 0], agg(v[..., None])[..., 0])


def tversky_term(prep: Prepared, roles: AsymmetricRoles, delta, gamma, smooth, per_image,
                  axis_name) -> jax.Array:
    nr, dr = smooth_pair(smooth)
    stats = soft_statistics(
        roles.q, roles.t, prep.valid[..., None], per_image=per_image, axis_name=axis_name
    )
    index = tversky_index(stats, 1.0 - delta, delta, nr, dr)
    one_minus = jnp.maximum(1.0 - index, 0.0)
    per_class = jnp.where(roles.background, one_minus, safe_power(one_minus, 1.0 - gamma))
    return jnp.mean(per_class, axis=-1)


def per_example(loss: jax.Array, prep: Prepared) -> jax.Array:
    return jnp.broadcast_to(loss, (prep.predictions.shape[0],))
