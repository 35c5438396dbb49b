"""Where validation reads the schemas: a mirror folder, or the pinned schemas fetched and cached.

The fake schema server on 127.0.0.1 serves the files of the project's schema mirror (the copies
of the public repositories, with their own manifest of digests) in the mirror's layout; the
pins in the code are checked against those files, not against themselves.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
from pathlib import Path
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from stacgen.stac.schema_pins import GRID_SCHEMA, SCHEMA_SHA256, UNMIRRORED_SCHEMAS
from stacgen.stac.schemas import (
    MirrorSchemas,
    PinnedSchemas,
    SchemaNotFound,
    SchemasUnavailable,
    relative_path,
    schema_source,
)
from stacgen.stac.validate import SchemaStore, schema_urls, validate_catalog

ITEM_URL = "https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/item.json"
LABEL_URL = "https://stac-extensions.github.io/label/v1.0.1/schema.json"


class FakeSchemaServer:
    """The mirror's files over HTTP at `/<host>/<path>`; `tamper` changes the bytes served."""

    def __init__(self, httpserver: HTTPServer, mirror: Path) -> None:
        self.mirror = mirror
        self.requested: list[str] = []
        self.tamper: set[str] = set()
        httpserver.expect_request(re.compile("/mirror/.*")).respond_with_handler(self.handle)
        self.base = httpserver.url_for("/mirror")

    def handle(self, request: Request) -> Response:
        relative = request.path.removeprefix("/mirror/")
        self.requested.append(relative)
        path = self.mirror / relative
        if not path.is_file():
            return Response("not found", status=404)
        data = path.read_bytes()
        if relative in self.tamper:
            data = data.replace(b'"type"', b'"tyqe"', 1)
        return Response(data, content_type="application/json")


@pytest.fixture
def server(httpserver: HTTPServer, schemas: Path) -> FakeSchemaServer:
    return FakeSchemaServer(httpserver, schemas)


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_every_pin_is_the_digest_of_the_public_file(schemas: Path) -> None:
    manifest = json.loads((schemas / "manifest.json").read_text())
    assert manifest
    recorded = {entry["url"]: entry["sha256"] for entry in manifest}
    mirrored = {url: pin for url, pin in SCHEMA_SHA256.items() if url not in UNMIRRORED_SCHEMAS}
    assert recorded == mirrored
    for url, digest in mirrored.items():
        data = (schemas / relative_path(url)).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, url
    assert set(SCHEMA_SHA256) >= UNMIRRORED_SCHEMAS


def test_the_grid_pin_is_the_digest_of_pystacs_own_copy() -> None:
    """pystac ships the grid v1.1.0 schema it validates with: a copy independent of the pin."""
    import pystac.extensions

    bundled = Path(pystac.extensions.__file__).parent / "json-schema" / "grid" / "v1.1.0.json"
    assert hashlib.sha256(bundled.read_bytes()).hexdigest() == SCHEMA_SHA256[GRID_SCHEMA]


def test_every_schema_the_catalog_needs_is_pinned(built_catalog: Path, schemas: Path) -> None:
    store = SchemaStore(schemas)
    objects = [json.loads(p.read_text()) for p in built_catalog.rglob("*.json")]
    named = {url for obj in objects if "stac_version" in obj for url in schema_urls(obj)}
    assert ITEM_URL in named
    assert LABEL_URL in named
    store.prefetch(named)
    needed = set(store._schemas)  # every schema read: the named ones and all they $ref
    assert needed >= named
    assert needed - set(SCHEMA_SHA256) == set()


def test_fetched_once_checked_and_cached(server: FakeSchemaServer, tmp_path: Path) -> None:
    source = PinnedSchemas(tmp_path / "cache", server.base)
    data = source.read(ITEM_URL)
    assert hashlib.sha256(data).hexdigest() == SCHEMA_SHA256[ITEM_URL]
    assert server.requested == ["schemas.stacspec.org/v1.1.0/item-spec/json-schema/item.json"]
    cached = tmp_path / "cache" / "schemas.stacspec.org/v1.1.0/item-spec/json-schema/item.json"
    assert cached.read_bytes() == data
    # From the cache now, with no server at all.
    assert PinnedSchemas(tmp_path / "cache", _closed_port_url()).read(ITEM_URL) == data
    assert len(server.requested) == 1


