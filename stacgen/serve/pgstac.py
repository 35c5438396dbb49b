"""The --pgstac backend: stac-fastapi-pgstac's client over a PostgreSQL + PostGIS + pgstac
database, behind the same application as the embedded backend (api.py).

The database is loaded by `stacgen pgstac load` (stacgen.publish.pgstac). A search is checked
as the embedded backend checks it (search.check_search, against the database's queryables) and
handed to pgstac in the terms both evaluate alike: the area as one geometry, the filter and the
query as one CQL2 JSON filter, ties broken by id, the fields selected here. Hrefs under the
catalog's published root, or under INTERNAL (a database loaded for this server, as the tests
do), are answered under the URL the client used, as the embedded backend does.

The DSN is passed to asyncpg whole (TLS settings, `options`, `application_name` ...), as
`stacgen pgstac load` passes it to libpq; the connection is opened, and pgstac looked for,
before the server listens, so a bad DSN, an unreachable server or a database without pgstac is
one line at start-up.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, urlencode

import asyncpg
import attr
import psycopg
from fastapi import FastAPI
from psycopg.conninfo import conninfo_to_dict
from pypgstac import __version__ as PGSTAC_VERSION
from stac_fastapi.api.models import create_post_request_model
from stac_fastapi.pgstac.config import Settings
from stac_fastapi.pgstac.core import CoreCrudClient
from stac_fastapi.pgstac.db import con_init, get_connection
from stac_fastapi.pgstac.extensions.filter import FiltersClient
from stac_fastapi.pgstac.models.links import ItemCollectionLinks, SearchLinks
from stac_fastapi.pgstac.types.search import PgstacSearch
from stac_fastapi.types.errors import InvalidQueryParameter
from starlette.requests import Request
from starlette.responses import Response

from stacgen.errors import StacgenError
from stacgen.serve.api import answer, make_api, search_extensions
from stacgen.serve.catalog import INTERNAL
from stacgen.serve.fields import select_fields
from stacgen.serve.search import (
    BadSearch,
    Search,
    SearchParams,
    check_search,
    from_get,
    from_items,
    from_post,
)
from stacgen.stac.queryables import COMMON_FIELDS, ITEM_FIELDS, schema_types

log = logging.getLogger(__name__)

CONNECT_TIMEOUT: Final = 10.0  # s, unless the DSN says (connect_timeout)
# libpq's connection keywords that asyncpg does not take (it would send them to the server as
# settings, which refuses them): refused in one line rather than dropped.
LIBPQ_ONLY: Final = frozenset(
    {
        "hostaddr",
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_count",
        "tcp_user_timeout",
        "requirepeer",
        "gssencmode",
        "channel_binding",
        "sslcompression",
        "sslsni",
        "sslcertmode",
        "fallback_application_name",
        "load_balance_hosts",
        "require_auth",
        "gssdelegation",
        "replication",
    }
)
# The DSN's settings that name a file (sslrootcert=system: the system's certificates).
FILE_SETTINGS: Final = frozenset({"sslrootcert", "sslcert", "sslkey", "sslcrl", "passfile"})
POOL_SIZE: Final = (1, 10)
PGSTAC_OPS: Final = {"a_containedby": "a_contained_by"}
_TOKEN: Final = re.compile(r"(next|prev):([0-9a-f]+):([0-9a-f]+)")


class PgstacError(StacgenError):
    """The --pgstac database cannot be served: one line naming it and the problem."""


@dataclass(frozen=True)
class Database:
    """Where the pgstac database is, as asyncpg takes it: the DSN's every setting kept."""

    url: str  # postgresql://?host=...&port=...&sslmode=... (read by asyncpg itself)
    where: str  # user@host:port/db, for messages (no password)
    timeout: float
    settings: dict[str, str] = field(default_factory=dict)


def database(dsn: str) -> Database:
    """The DSN (a URL or key=value pairs) read, or PgstacError naming what is wrong with it."""
    try:
        params = {k: str(v) for k, v in conninfo_to_dict(dsn).items()}
    except psycopg.ProgrammingError as err:
        # psycopg ends its message with a newline: the error stays one line.
        raise PgstacError(f"--pgstac: not a PostgreSQL DSN ({str(err).strip()})") from err
    unsupported = sorted(set(params) & LIBPQ_ONLY)
    if unsupported:
        raise PgstacError(
            f"--pgstac: the API's PostgreSQL driver (asyncpg) does not take {unsupported}; "
            "leave them out of the DSN"
        )
    for port in params.get("port", "").split(","):
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            raise PgstacError(f"--pgstac: port {port!r} is not a port number (1-65535)")
    for key in FILE_SETTINGS & set(params):
        if params[key] != "system" and not Path(params[key]).expanduser().is_file():
            raise PgstacError(f"--pgstac: {key} {params[key]}: no such file")
    timeout = params.pop("connect_timeout", None)
    try:
        seconds = float(timeout) if timeout else CONNECT_TIMEOUT
    except ValueError as err:
        raise PgstacError(f"--pgstac: connect_timeout {timeout!r} is not seconds") from err
    if seconds <= 0:  # libpq: 0 waits for ever; every wait here has a bound
        seconds = CONNECT_TIMEOUT
    # The server's settings for this connection: pgstac's schema first, and a name in
    # pg_stat_activity unless the DSN gives one (asyncpg lets these override the DSN's).
    settings = {"search_path": "pgstac,public"}
    if "application_name" not in params:
        settings["application_name"] = "stacgen serve"
    host = params.get("host") or "localhost"
    where = (
        f"{params.get('user', '')}@{host}:{params.get('port') or 5432}/{params.get('dbname', '')}"
    )
    url = f"postgresql://?{urlencode(params, quote_via=quote)}"
    return Database(url, where, seconds, settings)


