"""Adversarial masks for connected components (shared by the tests and the benchmark): single
one-element-wide paths of about n^2 / 2 elements, the worst case of label propagation."""

from __future__ import annotations

import numpy as np


def spiral(n: int) -> np.ndarray:
    """A one-element-wide square spiral with one-element gaps: a single path of ~n^2/2
    elements, the worst case of label propagation."""
    image = np.zeros((n, n), bool)
    y = x = 0
    image[0, 0] = True
    lengths = [n - 1] * 3 + [m for m in range(n - 3, 0, -2) for _ in range(2)]
    for k, length in enumerate(lengths):
        dy, dx = [(0, 1), (1, 0), (0, -1), (-1, 0)][k % 4]
        for _ in range(length):
            y, x = y + dy, x + dx
            image[y, x] = True
    return image


def serpentine(n: int) -> np.ndarray:
    """Rows joined at alternating ends: one path of ~n^2/2 elements."""
    image = np.zeros((n, n), bool)
    image[::2] = True
    for r in range(1, n, 2):
        image[r, n - 1 if (r // 2) % 2 == 0 else 0] = True
    return image
