"""Find the scene folders of an extracted archive and turn them into checked Scene records.

One Scene per L1C product: the product that appears in both subsets is one Scene with two
folders. Every problem in every folder is collected, so that a bad archive is reported whole.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rasterio
import rasterio.warp
from rasterio.errors import RasterioError

from stacgen import constants
from stacgen.errors import Problem
from stacgen.fileutil import JsonFileError, digests, read_json_object
from stacgen.source.naming import ProductName, Tile, parse_product_name, parse_tile

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SceneCopy:
    """One scene folder of a product: its subset and the files that may differ between copies."""

    subset: str
    folder: Path
    parameters: dict[str, Any] = field(hash=False)
    statistics: dict[str, Any] = field(hash=False)
    shapefiles: tuple[Path, ...]


@dataclass(frozen=True)
class Scene:
    """One L1C product: its checked inputs, one copy per subset that holds it.

    The copies are in SUBSETS order: the `Reference_dataset` copy, the one the paper used,
    comes first and gives the searchable metrics (`primary`).
    """

    product: ProductName
    tile: Tile
    copies: tuple[SceneCopy, ...]

    @property
    def id(self) -> str:
        return self.product.name

    @property
    def primary(self) -> SceneCopy:
        return self.copies[0]

    @property
    def folders(self) -> tuple[Path, ...]:
        return tuple(c.folder for c in self.copies)

    @property
    def subsets(self) -> tuple[str, ...]:
        return tuple(c.subset for c in self.copies)

    @property
    def folder(self) -> Path:
        return self.primary.folder

    @property
    def parameters(self) -> dict[str, Any]:
        return self.primary.parameters

    @property
    def statistics(self) -> dict[str, Any]:
        return self.primary.statistics

    def path(self, relative: str) -> Path:
        return self.folder / relative


def scene_folders(top: Path) -> list[Path]:
    """Every scene folder under the subsets, in a stable order; other files are ignored."""
    found = []
    for subset in constants.SUBSETS:
        base = top / subset
        if base.is_dir():
            found += sorted(p for p in base.iterdir() if p.is_dir())
    return found


# What reading one scene folder gives: its Scene if it is good, and every problem found.
FolderRead = tuple[Scene | None, list[Problem]]


def discover(top: Path) -> tuple[list[Scene], list[Problem]]:
    """Read every scene folder; return the good Scenes and every problem found."""
    return combine(top, {folder: read_folder(folder) for folder in scene_folders(top)})


def combine(top: Path, reads: dict[Path, FolderRead]) -> tuple[list[Scene], list[Problem]]:
    """The Scenes of the folders read (one per product, its copies merged) and all problems.

    Copies are merged in SUBSETS order, whatever the order of `reads`: the
    `Reference_dataset` copy is the primary.
    """
    by_product: dict[str, list[Scene]] = {}
    problems: list[Problem] = []
    for scene, found in reads.values():
        problems += found
        if scene is not None:
            by_product.setdefault(scene.id, []).append(scene)
    scenes = []
    for copies in by_product.values():
        merged, found = merge_copies(copies)
        problems += found
        if merged is not None:
            scenes.append(merged)
    if not scenes and not problems:
        problems.append(Problem(top, "no scene folders found"))
    return sorted(scenes, key=lambda s: s.id), problems


def read_folder(folder: Path) -> FolderRead:
    unreadable = _unreadable(folder)
    if unreadable is not None:
        return None, [unreadable]
    problems: list[Problem] = []
    product: ProductName | None = None
    try:
        product = parse_product_name(folder.name)
    except ValueError as err:
        problems.append(Problem(folder, str(err)))
    missing = [rel for rel in constants.REQUIRED_FILES if not (folder / rel).is_file()]
    problems += [Problem(folder / rel, "required file is missing") for rel in missing]
    parameters = _read_json(folder / constants.PARAMETERS, problems)
    statistics = _read_json(folder / constants.STATISTICS, problems)
    if statistics is not None:
        problems += check_statistics(folder / constants.STATISTICS, statistics)
    for rel in (constants.CLASSIFICATION_MAP, constants.CONFIDENCE_MAP):
        if rel not in missing:
            problems += check_raster(folder / rel)
    tile = _scene_tile(folder, product, parameters, problems)
    if tile is not None and not problems:
        for rel in (constants.CLASSIFICATION_MAP, constants.CONFIDENCE_MAP):
            problems += check_placement(folder / rel, tile)
    if problems or product is None or tile is None or parameters is None or statistics is None:
        return None, problems
    copy = SceneCopy(
        subset=folder.parent.name,
        folder=folder,
        parameters=parameters,
        statistics=statistics,
        shapefiles=tuple(sorted((folder / constants.SAMPLES_DIR).glob("*.shp"))),
    )
    return Scene(product=product, tile=tile, copies=(copy,)), []


def _unreadable(folder: Path) -> Problem | None:
    """A folder this user may not list or enter: one problem, not every file "missing"."""
    try:
        for name in os.listdir(folder)[:1]:
            os.stat(folder / name)
    except OSError as err:
        return Problem(folder, f"cannot be read ({err.strerror or err})")
    return None


def _read_json(path: Path, problems: list[Problem]) -> dict[str, Any] | None:
    try:
        return read_json_object(path)
    except JsonFileError as err:
        if not err.missing:
            problems.append(Problem(path, err.reason))
        return None


def check_statistics(path: Path, data: dict[str, Any]) -> list[Problem]:
    """k_fold_summary.json must pair each metric name with a mean and a std."""
    names, means, stds = data.get("metrics_names"), data.get("means"), data.get("stds")
    if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        return [Problem(path, "'metrics_names' is not a list of names")]
    for key, values in (("means", means), ("stds", stds)):
        if not (isinstance(values, list) and len(values) == len(names)):
            return [Problem(path, f"'{key}' does not give one number per metric name")]
        if not all(isinstance(v, int | float) for v in values):
            return [Problem(path, f"'{key}' holds something that is not a number")]
        if not all(math.isfinite(v) for v in values):
            return [Problem(path, f"'{key}' holds NaN or an infinity, not a score")]
    return []


def check_raster(path: Path) -> list[Problem]:
    """A label raster must be a single 8-bit band with a CRS."""
    try:
        with rasterio.open(path) as src:
            found = []
            if src.dtypes[0] != "uint8":
                found.append(Problem(path, f"raster is {src.dtypes[0]}, expected 8-bit (uint8)"))
            if src.crs is None:
                found.append(Problem(path, "raster has no CRS"))
            if src.count != 1:
                found.append(Problem(path, f"raster has {src.count} bands, expected 1"))
            return found
    except RasterioError as err:
        return [Problem(path, f"unreadable raster ({err})")]


# How far a raster's centre may lie outside its tile's UTM zone and latitude band, in degrees:
# an S2 tile overhangs its zone's edge (about 1.4 degrees of longitude at 70 N) and its band's.
_ZONE_MARGIN = 2.0
_BAND_MARGIN = 1.0
_BANDS = "CDEFGHJKLMNPQRSTUVWX"


def check_placement(path: Path, tile: Tile) -> list[Problem]:
    """A label raster must be in its tile's UTM CRS, over the tile's zone and latitude band."""
    try:
        with rasterio.open(path) as src:
            epsg = src.crs.to_epsg() if src.crs else None
            if epsg != tile.epsg:
                crs = f"EPSG:{epsg}" if epsg else "a CRS without an EPSG code"
                return [Problem(path, f"raster is in {crs}, tile {tile.id} is in EPSG:{tile.epsg}")]
            left, bottom, right, top = src.bounds
            xs, ys = rasterio.warp.transform(
                src.crs, "EPSG:4326", [(left + right) / 2], [(bottom + top) / 2]
            )
    except RasterioError as err:
        return [Problem(path, f"unreadable raster ({err})")]
    lon, lat = xs[0], ys[0]
    west = tile.zone * 6 - 186
    south = -80 + 8 * _BANDS.index(tile.latitude_band)
    north = south + (12 if tile.latitude_band == "X" else 8)
    inside = west - _ZONE_MARGIN <= lon <= west + 6 + _ZONE_MARGIN
    inside = inside and south - _BAND_MARGIN <= lat <= north + _BAND_MARGIN
    if inside:
        return []
    return [
        Problem(
            path,
            f"raster centre at lon {lon:.2f}, lat {lat:.2f} is outside tile {tile.id} "
            f"(zone {tile.zone}: lon {west} to {west + 6}; band {tile.latitude_band}: "
            f"lat {south} to {north})",
        )
    ]


def _scene_tile(
    folder: Path,
    product: ProductName | None,
    parameters: dict[str, Any] | None,
    problems: list[Problem],
) -> Tile | None:
    """The compact name carries the tile; a legacy name needs used_parameters.json's `tile`."""
    if product is None or parameters is None:
        return None
    stated = parameters.get("tile")
    try:
        from_json = parse_tile(stated) if stated is not None else None
    except ValueError as err:
        problems.append(Problem(folder / constants.PARAMETERS, f"bad 'tile': {err}"))
        return None
    if product.tile is not None:
        if from_json is not None and from_json.id != product.tile:
            log.warning("%s: 'tile' %s differs from the product name's", folder, from_json.id)
        return Tile(product.tile)
    if from_json is None:
        problems.append(
            Problem(folder / constants.PARAMETERS, "no 'tile' key: needed for a legacy name")
        )
    return from_json


def _subset_rank(copy: SceneCopy) -> tuple[int, str]:
    subsets = list(constants.SUBSETS)
    return (subsets.index(copy.subset) if copy.subset in subsets else len(subsets), copy.subset)


def merge_copies(scenes: list[Scene]) -> tuple[Scene | None, list[Problem]]:
    """Fold the copies of one product (one per subset) into one Scene, if their rasters agree.

    Every copy is kept whole (parameters, statistics, samples): only the rasters must be equal.
    """
    copies = sorted((c for s in scenes for c in s.copies), key=_subset_rank)
    first = copies[0]
    problems = []
    for other in copies[1:]:
        for rel in (constants.CLASSIFICATION_MAP, constants.CONFIDENCE_MAP):
            if digests(first.folder / rel) != digests(other.folder / rel):
                problems.append(
                    Problem(other.folder / rel, f"differs from {first.folder / rel} (same product)")
                )
    if problems:
        return None, problems
    return Scene(product=scenes[0].product, tile=scenes[0].tile, copies=tuple(copies)), []
