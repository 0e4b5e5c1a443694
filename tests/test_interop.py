"""Arrays as other frameworks hand them over: float binary masks, channels-first predictions; and
the masked-Dice numbers that the "coming from" page compares with MONAI's MaskedDiceLoss."""

from __future__ import annotations

import warnings
from pathlib import Path

import jax
import numpy as np
import pytest

import jaxseg_losses as jsl
from tests.cases import CASES, SPATIAL
from tests.helpers import random_labels, random_logits

BINARY_ROWS = ["dice_binary", "focal_binary", "active_contour", "lovasz_hinge", "combo"]


@pytest.mark.parametrize("name", BINARY_ROWS)
def test_binary_mode_takes_float_masks_without_a_channel_axis(name):
    """segmentation-models-pytorch's binary masks: float ``(B, *spatial)``, same as integers."""
    case = CASES[name]
    z = random_logits(8, (2, *SPATIAL, 1))
    labels = random_labels(8, (2, *SPATIAL), 2)
    loss = jax.jit(lambda p, t: case(p, t))
    np.testing.assert_allclose(loss(z, labels.astype(np.float32)), loss(z, labels),
                               rtol=1e-6, atol=1e-7)


def test_channels_first_predictions_get_a_hint():
    z = random_logits(9, (2, 3, *SPATIAL))  # (B, C, H, W) as PyTorch hands them over
    labels = random_labels(9, (2, *SPATIAL), 3)
    with pytest.raises(ValueError, match=r"channels-first .* jnp\.moveaxis\(predictions, 1, -1\)"):
        jsl.dice_loss(z, labels)
    assert jsl.dice_loss(np.moveaxis(z, 1, -1), labels).shape == (2,)


# --------------------------------------------------------------------------- the "Masks" example

PAGE = Path(__file__).resolve().parents[1] / "docs" / "coming_from.md"


def _page_value(fragment: str) -> float:
    """The number in the last cell of the row of the page's Masks table holding ``fragment``."""
    rows = [line for line in PAGE.read_text().splitlines()
            if line.startswith("|") and fragment in line]
    assert len(rows) == 1, (fragment, rows)
    return float(rows[0].rstrip(" |").rsplit("|", 1)[1])


def _masks_example():
    labels = np.array([[[0, 0, 0, 1], [0, 1, 1, 1], [0, 1, 1, 1], [0, 0, 0, 1]]])
    keep = np.ones((1, 4, 4), bool)
    keep[:, :, 3] = False
    guess = np.where(keep, labels, 0)
    logits = (3.0 * (2.0 * np.eye(2)[guess] - 1.0)).astype(np.float32)
    return labels, keep, logits


@pytest.mark.slow
def test_masks_example_of_the_coming_from_page():
    """The numbers of the page's Masks table: ours always, MONAI's with the release it names."""
    labels, keep, logits = _masks_example()
    ours = float(jsl.dice_loss(logits, labels, mask=keep)[0])
    np.testing.assert_allclose(ours, _page_value("`jsl.dice_loss(logits, labels, mask=keep)`"),
                               rtol=1e-3)
    np.testing.assert_allclose(float(jsl.dice_loss(logits, labels)[0]),
                               _page_value("no mask: `jsl.dice_loss(logits, labels)`"), rtol=1e-3)
    # mask= is the loss of the kept pixels alone.
    np.testing.assert_allclose(float(jsl.dice_loss(logits[:, :, :3], labels[:, :, :3])[0]), ours,
                               rtol=1e-6)

    torch = pytest.importorskip("torch")
    monai = pytest.importorskip("monai")
    from monai.losses import DiceLoss, MaskedDiceLoss

    x = torch.from_numpy(np.ascontiguousarray(np.moveaxis(logits, -1, 1)))
    y = torch.from_numpy(labels[:, None].astype(np.float32))
    one_hot = torch.from_numpy(np.ascontiguousarray(
        np.moveaxis(np.eye(2, dtype=np.float32)[labels], -1, 1)))
    mask = torch.from_numpy(keep[:, None].astype(np.float32))
    kept = DiceLoss(softmax=True, to_onehot_y=True)(x[..., :3], y[..., :3]).item()
    np.testing.assert_allclose(kept, _page_value("on the 4 × 3 kept pixels only"), rtol=1e-3)
    # MONAI <= 1.5: the mask zeroed the logits, then DiceLoss applied the softmax.
    old = DiceLoss(softmax=True, to_onehot_y=True)(x * mask, y * mask).item()
    np.testing.assert_allclose(old, _page_value("i.e. `DiceLoss(softmax=True"), rtol=1e-3)

    release = "1.6.1"  # the release whose MaskedDiceLoss the page quotes
    if monai.__version__ != release:
        pytest.skip(f"the page quotes MONAI {release}'s MaskedDiceLoss; installed "
                    f"{monai.__version__}: recompute the table's MaskedDiceLoss rows")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        integer = MaskedDiceLoss(softmax=True, to_onehot_y=True)(x, y, mask).item()
        dense = MaskedDiceLoss(softmax=True)(x, one_hot, mask).item()
    np.testing.assert_allclose(
        integer, _page_value(f"MONAI {release} `MaskedDiceLoss(softmax=True, to_onehot_y=True)"),
        rtol=1e-3)
    np.testing.assert_allclose(
        dense, _page_value(f"MONAI {release} `MaskedDiceLoss(softmax=True)(x, one_hot(y)"),
        rtol=1e-3)


