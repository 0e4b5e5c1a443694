"""Arrays as other frameworks hand them over: float binary masks, channels-first predictions."""

from __future__ import annotations

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
