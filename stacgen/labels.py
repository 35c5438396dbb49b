"""What the label raster says: its grid, the pixel count of every class, its footprint."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio
import rasterio.features
import rasterio.warp
import shapely
import shapely.geometry
from affine import Affine

from stacgen import constants

ClassArray = npt.NDArray[np.uint8]
COORD_DECIMALS = 7  # about 1 cm: stable output, far below the 60 m pixel
MAX_SEGMENT_M = 10_000.0


class LabelError(Exception):
    """The label raster holds something the class table does not allow."""


@dataclass(frozen=True)
class Grid:
    """The pixel grid shared by every raster of a scene."""

    epsg: int | None
    crs_wkt: str
    transform: tuple[float, ...]
    width: int
    height: int

    @property
    def affine(self) -> Affine:
        return Affine(*self.transform[:6])

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        left, top = self.affine @ (0, 0)
        right, bottom = self.affine @ (self.width, self.height)
        return (min(left, right), min(top, bottom), max(left, right), max(top, bottom))

    @property
    def resolution(self) -> float:
        return abs(self.transform[0])


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


def read_classes(path: Path) -> tuple[ClassArray, Grid]:
    """The class values and grid; a value outside the class table is an error."""
    with rasterio.open(path) as src:
        data: ClassArray = src.read(1)
        grid = Grid(
            epsg=src.crs.to_epsg(),
            crs_wkt=src.crs.to_wkt(),
            transform=tuple(src.transform)[:6],
            width=src.width,
            height=src.height,
        )
    top = int(data.max(initial=0))
    if top >= len(constants.CLASSES):
        bad = sorted(set(np.unique(data).tolist()) - set(constants.CLASS_BY_VALUE))
        raise LabelError(f"{path}: values {bad} are not in the ALCD class table (0-7)")
    return data, grid


def class_stats(classes: ClassArray) -> LabelStats:
    counts = np.bincount(classes.ravel(), minlength=len(constants.CLASSES))
    return LabelStats(tuple(int(c) for c in counts))


def footprint(classes: ClassArray, grid: Grid) -> dict[str, Any] | None:
    """The valid (non-zero) pixels as a WGS84 (Multi)Polygon, simplified to about one pixel."""
    valid = (classes != constants.NODATA).astype(np.uint8)
    polygons = [
        shapely.geometry.shape(geom)
        for geom, value in rasterio.features.shapes(valid, mask=valid, transform=grid.affine)
        if value == 1
    ]
    if not polygons:
        return None
    native = shapely.unary_union(polygons).simplify(grid.resolution, preserve_topology=True)
    # A straight edge in UTM is a curve in lon/lat: short segments keep the WGS84 polygon
    # within a few metres of the true footprint (a 110 km chord is off by over 100 m).
    native = shapely.segmentize(native, MAX_SEGMENT_M)
    wgs84 = rasterio.warp.transform_geom(
        grid.crs_wkt, "EPSG:4326", shapely.geometry.mapping(native), precision=COORD_DECIMALS
    )
    shape = shapely.make_valid(shapely.geometry.shape(wgs84))
    shape = shapely.orient_polygons(shape)
    return dict(shapely.geometry.mapping(shape))


def geojson_bbox(geometry: dict[str, Any]) -> list[float]:
    return [round(v, COORD_DECIMALS) for v in shapely.geometry.shape(geometry).bounds]
