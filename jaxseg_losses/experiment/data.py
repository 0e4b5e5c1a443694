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

User data (:func:`load_data`): an ``.npz`` file (:func:`load_npz`, arrays in that layout) or a
folder (:func:`load_folder`) of image files::

    DIR/images/<case>.png    DIR/labels/<case>.png      (or masks/ instead of labels/)

matched by file stem. 2-D: PNG or TIFF (``.png``, ``.tif``, ``.tiff``), read with ``imageio``
(the ``images`` extra). 3-D: NIfTI (``.nii``, ``.nii.gz``), read with ``nibabel`` (the
``nifti`` extra); the voxel spacing comes from the header (``header.get_zooms()``) and goes to
the distance-based losses and to HD95/ASSD. The rules (sizes, channels, label values, the
train/test split) are in :func:`load_folder` and :func:`dataset_from_arrays`; a file that breaks
one is an error naming it, and every change made to the data (a crop, an added channel) is
listed in :attr:`Dataset.notes`, which the command line prints.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence

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
      notes: what the loader changed in user data (crops, channels), one sentence each.
    """

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    num_classes: int
    description: str = ""
    spacing: tuple[float, ...] | None = None
    notes: tuple[str, ...] = ()

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

    def absent_test_classes(self) -> list[int]:
        """Foreground classes with no pixel in the test labels.

        The evaluation leaves them out of the mean Dice, IoU, HD95 and ASSD (every image would
        score the empty-truth value there, 1 for Dice, whatever the model learnt) and the
        report names them.
        """
        counts = np.bincount(self.test_labels.ravel(), minlength=self.num_classes)
        return [int(c) for c in np.flatnonzero(counts == 0) if c > 0]


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


_IMAGE_EXTENSIONS = (".png", ".tif", ".tiff")
_NIFTI_EXTENSIONS = (".nii.gz", ".nii")
_LABEL_FOLDERS = ("labels", "masks")
DEFAULT_TEST_FRACTION = 0.25


def _read_npz(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``images``, ``labels`` and the optional ``spacing`` of an ``.npz`` file."""
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
    return images, labels, spacing


def load_npz(
    path: str | os.PathLike, *, test_fraction: float = DEFAULT_TEST_FRACTION, seed: int = 0,
    num_classes: int | None = None, relabel: bool = False,
) -> Dataset:
    """Loads user data from a ``.npz`` file with ``images`` and ``labels``.

    ``images``: ``(N, *spatial)`` or ``(N, *spatial, channels)``, any real dtype, finite.
    ``labels``: ``(N, *spatial)`` integer class indices ``0..K-1`` (floats holding whole numbers
    and booleans are accepted; other values: see ``relabel`` of :func:`dataset_from_arrays`).
    2 or 3 spatial axes. An optional ``spacing`` array gives the voxel spacing per spatial axis.
    The examples are shuffled with ``seed`` and split into train and test (``test_fraction``,
    at least one of each); images are standardised with train statistics. The arrays are used
    as they are (no crop: the spatial shape must suit the model).

    Raises:
      DataError (a ``ValueError``) naming the problem: missing file or key, not an npz, shapes
      that do not match, non-integer or negative labels, a single class, NaN/Inf in images, ...
    """
    path = os.fspath(path)
    images, labels, spacing = _read_npz(path)
    return dataset_from_arrays(images, labels, name=os.path.basename(path), spacing=spacing,
                               test_fraction=test_fraction, seed=seed, num_classes=num_classes,
                               relabel=relabel)


def _check_arrays(name: str, images, labels) -> tuple[np.ndarray, np.ndarray]:
    """Validated float32 images ``(N, *spatial, C)`` and int64 labels ``(N, *spatial)``."""
    images, labels = np.asarray(images), np.asarray(labels)
    if labels.ndim in (4, 5) and labels.shape[-1] == 1:
        raise DataError(f"{name}: 'labels' has shape {labels.shape}, with a trailing axis of "
                        "size 1; labels are (N, *spatial) class indices without a channel axis: "
                        "drop the trailing axis (labels[..., 0])")
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
    return images, labels.astype(np.int64)


