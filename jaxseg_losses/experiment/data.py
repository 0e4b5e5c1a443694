"""Data for the loss-comparison experiment: built-in seeded datasets and a ``.npz`` loader.

Every built-in set is drawn on the fly with NumPy from a seed (no download, same arrays for the
same seed on every machine) and is made so that one loss family should matter:

``blobs``     2D, 2 classes. One to three small discs (radius 2-4 px) on a 64x64 field with a
              smooth background and noise: about 1-2 % foreground (strong class imbalance).
``vessels``   2D, 2 classes. Branching curves one to two pixels wide on a noisy, shaded
              background: thin structures, where overlap is decided at the boundary.
``organs``    2D, 5 classes. A body (1) containing an organ (2) with a core (3) and a second,
              separate organ (4). Adjacency rules hold in every image: background touches only
              the body, the core touches only organ 2, organ 4 touches only the body. Core and
              body have similar intensities, so a pixel-wise model can put core pixels next to
              the body; the non-adjacency prior forbids it.
``blobs3d``   3D, 2 classes. Small spheres in a 32^3 noisy volume.

Images are float32 ``(N, *spatial, channels)`` (one channel here), labels int32 ``(N, *spatial)``.
:func:`load_npz` reads user data with the same layout and explains what is wrong with a bad file.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import numpy as np


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A train/test split with integer labels.

    Attributes:
      name: the built-in name or the file it came from.
      train_images, test_images: float32 ``(N, *spatial, channels)``.
      train_labels, test_labels: int32 ``(N, *spatial)``, values in ``[0, num_classes)``.
      num_classes: number of classes, background (0) included.
      description: one line for the report.
      spacing: voxel spacing per spatial axis (for the distance-based losses and metrics).
    """

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    num_classes: int
    description: str = ""
    spacing: tuple[float, ...] | None = None

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return tuple(self.train_labels.shape[1:])

    @property
    def ndim(self) -> int:
        return len(self.spatial_shape)

    @property
    def channels(self) -> int:
        return int(self.train_images.shape[-1])

    def class_fractions(self) -> np.ndarray:
        """Fraction of training pixels in each class, ``(num_classes,)``."""
        counts = np.bincount(self.train_labels.ravel(), minlength=self.num_classes)
        return counts / counts.sum()


# --------------------------------------------------------------------------- drawing helpers


def _smooth(field: np.ndarray, sigma: float) -> np.ndarray:
    """Periodic Gaussian blur of an N-D array through the FFT (no SciPy needed)."""
    freqs = np.meshgrid(*[np.fft.fftfreq(n) for n in field.shape], indexing="ij")
    k2 = sum(f**2 for f in freqs)
    kernel = np.exp(-2.0 * (np.pi * sigma) ** 2 * k2)
    return np.real(np.fft.ifftn(np.fft.fftn(field) * kernel))


def _grid(shape: tuple[int, ...]) -> list[np.ndarray]:
    return np.meshgrid(*[np.arange(n, dtype=np.float64) for n in shape], indexing="ij")


def _ellipse(shape, center, radii, angle: float = 0.0) -> np.ndarray:
    """Boolean 2D ellipse."""
    y, x = _grid(shape)
    dy, dx = y - center[0], x - center[1]
    c, s = np.cos(angle), np.sin(angle)
    u, v = c * dy + s * dx, -s * dy + c * dx
    return (u / radii[0]) ** 2 + (v / radii[1]) ** 2 <= 1.0


def _render(labels: np.ndarray, means: np.ndarray, rng, noise: float, shading: float,
            blur: float = 0.7) -> np.ndarray:
    """Image from a label map: class mean intensity, slight blur, smooth shading, white noise."""
    image = _smooth(means[labels].astype(np.float64), blur)
    image += shading * _smooth(rng.normal(size=labels.shape), 8.0) * 8.0
    image += noise * rng.normal(size=labels.shape)
    return image.astype(np.float32)


