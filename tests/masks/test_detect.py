"""stacgen masks detect, the orchestration: items, --out rule, names score matches, CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from stacgen.cli import main
from stacgen.layout import imagery
from stacgen.masks.detect import detect
from stacgen.masks.errors import MasksError
from stacgen.score import match_masks

pytest.importorskip("s2cloudless")


def _ids(catalog: Path) -> list[str]:
    return sorted(p.parent.name for p in (catalog / imagery.COLLECTION_ID).glob("*/*.json"))


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_masks_are_matched_by_score_to_their_items(label_catalog: Path, tmp_path: Path) -> None:
    ids = _ids(label_catalog)[:2]
    run = detect("s2cloudless", label_catalog, tmp_path / "m", items=ids)
    paths = [str(w.path) for w in run.masks]
    assert len(paths) == 2
    matches = match_masks(paths, label_catalog / "catalog.json")
    assert [m.item.id for m in matches] == ids
    assert [m.matched_by for m in matches] == ["product name", "product name"]


def test_split_chooses_the_label_items_of_the_split(label_catalog: Path, tmp_path: Path) -> None:
    splits = {}
    for item_id in _ids(label_catalog):
        label = label_catalog / "alcd-reference-cloud-masks" / item_id / f"{item_id}.json"
        splits[item_id] = json.loads(label.read_text())["properties"]["ml-aoi:split"]
    wanted = sorted(i for i, s in splits.items() if s == "test")
    assert wanted
    run = detect("s2cloudless", label_catalog, tmp_path / "m", split="test")
    assert sorted(w.item_id for w in run.masks) == wanted


def test_out_not_written_by_stacgen_is_refused_untouched(
    label_catalog: Path, tmp_path: Path
) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    before = _snapshot(out)
    with pytest.raises(MasksError, match="not written by stacgen masks"):
        detect("s2cloudless", label_catalog, out, items=_ids(label_catalog)[:1])
    assert _snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no temp folder left


def test_own_out_is_replaced_whole(label_catalog: Path, tmp_path: Path) -> None:
    ids = _ids(label_catalog)
    out = tmp_path / "m"
    detect("s2cloudless", label_catalog, out, items=ids[:2])
    detect("s2cloudless", label_catalog, out, items=ids[2:3])
    tifs = sorted(p.name for p in out.glob("*.tif"))
    assert tifs == [f"{ids[2]}_s2cloudless.tif"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert [e["id"] for e in manifest["items"]] == ids[2:3]


def test_missing_band_is_one_line_before_any_work(label_catalog: Path, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    shutil.copytree(label_catalog, catalog)
    item_id = _ids(catalog)[0]
    path = imagery.item_json(catalog, item_id)
    item = json.loads(path.read_text())
    del item["assets"]["B10"]
    path.write_text(json.dumps(item))
    with pytest.raises(MasksError, match=r"needs bands .*; missing B10 \(stacgen imagery fetch"):
        detect("s2cloudless", catalog, tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_unknown_item_and_option(label_catalog: Path, tmp_path: Path) -> None:
    with pytest.raises(MasksError, match=r"--items: not label items of .*: NOPE"):
        detect("s2cloudless", label_catalog, tmp_path / "m", items=["NOPE"])
    with pytest.raises(MasksError, match="--tile-size: not an option of s2cloudless"):
        detect("s2cloudless", label_catalog, tmp_path / "m", options={"tile_size": 3})


def test_cli(label_catalog: Path, tmp_path: Path) -> None:
    ids = _ids(label_catalog)[:1]
    out = tmp_path / "m"
    args = ["masks", "detect", "s2cloudless", str(label_catalog), "--items", ids[0]]
    result = CliRunner().invoke(main, [*args, "--out", str(out), "--threshold", "0.5"])
    assert result.exit_code == 0, result.output
    assert f"{ids[0]}_s2cloudless.tif" in result.output
    assert "--codes s2cloudless" in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["detector"]["parameters"]["threshold"] == 0.5
    bad = CliRunner().invoke(main, [*args, "--out", str(out), "--resolution", "45"])
    assert bad.exit_code == 1
    assert bad.output.strip().splitlines()[-1].startswith("Error: --resolution 45: must divide")


def test_a_mask_is_scored_with_its_no_data_left_out(label_catalog: Path, tmp_path: Path) -> None:
    import numpy as np
    import rasterio

    from stacgen.score import score_mask

    item_id = _ids(label_catalog)[0]
    run = detect("s2cloudless", label_catalog, tmp_path / "m", items=[item_id])
    codes = tmp_path / "codes.json"
    codes.write_text('{"clear": [0], "cloud": [1], "nodata": [255]}')
    item = label_catalog / "alcd-reference-cloud-masks" / item_id / f"{item_id}.json"
    score = score_mask(run.masks[0].path, codes, str(item))
    with rasterio.open(run.masks[0].path) as src:
        mask = src.read(1)
    label_path = item.parent / json.loads(item.read_text())["assets"]["classification"]["href"]
    with rasterio.open(label_path) as src:
        label = src.read(1)
    # cloud in the mask where the reference says cloud (ALCD 2, 3), counted with numpy
    tp = int(((mask == 1) & np.isin(label, [2, 3])).sum())
    assert tp > 0
    assert score.comparisons["cloud"].confusion.tp == tp
