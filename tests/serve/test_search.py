"""One search from GET strings or a POST body (stacgen.serve.search): sort keys, fields, bbox,
token, query and sort checks; then GET searches on the embedded API sorted and trimmed as
parsed here, against the order and the fields computed in the test from the items on disk."""

from __future__ import annotations

import math
from typing import Any

import pytest
import requests
from pydantic import BaseModel
from stac_fastapi.api.models import create_post_request_model

from stacgen.serve import Server
from stacgen.serve.api import search_extensions
from stacgen.serve.query import QueryError, query_filter
from stacgen.serve.search import (
    DEFAULT_LIMIT,
    BadSearch,
    SearchParams,
    SortKey,
    bbox_geometry,
    check_bbox,
    check_search,
    check_sort,
    fields_of_strings,
    from_get,
    from_post,
    lenient_post_model,
)
from tests.catalogs import FixtureCatalog

pytestmark = pytest.mark.timeout(120)
TIMEOUT = 10
QUERYABLES = {"id": "string", "eo:cloud_cover": "number", "platform": "string"}


@pytest.fixture(scope="module", name="post_model")
def post_model_fixture() -> type[BaseModel]:
    """The POST /search model as the API makes it (stacgen.serve.api)."""
    return lenient_post_model(create_post_request_model(search_extensions(None)))


# --- parsing ------------------------------------------------------------------------------------
def test_get_sortby_strings_become_sort_keys() -> None:
    params = from_get({"sortby": ["-eo:cloud_cover", "+id", " datetime "]})
    assert params.sort_keys() == [
        SortKey("eo:cloud_cover", True),
        SortKey("id", False),
        SortKey("datetime", False),
    ]


