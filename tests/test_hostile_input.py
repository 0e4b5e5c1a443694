"""Hostile input: bad data gives a clear error, a checkify report or NaN, never a plausible number.

Every loss of the table in ``tests/cases.py``, every metric and the combinators meet the classes
of bad input the conventions page lists: non-finite predictions, bad mask values, integer labels
out of range (every mode), bad dense targets, bad option values, an empty batch. Each bad call
runs eagerly (``ValueError`` / ``TypeError`` naming the argument) and under ``jit`` +
checkify, which gives both the report and the value a plain ``jit`` call returns (checkify does
not change the computation): NaN for the example holding the bad value, or for out-of-range
labels the documented limit, the value with that pixel excluded. Everything masked is the
table's ``masked_zero`` check (tests/conventions.py). One compilation per loss: the bad inputs
have the good inputs' shapes.
"""

from __future__ import annotations

import functools
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import checkify

import jaxseg_losses as jsl
from tests.cases import CASES, SPATIAL, C
from tests.helpers import random_labels, random_logits

NON_FINITE = {"nan": np.nan, "+inf": np.inf, "-inf": -np.inf}
IGNORED = 99  # the ignore_index of every checked call: "excluded" is a label of 99
PIXEL = (0, 2, 3)  # the bad pixel, in example 0


def _data(name: str):
    case = CASES[name]
    classes = 2 if case.binary else case.channels
    z = random_logits(3, (2, *SPATIAL, case.channels), scale=2.0)
    y = random_labels(3, (2, *SPATIAL), classes)
    return case, classes, z, y, np.ones(y.shape, np.float32)


def _values_and_gradient(loss):
    """``loss(z, ...) -> (B,)`` as ``(z, ...) -> (values (B,), d sum(values) / dz)``."""
    def call(z, *args):
        def total(z):
            values = loss(z, *args)
            return jnp.sum(values), values
        (_, values), gradient = jax.value_and_grad(total, has_aux=True)(z)
        return values, gradient
    return call


@functools.cache
def _checked(name: str):
    """``(predictions, labels, mask) -> (checkify error, (values, gradient))`` of one row,
    compiled once (the gradient of the sum over the batch, with respect to the predictions)."""
    case = CASES[name]
    options = {"ignore_index": IGNORED} if case.labels else {}
    checked = checkify.checkify(
        _values_and_gradient(lambda z, y, m: case(z, y, mask=m, **options)),
        errors=checkify.user_checks,
    )
    return jax.jit(checked)


def _nan_gradient_at(gradient, index) -> None:
    """The gradient rule: NaN at the bad entry (or every channel of a bad pixel), while the
    other example's gradient stays finite (per-example values)."""
    gradient = np.asarray(gradient)
    assert np.all(np.isnan(gradient[index])), gradient[index]
    assert np.all(np.isfinite(gradient[1])), "the other example's gradient must stay finite"


def _reported(err, *fragments: str) -> str:
    message = err.get()
    assert message is not None, "no checkify report"
    for fragment in fragments:
        assert fragment in message, message
    return message


def _with(array: np.ndarray, index, value) -> np.ndarray:
    out = np.array(array, copy=True)
    out[index] = value
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_loss_bad_values(name):
    case, classes, z, y, ones = _data(name)
    checked = _checked(name)
    err, (good, gradient) = checked(z, y, ones)
    assert err.get() is None and np.all(np.isfinite(good)) and np.all(np.isfinite(gradient))

    for kind, bad in NON_FINITE.items():
        zz = _with(z, (*PIXEL, 0), bad)
        with pytest.raises(ValueError, match="predictions: logits must be finite"):
            case(zz, y)
        err, (value, gradient) = checked(zz, y, ones)
        _reported(err, "logits must be finite")
        assert np.isnan(value[0]) and np.isfinite(value[1]), (kind, value)
        _nan_gradient_at(gradient, (*PIXEL, 0))

    for bad in (np.nan, -1.0, np.inf):
        mask = _with(ones, PIXEL, bad)
        with pytest.raises(ValueError, match="mask: values must be finite and >= 0"):
            case(z, y, mask=mask)
        err, (value, gradient) = checked(z, y, mask)
        _reported(err, "mask: values must be finite")
        assert np.isnan(value[0]) and np.isfinite(value[1]), (bad, value)
        _nan_gradient_at(gradient, PIXEL)

    if not case.labels:
        return
    _, excluded = checked(z, _with(y, PIXEL, IGNORED), ones)
    for bad in (classes, -1, 1000):
        labels = _with(y, PIXEL, bad)
        expected = rf"labels: class indices must lie in \[0, {classes - 1}\]"
        with pytest.raises(ValueError, match=expected):
            case(z, labels)
        err, value_and_gradient = checked(z, labels, ones)
        _reported(err, "class indices must lie in")
        for got, want in zip(value_and_gradient, excluded, strict=True):  # excluded: both
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7, err_msg=str(bad))


