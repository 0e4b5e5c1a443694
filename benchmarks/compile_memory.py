"""Compile time, temporary memory and kernel launches of the losses on XLA:GPU, XLA:TPU and CPU.

Run (in a venv with jax's CUDA plugin and libtpu beside the project; see the team's accelerator
tools, whose ``h100.txtpb`` and ``thunks.py`` this script uses)::

    python benchmarks/compile_memory.py --tools DIR [--losses a,b] [--classes 2,4,14,19,150]
        [--targets h100,v5e,cpu] [--repeat 3] [--labels int|onehot] [--no-3d] [--out FILE]
        [--max-temp X]

``--losses all``: every configuration of the test table (tests/cases.py; options made for its
C = 3, class weights and distance matrices, sized to each C; a binary configuration, one channel,
compiled once); ``--classes ""``: the
3-D shape alone; ``--max-temp X``: a guard, exit status 1 naming every loss whose temporary
memory on an accelerator target is above X times the logits (run it where the CUDA plugin and
libtpu are installed; the test venv has neither, so this guard is not a unit test).

For every loss, class count C and shape ((4, 128, 128, C), and (2, 96, 96, 96, 14) unless
``--no-3d``) it lowers ``jax.value_and_grad(lambda x, y: loss(x, y).mean())`` and compiles it
for a *described* H100 and TPU v5e (no device attached; a deviceless compile skips only the
autotuner, every HLO pass runs as on a device) and for XLA:CPU, ``--repeat`` times each
(interleaved over the targets; the median is printed, the machine is noisy). One more H100
compile, with ``--xla_dump_to``, gives the thunk sequence from which ``thunks.py`` counts the
kernels of one call (launched alone or inside CUDA graphs; the graph launches in brackets); the
v5e columns count the top-level ops of the optimised entry computation (fusions, copies, custom
calls) and give XLA:TPU's own run-time estimate of one call (its ``estimated_cycles`` summed by
the tools' ``tpu_cost.py``, loops expanded, at 1.5 GHz). Memory is XLA's
``temp_size_in_bytes`` in units of the logits' bytes. Labels are integer class indices
(``--labels onehot``: dense one-hot targets of the logits' shape).
"""

from __future__ import annotations

import argparse
import functools
import glob
import os
import pathlib
import re
import statistics
import sys
import tempfile
import time

_DUMP = tempfile.mkdtemp(prefix="compile_memory_")
os.environ.update(
    TPU_SKIP_MDS_QUERY="1", TPU_WORKER_HOSTNAMES="localhost", JAX_SKIP_CUDA_CONSTRAINTS_CHECK="1"
)
# Only the modules named count_* are dumped: the timed compiles write nothing.
os.environ["XLA_FLAGS"] = (f"{os.environ.get('XLA_FLAGS', '')} --xla_dump_to={_DUMP} "
                           "--xla_dump_hlo_module_re=.*count_.*").strip()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.experimental import topologies  # noqa: E402

import jaxseg_losses as jsl  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests.cases

DEFAULT_LOSSES = "focal_loss,cross_entropy,dice_loss,dice_ce_loss"
_TOP_OP = re.compile(r"^\s+(?:ROOT )?%\S+ = \S+ (\w[\w-]*)\(", re.M)
_FREE = {"parameter", "get-tuple-element", "tuple", "bitcast", "constant"}


def devices(tools: str, targets: list[str]) -> dict:
    found = {}
    if "h100" in targets:
        spec = open(os.path.join(tools, "h100.txtpb")).read()
        found["h100"] = topologies.get_topology_desc(
            "1x1x1", "cuda", target_config=spec, topology="1x1x1").devices[0]
    if "v5e" in targets:
        found["v5e"] = topologies.get_topology_desc(
            topology_name="v5e:2x2", platform="tpu").devices[0]
    if "cpu" in targets:
        found["cpu"] = jax.devices("cpu")[0]
    return found


def program(loss, name: str):
    def fn(x, y):
        return jnp.mean(loss(x, y))

    grad = jax.value_and_grad(fn)

    def named(x, y):
        return grad(x, y)

    named.__name__ = named.__qualname__ = name
    return named


def lower(fn, device, shape, labels: str):
    sharding = jax.sharding.SingleDeviceSharding(device)
    x = jax.ShapeDtypeStruct(shape, jnp.float32, sharding=sharding)
    if labels == "prior":  # nonadjacency_loss: a (C, C) prior in place of the labels
        y = jax.ShapeDtypeStruct(shape[-1:] * 2, jnp.float32, sharding=sharding)
    elif labels == "int":
        y = jax.ShapeDtypeStruct(shape[:-1], jnp.int32, sharding=sharding)
    else:
        y = jax.ShapeDtypeStruct(shape, jnp.float32, sharding=sharding)
    return jax.jit(fn).lower(x, y)


def entry_ops(hlo: str) -> int:
    """Top-level ops of the optimised entry computation, less the free ones."""
    entry = hlo[hlo.index("\nENTRY "):]
    entry = entry[: entry.index("\n}")]
    return sum(1 for op in _TOP_OP.findall(entry) if op not in _FREE)


