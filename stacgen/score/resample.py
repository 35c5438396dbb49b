"""Bringing a user's mask onto the reference grid, group by group.

The mask is decoded at its own resolution (values -> clear / cloud / shadow / no data), then
each reference cell gets one group by the rules of `rules.py`. Three ways, fastest first:
- an 8-bit mask on the reference's CRS whose pixel divides the reference pixel 1, 2 or 3 times
  and lines up with its grid: table look-ups (`cells.py`);
- any other mask lined up that way: counts of each group per cell in numpy (exact shares),
  read and reduced chunk by chunk on the same threads (`cells.in_chunks`);
  "lined up" within SNAP_PX of a mask pixel;
- anything else is warped with GDAL: average resampling of each group's 0/1 layer, the mask
  padded with no data to the window's bounds, gives the shares (so that the part of a cell the
  mask does not cover counts as no data, as on the exact paths); nearest resampling gives the
  `nearest` rule.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio
import rasterio.warp
from affine import Affine
from rasterio.enums import Resampling

from stacgen.raster.grid import Grid
from stacgen.score.cells import (
    MAX_FACTOR,
    CellReducer,
    Chunk,
    OnRows,
    by_tables,
    chunks,
    clip,
    in_chunks,
)
from stacgen.score.codes import CLEAR, CLOUD, NODATA, SHADOW, Groups
from stacgen.score.decoding import Decoder
from stacgen.score.rules import PRIORITY, Method, choose

# How far (in mask pixels) a mask's pixel edges may sit from the reference's subdivision and
# still take the exact paths: 1 % of a pixel (20 cm at 20 m), far below Sentinel-2's
# geolocation; GDAL's warp of a mask moved by less would only turn float noise into ties.
SNAP_PX = 0.01


def to_reference(
    ds: rasterio.io.DatasetReader,
    band: int,
    decode: Decoder,
    target: Grid,
    method: Method,
    on_rows: OnRows | None = None,
) -> Groups:
    """The mask's groups on the target grid (NODATA where the mask does not reach).

    `on_rows(start, stop, groups)` sees every band of target rows once, possibly from another
    thread, as soon as it is done.
    """
    aligned = block_alignment(ds, target)
    if aligned is not None:
        factor, row0, col0 = aligned
        lut = decode.lut_for(np.dtype(ds.dtypes[band - 1]))
        if lut is not None and lut.size == 256 and (factor <= MAX_FACTOR or method == "nearest"):
            reducer = CellReducer(lut, factor, method, decode)
            shape = (target.height, target.width)
            return by_tables(ds, band, reducer, shape, row0, col0, on_rows)
        return _by_blocks(ds, band, decode, target, method, aligned, on_rows)
    out = _by_warping(ds, band, decode, target, method)
    if on_rows is not None:
        on_rows(0, target.height, out)
    return out


def block_alignment(ds: rasterio.io.DatasetReader, target: Grid) -> tuple[int, int, int] | None:
    """(factor, row, col) when each target cell is factor x factor mask pixels, every pixel
    edge of the mask within SNAP_PX of a pixel edge of the target's subdivision, over the
    whole mask (so a mask moved by a hair is scored exactly, not warped)."""
    if ds.crs != target.crs:
        return None
    t, tt = ds.transform, target.transform
    if t.b or t.d or tt.b or tt.d:
        return None
    fx, fy = tt.a / t.a, tt.e / t.e
    factor = round(fx)
    if factor < 1 or factor > 255:
        return None
    col, row = (tt.c - t.c) / t.a, (tt.f - t.f) / t.e
    # A pixel size off by a little drifts over the mask's width: the edge furthest away counts.
    drift = max(abs(fx - factor), abs(fy - factor)) / factor * max(ds.width, ds.height)
    if max(abs(col - round(col)), abs(row - round(row))) + drift > SNAP_PX:
        return None
    return factor, round(row), round(col)


class Packer:
    """Mask values straight to packed group counts: one look-up per pixel.

    Each pixel becomes one integer holding a field per group (PRIORITY order) wide enough for
    factor^2, with 1 in its group's field; summing the integers over a block counts every group
    at once, in a few strided additions. Unlisted values weigh 0 (a block whose fields add up
    short of factor^2 would hide one), so a zero weight sends the pixels to the decoder, which
    names the values.
    """

    def __init__(self, decode: Decoder, dtype: str, factor: int) -> None:
        self.decode, self.factor = decode, factor
        self.bits = 4 if factor * factor < 16 else 8 if factor * factor < 256 else 16
        wide = {4: np.uint16, 8: np.uint32, 16: np.uint64}[self.bits]
        by_group = np.zeros(256, dtype=wide)  # UNLISTED (255) weighs 0
        for slot, g in enumerate(PRIORITY):
            by_group[g] = 1 << (self.bits * slot)
        self.by_group = by_group
        lut = decode.lut_for(np.dtype(dtype))
        self.by_value = None if lut is None else by_group[lut]

    def pack(self, raw: npt.NDArray[Any]) -> npt.NDArray[Any]:
        if self.by_value is None:
            return self.by_group[self.decode(raw)]
        packed: npt.NDArray[Any] = self.by_value[raw]
        if not packed.all():
            self.decode(raw)  # an unlisted value weighs 0: raises, naming the values
        return packed

    def read(
        self, ds: rasterio.io.DatasetReader, band: int, chunk: Chunk
    ) -> tuple[npt.NDArray[Any], tuple[int, int, int, int]]:
        """Raw pixels of the chunk clipped to the mask, and where they go."""
        window, place = clip(ds, chunk.row, chunk.col, chunk.shape)
        if window is None:
            return np.zeros((0, 0), dtype=ds.dtypes[band - 1]), place
        return ds.read(band, window=window), place

    def packed(
        self, raw: npt.NDArray[Any], place: tuple[int, int, int, int], shape: tuple[int, int]
    ) -> npt.NDArray[Any]:
        """Packed pixels of the window; NODATA where the mask does not reach."""
        if raw.shape == shape:
            return self.pack(raw)
        out = np.full(shape, self.by_group[NODATA], dtype=self.by_group.dtype)
        if raw.size:
            out[place[0] : place[1], place[2] : place[3]] = self.pack(raw)
        return out

    def counts(self, packed: npt.NDArray[Any], method: Method) -> npt.NDArray[Any]:
        """(4, h, w) pixel counts per group and cell, PRIORITY order."""
        f = self.factor
        # `nearest`: GDAL takes the source pixel under the target cell's centre.
        sums = packed[f // 2 :: f, f // 2 :: f] if method == "nearest" else block_sums(packed, f)
        field = (1 << self.bits) - 1
        return np.stack([(sums >> (self.bits * k)) & field for k in range(len(PRIORITY))])


def _strided_sum(values: npt.NDArray[Any], f: int, axis: int) -> npt.NDArray[Any]:
    """Sum of every f consecutive rows (axis 0) or columns (axis 1)."""

    def part(k: int) -> npt.NDArray[Any]:
        return values[k::f] if axis == 0 else values[:, k::f]

    total = part(0).copy()
    for k in range(1, f):
        total += part(k)
    return total


def block_sums(packed: npt.NDArray[Any], factor: int) -> npt.NDArray[Any]:
    """Sum over each factor x factor block (shape a multiple of factor), by strided additions."""
    return _strided_sum(_strided_sum(packed, factor, axis=0), factor, axis=1)


def _by_blocks(
    ds: rasterio.io.DatasetReader,
    band: int,
    decode: Decoder,
    target: Grid,
    method: Method,
    aligned: tuple[int, int, int],
    on_rows: OnRows | None,
) -> Groups:
    factor, row0, col0 = aligned
    packer = Packer(decode, ds.dtypes[band - 1], factor)
    # `nearest` counts the one pixel it keeps: the majority of one pixel is its group.
    rule: Method = "any" if method == "any" else "majority"

    def reduce(chunk: Chunk, read: tuple[npt.NDArray[Any], tuple[int, int, int, int]]) -> Groups:
        counts = packer.counts(packer.packed(*read, chunk.shape), method)
        return choose(counts, rule, whole=1 if method == "nearest" else factor * factor)

    shape = (target.height, target.width)
    pieces = chunks(*shape, factor, row0, col0)
    return in_chunks(pieces, lambda chunk: packer.read(ds, band, chunk), reduce, shape, on_rows)


def _by_warping(
    ds: rasterio.io.DatasetReader, band: int, decode: Decoder, target: Grid, method: Method
) -> Groups:
    groups = decode(ds.read(band))
    if method == "nearest":
        dst = np.full((target.height, target.width), NODATA, dtype=np.uint8)
        common = _warp_args(ds.transform, ds.crs, target)
        rasterio.warp.reproject(groups, dst, resampling=Resampling.nearest, **common)
        return dst
    # Padded with no data up to the target's bounds: GDAL's average of a cell the mask covers
    # in part is over the covered part only; padded, the uncovered part counts as no data, as
    # on the exact paths.
    (top, bottom), (left, right) = _padding(ds, target)
    padded = np.pad(groups, ((top, bottom), (left, right)), constant_values=NODATA)
    common = _warp_args(ds.transform * Affine.translation(-left, -top), ds.crs, target)
    shares = np.zeros((len(PRIORITY), target.height, target.width), dtype=np.float32)
    for k, g in enumerate(PRIORITY):
        layer = (padded == g).view(np.uint8)
        rasterio.warp.reproject(layer, shares[k], resampling=Resampling.average, **common)
    return choose(shares, method)


def _warp_args(transform: Affine, crs: Any, target: Grid) -> dict[str, Any]:
    return {
        "src_transform": transform,
        "src_crs": crs,
        "dst_transform": target.transform,
        "dst_crs": target.crs,
    }


def _padding(
    ds: rasterio.io.DatasetReader, target: Grid
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Mask pixels to add (top, bottom), (left, right) so that the padded mask covers the
    target's bounds, and one more on each side."""
    left, bottom, right, top = rasterio.warp.transform_bounds(
        target.crs, ds.crs, *target.bounds, densify_pts=21
    )
    inverse = ~ds.transform
    corners = [inverse * (x, y) for x in (left, right) for y in (bottom, top)]
    cols, rows = [c for c, _ in corners], [r for _, r in corners]
    before_rows = max(0, -math.floor(min(rows))) + 1
    after_rows = max(0, math.ceil(max(rows)) - ds.height) + 1
    before_cols = max(0, -math.floor(min(cols))) + 1
    after_cols = max(0, math.ceil(max(cols)) - ds.width) + 1
    return (before_rows, after_rows), (before_cols, after_cols)


