"""A product found at a provider: the one thing a provider hands the fetch.

A provider (safe, gcs, earth-search, cdse) answers, for a label item, with a `Located`: which
product it holds for that datatake, whether it is the original or the Collection-1 successor,
and a GDAL-readable path for each band file. The fetch needs nothing else from it.
Credentials never appear here: `gdal_options` carries only non-secret settings (the
requester-pays flag, an endpoint), GDAL takes the keys from the environment or the usual files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from stacgen.errors import StacgenError
from stacgen.layout.imagery import Kind
from stacgen.source.naming import ProductName


class ImageryError(StacgenError):
    """A product that cannot be found, read or trusted; the message is the CLI's one line."""


@dataclass(frozen=True)
class Located:
    """The product a provider holds for one label item, and where its band files are."""

    provider: str  # "safe", "gcs", "earth-search", "cdse"
    item_id: str  # the label item's id
    product: ProductName  # the provider's product (the original, or its successor)
    kind: Kind  # "original" or "reprocessed"
    provider_ref: str  # the provider's item URL, bucket folder or local path (rel=derived_from)
    bands: dict[str, str]  # band name (B01 ... B12, B8A) -> GDAL path (local, /vsicurl/, /vsis3/)
    metadata: str | None = None  # GDAL path of MTD_MSIL1C.xml (or productInfo.json), if any
    # The DN offset of each band (RADIO_ADD_OFFSET, -1000 from baseline 04.00 on), 0 if none;
    # None: not yet read (the fetch reads it from `metadata`).
    radio_add_offset: dict[str, int] | None = None
    sizes: dict[str, int] = field(default_factory=dict)  # band -> bytes, where the provider knows
    gdal_options: dict[str, str] = field(default_factory=dict)  # non-secret GDAL config options
    # `s2:datatake_id` (`GS2B_<start>_<absolute orbit>_N<baseline>`), where the provider says it.
    datatake_id: str | None = None

    @property
    def baseline(self) -> str | None:
        """The product's baseline (a legacy name's, through its compact name)."""
        compact = self.product.compact
        return compact.baseline if compact else self.product.baseline


class Provider(Protocol):
    """Finds the product of a label item's datatake; raises ImageryError when it cannot."""

    name: str

    def locate(self, item_id: str, product: ProductName) -> Located: ...
