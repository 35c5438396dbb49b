"""The hand-picked sample points of a scene: one WGS84 GeoJSON, and the shapefiles zipped.

A product held by both subsets keeps both copies' points and both copies' shapefiles.

The class of a point comes from its shapefile's name: the authors' attribute tables hold a
`class` field that is often NULL, or only an `id`.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio.raw
import rasterio.warp
import shapely

from stacgen import constants
from stacgen.layout.labels import COORD_DECIMALS
from stacgen.source.scene import SceneCopy

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


@dataclass(frozen=True)
class LayerPoints:
    """The points of one layer: WGS84 [lon, lat], feature ids, and what makes each one unique
    (the class, the original coordinates and attribute values: not the subset)."""

    coords: list[list[float]]
    fids: list[int]
    identities: list[tuple[Any, ...]]


def read_points(shapefile: Path, default_crs: str) -> LayerPoints:
    """Every point of a layer in WGS84, with its feature id and identity."""
    try:
        meta, fids, wkb, field_data = pyogrio.raw.read(shapefile, return_fids=True)
    except Exception as err:  # pyogrio raises several unrelated types for unreadable files
        raise SamplesError(f"{shapefile}: unreadable shapefile ({err})") from err
    if wkb is None or len(wkb) == 0:
        return LayerPoints([], [], [])
    points = shapely.from_wkb(wkb)
    kinds = set(shapely.get_type_id(points).tolist())
    if kinds - {0}:
        raise SamplesError(f"{shapefile}: expected point geometries only")
    xs, ys = shapely.get_x(points), shapely.get_y(points)
    lons, lats = rasterio.warp.transform(meta.get("crs") or default_crs, "EPSG:4326", xs, ys)
    coords = np.round(np.column_stack([lons, lats]), COORD_DECIMALS).tolist()
    names = [str(n) for n in meta.get("fields", [])]
    columns = [[repr(v) for v in values.tolist()] for values in field_data]
    rows = list(zip(*columns, strict=True)) if columns else [()] * len(xs)
    identities = [
        (shapefile.stem, float(x), float(y), tuple(zip(names, row, strict=True)))
        for x, y, row in zip(xs, ys, rows, strict=True)
    ]
    return LayerPoints(coords, [int(f) for f in fids], identities)


def samples_geojson(copies: Sequence[SceneCopy], default_crs: str) -> dict[str, Any]:
    """All points of every copy as one RFC 7946 FeatureCollection, `class` from the layer name.

    Each point says which subsets' copies hold it (`subset`: the first, `subsets`: all). A point
    of a later copy that is truly identical to one of an earlier copy (same layer, same
    original coordinates, same attribute values) is that point, listed once.
    """
    features: list[dict[str, Any]] = []
    for copy in copies:
        unmatched = _by_identity(features)
        for shapefile in sorted(copy.shapefiles):
            value = layer_class(shapefile)
            layer = read_points(shapefile, default_crs)
            for xy, fid, identity in zip(layer.coords, layer.fids, layer.identities, strict=True):
                twins = unmatched.get(identity)
                if twins:
                    twins.pop(0)["properties"]["subsets"].append(copy.subset)
                    continue
                features.append(_feature(copy.subset, shapefile.stem, fid, value, xy, identity))
    for feature in features:
        del feature["identity"]
    return {"type": "FeatureCollection", "features": features}


def _by_identity(features: list[dict[str, Any]]) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
    found: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for feature in features:
        found.setdefault(feature["identity"], []).append(feature)
    return found


def _feature(
    subset: str, layer: str, fid: int, value: int, xy: list[float], identity: tuple[Any, ...]
) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": f"{subset}/{layer}.{fid}",
        "geometry": {"type": "Point", "coordinates": xy},
        "properties": {
            "class": value,
            "class_name": constants.CLASS_BY_VALUE[value].name,
            "layer": layer,
            "subset": subset,
            "subsets": [subset],
        },
        "identity": identity,  # removed before the collection is returned
    }


def zip_shapefiles(copies: Sequence[SceneCopy]) -> bytes:
    """Each copy's shapefiles and their sidecars, bytes untouched, under <subset>/Samples/, in a
    stable order."""
    members = sorted(
        (copy.subset, sidecar)
        for copy in copies
        for shp in copy.shapefiles
        for sidecar in shp.parent.glob(shp.stem + ".*")
        if sidecar.suffix.lower() in constants.SHAPEFILE_SIDECARS
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for subset, path in members:
            info = zipfile.ZipInfo(f"{subset}/{constants.SAMPLES_DIR}/{path.name}", ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()
