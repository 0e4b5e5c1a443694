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


@functools.cache
def _checked(name: str):
    """``(predictions, labels, mask) -> (checkify error, value)`` of one row, compiled once."""
    case = CASES[name]
    options = {"ignore_index": IGNORED} if case.labels else {}
    checked = checkify.checkify(
        lambda z, y, m: case(z, y, mask=m, **options), errors=checkify.user_checks
    )
    return jax.jit(checked)


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
    err, good = checked(z, y, ones)
    assert err.get() is None and np.all(np.isfinite(good))

    for kind, bad in NON_FINITE.items():
        zz = _with(z, (*PIXEL, 0), bad)
        with pytest.raises(ValueError, match="predictions: logits must be finite"):
            case(zz, y)
        err, value = checked(zz, y, ones)
        _reported(err, "logits must be finite")
        assert np.isnan(value[0]), (kind, value)

    for bad in (np.nan, -1.0, np.inf):
        mask = _with(ones, PIXEL, bad)
        with pytest.raises(ValueError, match="mask: values must be finite and >= 0"):
            case(z, y, mask=mask)
        err, value = checked(z, y, mask)
        _reported(err, "mask: values must be finite")
        assert np.isnan(value[0]), (bad, value)

    if not case.labels:
        return
    _, excluded = checked(z, _with(y, PIXEL, IGNORED), ones)
    for bad in (classes, -1, 1000):
        labels = _with(y, PIXEL, bad)
        expected = rf"labels: class indices must lie in \[0, {classes - 1}\]"
        with pytest.raises(ValueError, match=expected):
            case(z, labels)
        err, value = checked(z, labels, ones)
        _reported(err, "class indices must lie in")
        np.testing.assert_allclose(value, excluded, rtol=1e-6, atol=1e-7, err_msg=str(bad))


@pytest.mark.parametrize("name", ["cross_entropy", "dice_binary", "boundary", "lovasz_softmax",
                                  "nacl"])
def test_loss_bad_dense_targets(name):
    case, classes, z, y, _ = _data(name)
    dense = (y[..., None] if case.binary else np.eye(classes)[y]).astype(np.float32)
    checked = jax.jit(checkify.checkify(case, errors=checkify.user_checks))
    for bad in (np.nan, 1.5, -0.5):
        targets = _with(dense, (*PIXEL, 0), bad)
        with pytest.raises(ValueError, match=r"labels: dense targets must lie in \[0, 1\]"):
            case(z, targets)
        err, value = checked(z, targets)
        _reported(err, "dense targets must lie in [0, 1]")
        assert np.isnan(value[0]), (bad, value)


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
