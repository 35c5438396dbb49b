"""Synthetic Sentinel-2 L1C SAFE products, shaped like the real ones, for the tests and the bench.

`write_safe` writes a product folder (or zip) the way ESA's SAFE format lays it out, in either
layout that ../shared/imagery holds real examples of:
- compact (from December 2016, `S2B_MSIL1C_..._N0205_R108_T31TFJ_....SAFE`): `MTD_MSIL1C.xml`
  (psd-14 namespace, `Granule` + `IMAGE_FILE` paths without extension, PRODUCT_FORMAT
  SAFE_COMPACT, `Radiometric_Offset_List` / `RADIO_ADD_OFFSET band_id="0".."12"` when the
  product has an offset), one granule `GRANULE/L1C_T<tile>_A<orbit>_<time>/` with `MTD_TL.xml` and
  `IMG_DATA/T<tile>_<start>_B01.jp2` ...;
- old (legacy names, 2015-2016, `S2A_OPER_PRD_MSIL1C_PDMC_....SAFE`): `S2A_OPER_MTD_SAFL1C_...xml`
  (psd-13 namespace, PRODUCT_URI not the product name, `Granules` + `IMAGE_ID`, PRODUCT_FORMAT
  SAFE), several granules `GRANULE/S2A_OPER_MSI_L1C_TL_<centre>_<proc>_A<orbit>_T<tile>_N02.04/`
  each with `S2A_OPER_MTD_L1C_TL_...xml` and `IMG_DATA/S2A_OPER_MSI_L1C_TL_..._T<tile>_B01.jp2`.
The 13 bands are JPEG 2000 files written by GDAL's JP2OpenJPEG driver, lossless (reversible
wavelet), 1024 px code blocks, with its wavelet resolution levels (which GDAL offers as
overviews, the trap the fetch must avoid), georeferenced, without a nodata flag (as ESA's). Each
band lies on the 60 m grid given, refined by 60 / its resolution (10 m bands: 6 x 6 pixels per
60 m cell). Its values are `band_values`: deterministic, 0 (no data) in a strip at the west
edge and at scattered pixels (so that an average that counts no-data pixels shows), and dark
(below 1000 DN, what a -1000 offset clips) in the first two 60 m rows.
"""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Final, Literal
from xml.sax.saxutils import escape

import numpy as np
import numpy.typing as npt
import rasterio
import rasterio.shutil
from rasterio.windows import Window

from stacgen.fileutil import digests
from stacgen.layout import imagery
from stacgen.raster.grid import Grid
from stacgen.source.naming import ProductName, parse_product_name, stamp

Layout = Literal["compact", "old"]
DN = npt.NDArray[np.uint16]

LABEL_RESOLUTION: Final = 60
# The JP2 options: lossless, so that a test can compare every pixel with `band_values`.
JP2_OPTIONS: Final = {
    "REVERSIBLE": "YES",
    "QUALITY": "100",
    "BLOCKXSIZE": "1024",
    "BLOCKYSIZE": "1024",
    "YCC": "NO",
}
# West strip of no data, in 60 m cells; and one full-resolution pixel in this many is 0.
NODATA_COLUMNS: Final = 3
STRIP_ROWS: Final = 1024  # rows of a band computed at once
SCATTERED_NODATA: Final = 97
OLD_CENTRE: Final = "SGS_"
OLD_BASELINE: Final = "02.04"
ALL_BANDS: Final = tuple(b.name for b in imagery.BANDS)


@dataclass(frozen=True)
class SafeSpec:
    """What to write: the product, the tile whose bands hold pixels, its 60 m grid."""

    product: str  # the product name (no .SAFE)
    tile: str  # the granule with pixels, `31TFJ`
    grid: Grid  # the tile's 60 m grid (refined for the 10 and 20 m bands)
    radio_add_offset: int | None = None  # None: no Radiometric_Offset_List (before 04.00)
    bands: tuple[str, ...] = ALL_BANDS
    other_tiles: tuple[str, ...] = ()  # old layout: further granules (small, other tiles)
    seed: int = 0

    @property
    def name(self) -> ProductName:
        return parse_product_name(self.product)

    @property
    def layout(self) -> Layout:
        return "compact" if self.name.form == "compact" else "old"

    @property
    def baseline(self) -> str:
        return self.name.baseline or OLD_BASELINE


