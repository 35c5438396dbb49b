"""Load a built catalog into PostgreSQL with pgstac, for stac-fastapi-pgstac to serve.

`load` migrates the database to pypgstac's pgstac version, then upserts the collection and its
items: an item whose row would not change is not written, so loading the same catalog twice
changes nothing and a rebuilt catalog updates only the items that changed. Hrefs are stored
absolute, under the URL the catalog's files are served from (the API's answers point at the
static catalog's assets). Every property the embedded backend can filter on is registered as a
queryable with the same definition (stacgen.stac.queryables), so both backends accept the same
filters: numbers read through to_float (pgstac compares and sorts an unregistered property as
text, "9.5" > "10.2"), arrays through to_text_array (for a_contains, a_overlaps ...), strings
and booleans as text, date-times through to_tstz.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import psycopg
from plpygis import Geometry  # type: ignore[import-untyped]  # pypgstac's GeoJSON reader
from plpygis.exceptions import PlpygisError  # type: ignore[import-untyped]
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from stacgen.errors import StacgenError
from stacgen.stac.links import check_root_href
from stacgen.stac.queryables import PropertyTypes
from stacgen.stac.reader import CatalogReadError, read_catalog

log = logging.getLogger(__name__)

CONNECT_TIMEOUT: Final = 10  # s: an unreachable server is reported, not waited for
# s: a lock another session holds on pgstac's tables (a load or migration under way) is
# waited for this long, unless the DSN's options or the role set their own lock_timeout.
LOCK_TIMEOUT: Final = 60
LOCK_NOT_AVAILABLE: Final = "55P03"  # PostgreSQL's SQLSTATE for a lock_timeout
# Columns of pgstac's items table: searched as themselves, never registered as queryables.
ITEM_COLUMNS: Final = frozenset({"id", "collection", "datetime", "end_datetime", "geometry"})
DATE_TIMES: Final = ("datetime", "start_datetime", "end_datetime")
# pgstac's cast of a jsonb value for each queryable type (its default is to_text).
WRAPPERS: Final[dict[str, str]] = {
    "number": "to_float",
    "array": "to_text_array",
    "datetime": "to_tstz",
    "boolean": "to_text",
}


class PgstacLoadError(StacgenError):
    """The catalog cannot be loaded (bad DSN, unreachable database, unusable catalog)."""


@dataclass(frozen=True)
class LoadReport:
    """What one load did: items per outcome, the queryables registered, the time it took."""

    collections: int
    inserted: int
    updated: int
    unchanged: int
    queryables: tuple[str, ...]
    pgstac_version: str
    seconds: float

    @property
    def items(self) -> int:
        return self.inserted + self.updated + self.unchanged


class _Tally:
    """Passes items through to the loader, noting their keys and their properties' types."""

    def __init__(self, collections: Iterable[str]) -> None:
        self.types: dict[str, PropertyTypes] = {c: PropertyTypes() for c in collections}
        self.keys: set[tuple[str, str]] = set()

    def watch(self, items: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for item in items:
            collection = item.get("collection")
            types = self.types.get(collection) if isinstance(collection, str) else None
            if types is None:
                raise PgstacLoadError(
                    f"item {item.get('id')}: collection {collection!r} is not in the catalog "
                    "(pgstac keeps every item in a collection)"
                )
            _check_item(item, geometry=False)
            self.keys.add((str(collection), str(item["id"])))
            types.add(item.get("properties") or {})
            yield item

    def queryables(self, collection: str) -> list[Queryable]:
        """The collection's queryable properties (item columns aside: pgstac has them)."""
        types = self.types[collection]
        kinds = types.types()
        return [
            Queryable(name, definition, WRAPPERS.get(kinds[name]))
            for name, definition in types.definitions().items()
            if name not in ITEM_COLUMNS
        ]


@dataclass(frozen=True)
class Queryable:
    """A row of pgstac.queryables: the JSON Schema and how pgstac reads the value."""

    name: str
    definition: dict[str, Any]
    wrapper: str | None


def _check_item(item: dict[str, Any], *, geometry: bool = True) -> None:
    """What pgstac needs of an item, checked here so that a bad one is one line naming it, not
    pypgstac's traceback or the database's error without the item's name. `geometry`: read
    the geometry as pypgstac will (some 160 us an ALCD footprint, the rest is a few: `load`
    does it once, before the database is touched; streamed items leave it to pypgstac)."""
    props = item.get("properties")
    if not isinstance(item.get("id"), str) or not isinstance(props, dict):
        raise PgstacLoadError(f"item {item.get('id')!r}: no string id or no properties")
    times = {key: _date_time(item["id"], key, props.get(key)) for key in DATE_TIMES}
    start, end = times["start_datetime"], times["end_datetime"]
    if times["datetime"] is None and None in (start, end):
        raise PgstacLoadError(f"item {item['id']}: no datetime (nor start and end datetimes)")
    if start is not None and end is not None and start > end:
        raise PgstacLoadError(
            f"item {item['id']}: start_datetime {props['start_datetime']} is after "
            f"end_datetime {props['end_datetime']}"
        )
    if geometry:
        _check_geometry(item["id"], item.get("geometry"))


def _date_time(item_id: str, key: str, value: Any) -> datetime | None:
    """The property as an aware date-time (None if absent), read as RFC 3339 asks."""
    if value is None:
        return None
    try:
        # RFC 3339 allows a lower-case t and z; fromisoformat takes the upper-case ones.
        when = datetime.fromisoformat(value.upper()) if isinstance(value, str) else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise PgstacLoadError(
            f"item {item_id}: {key} {str(value)[:60]!r} is not an RFC 3339 date-time"
        )
    return when


def _check_geometry(item_id: str, geometry: Any) -> None:
    """The geometry read by the GeoJSON reader pypgstac stores it with (plpygis)."""
    if geometry is None:  # STAC allows an item without a footprint, and so does pgstac
        return
    try:
        Geometry.from_geojson(geometry)
    except (PlpygisError, TypeError, KeyError, AttributeError, ValueError, IndexError) as err:
        kind = geometry.get("type") if isinstance(geometry, dict) else type(geometry).__name__
        raise PgstacLoadError(
            f"item {item_id}: geometry {str(kind)[:40]!r} is not GeoJSON pgstac can store "
            f"({type(err).__name__}: {str(err)[:80]})"
        ) from err


# --- the database ---------------------------------------------------------------------------------
def describe_dsn(dsn: str) -> str:
    """The DSN without its password, for messages."""
    try:
        parts = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "the DSN"
    where = f"{parts.get('host') or 'localhost'}:{parts.get('port') or 5432}"
    return f"{parts.get('user') or ''}@{where}/{parts.get('dbname') or ''}".lstrip("@")


def _connect_timeout(dsn: str) -> int:
    """The DSN's connect_timeout, else CONNECT_TIMEOUT (libpq's 0 or none waits for ever)."""
    try:
        given = conninfo_to_dict(dsn).get("connect_timeout")
    except psycopg.ProgrammingError as err:
        raise PgstacLoadError(f"bad DSN: {_first_line(err)}") from err
    try:
        seconds = int(str(given)) if given is not None else 0
    except ValueError as err:
        raise PgstacLoadError(f"bad DSN: connect_timeout {given!r} is not seconds") from err
    return seconds if seconds > 0 else CONNECT_TIMEOUT


def _connect(dsn: str, timeout: int) -> psycopg.Connection[Any]:
    try:
        conn = psycopg.connect(dsn, connect_timeout=timeout, autocommit=True)
    except psycopg.Error as err:
        raise PgstacLoadError(f"cannot connect to {describe_dsn(dsn)}: {_first_line(err)}") from err
    try:
        _bound_lock_waits(conn)
    except psycopg.Error as err:
        conn.close()
        raise PgstacLoadError(f"{describe_dsn(dsn)}: {_first_line(err)}") from err
    return conn


def _bound_lock_waits(conn: psycopg.Connection[Any]) -> None:
    """lock_timeout LOCK_TIMEOUT for this session, where nothing set one (0: wait for ever)."""
    row = conn.execute("SELECT current_setting('lock_timeout')").fetchone()
    if row is not None and row[0] == "0":
        conn.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}s'")
    conn.commit()  # the pool's connections are not autocommit: a SET outlives its transaction


