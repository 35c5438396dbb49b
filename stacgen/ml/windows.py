"""Where chips are cut: windows inside one item's grid, and the valid share of each.

Windows start every `stride` pixels and the last one of a row or column sits flush with the
item's edge, so an item is covered whole and no window crosses its edge. The valid share of a
window is counted on the label grid (each label cell weighted by how many of the window's
pixels it covers), so deciding `min_valid` costs one small matrix product per item, never a
pass over the chip pixels.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def starts(length: int, size: int, stride: int) -> list[int]:
    """First pixels of the windows along one axis of `length` pixels."""
    if size > length:
        return []
    out = list(range(0, length - size + 1, stride))
    if out[-1] != length - size:
        out.append(length - size)
    return out


def cover_weights(firsts: list[int], size: int, factor: int, cells: int) -> npt.NDArray[np.float64]:
    """(window, label cell): how many of the window's pixels along the axis each cell covers,
    for windows of `size` pixels on a grid with `factor` pixels per label cell."""
    weights = np.zeros((len(firsts), cells), dtype=np.float64)
    edges = np.arange(cells + 1) * factor
    for w, first in enumerate(firsts):
        lo = np.maximum(edges[:-1], first)
        hi = np.minimum(edges[1:], first + size)
        weights[w] = np.clip(hi - lo, 0, None)
    return weights


def valid_shares(
    valid: npt.NDArray[np.bool_], rows: list[int], cols: list[int], size: int, factor: int
) -> npt.NDArray[np.float64]:
    """(row window, col window): the share of valid pixels of each window, `valid` being the
    label grid's mask and the windows on its grid refined by `factor`."""
    wr = cover_weights(rows, size, factor, valid.shape[0])
    wc = cover_weights(cols, size, factor, valid.shape[1])
    counts: npt.NDArray[np.float64] = wr @ valid.astype(np.float64) @ wc.T
    return counts / float(size * size)
