"""The experiment package: built-in data, the npz loader, the loss-spec parser, the model."""

from __future__ import annotations

import numpy as np
import pytest

import jaxseg_losses as jsl
from jaxseg_losses.experiment import data as data_mod
from jaxseg_losses.experiment import spec as spec_mod
from jaxseg_losses.experiment.build import BuildContext, build_loss, check_loss
from jaxseg_losses.experiment.data import DataError, load_data, load_npz, make_dataset
from jaxseg_losses.experiment.registry import NAMES, REGISTRY, describe_registry, parse
from jaxseg_losses.experiment.spec import SpecError, parse_spec

# --------------------------------------------------------------------------- built-in data


@pytest.mark.parametrize("name,size,ndim,classes", [
    ("blobs", 32, 2, 2), ("vessels", 32, 2, 2), ("organs", 32, 2, 5), ("blobs3d", 16, 3, 2),
])
def test_builtin_shapes_and_dtypes(name, size, ndim, classes):
    ds = make_dataset(name, n_train=3, n_test=2, size=size, seed=1)
    spatial = (size,) * ndim
    assert ds.train_images.shape == (3, *spatial, 1) and ds.test_images.shape == (2, *spatial, 1)
    assert ds.train_labels.shape == (3, *spatial) and ds.test_labels.shape == (2, *spatial)
    assert ds.train_images.dtype == np.float32 and ds.train_labels.dtype == np.int32
    assert ds.num_classes == classes and ds.ndim == ndim and ds.spacing == (1.0,) * ndim
    assert ds.train_labels.min() >= 0 and ds.train_labels.max() < classes
    assert np.isfinite(ds.train_images).all()
    # standardised with the training statistics
    assert abs(ds.train_images.mean()) < 1e-3 and abs(ds.train_images.std() - 1) < 1e-3


def test_builtin_is_seeded():
    a = make_dataset("blobs", n_train=2, n_test=1, size=32, seed=3)
    b = make_dataset("blobs", n_train=2, n_test=1, size=32, seed=3)
    c = make_dataset("blobs", n_train=2, n_test=1, size=32, seed=4)
    np.testing.assert_array_equal(a.train_images, b.train_images)
    np.testing.assert_array_equal(a.test_labels, b.test_labels)
    assert not np.array_equal(a.train_labels, c.train_labels)


def test_class_balance():
    blobs = make_dataset("blobs", n_train=24, n_test=1, seed=0).class_fractions()
    assert 0.003 < blobs[1] < 0.05, blobs  # strong imbalance, never empty
    vessels = make_dataset("vessels", n_train=12, n_test=1, seed=0)
    assert 0.02 < vessels.class_fractions()[1] < 0.2
    organs = make_dataset("organs", n_train=12, n_test=1, seed=0)
    fractions = organs.class_fractions()
    assert np.all(fractions > 0.005) and fractions[3] < fractions[2] < fractions[1]
    for labels in organs.train_labels:  # every class in every image
        assert set(np.unique(labels)) == set(range(5))


def test_vessels_are_thin():
    labels = make_dataset("vessels", n_train=8, n_test=1, seed=2).train_labels.astype(bool)
    # two cross erosions remove almost every vessel pixel
    eroded = np.stack([data_mod._erode(m, 2) for m in labels])
    assert eroded.sum() < 0.05 * labels.sum()


def _touching_pairs(labels: np.ndarray) -> set[tuple[int, int]]:
    """Class pairs that touch with 8-connectivity in a 2D label map."""
    pairs = set()
    h, w = labels.shape
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        a = labels[max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
        b = labels[max(0, dy):, max(0, dx):w + min(0, dx)][: a.shape[0], : a.shape[1]]
        pairs |= {tuple(sorted(p)) for p in zip(a.ravel(), b.ravel(), strict=True) if p[0] != p[1]}
    return pairs


def test_organs_obey_adjacency_rules():
    ds = make_dataset("organs", n_train=10, n_test=2, seed=5)
    allowed = {(0, 1), (1, 2), (2, 3), (1, 4)}
    for labels in np.concatenate([ds.train_labels, ds.test_labels]):
        assert _touching_pairs(labels) <= allowed


def test_make_dataset_errors():
    with pytest.raises(ValueError, match="dataset: expected one of"):
        make_dataset("nope")
    with pytest.raises(ValueError, match="size"):
        make_dataset("blobs", size=8)


# --------------------------------------------------------------------------- npz loader


def _save(tmp_path, name="d.npz", **arrays):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def _good(n=5, shape=(8, 8)):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, *shape)).astype(np.float32), rng.integers(0, 3, (n, *shape))


