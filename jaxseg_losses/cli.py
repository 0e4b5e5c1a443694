"""Command line: ``jaxseg-losses compare`` (train a small U-Net with several losses and compare
them) and ``jaxseg-losses list`` (the losses, their options, the schedules and the datasets).

Also ``python -m jaxseg_losses``. Needs the ``experiment`` extra (``pip install
"jaxseg_losses[experiment]"``: Flax, tqdm and matplotlib; tqdm only for the progress bars).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Sequence

DEFAULT_LOSSES = (
    "ce",
    "wce",
    "focal",
    "dice",
    "dice + ce",
    "gdl + boundary@linear(0.01, 1.0)",
)

DEFAULT_SEEDS = 3
DEFAULT_MAX_SEEDS = 10
N_TRAIN, N_TEST = 48, 16

SPEC_HELP = """\
loss specs (--loss, repeat it for several runs; quote specs with spaces or parentheses):
  ce | dice | focal ...             one registered loss (`jaxseg-losses list`)
  dice+focal                        a sum of terms (weight 1 each)
  0.5*dice + 0.5*ce                 fixed weights
  focal(gamma=1, alpha=0.25)        options of a loss
  dice(per_image=false)             a yes/no option takes true or false
  gdl + boundary@linear(0.01,1.0)   a scheduled weight: 0.01 -> 1.0 over the run
  schedules: const(w) | linear(a,b[,f]) | cosine(a,b[,f]) | step(a,b,f); f = fraction of the run
