"""`stacgen serve --pgstac` against hostile input (issue 18): bad DSNs and databases refused at
start-up in one line naming the DSN and the problem (no traceback, no process left, every wait
under the DSN's connect_timeout), and what pgstac itself answered with a 500 (a 3-D bbox, a query
comparing a number with a string, a query that is not JSON) or with page 1 (a token it did not
give) answered as the embedded backend answers. (The cases both backends share run on each in
test_hostile.py and test_parity.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest
import requests
from psycopg import sql
from psycopg.conninfo import make_conninfo

from stacgen.publish.pgstac import load
from stacgen.serve import ServeError, Server, serve
from stacgen.serve.catalog import INTERNAL
from stacgen.testing.pgcluster import free_port
from tests.bounded import finishes_within
from tests.catalogs import FixtureCatalog

pytestmark = pytest.mark.timeout(300)
TIMEOUT = 10
WAIT = 3  # s: the connect_timeout the DSNs that reach out carry
# (DSN, words its refusal names); PG stands for the session cluster's DSN.
BAD_DSNS = [
    ("not a dsn at all", ["not a PostgreSQL DSN"]),
    ("postgresql://postgres@127.0.0.1:abc/x", ["port 'abc' is not a port number"]),
    ("host=127.0.0.1 port=70000 dbname=x", ["port '70000'"]),
    ("host=127.0.0.1 dbname=x keepalives=1", ["does not take ['keepalives']"]),
    ("host=127.0.0.1 dbname=x connect_timeout=soon", ["connect_timeout 'soon'"]),
    ("NOTHING", ["cannot connect to postgres@127.0.0.1:"]),
    ("PG sslmode=require", ["cannot connect to", "SSL"]),
    ("PG sslmode=verify-full sslrootcert=/no/such/ca.pem", ["sslrootcert /no/such/ca.pem"]),
    ("PG dbname=no_such_db", ["cannot connect to", "no_such_db"]),
    ("PG user=nobody", ["cannot connect to nobody@", "nobody"]),
    ("postgresql://u@no-such-host.invalid/x?connect_timeout=3", ["no-such-host.invalid"]),
    ("EMPTY", ["holds no pgstac", "stacgen pgstac load"]),
]


def dsn_of(spec: str, pgstac_dsn: str, fresh_dsn: str) -> str:
    """A BAD_DSNS entry as a DSN of this session's cluster."""
    if spec == "NOTHING":
        return f"postgresql://postgres@127.0.0.1:{free_port()}/x?connect_timeout={WAIT}"
    if spec == "EMPTY":
        return fresh_dsn
    if spec.startswith("PG "):
        settings = dict(pair.split("=", 1) for pair in spec.removeprefix("PG ").split())
        return make_conninfo(pgstac_dsn, connect_timeout=str(WAIT), **settings)
    return spec


@pytest.mark.parametrize(("spec", "words"), BAD_DSNS, ids=[s for s, _ in BAD_DSNS])
def test_a_bad_dsn_or_database_is_one_line_at_start_up(
    spec: str,
    words: list[str],
    pgstac_dsn: str,
    fresh_dsn: str,
    serve_catalog: FixtureCatalog,
    tmp_path: Path,
) -> None:
    dsn = dsn_of(spec, pgstac_dsn, fresh_dsn)

    def start_and_stop() -> None:
        serve(serve_catalog.root, "127.0.0.1", 0, browser_dir=tmp_path, pgstac=dsn).stop()

    # The DSN's wait, and a start-up around it; a hang fails here instead of stalling CI.
    with pytest.raises(ServeError) as caught:
        finishes_within(WAIT + 10, start_and_stop)
    message = str(caught.value)
    assert message.startswith("--pgstac: ")
    assert "\n" not in message
    assert "Traceback" not in message
    for word in words:
        assert word in message, (word, message)
    assert "secret" not in message


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("spec", ["postgresql://postgres@127.0.0.1:abc/x", "NOTHING", "EMPTY"])
def test_the_command_prints_one_line_and_leaves_no_process(
    spec: str,
    workers: str,
    pgstac_dsn: str,
    fresh_dsn: str,
    serve_catalog: FixtureCatalog,
    tmp_path: Path,
) -> None:
    dsn = dsn_of(spec, pgstac_dsn, fresh_dsn)
    command = [sys.executable, "-m", "stacgen", "serve", str(serve_catalog.root)]
    command += ["--port", str(free_port()), "--browser-dir", str(tmp_path), "--pgstac", dsn]
    command += ["--workers", workers]  # several: checked once, before any process starts
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    lines = [ln for ln in done.stderr.splitlines() if not ln.startswith("WARNING: STAC Browser")]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("Error: --pgstac: ")
    assert done.stdout == ""
    assert {p.pid for p in psutil.Process().children(recursive=True)} <= before


def test_a_user_that_may_not_read_pgstac_is_told_so_not_to_load_again(
    fresh_dsn: str, serve_catalog: FixtureCatalog, tmp_path: Path
) -> None:
    """pgstac is in the database, the DSN's user lacks its read role: the line says so (not
    "holds no pgstac"), and what it says to do is what lets the server start."""
    load(fresh_dsn, serve_catalog.root, INTERNAL)
    role = f"reader_{os.getpid()}_{abs(hash(fresh_dsn)) % 10**6}"
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    dsn = make_conninfo(fresh_dsn, user=role, connect_timeout=str(WAIT))

    def start_and_stop() -> None:
        serve(serve_catalog.root, "127.0.0.1", 0, browser_dir=tmp_path, pgstac=dsn).stop()

    with pytest.raises(ServeError) as caught:
        finishes_within(WAIT + 10, start_and_stop)
    message = str(caught.value)
    assert "\n" not in message
    assert f"{role}@" in message
    assert "may not read pgstac (permission denied for schema pgstac)" in message
    assert "holds no pgstac" not in message
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("GRANT pgstac_read TO {}").format(sql.Identifier(role)))
    finishes_within(WAIT + 10, start_and_stop)


