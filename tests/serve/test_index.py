"""The embedded backend's columnar index (stacgen.serve.index) answers as `cql2` does: for
hundreds of generated filters over items made to sit on the boundaries (equal values, nulls,
missing properties, a property of mixed kinds, datetimes at an interval's ends, footprints
across the antimeridian), the items the index finds are those `cql2.Expr.matches` finds over
each whole item; the areas are those shapely finds, the order the one sort rule written here."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import cql2
import numpy as np
import pytest
import shapely.geometry

from stacgen.serve.index import Columns, ColumnsBuilder, Query, find

START = dt.datetime(2017, 1, 1, tzinfo=dt.UTC)
CLOUD = [0, 0.0, 5, 12.5, 12.5, 20, 20.000001, 50, 99.5, 100]
SITES = ["Arles", "Orleans", "Alta_Floresta", "Gobabeb", "", "arles"]


def _polygon(west: float, south: float, east: float, north: float) -> dict[str, Any]:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def _footprint(k: int, west: float, south: float) -> dict[str, Any]:
    """A 1-degree box, or for every fourth item the triangle of its lower left half (so that
    an area can meet the footprint's envelope and miss the footprint)."""
    if k % 4 != 2:
        return _polygon(west, south, west + 1.0, south + 1.0)
    ring = [[west, south], [west + 1.0, south], [west, south + 1.0], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def _item(k: int) -> dict[str, Any]:
    """Item k: its values cycle through the boundaries, some null, some missing."""
    when = START + dt.timedelta(days=k // 3, hours=k % 3)  # three items a day, equal dates too
    west = -179.5 if k % 11 == 0 else float((k * 7) % 300 - 150)
    # date-times as RFC 3339 writes them, and as it does not (cql2 compares those its own way)
    written = [
        when.isoformat().replace("+00:00", "Z"),
        (when + dt.timedelta(hours=1)).isoformat().replace("+00:00", "+01:00"),
        when.isoformat().replace("+00:00", ".5Z"),
        when.replace(tzinfo=None).isoformat(),
        when.isoformat().replace("+00:00", "Z"),
        when.date().isoformat(),
    ]
    props: dict[str, Any] = {
        "datetime": written[k % len(written)],
        "eo:cloud_cover": CLOUD[k % len(CLOUD)],
        "alcd:site": SITES[k % len(SITES)],
        "alcd:valid": k % 4 == 0,
        "view:sun_elevation": float(k % 5) - 2.0 if k % 23 else 2**60 + k,  # no exact float
        "alcd:subsets": [f"s{k % 3}", f"s{k % 5}"],
    }
    if k % 7 == 0:
        props["eo:cloud_cover"] = None
    if k % 9 == 0:
        del props["alcd:site"]
    if k % 13 == 0:
        props["alcd:valid"] = None
    # a property of mixed kinds: numbers, strings that look like numbers, arrays
    props["alcd:mixed"] = [k % 4, str(k % 4), [k % 4], None][k % 4]
    if k % 6 == 0:
        props["start_datetime"] = (when - dt.timedelta(hours=1)).isoformat()
        props["end_datetime"] = (when + dt.timedelta(hours=1)).isoformat()
    return {
        "type": "Feature",
        "id": f"item-{k:03d}" if k % 17 else f"Item-{k:03d}",
        "collection": "alcd" if k % 10 else "other",
        "geometry": _footprint(k, west, -10.0 + k % 20),
        "bbox": [west, -10.0 + k % 20, west + 1.0, -9.0 + k % 20],
        "properties": props,
    }


ITEMS = [_item(k) for k in range(90)]


def _span(item: dict[str, Any]) -> tuple[dt.datetime, dt.datetime]:
    props = item["properties"]
    start = dt.datetime.fromisoformat(props.get("start_datetime") or props["datetime"])
    end = dt.datetime.fromisoformat(props.get("end_datetime") or props["datetime"])
    return start.replace(tzinfo=start.tzinfo or dt.UTC), end.replace(tzinfo=end.tzinfo or dt.UTC)


@pytest.fixture(scope="module", name="index")
def index_fixture() -> tuple[Columns, list[dict[str, Any]]]:
    """The columns of ITEMS, and ITEMS in the index's order."""
    builder = ColumnsBuilder()
    for item in ITEMS:
        builder.add(item, item["collection"], _span(item))
    order = builder.order()
    names = frozenset(name for item in ITEMS for name in item["properties"])
    return builder.build(order, names), [ITEMS[i] for i in order]


def _matching(tree: Any, items: list[dict[str, Any]]) -> list[str]:
    """The items cql2 matches, each whole item handed to it (an error matches nothing)."""
    expr = cql2.Expr(tree)
    found = []
    for item in items:
        try:
            if expr.matches(item):
                found.append(item["id"])
        except Exception:  # cql2 raises where it cannot reduce the filter to a boolean
            continue
    return found


def _found(columns: Columns, **query: Any) -> list[str]:
    return [str(columns.ids[i]) for i in find(columns, Query(**query))]


# --- generated filters ----------------------------------------------------------------------
NUMBERS = ["eo:cloud_cover", "view:sun_elevation", "alcd:mixed"]
STRINGS = ["alcd:site", "id", "collection", "datetime", "alcd:mixed"]
BOOLEANS = ["alcd:valid"]


def _literal(rng: random.Random, name: str) -> Any:
    """A value the property holds in some item (equal values are the boundaries), or near."""
    if name in BOOLEANS:
        return rng.choice([True, False])
    values = [
        v
        for item in ITEMS
        for v in [item.get(name, item["properties"].get(name))]
        if isinstance(v, int | float | str) and not isinstance(v, bool)
    ]
    if name in NUMBERS and name not in STRINGS:
        return rng.choice([*values, -1, 1000, 12.4999])
    if name == "alcd:mixed":
        return rng.choice([*values, "x"])
    return rng.choice([*[v for v in values if isinstance(v, str)], "Zzz", "A"])


def _comparison(rng: random.Random) -> dict[str, Any]:
    name = rng.choice([*NUMBERS, *STRINGS, *BOOLEANS])
    prop = {"property": name if rng.random() < 0.8 else f"properties.{name}"}
    if name in ("id", "collection"):
        prop = {"property": name}
    op = rng.choice(["=", "<>", "<", "<=", ">", ">=", "in", "between", "isNull", "flip"])
    if op == "isNull":
        return {"op": "isNull", "args": [prop]}
    if op == "in":
        return {"op": "in", "args": [prop, [_literal(rng, name) for _ in range(rng.randint(1, 3))]]}
    if op == "between":
        low, high = sorted([_literal(rng, "eo:cloud_cover"), _literal(rng, "eo:cloud_cover")])
        return {"op": "between", "args": [prop, low, high]}
    if op == "flip":  # the literal first
        return {"op": rng.choice(["<", ">=", "="]), "args": [_literal(rng, name), prop]}
    return {"op": op, "args": [prop, _literal(rng, name)]}


def _instants(rng: random.Random) -> dict[str, Any]:
    """A date-time property against a TIMESTAMP, at an item's instant or between two."""
    day = rng.randint(0, 30)
    when = START + dt.timedelta(days=day, hours=rng.choice([0, 1, 1.5, 2]))
    text = when.isoformat().replace("+00:00", rng.choice(["Z", "+00:00", ".000000Z"]))
    name = rng.choice(["datetime", "start_datetime", "eo:cloud_cover"])
    op = rng.choice(["=", "<>", "<", "<=", ">", ">="])
    return {"op": op, "args": [{"property": name}, {"timestamp": text}]}


def _beyond_the_index(rng: random.Random) -> dict[str, Any]:
    """What cql2 answers for the index: like, arrays, spatial and temporal functions."""
    return rng.choice(
        [
            {"op": "like", "args": [{"property": "alcd:site"}, "A%"]},
            {"op": "a_contains", "args": [{"property": "alcd:subsets"}, ["s1"]]},
            {
                "op": rng.choice(["s_intersects", "s_disjoint"]),
                "args": [
                    {"property": "geometry"},
                    rng.choice(
                        [
                            _polygon(-160, -10, 0, 0),
                            _polygon(-143, -9, -142, -8),  # item 1's footprint, edge to edge
                            {"type": "Point", "coordinates": [-142, -8.5]},  # on its edge
                            {"type": "LineString", "coordinates": [[170, -5], [180, 5]]},
                            # in item 2's envelope, off its triangle
                            _polygon(-135.3, -7.3, -135.1, -7.1),
                        ]
                    ),
                ],
            },
            {
                "op": "t_after",
                "args": [{"property": "datetime"}, {"timestamp": "2017-01-10T00:00:00Z"}],
            },
            {
                "op": "=",
                "args": [{"property": "eo:cloud_cover"}, {"property": "view:sun_elevation"}],
            },
        ]
    )


def _tree(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth == 0 or roll < 0.35:
        if roll < 0.03:
            return rng.choice([True, False])
        if roll < 0.1:
            return _beyond_the_index(rng)
        return _instants(rng) if roll < 0.16 else _comparison(rng)
    if roll < 0.55:
        return {"op": "not", "args": [_tree(rng, depth - 1)]}
    op = "and" if roll < 0.8 else "or"
    return {"op": op, "args": [_tree(rng, depth - 1) for _ in range(rng.randint(1, 3))]}


FILTERS = [_tree(random.Random(seed), 3) for seed in range(600)]


def test_generated_filters_match_what_cql2_matches(
    index: tuple[Columns, list[dict[str, Any]]],
) -> None:
    columns, items = index
    differ = []
    sizes = []
    for tree in FILTERS:
        expected = _matching(tree, items)
        sizes.append(len(expected))
        if _found(columns, filter=tree) != expected:
            differ.append(tree)
    assert differ == []
    # Not a comparison of empty answers: most filters find some items, and not all of them.
    assert sum(0 < n < len(items) for n in sizes) > len(sizes) // 2


@pytest.mark.parametrize(
    "tree",
    [
        # equal values at the boundary, each way round
        {"op": "<=", "args": [{"property": "eo:cloud_cover"}, 12.5]},
        {"op": "<", "args": [{"property": "eo:cloud_cover"}, 12.5]},
        {"op": "=", "args": [{"property": "eo:cloud_cover"}, 0]},
        {"op": "between", "args": [{"property": "eo:cloud_cover"}, 12.5, 20]},
        # null and missing: an error, so `not` of it matches nothing either
        {"op": "not", "args": [{"op": "<", "args": [{"property": "eo:cloud_cover"}, 50]}]},
        {"op": "isNull", "args": [{"property": "alcd:site"}]},
        {"op": "not", "args": [{"op": "isNull", "args": [{"property": "alcd:valid"}]}]},
        # false and error is false, true or error is true
        {
            "op": "or",
            "args": [
                {"op": "=", "args": [{"property": "alcd:valid"}, True]},
                {"op": ">", "args": [{"property": "eo:cloud_cover"}, 50]},
            ],
        },
        {
            "op": "not",
            "args": [
                {
                    "op": "and",
                    "args": [
                        {"op": "=", "args": [{"property": "alcd:site"}, "Arles"]},
                        {"op": "<", "args": [{"property": "eo:cloud_cover"}, 20]},
                    ],
                }
            ],
        },
        # the kinds a mixed property holds: cql2 errs on some, answers false on others
        {"op": "=", "args": [{"property": "alcd:mixed"}, 1]},
        {"op": "in", "args": [{"property": "alcd:mixed"}, ["1", "2"]]},
        {"op": "between", "args": [{"property": "alcd:mixed"}, 1, 2]},
        {"op": "not", "args": [{"op": "in", "args": [{"property": "alcd:mixed"}, [1, 2]]}]},
        # strings compare by code point; id is the item's, not a property
        {"op": "<", "args": [{"property": "id"}, "item-050"]},
        {"op": ">=", "args": [{"property": "alcd:site"}, "Orleans"]},
        {"op": "=", "args": [{"property": "alcd:site"}, ""]},
    ],
)
def test_boundaries_match_what_cql2_matches(
    index: tuple[Columns, list[dict[str, Any]]], tree: dict[str, Any]
) -> None:
    columns, items = index
    expected = _matching(tree, items)
    assert _found(columns, filter=tree) == expected


# --- the other conditions ----------------------------------------------------------------------
def test_interval_ends_are_inclusive(index: tuple[Columns, list[dict[str, Any]]]) -> None:
    columns, items = index
    start, end = START + dt.timedelta(days=3), START + dt.timedelta(days=5)
    expected = [i["id"] for i in items if _span(i)[1] >= start and _span(i)[0] <= end]
    assert 0 < len(expected) < len(items)
    assert _found(columns, interval=(start, end)) == expected
    assert _found(columns, interval=(None, end)) == [i["id"] for i in items if _span(i)[0] <= end]
    assert _found(columns, interval=(start, None)) == [
        i["id"] for i in items if _span(i)[1] >= start
    ]


@pytest.mark.parametrize(
    "area",
    [
        # across the antimeridian, as stacgen.serve.search.bbox_geometry makes it
        shapely.geometry.MultiPolygon(
            [shapely.geometry.box(170, -90, 180, 90), shapely.geometry.box(-180, -90, -170, 90)]
        ),
        shapely.geometry.box(-150, -10, -100, 0),
        # item 1's footprint is -143..-142 by -9..-8
        shapely.geometry.Point(-142.5, -8.5),
        shapely.geometry.LineString([(-151, -8.5), (-120, -8.5)]),
        shapely.geometry.box(-142, -8, -141, -7),  # touching that footprint's corner
        shapely.geometry.Point(-142, -8.5),  # on its edge
    ],
)
def test_areas_are_what_shapely_intersects(
    index: tuple[Columns, list[dict[str, Any]]], area: shapely.Geometry
) -> None:
    columns, items = index
    expected = [i["id"] for i in items if area.intersects(shapely.geometry.shape(i["geometry"]))]
    assert expected
    assert _found(columns, area=area) == expected


def test_an_area_in_an_envelope_but_off_the_footprint_finds_nothing(
    index: tuple[Columns, list[dict[str, Any]]],
) -> None:
    columns, _ = index
    area = shapely.geometry.box(-135.3, -7.3, -135.1, -7.1)  # item 2's envelope, off its triangle
    assert area.intersects(shapely.geometry.box(*ITEMS[2]["bbox"]))
    assert _found(columns, area=area) == []


def test_ids_and_collections(index: tuple[Columns, list[dict[str, Any]]]) -> None:
    columns, items = index
    ids = frozenset({"item-001", "Item-017", "nope"})
    assert _found(columns, ids=ids) == [i["id"] for i in items if i["id"] in ids]
    assert _found(columns, collections=frozenset({"other"})) == [
        i["id"] for i in items if i["collection"] == "other"
    ]


def test_index_order_is_newest_first_then_by_id(
    index: tuple[Columns, list[dict[str, Any]]],
) -> None:
    columns, items = index
    expected = sorted(ITEMS, key=lambda i: i["id"])
    expected.sort(key=lambda i: _span(i)[0], reverse=True)
    assert [i["id"] for i in items] == [i["id"] for i in expected]
    assert _found(columns) == [i["id"] for i in expected]


def _value(item: dict[str, Any], name: str) -> Any:
    return item.get(name) if name in ("id", "collection") else item["properties"].get(name)


def _sorted(items: list[dict[str, Any]], keys: list[tuple[str, bool]]) -> list[str]:
    """The sort rule: by each key in turn, its missing or null values last whichever the
    direction, ties by id ascending."""

    def key(item: dict[str, Any]) -> tuple[Any, ...]:
        parts: list[Any] = []
        for name, descending in keys:
            value = _value(item, name)
            if value is None:
                parts.append((1, 0))
            elif isinstance(value, str):  # descending strings: by their negated code points
                parts.append((0, (*(-ord(c) for c in value), 1) if descending else value))
            else:
                parts.append((0, -value if descending else value))
        return (*parts, item["id"])

    return [i["id"] for i in sorted(items, key=key)]


@pytest.mark.parametrize(
    "keys",
    [
        [("eo:cloud_cover", False)],
        [("eo:cloud_cover", True)],
        [("alcd:site", False)],
        [("alcd:site", True)],
        [("alcd:valid", True), ("eo:cloud_cover", False)],
        [("view:sun_elevation", True), ("alcd:site", True)],
        [("datetime", False)],
        [("id", True)],
        [("collection", False), ("datetime", True)],
        [("no:such", False)],
    ],
)
def test_sort_keys(
    index: tuple[Columns, list[dict[str, Any]]], keys: list[tuple[str, bool]]
) -> None:
    columns, items = index
    assert _found(columns, sort=tuple(keys)) == _sorted(items, keys)
    some = np.arange(0, len(items), 3)
    ordered = find(
        columns, Query(ids=frozenset(str(columns.ids[i]) for i in some), sort=tuple(keys))
    )
    assert [str(columns.ids[i]) for i in ordered] == _sorted([items[i] for i in some], keys)
