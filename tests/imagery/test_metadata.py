"""stacgen.imagery.metadata against the real product metadata in ../shared/imagery."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stacgen.imagery.located import ImageryError
from stacgen.imagery.metadata import parse_metadata
from tests.paths import SHARED

IMAGERY = SHARED / "imagery"
CDSE_0509 = (
    IMAGERY
    / "cdse_eometadatatool_safe"
    / "S2A_MSIL1C_20230216T044851_N0509_R076_T46UEU_20230216T00000.SAFE"
    / "MTD_MSIL1C.xml"
)
STACTOOLS_0301 = (
    IMAGERY
    / "stactools_safe"
    / "S2A_MSIL1C_20210908T042701_N0301_R133_T46RER_20210908T070248.SAFE"
    / "MTD_MSIL1C.xml"
)
OLD_FOLDER = "S2A_OPER_PRD_MSIL1C_PDMC_20160905T104813_R002_V20160905T005712_20160905T010424"
OLD = (
    IMAGERY
    / "s2reader_old_format_safe"
    / f"{OLD_FOLDER}.SAFE"
    / f"{OLD_FOLDER.replace('_PRD_MSIL1C_', '_MTD_SAFL1C_')}.xml"
)


def test_baseline_05_09_has_an_offset_of_minus_1000_on_every_band() -> None:
    meta = parse_metadata(CDSE_0509.read_bytes(), str(CDSE_0509))
    assert meta.baseline == "05.09"
    assert meta.product_uri == "S2A_MSIL1C_20230216T044851_N0509_R076_T46UEU_20230216T063628.SAFE"
    assert meta.spacecraft == "Sentinel-2A"
    assert meta.relative_orbit == 76
    assert meta.sensing_start == datetime(2023, 2, 16, 4, 48, 51, 24000, tzinfo=UTC)
    assert len(meta.offsets) == 13
    assert set(meta.offsets.values()) == {-1000}
    assert meta.offset("B8A") == -1000
    assert meta.tiles == ("46UEU",)


def test_baseline_03_01_has_no_offset() -> None:
    meta = parse_metadata(STACTOOLS_0301.read_bytes(), str(STACTOOLS_0301))
    assert meta.baseline == "03.01"
    assert meta.offsets == {}
    assert meta.offset("B02") == 0
    assert meta.tiles == ("46RER",)


def test_old_format_lists_its_six_granules() -> None:
    meta = parse_metadata(OLD.read_bytes(), str(OLD))
    assert meta.baseline == "02.04"
    assert meta.product_uri == "791_2016-09-05T10_37"  # not the product name
    assert meta.tiles == ("53HLA", "53HMA", "53HNA", "53HNV", "53HPA", "53HPV")


def test_not_metadata_is_one_line() -> None:
    with pytest.raises(ImageryError, match=r"x\.xml: not an L1C product's metadata"):
        parse_metadata(b"<a/>", "x.xml")
    with pytest.raises(ImageryError, match=r"x\.xml: not readable XML"):
        parse_metadata(b"<a", "x.xml")
