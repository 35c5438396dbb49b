"""The resampling rules: which group a reference cell gets from what falls inside it.

- `majority`: the group with the largest share of the cell (ties: cloud, shadow, clear, no
  data, in that order, PRIORITY); shares within TIE of the cell are equal, so that float noise
  (GDAL's float32 averages differ in the 7th digit) never breaks a tie;
- `any`: cloud if cloud covers more than FLOOR of the cell, else shadow if shadow does, else
  the larger of clear and no data; below FLOOR an overlap is a sliver or float noise, not a
  sub-pixel (every whole sub-pixel of a mask of 0.24 m or coarser passes it on a 60 m cell);
- `nearest`: the sub-pixel at the cell's centre, as a plain gdalwarp does.
A part of the cell that the mask does not cover counts as no data, on every path.
`choose` is the one definition of the first two; every path (block counts, look-up tables,
GDAL's average warping) ends in it or in tables built from it, with `whole` what a full cell
adds up to (its number of sub-pixels for counts, 1 for shares).
"""

from __future__ import annotations

from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from stacgen.score.codes import CLEAR, CLOUD, NODATA, SHADOW, Groups

Method = Literal["majority", "any", "nearest"]
# Ties in `majority` go to the first group of this order; shares are stacked in this order.
PRIORITY: Final = (CLOUD, SHADOW, CLEAR, NODATA)
# Fractions of a cell. TIE * 255**2 < 1 and FLOOR * 255**2 > 1: on the exact paths (whole
# sub-pixels, up to 255 per side) neither changes anything; on the warp path they absorb noise.
TIE: Final = 1e-6
FLOOR: Final = 1e-5


def choose(shares: npt.NDArray[Any], method: Method, whole: float = 1.0) -> Groups:
    """The group per cell from the shares of each group (any shape), stacked in PRIORITY order;
    `whole` is what the shares of a full cell add up to."""
    if method == "majority":
        # The first largest share in PRIORITY order; argmax over axis 0 costs 5x as much.
        tie = TIE * whole
        picked: Groups = np.full(shares.shape[1:], PRIORITY[0], dtype=np.uint8)
        best = shares[0].copy()
        for group, share in zip(PRIORITY[1:], shares[1:], strict=True):
            better = share > best + tie
            picked[better] = group
            best[better] = share[better]
        picked[best <= 0] = NODATA
        return picked
    floor = FLOOR * whole
    cloud, shadow, clear, nodata = shares
    out = np.where((clear + TIE * whole >= nodata) & (clear > floor), CLEAR, NODATA)
    out = out.astype(np.uint8)
    out[shadow > floor] = SHADOW
    out[cloud > floor] = CLOUD
    return out
