"""What the distance programs compile to on an H100 and a TPU v5e, without either device.

Run (in a venv with jax's CUDA plugin and libtpu beside the project; see the team's accelerator
tools, whose ``h100.txtpb``, ``thunks.py`` and ``tpu_cost.py`` this script uses)::

    python benchmarks/accelerator_proxy.py --tools DIR [--formulation envelope] [--out FILE]

Every program is compiled for a *described* device (jaxlib compiles for a GPU spec or a TPU
topology with no device attached) and read back:

* H100: kernel launches per call (CUDA-graph launches counted apart), host-synchronised loop
  iterations (XLA:GPU copies the condition of a loop without a known trip count to the host on
  every iteration; counted with 0-1 pops per scan step, the range of the CPU envelope's pop
  loop), temporary memory, and a time range from this stated model::

      t = launches * (3..10 us) + graph launches * (5..10 us) + host syncs * (10..30 us)
          + reduced pairs / (5..2 T/s) + bytes / (3..1.5 TB/s)

  "reduced pairs" are the operand elements of every reduce (and window elements of every
  reduce-window) in the optimised program, i.e. the min-plus work; "bytes" twice the bytes of
  every top-level result (written once, read about once). Loop bodies are counted once in these
  two terms (their launches and syncs are fully counted): for the loop programs the time is a
  lower bound.
* TPU v5e: temporary memory and XLA:TPU's own ``estimated_cycles`` summed over the executed
  program (loop bodies times their trip counts), in ms at 1.5 GHz.

Every figure is an estimate from the compiler, not a measurement on a device.
``--formulation envelope`` compiles the CPU formulation (scans and the envelope's pop loop) for
the accelerators too: the program every backend ran before the accelerator path existed.
"""

from __future__ import annotations

import argparse
import glob
import math
import os
import re
import sys
import tempfile

_DUMP = tempfile.mkdtemp(prefix="accel_proxy_")
os.environ.update(
    TPU_SKIP_MDS_QUERY="1", TPU_WORKER_HOSTNAMES="localhost", JAX_SKIP_CUDA_CONSTRAINTS_CHECK="1"
)
os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_dump_to={_DUMP}".strip()

import jax  # noqa: E402
from jax.experimental import topologies  # noqa: E402

from jaxseg_losses import distance  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _distance_programs import programs, scipy_cells  # noqa: E402

_BYTES = {"pred": 1, "s8": 1, "u8": 1, "bf16": 2, "f16": 2, "s32": 4, "u32": 4, "f32": 4,
          "s64": 8, "f64": 8}
_SHAPE = re.compile(r"\b(pred|[suf]\d+|bf16)\[([\d,]*)\]")


def _elems(dims: str) -> int:
    return math.prod(int(d) for d in dims.split(",") if d)


def _computations(hlo: str) -> dict[str, str]:
    """Name -> body text of every computation of an optimised HLO module (ENTRY as "ENTRY")."""
    comps, name, body = {}, None, []
    for line in hlo.splitlines():
        head = re.match(r"^(ENTRY )?%(\S+) \(.*\{\s*$", line)
        if head:
            name, body = ("ENTRY" if head.group(1) else head.group(2)), []
        elif line.startswith("}") and name is not None:
            comps[name], name = "\n".join(body), None
        elif name is not None:
            body.append(line)
    return comps


def _reduced_pairs(comps: dict[str, str], comp: str, shapes: dict[str, int]) -> float:
    """Operand elements of the reduces (window elements of the reduce-windows) that ``comp``
    and the computations it calls execute, loop bodies once."""
    text = comps.get(comp, "")
    pairs = sum(shapes.get(op, 0) for op in re.findall(r" reduce\(%([^,\s)]+)", text))
    for dims, window in re.findall(r"= \S+\[([\d,]*)\]\S* reduce-window\(.*?window=\{size=([\dx]+)",
                                   text):
        pairs += _elems(dims) * math.prod(int(w) for w in window.split("x"))
    for callee in re.findall(r"(?:calls|body|to_apply)=%([\w.\-]+)", text):
        pairs += _reduced_pairs(comps, callee, shapes)
    return pairs


