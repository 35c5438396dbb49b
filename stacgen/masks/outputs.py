"""What `stacgen masks` writes: one mask COG per item and `manifest.json`, in one folder.

The folder (`--out`) must be missing, empty, or one this command wrote (its marker file is
there); anything else is refused before any work, so nothing stacgen did not write is replaced.
Everything goes to a temp folder beside it, swapped in whole at the end: on any error `--out`
stays as it was. Each mask is named `<item id>_<detector>.tif`, so `stacgen score` matches it
to its item by the L1C product name in its name.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import rasterio

from stacgen import __version__
from stacgen.fileutil import FILE_MODE, digests, recover_swap, swap_in
from stacgen.masks.errors import MasksError
from stacgen.raster.cog import cog_profile
from stacgen.raster.grid import Grid

MARKER: Final = ".stacgen-masks.json"
MANIFEST: Final = "manifest.json"
# mkdtemp makes an owner-only folder; the published one follows the umask like the files.
DIR_MODE: Final = FILE_MODE | ((FILE_MODE & 0o444) >> 2)


def mask_name(item_id: str, detector: str) -> str:
    return f"{item_id}_{detector}.tif"


def check_out(out: Path) -> None:
    """--out is missing, an empty folder, or a folder this command wrote; else one line."""
    recover_swap(out)
    if not out.exists():
        if out.parent.exists() and not out.parent.is_dir():
            raise MasksError(f"--out {out}: its parent is not a folder")
        return
    if not out.is_dir():
        raise MasksError(f"--out {out}: is a file, not a folder")
    if (out / MARKER).is_file() or not any(out.iterdir()):
        return
    raise MasksError(
        f"--out {out}: not empty and not written by stacgen masks (no {MARKER}): "
        "give a new or empty folder"
    )


def write_mask(
    dst: Path,
    mask: npt.NDArray[np.uint8],
    grid: Grid,
    classes: Mapping[int, str],
    tags: Mapping[str, str],
    *,
    nodata: int = 255,
) -> None:
    """The mask as a COG (mode overviews: class values are never averaged), its class names in
    band tags, the processor and its parameters in dataset tags."""
    profile = cog_profile(grid, 1, "mode", nodata=nodata)
    with rasterio.open(dst, "w", **profile) as out:
        out.write(mask, 1)
        out.update_tags(OVERVIEW_RESAMPLING="MODE", **tags)
        out.update_tags(1, **{f"CLASS_{k}": v for k, v in classes.items()})
        out.set_band_description(1, "cloud mask")


class Staging:
    """--out, filled in a temp folder beside it and swapped in whole by `finish`."""

    def __init__(self, out: Path, command: str) -> None:
        self.out = out.absolute()
        self.command = command
        self.tmp: Path | None = None

    def __enter__(self) -> Staging:
        check_out(self.out)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        prefix = f".{self.out.name}."
        self.tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=self.out.parent))
        return self

    def __exit__(self, *exc: object) -> None:
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, name: str) -> Path:
        assert self.tmp is not None, "use Staging in a with block"
        return self.tmp / name

    def finish(self, manifest: dict[str, Any]) -> None:
        assert self.tmp is not None, "use Staging in a with block"
        marker = {"written_by": self.command, "stacgen_version": __version__}
        self.path(MARKER).write_text(json.dumps(marker) + "\n", encoding="utf-8")
        text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
        self.path(MANIFEST).write_text(text, encoding="utf-8")
        for p in self.tmp.iterdir():
            p.chmod(FILE_MODE)
        self.tmp.chmod(DIR_MODE)
        swap_in(self.tmp, self.out)
        self.tmp = None


def grid_record(grid: Grid) -> dict[str, Any]:
    return {
        "proj:code": f"EPSG:{grid.epsg}" if grid.epsg else grid.crs.to_wkt(),
        "proj:shape": list(grid.shape),
        "proj:transform": grid.proj_transform,
    }


def sha256(path: Path) -> str:
    return digests(path)["sha256"]
