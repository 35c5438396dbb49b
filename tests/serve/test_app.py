"""The site (stacgen.serve.app) end to end: the STAC API searched through pystac-client on each
backend, the landing page, the redirects, STAC Browser and its config."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from pystac_client import Client

from stacgen import constants
from stacgen.serve import BROWSER_HINT, Server, serve
from tests.catalogs import (
    FixtureCatalog,
)

pytestmark = pytest.mark.timeout(120)
TIMEOUT = 10  # seconds, for every HTTP call


def items_of(catalog: FixtureCatalog) -> list[dict[str, Any]]:
    """The items as written on disk: what the tests compute their expectations from."""
    return [catalog.item(i) for i in catalog.item_ids()]


def when(item: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(item["properties"]["datetime"])


def get(url: str, **headers: str) -> requests.Response:
    return requests.get(url, headers=headers, timeout=TIMEOUT)


@pytest.fixture(scope="module", name="client")
def client_fixture(api_server: Server) -> Client:
    """pystac-client on each backend (tests/serve/conftest.py: BACKENDS): they must answer alike."""
    return Client.open(api_server.urls.api, timeout=TIMEOUT)


def tile_of(item: dict[str, Any]) -> str:
    props = item["properties"]
    return f"{props['mgrs:utm_zone']}{props['mgrs:latitude_band']}{props['mgrs:grid_square']}"


def stamp(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def median_cover(items: list[dict[str, Any]]) -> float:
    return float(sorted(i["properties"]["eo:cloud_cover"] for i in items)[len(items) // 2])


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_bbox_around_one_tile_returns_its_items(
    client: Client, serve_catalog: FixtureCatalog, method: str
) -> None:
    items = items_of(serve_catalog)
    tiles = {tile_of(i) for i in items}
    assert len(tiles) > 1
    for tile in sorted(tiles):
        expected = {i["id"] for i in items if tile_of(i) == tile}
        west, south, east, north = next(i["bbox"] for i in items if i["id"] in expected)
        # Well inside the tile: neighbouring S2 tiles overlap by about 10 km at their edges.
        dx, dy = (east - west) * 0.15, (north - south) * 0.15
        bbox = [west + dx, south + dy, east - dx, north - dy]
        found = client.search(bbox=bbox, method=method, max_items=None).items()
        assert {i.id for i in found} == expected, tile


def test_bbox_over_nothing_returns_nothing(client: Client) -> None:
    assert list(client.search(bbox=[-40, -10, -39, -9]).items()) == []  # mid-Atlantic


@pytest.mark.parametrize("kind", ["closed", "open start", "open end"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_datetime_range(
    client: Client, serve_catalog: FixtureCatalog, kind: str, method: str
) -> None:
    items = items_of(serve_catalog)
    dates = sorted(when(i) for i in items)
    first, last = {
        "closed": (dates[1], dates[-2]),
        "open start": (None, dates[2]),
        "open end": (dates[-2], None),
    }[kind]
    interval = f"{stamp(first) if first else '..'}/{stamp(last) if last else '..'}"
    expected = {
        i["id"]
        for i in items
        if (first is None or when(i) >= first) and (last is None or when(i) <= last)
    }
    assert 0 < len(expected) < len(items)
    found = client.search(datetime=interval, method=method, max_items=None).items()
    assert {i.id for i in found} == expected


def cloud_search(how: str, threshold: float) -> dict[str, Any]:
    """pystac-client's arguments for `eo:cloud_cover < threshold`, written each way."""
    text = f"eo:cloud_cover < {threshold}"
    as_json = {"op": "<", "args": [{"property": "eo:cloud_cover"}, threshold]}
    searches: dict[str, dict[str, Any]] = {
        "cql2-text GET": {"filter": text, "method": "GET"},
        "cql2-json POST": {"filter": as_json, "method": "POST"},
        "cql2-text POST": {"filter": text, "filter_lang": "cql2-text", "method": "POST"},
        "query GET": {"query": [f"eo:cloud_cover<{threshold}"], "method": "GET"},
        "query POST": {"query": {"eo:cloud_cover": {"lt": threshold}}, "method": "POST"},
    }
    return searches[how]