@pytest.mark.parametrize("name", ["cross_entropy", "dice_binary", "boundary", "lovasz_softmax",
                                  "nacl"])
def test_loss_bad_dense_targets(name):
    case, classes, z, y, _ = _data(name)
    dense = (y[..., None] if case.binary else np.eye(classes)[y]).astype(np.float32)
    checked = jax.jit(checkify.checkify(_values_and_gradient(case), errors=checkify.user_checks))
    for bad in (np.nan, 1.5, -0.5):
        targets = _with(dense, (*PIXEL, 0), bad)
        with pytest.raises(ValueError, match=r"labels: dense targets must lie in \[0, 1\]"):
            case(z, targets)
        err, (value, gradient) = checked(z, targets)
        _reported(err, "dense targets must lie in [0, 1]")
        assert np.isnan(value[0]) and np.isfinite(value[1]), (bad, value)
        _nan_gradient_at(gradient, PIXEL)


@pytest.mark.parametrize("name", sorted(CASES))
def test_empty_batch_is_a_clear_error(name):
    case, _, z, y, _ = _data(name)
    for call in (case, jax.jit(lambda *args: case(*args))):  # a shape error: raised in tracing
        with pytest.raises(ValueError, match="predictions: nothing to score"):
            call(z[:0], y[:0])


def _float_options(fn) -> list[str]:
    """Every numeric keyword option of a loss (float defaults and the per-class vectors)."""
    vectors = {"class_weights", "pos_weight", "alpha", "beta", "smooth", "weight",
               "reduced_threshold"}
    return [
        p for p, v in inspect.signature(fn).parameters.items()
        if v.kind is inspect.Parameter.KEYWORD_ONLY
        and (p in vectors or (isinstance(v.default, float) and not isinstance(v.default, bool)))
    ]


def test_every_numeric_option_rejects_nan_and_inf_by_name():
    missed = []
    for name, case in CASES.items():
        _, _, z, y, _ = _data(name)
        for option in _float_options(case.fn):
            for bad in (np.nan, np.inf):
                try:
                    case(z, y, **{option: bad})
                except (ValueError, TypeError) as exc:
                    if option not in str(exc):
                        missed.append(f"{name}.{option}={bad}: {exc}")
                else:
                    missed.append(f"{name}.{option}={bad}: accepted")
    assert not missed, "\n".join(missed)


# A traced option goes through the same checks as a concrete one (check_number,
# check_class_vector, the distance matrix's): one row per kind of check.
TRACED_OPTIONS = [
    ("focal_softmax", "gamma", -1.0),
    ("dice", "class_weights", np.array([1.0, -1.0, 1.0], np.float32)),
    ("binary_cross_entropy", "pos_weight", np.float32(np.nan)),
    ("tversky", "alpha", np.float32(np.inf)),
    ("active_contour", "epsilon", -1.0),
    ("wasserstein_dice", "distance_matrix", np.full((C, C), -1.0, np.float32)),
    ("nonadjacency", "weight", np.float32(np.nan)),
    ("nacl", "alpha", -1.0),
]


@pytest.mark.parametrize(("name", "option", "bad"), TRACED_OPTIONS,
                         ids=[f"{n}-{o}" for n, o, _ in TRACED_OPTIONS])
def test_traced_bad_option_is_reported_by_checkify(name, option, bad):
    case, _, z, y, _ = _data(name)
    def call(value):
        options = {**case.options, option: value}
        return case.fn(z, y, **options) if case.labels else case(z, y, **{option: value})

    checked = jax.jit(checkify.checkify(call, errors=checkify.user_checks))
    err, _ = checked(jnp.asarray(bad, jnp.float32))
    _reported(err, option)


# --------------------------------------------------------------------------- the other entries

