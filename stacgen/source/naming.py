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


# --- identity across archives ----------------------------------------------------------------
Identity = Literal["original", "reprocessed"]

# Granule folders: compact `L1C_T31TFJ_A011848_20171002T103209`, old
# `S2A_OPER_MSI_L1C_TL_SGS__20160905T073438_A006291_T53HNA_N02.04`; both carry the absolute orbit.
_GRANULE_COMPACT = re.compile(rf"^L1C_T(?P<tile>{_TILE_ID})_A(?P<orbit>\d{{6}})_{_STAMP}$")
_GRANULE_OLD = re.compile(
    rf"^S2[A-D]_OPER_MSI_L1C_TL_\w{{4}}_{_STAMP}_A(?P<orbit>\d{{6}})_T(?P<tile>{_TILE_ID})_N\d\d\.\d\d$"
)
# A band's JPEG 2000 file in any layout: `T31TFJ_20171002T103009_B8A.jp2`, `..._T53HNA_B01.jp2`,
# Sinergise's `B04.jp2`.
_BAND_FILE = re.compile(r"(?:^|_)(?P<band>B(?:0[1-9]|1[0-2]|8A))\.jp2$", re.IGNORECASE)
_SINERGISE_TILE = re.compile(
    r"^tiles/(?P<zone>\d{1,2})/(?P<band>[C-X])/(?P<square>[A-Z]{2})/(?P<year>\d{4})/"
    r"(?P<month>\d{1,2})/(?P<day>\d{1,2})/(?P<sequence>\d+)(?:/|$)"
)


def identity(wanted: ProductName, found: ProductName) -> Identity | None:
    """What `found` (a provider's product) is to `wanted` (a label item's): the same product
    (its name, or a legacy product's compact name), the Collection-1 successor of its datatake,
    or neither (None). Never judged by the date alone."""
    names = {wanted.name} | ({wanted.compact.name} if wanted.compact else set())
    if found.name in names:
        return "original"
    if found.is_collection_1 and same_datatake(wanted, found):
        return "reprocessed"
    return None


def product_name_of(text: str) -> ProductName:
    """A provider's product name (`s2:product_uri`, a bucket folder, a STAC id): `.SAFE` and a
    trailing slash dropped; a ValueError when it names no L1C product."""
    return parse_product_name(text.rstrip("/").removesuffix(".SAFE"), "L1C")


def datatake_search_prefix(product: ProductName) -> str | None:
    """The start shared by every compact name of the product's datatake and tile, whatever its
    baseline: `S2B_MSIL1C_20171002T103009_` (a bucket listing's prefix)."""
    compact = product.compact
    if compact is None:
        return None
    return f"{compact.mission}_MSIL1C_{stamp(compact.datetime)}_"


def granule_absolute_orbit(granule: str, tile: str) -> int | None:
    """The absolute orbit in a granule folder's name, if the folder is of `tile`."""
    m = _GRANULE_COMPACT.match(granule) or _GRANULE_OLD.match(granule)
    if m is None or m["tile"] != tile:
        return None
    return int(m["orbit"])


def datatake_identifier(product: ProductName, absolute_orbit: int) -> str | None:
    """`s2:datatake_id` as the metadata writes it: `GS2B_20171002T103009_002963_N02.05`."""
    compact = product.compact
    if compact is None or compact.baseline is None:
        return None
    start = stamp(compact.datetime)
    return f"G{compact.mission}_{start}_{absolute_orbit:06d}_N{compact.baseline}"


def band_of_file(path: str) -> str | None:
    """The band (`B01` ... `B12`, `B8A`) whose JPEG 2000 file `path` is, or None."""
    m = _BAND_FILE.search(path.rsplit("/", 1)[-1])
    return m["band"].upper() if m else None


def sinergise_tile_folder(path: str) -> tuple[Tile, int] | None:
    """The tile and sequence of a `tiles/31/T/FJ/2017/10/2/0/...` key of Sinergise's buckets."""
    m = _SINERGISE_TILE.match(path)
    if m is None:
        return None
    return Tile(f"{int(m['zone']):02d}{m['band']}{m['square']}"), int(m["sequence"])


def sinergise_product_path(product: ProductName) -> str | None:
    """`products/2017/10/2/<name>`: the product's metadata folder in `sentinel-s2-l1c`."""
    compact = product.compact
    if compact is None:
        return None
    d = compact.datetime
    return f"products/{d.year}/{d.month}/{d.day}/{compact.name}"


# --- the files inside a SAFE product --------------------------------------------------------
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
