"""`stacgen pgstac load` against hostile input (issue 18): an item pgstac cannot store refused in
one line naming the item and the property before the database is touched (not pypgstac's
traceback, not PostgreSQL's error without the item), and a database that refuses the load named
by its own message (the cause), not by the PL/pgSQL context lines that follow it.

The database's words are read from PostgreSQL itself, by the same statement run directly.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql
from psycopg.conninfo import make_conninfo

from stacgen.cli import main
from stacgen.publish import pgstac as pgstac_mod
from tests.bounded import finishes_within
from tests.publish.cli import one_error_line

pytestmark = pytest.mark.timeout(120)
ROOT = "https://data.example.org/alcd/"


def load_cli(dsn: str, catalog: Path) -> Any:
    return CliRunner().invoke(main, ["pgstac", "load", dsn, str(catalog), "--root-href", ROOT])


def has_pgstac(dsn: str) -> bool:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'pgstac'").fetchone()
    return row is not None and row[0] == 1


def first_item(catalog: Path) -> tuple[str, Path]:
    """The id and file of the catalog's first item (its file is named as its folder)."""
    for path in sorted(catalog.glob("*/*/*.json")):
        if path.stem == path.parent.name:
            return path.stem, path
    raise AssertionError(f"no item in {catalog}")


@pytest.fixture
def catalog_copy(built_catalog: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(built_catalog, tmp_path / "catalog"))


def edit_item(path: Path, properties: dict[str, Any], geometry: Any = "keep") -> None:
    doc = json.loads(path.read_text())
    doc["properties"].update(properties)
    if geometry != "keep":
        doc["geometry"] = geometry
    path.write_text(json.dumps(doc))


# --- items pgstac cannot store: refused by name, nothing written ---------------------------------
BAD_TIMES = [
    ({"datetime": "not-a-date"}, "datetime 'not-a-date'"),
    ({"datetime": "2016-13-01T00:00:00Z"}, "datetime '2016-13-01T00:00:00Z'"),
    ({"datetime": "20160-01-01T00:00:00Z"}, "datetime '20160-01-01T00:00:00Z'"),
    ({"datetime": "2016-04-17T11:11:59"}, "datetime '2016-04-17T11:11:59'"),  # no offset
    ({"datetime": 20160417}, "datetime '20160417'"),
    (
        {"datetime": None, "start_datetime": "2016-04-17T00:00:00Z", "end_datetime": "nope"},
        "end_datetime 'nope'",
    ),
    (
        {"start_datetime": "2030-01-01T00:00:00Z", "end_datetime": "2016-01-01T00:00:00Z"},
        "start_datetime 2030-01-01T00:00:00Z is after end_datetime 2016-01-01T00:00:00Z",
    ),
]


@pytest.mark.parametrize(("properties", "words"), BAD_TIMES, ids=[w for _, w in BAD_TIMES])
def test_an_unreadable_date_time_is_one_line_naming_the_item(
    properties: dict[str, Any], words: str, fresh_dsn: str, catalog_copy: Path
) -> None:
    item_id, path = first_item(catalog_copy)
    edit_item(path, properties)
    line = one_error_line(load_cli(fresh_dsn, catalog_copy))
    assert f"item {item_id}: {words}" in line
    assert not has_pgstac(fresh_dsn)  # refused before the database was touched


BAD_GEOMETRIES = [
    {"type": "Foo", "coordinates": [0, 0]},
    {"type": "Polygon", "coordinates": 5},
    {"type": "Point"},
    {"type": 5},
    "POINT (0 0)",
    {"type": "Polygon", "coordinates": [[["a", 1], [1, 1], [0, 0]]]},
]


@pytest.mark.parametrize("geometry", BAD_GEOMETRIES, ids=[str(g) for g in BAD_GEOMETRIES])
def test_a_geometry_pgstac_cannot_store_is_one_line_naming_the_item(
    geometry: Any, fresh_dsn: str, catalog_copy: Path
) -> None:
    item_id, path = first_item(catalog_copy)
    edit_item(path, {}, geometry)
    line = one_error_line(load_cli(fresh_dsn, catalog_copy))
    assert f"item {item_id}: geometry " in line
    assert "is not GeoJSON pgstac can store" in line
    assert not has_pgstac(fresh_dsn)


