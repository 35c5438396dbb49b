"""The embedded backend: a stac-fastapi core client over the catalog's items held in memory.

No database and nothing to install: the items are read from the catalog's JSON files (reloaded
when a rebuild swaps the folder) and searched in this process. CQL2 filters are evaluated by
`cql2` (stac-utils, Rust), the library pystac-client itself uses, after `filters.check_filter`
has refused unknown properties, type mismatches and syntax errors. Results are ordered by the
search's `sortby`, then newest first, ties always broken by id, so pages are stable.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote, urlencode

import attr
import cql2
import orjson
import pystac
import shapely
import shapely.geometry
from fastapi import FastAPI
from stac_fastapi.extensions.filter.client import AsyncBaseFiltersClient
from stac_fastapi.types.core import AsyncBaseCoreClient
from stac_fastapi.types.errors import NotFoundError
from stac_fastapi.types.requests import get_base_url
from stac_fastapi.types.stac import Collection, Collections, LandingPage
from starlette.requests import Request
from starlette.responses import Response

from stacgen.serve.api import make_api, search_extensions
from stacgen.serve.catalog import INTERNAL, IndexedItem, LiveIndex, StacIndex
from stacgen.serve.filters import FilterError, check_filter, referenced
from stacgen.serve.search import (
    BadSearch,
    SearchParams,
    SortKey,
    check_query,
    check_sort,
    from_get,
    from_post,
)
from stacgen.stac.queryables import DATETIME, ITEM_FIELDS, PropertyTypes

log = logging.getLogger(__name__)

GEOJSON: Final = str(pystac.MediaType.GEOJSON)
JSON: Final = str(pystac.MediaType.JSON)
SCHEMA_JSON: Final = "application/schema+json"
QUERYABLES_REL: Final = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
HIERARCHY_RELS: Final = frozenset(
    {"self", "root", "parent", "collection", "child", "item", "items"}
)
# The fields extension: what an item has when `include` is empty, and what it always keeps
# (pystac-client needs them to read an item).
DEFAULT_FIELDS: Final = [
    "type",
    "stac_version",
    "id",
    "bbox",
    "geometry",
    "properties.datetime",
    "links",
    "assets",
]
ALWAYS_FIELDS: Final = frozenset({"type", "stac_version", "id", "links"})
TOP_LEVEL: Final = frozenset({"id", "collection"})


# --- URLs -----------------------------------------------------------------------------------------
def site_root(request: Request) -> str:
    """This server's root URL as the client reached it (the static files are there)."""
    return str(request.base_url)


def _geojson(value: Any, request: Request) -> Response:
    """A ready response, INTERNAL hrefs moved under this server's root. Answering a Response
    (not a dict) spares FastAPI's jsonable_encoder, which walks every value in Python."""
    body = orjson.dumps(value).replace(INTERNAL.encode(), site_root(request).encode())
    return Response(body, media_type=GEOJSON)


def localise(value: Any, root: str) -> Any:
    """A JSON value with INTERNAL hrefs moved under this server's root URL."""
    raw = orjson.dumps(value).replace(INTERNAL.encode(), root.encode())
    return orjson.loads(raw)


def _link(rel: str, href: str, media_type: str = JSON, **extra: Any) -> dict[str, Any]:
    return {"rel": rel, "href": href, "type": media_type, **extra}


