"""Turn one scene into the files of its item folder; runs in a worker process per scene."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pystac
import rasterio

from stacgen import constants
from stacgen.assemble import rasters, samples
from stacgen.assemble.labels import (
    ClassArray,
    LabelError,
    class_stats,
    footprint,
    read_classes,
)
from stacgen.assemble.samples import SamplesError
from stacgen.errors import SceneError
from stacgen.fileutil import digests
from stacgen.layout.labels import ASSET_BY_KEY, ASSETS, asset_specs, subset_assets
from stacgen.layout.outputs import BandStats, FileInfo, SceneOutputs
from stacgen.raster.cog import cog_problems
from stacgen.raster.grid import Grid
from stacgen.source.scene import Scene

log = logging.getLogger(__name__)


# GDAL's block cache is left at its default: a dataset's blocks are freed when it closes, so
# the cache does not grow with the scenes (`make bench` compares peak memory on 6 and 38
# folders), and a GDAL_CACHEMAX set through rasterio.Env made every encode about 20% slower
# (measured with GDAL 3.10).
def process_scene(scene: Scene, item_dir: Path) -> SceneOutputs:
    """Write every asset file of `scene` into `item_dir` and return what the item says of them."""
    try:
        return _process(scene, item_dir)
    except (LabelError, SamplesError) as err:
        raise SceneError(str(err)) from err
    except rasterio.errors.RasterioError as err:
        raise SceneError(f"{scene.folder}: {err}") from err


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """A raster whose header reads but whose pixels do not: truncated or damaged."""
    try:
        yield
    except rasterio.errors.RasterioError as err:
        # GDAL's own words ("Read failed. See previous exception") went to its log.
        said = str(err)
        detail = "" if said.startswith("Read failed") else f": {said}"
        raise LabelError(
            f"{path}: truncated or damaged raster, its pixels cannot be read{detail}"
        ) from err


def _process(scene: Scene, item_dir: Path) -> SceneOutputs:
    item_dir.mkdir(parents=True, exist_ok=True)
    with _reading(scene.path(constants.CLASSIFICATION_MAP)):
        classes, grid = read_classes(scene.path(constants.CLASSIFICATION_MAP))
    shape = footprint(classes, grid)
    if shape is None:
        raise LabelError(f"{scene.path(constants.CLASSIFICATION_MAP)}: no valid (non-zero) pixel")
    with _reading(scene.path(constants.CONFIDENCE_MAP)):
        confidence = read_confidence(scene.path(constants.CONFIDENCE_MAP), classes, grid)
    path = item_dir.joinpath
    rasters.write_classification(classes, grid, path(ASSET_BY_KEY["classification"].filename))
    rasters.write_confidence(confidence, grid, path(ASSET_BY_KEY["confidence"].filename))
    rasters.write_visual(classes, grid, path(ASSET_BY_KEY["visual"].filename))
    check_cogs(item_dir)
    rasters.write_thumbnail(classes, path(ASSET_BY_KEY["thumbnail"].filename))
    shutil.copyfile(scene.path(constants.CONTOURS), path(ASSET_BY_KEY["contours"].filename))
    for copy in scene.copies:
        # Each copy's own files, byte for byte: the copies of a product may differ.
        for spec in subset_assets(copy.subset):
            assert spec.source is not None
            shutil.copyfile(copy.folder / spec.source, path(spec.filename))
    sample_count = write_samples(scene, grid, item_dir)
    return SceneOutputs(
        scene=scene,
        grid=grid,
        stats=class_stats(classes),
        confidence=band_stats(confidence),
        footprint=shape,
        files={spec.key: file_info(path(spec.filename)) for spec in asset_specs(scene.subsets)},
        sample_count=sample_count,
    )


def check_cogs(item_dir: Path) -> None:
    """rio-cogeo's validation of each COG, here where it was written, in parallel with the
    other scenes; the validation before the swap then checks schemas, links and checksums."""
    for spec in ASSETS:
        if spec.media_type == pystac.MediaType.COG:
            found = cog_problems(item_dir / spec.filename)
            if found:
                raise SceneError(f"{item_dir / spec.filename}: {'; '.join(found)}")


def read_confidence(source: Path, classes: ClassArray, grid: Grid) -> ClassArray:
    """The confidence on the classification's grid, 0 wherever the classification is 0."""
    with rasterio.open(source) as src:
        if (src.height, src.width) != grid.shape:
            raise LabelError(
                f"{source}: {src.width}x{src.height} px, the classification is "
                f"{grid.width}x{grid.height}"
            )
        confidence: ClassArray = src.read(1)
    confidence[classes == constants.NODATA] = constants.NODATA
    return confidence


def band_stats(values: ClassArray) -> BandStats | None:
    """Statistics of the valid (non-zero) values, from their histogram (uint8: 256 bins)."""
    counts = np.bincount(values.ravel(), minlength=256)
    counts[constants.NODATA] = 0
    total = int(counts.sum())
    if total == 0:
        return None
    levels = np.flatnonzero(counts)
    bins = np.arange(counts.size, dtype=np.float64)
    mean = float(bins @ counts) / total
    variance = float(((bins - mean) ** 2) @ counts) / total
    return BandStats(
        minimum=int(levels[0]),
        maximum=int(levels[-1]),
        mean=round(mean, 4),
        stddev=round(variance**0.5, 4),
        valid_percent=round(100.0 * total / values.size, 4),
    )


def write_samples(scene: Scene, grid: Grid, item_dir: Path) -> int:
    crs = f"EPSG:{grid.epsg}" if grid.epsg else grid.crs.to_wkt()
    collection = samples.samples_geojson(scene.copies, crs)
    text = json.dumps(collection, separators=(",", ":")) + "\n"
    (item_dir / ASSET_BY_KEY["samples"].filename).write_text(text, encoding="utf-8")
    zipped = samples.zip_shapefiles(scene.copies)
    (item_dir / ASSET_BY_KEY["samples_shapefile"].filename).write_bytes(zipped)
    return len(collection["features"])


def file_info(path: Path) -> FileInfo:
    return FileInfo(path.name, path.stat().st_size, digests(path)["sha256"])
