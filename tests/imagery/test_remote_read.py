"""What a network provider locates, GDAL reads: a synthetic SAFE's band files behind the Google
bucket fake (/vsicurl/, range requests) and in moto's S3 (/vsis3/, the provider's GDAL
options), averaged onto the label grid exactly as numpy averages the written DN."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import rasterio

from stacgen.imagery import pixels
from stacgen.imagery.providers import Settings, provider
from stacgen.raster.grid import Grid
from stacgen.source.naming import parse_product_name
from stacgen.testing.safe import SafeSpec, band_values, write_safe
from tests.imagery.conftest import COMPACT
from tests.imagery.fakes import GcsFake, StacSearchFake, es_feature
from tests.imagery.test_pixels import _expected_mean
from tests.publish.s3 import moto_server


@pytest.fixture
def written(grid60: Grid, tmp_path: Path) -> tuple[SafeSpec, dict[str, Path]]:
    spec = SafeSpec(COMPACT, "31TFJ", grid60)
    safe = write_safe(spec, tmp_path / "safes")
    return spec, dict(safe.files())


def _read(path: str, grid60: Grid, options: dict[str, str], dst: Path) -> list[list[int]]:
    pixels.label_band(path, grid60, 0, dst, options)
    with rasterio.open(dst) as src:
        values: list[list[int]] = src.read(1).tolist()
    return values


def test_gcs_bands_are_read_by_range_requests(
    gcs: GcsFake,
    settings: Settings,
    written: tuple[SafeSpec, dict[str, Path]],
    grid60: Grid,
    tmp_path: Path,
) -> None:
    spec, files = written
    gcs.page_size = 1000
    gcs.add_files(f"tiles/31/T/FJ/{COMPACT}.SAFE", files)
    located = provider("gcs", settings).locate(COMPACT, parse_product_name(COMPACT))
    assert (
        located.sizes["B02"]
        == next(p for k, p in files.items() if k.endswith("_B02.jp2")).stat().st_size
    )
    got = _read(located.bands["B02"], grid60, located.gdal_options, tmp_path / "b02.tif")
    assert got == _expected_mean(band_values(spec, "B02"), 6).tolist()


@pytest.fixture
def s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing-key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with moto_server(tmp_path, {}) as endpoint:
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        client.create_bucket(Bucket="sentinel-s2-l1c")
        client.put_bucket_request_payment(
            Bucket="sentinel-s2-l1c", RequestPaymentConfiguration={"Payer": "Requester"}
        )
        yield endpoint


def test_earth_search_bands_are_read_from_s3_with_the_providers_options(
    earth_search: StacSearchFake,
    settings: Settings,
    s3: str,
    written: tuple[SafeSpec, dict[str, Path]],
    grid60: Grid,
    tmp_path: Path,
) -> None:
    spec, files = written
    tile_path = "tiles/31/T/FJ/2017/10/2/0"
    client = boto3.client("s3", endpoint_url=s3, region_name="us-east-1")
    for name, path in files.items():
        if name.endswith(("_B01.jp2", "_B05.jp2")):  # Sinergise's tile folder: B01.jp2 ...
            client.upload_file(str(path), "sentinel-s2-l1c", f"{tile_path}/{name[-7:]}")
    # The item points at the L2A bucket (the known defect): the repaired href is read.
    feature = es_feature(COMPACT, "31TFJ", tile_path, earth_search.base, bucket="sentinel-s2-l2a")
    earth_search.features = [feature]
    at_moto = Settings(endpoints={**settings.endpoints, "earth-search-s3": s3}, timeout=5)
    located = provider("earth-search", at_moto).locate(COMPACT, parse_product_name(COMPACT))
    assert "testing-secret" not in json.dumps(located.gdal_options)
    for band, factor in (("B01", 1), ("B05", 3)):
        got = _read(located.bands[band], grid60, located.gdal_options, tmp_path / f"{band}.tif")
        assert got == _expected_mean(band_values(spec, band), factor).tolist()
