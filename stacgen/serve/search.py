"""One search, whether it came as GET parameters, a POST body or `/collections/{id}/items`,
checked once in the same terms for both backends.

stac-fastapi's request models have validated each parameter's syntax (datetime, limit, the
POST body's geometry); this module turns GET's strings and POST's models into one plain
`SearchParams`, then `check_search` adds every check the models leave out or GET skips (a bbox
or geometry in longitude/latitude range, `intersects` as GeoJSON, known and sortable sort
properties, the filter and the `query` against the queryables) and gives a `Search`: the area as
one GeoJSON geometry, the filter and the query as one CQL2 JSON filter. Each backend evaluates
that, so both answer the same items, and refuse the same searches with the same 400.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, Field, create_model, field_validator
from stac_fastapi.types.errors import InvalidQueryParameter
from stac_fastapi.types.rfc3339 import str_to_interval

from stacgen.errors import StacgenError
from stacgen.serve.filters import (
    MAX_DEPTH,
    FilterError,
    a,
    check_bbox_literal,
    check_filter,
    check_geometry,
    property_name,
)
from stacgen.serve.guard import json_nesting
from stacgen.serve.query import query_filter

DEFAULT_LIMIT: Final = 10
MAX_TOKEN: Final = 1000  # characters: pgstac's tokens hold a collection and an item id in hex
SORTABLE: Final = frozenset({"number", "string", "datetime", "boolean"})
Geometry = dict[str, Any]


class BadSearch(StacgenError, InvalidQueryParameter):
    """A search the API answers with 400; stac-fastapi maps InvalidQueryParameter to 400."""


@dataclass(frozen=True)
class SortKey:
    name: str  # the queryable: "id", "collection", "datetime" or a property
    descending: bool


@dataclass
class SearchParams:
    """A search in the POST body's terms (what a `next` link for POST carries back)."""

    body: dict[str, Any] = field(default_factory=dict)

    @property
    def limit(self) -> int:
        return int(self.body.get("limit") or DEFAULT_LIMIT)

    @property
    def offset(self) -> int:
        """The embedded backend's token: `next:N`, the N items before this page."""
        token = self.body.get("token")
        if token in (None, ""):
            return 0
        text = str(token).removeprefix("next:")
        if not (text.isascii() and text.isdigit() and len(text) <= 12):
            raise BadSearch(f"token: {str(token)[:40]!r} is not a token this API gave")
        return int(text)

    def interval(self) -> tuple[datetime | None, datetime | None] | None:
        value = self.body.get("datetime")
        if not value:
            return None
        parsed = str_to_interval(value)
        if parsed is None:
            return None
        return parsed if isinstance(parsed, tuple) else (parsed, parsed)

    def sort_keys(self) -> list[SortKey]:
        keys = []
        for entry in self.body.get("sortby") or []:
            name = property_name(str(entry["field"]))
            keys.append(SortKey(name, str(entry.get("direction", "asc")) == "desc"))
        return keys


@dataclass(frozen=True)
class Search:
    """A search checked against the queryables, in the terms both backends evaluate."""

    params: SearchParams
    ids: frozenset[str] | None
    collections: frozenset[str] | None
    area: Geometry | None  # bbox or intersects, as one GeoJSON geometry
    interval: tuple[datetime | None, datetime | None] | None
    filter: dict[str, Any] | bool | None  # CQL2 JSON: the filter and the query, both
    sort: tuple[SortKey, ...]
    fields: dict[str, Any] | None
    limit: int
    token: str | None


# --- the checks ---------------------------------------------------------------------------------
def check_bbox(value: Any) -> list[float] | None:
    """A bbox as 4 numbers (a 6-number one's heights dropped), or BadSearch naming the problem."""
    if value is None:
        return None
    try:
        numbers = [float(v) for v in value]
    except (TypeError, ValueError) as err:
        raise BadSearch(f"bbox: {value!r} is not 4 or 6 numbers") from err
    try:
        return check_bbox_literal(numbers, "bbox")
    except FilterError as err:
        raise BadSearch(str(err)) from err


