"""The footprint's region of valid pixels: the fast row-by-row outline against GDAL's polygonize."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
import rasterio.features
import shapely
import shapely.geometry
from affine import Affine

from stacgen.assemble.labels import _row_convex_region, valid_region

Mask = npt.NDArray[np.bool_]
# A 60 m Sentinel-2 grid in UTM, as the ALCD maps have.
TRANSFORM = Affine(60.0, 0.0, 600000.0, 0.0, -60.0, 5100000.0)


def _polygonized(mask: Mask) -> shapely.Geometry:
    """The reference: GDAL's polygonize of the mask, unioned."""
    data = mask.astype(np.uint8)
    shapes = rasterio.features.shapes(data, mask=data, transform=TRANSFORM)
    return shapely.unary_union([shapely.geometry.shape(g) for g, v in shapes if v == 1])


def _grid(size: int = 90) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    rows, cols = np.ogrid[:size, :size]
    return rows, cols


def _swath_left() -> Mask:
    rows, cols = _grid()
    return np.asarray(cols >= 11 + rows * 0.13)


def _wedge() -> Mask:
    rows, cols = _grid()
    return np.asarray(cols - rows <= 40)


def _two_edges() -> Mask:
    rows, cols = _grid()
    return np.asarray((cols > 30 - rows // 3) & (cols < 70 + rows // 5) & (rows >= 7) & (rows < 81))


def _random_runs() -> Mask:
    """One run per row, each overlapping the row above: any such shape is traced exactly."""
    rng = np.random.default_rng(7)
    mask = np.zeros((60, 60), dtype=bool)
    start, stop = 20, 40
    for row in range(5, 55):
        before = start
        start = int(np.clip(start + rng.integers(-6, 7), 0, stop - 1))
        stop = int(np.clip(stop + rng.integers(-6, 7), max(start, before) + 1, 60))
        mask[row, start:stop] = True
    return mask


def _full() -> Mask:
    return np.ones((50, 70), dtype=bool)


def _one_pixel() -> Mask:
    mask = np.zeros((9, 9), dtype=bool)
    mask[4, 6] = True
    return mask


ROW_CONVEX = [_swath_left, _wedge, _two_edges, _random_runs, _full, _one_pixel]


@pytest.mark.parametrize("make", ROW_CONVEX, ids=lambda f: f.__name__.strip("_"))
def test_a_swath_shaped_region_is_traced_exactly(make: Callable[[], Mask]) -> None:
    mask = make()
    traced = _row_convex_region(mask, TRANSFORM)
    assert traced is not None, "this shape must take the fast path"
    assert traced.is_valid
    assert traced.equals(_polygonized(mask))
    assert traced.area == pytest.approx(mask.sum() * 60.0 * 60.0)


def _hole() -> Mask:
    mask = np.ones((40, 40), dtype=bool)
    mask[10:20, 15:25] = False
    return mask


def _two_blobs() -> Mask:
    mask = np.zeros((40, 40), dtype=bool)
    mask[2:10, 2:10] = True
    mask[20:30, 20:30] = True
    return mask


def _corner_touch() -> Mask:
    """Runs on consecutive rows that only touch at a corner: two polygons, not one."""
    mask = np.zeros((10, 10), dtype=bool)
    mask[2:5, 1:4] = True
    mask[5:8, 4:7] = True
    return mask


def _gap_row() -> Mask:
    mask = np.ones((20, 20), dtype=bool)
    mask[9] = False
    return mask


OTHER_SHAPES = [_hole, _two_blobs, _corner_touch, _gap_row]


@pytest.mark.parametrize("make", OTHER_SHAPES, ids=lambda f: f.__name__.strip("_"))
def test_any_other_region_falls_back_to_polygonize(make: Callable[[], Mask]) -> None:
    mask = make()
    assert _row_convex_region(mask, TRANSFORM) is None
    region = valid_region(mask, TRANSFORM)
    assert region is not None
    assert region.equals(_polygonized(mask))


def test_no_valid_pixel_has_no_region() -> None:
    assert valid_region(np.zeros((5, 5), dtype=bool), TRANSFORM) is None
