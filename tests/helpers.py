"""Shared test utilities: random inputs, NumPy helpers and the bridges to the peers (torch,
MONAI), for every test file. The conventions every loss shares are in ``tests/cases.py``."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage

C = 3  # classes of the multiclass inputs


def random_logits(seed: int, shape, scale: float = 3.0) -> np.ndarray:
    return (np.random.default_rng(seed).normal(size=shape) * scale).astype(np.float32)


def random_labels(seed: int, shape, num_classes: int) -> np.ndarray:
    return np.random.default_rng(seed + 1000).integers(0, num_classes, size=shape).astype(np.int32)


def softmax_np(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.float64)
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def sigmoid_np(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z.astype(np.float64)))


def one_hot_np(labels: np.ndarray, num_classes: int) -> np.ndarray:
    return np.eye(num_classes)[labels]


def assert_finite_value_and_grad(loss_fn, predictions, *args, **kwargs) -> None:
    """Value and gradient w.r.t. the predictions are finite."""
    value, grad = jax.value_and_grad(lambda p: jnp.sum(loss_fn(p, *args, **kwargs)))(predictions)
    assert np.all(np.isfinite(np.asarray(value))), value
    assert np.all(np.isfinite(np.asarray(grad))), "non-finite gradient"


def assert_jit_matches_eager(loss_fn, *args, rtol=1e-5, atol=1e-6, **kwargs) -> None:
    eager = loss_fn(*args, **kwargs)
    jitted = jax.jit(lambda *a: loss_fn(*a, **kwargs))(*args)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(eager), rtol=rtol, atol=atol)


def blobs(seed: int, shape, num_classes: int = 3) -> np.ndarray:
    """Random smooth label maps: thresholded blurred noise, so surfaces are realistic."""
    rng = np.random.default_rng(seed)
    noise = ndimage.gaussian_filter(rng.normal(size=shape), sigma=[0] + [2] * (len(shape) - 1))
    edges = np.quantile(noise, np.linspace(0, 1, num_classes + 1)[1:-1])
    return np.digitize(noise, edges).astype(np.int32)


def inputs(seed, shape, mode="multiclass", scale=2.0, labels=random_labels):
    """(logits, labels, float64 probabilities, float64 dense targets) of ``C`` classes (1 channel
    and 0/1 labels for ``mode="binary"``); ``labels(seed, shape, num_classes)`` draws the map."""
    num = 1 if mode == "binary" else C
    z = random_logits(seed, shape + (num,), scale)
    y = labels(seed, shape, 2 if mode == "binary" else C)
    p = sigmoid_np(z) if mode != "multiclass" else softmax_np(z)
    g = y[..., None].astype(np.float64) if mode == "binary" else one_hot_np(y, C)
    return z, y, p, g


def groups(x, per_image):
    """One ``(N, C)`` block of pixels per example (``per_image``) or one for the whole batch."""
    flat = x.reshape(x.shape[0], -1, x.shape[-1])
    return list(flat) if per_image else [flat.reshape(-1, x.shape[-1])]


def ones_valid(p):
    return np.ones(p.shape[:-1] + (1,))


def ref_gdl(p, g, v=None, s=0.0, per_image=True, class_weighting="square"):
    """Sudre 2017 with the documented absent-class policy."""
    v = ones_valid(p) if v is None else v
    out = []
    for pb, gb, vb in zip(groups(p, per_image), groups(g, per_image), groups(v, per_image),
                          strict=True):
        vol = (vb * gb).sum(0)
        with np.errstate(divide="ignore"):
            w = {"square": 1 / vol**2, "simple": 1 / vol, "uniform": np.ones_like(vol)}[
                class_weighting]
        if np.all(vol == 0):
            w = np.ones_like(vol)
        else:
            w = np.where(vol > 0, w, w[vol > 0].max())
        num = 2 * (w * (vb * pb * gb).sum(0)).sum() + s
        den = (w * (vb * (pb + gb)).sum(0)).sum() + s
        out.append(1 - num / den if den > 0 else 0.0)
    return np.array(out)


# --------------------------------------------------------------------------- peer bridges


def monai_loss(name: str, **kwargs):
    """``monai.losses.<name>(**kwargs)``; skips the test without torch and MONAI."""
    pytest.importorskip("torch")
    losses = pytest.importorskip("monai.losses")
    return getattr(losses, name)(**kwargs)


def channels_first(x, dtype=None):
    """A torch tensor of a channels-last array, channels moved to axis 1 (skips without torch)."""
    torch = pytest.importorskip("torch")
    array = np.asarray(x) if dtype is None else np.asarray(x, dtype)
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(array, -1, 1)))


def smp_module(name: str = "losses"):
    """``segmentation_models_pytorch.<name>`` (e.g. ``"losses"``, ``"losses._functional"``).

    Stubs the package root when ``import segmentation_models_pytorch`` fails (its ``__init__``
    imports timm -> torchvision, broken beside the installed torch here) and leaves
    ``sys.modules`` as found; skips the test without torch or smp.
    """
    pytest.importorskip("torch")
    full = f"segmentation_models_pytorch.{name}"
    try:
        return importlib.import_module(full)
    except Exception:  # noqa: BLE001 - any import-time failure of smp's root package
        pass
    spec = importlib.util.find_spec("segmentation_models_pytorch")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("segmentation-models-pytorch is not installed")
    before = set(sys.modules)
    stub = types.ModuleType("segmentation_models_pytorch")
    stub.__path__ = list(spec.submodule_search_locations)
    sys.modules["segmentation_models_pytorch"] = stub
    try:
        return importlib.import_module(full)
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"{full} does not import, even stubbed: {exc}")
    finally:  # leave sys.modules as found, so other tests get the real package (or its error)
        for module in set(sys.modules) - before:
            if module.startswith("segmentation_models_pytorch"):
                del sys.modules[module]


# --------------------------------------------------------------------------- data folders


def blob_label(shape, k, value=1):
    label = np.zeros(shape, np.uint8)
    h, w = shape
    label[h // 4 + k % 3: h // 2 + k % 3, w // 4: w // 2 + k % 4] = value
    return label


def write_png_folder(root, n=6, shape=(16, 16), *, value=1, sizes=None, rgb=False):
    """``root/images/case{k}.png`` (grayscale or RGB) and ``root/labels/case{k}.png``."""
    iio = pytest.importorskip("imageio.v3", reason="the 'images' extra is not installed")
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    rng = np.random.default_rng(0)
    for k in range(n):
        size = sizes[k] if sizes else shape
        label = blob_label(size, k, value)
        image = (100 * (label > 0) + rng.integers(0, 50, size)).astype(np.uint8)
        if rgb:
            image = np.stack([image, image // 2, 255 - image], axis=-1)
        iio.imwrite(root / "images" / f"case{k}.png", image)
        iio.imwrite(root / "labels" / f"case{k}.png", label)
    return root


def write_nifti_folder(root, n=4, shape=(8, 8, 8), spacing=(2.0, 1.0, 0.5), channels=None):
    """``root/images/vol{k}.nii.gz`` and ``root/labels/vol{k}.nii.gz``, voxel ``spacing``."""
    nib = pytest.importorskip("nibabel", reason="the 'nifti' extra is not installed")
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    rng = np.random.default_rng(1)
    affine = np.diag([*spacing, 1.0])
    for k in range(n):
        label = np.zeros(shape, np.uint8)
        label[2:5, 2 + k % 2:6, 3:6] = 1
        image = (label + 0.3 * rng.normal(size=shape)).astype(np.float32)
        if channels:
            image = np.stack([image] * channels, axis=-1)
        nib.save(nib.Nifti1Image(image, affine), root / "images" / f"vol{k}.nii.gz")
        nib.save(nib.Nifti1Image(label, affine), root / "labels" / f"vol{k}.nii.gz")
    return root


def assert_plane_loop_matches(ours, reference, z, *, chunk, pixels, monkeypatch):
    """Value and gradient of ``ours(z)`` (a loss run plane by plane, ``_numerics.map_planes``)
    equal ``reference(z)`` (the same loss on every class at once), with ``chunk`` planes per
    loop step (``None``: the default) for images of ``pixels`` pixels."""
    import jaxseg_losses._numerics as numerics  # noqa: PLC0415

    if chunk is not None:
        monkeypatch.setattr(numerics, "PLANE_CHUNK_PIXELS", chunk * pixels)
    (value, grad), (want, want_grad) = (jax.jit(jax.value_and_grad(f))(z)
                                        for f in (ours, reference))
    np.testing.assert_allclose(value, want, rtol=1e-6)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-8)
    assert np.abs(want_grad).max() > 0
