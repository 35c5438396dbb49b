"""PNG pictures (thumbnails, agreement maps, the synthetic archive's contours), in memory."""

from __future__ import annotations

import warnings

import numpy as np
import numpy.typing as npt
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile


def png_bytes(bands: npt.NDArray[np.uint8]) -> bytes:
    """An 8-bit PNG of `bands` (band, row, column: 1 grey, 3 RGB or 4 RGBA), as bytes.

    Written in memory, so no GDAL sidecar (.aux.xml, world file) lands beside the file.
    """
    count, height, width = bands.shape
    with warnings.catch_warnings():
        # A picture, not a map: no transform on purpose.
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with MemoryFile() as mem:
            with mem.open(
                driver="PNG", width=width, height=height, count=count, dtype="uint8"
            ) as png:
                png.write(bands)
            return bytes(mem.read())
