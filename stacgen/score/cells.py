"""One group per reference cell from an 8-bit mask whose pixel divides the cell 1, 2 or 3 times.

The fast path of `resample.to_reference`: a 10, 20 or 60 m Sentinel-2 mask on its own tile and
grid (the case `make bench` times). Per pixel, one table look-up and a few byte additions:
1. each value becomes its group's weight, one byte (bytes.translate, a C loop);
2. bytes add up (modulo 256) over the f rows of a cell row, then over its columns (f = 2:
   both; f = 3: the first two); the weights are chosen so that a sum of up to 6 pixels still
   tells how many pixels of each group it holds;
3. the cell's group is read from a table: indexed by that sum alone for f = 2 (256 entries,
   bytes.translate again), by the sum and the last column's through a 16-bit view of the two
   neighbouring bytes for f = 3 (65536 entries). The tables hold `rules.choose` applied to
   every possible count, so they are exact and follow the rules' one definition.
`nearest`, and factor 1, keep the group of one pixel per cell instead.
A value that the table does not list weighs 0, which no group does: it is found before any
reduction, and the decoder names the values. Outside the mask, pixels count as no data.
The calling thread reads chunks of rows (GDAL decompresses without the GIL) while two threads
reduce the chunks already read (`in_chunks`, which the block sums of `resample.py` use too).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import product
from typing import Any, Final, TypeVar

import numpy as np
import numpy.typing as npt
import rasterio
from numpy.lib.stride_tricks import as_strided
from rasterio.windows import Window

from stacgen.score.codes import CLEAR, CLOUD, NODATA, SHADOW, UNLISTED, Groups
from stacgen.score.decoding import Decoder
from stacgen.score.rules import PRIORITY, Method, choose

U8 = npt.NDArray[np.uint8]
OnRows = Callable[[int, int, Groups], None]
T = TypeVar("T")
MAX_FACTOR: Final = 3
# Modulo 256, sums of up to 6 of these weights differ whenever the counts of each group differ
# (found by an exhaustive search; `tables` checks it). None is 0: 0 marks an unlisted value.
WEIGHT: Final = {CLOUD: 2, SHADOW: 8, CLEAR: 47, NODATA: 1}
# Mask rows per chunk (whole cells): 2 MiB of a 20 m tile; smaller chunks measured slower in
# `make bench` (more hand-overs between the threads), larger ones too (a longer last chunk).
CHUNK_ROWS: Final = 384
WORKERS: Final = 2
# Chunks read ahead of the reducers: bounds memory whatever the mask's size.
AHEAD: Final = 2 * WORKERS


def _sums(pixels: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(4, n) counts, PRIORITY order, of every way `pixels` pixels fall into groups, and the
    byte their weights add up to."""
    counts = np.array([c for c in product(range(pixels + 1), repeat=4) if sum(c) == pixels]).T
    weights = np.array([WEIGHT[g] for g in PRIORITY])
    return counts, (weights @ counts) % 256