async def _connected(db: Database) -> asyncpg.Pool:
    """A pool on the database, its pgstac version checked: PgstacError in one line if not."""
    try:
        pool = await asyncpg.create_pool(
            db.url,
            min_size=POOL_SIZE[0],
            max_size=POOL_SIZE[1],
            timeout=db.timeout,
            init=con_init,
            server_settings=dict(db.settings),
        )
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as err:
        raise PgstacError(f"--pgstac: cannot connect to {db.where}: {_one_line(err)}") from err
    except TimeoutError as err:
        raise PgstacError(
            f"--pgstac: cannot connect to {db.where}: no answer in {db.timeout:g} s"
        ) from err
    try:
        # Bounded as the connection is: a migration under way locks the table it reads.
        version = await pool.fetchval("SELECT pgstac.get_version()", timeout=db.timeout)
    except TimeoutError as err:
        await pool.close()
        raise PgstacError(
            f"--pgstac: {db.where}: pgstac's version not read in {db.timeout:g} s (a load or "
            "migration under way holding its tables?)"
        ) from err
    except asyncpg.exceptions.InsufficientPrivilegeError as err:
        # pgstac is there, this user may not read it: loading again would not help.
        await pool.close()
        raise PgstacError(
            f"--pgstac: {db.where}: the user may not read pgstac ({_one_line(err)}): grant it "
            "pgstac's read role (GRANT pgstac_read TO the user)"
        ) from err
    except (asyncpg.exceptions.InvalidSchemaNameError, asyncpg.UndefinedFunctionError) as err:
        await pool.close()
        raise PgstacError(
            f"--pgstac: {db.where} holds no pgstac ({_one_line(err)}): load a catalog into it "
            "with `stacgen pgstac load DSN DIR`"
        ) from err
    except asyncpg.PostgresError as err:  # a statement timeout, ...: pgstac may well be there
        await pool.close()
        raise PgstacError(
            f"--pgstac: {db.where}: cannot read pgstac's version ({_one_line(err)})"
        ) from err
    if version != PGSTAC_VERSION:
        await pool.close()
        raise PgstacError(
            f"--pgstac: {db.where} holds pgstac {version}, this server needs {PGSTAC_VERSION}: "
            "`stacgen pgstac load DSN DIR` migrates it"
        )
    return pool


def _one_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


