"""What an item property can be queried as: one rule for both API backends.

The embedded backend answers /queryables from these definitions, and `stacgen pgstac load`
registers the same definitions as pgstac queryables, so both backends accept the same filters
and describe them alike. A property is queryable when every item that has it (nulls aside)
holds the same JSON type there; objects are not (CQL2 cannot compare them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

# Properties that hold a date-time (as strings): queried as instants, not text.
DATETIMES: Final = frozenset({"datetime", "start_datetime", "end_datetime", "created", "updated"})
DATETIME: Final[dict[str, Any]] = {"type": "string", "format": "date-time"}
# The item's own fields, described the same way by both backends.
ITEM_FIELDS: Final[dict[str, dict[str, Any]]] = {
    "id": {"type": "string", "title": "Item ID"},
    "collection": {"type": "string", "title": "Collection ID"},
    "geometry": {"$ref": "https://geojson.org/schema/Geometry.json"},
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
        for props in properties:
            self.add(props)

    def add(self, properties: Mapping[str, Any]) -> None:
        for name, value in properties.items():
            if value is None:
                continue
            self._kinds.setdefault(name, set()).add(json_type(value))
            if isinstance(value, list):
                self._elements.setdefault(name, set()).update(json_type(v) for v in value)

    def types(self) -> dict[str, str]:
        """Each queryable property's type: number, string, boolean, array or datetime."""
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
        if kind == "datetime":
            return dict(DATETIME)
        if kind == "array":
            elements = self._elements.get(name, set())
            return {
                "type": "array",
                "items": {"type": next(iter(elements))} if len(elements) == 1 else {},
            }
        return {"type": kind}
