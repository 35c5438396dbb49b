"""What processing one scene gives the item builder: files written, grid, counts, footprint.

Produced by the builder's workers (assemble/process.py), read by the item builder
(stac/items.py): here, below both, so that neither imports the other. Light: the process
collecting the workers' results unpickles these types without importing the raster-writing code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stacgen import constants
from stacgen.raster.grid import Grid
from stacgen.source.scene import Scene


@dataclass(frozen=True)
class LabelStats:
    """Pixel counts per class value 0-7 (index = value)."""

    counts: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def valid(self) -> int:
        return self.total - self.counts[constants.NODATA]

    @property
    def valid_percent(self) -> float:
        return round(100.0 * self.valid / self.total, 4) if self.total else 0.0

    def percentage(self, value: int) -> float:
        """Share of all pixels of the raster, no data included (the classification ext.)."""
        return 100.0 * self.counts[value] / self.total if self.total else 0.0

    def cover(self, values: tuple[int, ...]) -> float | None:
        """Share of the valid (non-zero) pixels in `values`, in percent; None if none is valid."""
        if not self.valid:
            return None
        return round(100.0 * sum(self.counts[v] for v in values) / self.valid, 4)


@dataclass(frozen=True)
class FileInfo:
    """A file written for an asset: its name in the item folder, size and sha256."""

    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class BandStats:
    minimum: float
    maximum: float
    mean: float
    stddev: float
    valid_percent: float


@dataclass(frozen=True)
class SceneOutputs:
    """Everything the item builder needs from the processing of one scene."""

    scene: Scene
    grid: Grid
    stats: LabelStats
    confidence: BandStats | None
    footprint: dict[str, Any]
    files: dict[str, FileInfo]
    sample_count: int
