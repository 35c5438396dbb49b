"""The pure Collection builder: the items and the Zenodo record in, a pystac Collection out."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pystac
from pystac.extensions.classification import ClassificationExtension

from stacgen import constants
from stacgen.layout.labels import ALL_ASSETS
from stacgen.source.zenodo import record_license
from stacgen.stac.items import (
    LABEL_METHODS,
    LABEL_TASKS,
    apply_science,
    class_objects,
)
from stacgen.stac.mlaoi import SCHEMA_URI as ML_AOI_SCHEMA
from stacgen.stac.mlaoi import SPLITS
from stacgen.stac.splits import RULE, class_shares, split_sites

log = logging.getLogger(__name__)

# CommonMark only (STAC Browser renders no tables): lists, code spans, emphasis.
COLLECTION_DESCRIPTION = """\
Reference cloud masks for 37 Sentinel-2 L1C products over 15 MGRS tiles worldwide (2015-2018),
made by Louis Baetens and Olivier Hagolle (CESBIO / CNES) with ALCD, an active-learning method:
an operator picked samples of each class by hand, a random forest with multi-temporal features
classified the tile, and the operator corrected it until the mask was right. They were made to
validate the cloud masks of MAJA, Sen2Cor and FMask (Baetens et al., Remote Sensing 2019), and
serve as ground truth for any Sentinel-2 cloud or shadow detector.

Each item is one L1C product (`id` = the product name). Its `classification` asset holds one
class per pixel:

{classes}

Search by `eo:cloud_cover` (classes 2 and 3), `eo:snow_cover`, `alcd:shadow_cover` and
`alcd:water_cover`, all in percent of the valid pixels and computed from the masks themselves.
`alcd:site` is the place the scene shows. Each item links (`rel=source`) to its L1C product in
the Copernicus Data Space STAC.

**Two subsets.** The archive has a `Reference_dataset` folder (the scenes of the paper's
validation) and a `Hollstein` folder; `alcd:subsets` says which hold a product. The
legacy-named product of tile 29RPQ is in both: it is one item, with each copy's
`used_parameters.json` and `k_fold_summary.json` as assets whose keys name the subset
(`parameters_reference_dataset`, `statistics_hollstein` ...), both copies' sample points in
`samples` (each with its `subset`), and both copies' shapefiles in `samples_shapefile`. The
searchable cross-validation metrics (`alcd:accuracy`, `alcd:f1_score` ...) are those of
the `Reference_dataset` copy, the one the paper used (of the `Hollstein` copy for products
only Hollstein has). The paper left the Hollstein-only scenes out of its MAJA validation:
select them with `alcd:subsets`.

{splits}

