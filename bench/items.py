"""`make bench` (item sizes, issue 24): what an item and a 10-item search page weigh.

Prints, for one built catalog: the bytes of each item JSON as written (mean, min, max), then the
10-item pages of the embedded backend's `/search` (each page's JSON, the mean per item, and what
gzip sends), beside the floor measured in the same run: the same pages with each item cut to
what a client needs to find and fetch it (id, bbox, geometry, datetime, asset hrefs), the least
a search page can carry. `python -m bench.items DIR` measures any catalog folder (so the same
lines can be taken of a catalog built by an older stacgen).

Issue 24, the full-size synthetic catalog (37 items), this module on both builds: before
(2ca6b6b, pystac 1.16.1 installed, so already without the band copy of the classes) an item
JSON 19.4 KiB, a 10-item page 141.3 KiB (gzip 19.6 KiB); after 18.0 KiB and 134.0 KiB (gzip
18.7 KiB); the floor 32.0 KiB both times.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import statistics
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import requests

from stacgen import constants
from stacgen.serve.server import serve

PAGE = 10
TIMEOUT = 60


def item_files(catalog: Path) -> list[Path]:
    """Each item JSON of the label collection (the file named as its folder)."""
    folder = catalog / constants.COLLECTION_ID
    return sorted(p for p in folder.glob("*/*.json") if p.stem == p.parent.name)


def pages(api: str) -> Iterator[bytes]:
    """The bodies of every 10-item page of GET /search, following the `next` links."""
    url: str | None = f"{api}search?limit={PAGE}"
    while url is not None:
        answer = requests.get(url, timeout=TIMEOUT)
        answer.raise_for_status()
        body = answer.content
        yield body
        links = json.loads(body).get("links", [])
        url = next((lk["href"] for lk in links if lk.get("rel") == "next"), None)


def floor_page(body: bytes) -> bytes:
    """The page with each item cut to what finds and fetches it: the least a page can carry."""
    page = json.loads(body)
    page["features"] = [
        {
            "type": "Feature",
            "stac_version": f.get("stac_version"),
            "id": f["id"],
            "collection": f.get("collection"),
            "bbox": f.get("bbox"),
            "geometry": f.get("geometry"),
            "properties": {"datetime": f["properties"].get("datetime")},
            "assets": {key: {"href": a["href"]} for key, a in f.get("assets", {}).items()},
            "links": [],
        }
        for f in page["features"]
    ]
    return compact(page)


def compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def kib(n: float) -> str:
    return f"{n / 1024:.1f} KiB"


def spread(values: Sequence[int]) -> str:
    return f"mean {kib(statistics.mean(values))} (min {kib(min(values))}, max {kib(max(values))})"


def run(catalog: Path) -> list[str]:
    """The size lines of `catalog`, served by the embedded backend on a free port."""
    files = item_files(catalog)
    if not files:
        raise SystemExit(f"{catalog}: no item of {constants.COLLECTION_ID}")
    sizes = [p.stat().st_size for p in files]
    quiet = logging.getLogger("stacgen.serve")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # its STAC Browser hint: the pages are what is measured
    try:
        with serve(catalog, "127.0.0.1", 0) as server:
            bodies = list(pages(server.urls.api))
    finally:
        quiet.setLevel(level)
    full = [b for b in bodies if len(json.loads(b)["features"]) == PAGE]
    if not full:
        raise SystemExit(f"{catalog}: fewer than {PAGE} items, no full page to measure")
    floors = [len(floor_page(b)) for b in full]
    sent = [len(gzip.compress(b, 5)) for b in full]  # the API's GZipMiddleware level
    per_item = [len(b) / PAGE for b in full]
    ratio = statistics.mean(len(b) for b in full) / statistics.mean(floors)
    return [
        f"item JSON ({len(files)} items, as written): {spread(sizes)}",
        f"search page of {PAGE} items, embedded backend ({len(full)} full pages): "
        f"{spread([len(b) for b in full])}, {kib(statistics.mean(per_item))} an item; "
        f"gzip {spread(sent)}",
        f"floor (the same pages, items cut to id, bbox, geometry, datetime, asset hrefs): "
        f"{spread(floors)}; page / floor {ratio:.1f}x",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("catalog", type=Path, help="a built catalog folder")
    args = parser.parse_args(argv)
    for line in run(args.catalog):
        print(line)


if __name__ == "__main__":
    main()
