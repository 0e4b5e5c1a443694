"""The table of every loss and what it promises, for the conventions every loss shares.

One :class:`LossCase` per loss configuration. ``tests/conventions.py`` runs the shared
checks from this table (value shape and dtype, jit == eager, gradient against finite
differences, vmap, bfloat16, extreme logits, perfect / empty / full / one-pixel inputs, masks and
``ignore_index``, batch-global statistics, integer == one-hot labels, 3-D); the family test
files keep the papers' references and the peer cross-checks. A new loss gets a row here;
``test_every_public_loss_is_in_the_table`` fails until it has one.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable

import numpy as np

import jaxseg_losses as jsl

C = 3
SPATIAL = (6, 5)
SPATIAL_3D = (3, 4, 3)
# Class distances for the generalized Wasserstein Dice loss (background far from both classes).
WASSERSTEIN_M = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.5], [1.0, 0.5, 0.0]])
# Class 1 and class 2 may not touch (the non-adjacency loss's prior).
ADJACENCY_PRIOR = np.array([[1, 1, 1], [1, 1, 0], [1, 0, 1]], np.float32)


@dataclasses.dataclass(frozen=True)
class LossCase:
    """A loss with fixed options and the conventions it follows.

    Attributes:
      fn: the loss, called ``fn(predictions, labels, **options, **call_options)``.
      options: the options of this configuration (``mode`` among them).
      binary: one channel and 0/1 labels (``mode="binary"`` or a binary-only loss).
      global_form: ``"axis_name"`` (``per_image=False`` and ``axis_name``), ``"per_image"``
        (``per_image=False`` only) or ``None``.
      local: the value only depends on the kept pixels themselves (no neighbourhood, no
        distance map), so scoring a crop equals masking the rest.
      labels: the second argument is the label map (``False``: a fixed argument such as the
        non-adjacency prior, and the label checks do not apply).
      perfect: the value for a perfect prediction (logits of +-1e4), or ``None`` where the
        loss does not reach a fixed value there (only finiteness is checked).
      masked_zero: everything masked gives 0 with a zero gradient.
      mask_is_ignore: ``mask=keep`` and ``ignore_index`` on the other pixels agree (not where
        the truth's distance map or skeleton is taken from the whole label map: a masked pixel
        keeps its class there, an ignored one has none).
      one_value: ``per_image=False`` gives one value repeated over the batch (compound losses
        pool only their region term).
      probabilities: takes probabilities (``from_logits=False``) in this configuration (the
        bi-tempered loss with ``t2 != 1`` needs logits: its tempered softmax is the link).
      slow: its conventions row is marked slow (CI runs it, plain ``pytest`` leaves it out):
        the losses that trace many iterations (skeleton thinning, component labelling), whose
        row takes 4-5 s on 2 cores against 1-2 s for the others. Their family files keep
        their reference checks in the loop.
    """

    fn: Callable
    options: dict = dataclasses.field(default_factory=dict)
    binary: bool = False
    global_form: str | None = None
    local: bool = True
    labels: bool = True
    perfect: float | None = 0.0
    masked_zero: bool = True
    mask_is_ignore: bool = True
    one_value: bool = True
    probabilities: bool = True
    slow: bool = False

    def __call__(self, predictions, labels, **call_options):
        if not self.labels:
            return self.fn(predictions, ADJACENCY_PRIOR, **self.options, **call_options)
        return self.fn(predictions, labels, **self.options, **call_options)

    def takes(self, option: str) -> bool:
        return option in inspect.signature(self.fn).parameters

    @property
    def channels(self) -> int:
        return 1 if self.binary else C


_REGION = {"global_form": "axis_name"}
_DISTANCE = {"local": False, "perfect": None}
_DISTANCE_MAP = {**_DISTANCE, "mask_is_ignore": False}
_COMPOUND = {**_REGION, "one_value": False}

CASES: dict[str, LossCase] = {
    # Pixel-wise.
    "cross_entropy": LossCase(jsl.cross_entropy),
    "binary_cross_entropy": LossCase(jsl.binary_cross_entropy),
    "weighted_cross_entropy": LossCase(jsl.weighted_cross_entropy),
    "focal_softmax": LossCase(jsl.focal_loss),
    "focal_multilabel": LossCase(jsl.focal_loss, {"mode": "multilabel"}),
    "focal_binary": LossCase(jsl.focal_loss, {"mode": "binary"}, binary=True),
    "focal_normalized": LossCase(
        jsl.focal_loss, {"normalized": True, "include_background": False,
                         "class_weights": np.array([1.0, 2.0, 0.5], np.float32)}),
    "conservative": LossCase(jsl.conservative_loss, perfect=None),
    "topk_cross_entropy": LossCase(jsl.topk_cross_entropy, global_form="per_image"),
    "topk_cross_entropy_binary": LossCase(
        jsl.topk_cross_entropy, {"mode": "binary"}, binary=True, global_form="per_image"),
    "poly_cross_entropy": LossCase(jsl.poly_cross_entropy),
    # NACL: the penalty's target is the labels smoothed over the neighbourhood (not local; a
    # masked pixel keeps its class there, an ignored one has none); a perfect prediction still
    # pays the logit penalty.
    "nacl": LossCase(jsl.nacl_loss, local=False, perfect=None, mask_is_ignore=False),
    "nacl_gaussian_l2": LossCase(jsl.nacl_loss, {"kernel": "gaussian", "distance": "l2"},
                                 local=False, perfect=None, mask_is_ignore=False),
    "poly_cross_entropy_binary": LossCase(jsl.poly_cross_entropy, {"mode": "binary"}, binary=True),
    "asymmetric_focal": LossCase(jsl.asymmetric_focal_loss, **_REGION),
    "asymmetric_focal_tversky": LossCase(jsl.asymmetric_focal_tversky_loss, **_REGION),
    "asymmetric_unified_focal": LossCase(jsl.asymmetric_unified_focal_loss, **_REGION),
    "asymmetric_unified_focal_binary": LossCase(
        jsl.asymmetric_unified_focal_loss, {"mode": "binary"}, binary=True, **_REGION),
    # Robust to label noise (pixelwise/noisy_labels).
    # t2 = 1 first: the base configuration of tests/test_boolean_options.py calls from_logits=False,
    # which needs t2 = 1 (with t2 != 1 the tempered softmax is the link: logits only).
    "bi_tempered_t2_1": LossCase(jsl.bi_tempered_loss, {"t2": 1.0}),
    "bi_tempered": LossCase(jsl.bi_tempered_loss, probabilities=False),
    "bi_tempered_binary": LossCase(jsl.bi_tempered_loss, {"mode": "binary"}, binary=True,
                                   probabilities=False),
    "t_loss": LossCase(jsl.t_loss, perfect=None),
    # Region.
    "dice": LossCase(jsl.dice_loss, **_REGION),
    "dice_squared": LossCase(jsl.dice_loss, {"squared": True}, **_REGION),
    "dice_multilabel": LossCase(jsl.dice_loss, {"mode": "multilabel"}, **_REGION),
    "dice_binary": LossCase(jsl.dice_loss, {"mode": "binary"}, binary=True, **_REGION),
    "dice_log": LossCase(jsl.dice_loss, {"log_loss": True}, **_REGION),
    "dice_micro": LossCase(jsl.dice_loss, {"average": "micro"}, **_REGION),
    "dice_absent_zero": LossCase(jsl.dice_loss, {"absent_classes": "zero"}, **_REGION),
    "jaccard_absent_exclude": LossCase(
        jsl.jaccard_loss, {"absent_classes": "exclude", "class_weights": np.array(
            [1.0, 2.0, 0.5], np.float32)}, **_REGION),
    "tversky_micro": LossCase(
        jsl.tversky_loss, {"average": "micro", "include_background": False}, **_REGION),
    "jaccard": LossCase(jsl.jaccard_loss, **_REGION),
    "tversky": LossCase(jsl.tversky_loss, **_REGION),
    "focal_tversky": LossCase(jsl.focal_tversky_loss, **_REGION),
    "sensitivity_specificity": LossCase(jsl.sensitivity_specificity_loss, **_REGION),
    "generalized_dice": LossCase(jsl.generalized_dice_loss, **_REGION),
    "exp_log": LossCase(jsl.exp_log_loss, **_REGION),
    "mcc": LossCase(jsl.mcc_loss, **_REGION),
    "wasserstein_dice": LossCase(
        jsl.generalized_wasserstein_dice_loss, {"distance_matrix": WASSERSTEIN_M}, **_REGION),
    "wasserstein_dice_gdl": LossCase(
        jsl.generalized_wasserstein_dice_loss,
        {"distance_matrix": WASSERSTEIN_M, "class_weighting": "GDL"}, **_REGION),
    "asymmetric_similarity": LossCase(jsl.asymmetric_similarity_loss, **_REGION),
    "penalty_generalized_dice": LossCase(jsl.penalty_generalized_dice_loss, **_REGION),
    "boundary_dou": LossCase(jsl.boundary_dou_loss, **_REGION),
    "boundary_dou_binary": LossCase(jsl.boundary_dou_loss, {"mode": "binary"}, binary=True,
                                    **_REGION),
    # Blob loss: per-component Dice terms on the truth's connected components.
    "blob": LossCase(jsl.blob_loss, binary=True, local=False, mask_is_ignore=False, slow=True),
    "blob_multiclass": LossCase(jsl.blob_loss, {"mode": "multiclass"}, local=False,
                                mask_is_ignore=False, slow=True),
    # Lovász.
    "lovasz_softmax": LossCase(jsl.lovasz_softmax_loss, global_form="per_image"),
    "lovasz_softmax_weighted": LossCase(
        jsl.lovasz_softmax_loss, {"class_weights": np.array([0.5, 2.0, 1.0], np.float32)},
        global_form="per_image"),
    "lovasz_hinge": LossCase(jsl.lovasz_hinge_loss, binary=True, global_form="per_image"),
    # Distance-based.
    "boundary": LossCase(jsl.boundary_loss, **_DISTANCE_MAP),
    "hausdorff_dt": LossCase(jsl.hausdorff_dt_loss, **_DISTANCE_MAP),
    "log_hausdorff_dt": LossCase(jsl.log_hausdorff_dt_loss, **_DISTANCE_MAP),
    "hausdorff_erosion": LossCase(jsl.hausdorff_erosion_loss, **_DISTANCE),
    "distance_penalized_cross_entropy": LossCase(
        jsl.distance_penalized_cross_entropy, **_DISTANCE),
    "distance_penalized_dice": LossCase(
        jsl.distance_penalized_dice_loss, global_form="axis_name", **_DISTANCE_MAP),
    "active_contour": LossCase(jsl.active_contour_loss, binary=True, **_DISTANCE),
    "active_contour_multiclass": LossCase(
        jsl.active_contour_loss, {"mode": "multiclass"}, **_DISTANCE),
    # Topology.
    "cldice": LossCase(jsl.cldice_loss, global_form="axis_name", local=False,
                       mask_is_ignore=False, slow=True),
    "dice_cldice": LossCase(jsl.dice_cldice_loss, global_form="axis_name", local=False,
                            mask_is_ignore=False, slow=True),
    # Class adjacency.
    # Region-wise: a perfect prediction scores -1 on its class's map (0 elsewhere), over C = 3.
    "region_wise": LossCase(jsl.region_wise_loss, **{**_DISTANCE_MAP, "perfect": -1 / C}),
    "region_wise_boundary": LossCase(jsl.region_wise_loss, {"kind": "boundary"},
                                     **{**_DISTANCE_MAP, "perfect": -1 / C}),
    "skeleton_recall": LossCase(jsl.skeleton_recall_loss, global_form="axis_name", local=False,
                                mask_is_ignore=False, slow=True),
    "skeleton_recall_binary": LossCase(jsl.skeleton_recall_loss, {"mode": "binary"}, binary=True,
                                       global_form="axis_name", local=False, mask_is_ignore=False,
                                       slow=True),
    "cbdice": LossCase(jsl.cbdice_loss, global_form="axis_name", local=False, mask_is_ignore=False,
                       slow=True),
    "nonadjacency": LossCase(jsl.nonadjacency_loss, labels=False, local=False, perfect=None),
    # Compound recipes.
    "bce_dice": LossCase(jsl.bce_dice_loss, binary=True, **_COMPOUND),
    "dice_ce": LossCase(jsl.dice_ce_loss, **_COMPOUND),
    "dice_focal": LossCase(jsl.dice_focal_loss, **_COMPOUND),
    "dice_ce_sigmoid_dice": LossCase(
        jsl.dice_ce_loss, {"dice_activation": "sigmoid"}, **_COMPOUND),
    # Combo = alpha CE - (1 - alpha) Dice: -0.5 at a perfect prediction (the paper's form); 0
    # with nothing to score, like every loss.
    "combo": LossCase(jsl.combo_loss, binary=True, perfect=-0.5, **_COMPOUND),
}
