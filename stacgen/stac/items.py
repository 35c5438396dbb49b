"""The pure Item builder: explicit inputs in, a pystac Item out. Nothing here touches the disk.

Every extension field is written through pystac's extension classes at the versions pystac
(core) 1.16 writes (projection v2 `proj:code`, classification v2, label v1.0.1 ...).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

import pystac
import shapely.geometry
from pystac.extensions.classification import Classification, ClassificationExtension
from pystac.extensions.eo import EOExtension
from pystac.extensions.file import FileExtension
from pystac.extensions.mgrs import MgrsExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, RasterBand, RasterExtension, Statistics
from pystac.extensions.sat import SatExtension
from pystac.extensions.scientific import Publication, ScientificExtension

from stacgen import constants
from stacgen.fileutil import sha256_multihash
from stacgen.layout.imagery import LINK_PROVIDERS, PROVIDER_TITLES, Resolved
from stacgen.layout.labels import COORD_DECIMALS, AssetSpec, asset_specs
from stacgen.layout.outputs import FileInfo, LabelStats, SceneOutputs
from stacgen.raster.grid import Grid
from stacgen.source import naming
from stacgen.source.scene import Scene
from stacgen.stac.mlaoi import MlAoiAssetExtension

with warnings.catch_warnings():
    # pystac deprecates its helper class, not the label extension, which is current (v1.0.1).
    warnings.filterwarnings("ignore", "The PySTAC Label Extension is deprecated")
    from pystac.extensions.label import (
        LabelClasses,
        LabelExtension,
        LabelMethod,
        LabelTask,
        LabelType,
    )

log = logging.getLogger(__name__)

LABEL_TASKS = (LabelTask.SEGMENTATION, LabelTask.CLASSIFICATION)
LABEL_METHODS = (LabelMethod.MANUAL, LabelMethod.AUTOMATED)

LABEL_DESCRIPTION = (
    "Reference cloud mask made by ALCD (Active Learning for Cloud Detection): an operator "
    "picked samples of each class by hand on the L1C image, a random forest trained on them "
    "with multi-temporal features (a cloud-free reference acquisition) classified the whole "
    "tile, and the operator added samples where it erred until the mask was right."
)


def create_item(outputs: SceneOutputs, asset_hrefs: dict[str, str]) -> pystac.Item:
    """The STAC Item of one L1C product; `asset_hrefs` maps asset keys to their hrefs."""
    scene = outputs.scene
    geometry = outputs.footprint
    item = pystac.Item(
        id=scene.id,
        geometry=geometry,
        bbox=geojson_bbox(geometry),
        datetime=scene.product.datetime,
        properties={},
    )
    item.common_metadata.platform = scene.product.platform
    item.common_metadata.constellation = "sentinel-2"
    item.common_metadata.instruments = ["msi"]
    SatExtension.ext(item, add_if_missing=True).relative_orbit = scene.product.relative_orbit
    MgrsExtension.ext(item, add_if_missing=True).apply(
        latitude_band=scene.tile.latitude_band,
        grid_square=scene.tile.grid_square,
        utm_zone=scene.tile.zone,
    )
    _apply_projection(item, outputs.grid)
    _apply_label(item)
    _apply_cover(item, outputs.stats)
    item.properties.update(alcd_properties(scene))
    _apply_title(item, scene)
    apply_science(item)
    for spec in asset_specs(scene.subsets):
        if spec.key in outputs.files:
            _add_asset(item, spec, asset_hrefs[spec.key], outputs)
    _add_item_links(item, scene)
    return item


def geojson_bbox(geometry: dict[str, Any]) -> list[float]:
    return [round(v, COORD_DECIMALS) for v in shapely.geometry.shape(geometry).bounds]


def _apply_projection(item: pystac.Item, grid: Grid) -> None:
    proj = ProjectionExtension.ext(item, add_if_missing=True)
    proj.apply(
        code=f"EPSG:{grid.epsg}" if grid.epsg else None,
        wkt2=None if grid.epsg else grid.crs.to_wkt(),
        shape=[grid.height, grid.width],
        transform=[*grid.proj_transform, 0.0, 0.0, 1.0],
        bbox=list(grid.bounds),
    )


SCORE_DECIMALS = 4  # the cross-validation scores' (0.8870), like the covers' percentages


def class_objects(stats: LabelStats | None) -> list[Classification]:
    """classification:classes for 0-7, with pixel counts and percentages when stats are given."""
    found = []
    for c in constants.CLASSES:
        obj = Classification.create(
            value=c.value,
            name=c.name,
            title=c.title,
            description=c.description,
            color_hint=c.color_hint,
            # false, not absent, on the other classes: every class object has the same keys
            nodata=c.value == constants.NODATA,
        )
        if stats is not None:
            obj.count = stats.counts[c.value]
            obj.percentage = round(stats.percentage(c.value), 4)
        found.append(obj)
    return found


def _apply_label(item: pystac.Item) -> None:
    label = LabelExtension.ext(item, add_if_missing=True)
    label.apply(
        label_description=LABEL_DESCRIPTION,
        label_type=LabelType.RASTER,
        label_properties=None,
        label_classes=[LabelClasses.create(classes=[c.value for c in constants.CLASSES])],
        label_tasks=list(LABEL_TASKS),
        label_methods=list(LABEL_METHODS),
    )
    # No label:overviews: the pixels of each class are on the classification asset's classes
    # (count, percentage), one copy in every search hit, not two (issue 24).


def _apply_cover(item: pystac.Item, stats: LabelStats) -> None:
    """Fractions of the valid pixels, for searching by true cloud, snow, shadow, water."""
    eo = EOExtension.ext(item, add_if_missing=True)
    eo.cloud_cover = stats.cover(constants.CLOUD_VALUES)
    eo.snow_cover = stats.cover(constants.SNOW_VALUES)
    item.properties["alcd:shadow_cover"] = stats.cover(constants.SHADOW_VALUES)
    item.properties["alcd:water_cover"] = stats.cover(constants.WATER_VALUES)
    item.properties["alcd:valid_percent"] = stats.valid_percent


def _apply_title(item: pystac.Item, scene: Scene) -> None:
    """A title and a one-line description with the covers: what STAC Browser shows on an
    item's card and link, so that a cloud-mask user sees the cloud cover without opening it."""
    props = item.properties
    item.common_metadata.title = (
        f"{props['alcd:site']} {scene.product.datetime:%Y-%m-%d} "
        f"({scene.product.mission}, tile {scene.tile.id})"
    )
    covers = (
        f"Cloud cover {props['eo:cloud_cover']:.1f} %, snow cover {props['eo:snow_cover']:.1f} %, "
        f"cloud shadows {props['alcd:shadow_cover']:.1f} %, "
        f"water {props['alcd:water_cover']:.1f} % of the valid pixels."
    )
    item.common_metadata.description = f"{covers} Subsets: {', '.join(scene.subsets)}."


