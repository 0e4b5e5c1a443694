r"""Losses for noisy labels: the bi-tempered logistic loss and the T-loss.

* :func:`bi_tempered_loss` (Amid et al., NeurIPS 2019): a Bregman divergence with two
  temperatures, bounded for :math:`t_1 < 1` (outliers far from the boundary cost at most a
  constant) and with a heavy-tailed tempered softmax for :math:`t_2 > 1`. A pixel-wise mean, as
  the losses of :mod:`jaxseg_losses.pixelwise.cross_entropies`.
* :func:`t_loss` (Gonzalez-Jimenez et al., MICCAI 2023): the negative log-likelihood of a
  multivariate Student-t over the residuals of an example, whose degrees of freedom
  :math:`\nu` are learned with the network.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from jaxseg_losses._activations import (
    PROB_EPS,
    log_softmax,
    prepared_probabilities,
    shifted_log_total,
    small_class_planes,
    softmax,
)
from jaxseg_losses._inputs import (
    Mode,
    boolean_options,
    check_number,
    is_concrete,
    prepare,
    value_check,
)
from jaxseg_losses._numerics import keep_classes, reduce_pixels, safe_divide, safe_power

__all__ = ("bi_tempered_loss", "tempered_softmax", "t_loss")

# The authors' iteration count of the fixed-point normalisation (t2 > 1; jax-bitempered-loss).
FIXED_POINT_ITERATIONS = 5
# Bisection steps for t2 < 1: the bracket [0, -log_t(1/K)] halves each step, so 30 steps reach
# float32 resolution (the authors' JAX package uses 5, which leaves the probabilities summing to
# 1 only within a few percent).
BISECTION_ITERATIONS = 30


def _log_t(u: jax.Array, t: float) -> jax.Array:
    """The tempered logarithm :math:`\\log_t u = (u^{1-t} - 1)/(1 - t)` (``log`` at t = 1)."""
    if t == 1.0:
        return jnp.log(u)
    return (_power(u, 1.0 - t) - 1.0) / (1.0 - t)


def _power(u: jax.Array, exponent: float) -> jax.Array:
    """``u ** exponent`` for ``u >= 0``: finite gradient at 0 for a positive exponent (a
    negative one is used only where ``u >= 1``: the base of ``exp_t`` for t > 1, or the sum of
    such powers). ``exp(e log u)``, not XLA's ``pow``, as in ``safe_power``."""
    if exponent >= 0:
        return safe_power(u, exponent)
    return jnp.exp(exponent * jnp.log(u))


def _exp_t_power(x: jax.Array, t: float, exponent: float) -> jax.Array:
    """:math:`[1 + (1-t)x]_+^{e}`: a power of :math:`\\exp_t x` (t != 1)."""
    return _power(_exp_t_base(x, t), exponent)


def _exp_t_base(x: jax.Array, t: float) -> jax.Array:
    """:math:`[1 + (1-t)x]_+`, whose power :math:`1/(1-t)` is :math:`\\exp_t x` (t != 1)."""
    return jnp.maximum(1.0 + (1.0 - t) * x, 0.0)


def _class_sum(x: jax.Array) -> jax.Array:
    """Sum over the last (class) axis, keepdims: plane by plane for a short class axis (XLA:CPU
    reduces a short minor axis several times slower than it adds planes; see _activations)."""
    planes = small_class_planes(x)
    if planes is None:
        return jnp.sum(x, axis=-1, keepdims=True)
    return functools.reduce(jnp.add, planes)[..., None]


def _class_max(x: jax.Array) -> jax.Array:
    planes = small_class_planes(x)
    if planes is None:
        return jnp.max(x, axis=-1, keepdims=True)
    return functools.reduce(jnp.maximum, planes)[..., None]


# The classes of one softmax as a tuple of parts whose last axes hold them: ``(a,)`` for a
# (..., K) array, ``(0, z)`` planes of shape (..., 1) for a sigmoid channel's two classes. The
# two planes are never stacked into a (..., 2) array: stacked, XLA:GPU kept 2-class copies of the
# activations and targets for the backward pass (8.25x the logits at (2, 96, 96, 96, 1)).
Parts = tuple[jax.Array, ...]


