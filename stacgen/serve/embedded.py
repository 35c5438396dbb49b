"""The embedded backend: a stac-fastapi core client over the catalog's items held in memory.

No database and nothing to install: the items are read from the catalog's JSON files (reloaded
when a rebuild swaps the folder) and searched in this process. A search is checked once
(search.check_search: the same checks as the pgstac backend's), then answered by the columnar
index (index.py): numpy over the queryables, and for what it cannot answer of the filter (one
CQL2 JSON filter: the filter and the query) `cql2` (stac-utils, Rust), the library
pystac-client itself uses. Results are ordered newest first, or by the search's `sortby`, ties
always broken by id, so pages are stable; only the page's items are decoded. Each request
reads one index (`LiveIndex.current()` once): a rebuild swapping the catalog mid-request
cannot mix two catalogs in one answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import quote, urlencode

import attr
import orjson
import pystac
import shapely
import shapely.geometry
from fastapi import FastAPI
from stac_fastapi.extensions.filter.client import AsyncBaseFiltersClient
from stac_fastapi.types.core import AsyncBaseCoreClient
from stac_fastapi.types.errors import NotFoundError
from stac_fastapi.types.requests import get_base_url
from stac_fastapi.types.stac import LandingPage
from starlette.requests import Request
from starlette.responses import Response

from stacgen.serve.api import make_api, search_extensions
from stacgen.serve.catalog import INTERNAL, IndexedItem, LiveIndex, StacIndex
from stacgen.serve.fields import select_fields
from stacgen.serve.index import Query, find
from stacgen.serve.search import (
    Search,
    SearchParams,
    check_search,
    from_get,
    from_items,
    from_post,
)
from stacgen.stac.links import rebase_json
from stacgen.stac.queryables import queryables_schema, schema_types

log = logging.getLogger(__name__)

GEOJSON: Final = str(pystac.MediaType.GEOJSON)
JSON: Final = str(pystac.MediaType.JSON)
SCHEMA_JSON: Final = "application/schema+json"
QUERYABLES_REL: Final = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
HIERARCHY_RELS: Final = frozenset(
    {"self", "root", "parent", "collection", "child", "item", "items"}
)


# --- answers --------------------------------------------------------------------------------------
def answer(value: Any, request: Request, media_type: str = GEOJSON) -> Response:
    """A ready response, INTERNAL hrefs moved under this server's root as the client reached
    it. Answering a Response (not a dict) spares FastAPI's jsonable_encoder, which walks every
    value in Python."""
    body = rebase_json(orjson.dumps(value), [INTERNAL], str(request.base_url))
    return Response(body, media_type=media_type)


def _link(rel: str, href: str, media_type: str = JSON, **extra: Any) -> dict[str, Any]:
    return {"rel": rel, "href": href, "type": media_type, **extra}


def _other_links(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [lk for lk in doc.get("links", []) if lk.get("rel") not in HIERARCHY_RELS]


# --- queryables -----------------------------------------------------------------------------------
def queryable_types(index: StacIndex) -> dict[str, str]:
    """Each queryable's type, read from the /queryables schema (as the pgstac backend does)."""
    return schema_types(queryables_schema(index.property_types.definitions(), ""))


# --- the client -----------------------------------------------------------------------------------
@attr.s
class EmbeddedClient(AsyncBaseCoreClient):
    """stac-fastapi's core client over a LiveIndex; each request reads one index."""

    live: LiveIndex = attr.ib(kw_only=True)

    async def landing_page(self, **kwargs: Any) -> LandingPage:
        request: Request = kwargs["request"]
        index = self.live.current()
        page: LandingPage = await super().landing_page(**kwargs)
        cat = index.catalog
        page["id"] = str(cat.get("id", page["id"]))
        page["title"] = index.title
        page["description"] = str(cat.get("description", page["description"]))
        root = str(request.base_url)
        page["links"].append(_link("alternate", f"{root}catalog.json", title="Static catalog"))
        return page

    async def all_collections(self, **kwargs: Any) -> Any:
        request: Request = kwargs["request"]
        index = self.live.current()
        api = get_base_url(request)
        found = [_collection(index, c, api) for c in index.collections]
        links = [_link("self", f"{api}collections"), _link("root", api), _link("parent", api)]
        return answer({"collections": found, "links": links}, request, JSON)

    async def get_collection(self, collection_id: str, **kwargs: Any) -> Any:
        request: Request = kwargs["request"]
        index = _with_collection(self.live.current(), collection_id)
        return answer(_collection(index, collection_id, get_base_url(request)), request, JSON)

    async def get_item(self, item_id: str, collection_id: str, **kwargs: Any) -> Any:
        found = self.live.current().item(collection_id, item_id)
        if found is None:
            raise NotFoundError(f"no item {item_id!r} in collection {collection_id!r}")
        request: Request = kwargs["request"]
        return answer(_item(found, get_base_url(request)), request)

    async def item_collection(
        self,
        collection_id: str,
        bbox: Any = None,
        datetime: str | None = None,
        limit: int = 10,
        token: str | None = None,
        **kwargs: Any,
    ) -> Any:
        request: Request = kwargs.pop("request")
        index = _with_collection(self.live.current(), collection_id)
        given = {"bbox": bbox, "datetime": datetime, "limit": limit, "token": token}
        params = from_items(collection_id, {**kwargs, **given})
        url = f"{get_base_url(request)}collections/{quote(collection_id)}/items"
        return _search(index, params, request, _get_next(url, request), self_url=str(request.url))

    async def get_search(
        self,
        collections: list[str] | None = None,
        ids: list[str] | None = None,
        bbox: Any = None,
        intersects: Any = None,
        datetime: str | None = None,
        limit: int | None = 10,
        **kwargs: Any,
    ) -> Any:
        request: Request = kwargs.pop("request")
        given = {"collections": collections, "ids": ids, "bbox": bbox, "intersects": intersects}
        params = from_get({**kwargs, **given, "datetime": datetime, "limit": limit})
        url = f"{get_base_url(request)}search"
        return _search(self.live.current(), params, request, _get_next(url, request))

    async def post_search(self, search_request: Any, **kwargs: Any) -> Any:
        request: Request = kwargs["request"]
        params = from_post(search_request)
        url = f"{get_base_url(request)}search"
        return _search(self.live.current(), params, request, _post_next(url, params))


