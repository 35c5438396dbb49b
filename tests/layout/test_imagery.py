"""stacgen.layout.imagery's band table against a real Earth Search sentinel-2-l1c item."""

from __future__ import annotations

import json
import re

import pytest

from stacgen.layout import imagery
from tests.paths import SHARED

SEARCH = SHARED / "imagery" / "earthsearch_v1_sentinel-2-l1c_search_S2B_27VWK_20240206_0_L1C.json"


def test_band_table_matches_earth_search() -> None:
    page = json.loads(SEARCH.read_text())
    feature = page["features"][0] if "features" in page else page
    seen = 0
    for asset in feature["assets"].values():
        name = re.search(r"/(B\d\d|B8A)\.jp2$", asset["href"])
        if not name:
            continue
        seen += 1
        band = imagery.band(name[1])
        (eo,) = asset["eo:bands"]
        assert band.common_name == eo["common_name"]
        assert band.center_wavelength == eo["center_wavelength"]
        assert band.full_width_half_max == eo["full_width_half_max"]
        assert band.description == eo["description"]
        assert band.resolution == asset["raster:bands"][0]["spatial_resolution"]
    assert seen == len(imagery.BANDS) == 13


def test_band_lists() -> None:
    assert [b.name for b in imagery.parse_bands("b12,B2,B8A")] == ["B02", "B8A", "B12"]
    assert imagery.parse_bands("all") == imagery.BANDS
    with pytest.raises(ValueError, match="not a Sentinel-2 band"):
        imagery.parse_bands("B13")
