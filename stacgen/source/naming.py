"""Sentinel-2 names, in one place: products (compact and legacy), MGRS tiles, datatakes.

Everything that parses or builds a Sentinel-2 name lives here: the scene folders' product
names, the product names and tiles found in a mask's file name, the identity of a datatake
(what says two products hold the same acquisition), and the names the public archives give a
product (the Earth Search item id, the Google bucket folder, the Sinergise tile path, the
Copernicus Data Space item URL). Nothing here touches a network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from stacgen import constants

Level = Literal["L1C", "L2A"]
Form = Literal["compact", "legacy"]

_STAMP = r"\d{8}T\d{6}"
_TILE_ID = r"\d{2}[C-X][A-Z]{2}"
# Planetary Computer drops the N field from its L2A ids (`S2B_MSIL2A_..._R043_T06VVN_...`).
_COMPACT = (
    rf"(?P<mission>S2[A-D])_MSI(?P<level>L1C|L2A)_(?P<start>{_STAMP})(?:_N(?P<baseline>\d{{4}}))?"
    rf"_R(?P<orbit>\d{{3}})_T(?P<tile>{_TILE_ID})_(?P<discriminator>{_STAMP})"
)
_LEGACY = (
    rf"(?P<mission>S2[A-D])_OPER_PRD_MSI(?P<level>L1C|L2A)_PDMC_(?P<generated>{_STAMP})"
    rf"_R(?P<orbit>\d{{3}})_V(?P<start>{_STAMP})_(?P<stop>{_STAMP})"
)
_COMPACT_WHOLE = re.compile(f"^{_COMPACT}$")
_LEGACY_WHOLE = re.compile(f"^{_LEGACY}$")
# Inside a longer text (a file name): not glued to other letters or digits.
_EDGE_BEFORE, _EDGE_AFTER = r"(?<![A-Za-z0-9])", r"(?![A-Za-z0-9])"
_COMPACT_IN = re.compile(_EDGE_BEFORE + _COMPACT + _EDGE_AFTER)
_LEGACY_IN = re.compile(_EDGE_BEFORE + _LEGACY + _EDGE_AFTER)
_TILE_WHOLE = re.compile(r"^(?P<zone>\d{2})(?P<band>[C-X])(?P<square>[A-Z]{2})$")
# `T31TFJ` in a file name: MGRS latitude bands skip I and O, 100 km squares skip I and O too
# (columns A-Z, rows A-V).
_TILE_IN = re.compile(r"(?<![A-Za-z0-9])T(\d{2}[C-HJ-NP-X][A-HJ-NP-Z][A-HJ-NP-V])(?![A-Za-z0-9])")
_DATE_IN = re.compile(r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})(?!\d)")
# A tile and a date, `32TMR_20160323`: what some folders' `location` holds instead of a place.
_TILE_DATE = re.compile(rf"^{_TILE_ID}_\d{{8}}$")

# ESA's Collection-1 reprocessing (baseline 05.00, S2A from July 2015, S2B from March 2017, to
# the end of 2021) and its continuation (05.10) rename every product it touches.
COLLECTION_1_BASELINES: tuple[str, ...] = ("05.00", "05.10")
_COMPACT_TO_LEGACY = {v: k for k, v in constants.LEGACY_TO_COMPACT.items()}

CDSE_ITEM_URL = "https://stac.dataspace.copernicus.eu/v1/collections/sentinel-2-l1c/items/{name}"
EARTH_SEARCH_L1C_ITEM_URL = (
    "https://earth-search.aws.element84.com/v1/collections/sentinel-2-l1c/items/{id}"
)
GCS_BUCKET_URL = "https://storage.googleapis.com/gcp-public-data-sentinel-2"


def utc(stamp: str) -> datetime:
    """A `YYYYMMDDTHHMMSS` stamp of a product name as an aware UTC datetime."""
    return datetime.strptime(stamp, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)


def stamp(moment: datetime) -> str:
    """The `YYYYMMDDTHHMMSS` form of a UTC datetime, as product names write it."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%S")


@dataclass(frozen=True)
class Tile:
    """An MGRS tile id such as 31TFJ and the UTM projection it implies."""

    id: str

    @property
    def zone(self) -> int:
        return int(self.id[:2])

    @property
    def latitude_band(self) -> str:
        return self.id[2]

    @property
    def grid_square(self) -> str:
        return self.id[3:]

    @property
    def epsg(self) -> int:
        # Bands C-M are south of the equator.
        return (32700 if self.latitude_band < "N" else 32600) + self.zone

    @property
    def grid_code(self) -> str:
        """`grid:code` as Earth Search and the Copernicus Data Space write it."""
        return f"MGRS-{self.id}"


