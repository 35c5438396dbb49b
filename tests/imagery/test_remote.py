"""The remote path of the fetch: band files on a loopback HTTP server (a synthetic SAFE's files,
served with range requests), as the network providers hand them over (`/vsicurl/` URLs)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rasterio
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from stacgen import constants
from stacgen.imagery import fetch as fetch_module
from stacgen.imagery.fetch import FetchError, FetchOptions, fetch
from stacgen.imagery.located import Located
from stacgen.imagery.providers import Settings
from stacgen.layout import imagery
from stacgen.source.naming import ProductName
from stacgen.testing.safe import band_values, write_safes_for_catalog
from tests.bounded import finishes_within
from tests.imagery.test_pixels import _expected_mean

BANDS = ("B02", "B05")


class FileServer:
    """Serves a folder's files by path, honouring `Range: bytes=N-M`; can cut one answer."""

    def __init__(self, server: HTTPServer, folder: Path) -> None:
        self.server, self.folder = server, folder
        self.requests: list[dict[str, str]] = []
        self.cut_once: set[str] = set()
        server.expect_request(re.compile("/.*")).respond_with_handler(self.handle)

    def handle(self, request: Request) -> Response:
        self.requests.append({"path": request.path, **dict(request.headers)})
        path = self.folder / request.path.lstrip("/")
        if not path.is_file():
            return Response(status=404)
        data = path.read_bytes()
        wanted = request.headers.get("Range")
        if wanted:
            first, _, last = wanted.removeprefix("bytes=").partition("-")
            end = int(last) + 1 if last else len(data)
            part = data[int(first) : end]
            headers = {
                "Content-Range": f"bytes {first}-{end - 1}/{len(data)}",
                "Accept-Ranges": "bytes",
            }
            return Response(part, status=206, headers=headers)
        if request.path in self.cut_once:
            self.cut_once.discard(request.path)
            response = Response(data[: len(data) // 3], headers={"Connection": "close"})
            response.headers["Content-Length"] = str(len(data))
            return response
        return Response(data, headers={"Accept-Ranges": "bytes"})


class FakeProvider:
    """A provider whose product is the SAFE served by `FileServer`, at `/vsicurl/` URLs."""

    name = "fake"

    def __init__(self, base: str, safes: Path, options: dict[str, str] | None = None) -> None:
        self.base, self.safes, self.options = base, safes, options or {}
        self.extra: dict[str, str] = {}

    def locate(self, item_id: str, product: ProductName) -> Located:
        safe = self.safes / f"{item_id}.SAFE"
        bands = {}
        for jp2 in safe.rglob("*.jp2"):
            band = jp2.stem.rsplit("_", 1)[-1]
            bands[band] = (
                f"/vsicurl/{self.base}/{jp2.relative_to(self.safes).as_posix()}?token=secret"
            )
        bands.update(self.extra)
        return Located(
            provider="fake",
            item_id=item_id,
            product=product,
            kind="original",
            provider_ref=f"{self.base}/{safe.name}",
            bands=bands,
            radio_add_offset=dict.fromkeys(bands, 0),
            gdal_options=self.options,
        )


@pytest.fixture
def catalog(built_catalog: Path, tmp_path: Path) -> Path:
    root = tmp_path / "catalog"
    shutil.copytree(built_catalog, root)
    return root


@pytest.fixture
def served(
    catalog: Path, tmp_path: Path, httpserver: HTTPServer
) -> tuple[str, FileServer, dict[str, Any]]:
    item_id = sorted(p.name for p in (catalog / constants.COLLECTION_ID).iterdir() if p.is_dir())[0]
    specs = write_safes_for_catalog(catalog, tmp_path / "safes", items=[item_id], bands=BANDS)
    return item_id, FileServer(httpserver, tmp_path / "safes"), specs


def _run(
    catalog: Path,
    item_id: str,
    fake: FakeProvider,
    monkeypatch: pytest.MonkeyPatch,
    schemas: Path,
    timeout: float = 10.0,
) -> fetch_module.FetchReport:
    monkeypatch.setattr(fetch_module, "provider", lambda name, settings: fake)
    options = FetchOptions(
        catalog,
        "fake",
        Settings(timeout=timeout),
        bands=tuple(imagery.band(b) for b in BANDS),
        items=(item_id,),
        workers=2,
        schemas=schemas,
    )
    return fetch(options)


def test_http_bands_are_downloaded_once_hashed_and_resumed(
    catalog: Path,
    tmp_path: Path,
    served: Any,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
    schemas: Path,
) -> None:
    item_id, files, specs = served
    b02 = next((tmp_path / "safes").rglob("*_B02.jp2"))
    files.cut_once.add("/" + b02.relative_to(tmp_path / "safes").as_posix())
    fake = FakeProvider(httpserver.url_for("").rstrip("/"), tmp_path / "safes")
    report = _run(catalog, item_id, fake, monkeypatch, schemas)
    assert report.fetched == [item_id]
    with rasterio.open(imagery.band_path(catalog, item_id, "B02")) as src:
        got = src.read(1)
    assert got.tolist() == _expected_mean(band_values(specs[item_id], "B02"), 6).tolist()
    b02_requests = [r for r in files.requests if r["path"].endswith("_B02.jp2")]
    assert [("Range" in r) for r in b02_requests] == [False, True]  # cut, then resumed
    resumed_at = int(b02_requests[1]["Range"].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= b02.stat().st_size // 3  # what arrived before the cut is kept
    manifest = json.loads((imagery.item_dir(catalog, item_id) / "manifest.json").read_text())
    source = next(s for s in manifest["sources"] if s["band"] == "B02")
    assert source["sha256"] == hashlib.sha256(b02.read_bytes()).hexdigest()
    assert source["size"] == b02.stat().st_size
    assert "secret" not in json.dumps(manifest)
    assert "secret" not in (imagery.item_json(catalog, item_id)).read_text()
    assert not list((imagery.item_dir(catalog, item_id)).glob("*.source"))


def test_gdal_reads_by_range_requests_when_the_provider_sets_options(
    catalog: Path,
    tmp_path: Path,
    served: Any,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
    schemas: Path,
) -> None:
    """A provider's GDAL options (requester pays, headers) mean GDAL reads the file itself."""
    item_id, files, specs = served
    fake = FakeProvider(
        httpserver.url_for("").rstrip("/"), tmp_path / "safes", {"GDAL_HTTP_HEADERS": "X-Probe: 1"}
    )
    report = _run(catalog, item_id, fake, monkeypatch, schemas)
    assert report.fetched == [item_id]
    jp2 = [r for r in files.requests if r["path"].endswith(".jp2")]
    assert jp2
    assert all(r.get("X-Probe") == "1" for r in jp2), [sorted(r) for r in jp2]
    assert any("Range" in r for r in jp2)
    with rasterio.open(imagery.band_path(catalog, item_id, "B05")) as src:
        got = src.read(1)
    assert got.tolist() == _expected_mean(band_values(specs[item_id], "B05"), 3).tolist()
    manifest = json.loads((imagery.item_dir(catalog, item_id) / "manifest.json").read_text())
    assert {s["sha256"] for s in manifest["sources"]} == {None}
    assert "secret" not in json.dumps(manifest)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A server on 127.0.0.1 that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    sock.close()


def test_a_server_that_never_answers_is_one_line_within_the_bound(
    catalog: Path,
    tmp_path: Path,
    served: Any,
    silent_port: int,
    monkeypatch: pytest.MonkeyPatch,
    schemas: Path,
) -> None:
    item_id, _, _ = served
    fake = FakeProvider(f"http://127.0.0.1:{silent_port}", tmp_path / "safes")
    before = sorted(p.relative_to(catalog) for p in catalog.rglob("*"))
    with pytest.raises(FetchError) as err:
        finishes_within(120, lambda: _run(catalog, item_id, fake, monkeypatch, schemas, timeout=1))
    assert len(err.value.details) == 1
    assert err.value.details[0].startswith(f"http://127.0.0.1:{silent_port}/{item_id}.SAFE/")
    assert ": unreachable (" in err.value.details[0]
    assert "token" not in err.value.details[0]
    assert sorted(p.relative_to(catalog) for p in catalog.rglob("*")) == before


def test_a_missing_file_is_one_line(
    catalog: Path,
    tmp_path: Path,
    served: Any,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
    schemas: Path,
) -> None:
    item_id, _, _ = served
    next((tmp_path / "safes").rglob("*_B05.jp2")).unlink()
    fake = FakeProvider(httpserver.url_for("").rstrip("/"), tmp_path / "safes")
    fake.extra = {"B05": f"/vsicurl/{fake.base}/{item_id}.SAFE/gone_B05.jp2"}
    with pytest.raises(FetchError) as err:
        _run(catalog, item_id, fake, monkeypatch, schemas)
    assert err.value.details == (f"{fake.base}/{item_id}.SAFE/gone_B05.jp2: not found (HTTP 404)",)
