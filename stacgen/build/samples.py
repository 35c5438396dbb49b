"""The hand-picked sample points of a scene: one WGS84 GeoJSON, and the shapefiles zipped.

The class of a point comes from its shapefile's name: the authors' attribute tables hold a
`class` field that is often NULL, or only an `id`.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio.raw
import rasterio.warp
import shapely

from stacgen import constants
from stacgen.build.labels import COORD_DECIMALS

ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed, so the zip is byte-identical from run to run


class SamplesError(Exception):
    """A sample shapefile that cannot be read as labelled points."""


def layer_class(shapefile: Path) -> int:
    try:
        return constants.SAMPLE_LAYERS[shapefile.stem]
    except KeyError:
        known = ", ".join(constants.SAMPLE_LAYERS)
        raise SamplesError(
            f"{shapefile}: unknown sample layer {shapefile.stem!r} (expected one of {known})"
        ) from None


def read_points(shapefile: Path, default_crs: str) -> tuple[list[list[float]], list[int]]:
    """WGS84 [lon, lat] of every point of a layer, with its feature id."""
    try:
        meta, fids, wkb, _ = pyogrio.raw.read(shapefile, return_fids=True)
    except Exception as err:  # pyogrio raises several unrelated types for unreadable files
        raise SamplesError(f"{shapefile}: unreadable shapefile ({err})") from err
    if wkb is None or len(wkb) == 0:
        return [], []
    points = shapely.from_wkb(wkb)
    kinds = set(shapely.get_type_id(points).tolist())
    if kinds - {0}:
        raise SamplesError(f"{shapefile}: expected point geometries only")
    xs, ys = shapely.get_x(points), shapely.get_y(points)
    lons, lats = rasterio.warp.transform(meta.get("crs") or default_crs, "EPSG:4326", xs, ys)
    coords = np.round(np.column_stack([lons, lats]), COORD_DECIMALS).tolist()
    return coords, [int(f) for f in fids]


def samples_geojson(shapefiles: Sequence[Path], default_crs: str) -> dict[str, Any]:
    """All points of the scene as one RFC 7946 FeatureCollection, `class` from the layer name."""
    features = []
    for shapefile in sorted(shapefiles):
        value = layer_class(shapefile)
        coords, fids = read_points(shapefile, default_crs)
        for xy, fid in zip(coords, fids, strict=True):
            features.append(
                {
                    "type": "Feature",
                    "id": f"{shapefile.stem}.{fid}",
                    "geometry": {"type": "Point", "coordinates": xy},
                    "properties": {
                        "class": value,
                        "class_name": constants.CLASS_BY_VALUE[value].name,
                        "layer": shapefile.stem,
                    },
                }
            )
    return {"type": "FeatureCollection", "features": features}


def zip_shapefiles(shapefiles: Sequence[Path]) -> bytes:
    """The shapefiles and their sidecars, bytes untouched, under Samples/ in a stable order."""
    members = sorted(
        sidecar
        for shp in shapefiles
        for sidecar in shp.parent.glob(shp.stem + ".*")
        if sidecar.suffix.lower() in constants.SHAPEFILE_SIDECARS
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in members:
            info = zipfile.ZipInfo(f"{constants.SAMPLES_DIR}/{path.name}", ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()