def _promoted(value: Any) -> str | None:
    """A parameter as a searchable string (`20170720` as `2017-07-20`), or None: a property
    has one type in every item (queryables, items.parquet), whatever the authors' file holds."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value:
        return None
    if len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value


def alcd_properties(scene: Scene) -> dict[str, Any]:
    """What a client searches by of the authors' parameters, and their cross-validation scores.

    The metrics are the primary copy's (`Reference_dataset`, the paper's, when the product is
    there). The parameters themselves are not copied into the item: every copy's
    used_parameters.json is an asset (`parameters_<subset>`), byte for byte, so a search page
    does not carry them verbatim with every hit (issue 24).
    """
    params = scene.parameters
    props: dict[str, Any] = {
        "alcd:site": site_name(scene),
        "alcd:clear_date": _promoted(params.get("clear_date")),
        "alcd:clear_product_name": _promoted(params.get("clear_product_name")),
        "alcd:subsets": list(scene.subsets),
    }
    stats = scene.statistics
    for name, mean, std in zip(stats["metrics_names"], stats["means"], stats["stds"], strict=True):
        # Four decimals, as the covers: the k-fold means carry 16 digits no reader can use; the
        # authors' file itself is an asset (statistics_*), byte for byte.
        props[f"alcd:{name}"] = round(mean, SCORE_DECIMALS)
        props[f"alcd:{name}_std"] = round(std, SCORE_DECIMALS)
    # `K` may be missing (ALCD.md): the folds listed say it too. A number in every item, as
    # a property must be one type everywhere (queryables, items.parquet).
    folds, listed = stats.get("K"), stats.get("all_metrics")
    if not isinstance(folds, int) or isinstance(folds, bool):
        folds = len(listed) if isinstance(listed, list) and listed else None
    if folds is not None:
        props["alcd:k_folds"] = folds
    return {k: v for k, v in props.items() if v is not None}


def site_name(scene: Scene) -> str:
    """The place the product shows: the authors' `location` is sometimes a code (Hollstein's
    `32TMR_20160323`), so the place comes from the tile (constants.SITE_BY_TILE)."""
    known = constants.SITE_BY_TILE.get(scene.tile.id)
    if known is not None:
        return known
    for copy in scene.copies:
        location = copy.parameters.get("location")
        if isinstance(location, str) and location and not naming.is_tile_date_code(location):
            return location.replace("_", " ")
    return f"MGRS tile {scene.tile.id}"


def apply_science(obj: pystac.Item | pystac.Collection) -> None:
    """The scientific extension's DOIs and citations, and titled `cite-as` links (stac-check
    recommends a title on every link; every item link then has the same keys)."""
    sci: ScientificExtension[Any]
    if isinstance(obj, pystac.Item):  # two calls: ext is generic over one STAC type at a time
        sci = ScientificExtension.ext(obj, add_if_missing=True)
    else:
        sci = ScientificExtension.ext(obj, add_if_missing=True)
    sci.apply(
        doi=constants.DOI,
        citation=constants.DATASET_CITATION,
        publications=[Publication(doi=constants.PAPER_DOI, citation=constants.PAPER_CITATION)],
    )
    titles = {
        constants.DOI: "Dataset DOI (Zenodo)",
        constants.PAPER_DOI: "Paper DOI (Baetens et al., Remote Sensing 2019)",
    }
    for link in obj.get_links("cite-as"):
        doi = link.href.removeprefix("https://doi.org/")
        if doi in titles:
            link.title = titles[doi]
            link.media_type = pystac.MediaType.HTML


def _add_asset(item: pystac.Item, spec: AssetSpec, href: str, outputs: SceneOutputs) -> None:
    asset = pystac.Asset(
        href=href,
        title=spec.title,
        description=spec.description,
        media_type=spec.media_type,
        roles=list(spec.roles),
    )
    item.add_asset(spec.key, asset)
    info = outputs.files[spec.key]
    file_ext = FileExtension.ext(asset, add_if_missing=True)
    file_ext.size = info.size
    file_ext.checksum = sha256_multihash(info.sha256)
    bands = _raster_bands(spec.key, outputs)
    if bands:
        RasterExtension.ext(asset, add_if_missing=True).bands = bands
    if spec.key == "classification":
        # One copy of the classes, on the asset (one band: classification v2 allows either
        # place); a second on raster:bands[0] doubled the heaviest part of every search hit.
        ClassificationExtension.ext(asset, add_if_missing=True).classes = class_objects(
            outputs.stats
        )
        MlAoiAssetExtension.ext(asset, add_if_missing=True).apply("label", reference_grid=True)
    if spec.key == "samples":
        asset.extra_fields["alcd:sample_count"] = outputs.sample_count


def _raster_bands(key: str, outputs: SceneOutputs) -> list[RasterBand]:
    resolution = outputs.grid.resolution
    if key == "classification":
        present = [c.value for c in constants.CLASSES if c.value and outputs.stats.counts[c.value]]
        stats = Statistics.create(
            minimum=min(present, default=None),
            maximum=max(present, default=None),
            valid_percent=outputs.stats.valid_percent,
        )
        return [_band(resolution, stats, nodata=constants.NODATA)]
    if key == "confidence" and outputs.confidence is not None:
        c = outputs.confidence
        stats = Statistics.create(
            minimum=c.minimum,
            maximum=c.maximum,
            mean=c.mean,
            stddev=c.stddev,
            valid_percent=c.valid_percent,
        )
        return [_band(resolution, stats, nodata=constants.NODATA)]
    if key == "visual":
        return [_band(resolution, None) for _ in range(4)]
    return []


def _band(resolution: float, stats: Statistics | None, nodata: int | None = None) -> RasterBand:
    return RasterBand.create(
        nodata=nodata,
        data_type=DataType.UINT8,
        spatial_resolution=resolution,
        statistics=stats,
    )


def compact_name(scene: Scene) -> str | None:
    """The compact L1C name the Copernicus STAC knows the product by."""
    compact = scene.product.compact
    return compact.name if compact else None


def _add_item_links(item: pystac.Item, scene: Scene) -> None:
    item.add_link(
        pystac.Link(
            "via", constants.RECORD_PAGE, media_type=pystac.MediaType.HTML, title="Zenodo record"
        )
    )
    if scene.product.compact is None:
        log.warning("%s: no compact product name known, so no link to the L1C item", scene.id)
    apply_imagery(item, [])


# --- the L1C product behind the label: links per provider, the original's identity ------------
# Titles of the links apply_imagery writes: a rebuild finds (and replaces) its own links by them.
HISTORY_TITLE = "History: "
PROJECTION_V1_2 = "https://stac-extensions.github.io/projection/v1.2.0/schema.json"
_OLD_TITLE = "Sentinel-2 L1C product "  # the CDSE link of catalogs built before the providers
_IMAGERY_RELS = ("source", "derived_from")
# provider, href, product name, baseline, kind, resolved (or derived from the name offline)
_Entry = tuple[str, str, str, str | None, str, bool]


def apply_imagery(item: pystac.Item, resolved: Sequence[Resolved]) -> None:
    """The label item's links to its L1C product: one `rel=source` per provider (the resolved
    ones, else those the name gives offline: the Earth Search item, the Google bucket folder),
    originals first; the Copernicus Data Space item of the original name as `rel=derived_from`
    history (ESA deletes the old baselines there); and the original's `s2:*` and `grid:code`.

    Idempotent: the links it wrote before (found by their titles) are replaced."""
    product = naming.parse_product_name(item.id)
    tile = _tile_of(item)
    item.links = [link for link in item.links if not _is_imagery_link(link)]
    for link in imagery_links(product, tile, resolved):
        item.add_link(link)
    _apply_original(item, product, tile, resolved)


def _tile_of(item: pystac.Item) -> naming.Tile:
    mgrs = MgrsExtension.ext(item)
    return naming.Tile(f"{mgrs.utm_zone:02d}{mgrs.latitude_band}{mgrs.grid_square}")


def _is_imagery_link(link: pystac.Link) -> bool:
    title = link.title or ""
    ours = (*PROVIDER_TITLES.values(), HISTORY_TITLE, _OLD_TITLE)
    return link.rel in _IMAGERY_RELS and title.startswith(ours)


def imagery_links(
    product: naming.ProductName, tile: naming.Tile, resolved: Sequence[Resolved]
) -> list[pystac.Link]:
    """The provider links of a label item, originals first, then by LINK_PROVIDERS."""
    entries: list[_Entry] = [
        (r.provider, r.ref, r.product, r.baseline, r.kind, True) for r in resolved
    ]
    asked = {r.provider for r in resolved}
    entries += [e for e in _offline_entries(product, tile) if e[0] not in asked]
    rank = {name: i for i, name in enumerate(LINK_PROVIDERS)}
    entries.sort(key=lambda e: (e[4] != "original", rank.get(e[0], len(rank))))
    links = [_provider_link(*entry) for entry in entries]
    history = _history_link(product)
    cdse_original = any(r.provider == "cdse" and r.kind == "original" for r in resolved)
    if history is not None and not cdse_original:
        links.append(history)
    return links


def _offline_entries(product: naming.ProductName, tile: naming.Tile) -> list[_Entry]:
    """The links the name gives without a network: Earth Search's item id (sequence 0) and
    Google's bucket folder (its manifest.safe), both of the original product."""
    compact = product.compact
    baseline = compact.baseline if compact else None
    entries: list[_Entry] = []
    es_id = naming.earth_search_id(product)
    if compact is not None and es_id is not None:
        href = naming.EARTH_SEARCH_L1C_ITEM_URL.format(id=es_id)
        entries.append(("earth-search", href, compact.name, baseline, "original", False))
    gcs = f"{naming.GCS_BUCKET_URL}/{naming.gcs_product_folder(product, tile)}/manifest.safe"
    entries.append(("gcs", gcs, product.name, baseline, "original", False))
    return entries


