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

import asyncio
import logging
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, urlencode

import asyncpg
import attr
import orjson
import psycopg
from fastapi import FastAPI
from hydraters import hydrate
from psycopg.conninfo import conninfo_to_dict
from pypgstac import __version__ as PGSTAC_VERSION
from stac_fastapi.api.models import create_post_request_model
from stac_fastapi.pgstac.config import Settings
from stac_fastapi.pgstac.core import CoreCrudClient
from stac_fastapi.pgstac.db import con_init, get_connection
from stac_fastapi.pgstac.extensions.filter import FiltersClient
from stac_fastapi.pgstac.models.links import (
    ItemCollectionLinks,
    ItemLinks,
    PagingLinks,
    SearchLinks,
)
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
from stacgen.stac.links import rebase_json
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
# The queryables and the collections change only when the database is loaded again: read once
# per this many seconds, not once per search (each read is a query and a schema to check).
METADATA_TTL: Final = 5.0  # s
# Items hydrated and linked once, kept by the exact text pgstac gave (a changed item is a new
# key): at most this many bytes of them (keys and answers), the least recently used dropped.
ITEM_CACHE_BYTES: Final = 64 * 2**20
# One search in one round trip: the page without its features (decoded: small), and each
# feature as its JSON text (the item cache's key; decoded only when the cache lacks it).
PAGE_SQL: Final = (
    "SELECT s.page - 'features', "
    "ARRAY(SELECT f::text FROM jsonb_array_elements(s.page->'features') AS f) "
    "FROM pgstac.search($1::text::jsonb) AS s(page)"
)
# Where the features go in a page's JSON (a text no search can hold: it is drawn at start).
_SLOT: Final = f"stacgen-features-{uuid.uuid4().hex}"


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
    # pgstac.readonly: search() keeps no tally of the searches made (pgstac.searches, a row
    # per distinct search, locked by each one for its whole run: identical searches from many
    # clients waited on each other); the counts it caches are still kept (pgstac_body).
    settings = {"search_path": "pgstac,public", "pgstac.readonly": "true"}
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
            reset=_keep_session,
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


async def _keep_session(conn: asyncpg.Connection) -> None:
    """A connection handed back to the pool is not reset (asyncpg's default sends four
    statements, one more round trip a search): this server only calls pgstac's read
    functions, which leave no session state (no SET, cursor, LISTEN or session lock); an open
    transaction is still rolled back by asyncpg itself."""
    return None


def _one_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


# --- caches ---------------------------------------------------------------------------------------
class Recent:
    """Values read from the database, read again once they are METADATA_TTL seconds old: one
    read at a time for each key. Until a new value is read the old one is answered (searches
    do not queue behind the read, which waits for a connection like any search); the first
    read is waited for. A failed read is not kept: a collection not found is looked for
    again."""

    def __init__(self, ttl: float = METADATA_TTL) -> None:
        self.ttl = ttl
        self._values: dict[Any, tuple[float, Any]] = {}
        self._reading: dict[Any, asyncio.Future[Any]] = {}

    async def get(self, key: Any, read: Callable[[], Awaitable[Any]]) -> Any:
        kept = self._values.get(key)
        if kept is not None and time.monotonic() - kept[0] < self.ttl:
            return kept[1]
        reading = self._reading.get(key)
        if reading is None:
            reading = self._reading[key] = asyncio.ensure_future(self._read(key, read))
            reading.add_done_callback(_quiet)
        if kept is not None:
            return kept[1]
        # shield: a search given up (its client gone) does not cancel the others' read
        return await asyncio.shield(reading)

    async def _read(self, key: Any, read: Callable[[], Awaitable[Any]]) -> Any:
        try:
            started = time.monotonic()
            value = await read()
            self._values[key] = (started, value)
            return value
        except Exception:
            self._values.pop(key, None)  # gone (a collection removed): looked for again
            raise
        finally:
            del self._reading[key]


def _quiet(read: asyncio.Future[Any]) -> None:
    """A read in the background that failed: its searches have been answered from the old
    value, and the next one reads again (asyncio would log it as never retrieved)."""
    if not read.cancelled():
        read.exception()


