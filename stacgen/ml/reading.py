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
import rasterio.env
from rasterio.windows import Window

from stacgen.ml.errors import ChipsError
from stacgen.raster.grid import ALIGN_TOLERANCE_PX, Grid

MAX_OPEN = 512  # datasets kept open per process (13 bands and a label per scene)
GDAL_OPTIONS = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"}
# GDAL's block cache (per process, 5% of the RAM by default) in a worker process of a Chips
# (a DataLoader's, or `stacgen chips export`), unless GDAL_CACHEMAX is set: a chip touches a
# few tiles of each band, and a chip read again an epoch later finds its tiles gone anyway, so
# a larger cache only makes every worker bigger. Set once per process: setting it per chip
# costs more than reading the chip.
CACHE_MIB = 128
_cache_limited = False


def limit_cache() -> None:
    """Hold GDAL's block cache of this process to CACHE_MIB (unless GDAL_CACHEMAX is set)."""
    global _cache_limited
    if not _cache_limited and "GDAL_CACHEMAX" not in os.environ:
        rasterio.env.set_gdal_config("GDAL_CACHEMAX", CACHE_MIB)
    _cache_limited = True


class Handles:
    """Open rasterio datasets by path, per process: reopened after a fork, never pickled."""

    def __init__(self) -> None:
        self._pid = os.getpid()
        self._open: OrderedDict[str, Any] = OrderedDict()

    def __getstate__(self) -> dict[str, Any]:
        return {"parent": self._pid}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]
        if state.get("parent") != self._pid:  # unpickled in a (spawned) worker process
            limit_cache()

    def get(self, path: str) -> Any:
        if self._pid != os.getpid():  # a forked child: the parent's handles are not its own
            self._open = OrderedDict()
            self._pid = os.getpid()
            limit_cache()
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
    # One strided slice per position in the block, added whole: numpy reduces a reshaped
    # (h, k, w, k) array along its short axes several times slower. Integer sums for 8 and 16
    # bit DN (36 x 65535 fits in 32 bits), exact.
    small = pixels.dtype.kind == "u" and pixels.dtype.itemsize <= 2
    total = np.zeros((h, w), dtype=np.uint32 if small else np.float64)
    parts = [pixels[i : h * factor : factor, j : w * factor : factor] for i in range(factor)
             for j in range(factor)]  # fmt: skip
    for part in parts:
        total += part
    mean = np.zeros((h, w), dtype=np.float64)
    if np.all(pixels[: h * factor, : w * factor]):  # no pixel without data: the plain mean
        np.divide(total, factor * factor, out=mean)
        return mean
    count = np.zeros((h, w), dtype=np.uint16)
    for part in parts:
        count += part != 0
    np.divide(total, count, out=mean, where=count > 0)
    return mean