def _other_links(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [lk for lk in doc.get("links", []) if lk.get("rel") not in HIERARCHY_RELS]


# --- queryables -----------------------------------------------------------------------------------
def property_types(index: StacIndex) -> PropertyTypes:
    return PropertyTypes(item.data.get("properties", {}) for item in index.items)


def queryable_types(index: StacIndex) -> dict[str, str]:
    """Each queryable's type: "number", "string", "boolean", "array", "datetime", "geometry"."""
    types = index.memo("property types", property_types).types()
    types.update({"id": "string", "collection": "string", "geometry": "geometry"})
    types.setdefault("datetime", "datetime")
    return types


def queryables_schema(index: StacIndex, url: str) -> dict[str, Any]:
    definitions = index.memo("property types", property_types).definitions()
    return {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": url,
        "type": "object",
        "title": "Queryables",
        "properties": {"datetime": DATETIME, **definitions, **ITEM_FIELDS},
        "additionalProperties": True,
    }


# --- matching -------------------------------------------------------------------------------------
def _coerce(value: Any, expected: Any) -> Any:
    """pystac-client sends `query=["eo:cloud_cover<10"]` as the string "10"."""
    if isinstance(value, int | float) and isinstance(expected, str):
        try:
            return float(expected)
        except ValueError:
            return expected
    return expected


QUERY_OPS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "eq": operator.eq,
    "neq": operator.ne,
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
    "startsWith": lambda a, b: isinstance(a, str) and a.startswith(b),
    "endsWith": lambda a, b: isinstance(a, str) and a.endswith(b),
    "contains": lambda a, b: isinstance(a, str | list) and b in a,
    "in": lambda a, b: a in b,
}


def _value(data: Mapping[str, Any], name: str) -> Any:
    return data.get(name) if name in TOP_LEVEL else data.get("properties", {}).get(name)


def query_matches(query: Mapping[str, Mapping[str, Any]], data: Mapping[str, Any]) -> bool:
    for name, ops in query.items():
        value = _value(data, name.removeprefix("properties."))
        if value is None:
            return False
        for op, wanted in ops.items():
            expected = [_coerce(value, e) for e in wanted] if isinstance(wanted, list) else wanted
            try:
                if not QUERY_OPS[op](value, _coerce(value, expected)):
                    return False
            except TypeError:
                return False
    return True


def _filter_matches(expr: cql2.Expr, names: frozenset[str], data: dict[str, Any]) -> bool:
    """`cql2` on the part of the item the filter reads: handing it the whole item (about
    20 KB of JSON) costs 0.2 ms an item in conversion alone."""
    props = data.get("properties", {})
    slim: dict[str, Any] = {k: data[k] for k in TOP_LEVEL | {"geometry", "bbox"} & names}
    slim["properties"] = {k: props[k] for k in names if k in props}
    try:
        return bool(expr.matches(slim))
    except Exception:  # an item without the (known) property cannot match: cql2 raises
        return False


class _Matcher:
    """A search's conditions, cheapest first."""

    def __init__(self, params: SearchParams, queryables: Mapping[str, str]) -> None:
        body = params.body
        self.ids = frozenset(body["ids"]) if body.get("ids") else None
        self.collections = frozenset(body["collections"]) if body.get("collections") else None
        self.area = _area(body)
        self.interval = params.interval()
        self.query = check_query(body["query"], queryables) if body.get("query") else None
        self.expr = None
        self.names: frozenset[str] = frozenset()
        if body.get("filter") is not None:
            try:
                self.expr = check_filter(
                    body["filter"], body.get("filter-lang"), body.get("filter-crs"), queryables
                )
            except FilterError as err:
                raise BadSearch(str(err)) from err
            self.names = referenced(self.expr)

    def __call__(self, item: IndexedItem) -> bool:
        if self.ids is not None and item.id not in self.ids:
            return False
        if self.collections is not None and item.collection not in self.collections:
            return False
        if self.area is not None and not self.area.intersects(item.shape):
            return False
        if self.interval is not None and not _overlaps(self.interval, item):
            return False
        if self.query is not None and not query_matches(self.query, item.data):
            return False
        return self.expr is None or _filter_matches(self.expr, self.names, item.data)


def _area(body: Mapping[str, Any]) -> shapely.Geometry | None:
    if body.get("intersects") is not None:
        try:
            return shapely.geometry.shape(body["intersects"])
        except (ValueError, TypeError, AttributeError, KeyError) as err:
            raise BadSearch(f"intersects: not a GeoJSON geometry ({err})") from err
    bbox = body.get("bbox")
    if bbox is None:
        return None
    if len(bbox) == 6:
        bbox = [bbox[0], bbox[1], bbox[3], bbox[4]]
    west, south, east, north = bbox
    if west > east:  # crosses the antimeridian
        return shapely.union(
            shapely.box(west, south, 180, north), shapely.box(-180, south, east, north)
        )
    return shapely.box(west, south, east, north)