def _parts_sum(parts: Parts) -> jax.Array:
    """Sum over every class of ``parts`` (keepdims)."""
    return functools.reduce(jnp.add, [_class_sum(part) for part in parts])


def _parts_max(parts: Parts) -> jax.Array:
    return functools.reduce(jnp.maximum, [_class_max(part) for part in parts])


def _normaliser_iterations(parts: Parts, t: float, iterations: int) -> jax.Array:
    """:math:`\\lambda` with :math:`\\sum_k \\exp_t(a_k - \\lambda) = 1` over the classes
    (keepdims): the authors' fixed point for t > 1, a bisection for t < 1, both with a static
    trip count (``fori_loop``: a loop of known trip count, so no host round trip per step on an
    accelerator; unrolling 30 bisections made the CPU compile take minutes)."""
    shift = _parts_max(parts)
    shifted = [part - shift for part in parts]
    exponent = 1.0 / (1.0 - t)
    if t > 1.0:
        # The authors' step a <- a0 * Z(a)^(1-t), Z(a) = sum_k exp_t(a_k), scales every class by
        # one factor per pixel: the loop carries that factor, not the (..., K) activations (the
        # same products, so the same values). Their 5 steps unrolled: the steps fuse with the
        # activations' shift instead of keeping it for a loop (H100 temporaries at
        # (2, 96, 96, 96, 1): 5.0 -> 2.25x the logits; kernels 29 -> 16 at C = 14).
        def total(scale):
            return _parts_sum([_exp_t_power(a0 * scale, t, exponent) for a0 in shifted])

        scale = jax.lax.fori_loop(0, iterations, lambda _, scale: _power(total(scale), 1.0 - t),
                                  jnp.ones_like(shift), unroll=min(iterations,
                                                                   FIXED_POINT_ITERATIONS))
        return -_log_t(1.0 / total(scale), t) + shift
    # t < 1: finite support; the normaliser lies in [0, -log_t(1 / K_eff)].
    effective = _parts_sum([(a0 > -exponent).astype(a0.dtype) for a0 in shifted])
    upper = -_log_t(1.0 / effective, t)

    def bisect(_, bracket):
        low, high = bracket
        middle = 0.5 * (low + high)
        total = _parts_sum([_exp_t_power(a0 - middle, t, exponent) for a0 in shifted])
        below = total < 1.0
        return jnp.where(below, low, middle), jnp.where(below, middle, high)

    low, high = jax.lax.fori_loop(0, iterations, bisect, (jnp.zeros_like(upper), upper))
    return 0.5 * (low + high) + shift


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def _tempered_normaliser(parts: Parts, t: float, iterations: int) -> jax.Array:
    return _normaliser_iterations(parts, t, iterations)


@_tempered_normaliser.defjvp
def _tempered_normaliser_jvp(t, iterations, primals, tangents):
    # Implicit differentiation of sum_k exp_t(a_k - lambda) = 1 (exp_t' = exp_t^t): the
    # derivative is the escort distribution p^t / sum p^t, whatever the iterations did. This is
    # the gradient of the authors' custom VJP.
    (parts,), (d_parts,) = primals, tangents
    normaliser = _tempered_normaliser(parts, t, iterations)
    escort = [_exp_t_power(a - normaliser, t, t / (1.0 - t)) for a in parts]
    weighted = _parts_sum([e * da for e, da in zip(escort, d_parts, strict=True)])
    return normaliser, weighted / _parts_sum(escort)


def _check_temperature(name: str, t, strict: bool = True) -> float:
    check_number(name, t, strict=strict)
    if not is_concrete(t):
        raise TypeError(f"{name}: expected a static Python number (it selects the "
                        "computation); got a traced value")
    return float(t)


def _iterations(iterations: int | None, t2: float) -> int:
    if iterations is None:
        return FIXED_POINT_ITERATIONS if t2 > 1.0 else BISECTION_ITERATIONS
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"iterations: expected a positive int or None; got {iterations!r}")
    return iterations