def refusal_while_migrations_locked(
    fresh_dsn: str, dsn: str, catalog: FixtureCatalog, browser_dir: Path
) -> str:
    """serve --pgstac DSN's one line while another session holds pgstac.migrations locked."""

    def start_and_stop() -> None:
        serve(catalog.root, "127.0.0.1", 0, browser_dir=browser_dir, pgstac=dsn).stop()

    with psycopg.connect(fresh_dsn) as holder:
        holder.execute("LOCK TABLE pgstac.migrations IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(ServeError) as caught:
            finishes_within(WAIT + 10, start_and_stop)
    return str(caught.value)


def test_a_database_that_cannot_say_its_pgstac_version_is_not_said_to_hold_none(
    fresh_dsn: str, serve_catalog: FixtureCatalog, tmp_path: Path
) -> None:
    """pgstac is there but its version cannot be read in time (its migrations table locked,
    the DSN's lock_timeout short): the line says so in the database's words, and does not send
    the user off to load a catalog that is already loaded."""
    load(fresh_dsn, serve_catalog.root, INTERNAL)
    dsn = make_conninfo(fresh_dsn, options="-c lock_timeout=200", connect_timeout=str(WAIT))
    message = refusal_while_migrations_locked(fresh_dsn, dsn, serve_catalog, tmp_path)
    assert "\n" not in message
    assert "cannot read pgstac's version (canceling statement due to lock timeout)" in message
    assert "holds no pgstac" not in message


def test_a_migration_holding_pgstac_is_waited_for_within_the_connect_timeout(
    fresh_dsn: str, serve_catalog: FixtureCatalog, tmp_path: Path
) -> None:
    """A lock on pgstac.migrations (a load or migration under way) and no lock_timeout: the
    version check used to wait for as long as the lock was held; it now gives up after the
    DSN's connect_timeout, in one line."""
    load(fresh_dsn, serve_catalog.root, INTERNAL)
    dsn = make_conninfo(fresh_dsn, connect_timeout=str(WAIT))
    message = refusal_while_migrations_locked(fresh_dsn, dsn, serve_catalog, tmp_path)
    assert "\n" not in message
    assert f"pgstac's version not read in {WAIT} s" in message


# --- what pgstac answered 500 or page 1 to -------------------------------------------------------
@pytest.fixture(scope="module", name="pg_server")
def pg_server_fixture(
    pgstac_dsn: str, serve_catalog: FixtureCatalog, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    load(pgstac_dsn, serve_catalog.root, INTERNAL)
    browser = tmp_path_factory.mktemp("nb")
    with serve(serve_catalog.root, "127.0.0.1", 0, browser_dir=browser, pgstac=pgstac_dsn) as s:
        yield s


def search_ids(server: Server, **params: str) -> list[str]:
    answer = requests.get(f"{server.urls.api}search", params=params, timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text[:300]
    return [f["id"] for f in answer.json()["features"]]


def test_a_3d_bbox_is_its_2d_footprint(
    pg_server: Server, server: Server, serve_catalog: FixtureCatalog
) -> None:
    west, south, east, north = serve_catalog.item(serve_catalog.item_ids()[0])["bbox"]
    flat = f"{west},{south},{east},{north}"
    high = f"{west},{south},-50,{east},{north},8000"
    answers = {api.urls.api: search_ids(api, bbox=high, limit="100") for api in (pg_server, server)}
    assert len(answers) == 2
    for api in (pg_server, server):
        assert search_ids(api, bbox=flat, limit="100")
        assert answers[api.urls.api] == search_ids(api, bbox=flat, limit="100")


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"query": '{"eo:cloud_cover": {"gt": "cloudy"}}'}, ["query", "is a number"]),
        ({"query": "{not json"}, ["query: not JSON"]),
        ({"token": "next:5"}, ["token: 'next:5' is not a token this API gave"]),
        ({"token": "next:zz:41"}, ["token"]),
        ({"token": "prev:41:4"}, ["token"]),  # hex, but one byte short of a character
    ],
)
def test_pgstac_refuses_in_one_line(
    pg_server: Server, params: dict[str, str], words: list[str]
) -> None:
    answer = requests.get(f"{pg_server.urls.api}search", params=params, timeout=TIMEOUT)
    assert answer.status_code == 400, answer.text[:300]
    description = answer.json()["description"]
    assert "\n" not in description
    for word in words:
        assert word in description


def test_its_own_tokens_page_to_the_end(pg_server: Server, serve_catalog: FixtureCatalog) -> None:
    seen: list[str] = []
    url: str | None = f"{pg_server.urls.api}search?limit=3"
    while url is not None and len(seen) <= len(serve_catalog.item_ids()):
        body = requests.get(url, timeout=TIMEOUT).json()
        seen += [f["id"] for f in body["features"]]
        url = next((lk["href"] for lk in body["links"] if lk["rel"] == "next"), None)
    assert sorted(seen) == serve_catalog.item_ids()