# --------------------------------------------------------------------------- the generators


def _blobs_example(rng, size: int) -> tuple[np.ndarray, np.ndarray]:
    shape = (size, size)
    labels = np.zeros(shape, np.int32)
    scale = size / 64.0
    for _ in range(rng.integers(1, 4)):
        radius = rng.uniform(2.0, 4.0) * scale
        center = rng.uniform(radius + 2, size - radius - 2, size=2)
        labels[_ellipse(shape, center, (radius, radius * rng.uniform(0.7, 1.3)))] = 1
    image = _render(labels, np.array([0.0, 1.0]), rng, noise=0.45, shading=0.35)
    return image, labels


def _vessels_example(rng, size: int) -> tuple[np.ndarray, np.ndarray]:
    shape = (size, size)
    yy, xx = _grid(shape)
    fg = np.zeros(shape, bool)

    def draw(point, direction, length, width):
        point = np.array(point, float)
        for step in range(int(length)):
            direction += rng.normal(0.0, 0.18)
            point = point + np.array([np.sin(direction), np.cos(direction)])
            if not (0 <= point[0] < size and 0 <= point[1] < size):
                return
            fg[(yy - point[0]) ** 2 + (xx - point[1]) ** 2 <= width**2] = True
            if step > 6 and width > 0.6 and rng.uniform() < 0.025:
                turn = rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.0)
                draw(point, direction + turn, length * 0.5, width * 0.8)

    # Curves enter from a random side and wander across the image.
    for _ in range(rng.integers(2, 4)):
        t = rng.uniform(0.15, 0.85) * (size - 1)
        start, heading = [((0.0, t), np.pi / 2), ((size - 1.0, t), -np.pi / 2),
                          ((t, 0.0), 0.0), ((t, size - 1.0), np.pi)][rng.integers(4)]
        draw(start, heading + rng.normal(0.0, 0.3), size * 1.5, rng.uniform(0.55, 0.95))
    labels = fg.astype(np.int32)
    image = _render(labels, np.array([0.0, 1.0]), rng, noise=0.4, shading=0.3, blur=0.5)
    return image, labels


def _organs_example(rng, size: int) -> tuple[np.ndarray, np.ndarray]:
    shape = (size, size)
    c = size / 2.0 + rng.normal(0.0, size * 0.03, size=2)
    body_r = np.array([0.40, 0.44]) * size * rng.uniform(0.9, 1.05, size=2)
    body = _ellipse(shape, c, body_r, rng.normal(0.0, 0.2))
    # Organ 2 on one side of the body, organ 4 on the other; two cross erosions keep a gap of
    # at least one pixel (8-connected) wherever the rules forbid a contact.
    side = rng.choice([-1.0, 1.0])
    o2_r = body_r * rng.uniform(0.38, 0.48, size=2)
    o2_c = c + np.array([rng.normal(0.0, 0.03 * size), side * body_r[1] * 0.42])
    organ2 = _ellipse(shape, o2_c, o2_r, rng.uniform(0, np.pi)) & _erode(body, 2)
    core_r = o2_r * rng.uniform(0.35, 0.5)
    core = _ellipse(shape, o2_c + rng.normal(0.0, 0.04 * size, 2), core_r) & _erode(organ2, 2)
    o4_r = body_r * rng.uniform(0.25, 0.32, size=2)
    o4_c = c + np.array([rng.normal(0.0, 0.05 * size), -side * body_r[1] * 0.45])
    organ4 = _ellipse(shape, o4_c, o4_r, rng.uniform(0, np.pi)) & _erode(body & ~organ2, 2)
    labels = np.zeros(shape, np.int32)
    labels[body], labels[organ2], labels[core], labels[organ4] = 1, 2, 3, 4
    means = np.array([0.0, 1.0, 2.0, 1.15, 2.6])
    image = _render(labels, means, rng, noise=0.45, shading=0.3)
    return image, labels


