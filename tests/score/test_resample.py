"""Putting a user's mask on the reference grid (stacgen.score.resample), through score_mask on the
synthetic catalog: the resampling rules on mixed cells against a plain loop over the cells, a mask
in another CRS against GDAL's own warp, dilation against a loop over the neighbourhoods, and a
mask covering part of the tile off the cell edges."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.warp
from rasterio.enums import Resampling

from stacgen.score import ScoreOptions, codes, resample, score_mask
from stacgen.score.decoding import TableDecoder
from stacgen.score.rules import Method, choose
from tests.score.helpers import (
    CLEAR,
    CLOUD,
    ITEM,
    ND,
    SHADOW,
    Ref,
    alcd_groups,
    edit,
    encode,
    expected,
    got,
    item_json,
    read_reference,
    write_mask,
)

K = 40


def _gdal_majority(path: Path, ref_shape: tuple[int, int], ref: Ref) -> np.ndarray:
    """GDAL's average of each group's 0/1 layer on the reference grid, the mask first padded
    with no data so that the part of a cell it does not cover counts as no data (the README's
    rule), then the largest share, shares within 1e-6 of a cell being equal (ties: cloud,
    shadow, clear, no data)."""
    pad = 4
    with rasterio.open(path) as src:
        values = np.pad(src.read(1), pad)  # Sen2Cor 0: no data
        transform = src.transform * rasterio.Affine.translation(-pad, -pad)
        order = (CLOUD, SHADOW, CLEAR, ND)
        groups = np.select(
            [values == 9, values == 3, values == 4], [CLOUD, SHADOW, CLEAR], ND
        ).astype(np.uint8)
        shares = np.zeros((4, *ref_shape), np.float32)
        for k, g in enumerate(order):
            rasterio.warp.reproject(
                (groups == g).astype(np.uint8),
                shares[k],
                src_transform=transform,
                src_crs=src.crs,
                dst_transform=ref.transform,
                dst_crs=ref.crs,
                resampling=Resampling.average,
            )
    first_best = np.argmax(shares >= shares.max(axis=0) - 1e-6, axis=0)
    out: np.ndarray = np.asarray(order, np.uint8)[first_best]
    out[shares.sum(axis=0) == 0] = ND
    return out


def test_mask_in_another_crs_is_warped(built_catalog: Path, tmp_path: Path) -> None:
    ref = read_reference(built_catalog)
    ref_g = alcd_groups(ref.values)
    user_g = edit(ref_g, K)
    fine = write_mask(tmp_path / "fine.tif", encode(user_g, "sen2cor"), ref, 3)
    other = tmp_path / f"{ITEM}_32632.tif"
    with rasterio.open(fine) as src:
        transform, width, height = rasterio.warp.calculate_default_transform(
            src.crs, "EPSG:32632", src.width, src.height, *src.bounds, resolution=200
        )
        data = np.zeros((height, width), np.uint8)
        rasterio.warp.reproject(
            src.read(1),
            data,
            src_transform=src.transform,
            src_crs=src.crs,
            dst_transform=transform,
            dst_crs="EPSG:32632",
            resampling=Resampling.nearest,
        )
    profile = dict(driver="GTiff", width=width, height=height, count=1, dtype="uint8")
    with rasterio.open(other, "w", crs="EPSG:32632", transform=transform, **profile) as dst:
        dst.write(data, 1)
    result = score_mask(other, "sen2cor", str(item_json(built_catalog)))
    assert result.grid.crs.to_string() == "EPSG:32631"
    want_g = _gdal_majority(other, ref.values.shape, ref)
    assert got(result) == expected(ref_g, want_g)
    # and the warp lands close to the edits: the matrix differs on a few border cells only
    exact = expected(ref_g, user_g)["invalid"]
    assert abs(got(result)["invalid"]["tp"] - exact["tp"]) < 0.03 * exact["tp"]


def _block_groups(fine: np.ndarray, f: int, method: str) -> np.ndarray:
    """Per reference cell, by a plain Python loop over the cells."""
    h, w = fine.shape[0] // f, fine.shape[1] // f
    out = np.zeros((h, w), np.uint8)
    for i in range(h):
        for j in range(w):
            cell = fine[i * f : (i + 1) * f, j * f : (j + 1) * f]
            counts = {g: int((cell == g).sum()) for g in (CLOUD, SHADOW, CLEAR, ND)}
            if method == "nearest":
                out[i, j] = cell[f // 2, f // 2]
            elif method == "any":
                out[i, j] = (
                    CLOUD
                    if counts[CLOUD]
                    else SHADOW
                    if counts[SHADOW]
                    else CLEAR
                    if counts[CLEAR] and counts[CLEAR] >= counts[ND]
                    else ND
                )
            else:
                out[i, j] = max(counts, key=lambda g: counts[g])  # first max: priority order
    return out


@pytest.mark.parametrize("method", ["majority", "any", "nearest"])
@pytest.mark.parametrize(
    ("f", "dtype"), [(1, "uint8"), (2, "uint8"), (3, "uint8"), (6, "uint8"), (3, "uint16")]
)
def test_resampling_rules_on_mixed_cells(
    built_catalog: Path, tmp_path: Path, method: str, f: int, dtype: str
) -> None:
    """Every way to resample: 10, 20, 30 and 60 m 8-bit masks (look-up tables for 1-3, block
    counts for 6) and a 16-bit one (block counts)."""
    ref = read_reference(built_catalog)
    ref_g = alcd_groups(ref.values)
    rng = np.random.default_rng(11)
    fine = np.repeat(np.repeat(ref_g, f, 0), f, 1)
    noise = rng.random(fine.shape) < 0.15
    fine[noise] = rng.integers(0, 4, noise.sum(), dtype=np.uint8)
    path = tmp_path / f"{ITEM}_mixed.tif"
    write_mask(path, encode(fine, "python-fmask").astype(dtype), ref, 1)
    with rasterio.open(path, "r+") as ds:  # the fine grid: a third of the reference pixel
        t = ref.transform
        ds.transform = rasterio.Affine(t.a / f, 0, t.c, 0, t.e / f, t.f)
    options = ScoreOptions(resampling=method)  # type: ignore[arg-type]
    result = score_mask(path, "python-fmask", str(item_json(built_catalog)), options)
    assert got(result) == expected(ref_g, _block_groups(fine, f, method))


def test_dilation_grows_cloud_then_shadow(built_catalog: Path, tmp_path: Path) -> None:
    ref = read_reference(built_catalog)
    ref_g = alcd_groups(ref.values)
    user_g = edit(ref_g, K)
    mask = write_mask(tmp_path / f"{ITEM}_d.tif", encode(user_g, "cloudsen12"), ref, 3)
    options = ScoreOptions(dilate_cloud=2, dilate_shadow=1)
    result = score_mask(mask, "cloudsen12", str(item_json(built_catalog)), options)
    h, w = user_g.shape
    grown = user_g.copy()
    for i in range(h):
        for j in range(w):
            near = user_g[max(0, i - 2) : i + 3, max(0, j - 2) : j + 3]
            if user_g[i, j] in (CLEAR, SHADOW) and (near == CLOUD).any():
                grown[i, j] = CLOUD
    final = grown.copy()
    for i in range(h):
        for j in range(w):
            near = user_g[max(0, i - 1) : i + 2, max(0, j - 1) : j + 2]
            if grown[i, j] == CLEAR and (near == SHADOW).any():
                final[i, j] = SHADOW
    assert got(result) == expected(ref_g, final)


@pytest.mark.parametrize("method", ["majority", "any", "nearest"])
def test_mask_covering_part_of_the_tile_off_the_cell_edges(
    built_catalog: Path, tmp_path: Path, method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = read_reference(built_catalog)
    ref_g = alcd_groups(ref.values)
    f = 3
    fine = np.repeat(np.repeat(edit(ref_g, K), f, 0), f, 1)
    # A crop starting one fine pixel into a cell: edge cells are partly outside the mask.
    r0, r1, c0, c1 = 31, 301, 64, 400
    path = tmp_path / f"{ITEM}_crop.tif"
    t = ref.transform
    transform = rasterio.Affine(t.a / f, 0, t.c + c0 * t.a / f, 0, t.e / f, t.f + r0 * t.e / f)
    profile = dict(driver="GTiff", width=c1 - c0, height=r1 - r0, count=1, dtype="uint8")
    with rasterio.open(path, "w", crs=ref.crs, transform=transform, **profile) as dst:
        dst.write(encode(fine[r0:r1, c0:c1], "sen2cor"), 1)
    options = ScoreOptions(resampling=method)  # type: ignore[arg-type]
    result = score_mask(path, "sen2cor", str(item_json(built_catalog)), options)
    outside = np.full(fine.shape, ND, np.uint8)
    outside[r0:r1, c0:c1] = fine[r0:r1, c0:c1]
    assert result.offset[1] == c0 // f
    assert result.offset[0] == r0 // f
    assert got(result) == expected(ref_g, _block_groups(outside, f, method))
    # One rule on both paths: the same mask warped by GDAL (as if it were not lined up) gives
    # the same cells, partial cells and ties included.
    with monkeypatch.context() as m:
        m.setattr(resample, "block_alignment", lambda ds, target: None)
        warped = score_mask(path, "sen2cor", str(item_json(built_catalog)), options)
    assert got(warped) == got(result)


def test_a_mask_moved_by_a_hair_is_scored_exactly(built_catalog: Path, tmp_path: Path) -> None:
    ref = read_reference(built_catalog)
    ref_g = alcd_groups(ref.values)
    user_g = edit(ref_g, K)
    mask = write_mask(tmp_path / f"{ITEM}_m.tif", encode(user_g, "sen2cor"), ref, 3)
    moved = tmp_path / f"{ITEM}_moved.tif"
    moved.write_bytes(mask.read_bytes())
    with rasterio.open(moved, "r+") as ds:  # 0.1 mm east and south: 5e-6 of a 20 m pixel
        t = ds.transform
        ds.transform = rasterio.Affine(t.a, 0, t.c + 1e-4, 0, t.e, t.f - 1e-4)
    item = str(item_json(built_catalog))
    methods: tuple[Method, ...] = ("majority", "any", "nearest")
    assert len(methods) == 3
    for method in methods:
        options = ScoreOptions(resampling=method)
        assert got(score_mask(moved, "sen2cor", item, options)) == expected(ref_g, user_g)


# --- the reductions on small grids, expectations written by hand -----------------------------
def test_block_sums_equal_numpy_reshape_sums() -> None:
    rng = np.random.default_rng(5)
    values = rng.integers(0, 1000, (12, 18)).astype(np.int64)
    factors = (1, 2, 3, 6)
    assert all(values.shape[0] % f == values.shape[1] % f == 0 for f in factors)
    for factor in factors:
        h, w = values.shape[0] // factor, values.shape[1] // factor
        want = values.reshape(h, factor, w, factor).sum(axis=(1, 3))
        assert np.array_equal(resample.block_sums(values.copy(), factor), want), factor


# Four 3 x 3 cells, side by side: X cloud, S shadow, C clear, N no data.
X, S, C, N = codes.CLOUD, codes.SHADOW, codes.CLEAR, codes.NODATA
# The group codes themselves, as a code table.
GROUPS = codes.CodeTable(
    "groups",
    "stacgen's group codes",
    {"nodata": (N,), "clear": (C,), "cloud": (X,), "shadow": (S,)},
)
CELLS = [
    [[C, C, C], [C, X, C], [C, C, C]],  # one cloud pixel in the middle of clear
    [[X, X, X], [X, S, S], [S, S, C]],  # 4 cloud, 4 shadow, 1 clear: a tie
    [[N, N, N], [N, C, N], [N, N, C]],  # mostly no data
    [[N, N, N], [N, N, N], [N, N, N]],  # no data only
]
BY_METHOD = {
    "majority": [C, X, N, N],  # the tie goes to cloud (cloud, shadow, clear, no data)
    "any": [X, X, N, N],  # any cloud wins; clear must outnumber no data
    "nearest": [X, S, C, N],  # the middle pixel
}


@pytest.mark.parametrize("method", sorted(BY_METHOD))
def test_reduce_blocks_by_hand(method: str) -> None:
    grid = np.concatenate([np.array(cell, dtype=np.uint8) for cell in CELLS], axis=1)
    assert grid.shape == (3, 12)
    packer = resample.Packer(TableDecoder(GROUPS, "cells"), "uint8", 3)
    rule = "any" if method == "any" else "majority"
    got_cells = choose(packer.counts(packer.pack(grid), method), rule)  # type: ignore[arg-type]
    assert got_cells.tolist() == [BY_METHOD[method]]


def test_dilate_by_hand() -> None:
    groups = np.array(
        [
            [C, C, C, C, C, C],
            [C, X, C, C, S, C],
            [C, C, C, C, C, C],
            [N, C, C, C, C, N],
        ],
        dtype=np.uint8,
    )
    want = np.array(
        [
            [X, X, X, S, S, S],
            [X, X, X, S, S, S],
            [X, X, X, S, S, S],
            [N, C, C, C, C, N],
        ],
        dtype=np.uint8,
    )
    assert resample.dilate(groups, 1, 1).tolist() == want.tolist()
    assert resample.dilate(groups, 0, 0).tolist() == groups.tolist()
