"""The static files (stacgen.serve.static): byte ranges, safe paths, media types, COGs read over
HTTP by rasterio, and a catalog built with --root-href served under this server's URL."""

from __future__ import annotations

import http.client
from pathlib import Path
from typing import Any

import numpy as np
import pystac
import pytest
import rasterio
import requests
from rasterio.windows import Window

from stacgen import constants
from stacgen.serve import Server, serve
from stacgen.serve.static import ByteRange, Unsatisfiable, parse_range, safe_path
from tests.catalogs import (
    PUBLISHED_ROOT,
    FixtureCatalog,
)

pytestmark = pytest.mark.timeout(120)
TIMEOUT = 10  # seconds, for every HTTP call


def get(url: str, **headers: str) -> requests.Response:
    return requests.get(url, headers=headers, timeout=TIMEOUT)


COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"


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
