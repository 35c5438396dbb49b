"""The query extension's `{"property": {"operator": value}}` as CQL2, for both backends.

A `query` is checked against the queryables and turned into the CQL2 JSON filter it means, which
each backend then evaluates as it evaluates a `filter` (the embedded one with `cql2`, pgstac in
SQL): the same operators with the same meaning on both, including those pgstac's own `query`
lacks (startsWith, endsWith, contains, in). GET sends every value as text (pystac-client's
`query=["eo:cloud_cover<10"]` arrives as "10"): a number property takes a numeric string.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from typing import Any, Final

from stacgen.serve.filters import FilterError, a, property_name

Cql2 = dict[str, Any]


def _like_text(value: str) -> str:
    """`value` matched literally by CQL2 LIKE: its wildcards and escape character escaped."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _compare(op: str) -> Callable[[Cql2, Any], Cql2]:
    return lambda prop, value: {"op": op, "args": [prop, value]}


def _like(pattern: str) -> Callable[[Cql2, Any], Cql2]:
    return lambda prop, value: {
        "op": "like",
        "args": [prop, pattern.format(_like_text(value))],
    }


QUERY_OPS: Final[dict[str, Callable[[Cql2, Any], Cql2]]] = {
    "eq": _compare("="),
    "neq": _compare("<>"),
    "lt": _compare("<"),
    "lte": _compare("<="),
    "gt": _compare(">"),
    "gte": _compare(">="),
    "startsWith": _like("{}%"),
    "endsWith": _like("%{}"),
    "contains": _like("%{}%"),
    "in": lambda prop, values: {"op": "in", "args": [prop, values]},
}
STRING_OPS: Final = frozenset({"startsWith", "endsWith", "contains"})


class QueryError(FilterError):
    """A `query` the API refuses (400); the message names the property and the problem."""


def query_filter(query: Any, queryables: Mapping[str, str]) -> Cql2:
    """The CQL2 JSON filter a `query` object means (an `and` of its conditions)."""
    if not isinstance(query, dict) or not all(isinstance(v, dict) for v in query.values()):
        raise QueryError('query: expected {"property": {"operator": value}}')
    conditions = []
    for name, ops in query.items():
        prop = property_name(str(name))
        if prop not in queryables:
            raise QueryError(f"query: unknown property {name!r} (see /api/queryables)")
        unknown = sorted(set(ops) - set(QUERY_OPS))
        if unknown:
            raise QueryError(f"query: unknown operators {unknown} (known: {list(QUERY_OPS)})")
        for op, value in ops.items():
            conditions.append(_condition(prop, queryables[prop], op, value))
    if not conditions:
        raise QueryError("query: no condition")
    return conditions[0] if len(conditions) == 1 else {"op": "and", "args": conditions}


def _condition(name: str, kind: str, op: str, value: Any) -> Cql2:
    prop = {"property": name}
    if kind == "array":
        if op != "contains":
            raise QueryError(f"query: {name!r} is an array: only 'contains' applies to it")
        return {"op": "a_contains", "args": [prop, [_literal(name, "any", op, value)]]}
    if op == "in":
        if not isinstance(value, list) or not value:
            raise QueryError(f"query: 'in' on {name!r} takes a list of values, not {_shown(value)}")
        return QUERY_OPS[op](prop, [_literal(name, kind, op, v) for v in value])
    if op in STRING_OPS and (kind != "string" or not isinstance(value, str)):
        raise QueryError(f"query: {op!r} compares strings; {name!r} is {a(kind)}")
    return QUERY_OPS[op](prop, _literal(name, kind, op, value))


def _literal(name: str, kind: str, op: str, value: Any) -> Any:
    """`value` as a CQL2 literal of the property's type (a numeric string for a number)."""
    if kind == "number" and isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value)
    if kind == "boolean" and value in ("true", "false"):
        value = value == "true"
    if kind == "datetime" and isinstance(value, str):
        return {"timestamp": value} if "T" in value else {"date": value}
    ok = {
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "string": isinstance(value, str),
        "boolean": isinstance(value, bool),
    }.get(kind, isinstance(value, str | int | float | bool))
    if not ok:
        raise QueryError(f"query: {name!r} is {a(kind)}, compared ({op}) with {_shown(value)}")
    return value


def _shown(value: Any) -> str:
    return json.dumps(value)[:60]