# --- queryables -----------------------------------------------------------------------------------
class PgstacFilters(FiltersClient):  # type: ignore[misc]
    """pgstac's /queryables with the item's own fields described as the embedded backend
    describes them (pgstac's defaults point at other schemas and omit `collection`)."""

    async def get_queryables(
        self, request: Request, collection_id: str | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        schema: dict[str, Any] = await super().get_queryables(request, collection_id, **kwargs)
        schema["properties"] = {**COMMON_FIELDS, **schema.get("properties", {}), **ITEM_FIELDS}
        schema["additionalProperties"] = False
        return schema


# --- the client -----------------------------------------------------------------------------------
@attr.s
class PgstacClient(CoreCrudClient):  # type: ignore[misc]
    """stac-fastapi-pgstac's client with stacgen's search checks and hrefs."""

    published: str | None = attr.ib(default=None, kw_only=True)
    filters: FiltersClient = attr.ib(factory=PgstacFilters, kw_only=True)

    def _answer(
        self, value: Any, request: Request, media_type: str = "application/geo+json"
    ) -> Response:
        return answer(value, request, [INTERNAL, self.published or ""], media_type)

    async def _checked(self, params: SearchParams, request: Request) -> Search:
        schema = await self.filters.get_queryables(request=request)
        search = check_search(params, schema_types(schema))
        if search.token is not None:
            check_token(search.token)
        return search

    async def _found(self, search: Search, request: Request) -> Any:
        """pgstac's page for the checked search, its fields selected as the embedded backend
        selects them (pgstac's own rules differ: an empty include, nested paths)."""
        async with _database_errors():
            found = await self._search_base(
                self.pgstac_search_model.model_validate(pgstac_body(search)), request=request
            )
        if search.fields is not None:
            found["features"] = [select_fields(f, search.fields) for f in found["features"]]
        return found

    async def post_search(self, search_request: Any, request: Request, **kwargs: Any) -> Any:
        search = await self._checked(from_post(search_request), request)
        found = await self._found(search, request)
        found["links"] = await SearchLinks(request=request).get_links(extra_links=found["links"])
        return self._answer(found, request)

    async def get_search(self, request: Request, **kwargs: Any) -> Any:
        search = await self._checked(from_get(kwargs), request)
        found = await self._found(search, request)
        found["links"] = await SearchLinks(request=request).get_links(extra_links=found["links"])
        return self._answer(found, request)

    async def item_collection(self, collection_id: str, request: Request, **kwargs: Any) -> Any:
        await super().get_collection(collection_id, request=request)  # NotFoundError: a 404
        search = await self._checked(from_items(collection_id, kwargs), request)
        found = await self._found(search, request)
        links = ItemCollectionLinks(collection_id=collection_id, request=request)
        found["links"] = await links.get_links(extra_links=found["links"])
        return self._answer(found, request)

    async def get_item(
        self, item_id: str, collection_id: str, request: Request, **kwargs: Any
    ) -> Any:
        found = await super().get_item(item_id, collection_id, request, **kwargs)
        return self._answer(found, request)

    async def get_collection(self, collection_id: str, request: Request, **kwargs: Any) -> Any:
        found = await super().get_collection(collection_id, request, **kwargs)
        return self._answer(found, request, "application/json")

    async def all_collections(self, request: Request, **kwargs: Any) -> Any:
        found = await super().all_collections(request, **kwargs)
        return self._answer(found, request, "application/json")


def check_token(token: str) -> None:
    """A paging token as pgstac gives them (`next:` or `prev:`, then the collection and item
    ids in hex); pgstac answers others with the first page, as if there were none."""
    match = _TOKEN.fullmatch(token)
    try:
        valid = match is not None and all(bytes.fromhex(g).decode() for g in match.groups()[1:])
    except ValueError:  # odd-length hex, or bytes that are not UTF-8
        valid = False
    if not valid:
        raise BadSearch(f"token: {token[:40]!r} is not a token this API gave")


def pgstac_body(search: Search) -> dict[str, Any]:
    """The checked search as pgstac's search() takes it; fields are selected afterwards."""
    body: dict[str, Any] = {"limit": search.limit, "conf": {"context": "on"}}
    if search.ids is not None:
        body["ids"] = sorted(search.ids)
    if search.collections is not None:
        body["collections"] = sorted(search.collections)
    if search.area is not None:
        body["intersects"] = search.area
    if search.params.body.get("datetime"):
        body["datetime"] = search.params.body["datetime"]
    if search.filter is not None:
        body["filter"], body["filter-lang"] = _dialect(search.filter), "cql2-json"
    sortby = [
        {"field": k.name, "direction": "desc" if k.descending else "asc"} for k in search.sort
    ]
    if sortby and "id" not in {k.name for k in search.sort}:
        sortby.append({"field": "id", "direction": "asc"})  # ties by id, as the embedded one
    if sortby:
        body["sortby"] = sortby
    if search.token is not None:
        body["token"] = search.token
    return body


def _dialect(tree: Any) -> Any:
    """A CQL2 JSON filter in pgstac's words: A_CONTAINEDBY is its `a_contained_by`."""
    if isinstance(tree, list):
        return [_dialect(node) for node in tree]
    if not isinstance(tree, dict) or "op" not in tree:
        return tree
    op = str(tree["op"])
    return {"op": PGSTAC_OPS.get(op.lower(), op), "args": _dialect(tree.get("args", []))}


@asynccontextmanager
async def _database_errors() -> AsyncIterator[None]:
    """pgstac refuses some searches by raising (a paging token it did not give, a value it
    cannot read): a 400 with the reason's first line, not a 500."""
    try:
        yield
    except (asyncpg.exceptions.RaiseError, asyncpg.exceptions.DataError) as err:
        raise InvalidQueryParameter(f"pgstac: {_one_line(err)}") from err


@dataclass
class PgstacBackend:
    """The API over the pgstac database, with what opens and closes its connections (run by
    the server before it listens and after it stops)."""

    app: FastAPI
    db: Database

    async def start(self) -> None:
        self.app.state.readpool = await _connected(self.db)
        self.app.state.get_connection = get_connection
        log.info("pgstac %s at %s", PGSTAC_VERSION, self.db.where)

    async def stop(self) -> None:
        pool = getattr(self.app.state, "readpool", None)
        if pool is not None:
            await pool.close()


def pgstac_backend(dsn: str, published: str | None) -> PgstacBackend:
    """The STAC API over the pgstac database at `dsn` (connected when the server starts)."""
    db = database(dsn)
    filters = PgstacFilters()
    extensions = search_extensions(filters)
    # What pgstac's search() is handed: PgstacSearch with the extensions' fields (filter ...).
    model = create_post_request_model(extensions, base_model=PgstacSearch)
    client = PgstacClient(published=published, filters=filters)
    client.pgstac_search_model = model
    app = make_api(client, extensions, settings_class=_Settings)
    return PgstacBackend(app, db)


class _Settings(Settings):  # type: ignore[misc]
    # Items hydrated here, not in the database: pgstac's own hydration drops null values,
    # such as the label extension's required `label:properties: null`.
    use_api_hydrate: bool = True
