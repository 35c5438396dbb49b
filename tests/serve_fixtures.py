"""A small catalog for the serve tests: 6 items over 3 MGRS tiles, written with pystac.

It has the builder's layout (catalog.json -> collection -> <id>/<id>.json with the assets beside
each item) and real COGs, so the server, the API and STAC Browser see what a build writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pystac
import rasterio.warp
import stac_geoparquet.arrow
from pystac.extensions.classification import ClassificationExtension
from pystac.extensions.eo import EOExtension
from pystac.extensions.projection import ProjectionExtension

from stacgen import constants, cog, stac, synthetic
from stacgen.labels import ClassArray, Grid

SIZE = 512  # px: two 256 px COG blocks a side
EXTENT_M = 109_800.0
ITEMS_PARQUET = "items.parquet"


@dataclass(frozen=True)
class SceneSpec:
    tile: str
    when: datetime
    cloud_share: float  # of the pixels drawn; the item's eo:cloud_cover is counted from them


SCENES = (
    SceneSpec("32TMR", datetime(2017, 10, 9, 10, 20, 9, tzinfo=UTC), 0.05),
    SceneSpec("32TMR", datetime(2018, 3, 2, 10, 20, 9, tzinfo=UTC), 0.55),
    SceneSpec("29RPQ", datetime(2017, 6, 21, 11, 6, 51, tzinfo=UTC), 0.15),
    SceneSpec("29RPQ", datetime(2016, 4, 17, 11, 11, 59, tzinfo=UTC), 0.70),
    SceneSpec("35JPM", datetime(2017, 8, 20, 7, 49, 41, tzinfo=UTC), 0.30),
    SceneSpec("35JPM", datetime(2018, 1, 16, 7, 49, 41, tzinfo=UTC), 0.90),
)


@dataclass(frozen=True)
class FixtureCatalog:
    root: Path
    root_href: str | None

    def item_path(self, item_id: str) -> Path:
        return self.root / constants.COLLECTION_ID / item_id / f"{item_id}.json"

    def item_ids(self) -> list[str]:
        return sorted(p.parent.name for p in self.root.glob(f"{constants.COLLECTION_ID}/*/*.json"))

    def item(self, item_id: str) -> dict[str, object]:
        value: dict[str, object] = json.loads(self.item_path(item_id).read_text())
        return value


def scene_id(spec: SceneSpec) -> str:
    stamp = spec.when.strftime("%Y%m%dT%H%M%S")
    return f"S2A_MSIL1C_{stamp}_N0205_R108_T{spec.tile}_{stamp}"


def scene_classes(index: int, spec: SceneSpec) -> ClassArray:
    """Blocks of land, water and snow with clouds and shadows over a share, no data on a strip."""
    rng = np.random.default_rng(index)
    blocks = rng.choice(np.array([5, 6, 7, 4], dtype=np.uint8), size=(32, 32), p=[0.6, 0.2, 0.1, 0.1])
    classes = np.kron(blocks, np.ones((SIZE // 32, SIZE // 32), dtype=np.uint8))
    cloudy = rng.random((SIZE, SIZE)) < spec.cloud_share
    classes[cloudy] = rng.choice(np.array([2, 3], dtype=np.uint8), size=int(cloudy.sum()))
    classes[:, : 16 + 8 * index] = constants.NODATA
    result: ClassArray = classes.astype(np.uint8)
    return result


def scene_grid(tile: str) -> Grid:
    where = synthetic.tile_grid(tile)
    pixel = EXTENT_M / SIZE
    transform = (pixel, 0.0, where.west, 0.0, -pixel, where.north)
    wkt = rasterio.crs.CRS.from_epsg(where.epsg).to_wkt()
    return Grid(epsg=where.epsg, crs_wkt=wkt, transform=transform, width=SIZE, height=SIZE)


def wgs84_footprint(grid: Grid) -> dict[str, object]:
    left, bottom, right, top = grid.bounds
    ring = [(left, bottom), (right, bottom), (right, top), (left, top), (left, bottom)]
    xs, ys = rasterio.warp.transform(f"EPSG:{grid.epsg}", "EPSG:4326", *zip(*ring, strict=True))
    coords = [[round(x, 7), round(y, 7)] for x, y in zip(xs, ys, strict=True)]
    return {"type": "Polygon", "coordinates": [coords]}


def cloud_cover(classes: ClassArray) -> float:
    valid = classes != constants.NODATA
    cloudy = np.isin(classes, constants.CLOUD_VALUES) & valid
    return round(100.0 * float(cloudy.sum()) / float(valid.sum()), 4)


def make_item(index: int, spec: SceneSpec, folder: Path, root_href: str | None) -> pystac.Item:
    grid = scene_grid(spec.tile)
    classes = scene_classes(index, spec)
    item_id = scene_id(spec)
    item_dir = folder / item_id
    item_dir.mkdir(parents=True)
    cog.write_classification(classes, grid, item_dir / "classification.tif")
    cog.write_visual(classes, grid, item_dir / "visual.tif")
    cog.write_thumbnail(classes, item_dir / "thumbnail.png", size=64)
    samples = {"type": "FeatureCollection", "features": []}
    (item_dir / "samples.geojson").write_text(json.dumps(samples))
    footprint = wgs84_footprint(grid)
    coords = footprint["coordinates"][0]  # type: ignore[index]
    xs, ys = [c[0] for c in coords], [c[1] for c in coords]
    item = pystac.Item(item_id, footprint, [min(xs), min(ys), max(xs), max(ys)], spec.when, {})
    EOExtension.ext(item, add_if_missing=True).cloud_cover = cloud_cover(classes)
    ProjectionExtension.ext(item, add_if_missing=True).code = f"EPSG:{grid.epsg}"
    item.properties["mgrs:tile"] = spec.tile  # only for the tests' bookkeeping
    for spec_asset in stac.ASSETS:
        if (item_dir / spec_asset.filename).exists():
            item.add_asset(spec_asset.key, asset_of(spec_asset, item_id, root_href))
    ClassificationExtension.ext(item, add_if_missing=True)
    classification = ClassificationExtension.ext(item.assets["classification"])
    classification.classes = stac.class_objects(None)
    return item


def asset_of(spec: stac.AssetSpec, item_id: str, root_href: str | None) -> pystac.Asset:
    """Hrefs as the builder writes them: relative, or absolute under the published root."""
    base = f"{root_href.rstrip('/')}/{constants.COLLECTION_ID}/{item_id}" if root_href else "."
    return pystac.Asset(
        href=f"{base}/{spec.filename}",
        title=spec.title,
        media_type=spec.media_type,
        roles=list(spec.roles),
    )


def make_catalog(out: Path, root_href: str | None = None) -> FixtureCatalog:
    """Write the catalog under `out`; with `root_href` its hrefs are absolute under that URL."""
    folder = out / constants.COLLECTION_ID
    items = [make_item(i, spec, folder, root_href) for i, spec in enumerate(SCENES)]
    catalog = pystac.Catalog("alcd", "The serve tests' catalog", title="ALCD (test)")
    extent = pystac.Extent(
        pystac.SpatialExtent([[-180.0, -90.0, 180.0, 90.0]]),
        pystac.TemporalExtent([[min(s.when for s in SCENES), max(s.when for s in SCENES)]]),
    )
    collection = pystac.Collection(constants.COLLECTION_ID, "Test collection", extent)
    catalog.add_child(collection)
    collection.add_items(items)
    if root_href:
        catalog.normalize_hrefs(root_href, skip_unresolved=True)
        catalog.save(pystac.CatalogType.ABSOLUTE_PUBLISHED, dest_href=str(out))
    else:
        catalog.normalize_hrefs(str(out), skip_unresolved=True)
        catalog.save(pystac.CatalogType.SELF_CONTAINED)
    _write_parquet(out, [scene_id(s) for s in SCENES])
    return FixtureCatalog(out, root_href)


def _write_parquet(out: Path, item_ids: list[str]) -> None:
    folder = out / constants.COLLECTION_ID
    dicts = [json.loads((folder / i / f"{i}.json").read_text()) for i in item_ids]
    stac_geoparquet.arrow.parse_stac_items_to_parquet(dicts, output_path=folder / ITEMS_PARQUET)
