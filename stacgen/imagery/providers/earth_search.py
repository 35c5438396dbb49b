"""`earth-search`: Element 84's Earth Search STAC API finds the item of the product in Sinergise's
`sentinel-s2-l1c` bucket on AWS (requester pays: the reader's AWS account pays the transfer).

The item is searched by its ids (`S2B_31TFJ_20171002_<sequence>_L1C`, sequences 0-2), the
search's pages followed to the end; its identity is checked against `s2:product_uri` (or the
tile's `productInfo.json` when the item has none). Many L1C items point their band hrefs at the
L2A bucket (`s3://sentinel-s2-l2a/tiles/...`, Element84/earth-search #2, #3, #73): the hrefs are
repaired to `sentinel-s2-l1c`. Bands are read with GDAL `/vsis3/` and AWS_REQUEST_PAYER.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from stacgen.imagery.http import Unreachable, get_json
from stacgen.imagery.identity import NotFound, choose, gdal_http_options, known_offsets
from stacgen.imagery.located import ImageryError, Located, Provider
from stacgen.imagery.providers import Settings
from stacgen.layout.imagery import BANDS
from stacgen.source import naming
from stacgen.source.naming import ProductName

log = logging.getLogger(__name__)

NAME: Final = "earth-search"
PUBLIC: Final = naming.EARTH_SEARCH_L1C_ITEM_URL.split("/collections/")[0]
COLLECTION: Final = "sentinel-2-l1c"
BUCKET: Final = "sentinel-s2-l1c"
WRONG_BUCKET: Final = "sentinel-s2-l2a"
REGION: Final = "eu-central-1"  # where Sinergise's buckets are
SEQUENCES: Final = (0, 1, 2)  # more than one acquisition of a tile a day: 1, 2 (north only)
MAX_PAGES: Final = 20


def make(settings: Settings) -> Provider:
    base = settings.endpoints.get(NAME, PUBLIC).rstrip("/")
    return EarthSearch(base, settings.endpoints.get(f"{NAME}-s3"), settings.timeout)


@dataclass
class EarthSearch:
    base: str  # https://earth-search.aws.element84.com/v1, or a fake's
    s3_endpoint: str | None  # None: AWS itself
    timeout: float
    name: str = NAME

    def locate(self, item_id: str, product: ProductName) -> Located:
        features = {}
        for feature in self.search(product):
            features[self._product_of(feature)] = feature
        chosen, kind = choose(NAME, product, list(features))
        feature = features[chosen]
        bands = _bands(feature)
        props = feature.get("properties", {})
        offsets = known_offsets(chosen)
        return Located(
            provider=NAME,
            item_id=item_id,
            product=chosen,
            kind=kind,
            provider_ref=_self_href(feature, self.base),
            bands={band: f"/vsis3/{key}" for band, key in bands.items()},
            metadata=f"/vsis3/{BUCKET}/{naming.sinergise_product_path(chosen)}/metadata.xml",
            radio_add_offset=offsets,
            gdal_options=self.gdal_options(),
            datatake_id=props.get("s2:datatake_id") if isinstance(props, dict) else None,
        )

    def search(self, product: ProductName) -> list[dict[str, Any]]:
        """The items of the product's ids, every page of the search."""
        ids = [naming.earth_search_id(product, seq) for seq in SEQUENCES]
        if None in ids:
            raise NotFound(f"{NAME}: {product.name}: no compact name known, so no item id")
        url = f"{self.base}/search"
        params: dict[str, str] | None = {
            "collections": COLLECTION,
            "ids": ",".join(str(i) for i in ids),
            "limit": "10",
        }
        body: dict[str, Any] | None = None
        features: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            page = get_json(NAME, url, self.timeout, params, body)
            if page is None:
                raise Unreachable(f"{NAME}: {url}: no STAC search there (HTTP 404)")
            features += [f for f in page.get("features", []) if isinstance(f, dict)]
            following = _next(page)
            if following is None:
                return features
            url, body = following
            params = None
        raise Unreachable(f"{NAME}: the search did not end after {MAX_PAGES} pages")

    def _product_of(self, feature: dict[str, Any]) -> ProductName:
        """The product an item holds: `s2:product_uri`, else the tile's productInfo.json."""
        uri = feature.get("properties", {}).get("s2:product_uri")
        text = str(uri) if uri else self._product_info_name(feature)
        try:
            return naming.product_name_of(text)
        except ValueError:
            raise ImageryError(
                f"{NAME}: item {feature.get('id')}: {text!r} names no L1C product"
            ) from None

    def _product_info_name(self, feature: dict[str, Any]) -> str:
        """`name` of productInfo.json beside the item's bands (a requester-pays GET)."""
        bands = _bands(feature)
        key = next(iter(bands.values())).split("/", 1)[1].rsplit("/", 1)[0] + "/productInfo.json"
        data = json.loads(self._get_object(key))
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            raise ImageryError(f"{NAME}: s3://{BUCKET}/{key}: no product name in it")
        return str(data["name"])

    def _get_object(self, key: str) -> bytes:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        config = Config(
            connect_timeout=self.timeout,
            read_timeout=self.timeout,
            retries={"max_attempts": 3, "mode": "standard"},
            s3={"addressing_style": "path" if self.s3_endpoint else "auto"},
        )
        session = boto3.Session()
        if session.get_credentials() is None:
            raise ImageryError(
                f"{NAME}: s3://{BUCKET}/{key} is requester pays: no AWS credentials found "
                "(set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
            )
        s3 = session.client("s3", region_name=REGION, endpoint_url=self.s3_endpoint, config=config)
        try:
            answer = s3.get_object(Bucket=BUCKET, Key=key, RequestPayer="requester")
            return bytes(answer["Body"].read())
        except NoCredentialsError:
            raise ImageryError(f"{NAME}: s3://{BUCKET}/{key}: no AWS credentials") from None
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "error")
            raise ImageryError(f"{NAME}: s3://{BUCKET}/{key}: {code}") from None
        except BotoCoreError as err:
            raise Unreachable(f"{NAME}: s3://{BUCKET}/{key} unreachable ({err})") from None

    def gdal_options(self) -> dict[str, str]:
        """Requester pays and the bucket's region (never a key: GDAL reads those itself)."""
        options = gdal_http_options(self.timeout) | {
            "AWS_REQUEST_PAYER": "requester",
            "AWS_REGION": REGION,
        }
        if self.s3_endpoint:
            parts = urlsplit(self.s3_endpoint)
            options |= {
                "AWS_S3_ENDPOINT": parts.netloc,
                "AWS_HTTPS": "YES" if parts.scheme == "https" else "NO",
                "AWS_VIRTUAL_HOSTING": "FALSE",
            }
        return options


