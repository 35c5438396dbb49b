"""stacgen.source.naming against ALCD.md's table and the real names in ../shared/imagery."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from stacgen import constants
from stacgen.source import naming
from stacgen.source.naming import Tile, parse_product_name, parse_tile
from tests.paths import SHARED

IMAGERY = SHARED / "imagery"


def test_compact_name() -> None:
    p = parse_product_name("S2B_MSIL1C_20171002T103009_N0205_R108_T31TFJ_20171002T103209")
    assert p.form == "compact"
    assert p.platform == "sentinel-2b"
    assert p.datetime == datetime(2017, 10, 2, 10, 30, 9, tzinfo=UTC)
    assert (p.relative_orbit, p.tile, p.baseline) == (108, "31TFJ", "02.05")


def test_legacy_name_uses_the_validity_start_and_has_no_tile() -> None:
    p = parse_product_name(
        "S2A_OPER_PRD_MSIL1C_PDMC_20160901T191510_R079_V20160831T095032_20160831T095217"
    )
    assert p.form == "legacy"
    assert p.platform == "sentinel-2a"
    assert p.datetime == datetime(2016, 8, 31, 9, 50, 32, tzinfo=UTC)
    assert (p.relative_orbit, p.tile, p.baseline) == (79, None, None)


def test_names_built_from_their_fields_are_the_real_names() -> None:
    # Two names of ALCD.md's scene table, rebuilt from the fields a person reads off them.
    compact = naming.compact_product_name(
        "S2B", "L1C", "20171002T103009", "02.05", 108, "31TFJ", "20171002T103209"
    )
    assert compact == "S2B_MSIL1C_20171002T103009_N0205_R108_T31TFJ_20171002T103209"
    legacy = naming.legacy_product_name(
        "S2A", "L1C", "20160901T191510", 79, "20160831T095032", "20160831T095217"
    )
    assert (
        legacy == "S2A_OPER_PRD_MSIL1C_PDMC_20160901T191510_R079_V20160831T095032_20160831T095217"
    )
    with pytest.raises(ValueError, match="neither a compact nor a legacy"):
        naming.compact_product_name("S2B", "L1C", "2017-10-02", "02.05", 108, "31TFJ", "x")


def test_a_tile_and_date_code_is_not_a_place() -> None:
    # Hollstein's copies give `32TMR_20160323` as their location (ALCD.md).
    assert naming.is_tile_date_code("32TMR_20160323")
    for place in ("Ispra", "32TMR", "32TMR_2016032", "Orleans_20160323", "x32TMR_20160323"):
        assert not naming.is_tile_date_code(place), place


@pytest.mark.parametrize(
    "name",
    [
        "S2B_MSIL2A_20171002T103009_N0205_R108_T31TFJ_20171002T103209",  # L2A, not L1C
        "S2B_MSIL1C_20171002T103009_N0205_R108_31TFJ_20171002T103209",  # tile without T
        "S2A_OPER_PRD_MSIL1C_PDMC_20160901T191510_R079_V20160831T095032",  # no validity stop
        "S2B_MSIL1C_20171002T103009_N0205_R108_T31TFJ_20171002T103209.SAFE",
        "README",
    ],
)
def test_other_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="neither a compact nor a legacy"):
        parse_product_name(name)


def test_every_published_folder_name_parses_to_its_listed_tile() -> None:
    assert len(constants.SCENE_FOLDERS) == 38  # ALCD.md: the 38 scene folders
    for folder in constants.SCENE_FOLDERS:
        product = parse_product_name(folder.product)
        assert product.tile in (None, folder.tile)
        assert (product.form == "legacy") == (folder.product in constants.LEGACY_TO_COMPACT)


@pytest.mark.parametrize(
    ("tile", "epsg"), [("31TFJ", 32631), ("35JPM", 32735), ("21LWK", 32721), ("T11SPC", 32611)]
)
def test_tile_epsg_from_latitude_band(tile: str, epsg: int) -> None:
    assert parse_tile(tile).epsg == epsg


@pytest.mark.parametrize("bad", ["31TF", "61TFJ", "31AFJ", "xxTFJ", 31])
def test_bad_tiles_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="not an MGRS tile id"):
        parse_tile(bad)


def test_tile_parts() -> None:
    t = Tile("33UUU")
    assert (t.zone, t.latitude_band, t.grid_square) == (33, "U", "UU")


def test_planetary_computer_l2a_ids_have_no_baseline() -> None:
    # planetarycomputer_sentinel-2-l2a_S2B_MSIL2A_20190629T212529_R043_T06VVN_20201006T080531.json
    p = parse_product_name("S2B_MSIL2A_20190629T212529_R043_T06VVN_20201006T080531", "L2A")
    assert (p.level, p.tile, p.baseline, p.relative_orbit) == ("L2A", "06VVN", None, 43)


def test_a_legacy_products_datatake_comes_from_its_compact_name() -> None:
    # ALCD.md: the legacy name's validity start 11:11:59 is not the datatake start 11:06:52.
    legacy = parse_product_name(
        "S2A_OPER_PRD_MSIL1C_PDMC_20160417T203056_R137_V20160417T111159_20160417T111159"
    )
    assert legacy.datatake == naming.Datatake(
        "S2A", datetime(2016, 4, 17, 11, 6, 52, tzinfo=UTC), 137, "29RPQ"
    )
    compact = parse_product_name(constants.LEGACY_TO_COMPACT[legacy.name])
    assert naming.same_datatake(legacy, compact)


def test_a_collection_1_successor_is_the_same_datatake_under_another_name() -> None:
    original = parse_product_name("S2B_MSIL1C_20171002T103009_N0205_R108_T31TFJ_20171002T103209")
    successor = parse_product_name("S2B_MSIL1C_20171002T103009_N0500_R108_T31TFJ_20230315T101522")
    other_tile = parse_product_name("S2B_MSIL1C_20171002T103009_N0500_R108_T31TFK_20230315T101522")
    same_day = parse_product_name("S2B_MSIL1C_20171002T110009_N0500_R108_T31TFJ_20230315T101522")
    assert successor.is_collection_1
    assert not original.is_collection_1
    assert naming.same_datatake(original, successor)
    assert not naming.same_datatake(original, other_tile)
    assert not naming.same_datatake(original, same_day)


def test_names_and_tiles_found_in_file_names() -> None:
    legacy = "S2A_OPER_PRD_MSIL1C_PDMC_20160417T203056_R137_V20160417T111159_20160417T111159"
    compact = constants.LEGACY_TO_COMPACT[legacy]
    assert naming.product_names_in(f"{compact}_Fmask4.tif") == [compact, legacy]
    assert naming.product_names_in("x" + compact + ".tif") == []  # glued to a letter
    assert naming.product_names_in(compact.replace("MSIL1C", "MSIL2A") + "_SCL.tif") == []
    assert naming.tile_in("T31TFJ_20171002_Fmask4.tif") == "31TFJ"
    assert naming.tile_in("T31TIJ_20171002.tif") is None  # no band I in MGRS
    assert naming.dates_in("T31TFJ_2017-10-02_x_20180101") == [(2017, 10, 2), (2018, 1, 1)]


def test_earth_search_ids_from_a_real_search_answer() -> None:
    page = json.loads(
        (IMAGERY / "earthsearch_v1_sentinel-2-l1c_search_S2B_27VWK_20240206_0_L1C.json").read_text()
    )
    feature = page["features"][0] if "features" in page else page
    product = parse_product_name(feature["properties"]["s2:product_uri"].removesuffix(".SAFE"))
    sequence = int(feature["properties"]["s2:sequence"])
    assert naming.earth_search_id(product, sequence) == feature["id"]
    assert Tile(product.tile or "").grid_code == feature["properties"]["grid:code"]


def test_sinergise_tile_path_from_a_real_tile_info() -> None:
    path = IMAGERY / "sinergise_roda" / "tileInfo_L1C_T10SDG_20181231_stactools.json"
    info = json.loads(path.read_text())
    product = parse_product_name(info["productName"])
    assert naming.sinergise_tile_path(product) == info["path"]


def test_gcs_folder_as_the_bucket_writes_it() -> None:
    # gcp_public_data_sentinel-2.md: a full band path in the bucket
    name = "S2B_MSIL1C_20220527T030539_N0400_R075_T49SGV_20220527T051042"
    product = parse_product_name(name)
    assert naming.gcs_product_folder(product, Tile("49SGV")) == f"tiles/49/S/GV/{name}.SAFE"
    assert naming.gcs_tile_prefix(Tile("03UXV")) == "tiles/03/U/XV"


def test_the_legacy_items_get_their_earth_search_id_from_the_compact_name() -> None:
    legacy = parse_product_name(
        "S2A_OPER_PRD_MSIL1C_PDMC_20151206T123732_R092_V20151206T080705_20151206T080705"
    )
    assert naming.earth_search_id(legacy) == "S2A_37PGQ_20151206_0_L1C"
    assert naming.cdse_item_url(legacy) == naming.CDSE_ITEM_URL.format(
        name="S2A_MSIL1C_20151206T075212_N0204_R092_T37PGQ_20151206T075547"
    )


# --- identity across archives ----------------------------------------------------------------
ISPRA = "S2B_MSIL1C_20171009T102009_N0205_R065_T32TMR_20171009T102008"


@pytest.mark.parametrize(
    ("found", "expected"),
    [
        (ISPRA, "original"),
        ("S2B_MSIL1C_20171009T102009_N0500_R065_T32TMR_20230301T120000", "reprocessed"),
        ("S2B_MSIL1C_20171009T102009_N0510_R065_T32TMR_20240301T120000", "reprocessed"),
        # same datatake, a baseline that is not Collection-1 (05.09 is not: earth-search #68)
        ("S2B_MSIL1C_20171009T102009_N0509_R065_T32TMR_20230301T120000", None),
        # Collection-1, but another tile, orbit, platform or start: never the same datatake
        ("S2B_MSIL1C_20171009T102009_N0500_R065_T32TNR_20230301T120000", None),
        ("S2B_MSIL1C_20171009T102009_N0500_R108_T32TMR_20230301T120000", None),
        ("S2A_MSIL1C_20171009T102009_N0500_R065_T32TMR_20230301T120000", None),
        ("S2B_MSIL1C_20171009T102010_N0500_R065_T32TMR_20230301T120000", None),
    ],
)
def test_identity_by_name_and_datatake(found: str, expected: str | None) -> None:
    assert naming.identity(parse_product_name(ISPRA), parse_product_name(found)) == expected


def test_a_legacy_product_is_its_compact_name_too() -> None:
    legacy, compact = next(iter(constants.LEGACY_TO_COMPACT.items()))
    wanted = parse_product_name(legacy)
    assert naming.identity(wanted, parse_product_name(compact)) == "original"
    assert naming.identity(wanted, wanted) == "original"
    successor = compact.replace(compact.split("_")[3], "N0500")
    assert naming.identity(wanted, parse_product_name(successor)) == "reprocessed"


def test_archive_names_of_granules_bands_and_tiles() -> None:
    # Real names: ../shared/imagery (the eometadatatool SAFE, s2reader's old SAFE, the
    # Earth Search item's hrefs).
    assert naming.granule_absolute_orbit("L1C_T46UEU_A039970_20230216T045412", "46UEU") == 39970
    old = "S2A_OPER_MSI_L1C_TL_SGS__20160905T073438_A006291_T53HNA_N02.04"
    assert naming.granule_absolute_orbit(old, "53HNA") == 6291
    assert naming.granule_absolute_orbit(old, "53HLA") is None
    assert naming.band_of_file("IMG_DATA/T46UEU_20230216T044851_B8A.jp2") == "B8A"
    assert (
        naming.band_of_file("S2A_OPER_MSI_L1C_TL_SGS__20160905T073438_A006291_T53HNA_B01.jp2")
        == "B01"
    )
    assert naming.band_of_file("tiles/27/V/WK/2024/2/6/0/B12.jp2") == "B12"
    assert naming.band_of_file("IMG_DATA/T46UEU_20230216T044851_TCI.jp2") is None
    assert naming.band_of_file("B13.jp2") is None
    assert naming.sinergise_tile_folder("tiles/27/V/WK/2024/2/6/0/B04.jp2") == (Tile("27VWK"), 0)
    product = parse_product_name("S2B_MSIL1C_20240206T131259_N0510_R081_T27VWK_20240206T133903")
    # `s2:datatake_id` of that Earth Search item: GS2B_20240206T131259_036143_N05.10
    assert naming.datatake_identifier(product, 36143) == "GS2B_20240206T131259_036143_N05.10"
    assert naming.datatake_search_prefix(product) == "S2B_MSIL1C_20240206T131259_"
    assert naming.sinergise_product_path(product) == (
        "products/2024/2/6/S2B_MSIL1C_20240206T131259_N0510_R081_T27VWK_20240206T133903"
    )
    assert naming.product_name_of(f"{product.name}.SAFE/") == product
