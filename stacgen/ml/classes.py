"""The class schemes a chip's mask can be given in: one table, built from the class groups.

Each scheme maps the ALCD values 0-7 of `classification.tif` to training class indices
0 ... n-1, or to `IGNORE_INDEX` (what PyTorch's losses skip by default): `no_data` always,
`not_used` (ALCD's "background", in no published product) unless it is asked for. The groups
(cloud, shadow, clear) are `stacgen.constants`'s, the paper's.

The table of every scheme is README.md's (section "Training chips"; tests/ml/test_classes.py
checks it against `SCHEMES`).

`cloudsen12` follows CloudSEN12's labels (Aybar et al. 2022: 0 clear, 1 thick cloud, 2 thin
cloud, 3 cloud shadow). It is CloudSEN12-like, not CloudSEN12's: ALCD tells low clouds from
high clouds (cirrus), CloudSEN12 opaque from semi-transparent ones; low clouds are taken for
thick and high clouds for thin, which holds for most cirrus but not for a thick high cloud.
With `not_used=True`, value 1 is class 0 of `alcd` and clear in the others (as
k_fold_summary.json counts it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from stacgen import constants

IGNORE_INDEX: Final = -100  # PyTorch's CrossEntropyLoss(ignore_index=-100) default

_VALUE_BY_NAME: Final = {c.name: c.value for c in constants.CLASSES}


@dataclass(frozen=True)
class ClassScheme:
    """Training classes: their names (index order) and the ALCD values each one holds."""

    name: str
    description: str
    classes: tuple[tuple[str, tuple[int, ...]], ...]  # (class name, ALCD values), by index
    not_used_class: str  # the class ALCD value 1 joins when `not_used=True`

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.classes)

    def values(self, not_used: bool = False) -> dict[str, tuple[int, ...]]:
        """Each class's ALCD values (value 1 in `not_used_class` when `not_used`)."""
        unused = constants.NOT_USED_VALUE
        out = {name: tuple(v for v in values if v != unused) for name, values in self.classes}
        if not_used:
            out[self.not_used_class] = (unused, *out[self.not_used_class])
        return out

    def lookup(self, not_used: bool = False) -> npt.NDArray[np.int64]:
        """lut[value] is the class index of an ALCD value 0-255 (IGNORE_INDEX if none)."""
        lut = np.full(256, IGNORE_INDEX, dtype=np.int64)
        for index, name in enumerate(self.names):
            lut[list(self.values(not_used)[name])] = index
        return lut

    def counts(self, alcd_counts: Mapping[str, int], not_used: bool = False) -> list[int]:
        """Pixels per class from per-ALCD-class counts keyed by class name (the items')."""
        by_value = {
            _VALUE_BY_NAME[k]: int(n) for k, n in alcd_counts.items() if k in _VALUE_BY_NAME
        }
        table = self.values(not_used)
        return [sum(by_value.get(v, 0) for v in table[name]) for name in self.names]


def _names(*names: str) -> tuple[int, ...]:
    return tuple(_VALUE_BY_NAME[n] for n in names)


SCHEMES: Final = {
    s.name: s
    for s in (
        ClassScheme(
            "alcd",
            "the 7 ALCD classes, index = value - 1",
            tuple((c.name, (c.value,)) for c in constants.CLASSES if c.value != constants.NODATA),
            "not_used",
        ),
        ClassScheme(
            "binary",
            "cloud or shadow against clear",
            (
                ("clear", constants.CLEAR_VALUES),
                ("cloud_or_shadow", constants.CLOUD_VALUES + constants.SHADOW_VALUES),
            ),
            "clear",
        ),
        ClassScheme(
            "cloud-shadow-clear",
            "clear, cloud, shadow",
            (
                ("clear", constants.CLEAR_VALUES),
                ("cloud", constants.CLOUD_VALUES),
                ("shadow", constants.SHADOW_VALUES),
            ),
            "clear",
        ),
        ClassScheme(
            "cloudsen12",
            "CloudSEN12-like: clear, thick cloud (low clouds), thin cloud (high clouds), shadow",
            (
                ("clear", constants.CLEAR_VALUES),
                ("thick_cloud", _names("low_clouds")),
                ("thin_cloud", _names("high_clouds")),
                ("cloud_shadow", constants.SHADOW_VALUES),
            ),
            "clear",
        ),
    )
}


def scheme(name: str | ClassScheme) -> ClassScheme:
    """The scheme called `name`; anything else is a ValueError naming the choices."""
    if isinstance(name, ClassScheme):
        return name
    if name not in SCHEMES:
        raise ValueError(f"classes {name!r}: not one of {', '.join(SCHEMES)}")
    return SCHEMES[name]


def scheme_names() -> Sequence[str]:
    return tuple(SCHEMES)
