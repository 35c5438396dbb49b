"""The items a detector runs on: each label item's grid and date, and its fetched L1C bands.

Read from a built catalog folder by the layout's names (`<catalog>/<labels>/<id>/<id>.json`,
`stacgen.layout.imagery.item_json`), JSON only; the band files are opened by the reader.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stacgen import constants
from stacgen.fileutil import JsonFileError, read_json_object
from stacgen.layout import imagery
from stacgen.masks.errors import MasksError
from stacgen.raster.grid import Grid
from stacgen.stac.mlaoi import SPLIT_PROP, SPLITS


@dataclass(frozen=True)
class BandFile:
    """One band COG of an imagery item: reflectance = DN * scale + offset, DN == nodata: none."""

    name: str
    path: Path
    grid: Grid
    scale: float
    offset: float
    nodata: float


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


def catalog_folder(catalog: str | Path) -> Path:
    """The folder of a catalog given as its folder or its catalog.json."""
    path = Path(catalog)
    if path.name == "catalog.json":
        path = path.parent
    if not (path / "catalog.json").is_file():
        raise MasksError(f"{catalog}: no catalog.json there (give a catalog folder or its file)")
    return path


def label_ids(folder: Path) -> list[str]:
    labels = folder / constants.COLLECTION_ID
    if not labels.is_dir():
        return []
    return sorted(p.name for p in labels.iterdir() if (p / f"{p.name}.json").is_file())


def _read(path: Path) -> dict[str, Any]:
    try:
        return read_json_object(path)
    except JsonFileError as err:
        raise MasksError(str(err)) from None


def _label(folder: Path, item_id: str) -> dict[str, Any]:
    return _read(folder / constants.COLLECTION_ID / item_id / f"{item_id}.json")


def select(
    catalog: str | Path,
    items: Sequence[str] | None = None,
    split: str | None = None,
    *,
    need_imagery: bool = True,
) -> list[Scene]:
    """The scenes of `items` (ids), or of a split, or every label item (with imagery if
    `need_imagery`), by id."""
    folder = catalog_folder(catalog)
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
        chosen = [i for i in known if _label(folder, i)["properties"].get(SPLIT_PROP) == split]
    elif need_imagery:
        chosen = [i for i in known if imagery.item_json(folder, i).is_file()]
    else:
        chosen = known
    if not chosen:
        hint = " (fetch the imagery: stacgen imagery fetch)" if need_imagery else ""
        raise MasksError(f"{folder}: no item to run on{hint}")
    return [scene(folder, i, need_imagery) for i in chosen]


def scene(folder: Path, item_id: str, need_imagery: bool = True) -> Scene:
    label = _label(folder, item_id)
    props = label["properties"]
    label_grid = Grid.from_proj(props["proj:code"], props["proj:transform"], props["proj:shape"])
    bbox = [float(v) for v in label["bbox"]]
    path = imagery.item_json(folder, item_id)
    if not need_imagery:
        return Scene(item_id, str(props.get("datetime")), label_grid, bbox, path, {}, {})
    if not path.is_file():
        raise MasksError(f"{path}: no imagery item for {item_id} (stacgen imagery fetch)")
    item = _read(path)
    code = item["properties"].get("proj:code", props["proj:code"])
    bands = {}
    for key, asset in item.get("assets", {}).items():
        try:
            band = imagery.band(key)
        except ValueError:
            continue  # the manifest, a thumbnail: not a band
        bands[band.name] = _band_file(path.parent, band.name, code, asset)
    return Scene(
        item_id, str(props.get("datetime")), label_grid, bbox, path, bands, item["properties"]
    )


def _band_file(folder: Path, name: str, code: str, asset: dict[str, Any]) -> BandFile:
    raster = (asset.get("raster:bands") or [{}])[0]
    grid = Grid.from_proj(code, asset["proj:transform"], asset["proj:shape"])
    href = str(asset["href"])
    return BandFile(
        name,
        (folder / href).resolve(),
        grid,
        float(raster.get("scale", imagery.SCALE)),
        float(raster.get("offset", 0.0)),
        float(raster.get("nodata", imagery.NODATA)),
    )
