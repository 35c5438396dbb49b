"""A synthetic ALCD archive shaped like the real one (ALCD.md), for the tests and the benchmark.

The real tgz cannot be downloaded here, so this writes the same layout (top folder, both subsets,
the 38 real folder names, 33 files per scene folder, 1,256 files in all) with made-up content:
rasters on the real MGRS tile grids, the product shared by both subsets, and each variation that
ALCD.md marks as unknown (nodata tag, compression, sample attribute tables, a missing `K`), so
that the builder meets every one of them. Same arguments, byte-identical archive.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import io
import json
import logging
import math
import multiprocessing
import os
import shutil
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import pyogrio.raw
import rasterio
import rasterio.warp
import shapely
from affine import Affine

from stacgen import constants
from stacgen.constants import SceneFolder
from stacgen.fileutil import atomic_open
from stacgen.raster.png import png_bytes
from stacgen.source.naming import (
    Tile,
    compact_product_name,
    legacy_product_name,
    parse_product_name,
    parse_tile,
)

log = logging.getLogger(__name__)

Labels = npt.NDArray[np.uint8]
Field = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]
HostileKind = Literal["escape", "absolute", "symlink", "hardlink", "device"]
Rng = Callable[[str], np.random.Generator]

# --- the MGRS grid ----------------------------------------------------------------------------
TILE_EXTENT_M: Final = 109_800.0
_SQUARE: Final = 100_000
_ROW_CYCLE: Final = 2_000_000
_BANDS: Final = "CDEFGHJKLMNPQRSTUVWX"
_COLUMN_SETS: Final = ("STUVWXYZ", "ABCDEFGH", "JKLMNPQR")  # by zone % 3
_ROWS: Final = "ABCDEFGHJKLMNPQRSTUV"


@dataclass(frozen=True)
class TileGrid:
    """Where an S2 tile lies: its UTM CRS and the upper-left corner of its 109.8 km square."""

    tile: str
    epsg: int
    west: float
    north: float

    @property
    def crs(self) -> str:
        return f"EPSG:{self.epsg}"

    def transform(self, size: int) -> Affine:
        pixel = TILE_EXTENT_M / size
        return Affine(pixel, 0.0, self.west, 0.0, -pixel, self.north)


@functools.cache
def tile_grid(tile: str) -> TileGrid:
    """The grid of an MGRS tile id such as `31TFJ`.

    An S2 tile hangs east and south of the upper-left corner of its 100 km MGRS square (30TYN
    starts at (699960, 4800000)); the real grid's 20-40 m easting offsets are left out.
    """
    zone, band, column, row = _mgrs(tile)
    easting = (_COLUMN_SETS[zone % 3].index(column) + 1) * _SQUARE
    # Even zones letter their rows from F, not A.
    northing = (_ROWS.index(row) - (5 if zone % 2 == 0 else 0)) % len(_ROWS) * _SQUARE
    epsg = Tile(f"{zone:02d}{band}{column}{row}").epsg
    # Row letters repeat every 2,000 km: take the first repeat that reaches the latitude band.
    floor = _band_floor(zone, band, epsg)
    while northing < floor:
        northing += _ROW_CYCLE
    return TileGrid(tile, epsg, float(easting), float(northing + _SQUARE))


def _mgrs(tile: str) -> tuple[int, str, str, str]:
    """(zone, latitude band, column, row) of a tile id that names a real 100 km MGRS square."""
    try:
        parsed = parse_tile(tile)
    except ValueError:
        parsed = None
    if parsed is None or parsed.latitude_band not in _BANDS:
        raise ValueError(f"{tile!r} is not an MGRS tile id such as 31TFJ")
    column, row = parsed.grid_square[0], parsed.grid_square[1]
    if column not in _COLUMN_SETS[parsed.zone % 3] or row not in _ROWS:
        raise ValueError(f"{tile!r} is not an MGRS tile id such as 31TFJ")
    return parsed.zone, parsed.latitude_band, column, row


def _band_floor(zone: int, band: str, epsg: int) -> float:
    """The northing of the band's southern edge on the central meridian, down to 100 km."""
    lat = -80 + 8 * _BANDS.index(band)
    _, ys = rasterio.warp.transform("EPSG:4326", f"EPSG:{epsg}", [zone * 6 - 183], [lat])
    return float(math.floor(ys[0] / _SQUARE) * _SQUARE)


