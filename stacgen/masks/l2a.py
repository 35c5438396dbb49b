"""The L2A product of a label item's datatake, found in a public STAC API, and its SCL asset.

Two providers, the shapes of ../shared/imagery: Earth Search v1 (`sentinel-2-c1-l2a`, the
Collection-1 reprocessing, then `sentinel-2-l2a`; asset `scl`, public COGs) and Microsoft's
Planetary Computer (`sentinel-2-l2a`; asset `SCL` on Azure blob storage, read with a SAS token
from its token endpoint). An item is the same acquisition when the product name in its
`s2:product_uri` has the L1C's datatake (`stacgen.source.naming.same_datatake`): the date alone
never decides. Of several (reprocessings), the highest processing baseline wins, then the latest
generation time. Every request has connect and read timeouts and bounded retries.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from stacgen.fileutil import json_object
from stacgen.masks.errors import MasksError
from stacgen.source import naming

log = logging.getLogger(__name__)


class NotFound(MasksError):
    """No L2A item of the datatake at the provider (the others are still fetched)."""


@dataclass(frozen=True)
class Provider:
    name: str
    api: str  # STAC API root
    collections: tuple[str, ...]  # searched in this order
    scl_asset: str
    sas: str | None = None  # token endpoint (Planetary Computer): `<sas>/<collection>`


PROVIDERS: Final = {
    "earth-search": Provider(
        "earth-search",
        "https://earth-search.aws.element84.com/v1",
        ("sentinel-2-c1-l2a", "sentinel-2-l2a"),
        "scl",
    ),
    "planetary-computer": Provider(
        "planetary-computer",
        "https://planetarycomputer.microsoft.com/api/stac/v1",
        ("sentinel-2-l2a",),
        "SCL",
        sas="https://planetarycomputer.microsoft.com/api/sas/v1/token",
    ),
}
NAMES: Final = tuple(PROVIDERS)
DEFAULT_TIMEOUT: Final = 30.0
MAX_PAGES: Final = 5  # a datatake's day and footprint hold a handful of items: 5 pages of 50
PAGE_LIMIT: Final = 50


@dataclass(frozen=True)
class Settings:
    """Another API root or token endpoint (a mirror, a test's fake) and the network bound."""

    api: str | None = None
    sas: str | None = None
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True)
class L2A:
    """The L2A item chosen for a label item, and where its SCL is."""

    provider: str
    collection: str
    item_id: str
    item_url: str
    product: str  # the L2A product name (s2:product_uri without .SAFE)
    processing_baseline: str | None
    generation_time: str | None
    scl_href: str  # as the item gives it (no token)
    candidates: list[str] = field(default_factory=list)  # every same-datatake item seen

    def record(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "collection": self.collection,
            "item": self.item_id,
            "item_url": self.item_url,
            "product": self.product,
            "processing_baseline": self.processing_baseline,
            "generation_time": self.generation_time,
            "scl_href": self.scl_href,
            "candidates": self.candidates,
        }


def session() -> requests.Session:
    s = requests.Session()
    retry = Retry(total=2, backoff_factor=0.5, status_forcelist=(429, 500, 502, 503, 504))
    s.mount("http://", HTTPAdapter(max_retries=retry))
    s.mount("https://", HTTPAdapter(max_retries=retry))
    return s