def tpu_estimate_ms(hlo: str) -> float:
    """XLA:TPU's own estimate of one call's run time: the ``estimated_cycles`` of the executed
    ops summed with loops expanded (the accelerator tools' ``tpu_cost.py``), at 1.5 GHz."""
    import tpu_cost  # noqa: PLC0415  (the team's accelerator tools, not a package)

    with tempfile.NamedTemporaryFile("w", suffix=".txt", dir=_DUMP, delete=False) as f:
        f.write(hlo)
    acc = tpu_cost.cost(tpu_cost.parse(f.name), "__entry__", 0.0,
                        {"cycles": 0.0, "ops": 0.0, "loops": []})
    os.unlink(f.name)
    return acc["cycles"] / 1.5e6


def oom_bytes(message: str) -> float:
    """The temporary bytes named by XLA's out-of-memory refusal (``... temporaries (20.51G)``)."""
    found = re.search(r"temporaries \(([\d.]+)([KMG])\)", message)
    if found is None:
        raise RuntimeError(message)
    return float(found[1]) * 1024 ** " KMG".index(found[2])


def sized(value, classes: int):
    """An option made for the test table's C = 3, sized to ``classes``.

    Class weights repeat cyclically to length C; a (3, 3) class-distance matrix becomes the
    (C, C) matrix of the classes' residues mod 3, with distance 1 between distinct classes of
    the same residue (so only the diagonal is 0). Other values are kept.
    """
    from tests.cases import C  # noqa: PLC0415

    if not isinstance(value, np.ndarray) or C not in value.shape or classes == C:
        return value
    if value.shape == (C,):
        return np.resize(value, classes).astype(value.dtype)
    if value.shape == (C, C):
        residue = np.arange(classes) % C
        matrix = value[residue[:, None], residue[None, :]].copy()
        matrix[(matrix == 0) & ~np.eye(classes, dtype=bool)] = 1
        return matrix.astype(value.dtype)
    return value


def resolve(loss_name: str, package=jsl, classes: int | None = None):
    """A loss of ``package`` by name, or ``case:NAME``: a configuration of the test table.

    A configuration's options sized for the table's C = 3 are sized to ``classes`` (see
    :func:`sized`).
    """
    if loss_name.startswith("case:"):
        from tests.cases import CASES  # noqa: PLC0415

        case = CASES[loss_name[len("case:"):]]
        options = {k: v if classes is None else sized(v, classes) for k, v in case.options.items()}
        return functools.partial(getattr(package, case.fn.__name__), **options)
    return getattr(package, loss_name)


