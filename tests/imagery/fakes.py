"""Fakes of the imagery providers on 127.0.0.1, built from the real shapes in ./shapes.

Each fake answers as its service does (the same JSON shapes, the same paging links), from a
small table of products the test chooses: a Google bucket listing API, an Earth Search STAC
search, a Copernicus Data Space STAC search.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from werkzeug import Request, Response

SHAPES = Path(__file__).parent / "shapes"
GCS_BUCKET = "gcp-public-data-sentinel-2"

_COMPACT_TREE = SHAPES / "cdse_eometadatatool_S2A_MSIL1C_20230216T044851_N0509_R076_T46UEU_tree.txt"
_OLD_TREE = (
    SHAPES / "s2reader_S2A_OPER_PRD_MSIL1C_PDMC_20160905T104813_R002_V20160905T005712_"
    "20160905T010424_tree.txt"
)
_ES_SEARCH = SHAPES / "earthsearch_v1_sentinel-2-l1c_search_S2B_27VWK_20240206_0_L1C.json"
_CDSE_ITEM = (
    SHAPES / "cdse_stac_v1_sentinel-2-l1c_S2A_MSIL1C_20240116T000741_N0510_R130_T51CVP_"
    "20240116T010505_eometadatatool_example.json"
)
PRODUCT_INFO = (
    SHAPES / "productInfo_L1C_S2A_MSIL1C_20170302T164311_N0204_R126_T15PUS_from_sentinel-eater_"
    "comment.json"
)


def _tree(path: Path) -> list[tuple[int, str]]:
    rows = []
    for line in path.read_text().splitlines():
        size, name = line.split("\t")
        if not name.endswith("/"):
            rows.append((int(size), name))
    return rows


def compact_safe(name: str, tile: str, granule: str) -> dict[str, int]:
    """The files of a compact SAFE folder `<name>.SAFE/` (relative keys -> sizes): the real
    eometadatatool tree with its product, tile, datatake time and granule replaced."""
    start = name.split("_")[2]
    found = {}
    for i, (size, path) in enumerate(_tree(_COMPACT_TREE)):
        rel = path.split("/", 1)[1]
        rel = rel.replace("L1C_T46UEU_A039970_20230216T045412", granule)
        rel = rel.replace("T46UEU_20230216T044851", f"T{tile}_{start}")
        found[rel] = size or 1_000_000 + i  # the zip listing gives 0 for the JPEG 2000 files
    return found


def old_safe(tile: str) -> dict[str, int]:
    """The files of an old multi-granule SAFE: the real s2reader tree, its granule T53HNA made
    `tile` (the five other granules stay other tiles)."""
    return {
        path.replace("T53HNA", f"T{tile}"): size or 2_000_000 + i
        for i, (size, path) in enumerate(_tree(_OLD_TREE))
    }


@dataclass
class GcsFake:
    """The bucket's JSON listing API (`storage/v1/b/<bucket>/o`: prefix, delimiter, pageToken)
    and its objects (GET/HEAD `/<bucket>/<key>`)."""

    objects: dict[str, int] = field(default_factory=dict)  # key -> size
    page_size: int = 1000
    requests: list[dict[str, str]] = field(default_factory=list)

    def add_product(self, folder: str, files: dict[str, int]) -> None:
        for rel, size in files.items():
            self.objects[f"{folder}/{rel}"] = size

    def __call__(self, request: Request) -> Response:
        if request.path == f"/storage/v1/b/{GCS_BUCKET}/o":
            return self._list(request)
        key = request.path.removeprefix(f"/{GCS_BUCKET}/")
        if request.path.startswith(f"/{GCS_BUCKET}/") and key in self.objects:
            return Response(b"x" * 0, status=200, headers={"Content-Length": "0"})
        return Response("not found", status=404)

    def _list(self, request: Request) -> Response:
        args = dict(request.args)
        self.requests.append(args)
        prefix, delimiter = args.get("prefix", ""), args.get("delimiter")
        entries: list[tuple[str, bool]] = []  # (name, is_prefix), sorted as GCS sorts
        seen: set[str] = set()
        for key in sorted(k for k in self.objects if k.startswith(prefix)):
            rest = key[len(prefix) :]
            if delimiter and delimiter in rest:
                folder = prefix + rest.split(delimiter, 1)[0] + delimiter
                if folder not in seen:
                    seen.add(folder)
                    entries.append((folder, True))
            else:
                entries.append((key, False))
        start = int(args.get("pageToken", "0"))
        page = entries[start : start + self.page_size]
        body: dict[str, Any] = {"kind": "storage#objects"}
        if prefixes := [n for n, is_prefix in page if is_prefix]:
            body["prefixes"] = prefixes
        if items := [n for n, is_prefix in page if not is_prefix]:
            body["items"] = [
                {
                    "kind": "storage#object",
                    "name": n,
                    "bucket": GCS_BUCKET,
                    "size": str(self.objects[n]),
                }
                for n in items
            ]
        if start + self.page_size < len(entries):
            body["nextPageToken"] = str(start + self.page_size)
        return Response(json.dumps(body), content_type="application/json")


def _stamp_iso(stamp: str) -> str:
    return datetime.strptime(stamp, "%Y%m%dT%H%M%S").strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def es_feature(
    product: str,
    tile: str,
    tile_path: str,
    base: str,
    *,
    bucket: str = "sentinel-s2-l1c",
    product_uri: bool = True,
    item_id: str | None = None,
) -> dict[str, Any]:
    """An Earth Search v1 sentinel-2-l1c item: the eodag fixture's, made the item of `product`
    (its tile folder `tile_path`, its band hrefs on `bucket`)."""
    page = json.loads(_ES_SEARCH.read_text())
    feature: dict[str, Any] = copy.deepcopy(page["features"][0])
    mission, _, start, number = product.split("_")[:4]
    baseline = f"{number[1:3]}.{number[3:]}"
    feature["id"] = item_id or f"{mission}_{tile}_{start[:8]}_0_L1C"
    props = feature["properties"]
    props["datetime"] = _stamp_iso(start)
    props["grid:code"] = f"MGRS-{tile}"
    props["s2:processing_baseline"] = baseline
    props["s2:datatake_id"] = f"G{mission}_{start}_003010_N{baseline}"
    props["s2:product_uri"] = f"{product}.SAFE"
    if not product_uri:
        del props["s2:product_uri"]
    for asset in feature["assets"].values():
        asset["href"] = asset["href"].replace(
            "s3://sentinel-s2-l1c/tiles/27/V/WK/2024/2/6/0", f"s3://{bucket}/{tile_path}"
        )
    for link in feature["links"]:
        link["href"] = (
            link["href"]
            .replace("https://earth-search.aws.element84.com/v1", base)
            .replace("S2B_27VWK_20240206_0_L1C", feature["id"])
        )
    return feature


@dataclass
class StacSearchFake:
    """A STAC API `/search` (GET) over a list of items, `page_size` a page, `next` links in the
    services' form (a GET href with a `next` token). `match` decides which items a query gets."""

    base: str  # the API root, e.g. http://127.0.0.1:PORT/v1
    features: list[dict[str, Any]] = field(default_factory=list)
    page_size: int = 1
    queries: list[dict[str, str]] = field(default_factory=list)
    honours_filter: bool = True  # False: a server that ignores `filter` (the client must judge)
    matches_everything: bool = False  # a server that returns every item, whatever it is asked

    def match(self, feature: dict[str, Any], args: dict[str, str]) -> bool:
        if self.matches_everything:
            return True
        if "ids" in args:
            return str(feature["id"]) in args["ids"].split(",")
        if "datetime" in args:
            low, high = args["datetime"].split("/")
            moment = feature["properties"]["datetime"][:19]
            if not low[:19] <= moment <= high[:19]:
                return False
        if "filter" in args and self.honours_filter:
            code = re.search(r"'(MGRS-[0-9A-Z]+)'", args["filter"])
            return code is not None and feature["properties"].get("grid:code") == code[1]
        return True

    def __call__(self, request: Request) -> Response:
        args = dict(request.args)
        self.queries.append(args)
        start = int(args.pop("next", "0"))
        found = [f for f in self.features if self.match(f, args)]
        page = found[start : start + self.page_size]
        links = [{"rel": "root", "type": "application/json", "href": self.base}]
        if start + self.page_size < len(found):
            query = urlencode({**args, "next": str(start + self.page_size)})
            links.append(
                {
                    "rel": "next",
                    "title": "Next page of Items",
                    "method": "GET",
                    "type": "application/geo+json",
                    "href": f"{self.base}/search?{query}",
                }
            )
        body = {
            "type": "FeatureCollection",
            "stac_version": "1.0.0",
            "features": page,
            "links": links,
            "numberMatched": len(found),
            "numberReturned": len(page),
        }
        return Response(json.dumps(body), content_type="application/geo+json")


