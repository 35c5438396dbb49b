"""The --pgstac backend: stac-fastapi-pgstac's client over a PostgreSQL + PostGIS + pgstac
database, behind the same application as the embedded backend (api.py).

The database is loaded by `stacgen pgstac load` (stacgen.publish.pgstac). Filters go through the
same checks as the embedded backend's (filters.check_filter, against the database's
queryables), so both refuse the same filters with the same messages. Hrefs under the catalog's
published root, or under INTERNAL (a database loaded for this server, as the tests do), are
answered under the URL the client used, as the embedded backend does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import attr
import orjson
import psycopg
from fastapi import FastAPI
from psycopg.conninfo import conninfo_to_dict
from stac_fastapi.pgstac.config import PostgresSettings, Settings
from stac_fastapi.pgstac.core import CoreCrudClient
from stac_fastapi.pgstac.db import close_db_connection, connect_to_db
from stac_fastapi.pgstac.extensions import QueryExtension
from stac_fastapi.pgstac.extensions.filter import FiltersClient
from stac_fastapi.pgstac.types.search import PgstacSearch
from stac_fastapi.types.errors import InvalidQueryParameter
from starlette.requests import Request
from starlette.responses import Response

from stacgen.serve.api import make_api, search_extensions
from stacgen.serve.catalog import INTERNAL
from stacgen.serve.embedded import GEOJSON, select_fields
from stacgen.serve.filters import FilterError, check_filter
from stacgen.serve.search import check_bbox, fields_of_strings, lenient_post_model, post_fields
from stacgen.stac.queryables import ITEM_FIELDS

from stac_fastapi.api.models import create_post_request_model  # isort: skip


def postgres_settings(dsn: str) -> PostgresSettings:
    """stac-fastapi-pgstac's connection settings from a DSN (a URL or key=value pairs)."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as err:
        # psycopg ends its message with a newline: the error stays one line.
        raise ValueError(f"--pgstac: not a PostgreSQL DSN ({str(err).strip()})") from err
    host = str(params.get("host") or "127.0.0.1")
    if host.startswith("/"):
        raise ValueError(f"--pgstac: {dsn!r}: give a TCP host, not a socket folder ({host})")
    return PostgresSettings(
        pguser=str(params.get("user") or "postgres"),
        pgpassword=str(params.get("password") or ""),
        pghost=host,
        pgport=int(params.get("port") or 5432),
        pgdatabase=str(params.get("dbname") or "postgres"),
    )


def _types(schema: Mapping[str, Any]) -> dict[str, str]:
    """The queryables' types, as filters.check_filter takes them; an item's own fields are
    always queryable (pgstac's queryables list only some of them)."""
    types = {"id": "string", "collection": "string", "geometry": "geometry"}
    types["datetime"] = "datetime"
    for name, spec in (schema.get("properties") or {}).items():
        kind = spec.get("type") if isinstance(spec, dict) else None
        ref = str(spec.get("$ref", "")).lower() if isinstance(spec, dict) else ""
        if name in types:
            continue
        if "geometry" in ref or "geojson" in ref:
            types[name] = "geometry"
        elif ref:
            types[name] = "any"  # defined elsewhere: not type-checked here
        elif spec.get("format") == "date-time":
            types[name] = "datetime"
        elif kind in ("number", "integer"):
            types[name] = "number"
        elif isinstance(kind, str):
            types[name] = kind
        else:
            types[name] = "string"
    return types


