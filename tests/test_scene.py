from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from stacgen import constants
from stacgen.source.scene import (
    Tile,
    check_statistics,
    combine,
    parse_product_name,
    parse_tile,
    read_folder,
)
from stacgen.testing import synthetic


def test_compact_name() -> None:
    p = parse_product_name("S2B_MSIL1C_20171002T103009_N0205_R108_T31TFJ_20171002T103209")
    assert p.form == "compact"
    assert p.platform == "sentinel-2b"
    assert p.datetime == datetime(2017, 10, 2, 10, 30, 9, tzinfo=UTC)
    assert (p.relative_orbit, p.tile, p.baseline) == (108, "31TFJ", "02.05")


def test_legacy_name_uses_the_validity_start_and_has_no_tile() -> None:
    p = parse_product_name(
        "S2A_OPER_PRD_MSIL1C_PDMC_20160901T191510_R079_V20160831T095032_20160831T095217"
    )
    assert p.form == "legacy"
    assert p.platform == "sentinel-2a"
    assert p.datetime == datetime(2016, 8, 31, 9, 50, 32, tzinfo=UTC)
    assert (p.relative_orbit, p.tile, p.baseline) == (79, None, None)


@pytest.mark.parametrize(
    "name",
    [
        "S2B_MSIL2A_20171002T103009_N0205_R108_T31TFJ_20171002T103209",  # L2A, not L1C
        "S2B_MSIL1C_20171002T103009_N0205_R108_31TFJ_20171002T103209",  # tile without T
        "S2A_OPER_PRD_MSIL1C_PDMC_20160901T191510_R079_V20160831T095032",  # no validity stop
        "S2B_MSIL1C_20171002T103009_N0205_R108_T31TFJ_20171002T103209.SAFE",
        "README",
    ],
)
def test_other_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="neither a compact nor a legacy"):
        parse_product_name(name)


def test_every_published_folder_name_parses_to_its_listed_tile() -> None:
    for folder in constants.SCENE_FOLDERS:
        product = parse_product_name(folder.product)
        assert product.tile in (None, folder.tile)
        assert (product.form == "legacy") == (folder.product in constants.LEGACY_TO_COMPACT)


@pytest.mark.parametrize(
    ("tile", "epsg"), [("31TFJ", 32631), ("35JPM", 32735), ("21LWK", 32721), ("T11SPC", 32611)]
)
def test_tile_epsg_from_latitude_band(tile: str, epsg: int) -> None:
    assert parse_tile(tile).epsg == epsg


@pytest.mark.parametrize("bad", ["31TF", "61TFJ", "31AFJ", "xxTFJ", 31])
def test_bad_tiles_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="not an MGRS tile id"):
        parse_tile(bad)


def test_tile_parts() -> None:
    t = Tile("33UUU")
    assert (t.zone, t.latitude_band, t.grid_square) == (33, "U", "UU")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"means": [1.0], "stds": [0.1]}, "'metrics_names' is not a list"),
        ({"metrics_names": ["accuracy"], "means": [], "stds": [0.1]}, "'means' does not give"),
        ({"metrics_names": ["accuracy"], "means": [1.0]}, "'stds' does not give"),
        ({"metrics_names": ["accuracy"], "means": ["x"], "stds": [0.1]}, "not a number"),
    ],
)
def test_malformed_statistics_are_problems(data: dict[str, object], reason: str) -> None:
    (problem,) = check_statistics(Path("k.json"), data)
    assert problem.path == Path("k.json")
    assert reason in problem.message


def test_well_formed_statistics_pass() -> None:
    data = {"metrics_names": ["accuracy", "recall"], "means": [0.9, 1], "stds": [0.1, 0.0]}
    assert check_statistics(Path("k.json"), data) == []


def test_copies_of_a_product_are_kept_whole_reference_first(tmp_path: Path) -> None:
    folders = [f for f in constants.SCENE_FOLDERS if f.product == constants.SHARED_PRODUCT]
    top = synthetic.make_tree(tmp_path, size=16, folders=folders)
    paths = [top / f.subset / f.product for f in folders]
    # read in the other order: the Reference_dataset copy is still the primary
    scenes, problems = combine(top, {p: read_folder(p) for p in reversed(paths)})
    assert problems == []
    (scene,) = scenes
    assert scene.subsets == constants.SUBSETS
    for copy, path in zip(scene.copies, paths, strict=True):
        assert copy.folder == path
        assert copy.parameters == json.loads((path / constants.PARAMETERS).read_text())
        assert copy.statistics == json.loads((path / constants.STATISTICS).read_text())
        assert {s.name for s in copy.shapefiles} == {
            p.name for p in (path / constants.SAMPLES_DIR).glob("*.shp")
        }
    assert scene.statistics == scene.copies[0].statistics != scene.copies[1].statistics