def hlo_work(hlo: str) -> tuple[float, float, float]:
    """(reduced pairs, fallback pairs, bytes moved) of an optimised XLA:GPU module.

    Pairs inside the branches of a conditional (the banded pass's dense fallback) are reported
    apart; the common path runs none of them. Loop bodies are counted once.
    """
    shapes = {name: _elems(dims) for name, dims in re.findall(
        r"^\s*(?:ROOT )?%(\S+) = (?:pred|[suf]\d+|bf16)\[([\d,]*)\]", hlo, re.M)}
    comps = _computations(hlo)
    # `_reduced_pairs` follows fusions, loops and reducers but not conditional branches.
    branches = re.findall(r"(?:true|false)_computation=%([\w.\-]+)", hlo)
    for group in re.findall(r"branch_computations=\{([^}]*)\}", hlo):
        branches += [c.strip().lstrip("%") for c in group.split(",")]
    fallback = max((_reduced_pairs(comps, c, shapes) for c in branches), default=0.0)
    pairs = _reduced_pairs(comps, "ENTRY", shapes)
    moved = 0.0
    for line in comps["ENTRY"].splitlines():
        m = re.match(r"\s*(?:ROOT )?%\S+ = (\(.*?\)|\S+) ", line)
        if m and " parameter(" not in line and " get-tuple-element(" not in line:
            moved += 2 * sum(_elems(d) * _BYTES.get(t, 4) for t, d in _SHAPE.findall(m.group(1)))
    return pairs, fallback, moved


class Targets:
    """The described H100 and TPU v5e, and the readers of their compiled programs."""

    def __init__(self, tools: str):
        sys.path.insert(0, tools)
        import thunks  # noqa: PLC0415  (the team's accelerator tools, not a package)
        import tpu_cost  # noqa: PLC0415

        self.thunks, self.tpu_cost = thunks, tpu_cost
        spec = open(os.path.join(tools, "h100.txtpb")).read()
        gpu = topologies.get_topology_desc("1x1x1", "cuda", target_config=spec, topology="1x1x1")
        tpu = topologies.get_topology_desc(topology_name="v5e:2x2", platform="tpu")
        self.devices = {"h100": gpu.devices[0], "v5e": tpu.devices[0]}

    def compile(self, target: str, name: str, fn, args):
        sharding = jax.sharding.SingleDeviceSharding(self.devices[target])
        placed = jax.tree.map(
            lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding), args
        )
        fn.__name__ = fn.__qualname__ = f"{name}_{target}"
        return jax.jit(fn).lower(*placed).compile()

    def h100(self, name: str, fn, args) -> dict:
        compiled = self.compile("h100", name, fn, args)
        prefix = glob.glob(f"{_DUMP}/*jit_{name}_h100.thunk_sequence.txt")[-1][: -len(
            "thunk_sequence.txt")]
        res, _ = self.thunks.summarize(prefix, pops=(0.0, 1.0))
        lo_acc, hi_acc = res[0.0], res[1.0]
        hlo = compiled.as_text()
        pairs, fallback, moved = hlo_work(hlo)
        # XLA:GPU reads a conditional's predicate on the host (a copy and a wait) per call.
        conditionals = len(re.findall(r" conditional\(", hlo))
        for acc in (lo_acc, hi_acc):
            acc["syncs"] += conditionals
        work_lo = pairs / 5e12 + moved / 3e12
        work_hi = pairs / 2e12 + moved / 1.5e12
        t_lo = (lo_acc["launches"] * 3 + lo_acc["graphs"] * 5 + lo_acc["syncs"] * 10) / 1e3
        t_hi = (hi_acc["launches"] * 10 + hi_acc["graphs"] * 10 + hi_acc["syncs"] * 30) / 1e3
        return {
            "launches": _span(lo_acc["launches"], hi_acc["launches"]),
            "graphs": _span(lo_acc["graphs"], hi_acc["graphs"]),
            "syncs": _span(lo_acc["syncs"], hi_acc["syncs"]),
            "temp_mib": compiled.memory_analysis().temp_size_in_bytes / 2**20,
            "pairs_g": pairs / 1e9,
            "fallback_g": fallback / 1e9,
            "ms": (t_lo + work_lo * 1e3, t_hi + work_hi * 1e3),
        }

    def v5e(self, name: str, fn, args) -> dict:
        compiled = self.compile("v5e", name, fn, args)
        path = os.path.join(_DUMP, f"{name}_v5e.txt")
        with open(path, "w") as fh:
            fh.write(compiled.as_text())
        comps = self.tpu_cost.parse(path)
        cycles = [self.tpu_cost.cost(comps, "__entry__", p, {"cycles": 0.0, "ops": 0.0,
                                                             "loops": []})["cycles"]
                  for p in (0.0, 1.0)]
        return {"temp_mib": compiled.memory_analysis().temp_size_in_bytes / 2**20,
                "ms": (cycles[0] / 1.5e6, cycles[1] / 1.5e6)}


