"""The `earth-search` provider against a fake Earth Search STAC search (the eodag fixture's
shapes) and S3 servers on 127.0.0.1 (moto for the bucket, a fake for requester pays)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from stacgen.imagery.identity import Mismatch, NotFound
from stacgen.imagery.located import ImageryError
from stacgen.imagery.providers import Settings, provider
from stacgen.source.naming import parse_product_name
from tests.imagery.conftest import ORIGINAL, TILE
from tests.imagery.fakes import PRODUCT_INFO, StacSearchFake, es_feature
from tests.publish.s3 import moto_server

TILE_PATH = "tiles/32/T/MR/2017/10/9/0"
WANTED = parse_product_name(ORIGINAL)


def test_the_item_is_found_through_every_page_of_the_search(
    earth_search: StacSearchFake, settings: Settings
) -> None:
    other = "S2B_MSIL1C_20171009T110000_N0205_R065_T32TMR_20171009T110001"
    earth_search.features = [
        es_feature(
            other,
            TILE,
            "tiles/32/T/MR/2017/10/9/1",
            earth_search.base,
            item_id="S2B_32TMR_20171009_1_L1C",
        ),
        es_feature(ORIGINAL, TILE, TILE_PATH, earth_search.base),
    ]
    located = provider("earth-search", settings).locate(ORIGINAL, WANTED)
    assert (located.kind, located.product.name) == ("original", ORIGINAL)
    assert len(earth_search.queries) == 2  # one item a page: the next link was followed
    assert earth_search.queries[0]["ids"].split(",") == [
        "S2B_32TMR_20171009_0_L1C",
        "S2B_32TMR_20171009_1_L1C",
        "S2B_32TMR_20171009_2_L1C",
    ]
    assert located.bands["B04"] == f"/vsis3/sentinel-s2-l1c/{TILE_PATH}/B04.jp2"
    assert located.bands["B8A"] == f"/vsis3/sentinel-s2-l1c/{TILE_PATH}/B8A.jp2"
    assert len(located.bands) == 13
    assert located.metadata == f"/vsis3/sentinel-s2-l1c/products/2017/10/9/{ORIGINAL}/metadata.xml"
    assert (
        located.provider_ref
        == f"{earth_search.base}/collections/sentinel-2-l1c/items/S2B_32TMR_20171009_0_L1C"
    )
    assert located.datatake_id == "GS2B_20171009T102009_003010_N02.05"
    assert located.gdal_options["AWS_REQUEST_PAYER"] == "requester"
    assert located.gdal_options["AWS_REGION"] == "eu-central-1"


def test_wrong_bucket_hrefs_are_repaired(earth_search: StacSearchFake, settings: Settings) -> None:
    # Element84/earth-search #2, #3, #73: L1C items whose band hrefs name the L2A bucket.
    feature = es_feature(ORIGINAL, TILE, TILE_PATH, earth_search.base, bucket="sentinel-s2-l2a")
    assert feature["assets"]["blue"]["href"] == f"s3://sentinel-s2-l2a/{TILE_PATH}/B02.jp2"
    earth_search.features = [feature]
    located = provider("earth-search", settings).locate(ORIGINAL, WANTED)
    assert located.bands["B02"] == f"/vsis3/sentinel-s2-l1c/{TILE_PATH}/B02.jp2"
    assert all(path.startswith("/vsis3/sentinel-s2-l1c/tiles/") for path in located.bands.values())


def test_an_item_of_another_product_of_the_datatake_is_refused_naming_both(
    earth_search: StacSearchFake, settings: Settings
) -> None:
    other = "S2B_MSIL1C_20171009T102009_N0206_R065_T32TMR_20171020T000000"
    earth_search.features = [es_feature(other, TILE, TILE_PATH, earth_search.base)]
    with pytest.raises(Mismatch) as err:
        provider("earth-search", settings).locate(ORIGINAL, WANTED)
    assert ORIGINAL in str(err.value)
    assert other in str(err.value)


def test_no_item_is_not_found(earth_search: StacSearchFake, settings: Settings) -> None:
    with pytest.raises(NotFound, match=r"earth-search: .*: not found"):
        provider("earth-search", settings).locate(ORIGINAL, WANTED)


# --- productInfo.json (requester pays) when the item has no s2:product_uri ------------------
@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing-key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")


@pytest.fixture
def bucket(tmp_path: Path, aws_env: None) -> Iterator[str]:
    """moto's S3 on 127.0.0.1 with a requester-pays `sentinel-s2-l1c`."""
    with moto_server(tmp_path, {}) as endpoint:
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        s3.create_bucket(Bucket="sentinel-s2-l1c")
        s3.put_bucket_request_payment(
            Bucket="sentinel-s2-l1c", RequestPaymentConfiguration={"Payer": "Requester"}
        )
        yield endpoint


