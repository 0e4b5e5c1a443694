"""End-to-end Flax NNX train step with a combined, scheduled objective.

dice + focal + boundary (rising weight), on a tiny conv net and synthetic squares: the loss
decreases, every term is logged, and the step compiles once although the weight changes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxseg_losses.combine import named_sum, scheduled
from jaxseg_losses.pixelwise import focal_loss  # noqa: E402
from jaxseg_losses.region import dice_loss  # noqa: E402

try:
    from jaxseg_losses.boundary import boundary_loss
except ImportError:  # pragma: no cover - boundary.py is part of the package
    boundary_loss = None

NUM_STEPS = 20
SIZE = 12


class TinyNet(nnx.Module):
    def __init__(self, rngs: nnx.Rngs, num_classes: int = 2):
        self.conv1 = nnx.Conv(1, 8, kernel_size=(3, 3), rngs=rngs)
        self.conv2 = nnx.Conv(8, num_classes, kernel_size=(3, 3), rngs=rngs)

    def __call__(self, x):
        return self.conv2(jax.nn.relu(self.conv1(x)))


def _data(batch: int = 4):
    """Bright squares on a noisy background; the label is the square."""
    rng = np.random.default_rng(0)
    labels = np.zeros((batch, SIZE, SIZE), np.int32)
    for b in range(batch):
        top, left = rng.integers(1, SIZE - 6, size=2)
        labels[b, top : top + 5, left : left + 5] = 1
    images = labels[..., None] + 0.3 * rng.normal(size=(batch, SIZE, SIZE, 1))
    return jnp.asarray(images, jnp.float32), jnp.asarray(labels)


def _objective():
    terms = [("dice", dice_loss), ("focal", focal_loss)]
    if boundary_loss is not None:
        # The boundary weight rises from 0 to 0.5 over the run (Kervadec et al.'s recipe shape).
        weight = optax.linear_schedule(0.0, 0.5, NUM_STEPS)
        terms.append(("boundary", scheduled(boundary_loss, weight, include_background=False)))
    return named_sum(*terms)


def test_nnx_train_step_with_combined_objective():
    objective = _objective()
    model = TinyNet(nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(3e-2), wrt=nnx.Param)
    images, labels = _data()
    traces = []

    @nnx.jit
    def train_step(model, optimizer, images, labels):
        traces.append(1)  # runs only while tracing

        def loss_fn(model):
            logits = model(images)
            total, aux = objective(logits, labels, step=optimizer.step[...])
            return total.mean(), aux

        (loss, aux), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model)
        optimizer.update(model, grads)
        return loss, {name: jnp.mean(value) for name, value in aux.items()}

    history = [train_step(model, optimizer, images, labels) for _ in range(NUM_STEPS)]

    assert len(traces) == 1, "the train step retraced"
    assert int(optimizer.step[...]) == NUM_STEPS
    losses = np.array([float(loss) for loss, _ in history])
    logs = {name: np.array([float(aux[name]) for _, aux in history]) for name in history[0][1]}
    assert np.all(np.isfinite(losses))
    expected = {"dice", "dice/weight", "focal", "focal/weight"}
    if boundary_loss is not None:
        expected |= {"boundary", "boundary/weight"}
        np.testing.assert_allclose(
            logs["boundary/weight"], 0.5 * np.arange(NUM_STEPS) / NUM_STEPS, rtol=1e-5, atol=1e-7
        )
    assert set(logs) == expected
    # Every logged weighted sum is the reported loss.
    recombined = sum(logs[name] * logs[f"{name}/weight"] for name in expected if "/" not in name)
    np.testing.assert_allclose(recombined, losses, rtol=1e-5, atol=1e-6)
    # Training works: the total and each region/pixel term go down.
    assert losses[-1] < losses[0] - 0.1
    assert logs["dice"][-1] < logs["dice"][0]
    assert logs["focal"][-1] < logs["focal"][0]
