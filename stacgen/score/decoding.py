"""A mask's native values to groups (no data, clear, cloud, shadow): the one `Decoder` protocol.

Two decoders implement it: `TableDecoder` (a code table: categorical values) and
`ThresholdDecoder` (s2cloudless probabilities). Both give UNLISTED for a value they cannot
place (not in the table; a probability outside 0-1 or 0-100), and calling a decoder raises
`Unlisted` when any value is; `scoring` then counts those values over the whole mask
(`unlisted_counts`) for the one-line error. A raster's declared nodata value is no data
whatever the table says (GDAL's meaning of nodata). For 8- and 16-bit masks each decoder hands
its full-range look-up table (`lut_for`) to the fast paths, which fold it into their own pass.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from fractions import Fraction
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt

from stacgen.score.codes import CLEAR, CLOUD, GROUP_BY_NAME, NODATA, UNLISTED, CodeTable, Groups
from stacgen.score.errors import ScoreError

U8 = npt.NDArray[np.uint8]
# dtypes small enough for a full-range look-up table (256 or 65536 entries).
SMALL: Final = (np.dtype(np.uint8), np.dtype(np.uint16))
# A code table spanning more values than this is looked up by binary search, not a dense table.
DENSE_SPAN: Final = 1 << 16
# Rows per block when counting unlisted values over a whole mask: memory stays bounded.
COUNT_ROWS: Final = 1024


class Unlisted(ScoreError):
    """Values the decoder cannot place; `scoring` replaces it with the whole mask's counts."""


class Decoder(Protocol):
    """Native mask values to group codes."""

    where: str

    def groups(self, values: npt.NDArray[Any]) -> Groups:
        """The group of each value, UNLISTED for a value this decoder cannot place."""
        ...

    def lut_for(self, dtype: np.dtype[Any]) -> U8 | None:
        """value -> group (UNLISTED if none) for every value of `dtype`, if that is small."""
        ...

    def problem(self, found: npt.NDArray[Any], counts: npt.NDArray[np.int64]) -> str:
        """The one line naming the values that cannot be placed and their pixel counts."""
        ...

    def __call__(self, values: npt.NDArray[Any]) -> Groups:
        """`groups`, raising Unlisted when a value cannot be placed."""
        ...


def checked(decoder: Decoder, values: npt.NDArray[Any]) -> Groups:
    """The groups of `values`; Unlisted (naming this block's values) if any cannot be placed."""
    groups = decoder.groups(values)
    if np.any(groups == UNLISTED):
        found, counts = np.unique(values[groups == UNLISTED], return_counts=True)
        raise Unlisted(decoder.problem(found, counts))
    return groups


def _listing(found: npt.NDArray[Any], counts: npt.NDArray[np.int64]) -> str:
    shown = ", ".join(f"{v} ({c} px)" for v, c in zip(found[:10], counts[:10], strict=True))
    more = f" and {found.size - 10} more" if found.size > 10 else ""
    return shown + more


def _with_nodata(lut: U8, dtype: np.dtype[Any], nodata: float | None) -> U8:
    if nodata is not None and _representable(nodata, dtype):
        lut[int(nodata)] = NODATA
    return lut


def _representable(value: float, dtype: np.dtype[Any]) -> bool:
    if not np.issubdtype(dtype, np.integer) or not math.isfinite(value) or value != int(value):
        return False
    info = np.iinfo(dtype)
    return int(info.min) <= int(value) <= int(info.max)


class TableDecoder:
    """A code table's values to groups, its look-up tables built once."""

    def __init__(self, table: CodeTable, where: str, nodata: float | None = None) -> None:
        self.table, self.where, self.nodata = table, where, nodata
        listed = sorted((v, g) for g, vs in _group_codes(table) for v in vs)
        self.keys = np.array([v for v, _ in listed], dtype=np.int64)
        self.values = np.array([g for _, g in listed], dtype=np.uint8)
        self._full = {dtype: self._full_table(dtype) for dtype in SMALL}
        self._bytes_table = self._full[np.dtype(np.uint8)].tobytes()

    def _full_table(self, dtype: np.dtype[Any]) -> U8:
        top = int(np.iinfo(dtype).max) + 1
        full = np.full(top, UNLISTED, dtype=np.uint8)
        inside = (self.keys >= 0) & (self.keys < top)
        full[self.keys[inside]] = self.values[inside]
        return _with_nodata(full, dtype, self.nodata)

    def lut_for(self, dtype: np.dtype[Any]) -> U8 | None:
        return self._full.get(np.dtype(dtype))

    def groups(self, values: npt.NDArray[Any]) -> Groups:
        if values.dtype == np.uint8:
            # bytes.translate: a C loop, several times as fast as indexing with uint8 values.
            looked_up = bytearray(np.ascontiguousarray(values)).translate(self._bytes_table)
            return np.frombuffer(looked_up, np.uint8).reshape(values.shape)
        full = self._full.get(values.dtype)
        if full is not None:
            looked: Groups = full[values]
            return looked
        if not np.issubdtype(values.dtype, np.integer):
            raise ScoreError(
                f"{self.where}: {values.dtype} values need a probability table "
                "(s2cloudless --threshold)"
            )
        return self._searched(values)

    def _searched(self, values: npt.NDArray[Any]) -> Groups:
        """Any integer type: each value found by binary search among the table's values."""
        wide = values.astype(np.int64, copy=False)
        at = np.clip(np.searchsorted(self.keys, wide), 0, self.keys.size - 1)
        out = np.where(self.keys[at] == wide, self.values[at], UNLISTED).astype(np.uint8)
        if self.nodata is not None and _representable(self.nodata, values.dtype):
            out[values == int(self.nodata)] = NODATA
        return out

    def problem(self, found: npt.NDArray[Any], counts: npt.NDArray[np.int64]) -> str:
        return f"{self.where}: values not in the {self.table.name} table: {_listing(found, counts)}"

    def __call__(self, values: npt.NDArray[Any]) -> Groups:
        return checked(self, values)


