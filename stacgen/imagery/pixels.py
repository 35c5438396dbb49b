"""One band of a product onto the catalog's grid: read in strips, harmonised, averaged, as a COG.

On the label grid (60 m), a 10 or 20 m band is averaged over the full-resolution pixels of each
label cell that hold data (0 is no data in L1C, though the JP2 files carry no nodata flag); a
cell without any is 0. The mean is rounded half up, in integers, so that it is exact. The band is
read at its full resolution, in strips of whole label rows, and opened with OVERVIEW_LEVEL=NONE:
GDAL offers a JPEG 2000's wavelet resolution levels as overviews and a decimated read takes
them, which is not the mean of the pixels (the issue measured 527 DN for a true 550).

The radiometry is brought to the original baselines' convention (reflectance = DN / 10000): a
product's RADIO_ADD_OFFSET (-1000 from baseline 04.00) is added to every pixel that holds data,
before averaging, and a result below 1 is clipped to 1 so that it does not turn into no data.

On the native grid the band keeps its own pixels (offset applied the same way), written strip
by strip into a tiled GeoTIFF, then copied into a COG: memory stays one strip whatever the size.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import rasterio
import rasterio.shutil
from rasterio.errors import RasterioError
from rasterio.windows import Window

from stacgen.imagery.located import ImageryError
from stacgen.layout.imagery import NODATA
from stacgen.raster.cog import cog_profile
from stacgen.raster.grid import Grid

log = logging.getLogger(__name__)

DN = npt.NDArray[np.uint16]
# Label rows per strip: 256 label rows of a 10 m band are 1536 x 10980 px (34 MB of uint16).
STRIP_LABEL_ROWS: Final = 256
MAX_DN: Final = 65535
# Never the JP2's wavelet levels; no .aux.xml written beside a source.
READ_OPTIONS: Final = {"OVERVIEW_LEVEL": "NONE", "GDAL_PAM_ENABLED": "NO"}


@dataclass(frozen=True)
class BandResult:
    grid: Grid  # the grid written
    valid_pixels: int  # output pixels that hold data
    clipped: int  # source pixels clipped to 1 by the offset


def harmonise(dn: DN, offset: int) -> tuple[DN, int]:
    """DN + offset where there is data, clipped to 1 .. 65535; (values, pixels clipped)."""
    if offset == 0:
        return dn, 0
    valid = dn != NODATA
    shifted = dn.astype(np.int32) + offset
    clipped = int(np.count_nonzero(valid & ((shifted < 1) | (shifted > MAX_DN))))
    out = np.where(valid, np.clip(shifted, 1, MAX_DN), NODATA).astype(np.uint16)
    return out, clipped


def block_mean(dn: DN, factor: int) -> DN:
    """The mean of each `factor` x `factor` block over its non-zero pixels, rounded half up;
    0 where a block holds none."""
    if factor == 1:
        return dn
    rows, cols = dn.shape[0] // factor, dn.shape[1] // factor
    whole = dn[: rows * factor, : cols * factor]
    # Sums and counts of strided slices, `factor` passes per axis: twice as fast as a sum over
    # the axes of a 4-D view, which numpy does element by element. 36 x 65535 fits a uint32.
    valid = whole != NODATA
    col_sums = whole[:, 0::factor].astype(np.uint32)
    col_counts = valid[:, 0::factor].astype(np.uint8)
    for k in range(1, factor):
        col_sums += whole[:, k::factor]
        col_counts += valid[:, k::factor]
    sums, counts = col_sums[0::factor].copy(), col_counts[0::factor].copy()
    for k in range(1, factor):
        sums += col_sums[k::factor]
        counts += col_counts[k::factor]
    safe = np.maximum(counts, 1).astype(np.uint32)
    mean: DN = ((2 * sums + safe) // (2 * safe)).astype(np.uint16)
    mean[counts == 0] = 0
    return mean


@contextmanager
def open_band(path: str, options: dict[str, str]) -> Iterator[Any]:
    """The band file, read at full resolution only; ImageryError names it if GDAL cannot."""
    try:
        with rasterio.Env(**READ_OPTIONS, **options), rasterio.open(path) as src:
            yield src
    except RasterioError as err:
        raise ImageryError(f"{path}: cannot be read ({err})") from None


def source_factor(src_grid: Grid, target: Grid, path: str) -> int:
    """How many source pixels a target pixel holds along each axis; the band must nest."""
    factor = src_grid.factor_in(target)
    if factor is None or not src_grid.contains(target):
        raise ImageryError(
            f"{path}: its grid ({src_grid.crs.to_string()}, {src_grid.resolution:g} m at "
            f"{src_grid.transform.c:g}, {src_grid.transform.f:g}) does not hold the label grid "
            f"({target.crs.to_string()}, {target.resolution:g} m) cell for cell"
        )
    return factor


def _strips(src: Any, target: Grid, factor: int) -> Iterator[tuple[int, DN]]:
    """(first target row, source pixels of whole target rows), strip by strip."""
    col, row = ~src.transform * (target.transform.c, target.transform.f)
    row0, col0 = round(row), round(col)  # whole: source_factor checked the nesting
    for start in range(0, target.height, STRIP_LABEL_ROWS):
        rows = min(STRIP_LABEL_ROWS, target.height - start)
        window = Window(col0, row0 + start * factor, target.width * factor, rows * factor)
        try:
            data = src.read(1, window=window)
        except RasterioError as err:
            raise ImageryError(f"{src.name}: truncated or unreadable ({err})") from None
        yield start, data


def label_band(
    path: str, target: Grid, offset: int, dst: Path, options: dict[str, str]
) -> BandResult:
    """The band at `path` averaged onto `target` (the label grid), written as a COG at `dst`."""
    out = np.zeros(target.shape, dtype=np.uint16)
    clipped = 0
    with open_band(path, options) as src:
        src_grid = Grid.of(src)
        factor = source_factor(src_grid, target, path)
        for start, data in _strips(src, target, factor):
            shifted, n = harmonise(data, offset)
            clipped += n
            mean = block_mean(shifted, factor)
            out[start : start + mean.shape[0]] = mean
    write_uint16_cog(dst, out, target)
    return BandResult(target, int(np.count_nonzero(out)), clipped)


def native_band(
    path: str, label: Grid, offset: int, dst: Path, options: dict[str, str]
) -> BandResult:
    """The band at `path` on its own grid over the label grid's extent, as a COG at `dst`."""
    clipped = valid = 0
    tmp = dst.with_name(f".{dst.name}.strips.tif")
    with open_band(path, options) as src:
        src_grid = Grid.of(src)
        factor = round(label.resolution / src_grid.resolution)
        source_factor(src_grid, label, path)
        grid = label.refined(factor)
        profile = dict(
            driver="GTiff",
            width=grid.width,
            height=grid.height,
            count=1,
            dtype="uint16",
            crs=grid.crs,
            transform=grid.transform,
            nodata=NODATA,
            tiled=True,
            blockxsize=512,
            blockysize=512,
            compress="ZSTD",
            predictor=2,
            BIGTIFF="IF_SAFER",
        )
        try:
            with rasterio.open(tmp, "w", **profile) as out:
                for start, data in _strips(src, label, factor):
                    shifted, n = harmonise(data, offset)
                    clipped, valid = clipped + n, valid + int(np.count_nonzero(shifted))
                    out.write(
                        shifted, 1, window=Window(0, start * factor, grid.width, shifted.shape[0])
                    )
            cog = cog_profile(grid, 1, "average", dtype="uint16", nodata=NODATA)
            options_cog = {k: v for k, v in cog.items() if k not in _NOT_CREATION}
            rasterio.shutil.copy(tmp, dst, **options_cog)
        finally:
            tmp.unlink(missing_ok=True)
    return BandResult(grid, valid, clipped)


# Keys of a rasterio profile that are not COG creation options for rasterio.shutil.copy.
_NOT_CREATION: Final = frozenset(
    {"width", "height", "count", "dtype", "crs", "transform", "nodata"}
)


def write_uint16_cog(dst: Path, band: DN, grid: Grid) -> None:
    """One uint16 band, nodata 0, overviews averaged (a measure), as a COG at `dst`."""
    profile = cog_profile(grid, 1, "average", dtype="uint16", nodata=NODATA)
    with rasterio.open(dst, "w", **profile) as out:
        out.write(band, 1)
        out.update_tags(OVERVIEW_RESAMPLING="AVERAGE")