# --- what varies between scenes ---------------------------------------------------------------
# ALCD.md: two products have no cloud shadow; which two is not known, these stand in.
NO_SHADOW_PRODUCTS: Final = (
    "S2B_MSIL1C_20170909T084009_N0205_R064_T33KWP_20170909T090455",
    "S2A_OPER_PRD_MSIL1C_PDMC_20151206T123732_R092_V20151206T080705_20151206T080705",
)
_PRODUCTS: Final = tuple(dict.fromkeys(f.product for f in constants.SCENE_FOLDERS))
NodataRegion = Literal["none", "left", "wedge", "right"]
_REGIONS: Final[tuple[NodataRegion, ...]] = ("none", "left", "none", "wedge", "none", "right")


@dataclass(frozen=True)
class SceneStyle:
    """The choices ALCD.md leaves open, made differently from scene to scene."""

    nodata_tag: bool  # GeoTIFF nodata=0 tag, or no tag at all
    lzw: bool  # LZW-compressed GeoTIFFs, or uncompressed
    nodata_region: NodataRegion  # where the 0 pixels are
    confidence_garbage: bool  # confidence keeps non-zero values where the labels are 0
    class_field: bool  # samples carry a mostly-NULL `class` field besides `id`
    has_k: bool  # k_fold_summary.json has its `K` key
    has_snow: bool
    has_shadows: bool


def scene_style(product: str) -> SceneStyle:
    """Deterministic per product, so both copies of the shared product get the same one."""
    if product in _PRODUCTS:
        idx = _PRODUCTS.index(product)
    else:
        idx = int.from_bytes(hashlib.sha256(product.encode()).digest()[:4], "big")
    return SceneStyle(
        nodata_tag=idx % 4 < 2,
        lzw=idx % 3 == 0,
        nodata_region=_REGIONS[idx % len(_REGIONS)],
        confidence_garbage=idx % 5 in (1, 3),
        class_field=idx // 3 % 2 == 1,
        has_k=idx % 7 != 3,
        has_snow=idx % 3 == 1,
        has_shadows=product not in NO_SHADOW_PRODUCTS,
    )


# Folder numbers (ALCD.md table, from 1): both copies of the shared product (30, 37), compact
# and legacy names in each subset, both no-shadow products, snow, a missing K, both hemispheres.
_REPRESENTATIVE: Final = (30, 37, 19, 22, 32, 14, 21, 38)
REPRESENTATIVE_COUNT: Final = 6


def default_folders(n: int | None = None) -> tuple[SceneFolder, ...]:
    """All 38 folders (n=None), or n of them, the most varied first (n >= 6 covers every style).

    The result keeps the archive's folder order.
    """
    if n is None:
        return tuple(constants.SCENE_FOLDERS)
    if not 1 <= n <= len(constants.SCENE_FOLDERS):
        raise ValueError(f"n must be between 1 and {len(constants.SCENE_FOLDERS)}, not {n}")
    first = [constants.SCENE_FOLDERS[i - 1] for i in _REPRESENTATIVE]
    ranked = first + [f for f in constants.SCENE_FOLDERS if f not in first]
    chosen = set(ranked[:n])
    return tuple(f for f in constants.SCENE_FOLDERS if f in chosen)


def _rng(seed: int, product: str, purpose: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}:{product}:{purpose}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))


