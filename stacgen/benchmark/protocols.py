"""The two ways a benchmark reads `stacgen score`'s counts: the paper's and CMIX's.

Both start from what `stacgen score` computes for a mask: its 4 x 4 joint counts (reference
group x mask group: no data, clear, cloud, shadow) on the reference's 60 m grid, with score's
rules (majority resampling, no dilation, class 1 ignored).

- `paper` (Baetens, Desjardins & Hagolle 2019): score's own comparisons and metrics, taken as
  they are: `invalid` (cloud or shadow against clear), `cloud`, `shadow`.
- `cmix` (Skakun et al. 2022): one comparison, cloud against everything else: the reference's
  cloud is its low and high clouds (constants.CLOUD_VALUES), and every other valid pixel,
  shadow included, is "not cloud", on both sides. Metrics: overall accuracy, balanced overall
  accuracy, producer's and user's accuracy of each class, pooled over all valid pixels of all
  scenes (the summed matrix).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from stacgen.score import Comparison, Confusion, MaskScore, pool
from stacgen.score.metrics import confusion

ProtocolName = Literal["paper", "cmix"]
PROTOCOLS: Final = ("paper", "cmix")

CMIX_CITATION: Final = (
    "Skakun, S., Wevers, J., Brockmann, C., Doxani, G., Aleksandrov, M., Batic, M., Frantz, D., "
    "Gascon, F., Gomez-Chova, L., Hagolle, O., et al. (2022). Cloud Mask Intercomparison "
    "eXercise (CMIX): An evaluation of cloud masking algorithms for Landsat 8 and Sentinel-2. "
    "Remote Sensing of Environment, 274, 112990. https://doi.org/10.1016/j.rse.2022.112990"
)

# The joint table's group codes (rows: reference, columns: mask), as score writes them.
_NODATA, _CLEAR, _CLOUD, _SHADOW = 0, 1, 2, 3

PAPER_METRICS: Final = (
    "overall_accuracy",
    "balanced_accuracy",
    "f1",
    "kappa",
    "precision",
    "recall",
    "specificity",
)
CMIX_METRICS: Final = (
    "overall_accuracy",
    "balanced_overall_accuracy",
    "producers_accuracy_cloud",
    "users_accuracy_cloud",
    "producers_accuracy_clear",
    "users_accuracy_clear",
)
LABELS: Final = {
    "overall_accuracy": "OA",
    "balanced_accuracy": "balanced OA",
    "balanced_overall_accuracy": "BOA",
    "f1": "F1",
    "kappa": "kappa",
    "precision": "precision (UA)",
    "recall": "recall (PA)",
    "specificity": "specificity",
    "producers_accuracy_cloud": "PA cloud",
    "users_accuracy_cloud": "UA cloud",
    "producers_accuracy_clear": "PA clear",
    "users_accuracy_clear": "UA clear",
}


@dataclass(frozen=True)
class Evaluated:
    """One comparison's matrix and metrics (None with its reason where a denominator is 0)."""

    confusion: Confusion
    values: dict[str, float | None]
    undefined: dict[str, str] = field(default_factory=dict)
    applicable: bool = True
    reason: str | None = None


@dataclass(frozen=True)
class Column:
    """A column of the report's tables: a comparison's metric."""

    comparison: str
    metric: str

    @property
    def label(self) -> str:
        return f"{self.comparison} {LABELS.get(self.metric, self.metric)}"

    @property
    def key(self) -> str:
        return f"{self.comparison}.{self.metric}"


@dataclass(frozen=True)
class Protocol:
    name: ProtocolName
    title: str
    rules: str
    comparisons: tuple[str, ...]
    metrics: tuple[str, ...]
    # The main table's columns; the first is the headline (heat map, accuracy plots).
    columns: tuple[Column, ...]
    # (comparison, precision metric, recall metric) of the precision-recall plot.
    precision_recall: tuple[str, str, str]
    # What each comparison sets against what (the agreement pictures' notes).
    meanings: Mapping[str, str]

    def confusion_rule(self, comparison: str) -> Callable[[Any], Confusion]:
        """How a joint table (reference group x mask group) gives this comparison's matrix:
        what its agreement picture is drawn with (score.metrics.agreement_lut)."""
        if self.name == "paper":
            return lambda joint: confusion(joint, comparison)
        return cmix_confusion

    def scene(self, score: MaskScore) -> dict[str, Evaluated]:
        """One mask's comparisons under this protocol."""
        if self.name == "paper":
            return {n: _from_score(score.comparisons[n]) for n in self.comparisons}
        return {"cloud": cmix(cmix_confusion(score.joint))}

    def pooled(self, scores: Sequence[MaskScore]) -> dict[str, Evaluated]:
        """The metrics of the summed matrices over `scores` (all valid pixels of all scenes)."""
        if self.name == "paper":
            summed = pool([s.comparisons for s in scores]).summed
            return {n: _from_score(summed[n]) for n in self.comparisons}
        total = Confusion(0, 0, 0, 0)
        for s in scores:
            total = total + cmix_confusion(s.joint)
        return {"cloud": cmix(total)}

    @property
    def headline(self) -> Column:
        return self.columns[0]


