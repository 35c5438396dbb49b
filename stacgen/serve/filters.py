"""CQL2 filters checked before they are evaluated: bounded, parsed by `cql2`, and matched against
the queryables, so that a wrong filter is a 400 naming the problem, not an empty result.

Both backends take their filters through `check_filter`, so they refuse the same filters with
the same messages. The size and nesting are bounded before `cql2` sees the text: its parser
recurses once per level and a few thousand parentheses overflow the stack (SIGSEGV).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

import cql2

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
_OPENERS: Final = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"\\]|\\.)*\"|[(\[{]|[)\]}]")
_PEST_WHERE: Final = re.compile(r"-->\s*(\d+):(\d+)")
_PEST_WHAT: Final = re.compile(r"=\s*(.+)")


class FilterError(StacgenError, ValueError):
    """A filter the API refuses (400); the message names the problem."""


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
    for node in _nodes(tree):
        _check_node(node, queryables)
    return expr


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


def _check_node(node: dict[str, Any], queryables: Mapping[str, str]) -> None:
    if "property" in node:
        name = property_name(str(node["property"]))
        if name not in queryables:
            raise FilterError(f"filter: unknown property {name!r} (see /api/queryables)")
        return
    if "op" not in node:
        return
    op, args = node["op"], node.get("args", [])
    if op not in ARITY:
        raise FilterError(f"filter: unknown operator {op!r}")
    low, high = ARITY[op]
    if not isinstance(args, list) or len(args) < low or (high is not None and len(args) > high):
        wanted = f"{low}" if low == high else f"at least {low}"
        got = len(args) if isinstance(args, list) else "no list of"
        raise FilterError(f"filter: {op!r} takes {wanted} arguments, got {got}")
    if op in COMPARISONS:
        _check_types(op, args, queryables)


def _literal_type(value: Any) -> str | None:
    """The queryable type a literal compares with; None for what no comparison takes."""
    if isinstance(value, dict):
        return "datetime" if "timestamp" in value or "date" in value else None
    kind = json_type(value)
    return kind if kind in ("boolean", "number", "string") else None


def _check_types(op: str, args: list[Any], queryables: Mapping[str, str]) -> None:
    props = [a for a in args if isinstance(a, dict) and "property" in a]
    literals = [a for a in args if not (isinstance(a, dict) and ("property" in a or "op" in a))]
    if op == "in" and len(args) == 2 and isinstance(args[1], list):
        literals = args[1]
    for prop in props:
        name = property_name(str(prop["property"]))
        kind = queryables.get(name)
        for literal in literals:
            got = _literal_type(literal)
            if kind is None or got is None or _compatible(kind, got):
                continue
            shown = json.dumps(literal)[:60]
            raise FilterError(
                f"filter: {name!r} is a {kind}, compared ({op}) with the {got} {shown}"
            )


def _compatible(kind: str, got: str) -> bool:
    if kind == "any":
        return True
    if kind == "datetime":
        return got in ("datetime", "string")
    return kind == got or kind == "array"