# --- rasters ----------------------------------------------------------------------------------
def _interp_matrix(size: int, cells: int) -> Field:
    """Weights that spread `cells` control values over `size` pixels (smoothstep in between)."""
    t = (np.arange(size) + 0.5) * (cells - 1) / size
    j = np.minimum(t.astype(np.int64), cells - 2)
    f = t - j
    f = f * f * (3 - 2 * f)
    w = np.zeros((size, cells))
    rows = np.arange(size)
    w[rows, j] = 1 - f
    w[rows, j + 1] = f
    return w


def _smooth(rng: np.random.Generator, size: int, cells: int) -> Field:
    """A smooth random field in [0, 1]: a coarse grid of random values, upsampled."""
    w = _interp_matrix(size, cells)
    field: Field = w @ rng.random((cells, cells)) @ w.T
    return field


def _blobs(rng: np.random.Generator, size: int) -> Field:
    return 0.7 * _smooth(rng, size, 6) + 0.3 * _smooth(rng, size, 17)


def _top(field: Field, share: float) -> Mask:
    """The `share` of pixels where the field is highest (quantile of a subsample: fast)."""
    step = max(1, field.shape[0] // 200)
    mask: Mask = field > np.quantile(field[::step, ::step], 1 - share)
    return mask


def _shift(mask: Mask, dy: int, dx: int) -> Mask:
    out = np.zeros_like(mask)
    out[dy:, dx:] = mask[: mask.shape[0] - dy, : mask.shape[1] - dx]
    return out


def _nodata_mask(size: int, region: NodataRegion) -> Mask:
    """0 pixels like an S2 swath edge (slanted side strip) or a corner wedge."""
    rows, cols = np.ogrid[:size, :size]
    if region == "left":
        return np.asarray(cols < size * (0.12 + 0.12 * rows / size))
    if region == "right":
        return np.asarray(cols > size * (0.78 + 0.12 * rows / size))
    if region == "wedge":
        return np.asarray(cols - rows > size * 0.45)
    return np.zeros((size, size), dtype=bool)


def _classes(rng: np.random.Generator, size: int, style: SceneStyle) -> Labels:
    """Labels 2-7 as blobs over land (5), 0 where there is no data; never 1."""
    labels = np.full((size, size), 5, dtype=np.uint8)
    labels[_top(_blobs(rng, size), rng.uniform(0.04, 0.12))] = 6
    snow = _top(_blobs(rng, size), rng.uniform(0.04, 0.12))
    if style.has_snow:
        labels[snow] = 7
    cloud = _top(_blobs(rng, size), rng.uniform(0.08, 0.3))
    cirrus = _top(_blobs(rng, size), rng.uniform(0.04, 0.15)) & ~cloud
    if style.has_shadows:
        labels[_shift(cloud, max(1, size // 40), max(1, size // 30)) & ~cloud & ~cirrus] = 4
    labels[cirrus] = 3
    labels[cloud] = 2
    labels[_nodata_mask(size, style.nodata_region)] = constants.NODATA
    return labels


def _edges(labels: Labels) -> Mask:
    edge = np.zeros(labels.shape, dtype=bool)
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    edge[:-1, :] |= labels[:-1, :] != labels[1:, :]
    return edge


def _confidence(rng: np.random.Generator, labels: Labels, style: SceneStyle) -> Labels:
    """40-255 where there is data, lower along class edges; 0 or leftovers where there is none."""
    field = _smooth(rng, labels.shape[0], 12)
    span = max(float(field.max() - field.min()), 1e-9)
    conf = 40 + 215 * (field - field.min()) / span
    conf[_edges(labels)] -= 90
    out: Labels = np.clip(conf, 40, 255).astype(np.uint8)
    if not style.confidence_garbage:
        out[labels == constants.NODATA] = 0
    return out


def _write_tif(path: Path, band: Labels, grid: TileGrid, style: SceneStyle) -> None:
    size = band.shape[0]
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 1,
        "dtype": "uint8",
        "crs": grid.crs,
        "transform": grid.transform(size),
    }
    if style.nodata_tag:
        profile["nodata"] = constants.NODATA
    if style.lzw:
        profile["compress"] = "lzw"
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(band, 1)


# --- contours.png -----------------------------------------------------------------------------
# A rough true-colour look per label value (0 black, 1 never used).
_TRUE_COLOUR: Final = np.array(
    [
        (0, 0, 0),
        (120, 90, 60),
        (236, 236, 236),
        (205, 205, 222),
        (62, 60, 52),
        (128, 118, 82),
        (28, 52, 92),
        (246, 246, 250),
    ],
    dtype=np.float64,
)
# Outline colours of contours.png (ALCD.md: clouds, shadows, water, snow, no data).
_OUTLINES: Final = (
    (constants.CLOUD_VALUES, (0, 201, 13)),
    (constants.SHADOW_VALUES, (255, 249, 55)),
    (constants.WATER_VALUES, (37, 106, 255)),
    (constants.SNOW_VALUES, (196, 86, 199)),
    ((constants.NODATA,), (0, 0, 0)),
)


def _outline(mask: Mask) -> Mask:
    inner = mask.copy()
    inner[1:, :] &= mask[:-1, :]
    inner[:-1, :] &= mask[1:, :]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    return mask & ~inner


def _contours(rng: np.random.Generator, labels: Labels) -> Labels:
    """An RGB picture (textured, noisy like a real scene) with the class outlines painted on."""
    shade = 0.8 + 0.4 * _smooth(rng, labels.shape[0], 40)
    rgb = _TRUE_COLOUR[labels] * shade[..., None]
    rgb += rng.integers(-6, 7, size=rgb.shape)
    out = np.clip(rgb, 0, 255).astype(np.uint8)
    for values, colour in _OUTLINES:
        out[_outline(np.isin(labels, values))] = colour
    return out


# --- Samples/*.shp ----------------------------------------------------------------------------
# The .dbf header holds a "last update" date: fixed, or the archive would change every day.
_DBF_DATE: Final = "2018-05-30"


def _sample_points(
    rng: np.random.Generator, labels: Labels, value: int, transform: Affine
) -> npt.NDArray[np.float64]:
    """Tens of points, each inside a pixel of class `value`; none if the class is absent."""
    pixels = np.flatnonzero(labels == value)
    count = min(int(rng.integers(20, 90)), pixels.size)
    picks = rng.choice(pixels, size=count, replace=False) if count else pixels[:0]
    rows, cols = np.divmod(picks, labels.shape[1])
    u, v = rng.uniform(0.1, 0.9, size=(2, count))
    x = transform.c + (cols + u) * transform.a
    y = transform.f + (rows + v) * transform.e
    return np.column_stack([x, y])


def _write_layer(
    path: Path, xy: npt.NDArray[np.float64], crs: str, value: int | None, rng: np.random.Generator
) -> None:
    """One point shapefile: `id`, plus a mostly-NULL `class` field when `value` is given."""
    count = len(xy)
    geometry = shapely.to_wkb(shapely.points(xy)) if count else np.array([], dtype=object)
    data: list[npt.NDArray[np.int32]] = [np.arange(1, count + 1, dtype=np.int32)]
    names: list[str] = ["id"]
    masks: list[Mask | None] = [None]
    if value is not None:
        data.append(np.full(count, value, dtype=np.int32))
        names.append("class")
        masks.append(rng.random(count) < 0.7)
    pyogrio.raw.write(
        str(path),
        geometry,
        field_data=data,
        fields=names,
        field_mask=masks,
        crs=crs,
        driver="ESRI Shapefile",
        geometry_type="Point",
        layer_options={"DBF_DATE_LAST_UPDATE": _DBF_DATE},
    )
    # pyogrio forces ENCODING=UTF-8 on shapefiles, hence a .cpg; the fields hold no text and
    # the real archive has 4 files per layer (.shp .shx .dbf .prj).
    path.with_suffix(".cpg").unlink(missing_ok=True)


def _write_samples(
    folder: Path, labels: Labels, grid: TileGrid, style: SceneStyle, rng: np.random.Generator
) -> None:
    folder.mkdir(parents=True)
    transform = grid.transform(labels.shape[0])
    for layer, value in constants.SAMPLE_LAYERS.items():
        xy = _sample_points(rng, labels, value, transform)
        _write_layer(
            folder / f"{layer}.shp", xy, grid.crs, value if style.class_field else None, rng
        )


# --- JSON -------------------------------------------------------------------------------------
_FOLDS: Final = 10


def _k_fold(rng: np.random.Generator, style: SceneStyle) -> dict[str, Any]:
    metrics = rng.uniform(0.8, 1.0, size=(_FOLDS, len(constants.METRIC_NAMES)))
    summary: dict[str, Any] = {
        "metrics_names": list(constants.METRIC_NAMES),
        "all_metrics": metrics.tolist(),
        "means": metrics.mean(axis=0).tolist(),
        "stds": metrics.std(axis=0).tolist(),
    }
    if style.has_k:
        summary["K"] = _FOLDS
    return summary


def _sensing(product: str) -> tuple[date, str, int]:
    """(sensing date, HHMMSS, relative orbit) from a compact or legacy product name."""
    name = parse_product_name(product)
    return name.datetime.date(), f"{name.datetime:%H%M%S}", name.relative_orbit


def _clear_product(rng: np.random.Generator, product: str, tile: str) -> tuple[date, str]:
    """A plausible earlier cloud-free acquisition of the same tile and orbit."""
    cloudy, hms, orbit = _sensing(product)
    clear = cloudy - timedelta(days=int(rng.integers(5, 60)))
    stamp = f"{clear:%Y%m%d}T{hms}"
    if clear < date(2016, 12, 6):
        generated = f"{clear + timedelta(days=1):%Y%m%d}T{int(rng.integers(100000, 235959))}"
        return clear, legacy_product_name("S2A", "L1C", generated, orbit, stamp, stamp)
    platform = "S2A" if clear < date(2017, 7, 6) else str(rng.choice(["S2A", "S2B"]))
    baseline = (
        "02.04" if clear < date(2017, 5, 1) else "02.05" if clear < date(2017, 10, 23) else "02.06"
    )
    discriminator = f"{clear:%Y%m%d}T{int(rng.integers(100000, 235959))}"
    name = compact_product_name(platform, "L1C", stamp, baseline, orbit, tile, discriminator)
    return clear, name


def _parameters(folder: SceneFolder, location: str, seed: int, session: str = "") -> dict[str, Any]:
    """used_parameters.json; another labelling `session` of the product draws other values."""
    rng = _rng(seed, folder.product, "parameters")
    cloudy, _, _ = _sensing(folder.product)
    clear, clear_name = _clear_product(rng, folder.product, folder.tile)
    if session:
        rng = _rng(seed, folder.product, "parameters" + session)
    return {
        "location": location,
        "tile": folder.tile,
        "cloudy_date": f"{cloudy:%Y%m%d}",
        "clear_date": f"{clear:%Y%m%d}",
        "cloudy_product_name": folder.product,
        "clear_product_name": clear_name,
        "user_function": "alcd_classification",
        "resolution": 60,
        "nb_samples": int(rng.integers(200, 2000)),
        "classification_method": "rf",
        "median_filter_radius": 11,
    }


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=4) + "\n", encoding="utf-8")


# --- the tree ---------------------------------------------------------------------------------
def _write_scene(dest: Path, product: str, tile: str, size: int, seed: int) -> None:
    """Everything of one scene folder except used_parameters.json (its copies may differ)."""
    grid = tile_grid(tile)
    style = scene_style(product)
    rng: Rng = functools.partial(_rng, seed, product)
    labels = _classes(rng("classes"), size, style)
    (dest / constants.CLASSIFICATION_MAP).parent.mkdir(parents=True)
    _write_tif(dest / constants.CLASSIFICATION_MAP, labels, grid, style)
    _write_tif(
        dest / constants.CONFIDENCE_MAP, _confidence(rng("confidence"), labels, style), grid, style
    )
    contours = _contours(rng("contours"), labels)
    (dest / constants.CONTOURS).write_bytes(png_bytes(np.moveaxis(contours, -1, 0)))
    _write_samples(dest / constants.SAMPLES_DIR, labels, grid, style, rng("samples"))
    _write_json(dest / constants.STATISTICS, _k_fold(rng("statistics"), style))


def _check_request(size: int, folders: Sequence[SceneFolder]) -> None:
    if size < 8:
        raise ValueError(f"size must be at least 8 px, not {size}")
    paths = [(f.subset, f.product) for f in folders]
    if len(set(paths)) != len(paths):
        raise ValueError("a scene folder (subset, product) is listed twice")
    for folder in folders:
        tile_grid(folder.tile)
        _sensing(folder.product)


def _write_scenes(
    top: Path,
    size: int,
    folders: Sequence[SceneFolder],
    seed: int,
    workers: int,
    identical_copies: bool = False,
) -> None:
    """Each distinct product once (in parallel if asked); its other copies are copied, then
    made to differ unless `identical_copies`."""
    first: dict[str, SceneFolder] = {}
    for folder in folders:
        first.setdefault(folder.product, folder)
    jobs = [(top / f.subset / f.product, f.product, f.tile, size, seed) for f in first.values()]
    if workers > 1 and len(jobs) > 1:
        # spawn, not fork: forking a process that runs BLAS or GDAL threads can deadlock.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            for future in [pool.submit(_write_scene, *job) for job in jobs]:
                future.result()
    else:
        for job in jobs:
            _write_scene(*job)
    for folder in folders:
        origin = first[folder.product]
        dest = top / folder.subset / folder.product
        session = ""
        if origin != folder:
            # ALCD.md: the copies of the shared product may differ in everything but the
            # rasters (another labelling session): parameters, statistics, samples.
            shutil.copytree(top / origin.subset / origin.product, dest)
            if not identical_copies:
                session = f":{folder.subset}"
                _vary_copy(dest, folder, seed)
        params = _parameters(folder, folder.site, seed, session)
        _write_json(dest / constants.PARAMETERS, params)


def _vary_copy(dest: Path, folder: SceneFolder, seed: int) -> None:
    """Another labelling session of the same product: the statistics and every other sample
    layer drawn again (the rest stay byte-identical, so some points are in both copies)."""
    grid = tile_grid(folder.tile)
    style = scene_style(folder.product)
    rng: Rng = functools.partial(_rng, seed, f"{folder.product}:{folder.subset}")
    _write_json(dest / constants.STATISTICS, _k_fold(rng("statistics"), style))
    with rasterio.open(dest / constants.CLASSIFICATION_MAP) as src:
        labels: Labels = src.read(1)
    transform = grid.transform(labels.shape[0])
    samples = rng("samples")
    for layer, value in list(constants.SAMPLE_LAYERS.items())[::2]:
        for old in (dest / constants.SAMPLES_DIR).glob(f"{layer}.*"):
            old.unlink()
        xy = _sample_points(samples, labels, value, transform)
        path = dest / constants.SAMPLES_DIR / f"{layer}.shp"
        _write_layer(path, xy, grid.crs, value if style.class_field else None, samples)


def _write_extras(top: Path, folders: Sequence[SceneFolder]) -> None:
    """The two files the real archive has outside its scene folders (1,256 = 38 x 33 + 2)."""
    (top / "README.txt").write_text(
        f"{constants.RECORD_TITLE}\n{constants.DATASET_CITATION}\n"
        "Synthetic stand-in written by stacgen.synthetic: the content is made up.\n",
        encoding="utf-8",
    )
    lines = "".join(f"{f.subset}/{f.product}\n" for f in folders)
    (top / "list_of_products.txt").write_text(lines, encoding="utf-8")


def make_tree(
    root: Path,
    *,
    size: int = 183,
    folders: Sequence[SceneFolder] | None = None,
    seed: int = 0,
    workers: int = 1,
    identical_copies: bool = False,
) -> Path:
    """Write root/<top folder>/{Reference_dataset,Hollstein}/<product>/...; return the top folder.

    `folders` defaults to all 38; rasters are `size` x `size` px over the 109.8 km tile. The
    copies of a product in several subsets share their rasters; their samples, statistics and
    parameters differ unless `identical_copies`. The tree is built beside its target and
    renamed into place, so a failure leaves nothing behind.
    """
    chosen = tuple(constants.SCENE_FOLDERS if folders is None else folders)
    _check_request(size, chosen)
    top = root / constants.TOP_FOLDER
    if top.exists():
        raise FileExistsError(f"{top}: already exists; make_tree writes a fresh tree")
    root.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=".synthetic-", dir=root))
    try:
        work = partial / constants.TOP_FOLDER
        work.mkdir()
        _write_scenes(work, size, chosen, seed, workers, identical_copies)
        _write_extras(work, chosen)
        work.rename(top)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return top