@dataclass
class WrittenSafe:
    path: Path  # the .SAFE folder, or the zip
    band_files: dict[str, str] = field(default_factory=dict)  # band -> path inside the SAFE
    metadata_file: str = ""  # the product metadata, inside the SAFE

    def files(self) -> Iterator[tuple[str, Path]]:
        """(path inside the SAFE, file) for every file of a folder SAFE."""
        for path in sorted(self.path.rglob("*")):
            if path.is_file():
                yield path.relative_to(self.path).as_posix(), path


def band_grid(grid60: Grid, band_name: str) -> Grid:
    return grid60.refined(LABEL_RESOLUTION // imagery.band(band_name).resolution)


def band_values(spec: SafeSpec, band_name: str, rows: slice | None = None) -> DN:
    """The DN of one band as written (rows of its native grid; all when None)."""
    grid = band_grid(spec.grid, band_name)
    factor = grid.width // spec.grid.width
    start, stop, _ = (rows or slice(None)).indices(grid.height)
    digest = hashlib.sha256(f"{spec.seed}:{spec.product}:{band_name}".encode()).digest()
    base = 400 + 50 * int.from_bytes(digest[:1], "big")
    r = np.arange(start, stop, dtype=np.int64)[:, None]
    c = np.arange(grid.width, dtype=np.int64)[None, :]
    # A smooth field plus a hash-like texture: compresses like an image, differs per pixel.
    texture = (r * 7919 + c * 104729 + int.from_bytes(digest[1:4], "big")) % 1013
    values = base + (r + c) % 2000 + texture
    # The first two 60 m rows are dark (water): below 1000 DN, what a -1000 offset clips.
    values = np.where(r < 2 * factor, 1 + texture % 900, values)
    dn = values.astype(np.uint16)
    dn[:, : NODATA_COLUMNS * factor] = 0
    dn[(r * grid.width + c) % SCATTERED_NODATA == 0] = 0
    return dn


def write_safe(spec: SafeSpec, folder: Path, *, as_zip: bool = False) -> WrittenSafe:
    """The SAFE of `spec` in `folder` (`<product>.SAFE/`, or `<product>.zip` holding it)."""
    safe = folder / f"{spec.product}.SAFE"
    if safe.exists():
        shutil.rmtree(safe)
    safe.mkdir(parents=True)
    written = _write_compact(spec, safe) if spec.layout == "compact" else _write_old(spec, safe)
    _write_manifest(safe)
    if as_zip:
        target = folder / f"{spec.product}.zip"
        with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as zf:
            for inner, path in written.files():
                zf.write(path, f"{safe.name}/{inner}")
        shutil.rmtree(safe)
        written.path = target
    return written


# --- compact layout -------------------------------------------------------------------------
def _abs_orbit(spec: SafeSpec) -> str:
    return f"A{int(hashlib.sha256(spec.product.encode()).hexdigest()[:4], 16) % 40000:06d}"


def _write_compact(spec: SafeSpec, safe: Path) -> WrittenSafe:
    name = spec.name
    start = stamp(name.datetime)
    granule = f"L1C_T{spec.tile}_{_abs_orbit(spec)}_{stamp(name.datetime + timedelta(minutes=3))}"
    written = WrittenSafe(safe, metadata_file="MTD_MSIL1C.xml")
    for band_name in spec.bands:
        inner = f"GRANULE/{granule}/IMG_DATA/T{spec.tile}_{start}_{band_name}.jp2"
        _write_jp2(spec, band_name, safe / inner)
        written.band_files[band_name] = inner
    (safe / "GRANULE" / granule / "MTD_TL.xml").write_text(_tile_xml(spec, granule, 14))
    images = [f.removesuffix(".jp2") for f in written.band_files.values()]
    granule_id = _granule_id(spec, spec.tile)
    granules = _granule_xml("Granule", granule_id, "IMAGE_FILE", images)
    (safe / "MTD_MSIL1C.xml").write_text(_product_xml(spec, 14, f"{spec.product}.SAFE", granules))
    for sub in ("DATASTRIP", "AUX_DATA", "HTML", "rep_info"):
        (safe / sub).mkdir(exist_ok=True)
    return written


# --- old layout -----------------------------------------------------------------------------
def _old_stem(spec: SafeSpec, tile: str) -> str:
    generated = stamp(spec.name.datetime + timedelta(hours=2))
    mission = spec.name.mission
    return f"{mission}_OPER_MSI_L1C_TL_{OLD_CENTRE}_{generated}_{_abs_orbit(spec)}_T{tile}"


def _granule_id(spec: SafeSpec, tile: str) -> str:
    if spec.layout == "old":
        return f"{_old_stem(spec, tile)}_N{spec.baseline}"
    stem = _old_stem(spec, tile).replace(f"_{OLD_CENTRE}_", "_2APS_")
    return f"{stem}_N{spec.baseline}"


def _write_old(spec: SafeSpec, safe: Path) -> WrittenSafe:
    metadata = spec.product.replace("_PRD_MSIL1C_", "_MTD_SAFL1C_") + ".xml"
    written = WrittenSafe(safe, metadata_file=metadata)
    blocks = []
    for tile in (spec.tile, *spec.other_tiles):
        stem, granule = _old_stem(spec, tile), _granule_id(spec, tile)
        ids = []
        for band_name in spec.bands:
            inner = f"GRANULE/{granule}/IMG_DATA/{stem}_{band_name}.jp2"
            if tile == spec.tile:
                _write_jp2(spec, band_name, safe / inner)
                written.band_files[band_name] = inner
            else:  # another tile's granule: a small image, never read for this tile
                _write_jp2(spec, band_name, safe / inner, small=True)
            ids.append(f"{stem}_{band_name}")
        tile_xml = stem.replace("_MSI_L1C_TL_", "_MTD_L1C_TL_") + ".xml"
        (safe / "GRANULE" / granule / tile_xml).write_text(_tile_xml(spec, granule, 13))
        blocks.append(_granule_xml("Granules", granule, "IMAGE_ID", ids))
    uri = f"{spec.name.datetime:%j}_{spec.name.datetime:%Y-%m-%dT%H_%M}"  # not the name, as ESA's
    (safe / metadata).write_text(_product_xml(spec, 13, uri, "\n".join(blocks)))
    (safe / "DATASTRIP").mkdir(exist_ok=True)
    return written


# --- files ----------------------------------------------------------------------------------
def _write_jp2(spec: SafeSpec, band_name: str, path: Path, *, small: bool = False) -> None:
    """One band as ESA's are: JPEG 2000, lossless. Written strip by strip into a plain tiled
    GeoTIFF first (the JP2 driver only copies a whole dataset), so that a full-size 10 m band
    never sits in memory whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    grid = band_grid(spec.grid, band_name)
    if small:
        grid = Grid(grid.crs, grid.transform, 16, 16)
    tmp = path.with_name(f".{path.name}.tif")
    profile = dict(
        driver="GTiff",
        width=grid.width,
        height=grid.height,
        count=1,
        dtype="uint16",
        crs=grid.crs,
        transform=grid.transform,
        tiled=True,
        blockxsize=1024,
        blockysize=1024,
        BIGTIFF="IF_SAFER",
    )
    # No .aux.xml beside the JP2: ESA's products have none.
    with rasterio.Env(GDAL_PAM_ENABLED="NO"):
        try:
            with rasterio.open(tmp, "w", **profile) as dst:
                for start in range(0, grid.height, STRIP_ROWS):
                    rows = slice(start, min(start + STRIP_ROWS, grid.height))
                    if small:
                        data = np.ones((rows.stop - rows.start, grid.width), dtype=np.uint16)
                    else:
                        data = band_values(spec, band_name, rows)
                    dst.write(data, 1, window=Window(0, start, grid.width, data.shape[0]))
            rasterio.shutil.copy(tmp, path, driver="JP2OpenJPEG", **JP2_OPTIONS)
        finally:
            tmp.unlink(missing_ok=True)


def _granule_xml(tag: str, granule_id: str, child: str, names: Sequence[str]) -> str:
    inner = "\n".join(f"        <{child}>{escape(n)}</{child}>" for n in names)
    return (
        f'<Granule_List>\n    <{tag} datastripIdentifier="{escape(granule_id)}_DS" '
        f'granuleIdentifier="{escape(granule_id)}" imageFormat="JPEG2000">\n{inner}\n'
        f"    </{tag}>\n</Granule_List>"
    )


def _offsets_xml(offset: int | None) -> str:
    if offset is None:
        return ""
    rows = "\n".join(
        f'        <RADIO_ADD_OFFSET band_id="{i}">{offset}</RADIO_ADD_OFFSET>'
        for i in range(len(imagery.BANDS))
    )
    return f"<Radiometric_Offset_List>\n{rows}\n      </Radiometric_Offset_List>"


def _product_xml(spec: SafeSpec, psd: int, uri: str, granules: str) -> str:
    name = spec.name
    sensing = (name.compact or name).datetime
    when = f"{sensing:%Y-%m-%dT%H:%M:%S}.024Z"
    fmt = "SAFE_COMPACT" if spec.layout == "compact" else "SAFE"
    mission = name.mission
    datatake = f"G{mission}_{stamp(sensing)}_{_abs_orbit(spec)[1:]}_N{spec.baseline}"
    ns = f"https://psd-{psd}.sentinel2.eo.esa.int/PSD/User_Product_Level-1C.xsd"
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<n1:Level-1C_User_Product xmlns:n1="{ns}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
    <n1:General_Info>
        <Product_Info>
            <PRODUCT_START_TIME>{when}</PRODUCT_START_TIME>
            <PRODUCT_STOP_TIME>{when}</PRODUCT_STOP_TIME>
            <PRODUCT_URI>{escape(uri)}</PRODUCT_URI>
            <PROCESSING_LEVEL>Level-1C</PROCESSING_LEVEL>
            <PRODUCT_TYPE>S2MSI1C</PRODUCT_TYPE>
            <PROCESSING_BASELINE>{spec.baseline}</PROCESSING_BASELINE>
            <Datatake datatakeIdentifier="{datatake}">
      <SPACECRAFT_NAME>Sentinel-{mission[1:]}</SPACECRAFT_NAME>
      <DATATAKE_TYPE>INS-NOBS</DATATAKE_TYPE>
      <DATATAKE_SENSING_START>{when}</DATATAKE_SENSING_START>
      <SENSING_ORBIT_NUMBER>{name.relative_orbit}</SENSING_ORBIT_NUMBER>
      <SENSING_ORBIT_DIRECTION>DESCENDING</SENSING_ORBIT_DIRECTION>
    </Datatake>
<Query_Options>
<PRODUCT_FORMAT>{fmt}</PRODUCT_FORMAT>
</Query_Options>
<Product_Organisation>
{granules}
</Product_Organisation>
</Product_Info>
        <Product_Image_Characteristics>
            <Special_Values>
                <SPECIAL_VALUE_TEXT>NODATA</SPECIAL_VALUE_TEXT>
                <SPECIAL_VALUE_INDEX>0</SPECIAL_VALUE_INDEX>
            </Special_Values>
            <QUANTIFICATION_VALUE unit="none">{imagery.QUANTIFICATION}</QUANTIFICATION_VALUE>
            {_offsets_xml(spec.radio_add_offset)}
        </Product_Image_Characteristics>
    </n1:General_Info>
</n1:Level-1C_User_Product>
"""


def _tile_xml(spec: SafeSpec, granule_id: str, psd: int) -> str:
    g = spec.grid
    left, _, _, top = g.bounds
    sizes, positions = [], []
    for res in (10, 20, 60):
        n = g.width * LABEL_RESOLUTION // res
        sizes.append(f'<Size resolution="{res}"><NROWS>{n}</NROWS><NCOLS>{n}</NCOLS></Size>')
        step = g.resolution * res / LABEL_RESOLUTION
        positions.append(
            f'<Geoposition resolution="{res}"><ULX>{left:g}</ULX><ULY>{top:g}</ULY>'
            f"<XDIM>{step:g}</XDIM><YDIM>{-step:g}</YDIM></Geoposition>"
        )
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<n1:Level-1C_Tile_ID xmlns:n1="https://psd-{psd}.sentinel2.eo.esa.int/PSD/S2_PDI_Level-1C_Tile_Metadata.xsd">
  <n1:General_Info>
    <TILE_ID metadataLevel="Brief">{escape(granule_id)}</TILE_ID>
  </n1:General_Info>
  <n1:Geometric_Info>
    <Tile_Geocoding metadataLevel="Brief">
      <HORIZONTAL_CS_CODE>EPSG:{g.epsg}</HORIZONTAL_CS_CODE>
      {"".join(sizes)}
      {"".join(positions)}
    </Tile_Geocoding>
  </n1:Geometric_Info>
</n1:Level-1C_Tile_ID>
"""


def _write_manifest(safe: Path) -> None:
    """manifest.safe's data object section (href, size, checksum), as ESA's lists every file."""
    objects = []
    for i, path in enumerate(sorted(p for p in safe.rglob("*") if p.is_file())):
        inner = path.relative_to(safe).as_posix()
        digest = digests(path, ("sha3_256",))["sha3_256"]
        objects.append(
            f'        <dataObject ID="object_{i}">\n'
            f'            <byteStream mimeType="application/octet-stream" '
            f'size="{path.stat().st_size}">\n'
            f'                <fileLocation href="./{escape(inner)}" locatorType="URL"/>\n'
            f'                <checksum checksumName="SHA3-256">{digest}</checksum>\n'
            "            </byteStream>\n        </dataObject>"
        )
    body = "\n".join(objects)
    (safe / "manifest.safe").write_text(
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
        '<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1" xmlns:safe="http://www.esa.int/safe/sentinel/1.1">\n'
        f"    <dataObjectSection>\n{body}\n    </dataObjectSection>\n</xfdu:XFDU>\n"
    )


def write_safes_for_catalog(
    catalog: Path,
    safe_dir: Path,
    *,
    items: Sequence[str] | None = None,
    bands: Sequence[str] | None = None,
    radio_add_offset: int | None = None,
    as_zip: bool = False,
) -> dict[str, SafeSpec]:
    """A SAFE for each label item of a built catalog (those of `items`, else all), on the
    item's own label grid, named by its product: item id -> what was written. Reads the label
    items' JSON with json alone, none of stacgen's readers."""
    import json

    from stacgen import constants

    written = {}
    for path in sorted((catalog / constants.COLLECTION_ID).glob("*/*.json")):
        if path.stem != path.parent.name or (items is not None and path.stem not in items):
            continue
        props = json.loads(path.read_text())["properties"]
        grid = Grid.from_proj(props["proj:code"], props["proj:transform"], props["proj:shape"])
        tile = (
            f"{props['mgrs:utm_zone']:02d}{props['mgrs:latitude_band']}{props['mgrs:grid_square']}"
        )
        spec = SafeSpec(
            path.stem,
            tile,
            grid,
            radio_add_offset=radio_add_offset,
            bands=tuple(bands) if bands else ALL_BANDS,
        )
        write_safe(spec, safe_dir, as_zip=as_zip)
        written[path.stem] = spec
    return written
