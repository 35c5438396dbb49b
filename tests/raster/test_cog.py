"""stacgen.raster.cog: COGs read back with rasterio and validated by rio-cogeo itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
import rasterio.crs
from rasterio.transform import from_origin
from rio_cogeo.cogeo import cog_validate

from stacgen.raster import cog
from stacgen.raster.grid import Grid

GRID = Grid(rasterio.crs.CRS.from_epsg(32631), from_origin(600000, 4900020, 60, 60), 600, 600)


def test_write_cog_holds_the_bands_on_the_grid(tmp_path: Path) -> None:
    bands = np.random.default_rng(7).integers(0, 256, size=(2, 600, 600), dtype=np.uint8)
    before = dict(cog.BASE_PROFILE)
    cog.write_cog(tmp_path / "c.tif", bands, GRID, "average", nodata=0)
    assert before == cog.BASE_PROFILE  # each output changes a copy
    with rasterio.open(tmp_path / "c.tif") as src:
        assert np.array_equal(src.read(), bands)
        assert (src.crs, src.transform, src.nodata) == (GRID.crs, GRID.transform, 0)
        assert src.tags()["OVERVIEW_RESAMPLING"] == "AVERAGE"
        assert src.overviews(1)
    valid, errors, warnings = cog_validate(tmp_path / "c.tif", quiet=True)
    assert (valid, errors, warnings) == (True, [], [])
    assert cog.cog_problems(tmp_path / "c.tif") == []


def test_cog_problems_names_a_plain_tiff(tmp_path: Path) -> None:
    path = tmp_path / "plain.tif"
    profile = {"driver": "GTiff", "width": 1024, "height": 1024, "count": 1, "dtype": "uint8"}
    profile |= {"crs": "EPSG:32631", "transform": from_origin(600000, 4900020, 60, 60)}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.zeros((1, 1024, 1024), dtype=np.uint8))
    assert any("COG" in p for p in cog.cog_problems(path))
    assert cog.cog_problems(tmp_path / "missing.tif")[0].startswith("not a readable GeoTIFF")
