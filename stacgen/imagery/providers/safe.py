"""The `safe` provider: SAFE products the user already has, folders or zips, under --safe-dir.

A product is found by name: `<name>.SAFE/`, `<name>.zip` or `<name>.SAFE.zip` anywhere under
the folder, where `<name>` is the label item's product or, for the 8 legacy products, the
compact name the hub gave it (`constants.LEGACY_TO_COMPACT`); failing that, a product of the
same datatake (platform, sensing start, orbit, tile) with a Collection-1 baseline is taken as
the reprocessed successor. Its metadata must agree (PRODUCT_URI of a compact product, the
spacecraft, the orbit) and hold a granule of the item's tile: an old multi-granule product
gives the bands of that granule only, a product of another tile is refused in one line.
Nothing here touches a network.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final

from stacgen.imagery.located import ImageryError, Located
from stacgen.imagery.metadata import ProductMetadata, parse_metadata
from stacgen.imagery.providers import Settings
from stacgen.layout.imagery import Kind
from stacgen.source.naming import (
    ProductName,
    band_of_file,
    granule_tile,
    parse_product_name,
    same_datatake,
)

NAME: Final = "safe"
SUFFIXES: Final = (".SAFE", ".SAFE.zip", ".zip")


def make(settings: Settings) -> SafeProvider:
    if settings.safe_dir is None:
        raise ImageryError("--safe-dir: the safe provider needs the folder that holds the SAFEs")
    if not settings.safe_dir.is_dir():
        raise ImageryError(f"--safe-dir: {settings.safe_dir} is not a folder")
    return SafeProvider(settings.safe_dir)


@dataclass(frozen=True)
class Found:
    path: Path  # the .SAFE folder or the zip
    product: ProductName


def product_of(path: Path) -> ProductName | None:
    """The product a SAFE folder or zip is named after, if it is named after one."""
    for suffix in SUFFIXES:
        if path.name.endswith(suffix):
            try:
                return parse_product_name(path.name.removesuffix(suffix))
            except ValueError:
                return None
    return None


def scan(root: Path) -> list[Found]:
    """Every SAFE folder or zip under `root`, not looking inside a SAFE."""
    found = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        for name in sorted(dirs):
            if (product := product_of(here / name)) is not None:
                found.append(Found(here / name, product))
        dirs[:] = sorted(d for d in dirs if not d.endswith(".SAFE"))
        for name in sorted(files):
            if (product := product_of(here / name)) is not None:
                found.append(Found(here / name, product))
    return found


class SafeProvider:
    name = NAME

    def __init__(self, root: Path) -> None:
        self.root = root
        self._found: list[Found] | None = None

    @property
    def found(self) -> list[Found]:
        if self._found is None:
            self._found = scan(self.root)
        return self._found

    def locate(self, item_id: str, product: ProductName) -> Located:
        tile = product.datatake.tile if product.datatake else None
        if tile is None:
            raise ImageryError(f"{item_id}: the tile of product {product.name} is not known")
        found, kind = self._choose(item_id, product, tile)
        safe = Safe.open(found.path)
        meta = safe.metadata()
        _check_identity(found, meta, safe.where(safe.metadata_file), tile)
        bands, sizes = safe.bands(tile)
        return Located(
            provider=NAME,
            item_id=item_id,
            product=found.product,
            kind=kind,
            provider_ref=str(found.path.absolute()),
            bands=bands,
            metadata=safe.gdal_path(safe.metadata_file),
            radio_add_offset={band: meta.offset(band) for band in bands},
            sizes=sizes,
        )

    def _choose(self, item_id: str, product: ProductName, tile: str) -> tuple[Found, Kind]:
        names = {product.name} | ({product.compact.name} if product.compact else set())
        exact = [f for f in self.found if f.product.name in names]
        if exact:
            return exact[0], "original"
        same = [f for f in self.found if same_datatake(f.product, product)]
        successors = [f for f in same if f.product.is_collection_1]
        if successors:
            return max(successors, key=lambda f: f.product.name), "reprocessed"
        if same:
            raise ImageryError(
                f"{item_id}: {same[0].path} holds {same[0].product.name}, the same datatake as "
                f"{product.name} but neither it nor its Collection-1 successor"
            )
        other = [f for f in self.found if _same_take_other_tile(f.product, product, tile)]
        if other:
            raise ImageryError(
                f"{item_id}: {other[0].path} is a SAFE of tile T{other[0].product.tile}, "
                f"not of T{tile} ({product.name})"
            )
        looked = ", ".join(f"{n}{s}" for n in sorted(names) for s in SUFFIXES)
        raise ImageryError(f"{item_id}: no SAFE of {product.name} under {self.root} ({looked})")


def _same_take_other_tile(a: ProductName, b: ProductName, tile: str) -> bool:
    take = b.datatake
    return (
        take is not None
        and a.tile is not None
        and a.tile != tile
        and a.mission == take.mission
        and a.datetime == take.sensing_start
        and a.relative_orbit == take.relative_orbit
    )


def _check_identity(found: Found, meta: ProductMetadata, where: str, tile: str) -> None:
    product = found.product
    uri = (meta.product_uri or "").removesuffix(".SAFE")
    if product.form == "compact" and uri != product.name:
        raise ImageryError(f"{where}: PRODUCT_URI {uri!r} is not {product.name}, its folder's name")
    spacecraft = f"Sentinel-{product.mission[1:]}"
    if meta.spacecraft not in (None, spacecraft):
        raise ImageryError(f"{where}: SPACECRAFT_NAME {meta.spacecraft} is not {spacecraft}")
    if meta.relative_orbit not in (None, product.relative_orbit):
        raise ImageryError(
            f"{where}: relative orbit {meta.relative_orbit} is not R{product.relative_orbit:03d}"
        )
    if tile not in meta.tiles:
        held = ", ".join(f"T{t}" for t in meta.tiles) or "no tile"
        raise ImageryError(f"{found.path}: a SAFE of {held}, not of T{tile}")


@dataclass(frozen=True)
class Safe:
    """The files of one SAFE, a folder or a zip, by their path inside the SAFE."""

    path: Path
    prefix: str  # inside a zip: the folder holding the SAFE's files ("" when at the top)
    files: dict[str, int]  # path inside the SAFE -> size

    @classmethod
    def open(cls, path: Path) -> Safe:
        try:
            if path.is_dir():
                files = {
                    p.relative_to(path).as_posix(): p.stat().st_size
                    for p in path.rglob("*")
                    if p.is_file()
                }
                return cls(path, "", files)
            with zipfile.ZipFile(path) as zf:
                infos = [i for i in zf.infolist() if not i.is_dir()]
        except (OSError, zipfile.BadZipFile) as err:
            raise ImageryError(f"{path}: not a readable SAFE ({err})") from None
        prefix = _zip_prefix([i.filename for i in infos])
        files = {i.filename[len(prefix) :]: i.file_size for i in infos}
        return cls(path, prefix, files)

    @property
    def is_zip(self) -> bool:
        return not self.path.is_dir()

    @property
    def metadata_file(self) -> str:
        top = [f for f in self.files if "/" not in f]
        for name in top:
            if name == "MTD_MSIL1C.xml" or "_MTD_SAFL1C_" in name:
                return name
        raise ImageryError(f"{self.path}: no MTD_MSIL1C.xml (nor old-format MTD_SAFL1C) in it")

    def where(self, inner: str) -> str:
        return f"{self.path}/{inner}" if not self.is_zip else f"{self.path} member {inner}"

    def gdal_path(self, inner: str) -> str:
        full = self.path.absolute()
        return f"/vsizip/{full}/{self.prefix}{inner}" if self.is_zip else str(full / inner)

    def read(self, inner: str) -> bytes:
        try:
            if not self.is_zip:
                return (self.path / inner).read_bytes()
            with zipfile.ZipFile(self.path) as zf:
                return zf.read(self.prefix + inner)
        except (OSError, KeyError, zipfile.BadZipFile) as err:
            raise ImageryError(f"{self.where(inner)}: cannot be read ({err})") from None

    def metadata(self) -> ProductMetadata:
        name = self.metadata_file
        return parse_metadata(self.read(name), self.where(name))

    def bands(self, tile: str) -> tuple[dict[str, str], dict[str, int]]:
        """The band files of the granule of `tile`: band -> GDAL path, band -> size."""
        paths, sizes = {}, {}
        for inner, size in sorted(self.files.items()):
            parts = PurePosixPath(inner).parts
            if len(parts) != 4 or parts[0] != "GRANULE" or parts[2] != "IMG_DATA":
                continue
            band = band_of_file(parts[3])
            if band is not None and granule_tile(parts[1]) == tile:
                paths[band], sizes[band] = self.gdal_path(inner), size
        return paths, sizes


def _zip_prefix(names: list[str]) -> str:
    """The folder inside a zip that holds the SAFE (`<name>.SAFE/`), or "" at the top."""
    tops = {n.split("/", 1)[0] for n in names if "/" in n}
    if len(tops) == 1 and not any("/" not in n for n in names):
        return f"{tops.pop()}/"
    return ""