def parse_tile(value: object) -> Tile:
    """`31TFJ` or `T31TFJ` as a Tile; anything else is a ValueError."""
    text = str(value).removeprefix("T")
    if not _TILE_WHOLE.match(text) or not 1 <= int(text[:2]) <= 60:
        raise ValueError(f"{value!r} is not an MGRS tile id like 31TFJ")
    return Tile(text)


@dataclass(frozen=True)
class Datatake:
    """What makes two products the same acquisition of the same tile.

    A product's name changes with each reprocessing (baseline, discriminator); the platform,
    the datatake's sensing start, the relative orbit and the tile do not.
    """

    mission: str
    sensing_start: datetime
    relative_orbit: int
    tile: str

    def __str__(self) -> str:
        return f"{self.mission} {stamp(self.sensing_start)} R{self.relative_orbit:03d} T{self.tile}"


@dataclass(frozen=True)
class ProductName:
    """A Sentinel-2 product name in either of its two forms.

    For a compact name `datetime` is the datatake sensing start; for a legacy name it is the
    validity start (the acquisition time), which is not always the datatake's start.
    """

    name: str
    form: Form
    level: Level
    mission: str
    datetime: datetime
    relative_orbit: int
    tile: str | None
    baseline: str | None
    discriminator: str | None = None

    @property
    def platform(self) -> str:
        return "sentinel-" + self.mission[1:].lower()

    @property
    def is_collection_1(self) -> bool:
        return self.baseline in COLLECTION_1_BASELINES

    @property
    def compact(self) -> ProductName | None:
        """The compact name of the same product: itself, or the hub's answer for a legacy one."""
        if self.form == "compact":
            return self
        name = constants.LEGACY_TO_COMPACT.get(self.name)
        return parse_product_name(name, self.level) if name else None

    @property
    def datatake(self) -> Datatake | None:
        """The datatake of this product (a legacy one's through its compact name), if known."""
        compact = self.compact
        if compact is None or compact.tile is None:
            return None
        return Datatake(compact.mission, compact.datetime, compact.relative_orbit, compact.tile)


def parse_product_name(name: str, level: Level | None = "L1C") -> ProductName:
    """Parse a compact or legacy product name (L1C unless `level` says otherwise; None: any).

    Legacy names carry no tile and no baseline. A `.SAFE` suffix is not part of a name.
    """
    if m := _COMPACT_WHOLE.match(name):
        baseline = f"{m['baseline'][:2]}.{m['baseline'][2:]}" if m["baseline"] else None
        product = ProductName(
            name,
            "compact",
            _level(m["level"]),
            m["mission"],
            utc(m["start"]),
            int(m["orbit"]),
            m["tile"],
            baseline,
            m["discriminator"],
        )
    elif m := _LEGACY_WHOLE.match(name):
        product = ProductName(
            name,
            "legacy",
            _level(m["level"]),
            m["mission"],
            utc(m["start"]),
            int(m["orbit"]),
            None,
            None,
        )
    else:
        what = f"Sentinel-2 {level}" if level else "Sentinel-2"
        raise ValueError(f"{name!r} is neither a compact nor a legacy {what} product name")
    if level is not None and product.level != level:
        raise ValueError(
            f"{name!r} is neither a compact nor a legacy Sentinel-2 {level} product name "
            f"(it names an {product.level} product)"
        )
    return product


def _level(text: str) -> Level:
    return "L1C" if text == "L1C" else "L2A"


def compact_product_name(
    mission: str,
    level: Level,
    start: str,
    baseline: str,
    orbit: int,
    tile: str,
    discriminator: str,
) -> str:
    """The compact name of these fields (stamps `YYYYMMDDTHHMMSS`, baseline `02.05`): the
    `S2B_MSIL1C_20171002T103009_N0205_R108_T31TFJ_20171002T103209` that parsing gives back."""
    number = baseline.replace(".", "")
    name = f"{mission}_MSI{level}_{start}_N{number}_R{orbit:03d}_T{tile}_{discriminator}"
    parse_product_name(name, level)  # fields that make no name are a ValueError here
    return name