def dataset_from_arrays(
    images, labels, *, name: str = "arrays", spacing=None,
    test_fraction: float = DEFAULT_TEST_FRACTION, seed: int = 0, num_classes: int | None = None,
    relabel: bool = False, test_images=None, test_labels=None, notes: Sequence[str] = (),
) -> Dataset:
    """Validates user arrays (see :func:`load_npz`) and splits them into a :class:`Dataset`.

    Label values must be ``0..K-1``: sparse values (a 0/255 mask, labels such as 1000) are an
    error unless ``num_classes`` says how many classes there are or ``relabel=True`` maps the
    sorted distinct values to ``0..K-1`` (train and test share the mapping).

    The split: without ``test_images``/``test_labels``, the examples are shuffled with ``seed``
    (``numpy.random.default_rng(seed).permutation``) and the last ``round(N * test_fraction)``
    (at least 1, at most ``N - 1``) are the test set, so the same seed gives the same split.
    With them, ``images``/``labels`` are all training data and ``test_fraction`` is not used.
    Images are standardised (per channel) with the training statistics.
    """
    images, labels = _check_arrays(name, images, labels)
    n_train = len(labels)
    if (test_images is None) != (test_labels is None):
        raise DataError("test_images and test_labels: give both or neither")
    if test_images is not None:
        test_images, test_labels = _check_arrays(f"{name} (test data)", test_images, test_labels)
        if test_images.shape[1:] != images.shape[1:]:
            raise DataError(f"{name}: the test data's examples {test_images.shape[1:]} (spatial "
                            f"shape, channels) differ from the training data's "
                            f"{images.shape[1:]}")
        images = np.concatenate([images, test_images])
        labels = np.concatenate([labels, test_labels])
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
    spatial = labels.shape[1:]
    if spacing is not None:
        spacing = tuple(float(s) for s in np.ravel(spacing))
        if len(spacing) != len(spatial) or min(spacing) <= 0:
            raise DataError(f"{name}: 'spacing' must hold {len(spatial)} positive values (one per "
                            f"spatial axis); got {spacing}")
    labels = labels.astype(np.int32)
    if test_images is None:
        if n < 2:
            raise DataError(f"{name}: need at least 2 examples (one to train, one to test); "
                            f"got {n}")
        if not 0.0 < test_fraction < 1.0:
            raise DataError(f"test_fraction: expected a value in (0, 1); got {test_fraction}")
        n_test = min(n - 1, max(1, round(n * test_fraction)))
        n_train = n - n_test
        order = np.random.default_rng(seed).permutation(n)
        images, labels = images[order], labels[order]
    images = _normalise_with(images, images[:n_train])
    return Dataset(
        name=name, train_images=images[:n_train], train_labels=labels[:n_train],
        test_images=images[n_train:], test_labels=labels[n_train:], num_classes=num_classes,
        description=f"user data {spatial} x{images.shape[-1]} channel(s), {num_classes} classes",
        spacing=spacing if spacing is not None else (1.0,) * len(spatial), notes=tuple(notes),
    )


# --------------------------------------------------------------------------- folders of files


