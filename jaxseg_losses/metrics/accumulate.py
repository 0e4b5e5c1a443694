r"""Metrics over a whole data set: states that accumulate batch by batch on the device.

A metric state is a small pytree of arrays (a frozen dataclass registered with
``jax.tree_util.register_dataclass``) that follows the protocol of ``clu.metrics.Metric`` and of
Google's ``metrax`` (whose metrics are ``clu`` metrics), without depending on either:

* ``State.from_model_output(predictions, labels, **options)``: the state of one batch;
* ``state.merge(other)``: the state of both (associative and commutative; batches, devices and
  hosts are merged the same way);
* ``state.reduce()``: merges the states stacked along a leading axis (``clu``'s
  ``jax.lax.all_gather(state, axis_name).reduce()``, ``jax.vmap`` outputs,
  ``multihost_utils.process_allgather``); ``state.reduce_over(axis_name)``: the same inside
  ``shard_map`` / ``pmap`` with one ``psum`` (the result is replicated);
* ``State.empty()``: the neutral element; ``state.compute()``: the final value.

Two kinds of state:

* **pooled counts** (:class:`ConfusionCounts`, :class:`GlobalDice`, :class:`GlobalIoU`): TP,
  FP, FN and TN per class summed over every pixel of the data set, so Dice and IoU are the
  *global* ratios, equal to a single call on the concatenated data, whatever the batching or
  sharding;
* **per-example means** (:func:`MeanOf`, :class:`PerImageDice`, :class:`PerImageIoU`): the sum
  and count of a per-example metric (``(B,)`` or ``(B, C)``), so ``compute()`` is the macro
  mean of the per-example scores. Only finite values enter the mean; NaN values (``ignore_empty``,
  an ``ignore_index`` class, bad inputs under ``jit``) and infinite ones (a surface distance
  with one empty mask: a missed or spurious object) are counted apart, in ``nan_count`` and
  ``inf_count``.

**Exact counts.** A float32 running sum stops counting exactly at :math:`2^{24}` (16.8 M
voxels: one 256³ volume), and int32 overflows at :math:`2^{31}` (2.1 G voxels: 16 volumes of
512³), both well within one 3-D validation set, and int64 needs ``jax_enable_x64``. So every
count is held as two int32 words, ``(..., 2) = (high, low)`` with value ``high * 2**16 + low``
and ``0 <= low < 2**16`` after each merge: exact up to :math:`2^{47}` (1.4e14) pixels per class,
with plain int32 adds (each example is counted in int32 first, so an example must have fewer than
:math:`2^{31}` pixels, and a batch fewer than :math:`2^{15}` examples). The float sums of
:func:`MeanOf` states are compensated the same way: ``(..., 2) = (sum, error)`` with the
rounding error of every merge kept (TwoSum), so a mean over a million examples keeps float32
precision. :meth:`ConfusionCounts.counts` gives the counts as floats, ``exact_counts`` as
NumPy int64 on the host.

**Across devices and hosts.** Under ``jax.jit`` with the batch sharded over devices
(``NamedSharding``), ``from_model_output`` already sums over the global batch (XLA inserts the
all-reduce) and the state comes out replicated: nothing else to do, on one host or many
(multi-controller ``jit`` over global arrays). Inside ``shard_map`` (or ``pmap``) each device
holds the state of its shard: ``state.reduce_over("data")`` sums them. States computed by
separate processes (each host on its own data, outside a global ``jit``) are merged by gathering
them: ``multihost_utils.process_allgather(state).reduce()``, then ``compute()`` on every host.

**Empty data set.** ``compute()`` of a state that has seen no pixel does not fail: pooled Dice /
IoU give ``empty_score`` (1: nothing to find, nothing found, as the metrics on empty masks;
shape ``(C,)`` after ``empty(num_classes=C)``, a scalar after ``empty()``), a mean of no value
is NaN (as ``jnp.mean`` of nothing).

**With ``clu``.** The classes work as ``clu.metrics.Collection`` fields: bind the options with
``with_options`` (``clu`` calls ``from_model_output(**model_outputs)`` with every model output and
``compute()`` with no argument); the bound class reads ``predictions`` (or ``clu``'s ``logits``)
and ``labels``, passes the options it knows and ignores other outputs (``loss=``), and takes a
``(B,)`` ``mask`` (``clu``'s per-example mask of padded examples) as ``example_mask``::

    @flax.struct.dataclass
    class EvalMetrics(clu.metrics.Collection):
        dice: GlobalDice.with_options(average="macro", include_background=False)
        hd95: MeanOf(hausdorff_distance, percentile=95).with_options(average="macro")
        loss: clu.metrics.Average.from_output("loss")

Example:
  >>> import jax, jax.numpy as jnp
  >>> from jaxseg_losses.metrics import GlobalDice
  >>> truth = jnp.array([[[0, 1, 1, 0]], [[0, 0, 0, 0]]])
  >>> pred = jnp.array([[[0, 1, 0, 0]], [[0, 0, 0, 1]]])
  >>> state = GlobalDice.empty(num_classes=2)
  >>> for b in range(2):  # batch by batch
  ...     state = state.merge(GlobalDice.from_model_output(pred[b:b + 1], truth[b:b + 1],
  ...                                                      num_classes=2))
  >>> state.compute()  # class 1: 2 * 1 / (2 + 2)
  Array([0.8333333, 0.5      ], dtype=float32)
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from jaxseg_losses._inputs import (
    Renamed,
    boolean_options,
    check_boolean_keywords,
    check_choice,
    renamed_options,
    shape_str,
    translate_options,
)
from jaxseg_losses._numerics import keep_classes
from jaxseg_losses.metrics._hard import hard_masks
from jaxseg_losses.metrics.confusion import confusion_from_counts
from jaxseg_losses.metrics.overlap import dice_score, iou_score

_SHIFT = 16
_LOW = (1 << _SHIFT) - 1
AVERAGES = ("none", "macro")  # compute(average=): per class, or their mean (NaN skipped)
# compute's former ``reduction`` ("class" / "mean"), accepted until the next release.
_FORMER_REDUCTION = Renamed("average", {"class": "none", "mean": "macro"})


# --------------------------------------------------------------------------- two-word sums


def _carry(words: jax.Array) -> jax.Array:
    """Exact counts ``(..., 2) = (high, low)``: the carry of ``low`` moved into ``high``."""
    low = words[..., 1]
    return jnp.stack([words[..., 0] + (low >> _SHIFT), low & _LOW], axis=-1)


def _exact_sum(counts: jax.Array) -> jax.Array:
    """Non-negative int32 counts ``(B, ...)`` -> their exact sum over ``B`` as ``(..., 2)``."""
    words = jnp.stack([counts >> _SHIFT, counts & _LOW], axis=-1)
    return _carry(jnp.sum(words, axis=0, dtype=jnp.int32))


def _exact_value(words: jax.Array) -> jax.Array:
    """``(..., 2)`` exact counts -> float32 values (one rounding)."""
    return words[..., 0].astype(jnp.float32) * float(1 << _SHIFT) + words[..., 1].astype(
        jnp.float32)


def _two_sum(a: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``a + b`` as ``(s, e)`` with ``s + e`` exact (Knuth's TwoSum)."""
    s = a + b
    b_part = s - a
    return s, (a - (s - b_part)) + (b - b_part)