def legacy_product_name(
    mission: str, level: Level, generated: str, orbit: int, start: str, stop: str
) -> str:
    """The legacy (before December 2016) name of these fields, stamps `YYYYMMDDTHHMMSS`:
    `S2A_OPER_PRD_MSIL1C_PDMC_<generated>_R<orbit>_V<start>_<stop>`."""
    name = f"{mission}_OPER_PRD_MSI{level}_PDMC_{generated}_R{orbit:03d}_V{start}_{stop}"
    parse_product_name(name, level)
    return name


def same_datatake(a: ProductName, b: ProductName) -> bool:
    """Whether two products hold the same acquisition (never judged by the date alone)."""
    return a.datatake is not None and a.datatake == b.datatake


def product_names_in(text: str) -> list[str]:
    """The L1C product names in a text (a file name), legacy names added for compact ones the
    hub gave them, each once, in the order found."""
    found = [m[0] for m in _COMPACT_IN.finditer(text) if m["level"] == "L1C"]
    found += [m[0] for m in _LEGACY_IN.finditer(text) if m["level"] == "L1C"]
    found += [_COMPACT_TO_LEGACY[n] for n in found if n in _COMPACT_TO_LEGACY]
    return list(dict.fromkeys(found))


def tile_in(text: str) -> str | None:
    """The first `T<tile>` in a text (a file name), without its `T`."""
    m = _TILE_IN.search(text)
    return m[1] if m else None


def is_tile_date_code(text: str) -> bool:
    """Whether `text` is a tile and a date such as `32TMR_20160323` (a code, not a place name)."""
    return bool(_TILE_DATE.match(text))


def dates_in(text: str) -> list[tuple[int, int, int]]:
    """Every `YYYYMMDD` or `YYYY-MM-DD` in a text, as (year, month, day), unchecked."""
    return [(int(m[1]), int(m[2]), int(m[3])) for m in _DATE_IN.finditer(text)]


# --- where the public archives keep a product ------------------------------------------------
def earth_search_id(product: ProductName, sequence: int = 0) -> str | None:
    """Earth Search's `sentinel-2-l1c` item id, `S2B_31TFJ_20171002_0_L1C` (sequence usually 0)."""
    compact = product.compact
    if compact is None or compact.tile is None:
        return None
    return f"{compact.mission}_{compact.tile}_{compact.datetime:%Y%m%d}_{sequence}_L1C"


def sinergise_tile_path(product: ProductName, sequence: int = 0) -> str | None:
    """The tile folder in Sinergise's `sentinel-s2-l1c` bucket (month and day unpadded)."""
    compact = product.compact
    if compact is None or compact.tile is None:
        return None
    t, d = Tile(compact.tile), compact.datetime
    return f"tiles/{t.zone}/{t.latitude_band}/{t.grid_square}/{d.year}/{d.month}/{d.day}/{sequence}"


def gcs_tile_prefix(tile: Tile) -> str:
    """The tile's folder in Google's `gcp-public-data-sentinel-2` bucket (zone zero-padded)."""
    return f"tiles/{tile.zone:02d}/{tile.latitude_band}/{tile.grid_square}"


def gcs_product_folder(product: ProductName, tile: Tile) -> str:
    """`tiles/31/T/FJ/<product>.SAFE`: where Google's bucket keeps the product for `tile`."""
    return f"{gcs_tile_prefix(tile)}/{product.name}.SAFE"


def cdse_item_url(product: ProductName) -> str | None:
    """The Copernicus Data Space STAC item of the product's compact name, if it has one."""
    compact = product.compact
    return CDSE_ITEM_URL.format(name=compact.name) if compact else None


# --- the files inside a SAFE product --------------------------------------------------------
# A band image in a granule's IMG_DATA, both layouts: `T31TFJ_20171002T103009_B8A.jp2` (compact)
# and `S2A_OPER_MSI_L1C_TL_SGS__20160905T073438_A006291_T53HNA_B01.jp2` (old format).
_BAND_FILE = re.compile(r"_(?P<band>B(?:0[1-9]|1[0-2]|8A))\.jp2$", re.IGNORECASE)


def band_of_file(file_name: str) -> str | None:
    """The band (`B01` ... `B12`, `B8A`) a granule's JP2 file holds, from its name."""
    m = _BAND_FILE.search(file_name)
    return m["band"].upper() if m else None


def granule_tile(granule_folder: str) -> str | None:
    """The tile of a SAFE granule folder (`L1C_T46UEU_A039970_...`, `S2A_OPER_MSI_L1C_TL_..._
    T53HNA_N02.04`), without its `T`."""
    for part in granule_folder.split("_"):
        if len(part) == 6 and part[0] == "T":
            try:
                return parse_tile(part).id
            except ValueError:
                continue
    return None