def test_rfc3339_date_times_in_other_spellings_load_as_postgresql_reads_them(
    fresh_dsn: str, catalog_copy: Path
) -> None:
    """RFC 3339 allows a lower-case t and z and any offset: the checks above refuse none."""
    item_id, path = first_item(catalog_copy)
    spelled = "2016-04-17t13:11:59.250+02:00"
    edit_item(path, {"datetime": spelled})
    result = load_cli(fresh_dsn, catalog_copy)
    assert result.exit_code == 0, result.output
    with psycopg.connect(fresh_dsn) as conn:
        row = conn.execute(
            "SELECT datetime = %s::timestamptz FROM pgstac.items WHERE id = %s", (spelled, item_id)
        ).fetchone()
    assert row == (True,)


# --- a database that refuses: its cause, not the PL/pgSQL context --------------------------------
@pytest.fixture
def plain_user_dsn(fresh_dsn: str) -> str:
    """The fresh database's DSN as a login role with no rights beyond connecting."""
    role = f"plain_{os.getpid()}_{abs(hash(fresh_dsn)) % 10**6}"
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    return make_conninfo(fresh_dsn, user=role)


def refusal_of_postgis(dsn: str) -> str:
    """What PostgreSQL itself says to this DSN for the first thing pgstac's migration needs."""
    with (
        psycopg.connect(dsn, autocommit=True) as conn,
        pytest.raises(psycopg.Error) as refused,
    ):
        conn.execute("CREATE EXTENSION postgis")
    cause = refused.value.diag.message_primary
    assert cause is not None
    return str(cause)


def test_a_database_refusing_the_migration_is_named_by_its_own_message(
    plain_user_dsn: str, built_catalog: Path
) -> None:
    cause = refusal_of_postgis(plain_user_dsn)
    assert "permission denied" in cause
    line = one_error_line(load_cli(plain_user_dsn, built_catalog))
    assert line.endswith(cause), line
    assert "PL/pgSQL" not in line
    assert "CONTEXT" not in line


def test_a_read_only_database_is_named_by_its_own_message(
    fresh_dsn: str, built_catalog: Path
) -> None:
    """The DSN's options reach the server (libpq passes them); what it refuses is said in its
    own words, not as the PL/pgSQL function it was in."""
    dsn = make_conninfo(fresh_dsn, options="-c default_transaction_read_only=on")
    cause = refusal_of_postgis(dsn)
    assert "read-only" in cause
    line = one_error_line(load_cli(dsn, built_catalog))
    assert line.endswith(cause), line
    assert "PL/pgSQL" not in line
    assert not has_pgstac(fresh_dsn)


def test_a_server_that_never_answers_is_given_the_dsns_connect_timeout(
    built_catalog: Path,
) -> None:
    """A port that accepts connections and says nothing (the kernel's backlog): the load gives
    up after the DSN's connect_timeout, in one line, before anything else is done."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        port = silent.getsockname()[1]
        dsn = f"postgresql://postgres@127.0.0.1:{port}/x?connect_timeout=2"
        start = time.monotonic()
        line = one_error_line(finishes_within(30, lambda: load_cli(dsn, built_catalog)))
        waited = time.monotonic() - start
    assert line.startswith(f"Error: cannot connect to postgres@127.0.0.1:{port}/x: "), line
    assert "timeout" in line, line
    assert 2 <= waited < 8, waited  # the DSN's 2 s, not the 10 s kept when it says nothing


def test_a_lock_another_session_holds_is_waited_for_within_a_bound(
    fresh_dsn: str, built_catalog: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A load or migration under way elsewhere (here: a lock on pgstac.items held by another
    session) used to be waited for without end; the wait is now bounded (LOCK_TIMEOUT, lowered
    here) and said in one line, and the next load, the lock gone, completes."""
    assert load_cli(fresh_dsn, built_catalog).exit_code == 0
    monkeypatch.setattr(pgstac_mod, "LOCK_TIMEOUT", 1)
    with psycopg.connect(fresh_dsn) as holder:
        holder.execute("LOCK TABLE pgstac.items IN ACCESS EXCLUSIVE MODE")
        start = time.monotonic()
        line = one_error_line(finishes_within(30, lambda: load_cli(fresh_dsn, built_catalog)))
        waited = time.monotonic() - start
    assert "canceling statement due to lock timeout" in line
    assert "another session holds a lock on pgstac's tables" in line
    assert waited < 15, waited
    assert load_cli(fresh_dsn, built_catalog).exit_code == 0