def _renormalize(pairs: jax.Array) -> jax.Array:
    """``(..., 2) = (sum, error)`` with ``|error|`` below half an ulp of ``sum``."""
    s, e = _two_sum(pairs[..., 0], pairs[..., 1])
    return jnp.stack([s, e], axis=-1)


def _compensated_add(x: jax.Array, y: jax.Array) -> jax.Array:
    s, e = _two_sum(x[..., 0], y[..., 0])
    return _renormalize(jnp.stack([s, e + x[..., 1] + y[..., 1]], axis=-1))


# Field kinds: how a field is added and normalised.
_EXACT, _COMPENSATED, _PLAIN = "exact", "compensated", "plain"


def _add(kind: str, x: jax.Array, y: jax.Array) -> jax.Array:
    if kind == _COMPENSATED:
        return _compensated_add(x, y)
    return _carry(x + y) if kind == _EXACT else x + y


def _normalize(kind: str, x: jax.Array) -> jax.Array:
    if kind == _COMPENSATED:
        return _renormalize(x)
    return _carry(x) if kind == _EXACT else x


def _register(cls):
    """A frozen dataclass, registered as a pytree whose fields are all data (array leaves)."""
    cls = dataclasses.dataclass(frozen=True)(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    return jax.tree_util.register_dataclass(cls, data_fields=names, meta_fields=[])


def _example_keep(example_mask, batch: int) -> jax.Array:
    """``example_mask`` ``(B,)`` (bool or numbers, non-zero = counted) -> bool ``(B,)``."""
    if example_mask is None:
        return jnp.ones((batch,), bool)
    keep = jnp.asarray(example_mask)
    if keep.shape != (batch,):
        raise ValueError(f"example_mask: expected shape (B,) = ({batch},); got shape "
                         f"{shape_str(keep.shape)}")
    return keep != 0


class _SummedState:
    """Shared protocol: every field is a sum, so merging is adding (per field kind)."""

    _KINDS: ClassVar[dict[str, str]] = {}

    def _fields(self) -> dict[str, jax.Array]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def merge(self, other):
        """The state of both ``self`` and ``other`` (associative, commutative; ``empty()`` is
        neutral). Shapes broadcast, so an ``empty()`` state merges with any state."""
        b = other._fields()
        return type(self)(**{name: _add(self._KINDS[name], value, b[name])
                             for name, value in self._fields().items()})

    def reduce(self):
        """Merges the states stacked along the leading axis of every field (``clu``'s
        ``Metric.reduce``: after ``jax.lax.all_gather``, ``jax.vmap`` or
        ``multihost_utils.process_allgather``)."""
        return type(self)(**{
            name: _normalize(self._KINDS[name], jnp.sum(value, axis=0, dtype=value.dtype))
            for name, value in self._fields().items()})

    def reduce_over(self, axis_name):
        """Inside ``shard_map`` / ``pmap``: merges the states of every device along
        ``axis_name`` (a name or a tuple of names) with one ``psum``; the result is the same on
        every device."""
        summed = jax.lax.psum(self._fields(), axis_name)
        return type(self)(**{name: _normalize(self._KINDS[name], value)
                             for name, value in summed.items()})


def _option_names(fn) -> set[str]:
    params = inspect.signature(fn).parameters.values()
    return {p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}


def _bind_options(cls, options: dict[str, Any], update_fn, update_names: set[str]):
    """A subclass of ``cls`` whose ``from_model_output`` and ``compute`` default to
    ``options`` (see ``with_options``)."""
    compute_names = _option_names(cls.compute)
    options = translate_options(cls.compute, options, stacklevel=4)  # user, with_options, here
    unknown = set(options) - compute_names - update_names
    if unknown:
        raise TypeError(f"with_options: unknown option(s) {sorted(unknown)} for {cls.__name__}; "
                        f"known: {sorted(compute_names | update_names)}")
    compute_options = {k: v for k, v in options.items() if k in compute_names}
    update_options = {k: v for k, v in options.items() if k not in compute_names}
    check_boolean_keywords(cls.compute, compute_options)
    check_boolean_keywords(update_fn, update_options)
    if "average" in compute_options:
        check_choice("average", compute_options["average"], AVERAGES)

    def from_model_output(klass, predictions=None, labels=None, **model_outputs):
        if predictions is None:
            predictions = model_outputs.get("logits")  # clu's name for the model output
        kwargs = {k: v for k, v in model_outputs.items() if k in update_names}
        mask = kwargs.get("mask")
        if mask is not None and np.ndim(mask) == 1:  # clu's per-example mask
            kwargs["example_mask"] = kwargs.pop("mask")
        return super(bound, klass).from_model_output(predictions, labels,
                                                     **{**update_options, **kwargs})

    def compute(self, **kwargs):
        kwargs = translate_options(cls.compute, kwargs, stacklevel=3)
        return super(bound, self).compute(**{**compute_options, **kwargs})

    from_model_output.__doc__ = (
        f"``{cls.__name__}.from_model_output`` with the bound options {update_options}; other "
        "model outputs are ignored, ``logits`` stands for ``predictions`` and a ``(B,)`` "
        "``mask`` is the ``example_mask``.")
    compute.__doc__ = f"``{cls.__name__}.compute`` with the bound options {compute_options}."
    bound = type(cls.__name__, (cls,), {
        "__doc__": cls.__doc__, "__module__": cls.__module__, "__qualname__": cls.__qualname__,
        "from_model_output": classmethod(from_model_output), "compute": compute,
        "bound_options": {**getattr(cls, "bound_options", {}), **options},
    })
    return _register(bound)


# --------------------------------------------------------------------------- pooled counts


@_register
class ConfusionCounts(_SummedState):
    r"""Pooled confusion counts per class over a data set: TP, FP, FN, TN summed over every
    scored pixel of every example, so the global (micro) Dice, IoU or any confusion-matrix
    metric of the whole data set comes out of ``compute``.

    .. math::
        \mathrm{Dice}_c = \frac{2\,TP_c}{2\,TP_c + FP_c + FN_c},\qquad
        \mathrm{IoU}_c = \frac{TP_c}{TP_c + FP_c + FN_c}

    with the counts summed over the data set before the ratio: the same value as a single
    call on all the data at once (the examples side by side in one image), whatever the batches,
    devices or hosts. Counts are exact integers (see the module docstring: two int32 words).

    Attributes:
      tp, fp, fn, tn: int32 ``(C, 2)`` exact counts per class, ``(high, low)`` with value
        ``high * 2**16 + low`` (:meth:`counts` gives them as numbers); ``(2,)`` for
        ``empty()``.
      nan_count: int32 ``(C,)``: how many counted examples make the class NaN: examples with a
        bad value (NaN logits, labels out of range... under ``jit``; eager calls raise), and
        every example for the class named by ``ignore_index``. ``compute`` is NaN where it is
        positive.
    """

    tp: jax.Array
    fp: jax.Array
    fn: jax.Array
    tn: jax.Array
    nan_count: jax.Array

    _KINDS: ClassVar[dict[str, str]] = {
        "tp": _EXACT, "fp": _EXACT, "fn": _EXACT, "tn": _EXACT, "nan_count": _PLAIN}
    _METRIC: ClassVar[str] = "dice"

    @classmethod
    def empty(cls, *, num_classes: int | None = None):
        """The state of no data (``merge``'s neutral element): zeros of shape ``(C, 2)`` with
        ``num_classes`` (a fixed shape, for a ``jax.lax.scan`` carry or to jit the update once),
        scalar words ``(2,)`` without (they broadcast in ``merge``; ``clu`` calls ``empty()``)."""
        shape = () if num_classes is None else (num_classes,)
        words = jnp.zeros(shape + (2,), jnp.int32)
        return cls(tp=words, fp=words, fn=words, tn=words,
                   nan_count=jnp.zeros(shape, jnp.int32))

    @classmethod
    @boolean_options
    def from_model_output(
        cls,
        predictions: jax.typing.ArrayLike,
        labels: jax.typing.ArrayLike,
        *,
        num_classes: int | None = None,
        mode: str = "multiclass",
        from_logits: bool = True,
        threshold: float = 0.5,
        mask: jax.typing.ArrayLike | None = None,
        ignore_index: int | None = None,
        example_mask: jax.typing.ArrayLike | None = None,
    ):
        """The counts of one batch.

        Args:
          predictions, labels, num_classes, mode, from_logits, threshold, mask, ignore_index: as
            :func:`~jaxseg_losses.metrics.dice_score` (every input form of the metrics).
          example_mask: ``(B,)`` examples to count (non-zero = counted), e.g. ``False`` for the
            padding of a last, incomplete batch. Default ``None`` (all).

        Returns:
          The state of the batch; every class is counted (``include_background`` is a
          ``compute`` option).
        """
        masks = hard_masks(predictions, labels, num_classes=num_classes, mode=mode,
                           from_logits=from_logits, threshold=threshold, mask=mask,
                           ignore_index=ignore_index)
        batch = masks.pred.shape[0]
        keep = _example_keep(example_mask, batch)[:, None]
        axes = tuple(range(1, masks.pred.ndim - 1))
        tp = jnp.sum(masks.pred & masks.true, axis=axes, dtype=jnp.int32)
        pred = jnp.sum(masks.pred, axis=axes, dtype=jnp.int32)
        true = jnp.sum(masks.true, axis=axes, dtype=jnp.int32)
        scored = jnp.sum(masks.weights > 0, axis=axes, dtype=jnp.int32)[:, None]
        counted = lambda x: _exact_sum(jnp.where(keep, x, 0))  # noqa: E731
        nan = (masks.bad[:, None] | masks.void[None, :]) & keep
        return cls(tp=counted(tp), fp=counted(pred - tp), fn=counted(true - tp),
                   tn=counted(scored - pred - true + tp),
                   nan_count=jnp.sum(nan, axis=0, dtype=jnp.int32))

    def counts(self) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
        """``(TP, FP, FN, TN)`` as float32 ``(C,)`` (exact below :math:`2^{24}`, then one
        rounding). ``exact_counts()`` gives NumPy int64 on the host."""
        return tuple(_exact_value(w) for w in (self.tp, self.fp, self.fn, self.tn))

    def exact_counts(self) -> tuple[np.ndarray, ...]:
        """``(TP, FP, FN, TN)`` as NumPy int64 ``(C,)`` (on the host; not under ``jit``)."""
        return tuple(np.asarray(w[..., 0], np.int64) * (1 << _SHIFT) + np.asarray(w[..., 1])
                     for w in (self.tp, self.fp, self.fn, self.tn))

    @renamed_options(reduction=_FORMER_REDUCTION)
    @boolean_options
    def compute(
        self,
        *,
        metric: str | Callable[..., jax.Array] | None = None,
        include_background: bool = True,
        empty_score: float = 1.0,
        average: str = "none",
    ) -> jax.Array:
        """The metric of the pooled counts.

        Args:
          metric: any name of :func:`~jaxseg_losses.metrics.confusion_metric` (``"dice"``,
            ``"iou"``, ``"sensitivity"``, ``"mcc"``..., computed by
            :func:`~jaxseg_losses.metrics.confusion_from_counts` with
            ``zero_division=empty_score``) or a function
            ``(tp, fp, fn, tn, empty_score) -> (C,)`` of float32 ``(C,)`` counts. Default
            ``None``: the class's own (``"dice"`` for ``ConfusionCounts`` and ``GlobalDice``,
            ``"iou"`` for ``GlobalIoU``).
          include_background: keep class 0. Default ``True``.
          empty_score: the value of a class absent from both the predictions and the truth of
            the whole data set (zero denominator). Default 1, as the metrics.
          average: ``"none"`` (default): one value per kept class; ``"macro"``: their mean,
            skipping NaN classes (the ``ignore_index`` class), NaN if every one is NaN (the
            metrics' ``average``). Renamed from ``reduction`` (``"class"``, ``"mean"``; still
            accepted, with a ``DeprecationWarning``, until the next release).

        Returns:
          float32 ``(C,)`` (``(C - 1,)`` without background) or a scalar with
          ``average="macro"``; NaN where ``nan_count`` is positive.
        """
        check_choice("average", average, AVERAGES)
        metric = self._METRIC if metric is None else metric
        if isinstance(metric, str):
            name = metric  # a confusion-matrix metric: empty_score is its zero_division

            def metric(tp, fp, fn, tn, empty):  # the counts of empty() are scalars
                counts = (jnp.atleast_1d(c) for c in (tp, fp, fn, tn))
                value = confusion_from_counts(*counts, metric=name, zero_division=empty)
                return value.reshape(jnp.shape(tp))
        values = metric(*self.counts(), empty_score)
        values = jnp.where(self.nan_count > 0, jnp.nan, values)
        if values.ndim:
            values = keep_classes(values, include_background)
        return jnp.nanmean(values) if average == "macro" and values.ndim else values

    @classmethod
    def with_options(cls, **options):
        """This class with default options bound, for ``clu.metrics.Collection`` (whose
        ``from_model_output`` and ``compute`` pass none).

        Args:
          **options: ``from_model_output`` options (``num_classes``, ``mode``, ``mask``...) and
            ``compute`` options (``metric``, ``include_background``, ``average``...).

        Returns:
          A subclass whose methods default to ``options``; its ``from_model_output`` also takes
          ``logits`` for ``predictions``, a ``(B,)`` ``mask`` as ``example_mask``, and ignores
          other model outputs.
        """
        update = cls.from_model_output
        return _bind_options(cls, options, update, _option_names(update))


@_register
class GlobalDice(ConfusionCounts):
    """Pooled (global, micro) Dice per class over a data set: :class:`ConfusionCounts` whose
    ``compute()`` is Dice. Equal to the Dice of all the data at once (``per_image=False`` of the
    losses, over the whole data set).

    Attributes:
      tp, fp, fn, tn, nan_count: as :class:`ConfusionCounts`.
    """

    _METRIC: ClassVar[str] = "dice"


@_register
class GlobalIoU(ConfusionCounts):
    """Pooled (global, micro) IoU per class over a data set: :class:`ConfusionCounts` whose
    ``compute()`` is IoU (the usual data-set mIoU of semantic segmentation with
    ``average="macro"``).

    Attributes:
      tp, fp, fn, tn, nan_count: as :class:`ConfusionCounts`.
    """

    _METRIC: ClassVar[str] = "iou"


# --------------------------------------------------------------------------- per-example means


@_register
class PerExampleMean(_SummedState):
    """Running mean of per-example values over a data set (the state of :func:`MeanOf`).

    Only finite values are averaged; NaN and infinite ones are counted apart. Per class when
    the values are ``(B, C)``.

    Attributes:
      total: float32 ``(..., 2)``: the sum of the finite values, compensated
        ``(sum, rounding error)``.
      count: int32 ``(...)``: how many finite values.
      inf_count: int32 ``(...)``: how many infinite values (a surface distance with exactly one
        empty mask: a missed or spurious object).
      nan_count: int32 ``(...)``: how many NaN values (``ignore_empty``, the ``ignore_index``
        class, bad inputs under ``jit``).
    """

    total: jax.Array
    count: jax.Array
    inf_count: jax.Array
    nan_count: jax.Array

    _KINDS: ClassVar[dict[str, str]] = {
        "total": _COMPENSATED, "count": _PLAIN, "inf_count": _PLAIN, "nan_count": _PLAIN}
    metric_fn: ClassVar[Callable[..., jax.Array] | None] = None
    metric_options: ClassVar[dict[str, Any]] = {}

    @classmethod
    def empty(cls, *, shape: tuple[int, ...] = ()):
        """The state of no example; ``shape`` is the per-example value's (``(C,)`` for a
        ``(B, C)`` metric: a fixed shape for a ``jax.lax.scan`` carry); the default ``()``
        broadcasts in ``merge``."""
        counts = jnp.zeros(shape, jnp.int32)
        return cls(total=jnp.zeros(tuple(shape) + (2,), jnp.float32), count=counts,
                   inf_count=counts, nan_count=counts)

    @classmethod
    def from_values(cls, values: jax.typing.ArrayLike, *,
                    example_mask: jax.typing.ArrayLike | None = None):
        """The state of per-example values ``(B, ...)`` (e.g. a metric's or a loss's output).

        Args:
          values: ``(B, ...)`` numbers, one entry per example (and class).
          example_mask: ``(B,)`` examples to count, non-zero = counted. Default ``None``.

        Returns:
          The state of these values.
        """
        values = jnp.asarray(values, jnp.float32)
        if values.ndim == 0:
            raise ValueError("values: expected per-example values (B, ...); got a scalar")
        keep = _example_keep(example_mask, values.shape[0])
        keep = keep.reshape(keep.shape + (1,) * (values.ndim - 1))
        finite = jnp.isfinite(values) & keep
        total = jnp.sum(jnp.where(finite, values, 0.0), axis=0)
        return cls(total=jnp.stack([total, jnp.zeros_like(total)], axis=-1),
                   count=jnp.sum(finite, axis=0, dtype=jnp.int32),
                   inf_count=jnp.sum(jnp.isinf(values) & keep, axis=0, dtype=jnp.int32),
                   nan_count=jnp.sum(jnp.isnan(values) & keep, axis=0, dtype=jnp.int32))

    @classmethod
    def from_model_output(cls, predictions: jax.typing.ArrayLike,
                          labels: jax.typing.ArrayLike, *,
                          example_mask: jax.typing.ArrayLike | None = None, **options):
        """The state of one batch: ``metric_fn(predictions, labels, **options)`` per example.

        Args:
          predictions, labels: the metric's inputs (every form the metrics take).
          example_mask: ``(B,)`` examples to count (non-zero = counted), e.g. ``False`` for the
            padding of a last, incomplete batch. Default ``None`` (all).
          **options: the metric's options (``num_classes``, ``mask``, ``ignore_index``,
            ``include_background``, ``percentile``...), over those given to :func:`MeanOf`.

        Returns:
          The state of the batch.
        """
        if cls.metric_fn is None:
            raise TypeError(f"{cls.__name__} has no metric: use MeanOf(metric_fn) or "
                            f"{cls.__name__}.from_values")
        values = cls.metric_fn(predictions, labels, **{**cls.metric_options, **options})
        return cls.from_values(values, example_mask=example_mask)

    @renamed_options(reduction=_FORMER_REDUCTION)
    def compute(self, *, average: str = "none") -> jax.Array:
        """The mean of the finite values.

        Args:
          average: ``"none"`` (default): per entry of the per-example value (per class for a
            ``(B, C)`` metric); ``"macro"``: the mean of those means (over classes), skipping
            NaN. Renamed from ``reduction`` (``"class"``, ``"mean"``; still accepted, with a
            ``DeprecationWarning``, until the next release).

        Returns:
          float32 of the per-example value's shape, or a scalar with ``average="macro"``; NaN
          where no finite value was seen (an empty data set).
        """
        check_choice("average", average, AVERAGES)
        total = self.total[..., 0] + self.total[..., 1]
        mean = jnp.where(self.count > 0, total / jnp.maximum(self.count, 1), jnp.nan)
        return jnp.nanmean(mean) if average == "macro" and mean.ndim else mean

    @classmethod
    def with_options(cls, **options):
        """This class with default options bound, for ``clu.metrics.Collection``.

        Args:
          **options: the metric's options and ``compute``'s ``average``.

        Returns:
          A subclass whose methods default to ``options``; its ``from_model_output`` also takes
          ``logits`` for ``predictions``, a ``(B,)`` ``mask`` as ``example_mask``, and ignores
          other model outputs.
        """
        fn = cls.metric_fn
        if fn is None:
            raise TypeError(f"{cls.__name__} has no metric: use MeanOf(metric_fn)")
        names = _option_names(fn) | {"example_mask"}
        return _bind_options(cls, options, fn, names)


def MeanOf(metric_fn: Callable[..., jax.Array], **options) -> type[PerExampleMean]:  # noqa: N802
    """A state class for the data-set mean of a per-example metric (``clu``'s
    ``Average.from_fun`` for segmentation metrics): HD95, ASSD, surface Dice, per-image Dice...

    Args:
      metric_fn: ``(predictions, labels, **options) -> (B,)`` or ``(B, C)``, e.g.
        :func:`~jaxseg_losses.metrics.hausdorff_distance`.
      **options: default options of ``metric_fn`` (checked: boolean options take ``True`` /
        ``False``), e.g. ``percentile=95``; ``from_model_output`` options override them.

    Returns:
      A :class:`PerExampleMean` subclass: ``from_model_output(predictions, labels, **options)``
      evaluates ``metric_fn``; ``compute()`` is the mean of the finite values per entry; the
      counts of infinite (missed) and NaN values are its ``inf_count`` and ``nan_count``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxseg_losses.metrics import MeanOf, hausdorff_distance
      >>> HD95 = MeanOf(hausdorff_distance, percentile=95, num_classes=2)
      >>> truth = jnp.zeros((2, 6, 6), int).at[:, 1:4, 1:4].set(1)
      >>> pred = truth.at[0, 1:4, 4].set(1).at[1].set(0)  # one column wider; nothing found
      >>> state = HD95.from_model_output(pred, truth)
      >>> state.compute(), state.inf_count  # class 1: image 1 is a miss (inf), not averaged
      (Array([0., 1.], dtype=float32), Array([0, 1], dtype=int32))
    """
    if not callable(metric_fn):
        raise TypeError(f"metric_fn: expected a function; got {metric_fn!r}")
    check_boolean_keywords(metric_fn, options)
    name = getattr(metric_fn, "__name__", "metric")
    cls = type(f"MeanOf_{name}", (PerExampleMean,), {
        "__doc__": f"The data-set mean of ``{name}`` per example (see ``PerExampleMean``).\n\n"
                   "Attributes:\n  total, count, inf_count, nan_count: as PerExampleMean.\n",
        "__module__": __name__,
        "metric_fn": staticmethod(metric_fn),
        "metric_options": dict(options),
    })
    return _register(cls)


@_register
class PerImageDice(PerExampleMean):
    """Mean per-image Dice over a data set (the macro mean of
    :func:`~jaxseg_losses.metrics.dice_score`, per class), ``MeanOf(dice_score)``.

    Attributes:
      total, count, inf_count, nan_count: as :class:`PerExampleMean`.
    """

    metric_fn = staticmethod(dice_score)


@_register
class PerImageIoU(PerExampleMean):
    """Mean per-image IoU over a data set (the macro mean of
    :func:`~jaxseg_losses.metrics.iou_score`, per class), ``MeanOf(iou_score)``.

    Attributes:
      total, count, inf_count, nan_count: as :class:`PerExampleMean`.
    """

    metric_fn = staticmethod(iou_score)


__all__ = [
    "ConfusionCounts",
    "GlobalDice",
    "GlobalIoU",
    "MeanOf",
    "PerExampleMean",
    "PerImageDice",
    "PerImageIoU",
]