# --- packing ----------------------------------------------------------------------------------
_MTIME: Final = 1_539_129_600  # 2018-10-10T00:00:00Z, about when the record was published
_GZIP_LEVEL: Final = 6


def _tarinfo(name: str, kind: bytes = tarfile.REGTYPE, size: int = 0) -> tarfile.TarInfo:
    """A member with fixed owner, times and modes: the archive depends on content only."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    info.mtime = _MTIME
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.uid = info.gid = 1000
    info.uname = info.gname = "alcd"
    return info


class _Tgz:
    """A deterministic gzip'd tar written through atomic_open (no name, mtime 0 in gzip)."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest

    def __enter__(self) -> tarfile.TarFile:
        self._file = atomic_open(self.dest)
        raw = self._file.__enter__()
        self._gz = gzip.GzipFile(
            filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=_GZIP_LEVEL
        )
        # GNU format: what GNU tar wrote by default when the real archive was made.
        self._tar = tarfile.open(fileobj=self._gz, mode="w", format=tarfile.GNU_FORMAT)
        return self._tar

    def __exit__(self, *exc: Any) -> None:
        try:
            self._tar.close()
            self._gz.close()
        finally:
            self._file.__exit__(*exc)


def _walk(folder: Path) -> Iterator[Path]:
    """The folder, then its entries sorted by name, depth first."""
    yield folder
    for child in sorted(folder.iterdir(), key=lambda p: p.name):
        if child.is_dir() and not child.is_symlink():
            yield from _walk(child)
        elif child.is_file() and not child.is_symlink():
            yield child
        else:
            raise ValueError(f"{child}: not a regular file or folder, refusing to pack it")


