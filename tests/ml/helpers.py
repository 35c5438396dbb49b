"""What the chip tests read independently of stacgen.ml: COGs by rasterio, items as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import from_bounds

from stacgen import constants

# ALCD.md's classes, index = value - 1; no_data (0) and not_used (1) ignored.
ALCD_INDEX = {0: -100, 1: -100, 2: 1, 3: 2, 4: 3, 5: 4, 6: 5, 7: 6}
SPLITS = ("train", "validate", "test")


def read_at(path: str | Path, sample: dict[str, Any]) -> npt.NDArray[Any]:
    """Band 1 of `path` over the chip's footprint, read by rasterio alone (same resolution)."""
    transform = Affine(*sample["transform"])
    _, _, height, width = sample["window"]
    left, top = transform * (0, 0)
    right, bottom = transform * (width, height)
    with rasterio.open(path) as src:
        assert src.crs == CRS.from_user_input(sample["crs"])
        window = from_bounds(left, bottom, right, top, src.transform)
        values: npt.NDArray[Any] = src.read(1, window=window.round_offsets().round_lengths())
    return values


def alcd_index(labels: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    """ALCD values as the `alcd` scheme's class indices, by the table above."""
    indices: npt.NDArray[np.int64] = np.vectorize(ALCD_INDEX.__getitem__)(labels)
    return indices.astype(np.int64)


def label_path(catalog: Path, item_id: str) -> Path:
    return catalog / constants.COLLECTION_ID / item_id / "classification.tif"


def band_path(catalog: Path, item_id: str, band: str) -> Path:
    return catalog / "alcd-l1c" / item_id / f"{band}.tif"


def label_item(catalog: Path, item_id: str) -> dict[str, Any]:
    path = catalog / constants.COLLECTION_ID / item_id / f"{item_id}.json"
    item: dict[str, Any] = json.loads(path.read_text())
    return item


def item_split(catalog: Path, item_id: str) -> str:
    split: str = label_item(catalog, item_id)["properties"]["ml-aoi:split"]
    return split