def _counts_by_sum(pixels: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """`_sums`, checked: no two ways of filling `pixels` pixels add up to the same byte."""
    counts, sums = _sums(pixels)
    if np.unique(sums).size != sums.size:
        raise AssertionError(f"WEIGHT: sums of {pixels} pixels collide")
    return counts, sums


@functools.cache
def tables(factor: int, method: Method) -> U8:
    """f = 2: the cell's group by the sum of its 4 pixels (256 entries); f = 3: by the sum of
    its first two columns (6 pixels) in the low byte and of its last column in the high byte
    (65536 entries). Sums no cell can have give UNLISTED."""
    if factor == 2:
        counts, sums = _counts_by_sum(4)
        decide = np.full(256, UNLISTED, np.uint8)
        decide[sums] = choose(counts, method, whole=4)
        return decide
    first, first_sum = _counts_by_sum(6)
    last, last_sum = _counts_by_sum(3)
    decide = np.full(1 << 16, UNLISTED, np.uint8)
    index = first_sum[:, None] | (last_sum[None, :] << 8)
    decide[index] = choose(first[:, :, None] + last[:, None, :], method, whole=9)
    return decide


def _byte_pairs(buffer: bytearray, rows: int, width: int, offset: int, step: int) -> Any:
    """The 16-bit words at bytes offset + step * k of each row: two neighbouring columns."""
    words = np.ndarray((len(buffer) - offset) // 2, np.uint16, buffer, offset)
    return as_strided(words, shape=(rows, width // step), strides=(width, step))


class CellReducer:
    """Pixels (8-bit) to one group per cell: the look-ups of the module docstring."""

    def __init__(self, lut: U8, factor: int, method: Method, decode: Decoder) -> None:
        self.factor, self.decode = factor, decode
        self.pick = method == "nearest" or factor == 1
        if self.pick:
            table, self.pad, self.missing = lut, NODATA, UNLISTED
        else:
            weight = np.zeros(256, np.uint8)  # UNLISTED weighs 0
            for group, w in WEIGHT.items():
                weight[group] = w
            table, self.pad, self.missing = weight[lut], WEIGHT[NODATA], 0
            self.decide = tables(factor, method)
            self.decide_bytes = self.decide.tobytes()  # f = 2: for bytes.translate
        self.table = table.tobytes()

    def pixels(self, raw: bytearray, shape: tuple[int, int]) -> U8:
        """Each pixel's group (pick) or weight; an unlisted value raises, naming them."""
        looked_up = raw.translate(self.table)
        if self.missing in looked_up:
            self.decode(np.frombuffer(raw, np.uint8))  # raises Unlisted
            raise AssertionError("the tables miss a value that the decoder lists")
        return np.frombuffer(looked_up, np.uint8).reshape(shape)

    def cells(self, pixels: U8) -> Groups:
        """The group per cell of whole cells of pixels."""
        f = self.factor
        if self.pick:
            return np.ascontiguousarray(pixels[f // 2 :: f, f // 2 :: f])
        height, width = pixels.shape[0] // f, pixels.shape[1]
        buffer = bytearray(height * width + 1)  # + 1: the last 16-bit word at an odd offset
        rows = np.frombuffer(buffer, np.uint8, height * width).reshape(height, width)
        np.add(pixels[0::f], pixels[1::f], out=rows)
        for k in range(2, f):
            rows += pixels[k::f]
        if f == 2:
            whole = np.add(rows[:, 0::2], rows[:, 1::2])
            decided = whole.tobytes().translate(self.decide_bytes)
            return np.frombuffer(decided, np.uint8).reshape(whole.shape)
        rows[:, 1::3] += rows[:, 0::3]
        groups: Groups = self.decide.take(_byte_pairs(buffer, height, width, 1, 3).astype(np.intp))
        return groups


@dataclass(frozen=True)
class Chunk:
    """Cell rows [start, stop) of the target, and the mask pixels under them."""

    start: int
    stop: int
    row: int  # first mask row (may be < 0: above the mask)
    col: int  # first mask column
    shape: tuple[int, int]  # pixel rows and columns, padding included


def chunks(height: int, width: int, factor: int, row0: int, col0: int) -> Iterator[Chunk]:
    """The chunks of a target `height` x `width` cells whose first is at mask pixel (row0, col0)."""
    step = max(1, CHUNK_ROWS // factor)
    for start in range(0, height, step):
        stop = min(height, start + step)
        shape = ((stop - start) * factor, width * factor)
        yield Chunk(start, stop, row0 + start * factor, col0, shape)


def clip(
    ds: rasterio.io.DatasetReader, row: int, col: int, shape: tuple[int, int]
) -> tuple[Window | None, tuple[int, int, int, int]]:
    """The part of the window at mask pixel (row, col) inside the mask (None: no part), and
    where it goes in the window: (row0, row1, col0, col1)."""
    height, width = shape
    r0, r1 = max(row, 0), min(row + height, ds.height)
    c0, c1 = max(col, 0), min(col + width, ds.width)
    if r1 <= r0 or c1 <= c0:
        return None, (0, 0, 0, 0)
    return Window(c0, r0, c1 - c0, r1 - r0), (r0 - row, r1 - row, c0 - col, c1 - col)


def read_chunk(
    ds: rasterio.io.DatasetReader, band: int, chunk: Chunk
) -> tuple[bytearray, tuple[int, int, int, int]]:
    """The chunk's pixels inside the mask, into a bytearray (translate reads it without a copy),
    and where they go in the chunk."""
    window, place = clip(ds, chunk.row, chunk.col, chunk.shape)
    if window is None:
        return bytearray(), place
    raw = bytearray(window.height * window.width)
    out = np.frombuffer(raw, np.uint8).reshape(window.height, window.width)
    ds.read(band, window=window, out=out)
    return raw, place


def reduce_chunk(
    reducer: CellReducer, raw: bytearray, place: tuple[int, int, int, int], chunk: Chunk
) -> Groups:
    r0, r1, c0, c1 = place
    if (r0, r1, c0, c1) == (0, *chunk.shape[:1], 0, chunk.shape[1]):
        return reducer.cells(reducer.pixels(raw, chunk.shape))
    padded = np.full(chunk.shape, reducer.pad, np.uint8)
    if raw:
        padded[r0:r1, c0:c1] = reducer.pixels(raw, (r1 - r0, c1 - c0))
    return reducer.cells(padded)


def by_tables(
    ds: rasterio.io.DatasetReader,
    band: int,
    reducer: CellReducer,
    shape: tuple[int, int],
    row0: int,
    col0: int,
    on_rows: OnRows | None = None,
) -> Groups:
    """The group of each of the `shape` target cells; the first is at mask pixel (row0, col0)."""
    return in_chunks(
        chunks(*shape, reducer.factor, row0, col0),
        lambda chunk: read_chunk(ds, band, chunk),
        lambda chunk, read: reduce_chunk(reducer, *read, chunk),
        shape,
        on_rows,
    )


def in_chunks(
    pieces: Iterable[Chunk],
    read: Callable[[Chunk], T],
    reduce: Callable[[Chunk, T], Groups],
    shape: tuple[int, int],
    on_rows: OnRows | None = None,
) -> Groups:
    """The target's groups, chunk by chunk: this thread reads each chunk (GDAL decompresses
    without the GIL) while WORKERS threads reduce those already read. `on_rows(start, stop,
    groups)` sees each chunk's rows once done, in a reducer thread."""
    out = np.empty(shape, np.uint8)
    ahead = threading.BoundedSemaphore(AHEAD)

    def work(chunk: Chunk, raw: T) -> None:
        try:
            groups = reduce(chunk, raw)
            out[chunk.start : chunk.stop] = groups
            if on_rows is not None:
                on_rows(chunk.start, chunk.stop, groups)
        finally:
            ahead.release()

    pending: list[Future[None]] = []
    with ThreadPoolExecutor(WORKERS) as pool:
        for chunk in pieces:
            ahead.acquire()
            if any(p.done() and p.exception() for p in pending):
                break  # a reducer failed: stop reading, its error is raised below
            pending.append(pool.submit(work, chunk, read(chunk)))
        for p in pending:
            p.result()
    return out
