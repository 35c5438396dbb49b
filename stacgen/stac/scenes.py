"""A built catalog's label items and the bands of their imagery items, read from disk.

The one home of what `stacgen masks` and `stacgen.ml` both read: the catalog folder, the local
path of an href (relative ones resolved against their document, absolute ones under the
catalog's published root, `--root-href`, moved to the catalog folder), and the band assets of a
label item's imagery item in `alcd-l1c` (`layout.imagery.item_json`). Only JSON is read here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from stacgen import constants
from stacgen.errors import StacgenError
from stacgen.fileutil import JsonFileError, read_json_object
from stacgen.layout import imagery
from stacgen.raster.grid import Grid
from stacgen.stac.links import links_of, published_root


class CatalogFileError(StacgenError):
    """A catalog folder, item or asset that cannot be read, named in one line; each user
    (masks, ml) reports it as its own error."""


@contextmanager
def reported_as(error: Callable[[str], StacgenError]) -> Iterator[None]:
    """A CatalogFileError raised inside, raised again as the caller's own `error` (its line)."""
    try:
        yield
    except CatalogFileError as err:
        raise error(str(err)) from None


def catalog_folder(catalog: str | Path) -> Path:
    """The folder of a catalog given as its folder or its catalog.json."""
    path = Path(catalog)
    if path.name == "catalog.json":
        path = path.parent
    if not (path / "catalog.json").is_file():
        raise CatalogFileError(
            f"{catalog}: no catalog.json there (give a catalog folder or its file)"
        )
    return path


def read_object(path: Path) -> dict[str, Any]:
    try:
        return read_json_object(path)
    except JsonFileError as err:
        raise CatalogFileError(str(err)) from None


@dataclass(frozen=True)
class CatalogRoot:
    """A catalog folder and the URL it was published under (None: relative hrefs)."""

    folder: Path
    published: str | None

    @classmethod
    def of(cls, catalog: str | Path) -> CatalogRoot:
        folder = catalog_folder(catalog)
        return cls(folder, published_root(read_object(folder / "catalog.json")))

    def local(self, doc: Path, href: str) -> str:
        """The local path of `href` found in the document at `doc`."""
        if self.published and href.startswith(self.published):
            return str(self.folder.resolve() / unquote(href[len(self.published) :]))
        if urlsplit(href).scheme in ("http", "https"):
            return href  # elsewhere: GDAL reads it over HTTP
        url = urljoin(doc.resolve().as_uri(), href)
        return unquote(urlsplit(url).path)

    def label_json(self, item_id: str) -> Path:
        return self.folder / constants.COLLECTION_ID / item_id / f"{item_id}.json"

    def label_items(self) -> list[tuple[Path, dict[str, Any]]]:
        """The label items the label collection links to, with their paths, in link order."""
        collection_path = self.folder / constants.COLLECTION_ID / "collection.json"
        found = []
        for link in links_of(read_object(collection_path)):
            if link.get("rel") != "item" or not isinstance(link.get("href"), str):
                continue
            path = Path(self.local(collection_path, link["href"]))
            found.append((path, read_object(path)))
        return found


def grid_of(
    path: Path, props: Mapping[str, Any], fallback: Mapping[str, Any] | None = None
) -> Grid:
    """The grid of an item or asset (`props`) or, for what an asset does not say, of its item
    (`fallback`)."""
    fallback = props if fallback is None else fallback
    try:
        code = props.get("proj:code") or fallback["proj:code"]
        transform = props.get("proj:transform") or fallback["proj:transform"]
        shape = props.get("proj:shape") or fallback["proj:shape"]
        return Grid.from_proj(code, transform, shape)
    except (KeyError, TypeError, ValueError) as err:
        raise CatalogFileError(
            f"{path}: no usable proj:code, proj:transform, proj:shape ({err})"
        ) from None


@dataclass(frozen=True)
class BandFile:
    """One band COG of an imagery item: reflectance = DN * scale + offset, DN == nodata: none."""

    name: str
    path: str  # local, or an http(s) URL outside the catalog's published root
    grid: Grid
    scale: float
    offset: float
    nodata: float


@dataclass(frozen=True)
class Imagery:
    """The imagery item of a label item: where its JSON is, its properties, its bands."""

    path: Path
    properties: dict[str, Any]
    bands: dict[str, BandFile]  # by band name (B01 ... B12, B8A)


def imagery_of(root: CatalogRoot, item_id: str) -> Imagery | None:
    """The imagery item of the label item `item_id`; None where none has been fetched."""
    path = imagery.item_json(root.folder, item_id)
    if not path.is_file():
        return None
    item = read_object(path)
    props = item.get("properties") or {}
    bands = {}
    for key, asset in (item.get("assets") or {}).items():
        if key not in imagery.BAND_BY_NAME or not isinstance(asset, dict):
            continue  # the manifest, a thumbnail: not a band
        if not isinstance(asset.get("href"), str):
            raise CatalogFileError(f"{path}: band {key} has no href")
        bands[key] = _band_file(root, path, key, asset, props)
    return Imagery(path, props, bands)


def _band_file(
    root: CatalogRoot, path: Path, name: str, asset: dict[str, Any], props: Mapping[str, Any]
) -> BandFile:
    raster = (asset.get("raster:bands") or [{}])[0]
    return BandFile(
        name,
        root.local(path, asset["href"]),
        grid_of(path, asset, props),
        float(raster.get("scale", imagery.SCALE)),
        float(raster.get("offset", 0.0)),
        float(raster.get("nodata", imagery.NODATA)),
    )
