"""stacgen.assemble.rasters: the label COGs and the thumbnail, in ALCD.md's class colours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
import rasterio.crs
from rasterio.transform import from_origin

from stacgen.assemble import rasters
from stacgen.raster.grid import Grid
from tests.png_decoder import png_pixels


def test_thumbnail_is_a_png_of_the_class_colours(tmp_path: Path) -> None:
    classes = np.array([[0, 2], [5, 7]], dtype=np.uint8)
    rasters.write_thumbnail(classes, tmp_path / "t.png", size=2)
    pixels = png_pixels((tmp_path / "t.png").read_bytes())
    # land (value 5) is 0,151,56 in ALCD.md's class table; no data is transparent.
    assert tuple(pixels[:, 1, 0]) == (0, 151, 56, 255)
    assert pixels[3, 0, 0] == 0


def test_classification_keeps_its_values_with_the_authors_palette(tmp_path: Path) -> None:
    grid = Grid(rasterio.crs.CRS.from_epsg(32631), from_origin(600000, 4900020, 60, 60), 600, 600)
    classes = np.full((600, 600), 5, dtype=np.uint8)
    classes[:10] = 0
    rasters.write_classification(classes, grid, tmp_path / "c.tif")
    with rasterio.open(tmp_path / "c.tif") as src:
        assert np.array_equal(src.read(1), classes)
        assert src.nodata == 0
        # ALCD.md: land is 0,151,56, water 0,142,208.
        assert src.colormap(1)[5] == (0, 151, 56, 255)
        assert src.colormap(1)[6] == (0, 142, 208, 255)
        # Snow in the purple of the authors' contour pictures (ALCD.md: 196,86,199), not the
        # dark grey of their maps, which the near-black shadows (10,10,10) sit next to.
        assert src.colormap(1)[7] == (196, 86, 199, 255)
        assert src.colormap(1)[4] == (10, 10, 10, 255)
        assert src.tags()["OVERVIEW_RESAMPLING"] == "MODE"
        assert src.overviews(1)