def _with_collection(index: StacIndex, collection_id: str) -> StacIndex:
    if collection_id not in index.collections:
        raise NotFoundError(f"no collection {collection_id!r}")
    return index


def _search(
    index: StacIndex,
    params: SearchParams,
    request: Request,
    next_link: Callable[[int], dict[str, Any]],
    self_url: str | None = None,
) -> Response:
    search = check_search(params, index.memo("queryable types", queryable_types))
    start, limit = params.offset, search.limit
    found = find(index.columns, _query(search))
    page = [index.items[i] for i in found[start : start + limit]]
    api = get_base_url(request)
    links = [_link("root", api)]
    if self_url:
        links.append(_link("self", self_url, GEOJSON))
    if start + len(page) < len(found):
        links.append(next_link(start + len(page)))
    features = [select_fields(_item(i, api), search.fields) for i in page]
    collection = {
        "type": "FeatureCollection",
        "features": features,
        "links": links,
        "numberMatched": len(found),
        "numberReturned": len(page),
    }
    return answer(collection, request)


def _query(search: Search) -> Query:
    """The checked search in the index's terms."""
    area = None if search.area is None else shapely.geometry.shape(search.area)
    return Query(
        ids=search.ids,
        collections=search.collections,
        area=area,
        interval=search.interval,
        filter=search.filter,
        sort=tuple((key.name, key.descending) for key in search.sort),
    )


def _collection(index: StacIndex, cid: str, api: str) -> dict[str, Any]:
    doc = dict(index.collections[cid])
    url = f"{api}collections/{quote(cid)}"
    static = next((lk["href"] for lk in doc["links"] if lk.get("rel") == "self"), None)
    doc["links"] = [
        *_other_links(doc),
        _link("self", url),
        _link("root", api),
        _link("parent", api),
        _link("items", f"{url}/items", GEOJSON),
        _link(QUERYABLES_REL, f"{url}/queryables", SCHEMA_JSON, title="Queryables"),
        _link("alternate", static or f"{INTERNAL}{cid}/collection.json", title="Static"),
    ]
    return doc


def _item(item: IndexedItem, api: str) -> dict[str, Any]:
    data = dict(item.data)
    coll = f"{api}collections/{quote(item.collection)}"
    data["links"] = [
        *_other_links(data),
        _link("self", f"{coll}/items/{quote(item.id)}", GEOJSON),
        _link("parent", coll),
        _link("collection", coll),
        _link("root", api),
    ]
    return data


def _get_next(url: str, request: Request) -> Callable[[int], dict[str, Any]]:
    def link(offset: int) -> dict[str, Any]:
        kept = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
        query = urlencode([*kept, ("token", f"next:{offset}")])
        return _link("next", f"{url}?{query}", GEOJSON, method="GET")

    return link


def _post_next(url: str, params: SearchParams) -> Callable[[int], dict[str, Any]]:
    def link(offset: int) -> dict[str, Any]:
        body = {**params.body, "token": f"next:{offset}"}
        return _link("next", url, GEOJSON, method="POST", body=body, merge=False)

    return link


@attr.s
class EmbeddedFilters(AsyncBaseFiltersClient):
    """/queryables for the filter extension: every property the items hold with one type."""

    live: LiveIndex = attr.ib(kw_only=True)

    async def get_queryables(
        self, collection_id: str | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        index = self.live.current()
        if collection_id is not None:
            _with_collection(index, collection_id)
        request: Request = kwargs["request"]
        return queryables_schema(index.property_types.definitions(), str(request.url))


def embedded_api(live: LiveIndex) -> FastAPI:
    """The STAC API over the catalog's items in memory."""
    filters = EmbeddedFilters(live=live)
    return make_api(EmbeddedClient(live=live), search_extensions(filters))