def bbox_geometry(bbox: list[float]) -> Geometry:
    """The area a bbox covers as GeoJSON: a polygon, two across the antimeridian, a line or a
    point when it has no width or height (both backends intersect the same shape)."""
    west, south, east, north = bbox
    if west > east:
        parts = [[west, south, 180.0, north], [-180.0, south, east, north]]
        return {"type": "MultiPolygon", "coordinates": [_ring(p) for p in parts]}
    if west == east and south == north:
        return {"type": "Point", "coordinates": [west, south]}
    if west == east or south == north:
        return {"type": "LineString", "coordinates": [[west, south], [east, north]]}
    return {"type": "Polygon", "coordinates": _ring(bbox)}


def _ring(bbox: list[float]) -> list[list[list[float]]]:
    west, south, east, north = bbox
    return [[[west, south], [east, south], [east, north], [west, north], [west, south]]]


def check_area(body: Mapping[str, Any]) -> Geometry | None:
    if body.get("intersects") is not None and body.get("bbox") is not None:
        raise BadSearch("bbox and intersects cannot be used together")
    if body.get("intersects") is not None:
        try:
            check_geometry(body["intersects"], "intersects")
        except FilterError as err:
            raise BadSearch(str(err)) from err
        geometry: Geometry = body["intersects"]
        return geometry
    bbox = check_bbox(body.get("bbox"))
    return None if bbox is None else bbox_geometry(bbox)


def check_sort(keys: list[SortKey], queryables: Mapping[str, str]) -> None:
    for key in keys:
        kind = queryables.get(key.name)
        if kind is None:
            raise BadSearch(f"sortby: unknown property {key.name!r} (see /api/queryables)")
        if kind not in SORTABLE and kind != "any":
            raise BadSearch(
                f"sortby: {key.name!r} is {a(kind)}: only numbers, strings, date-times and "
                "booleans sort"
            )


def _filters(body: Mapping[str, Any], queryables: Mapping[str, str]) -> Any:
    """The search's filter and query as one CQL2 JSON filter (None: neither)."""
    parts: list[Any] = []
    try:
        if body.get("filter") is not None:
            expr = check_filter(
                body["filter"], body.get("filter-lang"), body.get("filter-crs"), queryables
            )
            parts.append(expr.to_json())
    except FilterError as err:
        raise BadSearch(str(err)) from err
    if body.get("query") is not None:
        try:
            as_cql2 = query_filter(body["query"], queryables)
            parts.append(check_filter(as_cql2, "cql2-json", None, queryables).to_json())
        except FilterError as err:
            reason = str(err).removeprefix("query: ").removeprefix("filter: ")
            raise BadSearch(f"query: {reason}") from err
    if False in parts:
        return False
    conditions = [part for part in parts if part is not True]
    if not conditions:
        return None
    return conditions[0] if len(conditions) == 1 else {"op": "and", "args": conditions}


def _areas(tree: Any) -> Any:
    """A checked CQL2 JSON filter with each BBOX literal as the GeoJSON geometry it covers
    (bbox_geometry: across the antimeridian too), which both backends read alike."""
    if isinstance(tree, list):
        return [_areas(node) for node in tree]
    if not isinstance(tree, dict):
        return tree
    if "bbox" in tree and "op" not in tree:
        return bbox_geometry(check_bbox_literal(tree["bbox"], "filter: BBOX"))
    if "op" in tree:
        return {**tree, "args": _areas(tree.get("args", []))}
    return tree


def check_search(params: SearchParams, queryables: Mapping[str, str]) -> Search:
    """The search checked, or BadSearch naming its first problem."""
    body = params.body
    keys = params.sort_keys()
    check_sort(keys, queryables)
    token = body.get("token")
    if token is not None and len(str(token)) > MAX_TOKEN:
        raise BadSearch(f"token: {len(str(token))} characters, not a token this API gave")
    return Search(
        params=params,
        ids=frozenset(body["ids"]) if body.get("ids") else None,
        collections=frozenset(body["collections"]) if body.get("collections") else None,
        area=check_area(body),
        interval=params.interval(),
        filter=_areas(_filters(body, queryables)),
        sort=tuple(keys),
        fields=body.get("fields"),
        limit=params.limit,
        token=None if token in (None, "") else str(token),
    )


# --- GET, POST and /collections/{id}/items as one body ------------------------------------------
def _sortby_of_strings(values: list[str] | None) -> list[dict[str, str]] | None:
    if not values:
        return None
    keys = []
    for value in values:
        text = value.strip()
        direction = "desc" if text.startswith("-") else "asc"
        keys.append({"field": text.lstrip("+-").strip(), "direction": direction})
    return keys


