"""Processors' own assessment dilations as named presets (`--dilate-preset NAME`).

A processor's authors may advise dilating its mask before comparing it with a reference; that
advice is in the processor's pixels. A preset holds it in metres, with where it comes from, and
`cells` converts it to the reference's 60 m cells (rounded up: a dilation of less than a cell
still grows by one), which is what `stacgen score` applies and records in scores.json.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

from stacgen import constants
from stacgen.score.errors import ScoreError


@dataclass(frozen=True)
class DilationPreset:
    """One processor's assessment dilation: cloud and shadow, in metres, and its source."""

    name: str
    cloud_m: float
    shadow_m: float
    source: str

    def cells(self, cell_m: float = constants.PIXEL_SIZE_M) -> tuple[int, int]:
        """(cloud, shadow) in reference cells."""
        return math.ceil(self.cloud_m / cell_m), math.ceil(self.shadow_m / cell_m)

    def describe(self) -> dict[str, Any]:
        cloud, shadow = self.cells()
        return {
            "name": self.name,
            "cloud_m": self.cloud_m,
            "shadow_m": self.shadow_m,
            "cloud_cells": cloud,
            "shadow_cells": shadow,
            "source": self.source,
        }


PRESETS: Final = {
    p.name: p
    for p in (
        DilationPreset(
            "fmask",
            cloud_m=0.0,
            shadow_m=3 * 20.0,
            source=(
                "the FMask authors' advice for assessing FMask against reference masks, as "
                "issue 22 of this project reads it: cloud shadow dilated by 3 FMask pixels "
                "(20 m on Sentinel-2), cloud not dilated"
            ),
        ),
        DilationPreset("none", 0.0, 0.0, "no dilation (the default)"),
    )
}


def preset(name: str) -> DilationPreset:
    """The preset called `name`; anything else is one line listing the presets."""
    if name not in PRESETS:
        raise ScoreError(f"--dilate-preset {name}: not a preset ({', '.join(PRESETS)})")
    return PRESETS[name]
