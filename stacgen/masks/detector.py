"""The one interface between a detector module and `stacgen masks detect`.

A detector module (`s2cloudless.py`, `ukis_csmask.py`) defines `make(options) -> Detector`; it
imports its package inside `make`, so `stacgen` without the `detect` extra still imports, and a
user of one detector never loads the other's runtime. `run` reads the item's bands through a
`Reader` window by window (memory bounded by the window, not the tile) and returns the mask on
the reader's grid: the package's class values, `NODATA` where an input band has no data.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt

from stacgen.masks.errors import MasksError
from stacgen.masks.reflectance import Reader, Target
from stacgen.raster.grid import Grid

NODATA: Final = 255
MODULES: Final = {
    "s2cloudless": "stacgen.masks.s2cloudless",
    "ukis-csmask": "stacgen.masks.ukis_csmask",
}
NAMES: Final = tuple(MODULES)
Mask = npt.NDArray[np.uint8]


class Detector(Protocol):
    """A cloud detector run on the fetched L1C of one item at a time."""

    name: str  # the command's name: s2cloudless, ukis-csmask
    bands: tuple[str, ...]  # the L1C bands it reads, in its input order
    classes: Mapping[int, str]  # the mask's values and what they mean (NODATA added)
    codes: str  # the `stacgen score --codes` table of its masks
    target: Target  # its grid, relative to the label grid

    def describe(self) -> dict[str, Any]:
        """Package, version, model (file and sha256) and every parameter, for tags and manifest."""
        ...

    def check_grid(self, grid: Grid, where: str) -> None:
        """A grid the detector cannot run on is a MasksError, found before any work."""
        ...

    def run(self, reader: Reader) -> Mask: ...


def make(name: str, options: Mapping[str, Any]) -> Detector:
    """The detector called `name` with the options the user set (others take its defaults)."""
    if name not in MODULES:
        raise MasksError(f"detector {name!r}: not one of {', '.join(NAMES)}")
    module = importlib.import_module(MODULES[name])
    made: Detector = module.make(dict(options))
    return made


def require_package(package: str, detector: str) -> None:
    """A missing package is one line saying how to install it, not an ImportError."""
    if importlib.util.find_spec(package) is None:
        raise MasksError(
            f"{detector}: the {package} package is not installed (pip install 'stacgen[detect]')"
        )


def check_options(options: Mapping[str, Any], known: set[str], detector: str) -> None:
    unknown = sorted(k for k, v in options.items() if v is not None and k not in known)
    if unknown:
        flags = ", ".join("--" + k.replace("_", "-") for k in unknown)
        raise MasksError(f"{flags}: not an option of {detector}")


def window_rows(width: int, pixels: int = 1 << 19) -> int:
    """Rows of a read window of about `pixels` pixels (at least one row)."""
    return max(1, pixels // max(1, width))
