"""`gcs`: Google's public `gcp-public-data-sentinel-2` bucket over HTTPS, no account, no cost.

The product folder `tiles/<zone>/<band>/<square>/<product>.SAFE/` is found by name with the
bucket's JSON listing API (`storage/v1/b/<bucket>/o?prefix=...&delimiter=/`, the folders of the
datatake under the tile); the band files and their sizes come from a listing of that folder.
Bands are read by range requests (GDAL `/vsicurl/`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from stacgen.imagery.http import Unreachable, get_json
from stacgen.imagery.identity import choose, gdal_http_options, known_offsets, parse_found
from stacgen.imagery.located import ImageryError, Located, Provider
from stacgen.imagery.providers import Settings
from stacgen.layout.imagery import BANDS
from stacgen.source import naming
from stacgen.source.naming import ProductName, Tile

NAME: Final = "gcs"
BUCKET: Final = "gcp-public-data-sentinel-2"
PUBLIC: Final = naming.GCS_BUCKET_URL.removesuffix(f"/{BUCKET}")
MAX_PAGES: Final = 50  # of up to 1000 names each: far more than any folder holds


def make(settings: Settings) -> Provider:
    return Gcs(settings.endpoints.get(NAME, PUBLIC).rstrip("/"), settings.timeout)


@dataclass
class Gcs:
    base: str  # https://storage.googleapis.com, or a fake's
    timeout: float
    name: str = NAME

    def locate(self, item_id: str, product: ProductName) -> Located:
        tile = _tile(product)
        chosen, kind = choose(NAME, product, parse_found(self._folders(product, tile)))
        folder = naming.gcs_product_folder(chosen, tile)
        objects = self._objects(f"{folder}/")
        granule, bands = _bands(objects, folder, tile)
        orbit = naming.granule_absolute_orbit(granule, tile.id)
        return Located(
            provider=NAME,
            item_id=item_id,
            product=chosen,
            kind=kind,
            provider_ref=f"{self.base}/{BUCKET}/{folder}/manifest.safe",
            bands={band: self._vsicurl(key) for band, (key, _) in bands.items()},
            metadata=_metadata(objects, folder, self._vsicurl),
            radio_add_offset=known_offsets(chosen),
            sizes={band: size for band, (_, size) in bands.items()},
            gdal_options=gdal_http_options(self.timeout),
            datatake_id=naming.datatake_identifier(chosen, orbit) if orbit is not None else None,
        )

    def _vsicurl(self, key: str) -> str:
        return f"/vsicurl/{self.base}/{BUCKET}/{key}"

    def _folders(self, product: ProductName, tile: Tile) -> list[str]:
        """The product folders under the tile whose names start like the product's or its
        datatake's (the legacy name, the compact name, every baseline of the datatake)."""
        starts = {product.name, naming.datatake_search_prefix(product)} - {None}
        names = []
        for start in sorted(s for s in starts if s):
            prefix = f"{naming.gcs_tile_prefix(tile)}/{start}"
            for page in self._pages(prefix, delimiter="/"):
                names += [p.rstrip("/").rsplit("/", 1)[-1] for p in page.get("prefixes", [])]
        return names

    def _objects(self, prefix: str) -> dict[str, int]:
        """Every object under `prefix`, with its size."""
        found = {}
        for page in self._pages(prefix):
            for obj in page.get("items", []):
                found[str(obj["name"])] = int(obj.get("size", 0))
        return found

    def _pages(self, prefix: str, delimiter: str | None = None) -> list[dict[str, Any]]:
        url = f"{self.base}/storage/v1/b/{BUCKET}/o"
        params = {"prefix": prefix} | ({"delimiter": delimiter} if delimiter else {})
        pages: list[dict[str, Any]] = []
        while len(pages) < MAX_PAGES:
            page = get_json(NAME, url, self.timeout, params)
            if page is None:
                raise Unreachable(f"{NAME}: {url}: no bucket {BUCKET} there (HTTP 404)")
            pages.append(page)
            token = page.get("nextPageToken")
            if not token:
                return pages
            params = {**params, "pageToken": str(token)}
        raise Unreachable(f"{NAME}: listing {prefix} did not end after {MAX_PAGES} pages")


def _tile(product: ProductName) -> Tile:
    compact = product.compact
    if compact is None or compact.tile is None:
        raise ImageryError(f"{NAME}: {product.name}: no compact name known, so no tile")
    return Tile(compact.tile)


def _bands(
    objects: dict[str, int], folder: str, tile: Tile
) -> tuple[str, dict[str, tuple[str, int]]]:
    """The granule of `tile` in the folder and its band files (key, size) by band."""
    by_granule: dict[str, dict[str, tuple[str, int]]] = {}
    for key, size in objects.items():
        parts = key[len(folder) + 1 :].split("/")
        band = naming.band_of_file(key)
        in_img_data = len(parts) == 4 and parts[0] == "GRANULE" and parts[2] == "IMG_DATA"
        if in_img_data and band and naming.granule_absolute_orbit(parts[1], tile.id) is not None:
            by_granule.setdefault(parts[1], {})[band] = (key, size)
    if not by_granule:
        raise ImageryError(f"{NAME}: {folder}: no granule of tile {tile.id} with band files")
    granule = sorted(by_granule)[-1]
    bands = by_granule[granule]
    missing = [b.name for b in BANDS if b.name not in bands]
    if missing:
        raise ImageryError(f"{NAME}: {folder}/GRANULE/{granule}: band files missing: {missing}")
    return granule, bands


def _metadata(objects: dict[str, int], folder: str, path: Callable[[str], str]) -> str | None:
    """The product metadata at the folder's root: MTD_MSIL1C.xml, or an old product's
    `S2A_OPER_MTD_SAFL1C_...xml`."""
    for key in sorted(objects):
        name = key[len(folder) + 1 :]
        product_metadata = "MTD_MSIL1C" in name or "MTD_SAFL1C" in name
        if "/" not in name and name.endswith(".xml") and product_metadata:
            return str(path(key))
    return None
