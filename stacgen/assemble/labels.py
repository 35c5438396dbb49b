"""What the label raster says: its grid, the pixel count of every class, its footprint."""

from __future__ import annotations

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
from stacgen.layout.labels import COORD_DECIMALS
from stacgen.layout.outputs import LabelStats
from stacgen.raster.grid import Grid

ClassArray = npt.NDArray[np.uint8]
MAX_SEGMENT_M = 10_000.0


class LabelError(Exception):
    """The label raster holds something the class table does not allow."""


def read_classes(path: Path) -> tuple[ClassArray, Grid]:
    """The class values and grid; a value outside the class table is an error."""
    with rasterio.open(path) as src:
        data: ClassArray = src.read(1)
        grid = Grid.of(src)
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
    valid = classes != constants.NODATA
    native = valid_region(valid, grid.transform)
    if native is None:
        return None
    native = native.simplify(grid.resolution, preserve_topology=True)
    # A straight edge in UTM is a curve in lon/lat: short segments keep the WGS84 polygon
    # within a few metres of the true footprint (a 110 km chord is off by over 100 m).
    native = shapely.segmentize(native, MAX_SEGMENT_M)
    wgs84 = rasterio.warp.transform_geom(
        grid.crs, "EPSG:4326", shapely.geometry.mapping(native), precision=COORD_DECIMALS
    )
    shape = shapely.make_valid(shapely.geometry.shape(wgs84))
    shape = shapely.orient_polygons(shape)
    return dict(shapely.geometry.mapping(shape))


def valid_region(valid: npt.NDArray[np.bool_], transform: Affine) -> shapely.Geometry | None:
    """The union of the valid pixels' squares, in the raster's CRS; None if none is valid."""
    region = _row_convex_region(valid, transform)
    if region is not None:
        return region
    mask = valid.astype(np.uint8)
    polygons = [
        shapely.geometry.shape(geom)
        for geom, value in rasterio.features.shapes(mask, mask=mask, transform=transform)
        if value == 1
    ]
    return shapely.unary_union(polygons) if polygons else None


def _row_convex_region(valid: npt.NDArray[np.bool_], transform: Affine) -> shapely.Polygon | None:
    """The region traced from each row's first and last valid pixel, when that is exact.

    A Sentinel-2 tile's valid pixels are the tile cut by straight swath edges: one run per row,
    on consecutive rows that overlap. Then its outline is the left and right staircases, found
    in a few array passes where GDAL's polygonize (the fallback for any other shape, holes
    included) takes ten times as long.
    """
    rows = np.flatnonzero(valid.any(axis=1))
    if rows.size == 0 or rows[-1] - rows[0] + 1 != rows.size:
        return None
    runs = valid[rows[0] : rows[-1] + 1]
    first = runs.argmax(axis=1)
    end = runs.shape[1] - runs[:, ::-1].argmax(axis=1)  # one past the last valid pixel
    one_run = np.array_equal(runs.sum(axis=1), end - first)
    if not one_run or np.any(np.maximum(first[1:], first[:-1]) >= np.minimum(end[1:], end[:-1])):
        return None
    top, bottom = rows.astype(np.float64), rows.astype(np.float64) + 1
    # From the top-left corner down the left staircase and back up the right one, as GDAL
    # traces it: the same start and direction give the same simplified outline.
    xs = np.concatenate([np.repeat(first, 2), np.repeat(end[::-1], 2)]).astype(np.float64)
    ys = np.concatenate(
        [np.column_stack([top, bottom]).ravel(), np.column_stack([bottom, top])[::-1].ravel()]
    )
    a, b, c, d, e, f = transform[:6]
    ring = np.column_stack([a * xs + b * ys + c, d * xs + e * ys + f])
    polygon: shapely.Polygon = shapely.remove_repeated_points(shapely.Polygon(ring))
    return polygon
