"""The --pgstac backend (stacgen.serve.pgstac): the DSN read into stac-fastapi-pgstac's settings,
the DSNs it refuses in one line, and a database loaded from the catalog served with every asset
under this server's URL. (The searches themselves run on both backends in test_app.py,
test_api.py and test_embedded.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from stacgen.publish.pgstac import load
from stacgen.serve import Server, serve
from stacgen.serve.catalog import INTERNAL
from stacgen.serve.pgstac import postgres_settings
from tests.catalogs import FixtureCatalog

pytestmark = pytest.mark.timeout(180)
TIMEOUT = 10


@pytest.mark.parametrize(
    ("dsn", "user", "password", "host", "port", "db"),
    [
        (
            "postgresql://alice:s3cret@db.example.org:6543/stac",
            "alice",
            "s3cret",
            "db.example.org",
            6543,
            "stac",
        ),
        ("host=10.0.0.5 port=5433 dbname=cat user=bob", "bob", "", "10.0.0.5", 5433, "cat"),
        ("postgresql://", "postgres", "", "127.0.0.1", 5432, "postgres"),
    ],
)
def test_dsn_to_settings(dsn: str, user: str, password: str, host: str, port: int, db: str) -> None:
    settings = postgres_settings(dsn)
    assert (settings.pguser, settings.pgpassword, settings.pghost) == (user, password, host)
    assert (settings.pgport, settings.pgdatabase) == (port, db)


@pytest.mark.parametrize(
    ("dsn", "words"),
    [
        ("host=/var/run/postgresql dbname=x", ["TCP host", "/var/run/postgresql"]),
        ("not a dsn at all", ["--pgstac", "not a PostgreSQL DSN"]),
    ],
)
def test_dsns_refused_in_one_line(dsn: str, words: list[str]) -> None:
    with pytest.raises(ValueError, match="--pgstac") as caught:
        postgres_settings(dsn)
    message = str(caught.value)
    assert "\n" not in message
    for word in words:
        assert word in message


@pytest.fixture(scope="module", name="pg_server")
def pg_server_fixture(
    pgstac_dsn: str, serve_catalog: FixtureCatalog, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    load(pgstac_dsn, serve_catalog.root, INTERNAL)
    browser = tmp_path_factory.mktemp("nb")
    with serve(serve_catalog.root, "127.0.0.1", 0, browser_dir=browser, pgstac=pgstac_dsn) as s:
        yield s


def test_items_from_the_database_point_at_this_server(
    pg_server: Server, serve_catalog: FixtureCatalog
) -> None:
    answer = requests.get(f"{pg_server.urls.api}search?limit=100", timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text
    features = answer.json()["features"]
    assert sorted(f["id"] for f in features) == serve_catalog.item_ids()
    for feature in features:
        local = Path(serve_catalog.item_path(feature["id"])).parent / "classification.tif"
        href = feature["assets"]["classification"]["href"]
        assert href.startswith(pg_server.urls.root)
        assert INTERNAL not in answer.text
        got = requests.get(href, headers={"Range": "bytes=0-99"}, timeout=TIMEOUT)
        assert got.content == local.read_bytes()[:100]