def pack(top: Path, dest_tgz: Path) -> Path:
    """Pack the top folder into a byte-reproducible tgz whose members start with its name."""
    if not top.is_dir():
        raise FileNotFoundError(f"{top}: no such folder to pack")
    with _Tgz(dest_tgz) as tar:
        for path in _walk(top):
            name = path.relative_to(top.parent).as_posix()
            if path.is_dir():
                tar.addfile(_tarinfo(name, tarfile.DIRTYPE))
            else:
                with path.open("rb") as fh:
                    tar.addfile(_tarinfo(name, size=path.stat().st_size), fh)
    dest_tgz.chmod(0o644)  # atomic_open's temp file is private
    return dest_tgz


def make_archive(
    dest_tgz: Path,
    *,
    size: int = 183,
    folders: Sequence[SceneFolder] | None = None,
    seed: int = 0,
    workers: int = 1,
    identical_copies: bool = False,
) -> Path:
    """make_tree in a temporary folder beside dest_tgz, then pack."""
    dest_tgz.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".synthetic-", dir=dest_tgz.parent) as tmp:
        top = make_tree(
            Path(tmp),
            size=size,
            folders=folders,
            seed=seed,
            workers=workers,
            identical_copies=identical_copies,
        )
        return pack(top, dest_tgz)


