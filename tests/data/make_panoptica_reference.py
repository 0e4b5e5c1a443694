"""Writes the panoptica reference numbers of tests/test_metrics_objects.py.

panoptica pins older numpy and connected-components-3d than this project, so it is not a test
dependency: this script runs once in a separate virtual environment,

    python3 -m venv VENV && VENV/bin/pip install panoptica==2.1.7 scipy
    VENV/bin/python tests/data/make_panoptica_reference.py

and writes seeded binary masks (panoptica_masks_2d.npy, panoptica_masks_3d.npy: bool
(2, N, *spatial), [0] = prediction, [1] = reference) and panoptica's results on each
(panoptica_reference.json). panoptica's semantic pipeline: ConnectedComponentsInstanceApproximator
(its default backend: scipy.ndimage.label, 4-connectivity, in 2-D; cc3d, 26, in 3-D) and
NaiveThresholdMatching (greedy by IoU, IoU >= threshold, one-to-one).
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
from scipy import ndimage

HERE = pathlib.Path(__file__).parent
THRESHOLDS = (0.5, 0.3, 0.1)
FIELDS = ("tp", "fp", "fn", "sq", "rq", "pq", "prec", "rec")


def pair(seed: int, shape) -> tuple[np.ndarray, np.ndarray]:
    """A reference with several objects and a prediction that shifts, merges, splits and adds
    some of them."""
    rng = np.random.default_rng(seed)
    noise = ndimage.gaussian_filter(rng.normal(size=shape), 1.3)
    ref = noise > np.quantile(noise, 0.85)
    moved = np.roll(ref, rng.integers(-1, 2, size=len(shape)), axis=tuple(range(len(shape))))
    wobble = ndimage.gaussian_filter(moved.astype(float) + 0.6 * rng.normal(size=shape), 0.8)
    pred = wobble > rng.uniform(0.35, 0.6)
    return pred, ref


def masks_2d() -> np.ndarray:
    pairs = [pair(seed, (24, 24)) for seed in range(10)]
    empty, full = np.zeros((24, 24), bool), pairs[0][1]
    pairs += [(full, empty), (empty, full), (empty, empty)]  # empty ref, empty pred, both
    return np.stack([np.stack(p) for p in pairs], axis=1)


def masks_3d() -> np.ndarray:
    return np.stack([np.stack(pair(100 + seed, (12, 12, 12))) for seed in range(4)], axis=1)


def evaluate(pred: np.ndarray, ref: np.ndarray, threshold: float) -> dict:
    from panoptica import (
        ConnectedComponentsInstanceApproximator,
        InputType,
        NaiveThresholdMatching,
        Panoptica_Evaluator,
    )

    evaluator = Panoptica_Evaluator(
        expected_input=InputType.SEMANTIC,
        instance_approximator=ConnectedComponentsInstanceApproximator(),
        instance_matcher=NaiveThresholdMatching(matching_threshold=threshold),
    )
    result = evaluator.evaluate(pred.astype(np.uint8), ref.astype(np.uint8),
                                verbose=False)["ungrouped"]
    out = {}
    for name in FIELDS:
        try:
            value = float(getattr(result, name))
        except ZeroDivisionError:  # panoptica's prec / rec of no object: recorded as "raises"
            out[name] = "raises"
            continue
        out[name] = None if np.isnan(value) else value  # None: NaN
    return out


def main() -> None:
    from panoptica import disable_citation_reminder

    disable_citation_reminder()
    records = []
    for name, masks in (("2d", masks_2d()), ("3d", masks_3d())):
        np.save(HERE / f"panoptica_masks_{name}.npy", masks)
        for index in range(masks.shape[1]):
            for threshold in THRESHOLDS:
                records.append({"set": name, "index": index, "threshold": threshold,
                                **evaluate(masks[0, index], masks[1, index], threshold)})
    import panoptica

    meta = {"panoptica": getattr(panoptica, "__version__", "2.1.7"), "records": records}
    (HERE / "panoptica_reference.json").write_text(json.dumps(meta, indent=1) + "\n")


if __name__ == "__main__":
    main()
