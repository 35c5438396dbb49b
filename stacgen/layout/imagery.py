"""The `alcd-l1c` collection: the L1C bands each label was drawn on, as the catalog holds them.

One item per label item, with the same id (the ALCD product name, so that the image and label
of a scene are found from one id), in `<catalog>/alcd-l1c/<id>/<id>.json`. Its band assets are
keyed by band name (`B01` ... `B12`, `B8A`), one uint16 COG each, `<band>.tif`, nodata 0, in
the radiometry of the original products (reflectance = DN / 10000, no offset: a reprocessed
product's `RADIO_ADD_OFFSET` has been applied). The grid is the label grid (every band at 60 m
on the label item's `proj:transform`) or the tile's native grids (10, 20 and 60 m), as the
item's `alcd:imagery_grid` says; each band asset carries its own `proj:shape` and
`proj:transform`. `manifest.json` beside the bands records where every byte came from.

The label item links `rel=source` to its imagery item; the imagery item links
`rel=derived_from` to the provider's item (or product folder) it was read from.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final, Literal, get_args

from stacgen.fileutil import JsonFileError, read_json_object

COLLECTION_ID: Final = "alcd-l1c"
MANIFEST: Final = "manifest.json"
MANIFEST_KEY: Final = "manifest"
# Item properties (alcd: namespace, like the label collection's own fields).
GRID_PROPERTY: Final = "alcd:imagery_grid"
PROVIDER_PROPERTY: Final = "alcd:imagery_provider"
KIND_PROPERTY: Final = "alcd:imagery_kind"  # "original" or "reprocessed"
OFFSET_PROPERTY: Final = "alcd:radio_add_offset_applied"  # the DN offset added, 0 if none

ImageryGrid = Literal["label", "native"]
Kind = Literal["original", "reprocessed"]

# `stacgen imagery resolve` writes, in the catalog's folder, which product each provider holds
# for each label item; the build folds it into the label items (one rel=source link each).
RESOLUTION_FILE: Final = "imagery-resolution.json"
RESOLUTION_FORMAT: Final = 1
# The network providers in the order their links are written (after any original first).
LINK_PROVIDERS: Final = ("earth-search", "gcs", "cdse")
PROVIDER_TITLES: Final = {
    "earth-search": "Earth Search (Element 84) sentinel-2-l1c",
    "gcs": "Google Cloud public bucket gcp-public-data-sentinel-2",
    "cdse": "Copernicus Data Space STAC",
}

# L1C quantification: reflectance = (DN + RADIO_ADD_OFFSET) / 10000; the catalog's DN are
# harmonised to the original baselines' convention, offset 0.
QUANTIFICATION: Final = 10000
SCALE: Final = 1 / QUANTIFICATION
NODATA: Final = 0


@dataclass(frozen=True)
class Band:
    """One MSI band: its name in file names and asset keys, its common name and resolution."""

    name: str
    common_name: str
    resolution: int  # metres, native
    center_wavelength: float  # micrometres
    full_width_half_max: float
    description: str

    @property
    def file_name(self) -> str:
        return f"{self.name}.tif"


# In the order of the 13-band L1C products (B8A after B08), which s2cloudless's 13-band input
# also follows. Wavelengths and common names as Earth Search's sentinel-2-l1c items give them.
BANDS: Final = (
    Band("B01", "coastal", 60, 0.443, 0.027, "Coastal aerosol (band 1)"),
    Band("B02", "blue", 10, 0.49, 0.098, "Blue (band 2)"),
    Band("B03", "green", 10, 0.56, 0.045, "Green (band 3)"),
    Band("B04", "red", 10, 0.665, 0.038, "Red (band 4)"),
    Band("B05", "rededge", 20, 0.704, 0.019, "Red edge 1 (band 5)"),
    Band("B06", "rededge", 20, 0.74, 0.018, "Red edge 2 (band 6)"),
    Band("B07", "rededge", 20, 0.783, 0.028, "Red edge 3 (band 7)"),
    Band("B08", "nir", 10, 0.842, 0.145, "NIR 1 (band 8)"),
    Band("B8A", "nir08", 20, 0.865, 0.033, "NIR 2 (band 8A)"),
    Band("B09", "nir09", 60, 0.945, 0.026, "NIR 3 (band 9)"),
    Band("B10", "cirrus", 60, 1.3735, 0.075, "Cirrus (band 10)"),
    Band("B11", "swir16", 20, 1.61, 0.143, "SWIR 1 (band 11)"),
    Band("B12", "swir22", 20, 2.19, 0.242, "SWIR 2 (band 12)"),
)
BAND_BY_NAME: Final = {b.name: b for b in BANDS}


def band(name: str) -> Band:
    """The band called `name` (`B8A`, `b02`, `B2` ...); anything else is a ValueError."""
    key = name.strip().upper()
    if len(key) == 2 and key[0] == "B" and key[1].isdigit():
        key = f"B0{key[1]}"
    if key not in BAND_BY_NAME:
        raise ValueError(f"{name!r} is not a Sentinel-2 band (B01 ... B12, B8A)")
    return BAND_BY_NAME[key]


def parse_bands(spec: str) -> tuple[Band, ...]:
    """`all` or a comma-separated list of band names, in the products' band order."""
    if spec.strip().lower() == "all":
        return BANDS
    chosen = {band(part).name for part in spec.split(",") if part.strip()}
    if not chosen:
        raise ValueError(f"{spec!r} names no band")
    return tuple(b for b in BANDS if b.name in chosen)


