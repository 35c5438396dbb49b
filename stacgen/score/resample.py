"""Bringing a user's mask onto the reference grid, group by group.

The mask is decoded at its own resolution (values -> clear / cloud / shadow / no data), then
each reference cell gets one group:
- `majority`: the group with the largest share of the cell (ties: cloud, shadow, clear, no
  data, in that order);
- `any`: cloud if any sub-pixel is cloud, else shadow if any is shadow, else the larger of
  clear and no data;
- `nearest`: the sub-pixel at the cell's centre, as a plain gdalwarp does.
A mask on the reference's CRS whose pixel divides the reference pixel exactly and lines up with
its grid is reduced block by block in numpy (counts of each group per cell: exact shares), read a
band of rows at a time. Anything else is warped with GDAL: average resampling of each group's
0/1 layer gives the shares, nearest resampling the `nearest` rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import rasterio
import rasterio.warp
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.windows import Window

from stacgen.score.codes import CLEAR, CLOUD, NODATA, SHADOW, Groups

Method = Literal["majority", "any", "nearest"]
Decoder = Callable[[npt.NDArray[Any]], Groups]
# Ties in `majority` go to the first group of this order.
PRIORITY: Final = (CLOUD, SHADOW, CLEAR, NODATA)
# Mask rows read at a time on the block path: bounds memory whatever the mask's size.
BLOCK_ROWS: Final = 1024


@dataclass(frozen=True)
class Target:
    """The reference window's grid."""

    crs: CRS
    transform: Affine
    height: int
    width: int


def to_reference(
    ds: rasterio.io.DatasetReader, band: int, decode: Decoder, target: Target, method: Method
) -> Groups:
    """The mask's groups on the target grid (NODATA where the mask does not reach)."""
    aligned = block_alignment(ds, target)
    if aligned is not None:
        return _by_blocks(ds, band, decode, target, method, *aligned)
    return _by_warping(ds, band, decode, target, method)


def block_alignment(ds: rasterio.io.DatasetReader, target: Target) -> tuple[int, int, int] | None:
    """(factor, row, col) when each target cell is exactly factor x factor mask pixels."""
    if ds.crs != target.crs:
        return None
    t, tt = ds.transform, target.transform
    if t.b or t.d or tt.b or tt.d:
        return None
    fx, fy = tt.a / t.a, tt.e / t.e
    factor = round(fx)
    col, row = (tt.c - t.c) / t.a, (tt.f - t.f) / t.e
    exact = [abs(fx - factor), abs(fy - factor), abs(col - round(col)), abs(row - round(row))]
    if factor < 1 or max(exact) > 1e-6:
        return None
    return factor, round(row), round(col)


def _by_blocks(
    ds: rasterio.io.DatasetReader,
    band: int,
    decode: Decoder,
    target: Target,
    method: Method,
    factor: int,
    row0: int,
    col0: int,
) -> Groups:
    out = np.full((target.height, target.width), NODATA, dtype=np.uint8)
    step = max(1, BLOCK_ROWS // factor)
    for i0 in range(0, target.height, step):
        i1 = min(target.height, i0 + step)
        groups = _read_padded(ds, band, decode, row0 + i0 * factor, col0, i1 - i0, target, factor)
        out[i0:i1] = reduce_blocks(groups, factor, method)
    return out


def _read_padded(
    ds: rasterio.io.DatasetReader,
    band: int,
    decode: Decoder,
    row: int,
    col: int,
    cells: int,
    target: Target,
    factor: int,
) -> Groups:
    """Decoded mask pixels under `cells` target rows; NODATA where the mask does not reach."""
    height, width = cells * factor, target.width * factor
    r0, r1 = max(row, 0), min(row + height, ds.height)
    c0, c1 = max(col, 0), min(col + width, ds.width)
    if r0 == row and c0 == col and r1 == row + height and c1 == col + width:
        return decode(ds.read(band, window=Window(c0, r0, c1 - c0, r1 - r0)))
    padded = np.full((height, width), NODATA, dtype=np.uint8)
    if r1 > r0 and c1 > c0:
        window = Window(c0, r0, c1 - c0, r1 - r0)
        padded[r0 - row : r1 - row, c0 - col : c1 - col] = decode(ds.read(band, window=window))
    return padded


def reduce_blocks(groups: Groups, factor: int, method: Method) -> Groups:
    """One group per factor x factor block of `groups` (whose shape is a multiple of factor)."""
    h, w = groups.shape[0] // factor, groups.shape[1] // factor
    if factor == 1:
        return groups
    if method == "nearest":
        # GDAL's nearest takes the source pixel under the target cell's centre.
        centre = factor // 2
        picked: Groups = np.ascontiguousarray(groups[centre::factor, centre::factor])
        return picked
    cells = groups.reshape(h, factor, w, factor)
    counts = np.stack(
        [(cells == g).sum(axis=3, dtype=np.uint16).sum(axis=1, dtype=np.uint16) for g in PRIORITY]
    )
    return choose(counts, method)


def choose(shares: npt.NDArray[Any], method: Method) -> Groups:
    """The group per cell from the shares of each group, stacked in PRIORITY order."""
    codes = np.asarray(PRIORITY, dtype=np.uint8)
    if method == "majority":
        picked: Groups = codes[np.argmax(shares, axis=0)]
        picked[shares.sum(axis=0) == 0] = NODATA
        return picked
    cloud, shadow, clear, nodata = shares
    out = np.where((clear >= nodata) & (clear > 0), CLEAR, NODATA).astype(np.uint8)
    out[shadow > 0] = SHADOW
    out[cloud > 0] = CLOUD
    return out


def _by_warping(
    ds: rasterio.io.DatasetReader, band: int, decode: Decoder, target: Target, method: Method
) -> Groups:
    groups = decode(ds.read(band))
    common: dict[str, Any] = {
        "src_transform": ds.transform,
        "src_crs": ds.crs,
        "dst_transform": target.transform,
        "dst_crs": target.crs,
    }
    if method == "nearest":
        dst = np.full((target.height, target.width), NODATA, dtype=np.uint8)
        rasterio.warp.reproject(groups, dst, resampling=Resampling.nearest, **common)
        return dst
    shares = np.zeros((len(PRIORITY), target.height, target.width), dtype=np.float32)
    for k, g in enumerate(PRIORITY):
        layer = (groups == g).view(np.uint8)
        rasterio.warp.reproject(layer, shares[k], resampling=Resampling.average, **common)
    return choose(shares, method)


def dilate(groups: Groups, cloud: int, shadow: int) -> Groups:
    """Grow cloud over clear and shadow by `cloud` cells, shadow over clear by `shadow` cells.

    Square structuring element of (2N+1) cells; no data is never overwritten.
    """
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