def tempered_softmax(
    activations: jax.typing.ArrayLike, *, t: float, iterations: int | None = None
) -> jax.Array:
    r"""Tempered softmax over the last axis (Amid et al., NeurIPS 2019, Eq. 12).

    .. math::
        p_k = \exp_t(a_k - \lambda(a)),\qquad \exp_t(x) = [1 + (1-t)x]_+^{1/(1-t)},\qquad
        \sum_k p_k = 1

    ``t = 1`` is the softmax. :math:`\lambda` has no closed form: for ``t > 1`` the authors'
    fixed-point iteration (``iterations`` steps, default 5 as theirs), for ``t < 1`` a bisection
    (default 30 steps); its gradient is exact by implicit differentiation (the escort
    distribution :math:`p^t / \sum_k p_k^t`), not the derivative of the iterations.

    Args:
      activations: ``(..., K)`` float array (logits).
      t: temperature :math:`t > 0`, a static Python number.
      iterations: iterations of the normalisation; ``None`` (default): 5 (t > 1) or 30 (t < 1).

    Returns:
      ``(..., K)`` float32 probabilities.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.pixelwise.noisy_labels import tempered_softmax
      >>> tempered_softmax(jnp.array([0.0, 0.0]), t=1.5)
      Array([0.5, 0.5], dtype=float32)
    """
    t = _check_temperature("t", t)
    a = jnp.asarray(activations, jnp.float32)
    if t == 1.0:
        return softmax(a)
    normaliser = _tempered_normaliser((a,), t, _iterations(iterations, t))
    return _exp_t_power(a - normaliser, t, 1.0 / (1.0 - t))


def _bi_tempered_sum(parts: Parts, targets: Parts, t1: float, t2: float, iterations: int
                     ) -> jax.Array:
    """The bi-tempered loss summed over the classes of activations ``parts`` (keepdims)."""
    if t2 == 1.0:
        if len(parts) == 1:
            log_ps = [log_softmax(parts[0])]  # the library's: no Triton softmax fusion on XLA:GPU
        else:
            shift, log_total = shifted_log_total(list(parts))
            log_ps = [a - shift - log_total for a in parts]
        powers = [(log_p, jnp.exp((1.0 - t1) * log_p), jnp.exp((2.0 - t1) * log_p))
                  for log_p in log_ps]
    else:  # powers of p = u^(1/(1-t2)) taken from u: finite gradients where p = 0 (t2 < 1)
        normaliser = _tempered_normaliser(parts, t2, iterations)
        powers = []
        for a in parts:
            x = a - normaliser
            powers.append((jnp.log(_exp_t_base(x, t2)) / (1.0 - t2) if t1 == 1.0 else None,
                           _exp_t_power(x, t2, (1.0 - t1) / (1.0 - t2)),
                           _exp_t_power(x, t2, (2.0 - t1) / (1.0 - t2))))
    return _parts_sum([_tempered_divergence(y, *power, t1)
                       for y, power in zip(targets, powers, strict=True)])


def _tempered_divergence(y, log_p, power_1, power_2, t1: float) -> jax.Array:
    r""":math:`y(\log_{t_1} y - \log_{t_1} p) - (y^{2-t_1} - p^{2-t_1})/(2-t_1)` from
    :math:`p^{1-t_1}`, :math:`p^{2-t_1}` (and :math:`\log p` at :math:`t_1 = 1`)."""
    log_t_p = log_p if t1 == 1.0 else (power_1 - 1.0) / (1.0 - t1)
    if t1 == 1.0:  # y log y, 0 at y = 0
        label_term = jnp.where(y > 0, y * jnp.log(jnp.where(y > 0, y, 1.0)), 0.0)
    else:
        label_term = y * _log_t(y, t1)
    return (label_term - y * log_t_p
            - (safe_power(y, 2.0 - t1) - power_2) / (2.0 - t1))


