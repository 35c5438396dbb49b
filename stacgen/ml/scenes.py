"""The scenes of a split: each label item with its label COG, grid, class counts and imagery.

Read from a built catalog on disk: the label items through the label collection's item links,
the imagery item of each from its place in the `alcd-l1c` layout (`layout.imagery.item_json`).
Only JSON is read here; hrefs become local paths (relative ones resolved against their
document, absolute ones under the catalog's published root moved to the catalog folder).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from stacgen import constants
from stacgen.fileutil import JsonFileError, read_json_object
from stacgen.layout import imagery
from stacgen.layout.labels import LABEL_ASSET, pixel_counts
from stacgen.ml.errors import ChipsError
from stacgen.raster.grid import Grid
from stacgen.stac.links import links_of, published_root
from stacgen.stac.mlaoi import SPLIT_PROP, SPLITS


@dataclass(frozen=True)
class BandSource:
    """One band COG of a scene's imagery and the grid it is on."""

    name: str
    path: str
    grid: Grid


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
    bands: Mapping[str, BandSource]


@dataclass(frozen=True)
class _Root:
    folder: Path
    published: str | None

    def local(self, doc: Path, href: str) -> str:
        """The local path of `href` found in the document at `doc`."""
        if self.published and href.startswith(self.published):
            return str(self.folder / unquote(href[len(self.published) :]))
        if urlsplit(href).scheme in ("http", "https"):
            return href  # elsewhere: GDAL reads it over HTTP
        url = urljoin(doc.resolve().as_uri(), href)
        return unquote(urlsplit(url).path)


def catalog_folder(catalog: str | Path) -> Path:
    """The folder of a catalog given as its folder or its catalog.json."""
    path = Path(catalog)
    if path.name == "catalog.json":
        path = path.parent
    if not (path / "catalog.json").is_file():
        raise ChipsError(f"{catalog}: no catalog.json there (give a catalog folder or its file)")
    return path


def read_scenes(catalog: str | Path, splits: Sequence[str] | None = None) -> list[Scene]:
    """The label items (of `splits`, else all), sorted by id, with their imagery."""
    folder = catalog_folder(catalog)
    for split in splits or ():
        if split not in SPLITS:
            raise ChipsError(f"split {split!r}: not one of {', '.join(SPLITS)}")
    root = _Root(folder, published_root(_read(folder / "catalog.json")))
    collection_path = folder / constants.COLLECTION_ID / "collection.json"
    collection = _read(collection_path)
    scenes = []
    for link in links_of(collection):
        if link.get("rel") != "item" or not isinstance(link.get("href"), str):
            continue
        path = Path(root.local(collection_path, link["href"]))
        item = _read(path)
        split = item.get("properties", {}).get(SPLIT_PROP)
        if splits is None or split in splits:
            scenes.append(_scene(root, path, item))
    return sorted(scenes, key=lambda s: s.item_id)


def _read(path: Path) -> dict[str, Any]:
    try:
        return read_json_object(path)
    except JsonFileError as err:
        raise ChipsError(str(err)) from err


def _grid(path: Path, props: Mapping[str, Any], fallback: Mapping[str, Any]) -> Grid:
    try:
        code = props.get("proj:code") or fallback["proj:code"]
        transform = props.get("proj:transform") or fallback["proj:transform"]
        shape = props.get("proj:shape") or fallback["proj:shape"]
        return Grid.from_proj(code, transform, shape)
    except (KeyError, TypeError, ValueError) as err:
        raise ChipsError(
            f"{path}: no usable proj:code, proj:transform, proj:shape ({err})"
        ) from err


def _scene(root: _Root, path: Path, item: Mapping[str, Any]) -> Scene:
    props = item.get("properties", {})
    asset = item.get("assets", {}).get(LABEL_ASSET)
    if not isinstance(asset, dict) or not isinstance(asset.get("href"), str):
        raise ChipsError(f"{path}: no {LABEL_ASSET} asset")
    counts = pixel_counts(item)
    item_id = str(item["id"])
    imagery_grid, bands = _imagery(root, item_id)
    return Scene(
        item_id=item_id,
        split=str(props.get(SPLIT_PROP)),
        datetime=str(props.get("datetime") or ""),
        label_path=root.local(path, asset["href"]),
        label_grid=_grid(path, asset, props),
        counts=counts,
        geometry=item.get("geometry") or {},
        imagery_grid=imagery_grid,
        bands=bands,
    )


def _imagery(root: _Root, item_id: str) -> tuple[str | None, dict[str, BandSource]]:
    path = imagery.item_json(root.folder, item_id)
    if not path.is_file():
        return None, {}
    item = _read(path)
    props = item.get("properties", {})
    bands = {}
    for key, asset in (item.get("assets") or {}).items():
        if key in imagery.BAND_BY_NAME and isinstance(asset, dict) and "href" in asset:
            bands[key] = BandSource(key, root.local(path, asset["href"]), _grid(path, asset, props))
    return str(props.get(imagery.GRID_PROPERTY, "label")), bands