def _overlaps(interval: tuple[datetime | None, datetime | None], item: IndexedItem) -> bool:
    start, end = interval
    return (start is None or item.end >= start) and (end is None or item.start <= end)


def _sort_value(name: str) -> Callable[[IndexedItem], Any]:
    return lambda item: _value(item.data, name)


def _ordered(found: list[IndexedItem], keys: list[SortKey]) -> list[IndexedItem]:
    """Sorted by the keys (missing values last in either direction), ties by id ascending.

    The index is newest first then by id, so without keys that order stands; each key is
    applied as a stable sort, last key first.
    """
    ordered = sorted(found, key=lambda i: i.id) if keys else found
    for key in reversed(keys):
        present = [i for i in ordered if _value(i.data, key.name) is not None]
        missing = [i for i in ordered if _value(i.data, key.name) is None]
        present.sort(key=_sort_value(key.name), reverse=key.descending)
        ordered = present + missing
    return ordered  # sort(reverse=True) is stable too: ties stay in id order


# --- fields ---------------------------------------------------------------------------------------
def select_fields(item: dict[str, Any], fields: Mapping[str, Any] | None) -> dict[str, Any]:
    """The fields extension: the `include`d (dotted) paths, or the spec's default ones, less the
    `exclude`d paths; an included path wins over an excluded one that contains it."""
    if fields is None:
        return item
    given = fields.get("include")
    include = set(given or [])
    if given is None:
        result = dict(item)
    else:
        result = {}
        for path in sorted((include or set(DEFAULT_FIELDS)) | ALWAYS_FIELDS):
            _copy_path(item, result, path.split("."))
    for path in sorted(set(fields.get("exclude") or []) - ALWAYS_FIELDS):
        if not any(i == path or i.startswith(f"{path}.") for i in include):
            _drop_path(result, path.split("."))
    return result


def _copy_path(source: dict[str, Any], target: dict[str, Any], parts: list[str]) -> None:
    head, rest = parts[0], parts[1:]
    if head not in source:
        return
    if not rest or not isinstance(source[head], dict):
        target[head] = source[head]
        return
    _copy_path(source[head], target.setdefault(head, {}), rest)


def _drop_path(target: dict[str, Any], parts: list[str]) -> None:
    for part in parts[:-1]:
        child = target.get(part)
        if not isinstance(child, dict):
            return
        child = dict(child)
        target[part] = child
        target = child
    target.pop(parts[-1], None)


