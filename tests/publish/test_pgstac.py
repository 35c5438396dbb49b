"""stacgen.publish.pgstac: loading a built catalog into pgstac, checked in the database.

What went in is compared with the catalog's JSON files on disk; what a load wrote is read from
PostgreSQL's own row versions (xmin, ctid), not from the load's report; order and comparisons
are checked with pgstac's search function against Python's sorted() of the JSON values.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import psycopg
import pytest
from click.testing import CliRunner
from hydraters import hydrate
from psycopg.types.json import Jsonb

from stacgen import constants
from stacgen.assemble.pipeline import BuildOptions, build
from stacgen.cli import main
from stacgen.publish.pgstac import PgstacLoadError, load
from stacgen.testing.pgcluster import free_port

ROOT = "https://data.example.org/alcd/"


def item_files(catalog: Path) -> dict[str, Path]:
    """id -> file of every item JSON in the catalog folder."""
    found = {}
    for path in catalog.glob("*/*/*.json"):
        doc = json.loads(path.read_text())
        if doc.get("type") == "Feature":
            found[doc["id"]] = path
    return found


def search(dsn: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """pgstac's search, items hydrated in Python as stac-fastapi-pgstac does with
    use_api_hydrate (pgstac's own hydration drops null properties such as label:properties)."""
    with psycopg.connect(dsn) as conn:
        conn.execute("SET search_path TO pgstac, public")
        query = {**body, "conf": {"nohydrate": True}}
        row = conn.execute("SELECT pgstac.search(%s)", (Jsonb(query),)).fetchone()
    assert row is not None
    features = []
    for feature in row[0]["features"]:
        base = feature.pop("pgstac:base_item")
        features.append(hydrate({k: v for k, v in base.items() if v is not None}, feature))
    return features


def row_versions(dsn: str) -> dict[str, tuple[str, str]]:
    """id -> (xmin, ctid): both change whenever PostgreSQL rewrites a row."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT id, xmin::text, ctid::text FROM pgstac.items").fetchall()
    return {i: (x, c) for i, x, c in rows}


def table_versions(dsn: str, table: str) -> list[tuple[str, str]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(f"SELECT xmin::text, ctid::text FROM pgstac.{table}").fetchall()
    return sorted((x, c) for x, c in rows)


@pytest.fixture
def catalog_copy(built_catalog: Path, tmp_path: Path) -> Path:
    """A copy of the session catalog that a test may change."""
    return Path(shutil.copytree(built_catalog, tmp_path / "catalog"))


def set_property(item: Path, name: str, value: Any) -> None:
    doc = json.loads(item.read_text())
    doc["properties"][name] = value
    item.write_text(json.dumps(doc))


def test_load_puts_every_item_in(fresh_dsn: str, built_catalog: Path) -> None:
    report = load(fresh_dsn, built_catalog, ROOT)
    expected = item_files(built_catalog)
    with psycopg.connect(fresh_dsn) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM pgstac.items").fetchall()]
        collections = [r[0] for r in conn.execute("SELECT id FROM pgstac.collections")]
    assert sorted(ids) == sorted(expected)
    assert collections == [constants.COLLECTION_ID]
    assert (report.inserted, report.updated, report.unchanged) == (len(expected), 0, 0)
    # what the API hands out is the catalog's item, hrefs aside
    some_id = sorted(expected)[0]
    [served] = search(fresh_dsn, {"ids": [some_id]})
    on_disk = json.loads(expected[some_id].read_text())
    assert served.keys() == on_disk.keys()
    for key in ("type", "stac_version", "stac_extensions", "properties", "geometry", "bbox"):
        assert served[key] == on_disk[key], key
    for key, asset in on_disk["assets"].items():
        assert {**served["assets"][key], "href": asset["href"]} == asset


def test_second_load_changes_nothing(fresh_dsn: str, built_catalog: Path) -> None:
    load(fresh_dsn, built_catalog, ROOT)
    items = row_versions(fresh_dsn)
    collections = table_versions(fresh_dsn, "collections")
    queryables = table_versions(fresh_dsn, "queryables")
    report = load(fresh_dsn, built_catalog, ROOT)
    assert row_versions(fresh_dsn) == items
    assert table_versions(fresh_dsn, "collections") == collections
    assert table_versions(fresh_dsn, "queryables") == queryables
    assert (report.inserted, report.updated, report.unchanged) == (0, 0, len(items))


def test_changed_item_is_updated(fresh_dsn: str, catalog_copy: Path) -> None:
    load(fresh_dsn, catalog_copy, ROOT)
    before = row_versions(fresh_dsn)
    changed_id, changed_file = sorted(item_files(catalog_copy).items())[1]
    set_property(changed_file, "eo:cloud_cover", 5.25)
    report = load(fresh_dsn, catalog_copy, ROOT)
    after = row_versions(fresh_dsn)
    assert after.keys() == before.keys()
    assert {i for i in after if after[i] != before[i]} == {changed_id}
    assert (report.inserted, report.updated) == (0, 1)
    [served] = search(fresh_dsn, {"ids": [changed_id]})
    assert served["properties"]["eo:cloud_cover"] == 5.25


def cloud_covers(catalog: Path) -> dict[str, float]:
    return {
        i: json.loads(p.read_text())["properties"]["eo:cloud_cover"]
        for i, p in item_files(catalog).items()
    }


@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_numbers_sort_as_numbers(fresh_dsn: str, catalog_copy: Path, direction: str) -> None:
    # one cover below 10 and one of 100: as text they would sort after "39.6" and before "15.7"
    files = sorted(item_files(catalog_copy).values())
    set_property(files[0], "eo:cloud_cover", 9.5)
    set_property(files[1], "eo:cloud_cover", 100)
    covers = cloud_covers(catalog_copy)
    numeric = sorted(covers.values(), reverse=direction == "desc")
    assert numeric != sorted(covers.values(), key=str, reverse=direction == "desc")
    load(fresh_dsn, catalog_copy, ROOT)
    sortby = [{"field": "properties.eo:cloud_cover", "direction": direction}]
    found = search(fresh_dsn, {"sortby": sortby, "limit": 100})
    assert [f["properties"]["eo:cloud_cover"] for f in found] == numeric


def test_numbers_compare_as_numbers(fresh_dsn: str, catalog_copy: Path) -> None:
    files = sorted(item_files(catalog_copy).values())
    set_property(files[0], "eo:cloud_cover", 9.5)
    load(fresh_dsn, catalog_copy, ROOT)
    covers = cloud_covers(catalog_copy)
    assert covers
    for limit in (10, 20, 30.5):
        expected = sorted(i for i, c in covers.items() if c < limit)
        cql = {"op": "<", "args": [{"property": "eo:cloud_cover"}, limit]}
        found = search(fresh_dsn, {"filter": cql, "filter-lang": "cql2-json", "limit": 100})
        assert sorted(f["id"] for f in found) == expected


def expected_href(item_file: Path, catalog: Path, href: str, root: str) -> str:
    """Where a href of the item file points once the catalog folder is served under `root`."""
    return urljoin(root + item_file.relative_to(catalog).as_posix(), href)


def test_hrefs_absolute_under_root_href(fresh_dsn: str, built_catalog: Path) -> None:
    load(fresh_dsn, built_catalog, ROOT)
    files = item_files(built_catalog)
    found = search(fresh_dsn, {"limit": 100})
    assert len(found) == len(files)
    for feature in found:
        on_disk = json.loads(files[feature["id"]].read_text())
        for key, asset in on_disk["assets"].items():
            href = feature["assets"][key]["href"]
            assert href.startswith(ROOT)
            assert href == expected_href(files[feature["id"]], built_catalog, asset["href"], ROOT)
    with psycopg.connect(fresh_dsn) as conn:
        row = conn.execute("SELECT content FROM pgstac.collections").fetchone()
    assert row is not None
    hrefs = [link["href"] for link in row[0]["links"]] + [
        a["href"] for a in row[0]["assets"].values()
    ]
    assert all(h.startswith(("https://", "http://")) for h in hrefs)
    assert f"{ROOT}{constants.COLLECTION_ID}/items.parquet" in hrefs


@pytest.fixture(scope="module")
def absolute_catalog(
    archive_tgz: Path, tmp_path_factory: pytest.TempPathFactory, cache_dir: Path
) -> Path:
    """The session archive built with --root-href ROOT (absolute hrefs everywhere)."""
    out = tmp_path_factory.mktemp("absolute") / "catalog"
    build(
        BuildOptions(archive=archive_tgz, out=out, cache_dir=cache_dir, workers=2, root_href=ROOT)
    )
    return out


def test_absolute_catalog_keeps_or_moves_its_hrefs(
    fresh_dsn: str, absolute_catalog: Path, built_catalog: Path
) -> None:
    files = item_files(absolute_catalog)
    some_id = sorted(files)[0]
    on_disk = json.loads(files[some_id].read_text())
    report = load(fresh_dsn, absolute_catalog)  # no root_href: the catalog's own
    assert report.inserted == len(files)
    [served] = search(fresh_dsn, {"ids": [some_id]})
    assert served["assets"] == on_disk["assets"]
    # served elsewhere: the same files under the new URL, as the relative catalog gives
    load(fresh_dsn, absolute_catalog, "http://127.0.0.1:8000/")
    [moved] = search(fresh_dsn, {"ids": [some_id]})
    relative = json.loads(item_files(built_catalog)[some_id].read_text())
    item_file = item_files(built_catalog)[some_id]
    for key, asset in relative["assets"].items():
        want = expected_href(item_file, built_catalog, asset["href"], "http://127.0.0.1:8000/")
        assert moved["assets"][key]["href"] == want


def test_relative_catalog_needs_root_href(fresh_dsn: str, built_catalog: Path) -> None:
    with pytest.raises(PgstacLoadError, match="--root-href"):
        load(fresh_dsn, built_catalog)


def test_item_without_datetime_changes_nothing(fresh_dsn: str, catalog_copy: Path) -> None:
    load(fresh_dsn, catalog_copy, ROOT)
    before = row_versions(fresh_dsn)
    files = sorted(item_files(catalog_copy).items())
    set_property(files[0][1], "eo:cloud_cover", 1.0)  # a good change, not to be loaded alone
    set_property(files[-1][1], "datetime", None)
    with pytest.raises(PgstacLoadError, match=f"item {files[-1][0]}: no datetime"):
        load(fresh_dsn, catalog_copy, ROOT)
    assert row_versions(fresh_dsn) == before


def test_bad_dsn_is_one_line(built_catalog: Path) -> None:
    with pytest.raises(PgstacLoadError, match="bad DSN") as bad:
        load("host=127.0.0.1 port", built_catalog, ROOT)
    assert "\n" not in str(bad.value)
    unreachable = f"postgresql://postgres:secret@127.0.0.1:{free_port()}/db"
    with pytest.raises(PgstacLoadError, match="cannot connect") as down:
        load(unreachable, built_catalog, ROOT)
    assert "\n" not in str(down.value)
    assert "secret" not in str(down.value)


def test_cli_load(fresh_dsn: str, built_catalog: Path) -> None:
    args = ["pgstac", "load", fresh_dsn, str(built_catalog), "--root-href", ROOT]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    count = len(item_files(built_catalog))
    assert f"{count} inserted, 0 updated, 0 unchanged" in first.output
    second = CliRunner().invoke(main, args)
    assert f"0 inserted, 0 updated, {count} unchanged" in second.output


def test_cli_unreachable_database(built_catalog: Path) -> None:
    dsn = f"postgresql://postgres@127.0.0.1:{free_port()}/db"
    result = CliRunner().invoke(
        main, ["pgstac", "load", dsn, str(built_catalog), "--root-href", ROOT]
    )
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot connect to postgres@127.0.0.1:")
    assert len(result.output.strip().splitlines()) == 1


def python_types(catalog: Path) -> dict[str, set[type]]:
    """Property -> the Python types of its non-null values, over every item file."""
    found: dict[str, set[type]] = {}
    for path in item_files(catalog).values():
        for name, value in json.loads(path.read_text())["properties"].items():
            if value is not None:
                found.setdefault(name, set()).add(type(value))
    return found


def test_every_property_registered_with_its_type(fresh_dsn: str, built_catalog: Path) -> None:
    report = load(fresh_dsn, built_catalog, ROOT)
    with psycopg.connect(fresh_dsn) as conn:
        rows = conn.execute(
            "SELECT name, property_wrapper, definition->>'type', collection_ids"
            " FROM pgstac.queryables WHERE collection_ids IS NOT NULL"
        ).fetchall()
    registered = {name: (wrapper, kind, ids) for name, wrapper, kind, ids in rows}
    expected: dict[str, tuple[str | None, str]] = {}
    for name, types in python_types(built_catalog).items():
        if name == "datetime" or dict in types:
            continue  # datetime is an items column; objects cannot be compared
        if types <= {int, float}:
            expected[name] = ("to_float", "number")
        elif types == {list}:
            expected[name] = ("to_text_array", "array")
        elif types == {str}:
            expected[name] = (None, "string")
    assert {"alcd:site", "alcd:subsets", "instruments", "ml-aoi:split"} <= set(expected)
    assert registered == {n: (*e, [constants.COLLECTION_ID]) for n, e in expected.items()}
    assert set(report.queryables) == set(expected)
    assert "label:properties" not in registered  # null in every item: no type to give it