def _group_codes(table: CodeTable) -> Iterator[tuple[int, tuple[int, ...]]]:
    for name, listed in table.groups.items():
        yield GROUP_BY_NAME[name], listed


class ThresholdDecoder:
    """s2cloudless probabilities: cloud where the probability is > the threshold, as the
    package's own `get_mask_from_prob` compares; float rasters hold 0-1, integer ones 0-100.

    The result does not depend on the threshold's numeric type: the threshold is the decimal it
    prints as (a Python float, numpy.float64 or numpy.float32 given as 0.4 is 0.4). A float pixel
    is compared with that decimal rounded to the raster's own float type (what numpy does with a
    Python float, so s2cloudless's own call on float32 probabilities: a pixel stored as 0.4 is
    not above 0.4); an integer pixel v (0-100) as v / 100 > the decimal, in exact fractions.
    NaN and the raster's nodata value are no data; any other value outside 0-1 (0-100) cannot
    be placed: a probability map it is not.
    """

    def __init__(self, threshold: float, where: str, nodata: float | None = None) -> None:
        if not 0.0 <= float(threshold) <= 1.0:
            raise ScoreError(f"--threshold {threshold}: must be between 0 and 1")
        self.threshold, self.where, self.nodata = float(threshold), where, nodata
        # The decimal the threshold prints as (0.29, not the double nearest it): the same for a
        # Python float, a numpy.float64 or a numpy.float32 given as 0.29.
        self.decimal = str(threshold)
        # The smallest integer percentage v with v / 100 > that decimal, exactly.
        self.first_cloud = math.floor(Fraction(self.decimal) * 100) + 1
        self._full = {dtype: self._full_table(dtype) for dtype in SMALL}

    def _full_table(self, dtype: np.dtype[Any]) -> U8:
        values = np.arange(int(np.iinfo(dtype).max) + 1)
        full = np.where(values >= self.first_cloud, CLOUD, CLEAR).astype(np.uint8)
        full[values > 100] = UNLISTED
        return _with_nodata(full, dtype, self.nodata)

    def lut_for(self, dtype: np.dtype[Any]) -> U8 | None:
        return self._full.get(np.dtype(dtype))

    def groups(self, values: npt.NDArray[Any]) -> Groups:
        full = self._full.get(values.dtype)
        if full is not None:
            looked: Groups = full[values]
            return looked
        if np.issubdtype(values.dtype, np.integer):
            wide = values.astype(np.int64, copy=False)
            out = np.where(wide >= self.first_cloud, CLOUD, CLEAR).astype(np.uint8)
            out[(wide < 0) | (wide > 100)] = UNLISTED
        else:
            prob = values
            # The threshold in the raster's own float type, whatever type it was given in.
            out = np.where(prob > values.dtype.type(self.decimal), CLOUD, CLEAR)
            out = out.astype(np.uint8)
            out[(prob < 0) | (prob > 1)] = UNLISTED
            out[np.isnan(prob)] = NODATA
        if self.nodata is not None:
            out[values == values.dtype.type(self.nodata)] = NODATA
        return out

    def problem(self, found: npt.NDArray[Any], counts: npt.NDArray[np.int64]) -> str:
        span = "0-100" if np.issubdtype(found.dtype, np.integer) else "0-1"
        return (
            f"{self.where}: not s2cloudless probabilities ({span}): values outside it: "
            f"{_listing(found, counts)}"
        )

    def __call__(self, values: npt.NDArray[Any]) -> Groups:
        return checked(self, values)


def unlisted_counts(
    decoder: Decoder, read: Any, height: int
) -> tuple[npt.NDArray[Any], npt.NDArray[np.int64]]:
    """The values `decoder` cannot place and their pixel counts over all `height` rows;
    `read(row0, row1)` gives the raw values of those rows (a block at a time: memory bounded)."""
    totals: dict[Any, int] = {}
    for row in range(0, height, COUNT_ROWS):
        values = read(row, min(height, row + COUNT_ROWS))
        bad = values[decoder.groups(values) == UNLISTED]
        for v, c in zip(*np.unique(bad, return_counts=True), strict=True):
            totals[v.item()] = totals.get(v.item(), 0) + int(c)
    found = np.array(sorted(totals))
    return found, np.array([totals[v] for v in found.tolist()], dtype=np.int64)
