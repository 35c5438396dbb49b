"""Confusion matrices and the metrics derived from them.

Everything starts from one 4 x 4 table of pixel counts: reference group x mask group. The three
comparisons read their matrices from it:
- `invalid`: cloud or shadow against clear (the paper's headline figure);
- `cloud`: cloud against clear, on pixels the reference calls cloud or clear;
- `shadow`: shadow against clear, on pixels the reference calls shadow or clear.
Pixels that either side marks as no data never count. A metric whose denominator is zero is
None with the reason, never a made-up 0 or 1.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from stacgen.score.codes import CLEAR, CLOUD, SHADOW, Groups

COMPARISONS: Final = ("invalid", "cloud", "shadow")
METRICS: Final = (
    "overall_accuracy",
    "precision",
    "recall",
    "f1",
    "specificity",
    "balanced_accuracy",
    "kappa",
)
_POSITIVE: Final = {"invalid": (CLOUD, SHADOW), "cloud": (CLOUD,), "shadow": (SHADOW,)}
_REFERENCE_SET: Final = {
    "invalid": (CLEAR, CLOUD, SHADOW),
    "cloud": (CLEAR, CLOUD),
    "shadow": (CLEAR, SHADOW),
}
_VALID: Final = (CLEAR, CLOUD, SHADOW)

Joint = npt.NDArray[np.int64]


def pairs(reference: Groups, mask: Groups) -> Groups:
    """Per pixel, reference group * 4 + mask group (0-15), in one byte."""
    out: Groups = np.asarray(reference << 2, dtype=np.uint8)
    out |= mask
    return out


class Tally:
    """The joint counts and the pair code of every pixel (`pairs`: reference group * 4 + mask
    group, from which `agreement` draws any comparison's picture), added up band of rows by
    band of rows, from any thread: the fast resampling path tallies each chunk as soon as it is
    reduced. The reference is decoded band by band too (`decode`: its values to groups)."""

    def __init__(
        self, reference: npt.NDArray[np.uint8], decode: Callable[[npt.NDArray[np.uint8]], Groups]
    ) -> None:
        self.reference, self.decode = reference, decode
        self.pairs: Groups = np.zeros_like(reference)
        self.joint: Joint = np.zeros((4, 4), np.int64)
        self._lock = threading.Lock()

    def add(self, start: int, stop: int, mask: Groups) -> None:
        """Rows [start, stop) of the mask's groups on the reference grid."""
        paired = np.ascontiguousarray(pairs(self.decode(self.reference[start:stop]), mask))
        self.pairs[start:stop] = paired
        counts = _count_pairs(paired)
        with self._lock:
            self.joint += counts

    @property
    def agreement(self) -> Groups:
        """The `invalid` comparison's picture (0 ignored, 1 TP, 2 TN, 3 FP, 4 FN)."""
        return agreement(self.pairs, INVALID_AGREEMENT)


def _count_pairs(paired: Groups) -> Joint:
    flat = np.ascontiguousarray(paired).ravel()
    # Two pair codes per 16-bit word: bincount (which casts to intp) has half as many to cast
    # and count; a code in the low byte is a column of the table, in the high byte a row.
    words = flat[: flat.size // 2 * 2].view(np.uint16)
    table = np.bincount(words, minlength=16 << 8)[: 16 << 8].reshape(16, 256)[:, :16]
    counts = table.sum(axis=0) + table.sum(axis=1)
    if flat.size % 2:
        counts[flat[-1]] += 1
    joint: Joint = counts.astype(np.int64).reshape(4, 4)
    return joint


@dataclass(frozen=True)
class Confusion:
    """Pixel counts of one comparison (positive = cloud and/or shadow)."""

    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(
            self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn
        )

    def as_dict(self) -> dict[str, int]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn, "n": self.n}


def confusion(joint: Joint, comparison: str) -> Confusion:
    """The comparison's matrix read from the joint table."""
    positive = _POSITIVE[comparison]
    counts = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    for ref in _REFERENCE_SET[comparison]:
        for user in _VALID:
            ref_pos, user_pos = ref in positive, user in positive
            key = ("t" if ref_pos == user_pos else "f") + ("p" if user_pos else "n")
            counts[key] += int(joint[ref, user])
    return Confusion(**counts)


@dataclass(frozen=True)
class Metrics:
    """Each metric's value, or None and a reason in `undefined`."""

    values: dict[str, float | None]
    undefined: dict[str, str] = field(default_factory=dict)


def _ratio(num: float, den: float, reason: str) -> tuple[float | None, str | None]:
    return (num / den, None) if den else (None, reason)


def metrics(c: Confusion) -> Metrics:
    values: dict[str, float | None] = {}
    undefined: dict[str, str] = {}

    def put(name: str, result: tuple[float | None, str | None]) -> None:
        values[name] = result[0]
        if result[1] is not None:
            undefined[name] = result[1]

    put("overall_accuracy", _ratio(c.tp + c.tn, c.n, "no pixel compared"))
    put("precision", _ratio(c.tp, c.tp + c.fp, "the mask has no positive pixel (tp + fp = 0)"))
    put("recall", _ratio(c.tp, c.tp + c.fn, "the reference has no positive pixel (tp + fn = 0)"))
    put("f1", _ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn, "no positive pixel on either side"))
    put(
        "specificity",
        _ratio(c.tn, c.tn + c.fp, "the reference has no negative pixel (tn + fp = 0)"),
    )
    recall, spec = values["recall"], values["specificity"]
    if recall is None or spec is None:
        put("balanced_accuracy", (None, "recall or specificity is undefined"))
    else:
        put("balanced_accuracy", ((recall + spec) / 2, None))
    put("kappa", _kappa(c))
    return Metrics(values, undefined)