METRICS = {
    "dice_score": jsl.dice_score,
    "iou_score": jsl.iou_score,
    "hausdorff_distance": jsl.hausdorff_distance,
    "average_surface_distance": jsl.average_surface_distance,
    "surface_dice": functools.partial(jsl.surface_dice, tolerance=1.0),
    "generalized_dice_score": jsl.generalized_dice_score,
    "confusion_metric": jsl.confusion_metric,
    "fbeta_score": jsl.fbeta_score,
    "absolute_volume_difference": jsl.absolute_volume_difference,
    "relative_volume_difference": jsl.relative_volume_difference,
    "lesion_detection": lambda p, y, **o: jsl.lesion_detection(p, y, **o).f1,
    "panoptic_quality": lambda p, y, **o: jsl.panoptic_quality(p, y, **o).pq,
}


@pytest.mark.parametrize("name", sorted(METRICS))
def test_metric_bad_values(name):
    metric = METRICS[name]
    pred = random_labels(4, (2, *SPATIAL), C)
    true = random_labels(5, (2, *SPATIAL), C)
    ones = np.ones(pred.shape, np.float32)
    checked = jax.jit(checkify.checkify(
        lambda p, y, m: metric(p, y, num_classes=C, mask=m, ignore_index=IGNORED),
        errors=checkify.user_checks))
    err, good = checked(pred, _with(true, PIXEL, IGNORED), ones)
    assert err.get() is None and not np.any(np.isnan(good))
    for which in ("predictions", "labels"):
        for bad in (C, -1):
            args = [pred, true]
            args[which == "labels"] = _with(args[which == "labels"], PIXEL, bad)
            with pytest.raises(ValueError, match=rf"{which}: class indices must lie in"):
                metric(*args, num_classes=C)
            err, value = checked(*args, ones)
            _reported(err, which, "class indices must lie in")
            assert np.all(np.isnan(value[0])) and not np.any(np.isnan(value[1])), value
    with pytest.raises(ValueError, match=rf"or equal ignore_index={IGNORED}"):
        metric(pred, _with(true, PIXEL, C), num_classes=C, ignore_index=IGNORED)
    for bad in (np.nan, -1.0, np.inf):
        mask = _with(ones, PIXEL, bad)
        with pytest.raises(ValueError, match="mask: values must be finite and >= 0"):
            metric(pred, true, num_classes=C, mask=mask)
        err, value = checked(pred, true, mask)
        _reported(err, "mask: values must be finite")
        assert np.all(np.isnan(value[0])) and not np.any(np.isnan(value[1])), (bad, value)
    with pytest.raises(ValueError, match=r"mask: expected shape \(B, \*spatial\)"):
        metric(pred, true, num_classes=C, mask=ones[:, :2])
    dense_pred, dense_true = np.eye(C)[pred], np.eye(C, dtype=np.float32)[true]
    checked_dense = jax.jit(checkify.checkify(metric, errors=checkify.user_checks))
    nan_truth = _with(dense_true, (*PIXEL, 1), np.nan)
    with pytest.raises(ValueError, match=r"labels: dense targets must lie in \[0, 1\]"):
        metric(dense_pred, nan_truth)
    with pytest.raises(ValueError, match="ignore_index: only applies to integer"):
        metric(dense_pred, dense_true, ignore_index=IGNORED)
    err, value = checked_dense(dense_pred, nan_truth)
    _reported(err, "dense targets must lie in")
    assert np.all(np.isnan(value[0])) and not np.any(np.isnan(value[1]))
    for num_classes in (0, -2, 2.0, True):
        with pytest.raises(ValueError, match="num_classes: expected an integer >= 1"):
            metric(pred, true, num_classes=num_classes)
    with pytest.raises(TypeError, match="labels: class indices .* must have an integer dtype"):
        metric(pred, true.astype(np.float32), num_classes=C)
    with pytest.raises(ValueError, match="predictions: nothing to score"):
        metric(pred[:0], true[:0], num_classes=C)


OTHER_PREDICTION_FUNCTIONS = {
    "overlap_statistics": lambda p, y: jsl.overlap_statistics(p, y).tp,
    "soft_adjacency": lambda p, y: jsl.soft_adjacency(jax.nn.softmax(p), connectivity=4),
    "calibration_error": lambda p, y: jsl.calibration_error(p, y),
}


@pytest.mark.parametrize("name", sorted(OTHER_PREDICTION_FUNCTIONS))
def test_other_prediction_functions_reject_non_finite_values(name):
    fn = OTHER_PREDICTION_FUNCTIONS[name]
    z = _with(random_logits(6, (2, *SPATIAL, C)), (*PIXEL, 0), np.nan)
    y = random_labels(6, (2, *SPATIAL), C)
    with pytest.raises(ValueError, match="must be finite|probabilities in"):
        fn(z, y)
    err, value = jax.jit(checkify.checkify(fn, errors=checkify.user_checks))(z, y)
    assert err.get() is not None
    assert np.any(np.isnan(value[0])) and not np.any(np.isnan(value[1]))


