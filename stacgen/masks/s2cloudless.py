"""s2cloudless 1.7.3 (Sentinel Hub's LightGBM pixel classifier), as its README documents it.

Inputs (../shared/imagery/s2cloudless/NOTES.md): the 10 bands B01, B02, B04, B05, B08, B8A, B09,
B10, B11, B12 in that order, reflectance DN / 10000 with the harmonisation of baseline 04.00 on
(the catalog's DN are harmonised to the original baselines: `stacgen.layout.imagery`), shape
(N, height, width, 10) float32. Run on the label grid (60 m) or coarser: it was trained on 10 m
pixels but Sentinel Hub runs it at 160 m, and the reference is at 60 m.

The probability is per pixel, so it is computed window by window (the same numbers as one
call on the whole image); the package's own `get_mask_from_prob` then averages, thresholds
(`>`) and dilates the whole probability map (4 bytes a pixel: 13 MB at 60 m), so the mask is the
one `get_cloud_masks` gives on the whole image. Values: 0 clear, 1 cloud, 255 no data (any input
band without data).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Final

import numpy as np

from stacgen.fileutil import digests
from stacgen.masks.detector import NODATA, Mask, check_options, require_package, window_rows
from stacgen.masks.errors import MasksError
from stacgen.masks.reflectance import Reader, Target
from stacgen.raster.grid import Grid

NAME: Final = "s2cloudless"
BANDS: Final = ("B01", "B02", "B04", "B05", "B08", "B8A", "B09", "B10", "B11", "B12")
CLASSES: Final = {0: "clear", 1: "cloud", NODATA: "no data"}
DEFAULTS: Final[dict[str, Any]] = {
    "threshold": 0.4,
    "average_over": 1,
    "dilation_size": 1,
    "resolution": 60,
}


class S2Cloudless:
    name = NAME
    bands = BANDS
    classes = CLASSES
    codes = "s2cloudless"

    def __init__(self, threshold: float, average_over: int, dilation_size: int, resolution: int):
        require_package("s2cloudless", NAME)
        with warnings.catch_warnings():
            # sentinelhub (imported by s2cloudless, never called here) may warn on import.
            warnings.simplefilter("ignore")
            import s2cloudless
            from s2cloudless import cloud_detector
            from s2cloudless.cloud_detector import S2PixelCloudDetector

        self.version = str(s2cloudless.__version__)
        self.target = Target.from_metres(resolution)
        if self.target.refine > 1:
            raise MasksError(f"--resolution {resolution}: s2cloudless runs at 60 m or coarser")
        if not 0.0 <= threshold <= 1.0:
            raise MasksError(f"--threshold {threshold}: must be between 0 and 1")
        self.parameters = {
            "threshold": threshold,
            "average_over": average_over,
            "dilation_size": dilation_size,
            "all_bands": False,
            "resolution_m": resolution,
        }
        self.detector = S2PixelCloudDetector(
            threshold=threshold,
            all_bands=False,
            average_over=average_over,
            dilation_size=dilation_size,
        )
        self.model = Path(self.detector.model_filename)
        self.model_name = cloud_detector.MODEL_FILENAME

    def describe(self) -> dict[str, Any]:
        return {
            "name": NAME,
            "package": "s2cloudless",
            "version": self.version,
            "model": self.model_name,
            "model_sha256": digests(self.model)["sha256"],
            "parameters": dict(self.parameters),
            "inputs": {
                "bands": list(BANDS),
                "scaling": "reflectance = DN * scale + offset (the assets' raster:bands)",
                "shape": "(1, rows, cols, 10) float32",
            },
            "classes": {str(k): v for k, v in CLASSES.items()},
        }

    def check_grid(self, grid: Grid, where: str) -> None:
        """Any grid will do: the probability is per pixel."""

    def probability(self, reader: Reader) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """The cloud probability on the reader's grid, window by window, and where it is valid."""
        grid = reader.grid
        prob = np.zeros(grid.shape, dtype=np.float32)
        valid = np.zeros(grid.shape, dtype=bool)
        step = window_rows(grid.width)
        for row in range(0, grid.height, step):
            rows = (row, min(grid.height, row + step))
            data, ok = reader.read(rows, (0, grid.width))
            prob[rows[0] : rows[1]] = self.detector.get_cloud_probability_maps(data[None])[0]
            valid[rows[0] : rows[1]] = ok
        return prob, valid

    def run(self, reader: Reader) -> Mask:
        prob, valid = self.probability(reader)
        mask: Mask = self.detector.get_mask_from_prob(prob[None])[0].astype(np.uint8)
        mask[~valid] = NODATA
        return mask


def make(options: dict[str, Any]) -> S2Cloudless:
    check_options(options, set(DEFAULTS), NAME)
    chosen = {k: (DEFAULTS[k] if options.get(k) is None else options[k]) for k in DEFAULTS}
    return S2Cloudless(**chosen)