def test_post_sortby_drops_the_properties_prefix(post_model: type[BaseModel]) -> None:
    body = {
        "sortby": [
            {"field": "properties.eo:cloud_cover", "direction": "desc"},
            {"field": "id", "direction": "asc"},
        ]
    }
    params = from_post(post_model.model_validate(body))
    assert params.sort_keys() == [SortKey("eo:cloud_cover", True), SortKey("id", False)]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (None, None),
        (["id", "properties.eo:cloud_cover"], {"include": ["id", "properties.eo:cloud_cover"]}),
        (["-assets", "-geometry"], {"include": None, "exclude": ["assets", "geometry"]}),
        (["+id", "-assets"], {"include": ["id"], "exclude": ["assets"]}),
    ],
)
def test_get_fields_strings(values: list[str] | None, expected: dict[str, Any] | None) -> None:
    if expected is not None:
        expected.setdefault("exclude", [])
    assert fields_of_strings(values) == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"exclude": ["assets"]}, {"include": None, "exclude": ["assets"]}),
        ({"include": []}, {"include": [], "exclude": []}),  # empty include: the default fields
        ({"include": ["id", "bbox"]}, {"include": ["bbox", "id"], "exclude": []}),
    ],
)
def test_post_fields(
    post_model: type[BaseModel], fields: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert from_post(post_model.model_validate({"fields": fields})).body["fields"] == expected


def test_post_takes_comma_separated_collections(post_model: type[BaseModel]) -> None:
    params = from_post(post_model.model_validate({"collections": "a, b", "ids": "x"}))
    assert params.body["collections"] == ["a", "b"]
    assert params.body["ids"] == ["x"]


def test_post_string_filter_is_cql2_text(post_model: type[BaseModel]) -> None:
    params = from_post(post_model.model_validate({"filter": "eo:cloud_cover < 3"}))
    assert params.body["filter-lang"] == "cql2-text"


@pytest.mark.parametrize(
    "bbox", [[0, 0, math.inf, 1], [float("nan"), 0, 1, 1], [0, 10, 1, 5], [0, 10, -1, 1, 5, 2]]
)
def test_bad_bbox(bbox: list[float]) -> None:
    with pytest.raises(BadSearch, match="bbox"):
        check_bbox(bbox)


@pytest.mark.parametrize(
    ("bbox", "words"),
    [
        ([0, 0, 1, 91], "latitude 91 is outside -90..90"),
        ([-181, 0, 1, 1], "longitude -181 is outside -180..180"),
        ([0, 0, 5, 1, 1, 2], "lowest height is above its highest"),
        (["a", 0, 1, 1], "is not 4 or 6 numbers"),
    ],
)
def test_bbox_out_of_range_names_the_number(bbox: list[Any], words: str) -> None:
    with pytest.raises(BadSearch, match=words):
        check_bbox(bbox)


def test_good_bbox_crossing_the_antimeridian() -> None:
    assert check_bbox([170, -10, -170, 10]) == [170.0, -10.0, -170.0, 10.0]
    # A 3-D bbox: its heights are dropped (the footprints have none).
    assert check_bbox(["1", "2", "0", "3", "4", "9"]) == [1.0, 2.0, 3.0, 4.0]


@pytest.mark.parametrize(
    ("bbox", "geometry"),
    [
        (
            [0, 1, 2, 3],
            {"type": "Polygon", "coordinates": [[[0, 1], [2, 1], [2, 3], [0, 3], [0, 1]]]},
        ),
        ([1, 2, 1, 2], {"type": "Point", "coordinates": [1, 2]}),
        ([1, 2, 1, 5], {"type": "LineString", "coordinates": [[1, 2], [1, 5]]}),
        (
            [170, -1, -170, 1],
            {
                "type": "MultiPolygon",
                "coordinates": [
                    [[[170, -1], [180, -1], [180, 1], [170, 1], [170, -1]]],
                    [[[-180, -1], [-170, -1], [-170, 1], [-180, 1], [-180, -1]]],
                ],
            },
        ),
    ],
)
def test_a_bbox_is_the_geometry_it_covers(bbox: list[float], geometry: dict[str, Any]) -> None:
    assert bbox_geometry([float(v) for v in bbox]) == geometry


def test_bbox_and_intersects_together_are_refused() -> None:
    params = from_get(
        {"bbox": [0, 0, 1, 1], "intersects": '{"type": "Point", "coordinates": [1, 2]}'}
    )
    with pytest.raises(BadSearch, match="bbox and intersects"):
        check_search(params, QUERYABLES)


@pytest.mark.parametrize(("token", "offset"), [(None, 0), ("", 0), ("next:20", 20), ("7", 7)])
def test_token_is_an_offset(token: str | None, offset: int) -> None:
    assert SearchParams({"token": token}).offset == offset


@pytest.mark.parametrize("token", ["next:-1", "abc", "next:1e3", "next:²", "9" * 5000])
def test_foreign_token_is_refused(token: str) -> None:
    with pytest.raises(BadSearch, match="token"):
        _ = SearchParams({"token": token}).offset


def test_limit_default() -> None:
    assert SearchParams({}).limit == DEFAULT_LIMIT
    assert SearchParams({"limit": 3}).limit == 3


def test_query_becomes_the_cql2_it_means() -> None:
    query = {"properties.eo:cloud_cover": {"lt": 3, "gte": "1"}, "platform": {"startsWith": "s_"}}
    assert query_filter(query, QUERYABLES) == {
        "op": "and",
        "args": [
            {"op": "<", "args": [{"property": "eo:cloud_cover"}, 3]},
            {"op": ">=", "args": [{"property": "eo:cloud_cover"}, 1.0]},
            # LIKE's wildcards in the value are matched literally.
            {"op": "like", "args": [{"property": "platform"}, "s\\_%"]},
        ],
    }
    assert query_filter({"platform": {"in": ["a", "b"]}}, QUERYABLES) == {
        "op": "in",
        "args": [{"property": "platform"}, ["a", "b"]],
    }


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ({"cloud": {"lt": 3}}, "unknown property 'cloud'"),
        ({"eo:cloud_cover": {"near": 3}}, "unknown operators \\['near'\\]"),
        ({"eo:cloud_cover": 3}, "query"),
        ({"eo:cloud_cover": {"lt": "abc"}}, "'eo:cloud_cover' is a number, compared \\(lt\\)"),
        ({"platform": {"in": "x"}}, "'in' on 'platform' takes a list"),
        ({"eo:cloud_cover": {"startsWith": "1"}}, "'startsWith' compares strings"),
    ],
)
def test_bad_queries_name_the_problem(query: Any, words: str) -> None:
    with pytest.raises(QueryError, match=words):
        query_filter(query, QUERYABLES)


