"""The pixel grid: one definition for the labels, the imagery, the masks scored and the chips.

A Grid is a north-up raster grid: its CRS, its affine transform and its size. The label grid
of an item is 1830 x 1830 at 60 m in the tile's UTM zone; the imagery's 20 m and 10 m grids are
the same extent `refined` by 3 and 6; a window of a grid (what a score or a chip reads) is a
Grid too, with its offset in the parent given by `offset_in`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

# How far (in pixels of the finer grid) two grids' origins may differ and still be aligned:
# transforms read back from JSON or GeoTIFF tags carry float noise far below this.
ALIGN_TOLERANCE_PX = 1e-6


@dataclass(frozen=True)
class Grid:
    """A north-up pixel grid: CRS, affine transform (pixel corner to map) and size."""

    crs: CRS
    transform: Affine
    width: int
    height: int

    @classmethod
    def of(cls, dataset: Any) -> Grid:
        """The grid of an open rasterio dataset."""
        return cls(
            CRS.from_user_input(dataset.crs), dataset.transform, dataset.width, dataset.height
        )

    @classmethod
    def from_proj(cls, code: str | int, transform: list[float], shape: list[int]) -> Grid:
        """From an item's `proj:code` (or EPSG number), `proj:transform` and `proj:shape`."""
        crs = CRS.from_epsg(code) if isinstance(code, int) else CRS.from_user_input(code)
        return cls(crs, Affine(*transform[:6]), int(shape[1]), int(shape[0]))

    @property
    def epsg(self) -> int | None:
        code = self.crs.to_epsg()
        return int(code) if code is not None else None

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width), as numpy and `proj:shape` order them."""
        return (self.height, self.width)

    @property
    def resolution(self) -> float:
        return abs(self.transform.a)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in the grid's CRS."""
        left, top = self.transform * (0, 0)
        right, bottom = self.transform * (self.width, self.height)
        return (min(left, right), min(top, bottom), max(left, right), max(top, bottom))

    @property
    def proj_transform(self) -> list[float]:
        """The 6 coefficients `proj:transform` holds."""
        return list(self.transform)[:6]

    def window(self, window: Window) -> Grid:
        """The grid of a window of this one (offsets and size in whole pixels)."""
        col, row = int(window.col_off), int(window.row_off)
        return Grid(
            self.crs,
            self.transform * Affine.translation(col, row),
            int(window.width),
            int(window.height),
        )

    def refined(self, factor: int) -> Grid:
        """The same extent with `factor` x `factor` pixels in each cell (60 m -> 20 m: 3)."""
        if factor < 1:
            raise ValueError(f"refinement factor {factor} is not a positive integer")
        return Grid(
            self.crs,
            self.transform * Affine.scale(1 / factor),
            self.width * factor,
            self.height * factor,
        )

    def offset_in(self, parent: Grid) -> tuple[int, int] | None:
        """(row, col) of this grid's first pixel in `parent`, if both share pixel size and
        alignment (and CRS); None otherwise."""
        if self.crs != parent.crs or not _same_pixel(self.transform, parent.transform):
            return None
        col, row = ~parent.transform * (self.transform.c, self.transform.f)
        if abs(col - round(col)) > ALIGN_TOLERANCE_PX or abs(row - round(row)) > ALIGN_TOLERANCE_PX:
            return None
        return (round(row), round(col))

    def factor_in(self, coarse: Grid) -> int | None:
        """How many of this grid's pixels a pixel of `coarse` holds along each axis, if this
        grid's pixels nest in `coarse`'s cells (same CRS, every coarse pixel edge on an edge of
        this grid: the origin may sit on any of this grid's pixel edges, not only a cell's)."""
        if self.crs != coarse.crs:
            return None
        ratio = coarse.resolution / self.resolution
        factor = round(ratio)
        if factor < 1 or abs(ratio - factor) > ALIGN_TOLERANCE_PX * factor:
            return None
        col, row = ~coarse.transform * (self.transform.c, self.transform.f)
        col_px, row_px = col * factor, row * factor
        if not (_whole(col_px) and _whole(row_px)):
            return None
        return factor

    def contains(self, other: Grid) -> bool:
        """Whether `other` lies wholly inside this grid's bounds (same CRS)."""
        if self.crs != other.crs:
            return False
        l0, b0, r0, t0 = self.bounds
        l1, b1, r1, t1 = other.bounds
        eps = ALIGN_TOLERANCE_PX * self.resolution
        return l1 >= l0 - eps and b1 >= b0 - eps and r1 <= r0 + eps and t1 <= t0 + eps


def _same_pixel(a: Affine, b: Affine) -> bool:
    return all(
        math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9)
        for x, y in ((a.a, b.a), (a.b, b.b), (a.d, b.d), (a.e, b.e))
    )


def _whole(value: float) -> bool:
    return abs(value - round(value)) <= ALIGN_TOLERANCE_PX