class Finder:
    """Searches one provider for the L2A items of label items' datatakes."""

    def __init__(self, provider: str, settings: Settings | None = None) -> None:
        if provider not in PROVIDERS:
            raise MasksError(f"--provider {provider!r}: not one of {', '.join(NAMES)}")
        self.provider = PROVIDERS[provider]
        self.settings = settings or Settings()
        self.api = (self.settings.api or self.provider.api).rstrip("/")
        self.http = session()
        self._tokens: dict[str, str] = {}

    def _post(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        t = self.settings.timeout
        try:
            answer = self.http.post(url, json=body, timeout=(t, t))
        except requests.RequestException as err:
            raise MasksError(f"{url}: {type(err).__name__} ({err})") from None
        return _json(answer, url)

    def _get(self, url: str) -> dict[str, Any]:
        t = self.settings.timeout
        try:
            answer = self.http.get(url, timeout=(t, t))
        except requests.RequestException as err:
            raise MasksError(f"{url}: {type(err).__name__} ({err})") from None
        return _json(answer, url)

    def _search(self, collection: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        """Every feature of a search, its `next` pages followed up to MAX_PAGES."""
        url = f"{self.api}/search"
        page = self._post(url, {**body, "collections": [collection], "limit": PAGE_LIMIT})
        features = list(_features(page, url))
        for _ in range(MAX_PAGES - 1):
            nxt = next((x for x in page.get("links", []) if x.get("rel") == "next"), None)
            if not isinstance(nxt, dict) or not nxt.get("href"):
                break
            href = str(nxt["href"])
            if str(nxt.get("method", "GET")).upper() == "POST":
                page = self._post(href, dict(nxt.get("body") or {}))
            else:
                page = self._get(href)
            features += _features(page, href)
        return features

    def find(self, l1c: naming.ProductName, bbox: list[float]) -> L2A:
        """The L2A item of `l1c`'s datatake; none is a MasksError naming what was searched."""
        datatake = l1c.datatake
        if datatake is None:
            raise NotFound(f"{l1c.name}: no datatake known for this product name")
        start = datatake.sensing_start
        window = f"{_iso(start - timedelta(hours=12))}/{_iso(start + timedelta(hours=12))}"
        body = {"bbox": bbox, "datetime": window}
        for collection in self.provider.collections:
            same = [f for f in self._search(collection, body) if _same(f, l1c)]
            if same:
                return self._choose(collection, same)
        searched = ", ".join(self.provider.collections)
        raise NotFound(f"{l1c.name}: no L2A item of datatake {datatake} in {self.api} ({searched})")

    def _choose(self, collection: str, same: list[dict[str, Any]]) -> L2A:
        def key(f: dict[str, Any]) -> tuple[str, str]:
            props = f.get("properties", {})
            baseline = str(props.get("s2:processing_baseline") or "")
            return (baseline, str(props.get("s2:generation_time") or ""))

        best = max(same, key=key)
        props = best["properties"]
        asset = best.get("assets", {}).get(self.provider.scl_asset)
        if not isinstance(asset, dict) or not asset.get("href"):
            raise MasksError(f"{best.get('id')}: no {self.provider.scl_asset!r} asset (the SCL)")
        return L2A(
            self.provider.name,
            collection,
            str(best["id"]),
            _self_href(best, f"{self.api}/collections/{collection}/items/{best['id']}"),
            _product_uri(best) or "",
            props.get("s2:processing_baseline"),
            props.get("s2:generation_time"),
            str(asset["href"]),
            sorted(str(f["id"]) for f in same),
        )

    def signed(self, l2a: L2A) -> str:
        """The SCL href GDAL may read: with a SAS token on Planetary Computer's blobs."""
        sas = self.settings.sas or self.provider.sas
        if sas is None:
            return l2a.scl_href
        if l2a.collection not in self._tokens:
            answer = self._get(f"{sas.rstrip('/')}/{l2a.collection}")
            token = answer.get("token")
            if not isinstance(token, str) or not token:
                raise MasksError(f"{sas}/{l2a.collection}: no token in the answer")
            self._tokens[l2a.collection] = token
        joiner = "&" if urlsplit(l2a.scl_href).query else "?"
        return f"{l2a.scl_href}{joiner}{self._tokens[l2a.collection]}"


def _json(answer: requests.Response, url: str) -> dict[str, Any]:
    if answer.status_code != 200:
        raise MasksError(f"{url}: HTTP {answer.status_code}")
    try:
        return json_object(answer.content)
    except ValueError as err:
        raise MasksError(f"{url}: {err}") from None


def _features(page: dict[str, Any], url: str) -> list[dict[str, Any]]:
    features = page.get("features")
    if not isinstance(features, list):
        raise MasksError(f"{url}: not an item collection (no features)")
    return [f for f in features if isinstance(f, dict) and isinstance(f.get("properties"), dict)]


def _product_uri(feature: dict[str, Any]) -> str | None:
    uri = feature["properties"].get("s2:product_uri")
    return str(uri).removesuffix(".SAFE") if uri else None


def _same(feature: dict[str, Any], l1c: naming.ProductName) -> bool:
    uri = _product_uri(feature)
    if uri is None:
        return False
    try:
        product = naming.parse_product_name(uri, "L2A")
    except ValueError:
        return False
    return naming.same_datatake(product, l1c)


def _self_href(feature: dict[str, Any], default: str) -> str:
    for link in feature.get("links", []):
        if isinstance(link, dict) and link.get("rel") == "self" and link.get("href"):
            return str(link["href"])
    return default


def _iso(moment: Any) -> str:
    return str(moment.strftime("%Y-%m-%dT%H:%M:%SZ"))
