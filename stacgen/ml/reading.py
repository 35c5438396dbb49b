"""Reading one chip: a window of the chip grid from a band COG or the label COG.

A chip grid is the label grid refined by 1, 3 or 6 (60, 20, 10 m). A raster on it is read
directly; a coarser one (the label, a 60 m band at 20 m) is read on its own cells and each cell
repeated over its pixels (`numpy.repeat`: the nearest value, never a warp that could shift);
a finer one (a 10 m band at 60 m) is averaged over the valid (non-zero) pixels of each cell,
as the imagery's label grid is made. Datasets are opened once per process and kept open
(`Handles`); a forked or spawned worker opens its own.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio
from rasterio.windows import Window

from stacgen.ml.errors import ChipsError
from stacgen.raster.grid import ALIGN_TOLERANCE_PX, Grid

MAX_OPEN = 512  # datasets kept open per process (13 bands and a label per scene)
GDAL_OPTIONS = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"}


class Handles:
    """Open rasterio datasets by path, per process: reopened after a fork, never pickled."""

    def __init__(self) -> None:
        self._pid = os.getpid()
        self._open: OrderedDict[str, Any] = OrderedDict()

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]

    def get(self, path: str) -> Any:
        if self._pid != os.getpid():  # a forked child: the parent's handles are not its own
            self._open = OrderedDict()
            self._pid = os.getpid()
        dataset = self._open.get(path)
        if dataset is not None:
            self._open.move_to_end(path)
            return dataset
        try:
            with rasterio.Env(**GDAL_OPTIONS):
                dataset = rasterio.open(path)
        except rasterio.errors.RasterioIOError as err:
            raise ChipsError(f"{path}: cannot be read ({err})") from None
        self._open[path] = dataset
        if len(self._open) > MAX_OPEN:
            _, oldest = self._open.popitem(last=False)
            oldest.close()
        return dataset

    def close(self) -> None:
        for dataset in self._open.values():
            dataset.close()
        self._open.clear()


def _origin_in(window: Grid, source: Grid) -> tuple[float, float]:
    """(row, col) of the window's first pixel corner in the source's pixel coordinates."""
    col, row = ~source.transform * (window.transform.c, window.transform.f)
    return row, col


def _floor(value: float) -> int:
    return math.floor(value + ALIGN_TOLERANCE_PX)


def read_onto(dataset: Any, source: Grid, window: Grid) -> npt.NDArray[Any]:
    """Band 1 of `dataset` (on `source`) on the pixels of `window` (a window of a chip grid
    that `source` nests with: same CRS, pixel sizes in a whole ratio, edges on edges)."""
    row, col = _origin_in(window, source)
    coarse = window.factor_in(source)  # source pixels are `coarse` window pixels wide
    if coarse is not None:
        r0, c0 = _floor(row), _floor(col)
        dr, dc = round((row - r0) * coarse), round((col - c0) * coarse)
        nr = math.ceil((dr + window.height) / coarse)
        nc = math.ceil((dc + window.width) / coarse)
        cells = dataset.read(1, window=Window(c0, r0, nc, nr))
        if coarse > 1:
            cells = np.repeat(np.repeat(cells, coarse, axis=0), coarse, axis=1)
        return cells[dr : dr + window.height, dc : dc + window.width]  # type: ignore[no-any-return]
    fine = source.factor_in(window)  # window pixels hold `fine` x `fine` source pixels
    if fine is None:
        raise ChipsError(
            f"{dataset.name}: its grid ({source.resolution:g} m) does not nest with the chip grid "
            f"({window.resolution:g} m)"
        )
    r0, c0 = round(row), round(col)
    pixels = dataset.read(1, window=Window(c0, r0, window.width * fine, window.height * fine))
    return block_mean(pixels, fine)


def block_mean(pixels: npt.NDArray[Any], factor: int) -> npt.NDArray[np.float64]:
    """The mean of the non-zero pixels of each `factor` x `factor` block (0 where none is)."""
    h, w = pixels.shape[0] // factor, pixels.shape[1] // factor
    blocks = pixels.reshape(h, factor, w, factor)
    # Sums along one axis then the other, in integers for 8 and 16 bit DN (36 x 65535 fits in
    # 32 bits): twice as fast as one float64 sum over both axes, and exact.
    small = pixels.dtype.kind == "u" and pixels.dtype.itemsize <= 2
    acc = np.uint32 if small else np.float64
    total = blocks.sum(axis=3, dtype=acc).sum(axis=1, dtype=acc).astype(np.float64)
    count = (blocks != 0).sum(axis=3, dtype=np.uint16).sum(axis=1, dtype=np.uint16)
    mean: npt.NDArray[np.float64] = np.divide(
        total, count, out=np.zeros_like(total), where=count > 0
    )
    return mean
