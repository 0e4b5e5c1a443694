"""Results of a comparison: the table (Markdown, CSV, JSON) and the figure (PNG, matplotlib)."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import platform
from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxseg_losses.experiment.data import Dataset
from jaxseg_losses.experiment.train import RunResult, TrainConfig

COLUMNS = (
    ("loss", "loss", "{}"),
    ("dice", "Dice ↑", "{:.3f}"),
    ("iou", "IoU ↑", "{:.3f}"),
    ("hd95", "HD95 ↓", "{:.2f}"),
    ("assd", "ASSD ↓", "{:.2f}"),
    ("missed", "missed", "{}"),
    ("ms_per_step", "ms/step", "{:.1f}"),
    ("compile_s", "compile s", "{:.1f}"),
)


def _cell(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return fmt.format(value)


def markdown_table(results: Sequence[RunResult]) -> str:
    """The results as a Markdown table, one row per loss spec."""
    header = "| " + " | ".join(title for _, title, _ in COLUMNS) + " |"
    align = "|" + "|".join(":---" if key == "loss" else "---:" for key, _, _ in COLUMNS) + "|"
    rows = []
    for result in results:
        values = result.metrics()
        label = values["loss"].replace("|", "\\|")
        cells = [f"`{label}`"] + [_cell(values[key], fmt) for key, _, fmt in COLUMNS[1:]]
        if result.error:
            cells[0] += f" ({result.error})"
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join([header, align, *rows])


def describe_run(dataset: Dataset, config: TrainConfig) -> str:
    """One paragraph saying what was trained on what, and how the columns are measured."""
    fractions = ", ".join(f"{100 * f:.1f}%" for f in dataset.class_fractions())
    spatial = "x".join(str(s) for s in dataset.spatial_shape)
    return (
        f"Data `{dataset.name}`: {dataset.description}; {len(dataset.train_labels)} train / "
        f"{len(dataset.test_labels)} test images of {spatial}, {dataset.num_classes} classes "
        f"(pixel fractions {fractions}). Model: U-Net (NNX), {config.features} base features, "
        f"depth {config.depth}; Adam lr {config.learning_rate:g}, {config.steps} steps of batch "
        f"{config.batch_size}, seed {config.seed}. Metrics on the test set, foreground classes, "
        "mean over images and classes; HD95/ASSD in pixels (times the spacing); 'missed' counts "
        "(image, class) pairs predicted empty where the truth is not (or the reverse), whose "
        "distance counts as the image diagonal. ms/step: median wall time of a train step; "
        "compile s: tracing + XLA compilation of the train step."
    )


def _environment() -> dict[str, Any]:
    import jax

    device = jax.devices()[0]
    return {"jax": jax.__version__, "backend": jax.default_backend(),
            "device": getattr(device, "device_kind", str(device)), "cpu_count": os.cpu_count(),
            "python": platform.python_version(), "machine": platform.machine()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    return value


def write_results(
    results: Sequence[RunResult],
    dataset: Dataset,
    config: TrainConfig,
    out_dir: str | os.PathLike,
    *,
    figure: bool = True,
) -> dict[str, str]:
    """Writes ``results.md``, ``results.csv``, ``results.json`` and ``figure.png`` to ``out_dir``.

    Returns the paths written, by kind.
    """
    os.makedirs(out_dir, exist_ok=True)
    paths = {kind: os.path.join(out_dir, f"results.{kind}") for kind in ("md", "csv", "json")}
    with open(paths["md"], "w", encoding="utf-8") as f:
        f.write(f"# Loss comparison on `{dataset.name}`\n\n{describe_run(dataset, config)}\n\n")
        f.write(markdown_table(results) + "\n")
    with open(paths["csv"], "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow([key for key, _, _ in COLUMNS] + ["error"])
        for result in results:
            values = result.metrics()
            writer.writerow([values[key] for key, _, _ in COLUMNS] + [result.error or ""])
    payload = {
        "dataset": {"name": dataset.name, "description": dataset.description,
                    "spatial_shape": list(dataset.spatial_shape),
                    "num_classes": dataset.num_classes, "n_train": len(dataset.train_labels),
                    "n_test": len(dataset.test_labels), "spacing": list(dataset.spacing or ()),
                    "class_fractions": dataset.class_fractions().tolist()},
        "config": dataclasses.asdict(config),
        "environment": _environment(),
        "results": [
            {**r.metrics(), "final_terms": r.final_terms, "train_loss": r.train_loss,
             "curve_steps": r.curve_steps, "curve_dice": r.curve_dice}
            for r in results
        ],
    }
    with open(paths["json"], "w", encoding="utf-8") as f:
        json.dump(_jsonable(payload), f, indent=1)
    if figure:
        paths["png"] = os.path.join(out_dir, "figure.png")
        make_figure(results, dataset, paths["png"])
    return paths


# --------------------------------------------------------------------------- figure


def _pick_example(labels: np.ndarray) -> int:
    """The test example with the most classes present, then the most foreground."""
    flat = labels.reshape(len(labels), -1)
    present = np.array([len(np.unique(row)) for row in flat])
    foreground = (flat > 0).sum(axis=1)
    return int(np.lexsort((foreground, present))[-1])


def _view(labels: np.ndarray) -> tuple[slice | int, ...]:
    """Index of the 2D view: the whole image, or the 3D slice (axis 0) with most foreground."""
    if labels.ndim == 2:
        return (slice(None),)
    return (int(np.argmax((labels > 0).reshape(labels.shape[0], -1).sum(axis=1))),)


def make_figure(results: Sequence[RunResult], dataset: Dataset, path: str) -> None:
    """Image / ground truth / signed distance map / one prediction per loss / training curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    index = _pick_example(dataset.test_labels)
    labels = dataset.test_labels[index]
    view = _view(labels)
    image = dataset.test_images[index][view][..., 0]
    truth = labels[view]
    sdm, sdm_class = _signed_distance(dataset, labels)
    n_pred = len(results)
    ncols = 4
    pred_rows = -(-n_pred // ncols)
    fig = plt.figure(figsize=(3.0 * ncols, 3.0 * (1 + pred_rows) + 3.2))
    grid = fig.add_gridspec(2 + pred_rows, ncols, height_ratios=[1] * (1 + pred_rows) + [1.1])
    cmap = plt.get_cmap("tab10", max(dataset.num_classes, 2))
    label_kw = dict(cmap=cmap, vmin=-0.5, vmax=max(dataset.num_classes, 2) - 0.5,
                    interpolation="nearest")

    where = "" if dataset.ndim == 2 else f" (slice {view[0]})"
    ax = fig.add_subplot(grid[0, 0])
    ax.imshow(image, cmap="gray", interpolation="nearest")
    ax.set_title(f"image{where}", fontsize=9)
    ax = fig.add_subplot(grid[0, 1])
    ax.imshow(truth, **label_kw)
    ax.set_title("ground truth", fontsize=9)
    ax = fig.add_subplot(grid[0, 2])
    if sdm is not None:
        limit = float(np.abs(sdm[view]).max()) or 1.0
        shown = ax.imshow(sdm[view], cmap="RdBu_r", vmin=-limit, vmax=limit)
        fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
        ax.contour(truth == sdm_class, levels=[0.5], colors="k", linewidths=0.5)
        ax.set_title(f"signed distance, class {sdm_class}", fontsize=9)
    else:
        ax.text(0.5, 0.5, "jaxseg_losses.distance\nnot available", ha="center", va="center")
    ax = fig.add_subplot(grid[0, 3])
    ax.axis("off")
    ax.text(0.0, 0.5, f"{dataset.name}\n{dataset.description}\ntest example {index}",
            fontsize=8, va="center", wrap=True)
    for k, result in enumerate(results):
        ax = fig.add_subplot(grid[1 + k // ncols, k % ncols])
        if result.predictions is not None:
            ax.imshow(result.predictions[index][view], **label_kw)
            ax.contour(truth > 0, levels=[0.5], colors="w", linewidths=0.6)
        ax.set_title(f"{result.label[:34]}\nDice {result.dice:.3f}  HD95 {result.hd95:.1f}",
                     fontsize=8)
    for ax in fig.axes:
        ax.set_xticks([])
        ax.set_yticks([])

    ax = fig.add_subplot(grid[-1, : ncols // 2])
    for result in results:
        losses = _running_mean(np.asarray(result.train_loss, float), 5)
        if losses.size and np.all(np.isfinite(losses)):
            # Losses have different scales and signs: rescale each to [0, 1].
            span = float(losses.max() - losses.min()) or 1.0
            ax.plot(np.arange(1, losses.size + 1), (losses - losses.min()) / span,
                    label=result.label[:30], lw=1)
    ax.set_xlabel("step")
    ax.set_title("training loss, each rescaled to [0, 1] (running mean of 5)", fontsize=9)
    ax.legend(fontsize=7)
    ax = fig.add_subplot(grid[-1, ncols // 2:])
    for result in results:
        ax.plot(result.curve_steps, result.curve_dice, marker=".", label=result.label[:30], lw=1)
    ax.set_xlabel("step")
    ax.set_ylim(0, 1)
    ax.set_title("test Dice (foreground) during training", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _running_mean(x: np.ndarray, width: int) -> np.ndarray:
    if x.size < width:
        return x
    kernel = np.ones(width) / width
    head = np.cumsum(x[: width - 1]) / np.arange(1, width)
    return np.concatenate([head, np.convolve(x, kernel, mode="valid")])


def _signed_distance(dataset: Dataset, labels: np.ndarray):
    """Signed distance map of the smallest present foreground class (library EDT), or None."""
    try:
        from jaxseg_losses.distance import signed_distance_map
    except ImportError:
        return None, None
    counts = np.bincount(labels.ravel(), minlength=dataset.num_classes)[1:]
    present = np.flatnonzero(counts) + 1
    if present.size == 0:
        return None, None
    cls = int(present[np.argmin(counts[present - 1])])
    sdm = signed_distance_map(labels[None], num_classes=dataset.num_classes,
                              sampling=dataset.spacing)
    return np.asarray(sdm)[0, ..., cls], cls
