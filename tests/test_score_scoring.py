"""stacgen.score end to end on the synthetic catalog: masks made here from the reference with
known edits, in every built-in table, at 20 m and 10 m equivalents (a third and a sixth of the
reference pixel), in the tile's UTM and in another CRS. The confusion matrices must equal what
numpy computes from the same pixels here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.warp
from rasterio.enums import Resampling
from score_helpers import (
    CLEAR,
    CLOUD,
    ENCODE,
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

from stacgen.score import ScoreOptions, score_mask, score_masks

K = 40


@pytest.mark.parametrize("table", sorted(ENCODE))
def test_edited_mask_in_each_table_at_20m(built_catalog: Path, tmp_path: Path, table: str) -> None:
    ref = read_reference(built_catalog)
    ref_g = alcd_groups(ref.values)
    user_g = edit(ref_g, K)
    if ND not in ENCODE[table]:  # MAJA's CLM has no no-data value: no-data cells become clear
        user_g = np.where(user_g == ND, CLEAR, user_g).astype(np.uint8)
    if SHADOW not in ENCODE[table]:
        user_g = np.where(user_g == SHADOW, CLEAR, user_g).astype(np.uint8)
    mask = write_mask(tmp_path / f"{ITEM}_{table}.tif", encode(user_g, table), ref, 3)
    result = score_mask(mask, table, str(item_json(built_catalog)))
    want = expected(ref_g, user_g)
    assert got(result)["invalid"] == want["invalid"]
    assert got(result)["cloud"] == want["cloud"]
    if SHADOW in ENCODE[table]:
        assert got(result)["shadow"] == want["shadow"]
    # The edits are visible: K cloud pixels missed (clear), K clear pixels called shadow.
    if table not in ("s2cloudless",):
        assert want["cloud"]["fn"] >= K
        assert want["shadow"]["fp"] == K


def test_identity_scores_one_everywhere_it_applies(built_catalog: Path, tmp_path: Path) -> None:
    ref = read_reference(built_catalog)
    mask = write_mask(tmp_path / f"{ITEM}.tif", ref.values, ref, 3)
    result = score_mask(mask, "alcd", str(item_json(built_catalog)))
    for comparison in result.comparisons.values():
        assert comparison.confusion.fp == comparison.confusion.fn == 0
        values = comparison.metrics.values
        assert [v for v in values.values() if v is not None] == [1.0] * len(values)


def test_all_clear_gives_cloud_recall_zero(built_catalog: Path, tmp_path: Path) -> None:
    ref = read_reference(built_catalog)
    clear = np.full(ref.values.shape, 4, np.uint8)  # sen2cor: vegetation
    mask = write_mask(tmp_path / f"{ITEM}_clear.tif", clear, ref, 3)
    result = score_mask(mask, "sen2cor", str(item_json(built_catalog)))
    cloud = result.comparisons["cloud"]
    assert cloud.metrics.values["recall"] == 0.0
    assert cloud.metrics.values["precision"] is None
    assert "tp + fp = 0" in cloud.metrics.undefined["precision"]


def test_s2cloudless_at_10m_reports_shadow_not_applicable(
    built_catalog: Path, tmp_path: Path
) -> None:
    ref = read_reference(built_catalog)
    ref_g = alcd_groups(ref.values)
    cloud = (edit(ref_g, K) == CLOUD).astype(np.uint8)
    mask = write_mask(tmp_path / f"{ITEM}_s2c.tif", cloud, ref, 6)
    result = score_mask(mask, "s2cloudless", str(item_json(built_catalog)))
    shadow = result.comparisons["shadow"]
    assert not shadow.applicable
    assert set(shadow.metrics.values.values()) == {None}
    assert set(shadow.metrics.undefined.values()) == {"not applicable"}
    user_g = np.where(cloud == 1, CLOUD, CLEAR).astype(np.uint8)
    assert got(result)["invalid"] == expected(ref_g, user_g)["invalid"]


def test_s2cloudless_probabilities_with_threshold(built_catalog: Path, tmp_path: Path) -> None:
    ref = read_reference(built_catalog)
    ref_g = alcd_groups(ref.values)
    rng = np.random.default_rng(3)
    prob = rng.random(ref.values.shape).astype(np.float32)
    as_u8 = np.round(prob * 100).astype(np.uint8)
    user_g = np.where(as_u8 >= 40, CLOUD, CLEAR).astype(np.uint8)
    for values in (as_u8, as_u8.astype(np.float32) / 100):
        mask = write_mask(tmp_path / f"{ITEM}_p.tif", values, ref, 1)
        options = ScoreOptions(threshold=0.4)
        result = score_mask(mask, "s2cloudless", str(item_json(built_catalog)), options)
        assert got(result)["cloud"] == expected(ref_g, user_g)["cloud"]


def _gdal_majority(path: Path, ref_shape: tuple[int, int], ref: Ref) -> np.ndarray:
    """GDAL's average of each group's 0/1 layer on the reference grid, then the largest share
    (ties: cloud, shadow, clear, no data)."""
    with rasterio.open(path) as src:
        values = src.read(1)
        order = (CLOUD, SHADOW, CLEAR, ND)
        groups = np.select(
            [values == 9, values == 3, values == 4], [CLOUD, SHADOW, CLEAR], ND
        ).astype(np.uint8)
        shares = np.zeros((4, *ref_shape), np.float32)
        for k, g in enumerate(order):
            rasterio.warp.reproject(
                (groups == g).astype(np.uint8),
                shares[k],
                src_transform=src.transform,
                src_crs=src.crs,
                dst_transform=ref.transform,
                dst_crs=ref.crs,
                resampling=Resampling.average,
            )
    out: np.ndarray = np.asarray(order, np.uint8)[np.argmax(shares, axis=0)]
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
    assert result.grid.crs == "EPSG:32631"
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
def test_resampling_rules_on_mixed_cells(built_catalog: Path, tmp_path: Path, method: str) -> None:
    ref = read_reference(built_catalog)
    ref_g = alcd_groups(ref.values)
    f = 3
    rng = np.random.default_rng(11)
    fine = np.repeat(np.repeat(ref_g, f, 0), f, 1)
    noise = rng.random(fine.shape) < 0.15
    fine[noise] = rng.integers(0, 4, noise.sum(), dtype=np.uint8)
    path = tmp_path / f"{ITEM}_mixed.tif"
    write_mask(path, encode(fine, "python-fmask"), ref, 1)
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


def test_class_1_clear_is_recorded_and_used(built_catalog: Path, tmp_path: Path) -> None:
    ref = read_reference(built_catalog)
    values = ref.values.copy()
    values[:5, :5] = 1  # the class no published product uses
    mask = write_mask(tmp_path / f"{ITEM}_c1.tif", values, ref, 1)
    for class_1, clear in (("ignore", False), ("clear", True)):
        options = ScoreOptions(class_1=class_1)  # type: ignore[arg-type]
        result = score_mask(mask, "alcd", str(item_json(built_catalog)), options)
        want = expected(alcd_groups(ref.values), alcd_groups(values, class_1_clear=clear))
        assert got(result) == want


def test_score_masks_pools_summed_matrix_and_mean(built_catalog: Path, tmp_path: Path) -> None:
    ref = read_reference(built_catalog)
    ref_g = alcd_groups(ref.values)
    masks, wants = [], []
    for k in (10, 60):
        user_g = edit(ref_g, k, seed=k)
        masks.append(write_mask(tmp_path / f"{ITEM}_{k}.tif", encode(user_g, "fmask4"), ref, 3))
        wants.append(expected(ref_g, user_g)["invalid"])
    run = score_masks(masks, "fmask4", built_catalog, workers=2)
    assert [s.item.id for s in run.scores] == [ITEM, ITEM]
    summed = run.pooled.summed["invalid"].confusion
    assert summed.tp == wants[0]["tp"] + wants[1]["tp"]
    assert summed.fn == wants[0]["fn"] + wants[1]["fn"]
    recalls = [w["tp"] / (w["tp"] + w["fn"]) for w in wants]
    assert run.pooled.mean["invalid"]["recall"] == pytest.approx(sum(recalls) / 2)


@pytest.mark.parametrize("method", ["majority", "any", "nearest"])
def test_mask_covering_part_of_the_tile_off_the_cell_edges(
    built_catalog: Path, tmp_path: Path, method: str
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
    assert result.grid.col_off == c0 // f
    assert result.grid.row_off == r0 // f
    assert got(result) == expected(ref_g, _block_groups(outside, f, method))
