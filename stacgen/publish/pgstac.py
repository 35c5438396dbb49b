"""Load a built catalog into PostgreSQL with pgstac, for stac-fastapi-pgstac to serve.

`load` migrates the database to pypgstac's pgstac version, then upserts the collection and its
items: an item whose row would not change is not written, so loading the same catalog twice
changes nothing and a rebuilt catalog updates only the items that changed. Hrefs are stored
absolute, under the URL the catalog's files are served from (the API's answers point at the
static catalog's assets). Numeric properties are registered as number queryables: pgstac
compares and sorts an unregistered property as text ("9.5" > "10.2").
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from stacgen.stac.reader import CatalogReadError, read_catalog

log = logging.getLogger(__name__)

CONNECT_TIMEOUT: Final = 10  # s: an unreachable server is reported, not waited for
# Columns of pgstac's items table: searched as themselves, never registered as queryables.
ITEM_COLUMNS: Final = frozenset({"id", "collection", "datetime", "end_datetime", "geometry"})
NUMBER_WRAPPER: Final = "to_float"  # pgstac's cast of a jsonb value to a number


class PgstacLoadError(Exception):
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
    """Passes items through to the loader, noting their keys and their numeric properties."""

    def __init__(self, collections: Iterable[str]) -> None:
        self.kinds: dict[str, dict[str, set[str]]] = {c: {} for c in collections}
        self.keys: set[tuple[str, str]] = set()

    def watch(self, items: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for item in items:
            collection = item.get("collection")
            kinds = self.kinds.get(collection) if isinstance(collection, str) else None
            if kinds is None:
                raise PgstacLoadError(
                    f"item {item.get('id')}: collection {collection!r} is not in the catalog "
                    "(pgstac keeps every item in a collection)"
                )
            _check_item(item)
            self.keys.add((str(collection), str(item["id"])))
            for name, value in (item.get("properties") or {}).items():
                kinds.setdefault(name, set()).add(_kind(value))
            yield item

    def number_properties(self, collection: str) -> list[str]:
        """The properties whose values are numbers in every item that has them."""
        return sorted(
            name
            for name, kinds in self.kinds[collection].items()
            if kinds - {"null"} == {"number"} and name not in ITEM_COLUMNS
        )


def _check_item(item: dict[str, Any]) -> None:
    """What pgstac needs of an item, checked here so that a bad one is one line, not a trace."""
    props = item.get("properties")
    if not isinstance(item.get("id"), str) or not isinstance(props, dict):
        raise PgstacLoadError(f"item {item.get('id')!r}: no string id or no properties")
    if props.get("datetime") is None and None in (
        props.get("start_datetime"),
        props.get("end_datetime"),
    ):
        raise PgstacLoadError(f"item {item['id']}: no datetime (nor start and end datetimes)")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "number"
    return "other"


# --- the database ---------------------------------------------------------------------------------
def describe_dsn(dsn: str) -> str:
    """The DSN without its password, for messages."""
    try:
        parts = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "the DSN"
    where = f"{parts.get('host') or 'localhost'}:{parts.get('port') or 5432}"
    return f"{parts.get('user') or ''}@{where}/{parts.get('dbname') or ''}".lstrip("@")


def _connect(dsn: str) -> psycopg.Connection[Any]:
    try:
        conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as err:
        raise PgstacLoadError(f"bad DSN: {_first_line(err)}") from err
    try:
        return psycopg.connect(dsn, connect_timeout=CONNECT_TIMEOUT, autocommit=True)
    except psycopg.Error as err:
        raise PgstacLoadError(f"cannot connect to {describe_dsn(dsn)}: {_first_line(err)}") from err


def _first_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[-1] if lines else type(err).__name__


def _stored_collection(conn: psycopg.Connection[Any], cid: str) -> Any:
    row = conn.execute("SELECT content FROM pgstac.collections WHERE id = %s", (cid,)).fetchone()
    return None if row is None else row[0]


def _register_queryables(conn: psycopg.Connection[Any], cid: str, names: list[str]) -> None:
    """Number queryables read through to_float, so comparisons and sortby are numeric.

    A queryable already registered the same way is left alone: a second load writes nothing.
    """
    with conn.transaction():
        for name in names:
            wanted = ({"title": name, "type": "number"}, NUMBER_WRAPPER, [cid])
            rows = conn.execute(
                "SELECT definition, property_wrapper, collection_ids FROM pgstac.queryables"
                " WHERE name = %s",
                (name,),
            ).fetchall()
            if [tuple(r) for r in rows] == [wanted]:
                continue
            conn.execute(
                "SELECT pgstac.upsert_queryable(%s, %s, %s, NULL, %s)",
                (name, Jsonb(wanted[0]), NUMBER_WRAPPER, [cid]),
            )


def load(dsn: str, catalog_dir: Path, root_href: str | None = None) -> LoadReport:
    """Migrate the database at DSN to pgstac and upsert the catalog in DIR into it."""
    start = time.perf_counter()
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
    """Migrate the database, upsert the collections, then the items (streamed, in chunks)."""
    from pypgstac.db import PgstacDB
    from pypgstac.load import Loader, Methods
    from pypgstac.migrate import Migrate

    start = time.perf_counter()
    tally = _Tally(c["id"] for c in collections)
    with _connect(dsn) as conn, ConnectionPool(dsn, min_size=0, max_size=1) as pool:
        try:
            with PgstacDB(pool=pool) as db:
                version = Migrate(db).run_migration()
                loader = Loader(db=db)
                changed = [c for c in collections if _stored_collection(conn, c["id"]) != c]
                if changed:
                    loader.load_collections(iter(changed), insert_mode=Methods.upsert)
                before = _versions(conn, tally.kinds)
                loader.load_items(tally.watch(items), insert_mode=Methods.upsert)
                after = _versions(conn, tally.kinds)
            queryables = {c: tally.number_properties(c) for c in tally.kinds}
            for collection, names in queryables.items():
                _register_queryables(conn, collection, names)
        except psycopg.Error as err:
            raise PgstacLoadError(f"{describe_dsn(dsn)}: {_first_line(err)}") from err
    inserted = sum(1 for k in tally.keys if k not in before)
    updated = sum(1 for k in tally.keys if k in before and before[k] != after.get(k))
    return LoadReport(
        collections=len(collections),
        inserted=inserted,
        updated=updated,
        unchanged=len(tally.keys) - inserted - updated,
        queryables=tuple(sorted({n for names in queryables.values() for n in names})),
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