@boolean_options
def bi_tempered_loss(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    t1: float = 0.8,
    t2: float = 1.2,
    mode: Mode = "multiclass",
    from_logits: bool = True,
    label_smoothing: float = 0.0,
    iterations: int | None = None,
    ignore_index: int | None = None,
    mask: jax.typing.ArrayLike | None = None,
    reduction: str = "example",
) -> jax.Array:
    r"""Bi-tempered logistic loss (Amid, Warmuth, Anil & Koren, "Robust Bi-Tempered Logistic
    Loss Based on Bregman Divergences", NeurIPS 2019, Eq. 13).

    Per pixel, with :math:`p = \mathrm{tempered\_softmax}_{t_2}(z)` (:func:`tempered_softmax`)
    and :math:`\log_t u = (u^{1-t}-1)/(1-t)`:

    .. math::
        \ell(x) = \sum_c \Big[ y_c\,(\log_{t_1} y_c - \log_{t_1} p_c)
                  - \tfrac{1}{2-t_1}\,(y_c^{2-t_1} - p_c^{2-t_1}) \Big]

    averaged over the valid pixels of each example. :math:`t_1 < 1` bounds the loss (robust to
    mislabelled pixels far from the boundary), :math:`t_2 > 1` gives the softmax heavy tails
    (robust to label noise near it); :math:`t_2 < 1` gives it finite support. At
    :math:`t_1 = t_2 = 1` it is the KL divergence :math:`\sum_c y_c \log(y_c / p_c)`: the
    :func:`jaxseg_losses.cross_entropy` for one-hot labels (soft labels:
    cross-entropy minus the labels' entropy). It is 0 where :math:`p = y`.

    The normalisation :math:`\lambda` of the tempered softmax is computed as in the authors'
    code (``jax-bitempered-loss``; their ``num_iters`` is ``iterations`` here): fixed-point
    steps for :math:`t_2 > 1` (default 5, theirs), a bisection for :math:`t_2 < 1` (default 30;
    theirs uses 5, pass ``iterations=5`` for their numbers), in a ``fori_loop`` of static trip
    count. The gradient is the authors' (their custom VJP): :math:`\lambda` is differentiated
    implicitly, so the gradient is exact for the normalised softmax whatever the iteration count.

    Sigmoid modes (``"binary"``, ``"multilabel"``): each channel is a two-class problem with
    activations :math:`(0, z)` and targets :math:`(1-y, y)` (the authors' binary loss, i.e.
    the tempered sigmoid), averaged over the channels.

    Args:
      predictions: ``(B, *spatial, C)`` logits. With ``from_logits=False``, probabilities: the
        tempered softmax is then not applied, so ``t2`` must be 1.
      labels: ``(B, *spatial)`` integer class indices or ``(B, *spatial, C)`` one-hot/soft targets.
      t1: temperature of the logarithm, :math:`0 \le t_1 \le 1` (static; :math:`t_1 = 0` is
        half the squared error :math:`\frac12\|y - p\|^2`). Default 0.8.
      t2: temperature of the softmax, :math:`t_2 > 0` (static; :math:`t_2 < 1` needs
        :math:`t_1 < 1`, since the finite support gives :math:`p = 0` and :math:`\log 0`).
        Default 1.2 (the paper fixes none; 0.8 / 1.2 is a moderate bounded, heavy-tailed pair).
      mode: ``"multiclass"`` (default, tempered softmax), ``"multilabel"`` or ``"binary"``.
      from_logits: whether ``predictions`` are logits. Default ``True``.
      label_smoothing: :math:`a \in [0, 1]`: :math:`y \leftarrow (1-a)\,y + a/K` with
        :math:`K = C` (softmax) or 2 (each sigmoid channel), as
        :func:`jaxseg_losses.cross_entropy`. The authors' ``label_smoothing``
        :math:`s` (:math:`(1 - \frac{K}{K-1}s)\,y + \frac{s}{K-1}`) is :math:`a = sK/(K-1)`.
        Default 0.
      iterations: iterations of the normalisation (see above); ``None`` (default): 5 or 30.
      ignore_index: integer label excluded from value and gradient. Default ``None``.
      mask: optional ``(B, *spatial)`` pixel weights. Default ``None``.
      reduction: ``"example"`` -> ``(B,)``; ``"pixel"`` -> ``(B, *spatial)`` weighted map.

    Returns:
      ``(B,)`` float32 losses (or the per-pixel map). An example with no valid pixel gives 0.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.pixelwise.noisy_labels import bi_tempered_loss
      >>> logits = jnp.zeros((1, 2, 2, 4))
      >>> labels = jnp.array([[[0, 1], [2, 3]]])
      >>> bi_tempered_loss(logits, labels, t1=1.0, t2=1.0)  # cross-entropy: log 4
      Array([1.3862944], dtype=float32)
    """
    t1, t2 = _check_temperature("t1", t1, strict=False), _check_temperature("t2", t2)
    if t1 > 1.0:
        raise ValueError(f"t1: expected 0 <= t1 <= 1 (the bounded and the logistic loss); "
                         f"got {t1}")
    if t2 < 1.0 and t1 == 1.0:
        raise ValueError("t2: t2 < 1 (finite support) needs t1 < 1: with t1 = 1 a class of "
                         "probability 0 costs log 0")
    if not from_logits and t2 != 1.0:
        raise ValueError(f"t2: with from_logits=False the probabilities are given, so there is "
                         f"no tempered softmax to apply: t2 must be 1; got {t2}")
    iterations = _iterations(iterations, t2)
    check_number("label_smoothing", label_smoothing, high=1.0)
    prep = prepare(predictions, labels, mode=mode, from_logits=from_logits, mask=mask,
                   ignore_index=ignore_index)
    y = prep.targets
    if mode == "multiclass":
        y = y * (1.0 - label_smoothing) + label_smoothing / prep.num_classes
        parts, targets = (prep.predictions,), (y,)
    else:  # each channel's two classes as two (..., C, 1) parts
        y = (y * (1.0 - label_smoothing) + label_smoothing / 2.0)[..., None]
        z = prep.predictions[..., None]
        targets = (1.0 - y, y)
        parts = (jnp.zeros_like(z), z) if from_logits else (1.0 - z, z)
    if from_logits:
        loss = _bi_tempered_sum(parts, targets, t1, t2, iterations)
    else:
        loss = _probability_sum(parts, targets, t1)
    pixel = loss[..., 0] if mode == "multiclass" else jnp.mean(loss[..., 0], axis=-1)
    return reduce_pixels(pixel, prep.valid, reduction)


