"""stacgen.testing.safe: synthetic SAFEs laid out like the real ones in ../shared/imagery."""

from __future__ import annotations

import re
from pathlib import Path

import rasterio
from affine import Affine
from rasterio.crs import CRS

from stacgen.raster.grid import Grid
from stacgen.testing.safe import SafeSpec, band_values, write_safe
from tests.paths import SHARED

IMAGERY = SHARED / "imagery"
GRID = Grid(CRS.from_epsg(32631), Affine(60.0, 0.0, 600000.0, 0.0, -60.0, 4900020.0), 12, 12)


def _shape(path: str) -> str:
    """A path with its tile, stamps, orbit and band replaced: what the layouts share."""
    path = re.sub(r"\d{8}T\d{6}", "<time>", path)
    path = re.sub(r"T\d{2}[A-Z]{3}", "<tile>", path)
    path = re.sub(r"_A\d{6}_", "_<orbit>_", path)
    path = re.sub(r"_R\d{3}_", "_<rel>_", path)
    path = re.sub(r"_N\d{2}\.\d{2}", "_<baseline>", path)
    return re.sub(r"_B(\d\d|8A)\.jp2$", "_<band>.jp2", path)


def _real_tree(path: Path) -> set[str]:
    lines = path.read_text().splitlines()
    names = [line.split("\t", 1)[1] for line in lines if "\t" in line]
    inside = [n.split("/", 1)[1] if n.split("/", 1)[0].endswith(".SAFE") else n for n in names]
    return {_shape(n) for n in inside if n}


def test_compact_layout_has_the_real_paths(tmp_path: Path) -> None:
    name = "S2B_MSIL1C_20171002T103009_N0205_R108_T31TFJ_20171002T103209"
    written = write_safe(SafeSpec(name, "31TFJ", GRID), tmp_path)
    real = _real_tree(IMAGERY / "cdse_eometadatatool_safe" / "_tree_from_zip.txt")
    ours = {_shape(inner) for inner, _ in written.files()}
    assert len(written.band_files) == 13
    assert ours - real == set()  # every file we write has a real counterpart
    assert {
        "MTD_MSIL1C.xml",
        "manifest.safe",
        "GRANULE/L1C_<tile>_<orbit>_<time>/MTD_TL.xml",
    } <= ours


def test_old_layout_has_the_real_paths(tmp_path: Path) -> None:
    name = "S2A_OPER_PRD_MSIL1C_PDMC_20161109T224916_R065_V20161108T102232_20161108T102232"
    spec = SafeSpec(name, "32TNR", GRID, other_tiles=("32TNS",))
    written = write_safe(spec, tmp_path)
    tree = IMAGERY / "s2reader_old_format_safe"
    real = _real_tree(next(tree.glob("*.SAFE/_tree.txt")))
    ours = {_shape(inner) for inner, _ in written.files()}
    assert ours - real - {"manifest.safe"} == set()
    granules = {inner.split("/")[1] for inner, _ in written.files() if inner.startswith("GRANULE/")}
    assert len(granules) == 2


def test_bands_are_lossless_jp2_with_wavelet_levels_and_no_nodata_flag(tmp_path: Path) -> None:
    name = "S2B_MSIL1C_20171002T103009_N0205_R108_T31TFJ_20171002T103209"
    spec = SafeSpec(name, "31TFJ", GRID, bands=("B02", "B11"))
    written = write_safe(spec, tmp_path)
    for band, size in (("B02", 72), ("B11", 36)):
        with rasterio.open(written.path / written.band_files[band]) as src:
            assert (src.driver, src.dtypes, src.nodata) == ("JP2OpenJPEG", ("uint16",), None)
            assert src.shape == (size, size)
            assert src.read(1).tolist() == band_values(spec, band).tolist()
    assert not list(written.path.rglob("*.aux.xml"))
