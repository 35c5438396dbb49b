"""An embedded STAC API (item search) over the items of a static catalog.

`stacgen serve` answers it in-process under /api/: no database, no child process, nothing
downloaded at run time. The catalog is read once from its item JSON files (not items.parquet, so
hrefs are the ones the files hold) and searched in memory; the archive has 37 items.

Why not an existing engine (rustac measured offline on the serve tests' catalog):
- `rustac serve` 0.9.18 with DuckDB fetches the DuckDB `spatial` extension at run time: offline,
  /search answers 500 after 30 s, and PyPI has no 1.5.6 extension wheels to match it. Its
  in-memory backend pages, but rejects GET `filter`, returns nothing for a POST cql2-json filter,
  ignores `query`, and returns relative asset hrefs that a client cannot fetch.
- stac-fastapi-geoparquet 0.0.7 (tried earlier, issue 5) works but needs DuckDB extension wheels
  pinned to DuckDB's exact version, `stac-fastapi<6` and `fastapi<0.116`, a uvicorn process, and
  has no `query`.
CQL2 is evaluated by `cql2` (stac-utils, Rust), the library pystac-client itself uses.

Supported: /search (GET and POST) with bbox, intersects, datetime, ids, collections, limit, paging
by `next` links (`token`), CQL2 `filter` (cql2-text and cql2-json) and the `query` extension;
the OGC Features endpoints /collections/{id}/items[/{item}]; queryables. Not supported: sortby,
fields (results are newest first, then by id).
"""

from __future__ import annotations

import copy
import json
import logging
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, quote, unquote, urlencode, urljoin, urlsplit

import cql2
import shapely
import shapely.geometry

from stacgen.fileutil import JsonFileError, read_json_object
from stacgen.stac.links import map_hrefs, published_root, rebase

log = logging.getLogger(__name__)

# Local hrefs are held under this origin (the .invalid TLD never resolves) and rewritten to the
# URL the client used, per request, so links work whatever host name reached the server.
INTERNAL: Final = "http://stacgen.invalid/"
DEFAULT_LIMIT: Final = 10
MAX_LIMIT: Final = 1000
GEOJSON: Final = "application/geo+json"
JSON: Final = "application/json"
SCHEMA_JSON: Final = "application/schema+json"
QUERYABLES_REL: Final = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
HIERARCHY_RELS: Final = frozenset(
    {"self", "root", "parent", "collection", "child", "item", "items"}
)
CONFORMANCE: Final = (
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/item-search#query",
    "https://api.stacspec.org/v1.0.0-rc.2/item-search#filter",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/temporal-functions",
)
CRS84: Final = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


class CatalogError(Exception):
    """The catalog on disk cannot be served."""


