"""The pure builders of the `alcd-l1c` collection: an imagery item per label item, its collection,
and the label item's `rel=source` link to it (the label extension's convention).

An imagery item copies its label item's id, footprint, datetime and projection code; its band
assets (keyed `B01` ... `B12`, `B8A`, as `stacgen.layout.imagery` lays them out) carry `eo:bands`
with the common names, `raster:bands` (uint16, nodata 0, scale 1/10000, offset 0: the catalog's
DN are in the original baselines' convention), `file:size` / `file:checksum` and their own
`proj:shape` / `proj:transform`. It links `rel=derived_from` to the product it was read from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import pystac
from pystac.extensions.eo import Band as EOBand
from pystac.extensions.eo import EOExtension
from pystac.extensions.file import FileExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, RasterBand, RasterExtension

from stacgen.fileutil import sha256_multihash
from stacgen.layout import imagery
from stacgen.raster.grid import Grid
from stacgen.stac.mlaoi import SPLIT_PROP, SPLITS, MlAoiAssetExtension, MlAoiExtension

COG: Final = str(pystac.MediaType.COG)
JSON: Final = str(pystac.MediaType.JSON)

SOURCE_TITLE: Final = "L1C bands of this scene (alcd-l1c)"
DERIVED_TITLE: Final = "The {provider} provider's product {product} (baseline {baseline}, {kind})"
ESA = pystac.Provider(
    name="ESA / Copernicus",
    description="Acquired and processed the Sentinel-2 L1C products.",
    roles=[pystac.ProviderRole.PRODUCER, pystac.ProviderRole.LICENSOR],
    url="https://sentinels.copernicus.eu/",
)
STACGEN = pystac.Provider(
    name="stacgen",
    description="Read the bands onto the label grid and wrote them as COGs.",
    roles=[pystac.ProviderRole.PROCESSOR],
)


@dataclass(frozen=True)
class BandFile:
    """One written band COG: what its asset says about it."""

    band: imagery.Band
    size: int
    sha256: str
    grid: Grid


@dataclass(frozen=True)
class Source:
    """Where an item's pixels came from."""

    provider: str
    product: str
    baseline: str | None
    kind: imagery.Kind
    href: str  # the provider's item, bucket folder or file URI (rel=derived_from)
    offset: int  # the RADIO_ADD_OFFSET added to every band's DN (0 if none)


def _eo_band(band: imagery.Band) -> EOBand:
    return EOBand.create(
        name=band.name,
        common_name=band.common_name,
        description=band.description,
        center_wavelength=band.center_wavelength,
        full_width_half_max=band.full_width_half_max,
    )


def imagery_item(
    label: dict[str, Any],
    source: Source,
    grid_kind: imagery.ImageryGrid,
    bands: Sequence[BandFile],
    manifest: tuple[int, str],
) -> pystac.Item:
    """The imagery item of `label` (its JSON as the catalog holds it)."""
    props = label["properties"]
    item = pystac.Item(
        id=label["id"],
        geometry=label["geometry"],
        bbox=label["bbox"],
        datetime=datetime.fromisoformat(props["datetime"].replace("Z", "+00:00")),
        properties={},
    )
    # What a reader filters the labels by, so that it can filter the images alike.
    for key in ("platform", "constellation", "instruments", "alcd:site", "alcd:subsets"):
        if key in props:
            item.properties[key] = props[key]
    item.properties.update(
        {
            imagery.GRID_PROPERTY: grid_kind,
            imagery.PROVIDER_PROPERTY: source.provider,
            imagery.KIND_PROPERTY: source.kind,
            imagery.OFFSET_PROPERTY: source.offset,
            "alcd:imagery_product": source.product,
            "alcd:imagery_baseline": source.baseline,
        }
    )
    ProjectionExtension.ext(item, add_if_missing=True).code = props.get("proj:code")
    EOExtension.add_to(item)
    RasterExtension.add_to(item)
    FileExtension.add_to(item)
    split = props.get(SPLIT_PROP)
    if split in SPLITS:
        MlAoiExtension.ext(item, add_if_missing=True).split = split
    for band in bands:
        item.add_asset(band.band.name, _band_asset(item, band))
        if split in SPLITS:
            MlAoiAssetExtension.ext(item.assets[band.band.name]).apply("feature")
    item.add_asset(imagery.MANIFEST_KEY, _manifest_asset(*manifest))
    title = DERIVED_TITLE.format(
        provider=source.provider,
        product=source.product,
        baseline=source.baseline or "unknown",
        kind=source.kind,
    )
    item.add_link(pystac.Link("derived_from", source.href, media_type=None, title=title))
    return item


