"""Fixtures of the imagery tests: a small 60 m grid on a real tile and SAFEs written on it."""

from __future__ import annotations

import pytest
from affine import Affine
from rasterio.crs import CRS

from stacgen.raster.grid import Grid

COMPACT = "S2B_MSIL1C_20171002T103009_N0205_R108_T31TFJ_20171002T103209"
# Its Collection-1 successor: same datatake, baseline 05.00, a new discriminator.
REPROCESSED = "S2B_MSIL1C_20171002T103009_N0500_R108_T31TFJ_20230601T101010"
LEGACY = "S2A_OPER_PRD_MSIL1C_PDMC_20161109T224916_R065_V20161108T102232_20161108T102232"
LEGACY_COMPACT = "S2A_MSIL1C_20161108T102232_N0204_R065_T32TNR_20161108T102425"


@pytest.fixture
def grid60() -> Grid:
    """40 x 40 cells of 60 m in the north-west corner of tile 31TFJ (UTM 31N)."""
    return Grid(CRS.from_epsg(32631), Affine(60.0, 0.0, 600000.0, 0.0, -60.0, 4900020.0), 40, 40)


@pytest.fixture
def grid60_32tnr() -> Grid:
    return Grid(CRS.from_epsg(32632), Affine(60.0, 0.0, 499980.0, 0.0, -60.0, 5100000.0), 24, 24)