def test_npz_loads_and_splits(tmp_path):
    images, labels = _good()
    ds = load_npz(_save(tmp_path, images=images, labels=labels), seed=0)
    assert ds.train_images.shape[1:] == (8, 8, 1) and ds.num_classes == 3
    assert len(ds.train_labels) + len(ds.test_labels) == 5 and len(ds.test_labels) >= 1
    assert ds.name == "d.npz" and ds.spacing == (1.0, 1.0)
    # channels, float labels holding whole numbers, spacing, 3D
    ds = load_npz(_save(tmp_path, images=np.zeros((3, 4, 4, 4, 2)),
                        labels=np.ones((3, 4, 4, 4)).astype(float) * [0, 1, 0, 1],
                        spacing=np.array([2.0, 1.0, 1.0])))
    assert ds.channels == 2 and ds.ndim == 3 and ds.spacing == (2.0, 1.0, 1.0)
    assert load_data(str(_save(tmp_path, images=images, labels=labels))).num_classes == 3


@pytest.mark.parametrize("arrays,message", [
    (dict(images=np.zeros((4, 8, 8))), r"missing key\(s\) \['labels'\]"),
    (dict(image=np.zeros((4, 8, 8)), labels=np.zeros((4, 8, 8), int)), "missing key"),
    (dict(images=np.zeros((5, 8, 8)), labels=np.zeros((4, 8, 8), int)), "number of examples"),
    (dict(images=np.zeros((4, 8, 9)), labels=np.zeros((4, 8, 8), int)), "spatial shape"),
    (dict(images=np.zeros((4, 8, 8, 1, 1)), labels=np.zeros((4, 8, 8), int)),
     r"\(N, \*spatial\) or \(N, \*spatial, channels\)"),
    (dict(images=np.zeros((4, 8)), labels=np.zeros((4, 8), int)), "2 or 3 spatial axes"),
    (dict(images=np.zeros((4, 8, 8)), labels=np.full((4, 8, 8), 0.5)), "non-integer values"),
    (dict(images=np.zeros((4, 8, 8)), labels=np.full((4, 8, 8), -1)), "negative"),
    (dict(images=np.zeros((4, 8, 8)), labels=np.zeros((4, 8, 8), int)), "single class"),
    (dict(images=np.full((4, 8, 8), np.nan), labels=np.eye(8, dtype=int)[None].repeat(4, 0)),
     "NaN or Inf"),
    (dict(images=np.zeros((1, 8, 8)), labels=np.eye(8, dtype=int)[None]), "at least 2 examples"),
    (dict(images=np.zeros((4, 8, 8)), labels=np.full((4, 8, 8), "a")), "integer class indices"),
    (dict(images=np.zeros((4, 8, 8)), labels=np.eye(8, dtype=int)[None].repeat(4, 0),
          spacing=np.array([1.0])), "'spacing' must hold 2 positive values"),
])
def test_npz_errors(tmp_path, arrays, message):
    with pytest.raises(DataError, match=message):
        load_npz(_save(tmp_path, **arrays))


