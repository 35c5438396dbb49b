"""The scenes of a split: each label item with its label COG, grid, class counts and imagery.

Read from a built catalog on disk through `stacgen.stac.scenes`: the label items through the
label collection's item links, the imagery item of each from its place in the `alcd-l1c` layout,
hrefs as local paths. Only JSON is read here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stacgen.layout import imagery
from stacgen.layout.labels import LABEL_ASSET, pixel_counts
from stacgen.ml.errors import ChipsError
from stacgen.raster.grid import Grid
from stacgen.stac import scenes as stac_scenes
from stacgen.stac.mlaoi import SPLIT_PROP, SPLITS
from stacgen.stac.scenes import BandFile, CatalogRoot


@dataclass(frozen=True)
class Scene:
    """One label item of the split, and its imagery where it has been fetched."""

    item_id: str
    split: str
    datetime: str  # the item's `datetime` (ISO 8601, UTC): the acquisition
    label_path: str
    label_grid: Grid
    counts: Mapping[str, int]  # pixels per ALCD class name (layout.labels.pixel_counts)
    geometry: Mapping[str, Any]
    imagery_grid: str | None  # "label", "native"; None: no imagery item
    bands: Mapping[str, BandFile]


def catalog_folder(catalog: str | Path) -> Path:
    """The folder of a catalog given as its folder or its catalog.json."""
    with stac_scenes.reported_as(ChipsError):
        return stac_scenes.catalog_folder(catalog)


def read_scenes(catalog: str | Path, splits: Sequence[str] | None = None) -> list[Scene]:
    """The label items (of `splits`, else all), sorted by id, with their imagery."""
    with stac_scenes.reported_as(ChipsError):
        root = CatalogRoot.of(catalog)
        for split in splits or ():
            if split not in SPLITS:
                raise ChipsError(f"split {split!r}: not one of {', '.join(SPLITS)}")
        scenes = [
            _scene(root, path, item)
            for path, item in root.label_items()
            if splits is None or item.get("properties", {}).get(SPLIT_PROP) in splits
        ]
        return sorted(scenes, key=lambda s: s.item_id)


def _scene(root: CatalogRoot, path: Path, item: Mapping[str, Any]) -> Scene:
    props = item.get("properties", {})
    asset = item.get("assets", {}).get(LABEL_ASSET)
    if not isinstance(asset, dict) or not isinstance(asset.get("href"), str):
        raise ChipsError(f"{path}: no {LABEL_ASSET} asset")
    counts = pixel_counts(item)
    item_id = str(item["id"])
    found = stac_scenes.imagery_of(root, item_id)
    imagery_grid, bands = (None, {}) if found is None else (_grid_kind(found), found.bands)
    return Scene(
        item_id=item_id,
        split=str(props.get(SPLIT_PROP)),
        datetime=str(props.get("datetime") or ""),
        label_path=root.local(path, asset["href"]),
        label_grid=stac_scenes.grid_of(path, asset, props),
        counts=counts,
        geometry=item.get("geometry") or {},
        imagery_grid=imagery_grid,
        bands=bands,
    )


def _grid_kind(found: stac_scenes.Imagery) -> str:
    return str(found.properties.get(imagery.GRID_PROPERTY, "label"))