@pytest.mark.parametrize(
    "how", ["cql2-text GET", "cql2-json POST", "cql2-text POST", "query GET", "query POST"]
)
def test_cloud_cover_below_a_threshold(
    client: Client, serve_catalog: FixtureCatalog, how: str
) -> None:
    items = items_of(serve_catalog)
    threshold = median_cover(items)
    expected = {i["id"] for i in items if i["properties"]["eo:cloud_cover"] < threshold}
    assert 0 < len(expected) < len(items)
    found = client.search(max_items=None, **cloud_search(how, threshold)).items()
    assert {i.id for i in found} == expected


def test_filter_combines_with_bbox_and_datetime(
    client: Client, serve_catalog: FixtureCatalog
) -> None:
    items = items_of(serve_catalog)
    newest = max(items, key=when)
    year, cover = when(newest).year, newest["properties"]["eo:cloud_cover"]
    expected = {
        i["id"]
        for i in items
        if i["properties"]["eo:cloud_cover"] >= cover and when(i).year == year
    }
    found = client.search(
        bbox=[-180, -90, 180, 90],
        datetime=str(year),
        filter={"op": ">=", "args": [{"property": "eo:cloud_cover"}, cover]},
    ).items()
    assert {i.id for i in found} == expected


def most_common(items: list[dict[str, Any]], name: str) -> str:
    """The value of a string property most items share (ties: the smallest)."""
    values: list[str] = sorted(i["properties"][name] for i in items)
    return max(sorted(set(values)), key=values.count)


def some_element(items: list[dict[str, Any]], name: str) -> str:
    """An element of an array property that some items hold and others do not."""
    every: set[str] = set.union(*(set(i["properties"][name]) for i in items))
    return min(v for v in every if not all(v in i["properties"][name] for i in items))