def cdse_feature(product: str, tile: str, granule: str, base: str) -> dict[str, Any]:
    """A CDSE STAC v1 sentinel-2-l1c item: the eometadatatool example's, made `product`'s."""
    text = _CDSE_ITEM.read_text()
    example = "S2A_MSIL1C_20240116T000741_N0510_R130_T51CVP_20240116T010505"
    start = product.split("_")[2]
    text = text.replace(example, product)
    text = text.replace("L1C_T51CVP_A044743_20240116T000743", granule)
    text = text.replace("T51CVP_20240116T000741", f"T{tile}_{start}")
    text = text.replace("MGRS-51CVP", f"MGRS-{tile}")
    # Collection-1 products sit under L1C_N0500/ (../shared/imagery/README.md, CDSE facts).
    if "_N05" in product:
        text = text.replace(
            "Sentinel-2/MSI/L1C/2024/01/16",
            f"Sentinel-2/MSI/L1C_N0500/{start[:4]}/{start[4:6]}/{start[6:8]}",
        )
    feature: dict[str, Any] = json.loads(text)
    feature["properties"]["datetime"] = _stamp_iso(start)
    feature["links"].append(
        {
            "rel": "self",
            "type": "application/geo+json",
            "href": f"{base}/collections/sentinel-2-l1c/items/{product}",
        }
    )
    return feature
