r"""Region (overlap) losses: statistics -> formula -> class reduction.

One module per family: :mod:`~jaxseg_losses.region.dice` (the overlap statistics, Dice,
Jaccard/IoU, generalized and penalty generalized Dice), :mod:`~jaxseg_losses.region.tversky`
(Tversky, focal Tversky, asymmetric similarity, asymmetric focal Tversky),
:mod:`~jaxseg_losses.region.sensitivity_specificity`, :mod:`~jaxseg_losses.region.exp_log`,
:mod:`~jaxseg_losses.region.mcc`, :mod:`~jaxseg_losses.region.wasserstein` and
:mod:`~jaxseg_losses.region.boundary_dou` (the boundary difference over union loss); the shared
engine (statistics, batch pooling over ``axis_name``, class reduction) is the private
``jaxseg_losses.region._engine``. A loss's inputs go down the floors once: the family checks
them (``prepare_region`` / ``prepare``), asks the activations for its planes
(``overlap_planes``: probabilities and class hits), and hands the planes and its per-class
formula to the engine (``region_loss``), which sums, applies the formula and reduces. The
distance-penalised Dice is with the losses on distance maps in :mod:`jaxseg_losses.boundary`,
clDice in :mod:`jaxseg_losses.topology`.

Every loss here is *statistics -> formula -> reduction*:

1. :func:`overlap_statistics` sums, per example and class, the soft counts

   .. math::
       TP_{bc} = \sum_x v\,p_c\,y_c,\quad FP_{bc} = \sum_x v\,p_c(1-y_c),\quad
       FN_{bc} = \sum_x v\,(1-p_c)\,y_c,\quad \Sigma p = TP + FP,\quad \Sigma y = TP + FN

   over the spatial axes, with :math:`p` the probabilities (softmax or sigmoid of the logits),
   :math:`y` the dense targets and :math:`v` the pixel weights (``mask`` times "not
   ``ignore_index``"; masked statistics are *weighted* sums). With ``per_image=False`` the
   statistics are also summed over the batch (and ``psum``-ed over ``axis_name`` inside
   ``shard_map``) *before* any ratio: the batch-global ("batch Dice") form.
2. Each loss is a short formula of these statistics per (example, class).
3. One shared class reduction: ``include_background=False`` drops channel 0 (when ``C > 1``),
   ``class_weights`` give the weighted mean :math:`\sum_c w_c L_c / \sum_c w_c` over the kept
   classes (plain mean without weights), ``reduction="example"`` returns ``(B,)`` and
   ``reduction="class"`` the per-class ``(B, C_kept)`` values (unweighted; combining it with
   ``class_weights`` raises). With ``per_image=False`` the global value is repeated over the
   ``B`` examples, so ``.mean()`` is the global loss. Dice, Jaccard and Tversky also offer
   ``average="micro"``: the counts are summed over the kept classes (weighted by
   ``class_weights``) *before* the ratio, one value per example (kornia's default).

Smoothing. Every ratio is written in its usual form and ``smooth`` is added to its numerator
and denominator: Dice :math:`(2TP+s)/(2TP+FP+FN+s)` (as MONAI, nnU-Net), Jaccard
:math:`(TP+s)/(TP+FP+FN+s)`, Tversky :math:`(TP+s)/(TP+\alpha FP+\beta FN+s)`. Default
``smooth=1e-5`` (MONAI's ``smooth_nr = smooth_dr = 1e-5``); a pair ``(smooth_nr, smooth_dr)``
sets them separately. Hence ``tversky_loss(alpha=.5, beta=.5, smooth=s) == dice_loss(smooth=2s)``
and ``optax.losses.dice_loss(smooth=s)`` (smoothing on the Tversky form) equals
``dice_loss(smooth=2s)``; MONAI ``DiceLoss(jaccard=True, smooth_nr=s, smooth_dr=s)`` equals
``jaccard_loss(smooth=s/2)``. Exceptions, documented where they apply:
:func:`generalized_dice_loss` (``smooth=0``, because its weights make the sums tiny) and
:func:`exp_log_loss` (``smooth=1``, the paper's value).

Empty masks. An empty prediction on an empty ground truth is a perfect score, loss 0, for every
smoothing (including ``smooth=0``: a ratio 0/0 counts as a perfect score, with zero gradient). A
non-empty prediction on an empty ground truth gives a Dice of :math:`s/(\Sigma p + s)`, i.e. a
loss close to 1 unless :math:`\Sigma p` is comparable to ``smooth``. An example whose pixels
are all masked out gives loss 0 with zero gradient. Dice, Jaccard, Tversky and focal Tversky
take ``absent_classes="zero"`` (a class absent from the truth scores 0 whatever is predicted,
segmentation-models-pytorch's rule) or ``"exclude"`` (it leaves the class mean) instead of
this default ``"score"``.

Options shared by these losses: ``squared=True`` (Dice, Jaccard) uses the V-Net sums
:math:`\Sigma p^2, \Sigma y^2` (:math:`TP = \Sigma p y`, :math:`FP = \Sigma p^2 - TP`,
:math:`FN = \Sigma y^2 - TP`); ``soft_label=True`` uses the L1 form
:math:`TP = (\Sigma p + \Sigma y - \Sigma|p - y|)/2` that is correct for soft targets (MONAI's
``soft_label=True``, Wang & Blaschko's JDT losses) and equals the product form on hard labels.
All computations are float32 whatever the input dtype.
"""

from jaxseg_losses._namespace import export_all
from jaxseg_losses.region import (
    boundary_dou,
    dice,
    exp_log,
    mcc,
    sensitivity_specificity,
    tversky,
    wasserstein,
)

# The families of this package, in the order of the documentation; a loss is registered by its
# module's __all__.
FAMILIES = (dice, tversky, sensitivity_specificity, exp_log, mcc, wasserstein, boundary_dou)

__all__ = export_all(globals(), FAMILIES)
