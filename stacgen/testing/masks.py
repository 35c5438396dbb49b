"""Processor-like cloud masks made from a built catalog's label rasters, for trying and testing
`stacgen score` and `stacgen benchmark` without running a processor.

Each mask is the reference's classes turned into groups (clouds 2, 3; shadow 4; clear 5, 6, 7;
no data 0, 1: ALCD.md's table, written out here, not read from the code under test), a share of
the valid pixels moved to another group at random (numpy, seeded), encoded in a processor's
values and written at `factor` times the 60 m resolution on the reference's grid, named after
its item so that `stacgen score` matches it by product name.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import rasterio
from affine import Affine

from stacgen import constants

NODATA, CLEAR, CLOUD, SHADOW = 0, 1, 2, 3
# ALCD class -> group
_GROUP: Final = np.array([NODATA, NODATA, CLOUD, CLOUD, SHADOW, CLEAR, CLEAR, CLEAR], np.uint8)
# group -> a processor's value (no data, clear, cloud, shadow), from the processors' documents.
ENCODINGS: Final[dict[str, tuple[int, int, int, int]]] = {
    "fmask4": (255, 0, 4, 2),  # GERSL Fmask 4: 0 land, 2 shadow, 4 cloud, 255 no data
    "sen2cor": (0, 4, 9, 3),  # SCL: 0 no data, 4 vegetation, 9 cloud high probability, 3 shadow
    "s2cloudless": (0, 0, 1, 0),  # 0 clear, 1 cloud; no shadow, no no-data value
    "alcd": (0, 5, 2, 4),  # the reference's own codes
    "kappamask": (0, 1, 4, 2),  # 1 clear, 2 shadow, 4 thick cloud, 0 missing
}


def label_rasters(catalog: Path) -> dict[str, Path]:
    """Item id -> its classification.tif, for a catalog folder `stacgen build` wrote."""
    collection = catalog / constants.COLLECTION_ID
    return {
        p.parent.name: p
        for p in sorted(collection.glob("*/classification.tif"))
        if (p.parent / f"{p.parent.name}.json").is_file()
    }


def perturb(groups: npt.NDArray[np.uint8], share: float, seed: int) -> npt.NDArray[np.uint8]:
    """`share` of the valid pixels moved to one of the two other groups, at random."""
    rng = np.random.default_rng(seed)
    out = groups.copy()
    valid = np.flatnonzero(groups != NODATA)
    moved = rng.choice(valid, round(share * valid.size), replace=False)
    shift = rng.integers(1, 3, moved.size).astype(np.uint8)  # 1 or 2 steps round the 3 groups
    out.flat[moved] = (groups.flat[moved] - 1 + shift) % 3 + 1
    return out


def write_masks(
    catalog: Path,
    out: Path,
    codes: str,
    *,
    share: float = 0.05,
    seed: int = 0,
    factor: int = 1,
    items: Sequence[str] | None = None,
    suffix: str | None = None,
) -> list[Path]:
    """One mask per item of `catalog` (or of `items`) in `out`: `<item>_<suffix>.tif`."""
    encode = np.array(ENCODINGS[codes], np.uint8)
    rasters = label_rasters(catalog)
    chosen = list(rasters) if items is None else list(items)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for n, item in enumerate(chosen):
        with rasterio.open(rasters[item]) as ref:
            classes, t, crs = ref.read(1), ref.transform, ref.crs
        groups = perturb(_GROUP[np.minimum(classes, 7)], share, seed * 1000 + n)
        values = encode[groups].repeat(factor, axis=0).repeat(factor, axis=1)
        path = out / f"{item}_{suffix or codes}.tif"
        profile = {
            "driver": "GTiff",
            "width": values.shape[1],
            "height": values.shape[0],
            "count": 1,
            "dtype": "uint8",
            "crs": crs,
            "transform": Affine(t.a / factor, 0, t.c, 0, t.e / factor, t.f),
            "compress": "deflate",
        }
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(values, 1)
        written.append(path)
    return written