Caveats: the masks are at 60 m, not at the 10 or 20 m of the L1C bands; the `confidence` asset
is a random-forest vote share, not a calibrated probability; the samples are the operator's
training points, not an independent test set.
"""


def _class_list() -> str:
    return "\n".join(f"- `{c.value}` **{c.name}**: {c.description}" for c in constants.CLASSES)


def _split_section(items: Sequence[pystac.Item]) -> str:
    """The rule of `ml-aoi:split` and what it gave: sites and class shares per split."""
    sites = split_sites(items)
    shares = class_shares(items)
    lines = [
        "**Train / validate / test split.** Every item has `ml-aoi:split` (ML-AOI extension), "
        "assigned by site so that no place is on both sides. " + RULE,
        "",
        "Share of each class's pixels per split:",
        "",
    ]
    for split in SPLITS:
        parts = ", ".join(f"{name} {share:g} %" for name, share in shares[split].items())
        where = ", ".join(sites[split]) or "no site"
        lines.append(f"- `{split}` ({where}): {parts}")
    return "\n".join(lines)


def collection_description(items: Sequence[pystac.Item]) -> str:
    return COLLECTION_DESCRIPTION.format(classes=_class_list(), splits=_split_section(items))


KEYWORDS = [
    "sentinel-2",
    "cloud mask",
    "cloud detection",
    "cloud shadow",
    "reference dataset",
    "labels",
    "active learning",
    "ALCD",
    "CESBIO",
]


def spdx_license(record: dict[str, Any] | None) -> str:
    """The record's license as an SPDX id; `other` if unknown.

    Without a record the caller has said so already (one warning, with the way to fix it)."""
    found = record_license(record)
    if found is None and record is not None:
        log.warning("the Zenodo record names no license: the collection says 'other'")
    return found or "other"


def _license_link(license_id: str) -> pystac.Link:
    if license_id == "other":
        return pystac.Link(
            "license",
            constants.RECORD_PAGE,
            media_type=pystac.MediaType.HTML,
            title="See the Zenodo record",
        )
    return pystac.Link(
        "license",
        f"https://spdx.org/licenses/{license_id}.html",
        media_type=pystac.MediaType.HTML,
        title=license_id,
    )


PROVIDERS = [
    pystac.Provider(
        "CNES / CESBIO",
        description="Louis Baetens and Olivier Hagolle made the reference masks.",
        roles=[pystac.ProviderRole.PRODUCER, pystac.ProviderRole.LICENSOR],
        url="https://www.cesbio.cnrs.fr/",
    ),
    pystac.Provider(
        "Zenodo",
        description=f"Hosts the original archive, record {constants.RECORD_ID}.",
        roles=[pystac.ProviderRole.HOST],
        url=constants.RECORD_PAGE,
    ),
    pystac.Provider(
        "stacgen",
        description="Converted the rasters to COGs and wrote this STAC catalog.",
        roles=[pystac.ProviderRole.PROCESSOR],
    ),
]


def create_collection(
    items: Sequence[pystac.Item], record: dict[str, Any] | None
) -> pystac.Collection:
    """The collection over `items`; `record` is the Zenodo record JSON (license, title)."""
    metadata = (record or {}).get("metadata") or {}
    license_id = spdx_license(record)
    collection = pystac.Collection(
        id=constants.COLLECTION_ID,
        title=metadata.get("title") or constants.RECORD_TITLE,
        description=collection_description(items),
        extent=_extent(items),
        license=license_id,
        keywords=list(KEYWORDS),
        providers=list(PROVIDERS),
        summaries=_summaries(items),
    )
    collection.add_link(_license_link(license_id))
    collection.add_link(
        pystac.Link(
            "via", constants.RECORD_PAGE, media_type=pystac.MediaType.HTML, title="Zenodo record"
        )
    )
    apply_science(collection)
    collection.stac_extensions.append(ML_AOI_SCHEMA)
    if metadata.get("version"):
        collection.extra_fields["version"] = str(metadata["version"])
    for spec in ALL_ASSETS:
        collection.item_assets[spec.key] = pystac.ItemAssetDefinition.create(
            title=spec.title,
            description=spec.description,
            media_type=spec.media_type,
            roles=list(spec.roles),
        )
    classification = collection.item_assets["classification"]
    ClassificationExtension.ext(classification, add_if_missing=True).classes = class_objects(None)
    return collection


def _extent(items: Sequence[pystac.Item]) -> pystac.Extent:
    """The items' extent: the overall bbox, then one bbox per MGRS tile (STAC's "more precise
    description of the extent"), which STAC Browser draws on the collection's map: with the
    tiles spread over the world, the overall box alone shows where nothing is."""
    extent = pystac.Extent.from_items(items)
    by_tile: dict[str, list[list[float]]] = {}
    for item in items:
        props = item.properties
        tile = f"{props.get('mgrs:utm_zone')}{props.get('mgrs:latitude_band')}"
        by_tile.setdefault(tile + str(props.get("mgrs:grid_square")), []).append(
            list(item.bbox or [])
        )
    if len(by_tile) > 1:
        for tile in sorted(by_tile):
            boxes = [b for b in by_tile[tile] if len(b) == 4]
            extent.spatial.bboxes.append(
                [
                    min(b[0] for b in boxes),
                    min(b[1] for b in boxes),
                    max(b[2] for b in boxes),
                    max(b[3] for b in boxes),
                ]
            )
    return extent


def _summaries(items: Sequence[pystac.Item]) -> pystac.Summaries:
    def distinct(key: str) -> list[Any]:
        return sorted({item.properties[key] for item in items if key in item.properties})

    clouds = [
        item.properties["eo:cloud_cover"] for item in items if "eo:cloud_cover" in item.properties
    ]
    summaries: dict[str, Any] = {
        key: distinct(key)
        for key in (
            "platform",
            "constellation",
            "mgrs:utm_zone",
            "mgrs:latitude_band",
            "mgrs:grid_square",
            "sat:relative_orbit",
        )
    }
    summaries["instruments"] = ["msi"]
    summaries["label:type"] = ["raster"]
    summaries["label:tasks"] = [task.value for task in LABEL_TASKS]
    summaries["label:methods"] = [method.value for method in LABEL_METHODS]
    summaries["label:classes"] = [{"name": None, "classes": [c.value for c in constants.CLASSES]}]
    summaries["classification:classes"] = [c.to_dict() for c in class_objects(None)]
    summaries["eo:cloud_cover"] = {"minimum": min(clouds), "maximum": max(clouds)}
    splits = {item.properties.get("ml-aoi:split") for item in items}
    summaries["ml-aoi:split"] = [s for s in SPLITS if s in splits]
    summaries["alcd:site"] = distinct("alcd:site")
    return pystac.Summaries(summaries)