class ApiError(Exception):
    """A request the API answers with an error status."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


# --- the index ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IndexedItem:
    """One item: its JSON, hrefs absolute (local files under INTERNAL), and what searches use."""

    data: dict[str, Any]
    href: str
    collection: str
    shape: shapely.Geometry
    start: datetime
    end: datetime


@dataclass(frozen=True)
class StacIndex:
    catalog: dict[str, Any]
    collections: dict[str, dict[str, Any]]
    items: tuple[IndexedItem, ...]  # newest first, then by id
    published: str | None = None  # the URL the catalog was built for, if it has absolute hrefs

    def item(self, collection: str, item_id: str) -> IndexedItem | None:
        return next(
            (i for i in self.items if i.collection == collection and i.data["id"] == item_id),
            None,
        )


def read_json(path: Path) -> dict[str, Any]:
    try:
        return read_json_object(path)
    except JsonFileError as err:
        raise CatalogError(str(err)) from err


class _Walker:
    """Reads the catalog tree from disk, following child and item links."""

    def __init__(self, directory: Path, published: str | None) -> None:
        self.directory = directory.resolve()
        self.published = published
        self.collections: dict[str, dict[str, Any]] = {}
        self.items: list[IndexedItem] = []
        self.seen: set[str] = set()

    def absolute(self, href: str, doc_url: str) -> str:
        if self.published and href.startswith(self.published):
            return INTERNAL + href[len(self.published) :]
        return urljoin(doc_url, href)

    def file_of(self, url: str) -> Path | None:
        if not url.startswith(INTERNAL):
            return None
        path = (self.directory / unquote(urlsplit(url).path.lstrip("/"))).resolve()
        return path if path.is_relative_to(self.directory) else None

    def load(self, url: str) -> dict[str, Any]:
        path = self.file_of(url)
        if path is None:
            raise CatalogError(f"{url}: outside the catalog folder {self.directory}")
        doc = read_json(path)
        resolved: dict[str, Any] = map_hrefs(doc, lambda h: self.absolute(h, url))
        return resolved

    def walk(self, url: str, parent_collection: str | None) -> None:
        if url in self.seen:
            return
        self.seen.add(url)
        doc = self.load(url)
        kind = doc.get("type")
        if kind == "Feature":
            self.items.append(_indexed(doc, url, doc.get("collection") or parent_collection))
            return
        if kind == "Collection":
            self.collections[doc["id"]] = doc
            parent_collection = doc["id"]
        for link in doc.get("links", []):
            if link.get("rel") in ("child", "item"):
                target = link["href"]
                path = self.file_of(target)
                if path is None or not path.is_file():
                    log.warning("%s: skipping link to %s (not a file of the catalog)", url, target)
                    continue
                self.walk(target, parent_collection)


def load_index(directory: Path) -> StacIndex:
    """Every collection and item reachable from DIR/catalog.json."""
    root_url = INTERNAL + "catalog.json"
    catalog = read_json(directory / "catalog.json")
    walker = _Walker(directory, published_root(catalog))
    walker.walk(root_url, None)
    items = sorted(walker.items, key=lambda i: (-i.start.timestamp(), i.data["id"]))
    log.info(
        "API: %d collections, %d items from %s", len(walker.collections), len(items), directory
    )
    root = map_hrefs(catalog, lambda h: walker.absolute(h, root_url))
    return StacIndex(root, walker.collections, tuple(items), walker.published)


def _indexed(doc: dict[str, Any], url: str, collection: str | None) -> IndexedItem:
    if collection is None:
        raise CatalogError(f"{url}: item {doc.get('id')} belongs to no collection")
    props = doc.get("properties") or {}
    try:
        start = _instant(props.get("start_datetime") or props["datetime"])
        end = _instant(props.get("end_datetime") or props["datetime"])
        shape = shapely.geometry.shape(doc["geometry"])
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise CatalogError(f"{url}: item without a usable datetime or geometry ({err})") from err
    if start is None or end is None:
        raise CatalogError(f"{url}: item without a datetime")
    data = {**doc, "collection": collection}
    return IndexedItem(data, url, collection, shape, start, end)


def _instant(text: str | None) -> datetime | None:
    if text in (None, "", ".."):
        return None
    value = datetime.fromisoformat(str(text))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --- searches -------------------------------------------------------------------------------------
Interval = tuple[datetime | None, datetime | None]


@dataclass(frozen=True)
class Search:
    area: shapely.Geometry | None = None
    interval: Interval | None = None
    ids: frozenset[str] | None = None
    collections: frozenset[str] | None = None
    query: Mapping[str, Mapping[str, Any]] | None = None
    filter: cql2.Expr | None = None
    limit: int = DEFAULT_LIMIT
    token: int = 0

    def matches(self, item: IndexedItem) -> bool:
        if self.ids is not None and item.data["id"] not in self.ids:
            return False
        if self.collections is not None and item.collection not in self.collections:
            return False
        if self.area is not None and not self.area.intersects(item.shape):
            return False
        if self.interval is not None and not _overlaps(self.interval, item):
            return False
        if self.query and not query_matches(self.query, item.data.get("properties", {})):
            return False
        return self.filter is None or _filter_matches(self.filter, item.data)


def _overlaps(interval: Interval, item: IndexedItem) -> bool:
    start, end = interval
    return (start is None or item.end >= start) and (end is None or item.start <= end)


def _filter_matches(expr: cql2.Expr, item: dict[str, Any]) -> bool:
    try:
        return bool(expr.matches(item))
    except Exception:  # cql2 raises a bare Exception when a property is missing: no match
        return False


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


def query_matches(query: Mapping[str, Mapping[str, Any]], props: Mapping[str, Any]) -> bool:
    for name, ops in query.items():
        value = props.get(name)
        for op, expected in ops.items():
            if value is None:
                return False
            if isinstance(expected, list):
                expected = [_coerce(value, e) for e in expected]
            try:
                if not QUERY_OPS[op](value, _coerce(value, expected)):
                    return False
            except TypeError:
                return False
    return True


def run_search(index: StacIndex, search: Search) -> tuple[list[IndexedItem], int]:
    """The page of matching items the search asks for, and how many match in all."""
    found = [i for i in index.items if search.matches(i)]
    return found[search.token : search.token + search.limit], len(found)


# --- request parsing ------------------------------------------------------------------------------
def _numbers(value: Any, name: str) -> list[float]:
    parts = value.split(",") if isinstance(value, str) else value
    try:
        return [float(p) for p in parts]
    except (TypeError, ValueError) as err:
        raise ApiError(400, f"{name}: expected numbers, got {value!r}") from err


def parse_bbox(value: Any) -> shapely.Geometry:
    nums = _numbers(value, "bbox")
    if len(nums) == 6:
        nums = [nums[0], nums[1], nums[3], nums[4]]
    if len(nums) != 4:
        raise ApiError(400, f"bbox: expected 4 or 6 numbers, got {len(nums)}")
    west, south, east, north = nums
    if south > north:
        raise ApiError(400, "bbox: south is greater than north")
    if west > east:  # crosses the antimeridian
        return shapely.union(
            shapely.box(west, south, 180, north), shapely.box(-180, south, east, north)
        )
    return shapely.box(west, south, east, north)


def parse_intersects(value: Any) -> shapely.Geometry:
    try:
        geometry = json.loads(value) if isinstance(value, str) else value
        return shapely.geometry.shape(geometry)
    except (ValueError, TypeError, AttributeError, KeyError) as err:
        raise ApiError(400, f"intersects: not a GeoJSON geometry ({err})") from err


def parse_datetime(value: Any) -> Interval:
    if not isinstance(value, str):
        raise ApiError(400, f"datetime: expected a string, got {value!r}")
    parts = value.split("/")
    if len(parts) > 2:
        raise ApiError(400, f"datetime: {value!r} is neither an instant nor an interval")
    try:
        start, end = _instant(parts[0]), _instant(parts[-1])
    except ValueError as err:
        raise ApiError(400, f"datetime: {value!r} is not RFC 3339 ({err})") from err
    if len(parts) == 1 and start is None:
        raise ApiError(400, "datetime: an instant cannot be open")
    if start and end and start > end:
        raise ApiError(400, f"datetime: {value!r} ends before it starts")
    return (start, end)


def parse_strings(value: Any, name: str) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return frozenset(value)
    raise ApiError(400, f"{name}: expected a list of strings, got {value!r}")


def parse_int(value: Any, name: str, low: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError) as err:
        raise ApiError(400, f"{name}: expected an integer, got {value!r}") from err
    if number < low:
        raise ApiError(400, f"{name}: must be at least {low}")
    return number


def parse_query(value: Any) -> dict[str, dict[str, Any]]:
    try:
        query = json.loads(value) if isinstance(value, str) else value
    except ValueError as err:
        raise ApiError(400, f"query: not JSON ({err})") from err
    if not isinstance(query, dict) or not all(isinstance(v, dict) for v in query.values()):
        raise ApiError(400, 'query: expected {"property": {"op": value}}')
    for ops in query.values():
        unknown = set(ops) - set(QUERY_OPS)
        if unknown:
            known = list(QUERY_OPS)
            raise ApiError(400, f"query: unknown operators {sorted(unknown)} (known: {known})")
    return query


def parse_filter(value: Any, lang: Any, crs: Any) -> cql2.Expr:
    if crs not in (None, CRS84):
        raise ApiError(400, f"filter-crs: only {CRS84} is supported")
    if lang not in (None, "cql2-text", "cql2-json"):
        raise ApiError(400, f"filter-lang: {lang!r} is not cql2-text or cql2-json")
    try:
        if lang == "cql2-json" and isinstance(value, str):
            return cql2.parse_json(value)
        if lang == "cql2-text" and isinstance(value, str):
            return cql2.parse_text(value)
        return cql2.Expr(value)
    except Exception as err:  # cql2 raises bare Exceptions for syntax errors
        raise ApiError(400, f"filter: {err}".splitlines()[0]) from err


_PARSERS: Final[dict[str, tuple[str, Callable[[Any], Any]]]] = {
    "bbox": ("area", parse_bbox),
    "intersects": ("area", parse_intersects),
    "datetime": ("interval", parse_datetime),
    "ids": ("ids", lambda v: parse_strings(v, "ids")),
    "collections": ("collections", lambda v: parse_strings(v, "collections")),
    "query": ("query", parse_query),
    "limit": ("limit", lambda v: min(parse_int(v, "limit", 1), MAX_LIMIT)),
    "token": ("token", lambda v: parse_int(v, "token", 0)),
}


def parse_search(params: Mapping[str, Any]) -> Search:
    """A search from GET query parameters (strings) or a POST body (JSON values)."""
    if params.get("bbox") is not None and params.get("intersects") is not None:
        raise ApiError(400, "bbox and intersects cannot be used together")
    changes = {
        field: parse(params[name])
        for name, (field, parse) in _PARSERS.items()
        if params.get(name) is not None
    }
    if params.get("filter") is not None:
        changes["filter"] = parse_filter(
            params["filter"], params.get("filter-lang"), params.get("filter-crs")
        )
    return Search(**changes)


# --- responses ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ApiResponse:
    status: int
    payload: dict[str, Any]
    media_type: str = JSON

    def body(self) -> bytes:
        return json.dumps(self.payload, ensure_ascii=False).encode("utf-8")


def _link(rel: str, href: str, media_type: str = JSON, **extra: Any) -> dict[str, Any]:
    return {"rel": rel, "href": href, "type": media_type, **extra}


class StacApi:
    """Answers the API's paths (below /api/) for one catalog; `base` is the server's URL."""

    def __init__(self, index: StacIndex) -> None:
        self.index = index

    def handle(self, method: str, path: str, query: str, body: bytes, base: str) -> ApiResponse:
        try:
            return self._route(
                method, [unquote(p) for p in path.split("/") if p], query, body, base
            )
        except ApiError as err:
            code = {404: "NotFound", 405: "MethodNotAllowed"}.get(err.status, "BadRequest")
            return ApiResponse(err.status, {"code": code, "description": err.description})

    def _route(
        self, method: str, parts: list[str], query: str, body: bytes, base: str
    ) -> ApiResponse:
        if parts == ["search"]:
            return self._search(method, query, body, base)
        if method != "GET":
            raise ApiError(405, f"{method} is only allowed on /api/search")
        params = dict(parse_qsl(query, keep_blank_values=True))
        match parts:
            case []:
                return ApiResponse(200, self.landing(base))
            case ["conformance"]:
                return ApiResponse(200, {"conformsTo": list(CONFORMANCE)})
            case ["queryables"]:
                return ApiResponse(200, self.queryables(base), SCHEMA_JSON)
            case ["collections", *rest]:
                return self._collections(rest, params, base)
        raise ApiError(404, f"no such API path: /api/{'/'.join(parts)}")

    def _collections(self, parts: list[str], params: dict[str, str], base: str) -> ApiResponse:
        if not parts:
            found = [self.collection(c, base) for c in self.index.collections]
            links = [_link("self", f"{base}api/collections"), _link("root", f"{base}api/")]
            return ApiResponse(200, {"collections": found, "links": links})
        cid = self._collection_id(parts[0])
        match parts[1:]:
            case []:
                return ApiResponse(200, self.collection(cid, base))
            case ["queryables"]:
                return ApiResponse(200, self.queryables(base), SCHEMA_JSON)
            case ["items"]:
                return self._items(cid, params, base)
            case ["items", item_id]:
                item = self.index.item(cid, item_id)
                if item is None:
                    raise ApiError(404, f"no item {item_id!r} in collection {cid!r}")
                return ApiResponse(200, self.item(item, base), GEOJSON)
        raise ApiError(404, f"no such API path: /api/collections/{'/'.join(parts)}")

    def _collection_id(self, cid: str) -> str:
        if cid not in self.index.collections:
            raise ApiError(404, f"no collection {cid!r}")
        return cid

    def _search(self, method: str, query: str, body: bytes, base: str) -> ApiResponse:
        url = f"{base}api/search"
        if method == "GET":
            pairs = parse_qsl(query, keep_blank_values=True)
            return self._page(parse_search(dict(pairs)), _get_next(url, pairs), base)
        if method == "POST":
            try:
                params = json.loads(body or b"{}")
            except ValueError as err:
                raise ApiError(400, f"search body: not JSON ({err})") from err
            if not isinstance(params, dict):
                raise ApiError(400, "search body: expected a JSON object")
            return self._page(parse_search(params), _post_next(url, params), base)
        raise ApiError(405, f"{method} is not allowed on /api/search")

    def _items(self, cid: str, params: dict[str, str], base: str) -> ApiResponse:
        for name in ("collections", "ids", "intersects"):
            params.pop(name, None)
        search = replace(parse_search(params), collections=frozenset([cid]))
        url = f"{base}api/collections/{quote(cid)}/items"
        return self._page(search, _get_next(url, list(params.items())), base)

    def _page(
        self, search: Search, next_link: Callable[[int], dict[str, Any]], base: str
    ) -> ApiResponse:
        page, matched = run_search(self.index, search)
        links = [_link("root", f"{base}api/")]
        following = search.token + len(page)
        if following < matched:
            links.append(next_link(following))
        payload = {
            "type": "FeatureCollection",
            "features": [self.item(i, base) for i in page],
            "links": links,
            "numberMatched": matched,
            "numberReturned": len(page),
        }
        return ApiResponse(200, payload, GEOJSON)

    def landing(self, base: str) -> dict[str, Any]:
        cat = self.index.catalog
        api = f"{base}api/"
        links = [
            _link("self", api),
            _link("root", api),
            _link("conformance", f"{api}conformance"),
            _link("data", f"{api}collections"),
            _link("search", f"{api}search", GEOJSON, method="GET"),
            _link("search", f"{api}search", GEOJSON, method="POST"),
            _link(QUERYABLES_REL, f"{api}queryables", SCHEMA_JSON),
            _link("alternate", f"{base}catalog.json", title="The static catalog"),
            *(_link("child", f"{api}collections/{quote(c)}") for c in self.index.collections),
        ]
        return {
            "type": "Catalog",
            "stac_version": cat.get("stac_version", "1.1.0"),
            "id": cat.get("id", "stacgen"),
            "title": cat.get("title", cat.get("id", "stacgen")),
            "description": cat.get("description", ""),
            "conformsTo": list(CONFORMANCE),
            "links": links,
        }

    def collection(self, cid: str, base: str) -> dict[str, Any]:
        doc = copy.deepcopy(self.index.collections[cid])
        url = f"{base}api/collections/{quote(cid)}"
        static = next((lk["href"] for lk in doc["links"] if lk.get("rel") == "self"), None)
        doc["links"] = [
            *_other_links(doc),
            _link("self", url),
            _link("root", f"{base}api/"),
            _link("parent", f"{base}api/"),
            _link("items", f"{url}/items", GEOJSON),
            _link(QUERYABLES_REL, f"{url}/queryables", SCHEMA_JSON),
        ]
        if static is None:
            static = f"{INTERNAL}{cid}/collection.json"
        doc["links"].append(_link("alternate", static, title="The static collection"))
        return rebase(doc, INTERNAL, base)  # type: ignore[no-any-return]

    def item(self, item: IndexedItem, base: str) -> dict[str, Any]:
        data = dict(item.data)
        coll = f"{base}api/collections/{quote(item.collection)}"
        data["links"] = [
            *_other_links(data),
            _link("self", f"{coll}/items/{quote(data['id'])}", GEOJSON),
            _link("parent", coll),
            _link("collection", coll),
            _link("root", f"{base}api/"),
            _link("alternate", item.href, GEOJSON, title="The static item"),
        ]
        return rebase(data, INTERNAL, base)  # type: ignore[no-any-return]

    def queryables(self, base: str) -> dict[str, Any]:
        props: dict[str, Any] = {
            "id": {"type": "string", "title": "Item ID"},
            "collection": {"type": "string", "title": "Collection ID"},
            "geometry": {"$ref": "https://geojson.org/schema/Geometry.json"},
            "datetime": {"type": "string", "format": "date-time"},
        }
        for name, kind in sorted(_scalar_properties(self.index.items).items()):
            props.setdefault(name, {"type": kind})
        return {
            "$schema": "https://json-schema.org/draft/2019-09/schema",
            "$id": f"{base}api/queryables",
            "type": "object",
            "title": "Queryables",
            "properties": props,
            "additionalProperties": True,
        }


def _other_links(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [lk for lk in doc.get("links", []) if lk.get("rel") not in HIERARCHY_RELS]


def _scalar_properties(items: tuple[IndexedItem, ...]) -> dict[str, str]:
    """The JSON type of every item property that only ever holds one scalar type."""
    kinds: dict[str, set[str]] = {}
    for item in items:
        for name, value in item.data.get("properties", {}).items():
            kinds.setdefault(name, set()).add(_json_type(value))
    return {name: next(iter(k)) for name, k in kinds.items() if len(k) == 1 and "" not in k}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string" if isinstance(value, str) else ""


def _get_next(url: str, pairs: list[tuple[str, str]]) -> Callable[[int], dict[str, Any]]:
    def link(token: int) -> dict[str, Any]:
        kept = [(k, v) for k, v in pairs if k != "token"]
        return _link("next", f"{url}?{urlencode([*kept, ('token', str(token))])}", GEOJSON)

    return link


def _post_next(url: str, body: dict[str, Any]) -> Callable[[int], dict[str, Any]]:
    def link(token: int) -> dict[str, Any]:
        return _link(
            "next", url, GEOJSON, method="POST", body={**body, "token": str(token)}, merge=False
        )

    return link
