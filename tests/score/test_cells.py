"""The fast path of the resampling (stacgen.score.cells): its look-up tables and its threaded
reading against a plain count of each cell's pixels, written here from the issue's rules."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from affine import Affine

from stacgen.score import cells, codes
from stacgen.score.decoding import TableDecoder
from stacgen.score.errors import ScoreError

# The test's own group codes; python-fmask's values 0-3 are exactly these groups.
ND, CLEAR, CLOUD, SHADOW = 0, 1, 2, 3
TIES = (CLOUD, SHADOW, CLEAR, ND)  # the order for ties


def rule(cell: np.ndarray, method: str) -> int:
    """One cell's group, by counting its pixels."""
    counts = {g: int((cell == g).sum()) for g in TIES}
    if method == "nearest":
        f = cell.shape[0]
        return int(cell[f // 2, f // 2])
    if method == "any":
        if counts[CLOUD]:
            return CLOUD
        if counts[SHADOW]:
            return SHADOW
        return CLEAR if counts[CLEAR] and counts[CLEAR] >= counts[ND] else ND
    return max(TIES, key=lambda g: counts[g])  # max keeps the first of equal counts


def by_rule(fine: np.ndarray, f: int, method: str) -> np.ndarray:
    h, w = fine.shape[0] // f, fine.shape[1] // f
    out = np.zeros((h, w), np.uint8)
    for i, j in itertools.product(range(h), range(w)):
        out[i, j] = rule(fine[i * f : (i + 1) * f, j * f : (j + 1) * f], method)
    return out


def reducer(factor: int, method: str) -> cells.CellReducer:
    decode = TableDecoder(codes.load_codes("python-fmask"), "mask m.tif")
    lut = decode.lut_for(np.dtype(np.uint8))
    assert lut is not None
    return cells.CellReducer(lut, factor, method, decode)  # type: ignore[arg-type]


def reduce(fine: np.ndarray, factor: int, method: str) -> np.ndarray:
    r = reducer(factor, method)
    return r.cells(r.pixels(bytearray(fine.tobytes()), fine.shape))


@pytest.mark.parametrize("pixels", [3, 4, 6])
def test_weight_sums_tell_the_counts_apart(pixels: int) -> None:
    seen: dict[int, tuple[int, ...]] = {}
    for combo in itertools.combinations_with_replacement(TIES, pixels):
        total = sum(cells.WEIGHT[g] for g in combo) % 256
        counts = tuple(combo.count(g) for g in TIES)
        assert seen.setdefault(total, counts) == counts, (total, counts)
    assert 0 not in cells.WEIGHT.values()  # 0 is an unlisted value's weight


def every_cell(factor: int) -> np.ndarray:
    """Every arrangement of the four groups over a factor x factor cell, side by side."""
    arrangements = list(itertools.product(TIES, repeat=factor * factor))
    side = int(np.ceil(np.sqrt(len(arrangements))))
    arrangements += [arrangements[0]] * (side * side - len(arrangements))
    blocks = np.array(arrangements, np.uint8).reshape(side, side, factor, factor)
    return blocks.transpose(0, 2, 1, 3).reshape(side * factor, side * factor)


@pytest.mark.parametrize("method", ["majority", "any", "nearest"])
def test_every_two_by_two_cell(method: str) -> None:
    fine = every_cell(2)
    assert np.array_equal(reduce(fine, 2, method), by_rule(fine, 2, method))


@pytest.mark.parametrize("method", ["majority", "any", "nearest"])
def test_three_by_three_cells(method: str) -> None:
    # 4^9 arrangements are too many to list: 10,000 random cells (ties among them), and a row
    # of cells made of three uniform columns.
    rng = np.random.default_rng(3)
    fine = rng.choice(np.array(TIES, np.uint8), (300, 300), p=[0.3, 0.2, 0.3, 0.2])
    fine[:3, :] = np.repeat(rng.choice(np.array(TIES, np.uint8), (1, 300)), 3, 0)
    assert np.array_equal(reduce(fine, 3, method), by_rule(fine, 3, method))


def test_factor_one_keeps_each_pixel() -> None:
    fine = np.random.default_rng(4).integers(0, 4, (20, 30)).astype(np.uint8)
    assert np.array_equal(reduce(fine, 1, "majority"), fine)


@pytest.mark.parametrize(("factor", "method"), [(3, "majority"), (2, "any"), (1, "majority")])
def test_an_unlisted_value_is_named_with_its_count(factor: int, method: str) -> None:
    fine = np.ones((6, 6), np.uint8)
    fine[0, 1] = fine[4, 4] = 9
    r = reducer(factor, method)
    with pytest.raises(
        ScoreError, match=r"^mask m\.tif: values not in the python-fmask table: 9 \(2 px\)$"
    ):
        r.pixels(bytearray(fine.tobytes()), fine.shape)


def write(path: Path, fine: np.ndarray) -> Path:
    profile: dict[str, Any] = dict(
        driver="GTiff", width=fine.shape[1], height=fine.shape[0], count=1, dtype="uint8"
    )
    profile.update(crs="EPSG:32631", transform=Affine(20, 0, 600000, 0, -20, 5000000))
    profile.update(tiled=True, blockxsize=16, blockysize=16)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(fine, 1)
    return path


@pytest.mark.parametrize("factor", [2, 3])
def test_chunks_and_the_edges_of_the_mask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, factor: int
) -> None:
    """Many chunks (a few cell rows each), the target starting above and left of the mask and
    ending past it: pixels outside count as no data; on_rows sees every row once."""
    monkeypatch.setattr(cells, "CHUNK_ROWS", 12)  # 4 or 6 cell rows
    rng = np.random.default_rng(5)
    fine = rng.choice(np.array(TIES, np.uint8), (70, 53), p=[0.4, 0.1, 0.4, 0.1])
    path = write(tmp_path / "m.tif", fine)
    row0, col0 = -2, -1  # the first cell starts 2 rows above and 1 column left of the mask
    shape = (-(-(fine.shape[0] - row0) // factor) + 1, -(-(fine.shape[1] - col0) // factor))
    padded = np.full((shape[0] * factor, shape[1] * factor), ND, np.uint8)
    padded[-row0 : -row0 + fine.shape[0], -col0 : -col0 + fine.shape[1]] = fine
    seen: list[tuple[int, int]] = []

    def on_rows(start: int, stop: int, groups: np.ndarray) -> None:
        assert groups.shape == (stop - start, shape[1])
        seen.append((start, stop))

    with rasterio.open(path) as ds:
        out = cells.by_tables(ds, 1, reducer(factor, "majority"), shape, row0, col0, on_rows)
    assert np.array_equal(out, by_rule(padded, factor, "majority"))
    rows = sorted(r for start, stop in seen for r in range(start, stop))
    assert rows == list(range(shape[0]))


def test_a_failing_chunk_stops_the_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cells, "CHUNK_ROWS", 3)  # one cell row
    fine = np.ones((300, 30), np.uint8)
    fine[0, 0] = 9  # unlisted, in the first chunk
    path = write(tmp_path / "m.tif", fine)
    read = cells.read_chunk
    calls: list[int] = []

    def counting(*args: Any) -> Any:
        calls.append(1)
        return read(*args)

    monkeypatch.setattr(cells, "read_chunk", counting)
    with rasterio.open(path) as ds, pytest.raises(ScoreError, match="9 \\(1 px\\)"):
        cells.by_tables(ds, 1, reducer(3, "majority"), (100, 10), 0, 0)
    assert len(calls) < 100
