"""The --pgstac backend (stacgen.serve.pgstac): the DSN passed to asyncpg whole, the DSNs it
refuses in one line, a start-up that refuses what it cannot serve (no server, TLS required of a
server without it, a database without pgstac) in one line, and a database loaded from the
catalog served with every asset under this server's URL. (The searches themselves run on both
backends in test_app.py, test_api.py, test_embedded.py and
test_parity.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psutil
import psycopg
import pytest
import requests
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from stacgen.publish.pgstac import load, load_documents
from stacgen.serve import ServeError, Server, serve
from stacgen.serve.catalog import INTERNAL
from stacgen.serve.pgstac import (
    CONNECT_TIMEOUT,
    ItemCache,
    PgstacError,
    Recent,
    _in_turn,
    database,
)
from stacgen.stac.reader import read_catalog
from stacgen.testing.pgcluster import free_port
from tests.bounded import finishes_within
from tests.catalogs import FixtureCatalog

pytestmark = pytest.mark.timeout(180)
TIMEOUT = 10


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        (
            "postgresql://alice:s3cret@db.example.org:6543/stac?sslmode=require"
            "&sslrootcert={CA}&options=-c%20statement_timeout%3D5000",
            {
                "user": "alice",
                "password": "s3cret",
                "host": "db.example.org",
                "port": "6543",
                "dbname": "stac",
                "sslmode": "require",
                "sslrootcert": "{CA}",
                "options": "-c statement_timeout=5000",
            },
        ),
        (
            "host=10.0.0.5 port=5433 dbname=cat user=bob application_name=x",
            {
                "host": "10.0.0.5",
                "port": "5433",
                "dbname": "cat",
                "user": "bob",
                "application_name": "x",
            },
        ),
    ],
)
def test_every_setting_of_the_dsn_reaches_the_driver(
    dsn: str, expected: dict[str, str], tmp_path: Path
) -> None:
    ca = tmp_path / "ca.pem"  # a file setting must name a file
    ca.write_text("not checked before connecting\n")
    db = database(dsn.replace("{CA}", str(ca)))
    assert query_of(db.url) == {k: v.replace("{CA}", str(ca)) for k, v in expected.items()}
    assert "s3cret" not in db.where
    assert db.timeout == CONNECT_TIMEOUT


def test_connect_timeout_is_the_wait_not_a_server_setting() -> None:
    db = database("postgresql://u@h/d?connect_timeout=3")
    assert db.timeout == 3
    assert "connect_timeout" not in query_of(db.url)


@pytest.mark.parametrize(
    ("dsn", "words"),
    [
        ("not a dsn at all", ["--pgstac", "not a PostgreSQL DSN"]),
        ("postgresql://u@h:abc/d", ["--pgstac", "port 'abc' is not a port number"]),
        ("host=h port=70000", ["port '70000'"]),
        ("host=h keepalives=1", ["does not take ['keepalives']"]),
        ("host=h connect_timeout=soon", ["connect_timeout 'soon' is not seconds"]),
    ],
)
def test_dsns_refused_in_one_line(dsn: str, words: list[str]) -> None:
    with pytest.raises(PgstacError, match="--pgstac") as caught:
        database(dsn)
    message = str(caught.value)
    assert "\n" not in message
    for word in words:
        assert word in message


# --- start-up against a real server -----------------------------------------------------------
def refusal(catalog: Path, dsn: str, tmp_path: Path) -> str:
    """The one line `serve` refuses this DSN with, and how long it took."""
    with pytest.raises(ServeError) as caught:
        serve(catalog, "127.0.0.1", 0, browser_dir=tmp_path, pgstac=dsn).stop()
    message = str(caught.value)
    assert "\n" not in message
    assert "Traceback" not in message
    return message


def test_sslmode_require_of_a_server_without_ssl_is_refused(
    pgstac_dsn: str, serve_catalog: FixtureCatalog, tmp_path: Path
) -> None:
    message = refusal(serve_catalog.root, make_conninfo(pgstac_dsn, sslmode="require"), tmp_path)
    assert message.startswith("--pgstac: cannot connect to ")
    assert "SSL" in message


def test_nothing_listening_is_refused_within_the_timeout(
    serve_catalog: FixtureCatalog, tmp_path: Path
) -> None:
    dsn = f"postgresql://postgres@127.0.0.1:{free_port()}/x?connect_timeout=5"
    # The DSN's bound, and the start-up around it; a hang fails here instead of stalling CI.
    message = finishes_within(5 + 5, lambda: refusal(serve_catalog.root, dsn, tmp_path))
    assert message.startswith("--pgstac: cannot connect to postgres@127.0.0.1:")


def test_a_database_without_pgstac_is_refused_at_start_up(
    fresh_dsn: str, serve_catalog: FixtureCatalog, tmp_path: Path
) -> None:
    message = refusal(serve_catalog.root, fresh_dsn, tmp_path)
    assert "holds no pgstac" in message
    assert "stacgen pgstac load" in message


@pytest.fixture(scope="module", name="pg_server")
def pg_server_fixture(
    pgstac_dsn: str, serve_catalog: FixtureCatalog, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    load(pgstac_dsn, serve_catalog.root, INTERNAL)
    browser = tmp_path_factory.mktemp("nb")
    named = make_conninfo(pgstac_dsn, application_name="stacgen-test-dsn")
    with serve(serve_catalog.root, "127.0.0.1", 0, browser_dir=browser, pgstac=named) as s:
        yield s


def test_the_server_connects_with_the_dsns_own_settings(pg_server: Server, pgstac_dsn: str) -> None:
    assert requests.get(f"{pg_server.urls.api}search", timeout=TIMEOUT).status_code == 200
    dbname = conninfo_to_dict(pgstac_dsn)["dbname"]
    with psycopg.connect(pgstac_dsn) as conn:
        names = conn.execute(
            "SELECT application_name FROM pg_stat_activity WHERE datname = %s", (dbname,)
        ).fetchall()
    assert ("stacgen-test-dsn",) in names


def test_items_from_the_database_point_at_this_server(
    pg_server: Server, serve_catalog: FixtureCatalog
) -> None:
    answer = requests.get(f"{pg_server.urls.api}search?limit=100", timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    features = body["features"]
    assert sorted(f["id"] for f in features) == serve_catalog.item_ids()
    assert body["numberMatched"] == len(serve_catalog.item_ids())
    for feature in features:
        local = Path(serve_catalog.item_path(feature["id"])).parent / "classification.tif"
        href = feature["assets"]["classification"]["href"]
        assert href.startswith(pg_server.urls.root)
        assert INTERNAL not in answer.text
        got = requests.get(href, headers={"Range": "bytes=0-99"}, timeout=TIMEOUT)
        assert got.content == local.read_bytes()[:100]


# --- answering many clients (issue 24) ------------------------------------------------------------
def test_an_item_changed_in_the_database_is_answered_changed(
    fresh_dsn: str, serve_catalog: FixtureCatalog, tmp_path: Path
) -> None:
    """Items are hydrated once and kept by the text pgstac gives: a reload that changes an
    item is answered at once, without a restart."""
    load(fresh_dsn, serve_catalog.root, INTERNAL)
    docs = read_catalog(serve_catalog.root, INTERNAL)
    item = docs.items[0]
    body = {"ids": [item["id"]], "limit": 1}
    with serve(serve_catalog.root, "127.0.0.1", 0, browser_dir=tmp_path, pgstac=fresh_dsn) as s:
        first = requests.post(f"{s.urls.api}search", json=body, timeout=TIMEOUT).json()
        again = requests.post(f"{s.urls.api}search", json=body, timeout=TIMEOUT).json()
        assert first == again
        [feature] = first["features"]
        assert feature["properties"] == item["properties"]
        changed = {**item, "properties": {**item["properties"], "title": "changed in place"}}
        load_documents(fresh_dsn, docs.collections, [changed])
        later = requests.post(f"{s.urls.api}search", json=body, timeout=TIMEOUT).json()
    assert later["features"][0]["properties"] == changed["properties"]
    assert later["features"][0]["assets"] == feature["assets"]


def test_searches_keep_no_tally_but_their_counts(
    fresh_dsn: str, serve_catalog: FixtureCatalog, tmp_path: Path
) -> None:
    """pgstac.readonly: no row per search in pgstac.searches (each search locked its row for
    its whole run, so identical searches waited on each other), while numberMatched is still
    counted once and kept (pgstac.search_wheres)."""
    load(fresh_dsn, serve_catalog.root, INTERNAL)
    url = "{}search?filter=eo:cloud_cover >= 0&limit=2"
    with serve(serve_catalog.root, "127.0.0.1", 0, browser_dir=tmp_path, pgstac=fresh_dsn) as s:
        pages = [requests.get(url.format(s.urls.api), timeout=TIMEOUT).json() for _ in range(3)]
    assert {p["numberMatched"] for p in pages} == {len(serve_catalog.item_ids())}
    with psycopg.connect(fresh_dsn) as conn:
        tally = conn.execute("SELECT count(*) FROM pgstac.searches").fetchone()
        counts = conn.execute("SELECT count(*) FROM pgstac.search_wheres").fetchone()
    assert tally == (0,)
    assert counts is not None
    assert counts[0] >= 1


def test_the_item_cache_keeps_to_its_budget_least_recently_used_out() -> None:
    cache = ItemCache(budget=3 * (1 + 2 + 3))  # room for three entries of 6 bytes
    for name in "abc":
        cache.put(("/", name * 2), name.encode() * 3)
    assert cache.get(("/", "aa")) == b"aaa"  # now the most recent
    cache.put(("/", "dd"), b"ddd")
    assert cache.get(("/", "bb")) is None  # the least recently used went
    assert [cache.get(("/", k)) for k in ("aa", "cc", "dd")] == [b"aaa", b"ccc", b"ddd"]
    assert cache.size == 18
    cache.put(("/", "e" * 20), b"too big for the budget")
    assert cache.get(("/", "e" * 20)) is None
    assert cache.size == 18


def _server_processes(command: psutil.Process) -> list[psutil.Process]:
    """The `--workers` processes under `stacgen serve` (not multiprocessing's tracker)."""
    return [
        p
        for p in command.children(recursive=True)
        if "multiprocessing.spawn" in " ".join(p.cmdline())
        and "resource_tracker" not in " ".join(p.cmdline())
    ]


@pytest.mark.parametrize("ending", ["SIGTERM", "one process killed", "the command killed"])
def test_workers_answer_on_one_port_and_stop_together(
    ending: str, pgstac_dsn: str, serve_catalog: FixtureCatalog, tmp_path: Path
) -> None:
    load(pgstac_dsn, serve_catalog.root, INTERNAL)
    port = free_port()
    command = [sys.executable, "-m", "stacgen", "serve", str(serve_catalog.root)]
    command += ["--port", str(port), "--browser-dir", str(tmp_path)]
    command += ["--pgstac", pgstac_dsn, "--workers", "2"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            api = f"http://127.0.0.1:{port}/api/"
            assert proc.stdout is not None
            assert "STAC API" in proc.stdout.readline() + proc.stdout.readline()
            workers = _server_processes(psutil.Process(proc.pid))
            assert len(workers) == 2
            with requests.Session() as session:  # kept alive: one connection, one process
                pages = [session.get(f"{api}search?limit=3", timeout=TIMEOUT) for _ in range(4)]
            for page in pages:
                assert page.status_code == 200
                assert page.json()["numberMatched"] == len(serve_catalog.item_ids())
            assert requests.get(f"{api}collections", timeout=TIMEOUT).status_code == 200
            if ending == "SIGTERM":
                proc.terminate()
            elif ending == "one process killed":
                workers[0].kill()
            else:
                proc.kill()
            status = proc.wait(timeout=30)
        finally:
            proc.kill()
        assert proc.stderr is not None
        errors = [ln for ln in proc.stderr.read().splitlines() if ln.startswith("Error")]
    if ending == "SIGTERM":
        assert (status, errors) == (0, [])
    elif ending == "the command killed":  # nothing said: the workers end with it, by themselves
        assert (status, errors) == (-9, [])
        psutil.wait_procs(workers, timeout=30)
    else:
        assert status == 1
        assert len(errors) == 1
        assert errors[0].startswith("Error: a server process at http://127.0.0.1:")
        assert "ended (exit status -9): stopped them all" in errors[0]
    assert not [p for p in workers if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def test_workers_without_pgstac_are_refused_in_one_line(
    serve_catalog: FixtureCatalog, tmp_path: Path
) -> None:
    command = [sys.executable, "-m", "stacgen", "serve", str(serve_catalog.root)]
    command += ["--port", str(free_port()), "--browser-dir", str(tmp_path), "--workers", "2"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    lines = [ln for ln in done.stderr.splitlines() if not ln.startswith("WARNING: STAC Browser")]
    assert lines == [
        "Error: --workers: more than one server process needs --pgstac (the embedded backend "
        "would hold the whole catalog in each process)"
    ]


def test_recent_values_are_read_once_then_again_in_the_background() -> None:
    """The queryables and collections: read once for every search waiting, answered from the
    old value while a new one is read, a failed read not kept."""
    reads: list[str] = []
    release = asyncio.Event()

    async def scenario() -> list[Any]:
        recent = Recent(ttl=0.5)  # long beside any pause of a busy machine

        async def read() -> str:
            reads.append("read")
            await release.wait()
            if len(reads) == 3:
                raise LookupError("gone")
            return f"value {len(reads)}"

        first = [asyncio.ensure_future(recent.get("k", read)) for _ in range(5)]
        await asyncio.sleep(0.01)
        release.set()
        got = list(await asyncio.gather(*first))  # five searches, one read
        got.append(await recent.get("k", read))  # within the ttl: no read
        await asyncio.sleep(0.6)
        release.clear()
        got.append(await recent.get("k", read))  # stale: the old value, a read begins
        got.append(await recent.get("k", read))  # the same read still under way
        release.set()
        await asyncio.sleep(0.01)
        got.append(await recent.get("k", read))  # the new value
        await asyncio.sleep(0.6)
        got.append(await recent.get("k", read))  # stale again: old value; this read fails
        await asyncio.sleep(0.01)
        # the failed read kept nothing: no stale value now, a new read waited for
        got.append(await recent.get("k", read))
        return got

    got = asyncio.run(scenario())
    assert got == ["value 1"] * 6 + ["value 1", "value 1", "value 2", "value 2", "value 4"]
    assert reads == ["read"] * 4


class _Pool:
    """As many connections as asked for, at once: only the server's turns order them."""

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[str]:
        yield "connection"


def test_connections_are_handed_out_first_come_first_served() -> None:
    """A freed connection goes to the search that has waited longest, not to one that just
    arrived (asyncpg's pool gives it to whoever asks next)."""
    request = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(readpool=_Pool())))
    order: list[str] = []

    async def scenario() -> None:
        connection = _in_turn(asyncio.Semaphore(1))
        release = asyncio.Event()

        async def search(name: str, hold: asyncio.Event | None = None) -> None:
            async with connection(request, "r"):  # type: ignore[arg-type]
                order.append(name)
                if hold is not None:
                    await hold.wait()

        first = asyncio.ensure_future(search("first", release))
        await asyncio.sleep(0)
        waited = asyncio.ensure_future(search("waited"))
        await asyncio.sleep(0)
        release.set()
        await asyncio.sleep(0)  # the first is done; the one that waited is woken, not yet run
        arrived = asyncio.ensure_future(search("arrived"))
        await asyncio.gather(first, waited, arrived)

    asyncio.run(scenario())
    assert order == ["first", "waited", "arrived"]
