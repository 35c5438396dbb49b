"""What processing one scene gives the item builder: files written, grid, counts, footprint.

Beside process.py, which produces them, but light: the process collecting the workers' results
unpickles these types without importing the raster-writing code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stacgen.assemble.labels import LabelStats
from stacgen.raster.grid import Grid
from stacgen.source.scene import Scene


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
