"""What an item property can be queried as: one rule for both API backends.

The embedded backend answers /queryables from these definitions, and `stacgen pgstac load`
registers the same definitions as pgstac queryables, so both backends accept the same filters
and describe them alike. A property is queryable when every item that has it (nulls aside)
holds the same JSON type there; objects are not (CQL2 cannot compare them). The properties that
take one of a few values (the split, the site, the platform) list the values the items hold
(`enum`), and the percentages and scores their range, so that a client such as STAC Browser
offers a choice instead of a free text field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

# Properties that hold a date-time (as strings): queried as instants, not text.
DATETIMES: Final = frozenset({"datetime", "start_datetime", "end_datetime", "created", "updated"})
DATETIME: Final[dict[str, Any]] = {"type": "string", "format": "date-time"}
# The item's own fields, described the same way by both backends. The footprint is described
# as OGC API - Features Part 3 describes a spatial queryable (no schema elsewhere to fetch).
ITEM_FIELDS: Final[dict[str, dict[str, Any]]] = {
    "id": {"type": "string", "title": "Item ID"},
    "collection": {"type": "string", "title": "Collection ID"},
    "geometry": {"title": "Footprint", "format": "geometry-any"},
}
# STAC's common metadata fields (stac-spec, commons/common-metadata.md) that any item may have:
# queryable even where no item holds them (a filter on one then matches nothing), so that a
# client asking for `mission` or `gsd`, as stac-api-validator does, is answered, not refused.
COMMON_FIELDS: Final[dict[str, dict[str, Any]]] = {
    "title": {"type": "string"},
    "description": {"type": "string"},
    "license": {"type": "string"},
    "platform": {"type": "string"},
    "constellation": {"type": "string"},
    "mission": {"type": "string"},
    "instruments": {"type": "array", "items": {"type": "string"}},
    "gsd": {"type": "number"},
    "created": DATETIME,
    "updated": DATETIME,
    "start_datetime": DATETIME,
    "end_datetime": DATETIME,
}
# Properties whose values come from a short list: their `enum` is the values the items hold.
CHOICES: Final = frozenset({"ml-aoi:split", "alcd:site", "platform", "constellation"})
MAX_CHOICES: Final = 100
# Properties with a fixed range: percentages of the valid pixels, and scores in 0-1.
PERCENT: Final[dict[str, Any]] = {"minimum": 0, "maximum": 100}
SCORE: Final[dict[str, Any]] = {"minimum": 0, "maximum": 1}
RANGES: Final[dict[str, dict[str, Any]]] = {
    **dict.fromkeys(
        [
            "eo:cloud_cover",
            "eo:snow_cover",
            "alcd:shadow_cover",
            "alcd:water_cover",
            "alcd:valid_percent",
        ],
        PERCENT,
    ),
    **dict.fromkeys(
        ["alcd:accuracy", "alcd:f1_score", "alcd:precision", "alcd:recall", "alcd:specificity"],
        SCORE,
    ),
}


def json_type(value: Any) -> str:
    """The JSON Schema type of a (non-null) JSON value; integers are numbers."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


class PropertyTypes:
    """The JSON types seen under each property name, and of the elements of array ones."""

    def __init__(self, properties: Iterable[Mapping[str, Any]] = ()) -> None:
        self._kinds: dict[str, set[str]] = {}
        self._elements: dict[str, set[str]] = {}
        self._values: dict[str, set[str]] = {name: set() for name in CHOICES}
        for props in properties:
            self.add(props)

    def add(self, properties: Mapping[str, Any]) -> None:
        for name, value in properties.items():
            if value is None:
                continue
            self._kinds.setdefault(name, set()).add(json_type(value))
            if isinstance(value, list):
                self._elements.setdefault(name, set()).update(json_type(v) for v in value)
            elif name in CHOICES and isinstance(value, str):
                self._values[name].add(value)

    def types(self) -> dict[str, str]:
        """Each property's type: number, string, boolean, array or datetime (the items')."""
        types = {
            name: next(iter(kinds))
            for name, kinds in self._kinds.items()
            if len(kinds) == 1 and "object" not in kinds
        }
        types.update({name: "datetime" for name in DATETIMES if name in types})
        return types

    def definitions(self) -> dict[str, dict[str, Any]]:
        """Each queryable property's JSON Schema, sorted by name."""
        return {name: self._definition(name, kind) for name, kind in sorted(self.types().items())}

    def _definition(self, name: str, kind: str) -> dict[str, Any]:
        values = self._values.get(name)
        if kind == "string" and values and len(values) <= MAX_CHOICES:
            return {"type": kind, "enum": sorted(values)}
        if kind == "number" and name in RANGES:
            return {"type": kind, **RANGES[name]}
        if kind == "datetime":
            return dict(DATETIME)
        if kind == "array":
            elements = self._elements.get(name, set())
            return {
                "type": "array",
                "items": {"type": next(iter(elements))} if len(elements) == 1 else {},
            }
        return {"type": kind}


def queryables_schema(definitions: Mapping[str, dict[str, Any]], url: str) -> dict[str, Any]:
    """The /queryables JSON Schema of these property definitions (PropertyTypes.definitions).

    `additionalProperties` is false: a filter naming another property is refused (400), not
    answered with nothing.
    """
    return {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": url,
        "type": "object",
        "title": "Queryables",
        "properties": {"datetime": DATETIME, **COMMON_FIELDS, **definitions, **ITEM_FIELDS},
        "additionalProperties": False,
    }


def schema_types(schema: Mapping[str, Any]) -> dict[str, str]:
    """Each queryable's type in a /queryables schema, as the API's filter checks take them:
    "number", "string", "boolean", "array", "datetime", "geometry", or "any" (a property defined
    by a schema elsewhere: not type-checked). The item's own fields are always there."""
    types = {"id": "string", "collection": "string", "geometry": "geometry", "datetime": "datetime"}
    for name, spec in (schema.get("properties") or {}).items():
        if name not in types:
            types[name] = _schema_type(spec if isinstance(spec, dict) else {})
    return types


def _schema_type(spec: Mapping[str, Any]) -> str:
    kind, ref = spec.get("type"), str(spec.get("$ref", "")).lower()
    if "geometry" in ref or "geojson" in ref or str(spec.get("format", "")).startswith("geometry"):
        return "geometry"
    if ref:
        return "any"
    if spec.get("format") == "date-time":
        return "datetime"
    if kind in ("number", "integer"):
        return "number"
    return kind if isinstance(kind, str) else "string"
