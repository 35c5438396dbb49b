"""A fake L2A STAC API and COG server on 127.0.0.1, from the real item shapes in ../shared/imagery.

Each fake item is a copy of a stored Earth Search or Planetary Computer L2A item with its id,
product name, baseline, generation time, date, footprint and SCL href changed for one label item
of the test catalog; the SCL COG is the label's classes turned into SCL values (2, 3 -> 8, 9;
4 -> 3; 5 -> 4; 6 -> 6; 7 -> 11; 0, 1 -> 0: the Sen2Cor Product Specification's classes) at 3
pixels a label cell, on a larger "tile" than the label grid, served with byte ranges.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from stacgen import constants
from tests.paths import SHARED

IMAGERY = SHARED / "imagery"
ES_ITEM = IMAGERY / "earthsearch_v1_sentinel-2-l2a_S2A_39QTA_20230628_0_L2A.json"
PC_ITEM = (
    IMAGERY
    / "planetarycomputer_sentinel-2-l2a_S2B_MSIL2A_20190629T212529_R043_T06VVN_20201006T080531.json"
)
TO_SCL = np.array([0, 0, 8, 9, 3, 4, 6, 11], dtype=np.uint8)
PAD_BEFORE, PAD_AFTER = 2, 1  # label cells of "tile" around the label grid


def compact_l1c(item_id: str) -> str:
    """The compact name of a label item's L1C (the hub's answer for a legacy one)."""
    return constants.LEGACY_TO_COMPACT.get(item_id, item_id)


def l2a_name(item_id: str, baseline: str, generated: str, orbit_shift: int = 0) -> str:
    """The L2A name of the same datatake: level, baseline and discriminator replaced."""
    parts = compact_l1c(item_id).split("_")
    parts[1] = "MSIL2A"
    parts[3] = "N" + baseline.replace(".", "")
    parts[4] = f"R{int(parts[4][1:]) + orbit_shift:03d}"
    parts[6] = generated
    return "_".join(parts)


def scl_cog(label_path: Path) -> tuple[bytes, np.ndarray, tuple[int, int]]:
    """The fake SCL COG, its values, and the label grid's (row, col) offset in it, in SCL px."""
    with rasterio.open(label_path) as src:
        classes, t, crs = src.read(1), src.transform, src.crs
    fine = np.kron(TO_SCL[classes], np.ones((3, 3), dtype=np.uint8))
    before, after = 3 * PAD_BEFORE, 3 * PAD_AFTER
    tile = np.pad(fine, ((before, after), (before, after)), constant_values=4)
    transform = Affine(t.a / 3, 0, t.c - before * t.a / 3, 0, t.e / 3, t.f - before * t.e / 3)
    profile = dict(
        driver="COG",
        width=tile.shape[1],
        height=tile.shape[0],
        count=1,
        dtype="uint8",
        crs=crs,
        transform=transform,
        nodata=0,
        blocksize=256,
        compress="deflate",
    )
    buffer = BytesIO()
    with rasterio.MemoryFile() as mem:
        with mem.open(**profile) as dst:
            dst.write(tile, 1)
        buffer.write(mem.read())
    return buffer.getvalue(), fine, (before, before)


@dataclass
class FakeL2A:
    server: HTTPServer
    features: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # collection -> items
    searches: list[dict[str, Any]] = field(default_factory=list)
    ranges: list[str] = field(default_factory=list)  # Range headers of COG reads
    token: str | None = None  # a SAS token the COG reads must carry

    @property
    def api(self) -> str:
        return self.server.url_for("/api").rstrip("/")

    def start(self) -> FakeL2A:
        self.server.expect_request("/api/search", method="POST").respond_with_handler(self._search)
        self.server.expect_request("/sas/sentinel-2-l2a").respond_with_handler(self._token)
        return self

    def _token(self, request: Request) -> Response:
        body = {"msft:expiry": "2026-12-31T00:00:00Z", "token": self.token or ""}
        return Response(json.dumps(body), mimetype="application/json")

    def _search(self, request: Request) -> Response:
        body = json.loads(request.data)
        self.searches.append(body)
        start, end = body["datetime"].split("/")
        found = [
            f
            for f in self.features.get(body["collections"][0], [])
            if start <= f["properties"]["datetime"] <= end
        ]
        page = {"type": "FeatureCollection", "features": found, "links": []}
        return Response(json.dumps(page), mimetype="application/geo+json")

    def serve_cog(self, path: str, data: bytes) -> str:
        def handler(request: Request) -> Response:
            if self.token is not None and request.query_string.decode() != self.token:
                return Response("no token", status=403)
            if "Range" in request.headers:
                self.ranges.append(request.headers["Range"])
            response = Response(data, mimetype="image/tiff")
            return response.make_conditional(request, accept_ranges=True, complete_length=len(data))

        self.server.expect_request(path).respond_with_handler(handler)
        return self.server.url_for(path)

    def add(
        self,
        collection: str,
        label: dict[str, Any],
        label_path: Path,
        *,
        baseline: str,
        generated: str,
        orbit_shift: int = 0,
        planetary: bool = False,
    ) -> tuple[dict[str, Any], np.ndarray, tuple[int, int]]:
        """A fake L2A item of a label item's datatake (another orbit with `orbit_shift`)."""
        name = l2a_name(label["id"], baseline, generated, orbit_shift)
        data, fine, offset = scl_cog(label_path)
        item = copy.deepcopy(json.loads((PC_ITEM if planetary else ES_ITEM).read_text()))
        props = item["properties"]
        parts = name.split("_")  # Earth Search ids: S2A_39QTA_20230628_0_L2A
        es_id = f"{parts[0]}_{parts[5][1:]}_{parts[2][:8]}_{orbit_shift}_L2A"
        item["id"] = name if planetary else es_id
        item["bbox"], item["geometry"] = label["bbox"], label["geometry"]
        props["datetime"] = label["properties"]["datetime"]
        props["s2:product_uri"] = name + ".SAFE"
        props["s2:processing_baseline"] = baseline
        props["s2:generation_time"] = f"{generated[:4]}-{generated[4:6]}-{generated[6:8]}T00:00:00Z"
        key = "SCL" if planetary else "scl"
        item["assets"][key]["href"] = self.serve_cog(f"/cogs/{item['id']}/SCL.tif", data)
        self.features.setdefault(collection, []).append(item)
        return item, fine, offset
