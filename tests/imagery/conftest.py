"""Fixtures of the imagery tests: a small 60 m grid on a real tile and SAFEs written on it; the
providers' fakes, each on 127.0.0.1 (pytest-httpserver)."""

from __future__ import annotations

import re

import pytest
from affine import Affine
from pytest_httpserver import HTTPServer
from rasterio.crs import CRS

from stacgen.imagery.providers import Settings
from stacgen.raster.grid import Grid
from stacgen.testing.pgcluster import free_port
from tests.imagery.fakes import GCS_BUCKET, GcsFake, StacSearchFake

COMPACT = "S2B_MSIL1C_20171002T103009_N0205_R108_T31TFJ_20171002T103209"
# Its Collection-1 successor: same datatake, baseline 05.00, a new discriminator.
REPROCESSED = "S2B_MSIL1C_20171002T103009_N0500_R108_T31TFJ_20230601T101010"
# A legacy product and the compact name the hub gave it.
LEGACY = "S2A_OPER_PRD_MSIL1C_PDMC_20161109T224916_R065_V20161108T102232_20161108T102232"
LEGACY_COMPACT = "S2A_MSIL1C_20161108T102232_N0204_R065_T32TNR_20161108T102425"
LEGACY_TILE = "32TNR"
# The providers' tests: an ALCD product (Ispra, ALCD.md) and its successor.
ORIGINAL = "S2B_MSIL1C_20171009T102009_N0205_R065_T32TMR_20171009T102008"
TILE = "32TMR"
GRANULE = "L1C_T32TMR_A003010_20171009T102008"
SUCCESSOR = "S2B_MSIL1C_20171009T102009_N0500_R065_T32TMR_20230301T120000"


@pytest.fixture
def grid60() -> Grid:
    """40 x 40 cells of 60 m in the north-west corner of tile 31TFJ (UTM 31N)."""
    return Grid(CRS.from_epsg(32631), Affine(60.0, 0.0, 600000.0, 0.0, -60.0, 4900020.0), 40, 40)


@pytest.fixture
def grid60_32tnr() -> Grid:
    return Grid(CRS.from_epsg(32632), Affine(60.0, 0.0, 499980.0, 0.0, -60.0, 5100000.0), 24, 24)


@pytest.fixture
def gcs(httpserver: HTTPServer) -> GcsFake:
    fake = GcsFake(page_size=7)  # listings of several pages
    paths = re.compile(f"^/(storage/v1/b/{GCS_BUCKET}/o$|{GCS_BUCKET}/)")
    httpserver.expect_request(paths).respond_with_handler(fake)
    return fake


@pytest.fixture
def earth_search(httpserver: HTTPServer) -> StacSearchFake:
    fake = StacSearchFake(httpserver.url_for("/v1").rstrip("/"))
    httpserver.expect_request("/v1/search").respond_with_handler(fake)
    return fake


@pytest.fixture
def cdse(httpserver: HTTPServer) -> StacSearchFake:
    fake = StacSearchFake(httpserver.url_for("/stac/v1").rstrip("/"), page_size=2)
    httpserver.expect_request("/stac/v1/search").respond_with_handler(fake)
    return fake


@pytest.fixture
def settings(httpserver: HTTPServer) -> Settings:
    root = httpserver.url_for("/").rstrip("/")
    return Settings(
        endpoints={"gcs": root, "earth-search": f"{root}/v1", "cdse": f"{root}/stac/v1"},
        timeout=5,
    )


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"
