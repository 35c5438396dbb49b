"""The `cdse` provider against a fake CDSE STAC v1 search (the eometadatatool item's shape)."""

from __future__ import annotations

import pytest

from stacgen.imagery.identity import Mismatch, NotFound
from stacgen.imagery.providers import Settings, provider
from stacgen.source.naming import parse_product_name
from tests.imagery.conftest import GRANULE, ORIGINAL, SUCCESSOR, TILE
from tests.imagery.fakes import StacSearchFake, cdse_feature

WANTED = parse_product_name(ORIGINAL)
SUCCESSOR_GRANULE = "L1C_T32TMR_A003010_20230301T120000"


def _datatake_neighbours(base: str) -> list[dict[str, object]]:
    """Other tiles of the same datatake (same sensing start): a search by time finds them."""
    return [
        cdse_feature(
            f"S2B_MSIL1C_20171009T102009_N0500_R065_T{t}_20230301T120000",
            t,
            f"L1C_T{t}_A003010_20230301T120000",
            base,
        )
        for t in ("32TLR", "32TNR", "32TMS")
    ]


def test_the_collection_1_successor_is_found_and_marked_reprocessed(
    cdse: StacSearchFake, settings: Settings
) -> None:
    # The server here ignores the tile filter: the provider must judge every item itself.
    cdse.honours_filter = False
    cdse.features = [
        *_datatake_neighbours(cdse.base),
        cdse_feature(SUCCESSOR, TILE, SUCCESSOR_GRANULE, cdse.base),
    ]
    located = provider("cdse", settings).locate(ORIGINAL, WANTED)
    assert (located.kind, located.product.name, located.baseline) == (
        "reprocessed",
        SUCCESSOR,
        "05.00",
    )
    assert len(cdse.queries) == 2  # two items a page: the next link was followed
    assert cdse.queries[0]["datetime"] == "2017-10-09T10:20:07Z/2017-10-09T10:20:11Z"
    assert cdse.queries[0]["filter"] == "\"grid:code\" = 'MGRS-32TMR'"
    b04 = located.bands["B04"]
    assert b04 == (
        f"/vsis3/eodata/Sentinel-2/MSI/L1C_N0500/2017/10/09/{SUCCESSOR}.SAFE/GRANULE/"
        f"{SUCCESSOR_GRANULE}/IMG_DATA/T32TMR_20171009T102009_B04.jp2"
    )
    assert len(located.bands) == 13
    assert (
        located.metadata
        == f"/vsis3/eodata/Sentinel-2/MSI/L1C_N0500/2017/10/09/{SUCCESSOR}.SAFE/MTD_MSIL1C.xml"
    )
    assert located.provider_ref == f"{cdse.base}/collections/sentinel-2-l1c/items/{SUCCESSOR}"
    assert located.gdal_options["AWS_S3_ENDPOINT"] == "eodata.dataspace.copernicus.eu"
    assert located.radio_add_offset is None


def test_the_original_is_taken_where_cdse_still_has_it(
    cdse: StacSearchFake, settings: Settings
) -> None:
    cdse.features = [
        cdse_feature(SUCCESSOR, TILE, SUCCESSOR_GRANULE, cdse.base),
        cdse_feature(ORIGINAL, TILE, GRANULE, cdse.base),
    ]
    located = provider("cdse", settings).locate(ORIGINAL, WANTED)
    assert (located.kind, located.product.name) == ("original", ORIGINAL)


def test_a_baseline_that_is_not_collection_1_is_refused(
    cdse: StacSearchFake, settings: Settings
) -> None:
    other = "S2B_MSIL1C_20171009T102009_N0509_R065_T32TMR_20230301T120000"
    cdse.features = [cdse_feature(other, TILE, SUCCESSOR_GRANULE, cdse.base)]
    with pytest.raises(Mismatch) as err:
        provider("cdse", settings).locate(ORIGINAL, WANTED)
    assert ORIGINAL in str(err.value)
    assert other in str(err.value)


def test_another_datatake_is_not_found(cdse: StacSearchFake, settings: Settings) -> None:
    # Same tile, another orbit and time: not the datatake, whatever the search returned.
    cdse.matches_everything = True
    other = "S2B_MSIL1C_20171019T102009_N0500_R065_T32TMR_20230301T120000"
    cdse.features = [cdse_feature(other, TILE, SUCCESSOR_GRANULE, cdse.base)]
    with pytest.raises(NotFound):
        provider("cdse", settings).locate(ORIGINAL, WANTED)
