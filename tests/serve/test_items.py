"""/collections/{id}/items as its clients page it (issue 21), on each backend: pystac-client's
paging and GDAL's OGC API - Features driver (ogr2ogr) read every item once at limit=5, and the
endpoint honours token, sortby, filter and fields as /search does; an item is GeoJSON."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests
from pystac_client.stac_api_io import StacApiIO

from stacgen import constants
from stacgen.serve import Server
from tests import must_run
from tests.catalogs import FixtureCatalog

pytestmark = pytest.mark.timeout(180)
TIMEOUT = 10
GEOJSON = "application/geo+json"


def items_url(server: Server) -> str:
    return f"{server.urls.api}collections/{constants.COLLECTION_ID}/items"


def test_pystac_client_pages_every_item_once(
    api_server: Server, serve_catalog: FixtureCatalog
) -> None:
    pages = list(StacApiIO(timeout=TIMEOUT).get_pages(f"{items_url(api_server)}?limit=5"))
    count = len(serve_catalog.item_ids())
    assert len(pages) == -(-count // 5)  # a page of 5 at most, and no page repeated
    ids = [f["id"] for page in pages for f in page["features"]]
    assert sorted(ids) == serve_catalog.item_ids()


def ogr2ogr() -> str:
    found = shutil.which("ogr2ogr")
    if found is None:
        reason = "ogr2ogr (GDAL's OGC API - Features driver) is missing: apt-get install gdal-bin"
        must_run.missing("gdal", reason)
    return found


def test_ogr2ogr_reads_every_item_once(
    api_server: Server, serve_catalog: FixtureCatalog, tmp_path: Path
) -> None:
    out = tmp_path / "items.geojson"
    command = [ogr2ogr(), "-f", "GeoJSON", str(out), f"OAPIF:{api_server.urls.api}"]
    command += [constants.COLLECTION_ID, "-oo", "PAGE_SIZE=5"]
    env = {**os.environ, "GDAL_HTTP_TIMEOUT": str(TIMEOUT), "CPL_DEBUG": "ON"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    fetched = [ln for ln in done.stderr.splitlines() if "/items?" in ln and "Fetch(" in ln]
    assert fetched, done.stderr[-2000:]
    assert all("limit=5" in ln for ln in fetched)
    features = json.loads(out.read_text())["features"]
    ids = [f["properties"]["id"] for f in features]
    assert sorted(ids) == serve_catalog.item_ids()


def items_page(server: Server, **params: str) -> dict[str, Any]:
    answer = requests.get(items_url(server), params=params, timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text[:300]
    assert answer.headers["Content-Type"] == GEOJSON
    body: dict[str, Any] = answer.json()
    return body


def test_items_take_sortby_filter_and_fields(
    api_server: Server, serve_catalog: FixtureCatalog
) -> None:
    items = [serve_catalog.item(i) for i in serve_catalog.item_ids()]
    covers = sorted(i["properties"]["eo:cloud_cover"] for i in items)
    threshold = covers[len(covers) // 2]
    expected = sorted(
        (i for i in items if i["properties"]["eo:cloud_cover"] < threshold),
        key=lambda i: (-i["properties"]["eo:cloud_cover"], i["id"]),
    )
    assert 1 < len(expected) < len(items)
    body = items_page(
        api_server,
        sortby="-eo:cloud_cover",
        filter=f"eo:cloud_cover < {threshold}",
        fields="properties.eo:cloud_cover",
        limit="100",
    )
    assert [f["id"] for f in body["features"]] == [i["id"] for i in expected]
    assert all(list(f["properties"]) == ["eo:cloud_cover"] for f in body["features"])
    assert body["numberMatched"] == len(expected)


def test_the_next_link_moves_on(api_server: Server) -> None:
    first = items_page(api_server, limit="2", sortby="id")
    link = next(lk for lk in first["links"] if lk["rel"] == "next")
    second = requests.get(link["href"], timeout=TIMEOUT).json()
    assert [f["id"] for f in second["features"]] != [f["id"] for f in first["features"]]
    assert "sortby=id" in link["href"]  # the search goes on in the same order


def test_a_bad_items_parameter_is_400(api_server: Server) -> None:
    answer = requests.get(items_url(api_server), params={"sortby": "no:such"}, timeout=TIMEOUT)
    assert answer.status_code == 400
    assert "sortby: unknown property 'no:such'" in answer.json()["description"]


def test_an_item_is_geojson(api_server: Server, serve_catalog: FixtureCatalog) -> None:
    item_id = serve_catalog.item_ids()[0]
    answer = requests.get(f"{items_url(api_server)}/{item_id}", timeout=TIMEOUT)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == GEOJSON
    assert answer.json()["id"] == item_id