def test_every_public_function_of_predictions_is_covered():
    takes_predictions = {
        name for name in jsl.__all__
        if inspect.isfunction(getattr(jsl, name))
        and next(iter(inspect.signature(getattr(jsl, name)).parameters), None)
        in ("predictions", "probabilities")
    }
    covered = {case.fn.__name__ for case in CASES.values()}
    covered |= set(METRICS) | set(OTHER_PREDICTION_FUNCTIONS)
    assert takes_predictions - covered == set()


def test_combinator_bad_weights_steps_and_terms():
    z = random_logits(7, (2, *SPATIAL, C))
    y = random_labels(7, (2, *SPATIAL), C)
    for weight, error, match in ((None, TypeError, "expected a number"),
                                 ("2", TypeError, "expected a number"),
                                 (np.nan, ValueError, "expected a finite number"),
                                 (np.ones(2), TypeError, "expected a scalar")):
        with pytest.raises(error, match=rf"the weight of term 'dice'.*{match}"):
            jsl.named_sum(("dice", jsl.dice_loss, weight))
        with pytest.raises(error, match=match):
            jsl.weighted(jsl.dice_loss, weight)

    def nan_schedule(step):
        return jnp.where(step > 5, jnp.nan, 1.0)

    loss = jsl.named_sum(("ce", jsl.cross_entropy), ("dice", jsl.dice_loss, nan_schedule))
    checked = jax.jit(checkify.checkify(loss, errors=checkify.user_checks))
    assert checked(z, y, step=1)[0].get() is None
    with pytest.raises(ValueError, match="the weight of term 'dice': expected a finite value"):
        loss(z, y, step=10)
    err, (total, _) = checked(z, y, step=10)
    _reported(err, "the weight of term 'dice'")
    assert np.all(np.isnan(total))
    with pytest.raises(ValueError, match="step: expected a finite step count"):
        loss(z, y, step=np.float32(np.nan))
    _reported(checked(z, y, step=jnp.float32(np.nan))[0], "step: expected a finite step count")

    def none_term(p, t):
        return None

    with pytest.raises(TypeError, match="term 'none': expected an array of losses; got None"):
        jsl.named_sum(("none", none_term))(z, y)

    def nan_term(p, t):
        return jnp.full(p.shape[:1], jnp.nan)

    loss = jsl.named_sum(("ce", jsl.cross_entropy), ("nan", nan_term))
    with pytest.raises(ValueError, match="term 'nan': returned NaN"):
        loss(z, y)
    err, (total, _) = jax.jit(checkify.checkify(loss, errors=checkify.user_checks))(z, y)
    _reported(err, "term 'nan': returned NaN")
    assert np.all(np.isnan(total))


# --------------------------------------------------------------------------- probabilities


def _mode(case) -> str:
    """The activation a row's predictions go through (its option, else the loss's default)."""
    parameters = inspect.signature(case.fn).parameters
    if "mode" in case.options:
        return case.options["mode"]
    if "mode" in parameters:
        return parameters["mode"].default
    if case.binary or case.fn is jsl.binary_cross_entropy:  # BCE: a sigmoid per channel
        return "binary" if case.binary else "multilabel"
    return "multiclass"  # cross-entropy, Lovász-Softmax, Wasserstein Dice: a softmax


PROBABILITY_ROWS = sorted(name for name, case in CASES.items()
                          if case.takes("from_logits") and case.probabilities)
SUM_PIXEL = (0, 1, 1)  # example 0: probabilities summing to 0.9 there
NAN_PIXEL = (2, 2, 3)  # example 2: a NaN probability there; example 1 is good


