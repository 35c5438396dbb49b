"""A scene's label rasters as the catalog carries them: the class, confidence and visual COGs,
and the thumbnail, each in the authors' class colours where it shows classes.

Overview resampling is chosen per meaning: `mode` for class values (never averaged), `average`
for the confidence, `nearest` for the colourised picture (every overview pixel stays one of the
class colours).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
from rasterio.enums import ColorInterp

from stacgen import constants
from stacgen.assemble.labels import ClassArray
from stacgen.raster.cog import write_cog
from stacgen.raster.grid import Grid
from stacgen.raster.png import png_bytes

THUMBNAIL_SIZE = 256

# Index = class value; RGBA for the visual COG and the thumbnail (no data transparent).
CLASS_RGBA: npt.NDArray[np.uint8] = np.array(
    [(*c.shown_rgb, 0 if c.value == constants.NODATA else 255) for c in constants.CLASSES],
    dtype=np.uint8,
)
COLORMAP: dict[int, tuple[int, int, int, int]] = {
    c.value: (*c.shown_rgb, 255) for c in constants.CLASSES
}
RGBA_INTERP = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]


def write_classification(classes: ClassArray, grid: Grid, dst: Path) -> None:
    """The class raster, values untouched, nodata 0, the class colours as its palette."""
    bands = classes[np.newaxis]
    write_cog(dst, bands, grid, "mode", colormap=COLORMAP, nodata=constants.NODATA)


def write_confidence(confidence: ClassArray, grid: Grid, dst: Path) -> None:
    """The confidence, already set to nodata (0) wherever the classification has no data."""
    bands = confidence[np.newaxis]
    write_cog(dst, bands, grid, "average", nodata=constants.NODATA, predictor=2)


def colourise(classes: ClassArray) -> npt.NDArray[np.uint8]:
    """RGBA bands (4, H, W) of the class colours; alpha 0 on no data."""
    # A lookup per band gives the bands-first layout directly (no copy of a moved axis).
    return np.stack([CLASS_RGBA[:, band][classes] for band in range(4)])


def write_visual(classes: ClassArray, grid: Grid, dst: Path) -> None:
    """RGBA in the class colours, so a web map shows the classes without reading a palette."""
    write_cog(dst, colourise(classes), grid, "nearest", colorinterp=RGBA_INTERP)


def thumbnail_pixels(classes: ClassArray, size: int = THUMBNAIL_SIZE) -> ClassArray:
    """Nearest-neighbour sample of the classes on a size x size grid (pixel centres)."""
    rows = ((np.arange(size) + 0.5) * classes.shape[0] / size).astype(np.intp)
    cols = ((np.arange(size) + 0.5) * classes.shape[1] / size).astype(np.intp)
    small: ClassArray = classes[np.ix_(rows, cols)]
    return small


def write_thumbnail(classes: ClassArray, dst: Path, size: int = THUMBNAIL_SIZE) -> None:
    dst.write_bytes(png_bytes(colourise(thumbnail_pixels(classes, size))))