def _erode(mask: np.ndarray, iterations: int = 1) -> np.ndarray:
    """Binary erosion with the cross-shaped (4-/6-connected) element; outside counts as False."""
    out = mask.copy()
    for _ in range(iterations):
        padded = np.pad(out, 1, constant_values=False)
        core = tuple(slice(1, -1) for _ in out.shape)
        eroded = out.copy()
        for axis in range(out.ndim):
            for shift in (-1, 1):
                eroded &= np.roll(padded, shift, axis=axis)[core]
        out = eroded
    return out


def _blobs3d_example(rng, size: int) -> tuple[np.ndarray, np.ndarray]:
    shape = (size, size, size)
    labels = np.zeros(shape, np.int32)
    z, y, x = _grid(shape)
    scale = size / 32.0
    for _ in range(rng.integers(1, 4)):
        radius = rng.uniform(2.0, 3.5) * scale
        cz, cy, cx = rng.uniform(radius + 1, size - radius - 1, size=3)
        labels[(z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 <= radius**2] = 1
    image = _render(labels, np.array([0.0, 1.0]), rng, noise=0.45, shading=0.3)
    return image, labels


@dataclasses.dataclass(frozen=True)
class _Builtin:
    make: Callable
    num_classes: int
    default_size: int
    ndim: int
    description: str


BUILTIN: dict[str, _Builtin] = {
    "blobs": _Builtin(_blobs_example, 2, 64, 2,
                      "2D small blobs, ~1-2% foreground (class imbalance)"),
    "vessels": _Builtin(_vessels_example, 2, 64, 2,
                        "2D branching curves 1-2 px wide (thin structures)"),
    "organs": _Builtin(_organs_example, 5, 64, 2,
                       "2D nested organs, 5 classes with adjacency rules"),
    "blobs3d": _Builtin(_blobs3d_example, 2, 32, 3, "3D small spheres in a 32^3 volume"),
}


def make_dataset(
    name: str, *, n_train: int = 48, n_test: int = 16, size: int | None = None, seed: int = 0
) -> Dataset:
    """Draws a built-in dataset.

    Args:
      name: one of :data:`BUILTIN` (``blobs``, ``vessels``, ``organs``, ``blobs3d``).
      n_train, n_test: numbers of examples.
      size: side length (default: 64 in 2D, 32 in 3D); must be a multiple of 4 for the U-Net.
      seed: the same seed gives the same arrays.

    Returns:
      a :class:`Dataset` with images standardised to zero mean and unit variance (train stats).
    """
    if name not in BUILTIN:
        raise ValueError(f"dataset: expected one of {tuple(BUILTIN)} or a path to a .npz file; "
                         f"got {name!r}")
    if n_train < 1 or n_test < 1:
        raise ValueError(f"n_train and n_test must be >= 1; got {n_train} and {n_test}")
    spec = BUILTIN[name]
    size = spec.default_size if size is None else int(size)
    if size < 16:
        raise ValueError(f"size: expected at least 16; got {size}")
    rng = np.random.default_rng(seed)
    images, labels = zip(*(spec.make(rng, size) for _ in range(n_train + n_test)), strict=True)
    images = np.stack(images)[..., None]
    labels = np.stack(labels).astype(np.int32)
    images = _normalise_with(images, images[:n_train])
    return Dataset(
        name=name,
        train_images=images[:n_train], train_labels=labels[:n_train],
        test_images=images[n_train:], test_labels=labels[n_train:],
        num_classes=spec.num_classes, description=spec.description,
        spacing=(1.0,) * spec.ndim,
    )


def _normalise_with(images: np.ndarray, reference: np.ndarray) -> np.ndarray:
    axes = tuple(range(images.ndim - 1))
    mean = reference.mean(axis=axes, keepdims=True)
    std = reference.std(axis=axes, keepdims=True)
    return ((images - mean) / np.where(std > 0, std, 1.0)).astype(np.float32)


# --------------------------------------------------------------------------- user data


class DataError(ValueError):
    """A user data file cannot be used; the message says why."""


def load_npz(
    path: str | os.PathLike, *, test_fraction: float = 0.25, seed: int = 0,
    num_classes: int | None = None, relabel: bool = False,
) -> Dataset:
    """Loads user data from a ``.npz`` file with ``images`` and ``labels``.

    ``images``: ``(N, *spatial)`` or ``(N, *spatial, channels)``, any real dtype, finite.
    ``labels``: ``(N, *spatial)`` integer class indices ``0..K-1`` (floats holding whole numbers
    and booleans are accepted; other values: see ``relabel`` of :func:`dataset_from_arrays`).
    2 or 3 spatial axes. An optional ``spacing`` array gives the voxel spacing per spatial axis.
    The examples are shuffled with ``seed`` and split into train and test (``test_fraction``,
    at least one of each); images are standardised with train statistics.

    Raises:
      DataError (a ``ValueError``) naming the problem: missing file or key, not an npz, shapes
      that do not match, non-integer or negative labels, a single class, NaN/Inf in images, ...
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file")
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - any reader error means "not an npz we can read"
        raise DataError(f"{path}: cannot be read as a NumPy .npz archive ({exc})") from exc
    if not hasattr(archive, "files"):
        raise DataError(f"{path}: is a single .npy array, expected an .npz archive with the keys "
                        "'images' and 'labels' (np.savez(path, images=..., labels=...))")
    with archive:
        missing = [k for k in ("images", "labels") if k not in archive.files]
        if missing:
            raise DataError(f"{path}: missing key(s) {missing}; the archive has {archive.files}, "
                            "expected 'images' (N, *spatial[, channels]) and "
                            "'labels' (N, *spatial)")
        try:
            images, labels = archive["images"], archive["labels"]
            spacing = archive["spacing"] if "spacing" in archive.files else None
        except ValueError as exc:  # object arrays need pickle
            raise DataError(f"{path}: an array could not be loaded ({exc})") from exc
    return dataset_from_arrays(images, labels, name=os.path.basename(path), spacing=spacing,
                               test_fraction=test_fraction, seed=seed, num_classes=num_classes,
                               relabel=relabel)


def dataset_from_arrays(
    images, labels, *, name: str = "arrays", spacing=None, test_fraction: float = 0.25,
    seed: int = 0, num_classes: int | None = None, relabel: bool = False,
) -> Dataset:
    """Validates user arrays (see :func:`load_npz`) and splits them into a :class:`Dataset`.

    Label values must be ``0..K-1``: sparse values (a 0/255 mask, labels such as 1000) are an
    error unless ``num_classes`` says how many classes there are or ``relabel=True`` maps the
    sorted distinct values to ``0..K-1``.
    """
    images, labels = np.asarray(images), np.asarray(labels)
    if labels.ndim not in (3, 4):
        raise DataError(f"{name}: 'labels' must be (N, *spatial) with 2 or 3 spatial axes; got "
                        f"shape {labels.shape} (rank {labels.ndim})")
    if images.ndim == labels.ndim:
        images = images[..., None]
    if images.ndim != labels.ndim + 1:
        raise DataError(f"{name}: 'images' must be (N, *spatial) or (N, *spatial, channels) with "
                        f"the spatial shape of 'labels' {labels.shape[1:]}; got shape "
                        f"{images.shape}")
    if images.shape[:-1] != labels.shape:
        what = "number of examples" if images.shape[0] != labels.shape[0] else "spatial shape"
        raise DataError(f"{name}: 'images' {images.shape} and 'labels' {labels.shape} differ in "
                        f"the {what}")
    if images.dtype.kind not in "biuf":
        raise DataError(f"{name}: 'images' must hold real numbers; got dtype {images.dtype}")
    images = images.astype(np.float32)
    if not np.all(np.isfinite(images)):
        raise DataError(f"{name}: 'images' contains NaN or Inf")
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise DataError(f"{name}: 'labels' must be integer class indices; got dtype "
                            f"{labels.dtype} with non-integer values (one-hot or soft labels: "
                            "take argmax over the class axis first)")
    elif labels.dtype.kind not in "biu":
        raise DataError(f"{name}: 'labels' must be integer class indices; got dtype {labels.dtype}")
    if labels.shape[0] == 0 or labels.size == 0:
        raise DataError(f"{name}: holds no examples ('labels' has shape {labels.shape})")
    labels = labels.astype(np.int64)
    if relabel:
        values, labels = np.unique(labels, return_inverse=True)
        labels = labels.reshape(images.shape[:-1])
        if num_classes is None:
            num_classes = max(2, len(values))
    if labels.min() < 0:
        raise DataError(f"{name}: 'labels' contains negative values ({labels.min()}); class "
                        "indices start at 0 (--relabel maps the sorted values to 0..K-1)")
    found = int(labels.max()) + 1
    if num_classes is None:
        values = np.unique(labels)
        if len(values) < found:
            shown = ", ".join(str(v) for v in values[:8]) + (", ..." if len(values) > 8 else "")
            raise DataError(
                f"{name}: 'labels' holds the values {{{shown}}}, {len(values)} distinct values "
                f"but the largest is {found - 1}, which would make {found} classes; map them "
                f"to 0..{len(values) - 1} (--relabel does it: the sorted values become "
                f"0..{len(values) - 1}), or give --num-classes {found} if the missing classes "
                "are real")
        num_classes = found
    elif found > num_classes:
        raise DataError(f"{name}: 'labels' has class {found - 1} but num_classes={num_classes}")
    if num_classes < 2:
        raise DataError(f"{name}: 'labels' holds a single class (0); need at least 2")
    n = labels.shape[0]
    if n < 2:
        raise DataError(f"{name}: need at least 2 examples (one to train, one to test); got {n}")
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"test_fraction: expected a value in (0, 1); got {test_fraction}")
    spatial = labels.shape[1:]
    if spacing is not None:
        spacing = tuple(float(s) for s in np.ravel(spacing))
        if len(spacing) != len(spatial) or min(spacing) <= 0:
            raise DataError(f"{name}: 'spacing' must hold {len(spatial)} positive values (one per "
                            f"spatial axis); got {spacing}")
    n_test = min(n - 1, max(1, round(n * test_fraction)))
    order = np.random.default_rng(seed).permutation(n)
    images, labels = images[order], labels[order].astype(np.int32)
    n_train = n - n_test
    images = _normalise_with(images, images[:n_train])
    return Dataset(
        name=name, train_images=images[:n_train], train_labels=labels[:n_train],
        test_images=images[n_train:], test_labels=labels[n_train:], num_classes=num_classes,
        description=f"user data {spatial} x{images.shape[-1]} channel(s), {num_classes} classes",
        spacing=spacing if spacing is not None else (1.0,) * len(spatial),
    )


def load_data(
    data: str, *, n_train: int = 48, n_test: int = 16, size: int | None = None, seed: int = 0,
    num_classes: int | None = None, relabel: bool = False,
) -> Dataset:
    """A built-in name or a path to an ``.npz`` file (anything ending in ``.npz`` or existing)."""
    if data in BUILTIN:
        return make_dataset(data, n_train=n_train, n_test=n_test, size=size, seed=seed)
    if data.endswith(".npz") or os.path.exists(data):
        return load_npz(data, seed=seed, num_classes=num_classes, relabel=relabel)
    raise DataError(f"--data: {data!r} is neither a built-in dataset {tuple(BUILTIN)} nor an "
                    "existing .npz file")
