"""stacgen.score.scoring end to end on the synthetic catalog: masks made here from the reference
with known edits, in every built-in table, at 20 m and 10 m equivalents, thresholds, class 1 and
pooling. The confusion matrices must equal what numpy computes from the same pixels here (the
resampling and dilation rules: test_resample.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stacgen.score import ScoreError, ScoreOptions, score_mask, score_masks
from stacgen.score.outputs import scores_json
from tests.score.helpers import (
    CLEAR,
    CLOUD,
    ENCODE,
    ITEM,
    ND,
    SHADOW,
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
    assert result.comparisons
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
    user_g = np.where(as_u8 > 40, CLOUD, CLEAR).astype(np.uint8)  # s2cloudless: `>`
    assert 0 < (user_g == CLOUD).mean() < 1  # the threshold splits the mask
    for values in (as_u8, as_u8.astype(np.float32) / 100):
        mask = write_mask(tmp_path / f"{ITEM}_p.tif", values, ref, 1)
        options = ScoreOptions(threshold=0.4)
        result = score_mask(mask, "s2cloudless", str(item_json(built_catalog)), options)
        assert got(result)["cloud"] == expected(ref_g, user_g)["cloud"]


def test_class_1_clear_is_recorded_and_used(built_catalog: Path, tmp_path: Path) -> None:
    ref = read_reference(built_catalog)
    values = ref.values.copy()
    values[:5, :5] = 1  # the class no published product uses
    mask = write_mask(tmp_path / f"{ITEM}_c1.tif", values, ref, 1)
    scores = {}
    for class_1, clear in (("ignore", False), ("clear", True)):
        options = ScoreOptions(class_1=class_1)  # type: ignore[arg-type]
        result = score_mask(mask, "alcd", str(item_json(built_catalog)), options)
        want = expected(alcd_groups(ref.values), alcd_groups(values, class_1_clear=clear))
        assert got(result) == want
        scores[class_1] = got(result)
    assert scores["ignore"] != scores["clear"]  # the option changes what is counted


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


def test_the_fmask_preset_dilates_shadow_by_one_cell_and_is_recorded(
    built_catalog: Path, tmp_path: Path
) -> None:
    ref = read_reference(built_catalog)
    user_g = edit(alcd_groups(ref.values), K)
    mask = write_mask(tmp_path / f"{ITEM}_fmask4.tif", encode(user_g, "fmask4"), ref, 3)
    item = str(item_json(built_catalog))
    # FMask's advice: shadow 3 of its 20 m pixels = 60 m = one reference cell; cloud none.
    by_hand = score_mask(mask, "fmask4", item, ScoreOptions(dilate_shadow=1))
    preset = score_mask(mask, "fmask4", item, ScoreOptions(dilate_preset="fmask"))
    assert got(preset) == got(by_hand) != got(score_mask(mask, "fmask4", item))
    run = score_masks([mask], "fmask4", built_catalog, options=ScoreOptions(dilate_preset="fmask"))
    doc = scores_json(run)
    assert doc["options"]["dilate_preset"] == "fmask"
    assert (doc["options"]["dilate_cloud"], doc["options"]["dilate_shadow"]) == (0, 1)
    assert doc["dilate_preset"]["shadow_m"] == 60.0
    assert "FMask" in doc["dilate_preset"]["source"]
    with pytest.raises(ScoreError, match=r"^--dilate-preset fmask sets the dilation"):
        score_mask(mask, "fmask4", item, ScoreOptions(dilate_preset="fmask", dilate_cloud=2))
    with pytest.raises(ScoreError, match=r"^--dilate-preset maja: not a preset \(fmask, none\)$"):
        score_mask(mask, "fmask4", item, ScoreOptions(dilate_preset="maja"))


def test_a_declared_nodata_value_is_no_data_whatever_the_table_says(
    built_catalog: Path, tmp_path: Path
) -> None:
    ref = read_reference(built_catalog)
    ref_g = alcd_groups(ref.values)
    user_g = edit(ref_g, K)
    values = encode(user_g, "cloudsen12")  # 0 is clear in CloudSEN12
    mask = write_mask(tmp_path / f"{ITEM}_c12.tif", values, ref, 3, nodata=0)
    result = score_mask(mask, "cloudsen12", str(item_json(built_catalog)))
    declared = np.where(user_g == CLEAR, ND, user_g).astype(np.uint8)  # its clear is nodata
    assert got(result) == expected(ref_g, declared)
