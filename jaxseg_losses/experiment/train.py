"""Training and evaluation loop of the loss comparison.

Every loss spec trains the same :class:`~jaxseg_losses.experiment.model.UNet` from the same
initialisation (``seed``) on the same sequence of batches (indices and flips drawn once from
``seed``), with Adam, so the loss is the only thing that changes between runs.

The train step is the Flax NNX one (``nnx.Optimizer(model, tx, wrt=nnx.Param)``,
``nnx.value_and_grad``, ``optimizer.update(model, grads)``; the schedules read
``optimizer.step[...]``), wrapped in ``nnx.split``/``nnx.merge`` inside a plain ``jax.jit`` so the
step is a pure function of arrays: it is lowered and compiled ahead of time (the compile
seconds in the table: tracing + XLA compilation) and then called without Python-side graph
traversal (the ms per step in the table: the median wall time of a step, synchronised).

Evaluation on the test set: argmax of the logits, then the library's metrics
(:mod:`jaxseg_losses.metrics`), foreground classes only, averaged over test images and classes:
Dice, IoU, HD95 (95th percentile Hausdorff distance) and ASSD (average symmetric surface
distance), in units of ``spacing``. A class present in the truth but not predicted (or the
reverse) has an infinite surface distance; it counts as the image diagonal (the largest possible
distance) in the averages, and the number of such cases is reported as ``missed``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxseg_losses.experiment.build import BuildContext, build_loss, check_loss
from jaxseg_losses.experiment.data import Dataset
from jaxseg_losses.experiment.model import UNet
from jaxseg_losses.experiment.registry import parse
from jaxseg_losses.experiment.spec import LossSpec


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters shared by every loss of a comparison."""

    steps: int = 300
    batch_size: int = 8
    learning_rate: float = 3e-3
    features: int = 8
    depth: int = 2
    seed: int = 0
    eval_every: int = 25
    augment: bool = True


@dataclasses.dataclass
class RunResult:
    """Outcome of one loss spec."""

    label: str
    dice: float = math.nan
    iou: float = math.nan
    hd95: float = math.nan
    assd: float = math.nan
    missed: int = 0
    ms_per_step: float = math.nan
    compile_s: float = math.nan
    train_loss: list[float] = dataclasses.field(default_factory=list)
    curve_steps: list[int] = dataclasses.field(default_factory=list)
    curve_dice: list[float] = dataclasses.field(default_factory=list)
    final_terms: dict[str, float] = dataclasses.field(default_factory=dict)
    predictions: np.ndarray | None = None
    error: str | None = None

    def metrics(self) -> dict[str, Any]:
        return {"loss": self.label, "dice": self.dice, "iou": self.iou, "hd95": self.hd95,
                "assd": self.assd, "missed": self.missed, "ms_per_step": self.ms_per_step,
                "compile_s": self.compile_s, "error": self.error}


# --------------------------------------------------------------------------- metrics


@functools.lru_cache(maxsize=16)
def _evaluator(num_classes: int, spacing: tuple[float, ...], shape: tuple[int, ...]) -> Callable:
    """A jitted ``(predicted labels, labels) -> dict of (B, C-1) arrays`` (one per dataset)."""
    from jaxseg_losses.metrics import (
        average_surface_distance,
        dice_score,
        hausdorff_distance,
        iou_score,
    )

    spacing = tuple(float(s) for s in spacing)
    diagonal = float(np.sqrt(sum((n * s) ** 2 for n, s in zip(shape, spacing, strict=True))))
    options = dict(num_classes=num_classes, include_background=False)

    @jax.jit
    def evaluate(pred: jax.Array, labels: jax.Array) -> dict[str, jax.Array]:
        hd95 = hausdorff_distance(pred, labels, percentile=95, sampling=spacing, **options)
        assd = average_surface_distance(pred, labels, sampling=spacing, **options)
        missed = ~jnp.isfinite(hd95)
        return {
            "dice": dice_score(pred, labels, **options),
            "iou": iou_score(pred, labels, **options),
            "hd95": jnp.where(missed, diagonal, hd95),
            "assd": jnp.where(jnp.isfinite(assd), assd, diagonal),
            "missed": missed,
        }

    return evaluate


