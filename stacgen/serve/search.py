"""One search, whether it came as GET parameters or a POST body, as both backends take it.

stac-fastapi's request models have validated each parameter's syntax (datetime, bbox, limit,
geometry); this module turns GET's strings and POST's models into one plain `SearchParams` and
adds the checks the models leave out (finite bbox numbers, known sort and query properties).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from pydantic import BaseModel, Field, create_model, field_validator
from stac_fastapi.types.errors import InvalidQueryParameter
from stac_fastapi.types.rfc3339 import str_to_interval

from stacgen.errors import StacgenError
from stacgen.serve.filters import FilterError, property_name

QUERY_OPS: Final = (
    "eq",
    "neq",
    "lt",
    "lte",
    "gt",
    "gte",
    "startsWith",
    "endsWith",
    "contains",
    "in",
)
DEFAULT_LIMIT: Final = 10


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
        token = self.body.get("token")
        if token in (None, ""):
            return 0
        text = str(token).removeprefix("next:")
        if not text.isdigit():
            raise BadSearch(f"token: {token!r} is not a token this API gave")
        return int(text)

    def interval(self) -> tuple[Any, Any] | None:
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


def check_bbox(value: Any) -> list[float] | None:
    if value is None:
        return None
    numbers = [float(v) for v in value]
    if not all(math.isfinite(v) for v in numbers):
        raise BadSearch(f"bbox: {list(value)} holds a number that is not finite")
    half = len(numbers) // 2
    if len(numbers) in (4, 6) and numbers[1] > numbers[half + 1]:
        raise BadSearch(f"bbox: {list(value)}: its south is north of its north")
    return numbers


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


def _json_param(value: Any, name: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError as err:
        raise BadSearch(f"{name}: not JSON ({err})") from err


def from_get(kwargs: Mapping[str, Any]) -> SearchParams:
    """A GET search (stac-fastapi's keyword arguments) in the POST body's terms."""
    body: dict[str, Any] = {
        "collections": kwargs.get("collections"),
        "ids": kwargs.get("ids"),
        "bbox": check_bbox(kwargs.get("bbox")),
        "intersects": _json_param(kwargs.get("intersects"), "intersects"),
        "datetime": kwargs.get("datetime"),
        "limit": kwargs.get("limit"),
        "query": _json_param(kwargs.get("query"), "query"),
        "sortby": _sortby_of_strings(kwargs.get("sortby")),
        "fields": fields_of_strings(kwargs.get("fields")),
        "token": kwargs.get("token"),
    }
    if kwargs.get("filter_expr") is not None:
        body["filter"] = kwargs["filter_expr"]
        body["filter-lang"] = kwargs.get("filter_lang") or "cql2-text"
        body["filter-crs"] = kwargs.get("filter_crs")
    if body["intersects"] is not None and body["bbox"] is not None:
        raise BadSearch("bbox and intersects cannot be used together")
    return SearchParams({k: v for k, v in body.items() if v is not None})


def from_post(model: Any) -> SearchParams:
    """A POST search (stac-fastapi's validated model) as a plain body."""
    body: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    body.pop("fields", None)
    fields = post_fields(model)
    if fields is not None:
        body["fields"] = fields
    if "bbox" in body:
        body["bbox"] = check_bbox(body["bbox"])
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


def check_query(query: Any, queryables: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """The `query` extension's object, its properties and operators checked."""
    if not isinstance(query, dict) or not all(isinstance(v, dict) for v in query.values()):
        raise BadSearch('query: expected {"property": {"operator": value}}')
    for name, ops in query.items():
        if property_name(name) not in queryables:
            raise BadSearch(f"query: unknown property {name!r}")
        unknown = sorted(set(ops) - set(QUERY_OPS))
        if unknown:
            raise BadSearch(f"query: unknown operators {unknown} (known: {list(QUERY_OPS)})")
    return query


def check_sort(keys: list[SortKey], queryables: Mapping[str, str]) -> None:
    for key in keys:
        if key.name not in queryables:
            raise BadSearch(f"sortby: unknown property {key.name!r}")


def as_bad_search(err: FilterError) -> BadSearch:
    return BadSearch(str(err))


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
