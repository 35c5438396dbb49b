"""CQL2 filters checked before they are evaluated: bounded, parsed by `cql2`, and matched against
the queryables, so that a wrong filter is a 400 naming the problem, not an empty result.

Both backends take their filters through `check_filter`, so they refuse the same filters with
the same messages, and evaluate only filters whose every literal is well formed (a timestamp
that is a date-time, a geometry that is valid and in longitude/latitude range): where one
backend would answer 0 items and the other fail, both answer 400. The size and nesting are
bounded before `cql2` sees the text: its parser recurses once per level and a few thousand
parentheses overflow the stack (SIGSEGV).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

import cql2
import shapely
import shapely.geometry
import shapely.validation
from stac_fastapi.types.rfc3339 import rfc3339_str_to_datetime

from stacgen.errors import StacgenError
from stacgen.stac.queryables import json_type

MAX_FILTER_CHARS: Final = 20_000
MAX_DEPTH: Final = 40
CRS84: Final = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
COMPARISONS: Final = frozenset({"=", "<>", "<", "<=", ">", ">=", "like", "between", "in"})
# Operators and how many arguments each takes (None: any number >= 1).
ARITY: Final[dict[str, tuple[int, int | None]]] = {
    "and": (1, None),  # STAC Browser sends an "and" of one condition
    "or": (1, None),
    "not": (1, 1),
    "=": (2, 2),
    "<>": (2, 2),
    "<": (2, 2),
    "<=": (2, 2),
    ">": (2, 2),
    ">=": (2, 2),
    "like": (2, 2),
    "between": (3, 3),
    "in": (2, 2),
    "isNull": (1, 1),
    "casei": (1, 1),
    "accenti": (1, 1),
    **dict.fromkeys(
        [
            "s_intersects",
            "s_equals",
            "s_disjoint",
            "s_touches",
            "s_within",
            "s_overlaps",
            "s_crosses",
            "s_contains",
            "t_after",
            "t_before",
            "t_contains",
            "t_disjoint",
            "t_during",
            "t_equals",
            "t_finishedBy",
            "t_finishes",
            "t_intersects",
            "t_meets",
            "t_metBy",
            "t_overlappedBy",
            "t_overlaps",
            "t_startedBy",
            "t_starts",
            "a_equals",
            "a_contains",
            "a_containedBy",
            "a_overlaps",
        ],
        (2, 2),
    ),
    **dict.fromkeys(("+", "-", "*", "/", "%", "^", "div"), (2, 2)),
}
# The operators of each CQL2 conformance class beyond basic-cql2, with the type their property
# must have (None: any comparable one).
SPATIAL: Final = frozenset(n for n in ARITY if n.startswith("s_"))
TEMPORAL: Final = frozenset(n for n in ARITY if n.startswith("t_"))
ARRAYS: Final = frozenset(n for n in ARITY if n.startswith("a_"))
GEOMETRY_TYPES: Final = frozenset(
    {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"}
)
_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_OPENERS: Final = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"\\]|\\.)*\"|[(\[{]|[)\]}]")
_PEST_WHERE: Final = re.compile(r"-->\s*(\d+):(\d+)")
_PEST_WHAT: Final = re.compile(r"=\s*(.+)")


class FilterError(StacgenError, ValueError):
    """A filter the API refuses (400); the message names the problem."""


def a(noun: str) -> str:
    """`noun` with its indefinite article, for messages."""
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"


# --- literals ---------------------------------------------------------------------------------
def _timestamp(text: Any, where: str) -> dt.datetime:
    try:
        if isinstance(text, str):
            return rfc3339_str_to_datetime(text)
    except ValueError as err:
        raise FilterError(f"{where} {text!r} is not an RFC 3339 date-time ({err})") from err
    raise FilterError(f"{where} {json.dumps(text)[:60]} is not an RFC 3339 date-time")


def _date(text: Any, where: str) -> dt.date:
    try:
        if isinstance(text, str) and _DATE.fullmatch(text):
            return dt.date.fromisoformat(text)
    except ValueError as err:
        raise FilterError(f"{where} {text!r} is not a date ({err})") from err
    raise FilterError(f"{where} {json.dumps(text)[:60]} is not a date (YYYY-MM-DD)")


def _instant(text: Any, where: str) -> dt.datetime | None:
    """An INTERVAL's bound: a date (its first instant), a date-time, or ".." (open)."""
    if text == "..":
        return None
    if isinstance(text, str) and _DATE.fullmatch(text):
        day = _date(text, where)
        return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    return _timestamp(text, where)