def test_sort_is_checked_against_the_queryables() -> None:
    check_sort([SortKey("eo:cloud_cover", True)], QUERYABLES)
    with pytest.raises(BadSearch, match="sortby: unknown property 'cloud'"):
        check_sort([SortKey("cloud", False)], QUERYABLES)
    with pytest.raises(BadSearch, match="'tags' is an array: only numbers"):
        check_sort([SortKey("tags", False)], {**QUERYABLES, "tags": "array"})


# --- through the embedded API -------------------------------------------------------------------
def get_search(server: Server, **params: str) -> list[dict[str, Any]]:
    answer = requests.get(f"{server.urls.api}search", params=params, timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text
    features: list[dict[str, Any]] = answer.json()["features"]
    return features


def ranks(items: list[dict[str, Any]], name: str, descending: bool) -> dict[Any, int]:
    """Each value of property `name` and its place in the order asked for."""
    values = sorted({i["properties"][name] for i in items}, reverse=descending)
    return {value: place for place, value in enumerate(values)}


@pytest.mark.parametrize("sign", ["+", "-"])
def test_sort_ties_are_broken_by_id(
    server: Server, serve_catalog: FixtureCatalog, sign: str
) -> None:
    items = [serve_catalog.item(i) for i in serve_catalog.item_ids()]
    rank = ranks(items, "platform", sign == "-")
    assert len(rank) < len(items)  # the catalog has ties to break
    expected = sorted(items, key=lambda i: (rank[i["properties"]["platform"]], i["id"]))
    found = get_search(server, sortby=f"{sign}platform", limit="100")
    assert [f["id"] for f in found] == [i["id"] for i in expected]


def test_sort_on_two_keys(server: Server, serve_catalog: FixtureCatalog) -> None:
    items = [serve_catalog.item(i) for i in serve_catalog.item_ids()]
    rank = ranks(items, "platform", True)

    def key(item: dict[str, Any]) -> tuple[int, float, str]:
        props = item["properties"]
        return (rank[props["platform"]], props["eo:snow_cover"], item["id"])

    snow = [i["properties"]["eo:snow_cover"] for i in items]
    assert len(set(snow)) < len(snow)  # ties on both keys: the id decides
    found = get_search(server, sortby="-platform,+eo:snow_cover", limit="100")
    assert [f["id"] for f in found] == [i["id"] for i in sorted(items, key=key)]


def test_fields_include(server: Server, serve_catalog: FixtureCatalog) -> None:
    found = get_search(server, ids=serve_catalog.item_ids()[0], fields="properties.eo:cloud_cover")
    [feature] = found
    on_disk = serve_catalog.item(feature["id"])
    # What is always kept (pystac-client reads these), and the one property asked for.
    assert set(feature) == {"type", "stac_version", "id", "links", "properties"}
    assert feature["properties"] == {"eo:cloud_cover": on_disk["properties"]["eo:cloud_cover"]}


def test_fields_exclude(server: Server, serve_catalog: FixtureCatalog) -> None:
    item_id = serve_catalog.item_ids()[0]
    [feature] = get_search(server, ids=item_id, fields="-geometry,-properties.eo:cloud_cover")
    on_disk = serve_catalog.item(item_id)
    assert set(feature) == set(on_disk) - {"geometry"}
    assert set(feature["properties"]) == set(on_disk["properties"]) - {"eo:cloud_cover"}
    assert feature["bbox"] == on_disk["bbox"]
