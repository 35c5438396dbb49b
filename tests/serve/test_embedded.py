"""The STAC API's backends (stacgen.serve.embedded, and stacgen.serve.pgstac where its database
can be had: `api_server` runs each test on every backend, and they must answer alike) and the
guard in front of them: sort, fields, queryables, filter errors naming the problem, hostile
requests, stac-api-validator (the STAC API conformance suite) with 0 errors; and the embedded
backend reloading after a rebuild."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from stacgen import constants
from stacgen.serve import Server, serve
from tests.catalogs import FixtureCatalog
from tests.paths import SHARED

pytestmark = pytest.mark.timeout(300)
TIMEOUT = 10
MIRROR_TOOL = SHARED / "tools" / "with-schema-mirror"


def search(server: Server, **params: Any) -> requests.Response:
    return requests.post(f"{server.urls.api}search", json=params, timeout=TIMEOUT)


def ids(answer: requests.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [f["id"] for f in answer.json()["features"]]


@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_sortby_cloud_cover_both_directions(
    api_server: Server, serve_catalog: FixtureCatalog, direction: str
) -> None:
    items = [serve_catalog.item(i) for i in serve_catalog.item_ids()]
    expected = sorted(items, key=lambda i: i["id"])
    expected.sort(key=lambda i: i["properties"]["eo:cloud_cover"], reverse=direction == "desc")
    sortby = [{"field": "properties.eo:cloud_cover", "direction": direction}]
    assert ids(search(api_server, sortby=sortby, limit=100)) == [i["id"] for i in expected]
    sign = "-" if direction == "desc" else "+"
    got = requests.get(
        f"{api_server.urls.api}search",
        params={"sortby": f"{sign}eo:cloud_cover", "limit": "100"},
        timeout=TIMEOUT,
    )
    assert ids(got) == [i["id"] for i in expected]


def test_sortby_ties_are_broken_by_id(api_server: Server, serve_catalog: FixtureCatalog) -> None:
    # Every item has the same collection: the order is by id alone, in both directions.
    assert len(serve_catalog.item_ids()) > 1  # else there is no tie to break
    for direction in ("asc", "desc"):
        sortby = [{"field": "collection", "direction": direction}]
        assert ids(search(api_server, sortby=sortby, limit=100)) == serve_catalog.item_ids()


def test_fields_include_and_exclude(api_server: Server) -> None:
    answer = search(api_server, limit=1, fields={"include": ["properties.eo:cloud_cover"]})
    feature = answer.json()["features"][0]
    assert list(feature["properties"]) == ["eo:cloud_cover"]
    assert "assets" not in feature
    answer = search(api_server, limit=1, fields={"exclude": ["assets", "geometry"]})
    feature = answer.json()["features"][0]
    assert "assets" not in feature
    assert "geometry" not in feature
    assert "eo:cloud_cover" in feature["properties"]


def json_types(serve_catalog: FixtureCatalog) -> dict[str, set[str]]:
    """Property -> the JSON types of its non-null values in the item files ("array of string"
    for a list of strings)."""
    names = {bool: "boolean", int: "number", float: "number", str: "string", dict: "object"}
    found: dict[str, set[str]] = {}
    for item_id in serve_catalog.item_ids():
        for name, value in serve_catalog.item(item_id)["properties"].items():
            if isinstance(value, list):
                kind = "array of " + "/".join(sorted({names[type(v)] for v in value}))
            elif value is not None:
                kind = names[type(value)]
            else:
                continue
            found.setdefault(name, set()).add(kind)
    return found


def test_queryables_describe_every_property_alike(
    api_server: Server, serve_catalog: FixtureCatalog
) -> None:
    """Both backends list the same queryables with the same types: those the items' JSON
    holds with one type (arrays with their elements' type), and the item's own fields."""
    answer = requests.get(f"{api_server.urls.api}queryables", timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text

    def described(spec: dict[str, Any]) -> str:
        if spec.get("type") == "array":
            return f"array of {spec['items'].get('type', '')}"
        return str(spec.get("format") or spec.get("type") or spec.get("$ref"))

    got = {name: described(spec) for name, spec in answer.json()["properties"].items()}
    expected = {
        name: kinds.pop()
        for name, kinds in json_types(serve_catalog).items()
        if len(kinds) == 1 and "object" not in kinds
    }
    # STAC's common metadata fields (stac-spec commons/common-metadata.md) are queryable
    # whether or not an item holds them; what the items hold says the type otherwise.
    common = {
        **dict.fromkeys(["title", "description", "license", "platform", "mission"], "string"),
        **dict.fromkeys(["constellation"], "string"),
        **dict.fromkeys(["created", "updated", "start_datetime", "end_datetime"], "date-time"),
        "instruments": "array of string",
        "gsd": "number",
    }
    expected = {**common, **expected}
    expected.update(datetime="date-time", id="string", collection="string", geometry="geometry-any")
    assert expected["alcd:subsets"] == "array of string"
    assert expected["alcd:site"] == "string"
    assert expected["eo:cloud_cover"] == "number"
    assert got == expected
    assert answer.json()["additionalProperties"] is False  # other names are refused


def test_queryables_offer_the_values_and_ranges_there_are(
    api_server: Server, serve_catalog: FixtureCatalog
) -> None:
    """STAC Browser offers a choice for a property with an `enum`: the values the items hold;
    the covers are percentages of the valid pixels."""
    items = [serve_catalog.item(i)["properties"] for i in serve_catalog.item_ids()]
    assert items
    for path in ("queryables", f"collections/{constants.COLLECTION_ID}/queryables"):
        answer = requests.get(f"{api_server.urls.api}{path}", timeout=TIMEOUT)
        assert answer.status_code == 200, (path, answer.text)
        assert answer.headers["Content-Type"].startswith("application/schema+json")
        specs = answer.json()["properties"]
        for name in ("ml-aoi:split", "alcd:site", "platform"):
            assert specs[name]["enum"] == sorted({p[name] for p in items}), name
        for name in ("eo:cloud_cover", "eo:snow_cover", "alcd:shadow_cover", "alcd:water_cover"):
            assert (specs[name]["minimum"], specs[name]["maximum"]) == (0, 100), name
            assert all(0 <= p[name] <= 100 for p in items)
        assert "$ref" not in json.dumps(specs["geometry"])  # nothing to fetch from elsewhere


@pytest.mark.parametrize(
    ("cql", "words"),
    [
        ("no:such_thing < 3", ["unknown property", "no:such_thing"]),
        ("eo:cloud_cover < 'high'", ["eo:cloud_cover", "number", "string"]),
        ("eo:cloud_cover << 3", ["syntax error", "column 17"]),
    ],
)
def test_filter_errors_name_the_problem(api_server: Server, cql: str, words: list[str]) -> None:
    answer = requests.get(f"{api_server.urls.api}search", params={"filter": cql}, timeout=TIMEOUT)
    assert answer.status_code == 400
    description = answer.json()["description"]
    assert "\n" not in description
    for word in words:
        assert word in description


def test_one_argument_comparison_is_400(api_server: Server) -> None:
    cql = {"op": "<", "args": [{"property": "eo:cloud_cover"}]}
    answer = search(api_server, filter=cql)
    assert answer.status_code == 400
    assert "takes 2 arguments" in answer.json()["description"]


# --- hostile requests ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        {"filter": "(" * 2000 + "eo:cloud_cover < 3" + ")" * 2000, "filter-lang": "cql2-text"},
        {"intersects": {"type": "Foo"}},
        {"filter": {"op": "foo", "args": []}},
        {"filter": 5},
        {"bbox": "0,0,1,1"},
    ],
)
def test_hostile_searches_are_400_with_a_reason(api_server: Server, body: dict[str, Any]) -> None:
    answer = search(api_server, **body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["description"]


def test_deep_json_body_is_400(server: Server) -> None:
    body = '{"filter": ' + "[" * 1000 + "]" * 1000 + "}"
    answer = requests.post(f"{server.urls.api}search", data=body, timeout=TIMEOUT)
    assert answer.status_code == 400
    assert "deep" in answer.json()["description"]


def test_long_path_component_is_400(server: Server) -> None:
    answer = requests.get(f"{server.urls.root}{'a' * 300}.json", timeout=TIMEOUT)
    assert answer.status_code == 400
    assert "255" in answer.json()["description"]


def test_unknown_method_is_405_with_allow(server: Server) -> None:
    for method in ("PUT", "DELETE", "PATCH", "TRACE"):
        answer = requests.request(method, server.urls.catalog, timeout=TIMEOUT)
        assert answer.status_code == 405
        assert answer.headers["Allow"] == "GET, HEAD, OPTIONS"
    answer = requests.post(server.urls.catalog, timeout=TIMEOUT)
    assert answer.status_code == 405
    # A method that is no HTTP method at all is refused by the HTTP parser itself.
    assert requests.request("FOO", server.urls.catalog, timeout=TIMEOUT).status_code == 400


def test_private_build_files_are_never_served(
    server: Server, serve_catalog: FixtureCatalog
) -> None:
    assert (serve_catalog.root / ".stacgen-state.json").is_file()
    for path in (".stacgen-state.json", "%2estacgen-state.json", "./.stacgen-state.json"):
        assert requests.get(f"{server.urls.root}{path}", timeout=TIMEOUT).status_code in (403, 404)


def test_post_body_is_never_read_as_a_second_request(server: Server) -> None:
    """A body sent with a short Content-Length: the rest must not be served as a request."""
    smuggled = b"GET /.stacgen-state.json HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as conn:
        body = b"{}"
        head = (
            b"POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        conn.sendall(head + body + smuggled)
        conn.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    assert b'"files"' not in data  # the state file's content


def test_json_is_gzipped(server: Server) -> None:
    answer = requests.get(f"{server.urls.api}search?limit=10", timeout=TIMEOUT)
    assert answer.headers["Content-Encoding"] == "gzip"
    catalog = requests.get(server.urls.catalog, timeout=TIMEOUT)
    assert catalog.json()["type"] == "Catalog"


# --- a rebuild swaps the folder ------------------------------------------------------------------
def test_api_answers_from_the_new_catalog_after_a_swap(
    serve_catalog: FixtureCatalog, tmp_path: Path
) -> None:
    folder = tmp_path / "catalog"
    shutil.copytree(serve_catalog.root, folder)
    dropped = serve_catalog.item_ids()[0]
    with serve(folder, "127.0.0.1", 0, browser_dir=tmp_path / "none") as server:
        before = requests.get(f"{server.urls.api}search?limit=100", timeout=TIMEOUT)
        assert dropped in ids(before)
        # What the build does: a complete new folder renamed into place.
        new = tmp_path / "new"
        shutil.copytree(serve_catalog.root, new)
        _drop_item(new, dropped)
        os.rename(folder, tmp_path / "old")
        os.rename(new, folder)
        after = requests.get(f"{server.urls.api}search?limit=100", timeout=TIMEOUT)
        assert dropped not in ids(after)
        assert len(ids(after)) == len(serve_catalog.item_ids()) - 1


def _drop_item(root: Path, item_id: str) -> None:
    collection = root / constants.COLLECTION_ID / "collection.json"
    doc = json.loads(collection.read_text())
    doc["links"] = [lk for lk in doc["links"] if item_id not in lk["href"]]
    collection.write_text(json.dumps(doc))
    shutil.rmtree(root / constants.COLLECTION_ID / item_id)
    state = root / ".stacgen-state.json"
    state.write_text(state.read_text() + " ")  # a new build writes a new state


# --- the conformance suite ------------------------------------------------------------------------
CLASSES = (
    *("core", "item-search", "features", "collections", "filter"),
    *("item-search#sort", "item-search#fields"),
)


def test_stac_api_validator_finds_no_error(api_server: Server) -> None:
    if not MIRROR_TOOL.is_file():
        pytest.fail(f"{MIRROR_TOOL} is missing (../shared beside the checkout)")
    world = {
        "type": "Polygon",
        "coordinates": [[[-180, -90], [180, -90], [180, 90], [-180, 90], [-180, -90]]],
    }
    command = [sys.executable, str(MIRROR_TOOL), "-m", "stac_api_validator.__main__"]
    command += ["--root-url", api_server.urls.api, "--collection", constants.COLLECTION_ID]
    command += ["--geometry", json.dumps(world), "--validate-pagination"]
    command += ["--fields-nested-property", "properties.eo:cloud_cover"]
    for name in CLASSES:
        command += ["--conformance", name]
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, check=False)
    out = done.stdout + done.stderr
    assert "Errors: none" in out, out[-4000:]


def test_http_head_on_the_api_root_redirect(server: Server) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
    try:
        conn.request("HEAD", "/api")
        answer = conn.getresponse()
        answer.read()
    finally:
        conn.close()
    assert (answer.status, answer.getheader("Location")) == (301, "/api/")
