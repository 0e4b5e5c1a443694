"""Shared test utilities: random inputs and the checks every loss gets."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def random_logits(seed: int, shape, scale: float = 3.0) -> np.ndarray:
    return (np.random.default_rng(seed).normal(size=shape) * scale).astype(np.float32)


def random_labels(seed: int, shape, num_classes: int) -> np.ndarray:
    return np.random.default_rng(seed + 1000).integers(0, num_classes, size=shape).astype(np.int32)


def softmax_np(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.float64)
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def sigmoid_np(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z.astype(np.float64)))


def one_hot_np(labels: np.ndarray, num_classes: int) -> np.ndarray:
    return np.eye(num_classes)[labels]


def assert_finite_value_and_grad(loss_fn, predictions, *args, **kwargs) -> None:
    """Value and gradient w.r.t. the predictions are finite."""
    value, grad = jax.value_and_grad(lambda p: jnp.sum(loss_fn(p, *args, **kwargs)))(predictions)
    assert np.all(np.isfinite(np.asarray(value))), value
    assert np.all(np.isfinite(np.asarray(grad))), "non-finite gradient"


def assert_jit_matches_eager(loss_fn, *args, rtol=1e-5, atol=1e-6, **kwargs) -> None:
    eager = loss_fn(*args, **kwargs)
    jitted = jax.jit(lambda *a: loss_fn(*a, **kwargs))(*args)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(eager), rtol=rtol, atol=atol)
