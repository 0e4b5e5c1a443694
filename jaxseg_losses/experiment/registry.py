"""The losses of the command line: one entry per name, holding the function itself.

``list`` shows :func:`describe_registry`; :func:`parse` reads a loss spec with these names (the
grammar is :mod:`jaxseg_losses.experiment.spec`, the build :mod:`jaxseg_losses.experiment.build`).
Every loss runs with softmax (``mode="multiclass"``) on ``C = num_classes`` channels (binary sets
have 2 channels); options not given keep the library's defaults, except an entry's ``defaults``.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any

import jaxseg_losses as jsl
from jaxseg_losses._namespace import family_of
from jaxseg_losses.experiment.spec import LossSpec, SpecError, parse_spec, suggest, value_str


@dataclasses.dataclass(frozen=True)
class LossEntry:
    """A loss the CLI can use.

    Attributes:
      name: the command-line name.
      fn: the loss function itself (a public name of :mod:`jaxseg_losses`).
      summary: one line for ``list``.
      defaults: options the experiment sets (on top of the library's defaults).
      aliases: other accepted names.
    """

    name: str
    fn: Callable
    summary: str
    defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @property
    def family(self) -> str:
        """For ``list``: the package's family of the function (``family_of``)."""
        return family_of(self.fn)

    @property
    def qualified_name(self) -> str:
        """``jaxseg_losses.<name>``: the public (top-level) name of the function."""
        return f"jaxseg_losses.{self.fn.__name__}"

    def options(self) -> dict[str, Any]:
        """Keyword options of the function and their defaults (experiment defaults applied)."""
        params = inspect.signature(self.fn).parameters.values()
        found = {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY}
        return {**found, **self.defaults}


_ENTRIES = (
    LossEntry("ce", jsl.cross_entropy, "softmax cross-entropy",
              aliases=("cross_entropy",)),
    LossEntry("wce", jsl.weighted_cross_entropy,
              "class-balanced cross-entropy (weights from each image's class counts)"),
    LossEntry("focal", jsl.focal_loss,
              "focal loss (Lin et al. 2017), gamma=2"),
    LossEntry("conservative", jsl.conservative_loss,
              "conservative loss (Zhu et al. 2018)"),
    LossEntry("dice", jsl.dice_loss, "soft Dice loss"),
    LossEntry("jaccard", jsl.jaccard_loss, "soft Jaccard (IoU) loss",
              aliases=("iou",)),
    LossEntry("tversky", jsl.tversky_loss,
              "Tversky loss (Salehi et al. 2017), alpha=0.3 (FP), beta=0.7 (FN)"),
    LossEntry("focal_tversky", jsl.focal_tversky_loss,
              "focal Tversky loss (Abraham & Khan 2019)", aliases=("ftl",)),
    LossEntry("ss", jsl.sensitivity_specificity_loss,
              "sensitivity-specificity loss (Brosch et al. 2015)"),
    LossEntry("gdl", jsl.generalized_dice_loss,
              "generalized Dice loss (Sudre et al. 2017), 1/volume^2 class weights"),
    LossEntry("explog", jsl.exp_log_loss,
              "exponential logarithmic loss (Wong et al. 2018)"),
    LossEntry("lovasz", jsl.lovasz_softmax_loss,
              "Lovász-Softmax (Berman et al. 2018), convex surrogate of IoU"),
    LossEntry("boundary", jsl.boundary_loss,
              "boundary loss (Kervadec et al. 2019), mean of p * signed distance; pair it "
              "with a region loss"),
    LossEntry("hausdorff", jsl.hausdorff_dt_loss,
              "Hausdorff distance-transform loss (Karimi & Salcudean 2019)", aliases=("hd",)),
    LossEntry("loghd", jsl.log_hausdorff_dt_loss,
              "log Hausdorff-DT loss (MONAI LogHausdorffDTLoss)"),
    LossEntry("dpce", jsl.distance_penalized_cross_entropy,
              "distance-map penalised cross-entropy (Caliva et al. 2019)"),
    LossEntry("active_contour", jsl.active_contour_loss,
              "active contour loss (Chen et al. 2019), length + region", aliases=("acl",)),
    LossEntry("nonadjacency", jsl.nonadjacency_loss,
              "non-adjacency loss (Ganaye et al. 2018), prior from the training labels; "
              "pair it with a segmentation loss", aliases=("nonadj",)),
    LossEntry("mcc", jsl.mcc_loss,
              "Matthews correlation coefficient loss (Abhishek & Hamarneh 2021)"),
    LossEntry("cldice", jsl.cldice_loss,
              "soft clDice (Shit et al. 2021): overlap of soft skeletons, for thin structures"),
    LossEntry("dice_cldice", jsl.dice_cldice_loss,
              "Dice + soft clDice (Shit et al. 2021)"),
    LossEntry("unified_focal", jsl.asymmetric_unified_focal_loss,
              "asymmetric unified focal loss (Yeung et al. 2022)"),
    LossEntry("hausdorff_erosion", jsl.hausdorff_erosion_loss,
              "Hausdorff loss by morphological erosion (Karimi & Salcudean 2019)"),
    LossEntry("topk_ce", jsl.topk_cross_entropy,
              "top-k cross-entropy: mean CE of the k% hardest pixels", aliases=("topk",)),
    LossEntry("poly_ce", jsl.poly_cross_entropy,
              "Poly-1 cross-entropy (Leng et al. 2022)", aliases=("poly",)),
    LossEntry("nacl", jsl.nacl_loss,
              "neighbour-aware calibration loss (Murugesan et al. 2023): CE + alpha "
              "|tau - logits|, tau the neighbours' class proportions"),
    LossEntry("penalty_gdl", jsl.penalty_generalized_dice_loss,
              "penalty generalized Dice loss (Yang et al.)"),
    LossEntry("asym_similarity", jsl.asymmetric_similarity_loss,
              "asymmetric similarity (F-beta) loss (Hashemi et al. 2018)"),
    LossEntry("distance_dice", jsl.distance_penalized_dice_loss,
              "distance-penalised Dice (boundary-weighted counts)"),
    LossEntry("asym_focal", jsl.asymmetric_focal_loss,
              "asymmetric focal loss (Yeung et al. 2022)"),
    LossEntry("asym_focal_tversky", jsl.asymmetric_focal_tversky_loss,
              "asymmetric focal Tversky loss (Yeung et al. 2022)"),
    LossEntry("combo", jsl.combo_loss,
              "Combo loss (Taghanaki et al. 2019): weighted CE + Dice"),
    LossEntry("bi_tempered", jsl.bi_tempered_loss,
              "bi-tempered logistic loss (Amid et al. 2019), robust to label noise, t1=0.8, "
              "t2=1.2", aliases=("bitempered",)),
    LossEntry("t_loss", jsl.t_loss,
              "t-loss (Gonzalez-Jimenez et al. 2023): Student-t likelihood, robust to label "
              "noise; fixed log nu = 1 here (the paper learns it)"),
    LossEntry("boundary_dou", jsl.boundary_dou_loss,
              "boundary difference over union loss (Sun et al. 2023)", aliases=("bdou",)),
    LossEntry("region_wise", jsl.region_wise_loss,
              "region-wise loss (Valverde & Tohka 2023): mean of p * rectified region-wise "
              "map", aliases=("rw",)),
    LossEntry("skeleton_recall", jsl.skeleton_recall_loss,
              "skeleton recall loss (Kirchhoff et al. 2024): recall of the truth's tubed "
              "skeleton, for thin structures; pair it with a segmentation loss"),
    LossEntry("cbdice", jsl.cbdice_loss,
              "centerline boundary Dice (Shi et al. 2024): clDice weighted by radius"),
    LossEntry("blob", jsl.blob_loss,
              "blob loss (Kofler et al. 2023): main Dice + mean Dice per truth component"),
    LossEntry("dice_ce", jsl.dice_ce_loss, "Dice + cross-entropy"),
    LossEntry("dice_focal", jsl.dice_focal_loss, "Dice + focal"),
)

REGISTRY: dict[str, LossEntry] = {entry.name: entry for entry in _ENTRIES}
# Every accepted spelling -> its entry's name (what the spec grammar needs, as plain strings).
NAMES: dict[str, str] = {
    **{entry.name: entry.name for entry in _ENTRIES},
    **{alias: entry.name for entry in _ENTRIES for alias in entry.aliases},
}

def lookup(name: str) -> LossEntry:
    """The registry entry of a name or alias; :class:`SpecError` with suggestions otherwise."""
    key = NAMES.get(name.strip().lower())
    if key is None:
        raise SpecError(f"unknown loss {name!r}{suggest(name, NAMES)} known: "
                        f"{', '.join(REGISTRY)} (`jaxseg-losses list` describes them)")
    return REGISTRY[key]


def parse(text: str) -> LossSpec:
    """A loss spec of the experiment's losses (:func:`~jaxseg_losses.experiment.spec.parse_spec`
    with :data:`NAMES`): names resolved, aliases replaced by the entry names.

    Example:
      >>> parse("2*hd@cosine(0, 1, 0.5) + IoU").label
      '2*hausdorff@cosine(0, 1, 0.5) + jaccard'
    """
    return parse_spec(text, NAMES)



def describe_registry() -> list[dict[str, Any]]:
    """One row per loss for ``list``: name, aliases, family, function, summary, options."""
    skip = {"mode", "from_logits", "mask", "ignore_index", "reduction", "axis_name", "sampling",
            "distance_maps"}
    rows = []
    for entry in _ENTRIES:
        rows.append({"name": entry.name, "aliases": list(entry.aliases), "family": entry.family,
                     "function": entry.qualified_name, "summary": entry.summary,
                     "options": {k: v for k, v in entry.options().items() if k not in skip}})
    return rows


def format_default(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}" if math.isfinite(value) else str(value)
    return value_str(value) if isinstance(value, bool | type(None)) else repr(value)
