"""CQL2 filter checks (stacgen.serve.filters): the size and nesting bounds met before cql2 parses,
and the one-line messages for each kind of wrong filter. Expectations are built here: filters of a
known size and depth, and the messages' facts (the bound, the property, the operator)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacgen.serve.filters import (
    CRS84,
    MAX_DEPTH,
    MAX_FILTER_CHARS,
    FilterError,
    check_filter,
    json_depth,
    nesting,
    referenced,
)

QUERYABLES = {
    "id": "string",
    "eo:cloud_cover": "number",
    "datetime": "datetime",
    "platform": "string",
    "instruments": "array",
}


def refused(raw: Any, lang: str | None = None, crs: str | None = None) -> str:
    """The message of the FilterError `check_filter` raises: it must be one line."""
    with pytest.raises(FilterError) as caught:
        check_filter(raw, lang, crs, QUERYABLES)
    message = str(caught.value)
    assert "\n" not in message, message
    assert message.startswith(("filter:", "filter-lang:", "filter-crs:")), message
    return message


def wrapped_text(depth: int) -> str:
    """A cql2-text filter inside `depth` pairs of parentheses."""
    return "(" * depth + "eo:cloud_cover < 3" + ")" * depth


def wrapped_json(nots: int) -> dict[str, Any]:
    """A cql2-json comparison (3 levels: object, args list, property object) inside `nots` NOTs,
    each adding two levels (its object and its args list)."""
    node: dict[str, Any] = {"op": "=", "args": [{"property": "id"}, "x"]}
    for _ in range(nots):
        node = {"op": "not", "args": [node]}
    return node


# --- the measures -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("", 0),
        ("id = 'a'", 0),
        ("((id = 'a'))", 2),
        ("[({})]", 3),
        ("(a) AND (b) AND ((c))", 2),
        ("id = '((((' AND (x)", 1),  # brackets in a quoted string do not count
        ("id = 'it''s (((' AND (x)", 1),  # nor after a doubled quote
        ('"a(b" = 1', 0),  # nor in a quoted identifier
    ],
)
def test_nesting_of_text(text: str, depth: int) -> None:
    assert nesting(text) == depth


@pytest.mark.parametrize(
    ("value", "depth"),
    [(1, 0), ("(((", 0), ([], 1), ({"a": [1, {"b": 2}]}, 3), ([[[[]]]], 4)],
)
def test_json_depth(value: Any, depth: int) -> None:
    assert json_depth(value) == depth


def test_json_depth_of_the_helper() -> None:
    # wrapped_json's depth, counted by walking it down by hand.
    node: Any = wrapped_json(4)
    levels = 0
    while isinstance(node, dict) and node["op"] == "not":
        node, levels = node["args"][0], levels + 2
    assert levels == 8
    assert json_depth(wrapped_json(4)) == 8 + 3


# --- the bounds ---------------------------------------------------------------------------------
def test_size_bound_text() -> None:
    at_limit = "id = '" + "x" * (MAX_FILTER_CHARS - len("id = ''")) + "'"
    assert len(at_limit) == MAX_FILTER_CHARS
    check_filter(at_limit, None, None, QUERYABLES)
    over = at_limit[:-1] + "x'"
    message = refused(over)
    assert f"{MAX_FILTER_CHARS + 1} characters" in message
    assert str(MAX_FILTER_CHARS) in message.split("characters", 1)[1]


def test_size_bound_json_counts_the_serialised_object() -> None:
    literal = "x" * MAX_FILTER_CHARS
    message = refused({"op": "=", "args": [{"property": "id"}, literal]})
    assert "characters" in message
    assert str(MAX_FILTER_CHARS) in message


def test_nesting_bound_text() -> None:
    check_filter(wrapped_text(MAX_DEPTH), None, None, QUERYABLES)
    assert f"more than {MAX_DEPTH} levels" in refused(wrapped_text(MAX_DEPTH + 1))


def test_thousands_of_parentheses_are_refused_not_a_crash() -> None:
    # cql2's parser recurses per level: this many would overflow its stack if it saw them.
    depth = (MAX_FILTER_CHARS - 20) // 2
    assert len(wrapped_text(depth)) <= MAX_FILTER_CHARS
    assert "nested" in refused(wrapped_text(depth))


@pytest.mark.parametrize("as_text", [False, True])
def test_nesting_bound_json(as_text: bool) -> None:
    # 3 + 2 * nots levels: 18 NOTs are 39 levels, 19 are 41.
    assert 3 + 2 * 18 <= MAX_DEPTH < 3 + 2 * 19

    def raw(nots: int) -> Any:
        return json.dumps(wrapped_json(nots)) if as_text else wrapped_json(nots)

    check_filter(raw(18), "cql2-json", None, QUERYABLES)
    assert f"more than {MAX_DEPTH} levels" in refused(raw(19), "cql2-json")


# --- the one-line messages ----------------------------------------------------------------------
def test_text_syntax_error_says_where() -> None:
    message = refused("eo:cloud_cover <<< 3")
    assert "cql2-text" in message
    assert "line 1" in message


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("{", ["not JSON"]),
        ("[1, 2]", ["cql2-json object", "[1, 2]"]),
        ('"eo:cloud_cover < 3"', ["cql2-json object"]),
    ],
)
def test_json_that_is_not_a_filter_object(raw: str, words: list[str]) -> None:
    message = refused(raw, "cql2-json")
    assert words
    for word in words:
        assert word in message


def test_crs_and_language_are_checked() -> None:
    check_filter("eo:cloud_cover < 3", "cql2-text", CRS84, QUERYABLES)
    crs = "http://www.opengis.net/def/crs/EPSG/0/4326"
    assert crs in refused("eo:cloud_cover < 3", crs=crs)
    assert "'sql'" in refused("eo:cloud_cover < 3", lang="sql")


def test_unknown_property_is_named() -> None:
    message = refused("cloud_cover < 3")
    assert "'cloud_cover'" in message
    assert "queryables" in message


def test_properties_prefix_is_the_same_property() -> None:
    check_filter("properties.eo:cloud_cover < 3", None, None, QUERYABLES)
    expr = check_filter(
        {
            "op": "and",
            "args": [
                {"op": "<", "args": [{"property": "properties.eo:cloud_cover"}, 3]},
                {"op": "=", "args": [{"property": "platform"}, "sentinel-2a"]},
            ],
        },
        "cql2-json",
        None,
        QUERYABLES,
    )
    assert referenced(expr) == {"eo:cloud_cover", "platform"}


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("eo:cloud_cover = 'high'", ["'eo:cloud_cover' is a number", "(=)", "string", '"high"']),
        ("platform > 3", ["'platform' is a string", "(>)", "number"]),
        ("eo:cloud_cover IN ('a', 'b')", ["'eo:cloud_cover' is a number", "(in)", "string"]),
    ],
)
def test_type_mismatch_names_property_operator_and_value(raw: str, words: list[str]) -> None:
    message = refused(raw)
    assert words
    for word in words:
        assert word in message, message


@pytest.mark.parametrize(
    "raw",
    [
        "datetime > TIMESTAMP('2018-01-01T00:00:00Z')",
        "datetime > '2018-01-01T00:00:00Z'",  # a string compared with a datetime: allowed
        "id IN ('a', 'b')",
        "eo:cloud_cover BETWEEN 1 AND 5",
        "NOT (eo:cloud_cover < 3)",
        "A_CONTAINS(instruments, ('msi'))",
    ],
)
def test_well_typed_filters_pass(raw: str) -> None:
    check_filter(raw, None, None, QUERYABLES)


def test_wrong_argument_count_is_named() -> None:
    one = {"op": "<", "args": [{"property": "eo:cloud_cover"}]}
    message = refused(one, "cql2-json")
    assert "'<'" in message
    assert "2 arguments, got 1" in message


def test_a_literal_is_not_a_condition() -> None:
    assert "not a condition" in refused("5")
    check_filter("true", None, None, QUERYABLES)  # true is a condition: everything