def _from_score(c: Comparison) -> Evaluated:
    return Evaluated(
        c.confusion, dict(c.metrics.values), dict(c.metrics.undefined), c.applicable, c.reason
    )


def cmix_confusion(joint: Sequence[Sequence[int]]) -> Confusion:
    """Cloud against not cloud (clear or shadow) on both sides; no data on either side ignored."""
    positive, negative = (_CLOUD,), (_CLEAR, _SHADOW)
    tp = sum(joint[r][m] for r in positive for m in positive)
    fn = sum(joint[r][m] for r in positive for m in negative)
    fp = sum(joint[r][m] for r in negative for m in positive)
    tn = sum(joint[r][m] for r in negative for m in negative)
    return Confusion(int(tp), int(fp), int(fn), int(tn))


def _ratio(num: int, den: int, reason: str, undefined: dict[str, str], name: str) -> float | None:
    if den:
        return num / den
    undefined[name] = reason
    return None


def cmix(c: Confusion) -> Evaluated:
    """CMIX's metrics of one cloud / not-cloud matrix."""
    undefined: dict[str, str] = {}
    values: dict[str, float | None] = {
        "overall_accuracy": _ratio(
            c.tp + c.tn, c.n, "no pixel compared", undefined, "overall_accuracy"
        ),
        "producers_accuracy_cloud": _ratio(
            c.tp,
            c.tp + c.fn,
            "the reference has no cloud pixel (tp + fn = 0)",
            undefined,
            "producers_accuracy_cloud",
        ),
        "users_accuracy_cloud": _ratio(
            c.tp,
            c.tp + c.fp,
            "the mask has no cloud pixel (tp + fp = 0)",
            undefined,
            "users_accuracy_cloud",
        ),
        "producers_accuracy_clear": _ratio(
            c.tn,
            c.tn + c.fp,
            "the reference has no clear pixel (tn + fp = 0)",
            undefined,
            "producers_accuracy_clear",
        ),
        "users_accuracy_clear": _ratio(
            c.tn,
            c.tn + c.fn,
            "the mask has no clear pixel (tn + fn = 0)",
            undefined,
            "users_accuracy_clear",
        ),
    }
    pa_cloud, pa_clear = values["producers_accuracy_cloud"], values["producers_accuracy_clear"]
    if pa_cloud is None or pa_clear is None:
        values["balanced_overall_accuracy"] = None
        undefined["balanced_overall_accuracy"] = "a producer's accuracy is undefined"
    else:
        values["balanced_overall_accuracy"] = (pa_cloud + pa_clear) / 2
    return Evaluated(c, {m: values[m] for m in CMIX_METRICS}, undefined)


PAPER: Final = Protocol(
    "paper",
    "the paper's grouping (Baetens et al. 2019) with stacgen score's defaults",
    "stacgen score's defaults: reference cloud = low + high clouds (2, 3), shadow = 4, clear = "
    "land, water, snow (5, 6, 7), no data (0) and class 1 ignored; the mask on the 60 m "
    "reference grid by majority, no dilation. Comparisons: invalid (cloud or shadow vs clear), "
    "cloud (vs clear), shadow (vs clear). The grouping of classes and the 60 m grid are the "
    "paper's; majority resampling and no dilation are stacgen's choices (the paper's methods "
    "section is in no copy stacgen could read), so these figures are comparable with each "
    "other, not necessarily with the paper's tables.",
    ("invalid", "cloud", "shadow"),
    PAPER_METRICS,
    (
        Column("invalid", "overall_accuracy"),
        Column("invalid", "balanced_accuracy"),
        Column("invalid", "f1"),
        Column("invalid", "kappa"),
        Column("invalid", "precision"),
        Column("invalid", "recall"),
        Column("cloud", "precision"),
        Column("cloud", "recall"),
        Column("shadow", "precision"),
        Column("shadow", "recall"),
    ),
    ("invalid", "precision", "recall"),
    {
        "invalid": "cloud or shadow against clear",
        "cloud": "cloud against clear; the reference's shadow pixels not counted",
        "shadow": "shadow against clear; the reference's cloud pixels not counted",
    },
)
CMIX: Final = Protocol(
    "cmix",
    "CMIX (Skakun et al. 2022)",
    "reference cloud = low + high clouds (2, 3); every other valid pixel, shadow (4) included, "
    "is not cloud, on both sides; no data (0) and class 1 ignored; the mask on the 60 m "
    "reference grid by stacgen score's majority rule, no dilation. Metrics pooled over all "
    "valid pixels of all scenes.",
    ("cloud",),
    CMIX_METRICS,
    tuple(Column("cloud", m) for m in CMIX_METRICS),
    ("cloud", "users_accuracy_cloud", "producers_accuracy_cloud"),
    {"cloud": "cloud against not cloud (clear or shadow), on both sides"},
)
BY_NAME: Final[dict[str, Protocol]] = {"paper": PAPER, "cmix": CMIX}
