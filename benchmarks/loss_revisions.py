"""Loss value+grad speed of the package at several git revisions, side by side.

Run: ``python benchmarks/loss_revisions.py REV [REV ...] [--shape 8,256,256,4] [--losses a,b]``
(``WORK`` = the working tree; a loss is a name of the package or ``case:NAME``, a configuration
of tests/cases.py). Copies the package of every revision under a name of its own
(``jaxseg_losses_<i>``), checks that all revisions give the same values and gradients, and times
``value_and_grad`` of ``loss(logits, labels).mean()`` (jit) for all of them interleaved in this
process, with the softmax floor of ``losses.py``, so a change is measured under the same load.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import pathlib
import subprocess
import sys
import tempfile

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests.cases
from _timing import interleaved_medians, load_average, machine_line  # noqa: E402

from tests.cases import CASES  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_LOSSES = ("cross_entropy,focal_loss,dice_loss,jaccard_loss,tversky_loss,"
                  "generalized_dice_loss,dice_ce_loss,weighted_cross_entropy")


def load_package(rev: str, index: int, tmp: pathlib.Path):
    """The package at ``rev`` imported as ``jaxseg_losses_<index>``."""
    name = f"jaxseg_losses_{index}"
    target = tmp / name
    if rev == "WORK":
        files = {p.relative_to(ROOT / "jaxseg_losses"): p.read_text()
                 for p in (ROOT / "jaxseg_losses").rglob("*.py")}
    else:
        listing = subprocess.run(["git", "-C", str(ROOT), "ls-tree", "-r", "--name-only", rev,
                                  "jaxseg_losses"], capture_output=True, text=True, check=True)
        files = {}
        for path in listing.stdout.split():
            if path.endswith(".py"):
                files[pathlib.Path(path).relative_to("jaxseg_losses")] = subprocess.run(
                    ["git", "-C", str(ROOT), "show", f"{rev}:{path}"],
                    capture_output=True, text=True, check=True).stdout
    for rel, src in files.items():
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        (target / rel).write_text(src.replace("jaxseg_losses", name))
    return importlib.import_module(name)


def case_loss(name: str, package):
    """A loss of ``package`` by name, or ``case:NAME``: a configuration of tests/cases.py (a
    binary one gets one channel and 0/1 labels, one without labels a (C, C) prior)."""
    if not name.startswith("case:"):
        return getattr(package, name)
    case = CASES[name[len("case:"):]]
    return functools.partial(getattr(package, case.fn.__name__), **case.options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revs", nargs="+")
    parser.add_argument("--shape", default="8,256,256,4")
    parser.add_argument("--losses", default=DEFAULT_LOSSES)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--labels", choices=("index", "one-hot"), default="index",
                        help="integer class indices (default) or dense one-hot labels")
    args = parser.parse_args()
    shape = tuple(int(s) for s in args.shape.split(","))
    names = args.losses.split(",")
    rng = np.random.default_rng(0)
    z = jnp.asarray(rng.standard_normal(shape, np.float32))
    y = jnp.asarray(rng.integers(0, shape[-1], shape[:-1]).astype(np.int32))
    if args.labels == "one-hot":
        y = jax.nn.one_hot(y, shape[-1])

    with tempfile.TemporaryDirectory() as tmp:
        sys.path.insert(0, tmp)
        packages = [load_package(rev, i, pathlib.Path(tmp)) for i, rev in enumerate(args.revs)]
        floor = jax.jit(jax.value_and_grad(lambda x: jnp.sum(jax.nn.logsumexp(x, axis=-1))))
        cands = {"floor": lambda: floor(z)}
        for name in names:
            results = []
            x, labels = z, y
            if name.startswith("case:") and CASES[name[5:]].binary:  # one channel, 0/1 labels
                x, labels = z[..., :1], y % 2
            if name.startswith("case:") and not CASES[name[5:]].labels:  # a (C, C) prior
                labels = jnp.ones((shape[-1],) * 2).at[0, -1].set(0.0).at[-1, 0].set(0.0)
            for rev, pkg in zip(args.revs, packages, strict=True):
                loss = case_loss(name, pkg)
                f = jax.jit(jax.value_and_grad(lambda x, fn=loss, t=labels: fn(x, t).mean()))
                results.append(jax.device_get(f(x)))
                cands[f"{name}@{rev}"] = (lambda f=f, x=x: f(x))
            for rev, (value, grad) in zip(args.revs[1:], results[1:], strict=True):
                np.testing.assert_allclose(value, results[0][0], rtol=1e-5, err_msg=name + rev)
                np.testing.assert_allclose(grad, results[0][1], rtol=1e-4, atol=1e-9,
                                           err_msg=f"{name}@{rev}: gradient")
        load0 = load_average()
        med = interleaved_medians(cands, args.repeats)

    fl = med["floor"]
    print(f"{machine_line()}; shape {shape}, {args.labels} labels; softmax floor {fl:.2f} ms; "
          f"load average {load0:.1f} -> {load_average():.1f}; median ms (x floor)\n")
    print("| loss | " + " | ".join(args.revs) + " |")
    print("|---" * (len(args.revs) + 1) + "|")
    for name in names:
        cells = [f"{med[f'{name}@{rev}']:.2f} ({med[f'{name}@{rev}'] / fl:.2f})"
                 for rev in args.revs]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
