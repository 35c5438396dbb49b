"""The second collection (`alcd-l1c`, written by `stacgen imagery fetch`) through both API
backends: listed, its items paged, its assets served, the label item's link to it followed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from stacgen.serve import Server, serve
from tests.imagery.fetched import fetched_copy

TIMEOUT = 30


@pytest.fixture(scope="module")
def fetched(
    built_catalog: Path, tmp_path_factory: pytest.TempPathFactory, schemas: Path
) -> tuple[Path, list[str]]:
    return fetched_copy(built_catalog, tmp_path_factory.mktemp("fetched"), schemas)


@pytest.fixture(scope="module", params=["embedded", "pgstac"])
def server(
    request: pytest.FixtureRequest,
    fetched: tuple[Path, list[str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    root, _ = fetched
    browser = tmp_path_factory.mktemp("nb")
    if request.param == "embedded":
        with serve(root, "127.0.0.1", 0, browser_dir=browser) as s:
            yield s
        return
    from stacgen.publish.pgstac import load
    from stacgen.serve.catalog import INTERNAL

    dsn = _own_database(str(request.getfixturevalue("pgstac_dsn")))
    report = load(dsn, root, INTERNAL)
    assert report.collections == 2
    with serve(root, "127.0.0.1", 0, browser_dir=browser, pgstac=dsn) as s:
        yield s


def _own_database(session_dsn: str) -> str:
    """A new database in the session's cluster: other tests' pgstac holds one collection."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    name = "imagery_collections"
    with psycopg.connect(session_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_conninfo(session_dsn, dbname=name)


def test_both_collections_are_listed(server: Server) -> None:
    answer = requests.get(f"{server.urls.api}collections", timeout=TIMEOUT).json()
    ids = sorted(c["id"] for c in answer["collections"])
    assert ids == ["alcd-l1c", "alcd-reference-cloud-masks"]


def test_imagery_items_are_served_with_their_assets(
    server: Server, fetched: tuple[Path, list[str]]
) -> None:
    _, ids = fetched
    url = f"{server.urls.api}collections/alcd-l1c/items"
    features = requests.get(url, params={"limit": 1}, timeout=TIMEOUT).json()["features"]
    assert len(features) == 1
    seen = []
    page = requests.get(url, params={"limit": 1}, timeout=TIMEOUT).json()
    while True:
        seen += [f["id"] for f in page["features"]]
        nxt = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
        if nxt is None:
            break
        page = requests.get(nxt, timeout=TIMEOUT).json()
    assert sorted(seen) == sorted(ids)
    band = features[0]["assets"]["B04"]
    got = requests.get(band["href"], timeout=TIMEOUT)
    assert got.status_code == 200
    assert len(got.content) == band["file:size"]


def test_the_label_item_links_to_its_image(server: Server, fetched: tuple[Path, list[str]]) -> None:
    _, ids = fetched
    label = requests.get(
        f"{server.urls.api}collections/alcd-reference-cloud-masks/items/{ids[0]}", timeout=TIMEOUT
    ).json()
    sources = [link for link in label["links"] if link["rel"] == "source"]
    assert sources
    image = requests.get(sources[0]["href"], timeout=TIMEOUT)
    assert image.status_code == 200
    assert image.json()["id"] == ids[0]
    assert image.json()["collection"] == "alcd-l1c"
