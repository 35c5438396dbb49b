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
  links), and each property one type in every item: both readers fill a key that some rows
  lack with null. (The authors' parameters, whose values may change type from scene to scene,
  are assets, not properties: items.py.)
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pystac
import stac_geoparquet.arrow

from stacgen import constants
from stacgen.errors import StacgenError
from stacgen.fileutil import digests, sha256_multihash
from stacgen.layout.media import PARQUET
from stacgen.stac.links import map_hrefs

ITEMS_PARQUET = constants.ITEMS_PARQUET
# What an always-null column is stored as: any struct type reads back as null in both readers.
_NULL_STRUCT = pa.struct([pa.field("null", pa.bool_())])


class ParquetError(StacgenError):
    """The items cannot be one table: the message names the file and the problem."""


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
        raise ParquetError(f"{target}: a field changes type between items ({err})") from err
    schema = pa.schema(
        [pa.field(f.name, _typed(f.type), f.nullable, f.metadata) for f in table.schema],
        metadata=table.schema.metadata,
    )
    target.unlink(missing_ok=True)  # may be a hard link to a previous build's file
    stac_geoparquet.arrow.to_parquet(table.cast(schema), target)


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