def _hostile_member(kind: HostileKind) -> tuple[tarfile.TarInfo, bytes]:
    inside = f"{constants.TOP_FOLDER}/{constants.SUBSETS[0]}"
    payload = b"should never be written\n"
    if kind == "escape":
        return _tarinfo("../evil", size=len(payload)), payload
    if kind == "absolute":
        return _tarinfo("/abs/evil", size=len(payload)), payload
    if kind == "symlink":
        info = _tarinfo(f"{inside}/evil_link", tarfile.SYMTYPE)
        info.linkname = "../../../evil"  # from inside/, three levels up leaves the target
    elif kind == "hardlink":
        info = _tarinfo(f"{inside}/evil_hardlink", tarfile.LNKTYPE)
        info.linkname = "/etc/passwd"
    elif kind == "device":
        info = _tarinfo(f"{inside}/evil_device", tarfile.CHRTYPE)
        info.devmajor, info.devminor = 1, 3  # /dev/null's numbers
    else:
        raise ValueError(f"unknown hostile archive kind {kind!r}")
    return info, b""


def make_hostile_archive(dest_tgz: Path, kind: HostileKind) -> Path:
    """A tgz with the real top folder, a harmless README, then one bad member of `kind`."""
    bad, payload = _hostile_member(kind)
    readme = b"hostile test archive\n"
    top = constants.TOP_FOLDER
    with _Tgz(dest_tgz) as tar:
        tar.addfile(_tarinfo(top, tarfile.DIRTYPE))
        tar.addfile(_tarinfo(f"{top}/{constants.SUBSETS[0]}", tarfile.DIRTYPE))
        tar.addfile(_tarinfo(f"{top}/README.txt", size=len(readme)), io.BytesIO(readme))
        tar.addfile(bad, io.BytesIO(payload) if payload else None)
    return dest_tgz


