"""The served catalog in memory (stacgen.serve.catalog): what the index holds, read against the
files on disk, and the reload when a rebuild swaps a new folder into place."""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest

from stacgen import constants
from stacgen.serve import catalog as catalog_module
from stacgen.serve.catalog import INTERNAL, CatalogError, LiveIndex, load_index
from stacgen.stac import links
from stacgen.stac.reader import read_catalog
from tests.catalogs import FixtureCatalog


def on_disk(root: Path) -> dict[str, dict[str, Any]]:
    """The items the collection links to, read with json alone."""
    folder = root / constants.COLLECTION_ID
    collection = json.loads((folder / "collection.json").read_text())
    items = {}
    for link in collection["links"]:
        if link["rel"] == "item":
            item = json.loads((folder / link["href"]).resolve().read_text())
            items[item["id"]] = item
    return items


def drop_item(root: Path, item_id: str) -> None:
    """The folder as a build without that scene writes it."""
    path = root / constants.COLLECTION_ID / "collection.json"
    doc = json.loads(path.read_text())
    doc["links"] = [lk for lk in doc["links"] if not lk["href"].endswith(f"/{item_id}.json")]
    path.write_text(json.dumps(doc))
    shutil.rmtree(root / constants.COLLECTION_ID / item_id)


def set_cloud_cover(root: Path, item_id: str, value: float) -> None:
    path = root / constants.COLLECTION_ID / item_id / f"{item_id}.json"
    doc = json.loads(path.read_text())
    doc["properties"]["eo:cloud_cover"] = value
    path.write_text(json.dumps(doc))


def swap(folder: Path, new: Path) -> None:
    """What a build does: the complete new folder renamed into place."""
    old = folder.with_name(folder.name + ".old")
    os.rename(folder, old)
    os.rename(new, folder)
    shutil.rmtree(old)


@pytest.fixture(name="folder")
def folder_fixture(serve_catalog: FixtureCatalog, tmp_path: Path) -> Path:
    folder = tmp_path / "catalog"
    shutil.copytree(serve_catalog.root, folder)
    return folder


def test_index_holds_every_item_newest_first_then_by_id(serve_catalog: FixtureCatalog) -> None:
    items = on_disk(serve_catalog.root)
    index = load_index(serve_catalog.root)
    expected = sorted(
        items.values(),
        key=lambda i: (-datetime.fromisoformat(i["properties"]["datetime"]).timestamp(), i["id"]),
    )
    assert [i.id for i in index.items] == [i["id"] for i in expected]
    assert list(index.collections) == [constants.COLLECTION_ID]
    assert index.published is None  # built without --root-href
    for item in index.items:
        assert item.data["properties"] == items[item.id]["properties"]
        assert item.collection == constants.COLLECTION_ID
        assert index.item(constants.COLLECTION_ID, item.id) is item
        # Local files are held under INTERNAL, at the same relative place as on disk.
        href = item.data["assets"]["classification"]["href"]
        rel = f"{constants.COLLECTION_ID}/{item.id}/classification.tif"
        assert href == INTERNAL + rel
        assert (serve_catalog.root / rel).is_file()


def test_absolute_catalog_is_held_under_internal(absolute_catalog: FixtureCatalog) -> None:
    index = load_index(absolute_catalog.root)
    assert index.published == absolute_catalog.root_href
    for item in index.items:
        href = item.data["assets"]["visual"]["href"]
        assert href == f"{INTERNAL}{constants.COLLECTION_ID}/{item.id}/visual.tif"


def test_catalog_reloads_after_the_folder_is_swapped(folder: Path, tmp_path: Path) -> None:
    live = LiveIndex(folder)
    before = live.current()
    assert live.current() is before  # nothing changed: the same index, not read again
    ids = sorted(on_disk(folder))
    dropped, changed = ids[0], ids[1]
    new = tmp_path / "new"
    shutil.copytree(folder, new)
    drop_item(new, dropped)
    set_cloud_cover(new, changed, 99.5)
    swap(folder, new)
    after = live.current()
    assert after is not before
    assert sorted(i.id for i in after.items) == sorted(on_disk(folder)) == ids[1:]
    item = after.item(constants.COLLECTION_ID, changed)
    assert item is not None
    assert item.data["properties"]["eo:cloud_cover"] == 99.5
    assert live.current() is after


def test_a_broken_catalog_swapped_in_keeps_the_old_index(folder: Path, tmp_path: Path) -> None:
    live = LiveIndex(folder)
    before = [i.id for i in live.current().items]
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    (broken / "catalog.json").write_text("{")
    swap(folder, broken)
    assert [i.id for i in live.current().items] == before
    # and the next good build is picked up
    good = tmp_path / "good"
    shutil.copytree(folder, good)
    (good / "catalog.json").write_text(json.dumps(_new_catalog()))
    drop_item(good, before[0])
    swap(folder, good)
    assert sorted(i.id for i in live.current().items) == sorted(before[1:])


def _new_catalog() -> dict[str, Any]:
    return {
        "type": "Catalog",
        "id": "alcd",
        "stac_version": "1.1.0",
        "description": "rebuilt",
        "links": [
            {"rel": "root", "href": "./catalog.json", "type": "application/json"},
            {
                "rel": "child",
                "href": f"./{constants.COLLECTION_ID}/collection.json",
                "type": "application/json",
            },
        ],
    }