@pytest.mark.parametrize("name", PROBABILITY_ROWS)
def test_probability_bad_values_and_gradients(name):
    """``from_logits=False``: multiclass probabilities must sum to 1 over the classes (an error
    eagerly, a report under jit, NaN value and gradient otherwise); a NaN probability gets a NaN
    gradient as a NaN logit does; other modes do not check sums."""
    case, classes, z, y, _ = _data(name)
    multiclass = _mode(case) == "multiclass"
    z, y = np.concatenate([z, z[:1]]), np.concatenate([y, y[:1]])
    good = np.asarray(jax.nn.softmax(z, axis=-1) if multiclass else jax.nn.sigmoid(z))
    off = _with(good, SUM_PIXEL, good[SUM_PIXEL] * 0.9)
    bad = _with(off, (*NAN_PIXEL, 0), np.nan)

    def loss(p, labels):
        return case(p, labels, from_logits=False)

    if multiclass:
        with pytest.raises(ValueError, match="predictions: mode='multiclass' with from_logits="
                                             "False expects probabilities that sum to 1"):
            loss(off, y)
    checked = jax.jit(checkify.checkify(_values_and_gradient(loss), errors=checkify.user_checks))
    err, (value, gradient) = checked(bad, y)
    _reported(err, "predictions")
    value, gradient = np.asarray(value), np.asarray(gradient)
    assert np.isfinite(value[1]) and np.all(np.isfinite(gradient[1])), "example 1 is good"
    assert np.isnan(value[2]) and np.isnan(gradient[(*NAN_PIXEL, 0)])
    if multiclass:  # every channel of the pixel whose sum is off
        assert np.isnan(value[0]) and np.all(np.isnan(gradient[SUM_PIXEL])), value
    else:  # sigmoid channels are independent: no sum to check
        assert np.isfinite(value[0]) and np.all(np.isfinite(gradient[0])), value


@pytest.mark.slow
def test_probability_sum_tolerance():
    """Softmax outputs in float32, float16 and bfloat16 (also cast to float32) pass, up to 150
    classes; sums off by more than 2**-6 do not; the check is on the multiclass probability
    path only; under jit it is a checkify report."""
    from jaxseg_losses._inputs import PROBABILITY_SUM_TOLERANCE, check_prediction_values

    assert PROBABILITY_SUM_TOLERANCE == 2.0**-6
    for classes in (2, 21, 150):
        z = random_logits(classes, (2, 16, 8, classes), scale=5.0)
        for dtype in (jnp.float32, jnp.float16, jnp.bfloat16):
            for p in (jax.nn.softmax(jnp.asarray(z, dtype), axis=-1),
                      jax.nn.softmax(jnp.asarray(z), axis=-1).astype(dtype)):
                checked = check_prediction_values(p.astype(jnp.float32), False, mode="multiclass")
                assert not np.any(np.isnan(checked)), (classes, dtype)
    p = np.asarray(jax.nn.softmax(random_logits(8, (2, *SPATIAL, C)), axis=-1))
    for factor, ok in ((1.005, True), (0.995, True), (1.03, False), (0.97, False)):
        scaled = _with(p, PIXEL, np.array([0.5, 0.3, 0.2]) * factor)
        if ok:
            check_prediction_values(scaled, False, mode="multiclass")
        else:
            with pytest.raises(ValueError, match=r"sum to 1 over the classes \(within 0.015625"):
                check_prediction_values(scaled, False, mode="multiclass")
        for mode in ("multilabel", "binary", None):  # no sum to check
            check_prediction_values(scaled, False, mode=mode)
        check_prediction_values(np.log(scaled), True, mode="multiclass")  # logits: no sum
    scaled = _with(p, PIXEL, np.array([0.5, 0.3, 0.2]) * 0.5)
    err, _ = jax.jit(checkify.checkify(
        lambda q: check_prediction_values(q, False, mode="multiclass"),
        errors=checkify.user_checks))(scaled)
    _reported(err, "sum to 1 over the classes")
    y = random_labels(8, (2, *SPATIAL), C)
    with pytest.raises(ValueError, match="sum to 1 over the classes"):  # the metrics too
        jsl.dice_score(scaled, y, from_logits=False)
    assert np.all(np.isfinite(jsl.dice_score(p, y, from_logits=False)))
    # multi_scale blurs probabilities with MONAI's unnormalised, zero-padded kernel: its
    # smoothed calls do not check the sum, its input is checked.
    smoothed = jsl.multi_scale(jsl.dice_loss, scales=[0, 1], mode="multiclass")
    err, value = jax.jit(checkify.checkify(smoothed, errors=checkify.user_checks))(
        jnp.asarray(np.log(p)), y)
    assert err.get() is None and np.all(np.isfinite(value))
    with pytest.raises(ValueError, match="sum to 1 over the classes"):
        jsl.multi_scale(jsl.dice_loss, scales=[1])(scaled, y, from_logits=False)


# --------------------------------------------------------------------------- active contour


