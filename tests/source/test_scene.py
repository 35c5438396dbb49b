from __future__ import annotations

import json
from pathlib import Path

import pytest

from stacgen import constants
from stacgen.source.scene import check_statistics, combine, read_folder
from stacgen.testing import synthetic


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