def _put_product_info(endpoint: str, name: str) -> None:
    info = json.loads(PRODUCT_INFO.read_text())  # Sinergise's productInfo.json shape
    info["name"] = name
    info["path"] = f"products/2017/10/9/{name}"
    info["tiles"][0]["path"] = TILE_PATH
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    key = f"{TILE_PATH}/productInfo.json"
    s3.put_object(Bucket="sentinel-s2-l1c", Key=key, Body=json.dumps(info).encode())


def test_without_product_uri_productinfo_json_decides(
    earth_search: StacSearchFake, settings: Settings, bucket: str
) -> None:
    earth_search.features = [
        es_feature(ORIGINAL, TILE, TILE_PATH, earth_search.base, product_uri=False)
    ]
    _put_product_info(bucket, ORIGINAL)
    s3_settings = Settings(endpoints={**settings.endpoints, "earth-search-s3": bucket}, timeout=5)
    located = provider("earth-search", s3_settings).locate(ORIGINAL, WANTED)
    assert (located.kind, located.product.name) == ("original", ORIGINAL)
    # GDAL is told where and how to read, never with what key.
    assert located.gdal_options["AWS_S3_ENDPOINT"] == bucket.removeprefix("http://")
    assert "testing-secret" not in json.dumps(located.gdal_options)
    assert "testing-key-id" not in repr(located)


def test_a_productinfo_json_of_another_product_is_refused(
    earth_search: StacSearchFake, settings: Settings, bucket: str
) -> None:
    other = "S2B_MSIL1C_20171009T102009_N0206_R065_T32TMR_20171020T000000"
    earth_search.features = [
        es_feature(ORIGINAL, TILE, TILE_PATH, earth_search.base, product_uri=False)
    ]
    _put_product_info(bucket, other)
    s3_settings = Settings(endpoints={**settings.endpoints, "earth-search-s3": bucket}, timeout=5)
    with pytest.raises(Mismatch, match=other):
        provider("earth-search", s3_settings).locate(ORIGINAL, WANTED)


def test_productinfo_json_without_credentials_is_one_line(
    earth_search: StacSearchFake, settings: Settings, aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    earth_search.features = [
        es_feature(ORIGINAL, TILE, TILE_PATH, earth_search.base, product_uri=False)
    ]
    s3_settings = Settings(
        endpoints={**settings.endpoints, "earth-search-s3": "http://127.0.0.1:9"}, timeout=2
    )
    with pytest.raises(ImageryError, match="requester pays: no AWS credentials found"):
        provider("earth-search", s3_settings).locate(ORIGINAL, WANTED)


def test_the_request_carries_the_requester_pays_header(
    earth_search: StacSearchFake, settings: Settings, httpserver: HTTPServer, aws_env: None
) -> None:
    # moto keeps the bucket's payer setting but serves requests without the header too; S3
    # answers them 403 AccessDenied, as this fake does.
    seen: list[str | None] = []

    def s3(request: Request) -> Response:
        seen.append(request.headers.get("x-amz-request-payer"))
        if request.headers.get("x-amz-request-payer") != "requester":
            return Response("<Error><Code>AccessDenied</Code></Error>", status=403)
        return Response(json.dumps({"name": ORIGINAL}), content_type="application/json")

    httpserver.expect_request(
        f"/sentinel-s2-l1c/{TILE_PATH}/productInfo.json"
    ).respond_with_handler(s3)
    earth_search.features = [
        es_feature(ORIGINAL, TILE, TILE_PATH, earth_search.base, product_uri=False)
    ]
    s3_settings = Settings(
        endpoints={**settings.endpoints, "earth-search-s3": httpserver.url_for("/").rstrip("/")},
        timeout=5,
    )
    located = provider("earth-search", s3_settings).locate(ORIGINAL, WANTED)
    assert located.product.name == ORIGINAL
    assert seen == ["requester"]