@pytest.mark.parametrize("options", [{}, {"mode": "multiclass"}], ids=["binary", "multiclass"])
def test_active_contour_excluded_pixels_change_neither_value_nor_gradient(options):
    """Excluded pixels (ignore_index, mask 0) are left out of the length term's differences
    too: perturbing the predictions there changes nothing, and their gradient is 0."""
    channels, classes = (C, C) if options else (1, 2)
    shape = (2, 32, 32)
    z = random_logits(9, (*shape, channels), scale=2.0)
    y = random_labels(9, shape, classes)
    y[:, 5:9, 10:20] = IGNORED
    y[1, 30, :] = IGNORED  # the last row: only ever a successor
    mask = np.ones(shape, np.float32)
    mask[:, 20:25, 3:7] = 0.0
    mask[0, :, 31] = 0.0  # the last column
    excluded = (y == IGNORED) | (mask == 0)
    noise = random_logits(10, z.shape, scale=5.0)
    moved = np.where(excluded[..., None], noise, z).astype(np.float32)

    @jax.jit
    def value_and_grad(z):
        return jax.value_and_grad(lambda z: jnp.sum(jsl.active_contour_loss(
            z, y, ignore_index=IGNORED, mask=mask, **options)))(z)

    (value, gradient), (value_moved, gradient_moved) = value_and_grad(z), value_and_grad(moved)
    np.testing.assert_array_equal(value, value_moved)
    np.testing.assert_array_equal(gradient, gradient_moved)
    assert np.all(np.asarray(gradient)[excluded] == 0.0)
    assert np.all(np.asarray(gradient)[~excluded] != 0.0)


# --------------------------------------------------------------------------- combinators, built


def test_deep_supervision_checks_heads_and_weights():
    z = random_logits(11, (2, 8, 8, C))
    y = random_labels(11, (2, 8, 8), C)
    heads = [z, random_logits(12, (2, 4, 4, C + 1))]  # a head with one class too many
    supervised = jsl.deep_supervision(jsl.dice_loss)
    for call in (supervised, jax.jit(supervised)):  # a shape error: raised while tracing
        with pytest.raises(ValueError, match=r"predictions\[1\]: expected .* C = 3 classes"):
            call(heads, y)
    for weights, error, match in (([1.0, np.nan], ValueError, r"weights\[1\] .*finite"),
                                  ([1.0, np.inf], ValueError, r"weights\[1\] .*finite"),
                                  ([1.0, None], TypeError, r"weights\[1\] .*a number"),
                                  ([1.0, "2"], TypeError, r"weights\[1\] .*a number"),
                                  ([], ValueError, "at least one weight"),
                                  (2.0, TypeError, "level_weights: expected a sequence")):
        with pytest.raises(error, match=match):  # when built
            jsl.deep_supervision(jsl.dice_loss, level_weights=weights)
        with pytest.raises(error, match=match):
            jsl.deep_supervision_weights(2, level_weights=weights)


def test_combinators_check_their_terms_when_built():
    def schedule(step):
        return 1.0

    for build in (lambda fn: jsl.weighted(fn, 1.0), lambda fn: jsl.scheduled(fn, schedule),
                  lambda fn: jsl.masked(fn, np.ones((2, *SPATIAL))),
                  lambda fn: jsl.on_classes(fn, [1]),
                  lambda fn: jsl.named_sum(("term", fn))):
        for fn in (5, None, "dice_loss"):
            with pytest.raises(TypeError, match="callable|not callable"):
                build(fn)
        with pytest.raises(TypeError, match=r"expected a function of \(predictions, labels"):
            build(lambda predictions: predictions)


def test_on_classes_takes_exactly_the_losses_with_per_class_values():
    """Built: refused for a pixel-wise loss (no per-class values); taken for every loss whose
    reduction='class' works. Checked against a call of each public loss with a reduction."""
    refused, mismatched = [], []
    for name, case in sorted(CASES.items()):
        if not case.takes("reduction") or case.fn.__name__ in refused + mismatched:
            continue
        _, classes, z, y, _ = _data(name)
        options = {"mode": case.options["mode"]} if "mode" in case.options else {}
        try:
            jax.eval_shape(functools.partial(case.fn, reduction="class", **options), z, y)
            has_classes = True
        except ValueError as exc:
            assert "reduction" in str(exc), exc
            has_classes = False
        try:
            jsl.on_classes(case.fn, [0])
            built = True
        except TypeError as exc:
            assert "is pixel-wise" in str(exc), exc
            built = False
            refused.append(case.fn.__name__)
        if built != has_classes:
            mismatched.append(case.fn.__name__)
    assert not mismatched, mismatched
    assert {"cross_entropy", "focal_loss", "binary_cross_entropy"} <= set(refused)
