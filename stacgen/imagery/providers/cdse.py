"""`cdse`: the Copernicus Data Space STAC API (v1) and its `eodata` S3 bucket (free account, S3
keys from its key manager, read by GDAL from the environment or the usual files).

ESA has been deleting the old baselines from CDSE since late 2024: what is found there is the
Collection-1 successor of the datatake (baseline 05.00 or 05.10, a new discriminator), marked
`reprocessed` (its pixels are not the ones the labels were drawn on). The search asks for the
items of the tile sensed at the datatake's start, pages followed to the end; every item found is
judged by name and datatake, whatever the server filtered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final
from urllib.parse import urlsplit

from stacgen.imagery.http import Unreachable, get_json
from stacgen.imagery.identity import NotFound, choose, gdal_http_options, known_offsets
from stacgen.imagery.located import ImageryError, Located, Provider
from stacgen.imagery.providers import Settings
from stacgen.layout.imagery import BANDS
from stacgen.source import naming
from stacgen.source.naming import ProductName, Tile

NAME: Final = "cdse"
PUBLIC: Final = naming.CDSE_ITEM_URL.split("/collections/")[0]
COLLECTION: Final = "sentinel-2-l1c"
S3_ENDPOINT: Final = "https://eodata.dataspace.copernicus.eu"
BUCKET: Final = "eodata"
# Item datetimes are the datatake's sensing start to the millisecond; a margin for rounding.
WINDOW: Final = timedelta(seconds=2)
MAX_PAGES: Final = 20


def make(settings: Settings) -> Provider:
    base = settings.endpoints.get(NAME, PUBLIC).rstrip("/")
    return Cdse(base, settings.endpoints.get(f"{NAME}-s3", S3_ENDPOINT), settings.timeout)


@dataclass
class Cdse:
    base: str  # https://stac.dataspace.copernicus.eu/v1, or a fake's
    s3_endpoint: str
    timeout: float
    name: str = NAME

    def locate(self, item_id: str, product: ProductName) -> Located:
        features: dict[ProductName, dict[str, Any]] = {}
        for feature in self.search(product):
            try:
                features[naming.product_name_of(str(feature.get("id", "")))] = feature
            except ValueError:
                continue  # not an L1C product name: not ours
        chosen, kind = choose(NAME, product, list(features))
        feature = features[chosen]
        assets = feature.get("assets", {})
        props = feature.get("properties", {})
        return Located(
            provider=NAME,
            item_id=item_id,
            product=chosen,
            kind=kind,
            provider_ref=_self_href(feature, self.base),
            bands=_bands(feature),
            metadata=_vsis3(assets.get("product_metadata", {}).get("href")),
            radio_add_offset=known_offsets(chosen),
            sizes=_sizes(assets),
            gdal_options=self.gdal_options(),
            datatake_id=props.get("eopf:datatake_id") if isinstance(props, dict) else None,
        )

    def search(self, product: ProductName) -> list[dict[str, Any]]:
        compact = product.compact
        if compact is None or compact.tile is None:
            raise NotFound(f"{NAME}: {product.name}: no compact name known, so no datatake")
        start = compact.datetime
        window = f"{_iso(start - WINDOW)}/{_iso(start + WINDOW)}"
        url = f"{self.base}/search"
        params: dict[str, str] | None = {
            "collections": COLLECTION,
            "datetime": window,
            "filter": f"\"grid:code\" = '{Tile(compact.tile).grid_code}'",
            "filter-lang": "cql2-text",
            "limit": "50",
        }
        features: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            page = get_json(NAME, url, self.timeout, params)
            if page is None:
                raise Unreachable(f"{NAME}: {url}: no STAC search there (HTTP 404)")
            features += [f for f in page.get("features", []) if isinstance(f, dict)]
            url_next = _next(page)
            if url_next is None:
                return features
            url, params = url_next, None
        raise Unreachable(f"{NAME}: the search did not end after {MAX_PAGES} pages")

    def gdal_options(self) -> dict[str, str]:
        """CDSE's S3 endpoint, path-style (never a key: GDAL reads those itself)."""
        parts = urlsplit(self.s3_endpoint)
        return gdal_http_options(self.timeout) | {
            "AWS_S3_ENDPOINT": parts.netloc,
            "AWS_HTTPS": "YES" if parts.scheme == "https" else "NO",
            "AWS_VIRTUAL_HOSTING": "FALSE",
            "AWS_REGION": "default",  # what CDSE's documentation gives
        }


def _iso(moment: Any) -> str:
    return str(moment.strftime("%Y-%m-%dT%H:%M:%SZ"))


def _vsis3(href: Any) -> str | None:
    text = str(href or "")
    return f"/vsis3/{text.removeprefix('s3://')}" if text.startswith(f"s3://{BUCKET}/") else None


def _bands(feature: dict[str, Any]) -> dict[str, str]:
    """The band assets (keyed B01 ... B12, B8A at CDSE) as /vsis3/ paths on `eodata`."""
    found = {}
    for key, asset in feature.get("assets", {}).items():
        path = _vsis3(asset.get("href")) if isinstance(asset, dict) else None
        band = naming.band_of_file(path or "")
        if path and band and key == band:
            found[band] = path
    missing = [b.name for b in BANDS if b.name not in found]
    if missing:
        raise ImageryError(f"{NAME}: item {feature.get('id')}: no {BUCKET} asset for {missing}")
    return found


def _sizes(assets: dict[str, Any]) -> dict[str, int]:
    return {
        b.name: int(assets[b.name]["file:size"])
        for b in BANDS
        if isinstance(assets.get(b.name), dict) and "file:size" in assets[b.name]
    }


def _self_href(feature: dict[str, Any], base: str) -> str:
    for link in feature.get("links", []):
        if isinstance(link, dict) and link.get("rel") == "self" and link.get("href"):
            return str(link["href"])
    return f"{base}/collections/{COLLECTION}/items/{feature.get('id')}"


def _next(page: dict[str, Any]) -> str | None:
    for link in page.get("links", []):
        if isinstance(link, dict) and link.get("rel") == "next" and link.get("href"):
            return str(link["href"])
    return None
