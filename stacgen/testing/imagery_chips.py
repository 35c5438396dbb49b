"""Synthetic imagery in the `alcd-l1c` layout, beside a built catalog's label items.

For the chip tests and the ML benchmark: `write_imagery` writes, for each label item of a
catalog, an imagery item as `stacgen imagery fetch` lays it out (`stacgen.layout.imagery`):
`<catalog>/alcd-l1c/<id>/<id>.json` with one uint16 COG per band (`<band>.tif`, nodata 0), on
the label grid (`grid="label"`) or on the tile's native grids (`grid="native"`: the label grid
refined by 60 / the band's resolution, so 10 m bands hold 6 x 6 pixels per label cell), each
band asset with its own `proj:shape` and `proj:transform`. The DN are random in 1-10000 and 0
where the label has no data, so that a window read at the wrong place or resolution shows.

It reads the label items' JSON and label COGs with json and rasterio, nothing of stacgen's
readers, so the code under test meets an input it did not make.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rasterio

from stacgen import constants
from stacgen.fileutil import atomic_write_json
from stacgen.layout import imagery
from stacgen.raster.cog import write_cog
from stacgen.raster.grid import Grid

LABEL_RESOLUTION = 60
DEFAULT_BANDS = ("B01", "B02", "B05")  # one band at each of 60, 10 and 20 m


def label_items(catalog: Path) -> list[dict[str, Any]]:
    """The label items of a built catalog, read from their folders, sorted by id."""
    folder = catalog / constants.COLLECTION_ID
    found = []
    for path in sorted(folder.glob("*/*.json")):
        if path.stem == path.parent.name:
            found.append(json.loads(path.read_text()))
    return found


def band_grid(label_grid: Grid, band_name: str, grid: imagery.ImageryGrid) -> Grid:
    """Where a band lies: the label grid, or its native grid (label grid refined)."""
    if grid == "label":
        return label_grid
    return label_grid.refined(LABEL_RESOLUTION // imagery.band(band_name).resolution)


def _label_grid(item: dict[str, Any]) -> Grid:
    props = item["properties"]
    return Grid.from_proj(props["proj:code"], props["proj:transform"], props["proj:shape"])


def _rng(seed: int, item_id: str, band: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}:{item_id}:{band}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))


def write_imagery(
    catalog: Path,
    *,
    grid: imagery.ImageryGrid = "native",
    bands: Sequence[str] = DEFAULT_BANDS,
    items: Sequence[str] | None = None,
    seed: int = 0,
    root_href: str | None = None,
) -> list[str]:
    """Imagery items for the label items of `catalog` (those of `items`, else all); their ids.

    With `root_href` (the catalog's `--root-href`, ending in `/`) the band hrefs are absolute
    under it, `<root_href>alcd-l1c/<id>/<band>.tif`, as `stacgen imagery fetch` writes them
    into a catalog built for publication; else relative (`./<band>.tif`)."""
    written = []
    for item in label_items(catalog):
        item_id = item["id"]
        if items is not None and item_id not in items:
            continue
        label_grid = _label_grid(item)
        # The label COG lies beside its item, whether the href is relative or absolute under
        # the catalog's --root-href.
        label_href = item["assets"]["classification"]["href"]
        label_path = catalog / constants.COLLECTION_ID / item_id / posixpath.basename(label_href)
        with rasterio.open(label_path) as src:
            nodata = src.read(1) == constants.NODATA
        folder = imagery.item_dir(catalog, item_id)
        folder.mkdir(parents=True, exist_ok=True)
        assets = {}
        for name in bands:
            target = band_grid(label_grid, name, grid)
            factor = target.width // label_grid.width
            dn = _rng(seed, item_id, name).integers(1, 10001, target.shape, dtype=np.uint16)
            dn[np.repeat(np.repeat(nodata, factor, axis=0), factor, axis=1)] = imagery.NODATA
            path = imagery.band_path(catalog, item_id, name)
            # write_cog writes the dtype its profile names; its annotation says uint8 only.
            write_cog(path, dn[None], target, "average", dtype="uint16", nodata=0)  # type: ignore[arg-type]
            href = f"./{path.name}"
            if root_href is not None:
                href = f"{root_href}{imagery.COLLECTION_ID}/{item_id}/{path.name}"
            assets[imagery.band(name).name] = _asset(href, target)
        atomic_write_json(imagery.item_json(catalog, item_id), _item(item, grid, assets))
        written.append(item_id)
    return written


def _asset(href: str, grid: Grid) -> dict[str, Any]:
    return {
        "href": href,
        "type": "image/tiff; application=geotiff; profile=cloud-optimized",
        "roles": ["data", "reflectance"],
        "proj:shape": list(grid.shape),
        "proj:transform": grid.proj_transform,
        "raster:bands": [
            {"nodata": imagery.NODATA, "data_type": "uint16", "scale": imagery.SCALE, "offset": 0}
        ],
    }


def _item(label: dict[str, Any], grid: str, assets: dict[str, Any]) -> dict[str, Any]:
    props = label["properties"]
    return {
        "type": "Feature",
        "stac_version": label.get("stac_version", "1.1.0"),
        "stac_extensions": [],
        "id": label["id"],
        "collection": imagery.COLLECTION_ID,
        "geometry": label["geometry"],
        "bbox": label["bbox"],
        "properties": {
            "datetime": props["datetime"],
            "proj:code": props["proj:code"],
            imagery.GRID_PROPERTY: grid,
            imagery.PROVIDER_PROPERTY: "synthetic",
            imagery.KIND_PROPERTY: "original",
            imagery.OFFSET_PROPERTY: 0,
        },
        "assets": assets,
        "links": [],
    }