def test_npz_file_errors(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_npz(tmp_path / "absent.npz")
    text = tmp_path / "text.npz"
    text.write_text("not an archive")
    with pytest.raises(DataError, match="cannot be read"):
        load_npz(text)
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(DataError, match="single .npy array"):
        load_npz(single)
    images, labels = _good()
    with pytest.raises(DataError, match="num_classes=2"):
        load_npz(_save(tmp_path, images=images, labels=labels), num_classes=2)
    with pytest.raises(DataError, match="neither a built-in dataset"):
        load_data("no-such-thing")


# --------------------------------------------------------------------------- loss specs


@pytest.mark.parametrize("text,label", [
    ("ce", "ce"),
    ("dice+focal", "dice + focal"),
    ("0.5*dice + 0.5 * ce", "0.5*dice + 0.5*ce"),
    ("gdl + boundary@linear(0.01,1.0)", "gdl + boundary@linear(0.01, 1)"),
    ("focal(gamma=1, alpha=0.25)", "focal(gamma=1, alpha=0.25)"),
    ("dice(include_background=false, smooth=1e-3)",
     "dice(include_background=false, smooth=0.001)"),
    ("2*hd@cosine(0, 1, 0.5) + IoU", "2*hausdorff@cosine(0, 1, 0.5) + jaccard"),
    ("lovasz(classes='all') + ce@step(0, 1, 0.25) + ce@const(2)",
     "lovasz(classes=all) + ce@step(0, 1, 0.25) + ce@const(2)"),
])
def test_parse_spec(text, label):
    spec = parse(text)
    assert spec.label == label
    assert parse(spec.label) == spec  # the label parses back to the same spec


def test_parse_spec_values():
    (term,) = parse("tversky(alpha=0.3, beta=7e-1, per_image=False, mode=x)").terms
    assert term.options == (("alpha", 0.3), ("beta", 0.7), ("per_image", False), ("mode", "x"))
    (term,) = parse("3*boundary@linear(0.01, 1, 0.5)").terms
    assert term.weight == 3.0 and term.schedule.kind == "linear"
    assert term.schedule.args == (0.01, 1.0, 0.5)


@pytest.mark.parametrize("text,message", [
    ("", "empty"),
    ("dice+", "expected a loss name, found the end at position 5"),
    ("dcie", "unknown loss 'dcie'"),
    ("dice*0.5", "the weight goes before the name"),
    ("0.5 dice", r"expected '\*' after the weight"),
    ("dice@lin(0,1)", "unknown schedule 'lin'"),
    ("dice@linear(1)", "linear takes 2 to 3 numbers, got 1"),
    ("dice@linear(0, 1, 2)", r"fraction of the run must be in \(0, 1\]"),
    ("dice(smooth)", "expected '=' after the option name"),
    ("dice(smooth=1, smooth=2)", "option given twice"),
    ("dice $ ce", "unexpected character '\\$'"),
    ("dice ce", "expected '\\+' or the end"),
])
def test_parse_spec_errors(text, message):
    with pytest.raises(SpecError, match=message):
        parse(text)


def test_parse_error_points_at_the_problem():
    with pytest.raises(SpecError) as info:
        parse("dice + foo")
    assert info.value.args[0].endswith("dice + foo\n         ^")


def test_grammar_is_plain_python_and_takes_any_name_table():
    """The grammar imports no JAX and resolves names through the table it is given."""
    import ast

    modules = set()
    for node in ast.walk(ast.parse(open(spec_mod.__file__).read())):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            modules.add(node.module.split(".")[0])
    assert modules <= {"__future__", "dataclasses", "difflib", "math", "re", "collections",
                       "typing"}, modules
    spec = parse_spec("2*Mine(k=1) + other@const(3)", {"mine": "mine", "theirs": "other",
                                                      "other": "other"})
    assert spec.label == "2*mine(k=1) + other@const(3)"
    with pytest.raises(SpecError, match="unknown loss 'dice'; known: mine, other"):
        parse_spec("dice", {"mine": "mine", "other": "other"})
    assert set(NAMES.values()) == set(REGISTRY)


def _ctx(steps=100, classes=3):
    labels = np.zeros((2, 8, 8), np.int32)
    labels[:, 2:4, 2:4], labels[:, 5:7, 5:7] = 1, 2
    return BuildContext(classes, steps, (1.0, 1.0), labels), labels


def test_build_loss_weights_and_schedules():
    import jax.numpy as jnp

    ctx, labels = _ctx()
    loss = build_loss("0.5*ce + dice@linear(0, 1) + 2*dice@cosine(0, 1) + ce@step(1, 3, 0.5)",
                      ctx)
    assert loss.names == ("ce", "dice", "dice_2", "ce_2")
    logits = jnp.zeros((2, 8, 8, 3))
    for step, weights in [(0, (0.5, 0.0, 0.0, 1.0)), (50, (0.5, 0.5, 1.0, 3.0)),
                          (100, (0.5, 1.0, 2.0, 3.0)), (500, (0.5, 1.0, 2.0, 3.0))]:
        total, aux = loss(logits, labels, step=step)
        got = [float(aux[f"{n}/weight"]) for n in loss.names]
        np.testing.assert_allclose(got, weights, atol=1e-6)
        expected = sum(w * aux[n] for w, n in zip(weights, loss.names, strict=True))
        np.testing.assert_allclose(total, expected, rtol=1e-6)
    total, aux = build_loss("ce@const(2)", ctx)(logits, labels, step=7)
    np.testing.assert_allclose(total, 2 * np.log(3), rtol=1e-6)


def test_build_loss_nonadjacency_uses_training_prior():
    import jax.numpy as jnp

    ctx, labels = _ctx()
    total, aux = build_loss("nonadjacency", ctx)(jnp.zeros((1, 8, 8, 3)), labels[:1])
    assert float(total[0]) > 0  # classes 1 and 2 never touch in the training labels
    one_hot = 50.0 * jax_one_hot(labels[:1], 3)
    total, _ = build_loss("nonadjacency", ctx)(one_hot, labels[:1])
    assert float(total[0]) < 1e-6  # the truth itself respects the prior


def jax_one_hot(labels, classes):
    return np.eye(classes, dtype=np.float32)[labels]


def test_build_and_check_errors():
    ctx, _ = _ctx()
    with pytest.raises(SpecError, match=r"unknown option\(s\) \['gamma'\]"):
        build_loss("dice(gamma=2)", ctx)
    with pytest.raises(SpecError, match="gamma: expected a value >= 0"):
        check_loss("focal(gamma=-1)", ctx, (8, 8))
    assert check_loss("gdl + boundary@linear(0.01, 1)", ctx, (8, 8)).names == ("gdl", "boundary")


def test_build_loss_accepts_a_former_option_name_with_a_warning():
    import jax.numpy as jnp

    ctx, labels = _ctx()
    logits = jnp.asarray(np.random.default_rng(0).normal(size=(2, 8, 8, 3)), jnp.float32)
    with pytest.warns(DeprecationWarning, match="'weight_type' is renamed 'class_weighting'"):
        old = build_loss("gdl(weight_type=simple)", ctx)
    new = build_loss("gdl(class_weighting=simple)", ctx)
    np.testing.assert_array_equal(old(logits, labels)[0], new(logits, labels)[0])
    assert not np.array_equal(new(logits, labels)[0], build_loss("gdl", ctx)(logits, labels)[0])


def test_registry_lists_every_loss():
    rows = {row["name"]: row for row in describe_registry()}
    assert set(rows) == set(REGISTRY)
    for name, row in rows.items():  # the catalogue holds public functions of the package
        assert getattr(jsl, row["function"].removeprefix("jaxseg_losses.")) is REGISTRY[name].fn
    assert rows["focal"]["options"]["gamma"] == 2.0


# --------------------------------------------------------------------------- model


def test_unet_shapes():
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from jaxseg_losses.experiment.model import UNet

    def shape(make, *input_shape):  # traced only: no compilation
        spec = jax.ShapeDtypeStruct(input_shape, jnp.float32)
        return jax.eval_shape(lambda x: make()(x), spec).shape

    make2 = lambda: UNet(2, 3, ndim=2, features=4, depth=2, rngs=nnx.Rngs(0))
    assert shape(make2, 1, 8, 12, 2) == (1, 8, 12, 3)
    with pytest.raises(ValueError, match="divisible by 4"):
        shape(make2, 1, 10, 8, 2)
    make3 = lambda: UNet(1, 2, ndim=3, features=2, depth=1, rngs=nnx.Rngs(0))
    assert shape(make3, 1, 4, 4, 6, 1) == (1, 4, 4, 6, 2)
    with pytest.raises(ValueError, match="ndim"):
        UNet(1, 2, ndim=1, rngs=nnx.Rngs(0))


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_registered_loss_traces(name):
    """Each name resolves, takes the experiment's options and gives (B,) (traced, not run)."""
    ctx, _ = _ctx()
    assert check_loss(name, ctx, (8, 8)).names == (name,)
