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

A foreground class with no pixel in the whole test set
(:meth:`~jaxseg_losses.experiment.data.Dataset.absent_test_classes`) is left out of every mean,
the curves' included: each image would score the empty-truth value there (Dice 1 for an empty
prediction), which says nothing about the loss. Within the classes kept, an image whose truth
lacks a class scores the library's empty-mask values for it (Dice and IoU 1 if the prediction is
empty too, else 0; distances 0 or the diagonal).
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
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxseg_losses.experiment.build import BuildContext, build_loss, check_loss
from jaxseg_losses.experiment.data import Dataset
from jaxseg_losses.experiment.model import UNet
from jaxseg_losses.experiment.registry import parse
from jaxseg_losses.experiment.spec import LossSpec
from jaxseg_losses.experiment.stats import (
    DEFAULT_RULE,
    DecisionRule,
    SequentialLog,
    Summary,
    all_decided,
    rank,
    sequential_plan,
    summarize,
)

REPLICA_MODES = ("auto", "vmap", "loop")
EVAL_POINTS = 20  # test-Dice points per curve when TrainConfig.eval_every is None
METRIC_KEYS = ("dice", "iou", "hd95", "assd", "missed", "collapsed")
_BOUNDS = {"dice": (0.0, 1.0), "iou": (0.0, 1.0), "collapsed": (0.0, 1.0)}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters shared by every loss of a comparison.

    ``seeds`` replicas per loss use the seeds ``seed, seed + 1, ..., seed + seeds - 1`` for the
    initialisation and the batch order (the data set is the same for all). The test Dice of the
    curves is measured every ``eval_every`` steps (``None``: :data:`EVAL_POINTS` points per run,
    every ``max(1, steps // EVAL_POINTS)`` steps, so a curve shows when each seed leaves the
    all-background start). ``replicas`` says how the replicas share the compiled step:
    ``"vmap"`` batches them into one program (``jax.vmap`` over the replica axis of the NNX
    state, sharded over the devices), ``"loop"`` calls one compiled single-replica step per
    replica (XLA:CPU runs a vmapped convolution with per-replica weights as a grouped
    convolution, about 9x slower than the replicas one after the other); ``"auto"``: ``"loop"``
    on a single CPU device, ``"vmap"`` otherwise.
    """

    steps: int = 300
    batch_size: int = 8
    learning_rate: float = 3e-3
    features: int = 8
    depth: int = 2
    seed: int = 0
    eval_every: int | None = None
    augment: bool = True
    seeds: int = 1
    replicas: str = "auto"

    def __post_init__(self):
        for name in ("steps", "batch_size", "features", "depth", "eval_every", "seeds"):
            if getattr(self, name) is None and name == "eval_every":
                continue
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name}: expected an integer >= 1; got {getattr(self, name)}")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(f"learning rate: expected a finite value > 0; got "
                             f"{self.learning_rate}")
        if self.replicas not in REPLICA_MODES:
            raise ValueError(f"replicas: expected one of {REPLICA_MODES}; got {self.replicas!r}")

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.seed, self.seed + self.seeds))

    @property
    def eval_interval(self) -> int:
        """Steps between two points of the test-Dice curves (``eval_every`` resolved)."""
        if self.eval_every is not None:
            return int(self.eval_every)
        return max(1, self.steps // EVAL_POINTS)


@dataclasses.dataclass
class RunResult:
    """Outcome of one loss spec over its seeds.

    ``per_seed[key]`` holds one value per seed for every key of :data:`METRIC_KEYS`: Dice,
    IoU, HD95 and ASSD averaged over test images and foreground classes, ``missed`` (image,
    class) pairs with an infinite distance, and ``collapsed`` (1 when the run predicted no
    foreground pixel in any test image, else 0). A seed whose loss became non-finite has NaN
    metrics. ``train_loss[r]`` and ``curve_dice[r]`` are replica ``r``'s curves;
    ``predictions`` are the test predictions of seed ``prediction_seed``, the median seed by
    Dice (:func:`median_seed_index`; for the figure: a typical run, not a lucky or a failed
    one).
    """

    label: str
    seeds: list[int] = dataclasses.field(default_factory=list)
    per_seed: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    ms_per_step: float = math.nan
    compile_s: float = math.nan
    train_loss: list[list[float]] = dataclasses.field(default_factory=list)
    curve_steps: list[int] = dataclasses.field(default_factory=list)
    curve_dice: list[list[float]] = dataclasses.field(default_factory=list)
    final_terms: dict[str, float] = dataclasses.field(default_factory=dict)
    predictions: np.ndarray | None = None
    error: str | None = None
    prediction_seed: int | None = None

    def summary(self, key: str) -> Summary:
        """Mean, spread and 95 % interval over the seeds of one metric."""
        return summarize(self.per_seed.get(key, []), _BOUNDS.get(key, (0.0, math.inf)))

    def metrics(self) -> dict[str, Any]:
        """The means over seeds (``collapsed``: the number of collapsed runs)."""
        means = {key: self.summary(key).mean for key in METRIC_KEYS}
        means["collapsed"] = int(np.nansum(self.per_seed.get("collapsed", [])))
        return {"loss": self.label, **means, "seeds": len(self.seeds),
                "ms_per_step": self.ms_per_step, "compile_s": self.compile_s,
                "error": self.error}


# --------------------------------------------------------------------------- metrics


@functools.lru_cache(maxsize=16)
def _evaluator(num_classes: int, spacing: tuple[float, ...]) -> Callable:
    """A jitted ``(predicted labels, labels) -> dict of (B, C-1) arrays`` (one per dataset); a
    missed (or phantom) object's HD95 and ASSD are the image diagonal."""
    from jaxseg_losses.metrics import (
        average_surface_distance,
        dice_score,
        hausdorff_distance,
        iou_score,
    )

    spacing = tuple(float(s) for s in spacing)
    options = dict(num_classes=num_classes, include_background=False)
    surface = dict(sampling=spacing, empty_distance="diagonal", **options)
    foreground = jnp.arange(1, num_classes)

    @jax.jit
    def evaluate(pred: jax.Array, labels: jax.Array) -> dict[str, jax.Array]:
        axes = tuple(range(1, pred.ndim))
        present = lambda x: jnp.any(x[..., None] == foreground, axis=axes)  # noqa: E731
        return {
            "dice": dice_score(pred, labels, **options),
            "iou": iou_score(pred, labels, **options),
            "hd95": hausdorff_distance(pred, labels, percentile=95, **surface),
            "assd": average_surface_distance(pred, labels, **surface),
            "missed": present(pred) != present(labels),  # the distances are the diagonal
        }

    return evaluate


@functools.lru_cache(maxsize=16)
def _dice_only(num_classes: int) -> Callable:
    from jaxseg_losses.metrics import dice_score

    return jax.jit(lambda pred, labels: dice_score(pred, labels, num_classes=num_classes,
                                                   include_background=False))


def _predict_one(graphdef, state, images: jax.Array) -> jax.Array:
    """Argmax label map of one replica's model."""
    model, _ = nnx.merge(graphdef, state)
    return jnp.argmax(model(images), axis=-1).astype(jnp.int32)


# ``graphdef`` is static: every loss (same model, same optimiser) shares one compilation.
_predict = jax.jit(_predict_one, static_argnums=0)


@functools.lru_cache(maxsize=8)
def _vmapped_predict(graphdef, mesh: Mesh, split_replicas: bool) -> Callable:
    predict = jax.vmap(functools.partial(_predict_one, graphdef), in_axes=(0, None))
    if split_replicas:
        predict = _per_device(predict, mesh, (P("devices"), P()))
    return jax.jit(predict, out_shardings=NamedSharding(mesh, P()))


def _per_device(fn: Callable, mesh: Mesh, in_specs: tuple) -> Callable:
    """``fn`` (vmapped over replicas) run by each device on its own replicas (``shard_map``).

    Explicit rather than left to GSPMD: XLA's SPMD partitioner splits the grouped convolution
    that ``vmap`` makes of per-replica convolution weights into an invalid one (feature groups
    not divisible), found with 8 replicas on 8 devices.
    """
    return jax.shard_map(fn, mesh=mesh, in_specs=in_specs, out_specs=P("devices"))


# --------------------------------------------------------------------------- training


def _batch_plans(n_train: int, ndim: int, config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """Batch indices ``(seeds, steps, batch)`` and flips ``(seeds, steps, ndim)``.

    Seed ``s`` draws its plan from ``s + 1`` whatever the loss and the number of seeds, so
    every loss sees the same batches for the same seed (paired comparisons) and replica ``r``
    of a multi-seed run equals a one-seed run with seed ``seed + r``.
    """
    indices, flips = [], []
    for seed in config.seed_list:
        rng = np.random.default_rng(seed + 1)
        replace = config.batch_size > n_train
        indices.append(np.stack([rng.choice(n_train, config.batch_size, replace=replace)
                                 for _ in range(config.steps)]))
        flip = rng.integers(0, 2, size=(config.steps, ndim)).astype(bool)
        flips.append(flip if config.augment else np.zeros_like(flip))
    return np.stack(indices).astype(np.int32), np.stack(flips)


def _flip(x: jax.Array, flips: jax.Array, ndim: int) -> jax.Array:
    for axis in range(ndim):
        x = jnp.where(flips[axis], jnp.flip(x, axis=axis + 1), x)
    return x


@functools.partial(nnx.jit, static_argnums=(0, 1, 2, 3, 4, 6))
def _create(channels, num_classes, ndim, features, depth, seed, learning_rate):
    """Model and optimiser, initialised in one compiled call, shared by every loss and seed.

    The key is an ``rbg`` key: XLA:CPU takes about 13 s of CPU to compile the threefry
    initialisers of this small U-Net and about 2 s with ``rbg`` (measured on a 2-core CPU). The
    seed is traced, so all seeds share the compilation; the replicas are initialised one by one
    (not under ``vmap``, which does not promise the same ``rbg`` bits).
    """
    model = UNet(channels, num_classes, ndim=ndim, features=features, depth=depth,
                 rngs=nnx.Rngs(jax.random.key(seed, impl="rbg")))
    return model, nnx.Optimizer(model, optax.adam(learning_rate), wrt=nnx.Param)


def _initial_states(dataset: Dataset, config: TrainConfig) -> tuple[Any, list[Any]]:
    """The graph definition and one initial (model, optimiser) state per seed."""
    states, graphdef = [], None
    for seed in config.seed_list:
        model, optimizer = _create(dataset.channels, dataset.num_classes, dataset.ndim,
                                   config.features, config.depth, jnp.uint32(seed),
                                   config.learning_rate)
        graphdef, state = nnx.split((model, optimizer))
        states.append(state)
    return graphdef, states


def make_train_step(loss_fn: Callable, graphdef, ndim: int) -> Callable:
    """The train step of one replica (Flax NNX, pure in arrays).

    ``(state, images, labels, indices, flips, i) -> (state, loss, aux)``: batch ``indices[i]``
    of the training set, flipped along the spatial axes where ``flips[i]`` is true, one Adam
    step on ``loss_fn(logits, labels, step=step) -> (total (B,), aux)``; the loss and ``aux``
    are batch means.
    """

    def train_step(state, images, labels, indices, flips, i):
        model, optimizer = nnx.merge(graphdef, state)
        x = _flip(images[indices[i]], flips[i], ndim)
        y = _flip(labels[indices[i]], flips[i], ndim)
        step = optimizer.step[...]

        def objective(model):
            total, aux = loss_fn(model(x), y, step=step)
            return total.mean(), {k: v.mean() for k, v in aux.items()}

        (loss, aux), grads = nnx.value_and_grad(objective, has_aux=True)(model)
        optimizer.update(model, grads)
        return nnx.state((model, optimizer)), loss, aux

    return train_step


def _put(x: Any, sharding: NamedSharding) -> jax.Array:
    """Places a host array on a mesh; every process holds the whole array (multi-host safe)."""
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])


