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
from jaxseg_losses.experiment.stats import Standing, Summary, rank
from jaxseg_losses.experiment.train import METRIC_KEYS, RunResult, TrainConfig

METRICS = (  # key, title, format, higher is better
    ("dice", "Dice ↑", "{:.3f}", True),
    ("iou", "IoU ↑", "{:.3f}", True),
    ("hd95", "HD95 ↓", "{:.2f}", False),
    ("assd", "ASSD ↓", "{:.2f}", False),
    ("missed", "missed", "{:.1f}", False),
)
RANK_NOTE = (
    "rank: by mean test Dice; `≈1`: tied with the best, the 95 % interval of the paired per-seed "
    "difference (this loss minus the best, same seed = same initialisation and batches) "
    "contains 0. Δ Dice: that mean difference and interval. ± is the standard deviation over "
    "seeds, [a, b] the 95 % t interval of the mean (within the metric's range); 'collapsed': "
    "runs that predicted no foreground on the whole test set."
)


def _cell(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return fmt.format(value)


def _mean_std(summary: Summary, fmt: str) -> str:
    text = _cell(summary.mean, fmt)
    return text if math.isnan(summary.std) else f"{text} ± {_cell(summary.std, fmt)}"


def _interval(summary: Summary, fmt: str) -> str:
    if math.isnan(summary.low):
        return "—"
    return f"[{_cell(summary.low, fmt)}, {_cell(summary.high, fmt)}]"


def standings(results: Sequence[RunResult]) -> dict[str, Standing]:
    """Rank of each loss by mean test Dice, with ties judged on paired differences."""
    return rank({r.label: r.per_seed.get("dice", [math.nan]) for r in results}, span=1.0)


def markdown_table(results: Sequence[RunResult]) -> str:
    """The summary over seeds, one row per loss spec (means ± std, Dice interval, rank)."""
    ranks = standings(results)
    seeds = max(len(r.seeds) for r in results)
    titles = ["loss", "rank", *(title for _, title, _, _ in METRICS[:1]), "Dice 95 % CI",
              "Δ Dice vs best", *(title for _, title, _, _ in METRICS[1:]), "collapsed",
              "ms/step", "compile s"]
    header = "| " + " | ".join(titles) + " |"
    align = "|:---|" + "---:|" * (len(titles) - 1)
    rows = []
    for result in results:
        label = result.label.replace("|", "\\|")
        standing = ranks[result.label]
        place = "1" if standing.rank == 1 else ("≈1" if standing.tied else str(standing.rank))
        cells = [f"`{label}`" + (f" ({result.error})" if result.error else ""), place]
        dice = result.summary("dice")
        cells += [_mean_std(dice, "{:.3f}"), _interval(dice, "{:.3f}"),
                  "—" if standing.rank == 1 else
                  f"{standing.difference.mean:+.3f} {_interval(standing.difference, '{:+.3f}')}"]
        cells += [_mean_std(result.summary(key), fmt) for key, _, fmt, _ in METRICS[1:]]
        collapsed = int(np.nansum(result.per_seed.get("collapsed", [])))
        cells += [f"{collapsed}/{len(result.seeds)}", _cell(result.ms_per_step, "{:.1f}"),
                  _cell(result.compile_s, "{:.1f}")]
        rows.append("| " + " | ".join(cells) + " |")
    note = f"{len(results)} losses x {seeds} seed(s). {RANK_NOTE}"
    return "\n".join([header, align, *rows, "", note])


def per_seed_table(results: Sequence[RunResult], key: str = "dice") -> str:
    """One row per loss, one column per seed, of a per-seed metric (Markdown)."""
    seeds = results[0].seeds
    header = "| loss | " + " | ".join(f"seed {s}" for s in seeds) + " |"
    align = "|:---|" + "---:|" * len(seeds)
    rows = [f"| `{r.label}` | " + " | ".join(_cell(v, "{:.3f}") for v in r.per_seed[key]) + " |"
            for r in results]
    return "\n".join([header, align, *rows])


def describe_run(dataset: Dataset, config: TrainConfig, devices: Sequence[Any] = ()) -> str:
    """One paragraph saying what was trained on what, and how the columns are measured; then
    one ``Note:`` paragraph per change the loader made to the data and for the classes absent
    from the test set (:func:`data_notes`)."""
    fractions = ", ".join(f"{100 * f:.1f}%" for f in dataset.class_fractions())
    spatial = "x".join(str(s) for s in dataset.spatial_shape)
    seeds = config.seed_list
    seed_text = (f"seed {seeds[0]}" if len(seeds) == 1 else
                 f"{len(seeds)} seeds ({seeds[0]}..{seeds[-1]}; each seed: the same initialisation "
                 "and batches for every loss)")
    where = ""
    if devices:
        from jaxseg_losses.experiment.train import device_layout, replica_mode

        kind = getattr(devices[0], "device_kind", str(devices[0]))
        where = (f" Ran on {len(devices)} x {kind}, replicas by {replica_mode(config, devices)}, "
                 f"split over devices: {device_layout(config, devices)}.")
    return (
        f"Data `{dataset.name}`: {dataset.description}; {len(dataset.train_labels)} train / "
        f"{len(dataset.test_labels)} test images of {spatial}, {dataset.num_classes} classes "
        f"(pixel fractions {fractions}). Model: U-Net (NNX), {config.features} base features, "
        f"depth {config.depth}; Adam lr {config.learning_rate:g}, {config.steps} steps of batch "
        f"{config.batch_size}, {seed_text}. Metrics on the test set, foreground classes, "
        "mean over images and classes; HD95/ASSD in pixels (times the spacing); 'missed' counts "
        "(image, class) pairs predicted empty where the truth is not (or the reverse), whose "
        "distance counts as the image diagonal. ms/step: median wall time of a train step of "
        "all seeds together; compile s: tracing + XLA compilation of that step. A loss with "
        "the boundary term can be negative: that term is the mean of p times a signed distance, "
        "negative inside the object." + where
        + "".join(f"\n\nNote: {note}" for note in data_notes(dataset))
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
    devices: Sequence[Any] = (),
) -> dict[str, str]:
    """Writes the results to ``out_dir``; returns the paths written, by kind.

    ``results.md`` (the summary table and Dice per seed), ``results.csv`` (one row per loss:
    mean, std and 95 % interval of each metric), ``results_per_seed.csv`` (one row per loss and
    seed), ``results.json`` (everything, curves included) and ``figure.png``.
    """
    os.makedirs(out_dir, exist_ok=True)
    paths = {kind: os.path.join(out_dir, f"results.{kind}") for kind in ("md", "csv", "json")}
    paths["seeds_csv"] = os.path.join(out_dir, "results_per_seed.csv")
    with open(paths["md"], "w", encoding="utf-8") as f:
        f.write(f"# Loss comparison on `{dataset.name}`\n\n"
                f"{describe_run(dataset, config, devices)}\n\n{markdown_table(results)}\n\n"
                f"## Test Dice per seed\n\n{per_seed_table(results)}\n")
    ranks = standings(results)
    with open(paths["csv"], "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        stats = ("mean", "std", "ci95_low", "ci95_high")
        writer.writerow(["loss", "rank", "tied_with_best", "seeds"]
                        + [f"{key}_{stat}" for key in METRIC_KEYS for stat in stats]
                        + ["ms_per_step", "compile_s", "error"])
        for r in results:
            summaries = [r.summary(key).as_dict() for key in METRIC_KEYS]
            writer.writerow([r.label, ranks[r.label].rank, ranks[r.label].tied, len(r.seeds)]
                            + [s[stat] for s in summaries for stat in stats]
                            + [r.ms_per_step, r.compile_s, r.error or ""])
    with open(paths["seeds_csv"], "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["loss", "seed", *METRIC_KEYS])
        for r in results:
            for i, seed in enumerate(r.seeds):
                writer.writerow([r.label, seed, *(r.per_seed[key][i] for key in METRIC_KEYS)])
    payload = {
        "dataset": {"name": dataset.name, "description": dataset.description,
                    "spatial_shape": list(dataset.spatial_shape),
                    "num_classes": dataset.num_classes, "n_train": len(dataset.train_labels),
                    "n_test": len(dataset.test_labels), "spacing": list(dataset.spacing or ()),
                    "class_fractions": dataset.class_fractions().tolist(),
                    "absent_test_classes": dataset.absent_test_classes(),
                    "notes": list(dataset.notes)},
        "config": dataclasses.asdict(config),
        "environment": _environment(),
        "results": [
            {**r.metrics(), "seeds": r.seeds, "per_seed": r.per_seed,
             "summary": {key: r.summary(key).as_dict() for key in METRIC_KEYS},
             "rank": ranks[r.label].rank, "tied_with_best": ranks[r.label].tied,
             "dice_difference_to_best": ranks[r.label].difference.as_dict(),
             "final_terms": r.final_terms, "train_loss": r.train_loss,
             "curve_steps": r.curve_steps, "curve_dice": r.curve_dice,
             "figure_seed": r.prediction_seed}
            for r in results
        ],
    }
    with open(paths["json"], "w", encoding="utf-8") as f:
        json.dump(_jsonable(payload), f, indent=1)
    if figure:
        paths["png"] = os.path.join(out_dir, "figure.png")
        make_figure(results, dataset, paths["png"])
    return paths


def data_notes(dataset: Dataset) -> list[str]:
    """What the loader changed in the data and the classes left out of the metrics."""
    notes = list(dataset.notes)
    absent = dataset.absent_test_classes()
    if absent:
        which = ", ".join(str(c) for c in absent)
        notes.append(f"class{'es' if len(absent) > 1 else ''} {which} ha"
                     f"{'ve' if len(absent) > 1 else 's'} no pixel in the test set: left out of "
                     "the mean Dice, IoU, HD95 and ASSD and of the Dice curves")
    return notes


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
    """Image / ground truth / signed distance map / one prediction per loss / training curves.

    Each loss's prediction panel shows that loss's median seed by test Dice (the lower middle
    one for an even number of seeds; :attr:`RunResult.prediction_seed`, named in the panel's
    title), not always the first seed; the legend of the curves sits below them, outside the
    axes.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.lines
    import matplotlib.pyplot as plt

    from jaxseg_losses.experiment.train import median_seed_index

    index = _pick_example(dataset.test_labels)
    labels = dataset.test_labels[index]
    view = _view(labels)
    image = dataset.test_images[index][view][..., 0]
    truth = labels[view]
    sdm, sdm_class = _signed_distance(dataset, labels)
    n_pred = len(results)
    ncols = 4
    pred_rows = -(-n_pred // ncols)
    legend_rows = -(-len(results) // 3)
    legend_height = 0.25 + 0.2 * legend_rows
    fig = plt.figure(figsize=(3.0 * ncols, 3.0 * (1 + pred_rows) + 3.2 + legend_height))
    grid = fig.add_gridspec(3 + pred_rows, ncols, height_ratios=[3.0] * (1 + pred_rows)
                            + [3.3, legend_height])
    cmap = plt.get_cmap("tab10", max(dataset.num_classes, 2))
    label_kw = dict(cmap=cmap, vmin=-0.5, vmax=max(dataset.num_classes, 2) - 0.5,
                    interpolation="nearest")

    where = "" if dataset.ndim == 2 else f" (slice {view[0]})"
    image_axes = []
    ax = fig.add_subplot(grid[0, 0])
    image_axes.append(ax)
    ax.imshow(image, cmap="gray", interpolation="nearest")
    ax.set_title(f"image{where}", fontsize=9)
    ax = fig.add_subplot(grid[0, 1])
    image_axes.append(ax)
    ax.imshow(truth, **label_kw)
    ax.set_title("ground truth", fontsize=9)
    ax = fig.add_subplot(grid[0, 2])
    image_axes.append(ax)
    if sdm is not None:
        limit = float(np.abs(sdm[view]).max()) or 1.0
        shown = ax.imshow(sdm[view], cmap="RdBu_r", vmin=-limit, vmax=limit)
        bar = fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
        bar.ax.tick_params(labelsize=7)
        bar.set_label("pixels (negative inside)", fontsize=7)
        ax.contour(truth == sdm_class, levels=[0.5], colors="k", linewidths=0.5)
        ax.set_title(f"signed distance, class {sdm_class}", fontsize=9)
    else:
        ax.text(0.5, 0.5, "jaxseg_losses.distance\nnot available", ha="center", va="center")
    ax = fig.add_subplot(grid[0, 3])
    ax.axis("off")
    seeds = results[0].seeds if results else []
    which = ("predictions: per loss, its median seed\nby test Dice" if len(seeds) > 1
             else f"predictions of seed {seeds[0] if seeds else '-'}")
    ax.text(0.0, 0.98, f"{dataset.name}\n{dataset.description}\ntest example {index}; {which}",
            fontsize=8, va="top", wrap=True)
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=cmap(c), label=f"class {c}" + (" (background)" if c == 0
                                                                   else ""))
                       for c in range(dataset.num_classes)],
              loc="lower left", fontsize=7, title="label colours", title_fontsize=7, frameon=False)
    for k, result in enumerate(results):
        ax = fig.add_subplot(grid[1 + k // ncols, k % ncols])
        image_axes.append(ax)
        if result.predictions is not None:
            ax.imshow(result.predictions[index][view], **label_kw)
            ax.contour(truth > 0, levels=[0.5], colors="w", linewidths=0.6)
        dice, hd95 = result.summary("dice"), result.summary("hd95")
        spread = "" if math.isnan(dice.std) else f" ± {dice.std:.3f}"
        shown = ""
        if result.prediction_seed is not None and len(result.seeds) > 1:
            median = result.seeds[median_seed_index(result.per_seed.get("dice", []))]
            shown = (f"\nshown: seed {result.prediction_seed}"
                     + (" (median Dice)" if result.prediction_seed == median else ""))
        ax.set_title(f"{result.label[:34]}\nDice {dice.mean:.3f}{spread}  HD95 {hd95.mean:.1f}"
                     f"{shown}", fontsize=8)
    for ax in image_axes:
        ax.set_xticks([])
        ax.set_yticks([])

    band = ("line: mean, band: min-max over seeds" if len(seeds) > 1 else "one seed")
    ax = fig.add_subplot(grid[-2, : ncols // 2])
    for color, result in zip(_colors(len(results)), results, strict=True):
        curves = np.stack([_running_mean(np.asarray(c, float), 5) for c in result.train_loss])
        if curves.size and np.all(np.isfinite(curves)):
            # Losses have different scales and signs: rescale each (its seeds together) to [0, 1].
            low, span = float(curves.min()), float(curves.max() - curves.min()) or 1.0
            curves = (curves - low) / span
            steps = np.arange(1, curves.shape[1] + 1)
            ax.plot(steps, curves.mean(axis=0), color=color, label=result.label[:30], lw=1)
            ax.fill_between(steps, curves.min(axis=0), curves.max(axis=0), color=color,
                            alpha=0.2, lw=0)
    ax.set_xlabel("step")
    ax.set_ylabel("rescaled loss")
    ax.set_title(f"training loss, each rescaled to [0, 1], running mean of 5\n{band}",
                 fontsize=9)
    ax = fig.add_subplot(grid[-2, ncols // 2:])
    for color, result in zip(_colors(len(results)), results, strict=True):
        curves = np.asarray(result.curve_dice, float)
        ax.plot(result.curve_steps, curves.mean(axis=0), marker=".", ms=3, color=color,
                label=result.label[:30], lw=1.5)
        if len(curves) > 1:  # a mean of seeds that split (0 and 0.85) hides that: show each
            ax.plot(result.curve_steps, curves.T, color=color, lw=0.8, alpha=0.6, ls=":")
            ax.fill_between(result.curve_steps, curves.min(axis=0), curves.max(axis=0),
                            color=color, alpha=0.08, lw=0)
    ax.set_xlabel("step")
    ax.set_ylabel("Dice")
    ax.set_ylim(-0.03, 1.03)  # curves at 0 stay visible above the axis
    each = ", dotted: each seed" if len(seeds) > 1 else ""
    ax.set_title(f"test Dice (foreground) during training\n{band}{each}", fontsize=9)
    handles = [matplotlib.lines.Line2D([], [], color=color, lw=1.5, label=result.label[:60])
               for color, result in zip(_colors(len(results)), results, strict=True)]
    ax = fig.add_subplot(grid[-1, :])
    ax.axis("off")
    if handles:  # one legend for both curves, below them (it never covers a curve)
        ax.legend(handles=handles, loc="upper center", ncol=min(3, len(handles)), fontsize=8,
                  frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _colors(n: int) -> list:
    import matplotlib.pyplot as plt

    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return [cycle[i % len(cycle)] for i in range(n)]


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
