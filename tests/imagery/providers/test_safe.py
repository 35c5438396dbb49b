"""The `safe` provider on synthetic SAFEs (both layouts, folders and zips) under a --safe-dir."""

from __future__ import annotations

from pathlib import Path

import pytest
import rasterio

from stacgen.imagery.located import ImageryError
from stacgen.imagery.providers import Settings, provider
from stacgen.raster.grid import Grid
from stacgen.source.naming import parse_product_name
from stacgen.testing.safe import SafeSpec, band_values, write_safe
from tests.imagery.conftest import COMPACT, LEGACY, LEGACY_COMPACT, REPROCESSED

BANDS = ("B01", "B02", "B8A")


def _locate(safe_dir: Path, name: str, item_id: str = "item") -> object:
    return provider("safe", Settings(safe_dir=safe_dir)).locate(item_id, parse_product_name(name))


def test_a_compact_folder_is_found_by_name(grid60: Grid, tmp_path: Path) -> None:
    spec = SafeSpec(COMPACT, "31TFJ", grid60, bands=BANDS)
    write_safe(spec, tmp_path / "deep" / "er")
    found = provider("safe", Settings(safe_dir=tmp_path)).locate("x", parse_product_name(COMPACT))
    assert (found.kind, found.product.name, found.provider) == ("original", COMPACT, "safe")
    assert found.provider_ref == str(tmp_path / "deep" / "er" / f"{COMPACT}.SAFE")
    assert sorted(found.bands) == sorted(BANDS)
    assert found.radio_add_offset == {b: 0 for b in BANDS}
    assert found.metadata is not None
    assert found.metadata.endswith("/MTD_MSIL1C.xml")
    with rasterio.open(found.bands["B8A"]) as src:
        assert src.read(1).tolist() == band_values(spec, "B8A").tolist()
    assert found.sizes["B02"] == Path(found.bands["B02"]).stat().st_size


def test_a_zip_is_read_in_place(grid60: Grid, tmp_path: Path) -> None:
    spec = SafeSpec(COMPACT, "31TFJ", grid60, radio_add_offset=-1000, bands=BANDS)
    write_safe(spec, tmp_path, as_zip=True)
    found = provider("safe", Settings(safe_dir=tmp_path)).locate("x", parse_product_name(COMPACT))
    assert found.bands["B02"].startswith(
        f"/vsizip/{tmp_path}/{COMPACT}.zip/{COMPACT}.SAFE/GRANULE/"
    )
    assert found.radio_add_offset == {b: -1000 for b in BANDS}
    with rasterio.open(found.bands["B02"]) as src:
        assert src.read(1).tolist() == band_values(spec, "B02").tolist()


def test_an_old_multi_granule_product_gives_the_granule_of_the_tile(
    grid60_32tnr: Grid, tmp_path: Path
) -> None:
    spec = SafeSpec(LEGACY, "32TNR", grid60_32tnr, bands=BANDS, other_tiles=("32TMR", "32TNS"))
    write_safe(spec, tmp_path)
    found = provider("safe", Settings(safe_dir=tmp_path)).locate("x", parse_product_name(LEGACY))
    assert found.kind == "original"
    assert sorted(found.bands) == sorted(BANDS)
    assert all("_T32TNR_" in path for path in found.bands.values())
    with rasterio.open(found.bands["B01"]) as src:
        assert src.read(1).tolist() == band_values(spec, "B01").tolist()


def test_a_legacy_item_is_found_under_its_compact_name(grid60_32tnr: Grid, tmp_path: Path) -> None:
    write_safe(SafeSpec(LEGACY_COMPACT, "32TNR", grid60_32tnr, bands=BANDS), tmp_path)
    found = provider("safe", Settings(safe_dir=tmp_path)).locate("x", parse_product_name(LEGACY))
    assert (found.kind, found.product.name) == ("original", LEGACY_COMPACT)


def test_the_collection_1_successor_is_reprocessed(grid60: Grid, tmp_path: Path) -> None:
    write_safe(
        SafeSpec(REPROCESSED, "31TFJ", grid60, radio_add_offset=-1000, bands=BANDS), tmp_path
    )
    found = provider("safe", Settings(safe_dir=tmp_path)).locate("x", parse_product_name(COMPACT))
    assert (found.kind, found.product.name, found.baseline) == ("reprocessed", REPROCESSED, "05.00")
    assert found.radio_add_offset == {b: -1000 for b in BANDS}


def test_a_safe_of_another_tile_is_refused_in_one_line(grid60: Grid, tmp_path: Path) -> None:
    other = COMPACT.replace("T31TFJ", "T31TGJ")
    write_safe(SafeSpec(other, "31TGJ", grid60, bands=BANDS), tmp_path)
    with pytest.raises(ImageryError) as err:
        _locate(tmp_path, COMPACT, "item")
    assert str(err.value) == (
        f"item: {tmp_path / other}.SAFE is a SAFE of tile T31TGJ, not of T31TFJ ({COMPACT})"
    )


def test_an_old_product_without_the_granule_of_the_tile_is_refused(
    grid60_32tnr: Grid, tmp_path: Path
) -> None:
    write_safe(
        SafeSpec(LEGACY, "32TMR", grid60_32tnr, bands=BANDS, other_tiles=("32TNS",)), tmp_path
    )
    with pytest.raises(ImageryError, match=r"a SAFE of T32TMR, T32TNS, not of T32TNR$"):
        _locate(tmp_path, LEGACY)


def test_a_folder_whose_metadata_names_another_product_is_refused(
    grid60: Grid, tmp_path: Path
) -> None:
    other = COMPACT.replace("20171002T103209", "20171002T999999"[:15])
    written = write_safe(SafeSpec(other, "31TFJ", grid60, bands=BANDS), tmp_path)
    written.path.rename(tmp_path / f"{COMPACT}.SAFE")
    with pytest.raises(ImageryError, match=f"PRODUCT_URI '{other}' is not {COMPACT}"):
        _locate(tmp_path, COMPACT)


def test_a_missing_product_names_what_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(ImageryError) as err:
        _locate(tmp_path, COMPACT, "item")
    assert str(err.value).startswith(
        f"item: no SAFE of {COMPACT} under {tmp_path} ({COMPACT}.SAFE,"
    )
    assert "\n" not in str(err.value)


def test_the_safe_dir_is_required_and_must_be_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageryError, match=r"^--safe-dir: the safe provider needs"):
        provider("safe", Settings())
    with pytest.raises(ImageryError, match=r"is not a folder$"):
        provider("safe", Settings(safe_dir=tmp_path / "nowhere"))