def _kappa(c: Confusion) -> tuple[float | None, str | None]:
    if not c.n:
        return None, "no pixel compared"
    n = float(c.n)
    observed = (c.tp + c.tn) / n
    expected = ((c.tp + c.fp) * (c.tp + c.fn) + (c.fn + c.tn) * (c.fp + c.tn)) / (n * n)
    if math.isclose(expected, 1.0):
        return None, "chance agreement is 1 (both sides have a single class)"
    return (observed - expected) / (1 - expected), None


@dataclass(frozen=True)
class Comparison:
    """One comparison's matrix and metrics; `applicable` False for shadow without a shadow class."""

    name: str
    applicable: bool
    confusion: Confusion
    metrics: Metrics
    reason: str | None = None


def compare(joint: Joint, has_shadow: bool) -> dict[str, Comparison]:
    out: dict[str, Comparison] = {}
    for name in COMPARISONS:
        c = confusion(joint, name)
        if name == "shadow" and not has_shadow:
            empty = Metrics({m: None for m in METRICS}, {m: "not applicable" for m in METRICS})
            why = "the code table has no shadow class"
            out[name] = Comparison(name, False, c, empty, why)
        else:
            out[name] = Comparison(name, True, c, metrics(c))
    return out


@dataclass(frozen=True)
class Pooled:
    """Over several masks: metrics of the summed matrix, and the mean of each metric."""

    summed: dict[str, Comparison]
    mean: dict[str, dict[str, float | None]]
    counted: dict[str, dict[str, int]]


def pool(per_mask: Sequence[dict[str, Comparison]]) -> Pooled:
    summed: dict[str, Comparison] = {}
    mean: dict[str, dict[str, float | None]] = {}
    counted: dict[str, dict[str, int]] = {}
    for name in COMPARISONS:
        applicable = [m[name] for m in per_mask if m[name].applicable]
        if not applicable:
            first = per_mask[0][name]
            summed[name] = first
            mean[name] = {m: None for m in METRICS}
            counted[name] = {m: 0 for m in METRICS}
            continue
        total = _sum(c.confusion for c in applicable)
        summed[name] = Comparison(name, True, total, metrics(total))
        mean[name], counted[name] = {}, {}
        for m in METRICS:
            vals = [v for c in applicable if (v := c.metrics.values[m]) is not None]
            mean[name][m] = sum(vals) / len(vals) if vals else None
            counted[name][m] = len(vals)
    return Pooled(summed, mean, counted)


def _sum(items: Iterable[Confusion]) -> Confusion:
    total = Confusion(0, 0, 0, 0)
    for c in items:
        total = total + c
    return total


def agreement_lut(confusion_of: Callable[[Joint], Confusion]) -> Groups:
    """For each pair code (reference group * 4 + mask group), what a comparison makes of such
    a pixel: 1 TP, 2 TN, 3 FP, 4 FN, or 0 where it does not count it. Read from the rule that
    gives the comparison's matrix (`confusion_of`: joint table -> Confusion), on a table of
    that one pixel, so that a picture and its comparison's counts cannot disagree."""
    lut = np.zeros(16, dtype=np.uint8)
    for code in range(16):
        joint: Joint = np.zeros((4, 4), np.int64)
        joint[code >> 2, code & 3] = 1
        c = confusion_of(joint)
        lut[code] = 1 if c.tp else 2 if c.tn else 3 if c.fp else 4 if c.fn else 0
    return lut


def agreement(pair_codes: Groups, lut: Groups) -> Groups:
    """The agreement codes of a comparison (its `agreement_lut`) for each pixel's pair code."""
    table = np.pad(lut, (0, 256 - lut.size)).tobytes()
    agreed = bytearray(np.ascontiguousarray(pair_codes)).translate(table)
    codes: Groups = np.frombuffer(agreed, np.uint8).reshape(pair_codes.shape)
    return codes


INVALID_AGREEMENT: Final = agreement_lut(lambda joint: confusion(joint, "invalid"))
