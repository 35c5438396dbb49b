"""The two protocols: `paper` is score's own figures (tests/benchmark/test_report.py); `cmix` is
checked against confusion matrices worked out by hand and, end to end, counted with numpy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from stacgen.benchmark.protocols import cmix, cmix_confusion
from stacgen.cli import main
from stacgen.score import Confusion
from stacgen.testing.masks import label_rasters
from tests.benchmark.pictures import thumbnail_codes

# rows: reference no data, clear, cloud, shadow; columns: the mask's, in the same order
JOINT = [
    [5, 1, 2, 3],  # reference no data: never counted
    [7, 50, 4, 6],  # reference clear
    [1, 3, 30, 2],  # reference cloud
    [0, 5, 6, 9],  # reference shadow: "not cloud" under CMIX
]


def test_cmix_matrix_by_hand() -> None:
    # tp: cloud/cloud 30; fn: cloud/clear 3 + cloud/shadow 2; fp: clear/cloud 4 + shadow/cloud 6;
    # tn: clear/clear 50 + clear/shadow 6 + shadow/clear 5 + shadow/shadow 9; mask no data out.
    assert cmix_confusion(JOINT) == Confusion(tp=30, fp=10, fn=5, tn=70)
    got = cmix(Confusion(tp=30, fp=10, fn=5, tn=70)).values
    assert got == pytest.approx(
        {
            "overall_accuracy": 100 / 115,
            "balanced_overall_accuracy": (30 / 35 + 70 / 80) / 2,
            "producers_accuracy_cloud": 30 / 35,
            "users_accuracy_cloud": 30 / 40,
            "producers_accuracy_clear": 70 / 80,
            "users_accuracy_clear": 70 / 75,
        }
    )


def test_cmix_undefined_metrics_have_reasons() -> None:
    result = cmix(Confusion(tp=0, fp=0, fn=0, tn=12))
    assert result.values["overall_accuracy"] == 1.0
    assert result.values["producers_accuracy_cloud"] is None
    assert result.values["users_accuracy_cloud"] is None
    assert result.values["balanced_overall_accuracy"] is None
    assert "no cloud pixel" in result.undefined["producers_accuracy_cloud"]
    assert set(result.undefined) == {
        "producers_accuracy_cloud",
        "users_accuracy_cloud",
        "balanced_overall_accuracy",
    }


def test_cmix_report_pools_all_valid_pixels(built_catalog: Path, tmp_path: Path) -> None:
    """Masks in the reference's own codes where every reference shadow is called cloud and some
    clouds shadow: counted here with numpy from the label rasters, pooled by hand."""
    rng = np.random.default_rng(5)
    folder = tmp_path / "masks"
    folder.mkdir()
    totals = dict.fromkeys(("tp", "fp", "fn", "tn"), 0)
    pictures = {}
    rasters = label_rasters(built_catalog)
    assert len(rasters) >= 2
    for item, path in list(rasters.items())[:2]:
        with rasterio.open(path) as ref:
            classes, profile = ref.read(1), ref.profile
        mask = classes.copy()
        mask[classes == 4] = 2  # shadow called cloud
        clouds = np.flatnonzero(np.isin(classes, (2, 3)))
        mask.flat[rng.choice(clouds, clouds.size // 5, replace=False)] = 4  # clouds called shadow
        mask[classes == 1] = 5
        valid = np.isin(classes, (2, 3, 4, 5, 6, 7))
        ref_cloud, mask_cloud = np.isin(classes, (2, 3)), np.isin(mask, (2, 3))
        totals["tp"] += int((valid & ref_cloud & mask_cloud).sum())
        totals["fp"] += int((valid & ~ref_cloud & mask_cloud).sum())
        totals["fn"] += int((valid & ref_cloud & ~mask_cloud).sum())
        totals["tn"] += int((valid & ~ref_cloud & ~mask_cloud).sum())
        codes = np.zeros(classes.shape, np.uint8)  # the agreement picture: 0 not counted
        for code, (ref_side, mask_side) in enumerate(((1, 1), (0, 0), (0, 1), (1, 0)), 1):
            codes[valid & (ref_cloud == ref_side) & (mask_cloud == mask_side)] = code
        pictures[item] = codes
        profile.update(driver="GTiff", nodata=None)
        with rasterio.open(folder / f"{item}_mine.tif", "w", **profile) as dst:
            dst.write(mask, 1)
    assert totals["fp"] > 0
    assert totals["fn"] > 0
    out = tmp_path / "report"
    args = ["benchmark", f"mine=alcd:{folder}", "--catalog", str(built_catalog)]
    result = CliRunner().invoke(main, [*args, "--protocol", "cmix", "--out", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "benchmark.json").read_text())
    pooled = doc["processors"][0]["pooled"]["cloud"]
    tp, fp, fn, tn = (totals[k] for k in ("tp", "fp", "fn", "tn"))
    assert pooled["confusion"] == {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "n": tp + fp + fn + tn}
    assert pooled["metrics"] == pytest.approx(
        {
            "overall_accuracy": (tp + tn) / (tp + fp + fn + tn),
            "balanced_overall_accuracy": (tp / (tp + fn) + tn / (tn + fp)) / 2,
            "producers_accuracy_cloud": tp / (tp + fn),
            "users_accuracy_cloud": tp / (tp + fp),
            "producers_accuracy_clear": tn / (tn + fp),
            "users_accuracy_clear": tn / (tn + fn),
        }
    )
    assert doc["protocol"]["name"] == "cmix"
    assert list(doc["processors"][0]["pooled"]) == ["cloud"]
    # Its agreement thumbnails are CMIX's comparison: shadow on either side is "not cloud".
    for item, codes in pictures.items():
        step = -(-max(codes.shape) // 160)  # every k-th pixel, to fit in 160 px
        got = thumbnail_codes(out / "thumbs" / "cloud" / "mine" / f"{item}.png")
        assert np.array_equal(got, codes[::step, ::step])
    assert sorted(p.name for p in (out / "thumbs").iterdir()) == ["cloud"]
