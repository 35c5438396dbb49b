"""The detectors' inputs made with numpy alone, from the band COGs as rasterio reads them: the
independent side of the tests (block means over valid pixels, DN * 0.0001)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio

from stacgen.layout import imagery


def label_shape(catalog: Path, item_id: str) -> tuple[int, int]:
    item = json.loads(imagery.item_json(catalog, item_id).read_text())
    shape = item["assets"]["B01"]["proj:shape"]  # B01 is 60 m: the label grid either way
    return int(shape[0]), int(shape[1])


def dn(catalog: Path, item_id: str, band: str) -> npt.NDArray[np.uint16]:
    with rasterio.open(imagery.band_path(catalog, item_id, band)) as src:
        values: npt.NDArray[np.uint16] = src.read(1)
    return values


def block_mean(values: npt.NDArray[Any], block: int, shape: tuple[int, int]) -> tuple[Any, Any]:
    """Mean of each block x block cell over its non-zero pixels (padding with 0 = no data),
    cropped to `shape`; and where a cell has one."""
    h, w = shape
    padded = np.zeros((h * block, w * block), dtype=np.float64)
    rows, cols = min(h * block, values.shape[0]), min(w * block, values.shape[1])
    padded[:rows, :cols] = values[:rows, :cols]
    cells = padded.reshape(h, block, w, block)
    count = (cells != 0).sum(axis=(1, 3))
    mean = cells.sum(axis=(1, 3)) / np.maximum(count, 1)
    return mean, count > 0


def reflectance(
    catalog: Path, item_id: str, bands: tuple[str, ...], per_label_cell: int = 1, coarsen: int = 1
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """(rows, cols, bands) reflectance on the label grid refined by `per_label_cell` (1, 2)
    or coarsened by `coarsen`, from bands on the label grid or their native grids."""
    lh, lw = label_shape(catalog, item_id)
    shape = (lh * per_label_cell, lw * per_label_cell)
    if coarsen > 1:
        shape = (-(-lh // coarsen), -(-lw // coarsen))
    out = np.zeros((*shape, len(bands)), dtype=np.float32)
    valid = np.ones(shape, dtype=bool)
    for i, name in enumerate(bands):
        values = dn(catalog, item_id, name)
        native = values.shape[0] // lh  # band pixels per label cell: 1, 3 or 6
        # a common grid of 6 * per_label_cell sub-cells a label cell holds every band's pixels
        common = 6 * per_label_cell
        fine = values.repeat(common // native, axis=0).repeat(common // native, axis=1)
        mean, ok = block_mean(fine, 6 * coarsen, shape)
        out[..., i] = (mean * 0.0001).astype(np.float32)
        valid &= ok
    return out, valid