def measure(losses: dict, shape, labels: str, devs: dict, repeat: int, thunks, tag: str):
    """``{variant: {target: figures}}`` for the ``{variant: loss}`` given, compiled interleaved."""
    logits_bytes = 4 * int(np.prod(shape))
    times = {(v, t): [] for v in losses for t in devs}
    compiled = {}
    for r in range(repeat):
        for v, loss in losses.items():
            for target, dev in devs.items():
                name = re.sub(r"\W", "_", f"time_{tag}_{v}_{target}_{r}")
                lowered = lower(program(loss, name), dev, shape, labels)
                start = time.perf_counter()
                try:
                    compiled[v, target] = lowered.compile()
                except jax.errors.JaxRuntimeError as error:  # XLA:TPU refuses what exceeds HBM
                    compiled[v, target] = oom_bytes(str(error))
                times[v, target].append(time.perf_counter() - start)
    rows = {}
    for v, loss in losses.items():
        row = rows[v] = {}
        for target in devs:
            if isinstance(compiled[v, target], float):  # the bytes of an out-of-memory refusal
                row[target] = {"s": statistics.median(times[v, target]), "ops": "OOM",
                               "temp": f"OOM {compiled[v, target] / logits_bytes:.1f}"}
                continue
            hlo = compiled[v, target].as_text()
            row[target] = {
                "s": statistics.median(times[v, target]),
                "temp": compiled[v, target].memory_analysis().temp_size_in_bytes / logits_bytes,
                "fusions": len(re.findall(r" fusion\(", hlo)),
                "ops": entry_ops(hlo),
            }
            if target == "v5e":
                row[target]["est_ms"] = tpu_estimate_ms(hlo)
        if "h100" in devs and thunks is not None:
            name = re.sub(r"\W", "_", f"count_{tag}{v and '_' + v}")
            lower(program(loss, name), devs["h100"], shape, labels).compile()
            prefix = glob.glob(f"{_DUMP}/*jit_{name}.thunk_sequence.txt")[-1][: -len(
                "thunk_sequence.txt")]
            res, _ = thunks.summarize(prefix, pops=(0.0,))
            acc = res[0.0]
            # Kernels per call: launched one by one, or inside CUDA graphs (graph launches apart).
            kernels = acc["launches"] + acc.get("graph_kernels", 0)
            row["h100"]["launches"] = f"{kernels} ({acc['graphs']} graphs)"
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tools", required=True, help="the team's accelerator tools")
    parser.add_argument("--losses", default=DEFAULT_LOSSES,
                        help="names of the package, or case:NAME of tests/cases.py; 'cases' "
                        "for every multiclass configuration of that table, 'all' for every "
                        "configuration (binary ones with one channel, the non-adjacency "
                        "loss with a (C, C) prior)")
    parser.add_argument("--classes", default="2,4,14,19,150",
                        help="class counts of the 2-D shapes ('' for the 3-D shape alone)")
    parser.add_argument("--targets", default="h100,v5e,cpu")
    parser.add_argument("--labels", default="int", choices=("int", "onehot"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-3d", action="store_true")
    parser.add_argument("--out", default=None, help="also append the table to this file")
    parser.add_argument("--max-temp", type=float, default=None,
                        help="guard: exit 1 naming every loss whose temporary memory on an "
                        "accelerator target exceeds this many times the logits (or is refused "
                        "as out of memory)")
    parser.add_argument("--revs", default=None,
                        help="git revisions to compare (WORK = the working tree), compiled "
                        "interleaved in this process; default: the package as imported")
    args = parser.parse_args()
    targets = args.targets.split(",")
    sys.path.insert(0, args.tools)
    thunks = None
    if "h100" in targets:
        import thunks  # noqa: PLC0415  (the team's accelerator tools, not a package)
    devs = devices(args.tools, targets)
    # Warm-up: the first compile of each target pays one-off start-up costs.
    for target, dev in devs.items():
        lower(program(jsl.dice_loss, f"warm_{target}"), dev, (1, 8, 8, 2), args.labels).compile()
    shapes = [(4, 128, 128, int(c)) for c in args.classes.split(",") if c]
    if not args.no_3d:
        shapes.append((2, 96, 96, 96, 14))
    packages = {"": jsl}
    if args.revs:
        from loss_revisions import load_package  # noqa: PLC0415

        tmp = pathlib.Path(tempfile.mkdtemp(prefix="compile_memory_revs_"))
        sys.path.insert(0, str(tmp))
        packages = {rev: load_package(rev, i, tmp) for i, rev in enumerate(args.revs.split(","))}
    header = ["loss", "shape"] + (["rev"] if args.revs else [])
    for t in targets:
        header += [f"{t} compile s", f"{t} temp x"]
        if t == "h100":
            header += ["h100 launches"]
        if t == "v5e":
            header += ["v5e ops", "v5e est ms"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    print(f"labels={args.labels}, repeat={args.repeat} (median), jax {jax.__version__}, "
          f"H100 dumps in {_DUMP}")
    print(lines[0])
    print(lines[1])
    losses = args.losses.split(",")
    if args.losses in ("cases", "all"):
        from tests.cases import CASES  # noqa: PLC0415

        losses = [f"case:{name}" for name, case in CASES.items() if args.losses == "all" or (
            not case.binary and case.labels
            and case.options.get("mode", "multiclass") == "multiclass")]
    too_big = []
    for loss_name in losses:
        case = None
        if loss_name.startswith("case:"):
            from tests.cases import CASES  # noqa: PLC0415

            case = CASES[loss_name[len("case:"):]]
        done = set()
        for i, shape in enumerate(shapes):
            tag = f"{loss_name.replace(':', '_')}_{i}"
            labels = args.labels
            if case is not None and case.binary:  # one channel, 0/1 labels
                shape = shape[:-1] + (1,)
            if shape in done:  # a binary configuration: the same program at every C
                continue
            done.add(shape)
            if case is not None and not case.labels:
                labels = "prior"
            try:
                variants = {r: resolve(loss_name, pkg, shape[-1]) for r, pkg in packages.items()}
                rows = measure(variants, shape, labels, devs, args.repeat, thunks, tag)
            except (ValueError, TypeError) as error:  # options the loss refuses at this shape
                print(f"| {loss_name} | {','.join(map(str, shape))} | {type(error).__name__}: "
                      f"{str(error)[:80]} |", flush=True)
                continue
            for rev, row in rows.items():
                cells = [loss_name, ",".join(map(str, shape))] + ([rev] if args.revs else [])
                for t in targets:
                    temp = row[t]["temp"]
                    temp = temp if isinstance(temp, str) else f"{temp:.2f}"
                    cells += [f"{row[t]['s']:.2f}", temp]
                    if t == "h100":
                        cells += [str(row[t].get("launches", ""))]
                    if t == "v5e":
                        cells += [str(row[t]["ops"]), f"{row[t].get('est_ms', float('nan')):.2f}"]
                over = [t for t in targets if t != "cpu" and args.max_temp is not None and (
                    isinstance(row[t]["temp"], str) or row[t]["temp"] > args.max_temp)]
                if over:
                    too_big.append(f"{cells[0]} {cells[1]} on {','.join(over)}")
                line = "| " + " | ".join(cells) + " |"
                lines.append(line)
                print(line, flush=True)
    if args.out:
        with open(args.out, "a") as fh:
            fh.write("\n".join(lines) + "\n")
    if too_big:
        sys.exit(f"temporary memory above {args.max_temp}x the logits: " + "; ".join(too_big))


if __name__ == "__main__":
    main()