def _span(lo, hi) -> str:
    return f"{lo:,.0f}" if lo == hi else f"{lo:,.0f}-{hi:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tools", required=True,
                        help="folder with h100.txtpb, thunks.py and tpu_cost.py")
    parser.add_argument("--formulation", choices=("auto", "envelope"), default="auto",
                        help="envelope: compile the CPU formulation for the accelerators too")
    parser.add_argument("--dense-max", type=int, default=None,
                        help="longest axis of the dense min-plus (default: the library's)")
    parser.add_argument("--only", default="", help="regex: the programs to compile")
    parser.add_argument("--scipy", action="store_true",
                        help="time SciPy (one core) on the EDT shapes for the ratio column")
    parser.add_argument("--out", default=None, help="also write the table to this file")
    args = parser.parse_args()
    if args.formulation == "envelope":
        distance._squared_edt_dense = distance._squared_edt_cpu
    if args.dense_max is not None:
        distance._ACCEL_DENSE_MAX_LEN = args.dense_max
    targets = Targets(args.tools)
    lines = [
        f"formulation: {args.formulation}, dense min-plus up to n = "
        f"{distance._ACCEL_DENSE_MAX_LEN}; jax {jax.__version__}; estimates, not measurements",
        "",
        "| program | H100 launches | graphs | host syncs | temp MiB | Gpairs (+fallback) "
        "| H100 est. ms | v5e temp MiB | v5e est. ms | SciPy 1 core ms | SciPy / H100 est. |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    for label, name, fn, fargs in programs():
        if args.only and not re.search(args.only, label):
            continue
        g = targets.h100(name, fn, fargs)
        t = targets.v5e(name, fn, fargs)
        fallback = f" (+{g['fallback_g']:.2f})" if g["fallback_g"] else ""
        row = (f"| {label} | {g['launches']} | {g['graphs']} | {g['syncs']} | "
               f"{g['temp_mib']:.0f} | {g['pairs_g']:.2f}{fallback} | "
               f"{g['ms'][0]:.2f}-{g['ms'][1]:.2f} | {t['temp_mib']:.0f} | {_span_ms(*t['ms'])} |")
        row += scipy_cells(label, fargs[0].shape, *g["ms"]) if args.scipy else " | |"
        lines.append(row)
        print(row, flush=True)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write("\n".join(lines) + "\n")


def _span_ms(lo: float, hi: float) -> str:
    return f"{lo:.2f}" if abs(hi - lo) < 0.005 else f"{lo:.2f}-{hi:.2f}"


if __name__ == "__main__":
    main()