@pytest.mark.parametrize("name", ["alcd:site", "ml-aoi:split", "platform"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_string_equality_filter(
    client: Client, serve_catalog: FixtureCatalog, name: str, method: str
) -> None:
    items = items_of(serve_catalog)
    value = most_common(items, name)
    expected = {i["id"] for i in items if i["properties"][name] == value}
    if name != "platform":  # one platform for every synthetic scene
        assert 0 < len(expected) < len(items)
    text = f"\"{name}\" = '{value}'"
    as_json = {"op": "=", "args": [{"property": name}, value]}
    found = client.search(filter=text if method == "GET" else as_json, method=method).items()
    assert {i.id for i in found} == expected


@pytest.mark.parametrize("op", ["a_contains", "a_overlaps"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_array_filter_on_subsets(
    client: Client, serve_catalog: FixtureCatalog, op: str, method: str
) -> None:
    items = items_of(serve_catalog)
    value = some_element(items, "alcd:subsets")
    expected = {i["id"] for i in items if value in i["properties"]["alcd:subsets"]}
    assert 0 < len(expected) < len(items)
    text = f"{op.upper()}(\"alcd:subsets\", ('{value}'))"
    as_json = {"op": op, "args": [{"property": "alcd:subsets"}, [value]]}
    found = client.search(filter=text if method == "GET" else as_json, method=method).items()
    assert {i.id for i in found} == expected


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_paging_returns_every_item_once(
    client: Client, serve_catalog: FixtureCatalog, method: str
) -> None:
    search = client.search(limit=2, method=method, max_items=None)
    pages = [[f["id"] for f in page["features"]] for page in search.pages_as_dicts()]
    count = len(serve_catalog.item_ids())
    assert [len(p) for p in pages] == [2] * (count // 2) + [1] * (count % 2)
    ids = [i for page in pages for i in page]
    assert sorted(ids) == serve_catalog.item_ids()


def test_ids_and_collections(client: Client, serve_catalog: FixtureCatalog) -> None:
    two = serve_catalog.item_ids()[1:3]
    assert {i.id for i in client.search(ids=two).items()} == set(two)
    found = client.search(collections=[constants.COLLECTION_ID], max_items=None).items()
    assert len(list(found)) == len(serve_catalog.item_ids())
    assert list(client.search(collections=["no-such-collection"]).items()) == []


def test_collection_items_endpoint_pages(client: Client, serve_catalog: FixtureCatalog) -> None:
    collection = client.get_collection(constants.COLLECTION_ID)
    assert collection is not None
    assert sorted(i.id for i in collection.get_items()) == serve_catalog.item_ids()


def test_api_asset_hrefs_are_fetchable(client: Client, serve_catalog: FixtureCatalog) -> None:
    item = next(client.search(max_items=1).items())
    href = item.assets["classification"].href
    assert href.startswith("http://127.0.0.1:")
    local = serve_catalog.item_path(item.id).parent / "classification.tif"
    assert get(href).content == local.read_bytes()


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("bbox=1,2,3", 400),
        ("bbox=0,10,1,5", 400),
        ("datetime=yesterday", 400),
        ("filter=eo:cloud_cover%20%3C%3C%203", 400),
        ("filter-lang=sql&filter=id%3D1", 400),
        ("limit=0", 400),
        ("token=-1", 400),
        ("datetime=1985-04-12", 400),
        ("datetime=../..", 400),
        ("datetime=/", 400),
        ("bbox=nan,0,1,1", 400),
        ("filter=5", 400),
        ("filter=S_INTERSECTS(geometry,POLYGON((0%200,1)))", 400),
        ("query=%7B%22eo:cloud_cover%22:%7B%22near%22:3%7D%7D", 400),
    ],
)
def test_bad_searches_are_400_with_a_reason(api_server: Server, query: str, status: int) -> None:
    answer = get(f"{api_server.urls.api}search?{query}")
    assert answer.status_code == status, answer.text
    assert answer.json()["description"]


def test_unknown_api_paths_are_404(api_server: Server) -> None:
    assert get(f"{api_server.urls.api}collections/nope").status_code == 404
    assert (
        get(f"{api_server.urls.api}collections/{constants.COLLECTION_ID}/items/x").status_code
        == 404
    )
    assert get(f"{api_server.urls.api}nothing").status_code == 404


# --- the landing page and STAC Browser ------------------------------------------------------
def test_landing_page_and_redirects(server: Server) -> None:
    page = get(server.urls.root)
    assert page.headers["Content-Type"].startswith("text/html")
    assert 'href="catalog.json"' in page.text
    assert 'href="api/"' in page.text
    moved = requests.get(server.urls.root + "api", allow_redirects=False, timeout=TIMEOUT)
    assert (moved.status_code, moved.headers["Location"]) == (301, "/api/")


def test_browser_not_built_says_how_to_build_it(server: Server) -> None:
    assert server.urls.browser is None
    answer = get(server.urls.root + "browser/")
    assert answer.status_code == 404
    assert "make browser" in answer.text
    assert "make browser" in BROWSER_HINT
    assert get(server.urls.catalog).status_code == 200  # the rest is served


def test_built_browser_gets_this_servers_catalog_url(
    serve_catalog: FixtureCatalog, tmp_path: Path
) -> None:
    (tmp_path / "index.html").write_text("<!doctype html><title>STAC Browser</title>")
    with serve(serve_catalog.root, "127.0.0.1", 0, browser_dir=tmp_path) as server:
        assert server.urls.browser == f"{server.urls.root}browser/"
        assert "STAC Browser" in get(server.urls.browser).text
        config = get(f"{server.urls.browser}config.js", Host=f"localhost:{server.port}")
    assert config.headers["Content-Type"].startswith("text/javascript")
    prefix = "window.STAC_BROWSER_CONFIG = "
    assert config.text.startswith(prefix)
    settings = json.loads(config.text.removeprefix(prefix).rstrip().rstrip(";"))
    # STAC Browser opens on the API, so that its search page searches it.
    assert settings["catalogUrl"] == f"http://localhost:{server.port}/api/"


# --- a catalog built with --root-href --------------------------------------------------------
def test_absolute_catalog_api_gives_local_asset_hrefs(
    absolute_catalog: FixtureCatalog, tmp_path: Path
) -> None:
    threshold = median_cover(items_of(absolute_catalog))
    with serve(absolute_catalog.root, "127.0.0.1", 0, browser_dir=tmp_path) as server:
        client = Client.open(server.urls.api, timeout=TIMEOUT)
        items = list(client.search(filter=f"eo:cloud_cover < {threshold}", max_items=None).items())
        assert len(items) == len(absolute_catalog.item_ids()) // 2
        for item in items:
            assert item.assets["visual"].href.startswith(server.urls.root)
            assert get(item.assets["thumbnail"].href).headers["Content-Type"] == "image/png"
