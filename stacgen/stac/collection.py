"""The pure Collection builder: the items and the Zenodo record in, a pystac Collection out."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pystac
from pystac.extensions.classification import ClassificationExtension
from pystac.extensions.scientific import ScientificExtension

from stacgen import constants
from stacgen.stac.items import (
    ASSETS,
    LABEL_METHODS,
    LABEL_TASKS,
    apply_science,
    class_objects,
)

log = logging.getLogger(__name__)

COLLECTION_DESCRIPTION = """\
Reference cloud masks for 37 Sentinel-2 L1C products over 15 MGRS tiles worldwide (2015-2018),
made by Louis Baetens and Olivier Hagolle (CESBIO / CNES) with ALCD, an active-learning method:
an operator picked samples of each class by hand, a random forest with multi-temporal features
classified the tile, and the operator corrected it until the mask was right. They were made to
validate the cloud masks of MAJA, Sen2Cor and FMask (Baetens et al., Remote Sensing 2019), and
serve as ground truth for any Sentinel-2 cloud or shadow detector.

Each item is one L1C product (`id` = the product name; the legacy-named product of tile 29RPQ is
in both subsets, `Reference_dataset` and `Hollstein`, and listed once with both in
`alcd:subsets`). Its `classification` asset holds one class per pixel:

| value | name | meaning |
|---|---|---|
| 0 | no_data | outside the acquisition or masked |
| 1 | not_used | ALCD's "background" class; no pixel of these products has it |
| 2 | low_clouds | low clouds |
| 3 | high_clouds | high clouds (cirrus) |
| 4 | cloud_shadows | cloud shadows |
| 5 | land | clear land |
| 6 | water | clear water |
| 7 | snow | snow |

Search by `eo:cloud_cover` (classes 2 and 3), `eo:snow_cover`, `alcd:shadow_cover` and
`alcd:water_cover`, all in percent of the valid pixels and computed from the masks themselves.
Each item links (`rel=source`) to its L1C product in the Copernicus Data Space STAC.

Caveats: the masks are at 60 m, not at the 10 or 20 m of the L1C bands; the `confidence` asset
is a random-forest vote share, not a calibrated probability; the samples are the operator's
training points, not an independent test set.
"""

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
    """The record's license as an SPDX id ("cc-by-4.0" -> "CC-BY-4.0"); `other` if unknown."""
    metadata = (record or {}).get("metadata") or {}
    license_field = metadata.get("license")
    raw = license_field.get("id") if isinstance(license_field, dict) else license_field
    if not raw:
        log.warning("the Zenodo record names no license: the collection says 'other'")
        return "other"
    return str(raw).upper() if str(raw).lower().startswith("cc") else str(raw)


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
        description=COLLECTION_DESCRIPTION,
        extent=pystac.Extent.from_items(items),
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
    apply_science(ScientificExtension.ext(collection, add_if_missing=True))
    if metadata.get("version"):
        collection.extra_fields["version"] = str(metadata["version"])
    for spec in ASSETS:
        collection.item_assets[spec.key] = pystac.ItemAssetDefinition.create(
            title=spec.title,
            description=spec.description,
            media_type=spec.media_type,
            roles=list(spec.roles),
        )
    classification = collection.item_assets["classification"]
    ClassificationExtension.ext(classification, add_if_missing=True).classes = class_objects(None)
    return collection


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
    return pystac.Summaries(summaries)