def test_a_wrong_digest_is_refused_and_not_cached(server: FakeSchemaServer, tmp_path: Path) -> None:
    server.tamper.add("schemas.stacspec.org/v1.1.0/item-spec/json-schema/item.json")
    source = PinnedSchemas(tmp_path / "cache", server.base)
    with pytest.raises(SchemasUnavailable, match="not the pinned " + SCHEMA_SHA256[ITEM_URL]):
        source.read(ITEM_URL)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.json"))


def test_a_damaged_cache_file_is_fetched_again(server: FakeSchemaServer, tmp_path: Path) -> None:
    cached = tmp_path / "cache" / relative_path(LABEL_URL)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b'{"changed": true}')
    data = PinnedSchemas(tmp_path / "cache", server.base).read(LABEL_URL)
    assert hashlib.sha256(data).hexdigest() == SCHEMA_SHA256[LABEL_URL]
    assert cached.read_bytes() == data
    assert server.requested == ["stac-extensions.github.io/label/v1.0.1/schema.json"]


def test_an_unpinned_url_is_never_fetched(server: FakeSchemaServer, tmp_path: Path) -> None:
    source = PinnedSchemas(tmp_path / "cache", server.base)
    with pytest.raises(SchemaNotFound, match=r"not one stacgen pins.*--schemas DIR"):
        source.read("https://stac-extensions.github.io/grid/v9.9.9/schema.json")
    assert server.requested == []


def test_offline_is_unavailable_in_one_line_naming_the_options(tmp_path: Path) -> None:
    source = PinnedSchemas(tmp_path / "cache", _closed_port_url())
    with pytest.raises(SchemasUnavailable) as caught:
        source.read(ITEM_URL)
    message = str(caught.value)
    assert "\n" not in message
    assert "cannot fetch schema" in message
    assert "Connection refused" in message
    assert "--schemas DIR or set STACGEN_SCHEMAS" in message


def test_canonical_urls_are_fetched_without_a_base(
    tmp_path: Path, schemas: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def get(url: str, **kwargs: Any) -> requests.Response:
        asked.append(url)
        assert kwargs["timeout"] == (10.0, 30.0)  # every wait is bounded
        resp = requests.Response()
        resp.status_code = 200
        resp._content = (schemas / relative_path(url)).read_bytes()
        return resp

    monkeypatch.setattr(requests, "get", get)
    PinnedSchemas(tmp_path / "cache").read(LABEL_URL)
    assert asked == [LABEL_URL]


def test_a_built_catalog_validates_with_fetched_schemas(
    server: FakeSchemaServer, built_catalog: Path, schemas: Path, tmp_path: Path
) -> None:
    source = PinnedSchemas(tmp_path / "cache", server.base)
    assert validate_catalog(built_catalog, source, workers=2) == []
    first = len(server.requested)
    assert first > 5  # the core, the extensions and what they $ref
    assert validate_catalog(built_catalog, PinnedSchemas(tmp_path / "cache", server.base)) == []
    assert len(server.requested) == first  # all from the cache
    assert validate_catalog(built_catalog, MirrorSchemas(schemas)) == []


def test_offline_validation_stops_before_any_check(built_catalog: Path, tmp_path: Path) -> None:
    with pytest.raises(SchemasUnavailable):
        validate_catalog(built_catalog, PinnedSchemas(tmp_path / "cache", _closed_port_url()))
    # Without schemas every other check still runs: the catalog passes them.
    assert validate_catalog(built_catalog, None) == []


def test_schema_source_is_the_mirror_when_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACGEN_SCHEMAS", str(tmp_path))
    assert schema_source() == MirrorSchemas(tmp_path)
    monkeypatch.delenv("STACGEN_SCHEMAS")
    monkeypatch.setenv("STACGEN_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.setenv("STACGEN_SCHEMA_URL", "http://127.0.0.1:9")
    assert schema_source() == PinnedSchemas(tmp_path / "c" / "schemas", "http://127.0.0.1:9")
