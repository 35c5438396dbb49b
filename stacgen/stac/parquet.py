"""items.parquet: every item of the collection as stac-geoparquet, one row per item."""

from __future__ import annotations

import json
from pathlib import Path

import pystac
import stac_geoparquet.arrow

from stacgen import constants
from stacgen.fileutil import digests, sha256_multihash

ITEMS_PARQUET = "items.parquet"
# The IANA-registered type (2024), which stac-geoparquet uses; not pystac's older x-parquet.
PARQUET = pystac.MediaType.VND_APACHE_PARQUET


def write_items_parquet(collection_dir: Path, item_ids: list[str]) -> Path:
    """Write items.parquet from each item's JSON as saved under `collection_dir`."""
    dicts = [json.loads((collection_dir / i / f"{i}.json").read_text()) for i in item_ids]
    target = collection_dir / ITEMS_PARQUET
    stac_geoparquet.arrow.parse_stac_items_to_parquet(dicts, output_path=target)
    return target


def items_parquet_asset(target: Path, root_href: str | None) -> pystac.Asset:
    """The collection's `items` asset for the written file (absolute under a published root)."""
    href = f"./{ITEMS_PARQUET}"
    if root_href:
        href = f"{root_href.rstrip('/')}/{constants.COLLECTION_ID}/{ITEMS_PARQUET}"
    asset = pystac.Asset(
        href=href,
        title="All items as stac-geoparquet",
        media_type=PARQUET,
        roles=["stac-items"],
    )
    asset.extra_fields["file:size"] = target.stat().st_size
    asset.extra_fields["file:checksum"] = sha256_multihash(digests(target)["sha256"])
    return asset