def fields_of_strings(values: list[str] | None) -> dict[str, list[str] | None] | None:
    if not values:
        return None
    include = [v.lstrip("+").strip() for v in values if not v.startswith("-")]
    exclude = [v[1:].strip() for v in values if v.startswith("-")]
    return {"include": include or None, "exclude": exclude}


def json_param(value: Any, name: str) -> Any:
    """A GET parameter holding JSON (`intersects`, `query`), parsed with its nesting bounded
    first (the JSON parser recurses once per level)."""
    if not isinstance(value, str):
        return value
    if json_nesting(value.encode()) > MAX_DEPTH:
        raise BadSearch(f"{name}: nested more than {MAX_DEPTH} levels deep")
    try:
        return json.loads(value)
    except ValueError as err:
        raise BadSearch(f"{name}: not JSON ({err})") from err


def from_get(kwargs: Mapping[str, Any]) -> SearchParams:
    """A GET search (stac-fastapi's keyword arguments) in the POST body's terms."""
    body: dict[str, Any] = {
        "collections": kwargs.get("collections"),
        "ids": kwargs.get("ids"),
        "bbox": kwargs.get("bbox"),
        "intersects": json_param(kwargs.get("intersects"), "intersects"),
        "datetime": kwargs.get("datetime"),
        "limit": kwargs.get("limit"),
        "query": json_param(kwargs.get("query"), "query"),
        "sortby": _sortby_of_strings(kwargs.get("sortby")),
        "fields": fields_of_strings(kwargs.get("fields")),
        "token": kwargs.get("token"),
    }
    if body["bbox"] is not None:
        body["bbox"] = list(body["bbox"])
    if kwargs.get("filter_expr") is not None:
        body["filter"] = kwargs["filter_expr"]
        body["filter-lang"] = kwargs.get("filter_lang") or "cql2-text"
        body["filter-crs"] = kwargs.get("filter_crs")
    return SearchParams({k: v for k, v in body.items() if v is not None})


def from_items(collection_id: str, kwargs: Mapping[str, Any]) -> SearchParams:
    """`/collections/{id}/items` (its GET parameters) as the search of that collection."""
    params = from_get({k: v for k, v in kwargs.items() if k not in ("collections", "ids")})
    params.body["collections"] = [collection_id]
    return params


def from_post(model: Any) -> SearchParams:
    """A POST search (stac-fastapi's validated model) as a plain body."""
    body: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    body.pop("fields", None)
    fields = post_fields(model)
    if fields is not None:
        body["fields"] = fields
    if isinstance(body.get("filter"), str) and "filter_lang" not in model.model_fields_set:
        body["filter-lang"] = "cql2-text"  # a string filter without a language is cql2-text
    return SearchParams(body)


def post_fields(model: Any) -> dict[str, Any] | None:
    """The fields object as sent: None when absent; `include` None when not given (the whole
    item less `exclude`), a list when given (empty: the spec's default fields)."""
    name = next((n for n in ("fields", "field") if n in model.model_fields_set), None)
    if name is None:
        return None
    value = getattr(model, name)
    if value is None:
        raise BadSearch("fields: null is not a fields object (include, exclude)")
    include = sorted(value.include or []) if "include" in value.model_fields_set else None
    return {"include": include, "exclude": sorted(value.exclude or [])}


def _listed(value: Any) -> Any:
    return [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value


def lenient_post_model(base: type[BaseModel]) -> type[BaseModel]:
    """The POST search model `base`, also taking `collections` and `ids` as one comma-separated
    string, as GET does (stac-api-validator sends `"collections": "id"`)."""
    validator = field_validator("collections", "ids", mode="before")(_listed)
    fields: dict[str, Any] = {}
    if "filter_expr" in base.model_fields:  # the filter extension: cql2-text in a body too
        fields["filter_expr"] = (dict[str, Any] | str | None, Field(None, alias="filter"))
        fields["filter_lang"] = (
            Literal["cql2-json", "cql2-text"] | None,
            Field("cql2-json", alias="filter-lang"),
        )
    model: type[BaseModel] = create_model(
        f"Lenient{base.__name__}",
        __base__=base,
        __validators__={"listed": validator},
        **fields,
    )
    return model
