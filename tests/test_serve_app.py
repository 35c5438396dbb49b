"""`stacgen serve` (stacgen.serve.app, static, guard, server): the static server, the embedded
STAC API through pystac-client, the COGs read over HTTP by rasterio, the absolute-href catalog,
hostile requests, and stopping on Ctrl-C."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pystac
import pytest
import rasterio
import requests
from pystac_client import Client
from pystac_client.conformance import ConformanceClasses
from rasterio.windows import Window
from serve_fixtures import (
    PUBLISHED_ROOT,
    FixtureCatalog,
)

from stacgen import constants
from stacgen.serve import BROWSER_HINT, ServeError, Server, serve
from stacgen.serve.static import ByteRange, Unsatisfiable, parse_range, safe_path

pytestmark = pytest.mark.timeout(120)
TIMEOUT = 10  # seconds, for every HTTP call
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"


def items_of(catalog: FixtureCatalog) -> list[dict[str, Any]]:
    """The items as written on disk: what the tests compute their expectations from."""
    return [catalog.item(i) for i in catalog.item_ids()]


def when(item: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(item["properties"]["datetime"])


def get(url: str, **headers: str) -> requests.Response:
    return requests.get(url, headers=headers, timeout=TIMEOUT)


@pytest.fixture(scope="module", name="client")
def client_fixture(api_server: Server) -> Client:
    """pystac-client on each backend (serve_fixtures.BACKENDS): they must answer alike."""
    return Client.open(api_server.urls.api, timeout=TIMEOUT)


# --- the STAC API through pystac-client ------------------------------------------------------
def test_api_declares_what_pystac_client_needs(client: Client) -> None:
    for cls in ("CORE", "COLLECTIONS", "FEATURES", "ITEM_SEARCH", "FILTER", "QUERY"):
        assert client.conforms_to(ConformanceClasses[cls]), cls
    assert [c.id for c in client.get_collections()] == [constants.COLLECTION_ID]


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


# --- the static api_server -----------------------------------------------------------------------
def test_cors_header_on_every_kind_of_answer(server: Server) -> None:
    for url in (server.urls.catalog, server.urls.api, f"{server.urls.root}missing.json"):
        assert get(url).headers["Access-Control-Allow-Origin"] == "*"
    preflight = requests.options(
        server.urls.catalog,
        headers={"Origin": "http://elsewhere", "Access-Control-Request-Headers": "range"},
        timeout=TIMEOUT,
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "range" in preflight.headers["Access-Control-Allow-Headers"].lower()
    assert "Content-Range" in get(server.urls.catalog).headers["Access-Control-Expose-Headers"]


@pytest.fixture(scope="module", name="cog")
def cog_fixture(serve_catalog: FixtureCatalog) -> tuple[str, Path]:
    """The URL and the file of one classification COG."""
    item_id = serve_catalog.item_ids()[0]
    rel = f"{constants.COLLECTION_ID}/{item_id}/classification.tif"
    return rel, serve_catalog.root / rel


@pytest.mark.parametrize(
    ("header", "first", "stop"),
    [("bytes=100-199", 100, 200), ("bytes=-50", -50, None), ("bytes=1000-", 1000, None)],
)
def test_range_gives_206_and_the_right_bytes(
    server: Server, cog: tuple[str, Path], header: str, first: int, stop: int | None
) -> None:
    data = cog[1].read_bytes()
    answer = get(server.urls.root + cog[0], Range=header)
    assert answer.status_code == 206
    assert answer.content == data[first:stop]
    start = first % len(data)
    assert (
        answer.headers["Content-Range"]
        == f"bytes {start}-{start + len(answer.content) - 1}/{len(data)}"
    )
    assert answer.headers["Accept-Ranges"] == "bytes"


def test_range_past_the_end_is_416(server: Server, cog: tuple[str, Path]) -> None:
    size = cog[1].stat().st_size
    answer = get(server.urls.root + cog[0], Range=f"bytes={size}-")
    assert answer.status_code == 416
    assert answer.headers["Content-Range"] == f"bytes */{size}"


def test_no_range_gives_the_whole_file(server: Server, cog: tuple[str, Path]) -> None:
    answer = get(server.urls.root + cog[0])
    assert answer.status_code == 200
    assert answer.content == cog[1].read_bytes()
    head = requests.head(server.urls.root + cog[0], timeout=TIMEOUT)
    assert head.headers["Content-Length"] == str(cog[1].stat().st_size)
    assert head.content == b""


@pytest.mark.parametrize(
    ("size", "header", "expected"),
    [
        (10, None, None),
        (10, "bytes=0-0", ByteRange(0, 0)),
        (10, "bytes=2-100", ByteRange(2, 9)),
        (10, "bytes=-3", ByteRange(7, 9)),
        (10, "bytes=-30", ByteRange(0, 9)),
        (10, "bytes=5-2", None),  # malformed: the whole file
        (10, "bytes=0-1,4-5", None),  # several ranges: the whole file
        (10, "items=0-1", None),
        (10, "bytes=-", None),
    ],
)
def test_parse_range(size: int, header: str | None, expected: ByteRange | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(("size", "header"), [(10, "bytes=10-"), (10, "bytes=-0"), (0, "bytes=0-")])
def test_parse_range_unsatisfiable(size: int, header: str) -> None:
    with pytest.raises(Unsatisfiable):
        parse_range(header, size)


@pytest.mark.parametrize(
    "path",
    [
        "/../catalog.json",
        "/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/%2E%2E/catalog.json",
        f"/{constants.COLLECTION_ID}/..%2f..%2fcatalog.json",
        f"/{constants.COLLECTION_ID}/%2e%2e%2fcatalog.json",
        "/..%5c..%5cetc/passwd",
        "/browser/../../etc/passwd",
        "/%00catalog.json",
        "/%ff%fe",
    ],
)
def test_traversal_is_refused(server: Server, path: str) -> None:
    # http.client sends the path as given; requests would normalise the dot segments away.
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
    try:
        conn.request("GET", path)
        answer = conn.getresponse()
        body = answer.read()
    finally:
        conn.close()
    assert answer.status in (403, 404)
    assert b"root:" not in body
    assert b'"type": "Catalog"' not in body


def test_safe_path_refuses_symlinks_out_of_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret.txt").write_text("secret")
    (root / "link.txt").symlink_to(tmp_path / "secret.txt")
    (root / "ok.txt").write_text("ok")
    assert safe_path(root.resolve(), "/ok.txt") == (root / "ok.txt").resolve()
    assert safe_path(root.resolve(), "/link.txt") is None
    assert safe_path(root.resolve(), "/a/../ok.txt") is None


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("catalog.json", "application/json"),
        (f"{constants.COLLECTION_ID}/collection.json", "application/json"),
        ("{item}/samples.geojson", "application/geo+json"),
        ("{item}/classification.tif", COG_TYPE),
        ("{item}/visual.tif", COG_TYPE),
        ("{item}/thumbnail.png", "image/png"),
        (f"{constants.COLLECTION_ID}/items.parquet", "application/vnd.apache.parquet"),
    ],
)
def test_media_types(
    server: Server, serve_catalog: FixtureCatalog, name: str, media_type: str
) -> None:
    item_id = serve_catalog.item_ids()[0]
    path = name.replace("{item}", f"{constants.COLLECTION_ID}/{item_id}")
    answer = get(server.urls.root + path)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == media_type
    assert answer.content == (serve_catalog.root / path).read_bytes()


def test_rasterio_reads_a_window_over_http(server: Server, cog: tuple[str, Path]) -> None:
    with rasterio.open(cog[1]) as local:
        # 256 x 256 px off the corner; smaller only if the raster is (test builds are 183 px)
        size = min(256, local.width, local.height)
        window = Window((local.width - size) // 2, local.height - size, size, size)
        expected = local.read(1, window=window)
        where = (local.crs, local.window_transform(window))
    with (
        rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR", GDAL_HTTP_TIMEOUT=TIMEOUT),
        rasterio.open(server.urls.root + cog[0]) as remote,
    ):
        assert (remote.crs, remote.window_transform(window)) == where
        got = remote.read(1, window=window)
    assert got.shape == (size, size)
    assert np.array_equal(got, expected)
    assert len(np.unique(expected)) > 3  # a window with several classes, not a blank one


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
@pytest.fixture(scope="module", name="absolute_server")
def absolute_server_fixture(
    absolute_catalog: FixtureCatalog, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    no_browser = tmp_path_factory.mktemp("no-browser")
    with serve(absolute_catalog.root, "127.0.0.1", 0, browser_dir=no_browser) as server:
        yield server


def test_absolute_catalog_is_served_under_this_servers_url(
    absolute_server: Server, absolute_catalog: FixtureCatalog
) -> None:
    on_disk = (absolute_catalog.root / "catalog.json").read_text()
    assert PUBLISHED_ROOT in on_disk  # the fixture really has absolute hrefs
    served = get(absolute_server.urls.catalog)
    assert PUBLISHED_ROOT not in served.text
    self_link = next(lk for lk in served.json()["links"] if lk["rel"] == "self")
    assert self_link["href"] == absolute_server.urls.catalog
    root = pystac.Catalog.from_file(absolute_server.urls.catalog)
    items = list(root.get_items(recursive=True))
    assert sorted(i.id for i in items) == absolute_catalog.item_ids()
    for item in items:
        href = item.assets["classification"].href
        assert href.startswith(absolute_server.urls.root)
        local = absolute_catalog.item_path(item.id).parent / "classification.tif"
        assert get(href, Range="bytes=0-99").content == local.read_bytes()[:100]


def test_absolute_catalog_follows_the_host_name_used(absolute_server: Server) -> None:
    served = get(absolute_server.urls.catalog, Host=f"localhost:{absolute_server.port}")
    child = next(lk for lk in served.json()["links"] if lk["rel"] == "child")
    assert child["href"].startswith(f"http://localhost:{absolute_server.port}/")


def test_absolute_catalog_api_gives_local_asset_hrefs(
    absolute_server: Server, absolute_catalog: FixtureCatalog
) -> None:
    threshold = median_cover(items_of(absolute_catalog))
    client = Client.open(absolute_server.urls.api, timeout=TIMEOUT)
    items = list(client.search(filter=f"eo:cloud_cover < {threshold}", max_items=None).items())
    assert len(items) == len(absolute_catalog.item_ids()) // 2
    for item in items:
        assert item.assets["visual"].href.startswith(absolute_server.urls.root)
        assert get(item.assets["thumbnail"].href).headers["Content-Type"] == "image/png"


# --- starting and stopping -------------------------------------------------------------------
def test_serve_refuses_a_folder_without_catalog(tmp_path: Path) -> None:
    with pytest.raises(ServeError, match=r"catalog\.json"):
        serve(tmp_path, "127.0.0.1", 0)


def test_serve_refuses_a_taken_port(server: Server, serve_catalog: FixtureCatalog) -> None:
    with pytest.raises(ServeError, match="cannot listen"):
        serve(serve_catalog.root, "127.0.0.1", server.port)


def test_stop_closes_the_port_and_kept_alive_connections(serve_catalog: FixtureCatalog) -> None:
    server = serve(serve_catalog.root, "127.0.0.1", 0)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
    conn.request("GET", "/catalog.json")
    assert conn.getresponse().read()
    server.stop()
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        refused(conn)
    conn.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()


def refused(conn: http.client.HTTPConnection) -> None:
    conn.request("GET", "/catalog.json")
    conn.getresponse().read()


RUNNER = """
import sys
from pathlib import Path
from stacgen.serve import run_forever

run_forever(Path(sys.argv[1]), "127.0.0.1", 0, browser_dir=Path(sys.argv[2]),
            on_ready=lambda urls: print(urls.root, flush=True))
print("stopped", flush=True)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_run_forever_stops_on_ctrl_c_and_sigterm(
    serve_catalog: FixtureCatalog, tmp_path: Path, sig: signal.Signals
) -> None:
    import psutil

    proc = subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(serve_catalog.root), str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    try:
        assert proc.stdout is not None
        root = proc.stdout.readline().strip()
        assert root.startswith("http://127.0.0.1:"), proc.stderr.read() if proc.stderr else ""
        assert get(root + "catalog.json").status_code == 200
        assert psutil.Process(proc.pid).children(recursive=True) == []
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out.strip() == "stopped"
    port = int(root.rstrip("/").rsplit(":", 1)[1])
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