def _hint(err: psycopg.Error) -> str:
    if err.sqlstate == LOCK_NOT_AVAILABLE:
        return (
            " (another session holds a lock on pgstac's tables, a load or a migration under way?"
            " run again once it is done, or give the DSN options=-c lock_timeout=...)"
        )
    return ""


def _first_line(err: BaseException) -> str:
    """The cause in one line: the server's own message where it sent one (psycopg's text goes
    on with the statement and the PL/pgSQL context, which name no cause), else the last line
    of libpq's (a failed connection lists each address tried, the reason last)."""
    primary = err.diag.message_primary if isinstance(err, psycopg.Error) else None
    if primary:
        return " ".join(primary.split())
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[-1] if lines else type(err).__name__


def _stored_collection(conn: psycopg.Connection[Any], cid: str) -> Any:
    row = conn.execute("SELECT content FROM pgstac.collections WHERE id = %s", (cid,)).fetchone()
    return None if row is None else row[0]


def _register_queryables(
    conn: psycopg.Connection[Any], cid: str, queryables: list[Queryable]
) -> None:
    """Each queryable for this collection, typed as the embedded backend types it.

    A queryable already registered the same way is left alone: a second load writes nothing.
    """
    with conn.transaction():
        for q in queryables:
            definition = {"title": q.name, **q.definition}
            rows = conn.execute(
                "SELECT definition, property_wrapper, collection_ids FROM pgstac.queryables"
                " WHERE name = %s",
                (q.name,),
            ).fetchall()
            if [tuple(r) for r in rows] == [(definition, q.wrapper, [cid])]:
                continue
            conn.execute(
                "SELECT pgstac.upsert_queryable(%s, %s, %s, NULL, %s)",
                (q.name, Jsonb(definition), q.wrapper, [cid]),
            )