def _require(module: str, package: str, extra: str, what: str):
    """Imports an optional reader; a :class:`DataError` naming the extra if it is missing."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise DataError(f"reading {what} needs {package}, which is not installed; install the "
                        f"{extra!r} extra: pip install \"jaxseg_losses[{extra}]\"") from exc


def _split_extension(filename: str) -> tuple[str, str | None]:
    low = filename.lower()
    for ext in _NIFTI_EXTENSIONS + _IMAGE_EXTENSIONS:
        if low.endswith(ext):
            return filename[: -len(ext)], ext
    return filename, None


def _scan(folder: str) -> dict[str, str]:
    """``stem -> path`` of the data files of a folder; hidden files and sub-folders skipped."""
    found: dict[str, str] = {}
    unsupported = []
    for entry in sorted(os.listdir(folder)):
        path = os.path.join(folder, entry)
        if entry.startswith(".") or os.path.isdir(path):
            continue
        stem, ext = _split_extension(entry)
        if ext is None:
            unsupported.append(entry)
        elif stem in found:
            raise DataError(f"{folder}: two files for the case {stem!r} "
                            f"({os.path.basename(found[stem])}, {entry}); keep one")
        else:
            found[stem] = path
    if unsupported:
        raise DataError(f"{folder}: unsupported file(s) {_few(unsupported)}; expected "
                        f"{', '.join(_IMAGE_EXTENSIONS)} (2-D) or "
                        f"{', '.join(_NIFTI_EXTENSIONS)} (3-D); move other files out")
    return found


def _few(items: Sequence[str], k: int = 5) -> str:
    shown = ", ".join(str(x) for x in list(items)[:k])
    return shown + (f", ... ({len(items)} in all)" if len(items) > k else "")


def _read_2d(path: str, *, label: bool) -> np.ndarray:
    iio = _require("imageio.v3", "imageio", "images", "PNG/TIFF files")
    try:
        if label and path.lower().endswith(".png") and iio.immeta(path).get("mode") == "P":
            array = iio.imread(path, mode="P")  # palette PNG: the indices, not the colours
        else:
            array = iio.imread(path)
    except Exception as exc:  # noqa: BLE001 - any reader error: say which file
        raise DataError(f"{path}: cannot be read as an image ({exc})") from exc
    array = np.asarray(array)
    if label:
        if array.ndim == 3 and array.shape[-1] <= 4:
            colour = array[..., :3] if array.shape[-1] >= 3 else array[..., :1]
            if np.all(colour == colour[..., :1]):  # grey saved as RGB(A): lossless
                array = colour[..., 0]
        if array.ndim != 2:
            raise DataError(f"{path}: a label file must hold one channel of class indices "
                            f"(grayscale or palette PNG, or a single-channel TIFF); got shape "
                            f"{array.shape}{' with colours' if array.ndim == 3 else ''}: map the "
                            "colours to 0..K-1 and save a grayscale image")
        return array
    if array.ndim == 2:
        return array[..., None]
    if array.ndim == 3 and array.shape[-1] <= 4:
        if path.lower().endswith(".png") and array.shape[-1] in (2, 4):
            array = array[..., :-1]  # grey + alpha, RGBA: the alpha channel is dropped
        return array
    raise DataError(f"{path}: expected a 2-D image (H, W) or (H, W, channels<=4); got shape "
                    f"{array.shape} (3-D volumes go in NIfTI files)")


def _read_nifti(path: str, *, label: bool) -> tuple[np.ndarray, tuple[float, ...]]:
    nib = _require("nibabel", "nibabel", "nifti", "NIfTI files")
    try:
        volume = nib.load(path)
        if label:
            array = np.asarray(volume.dataobj)
        else:
            array = np.asarray(volume.get_fdata(dtype=np.float32))
        zooms = tuple(float(z) for z in volume.header.get_zooms()[:3])
    except Exception as exc:  # noqa: BLE001 - any reader error: say which file
        raise DataError(f"{path}: cannot be read as a NIfTI volume ({exc})") from exc
    while array.ndim > (3 if label else 4) and array.shape[3] == 1:
        array = np.squeeze(array, 3)  # NIfTI's unused 4th (time) axis
    if label and array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if label and array.ndim != 3:
        raise DataError(f"{path}: a label volume must be 3-D (X, Y, Z) class indices; got shape "
                        f"{array.shape}")
    if not label:
        if array.ndim == 3:
            array = array[..., None]
        if array.ndim != 4:
            raise DataError(f"{path}: expected a 3-D volume (X, Y, Z) or (X, Y, Z, channels); "
                            f"got shape {array.shape}")
    if len(zooms) != 3 or min(zooms) <= 0:
        raise DataError(f"{path}: the header's voxel spacing {zooms} is not 3 positive values")
    return array, zooms


@dataclasses.dataclass
class _Examples:
    """Examples read from one source, before they are cropped and stacked."""

    name: str
    images: list[np.ndarray]
    labels: list[np.ndarray]
    cases: list[str]
    spacing: tuple[float, ...] | None
    folder: bool
    notes: list[str] = dataclasses.field(default_factory=list)


def _read_folder(path: str) -> _Examples:
    """The files of a data folder (:func:`load_folder`), as read, one array per case."""
    image_dir = os.path.join(path, "images")
    label_dirs = [os.path.join(path, d) for d in _LABEL_FOLDERS]
    label_dir = next((d for d in label_dirs if os.path.isdir(d)), None)
    if not os.path.isdir(image_dir) or label_dir is None:
        raise DataError(f"{path}: a data folder holds the sub-folders images/ and labels/ (or "
                        f"masks/), files matched by name (images/case1.png with "
                        f"labels/case1.png); found {_few(sorted(os.listdir(path))) or 'nothing'}")
    images, labels = _scan(image_dir), _scan(label_dir)
    label_name = os.path.basename(label_dir)
    unlabelled = [k for k in images if k not in labels]
    orphans = [k for k in labels if k not in images]
    if unlabelled or orphans:
        parts = []
        if unlabelled:
            parts.append(f"image(s) without a label file in {label_name}/: {_few(unlabelled)}")
        if orphans:
            parts.append(f"label file(s) without an image in images/: {_few(orphans)}")
        raise DataError(f"{path}: {'; '.join(parts)} (files are matched by name without the "
                        "extension)")
    if not images:
        raise DataError(f"{path}: images/ holds no data file")
    kinds = {_split_extension(p)[1] in _NIFTI_EXTENSIONS
             for p in (*images.values(), *labels.values())}
    if len(kinds) > 1:
        raise DataError(f"{path}: mixes NIfTI volumes and 2-D image files; use one kind")
    nifti = kinds.pop()
    out = _Examples(os.path.basename(os.path.normpath(path)), [], [], [], None, True)
    spacings: dict[str, tuple[float, ...]] = {}
    for case in images:
        if nifti:
            image, image_zooms = _read_nifti(images[case], label=False)
            label, label_zooms = _read_nifti(labels[case], label=True)
            if not np.allclose(image_zooms, label_zooms, rtol=1e-3):
                raise DataError(f"{path}: case {case!r}: the image's voxel spacing {image_zooms} "
                                f"and the label's {label_zooms} differ")
            spacings[case] = image_zooms
        else:
            image, label = _read_2d(images[case], label=False), _read_2d(labels[case], label=True)
        if image.shape[:-1] != label.shape:
            raise DataError(f"{path}: case {case!r}: the image {image.shape[:-1]} and the label "
                            f"{label.shape} differ in size")
        out.images.append(image)
        out.labels.append(label)
        out.cases.append(case)
    if nifti:
        first = out.cases[0]
        for case, zooms in spacings.items():
            if not np.allclose(zooms, spacings[first], rtol=1e-3):
                raise DataError(f"{path}: the voxel spacings differ ({first}: {spacings[first]}, "
                                f"{case}: {zooms}); resample the volumes to one spacing first")
        out.spacing = spacings[first]
    channels = sorted({im.shape[-1] for im in out.images})
    if channels == [1, 3]:  # grayscale files among RGB ones
        grey = [i for i, im in enumerate(out.images) if im.shape[-1] == 1]
        for i in grey:
            out.images[i] = np.repeat(out.images[i], 3, axis=-1)
        out.notes.append(f"{out.name}: {len(grey)} grayscale image(s) among RGB ones repeated "
                         "to 3 channels")
    elif len(channels) > 1:
        by = {c: [k for k, im in zip(out.cases, out.images, strict=True) if im.shape[-1] == c]
              for c in channels}
        raise DataError(f"{path}: the images have different numbers of channels ("
                        + "; ".join(f"{c}: {_few(v, 3)}" for c, v in by.items()) + ")")
    return out


def _from_npz(path: str) -> _Examples:
    images, labels, spacing = _read_npz(path)
    name = os.path.basename(path)
    images, labels = _check_arrays(name, images, labels)
    return _Examples(name, list(images), list(labels), [str(i) for i in range(len(labels))],
                     None if spacing is None else tuple(float(s) for s in np.ravel(spacing)),
                     False)


def _read_source(path: str, option: str) -> _Examples:
    path = os.fspath(path)
    if os.path.isdir(path):
        return _read_folder(path)
    if path.endswith(".npz") or os.path.exists(path):
        return _from_npz(path)
    raise DataError(f"{option}: {path!r} is neither a built-in dataset {tuple(BUILTIN)}, an "
                    "existing .npz file nor a folder")


def _centre_crop(examples: Sequence[_Examples], multiple: int) -> list[str]:
    """Crops every example of folder sources, in place, to one shape; returns the notes.

    The shape: the smallest size along each axis over all examples (train and test), rounded
    down to a multiple of ``multiple`` (``2**depth`` of the U-Net); centre crop, the same for
    the image and its label.
    """
    shapes = [label.shape for source in examples for label in source.labels]
    if len({len(s) for s in shapes}) > 1:
        raise DataError("the training and test data have different numbers of spatial axes")
    smallest = np.min(np.array(shapes), axis=0)
    target = tuple(int(s) // multiple * multiple for s in smallest)
    if min(target) < max(multiple, 2):
        raise DataError(f"the smallest example is {tuple(int(s) for s in smallest)}: too small "
                        f"to crop to a multiple of {multiple} (2**depth of the U-Net; lower "
                        "--depth)")
    cropped, sizes = 0, set()
    for source in examples:
        for i, label in enumerate(source.labels):
            if label.shape == target:
                continue
            sizes.add(label.shape)
            cropped += 1
            start = [(s - t) // 2 for s, t in zip(label.shape, target, strict=True)]
            window = tuple(slice(a, a + t) for a, t in zip(start, target, strict=True))
            source.labels[i] = label[window]
            source.images[i] = source.images[i][window]
    if not cropped:
        return []
    total = len(shapes)
    found = _few(["x".join(map(str, s)) for s in sorted(sizes)], 4)
    return [f"{cropped} of {total} examples centre-cropped from {found} to "
            f"{'x'.join(map(str, target))} (the smallest size of all examples, rounded down to "
            f"a multiple of {multiple} = 2**depth)"]


def load_folder(
    path: str | os.PathLike, *, test_fraction: float = DEFAULT_TEST_FRACTION, seed: int = 0,
    num_classes: int | None = None, relabel: bool = False, multiple: int = 1,
    test_data: str | os.PathLike | None = None,
) -> Dataset:
    r"""Loads a folder of images and labels.

    Layout: ``path/images/`` and ``path/labels/`` (or ``path/masks/``), one file per case in
    each, matched by the file name without its extension (``images/case7.png`` with
    ``labels/case7.png`` or ``labels/case7.tif``). Every image must have its label and every
    label its image; hidden files and sub-folders are skipped; any other file is an error.

    * 2-D: ``.png``, ``.tif``, ``.tiff`` (``imageio``, the ``images`` extra). Images: grayscale
      (1 channel), RGB (3), or up to 4 channels in a TIFF; a PNG's alpha channel is dropped;
      grayscale files among RGB ones are repeated to 3 channels (noted); other mixtures of
      channel counts are an error. Labels: one channel of class indices (8- or 16-bit
      grayscale, a palette PNG's indices, or RGB whose three channels are equal); colour-coded
      labels are an error.
    * 3-D: ``.nii``, ``.nii.gz`` (``nibabel``, the ``nifti`` extra), voxel arrays as stored
      (no reorientation). Images ``(X, Y, Z)`` or ``(X, Y, Z, channels)``, labels ``(X, Y, Z)``
      (a trailing axis of size 1 is dropped). The spacing is the header's
      ``get_zooms()[:3]``; it must be the same for every volume (0.1 % tolerance) and it is
      passed to the distance-based losses and to the HD95/ASSD metrics.
    * Label values: integer classes ``0..K-1``, ``0`` the background; ``relabel=True``
      (``--relabel``) maps the sorted distinct values to ``0..K-1`` (a 0/255 mask to 0/1).
    * Sizes: image and label of a case must have the same size (else an error). Examples of
      different sizes are centre-cropped to the smallest size along each axis, rounded down to
      a multiple of ``multiple`` (the command line passes ``2**depth``); the crop is listed in
      :attr:`Dataset.notes` (printed by the command line and written to ``results.json``).
      Nothing is resampled.
    * Split: as :func:`dataset_from_arrays` (``test_fraction`` of the cases, chosen with
      ``seed``), or every case trains and ``test_data`` (another folder, or an ``.npz`` file)
      is the test set, cropped with the training cases to one size.
    """
    return load_data(os.fspath(path), seed=seed, num_classes=num_classes, relabel=relabel,
                     test_fraction=test_fraction, test_data=test_data, multiple=multiple)


def _user_dataset(
    data: str, *, test_data: str | None, test_fraction: float, seed: int,
    num_classes: int | None, relabel: bool, multiple: int,
) -> Dataset:
    train = _read_source(data, "--data")
    sources = [train]
    if test_data is not None:
        sources.append(_read_source(os.fspath(test_data), "--test-data"))
    notes = [note for source in sources for note in source.notes]
    if any(source.folder for source in sources):
        notes += _centre_crop(sources, max(1, int(multiple)))
    spacing = train.spacing
    if len(sources) > 1:
        test = sources[1]
        if spacing is not None and test.spacing is not None and not np.allclose(
                spacing, test.spacing, rtol=1e-3):
            raise DataError(f"--test-data: the test data's voxel spacing {test.spacing} differs "
                            f"from the training data's {spacing}")
        spacing = spacing if spacing is not None else test.spacing
    stacked = []
    for source in sources:
        try:
            stacked.append((np.stack(source.images), np.stack(source.labels)))
        except ValueError as exc:  # only npz sources reach here with mixed shapes
            raise DataError(f"{source.name}: the examples differ in shape ({exc})") from exc
    test = stacked[1] if len(stacked) > 1 else (None, None)
    name = train.name if len(sources) == 1 else f"{train.name} (test: {sources[1].name})"
    return dataset_from_arrays(
        *stacked[0], name=name, spacing=spacing, test_fraction=test_fraction, seed=seed,
        num_classes=num_classes, relabel=relabel, test_images=test[0], test_labels=test[1],
        notes=notes)


def load_data(
    data: str, *, n_train: int = 48, n_test: int = 16, size: int | None = None, seed: int = 0,
    num_classes: int | None = None, relabel: bool = False,
    test_fraction: float | None = None, test_data: str | None = None, multiple: int = 1,
) -> Dataset:
    """A built-in name, a path to an ``.npz`` file or a data folder (:func:`load_folder`).

    ``test_fraction`` (default 0.25) and ``test_data`` are for user data only; ``multiple``
    is the size folder examples are cropped to a multiple of (``2**depth`` of the U-Net).
    """
    if data in BUILTIN:
        given = [n for n, v in (("--test-fraction", test_fraction), ("--test-data", test_data))
                 if v is not None]
        if given:
            raise DataError(f"{', '.join(given)}: only for user data; the built-in set "
                            f"{data!r} draws its own test images (--n-test)")
        return make_dataset(data, n_train=n_train, n_test=n_test, size=size, seed=seed)
    if test_fraction is not None and test_data is not None:
        raise DataError("--test-fraction and --test-data: give one (--test-data makes every "
                        "example of --data a training example)")
    return _user_dataset(
        data, test_data=test_data, seed=seed, num_classes=num_classes, relabel=relabel,
        test_fraction=DEFAULT_TEST_FRACTION if test_fraction is None else test_fraction,
        multiple=multiple)