def repaired(href: str) -> str:
    """An L1C asset href on the right bucket: the L2A bucket's name replaced by the L1C one's,
    the maintainers' workaround for the items they have not regenerated."""
    wrong = f"s3://{WRONG_BUCKET}/"
    if href.startswith(wrong):
        log.info("%s: repaired the wrong-bucket href %s", NAME, href)
        return f"s3://{BUCKET}/" + href[len(wrong) :]
    return href


def _bands(feature: dict[str, Any]) -> dict[str, str]:
    """`bucket/key` of each band's JPEG 2000 file, hrefs repaired."""
    found = {}
    assets = feature.get("assets", {})
    for asset in assets.values() if isinstance(assets, dict) else ():
        href = repaired(str(asset.get("href", "")))
        band = naming.band_of_file(href)
        if band and href.startswith(f"s3://{BUCKET}/tiles/"):
            found[band] = href.removeprefix("s3://")
    missing = [b.name for b in BANDS if b.name not in found]
    if missing:
        raise ImageryError(f"{NAME}: item {feature.get('id')}: no {BUCKET} asset for {missing}")
    return found


def _self_href(feature: dict[str, Any], base: str) -> str:
    for link in feature.get("links", []):
        if isinstance(link, dict) and link.get("rel") == "self" and link.get("href"):
            return str(link["href"])
    return f"{base}/collections/{COLLECTION}/items/{feature.get('id')}"


def _next(page: dict[str, Any]) -> tuple[str, dict[str, Any] | None] | None:
    """The next page's URL and POST body (None: a GET), or None on the last page."""
    for link in page.get("links", []):
        if isinstance(link, dict) and link.get("rel") == "next" and link.get("href"):
            if str(link.get("method", "GET")).upper() == "POST":
                body = link.get("body")
                return str(link["href"]), body if isinstance(body, dict) else {}
            return str(link["href"]), None
    return None
