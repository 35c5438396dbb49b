"""The label collection's layout: the assets of every item, their file names in the item folder,
titles, media types and roles, as the builder writes them and everyone else reads them.

The builder names its files from this table (assemble/process.py), the item and collection
builders describe them from it (stac/items.py, stac/collection.py: `item_assets`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pystac

from stacgen import constants
from stacgen.layout.media import ZIP

COORD_DECIMALS = 7  # about 1 cm: stable output, far below the 60 m pixel

GEOTIFF_COG = pystac.MediaType.COG


@dataclass(frozen=True)
class AssetSpec:
    """What every item says of one of its assets; also the collection's item_assets entry."""

    key: str
    filename: str
    title: str
    media_type: str
    roles: tuple[str, ...]
    description: str
    source: str | None = None  # a file carried over unchanged: its path in the scene folder


ASSETS: tuple[AssetSpec, ...] = (
    AssetSpec(
        "classification",
        "classification.tif",
        "Reference cloud mask",
        GEOTIFF_COG,
        ("data", "labels", "labels-raster"),
        "ALCD class of every 60 m pixel (0 no data, 2-7 see classification:classes), "
        "with the class colours (color_hint) as an embedded palette.",
    ),
    AssetSpec(
        "confidence",
        "confidence.tif",
        "Classification confidence",
        GEOTIFF_COG,
        # Data only: readers that skip "metadata" assets (GDAL's STACIT) must still offer it.
        ("data",),
        "Share of the random-forest votes for the winning class, median-filtered (11x11) and "
        "scaled to 1-255; 0 where the classification has no data. Not a calibrated probability.",
    ),
    AssetSpec(
        "visual",
        "visual.tif",
        "Classes in colour",
        GEOTIFF_COG,
        ("visual", "overview"),
        "RGBA picture of the classes in their colours (color_hint), transparent where there is no "
        "data, for web maps that do not read palettes.",
    ),
    AssetSpec(
        "thumbnail",
        "thumbnail.png",
        "Thumbnail",
        pystac.MediaType.PNG,
        ("thumbnail",),
        "256 x 256 px picture of the classes in their colours (color_hint).",
    ),
    AssetSpec(
        "contours",
        "contours.png",
        "Class contours over true colour",
        pystac.MediaType.PNG,
        ("overview",),
        "The authors' picture: class outlines over a true-colour image (clouds green, shadows "
        "yellow, water blue, snow purple); same pixel grid as the classification, not "
        "georeferenced.",
    ),
    AssetSpec(
        "samples",
        "samples.geojson",
        "Training samples",
        pystac.MediaType.GEOJSON,
        ("labels", "labels-vector", "labels-training"),
        "The hand-picked sample points of the scene in WGS84, each with `class` (value) and "
        "`class_name`, the class taken from the name of the shapefile it came from, and the "
        "archive subsets whose copy holds it (`subset`, the first; `subsets`, all): a product "
        "in both subsets has both copies' points, a point identical in both listed once.",
    ),
    AssetSpec(
        "samples_shapefile",
        "samples_shapefile.zip",
        "Training samples (original shapefiles)",
        ZIP,
        ("labels", "source"),
        "The authors' Samples/ point shapefiles, one per class, zipped untouched (tile UTM CRS), "
        "under <subset>/Samples/ for each copy of the product.",
    ),
)
# One of each per copy of the product (the shared product has two): see subset_assets.
_PER_COPY: tuple[AssetSpec, ...] = (
    AssetSpec(
        "parameters",
        "used_parameters.json",
        "ALCD parameters",
        pystac.MediaType.JSON,
        ("metadata",),
        "The authors' used_parameters.json: site, dates and the cloud-free reference product.",
        constants.PARAMETERS,
    ),
    AssetSpec(
        "statistics",
        "k_fold_summary.json",
        "Cross-validation statistics",
        pystac.MediaType.JSON,
        ("metadata",),
        "The authors' k_fold_summary.json: 10-fold cross-validation of cloud or shadow against "
        "clear on held-out samples (accuracy, f1_score, precision, recall, specificity).",
        constants.STATISTICS,
    ),
)


def subset_assets(subset: str) -> tuple[AssetSpec, ...]:
    """The assets of one subset's copy: keys and file names that show the subset, e.g.
    `statistics_hollstein` -> `Hollstein_k_fold_summary.json`."""
    return tuple(
        AssetSpec(
            f"{spec.key}_{subset.lower()}",
            f"{subset}_{spec.filename}",
            f"{spec.title} ({subset} copy)",
            spec.media_type,
            spec.roles,
            f"{spec.description} From the copy in the archive's {subset}/ folder, unchanged.",
            spec.source,
        )
        for spec in _PER_COPY
    )


def asset_specs(subsets: Sequence[str]) -> tuple[AssetSpec, ...]:
    """Every asset of an item whose product is in `subsets`."""
    return ASSETS + tuple(spec for subset in subsets for spec in subset_assets(subset))


ASSET_BY_KEY = {a.key: a for a in ASSETS}
# Every asset any item can have, for the collection's item_assets.
ALL_ASSETS = asset_specs(constants.SUBSETS)


LABEL_ASSET = "classification"  # the asset whose classification:classes count the pixels


def pixel_counts(item: Mapping[str, Any]) -> dict[str, int]:
    """Pixels of each ALCD class, by name, of a label item's JSON: the `count` of each class on
    its classification asset (their one copy since issue 24), else the label extension's
    `label:overviews` of a catalog built before. A class without a count is left out."""
    asset = (item.get("assets") or {}).get(LABEL_ASSET) or {}
    counts = {
        str(c["name"]): int(c["count"])
        for c in asset.get("classification:classes") or ()
        if isinstance(c, Mapping) and "name" in c and "count" in c
    }
    if counts:
        return counts
    for overview in (item.get("properties") or {}).get("label:overviews") or ():
        for entry in overview.get("counts") or ():
            name = str(entry["name"])
            counts[name] = counts.get(name, 0) + int(entry["count"])
    return counts
