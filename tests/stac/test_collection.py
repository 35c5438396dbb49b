"""stacgen.stac.collection: the collection's extent and license, against the items."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import shapely

from stacgen import constants
from stacgen.stac.collection import spdx_license


def test_extent_covers_exactly_the_items(built_catalog: Path) -> None:
    folder = built_catalog / constants.COLLECTION_ID
    items = [json.loads((p / f"{p.name}.json").read_text()) for p in folder.iterdir() if p.is_dir()]
    union = shapely.union_all([shapely.geometry.shape(i["geometry"]) for i in items])
    collection = json.loads((folder / "collection.json").read_text())
    assert collection["extent"]["spatial"]["bbox"][0] == pytest.approx(list(union.bounds))
    stamps = sorted(datetime.fromisoformat(i["properties"]["datetime"]) for i in items)
    start, end = collection["extent"]["temporal"]["interval"][0]
    assert (datetime.fromisoformat(start), datetime.fromisoformat(end)) == (stamps[0], stamps[-1])


@pytest.mark.parametrize(
    ("license_field", "spdx"),
    [({"id": "cc-by-4.0"}, "CC-BY-4.0"), ("cc-by-4.0", "CC-BY-4.0"), ({"id": "MIT"}, "MIT")],
)
def test_license_as_spdx(license_field: object, spdx: str) -> None:
    assert spdx_license({"metadata": {"license": license_field}}) == spdx


def test_extent_has_one_bbox_per_tile(built_catalog: Path) -> None:
    folder = built_catalog / constants.COLLECTION_ID
    items = [json.loads((p / f"{p.name}.json").read_text()) for p in folder.iterdir() if p.is_dir()]
    by_tile: dict[str, list[list[float]]] = {}
    for item in items:
        p = item["properties"]
        tile = f"{p['mgrs:utm_zone']}{p['mgrs:latitude_band']}{p['mgrs:grid_square']}"
        by_tile.setdefault(tile, []).append(item["bbox"])
    boxes = json.loads((folder / "collection.json").read_text())["extent"]["spatial"]["bbox"]
    assert len(boxes) == 1 + len(by_tile)
    for tile, box in zip(sorted(by_tile), boxes[1:], strict=True):
        found = by_tile[tile]
        expected = [min(b[0] for b in found), min(b[1] for b in found)]
        expected += [max(b[2] for b in found), max(b[3] for b in found)]
        assert box == pytest.approx(expected), tile


# stac-check's best practices for each file, printed as JSON (run through the schema mirror).
LINT = """
import json, sys
from stac_check.lint import Linter
print(json.dumps({path: Linter(path).create_best_practices_dict() for path in sys.argv[1:]}))
"""


def test_links_have_titles_as_stac_check_recommends(
    built_catalog: Path, tmp_path: Path, schemas: Path
) -> None:
    mirror = schemas.parent / "tools" / "with-schema-mirror"  # ../shared holds both
    script = tmp_path / "lint.py"
    script.write_text(LINT)
    collection = built_catalog / constants.COLLECTION_ID / "collection.json"
    paths = [str(built_catalog / "catalog.json"), str(collection)]
    result = subprocess.run(
        [sys.executable, str(mirror), str(script), *paths],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    practices = json.loads(result.stdout.strip().splitlines()[-1])
    for path in paths:
        assert "check_links_title" not in practices[path], practices[path]
    for link in json.loads(collection.read_text())["links"]:
        assert link.get("title") or link["rel"] == "self", link