@pytest.mark.slow
def test_optax_generalized_dice_and_class_weights_of_the_coming_from_page():
    """optax's ``multiclass_generalized_dice_loss`` is a class-weighted mean of per-class Dice
    losses (weights 1 / (batch volume^2 + 1e-7), normalised to sum to C), not Sudre's pooled
    generalized Dice: on optax's own test data (its _segmentation_test.py) it is 0.8825, our
    ``generalized_dice_loss`` 0.8814, and ``dice_loss(class_weights=w, smooth=2)`` reproduces
    it. optax's ``class_weights`` multiply each class's loss before a plain class mean: ours
    (a normalised weighted mean) times ``mean(w)`` over the kept classes."""
    optax = pytest.importorskip("optax")
    losses = optax.losses
    if not hasattr(losses, "multiclass_generalized_dice_loss"):
        pytest.skip("this optax has no multiclass_generalized_dice_loss")
    key = jax.random.PRNGKey(42)  # optax's test_multiclass_generalized_dice_loss data
    z = jax.random.normal(key, (4, 32, 32, 3))
    labels = jax.random.choice(key, 3, (4, 32, 32), p=jax.numpy.array([0.8, 0.15, 0.05]))
    targets = jax.nn.one_hot(labels, 3)
    theirs = float(losses.multiclass_generalized_dice_loss(z, targets))
    sudre = float(jsl.generalized_dice_loss(z, labels).mean())
    np.testing.assert_allclose([theirs, sudre], [0.8825, 0.8814], atol=5e-5)
    volume = np.asarray(targets).sum(axis=(0, 1, 2))
    weights = 1.0 / (volume**2 + 1e-7)
    ours = jsl.dice_loss(z, labels, class_weights=weights, smooth=2.0)
    np.testing.assert_allclose(float(ours.mean()), theirs, rtol=1e-5)
    # ignore_background=True: the normalised weights' mean over the kept classes is the factor
    theirs = float(losses.multiclass_generalized_dice_loss(z, targets, ignore_background=True))
    ours = jsl.dice_loss(z, labels, class_weights=weights, smooth=2.0, include_background=False)
    factor = (weights / weights.sum() * 3)[1:].mean()
    np.testing.assert_allclose(float(ours.mean()) * factor, theirs, rtol=1e-5)
    assert theirs > 1.0  # a "loss" above 1: the weights are not renormalised after the drop
    # dice_loss(class_weights=w): ours times mean(w) over the kept classes
    w = np.array([0.5, 2.0, 3.0], np.float32)
    for ignore in (False, True):
        theirs = losses.dice_loss(z, targets, class_weights=w, ignore_background=ignore)
        ours = jsl.dice_loss(z, labels, class_weights=w, smooth=2.0,
                             include_background=not ignore)
        np.testing.assert_allclose(ours * w[int(ignore):].mean(), theirs, rtol=1e-5)