def repack(
    source_tgz: Path,
    dest_tgz: Path,
    order: Callable[[list[str]], list[str]],
    then: HostileKind | None = None,
) -> Path:
    """The same members in the order `order` gives their names, then one bad member if asked.

    ALCD.md does not say in which order the real archive lists its members: a build must not
    depend on it.
    """
    with tarfile.open(source_tgz) as src, _Tgz(dest_tgz) as out:
        members = {m.name: m for m in src.getmembers()}
        for name in order(list(members)):
            member = members[name]
            out.addfile(member, src.extractfile(member) if member.isfile() else None)
        if then is not None:
            bad, payload = _hostile_member(then)
            out.addfile(bad, io.BytesIO(payload) if payload else None)
    return dest_tgz


# --- command line -----------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stacgen.synthetic", description="Write a synthetic ALCD archive (tgz)."
    )
    parser.add_argument("out", type=Path, help="the .tgz to write")
    parser.add_argument("--size", type=int, default=183, help="raster size in px (real: 1830)")
    parser.add_argument("--all", action="store_true", help="all 38 scene folders")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("pyogrio").setLevel(logging.WARNING)  # one line per shapefile otherwise
    folders = None if args.all else default_folders(REPRESENTATIVE_COUNT)
    start = time.perf_counter()
    try:
        make_archive(
            args.out, size=args.size, folders=folders, seed=args.seed, workers=args.workers
        )
    except (ValueError, OSError) as err:
        log.error("%s", err)
        return 1
    elapsed = time.perf_counter() - start
    log.info("%s: %d bytes in %.1f s", args.out, args.out.stat().st_size, elapsed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
