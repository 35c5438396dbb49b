"""stacgen.layout.imagery's band table against a real Earth Search sentinel-2-l1c item."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from stacgen.fileutil import JsonFileError
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


def _resolved(**kw: object) -> imagery.Resolved:
    fields: dict[str, object] = {
        "provider": "gcs",
        "ref": "https://storage.googleapis.com/b/manifest.safe",
        "product": "S2B_MSIL1C_20171009T102009_N0205_R065_T32TMR_20171009T102008",
        "baseline": "02.05",
        "kind": "original",
        "resolved_at": "2026-12-07T15:00:00Z",
    }
    return imagery.Resolved(**{**fields, **kw})  # type: ignore[arg-type]


def test_the_resolution_file_reads_back(tmp_path: Path) -> None:
    entries = {"a": [_resolved(), _resolved(provider="cdse", kind="reprocessed", baseline=None)]}
    (tmp_path / imagery.RESOLUTION_FILE).write_text(json.dumps(imagery.resolution_json(entries)))
    assert imagery.read_resolution(tmp_path) == entries
    assert imagery.read_resolution(tmp_path / "elsewhere") == {}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"format": 2, "items": {}}', "not a resolution file of format 1"),
        ('{"format": 1, "items": {"a": [{"provider": "gcs"}]}}', "malformed entry"),
        ('{"format": 1, "items": {"a": [{**}]}}', "JSON"),
    ],
)
def test_a_bad_resolution_file_is_one_line_naming_it(
    tmp_path: Path, content: str, reason: str
) -> None:
    path = tmp_path / imagery.RESOLUTION_FILE
    path.write_text(content.replace("{**}", "{"))
    with pytest.raises(JsonFileError) as err:
        imagery.read_resolution(tmp_path)
    assert str(err.value).startswith(f"{path}: ")
    assert reason.lower() in str(err.value).lower()
    assert "\n" not in str(err.value)


def test_a_kind_other_than_original_or_reprocessed_is_refused(tmp_path: Path) -> None:
    entry = _resolved().to_json() | {"kind": "newer"}
    path = tmp_path / imagery.RESOLUTION_FILE
    path.write_text(json.dumps({"format": 1, "items": {"a": [entry]}}))
    with pytest.raises(JsonFileError, match="neither original nor reprocessed"):
        imagery.read_resolution(tmp_path)