def _band_asset(item: pystac.Item, band: BandFile) -> pystac.Asset:
    asset = pystac.Asset(
        href=f"./{band.band.file_name}",
        media_type=COG,
        title=band.band.description,
        roles=["data", "reflectance"],
    )
    asset.set_owner(item)
    EOExtension.ext(asset).bands = [_eo_band(band.band)]
    RasterExtension.ext(asset).bands = [
        RasterBand.create(
            nodata=imagery.NODATA,
            data_type=DataType.UINT16,
            scale=imagery.SCALE,
            offset=0,
            spatial_resolution=round(band.grid.resolution, 6),
        )
    ]
    file = FileExtension.ext(asset)
    file.size, file.checksum = band.size, sha256_multihash(band.sha256)
    proj = ProjectionExtension.ext(asset)
    proj.shape = [band.grid.height, band.grid.width]
    proj.transform = [*band.grid.proj_transform, 0.0, 0.0, 1.0]
    return asset


def _manifest_asset(size: int, sha256: str) -> pystac.Asset:
    asset = pystac.Asset(
        href=f"./{imagery.MANIFEST}",
        media_type=JSON,
        title="Provenance: the source files read, their sizes and digests, the outputs' digests",
        roles=["metadata"],
    )
    asset.extra_fields["file:size"] = size
    asset.extra_fields["file:checksum"] = sha256_multihash(sha256)
    return asset


def imagery_collection(items: Sequence[pystac.Item], license_id: str) -> pystac.Collection:
    """The `alcd-l1c` collection of `items` (at least one)."""
    boxes = [item.bbox for item in items if item.bbox]
    times = sorted(item.datetime for item in items if item.datetime)
    bbox = [
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    ]
    collection = pystac.Collection(
        id=imagery.COLLECTION_ID,
        title="Sentinel-2 L1C bands of the ALCD reference cloud masks",
        description=COLLECTION_DESCRIPTION,
        extent=pystac.Extent(
            pystac.SpatialExtent([bbox]), pystac.TemporalExtent([[times[0], times[-1]]])
        ),
        license=license_id,
        providers=[ESA, STACGEN],
        keywords=["sentinel-2", "l1c", "clouds", "reference"],
    )
    collection.summaries.add(
        imagery.GRID_PROPERTY, sorted({i.properties[imagery.GRID_PROPERTY] for i in items})
    )
    collection.summaries.add(
        imagery.KIND_PROPERTY, sorted({i.properties[imagery.KIND_PROPERTY] for i in items})
    )
    EOExtension.add_to(collection)
    collection.summaries.add("eo:bands", [_eo_band(b).to_dict() for b in imagery.BANDS])
    return collection


COLLECTION_DESCRIPTION: Final = """\
The Sentinel-2 L1C bands each ALCD reference cloud mask was drawn on, one item per label item
(same `id`), fetched by `stacgen imagery fetch` from the provider the item names
(`alcd:imagery_provider`). Each band is one uint16 COG keyed by its name (`B01` ... `B12`,
`B8A`), nodata 0, reflectance = DN / 10000 (`raster:bands` scale and offset): a reprocessed
(Collection-1) product's `RADIO_ADD_OFFSET` has been added (`alcd:radio_add_offset_applied`).
`alcd:imagery_grid` says where the bands lie: `label`, every band on the label's own 60 m
grid, 10 and 20 m bands averaged over their valid full-resolution pixels; or `native`, each
band at its own resolution over the same extent. `alcd:imagery_kind` is `original` when the
pixels are those of the product the labels were drawn on, `reprocessed` when they come from
its Collection-1 successor (geometrically refined: not the same pixels). Each item's
`manifest` asset records the source files read, with their sizes and digests. An item
carries its label item's `ml-aoi:split`, `alcd:site` and `alcd:subsets`, and its bands are
the split's features (`ml-aoi:role` `feature`).
"""


def source_link(label: dict[str, Any], href: str) -> dict[str, Any]:
    """`label` with a `rel=source` link to its imagery item at `href`, first of its sources."""
    links = [
        link
        for link in label.get("links", [])
        if not (link.get("rel") == "source" and link.get("title") == SOURCE_TITLE)
    ]
    ours = {"rel": "source", "href": href, "type": "application/geo+json", "title": SOURCE_TITLE}
    first = next((i for i, link in enumerate(links) if link.get("rel") == "source"), len(links))
    links.insert(first, ours)
    return {**label, "links": links}
