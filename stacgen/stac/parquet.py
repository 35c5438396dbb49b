"""items.parquet: every item of the collection as stac-geoparquet, one row per item."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pystac
import stac_geoparquet.arrow

from stacgen import constants
from stacgen.fileutil import digests, sha256_multihash

ITEMS_PARQUET = "items.parquet"
# The authors' used_parameters.json, verbatim in each item: its values may change type between
# scenes ("nb_samples": "1831" in one, 1831 in another), which no parquet column can hold, so
# the parquet row carries it as the JSON text instead.
VERBATIM_JSON = "alcd:parameters"
# The IANA-registered type (2024), which stac-geoparquet uses; not pystac's older x-parquet.
PARQUET = pystac.MediaType.VND_APACHE_PARQUET


def write_items_parquet(collection_dir: Path, item_ids: list[str]) -> Path:
    """Write items.parquet from each item's JSON as saved under `collection_dir`."""
    dicts = [_row(json.loads((collection_dir / i / f"{i}.json").read_text())) for i in item_ids]
    target = collection_dir / ITEMS_PARQUET
    stac_geoparquet.arrow.parse_stac_items_to_parquet(dicts, output_path=target)
    return target


def _row(item: dict[str, Any]) -> dict[str, Any]:
    """The item as a parquet row: its verbatim JSON properties as JSON text."""
    properties = item.get("properties") or {}
    if VERBATIM_JSON in properties:
        text = json.dumps(properties[VERBATIM_JSON], sort_keys=True, ensure_ascii=False)
        item = {**item, "properties": {**properties, VERBATIM_JSON: text}}
    return item


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