# --- the client -----------------------------------------------------------------------------------
@attr.s
class EmbeddedClient(AsyncBaseCoreClient):
    """stac-fastapi's core client over a LiveIndex."""

    live: LiveIndex = attr.ib(kw_only=True)

    @property
    def index(self) -> StacIndex:
        return self.live.current()

    async def landing_page(self, **kwargs: Any) -> LandingPage:
        request: Request = kwargs["request"]
        page: LandingPage = await super().landing_page(**kwargs)
        cat = self.index.catalog
        page["id"] = str(cat.get("id", page["id"]))
        page["title"] = self.index.title
        page["description"] = str(cat.get("description", page["description"]))
        root = site_root(request)
        page["links"].append(_link("alternate", f"{root}catalog.json", title="Static catalog"))
        return page

    async def all_collections(self, **kwargs: Any) -> Collections:
        request: Request = kwargs["request"]
        api = get_base_url(request)
        found = [self._collection(c, request) for c in self.index.collections]
        links = [_link("self", f"{api}collections"), _link("root", api), _link("parent", api)]
        return Collections(collections=found, links=links)

    async def get_collection(self, collection_id: str, **kwargs: Any) -> Collection:
        if collection_id not in self.index.collections:
            raise NotFoundError(f"no collection {collection_id!r}")
        return self._collection(collection_id, kwargs["request"])

    async def get_item(self, item_id: str, collection_id: str, **kwargs: Any) -> Any:
        found = self.index.item(collection_id, item_id)
        if found is None:
            raise NotFoundError(f"no item {item_id!r} in collection {collection_id!r}")
        request: Request = kwargs["request"]
        return _geojson(self._item(found, get_base_url(request)), request)

    async def item_collection(
        self,
        collection_id: str,
        bbox: Any = None,
        datetime: str | None = None,
        limit: int = 10,
        token: str | None = None,
        **kwargs: Any,
    ) -> Any:
        await self.get_collection(collection_id, **kwargs)
        request: Request = kwargs["request"]
        params = from_get({"bbox": bbox, "datetime": datetime, "limit": limit, "token": token})
        params.body["collections"] = [collection_id]
        url = f"{get_base_url(request)}collections/{quote(collection_id)}/items"
        return self._search(params, request, _get_next(url, request), self_url=str(request.url))

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
        request: Request = kwargs["request"]
        given = {"collections": collections, "ids": ids, "bbox": bbox, "intersects": intersects}
        params = from_get({**kwargs, **given, "datetime": datetime, "limit": limit})
        return self._search(params, request, _get_next(f"{get_base_url(request)}search", request))

    async def post_search(self, search_request: Any, **kwargs: Any) -> Any:
        request: Request = kwargs["request"]
        params = from_post(search_request)
        return self._search(params, request, _post_next(f"{get_base_url(request)}search", params))

    # --- helpers ------------------------------------------------------------------------------
    def _search(
        self,
        params: SearchParams,
        request: Request,
        next_link: Callable[[int], dict[str, Any]],
        self_url: str | None = None,
    ) -> Any:
        index = self.index
        queryables = index.memo("queryable types", queryable_types)
        keys = params.sort_keys()
        check_sort(keys, queryables)
        matcher = _Matcher(params, queryables)
        found = _ordered([i for i in index.items if matcher(i)], keys)
        start, limit = params.offset, params.limit
        page = found[start : start + limit]
        api = get_base_url(request)
        links = [_link("root", api)]
        if self_url:
            links.append(_link("self", self_url, GEOJSON))
        if start + len(page) < len(found):
            links.append(next_link(start + len(page)))
        fields = params.body.get("fields")
        features = [select_fields(self._item(i, api), fields) for i in page]
        collection = {
            "type": "FeatureCollection",
            "features": features,
            "links": links,
            "numberMatched": len(found),
            "numberReturned": len(page),
        }
        return _geojson(collection, request)

    def _collection(self, cid: str, request: Request) -> Collection:
        doc = dict(self.index.collections[cid])
        api = get_base_url(request)
        url = f"{api}collections/{quote(cid)}"
        static = next((lk["href"] for lk in doc["links"] if lk.get("rel") == "self"), None)
        doc["links"] = [
            *_other_links(doc),
            _link("self", url),
            _link("root", api),
            _link("parent", api),
            _link("items", f"{url}/items", GEOJSON),
            _link(QUERYABLES_REL, f"{url}/queryables", SCHEMA_JSON),
            _link("alternate", static or f"{INTERNAL}{cid}/collection.json", title="Static"),
        ]
        collection: Collection = localise(doc, site_root(request))
        return collection

    def _item(self, item: IndexedItem, api: str) -> dict[str, Any]:
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
        if collection_id is not None and collection_id not in index.collections:
            raise NotFoundError(f"no collection {collection_id!r}")
        request: Request = kwargs["request"]
        return queryables_schema(index, str(request.url))


def embedded_api(live: LiveIndex) -> FastAPI:
    """The STAC API over the catalog's items in memory."""
    extensions = search_extensions(EmbeddedFilters(live=live))
    return make_api(EmbeddedClient(live=live), extensions)
