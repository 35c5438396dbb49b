"""Odd but valid searches (and a few that both backends must refuse), made from the items of the
served catalog: each backend must answer each with the same status and the same ids in the same
order (tests/serve/test_parity.py), and a few are checked against an expectation computed here
from the items on disk with shapely and plain Python."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import shapely.geometry

CQL2_CLASSES = {
    "advanced-comparison-operators",
    "basic-spatial-functions",
    "spatial-functions",
    "temporal-functions",
    "array-functions",
}


@dataclass(frozen=True)
class Probe:
    name: str
    method: str  # GET or POST
    params: dict[str, Any]  # GET parameters (strings) or the POST body
    status: int = 200
    cql2_class: str | None = None  # the CQL2 conformance class it exercises
    expected: list[str] | None = field(default=None, compare=False)  # ids, in order, if known


def _props(item: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = item["properties"]
    return props


def _newest_first(items: list[dict[str, Any]]) -> list[str]:
    ordered = sorted(items, key=lambda i: i["id"])
    ordered.sort(key=lambda i: _props(i)["datetime"], reverse=True)
    return [i["id"] for i in ordered]


def _bbox_probes(items: list[dict[str, Any]]) -> list[Probe]:
    first = items[0]
    x, y = shapely.geometry.shape(first["geometry"]).representative_point().coords[0]
    west, south, east, north = first["bbox"]
    by_point = _newest_first(
        [
            i
            for i in items
            if shapely.geometry.shape(i["geometry"]).intersects(shapely.geometry.Point(x, y))
        ]
    )
    probes = [
        Probe("whole world", "GET", {"bbox": "-180,-90,180,90"}, expected=_newest_first(items)),
        Probe("antimeridian, all latitudes", "GET", {"bbox": "170,-90,-170,90"}),
        Probe("antimeridian over nothing", "POST", {"bbox": [179, -30, -179, 30]}),
        Probe("antimeridian, east of 0", "POST", {"bbox": [10, -90, 5, 90]}),
        Probe("a point bbox", "GET", {"bbox": f"{x},{y},{x},{y}"}),
        Probe("a point bbox, POST", "POST", {"bbox": [x, y, x, y]}),
        Probe("a vertical line bbox", "GET", {"bbox": f"{x},{south},{x},{north}"}),
        Probe("a horizontal line bbox", "POST", {"bbox": [west, y, east, y]}),
        Probe("one item's bbox", "GET", {"bbox": f"{west},{south},{east},{north}"}),
        Probe("3-D bbox", "GET", {"bbox": f"{west},{south},-100,{east},{north},9000"}),
        Probe("3-D bbox, POST", "POST", {"bbox": [west, south, -100, east, north, 9000]}),
        Probe("longitude out of range", "GET", {"bbox": "-200,-10,10,10"}, 400),
        Probe("latitude out of range", "GET", {"bbox": "0,0,1,1000"}, 400),
        Probe("latitude out of range, POST", "POST", {"bbox": [0, -91, 1, 1]}, 400),
        Probe("a point", "POST", {"intersects": {"type": "Point", "coordinates": [x, y]}}),
        Probe("a point, GET", "GET", {"intersects": f'{{"type":"Point","coordinates":[{x},{y}]}}'}),
    ]
    return [*probes, Probe("a point's items", "POST", {"bbox": [x, y, x, y]}, expected=by_point)]


def _query_probes(items: list[dict[str, Any]]) -> list[Probe]:
    site = _props(items[0])["alcd:site"]
    subset = _props(items[0])["alcd:subsets"][0]
    cover = sorted(_props(i)["eo:cloud_cover"] for i in items)[len(items) // 2]
    prefix, suffix = site[:3], site[-2:]
    expected_prefix = _newest_first([i for i in items if _props(i)["alcd:site"].startswith(prefix)])
    return [
        Probe("neq", "POST", {"query": {"alcd:site": {"neq": site}}}),
        Probe("startsWith", "POST", {"query": {"alcd:site": {"startsWith": prefix}}}),
        Probe(
            "startsWith, expected",
            "POST",
            {"query": {"alcd:site": {"startsWith": prefix}}},
            expected=expected_prefix,
        ),
        Probe("endsWith", "POST", {"query": {"alcd:site": {"endsWith": suffix}}}),
        Probe("contains a string", "POST", {"query": {"alcd:site": {"contains": site[1:4]}}}),
        Probe("contains a % literally", "POST", {"query": {"alcd:site": {"contains": "%"}}}),
        Probe("contains in an array", "POST", {"query": {"alcd:subsets": {"contains": subset}}}),
        Probe("in strings", "POST", {"query": {"alcd:site": {"in": [site, "Nowhere"]}}}),
        Probe("in numbers", "POST", {"query": {"eo:cloud_cover": {"in": [cover, -1]}}}),
        Probe(
            "numbers sent as text", "GET", {"query": f'{{"eo:cloud_cover":{{"lte":"{cover}"}}}}'}
        ),
        Probe("two operators", "POST", {"query": {"eo:cloud_cover": {"gt": 1, "lte": cover}}}),
        Probe("a number with a string", "POST", {"query": {"eo:cloud_cover": {"lt": "a"}}}, 400),
        Probe("an unknown property", "POST", {"query": {"no:such": {"eq": 1}}}, 400),
        Probe("an unknown operator", "POST", {"query": {"eo:cloud_cover": {"near": 3}}}, 400),
        Probe("in with no list", "POST", {"query": {"alcd:site": {"in": site}}}, 400),
        Probe("not JSON", "GET", {"query": "{not json"}, 400),
    ]


def _sort_probes() -> list[Probe]:
    return [
        Probe("sort by a string", "GET", {"sortby": "alcd:site"}),
        Probe("sort by a string, descending", "GET", {"sortby": "-alcd:site"}),
        Probe("sort by datetime", "POST", {"sortby": [{"field": "datetime", "direction": "asc"}]}),
        Probe("sort by two keys", "GET", {"sortby": "-platform,eo:snow_cover"}),
        Probe("sort by id, descending", "GET", {"sortby": "-id"}),
        Probe("sort by an unknown property", "GET", {"sortby": "no:such"}, 400),
        Probe("sort by an array", "GET", {"sortby": "alcd:subsets"}, 400),
    ]


def _text(name: str, cql2: str, cql2_class: str | None = None, status: int = 200) -> Probe:
    return Probe(name, "GET", {"filter": cql2}, status, cql2_class)


def _filter_probes(items: list[dict[str, Any]]) -> list[Probe]:
    site = _props(items[0])["alcd:site"]
    subsets = sorted({s for i in items for s in _props(i)["alcd:subsets"]})
    west, south, east, north = items[0]["bbox"]
    box = f"POLYGON(({west} {south},{east} {south},{east} {north},{west} {north},{west} {south}))"
    south_half = "POLYGON((-180 -90,180 -90,180 0,-180 0,-180 -90))"
    centre = f"POINT({(west + east) / 2} {(south + north) / 2})"
    when = sorted(_props(i)["datetime"] for i in items)[len(items) // 2]
    year, one, every = when[:4], subsets[0], ", ".join(repr(s) for s in subsets)
    compare, spatial = "advanced-comparison-operators", "spatial-functions"
    temporal, arrays = "temporal-functions", "array-functions"
    bbox_literal = {
        "op": "s_intersects",
        "args": [{"property": "geometry"}, {"bbox": items[0]["bbox"]}],
    }
    return [
        _text("like", f"\"alcd:site\" LIKE '{site[:2]}%'", compare),
        _text("between", "eo:cloud_cover BETWEEN 10 AND 60", compare),
        _text("in", f"\"alcd:site\" IN ('{site}', 'Nowhere')", compare),
        _text(
            "s_intersects a polygon", f"S_INTERSECTS(geometry, {box})", "basic-spatial-functions"
        ),
        Probe(
            "s_intersects a bbox",
            "POST",
            {"filter": bbox_literal},
            cql2_class="basic-spatial-functions",
        ),
        _text("s_within", f"S_WITHIN(geometry, {south_half})", spatial),
        _text("s_disjoint", f"S_DISJOINT(geometry, {box})", spatial),
        _text("s_contains", f"S_CONTAINS(geometry, {centre})", spatial),
        _text("t_after", f"T_AFTER(datetime, TIMESTAMP('{when}'))", temporal),
        _text("t_before", f"T_BEFORE(datetime, TIMESTAMP('{when}'))", temporal),
        _text(
            "t_during", f"T_DURING(datetime, INTERVAL('{year}-01-01', '{year}-12-31'))", temporal
        ),
        _text("t_intersects", f"T_INTERSECTS(datetime, INTERVAL('{year}-03-01','..'))", temporal),
        _text("a_contains", f"A_CONTAINS(\"alcd:subsets\", ('{one}'))", arrays),
        _text("a_overlaps", f"A_OVERLAPS(\"alcd:subsets\", ('{one}', 'x'))", arrays),
        _text("a_containedby", f'A_CONTAINEDBY("alcd:subsets", ({every}))', arrays),
        _text("a_equals", f"A_EQUALS(\"alcd:subsets\", ('{one}'))", arrays),
        *_every_operator(when, box),
        _text("is null", '"alcd:site" IS NULL'),
        _text("not", f"NOT (\"alcd:site\" = '{site}')"),
        _text("or", f"\"alcd:site\" = '{site}' OR eo:cloud_cover < 5"),
        _text("a datetime as text", f"datetime >= '{when}'"),
        _text("a property no item has", "mission = 'sentinel-2'"),
        _text("the split", "\"ml-aoi:split\" = 'test'"),
        _text("the split unquoted", "ml-aoi:split = 'test'", status=400),
        _text("a bad timestamp", "datetime > TIMESTAMP('2017-13-45T00:00:00Z')", status=400),
        _text("a bad date", "datetime > DATE('2017-02-30')", status=400),
        _text("a bad interval", "T_INTERSECTS(datetime, INTERVAL('x','y'))", status=400),
        _text("a_contains on a string", f"A_CONTAINS(\"alcd:site\", ('{site}'))", status=400),
        _text("an invalid polygon", "S_INTERSECTS(geometry, POLYGON((0 0, 1 1)))", status=400),
        _text("an unknown property", "no:such < 3", status=400),
    ]


def _every_operator(when: str, box: str) -> list[Probe]:
    """One probe of each temporal and spatial function, so that the classes declared hold."""
    temporal = ["after", "before", "contains", "disjoint", "during", "equals", "finishedBy",
                "finishes", "intersects", "meets", "metBy", "overlappedBy", "overlaps",
                "startedBy", "starts"]  # fmt: skip
    spatial = ["intersects", "equals", "disjoint", "touches", "within", "overlaps", "crosses",
               "contains"]  # fmt: skip
    day = when[:10]
    interval = f"INTERVAL('{day}T00:00:00Z', '{day}T23:59:59Z')"
    at_once = [_text(f"t_{op}", f"T_{op.upper()}(datetime, {interval})", "temporal-functions")
               for op in temporal]  # fmt: skip
    places = [_text(f"s_{op}", f"S_{op.upper()}(geometry, {box})", "spatial-functions")
              for op in spatial]  # fmt: skip
    return at_once + places


def _other_probes(items: list[dict[str, Any]]) -> list[Probe]:
    ids = sorted(i["id"] for i in items)
    year = sorted(_props(i)["datetime"] for i in items)[0][:4]
    return [
        Probe("ids", "GET", {"ids": f"{ids[0]},{ids[-1]},nope"}),
        Probe("an instant", "GET", {"datetime": _props(items[0])["datetime"]}),
        Probe("an open interval", "GET", {"datetime": f"../{year}-12-31T23:59:59Z"}),
        Probe("fields and sort", "GET", {"fields": "-assets", "sortby": "eo:cloud_cover"}),
        Probe(
            "NaN in intersects",
            "GET",
            {"intersects": '{"type":"Point","coordinates":[NaN,1]}'},
            400,
        ),
        Probe("an unknown geometry type", "GET", {"intersects": '{"type":"Foo"}'}, 400),
    ]


def probes(items: list[dict[str, Any]]) -> list[Probe]:
    """The probes for the catalog whose items (as on disk) are `items`."""
    items = sorted(items, key=lambda i: i["id"])
    return [
        *_bbox_probes(items),
        *_query_probes(items),
        *_sort_probes(),
        *_filter_probes(items),
        *_other_probes(items),
    ]