class PgstacFilters(FiltersClient):  # type: ignore[misc]
    """pgstac's /queryables with the item's own fields described as the embedded backend
    describes them (pgstac's defaults point at other schemas and omit `collection`)."""

    async def get_queryables(
        self, request: Request, collection_id: str | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        schema: dict[str, Any] = await super().get_queryables(request, collection_id, **kwargs)
        schema["properties"] = {**schema.get("properties", {}), **ITEM_FIELDS}
        return schema


@attr.s
class PgstacClient(CoreCrudClient):  # type: ignore[misc]
    """stac-fastapi-pgstac's client with stacgen's filter checks and hrefs."""

    published: str | None = attr.ib(default=None, kw_only=True)
    filters: FiltersClient = attr.ib(factory=PgstacFilters, kw_only=True)

    def _local(self, value: Any, request: Request, kind: str = GEOJSON) -> Response:
        """The answer with INTERNAL and published hrefs under this server's URL, as a ready
        response (as the embedded backend answers)."""
        raw = orjson.dumps(value)
        root = str(request.base_url).encode()
        for prefix in (INTERNAL, self.published):
            if prefix:
                raw = raw.replace(prefix.encode(), root)
        return Response(raw, media_type=kind)

    def _selected(self, found: Any, fields: Any, request: Request) -> Response:
        """The fields extension applied as the embedded backend applies it (pgstac's own
        rules differ: an empty include, nested paths), so both answer alike."""
        if fields is not None:
            found["features"] = [select_fields(f, fields) for f in found["features"]]
        return self._local(found, request)

    async def _check(self, request: Request, raw: Any, lang: str | None) -> Any:
        """The filter as cql2-json once checked (pgstac takes no cql2-text in a body)."""
        if raw is None:
            return None
        schema = await self.filters.get_queryables(request=request)
        try:
            return check_filter(raw, lang, None, _types(schema)).to_json()
        except FilterError as err:
            raise InvalidQueryParameter(str(err)) from err

    async def post_search(self, search_request: Any, request: Request, **kwargs: Any) -> Any:
        lang = search_request.filter_lang
        if isinstance(search_request.filter_expr, str):
            lang = "cql2-text"
        checked = await self._check(request, search_request.filter_expr, lang)
        if checked is not None:
            search_request.filter_expr, search_request.filter_lang = checked, "cql2-json"
        if search_request.bbox is not None:
            check_bbox(search_request.bbox)
        if search_request.sortby and "id" not in {s.field for s in search_request.sortby}:
            tie = type(search_request.sortby[0])(field="id", direction="asc")
            search_request.sortby = [*search_request.sortby, tie]
        fields = post_fields(search_request)
        if fields is not None:
            search_request.fields = None
        async with _database_errors():
            found = await super().post_search(search_request, request=request, **kwargs)
        return self._selected(found, fields, request)

    async def get_search(self, request: Request, **kwargs: Any) -> Any:
        await self._check(request, kwargs.get("filter_expr"), kwargs.get("filter_lang"))
        if kwargs.get("bbox") is not None:
            check_bbox(kwargs["bbox"])
        sortby = kwargs.get("sortby")
        if sortby and not any(s.lstrip("+-") == "id" for s in sortby):
            kwargs["sortby"] = [*sortby, "+id"]  # ties broken by id, as the embedded backend
        fields = fields_of_strings(kwargs.pop("fields", None))
        async with _database_errors():
            found = await super().get_search(request, **kwargs)
        return self._selected(found, fields, request)

    async def item_collection(self, collection_id: str, request: Request, **kwargs: Any) -> Any:
        found = await super().item_collection(collection_id, request, **kwargs)
        return self._local(found, request)

    async def get_item(
        self, item_id: str, collection_id: str, request: Request, **kwargs: Any
    ) -> Any:
        found = await super().get_item(item_id, collection_id, request, **kwargs)
        return self._local(found, request)

    async def get_collection(self, collection_id: str, request: Request, **kwargs: Any) -> Any:
        found = await super().get_collection(collection_id, request, **kwargs)
        return self._local(found, request, "application/json")

    async def all_collections(self, request: Request, **kwargs: Any) -> Any:
        found = await super().all_collections(request, **kwargs)
        return self._local(found, request, "application/json")


@asynccontextmanager
async def _database_errors() -> AsyncIterator[None]:
    """pgstac refuses some searches by raising (a bad paging token): a 400, not a 500."""
    try:
        yield
    except asyncpg.exceptions.RaiseError as err:
        raise InvalidQueryParameter(f"pgstac: {err}") from err


def pgstac_api(dsn: str, published: str | None) -> FastAPI:
    """The STAC API over the pgstac database at `dsn` (connected when the server starts)."""
    settings = postgres_settings(dsn)
    filters = PgstacFilters()
    extensions = search_extensions(filters, QueryExtension())
    post_model = lenient_post_model(create_post_request_model(extensions, base_model=PgstacSearch))
    client = PgstacClient(published=published, filters=filters)
    client.pgstac_search_model = post_model

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await connect_to_db(app, postgres_settings=settings)
        try:
            yield
        finally:
            await close_db_connection(app)

    return make_api(
        client, extensions, post_model=post_model, settings_class=_Settings, lifespan=lifespan
    )


class _Settings(Settings):  # type: ignore[misc]
    # Items hydrated here, not in the database: pgstac's own hydration drops null values,
    # such as the label extension's required `label:properties: null`.
    use_api_hydrate: bool = True
