"""Offline validation of a catalog: schemas, links, asset files and COGs, on small catalogs."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pystac
import pytest
import rasterio
from affine import Affine
from pystac.extensions.eo import EOExtension
from pystac.extensions.file import FileExtension
from pystac.extensions.projection import ProjectionExtension

from stacgen.errors import Problem
from stacgen.fileutil import digests, sha256_multihash
from stacgen.stac.schema_pins import GRID_SCHEMA, SENTINEL2_SCHEMA
from stacgen.stac.schemas import SchemaNotFound
from stacgen.stac.validate import (
    SchemaStore,
    validate_catalog,
    validate_stac_object,
)

CRS = "EPSG:32631"
ORIGIN = (300_000.0, 5_000_000.0)
PIXEL = 20.0
ITEM_IDS = ("item-a", "item-b")
UNKNOWN_EXTENSION = "https://stac-extensions.github.io/not-mirrored/v9.9.9/schema.json"


@dataclass(frozen=True)
class Built:
    root: Path
    collection: Path
    items: dict[str, Path]  # id -> item JSON


def write_raster(path: Path, size: int, **profile: Any) -> None:
    """A single-band uint8 raster on a UTM grid; `profile` picks the driver and layout."""
    data = (np.arange(size * size, dtype=np.uint32) % 251).astype(np.uint8).reshape(size, size)
    with rasterio.open(
        path,
        "w",
        width=size,
        height=size,
        count=1,
        dtype="uint8",
        crs=CRS,
        transform=Affine(PIXEL, 0.0, ORIGIN[0], 0.0, -PIXEL, ORIGIN[1]),
        **profile,
    ) as dst:
        dst.write(data, 1)


def write_cog(path: Path, size: int = 64) -> None:
    write_raster(path, size, driver="COG", blocksize=256, compress="deflate")


def write_plain_geotiff(path: Path, size: int = 600) -> None:
    """Striped, no overviews, larger than 512 px: what rio-cogeo must reject."""
    write_raster(path, size, driver="GTiff", tiled=False)


def add_asset(item: pystac.Item, key: str, path: Path, media_type: str) -> None:
    asset = pystac.Asset(href=str(path), media_type=media_type, roles=["data"])
    item.add_asset(key, asset)
    file_ext = FileExtension.ext(asset, add_if_missing=True)
    file_ext.size = path.stat().st_size
    file_ext.checksum = sha256_multihash(digests(path)["sha256"])


def make_item(item_id: str, item_dir: Path) -> pystac.Item:
    bbox = [2.0, 45.0, 2.1, 45.1]
    geometry = {
        "type": "Polygon",
        "coordinates": [[[2.0, 45.0], [2.1, 45.0], [2.1, 45.1], [2.0, 45.1], [2.0, 45.0]]],
    }
    item = pystac.Item(item_id, geometry, bbox, datetime(2020, 5, 1, tzinfo=UTC), {})
    proj = ProjectionExtension.ext(item, add_if_missing=True)
    proj.code, proj.shape = CRS, [64, 64]
    proj.transform = [PIXEL, 0.0, ORIGIN[0], 0.0, -PIXEL, ORIGIN[1]]
    EOExtension.ext(item, add_if_missing=True).cloud_cover = 12.5
    item_dir.mkdir(parents=True)
    write_cog(item_dir / "mask.tif")
    add_asset(item, "mask", item_dir / "mask.tif", pystac.MediaType.COG)
    (item_dir / "notes.json").write_text('{"note": "not STAC"}\n')
    add_asset(item, "notes", item_dir / "notes.json", pystac.MediaType.JSON)
    return item


def build_catalog(root: Path, root_href: str | None = None) -> Built:
    """catalog -> collection -> two items, each with a COG and a JSON asset, saved by pystac."""
    catalog = pystac.Catalog("test-catalog", "A catalog for the validator tests")
    items = [make_item(i, root / "coll" / i) for i in ITEM_IDS]
    extent = pystac.Extent(
        pystac.SpatialExtent([[2.0, 45.0, 2.1, 45.1]]),
        pystac.TemporalExtent([[datetime(2020, 5, 1, tzinfo=UTC), None]]),
    )
    collection = pystac.Collection("coll", "A collection", extent, license="CC-BY-4.0")
    catalog.add_child(collection)
    collection.add_items(items)
    if root_href:
        catalog.normalize_hrefs(root_href, skip_unresolved=True)
        for item in items:
            for key, asset in item.assets.items():
                asset.href = f"{root_href}/coll/{item.id}/{Path(asset.href).name}"
                item.assets[key] = asset
        catalog.save(pystac.CatalogType.ABSOLUTE_PUBLISHED, dest_href=str(root))
    else:
        catalog.normalize_hrefs(str(root), skip_unresolved=True)
        catalog.make_all_asset_hrefs_relative()
        catalog.save(pystac.CatalogType.SELF_CONTAINED)
    files = {i: root / "coll" / i / f"{i}.json" for i in ITEM_IDS}
    return Built(root, root / "coll" / "collection.json", files)


def edit_json(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    obj = json.loads(path.read_text())
    change(obj)
    path.write_text(json.dumps(obj, indent=2))


def messages_for(problems: list[Problem], path: Path) -> list[str]:
    return [p.message for p in problems if p.path == path]


@pytest.fixture
def built(tmp_path: Path) -> Built:
    return build_catalog(tmp_path / "catalog")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Any attempt to open a network connection is recorded and fails."""
    attempts: list[tuple[Any, ...]] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise OSError("network access attempted in an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


def test_valid_catalog_has_no_problems(built: Built, schemas: Path) -> None:
    item = json.loads(built.items["item-a"].read_text())
    assert any("projection" in url for url in item["stac_extensions"])
    assert any("/file/" in url for url in item["stac_extensions"])
    assert validate_catalog(built.root, schemas) == []
    assert validate_catalog(built.root, schemas, workers=3) == []


def test_built_catalog_is_valid(built_catalog: Path, schemas: Path) -> None:
    assert validate_catalog(built_catalog, schemas, workers=2) == []


def test_problem_names_file_and_message() -> None:
    assert str(Problem(Path("cat/x.json"), "bad")) == "cat/x.json: bad"


def test_item_without_datetime_is_a_schema_problem(built: Built, schemas: Path) -> None:
    edit_json(built.items["item-a"], lambda o: o["properties"].pop("datetime"))
    problems = validate_catalog(built.root, schemas)
    assert problems
    assert all(p.path == built.items["item-a"] for p in problems)
    assert any("item.json" in m and "'datetime' is a required" in m for m in map(str, problems))


def test_unknown_extension_is_reported_without_network(
    built: Built, schemas: Path, offline: list[tuple[Any, ...]]
) -> None:
    edit_json(built.items["item-b"], lambda o: o["stac_extensions"].append(UNKNOWN_EXTENSION))
    problems = validate_catalog(built.root, schemas)
    assert [p.path for p in problems] == [built.items["item-b"]]
    assert UNKNOWN_EXTENSION in problems[0].message
    assert "not in the offline mirror" in problems[0].message
    assert offline == []


def test_schema_store_refuses_unknown_urls(schemas: Path, offline: list[tuple[Any, ...]]) -> None:
    store = SchemaStore(schemas)
    with pytest.raises(SchemaNotFound, match="not-mirrored"):
        store.load(UNKNOWN_EXTENSION)
    with pytest.raises(SchemaNotFound, match="not an http"):
        store.load("ftp://example.org/schema.json")
    assert store.load("https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/item.json#x")
    assert offline == []


@pytest.mark.parametrize("version", ["1.0.0", "1.1.0"])
def test_core_schema_follows_stac_version(built: Built, schemas: Path, version: str) -> None:
    obj = json.loads(built.root.joinpath("catalog.json").read_text())
    obj["stac_version"] = version
    assert validate_stac_object(obj, SchemaStore(schemas)) == []
    del obj["description"]
    (problem,) = validate_stac_object(obj, SchemaStore(schemas))
    assert f"v{version}/catalog-spec" in problem
    assert "'description' is a required property" in problem


def test_unmirrored_stac_version_names_its_schema(built: Built, schemas: Path) -> None:
    obj = json.loads(built.root.joinpath("catalog.json").read_text())
    obj["stac_version"] = "0.9.0"
    (problem,) = validate_stac_object(obj, SchemaStore(schemas))
    assert "https://schemas.stacspec.org/v0.9.0/catalog-spec/json-schema/catalog.json" in problem


def test_extension_fields_are_checked(built: Built, schemas: Path) -> None:
    edit_json(built.items["item-a"], lambda o: o["properties"].update({"eo:cloud_cover": 250}))
    (problem,) = validate_catalog(built.root, schemas)
    assert problem.path == built.items["item-a"]
    assert "eo/v" in problem.message
    assert "eo:cloud_cover" in problem.message


def _declare_grid_and_s2(obj: dict[str, Any], code: str = "MGRS-31TFJ") -> None:
    obj["stac_extensions"] += [GRID_SCHEMA, SENTINEL2_SCHEMA]
    obj["properties"].update({"grid:code": code, "s2:processing_baseline": "02.05"})


def test_grid_and_sentinel2_not_in_the_mirror_are_said_unchecked_not_failed(
    built: Built, schemas: Path, offline: list[tuple[Any, ...]], caplog: pytest.LogCaptureFixture
) -> None:
    assert not (schemas / "stac-extensions.github.io" / "sentinel-2").exists()
    edit_json(built.items["item-a"], _declare_grid_and_s2)
    with caplog.at_level("WARNING", logger="stacgen.stac.validate"):
        assert validate_catalog(built.root, schemas) == []
    warned = [r.getMessage() for r in caplog.records]
    for url in (GRID_SCHEMA, SENTINEL2_SCHEMA):
        assert [m for m in warned if m.startswith(f"schema {url} is not in")], warned
    assert all("were not checked" in m for m in warned)
    assert offline == []


def test_grid_and_sentinel2_are_checked_where_the_source_holds_them(
    built: Built, schemas: Path, tmp_path: Path
) -> None:
    """A mirror with pystac's own copy of the grid schema: a grid:code it forbids is found."""
    import shutil

    import pystac.extensions

    mirror = tmp_path / "mirror"
    shutil.copytree(schemas, mirror)
    bundled = Path(pystac.extensions.__file__).parent / "json-schema" / "grid" / "v1.1.0.json"
    target = mirror / "stac-extensions.github.io" / "grid" / "v1.1.0" / "schema.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(bundled, target)
    edit_json(built.items["item-a"], _declare_grid_and_s2)
    assert validate_catalog(built.root, mirror) == []
    edit_json(built.items["item-a"], lambda o: o["properties"].update({"grid:code": "31TFJ"}))
    (problem,) = validate_catalog(built.root, mirror)
    assert GRID_SCHEMA in problem.message
    assert "grid:code" in problem.message


def _wrong_size(asset: dict[str, Any]) -> None:
    asset["file:size"] += 1


def _wrong_checksum(asset: dict[str, Any]) -> None:
    asset["file:checksum"] = "1220" + "0" * 64


def _missing_file(asset: dict[str, Any]) -> None:
    asset["href"] = "./gone.tif"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_wrong_size, "file:size"),
        (_wrong_checksum, "file:checksum"),
        (_missing_file, "does not exist"),
    ],
)
def test_asset_file_mismatch_is_one_problem(
    built: Built, schemas: Path, change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    edit_json(built.items["item-a"], lambda o: change(o["assets"]["mask"]))
    problems = validate_catalog(built.root, schemas)
    assert len(problems) == 1, problems
    assert problems[0].path == built.items["item-a"]
    assert "asset 'mask'" in problems[0].message
    assert expected in problems[0].message


def test_asset_checksum_of_a_non_cog_is_checked(built: Built, schemas: Path) -> None:
    (built.root / "coll" / "item-b" / "notes.json").write_text('{"note": "changed"}\n')
    problems = validate_catalog(built.root, schemas)
    assert {p.path for p in problems} == {built.items["item-b"]}
    assert all("asset 'notes'" in p.message for p in problems)
    assert any("file:checksum" in p.message for p in problems)


def _replace_with_plain_geotiff(built: Built) -> Path:
    tif = built.root / "coll" / "item-a" / "mask.tif"
    tif.unlink()
    write_plain_geotiff(tif)

    def update(obj: dict[str, Any]) -> None:
        obj["assets"]["mask"]["file:size"] = tif.stat().st_size
        obj["assets"]["mask"]["file:checksum"] = sha256_multihash(digests(tif)["sha256"])

    edit_json(built.items["item-a"], update)
    return tif


def test_plain_geotiff_is_a_cog_problem(built: Built, schemas: Path) -> None:
    _replace_with_plain_geotiff(built)
    problems = validate_catalog(built.root, schemas, workers=2)
    assert problems
    assert {p.path for p in problems} == {built.items["item-a"]}
    assert all("asset 'mask'" in p.message and "COG" in p.message for p in problems)
    assert validate_catalog(built.root, schemas, check_cogs=False) == []


def test_cog_found_by_extension_without_media_type(built: Built, schemas: Path) -> None:
    _replace_with_plain_geotiff(built)
    edit_json(built.items["item-a"], lambda o: o["assets"]["mask"].pop("type"))
    problems = validate_catalog(built.root, schemas)
    assert any("COG" in p.message for p in problems)


def test_broken_child_link_is_a_problem(built: Built, schemas: Path) -> None:
    def break_child(obj: dict[str, Any]) -> None:
        (child,) = [link for link in obj["links"] if link["rel"] == "child"]
        child["href"] = "./nowhere/collection.json"

    catalog = built.root / "catalog.json"
    edit_json(catalog, break_child)
    problems = validate_catalog(built.root, schemas)
    assert any("child link ./nowhere/collection.json" in m for m in messages_for(problems, catalog))
    assert "does not exist" in messages_for(problems, catalog)[0]


def test_orphan_item_is_a_problem(built: Built, schemas: Path) -> None:
    def drop_item_b(obj: dict[str, Any]) -> None:
        obj["links"] = [link for link in obj["links"] if "item-b" not in link["href"]]

    edit_json(built.collection, drop_item_b)
    problems = validate_catalog(built.root, schemas)
    assert [p.path for p in problems] == [built.items["item-b"]]
    assert "not reachable" in problems[0].message


def test_missing_root_catalog(tmp_path: Path, schemas: Path) -> None:
    (problem,) = validate_catalog(tmp_path, schemas)
    assert problem.path == tmp_path
    assert "catalog.json" in problem.message


def test_unreadable_json_is_a_problem(built: Built, schemas: Path) -> None:
    bad = built.root / "coll" / "item-a" / "extra.json"
    bad.write_text("{not json")
    (problem,) = validate_catalog(built.root, schemas)
    assert problem.path == bad


def test_asset_outside_the_catalog_is_a_problem(built: Built, schemas: Path) -> None:
    edit_json(built.items["item-a"], lambda o: o["assets"]["mask"].update(href="../../../x.tif"))
    (problem,) = validate_catalog(built.root, schemas)
    assert "outside the catalog folder" in problem.message


PUBLISHED = "https://data.example.org/alcd"


def test_published_catalog_maps_urls_to_files(
    tmp_path: Path, schemas: Path, offline: list[tuple[Any, ...]]
) -> None:
    built = build_catalog(tmp_path / "published", root_href=PUBLISHED)
    item = json.loads(built.items["item-a"].read_text())
    assert item["assets"]["mask"]["href"].startswith(PUBLISHED + "/coll/item-a/")
    assert validate_catalog(built.root, schemas, root_href=PUBLISHED) == []
    assert validate_catalog(built.root, schemas) == []  # root href read from the self link
    (built.root / "coll" / "item-a" / "mask.tif").unlink()
    (problem,) = validate_catalog(built.root, schemas, root_href=PUBLISHED + "/")
    assert "asset 'mask'" in problem.message
    assert "does not exist" in problem.message
    assert offline == []


def test_url_outside_root_href_is_not_checked_offline(tmp_path: Path, schemas: Path) -> None:
    built = build_catalog(tmp_path / "published", root_href=PUBLISHED)
    elsewhere = "https://elsewhere.example.com/mask.tif"
    edit_json(built.items["item-b"], lambda o: o["assets"]["mask"].update(href=elsewhere))
    (problem,) = validate_catalog(built.root, schemas, root_href=PUBLISHED)
    assert problem.path == built.items["item-b"]
    assert elsewhere in problem.message
    assert "not checked offline" in problem.message
