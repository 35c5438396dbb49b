"""items.parquet: every item of the collection as stac-geoparquet, one row per item.

A faithful snapshot, read back as the same STAC items by stac-geoparquet's and by rustac's
readers (tests/stac/test_parquet.py checks both):
- hrefs are rewritten to resolve from the parquet file's own folder (the collection's), or are
  absolute under --root-href; each row links to its item JSON (`self` when absolute);
- a column that is null in every row (`label:properties`, `label:classes[].name`: the label
  extension's required nulls for raster labels) is written as a null of a struct type. Its
  type would otherwise be arrow's `null`, and rustac drops null values that are not structs,
  so its items would fail the label schema;
- the items themselves have the same keys everywhere (see items.py: `nodata: false`, titled
  links, `alcd:parameters` as a list): both readers fill a key that some rows lack with null.
The one exception: the authors' parameters are verbatim, and their values may change type from
scene to scene (`"nb_samples": "1831"` in one, `1831` in another), which no parquet column can
hold; then `alcd:parameters` is written as its JSON text, with a warning.
"""

from __future__ import annotations

import json
import logging
import posixpath
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pystac
import stac_geoparquet.arrow

from stacgen import constants
from stacgen.fileutil import digests, sha256_multihash
from stacgen.layout.media import PARQUET
from stacgen.stac.links import map_hrefs

log = logging.getLogger(__name__)

ITEMS_PARQUET = constants.ITEMS_PARQUET
# Verbatim JSON from the authors: a column only if its values have one type per key.
VERBATIM_JSON = "alcd:parameters"
# What an always-null column is stored as: any struct type reads back as null in both readers.
_NULL_STRUCT = pa.struct([pa.field("null", pa.bool_())])


def write_items_parquet(collection_dir: Path, item_ids: list[str]) -> Path:
    """Write items.parquet from each item's JSON as saved under `collection_dir`."""
    rows = []
    for item_id in item_ids:
        item = json.loads((collection_dir / item_id / f"{item_id}.json").read_text())
        rows.append(parquet_row(item, f"{item_id}/{item_id}.json"))
    target = collection_dir / ITEMS_PARQUET
    write_rows(rows, target)
    return target


def parquet_row(item: dict[str, Any], item_path: str) -> dict[str, Any]:
    """The item as items.parquet holds it; `item_path` is the item JSON's path relative to the
    parquet file's folder.

    The row links to its item JSON: `self` when the catalog is published (an absolute URL, as
    STAC requires of self links), else `alternate` with a relative href.
    """
    folder = posixpath.dirname(item_path)
    row: dict[str, Any] = map_hrefs(item, lambda href: _from_folder(href, folder))
    published = next(
        (link["href"] for link in item.get("links", []) if link.get("rel") == "self"), None
    )
    links = [link for link in row.get("links", []) if link.get("rel") != "self"]
    links.append(
        {
            "rel": "self" if published else "alternate",
            "href": published or f"./{item_path}",
            "type": pystac.MediaType.GEOJSON,
            "title": f"{item.get('id')} (item JSON)",
        }
    )
    row["links"] = links
    return row


def _is_relative(href: str) -> bool:
    return not urlsplit(href).scheme and not href.startswith("/")


def _from_folder(href: str, folder: str) -> str:
    """A relative href seen from `folder`, seen from the parquet file's folder instead."""
    if not _is_relative(href):
        return href
    joined = posixpath.normpath(posixpath.join(folder, href))
    return joined if joined.startswith("../") else f"./{joined}"


def write_rows(rows: Sequence[dict[str, Any]], target: Path) -> None:
    """Write the rows as stac-geoparquet, always-null columns typed so that they read back."""
    try:
        table = stac_geoparquet.arrow.parse_stac_items_to_arrow(rows).read_all()
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        log.warning(
            "%s: %s changes type between items (%s): written as JSON text",
            target,
            VERBATIM_JSON,
            err,
        )
        rows = [_verbatim_as_text(row) for row in rows]
        table = stac_geoparquet.arrow.parse_stac_items_to_arrow(rows).read_all()
    schema = pa.schema(
        [pa.field(f.name, _typed(f.type), f.nullable, f.metadata) for f in table.schema],
        metadata=table.schema.metadata,
    )
    target.unlink(missing_ok=True)  # may be a hard link to a previous build's file
    stac_geoparquet.arrow.to_parquet(table.cast(schema), target)


def _verbatim_as_text(row: dict[str, Any]) -> dict[str, Any]:
    properties = row.get("properties") or {}
    if VERBATIM_JSON not in properties:
        return row
    text = json.dumps(properties[VERBATIM_JSON], sort_keys=True, ensure_ascii=False)
    return {**row, "properties": {**properties, VERBATIM_JSON: text}}


def _typed(kind: pa.DataType) -> pa.DataType:
    if pa.types.is_null(kind):
        return _NULL_STRUCT
    if pa.types.is_struct(kind):
        return pa.struct([pa.field(f.name, _typed(f.type), f.nullable) for f in kind])
    if pa.types.is_list(kind):
        return pa.list_(_typed(kind.value_type))
    if pa.types.is_large_list(kind):
        return pa.large_list(_typed(kind.value_type))
    return kind


def items_parquet_asset(target: Path, root_href: str | None) -> pystac.Asset:
    """The collection's `items` asset for the written file (absolute under a published root)."""
    href = f"./{ITEMS_PARQUET}"
    if root_href:
        href = f"{root_href.rstrip('/')}/{constants.COLLECTION_ID}/{ITEMS_PARQUET}"
    asset = pystac.Asset(
        href=href,
        title="All items as stac-geoparquet",
        description="Every item of the collection, one row each, with hrefs that resolve from "
        "this file's folder: reads back as the same STAC items with stac-geoparquet "
        "(stac_geoparquet.arrow.stac_table_to_items) or rustac (rustac.read).",
        media_type=PARQUET,
        roles=["stac-items"],
    )
    asset.extra_fields["file:size"] = target.stat().st_size
    asset.extra_fields["file:checksum"] = sha256_multihash(digests(target)["sha256"])
    return asset
