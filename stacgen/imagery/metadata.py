"""The product metadata of an L1C SAFE (`MTD_MSIL1C.xml`, or the old format's `..._MTD_SAFL1C_...
.xml`): what the fetch needs to trust a product and to harmonise its radiometry.

Both layouts are read with the element names alone (their namespaces differ, psd-13 and psd-14;
the elements that matter sit in the same places): PROCESSING_BASELINE, PRODUCT_URI (the product
name in compact products; a number and a date in old ones), the datatake (SPACECRAFT_NAME,
DATATAKE_SENSING_START, SENSING_ORBIT_NUMBER), the granules (`Granule` or `Granules`, with
their `granuleIdentifier`), and `RADIO_ADD_OFFSET band_id="0".."12"` (baseline 04.00 on;
absent before, which means 0). band_id follows the products' band order, B8A after B08.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime

from stacgen.imagery.located import ImageryError
from stacgen.layout.imagery import BANDS
from stacgen.source.naming import granule_tile

# The metadata of one product is tens of kB (45 kB for baseline 05.09); anything far larger is
# not a product's metadata.
MAX_BYTES = 16 << 20


@dataclass(frozen=True)
class ProductMetadata:
    baseline: str | None
    product_uri: str | None
    spacecraft: str | None  # "Sentinel-2A"
    sensing_start: datetime | None
    relative_orbit: int | None
    granules: tuple[str, ...]  # granuleIdentifier of each granule
    offsets: dict[str, int] = field(default_factory=dict)  # band -> RADIO_ADD_OFFSET

    @property
    def tiles(self) -> tuple[str, ...]:
        found = (granule_tile(g) for g in self.granules)
        return tuple(dict.fromkeys(t for t in found if t))

    def offset(self, band: str) -> int:
        return self.offsets.get(band, 0)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _text(root: ET.Element, name: str) -> str | None:
    for el in root.iter():
        if _local(el.tag) == name and el.text and el.text.strip():
            return el.text.strip()
    return None


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def parse_metadata(data: bytes, where: str) -> ProductMetadata:
    """The metadata in `data` (read from `where`, named in errors)."""
    if len(data) > MAX_BYTES:
        raise ImageryError(f"{where}: {len(data)} bytes is not an L1C product's metadata")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as err:
        raise ImageryError(f"{where}: not readable XML ({err})") from None
    if "Level-1C_User_Product" not in _local(root.tag):
        raise ImageryError(f"{where}: not an L1C product's metadata ({_local(root.tag)})")
    granules = tuple(
        el.attrib["granuleIdentifier"]
        for el in root.iter()
        if _local(el.tag) in ("Granule", "Granules") and "granuleIdentifier" in el.attrib
    )
    orbit = _text(root, "SENSING_ORBIT_NUMBER")
    return ProductMetadata(
        baseline=_text(root, "PROCESSING_BASELINE"),
        product_uri=_text(root, "PRODUCT_URI"),
        spacecraft=_text(root, "SPACECRAFT_NAME"),
        sensing_start=_when(_text(root, "DATATAKE_SENSING_START")),
        relative_orbit=int(orbit) if orbit and orbit.isdigit() else None,
        granules=granules,
        offsets=_offsets(root, where),
    )


def _offsets(root: ET.Element, where: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for el in root.iter():
        if _local(el.tag) != "RADIO_ADD_OFFSET":
            continue
        try:
            index, value = int(el.attrib["band_id"]), int(float((el.text or "").strip()))
            found[BANDS[index].name] = value
        except (KeyError, ValueError, IndexError):
            raise ImageryError(
                f"{where}: RADIO_ADD_OFFSET {el.attrib} {el.text!r} is not a band's offset"
            ) from None
    return found
