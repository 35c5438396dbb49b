"""stacgen.raster.grid against rasterio's own window and transform arithmetic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.windows
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from stacgen.raster.grid import Grid

LABEL = Grid(CRS.from_epsg(32631), Affine(60.0, 0, 600000.0, 0, -60.0, 4900020.0), 1830, 1830)


def test_of_a_dataset_and_from_proj_agree(tmp_path: Path) -> None:
    path = tmp_path / "g.tif"
    profile = dict(driver="GTiff", width=1830, height=1830, count=1, dtype="uint8")
    with rasterio.open(path, "w", crs=LABEL.crs, transform=LABEL.transform, **profile) as dst:
        dst.write(np.zeros((1, 1830, 1830), np.uint8))
    with rasterio.open(path) as src:
        grid = Grid.of(src)
        assert grid.bounds == tuple(src.bounds)
    assert grid == LABEL
    assert Grid.from_proj("EPSG:32631", LABEL.proj_transform, [1830, 1830]) == LABEL
    assert Grid.from_proj(32631, LABEL.proj_transform, [1830, 1830]) == LABEL
    assert (LABEL.epsg, LABEL.shape, LABEL.resolution) == (32631, (1830, 1830), 60.0)


def test_a_window_is_rasterios_window_transform() -> None:
    w = Window(100, 250, 256, 128)
    sub = LABEL.window(w)
    assert sub.transform == rasterio.windows.transform(w, LABEL.transform)
    assert (sub.width, sub.height) == (256, 128)
    assert sub.offset_in(LABEL) == (250, 100)


@pytest.mark.parametrize("factor", [1, 3, 6])
def test_refined_grids_cover_the_same_extent(factor: int) -> None:
    fine = LABEL.refined(factor)
    assert fine.bounds == LABEL.bounds
    assert fine.resolution == pytest.approx(60.0 / factor)
    assert fine.factor_in(LABEL) == factor
    # any window of the fine grid still nests in the coarse cells; half a fine pixel off does not
    assert fine.window(Window(1, 2, 10, 10)).factor_in(LABEL) == factor
    half = Grid(fine.crs, fine.transform * Affine.translation(0.5, 0), 10, 10)
    assert half.factor_in(LABEL) is None


def test_grids_that_do_not_line_up() -> None:
    shifted = Grid(LABEL.crs, LABEL.transform * Affine.translation(0.5, 0), 10, 10)
    assert shifted.offset_in(LABEL) is None
    other_crs = Grid(CRS.from_epsg(32632), LABEL.transform, 10, 10)
    assert other_crs.offset_in(LABEL) is None
    assert other_crs.factor_in(LABEL) is None
    assert not LABEL.contains(other_crs)
    assert LABEL.contains(LABEL.window(Window(1800, 1800, 30, 30)))
    assert not LABEL.contains(LABEL.window(Window(1800, 1800, 31, 30)))
    with pytest.raises(ValueError, match="not a positive integer"):
        LABEL.refined(0)
