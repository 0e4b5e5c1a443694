"""``mode="binary"`` predictions without a class axis, ``(B, *spatial)`` beside labels of the
same shape (optax's binary losses take them so): every binary loss of the table and the binary
metrics give what they give with the channel axis ``(B, *spatial, 1)``."""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxseg_losses as jsl
from tests.cases import CASES

# The losses with a ``mode`` (the Lovasz hinge has none: it reads C channels as multilabel, and
# (B, *spatial, C) logits beside dense targets of that shape are its multilabel form).
BINARY = {name: case for name, case in CASES.items()
          if case.binary and case.labels and "mode" in inspect.signature(case.fn).parameters}


@pytest.mark.parametrize("name", [  # the iterative losses' rows are slow (tests/cases.py)
    pytest.param(n, marks=[pytest.mark.slow] if BINARY[n].slow else []) for n in sorted(BINARY)])
@pytest.mark.parametrize("spatial", [(6, 5), (3, 4, 3)], ids=["2d", "3d"])
def test_binary_loss_without_class_axis(name, spatial):
    case = BINARY[name]
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2, *spatial, 1)).astype(np.float32)
    y = rng.integers(0, 2, (2, *spatial))

    @jax.jit  # the three calls in one program (eagerly, each primitive compiles on its own)
    def calls(z, y):
        # Float 0/1 masks as labels (optax's form) too.
        return [case.fn(p, t, **case.options)
                for p, t in ((z, y), (z[..., 0], y), (z[..., 0], y.astype(jnp.float32)))]

    with_axis, without, float_masks = calls(z, y)
    np.testing.assert_allclose(np.asarray(without), np.asarray(with_axis), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.asarray(float_masks), np.asarray(with_axis), rtol=1e-6,
                               atol=1e-7)


def test_binary_metrics_without_class_axis():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(2, 7, 6, 1)).astype(np.float32)
    y = rng.integers(0, 2, (2, 7, 6))
    for metric in (jsl.dice_score, jsl.iou_score, jsl.hausdorff_distance):
        np.testing.assert_array_equal(np.asarray(metric(z[..., 0], y, mode="binary")),
                                      np.asarray(metric(z, y, mode="binary")))


def test_only_same_shapes_drop_the_class_axis():
    z = jnp.zeros((2, 6, 5))
    # Labels (B, L): the last axis of the predictions is their class axis, C = 5 != 1.
    with pytest.raises(ValueError, match="C == 1"):
        jsl.dice_loss(z, jnp.zeros((2, 6), jnp.int32), mode="binary")
    # Other modes keep reading the last axis as the classes: 1-D images of 5 classes.
    assert jsl.dice_loss(z, jnp.zeros((2, 6), jnp.int32), mode="multiclass").shape == (2,)