def load(dsn: str, catalog_dir: Path, root_href: str | None = None) -> LoadReport:
    """Migrate the database at DSN to pgstac and upsert the catalog in DIR into it."""
    start = time.perf_counter()
    if root_href is not None:
        check_root_href(root_href)
    try:
        docs = read_catalog(catalog_dir, root_href)
    except CatalogReadError as err:
        raise PgstacLoadError(str(err)) from err
    for item in docs.items:  # all of them before the database is touched
        _check_item(item)
    report = load_documents(dsn, docs.collections, docs.items)
    return dataclasses.replace(report, seconds=time.perf_counter() - start)


def load_documents(
    dsn: str, collections: list[dict[str, Any]], items: Iterable[dict[str, Any]]
) -> LoadReport:
    """Migrate the database, upsert the collections, then the items (streamed, in chunks; each
    checked as it goes, its geometry aside: `load` checks whole catalogs up front)."""
    from pypgstac.db import PgstacDB
    from pypgstac.load import Loader, Methods
    from pypgstac.migrate import Migrate

    start = time.perf_counter()
    tally = _Tally(c["id"] for c in collections)
    timeout = _connect_timeout(dsn)
    with (
        _connect(dsn, timeout) as conn,
        ConnectionPool(
            dsn,
            min_size=0,
            max_size=1,
            kwargs={"connect_timeout": timeout},
            configure=_bound_lock_waits,
        ) as pool,
    ):
        try:
            with PgstacDB(pool=pool) as db:
                version = Migrate(db).run_migration()
                loader = Loader(db=db)
                changed = [c for c in collections if _stored_collection(conn, c["id"]) != c]
                if changed:
                    loader.load_collections(iter(changed), insert_mode=Methods.upsert)
                before = _versions(conn, tally.types)
                loader.load_items(tally.watch(items), insert_mode=Methods.upsert)
                after = _versions(conn, tally.types)
            queryables = {c: tally.queryables(c) for c in tally.types}
            for collection, rows in queryables.items():
                _register_queryables(conn, collection, rows)
        except psycopg.Error as err:
            raise PgstacLoadError(f"{describe_dsn(dsn)}: {_first_line(err)}{_hint(err)}") from err
    inserted = sum(1 for k in tally.keys if k not in before)
    updated = sum(1 for k in tally.keys if k in before and before[k] != after.get(k))
    return LoadReport(
        collections=len(collections),
        inserted=inserted,
        updated=updated,
        unchanged=len(tally.keys) - inserted - updated,
        queryables=tuple(sorted({q.name for rows in queryables.values() for q in rows})),
        pgstac_version=version,
        seconds=time.perf_counter() - start,
    )


def _versions(
    conn: psycopg.Connection[Any], collections: Iterable[str]
) -> dict[tuple[str, str], str]:
    """(collection, id) -> xmin of every item row: a row the load rewrites gets a new one."""
    rows = conn.execute(
        "SELECT collection, id, xmin::text FROM pgstac.items WHERE collection = ANY(%s)",
        (list(collections),),
    ).fetchall()
    return {(str(c), str(i)): str(x) for c, i, x in rows}