def _provider_link(
    provider: str, href: str, name: str, baseline: str | None, kind: str, resolved: bool
) -> pystac.Link:
    how = "resolved" if resolved else "from the product name, not resolved"
    title = f"{PROVIDER_TITLES[provider]}: {name} (baseline {baseline or 'unknown'}, {kind}; {how})"
    media = "application/xml" if provider == "gcs" else pystac.MediaType.GEOJSON
    return pystac.Link("source", href, media_type=media, title=title)


def _history_link(product: naming.ProductName) -> pystac.Link | None:
    compact = product.compact
    href = naming.cdse_item_url(product)
    if compact is None or href is None:
        return None
    title = (
        f"{HISTORY_TITLE}the Copernicus Data Space STAC item of the original product "
        f"{compact.name} (ESA is deleting the old baselines there: it may no longer resolve)"
    )
    return pystac.Link("derived_from", href, media_type=pystac.MediaType.GEOJSON, title=title)


def _apply_original(
    item: pystac.Item,
    product: naming.ProductName,
    tile: naming.Tile,
    resolved: Sequence[Resolved],
) -> None:
    """`s2:product_uri`, `s2:processing_baseline`, `s2:datatake_id` of the original product
    (the names of the sentinel-2 extension, as Earth Search writes them), `grid:code`, and
    `proj:epsg` beside `proj:code` (stackstac and GDAL's STACIT read only that). Written as
    plain fields: the offline schema mirror holds neither the grid nor the sentinel-2 schema."""
    props = item.properties
    compact = product.compact
    if compact is not None:
        props["s2:product_uri"] = f"{compact.name}.SAFE"
        if compact.baseline:
            props["s2:processing_baseline"] = compact.baseline
    datatake = [r.datatake_id for r in resolved if r.kind == "original" and r.datatake_id]
    if datatake:
        props["s2:datatake_id"] = datatake[0]
    else:
        props.pop("s2:datatake_id", None)
    props["grid:code"] = tile.grid_code
    code = props.get("proj:code")
    if isinstance(code, str) and code.startswith("EPSG:"):
        props["proj:epsg"] = int(code.removeprefix("EPSG:"))
        # Projection v2 forbids proj:epsg; v1.2.0 has both (proj:epsg deprecated, proj:code
        # new), which is what readers of either need. (pystac reading the item migrates it
        # back to v2 and drops proj:epsg: STACIT and plain-JSON readers see it.)
        item.stac_extensions = [
            PROJECTION_V1_2 if uri == ProjectionExtension.get_schema_uri() else uri
            for uri in item.stac_extensions
        ]


def asset_hrefs(item_id: str, files: dict[str, FileInfo], root_href: str | None) -> dict[str, str]:
    """Relative to the item JSON, or absolute under the published root."""
    base = "."
    if root_href:
        base = f"{root_href.rstrip('/')}/{constants.COLLECTION_ID}/{item_id}"
    return {key: f"{base}/{info.name}" for key, info in files.items()}
