"""`Chips`: aligned (image, label) chips of one split, as a map-style dataset.

Any PyTorch `DataLoader` takes a `Chips` as it is, worker processes included, and stacgen never
imports torch: a sample is a dict of numpy arrays, ints and strings that the default collate
turns into tensors and lists. Constructing one reads only JSON and each item's label once (to
drop chips with too little valid label, `min_valid`); the pixels of a chip are read when it is
asked for, from datasets opened once per worker process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio

from stacgen.layout import imagery
from stacgen.ml import reading, windows
from stacgen.ml.classes import IGNORE_INDEX, ClassScheme, scheme
from stacgen.ml.errors import ChipsError
from stacgen.ml.scenes import Scene, catalog_folder, read_scenes
from stacgen.raster.grid import Grid
from stacgen.stac.mlaoi import SPLITS

GRIDS = (60, 20, 10)  # metres: the label grid, refined by 1, 3, 6
LABEL_RESOLUTION = 60


@dataclass(frozen=True)
class ChipWindow:
    """Where one chip is: its scene, and (row, col, height, width) on the scene's chip grid."""

    scene: Scene
    row: int
    col: int
    size: int
    valid_share: float

    @property
    def window(self) -> tuple[int, int, int, int]:
        return (self.row, self.col, self.size, self.size)


