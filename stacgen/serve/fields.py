"""The fields extension, applied alike by both backends: which parts of an item a page carries.

pgstac's own selection differs (an empty `include`, nested paths), so the pgstac backend asks
the database for whole items and selects here too; both answer the same fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

# What an item has when `include` is empty, and what it always keeps (pystac-client needs them
# to read an item).
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


def select_fields(item: dict[str, Any], fields: Mapping[str, Any] | None) -> dict[str, Any]:
    """The `include`d (dotted) paths, or the spec's default ones, less the `exclude`d paths;
    an included path wins over an excluded one that contains it."""
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
