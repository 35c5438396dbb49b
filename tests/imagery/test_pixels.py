"""stacgen.imagery.pixels: bands of a synthetic SAFE onto the label grid, against numpy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import rasterio
from affine import Affine

from stacgen.imagery import pixels
from stacgen.imagery.located import ImageryError
from stacgen.raster.grid import Grid
from stacgen.testing.safe import SafeSpec, band_values, write_safe
from tests.imagery.conftest import COMPACT


def _expected_mean(
    dn: npt.NDArray[np.uint16], factor: int, offset: int = 0
) -> npt.NDArray[np.uint16]:
    """Float arithmetic, cell by cell in numpy: the mean of the non-zero pixels, half up."""
    values = dn.astype(np.float64)
    valid = values > 0
    values = np.where(valid, np.clip(values + offset, 1, None), 0)
    h, w = dn.shape[0] // factor, dn.shape[1] // factor
    sums = values.reshape(h, factor, w, factor).sum(axis=(1, 3))
    counts = valid.reshape(h, factor, w, factor).sum(axis=(1, 3))
    mean = np.floor(np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0) + 0.5)
    result: npt.NDArray[np.uint16] = mean.astype(np.uint16)
    return result


@pytest.fixture
def safe(grid60: Grid, tmp_path: Path) -> tuple[SafeSpec, Path]:
    spec = SafeSpec(COMPACT, "31TFJ", grid60, bands=("B01", "B02", "B05"))
    written = write_safe(spec, tmp_path / "safes")
    return spec, written.path


@pytest.mark.parametrize(("band", "factor"), [("B02", 6), ("B05", 3), ("B01", 1)])
def test_label_grid_is_the_mean_of_the_valid_pixels(
    safe: tuple[SafeSpec, Path], grid60: Grid, tmp_path: Path, band: str, factor: int
) -> None:
    spec, folder = safe
    jp2 = next(folder.rglob(f"*_{band}.jp2"))
    result = pixels.label_band(str(jp2), grid60, 0, tmp_path / "out.tif", {})
    with rasterio.open(tmp_path / "out.tif") as src:
        got = src.read(1)
        assert (src.dtypes, src.nodata, src.shape) == (("uint16",), 0, grid60.shape)
        assert Grid.of(src).offset_in(grid60) == (0, 0)
    source = band_values(spec, band)
    assert got.tolist() == _expected_mean(source, factor).tolist()
    assert (got[:, :3] == 0).all()  # the west strip without data
    assert result.valid_pixels == np.count_nonzero(got)
    if factor > 1:
        # The scattered 0 pixels matter: counted as data, the means would be lower.
        naive = source.reshape(40, factor, 40, factor).mean(axis=(1, 3))
        assert (np.floor(naive + 0.5)[:, 3:] < got[:, 3:]).any()


def test_a_decimated_read_would_take_the_wavelet_levels(
    safe: tuple[SafeSpec, Path], grid60: Grid
) -> None:
    """Why OVERVIEW_LEVEL=NONE: GDAL answers a 6x decimated read from the JP2's levels."""
    spec, folder = safe
    jp2 = next(folder.rglob("*_B02.jp2"))
    with rasterio.open(jp2) as src:
        assert src.overviews(1)  # the wavelet levels, offered as overviews
        decimated = src.read(
            1, out_shape=grid60.shape, resampling=rasterio.enums.Resampling.average
        )
    expected = _expected_mean(band_values(spec, "B02"), 6)
    assert decimated.tolist() != expected.tolist()


def test_the_offset_of_a_reprocessed_product_is_applied(grid60: Grid, tmp_path: Path) -> None:
    spec = SafeSpec(COMPACT, "31TFJ", grid60, radio_add_offset=-1000, bands=("B02",))
    folder = write_safe(spec, tmp_path).path
    jp2 = next(folder.rglob("*_B02.jp2"))
    result = pixels.label_band(str(jp2), grid60, -1000, tmp_path / "out.tif", {})
    with rasterio.open(tmp_path / "out.tif") as src:
        got = src.read(1)
    source = band_values(spec, "B02")
    assert got.tolist() == _expected_mean(source, 6, -1000).tolist()
    low = (source > 0) & (source <= 1000)
    assert result.clipped == np.count_nonzero(low) > 0


def test_native_grid_keeps_every_pixel(
    safe: tuple[SafeSpec, Path], grid60: Grid, tmp_path: Path
) -> None:
    spec, folder = safe
    jp2 = next(folder.rglob("*_B05.jp2"))
    result = pixels.native_band(str(jp2), grid60, -500, tmp_path / "out.tif", {})
    with rasterio.open(tmp_path / "out.tif") as src:
        got = src.read(1)
        assert src.shape == (120, 120)
        assert src.transform.a == 20.0
        assert src.nodata == 0
    source = band_values(spec, "B05").astype(np.int64)
    expected = np.where(source > 0, np.clip(source - 500, 1, None), 0)
    assert got.tolist() == expected.tolist()
    assert result.grid.shape == (120, 120)
    assert not list(tmp_path.glob(".*"))  # the strips file is gone


def test_a_window_of_the_tile_is_read_where_it_lies(
    safe: tuple[SafeSpec, Path], grid60: Grid, tmp_path: Path
) -> None:
    """A label grid that is a part of the band's extent reads the pixels at its place."""
    spec, folder = safe
    jp2 = next(folder.rglob("*_B02.jp2"))
    part = Grid(grid60.crs, grid60.transform * Affine.translation(10, 20), 16, 12)
    pixels.label_band(str(jp2), part, 0, tmp_path / "out.tif", {})
    with rasterio.open(tmp_path / "out.tif") as src:
        got = src.read(1)
    whole = _expected_mean(band_values(spec, "B02"), 6)
    assert got.tolist() == whole[20:32, 10:26].tolist()


def test_a_grid_that_does_not_nest_is_refused(
    safe: tuple[SafeSpec, Path], grid60: Grid, tmp_path: Path
) -> None:
    _, folder = safe
    jp2 = next(folder.rglob("*_B02.jp2"))
    shifted = Grid(grid60.crs, grid60.transform * Affine.translation(0.25, 0), 8, 8)
    with pytest.raises(ImageryError, match="does not hold the label grid"):
        pixels.label_band(str(jp2), shifted, 0, tmp_path / "out.tif", {})
    assert not (tmp_path / "out.tif").exists()