class Chips:
    """The chips of `split` (`ml-aoi:split` of the label items): `len(chips)`, `chips[i]`.

    `chips[i]` is `{"image": float32 (bands, size, size) reflectance (DN / 10000, 0 where the
    band has no data), "mask": int64 (size, size) class indices of `classes` (IGNORE_INDEX for
    no data and, unless `not_used`, ALCD's class 1), "item": the item id, "window": (row, col,
    height, width) on the item's grid at `grid` metres, "crs": "EPSG:...", "transform": the 6
    affine coefficients of the chip}`.
    """

    def __init__(
        self,
        catalog: str | Path,
        split: str = "train",
        bands: Sequence[str] | None = None,
        grid: int = 60,
        size: int = 256,
        stride: int | None = None,
        classes: str | ClassScheme = "alcd",
        min_valid: float = 0.5,
        seed: int | None = 0,
        not_used: bool = False,
    ) -> None:
        if split not in SPLITS:
            raise ChipsError(f"split {split!r}: not one of {', '.join(SPLITS)}")
        if grid not in GRIDS:
            raise ChipsError(f"grid {grid!r}: not one of {', '.join(map(str, GRIDS))} (metres)")
        if size < 1 or (stride is not None and stride < 1):
            raise ChipsError(f"size {size} / stride {stride}: must be positive numbers of pixels")
        if not 0.0 <= min_valid <= 1.0:
            raise ChipsError(f"min_valid {min_valid}: must be between 0 and 1")
        try:
            self.classes = scheme(classes)
        except ValueError as err:
            raise ChipsError(str(err)) from None
        self.catalog = catalog_folder(catalog)
        self.split = split
        self.grid = grid
        self.factor = LABEL_RESOLUTION // grid
        self.size = size
        self.stride = stride or size
        self.min_valid = min_valid
        self.seed = seed
        self.not_used = not_used
        self.scenes = tuple(read_scenes(self.catalog, [split]))
        self.bands = self._check_imagery(bands)
        self._lut = self.classes.lookup(not_used)
        self._handles = reading.Handles()
        self._chips = self._cut()

    # --- the index ----------------------------------------------------------------------------
    def _check_imagery(self, bands: Sequence[str] | None) -> tuple[str, ...]:
        missing = [s.item_id for s in self.scenes if s.imagery_grid is None]
        fetch = f"stacgen imagery fetch {self.catalog} --provider NAME --split {self.split}"
        native = " --grid native" if self.grid != LABEL_RESOLUTION else ""
        if missing:
            raise ChipsError(
                f"no imagery for {len(missing)} item(s) of split {self.split} "
                f"({', '.join(missing)}): fetch it with `{fetch}{native}`"
            )
        if bands is None:
            have = [set(s.bands) for s in self.scenes]
            common = set.intersection(*have) if have else set()
            chosen = tuple(b.name for b in imagery.BANDS if b.name in common)
            if self.scenes and not chosen:
                raise ChipsError(f"the items of split {self.split} have no band in common")
        else:
            try:
                chosen = tuple(imagery.band(b).name for b in bands)
            except ValueError as err:
                raise ChipsError(f"bands: {err}") from None
        lacking = sorted({s.item_id for s in self.scenes for b in chosen if b not in s.bands})
        if lacking:
            raise ChipsError(
                f"bands {','.join(chosen)} are not all fetched for {', '.join(lacking)}: "
                f"fetch them with `{fetch}{native} --bands {','.join(chosen)}`"
            )
        label_only = [s.item_id for s in self.scenes if s.imagery_grid != "native"]
        if self.grid != LABEL_RESOLUTION and label_only:
            raise ChipsError(
                f"grid {self.grid}: the imagery of {', '.join(label_only)} is on the 60 m label "
                f"grid only; fetch it at native resolution with `{fetch} --grid native`"
            )
        return chosen

    def chip_grid(self, scene: Scene) -> Grid:
        """The grid the chips of `scene` are cut on: its label grid at `grid` metres."""
        return scene.label_grid.refined(self.factor)

    def _cut(self) -> list[ChipWindow]:
        chips: list[ChipWindow] = []
        for scene in self.scenes:
            target = self.chip_grid(scene)
            rows = windows.starts(target.height, self.size, self.stride)
            cols = windows.starts(target.width, self.size, self.stride)
            if not rows or not cols:
                continue
            with rasterio.Env(**reading.GDAL_OPTIONS), rasterio.open(scene.label_path) as src:
                valid = self._lut[src.read(1)] != IGNORE_INDEX
            shares = windows.valid_shares(valid, rows, cols, self.size, self.factor)
            for i, row in enumerate(rows):
                for j, col in enumerate(cols):
                    if shares[i, j] >= self.min_valid and shares[i, j] > 0:
                        chips.append(ChipWindow(scene, row, col, self.size, float(shares[i, j])))
        if self.seed is not None:
            order = np.random.default_rng(self.seed).permutation(len(chips))
            chips = [chips[k] for k in order]
        return chips

    @property
    def windows(self) -> tuple[ChipWindow, ...]:
        """Every chip's place, in the dataset's order."""
        return tuple(self._chips)

    # --- the dataset --------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._chips)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self._chips) <= index < len(self._chips):
            raise IndexError(f"chip {index} of {len(self._chips)}")
        chip = self._chips[index]
        scene = chip.scene
        window = self.chip_grid(scene).window(
            rasterio.windows.Window(chip.col, chip.row, chip.size, chip.size)
        )
        image = np.empty((len(self.bands), chip.size, chip.size), dtype=np.float32)
        for b, name in enumerate(self.bands):
            source = scene.bands[name]
            dn = reading.read_onto(self._handles.get(source.path), source.grid, window)
            np.divide(dn, imagery.QUANTIFICATION, out=image[b], dtype=np.float32, casting="unsafe")
        labels = reading.read_onto(self._handles.get(scene.label_path), scene.label_grid, window)
        return {
            "image": image,
            "mask": self._lut[labels],
            "item": scene.item_id,
            "window": chip.window,
            "crs": window.crs.to_string(),
            "transform": tuple(window.proj_transform),
        }

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_handles"] = reading.Handles()  # a worker opens its own datasets
        return state

    def close(self) -> None:
        """Close the datasets this process opened (they reopen when a chip is read again)."""
        self._handles.close()

    # --- class frequencies --------------------------------------------------------------------
    @property
    def class_names(self) -> tuple[str, ...]:
        return self.classes.names

    def class_counts(self) -> npt.NDArray[np.int64]:
        """Pixels per class in the split's items, from their class counts (60 m pixels;
        whole items, not only the chips)."""
        total = np.zeros(len(self.class_names), dtype=np.int64)
        for scene in self.scenes:
            total += np.asarray(self.classes.counts(scene.counts, self.not_used), dtype=np.int64)
        return total

    def class_weights(self) -> npt.NDArray[np.float32]:
        """Loss weights: inverse class frequency, scaled so that they average 1 over the classes
        present (0 for a class with no pixel)."""
        counts = self.class_counts().astype(np.float64)
        present = counts > 0
        weights = np.zeros_like(counts)
        weights[present] = counts[present].sum() / (present.sum() * counts[present])
        return weights.astype(np.float32)
