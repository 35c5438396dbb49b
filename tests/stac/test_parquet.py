"""items.parquet read back with stac-geoparquet and with rustac: valid STAC, equal to the JSON
items, with hrefs that resolve from the parquet file's own folder (or absolute)."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow.parquet as pq
import pytest
import rustac
import stac_geoparquet.arrow

from stacgen import constants
from stacgen.assemble.pipeline import BuildOptions, build
from stacgen.stac.links import map_hrefs
from stacgen.stac.validate import SchemaStore, validate_stac_object

COLL = constants.COLLECTION_ID
ROOT = "https://example.org/alcd"
Reader = Callable[[Path], list[dict[str, Any]]]


def _read_stac_geoparquet(path: Path) -> list[dict[str, Any]]:
    return list(stac_geoparquet.arrow.stac_table_to_items(pq.read_table(path)))


def _read_rustac(path: Path) -> list[dict[str, Any]]:
    found: dict[str, Any] = rustac.read_sync(str(path))
    return list(found["features"])


READERS = {"stac_geoparquet": _read_stac_geoparquet, "rustac": _read_rustac}


@pytest.fixture(scope="module")
def absolute_build(
    archive_tgz: Path, tmp_path_factory: pytest.TempPathFactory, cache_dir: Path
) -> Path:
    out = tmp_path_factory.mktemp("parquet-abs") / "catalog"
    build(BuildOptions(archive=archive_tgz, out=out, cache_dir=cache_dir, root_href=ROOT))
    return out


def _json_items(catalog: Path) -> dict[str, dict[str, Any]]:
    folder = catalog / COLL
    return {
        p.name: json.loads((p / f"{p.name}.json").read_text())
        for p in sorted(folder.iterdir())
        if (p / f"{p.name}.json").is_file()
    }


def _absolute(href: str, base: str) -> str:
    """An href made absolute against `base` (a folder path or URL ending in /)."""
    if urlsplit(href).scheme or href.startswith("/"):
        return href
    return posixpath.normpath(base + href)


def _comparable(item: dict[str, Any], base: str) -> dict[str, Any]:
    """The item with absolute hrefs, one datetime spelling, no self link, JSON types only."""
    value: dict[str, Any] = json.loads(json.dumps(map_hrefs(item, lambda h: _absolute(h, base))))
    value["links"] = [link for link in value["links"] if link["rel"] not in ("self", "alternate")]
    stamp = value["properties"]["datetime"]
    value["properties"]["datetime"] = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return value


@pytest.mark.parametrize("reader", READERS)
def test_read_back_items_are_valid_and_equal_the_json_items(
    built_catalog: Path, schemas: Path, reader: str
) -> None:
    folder = built_catalog / COLL
    back = {i["id"]: i for i in READERS[reader](folder / "items.parquet")}
    items = _json_items(built_catalog)
    assert set(back) == set(items)
    store = SchemaStore(schemas)
    for item_id, item in items.items():
        got = back[item_id]
        assert validate_stac_object(got, store) == [], item_id
        assert _comparable(got, f"{folder}/") == _comparable(item, f"{folder / item_id}/")


@pytest.mark.parametrize("reader", READERS)
def test_hrefs_resolve_from_the_parquet_folder_and_rows_link_their_json(
    built_catalog: Path, reader: str
) -> None:
    folder = built_catalog / COLL
    rows = list(READERS[reader](folder / "items.parquet"))
    assert rows
    for item in rows:
        for asset in item["assets"].values():
            assert not urlsplit(asset["href"]).scheme
            assert (folder / asset["href"]).is_file(), asset["href"]
        # STAC wants self links absolute: a relative catalog's rows link their JSON otherwise
        assert not [link for link in item["links"] if link["rel"] == "self"]
        (json_link,) = [link for link in item["links"] if link["rel"] == "alternate"]
        assert json.loads((folder / json_link["href"]).read_text())["id"] == item["id"]
        for link in item["links"]:
            if not urlsplit(link["href"]).scheme:
                assert (folder / link["href"]).is_file(), link


@pytest.mark.parametrize("reader", READERS)
def test_published_build_parquet_is_absolute(
    absolute_build: Path, schemas: Path, reader: str
) -> None:
    folder = absolute_build / COLL
    items = _json_items(absolute_build)
    store = SchemaStore(schemas)
    rows = list(READERS[reader](folder / "items.parquet"))
    assert sorted(row["id"] for row in rows) == sorted(items)
    for got in rows:
        assert validate_stac_object(got, store) == []
        hrefs = [a["href"] for a in got["assets"].values()] + [x["href"] for x in got["links"]]
        assert all(urlsplit(h).scheme for h in hrefs), hrefs
        (self_link,) = [link for link in got["links"] if link["rel"] == "self"]
        assert self_link["href"] == f"{ROOT}/{COLL}/{got['id']}/{got['id']}.json"
        assert _comparable(got, "") == _comparable(items[got["id"]], "")
