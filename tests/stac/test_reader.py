"""stacgen.stac.reader: a built catalog read with its hrefs under the serving URL."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from stacgen import constants
from stacgen.stac.reader import CatalogReadError, read_catalog
from tests.catalogs import PUBLISHED_ROOT, FixtureCatalog

SERVED = "http://127.0.0.1:8123/"


def _hrefs(value: object) -> list[str]:
    if isinstance(value, dict):
        return [v for k, v in value.items() if k == "href"] + [
            h for v in value.values() for h in _hrefs(v)
        ]
    return [h for v in value for h in _hrefs(v)] if isinstance(value, list) else []


def test_relative_catalog_under_the_serving_url(built_catalog: Path) -> None:
    docs = read_catalog(built_catalog, SERVED)
    ids = sorted(p.name for p in (built_catalog / constants.COLLECTION_ID).iterdir() if p.is_dir())
    assert sorted(item["id"] for item in docs.items) == ids
    assert [c["id"] for c in docs.collections] == [constants.COLLECTION_ID]
    item = next(i for i in docs.items if i["id"] == ids[0])
    on_disk = json.loads(
        (built_catalog / constants.COLLECTION_ID / ids[0] / f"{ids[0]}.json").read_text()
    )
    for key, asset in on_disk["assets"].items():
        expected = f"{SERVED}{constants.COLLECTION_ID}/{ids[0]}/{asset['href'].removeprefix('./')}"
        assert item["assets"][key]["href"] == expected
    local = [h for doc in [docs.catalog, *docs.collections, *docs.items] for h in _hrefs(doc)]
    assert all(h.startswith(("http://", "https://")) for h in local)


def test_absolute_catalog_moves_under_the_serving_url(absolute_catalog: FixtureCatalog) -> None:
    kept = read_catalog(absolute_catalog.root)
    assert kept.root == PUBLISHED_ROOT
    moved = read_catalog(absolute_catalog.root, SERVED)
    for before, after in zip(kept.items, moved.items, strict=True):
        assert after["assets"]["classification"]["href"] == before["assets"]["classification"][
            "href"
        ].replace(PUBLISHED_ROOT, SERVED)


def test_relative_catalog_needs_a_url(built_catalog: Path, tmp_path: Path) -> None:
    with pytest.raises(CatalogReadError, match="pass --root-href"):
        read_catalog(built_catalog)
    with pytest.raises(CatalogReadError, match=r"catalog\.json: does not exist"):
        read_catalog(tmp_path, SERVED)


def test_a_link_back_up_in_escapes_is_walked_once(built_catalog: Path, tmp_path: Path) -> None:
    """`%2E%2E` is `..` (RFC 3986 2.3: an escaped unreserved character is the character): a
    collection's child link to `%2E%2E/catalog.json` names the root catalog, read once, not a
    longer URL each time round (which read every item again, a few hundred times)."""
    folder = tmp_path / "catalog"
    shutil.copytree(built_catalog, folder)
    collection = folder / constants.COLLECTION_ID / "collection.json"
    doc = json.loads(collection.read_text())
    doc["links"].append({"rel": "child", "href": "%2E%2E/catalog.json", "type": "application/json"})
    collection.write_text(json.dumps(doc))
    docs = read_catalog(folder, SERVED)
    ids = sorted(p.name for p in (folder / constants.COLLECTION_ID).iterdir() if p.is_dir())
    assert sorted(item["id"] for item in docs.items) == ids
    assert [c["id"] for c in docs.collections] == [constants.COLLECTION_ID]
