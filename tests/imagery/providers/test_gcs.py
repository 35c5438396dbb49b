"""The `gcs` provider against a fake of Google's bucket listing API."""

from __future__ import annotations

import pytest

from stacgen.imagery.identity import Mismatch, NotFound
from stacgen.imagery.located import ImageryError
from stacgen.imagery.providers import Settings, provider
from stacgen.source.naming import parse_product_name
from tests.imagery.conftest import (
    GRANULE,
    LEGACY,
    LEGACY_COMPACT,
    LEGACY_TILE,
    ORIGINAL,
    SUCCESSOR,
    TILE,
)
from tests.imagery.fakes import GCS_BUCKET, GcsFake, compact_safe, old_safe

FOLDER = f"tiles/32/T/MR/{ORIGINAL}.SAFE"
BANDS = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]


def test_the_original_is_found_by_name_with_its_bands_and_sizes(
    gcs: GcsFake, settings: Settings
) -> None:
    files = compact_safe(ORIGINAL, TILE, GRANULE)
    gcs.add_product(FOLDER, files)
    # Another product of the tile and day, another datatake: listed, not taken.
    gcs.add_product(
        "tiles/32/T/MR/S2A_MSIL1C_20171009T110000_N0205_R065_T32TMR_20171009T110001.SAFE",
        {"manifest.safe": 1},
    )
    located = provider("gcs", settings).locate(ORIGINAL, parse_product_name(ORIGINAL))
    assert located.kind == "original"
    assert located.product.name == ORIGINAL
    assert sorted(located.bands) == sorted(BANDS)
    base = settings.endpoints["gcs"]
    img = f"{FOLDER}/GRANULE/{GRANULE}/IMG_DATA"
    assert (
        located.bands["B8A"] == f"/vsicurl/{base}/{GCS_BUCKET}/{img}/T32TMR_20171009T102009_B8A.jp2"
    )
    assert (
        located.sizes["B04"] == files[f"GRANULE/{GRANULE}/IMG_DATA/T32TMR_20171009T102009_B04.jp2"]
    )
    assert located.metadata == f"/vsicurl/{base}/{GCS_BUCKET}/{FOLDER}/MTD_MSIL1C.xml"
    assert located.provider_ref == f"{base}/{GCS_BUCKET}/{FOLDER}/manifest.safe"
    assert located.datatake_id == "GS2B_20171009T102009_003010_N02.05"
    assert located.radio_add_offset == dict.fromkeys(BANDS, 0)  # baseline 02.05: no offset yet
    assert located.gdal_options["GDAL_HTTP_TIMEOUT"] == "5"
    # The listings were paged (7 names a page) and asked for this tile's folder only.
    assert any("pageToken" in q for q in gcs.requests)
    assert {q["prefix"].split("/")[:4] == ["tiles", "32", "T", "MR"] for q in gcs.requests} == {
        True
    }


def test_a_legacy_product_takes_the_granule_of_its_tile(gcs: GcsFake, settings: Settings) -> None:
    folder = f"tiles/32/T/NR/{LEGACY}.SAFE"
    gcs.page_size = 100  # 505 files
    gcs.add_product(folder, old_safe(LEGACY_TILE))
    located = provider("gcs", settings).locate(LEGACY, parse_product_name(LEGACY))
    assert located.kind == "original"
    assert located.product.name == LEGACY
    assert len(located.bands) == 13
    granule = "S2A_OPER_MSI_L1C_TL_SGS__20160905T073438_A006291_T32TNR_N02.04"
    assert all(f"/GRANULE/{granule}/IMG_DATA/" in path for path in located.bands.values())
    assert located.metadata is not None
    assert located.metadata.endswith(
        f"{folder}/S2A_OPER_MTD_SAFL1C_PDMC_20160905T104813_R002_V20160905T005712_20160905T010424.xml"
    )
    assert located.datatake_id == "GS2A_20161108T102232_006291_N02.04"


def test_a_legacy_product_stored_under_its_compact_name_is_the_original(
    gcs: GcsFake, settings: Settings
) -> None:
    granule = "L1C_T32TNR_A007207_20161108T102425"
    gcs.add_product(
        f"tiles/32/T/NR/{LEGACY_COMPACT}.SAFE", compact_safe(LEGACY_COMPACT, LEGACY_TILE, granule)
    )
    located = provider("gcs", settings).locate(LEGACY, parse_product_name(LEGACY))
    assert (located.kind, located.product.name) == ("original", LEGACY_COMPACT)


def test_only_the_collection_1_successor_is_reprocessed(gcs: GcsFake, settings: Settings) -> None:
    granule = "L1C_T32TMR_A003010_20230301T120000"
    gcs.add_product(f"tiles/32/T/MR/{SUCCESSOR}.SAFE", compact_safe(SUCCESSOR, TILE, granule))
    located = provider("gcs", settings).locate(ORIGINAL, parse_product_name(ORIGINAL))
    assert (located.kind, located.product.name, located.baseline) == (
        "reprocessed",
        SUCCESSOR,
        "05.00",
    )
    assert located.radio_add_offset is None  # 05.00: read from its metadata


def test_another_baseline_of_the_datatake_is_refused_naming_both(
    gcs: GcsFake, settings: Settings
) -> None:
    other = "S2B_MSIL1C_20171009T102009_N0206_R065_T32TMR_20171010T000000"
    gcs.add_product(f"tiles/32/T/MR/{other}.SAFE", compact_safe(other, TILE, GRANULE))
    with pytest.raises(Mismatch) as err:
        provider("gcs", settings).locate(ORIGINAL, parse_product_name(ORIGINAL))
    assert ORIGINAL in str(err.value)
    assert other in str(err.value)
    assert "\n" not in str(err.value)


def test_an_absent_product_is_not_found(gcs: GcsFake, settings: Settings) -> None:
    with pytest.raises(NotFound, match=f"gcs: {ORIGINAL}: not found"):
        provider("gcs", settings).locate(ORIGINAL, parse_product_name(ORIGINAL))


def test_a_folder_without_every_band_is_one_line(gcs: GcsFake, settings: Settings) -> None:
    files = compact_safe(ORIGINAL, TILE, GRANULE)
    del files[f"GRANULE/{GRANULE}/IMG_DATA/T32TMR_20171009T102009_B10.jp2"]
    gcs.add_product(FOLDER, files)
    with pytest.raises(ImageryError, match=r"band files missing: \['B10'\]"):
        provider("gcs", settings).locate(ORIGINAL, parse_product_name(ORIGINAL))


def test_an_unreachable_bucket_is_one_line_within_its_bound(closed_port_url: str) -> None:
    settings = Settings(endpoints={"gcs": closed_port_url}, timeout=2)
    with pytest.raises(ImageryError, match=r"^gcs: .* unreachable \(connection failed\)$"):
        provider("gcs", settings).locate(ORIGINAL, parse_product_name(ORIGINAL))
