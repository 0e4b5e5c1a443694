"""Shared timing helpers for the benchmark scripts (not a test, not part of the package).

Every candidate of a table is timed in the same process, interleaved: each round calls every
candidate once, so a change of machine load during the run affects all of them alike, and the
ratios of medians are comparable. Warm-up calls (compilation included) are excluded.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import time
from collections.abc import Callable

import jax
import numpy as np


def block(out):
    """Waits for JAX results; torch/NumPy results are already computed."""
    return jax.block_until_ready(out)


def timed_s(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    block(fn())
    return time.perf_counter() - t0


def interleaved_medians(cands: dict[str, Callable[[], object]], repeats: int,
                        warmup: int = 2, settle: int = 1) -> dict[str, float]:
    """Median ms per candidate over `repeats` interleaved rounds, after `warmup` calls each.

    In every round each candidate makes `settle` untimed calls right before its timed one: a
    call that follows a different program pays for that program's after-effects (freshly
    mapped temporaries, the other framework's spinning worker threads), which slowed the next
    candidate by up to 1.6x here (dice_loss after focal_loss: 12.7 vs 7.8 ms). A train loop
    runs one program over and over, which the settled call measures.
    """
    for fn in cands.values():
        for _ in range(warmup):
            block(fn())
    times: dict[str, list[float]] = {k: [] for k in cands}
    for _ in range(repeats):
        for k, fn in cands.items():
            for _ in range(settle):
                block(fn())
            times[k].append(timed_s(fn))
    return {k: 1e3 * float(np.median(v)) for k, v in times.items()}


def load_average() -> float:
    return os.getloadavg()[0]


def machine_line() -> str:
    model = platform.processor() or platform.machine()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    import torch

    return (f"{model}, {os.cpu_count()} CPUs, device {jax.devices()[0].device_kind} (no GPU); "
            f"jax {jax.__version__}, torch {torch.__version__} ({torch.get_num_threads()} "
            f"threads); {datetime.date.today().isoformat()}")