def _probability_sum(probabilities: Parts, targets: Parts, t1: float) -> jax.Array:
    """The divergence of given probabilities (``from_logits=False``) summed over the classes
    (keepdims), clipped before the logarithm as everywhere in the library."""
    terms = []
    for p, y in zip(probabilities, targets, strict=True):
        p = jnp.clip(p, 0.0, 1.0)
        log_p = jnp.log(jnp.maximum(p, PROB_EPS)) if t1 == 1.0 else None
        terms.append(_tempered_divergence(y, log_p, safe_power(p, 1.0 - t1),
                                          safe_power(p, 2.0 - t1), t1))
    return _parts_sum(terms)


@boolean_options
def t_loss(
    predictions: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    log_nu: jax.typing.ArrayLike = 1.0,
    mode: Mode = "multiclass",
    from_logits: bool = True,
    include_background: bool = True,
    log_precision: float = 0.0,
    ignore_index: int | None = None,
    mask: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""T-loss (Gonzalez-Jimenez et al., "Robust T-Loss for Medical Image Segmentation",
    MICCAI 2023, Eq. 3): the negative log-likelihood of a multivariate Student-t.

    The residuals :math:`\delta = p - y` of an example (probabilities minus targets, over its
    :math:`D` valid pixel-channel entries) are scored by a Student-t with :math:`\nu` degrees
    of freedom and scale :math:`\Sigma = e^{-\lambda} I`:

    .. math::
        -\log p(\delta) = -\log\Gamma\big(\tfrac{\nu+D}{2}\big) + \log\Gamma\big(\tfrac{\nu}{2}\big)
            + \tfrac{D}{2}\log(\pi\nu) - \tfrac{D}{2}\lambda
            + \tfrac{\nu+D}{2}\log\Big(1 + \tfrac{e^{\lambda}}{\nu}\sum_x v(x)\,\|\delta(x)\|^2\Big)

    with :math:`\nu = e^{\texttt{log\_nu}} + 10^{-8}` and :math:`D = \sum_x v(x)\, C_{kept}`.
    The value returned is this divided by :math:`D` (per entry, so its scale does not grow with
    the image size; the authors' ``TLoss`` returns the sum: multiply by :math:`D`). Small
    :math:`\nu` is robust (the log grows slowly in large residuals); :math:`\nu \to \infty`
    tends to the Gaussian NLL, i.e. :math:`\frac{e^\lambda}{2D}\sum\|\delta\|^2` plus a
    constant: a mean squared error.

    Learning :math:`\nu`, as the paper does: ``log_nu`` is differentiable (the authors learn
    :math:`\log\nu`, initialised at 1, with Adam beside the network). In a Flax / optax train
    step, keep it with the parameters::

        params = {"net": net_params, "log_nu": jnp.array(1.0)}

        def loss_fn(params, images, labels):
            logits = model.apply(params["net"], images)
            return t_loss(logits, labels, log_nu=params["log_nu"]).mean()

        grads = jax.grad(loss_fn)(params, images, labels)
        updates, opt_state = optimizer.update(grads, opt_state, params)

    (with ``flax.nnx``, an ``nnx.Param(jnp.array(1.0))`` attribute of the model serves the same).
    ``log_precision`` :math:`\lambda` is fixed: the paper's :math:`\Sigma = I` is 0 (default);
    the authors' code uses :math:`\lambda = 1` (its ``lambdas`` are ones).

    The authors' setting (two-class softmax, the foreground probability scored against the
    mask) is ``mode="multiclass"`` with ``C = 2`` and ``include_background=False``, or
    ``mode="binary"``.

    Args:
      predictions: ``(B, *spatial, C)`` logits (or probabilities with ``from_logits=False``).
      labels: ``(B, *spatial)`` integer class indices or ``(B, *spatial, C)`` one-hot/soft targets.
      log_nu: scalar :math:`\log\nu` (a float or a traced array: it may be learned). Default 1.
      mode: ``"multiclass"`` (default, softmax), ``"multilabel"`` or ``"binary"`` (sigmoid).
      from_logits: whether ``predictions`` are logits. Default ``True``.
      include_background: ``False`` drops channel 0 (after the softmax) from the residuals.
        Default ``True``.
      log_precision: the fixed :math:`\lambda` above. Default 0.
      ignore_index: integer label excluded from value and gradient. Default ``None``.
      mask: optional ``(B, *spatial)`` pixel weights (an entry weighs :math:`v` in :math:`D`
        and in the squared residuals). Default ``None``.

    Returns:
      ``(B,)`` float32 losses (may be negative: a log-density). An example with no valid pixel
      (:math:`D = 0`) gives 0 with zero gradient.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.pixelwise.noisy_labels import t_loss
      >>> probs = jnp.ones((1, 4, 4, 1))  # a perfect prediction: only the normalisation is left
      >>> t_loss(probs, jnp.ones((1, 4, 4), int), mode="binary", from_logits=False)
      Array([0.3537958], dtype=float32)
    """
    if jnp.ndim(log_nu) != 0:
        raise ValueError(f"log_nu: expected a scalar; got shape {jnp.shape(log_nu)}")
    log_nu = jnp.asarray(log_nu, jnp.float32)
    value_check(jnp.isfinite(log_nu), "log_nu: expected a finite value; got {value}",
                value=log_nu)
    check_number("log_precision", log_precision, low=-math.inf)
    prep = prepare(predictions, labels, mode=mode, from_logits=from_logits, mask=mask,
                   ignore_index=ignore_index)
    delta = keep_classes(prepared_probabilities(prep) - prep.targets, include_background)
    axes = tuple(range(1, delta.ndim))
    squared = jnp.sum(prep.valid[..., None] * delta * delta, axis=axes)  # (B,)
    entries = jnp.sum(prep.valid, axis=axes[:-1]) * delta.shape[-1]  # D per example
    nu = jnp.exp(log_nu) + 1e-8
    half_total = 0.5 * (nu + entries)
    nll = (jax.scipy.special.gammaln(0.5 * nu) - jax.scipy.special.gammaln(half_total)
           + 0.5 * entries * (jnp.log(math.pi * nu) - log_precision)
           + half_total * jnp.log1p(jnp.exp(log_precision) * squared / nu))
    return safe_divide(nll, entries)