"""


def _build_parser() -> argparse.ArgumentParser:
    from jaxseg_losses.experiment.data import BUILTIN

    parser = argparse.ArgumentParser(
        prog="jaxseg-losses",
        description="Compare segmentation losses by training a small Flax U-Net on built-in "
                    "or user data.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `jaxseg-losses compare` for the default comparison (about 4 minutes on "
               "a 2-core CPU).",
    )
    from jaxseg_losses import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{compare,list}")
    sub.required = True

    compare = sub.add_parser(
        "compare", help="train and evaluate one model per loss spec, print and save a table",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=SPEC_HELP,
        description="Train the same U-Net (same initialisation, same batches) with each loss "
                    "spec, evaluate Dice/IoU/HD95/ASSD on the test set, print the table and save "
                    "results.md/.csv/.json and figure.png.",
    )
    names = ", ".join(BUILTIN)
    compare.add_argument("--data", default="blobs", metavar="NAME|PATH.npz|DIR",
                         help=f"built-in dataset ({names}); an .npz file with 'images' "
                              "(N, *spatial[, channels]) and 'labels' (N, *spatial); or a folder "
                              "DIR/images/ + DIR/labels/ (or masks/) of files matched by name: "
                              "PNG/TIFF (2-D, needs the 'images' extra) or NIfTI .nii/.nii.gz "
                              "(3-D, the 'nifti' extra; spacing from the headers). Folder "
                              "examples of different sizes are centre-cropped to the smallest, "
                              "a multiple of 2**depth (printed). Default: blobs")
    compare.add_argument("--loss", action="append", dest="losses", metavar="SPEC",
                         help="a loss spec (repeatable). Default: "
                              + " | ".join(DEFAULT_LOSSES))
    compare.add_argument("--steps", type=_positive_int, default=150,
                         help="training steps per loss. Default: 150")
    compare.add_argument("--batch-size", type=_positive_int, default=8,
                         help="at most the number of training examples. Default: 8")
    compare.add_argument("--lr", type=_positive_float, default=3e-3,
                         help="Adam learning rate. Default: 3e-3")
    compare.add_argument("--size", type=_positive_int, default=None,
                         help="side of built-in images (multiple of 2**depth). Default: 64 (2D), "
                              "32 (3D)")
    compare.add_argument("--n-train", type=_positive_int, default=None,
                         help=f"built-in training images. Default: {N_TRAIN}")
    compare.add_argument("--n-test", type=_positive_int, default=None,
                         help=f"built-in test images. Default: {N_TEST}")
    compare.add_argument("--num-classes", type=_positive_int, default=None,
                         help="classes of user data. Default: max label + 1")
    compare.add_argument("--relabel", action="store_true",
                         help="user data: map the sorted distinct label values to 0..K-1 (a "
                              "0/255 mask becomes 0/1)")
    compare.add_argument("--test-fraction", type=_fraction, default=None,
                         help="user data: fraction of the examples held out for the test set, "
                              "chosen with --seed (the same seed, the same split). Default: 0.25")
    compare.add_argument("--test-data", default=None, metavar="PATH.npz|DIR",
                         help="user data: a separate test set (same layout as --data); every "
                              "example of --data then trains")
    compare.add_argument("--features", type=_positive_int, default=8,
                         help="U-Net channels at the first level. Default: 8")
    compare.add_argument("--depth", type=_positive_int, default=2,
                         help="U-Net poolings. Default: 2")
    compare.add_argument("--seed", type=int, default=0,
                         help="seed of the data and of the first replica. Default: 0")
    compare.add_argument("--seeds", type=_seeds, default=DEFAULT_SEEDS, metavar="K|auto",
                         help="replicas per loss, seeds SEED..SEED+K-1 for initialisation and "
                              "batch order, trained together; the table gives means, spread, "
                              "95%% intervals and a verdict per loss (best, equivalent, worse, "
                              "inconclusive). auto: seeds in rounds of 3, all losses paired, "
                              "until every loss is decided or --max-seeds / --time-budget is "
                              f"spent. Default: {DEFAULT_SEEDS}")
    compare.add_argument("--max-seeds", type=_positive_int, default=None,
                         help=f"with --seeds auto: at most this many seeds (>= 2). Default: "
                              f"{DEFAULT_MAX_SEEDS}")
    compare.add_argument("--time-budget", type=_positive_float, default=None, metavar="SECONDS",
                         help="with --seeds auto: start no round that would likely end after "
                              "this many seconds of training. Default: none")
    compare.add_argument("--margin", type=_positive_float, default=0.02,
                         help="equivalence margin, a difference of mean Dice: a loss is "
                              "'equivalent' to the best when the interval of their paired "
                              "difference lies within +-MARGIN. Default: 0.02")
    compare.add_argument("--alpha", type=_positive_float, default=0.05,
                         help="family-wise error level of the verdicts (Holm's correction over "
                              "the comparisons with the best; split over the planned looks with "
                              "--seeds auto). Default: 0.05")
    compare.add_argument("--replicas", choices=("auto", "vmap", "loop"), default="auto",
                         help="how the replicas share the compiled step: vmap (one program, "
                              "sharded over the devices), loop (one call per replica; faster "
                              "on a CPU), auto: loop on one CPU device, else vmap")
    compare.add_argument("--distributed", action="store_true",
                         help="multi-host: call jax.distributed.initialize() first and use every "
                              "host's devices; run the same command on every host (TPU pod "
                              "slices, SLURM and Open MPI are detected; elsewhere give the three "
                              "options below)")
    compare.add_argument("--coordinator", metavar="HOST:PORT", default=None,
                         help="with --distributed: address of process 0")
    compare.add_argument("--num-processes", type=_positive_int, default=None,
                         help="with --distributed: number of processes (hosts)")
    compare.add_argument("--process-id", type=int, default=None,
                         help="with --distributed: this process's index, 0..N-1")
    compare.add_argument("--eval-every", type=_positive_int, default=None,
                         help="steps between test-Dice points of the curves. Default: "
                              "steps // 20 (about 20 points, every 7 steps of 150)")
    compare.add_argument("--no-augment", action="store_true", help="no random flips")
    compare.add_argument("--out", default="jaxseg-results", metavar="DIR",
                         help="output folder. Default: ./jaxseg-results")
    compare.add_argument("--no-figure", action="store_true", help="skip figure.png")
    compare.add_argument("--no-progress", action="store_true", help="no progress bars")

    listing = sub.add_parser("list", help="the losses, their options, schedules and datasets")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text}")
    return value


def _seeds(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return _positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'auto'; got "
                                         f"{text!r}") from None


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number; got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0; got {text}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1); got {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1); got {text}")
    return value


def _join_dash_values(argv: Sequence[str]) -> list[str]:
    """``--loss -1*dice`` -> ``--loss=-1*dice``: argparse takes a value that starts with '-'
    for an option, so the spec parser could not say what is wrong with it."""
    argv, out = list(argv), []
    for i, arg in enumerate(argv):
        if i and argv[i - 1] == "--loss" and arg.startswith("-") and not arg.startswith("--"):
            out[-1] = f"--loss={arg}"
        else:
            out.append(arg)
    return out


_CREATED_OUT: list[str] = []  # --out folders this process created (removed by main if empty)


def _check_out_dir(path: str) -> None:
    """Fails before training if results could not be written to ``path``."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"--out: {path!r} is a file, not a folder; give a folder name")
    try:
        if not os.path.exists(path):
            _CREATED_OUT.append(path)
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise ValueError(f"--out: cannot write to {path!r} ({exc.strerror or exc})") from exc


