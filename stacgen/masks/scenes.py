"""The items a detector runs on: each label item's grid and date, and its fetched L1C bands.

Read from a built catalog folder by the layout's names (`<catalog>/<labels>/<id>/<id>.json`),
the imagery item and its band hrefs through `stacgen.stac.scenes`; JSON only, the band files
are opened by the reader.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from stacgen import constants
from stacgen.layout import imagery
from stacgen.masks.errors import MasksError
from stacgen.raster.grid import Grid
from stacgen.stac import scenes as stac_scenes
from stacgen.stac.mlaoi import SPLIT_PROP, SPLITS
from stacgen.stac.scenes import BandFile, CatalogRoot


@dataclass(frozen=True)
class Scene:
    """A label item and its imagery item, as a detector needs them."""

    item_id: str
    datetime: str
    label_grid: Grid
    bbox: list[float]  # the label item's, lon/lat
    imagery_json: Path
    bands: dict[str, BandFile]  # empty where the item has no imagery
    properties: dict[str, Any]  # the imagery item's properties (provider, offset applied ...)

    def require(self, names: Sequence[str], detector: str) -> list[BandFile]:
        """The bands `names` in that order; missing ones are one line naming them."""
        missing = [n for n in names if n not in self.bands]
        if missing:
            raise MasksError(
                f"{self.imagery_json}: {detector} needs bands {', '.join(names)}; "
                f"missing {', '.join(missing)} (stacgen imagery fetch --bands all)"
            )
        return [self.bands[n] for n in names]


def label_ids(folder: Path) -> list[str]:
    labels = folder / constants.COLLECTION_ID
    if not labels.is_dir():
        return []
    return sorted(p.name for p in labels.iterdir() if (p / f"{p.name}.json").is_file())


def _label(root: CatalogRoot, item_id: str) -> dict[str, Any]:
    return stac_scenes.read_object(root.label_json(item_id))


def select(
    catalog: str | Path,
    items: Sequence[str] | None = None,
    split: str | None = None,
    *,
    need_imagery: bool = True,
) -> list[Scene]:
    """The scenes of `items` (ids), or of a split, or every label item (with imagery if
    `need_imagery`), by id."""
    with stac_scenes.reported_as(MasksError):
        root = CatalogRoot.of(catalog)
        chosen = _chosen(root, items, split, need_imagery)
        return [_scene(root, i, need_imagery) for i in chosen]


def _chosen(
    root: CatalogRoot, items: Sequence[str] | None, split: str | None, need_imagery: bool
) -> list[str]:
    folder = root.folder
    known = label_ids(folder)
    if items is not None and split is not None:
        raise MasksError("--items and --split: give one of them")
    if split is not None and split not in SPLITS:
        raise MasksError(f"--split {split!r}: not one of {', '.join(SPLITS)}")
    if items is not None:
        unknown = [i for i in items if i not in known]
        if unknown:
            raise MasksError(f"--items: not label items of {folder}: {', '.join(unknown)}")
        chosen = list(dict.fromkeys(items))
    elif split is not None:
        chosen = [i for i in known if _label(root, i)["properties"].get(SPLIT_PROP) == split]
    elif need_imagery:
        chosen = [i for i in known if imagery.item_json(folder, i).is_file()]
    else:
        chosen = known
    if not chosen:
        hint = " (fetch the imagery: stacgen imagery fetch)" if need_imagery else ""
        raise MasksError(f"{folder}: no item to run on{hint}")
    return chosen


def _scene(root: CatalogRoot, item_id: str, need_imagery: bool) -> Scene:
    label = _label(root, item_id)
    props = label["properties"]
    label_grid = stac_scenes.grid_of(root.label_json(item_id), props)
    bbox = [float(v) for v in label["bbox"]]
    datetime = str(props.get("datetime"))
    path = imagery.item_json(root.folder, item_id)
    if not need_imagery:
        return Scene(item_id, datetime, label_grid, bbox, path, {}, {})
    found = stac_scenes.imagery_of(root, item_id)
    if found is None:
        raise MasksError(f"{path}: no imagery item for {item_id} (stacgen imagery fetch)")
    for band in found.bands.values():
        # The manifest records each band file's digest: only a file on this disk has one.
        if urlsplit(band.path).scheme:
            raise MasksError(
                f"{path}: band {band.name} is at {band.path}, not in the catalog folder "
                "(stacgen imagery fetch)"
            )
    return Scene(item_id, datetime, label_grid, bbox, path, found.bands, found.properties)
