"""The resampling rules: which group a reference cell gets from what falls inside it.

- `majority`: the group with the largest share of the cell (ties: cloud, shadow, clear, no
  data, in that order, PRIORITY);
- `any`: cloud if any sub-pixel is cloud, else shadow if any is shadow, else the larger of
  clear and no data;
- `nearest`: the sub-pixel at the cell's centre, as a plain gdalwarp does.
`choose` is the one definition of the first two; every path (block counts, look-up tables,
GDAL's average warping) ends in it or in tables built from it.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from stacgen.score.codes import CLEAR, CLOUD, NODATA, SHADOW, Groups

Method = Literal["majority", "any", "nearest"]
# Ties in `majority` go to the first group of this order; shares are stacked in this order.
PRIORITY: Final = (CLOUD, SHADOW, CLEAR, NODATA)


def choose(shares: npt.NDArray[Any], method: Method) -> Groups:
    """The group per cell from the shares of each group (any shape), stacked in PRIORITY order."""
    if method == "majority":
        # The first largest share in PRIORITY order; argmax over axis 0 costs 5x as much.
        picked: Groups = np.full(shares.shape[1:], PRIORITY[0], dtype=np.uint8)
        best = shares[0].copy()
        for group, share in zip(PRIORITY[1:], shares[1:], strict=True):
            better = share > best
            picked[better] = group
            np.maximum(best, share, out=best)
        picked[best == 0] = NODATA
        return picked
    cloud, shadow, clear, nodata = shares
    out = np.where((clear >= nodata) & (clear > 0), CLEAR, NODATA).astype(np.uint8)
    out[shadow > 0] = SHADOW
    out[cloud > 0] = CLOUD
    return out