@functools.lru_cache(maxsize=16)
def _dice_only(num_classes: int) -> Callable:
    from jaxseg_losses.metrics import dice_score

    return jax.jit(lambda pred, labels: dice_score(pred, labels, num_classes=num_classes,
                                                   include_background=False))


@functools.partial(jax.jit, static_argnums=0)
def _predict(graphdef, params, images: jax.Array) -> jax.Array:
    """Argmax label map; ``graphdef`` is static, so every loss shares one compilation."""
    return jnp.argmax(nnx.merge(graphdef, params)(images), axis=-1).astype(jnp.int32)


def _model_predict(graphdef, state, images: jax.Array) -> jax.Array:
    model, _ = nnx.merge(graphdef, state)
    return _predict(*nnx.split(model), images)


# --------------------------------------------------------------------------- training


def _batch_plan(n_train: int, ndim: int, config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """Batch indices ``(steps, batch)`` and flips ``(steps, ndim)``, the same for every loss."""
    rng = np.random.default_rng(config.seed + 1)
    replace = config.batch_size > n_train
    indices = np.stack([rng.choice(n_train, config.batch_size, replace=replace)
                        for _ in range(config.steps)]).astype(np.int32)
    flips = rng.integers(0, 2, size=(config.steps, ndim)).astype(bool)
    if not config.augment:
        flips[:] = False
    return indices, flips


def _flip(x: jax.Array, flips: jax.Array, ndim: int) -> jax.Array:
    for axis in range(ndim):
        x = jnp.where(flips[axis], jnp.flip(x, axis=axis + 1), x)
    return x


@functools.partial(nnx.jit, static_argnums=tuple(range(7)))
def _create(channels, num_classes, ndim, features, depth, seed, learning_rate):
    """Model and optimiser, initialised in one compiled call, cached across losses.

    The key is an ``rbg`` key: XLA:CPU takes about 13 s of CPU to compile the threefry
    initialisers of this small U-Net and about 2 s with ``rbg`` (measured on a 2-core CPU).
    """
    model = UNet(channels, num_classes, ndim=ndim, features=features, depth=depth,
                 rngs=nnx.Rngs(jax.random.key(seed, impl="rbg")))
    return model, nnx.Optimizer(model, optax.adam(learning_rate), wrt=nnx.Param)


def _make_model(dataset: Dataset, config: TrainConfig) -> tuple[UNet, nnx.Optimizer]:
    return _create(dataset.channels, dataset.num_classes, dataset.ndim, config.features,
                   config.depth, config.seed, config.learning_rate)


class _NoProgress:
    """Stands in for a tqdm bar with ``progress=False``, so tqdm is not needed then."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> bool:
        return False

    def set_postfix(self, *args, **kwargs) -> None:
        pass

    set_postfix_str = update = set_postfix


def _progress_bar(progress: bool, *, total: int, desc: str, position: int | None):
    if not progress:
        return _NoProgress()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="step", leave=True, position=position,
                dynamic_ncols=True)


def train_one(
    spec: LossSpec | str,
    dataset: Dataset,
    config: TrainConfig,
    *,
    plan: tuple[np.ndarray, np.ndarray] | None = None,
    progress: bool = True,
    position: int | None = None,
) -> RunResult:
    """Trains and evaluates one loss spec."""
    if isinstance(spec, str):
        spec = parse(spec)
    ctx = BuildContext(dataset.num_classes, config.steps, dataset.spacing, dataset.train_labels)
    loss_fn = build_loss(spec, ctx)
    result = RunResult(spec.label)
    ndim = dataset.ndim
    indices, flips = plan if plan is not None else _batch_plan(len(dataset.train_labels), ndim,
                                                               config)
    model, optimizer = _make_model(dataset, config)
    graphdef, state = nnx.split((model, optimizer))

    def train_step(state, images, labels, index, flip):
        model, optimizer = nnx.merge(graphdef, state)
        x = _flip(images[index], flip, ndim)
        y = _flip(labels[index], flip, ndim)
        step = optimizer.step[...]

        def objective(model):
            total, aux = loss_fn(model(x), y, step=step)
            return total.mean(), {k: v.mean() for k, v in aux.items()}

        (loss, aux), grads = nnx.value_and_grad(objective, has_aux=True)(model)
        optimizer.update(model, grads)
        return nnx.state((model, optimizer)), loss, aux

    train_images = jnp.asarray(dataset.train_images)
    train_labels = jnp.asarray(dataset.train_labels)
    test_images = jnp.asarray(dataset.test_images)
    test_labels = jnp.asarray(dataset.test_labels)
    start = time.perf_counter()
    step_fn = jax.jit(train_step, donate_argnums=0).lower(
        state, train_images, train_labels, indices[0], flips[0]).compile()
    result.compile_s = time.perf_counter() - start
    dice_fn = _dice_only(dataset.num_classes)

    def validation_dice(state) -> float:
        return float(jnp.mean(dice_fn(_model_predict(graphdef, state, test_images), test_labels)))

    times = []
    bar = _progress_bar(progress, total=config.steps, desc=f"{spec.label[:38]:38s}",
                        position=position)
    result.curve_steps.append(0)
    result.curve_dice.append(validation_dice(state))
    aux: dict[str, jax.Array] = {}
    with bar:
        for i in range(config.steps):
            t0 = time.perf_counter()
            state, loss, aux = step_fn(state, train_images, train_labels, indices[i], flips[i])
            loss = float(loss)  # synchronises
            times.append(time.perf_counter() - t0)
            result.train_loss.append(loss)
            if not math.isfinite(loss):
                result.error = f"non-finite loss at step {i}"
                bar.set_postfix_str(result.error)
                break
            if (i + 1) % config.eval_every == 0 or i + 1 == config.steps:
                result.curve_steps.append(i + 1)
                result.curve_dice.append(validation_dice(state))
                bar.set_postfix(loss=f"{loss:.4f}", dice=f"{result.curve_dice[-1]:.3f}")
            bar.update(1)
    result.ms_per_step = 1e3 * float(np.median(times[1:] if len(times) > 1 else times))
    result.final_terms = {k: float(v) for k, v in aux.items()}
    predictions = _model_predict(graphdef, state, test_images)
    result.predictions = np.asarray(predictions, np.int8)
    evaluate = _evaluator(dataset.num_classes, tuple(float(s) for s in dataset.spacing),
                          dataset.spatial_shape)
    scores = {k: np.asarray(v) for k, v in evaluate(predictions, test_labels).items()}
    result.dice, result.iou = float(scores["dice"].mean()), float(scores["iou"].mean())
    result.hd95, result.assd = float(scores["hd95"].mean()), float(scores["assd"].mean())
    result.missed = int(scores["missed"].sum())
    return result


def run_comparison(
    specs: Sequence[LossSpec | str],
    dataset: Dataset,
    config: TrainConfig,
    *,
    progress: bool = True,
) -> list[RunResult]:
    """Trains every spec (same model init, same batches) and returns one result per spec.

    All specs are parsed and built before any training, so a bad spec fails at once.
    """
    specs = [parse(s) if isinstance(s, str) else s for s in specs]
    ctx = BuildContext(dataset.num_classes, config.steps, dataset.spacing, dataset.train_labels)
    for spec in specs:
        check_loss(spec, ctx, dataset.spatial_shape)
    plan = _batch_plan(len(dataset.train_labels), dataset.ndim, config)
    return [train_one(spec, dataset, config, plan=plan, progress=progress) for spec in specs]
