"""stacgen.stac.collection: the collection's extent and license, against the items."""

from __future__ import annotations

import json
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
