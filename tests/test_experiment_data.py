"""User data of the experiment: folders of PNG/TIFF images or NIfTI volumes, the split, the
classes absent from the test set, and the seed shown in the figure."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from jaxseg_losses.experiment.data import (
    DataError,
    dataset_from_arrays,
    load_data,
    load_folder,
)
from jaxseg_losses.experiment.train import median_seed_index
from tests.helpers import blob_label, write_nifti_folder, write_png_folder

iio = pytest.importorskip("imageio.v3", reason="the 'images' extra (imageio) is not installed")


# --------------------------------------------------------------------------- 2-D folders


def test_png_folder_loads_and_splits_with_the_seed(tmp_path):
    root = write_png_folder(tmp_path / "d")
    ds = load_folder(root, seed=3)
    assert ds.name == "d" and ds.num_classes == 2 and ds.channels == 1 and ds.ndim == 2
    assert len(ds.train_labels) + len(ds.test_labels) == 6 and len(ds.test_labels) == 2
    assert ds.train_images.dtype == np.float32 and ds.train_labels.dtype == np.int32
    assert ds.spacing == (1.0, 1.0) and ds.notes == ()
    again = load_folder(root, seed=3)
    np.testing.assert_array_equal(ds.test_labels, again.test_labels)
    other = load_folder(root, seed=4, test_fraction=0.5)
    assert len(other.test_labels) == 3
    # load_data takes a folder too, and rounds the crop to 2**depth
    assert load_data(str(root), multiple=4).spatial_shape == (16, 16)


def test_rgb_images_and_label_encodings(tmp_path):
    root = write_png_folder(tmp_path / "d", n=3, rgb=True)
    # labels saved as RGB with equal channels, and as a palette PNG: both are class indices
    from PIL import Image

    grey = blob_label((16, 16), 0)
    iio.imwrite(root / "labels" / "case0.png", np.stack([grey] * 3, axis=-1))
    palette = Image.fromarray(blob_label((16, 16), 1), mode="P")
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    palette.save(root / "labels" / "case1.png")
    ds = load_folder(root)
    assert ds.channels == 3 and ds.num_classes == 2
    # an RGBA image loses its alpha channel; a grayscale one among RGB is repeated (noted)
    iio.imwrite(root / "images" / "case2.png", np.zeros((16, 16, 4), np.uint8))
    assert load_folder(root).channels == 3
    iio.imwrite(root / "images" / "case2.png", np.zeros((16, 16), np.uint8))
    ds = load_folder(root)
    assert ds.channels == 3 and "1 grayscale image(s) among RGB ones" in ds.notes[0]
    # colour-coded labels are an error naming the file
    iio.imwrite(root / "labels" / "case2.png", np.dstack([grey * 255, grey * 0, grey * 9]))
    with pytest.raises(DataError, match=r"case2.png: a label file must hold one channel"):
        load_folder(root)


def test_sizes_that_differ_are_centre_cropped_and_noted(tmp_path):
    sizes = [(20, 18), (16, 16), (22, 30), (19, 17)]
    root = write_png_folder(tmp_path / "d", n=4, sizes=sizes)
    ds = load_folder(root, multiple=4)
    assert ds.spatial_shape == (16, 16)
    (note,) = ds.notes
    assert "3 of 4 examples centre-cropped" in note and "to 16x16" in note
    assert "20x18" in note and "multiple of 4" in note
    # the crop is centred: the (22, 30) label is cut 3 rows and 7 columns from the top/left
    label = iio.imread(root / "labels" / "case2.png")
    together = np.concatenate([ds.train_labels, ds.test_labels])
    assert any(np.array_equal(x, label[3:19, 7:23]) for x in together)
    # without a multiple the smallest size is kept as it is
    assert load_folder(root).spatial_shape == (16, 16)
    with pytest.raises(DataError, match="too small to crop to a multiple of 32"):
        load_folder(root, multiple=32)


def test_relabel_and_sparse_values(tmp_path):
    root = write_png_folder(tmp_path / "d", value=255)
    with pytest.raises(DataError, match=r"\{0, 255\}.*--relabel"):
        load_folder(root)
    ds = load_folder(root, relabel=True)
    assert ds.num_classes == 2 and set(np.unique(ds.train_labels)) == {0, 1}


def test_separate_test_folder(tmp_path):
    train = write_png_folder(tmp_path / "train", n=4)
    test = write_png_folder(tmp_path / "test", n=2, shape=(20, 16))
    ds = load_data(str(train), test_data=str(test), multiple=4)
    assert len(ds.train_labels) == 4 and len(ds.test_labels) == 2
    assert ds.spatial_shape == (16, 16) and "2 of 6 examples centre-cropped" in ds.notes[0]
    assert ds.name == "train (test: test)"
    with pytest.raises(DataError, match="--test-fraction and --test-data: give one"):
        load_data(str(train), test_data=str(test), test_fraction=0.5)
    with pytest.raises(DataError, match="only for user data"):
        load_data("blobs", test_fraction=0.5)


@pytest.mark.parametrize("change,message", [
    (lambda r: (r / "labels").rename(r / "truth"), "sub-folders images/ and labels/"),
    (lambda r: (r / "labels" / "case1.png").unlink(),
     r"image\(s\) without a label file in labels/: case1"),
    (lambda r: (r / "labels" / "extra.png").write_bytes(b""),
     r"label file\(s\) without an image in images/: extra"),
    (lambda r: (r / "images" / "notes.txt").write_text("x"), r"unsupported file\(s\) notes.txt"),
    (lambda r: (r / "images" / "case1.tif").write_bytes(b""), "two files for the case 'case1'"),
    (lambda r: iio.imwrite(r / "labels" / "case0.png", np.zeros((16, 12), np.uint8)),
     r"case 'case0': the image \(16, 16\) and the label \(16, 12\) differ"),
    (lambda r: (r / "images" / "case0.png").write_bytes(b"not a png"),
     "case0.png: cannot be read as an image"),
])
def test_folder_errors(tmp_path, change, message):
    root = write_png_folder(tmp_path / "d", n=3)
    (root / "images" / ".DS_Store").write_bytes(b"")  # hidden files are skipped
    change(root)
    with pytest.raises(DataError, match=message):
        load_folder(root)


def test_missing_extra_names_it(tmp_path, monkeypatch):
    root = write_png_folder(tmp_path / "d", n=2)
    monkeypatch.setitem(sys.modules, "imageio.v3", None)
    with pytest.raises(DataError, match=r'pip install "jaxseg_losses\[images\]"'):
        load_folder(root)
    monkeypatch.setitem(sys.modules, "nibabel", None)
    volumes = tmp_path / "v"
    for sub in ("images", "labels"):
        (volumes / sub).mkdir(parents=True)
        (volumes / sub / "a.nii.gz").write_bytes(b"")
    with pytest.raises(DataError, match=r'pip install "jaxseg_losses\[nifti\]"'):
        load_folder(volumes)


# --------------------------------------------------------------------------- NIfTI


def test_nifti_folder_reads_the_spacing(tmp_path):
    root = write_nifti_folder(tmp_path / "v")
    ds = load_folder(root, seed=0)
    assert ds.ndim == 3 and ds.spatial_shape == (8, 8, 8) and ds.spacing == (2.0, 1.0, 0.5)
    assert ds.num_classes == 2 and ds.channels == 1
    channels = load_folder(write_nifti_folder(tmp_path / "c", channels=2))
    assert channels.channels == 2


def test_nifti_spacings_must_agree(tmp_path):
    nib = pytest.importorskip("nibabel")
    root = write_nifti_folder(tmp_path / "v")
    volume = nib.load(root / "images" / "vol2.nii.gz")
    label = nib.load(root / "labels" / "vol2.nii.gz")
    other = np.diag([1.0, 1.0, 1.0, 1.0])
    nib.save(nib.Nifti1Image(np.asarray(volume.dataobj), other), root / "images" / "vol2.nii.gz")
    with pytest.raises(DataError, match="vol2': the image's voxel spacing"):
        load_folder(root)
    nib.save(nib.Nifti1Image(np.asarray(label.dataobj), other), root / "labels" / "vol2.nii.gz")
    with pytest.raises(DataError, match="the voxel spacings differ .*resample"):
        load_folder(root)


def test_mixed_kinds_are_an_error(tmp_path):
    root = write_nifti_folder(tmp_path / "v", n=2)
    iio.imwrite(root / "images" / "x.png", np.zeros((8, 8), np.uint8))
    iio.imwrite(root / "labels" / "x.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(DataError, match="mixes NIfTI volumes and 2-D image files"):
        load_folder(root)


# --------------------------------------------------------------------------- arrays, classes


def test_labels_with_a_trailing_axis_say_to_drop_it():
    labels = np.zeros((4, 8, 8, 1), int)
    labels[:, 2:4, 2:4] = 1
    with pytest.raises(DataError, match=r"trailing axis of size 1.*labels\[\.\.\., 0\]"):
        dataset_from_arrays(np.zeros((4, 8, 8, 1)), labels)


def test_absent_test_classes():
    labels = np.zeros((4, 8, 8), int)
    labels[:, 1:3, 1:3] = 1
    labels[:2, 5:7, 5:7] = 2  # class 2 only in the first two examples
    test = labels[2:]
    ds = dataset_from_arrays(np.zeros((2, 8, 8)), labels[:2], test_images=np.zeros((2, 8, 8)),
                             test_labels=test)
    assert ds.num_classes == 3 and ds.absent_test_classes() == [2]


def test_median_seed():
    assert median_seed_index([0.1, 0.5, 0.9]) == 1
    assert median_seed_index([0.9, 0.0, 0.4]) == 2
    assert median_seed_index([0.6, 0.2]) == 1  # even: the lower middle one
    assert median_seed_index([np.nan, 0.3, 0.8, 0.7]) == 3
    assert median_seed_index([0.5, 0.1, 0.5]) == 0  # equal values: the first
    assert median_seed_index([np.nan, np.nan]) == 0


@pytest.mark.slow
def test_absent_class_is_left_out_of_the_metrics():
    """Class 2 has no test pixel: the Dice is class 1's alone (class 2 would add 1 per image
    where nothing is predicted, 0 elsewhere, whatever the loss)."""
    import jax.numpy as jnp

    from jaxseg_losses.experiment.train import TrainConfig, train_one
    from jaxseg_losses.metrics import dice_score

    rng = np.random.default_rng(0)
    labels = np.zeros((6, 8, 8), int)
    labels[:, 1:4, 1:4] = 1
    labels[:4, 5:7, 5:7] = 2
    images = labels[..., None] + 0.3 * rng.normal(size=(6, 8, 8, 1))
    ds = dataset_from_arrays(images[:4], labels[:4], test_images=images[4:],
                             test_labels=labels[4:])
    assert ds.absent_test_classes() == [2]
    config = TrainConfig(steps=2, batch_size=2, features=4, depth=1, eval_every=1,
                         replicas="loop")
    result = train_one("ce", ds, config, progress=False)
    assert result.prediction_seed == 0 and result.predictions.shape == ds.test_labels.shape
    scores = np.asarray(dice_score(jnp.asarray(result.predictions, jnp.int32),
                                   jnp.asarray(ds.test_labels), num_classes=3,
                                   include_background=False))
    assert scores.shape == (2, 2)
    assert result.per_seed["dice"][0] == pytest.approx(scores[:, 0].mean())
    assert result.curve_dice[0][-1] == pytest.approx(scores[:, 0].mean())
    assert result.curve_steps == [0, 1, 2]
