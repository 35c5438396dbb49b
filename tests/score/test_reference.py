"""Finding the reference item (by id, product name, tile and date, footprint and date) in a
catalog on disk, served over HTTP, or behind a STAC API's /search; reading it by ranges."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
import rasterio
import rasterio.warp

from stacgen import constants
from stacgen.score import ScoreError, score_masks
from stacgen.score.reference import find_reference, mask_facts, open_catalog
from tests.score.helpers import (
    ITEM,
    alcd_groups,
    edit,
    encode,
    expected,
    got,
    read_reference,
    static_server,
    write_mask,
)


def _match(catalog: str | Path, mask: Path, item: str | None = None) -> tuple[str, str]:
    with rasterio.open(mask) as ds:
        m = find_reference(open_catalog(catalog), mask_facts(str(mask), ds), item)
    return m.item.id, m.matched_by


def _mask(built_catalog: Path, path: Path) -> Path:
    ref = read_reference(built_catalog)
    return write_mask(path, encode(alcd_groups(ref.values), "sen2cor"), ref, 3)


def test_matching_order(built_catalog: Path, tmp_path: Path) -> None:
    by_name = _mask(built_catalog, tmp_path / f"{ITEM}_SCL.tif")
    assert _match(built_catalog, by_name) == (ITEM, "product name")
    l2a = _mask(built_catalog, tmp_path / "S2B_MSIL2A_20171002T103009_N0206_R108_T31TFJ_x.tif")
    assert _match(built_catalog, l2a) == (ITEM, "tile and date")
    dated = _mask(built_catalog, tmp_path / "cloudmask_2017-10-02.tif")
    assert _match(built_catalog, dated) == (ITEM, "footprint and date")
    assert _match(built_catalog, dated, ITEM) == (ITEM, "--item")


def test_legacy_item_found_by_its_compact_name(built_catalog: Path, tmp_path: Path) -> None:
    legacy = "S2A_OPER_PRD_MSIL1C_PDMC_20160417T203056_R137_V20160417T111159_20160417T111159"
    ref = read_reference(built_catalog, legacy)
    compact = constants.LEGACY_TO_COMPACT[legacy]
    mask = write_mask(tmp_path / f"{compact}.tif", ref.values, ref, 1)
    assert _match(built_catalog, mask) == (legacy, "product name")


def _one_line(err: pytest.ExceptionInfo[ScoreError]) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


def test_no_date_no_name(built_catalog: Path, tmp_path: Path) -> None:
    mask = _mask(built_catalog, tmp_path / "mask.tif")
    with pytest.raises(ScoreError) as err:
        _match(built_catalog, mask)
    assert "mask mask.tif: no reference item found" in _one_line(err)
    assert "no acquisition date" in _one_line(err)


def test_date_matching_no_item(built_catalog: Path, tmp_path: Path) -> None:
    mask = _mask(built_catalog, tmp_path / "mask_20190101.tif")
    with pytest.raises(ScoreError, match=r"no item dated 2019-01-01") as err:
        _match(built_catalog, mask)
    _one_line(err)


def test_mask_overlapping_no_reference(built_catalog: Path, tmp_path: Path) -> None:
    ref = read_reference(built_catalog)
    far = rasterio.Affine(200, 0, 100_000, 0, -200, 1_000_000)  # same zone, far to the south
    path = tmp_path / "mask_20171002.tif"
    profile = dict(driver="GTiff", width=30, height=30, count=1, dtype="uint8", crs=ref.crs)
    with rasterio.open(path, "w", transform=far, **profile) as dst:
        dst.write(np.full((30, 30), 4, np.uint8), 1)
    with pytest.raises(ScoreError, match=r"overlaps no reference item dated 2017-10-02") as err:
        _match(built_catalog, path)
    _one_line(err)
    with pytest.raises(ScoreError, match=r"does not overlap the reference") as err:
        score_masks([path], "sen2cor", built_catalog, item_id=ITEM)
    _one_line(err)


def test_several_matching_items(built_catalog: Path, tmp_path: Path) -> None:
    twin = tmp_path / "twin"
    shutil.copytree(built_catalog, twin)
    collection = twin / constants.COLLECTION_ID
    src = collection / ITEM
    copy_id = ITEM.replace("T103209", "T999999")
    shutil.copytree(src, collection / copy_id)
    doc = json.loads((src / f"{ITEM}.json").read_text())
    doc["id"] = copy_id
    (collection / copy_id / f"{copy_id}.json").write_text(json.dumps(doc))
    (collection / copy_id / f"{ITEM}.json").unlink()
    coll = json.loads((collection / "collection.json").read_text())
    coll["links"].append({"rel": "item", "href": f"./{copy_id}/{copy_id}.json"})
    (collection / "collection.json").write_text(json.dumps(coll))
    mask = _mask(built_catalog, tmp_path / "T31TFJ_20171002_fmask.tif")
    with pytest.raises(ScoreError, match=r"several items match T31TFJ on 2017-10-02") as err:
        _match(twin, mask)
    assert copy_id in _one_line(err)
    assert ITEM in _one_line(err)


def test_unreachable_catalog_url(built_catalog: Path, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/catalog.json"
    mask = _mask(built_catalog, tmp_path / f"{ITEM}.tif")
    with pytest.raises(ScoreError, match=rf"^{url}: cannot be reached \(ConnectionError\)$"):
        score_masks([mask], "sen2cor", url)


def _matrices(run: Any) -> list[dict[str, dict[str, int]]]:
    return [got(s) for s in run.scores]


def test_http_gives_the_disk_numbers_and_reads_by_ranges(
    built_catalog: Path, tmp_path: Path
) -> None:
    ref = read_reference(built_catalog)
    ref_g = alcd_groups(ref.values)
    user_g = edit(ref_g, 30)
    mask = write_mask(tmp_path / f"{ITEM}_x.tif", encode(user_g, "kappamask"), ref, 3)
    on_disk = score_masks([mask], "kappamask", built_catalog)
    with static_server(built_catalog) as served:
        over_http = score_masks([mask], "kappamask", served.url + "catalog.json")
    assert _matrices(over_http) == _matrices(on_disk) == [expected(ref_g, user_g)]
    assert over_http.scores[0].item.asset_href.startswith(served.url)
    tif = [r for r in served.requests if r[1].endswith("/classification.tif") and r[0] == "GET"]
    assert tif, served.requests
    # Every read of the reference COG asked for a byte range and got one (206).
    assert all(rng is not None and rng.startswith("bytes=") for _, _, rng, _ in tif), tif
    assert {status for *_, status in tif} == {206}


def _api_server(built_catalog: Path, files_url: str) -> Any:
    """A minimal STAC API over the same files: a landing page and GET /search."""
    import http.server
    import threading

    items = [
        json.loads(p.read_text())
        for p in (built_catalog / constants.COLLECTION_ID).glob("*/*.json")
        if p.stem == p.parent.name
    ]
    calls: list[dict[str, list[str]]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            base = f"http://{self.headers['Host']}"
            if parts.path == "/":
                body: dict[str, Any] = {
                    "type": "Catalog",
                    "stac_version": "1.0.0",
                    "description": "a STAC API landing page",
                    "id": "api",
                    "conformsTo": ["https://api.stacspec.org/v1.0.0/item-search"],
                    "links": [{"rel": "search", "href": f"{base}/search"}],
                }
            elif parts.path == "/search":
                q = parse_qs(parts.query)
                calls.append(q)
                found = items
                if "ids" in q:
                    found = [i for i in found if i["id"] in q["ids"][0].split(",")]
                if "datetime" in q:
                    day = q["datetime"][0][:10]
                    found = [i for i in found if i["properties"]["datetime"][:10] == day]
                feats = []
                for i in found:
                    feat = json.loads(json.dumps(i))
                    folder = f"{files_url}{constants.COLLECTION_ID}/{i['id']}"
                    for asset in feat["assets"].values():
                        asset["href"] = f"{folder}/{asset['href'][2:]}"
                    feat["links"] = [{"rel": "self", "href": f"{base}/items/{i['id']}"}]
                    feats.append(feat)
                body = {"type": "FeatureCollection", "features": feats, "links": []}
            else:
                self.send_error(404)
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, calls


def test_stac_api_root(built_catalog: Path, tmp_path: Path) -> None:
    ref = read_reference(built_catalog)
    user_g = edit(alcd_groups(ref.values), 20)
    named = write_mask(tmp_path / f"{ITEM}.tif", encode(user_g, "sen2cor"), ref, 3)
    dated = write_mask(tmp_path / "m_20171002.tif", encode(user_g, "sen2cor"), ref, 3)
    disk = score_masks([named], "sen2cor", built_catalog)
    with static_server(built_catalog) as files:
        server, calls = _api_server(built_catalog, files.url)
        try:
            port = server.server_address[1]
            api = score_masks([named, dated], "sen2cor", f"http://127.0.0.1:{port}/")
        finally:
            server.shutdown()
            server.server_close()
    assert [s.item.matched_by for s in api.scores] == ["product name", "footprint and date"]
    assert _matrices(api)[0] == _matrices(disk)[0] == _matrices(api)[1]
    assert any("ids" in c for c in calls)
    assert any("bbox" in c for c in calls)