def _positions(coordinates: Any) -> Iterator[Any]:
    stack = [coordinates]
    while stack:
        node = stack.pop()
        if isinstance(node, list) and node and not isinstance(node[0], list):
            yield node
        elif isinstance(node, list):
            stack.extend(node)


def check_position(position: Any, where: str) -> None:
    """A GeoJSON position in CRS84: finite longitude -180..180 and latitude -90..90."""
    if not isinstance(position, list) or not 2 <= len(position) <= 3:
        raise FilterError(f"{where}: {json.dumps(position)[:60]} is not a position [lon, lat]")
    numbers = [v for v in position if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(numbers) != len(position) or not all(math.isfinite(v) for v in numbers):
        raise FilterError(f"{where}: {json.dumps(position)[:60]} holds a value that is no number")
    lon, lat = position[0], position[1]
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise FilterError(
            f"{where}: position {json.dumps(position)[:60]} is outside longitude -180..180, "
            "latitude -90..90"
        )


def check_geometry(value: Any, where: str) -> shapely.Geometry:
    """A GeoJSON geometry that is valid, in CRS84, as a shapely geometry."""
    _check_positions(value, where)
    kind = value["type"]
    try:
        shape = shapely.geometry.shape(value)
    except (ValueError, TypeError, AttributeError, KeyError, IndexError) as err:
        raise FilterError(f"{where}: not a valid {kind} ({err})") from err
    if shape.is_empty:
        raise FilterError(f"{where}: an empty {kind}")
    if not shape.is_valid:
        reason = shapely.validation.explain_validity(shape)
        raise FilterError(f"{where}: not a valid {kind} ({reason})")
    return shape


def _check_positions(value: Any, where: str) -> None:
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "GeometryCollection":
        parts = value.get("geometries")
        if not isinstance(parts, list) or not parts:
            raise FilterError(f"{where}: a GeometryCollection without geometries")
        for part in parts:
            _check_positions(part, where)
        return
    if kind not in GEOMETRY_TYPES:
        known = sorted({*GEOMETRY_TYPES, "GeometryCollection"})
        raise FilterError(f"{where}: not a GeoJSON geometry (type {kind!r}; one of {known})")
    for position in _positions(value.get("coordinates")):
        check_position(position, where)


def check_bbox_literal(value: Any, where: str) -> list[float]:
    """A bbox of 4 or 6 finite numbers in CRS84, south <= north (west > east crosses the
    antimeridian); a 6-number one's heights are dropped."""
    if not isinstance(value, list) or len(value) not in (4, 6):
        raise FilterError(f"{where}: {json.dumps(value)[:80]} is not 4 or 6 numbers")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        raise FilterError(f"{where}: {json.dumps(value)[:80]} holds a value that is no number")
    numbers = [float(v) for v in value]
    if not all(math.isfinite(v) for v in numbers):
        raise FilterError(f"{where}: {value} holds a number that is not finite")
    half = len(numbers) // 2
    west, south, east, north = numbers[0], numbers[1], numbers[half], numbers[half + 1]
    if len(numbers) == 6 and numbers[2] > numbers[5]:
        raise FilterError(f"{where}: {value}: its lowest height is above its highest")
    for lon in (west, east):
        if not -180 <= lon <= 180:
            raise FilterError(f"{where}: {value}: longitude {lon:g} is outside -180..180")
    for lat in (south, north):
        if not -90 <= lat <= 90:
            raise FilterError(f"{where}: {value}: latitude {lat:g} is outside -90..90")
    if south > north:
        raise FilterError(f"{where}: {value}: its south is north of its north")
    return [west, south, east, north]


def _check_literal(node: dict[str, Any]) -> None:
    """A CQL2 literal object: a timestamp, a date, an interval, a bbox or a geometry."""
    if "timestamp" in node:
        _timestamp(node["timestamp"], "filter: TIMESTAMP")
    elif "date" in node:
        _date(node["date"], "filter: DATE")
    elif "interval" in node:
        bounds = node["interval"]
        if not isinstance(bounds, list) or len(bounds) != 2:
            raise FilterError(f"filter: INTERVAL {json.dumps(bounds)[:60]} is not two instants")
        start, end = (_instant(b, "filter: INTERVAL") for b in bounds)
        if start is not None and end is not None and start > end:
            raise FilterError(f"filter: INTERVAL {bounds}: it ends before it starts")
    elif "bbox" in node:
        check_bbox_literal(node["bbox"], "filter: BBOX")
    elif "type" in node:
        check_geometry(node, "filter: geometry")


# --- parsing and checking ------------------------------------------------------------------
def nesting(text: str) -> int:
    """The deepest nesting of brackets in `text`, quoted strings skipped."""
    depth = deepest = 0
    for match in _OPENERS.finditer(text):
        token = match[0]
        if token in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif token in ")]}":
            depth -= 1
    return deepest


def json_depth(value: Any) -> int:
    """How deeply a parsed JSON value nests (iteratively: no recursion on hostile input)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _bounded(raw: Any) -> None:
    text = raw if isinstance(raw, str) else json.dumps(raw)
    if len(text) > MAX_FILTER_CHARS:
        raise FilterError(f"filter: {len(text)} characters, more than {MAX_FILTER_CHARS}")
    if (nesting(text) if isinstance(raw, str) else json_depth(raw)) > MAX_DEPTH:
        raise FilterError(f"filter: nested more than {MAX_DEPTH} levels deep")


def _syntax(err: Exception, lang: str) -> FilterError:
    """cql2's parser error (a pest report over several lines) as one line."""
    text = str(err)
    where, what = _PEST_WHERE.search(text), _PEST_WHAT.search(text)
    if where:
        detail = f"at line {where[1]}, column {where[2]}"
        return FilterError(f"filter: {lang} syntax error {detail}: {what[1] if what else text}")
    return FilterError(f"filter: not valid {lang}: {text.splitlines()[0] if text else err}")


def parse(raw: Any, lang: str | None) -> cql2.Expr:
    """The filter as `cql2` parses it; text unless `lang` says cql2-json or it is an object."""
    _bounded(raw)
    if isinstance(raw, str) and lang != "cql2-json":
        try:
            return cql2.parse_text(raw)
        except Exception as err:  # cql2 raises ParseError or a bare Exception
            raise _syntax(err, "cql2-text") from err
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError as err:
        raise FilterError(f"filter: not JSON ({err})") from err
    if not isinstance(value, dict):
        raise FilterError(f"filter: expected a cql2-json object, got {json.dumps(value)[:80]}")
    _bounded(value)
    try:
        return cql2.Expr(value)
    except Exception as err:
        raise _syntax(err, "cql2-json") from err


def check_filter(
    raw: Any, lang: str | None, crs: str | None, queryables: Mapping[str, str]
) -> cql2.Expr:
    """The parsed filter, or FilterError naming what is wrong with it.

    `queryables` maps each property name to its JSON type ("number", "string", "boolean",
    "array", "datetime", "geometry"); a property not in it is refused.
    """
    if crs not in (None, CRS84):
        raise FilterError(f"filter-crs: only {CRS84} is supported, not {crs!r}")
    if lang not in (None, "cql2-text", "cql2-json"):
        raise FilterError(f"filter-lang: {lang!r} is neither cql2-text nor cql2-json")
    expr = parse(raw, lang)
    tree: Any = expr.to_json()
    if isinstance(tree, bool):
        return expr
    if not isinstance(tree, dict) or "op" not in tree:
        raise FilterError(f"filter: {expr.to_text()!r} is not a condition (true or false)")
    if _old_between(tree):
        tree = _between(tree)
        expr = cql2.Expr(tree)
    for node in _nodes(tree):
        _check_node(node, queryables)
    return expr


def _old_between(tree: Any) -> bool:
    return any(
        node.get("op") == "between" and len(node.get("args", [])) == 2 for node in _nodes(tree)
    )


def _between(tree: Any) -> Any:
    """BETWEEN as the CQL2 drafts wrote it in JSON, `[value, [low, high]]` (stac-api-validator
    still sends it), in the standard's three arguments."""
    if isinstance(tree, list):
        return [_between(node) for node in tree]
    if not isinstance(tree, dict) or "op" not in tree:
        return tree
    args = tree.get("args", [])
    if tree["op"] == "between" and len(args) == 2 and isinstance(args[1], list):
        args = [args[0], *args[1]]
    return {**tree, "args": [_between(arg) for arg in args]}


def referenced(expr: cql2.Expr) -> frozenset[str]:
    """The names of the properties a filter reads."""
    return frozenset(
        property_name(str(node["property"]))
        for node in _nodes(expr.to_json())
        if "property" in node
    )


def _nodes(tree: Any) -> Iterator[dict[str, Any]]:
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield node
            stack.extend(node.get("args", []) if "op" in node else [])
        elif isinstance(node, list):
            stack.extend(node)


def property_name(name: str) -> str:
    return name.removeprefix("properties.")


def _unknown(name: str, queryables: Mapping[str, str]) -> FilterError:
    """An unknown property; CQL2 text reads `ml-aoi:split` as `ml - aoi:split`, so a name that
    is a piece of a queryable with a `-` gets the reason and the quoted name."""
    message = f"filter: unknown property {name!r} (see /api/queryables)"
    pieces = [q for q in sorted(queryables) if "-" in q and name in q.split("-")]
    if pieces:
        message += f'; in CQL2 text a name with "-" or ":" needs double quotes: "{pieces[0]}"'
    return FilterError(message)


def _check_node(node: dict[str, Any], queryables: Mapping[str, str]) -> None:
    if "property" in node:
        name = property_name(str(node["property"]))
        if name not in queryables:
            raise _unknown(name, queryables)
        return
    if "op" not in node:
        _check_literal(node)
        return
    op, args = node["op"], node.get("args", [])
    if op not in ARITY:
        raise FilterError(f"filter: unknown operator {op!r}")
    low, high = ARITY[op]
    if not isinstance(args, list) or len(args) < low or (high is not None and len(args) > high):
        wanted = f"{low}" if low == high else f"at least {low}"
        got = len(args) if isinstance(args, list) else "no list of"
        raise FilterError(f"filter: {op!r} takes {wanted} arguments, got {got}")
    _check_types(op, args, queryables)


def _literal_type(value: Any) -> str | None:
    """The kind of a literal: boolean, number, string, datetime, interval, geometry, array;
    None for what no operator takes as a literal."""
    if isinstance(value, dict):
        if "timestamp" in value or "date" in value:
            return "datetime"
        if "interval" in value:
            return "interval"
        return "geometry" if "bbox" in value or "type" in value else None
    kind = json_type(value)
    return kind if kind in ("boolean", "number", "string", "array") else None


# What each kind of operator takes: its property's types, its literals' kinds.
_OPERANDS: Final[dict[str, tuple[frozenset[str], frozenset[str]]]] = {
    "spatial": (frozenset({"geometry"}), frozenset({"geometry"})),
    "temporal": (frozenset({"datetime"}), frozenset({"datetime", "interval"})),
    "array": (frozenset({"array"}), frozenset({"array"})),
    "like": (frozenset({"string"}), frozenset({"string"})),
}


def _kind_of(op: str) -> str | None:
    if op in SPATIAL:
        return "spatial"
    if op in TEMPORAL:
        return "temporal"
    if op in ARRAYS:
        return "array"
    return "like" if op == "like" else None


def _check_types(op: str, args: list[Any], queryables: Mapping[str, str]) -> None:
    props = [a for a in args if isinstance(a, dict) and "property" in a]
    literals = [a for a in args if not (isinstance(a, dict) and ("property" in a or "op" in a))]
    if op == "in" and len(args) == 2 and isinstance(args[1], list):
        literals = args[1]
    group = _kind_of(op)
    if group is not None:
        _check_operands(op, group, props, literals, queryables)
    elif op in COMPARISONS:
        _check_comparison(op, props, literals, queryables)


def _check_operands(
    op: str, group: str, props: list[Any], literals: list[Any], queryables: Mapping[str, str]
) -> None:
    takes, gives = _OPERANDS[group]
    for prop in props:
        name = property_name(str(prop["property"]))
        kind = queryables.get(name, "any")
        if kind not in takes and kind != "any":
            wanted = " or ".join(sorted(takes))
            raise FilterError(f"filter: {op} takes {a(wanted)} property; {name!r} is {a(kind)}")
    for literal in literals:
        got = _literal_type(literal)
        if got not in gives:
            shown = json.dumps(literal)[:60]
            wanted = " or ".join(sorted(gives))
            raise FilterError(f"filter: {op} takes {a(wanted)}, not {shown}")


def _check_comparison(
    op: str, props: list[Any], literals: list[Any], queryables: Mapping[str, str]
) -> None:
    for prop in props:
        name = property_name(str(prop["property"]))
        kind = queryables.get(name)
        for literal in literals:
            got = _literal_type(literal)
            if kind == "datetime" and got == "string":
                _instant(literal, f"filter: {name!r} is compared ({op}) with")
            if kind is None or got is None or _compatible(kind, got):
                continue
            shown = json.dumps(literal)[:60]
            raise FilterError(
                f"filter: {name!r} is {a(kind)}, compared ({op}) with the {got} {shown}"
            )


def _compatible(kind: str, got: str) -> bool:
    if kind == "any":
        return True
    if kind == "datetime":
        return got in ("datetime", "string")
    if kind == "array":
        return False  # arrays are compared with the array functions (A_CONTAINS ...)
    return kind == got
