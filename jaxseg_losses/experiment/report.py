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
from jaxseg_losses.experiment.stats import (
    CORRECTION,
    DEFAULT_RULE,
    MAX_SEEDS_ESTIMATE,
    Collapse,
    DecisionRule,
    SequentialLog,
    Standing,
    Summary,
    collapse,
    rank,
    sort_key,
)
from jaxseg_losses.experiment.train import METRIC_KEYS, RunResult, TrainConfig

METRICS = (  # key, title, format, higher is better
    ("dice", "Dice ↑", "{:.3f}", True),
    ("iou", "IoU ↑", "{:.3f}", True),
    ("hd95", "HD95 ↓", "{:.2f}", False),
    ("assd", "ASSD ↓", "{:.2f}", False),
    ("missed", "missed", "{:.1f}", False),
)


def legend(rule: DecisionRule) -> str:
    """The table's legend: how each verdict is reached, the correction, the columns."""
    level, margin = rule.level, rule.margin
    looks = ("" if rule.looks == 1 else
             f" (α = {rule.alpha:g} split over {rule.looks} planned looks: {level:.4g} each)")
    return (
        f"Verdicts against the best (the highest mean Dice), on the paired per-seed differences "
        f"(this loss minus the best; same seed = same initialisation and batches), at "
        f"family-wise level {level:.4g}{looks} with **Holm's correction**, separately for "
        f"each verdict, counted over every pair of losses (the best is picked by the same data, "
        f"so its comparisons could be those of any pair). **worse**: the paired t-test says "
        f"the mean difference is below 0 (the "
        f"{100 * (1 - level):.4g} % interval lies below 0); **equivalent**: two one-sided "
        f"tests (TOST, each side at {level / 2:.4g}) put it within ±{margin:g} Dice, the margin "
        f"(the interval lies inside ±{margin:g}); 'worse (within ±{margin:g})': both; "
        f"**inconclusive**: neither, the seeds cannot tell yet (which is not a tie). **best**: "
        f"no other loss is inconclusive; **best by mean**: some are, so its lead over them is "
        f"not established. p (Holm): the adjusted p-values of 'worse' / 'equivalent'. seeds to "
        f"decide: seeds with which a t-test would decide an inconclusive loss with 80 % power "
        f"if the observed mean and SD of its differences were the truth (a rough estimate). "
        f"Dice: mean ± standard deviation over seeds, and where some seeds collapsed and others "
        f"did not, the mean of the others; Dice 95 % CI: t interval of the mean (within [0, 1]). "
        f"collapsed: runs that predicted no foreground on the whole test set, with the exact "
        f"(Clopper-Pearson) 95 % interval of the collapse rate."
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


def standings(results: Sequence[RunResult], rule: DecisionRule = DEFAULT_RULE
              ) -> dict[str, Standing]:
    """The verdict of each loss by test Dice (:func:`~jaxseg_losses.experiment.stats.rank`)."""
    return rank({r.label: r.per_seed.get("dice", [math.nan]) for r in results}, span=1.0,
                alpha=rule.level, margin=rule.margin)


def collapses(result: RunResult) -> Collapse:
    """Collapsed runs of one loss, their exact interval and the Dice of the others."""
    return collapse(result.per_seed.get("collapsed", []), result.per_seed.get("dice", []))


def ordered(results: Sequence[RunResult], ranks: dict[str, Standing]) -> list[RunResult]:
    """The results in table order: by verdict (best first), then by mean Dice."""
    return sorted(results, key=lambda r: sort_key(ranks[r.label]))


def _verdict(standing: Standing, margin: float) -> str:
    if standing.within_margin:
        return f"worse (within ±{margin:g})"
    return f"**{standing.verdict}**" if standing.rank == 1 else standing.verdict


def _dice_cell(result: RunResult, collapsed: Collapse) -> str:
    text = _mean_std(result.summary("dice"), "{:.3f}")
    if collapsed.split:
        text += (f" ({collapsed.count} of {collapsed.n} collapsed; the others "
                 f"{_cell(collapsed.others_mean, '{:.3f}')})")
    elif collapsed.n > 1 and collapsed.count == collapsed.n:
        text += f" (all {collapsed.n} collapsed)"
    return text


def _seeds_cell(standing: Standing) -> str:
    if math.isinf(standing.seeds_needed):
        return f"> {MAX_SEEDS_ESTIMATE}"
    return "—" if math.isnan(standing.seeds_needed) else f"~{int(standing.seeds_needed)}"


def headline(results: Sequence[RunResult], rule: DecisionRule = DEFAULT_RULE,
             sequential: SequentialLog | None = None) -> str:
    """What the run decided, in words, for above the table."""
    ranks = standings(results, rule)
    seeds = max(len(r.seeds) for r in results)
    best = min(ranks, key=lambda k: ranks[k].rank)
    lines = []
    if sequential is not None:
        plan = ", ".join(str(n) for n in sequential.plan)
        budget = ("" if sequential.time_budget is None else
                  f", time budget {sequential.time_budget:g} s")
        why = {"all decided": "every loss decided",
               "max seeds": f"--max-seeds {sequential.max_seeds} reached",
               "time budget": "the next round would overrun the time budget"
               }.get(sequential.stopped, sequential.stopped)
        lines.append(f"`--seeds auto`: looks planned at {plan} seeds (max {sequential.max_seeds}"
                     f"{budget}), each at level {rule.level:.4g} = {rule.alpha:g} / "
                     f"{rule.looks} (Bonferroni over the planned looks, valid however the run "
                     f"stops); stopped after {seeds} seeds: {why}.")
    undecided = [k for k, s in ranks.items() if s.verdict == "inconclusive"]
    if len(results) < 2:
        lines.append(f"One loss: nothing to compare (best `{best}` by definition).")
    elif seeds < 2:
        lines.append("**Nothing is decided**: one seed gives no interval, so no loss can be "
                     "called worse than or equivalent to another; the order is by one run "
                     "only. Run `--seeds 3` or more, or `--seeds auto`.")
    elif undecided:
        needed = [ranks[k].seeds_needed for k in undecided]
        finite = [n for n in needed if math.isfinite(n)]
        names = ", ".join(f"`{k}`" for k in undecided)
        advice = (f" About {int(max(finite))} seeds would likely decide "
                  f"{'them' if len(finite) > 1 else 'it'} (column 'seeds to decide'; run "
                  f"`--seeds {int(max(finite))}` or `--seeds auto`)." if finite else "")
        if len(finite) < len(needed):
            advice += (" Some would need more than a practical number of seeds: their "
                       "difference to the best is close to the margin.")
        lines.append(f"**Undecided**: with {seeds} seeds, {len(undecided)} of "
                     f"{len(results) - 1} losses cannot yet be told apart from the best "
                     f"(`{best}`, {ranks[best].verdict}): {names}. Their verdict is "
                     f"*inconclusive*, not a tie.{advice}")
    else:
        groups = {v: [f"`{k}`" for k, s in ranks.items() if s.verdict == v]
                  for v in ("equivalent", "worse")}
        parts = [f"{v}: {', '.join(names)}" for v, names in groups.items() if names]
        lines.append(f"**Decided** with {seeds} seeds: best `{best}`; {'; '.join(parts)}.")
    return "\n\n".join(lines)


def markdown_table(results: Sequence[RunResult], rule: DecisionRule = DEFAULT_RULE,
                   sequential: SequentialLog | None = None) -> str:
    """What was decided, then the summary over seeds, one row per loss spec, sorted by verdict
    (verdict, Dice, paired difference to the best, p-values, collapses, other metrics)."""
    ranks = standings(results, rule)
    seeds = max(len(r.seeds) for r in results)
    level = f"{100 * (1 - rule.level):.4g} %"
    titles = ["loss", "verdict", *(title for _, title, _, _ in METRICS[:1]), "Dice 95 % CI",
              f"Δ Dice vs best [{level} CI]", "p (Holm): worse / equiv.", "seeds to decide",
              *(title for _, title, _, _ in METRICS[1:]), "collapsed [95 % CI]",
              "ms/step", "compile s"]
    header = "| " + " | ".join(titles) + " |"
    align = "|:---|:---|" + "---:|" * (len(titles) - 2)
    rows = []
    for result in ordered(results, ranks):
        label = result.label.replace("|", "\\|")
        standing = ranks[result.label]
        collapsed = collapses(result)
        cells = [f"`{label}`" + (f" ({result.error})" if result.error else ""),
                 _verdict(standing, rule.margin), _dice_cell(result, collapsed),
                 _interval(result.summary("dice"), "{:.3f}")]
        if standing.rank == 1:
            cells += ["—", "—", "—"]
        else:
            difference = standing.difference
            cells += [f"{_cell(difference.mean, '{:+.3f}')} {_interval(difference, '{:+.3f}')}",
                      f"{standing.p_worse_holm:.3g} / {standing.p_equivalent_holm:.3g}",
                      _seeds_cell(standing)]
        cells += [_mean_std(result.summary(key), fmt) for key, _, fmt, _ in METRICS[1:]]
        interval = ("" if collapsed.n == 0 else
                    f" [{collapsed.low:.2f}, {collapsed.high:.2f}]")
        cells += [f"{collapsed.count}/{collapsed.n}{interval}", _cell(result.ms_per_step, "{:.1f}"),
                  _cell(result.compile_s, "{:.1f}")]
        rows.append("| " + " | ".join(cells) + " |")
    note = (f"{len(results)} losses x {seeds} seed(s). "
            + legend(rule))
    return "\n".join([headline(results, rule, sequential), "", header, align, *rows, "", note])


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
    rule: DecisionRule = DEFAULT_RULE,
    sequential: SequentialLog | None = None,
) -> dict[str, str]:
    """Writes the results to ``out_dir``; returns the paths written, by kind.

    ``results.md`` (what was decided, the summary table sorted by verdict, and Dice per seed),
    ``results.csv`` (one row per loss, in the order given: verdict, p-values, paired difference
    to the best, collapses with their exact interval, mean, std and 95 % interval of each
    metric), ``results_per_seed.csv`` (one row per loss and seed), ``results.json``
    (everything, curves, the decision rule and a sequential run's looks included) and
    ``figure.png``.
    """
    os.makedirs(out_dir, exist_ok=True)
    paths = {kind: os.path.join(out_dir, f"results.{kind}") for kind in ("md", "csv", "json")}
    paths["seeds_csv"] = os.path.join(out_dir, "results_per_seed.csv")
    ranks = standings(results, rule)
    with open(paths["md"], "w", encoding="utf-8") as f:
        f.write(f"# Loss comparison on `{dataset.name}`\n\n"
                f"{describe_run(dataset, config, devices)}\n\n"
                f"{markdown_table(results, rule, sequential)}\n\n"
                f"## Test Dice per seed\n\n{per_seed_table(ordered(results, ranks))}\n")
    with open(paths["csv"], "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        stats = ("mean", "std", "ci95_low", "ci95_high")
        verdict = ("verdict", "within_margin", "p_worse", "p_equivalent", "p_worse_holm",
                   "p_equivalent_holm", "seeds_needed")
        writer.writerow(["loss", "rank", *verdict, "dice_diff_mean", "dice_diff_low",
                         "dice_diff_high", "level", "margin", "correction", "seeds"]
                        + [f"{key}_{stat}" for key in METRIC_KEYS for stat in stats]
                        + ["collapsed_count", "collapsed_ci95_low", "collapsed_ci95_high",
                           "ms_per_step", "compile_s", "error"])
        for r in results:
            summaries = [r.summary(key).as_dict() for key in METRIC_KEYS]
            standing, gone = ranks[r.label], collapses(r)
            writer.writerow([r.label, standing.rank]
                            + [standing.as_dict()[key] for key in verdict]
                            + [standing.difference.mean, standing.difference.low,
                               standing.difference.high, rule.level, rule.margin, CORRECTION,
                               len(r.seeds)]
                            + [s[stat] for s in summaries for stat in stats]
                            + [gone.count, gone.low, gone.high, r.ms_per_step, r.compile_s,
                               r.error or ""])
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
        "decision": rule.as_dict(),
        "sequential": None if sequential is None else sequential.as_dict(),
        "results": [
            {**r.metrics(), "seeds": r.seeds, "per_seed": r.per_seed,
             "summary": {key: r.summary(key).as_dict() for key in METRIC_KEYS},
             "rank": ranks[r.label].rank, "verdict": ranks[r.label].verdict,
             "standing": ranks[r.label].as_dict(), "collapse": collapses(r).as_dict(),
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