class ItemCache:
    """Hydrated, linked items as JSON (before href rebasing), by the request's base URL and
    the item's text as pgstac gave it, within a byte budget (least recently used first out)."""

    def __init__(self, budget: int = ITEM_CACHE_BYTES) -> None:
        self.budget = budget
        self.size = 0
        self._items: OrderedDict[tuple[str, str], bytes] = OrderedDict()

    def get(self, key: tuple[str, str]) -> bytes | None:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key: tuple[str, str], value: bytes) -> None:
        cost = len(key[0]) + len(key[1]) + len(value)
        if cost > self.budget or key in self._items:
            return
        self._items[key] = value
        self.size += cost
        while self.size > self.budget:
            (base, text), old = self._items.popitem(last=False)
            self.size -= len(base) + len(text) + len(old)


# --- queryables -----------------------------------------------------------------------------------
class PgstacFilters(FiltersClient):  # type: ignore[misc]
    """pgstac's /queryables with the item's own fields described as the embedded backend
    describes them (pgstac's defaults point at other schemas and omit `collection`); read
    from the database at most once per METADATA_TTL seconds for each collection."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recent = Recent()

    async def get_queryables(
        self, request: Request, collection_id: str | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        async def read() -> dict[str, Any]:
            schema: dict[str, Any] = await super(PgstacFilters, self).get_queryables(
                request, collection_id, **kwargs
            )
            schema["properties"] = {
                **COMMON_FIELDS,
                **schema.get("properties", {}),
                **ITEM_FIELDS,
            }
            schema["additionalProperties"] = False
            return schema

        schema: dict[str, Any] = await self.recent.get(collection_id, read)
        return {**schema, "$id": str(request.url)}  # the URL asked, as pgstac's own sets it


# --- the client -----------------------------------------------------------------------------------
@attr.s
class PgstacClient(CoreCrudClient):  # type: ignore[misc]
    """stac-fastapi-pgstac's client with stacgen's search checks and hrefs."""

    published: str | None = attr.ib(default=None, kw_only=True)
    filters: FiltersClient = attr.ib(factory=PgstacFilters, kw_only=True)
    items: ItemCache = attr.ib(factory=ItemCache, kw_only=True)
    collections: Recent = attr.ib(factory=Recent, kw_only=True)

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

    async def _found(self, search: Search, request: Request) -> dict[str, Any]:
        """pgstac's page for the checked search, as stac-fastapi-pgstac's search answers it
        (items hydrated here: pgstac's hydration drops nulls), with each item hydrated and
        linked once (ItemCache) and its fields selected as the embedded backend selects them
        (pgstac's own rules differ: an empty include, nested paths). The features are JSON
        texts (bytes) here; `_page` writes the page around them."""
        model = self.pgstac_search_model.model_validate(pgstac_body(search))
        model.conf = {**(model.conf or {}), "nohydrate": True}
        body = model.model_dump_json(exclude_none=True, by_alias=True)
        async with _database_errors(model), request.app.state.get_connection(request, "r") as conn:
            page, texts = await conn.fetchrow(PAGE_SQL, body)
        next_token, prev_token = _tokens(page)
        features = [await self._item(text, request) for text in texts]
        if search.fields is not None:
            chosen = [select_fields(orjson.loads(f), search.fields) for f in features]
            features = [orjson.dumps(f) for f in chosen]
        page["features"] = features
        page["links"] = await PagingLinks(
            request=request, next=next_token, prev=prev_token
        ).get_links()
        return dict(page)

    async def _item(self, text: str, request: Request) -> bytes:
        """One item of a page, hydrated and given its links, as JSON (from the cache when
        this exact text was answered before under this base URL)."""
        key = (str(request.base_url), text)
        cached = self.items.get(key)
        if cached is not None:
            return cached
        item = orjson.loads(text)
        base_item = item.pop("pgstac:base_item", None)
        if not isinstance(base_item, dict):  # pgstac < 0.10 gives none: the collection's
            base_item = await self._get_base_item(item.get("collection"), request=request)
        base = {k: v for k, v in base_item.items() if v is not None}
        settings = request.app.state.settings
        item = hydrate(base, item, strip_unmatched_markers=settings.exclude_hydrate_markers)
        links = ItemLinks(
            collection_id=item.get("collection"), item_id=item.get("id"), request=request
        )
        item["links"] = await links.get_links(extra_links=item.get("links"))
        answer = orjson.dumps(item)
        self.items.put(key, answer)
        return answer

    def _page(self, page: dict[str, Any], request: Request) -> Response:
        """The page as JSON, its features' texts put in as they are, hrefs rebased."""
        features: list[bytes] = page["features"]
        shell = {k: page[k] if k != "features" else _SLOT for k in sorted(page, key=_jsonb_order)}
        slot = orjson.dumps(_SLOT)
        raw = orjson.dumps(shell).replace(slot, b"[" + b",".join(features) + b"]", 1)
        body = rebase_json(raw, [INTERNAL, self.published or ""], str(request.base_url))
        return Response(body, media_type="application/geo+json")

    async def _collection_exists(self, collection_id: str, request: Request) -> None:
        """NotFoundError (a 404) unless the database holds the collection (a collection found
        is looked for again after METADATA_TTL seconds)."""

        async def read() -> bool:
            await super(PgstacClient, self).get_collection(collection_id, request=request)
            return True

        await self.collections.get(collection_id, read)

    async def post_search(self, search_request: Any, request: Request, **kwargs: Any) -> Any:
        search = await self._checked(from_post(search_request), request)
        found = await self._found(search, request)
        found["links"] = await SearchLinks(request=request).get_links(extra_links=found["links"])
        return self._page(found, request)

    async def get_search(self, request: Request, **kwargs: Any) -> Any:
        search = await self._checked(from_get(kwargs), request)
        found = await self._found(search, request)
        found["links"] = await SearchLinks(request=request).get_links(extra_links=found["links"])
        return self._page(found, request)

    async def item_collection(self, collection_id: str, request: Request, **kwargs: Any) -> Any:
        await self._collection_exists(collection_id, request)  # NotFoundError: a 404
        search = await self._checked(from_items(collection_id, kwargs), request)
        found = await self._found(search, request)
        links = ItemCollectionLinks(collection_id=collection_id, request=request)
        found["links"] = await links.get_links(extra_links=found["links"])
        return self._page(found, request)

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
    # readonly off for this search's counts (numberMatched), which pgstac then caches.
    body: dict[str, Any] = {"limit": search.limit, "conf": {"context": "on", "readonly": False}}
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


def _tokens(page: dict[str, Any]) -> tuple[str | None, str | None]:
    """The next and previous pages' tokens, from pgstac's links (pgstac >= 0.9) or its own
    members (older), as stac-fastapi-pgstac reads them."""
    found: dict[str, str | None] = {"next": None, "prev": None}
    for link in page.get("links", []):
        for rel in found:
            if link.get("rel") == rel:
                found[rel] = link["href"].split(f"token={rel}:")[1]
    return page.pop("next", found["next"]), page.pop("prev", found["prev"])


def _jsonb_order(key: str) -> tuple[int, str]:
    """How jsonb orders an object's keys (shorter first): the page's keys as pgstac gave them."""
    return len(key), key


@asynccontextmanager
async def _database_errors(model: Any) -> AsyncIterator[None]:
    """pgstac refuses some searches by raising (a paging token it did not give, a value it
    cannot read): a 400 with the reason's first line, not a 500 (a datetime with
    stac-fastapi-pgstac's words)."""
    try:
        yield
    except asyncpg.exceptions.InvalidDatetimeFormatError as err:
        raise InvalidQueryParameter(f"Datetime parameter {model.datetime} is invalid.") from err
    except (asyncpg.exceptions.RaiseError, asyncpg.exceptions.DataError) as err:
        raise InvalidQueryParameter(f"pgstac: {_one_line(err)}") from err


def _in_turn(
    turns: asyncio.Semaphore,
) -> Callable[[Request, str], AbstractAsyncContextManager[asyncpg.Connection]]:
    """pgstac's get_connection, the waits for a connection served first come, first served:
    asyncpg's pool hands a freed connection to whoever asks next, often a search that has just
    arrived rather than one that has waited (32 clients on 10 connections: a few searches
    waited several times as long as the rest)."""

    @asynccontextmanager
    async def connection(request: Request, readwrite: str = "r") -> AsyncIterator[Any]:
        async with turns, get_connection(request, readwrite) as conn:
            yield conn

    return connection


@dataclass
class PgstacBackend:
    """The API over the pgstac database, with what opens and closes its connections (run by
    the server before it listens and after it stops)."""

    app: FastAPI
    db: Database

    async def start(self) -> None:
        self.app.state.readpool = await _connected(self.db)
        self.app.state.get_connection = _in_turn(asyncio.Semaphore(POOL_SIZE[1]))
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
