"""The servers the serve tests run on: `serve` on the 512 px catalog, and on each API backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stacgen.serve import Server, serve
from tests.catalogs import FixtureCatalog


@pytest.fixture(scope="module", name="server")
def server_fixture(
    serve_catalog: FixtureCatalog, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """`serve` on a free port of 127.0.0.1, without STAC Browser."""
    with serve(serve_catalog.root, "127.0.0.1", 0, browser_dir=tmp_path_factory.mktemp("nb")) as s:
        yield s


# The STAC API's tests run against every backend: the embedded one, and pgstac (loaded by
# stacgen.publish.pgstac into the throw-away cluster of tests/pgstac_fixtures.py).
BACKENDS = ["embedded", "pgstac"]


@pytest.fixture(scope="module", name="api_server", params=BACKENDS)
def api_server_fixture(
    request: pytest.FixtureRequest,
    serve_catalog: FixtureCatalog,
    server: Server,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    """`serve` on each backend; the pgstac database is loaded from the same catalog."""
    if request.param == "embedded":
        yield server
        return
    from stacgen.publish.pgstac import load
    from stacgen.serve.catalog import INTERNAL

    dsn = str(request.getfixturevalue("pgstac_dsn"))
    # Hrefs under INTERNAL are answered under the server's own URL, as the embedded API does.
    load(dsn, serve_catalog.root, INTERNAL)
    browser = tmp_path_factory.mktemp("nb")
    with serve(serve_catalog.root, "127.0.0.1", 0, browser_dir=browser, pgstac=dsn) as s:
        yield s