def dilate(groups: Groups, cloud: int, shadow: int) -> Groups:
    """Grow cloud over clear and shadow by `cloud` cells, shadow over clear by `shadow` cells.

    Square structuring element of (2N+1) cells; no data is never overwritten. A dilation
    beyond the grid's size grows as far as one of that size does, so it is cut there: memory
    stays that of the grid whatever N is asked.
    """
    reach = max(groups.shape, default=0)
    cloud, shadow = min(cloud, reach), min(shadow, reach)
    out = groups.copy()
    grown_cloud = _grow(groups == CLOUD, cloud)
    grown_shadow = _grow(groups == SHADOW, shadow)
    out[grown_cloud & ((groups == CLEAR) | (groups == SHADOW))] = CLOUD
    out[grown_shadow & (out == CLEAR)] = SHADOW
    return out


def _grow(mask: npt.NDArray[np.bool_], n: int) -> npt.NDArray[np.bool_]:
    """Binary dilation by a (2n+1) square, with a summed-area table."""
    if n <= 0:
        return mask
    padded = np.pad(mask.astype(np.int32), n)
    sat = np.pad(padded.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    k = 2 * n + 1
    h, w = mask.shape
    window = sat[k : k + h, k : k + w] - sat[:h, k : k + w] - sat[k : k + h, :w] + sat[:h, :w]
    grown: npt.NDArray[np.bool_] = window > 0
    return grown