def item_dir(catalog_root: str | os.PathLike[str], item_id: str) -> Path:
    """The folder of the imagery item of label item `item_id` (its JSON, bands, manifest)."""
    return Path(catalog_root) / COLLECTION_ID / item_id


def item_json(catalog_root: str | os.PathLike[str], item_id: str) -> Path:
    return item_dir(catalog_root, item_id) / f"{item_id}.json"


def band_path(catalog_root: str | os.PathLike[str], item_id: str, band_name: str) -> Path:
    """The COG of one band of the imagery item of `item_id` (it may not have been fetched)."""
    return item_dir(catalog_root, item_id) / band(band_name).file_name


@dataclass(frozen=True)
class Resolved:
    """What one provider holds for one label item, as the resolution file records it."""

    provider: str
    ref: str  # the provider's item URL, bucket folder (its manifest.safe) or local path
    product: str  # the provider's product name
    baseline: str | None
    kind: Kind
    resolved_at: str  # ISO 8601 UTC
    datatake_id: str | None = None  # `GS2B_<start>_<absolute orbit>_N<baseline>` when known

    def to_json(self) -> dict[str, Any]:
        found = asdict(self)
        if self.datatake_id is None:
            del found["datatake_id"]
        return found


def resolution_json(items: dict[str, list[Resolved]]) -> dict[str, Any]:
    """The resolution file's content: per label item id, one entry per provider."""
    return {
        "format": RESOLUTION_FORMAT,
        "items": {key: [r.to_json() for r in items[key]] for key in sorted(items)},
    }


def read_resolution(catalog_root: str | os.PathLike[str]) -> dict[str, list[Resolved]]:
    """The catalog's resolution file ({} when there is none); a malformed one is a JsonFileError
    naming the file and the problem."""
    path = Path(catalog_root) / RESOLUTION_FILE
    if not path.exists():
        return {}
    data = read_json_object(path)
    items = data.get("items")
    if data.get("format") != RESOLUTION_FORMAT or not isinstance(items, dict):
        raise JsonFileError(path, f"not a resolution file of format {RESOLUTION_FORMAT}")
    try:
        return {str(k): [_resolved(e) for e in v] for k, v in items.items()}
    except (TypeError, ValueError, KeyError) as err:
        raise JsonFileError(path, f"malformed entry ({err})") from None


def _resolved(entry: Any) -> Resolved:
    if not isinstance(entry, dict):
        raise TypeError(f"{entry!r} is not an object")
    resolved = Resolved(**{k: entry[k] for k in entry if k in Resolved.__dataclass_fields__})
    if resolved.kind not in get_args(Kind):
        raise ValueError(f"kind {resolved.kind!r} is neither original nor reprocessed")
    if not all(isinstance(getattr(resolved, k), str) for k in ("provider", "ref", "product")):
        raise TypeError("provider, ref and product must be strings")
    return resolved
