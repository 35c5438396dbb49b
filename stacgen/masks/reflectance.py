"""Top-of-atmosphere reflectance of an item's bands on a detector's grid, one window at a time.

A detector's grid is the label grid refined (`refine` sub-cells a side: 2 gives 30 m) or
coarsened (`coarsen` label cells a side: 2 gives 120 m). Every band grid nests in the label
grid (60 m bands: 1 pixel a cell, 20 m: 3, 10 m: 6), so each target pixel is a whole number of
pixels of a common finer grid, and so is each band pixel: a band is repeated onto that grid and
averaged over each target pixel's valid pixels (DN != nodata). A target pixel without one valid
pixel is invalid. Reflectance = mean DN * scale + offset, the asset's `raster:bands`: the
catalog's DN are harmonised to the original baselines (offset 0), so this is DN / 10000.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import rasterio
from affine import Affine
from rasterio.windows import Window

from stacgen.masks.errors import MasksError
from stacgen.raster.grid import Grid
from stacgen.stac.scenes import BandFile

Float32 = npt.NDArray[np.float32]
Bool = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Target:
    """A detector's grid relative to the label grid: `refine` sub-cells or `coarsen` cells."""

    refine: int = 1
    coarsen: int = 1

    def __post_init__(self) -> None:
        if self.refine < 1 or self.coarsen < 1 or (self.refine > 1 and self.coarsen > 1):
            raise MasksError(f"grid: refine {self.refine} and coarsen {self.coarsen} do not mix")

    @classmethod
    def from_metres(cls, metres: int, label_metres: int = 60) -> Target:
        """`--resolution`: a divisor of the label cell (10, 20, 30, 60) or a multiple of it."""
        if metres > 0 and label_metres % metres == 0:
            return cls(refine=label_metres // metres)
        if metres > 0 and metres % label_metres == 0:
            return cls(coarsen=metres // label_metres)
        raise MasksError(
            f"--resolution {metres}: must divide the {label_metres} m label cell (10, 20, 30, "
            f"60) or be a multiple of it (120, 180 ...)"
        )

    def metres(self, label_metres: int = 60) -> float:
        return label_metres * self.coarsen / self.refine

    def grid(self, label: Grid) -> Grid:
        if self.refine > 1:
            return label.refined(self.refine)
        c = self.coarsen
        transform = label.transform * Affine.scale(c)
        return Grid(label.crs, transform, math.ceil(label.width / c), math.ceil(label.height / c))


def _factor(band: BandFile, label: Grid) -> int:
    """Band pixels a label cell holds along each axis (1, 3, 6), the band aligned on it."""
    factor = band.grid.factor_in(label)
    if factor is None or band.grid.offset_in(label.refined(factor)) != (0, 0):
        raise MasksError(f"{band.path}: band {band.name} is not on the item's label grid")
    return factor


class Reader:
    """The bands of one item, open, read window by window onto the target grid."""

    def __init__(self, bands: Sequence[BandFile], label: Grid, target: Target) -> None:
        self.bands = list(bands)
        self.label = label
        self.target = target
        self.grid = target.grid(label)
        self.factors = [_factor(b, label) for b in self.bands]
        self._open = [rasterio.open(b.path) for b in self.bands]

    def close(self) -> None:
        for ds in self._open:
            ds.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, rows: tuple[int, int], cols: tuple[int, int]) -> tuple[Float32, Bool]:
        """(rows, cols, bands) float32 reflectance of a target window, and where every band
        is valid; invalid pixels read 0 in the bands that have no valid pixel there."""
        shape = (rows[1] - rows[0], cols[1] - cols[0])
        out = np.zeros((*shape, len(self.bands)), dtype=np.float32)
        valid = np.ones(shape, dtype=bool)
        for i, (band, ds, n) in enumerate(zip(self.bands, self._open, self.factors, strict=True)):
            values, ok = self._band(band, ds, n, rows, cols)
            out[..., i] = values
            valid &= ok
        return out, valid

    def _band(
        self, band: BandFile, ds: object, n_band: int, rows: tuple[int, int], cols: tuple[int, int]
    ) -> tuple[Float32, Bool]:
        t = self.target
        fine = math.lcm(n_band, t.refine)  # common sub-cells per label cell
        src = fine // n_band  # common pixels per band pixel
        tgt = fine // t.refine * t.coarsen  # common pixels per target pixel
        dn = _read_fine(
            ds, band, src, (rows[0] * tgt, rows[1] * tgt), (cols[0] * tgt, cols[1] * tgt)
        )
        h, w = rows[1] - rows[0], cols[1] - cols[0]
        ok = dn != band.nodata
        blocks = (h, tgt, w, tgt)
        count = ok.reshape(blocks).sum(axis=(1, 3))
        total = np.where(ok, dn, 0).reshape(blocks).sum(axis=(1, 3), dtype=np.float64)
        mean = total / np.maximum(count, 1)
        values = (mean * band.scale + band.offset).astype(np.float32)
        values[count == 0] = 0
        return values, count > 0


def _read_fine(
    ds: object, band: BandFile, src: int, rows: tuple[int, int], cols: tuple[int, int]
) -> npt.NDArray[np.generic]:
    """Band DN repeated `src` times a side, on common-grid rows/cols; nodata beyond the band."""
    r0, c0 = rows[0] // src, cols[0] // src
    r1, c1 = -(-rows[1] // src), -(-cols[1] // src)
    height, width = band.grid.height, band.grid.width
    window = Window(c0, r0, max(0, min(c1, width) - c0), max(0, min(r1, height) - r0))
    dtype = ds.dtypes[0]  # type: ignore[attr-defined]
    full = np.full((r1 - r0, c1 - c0), band.nodata, dtype=dtype)
    if window.width > 0 and window.height > 0:
        full[: int(window.height), : int(window.width)] = ds.read(1, window=window)  # type: ignore[attr-defined]
    fine = full.repeat(src, axis=0).repeat(src, axis=1)
    return fine[rows[0] - r0 * src : rows[1] - r0 * src, cols[0] - c0 * src : cols[1] - c0 * src]
