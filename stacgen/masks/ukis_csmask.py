"""ukis-csmask 1.0.0 (DLR's cloud and cloud-shadow CNN, ONNX models in the wheel), as documented.

Inputs (../shared/imagery/ukis-csmask/NOTES.md): float32 (rows, cols, bands) reflectance in
[0, 1], bands blue, green, red, nir, swir16, swir22 (B02, B03, B04, B08, B11, B12: the 6-band
model), product level "l1c", "approximately 30 m" (the label grid refined by 2), at least 256 x
256 px. Output `csm`: 0 background (clear), 1 cloud, 2 cloud shadow; 255 here where an input
band has no data.

The package tiles the image itself (256 px tiles, overlap 0.2: a step of 204 px, the first
starting 51 px before the image; the image mirrored at its edges, `np.pad(mode="symmetric")`)
and sums the tiles' class probabilities weighted by a Tukey window (0 at a tile's first and
last pixel). Calling it on a whole 30 m tile (3660 x 3660 x 6) takes about 2 GB, so stacgen calls
it on windows: cores of `--tile-size` px (a multiple of 204) read with 204 px before and 205 px
after (clamped at the image's edges, and at least 256 px long). A window starts on a multiple of
204, so its internal tiles lie where the whole-image call puts them; each one that reaches the
core with a non-zero weight lies inside the window (its first row is 204 px before the core,
where its weight is 0, and it ends at most 205 px after), and at the image's edges the window
holds the 255 px the package mirrors. So the core gets the same addends in the same order: the
whole-image call's mask, in about a quarter of the memory at the default 1020 px.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Final

import numpy as np

from stacgen.fileutil import digests
from stacgen.masks.detector import NODATA, Mask, check_options, require_package
from stacgen.masks.errors import MasksError
from stacgen.masks.reflectance import Reader, Target
from stacgen.raster.grid import Grid

NAME: Final = "ukis-csmask"
BANDS: Final = ("B02", "B03", "B04", "B08", "B11", "B12")
BAND_ORDER: Final = ("blue", "green", "red", "nir", "swir16", "swir22")
CLASSES: Final = {0: "clear", 1: "cloud", 2: "cloud shadow", NODATA: "no data"}
PRODUCT_LEVEL: Final = "l1c"
STEP: Final = 204  # the package's tile step: int(256 - 256 * 0.2)
BEFORE: Final = STEP  # a window starts on a multiple of the step
AFTER: Final = STEP + 1  # a tile ending past its core row 255 - 50 px before
MIN_SIZE: Final = 256  # the package's tile, and the rows it mirrors at an edge (255)
DEFAULTS: Final[dict[str, Any]] = {"resolution": 30, "tile_size": 5 * STEP}


class UkisCsmask:
    name = NAME
    bands = BANDS
    classes = CLASSES
    codes = "ukis-csmask"

    def __init__(self, resolution: int, tile_size: int) -> None:
        require_package("ukis_csmask", NAME)
        require_package("onnxruntime", NAME)
        import ukis_csmask

        self.version = str(ukis_csmask.__version__)
        self.target = Target.from_metres(resolution)
        if tile_size % STEP:
            raise MasksError(f"--tile-size {tile_size}: must be a multiple of {STEP} px")
        self.tile_size = tile_size
        self.model = Path(ukis_csmask.__file__).parent / f"model_6b_{PRODUCT_LEVEL}.onnx"
        self.parameters = {
            "band_order": list(BAND_ORDER),
            "product_level": PRODUCT_LEVEL,
            "nodata_value": None,
            "invalid_buffer": 4,
            "batch_size": 1,
            "providers": ["CPUExecutionProvider"],
            "resolution_m": resolution,
            "tile_size_px": tile_size,
            "tile_margins_px": [BEFORE, AFTER],
        }

    def describe(self) -> dict[str, Any]:
        return {
            "name": NAME,
            "package": "ukis-csmask",
            "version": self.version,
            "model": self.model.name,
            "model_sha256": digests(self.model)["sha256"],
            "parameters": dict(self.parameters),
            "inputs": {
                "bands": list(BANDS),
                "scaling": "reflectance = DN * scale + offset (the assets' raster:bands)",
                "shape": "(rows, cols, 6) float32",
            },
            "classes": {str(k): v for k, v in CLASSES.items()},
        }

    def csm(self, data: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """The package's own call on one array: its `csm` as (rows, cols) uint8."""
        from ukis_csmask.mask import CSmask

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "smaller than 256x256": checked
            result = CSmask(
                img=data,
                band_order=list(BAND_ORDER),
                product_level=PRODUCT_LEVEL,
                nodata_value=None,
                providers=["CPUExecutionProvider"],
            )
        return np.asarray(result.csm[..., 0], dtype=np.uint8)

    def check_grid(self, grid: Grid, where: str) -> None:
        if grid.width < MIN_SIZE or grid.height < MIN_SIZE:
            raise MasksError(
                f"{where}: ukis-csmask's grid would be {grid.width} x {grid.height} px, under "
                f"the {MIN_SIZE} x {MIN_SIZE} px the package tiles by (a finer --resolution?)"
            )

    def run(self, reader: Reader) -> Mask:
        grid = reader.grid
        self.check_grid(grid, "ukis-csmask")
        mask = np.empty(grid.shape, dtype=np.uint8)
        for r0, r1, rr0, rr1 in spans(grid.height, self.tile_size):
            for c0, c1, cc0, cc1 in spans(grid.width, self.tile_size):
                data, valid = reader.read((rr0, rr1), (cc0, cc1))
                out = self.csm(data)
                out[~valid] = NODATA
                mask[r0:r1, c0:c1] = out[r0 - rr0 : r1 - rr0, c0 - cc0 : c1 - cc0]
        return mask


def spans(size: int, core: int) -> list[tuple[int, int, int, int]]:
    """(core start, core end, read start, read end) of each window along one axis."""
    found = []
    for start in range(0, size, core):
        end = min(size, start + core)
        first, last = max(0, start - BEFORE), min(size, end + AFTER)
        while last - first < MIN_SIZE and first > 0:
            first = max(0, first - STEP)  # a short last window: the mirror needs 255 px
        found.append((start, end, first, last))
    return found


def make(options: dict[str, Any]) -> UkisCsmask:
    check_options(options, set(DEFAULTS), NAME)
    chosen = {k: (DEFAULTS[k] if options.get(k) is None else options[k]) for k in DEFAULTS}
    return UkisCsmask(**chosen)
