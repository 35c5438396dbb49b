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
from urllib.parse import unquote, urlsplit

import attr
import orjson
from fastapi import FastAPI
from stac_fastapi.pgstac.config import PostgresSettings
from stac_fastapi.pgstac.core import CoreCrudClient
from stac_fastapi.pgstac.db import close_db_connection, connect_to_db
from stac_fastapi.pgstac.extensions import QueryExtension
from stac_fastapi.pgstac.extensions.filter import FiltersClient
from stac_fastapi.pgstac.types.search import PgstacSearch
from stac_fastapi.types.errors import InvalidQueryParameter
from starlette.requests import Request

from stacgen.serve.api import make_api, search_extensions
from stacgen.serve.catalog import INTERNAL
from stacgen.serve.filters import FilterError, check_filter
from stacgen.serve.search import lenient_post_model

from stac_fastapi.api.models import create_post_request_model  # isort: skip


def postgres_settings(dsn: str) -> PostgresSettings:
    """stac-fastapi-pgstac's connection settings from a postgresql:// DSN."""
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgres", "postgresql") or not parts.hostname:
        raise ValueError(f"--pgstac: {dsn!r} is not a postgresql://user@host:port/db DSN")
    return PostgresSettings(
        pguser=unquote(parts.username or "postgres"),
        pgpassword=unquote(parts.password or ""),
        pghost=parts.hostname,
        pgport=parts.port or 5432,
        pgdatabase=parts.path.lstrip("/") or "postgres",
    )


def _types(schema: Mapping[str, Any]) -> dict[str, str]:
    """The queryables' types, as filters.check_filter takes them."""
    types = {}
    for name, spec in (schema.get("properties") or {}).items():
        kind = spec.get("type") if isinstance(spec, dict) else None
        if name == "geometry" or "$ref" in (spec or {}):
            types[name] = "geometry"
        elif spec.get("format") == "date-time":
            types[name] = "datetime"
        elif kind in ("number", "integer"):
            types[name] = "number"
        elif isinstance(kind, str):
            types[name] = kind
        else:
            types[name] = "string"
    return types


@attr.s
class PgstacClient(CoreCrudClient):  # type: ignore[misc]
    """stac-fastapi-pgstac's client with stacgen's filter checks and hrefs."""

    published: str | None = attr.ib(default=None, kw_only=True)
    filters: FiltersClient = attr.ib(factory=FiltersClient, kw_only=True)

    def _local(self, value: Any, request: Request) -> Any:
        raw = orjson.dumps(value)
        root = str(request.base_url).encode()
        for prefix in (INTERNAL, self.published):
            if prefix:
                raw = raw.replace(prefix.encode(), root)
        return orjson.loads(raw)

    async def _check(self, request: Request, raw: Any, lang: str | None) -> None:
        if raw is None:
            return
        schema = await self.filters.get_queryables(request=request)
        try:
            check_filter(raw, lang, None, _types(schema))
        except FilterError as err:
            raise InvalidQueryParameter(str(err)) from err

    async def post_search(self, search_request: Any, request: Request, **kwargs: Any) -> Any:
        lang = search_request.filter_lang
        if isinstance(search_request.filter_expr, str):
            lang = "cql2-text"
        await self._check(request, search_request.filter_expr, lang)
        found = await super().post_search(search_request, request=request, **kwargs)
        return self._local(found, request)

    async def get_search(self, request: Request, **kwargs: Any) -> Any:
        await self._check(request, kwargs.get("filter_expr"), kwargs.get("filter_lang"))
        return self._local(await super().get_search(request, **kwargs), request)

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
        return self._local(found, request)

    async def all_collections(self, request: Request, **kwargs: Any) -> Any:
        return self._local(await super().all_collections(request, **kwargs), request)


def pgstac_api(dsn: str, published: str | None) -> FastAPI:
    """The STAC API over the pgstac database at `dsn` (connected when the server starts)."""
    settings = postgres_settings(dsn)
    filters = FiltersClient()
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

    return make_api(client, extensions, post_model=post_model, lifespan=lifespan)