def replica_mode(config: TrainConfig, devices: Sequence[jax.Device]) -> str:
    """``config.replicas`` with ``"auto"`` resolved (see :class:`TrainConfig`)."""
    if config.replicas == "loop" and jax.process_count() > 1:
        raise ValueError("replicas='loop' runs on one device of one process; with several "
                         "processes (--distributed) use 'vmap' or 'auto'")
    if config.replicas != "auto":
        return config.replicas
    return "loop" if len(devices) == 1 and devices[0].platform == "cpu" else "vmap"


def device_layout(config: TrainConfig, devices: Sequence[jax.Device]) -> str:
    """What is split over the devices: ``"replicas"``, ``"batch"`` or ``"none"``.

    The replica axis when the number of seeds is a multiple of the number of devices, else the
    batch when the batch size is; with one device, or neither, nothing is split.
    """
    n = len(devices)
    if n == 1 or replica_mode(config, devices) == "loop":
        return "none"
    if config.seeds % n == 0:
        return "replicas"
    return "batch" if config.batch_size % n == 0 else "none"


class _Replicas:
    """The replicas' states and the compiled step that advances all of them by one batch.

    ``vmap``: one stacked state ``(seeds, ...)`` on a mesh of ``devices``, split as
    :func:`device_layout` says (GSPMD inserts the collectives: a loss that pools its statistics
    over the batch sees the whole batch); ``loop``: one state per seed on ``devices[0]``.
    """

    def __init__(self, train_step: Callable, graphdef, states: list, data: dict[str, Any],
                 plan: tuple[np.ndarray, np.ndarray], config: TrainConfig,
                 devices: Sequence[jax.Device], compiled: dict | None = None):
        self.graphdef = graphdef
        compiled = {} if compiled is None else compiled
        self.mode = replica_mode(config, devices)
        start = time.perf_counter()
        if self.mode == "loop":
            device = devices[0]
            put = functools.partial(jax.device_put, device=device)
            self.data = {k: put(v) for k, v in data.items()}
            self.states = [put(s) for s in states]
            self.plans = [(put(i), put(f)) for i, f in zip(*plan, strict=True)]
            key = ("loop", device)
            if key not in compiled:
                compiled[key] = jax.jit(train_step, donate_argnums=0).lower(
                    self.states[0], self.data["images"], self.data["labels"], *self.plans[0],
                    0).compile()
            self.step_fn = compiled[key]
        else:
            mesh = Mesh(np.asarray(devices), ("devices",))
            layout = device_layout(config, devices)
            self.replicated = NamedSharding(mesh, P())
            split = NamedSharding(mesh, P("devices"))
            state_sharding = split if layout == "replicas" else self.replicated
            index_sharding = {"replicas": split, "batch": NamedSharding(mesh, P(None, None,
                              "devices"))}.get(layout, self.replicated)
            stacked = jax.tree.map(lambda *x: np.stack(x), *jax.device_get(states))
            self.state = jax.tree.map(lambda x: _put(x, state_sharding), stacked)
            self.data = {k: _put(v, self.replicated) for k, v in data.items()}
            self.plan = (_put(plan[0], index_sharding), _put(plan[1], state_sharding))
            batched = jax.vmap(train_step, in_axes=(0, None, None, 0, 0, None))
            self.split_replicas = layout == "replicas"
            if self.split_replicas:
                batched = _per_device(batched, mesh, (P("devices"), P(), P(), P("devices"),
                                                      P("devices"), P()))
            self.mesh = mesh
            key = ("vmap", tuple(devices), layout, len(states))
            if key not in compiled:
                compiled[key] = jax.jit(batched, donate_argnums=0, out_shardings=(
                    state_sharding, self.replicated, self.replicated)).lower(
                    self.state, self.data["images"], self.data["labels"], *self.plan,
                    0).compile()
            self.step_fn = compiled[key]
        self.compile_s = time.perf_counter() - start

    def step(self, i: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One train step of every replica; returns the losses ``(seeds,)`` and terms."""
        images, labels = self.data["images"], self.data["labels"]
        if self.mode == "loop":
            outputs = [self.step_fn(state, images, labels, *plan, i)
                       for state, plan in zip(self.states, self.plans, strict=True)]
            self.states = [out[0] for out in outputs]
            losses = np.array([float(out[1]) for out in outputs])  # synchronises
            aux = {k: np.array([float(out[2][k]) for out in outputs]) for k in outputs[0][2]}
            return losses, aux
        self.state, losses, aux = self.step_fn(self.state, images, labels, *self.plan, i)
        return np.asarray(losses), {k: np.asarray(v) for k, v in aux.items()}

    def predict(self, images: jax.Array) -> np.ndarray:
        """Argmax label maps ``(seeds, N, *spatial)``."""
        if self.mode == "loop":
            return np.stack([np.asarray(_predict(self.graphdef, state, images))
                             for state in self.states])
        predict = _vmapped_predict(self.graphdef, self.mesh, self.split_replicas)
        return np.asarray(predict(self.state, images))


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
    devices: Sequence[jax.Device] | None = None,
    compiled: dict | None = None,
) -> RunResult:
    """Trains and evaluates one loss spec, ``config.seeds`` replicas at once.

    ``devices``: where to run (default: all devices, ``jax.devices()``). ``compiled``: a dict
    that keeps the compiled train step for later calls with the same spec, data and config up
    to ``seed`` (the rounds of :func:`run_sequential`); the compile seconds of a call that
    reuses it are those of the initial states only.
    """
    if isinstance(spec, str):
        spec = parse(spec)
    devices = list(devices or jax.devices())
    kept = _kept_columns(dataset)  # before any compilation: no foreground class is an error
    ctx = BuildContext(dataset.num_classes, config.steps, dataset.spacing, dataset.train_labels)
    loss_fn = build_loss(spec, ctx)
    result = RunResult(spec.label, seeds=config.seed_list)
    ndim, seeds = dataset.ndim, config.seeds
    if plan is None:
        plan = _batch_plans(len(dataset.train_labels), ndim, config)
    graphdef, states = _initial_states(dataset, config)

    data = {"images": dataset.train_images, "labels": dataset.train_labels}
    replicas = _Replicas(make_train_step(loss_fn, graphdef, ndim), graphdef, states, data, plan,
                         config, devices, compiled)
    result.compile_s = replicas.compile_s
    test_images = jnp.asarray(dataset.test_images)
    test_labels = jnp.asarray(np.tile(dataset.test_labels, (seeds,) + (1,) * ndim))
    dice_fn = _dice_only(dataset.num_classes)
    n_test = len(dataset.test_labels)

    def predict() -> np.ndarray:
        return replicas.predict(test_images)

    def per_seed(scores) -> np.ndarray:
        """``(seeds * N, C - 1)`` -> ``(seeds, N, classes kept)``."""
        return np.asarray(scores, np.float64).reshape(seeds, n_test, -1)[..., kept]

    def validation_dice(predictions: np.ndarray) -> np.ndarray:
        scores = dice_fn(predictions.reshape(test_labels.shape), test_labels)
        return per_seed(scores).mean(axis=(1, 2))

    times, curves, losses = [], [validation_dice(predict())], []
    result.curve_steps.append(0)
    diverged: dict[int, int] = {}
    aux: dict[str, np.ndarray] = {}
    bar = _progress_bar(progress, total=config.steps, desc=f"{spec.label[:38]:38s}",
                        position=position)
    with bar:
        for i in range(config.steps):
            t0 = time.perf_counter()
            loss, aux = replicas.step(i)
            times.append(time.perf_counter() - t0)
            losses.append(loss)
            for r in np.flatnonzero(~np.isfinite(loss)):
                diverged.setdefault(int(r), i)
            if len(diverged) == seeds:
                bar.set_postfix_str("non-finite loss")
                break
            if (i + 1) % config.eval_interval == 0 or i + 1 == config.steps:
                result.curve_steps.append(i + 1)
                curves.append(validation_dice(predict()))
                bar.set_postfix(loss=f"{np.nanmean(loss):.4f}", dice=f"{curves[-1].mean():.3f}")
            bar.update(1)
    result.ms_per_step = 1e3 * float(np.median(times[1:] if len(times) > 1 else times))
    result.train_loss = np.stack(losses, axis=1).tolist()
    result.curve_dice = np.stack(curves, axis=1).tolist()
    result.final_terms = {k: float(np.nanmean(v)) for k, v in aux.items()}
    if diverged:
        result.error = "; ".join(f"seed {result.seeds[r]}: non-finite loss at step {i}"
                                 for r, i in sorted(diverged.items()))
    predictions = predict()
    evaluate = _evaluator(dataset.num_classes, tuple(float(s) for s in dataset.spacing))
    scores = evaluate(jnp.asarray(predictions.reshape(test_labels.shape)), test_labels)
    scores = {k: per_seed(v) for k, v in scores.items()}
    values = {k: scores[k].mean(axis=(1, 2)) for k in ("dice", "iou", "hd95", "assd")}
    values["missed"] = scores["missed"].sum(axis=(1, 2))
    values["collapsed"] = (predictions.reshape(seeds, -1) == 0).all(axis=1).astype(float)
    for r in diverged:
        for v in values.values():
            v[r] = math.nan
    result.per_seed = {k: v.tolist() for k, v in values.items()}
    shown = median_seed_index(values["dice"])
    result.prediction_seed = result.seeds[shown]
    result.predictions = predictions[shown].astype(np.int8)
    return result


def median_seed_index(dice: Sequence[float]) -> int:
    """Index of the median seed by Dice: the median of the finite values for an odd count, the
    lower of the two middle ones for an even count (0 when none is finite)."""
    dice = np.asarray(dice, np.float64)
    finite = np.flatnonzero(np.isfinite(dice))
    if finite.size == 0:
        return 0
    order = finite[np.argsort(dice[finite], kind="stable")]
    return int(order[(finite.size - 1) // 2])


def _kept_columns(dataset: Dataset) -> np.ndarray:
    """Columns of the foreground metrics ``(..., C - 1)`` of the classes present in the test set.

    Raises ``ValueError`` when no foreground class has a test pixel (nothing to measure).
    """
    absent = set(dataset.absent_test_classes())
    kept = np.array([c - 1 for c in range(1, dataset.num_classes) if c not in absent], int)
    if kept.size == 0:
        raise ValueError(f"data {dataset.name!r}: the test set has no foreground pixel (classes "
                         f"1..{dataset.num_classes - 1} are all absent); nothing to evaluate: "
                         "choose another split (--seed, --test-fraction) or --test-data")
    return kept


def run_comparison(
    specs: Sequence[LossSpec | str],
    dataset: Dataset,
    config: TrainConfig,
    *,
    progress: bool = True,
    devices: Sequence[jax.Device] | None = None,
    compiled: Sequence[dict] | None = None,
) -> list[RunResult]:
    """Trains every spec (same initialisations, same batches per seed); one result per spec.

    All specs are parsed and built before any training, so a bad spec fails at once.
    ``compiled``: one dict per spec, kept between calls (see :func:`train_one`).
    """
    specs = [parse(s) if isinstance(s, str) else s for s in specs]
    ctx = BuildContext(dataset.num_classes, config.steps, dataset.spacing, dataset.train_labels)
    for spec in specs:
        check_loss(spec, ctx, dataset.spatial_shape)
    plan = _batch_plans(len(dataset.train_labels), dataset.ndim, config)
    compiled = compiled or [None] * len(specs)
    return [train_one(spec, dataset, config, plan=plan, progress=progress, devices=devices,
                      compiled=cache) for spec, cache in zip(specs, compiled, strict=True)]


def merge_rounds(rounds: Sequence[RunResult]) -> RunResult:
    """One result from the rounds of one spec (consecutive seed blocks): per-seed values and
    curves appended; ms/step and compile seconds summed (a step of all seeds together, the
    compilation spent); the predictions of the round that holds the median seed of them all."""
    first = rounds[0]
    merged = dataclasses.replace(first, seeds=[], per_seed={k: [] for k in first.per_seed},
                                 train_loss=[], curve_dice=[])
    for r in rounds:
        merged.seeds += r.seeds
        for key, values in r.per_seed.items():
            merged.per_seed[key] += values
        merged.train_loss += r.train_loss
        merged.curve_dice += r.curve_dice
    merged.ms_per_step = float(sum(r.ms_per_step for r in rounds))
    merged.compile_s = float(sum(r.compile_s for r in rounds))
    weights = [len(r.seeds) for r in rounds]
    merged.final_terms = {k: float(np.average([r.final_terms.get(k, math.nan) for r in rounds],
                                              weights=weights)) for k in first.final_terms}
    errors = [r.error for r in rounds if r.error]
    merged.error = "; ".join(errors) if errors else None
    if "dice" in merged.per_seed:  # the figure shows the median seed of all rounds
        median = merged.seeds[median_seed_index(merged.per_seed["dice"])]
        holder = next((r for r in rounds if r.prediction_seed == median), None)
        if holder is None:  # each round kept its own median: re-pick among those shown
            shown = [r for r in rounds if r.prediction_seed is not None]
            dice = [r.per_seed["dice"][r.seeds.index(r.prediction_seed)] for r in shown]
            holder = shown[median_seed_index(dice)] if shown else first
        merged.predictions, merged.prediction_seed = holder.predictions, holder.prediction_seed
    return merged


def run_sequential(
    specs: Sequence[LossSpec | str],
    dataset: Dataset,
    config: TrainConfig,
    *,
    max_seeds: int = 10,
    time_budget: float | None = None,
    rule: DecisionRule | None = None,
    first: int = 3,
    step: int = 3,
    progress: bool = True,
    devices: Sequence[jax.Device] | None = None,
    report: Callable[[str], None] | None = None,
) -> tuple[list[RunResult], DecisionRule, SequentialLog]:
    """``--seeds auto``: trains seed blocks for every spec (paired) until every loss is decided.

    The looks are at :func:`~jaxseg_losses.experiment.stats.sequential_plan` ``(max_seeds,
    first, step)`` seeds, each at level ``rule.alpha / L`` (``L`` planned looks, a Bonferroni
    split, valid however the run stops). After each round the verdicts are computed; the run
    stops when every loss is decided, at ``max_seeds``, or when the next round would end after
    ``time_budget`` seconds (its duration estimated from the last round's, per seed). Seeds are
    ``config.seed, config.seed + 1, ...`` as in a fixed run (``config.seeds`` is ignored).

    Returns the merged results, the :class:`~jaxseg_losses.experiment.stats.DecisionRule` used
    (``rule`` with ``looks = L``) and the :class:`~jaxseg_losses.experiment.stats.SequentialLog`.
    """
    plan = sequential_plan(max_seeds, first, step)
    rule = dataclasses.replace(rule or DEFAULT_RULE, looks=len(plan))
    log = SequentialLog(plan=plan, max_seeds=max_seeds, time_budget=time_budget)
    specs = [parse(s) if isinstance(s, str) else s for s in specs]
    compiled: list[dict] = [{} for _ in specs]
    rounds: list[list[RunResult]] = [[] for _ in specs]
    start = time.perf_counter()
    done = 0
    for n in plan:
        round_config = dataclasses.replace(config, seed=config.seed + done, seeds=n - done)
        t0 = time.perf_counter()
        block = run_comparison(specs, dataset, round_config, progress=progress,
                               devices=devices, compiled=compiled)
        per_seed_s = (time.perf_counter() - t0) / (n - done)
        done = n
        for store, result in zip(rounds, block, strict=True):
            store.append(result)
        merged = [merge_rounds(r) for r in rounds]
        standings = rank({r.label: r.per_seed["dice"] for r in merged}, span=1.0,
                         alpha=rule.level, margin=rule.margin)
        undecided = [k for k, v in standings.items() if v.verdict == "inconclusive"]
        best = next(k for k, v in standings.items() if v.rank == 1)
        elapsed = time.perf_counter() - start
        log.looks.append({"seeds": n, "best": best, "decided": len(standings) - 1 - len(undecided),
                          "undecided": undecided, "elapsed_s": elapsed})
        if report is not None:
            report(f"look {len(log.looks)}/{len(plan)} at {n} seeds (level {rule.level:.4g}): "
                   f"{len(standings) - 1 - len(undecided)} of {len(standings) - 1} decided "
                   f"against the best by mean, {best}"
                   + (f"; undecided: {', '.join(undecided)}" if undecided else "")
                   + f" ({elapsed:.0f} s)")
        if all_decided(standings):
            log.stopped = "all decided"
            break
        if n == plan[-1]:
            log.stopped = "max seeds"
            break
        following = plan[plan.index(n) + 1] - n
        if time_budget is not None and elapsed + following * per_seed_s > time_budget:
            log.stopped = "time budget"
            break
    return merged, rule, log
