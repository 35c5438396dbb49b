"""The STAC API application (stacgen.serve.api) on each backend: the conformance classes the STAC
API specification (v1.0.0) and OGC API - Features name for what it serves, the service-desc link
to its OpenAPI document, and its error answers. The URIs are written here from the specifications,
not read from the code."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
from pystac_client import Client
from pystac_client.conformance import ConformanceClasses

from stacgen import constants
from stacgen.serve import Server
from tests.catalogs import FixtureCatalog
from tests.serve_subprocess import stacgen_serve

pytestmark = pytest.mark.timeout(120)
TIMEOUT = 10
STAC_API = "https://api.stacspec.org/v1.0.0"
FEATURES = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf"
CQL2 = "http://www.opengis.net/spec/cql2/1.0/conf"
REQUIRED = {
    f"{STAC_API}/core",
    f"{STAC_API}/collections",
    f"{STAC_API}/ogcapi-features",
    f"{STAC_API}/item-search",
    f"{STAC_API}/item-search#fields",
    f"{STAC_API}/item-search#query",
    f"{STAC_API}/item-search#sort",  # what pystac-client looks for (v1.0.*)
    f"{STAC_API}/ogcapi-features#sort",  # /collections/{id}/items takes sortby too
    f"{STAC_API}/ogcapi-features#fields",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    f"{FEATURES}/core",
    f"{FEATURES}/geojson",
    f"{FEATURES}/oas30",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    f"{CQL2}/basic-cql2",
    f"{CQL2}/cql2-text",
    f"{CQL2}/cql2-json",
    f"{CQL2}/advanced-comparison-operators",
    f"{CQL2}/basic-spatial-functions",
    f"{CQL2}/spatial-functions",
    f"{CQL2}/temporal-functions",
    f"{CQL2}/array-functions",
}
# Extensions versioned on their own: any release of the extension's own specification.
VERSIONED = {
    "sort": re.compile(r"https://api\.stacspec\.org/v1\.\d+\.\d+(-rc\.\d+)?/item-search#sort"),
    "filter": re.compile(r"https://api\.stacspec\.org/v1\.\d+\.\d+(-rc\.\d+)?/item-search#filter"),
}
OPENAPI_30 = "application/vnd.oai.openapi+json;version=3.0"  # the STAC API spec's service-desc


def get(url: str) -> requests.Response:
    return requests.get(url, timeout=TIMEOUT)


@pytest.fixture(scope="module", name="landing")
def landing_fixture(api_server: Server) -> dict[str, Any]:
    answer = get(api_server.urls.api)
    assert answer.status_code == 200
    page: dict[str, Any] = answer.json()
    return page


def test_landing_page_declares_every_class_it_serves(landing: dict[str, Any]) -> None:
    classes = set(landing["conformsTo"])
    assert classes >= REQUIRED, REQUIRED - classes
    for name, pattern in VERSIONED.items():
        assert any(pattern.fullmatch(uri) for uri in classes), name


def test_conformance_endpoint_agrees_with_the_landing_page(
    api_server: Server, landing: dict[str, Any]
) -> None:
    answer = get(f"{api_server.urls.api}conformance")
    assert sorted(answer.json()["conformsTo"]) == sorted(landing["conformsTo"])


def test_api_declares_what_pystac_client_needs(api_server: Server) -> None:
    client = Client.open(api_server.urls.api, timeout=TIMEOUT)
    for cls in ("CORE", "COLLECTIONS", "FEATURES", "ITEM_SEARCH", "FILTER", "QUERY", "SORT"):
        assert client.conforms_to(ConformanceClasses[cls]), cls
    assert client.conforms_to(ConformanceClasses.FIELDS)
    assert [c.id for c in client.get_collections()] == [constants.COLLECTION_ID]


def test_sortby_through_pystac_client_warns_of_nothing(api_server: Server) -> None:
    client = Client.open(api_server.urls.api, timeout=TIMEOUT)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # DoesNotConformTo is a warning: it would raise here
        found = client.search(sortby="-eo:cloud_cover", max_items=3).item_collection()
    covers = [i.properties["eo:cloud_cover"] for i in found]
    assert covers == sorted(covers, reverse=True)
    assert len(covers) == 3


def test_collection_links_to_queryables_that_answer(api_server: Server) -> None:
    collection = get(f"{api_server.urls.api}collections/{constants.COLLECTION_ID}").json()
    link = next(lk for lk in collection["links"] if lk["rel"].endswith("/queryables"))
    answer = get(link["href"])
    assert answer.status_code == 200
    assert "eo:cloud_cover" in answer.json()["properties"]


def test_docs_page_needs_nothing_from_elsewhere(api_server: Server) -> None:
    page = get(f"{api_server.urls.api}docs")
    assert page.status_code == 200
    sources = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page.text)
    sources += re.findall(r"""url: ?['"]([^'"]+)['"]""", page.text)
    assert any(s.endswith("swagger-ui-bundle.js") for s in sources), sources
    for source in sources:
        assert not source.startswith(("http:", "https:", "//")), source  # no CDN
        asset = get(urljoin(api_server.urls.root, source))
        assert asset.status_code == 200, source
    bundle = next(s for s in sources if s.endswith("swagger-ui-bundle.js"))
    assert "SwaggerUIBundle" in get(urljoin(api_server.urls.root, bundle)).text


def test_the_log_holds_no_warning_at_start_and_no_trace_after_a_400(
    serve_catalog: FixtureCatalog, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    with stacgen_serve(serve_catalog.root, log=log) as url:
        assert get(f"{url}/api/search?sortby=no:such").status_code == 400
        assert get(f"{url}/api/collections/nope").status_code == 404
        assert get(f"{url}/api/search?bbox=0,0,1,1000").status_code == 400
    text = log.read_text()
    assert "Using default values" not in text
    assert "NoneType" not in text
    assert "Traceback" not in text


def link(landing: dict[str, Any], rel: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [lk for lk in landing["links"] if lk["rel"] == rel]
    assert len(found) == 1, rel
    return found[0]


def test_service_desc_is_the_openapi_document(api_server: Server, landing: dict[str, Any]) -> None:
    desc = link(landing, "service-desc")
    assert desc["type"] == OPENAPI_30
    assert desc["href"].startswith(api_server.urls.api)
    doc = get(desc["href"]).json()
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    assert {"get", "post"} <= set(paths["/api/search"])
    for path in ("/api/", "/api/conformance", "/api/collections", "/api/queryables"):
        assert "get" in paths[path], path
    doc_page = get(link(landing, "service-doc")["href"])
    assert doc_page.status_code == 200
    assert doc_page.headers["Content-Type"].startswith("text/html")


def test_search_links_for_get_and_post(api_server: Server, landing: dict[str, Any]) -> None:
    searches = [lk for lk in landing["links"] if lk["rel"] == "search"]
    assert {lk.get("method", "GET") for lk in searches} == {"GET", "POST"}
    for found in searches:
        assert found["href"] == f"{api_server.urls.api}search"
        assert found["type"] == "application/geo+json"


@pytest.mark.parametrize("query", ["limit=abc", "limit=0", "bbox=a,b,c,d"])
def test_a_parameter_the_models_refuse_is_400_in_one_line(api_server: Server, query: str) -> None:
    # FastAPI answers 422 by default; the STAC API answers 400 with code and description.
    answer = get(f"{api_server.urls.api}search?{query}")
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["code"] == "BadRequest"
    assert body["description"]
    assert "\n" not in body["description"]