def _remove_if_empty(path: str) -> None:
    """Removes a --out folder this run created (only the process that writes the results
    creates it) when nothing was written to it."""
    try:
        if os.path.isdir(path) and not os.listdir(path):
            os.rmdir(path)
    except OSError:
        pass


def _list(args: argparse.Namespace) -> int:
    from jaxseg_losses.experiment.data import BUILTIN
    from jaxseg_losses.experiment.registry import describe_registry, format_default
    from jaxseg_losses.experiment.spec import SCHEDULES

    rows = describe_registry()
    if args.json:
        print(json.dumps({"losses": rows, "schedules": SCHEDULES,
                          "datasets": {k: v.description for k, v in BUILTIN.items()}},
                         indent=1, default=repr))
        return 0
    print("losses (--loss NAME, options as NAME(key=value, ...)):")
    name_width = max(len(row["name"]) for row in rows) + 2
    family_width = max(len(row["family"]) for row in rows) + 2
    indent = " " * (2 + name_width + family_width)
    for row in rows:
        aliases = f" (alias {', '.join(row['aliases'])})" if row["aliases"] else ""
        print(f"  {row['name']:{name_width}s}{row['family']:{family_width}s}{row['summary']}"
              f"{aliases}")
        options = ", ".join(f"{k}={format_default(v)}" for k, v in row.get("options", {}).items())
        print(f"{indent}{row['function']}({options})")
    print("\nschedules (NAME@SCHEDULE):")
    for text in SCHEDULES.values():
        print(f"  {text}")
    print("\ndatasets (--data NAME, or --data PATH.npz, or --data DIR with images/, labels/):")
    for name, spec in BUILTIN.items():
        print(f"  {name:15s} {spec.description}")
    print(f"\n{SPEC_HELP}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    import jax

    cluster = {"coordinator_address": args.coordinator, "num_processes": args.num_processes,
               "process_id": args.process_id}
    if args.distributed:  # before anything touches a device
        jax.distributed.initialize(**{k: v for k, v in cluster.items() if v is not None})
    elif any(v is not None for v in cluster.values()):
        raise ValueError("--coordinator, --num-processes and --process-id need --distributed")
    from jaxseg_losses.experiment.build import BuildContext, check_loss
    from jaxseg_losses.experiment.data import BUILTIN, load_data
    from jaxseg_losses.experiment.registry import parse
    from jaxseg_losses.experiment.report import describe_run, markdown_table, write_results
    from jaxseg_losses.experiment.stats import DecisionRule, sequential_plan
    from jaxseg_losses.experiment.train import TrainConfig, run_comparison, run_sequential

    start = time.perf_counter()
    auto = args.seeds == "auto"
    if not auto and (args.max_seeds is not None or args.time_budget is not None):
        raise ValueError("--max-seeds and --time-budget: only with --seeds auto")
    max_seeds = DEFAULT_MAX_SEEDS if args.max_seeds is None else args.max_seeds
    if auto and max_seeds < 2:
        raise ValueError(f"--max-seeds: expected at least 2 with --seeds auto; got {max_seeds}")
    if args.time_budget is not None and jax.process_count() > 1:
        raise ValueError("--time-budget: not with several processes (each host's clock would "
                         "decide alone whether to train another round); use --max-seeds")
    rule = DecisionRule(alpha=args.alpha, margin=args.margin)
    specs = [parse(text) for text in (args.losses or DEFAULT_LOSSES)]
    if args.data not in BUILTIN:
        given = [f"--{name.replace('_', '-')}" for name in ("size", "n_train", "n_test")
                 if getattr(args, name) is not None]
        if given:
            raise ValueError(f"{', '.join(given)}: only for the built-in data sets; "
                             f"{args.data!r} is used as it is (its examples are split into "
                             "train and test by --test-fraction, or --test-data is the test "
                             "set)")
    elif args.relabel:
        raise ValueError("--relabel: only for user data (--data FILE.npz or DIR)")
    lead = jax.process_index() == 0
    if lead:
        _check_out_dir(args.out)
    dataset = load_data(args.data, n_train=args.n_train or N_TRAIN, n_test=args.n_test or N_TEST,
                        size=args.size, seed=args.seed, num_classes=args.num_classes,
                        relabel=args.relabel, test_fraction=args.test_fraction,
                        test_data=args.test_data, multiple=2**args.depth)
    factor = 2**args.depth
    if any(s % factor for s in dataset.spatial_shape):
        raise ValueError(f"--data: spatial shape {dataset.spatial_shape} is not divisible by "
                         f"2**depth = {factor}; crop or pad the images, or lower --depth")
    if len(dataset.absent_test_classes()) == dataset.num_classes - 1:
        raise ValueError(f"{dataset.name}: the test set has no foreground pixel; nothing to "
                         "evaluate: choose another split (--seed, --test-fraction) or "
                         "--test-data")
    if args.batch_size > len(dataset.train_labels):
        raise ValueError(f"--batch-size {args.batch_size}: larger than the training set "
                         f"({len(dataset.train_labels)} examples); lower it, or train on more "
                         "examples")
    config = TrainConfig(steps=args.steps, batch_size=args.batch_size, learning_rate=args.lr,
                         features=args.features, depth=args.depth, seed=args.seed,
                         eval_every=args.eval_every, augment=not args.no_augment,
                         seeds=sequential_plan(max_seeds, DEFAULT_SEEDS, DEFAULT_SEEDS)[0]
                         if auto else args.seeds, replicas=args.replicas)
    ctx = BuildContext(dataset.num_classes, config.steps, dataset.spacing, dataset.train_labels)
    for spec in specs:  # every spec is checked before the first one trains
        check_loss(spec, ctx, dataset.spatial_shape)
    devices = jax.devices()
    if lead:
        print(describe_run(dataset, config, devices), flush=True)
        if auto:
            plan = sequential_plan(max_seeds, DEFAULT_SEEDS, DEFAULT_SEEDS)
            print(f"--seeds auto: rounds of {DEFAULT_SEEDS} seeds, looks at "
                  f"{', '.join(map(str, plan))} seeds, each at level "
                  f"{rule.alpha / len(plan):.4g} (alpha {rule.alpha:g} / {len(plan)} looks)",
                  flush=True)
    progress, sequential = lead and not args.no_progress, None
    if auto:
        results, rule, sequential = run_sequential(
            specs, dataset, config, max_seeds=max_seeds, time_budget=args.time_budget,
            rule=rule, first=DEFAULT_SEEDS, step=DEFAULT_SEEDS, progress=progress,
            devices=devices, report=(lambda text: print(text, flush=True)) if lead else None)
        config = dataclasses.replace(config, seeds=len(results[0].seeds))
    else:
        results = run_comparison(specs, dataset, config, progress=progress, devices=devices)
    if lead:
        paths = write_results(results, dataset, config, args.out, figure=not args.no_figure,
                              devices=devices, rule=rule, sequential=sequential)
        print()
        print(markdown_table(results, rule, sequential))
        print(f"\nsaved: {', '.join(os.path.relpath(p) for p in paths.values())}")
        print(f"total {time.perf_counter() - start:.1f} s")
    return 1 if any(r.error for r in results) else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``jaxseg-losses`` and ``python -m jaxseg_losses``; returns the exit code."""
    parser = _build_parser()
    args = parser.parse_args(_join_dash_values(sys.argv[1:] if argv is None else argv))
    try:
        if args.command == "list":
            return _list(args)
        return _compare(args)
    except ModuleNotFoundError as exc:
        if exc.name in ("flax", "tqdm", "matplotlib"):
            print(f"jaxseg-losses: error: {exc.name} is missing; install the experiment extra: "
                  'pip install "jaxseg_losses[experiment]"', file=sys.stderr)
            return 2
        raise
    except ValueError as exc:  # SpecError, DataError and bad shapes: a message, no traceback
        print(f"jaxseg-losses: error: {exc}", file=sys.stderr)
        return 2
    finally:
        while _CREATED_OUT:  # an error before the results were written: no empty folder left
            _remove_if_empty(_CREATED_OUT.pop())


if __name__ == "__main__":
    sys.exit(main())