def test_a_folder_without_catalog_is_one_line_naming_it(tmp_path: Path) -> None:
    with pytest.raises(CatalogError) as caught:
        load_index(tmp_path)
    assert "catalog.json" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_an_item_without_collection_is_refused(folder: Path) -> None:
    item_id = sorted(on_disk(folder))[0]
    path = folder / constants.COLLECTION_ID / item_id / f"{item_id}.json"
    doc = json.loads(path.read_text())
    del doc["collection"]
    path.write_text(json.dumps(doc))
    with pytest.raises(CatalogError, match=item_id):
        load_index(folder)


def test_too_many_items_are_refused_before_reading_them(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    count = len(on_disk(folder))
    monkeypatch.setattr(catalog_module, "MAX_ITEMS", count - 1)
    with pytest.raises(CatalogError, match="--pgstac"):
        load_index(folder)
    monkeypatch.setattr(catalog_module, "MAX_ITEMS", count)
    assert len(load_index(folder).items) == count


# --- the reader: read_catalog's documents, faster ------------------------------------------------
@pytest.mark.parametrize("which", ["serve_catalog", "absolute_catalog"])
def test_index_holds_what_read_catalog_reads(which: str, request: pytest.FixtureRequest) -> None:
    """The index reads the items itself (read_catalog takes 15 s for 10,000): the same items,
    hrefs and all, as stacgen.stac.reader.read_catalog gives."""
    built: FixtureCatalog = request.getfixturevalue(which)
    docs = read_catalog(built.root, INTERNAL)
    index = load_index(built.root)
    assert {i.id: i.data for i in index.items} == {d["id"]: d for d in docs.items}
    assert index.collections == {c["id"]: c for c in docs.collections}
    assert index.catalog == docs.catalog


def test_a_moved_href_of_each_kind_is_read_catalogs(folder: Path) -> None:
    item_id = sorted(on_disk(folder))[0]
    path = folder / constants.COLLECTION_ID / item_id / f"{item_id}.json"
    doc = json.loads(path.read_text())
    hrefs = ["./a b.tif", "../../catalog.json", "x/../y.tif", "?q", "#f", "", "file:///etc/x",
             "HTTP://Example.org/a/../b", "a%20b.tif", "../../../../../../../../x", ".hidden",
             "./sub/./z.tif", "c:d", " ./s.tif", "./a;b", "\u00e9t\u00e9.tif", 'a"b.tif',
             "a\\b.tif", "./a\\"]  # fmt: skip
    doc["assets"] = {f"a{k}": {"href": h} for k, h in enumerate(hrefs)}
    doc["assets"]["a0"]['x"href'] = "./not-an-href.tif"  # a key that ends in "href
    doc["properties"]["alcd:nested"] = {"deep": [{"href": "./in-a-property.tif"}]}
    doc["href"] = "./top-level.json"
    path.write_text(json.dumps(doc))
    read = next(d for d in read_catalog(folder, INTERNAL).items if d["id"] == item_id)
    index = load_index(folder)
    item = index.item(constants.COLLECTION_ID, item_id)
    assert item is not None
    assert item.data == read
    assert read["properties"]["alcd:nested"]["deep"][0]["href"].startswith(INTERNAL)
    assert read["assets"]["a0"]['x"href'] == "./not-an-href.tif"


@pytest.mark.parametrize(
    "href",
    ["./a.tif", "a/b.json", "../collection.json", "../../catalog.json", "../../../../x",
     "./a/../b", "a//b", ".x", "a/.b", "a?b", "a#b", "a:b", "a%41", "", "./", "../", "é.tif"],
)  # fmt: skip
def test_plain_relative_hrefs_join_as_urljoin_does(href: str) -> None:
    folder = "file:///tmp/cat%20alog/coll/item/"
    joined = links.join_plain(folder, href)
    assert joined is None or joined == urljoin(folder, href)
    if href in ("./a.tif", "a/b.json", "../collection.json", "../../catalog.json", "é.tif"):
        assert joined is not None  # the hrefs a build writes take the fast way


def test_links_out_of_the_catalog_are_skipped_as_read_catalog_skips_them(
    folder: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An item link through a symbolic link to a file outside the folder, or to no file, is
    not followed (and is named in a warning), by the index as by read_catalog."""
    item_id = sorted(on_disk(folder))[0]
    outside = tmp_path / "outside.json"
    doc = json.loads((folder / constants.COLLECTION_ID / item_id / f"{item_id}.json").read_text())
    outside.write_text(json.dumps({**doc, "id": "outside"}))
    collection = folder / constants.COLLECTION_ID / "collection.json"
    (collection.parent / "escape.json").symlink_to(outside)
    (collection.parent / "inside.json").symlink_to(collection.parent / item_id / f"{item_id}.json")
    coll = json.loads(collection.read_text())
    coll["links"] += [
        {"rel": "item", "href": f"./{name}", "type": "application/json"}
        for name in ("escape.json", "missing.json", "inside.json")
    ]
    collection.write_text(json.dumps(coll))
    read = sorted(d["id"] for d in read_catalog(folder, INTERNAL).items)
    caplog.clear()
    index = load_index(folder)
    assert sorted(i.id for i in index.items) == read
    assert "outside" not in read
    for name in ("escape.json", "missing.json"):
        assert any(name in r.getMessage() for r in caplog.records), name
