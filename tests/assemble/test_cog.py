"""stacgen.assemble.cog: COG profiles, the PNG writer, the COG check."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.crs
from rasterio.transform import from_origin

from stacgen.assemble import cog
from stacgen.raster.grid import Grid


def _png_pixels(data: bytes) -> np.ndarray:
    """Decode an 8-bit, non-interlaced PNG with the standard library (as the PNG spec says)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, interlace) == (8, 0)
    channels = {0: 1, 2: 3, 6: 4}[colour]
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, -1)
    stride = width * channels
    out = np.zeros((height, stride), dtype=np.int64)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:].astype(np.int64)
        prior = out[y - 1] if y else np.zeros(stride, dtype=np.int64)
        row = np.zeros(stride, dtype=np.int64)
        for x in range(stride):
            a = row[x - channels] if x >= channels else 0
            b, c = prior[x], prior[x - channels] if x >= channels else 0
            predictor = {0: 0, 1: a, 2: b, 3: (a + b) // 2}.get(int(kind))
            if predictor is None:  # Paeth
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                predictor = a if pa <= pb and pa <= pc else b if pb <= pc else c
            row[x] = (line[x] + predictor) % 256
        out[y] = row
    return out.reshape(height, width, channels).transpose(2, 0, 1).astype(np.uint8)


@pytest.mark.parametrize("count", [1, 3, 4])
def test_png_bytes_holds_the_pixels(count: int) -> None:
    bands = np.random.default_rng(count).integers(0, 256, size=(count, 5, 7), dtype=np.uint8)
    assert np.array_equal(_png_pixels(cog.png_bytes(bands)), bands)


def test_thumbnail_is_a_png_of_the_class_colours(tmp_path: Path) -> None:
    classes = np.array([[0, 2], [5, 7]], dtype=np.uint8)
    cog.write_thumbnail(classes, tmp_path / "t.png", size=2)
    pixels = _png_pixels((tmp_path / "t.png").read_bytes())
    # land (value 5) is 0,151,56 in ALCD.md's class table; no data is transparent.
    assert tuple(pixels[:, 1, 0]) == (0, 151, 56, 255)
    assert pixels[3, 0, 0] == 0


def test_profiles_are_copies_and_resampling_is_explicit(tmp_path: Path) -> None:
    grid = Grid(rasterio.crs.CRS.from_epsg(32631), from_origin(600000, 4900020, 60, 60), 600, 600)
    before = dict(cog.BASE_PROFILE)
    classes = np.full((600, 600), 5, dtype=np.uint8)
    cog.write_classification(classes, grid, tmp_path / "c.tif")
    assert before == cog.BASE_PROFILE
    with rasterio.open(tmp_path / "c.tif") as src:
        assert src.tags()["OVERVIEW_RESAMPLING"] == "MODE"
        assert src.overviews(1)
    assert cog.cog_problems(tmp_path / "c.tif") == []


def test_cog_problems_names_a_plain_tiff(tmp_path: Path) -> None:
    path = tmp_path / "plain.tif"
    profile = {"driver": "GTiff", "width": 1024, "height": 1024, "count": 1, "dtype": "uint8"}
    profile |= {"crs": "EPSG:32631", "transform": from_origin(600000, 4900020, 60, 60)}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.zeros((1, 1024, 1024), dtype=np.uint8))
    assert any("COG" in p for p in cog.cog_problems(path))
    assert cog.cog_problems(tmp_path / "missing.tif")[0].startswith("not a readable GeoTIFF")
