"""`stacgen masks detect` in `make bench`: one product per detector, against the floor of the
package's own prediction on the same arrays, measured in the same run.

The product is one full-size label item of the bench catalog with synthetic L1C (the bands both
detectors read, random DN, on the 1830 px label grid: `stacgen.testing.imagery_chips`), in a
catalog folder of its own under bench/out/ (the bench catalog is left as the build wrote it).

Prints, for each detector:
- s2cloudless on the label grid (1830 px, 10 bands): `masks detect` in this process (warm:
  imports and page cache), best of 2: reading the 10 COGs window by window, the probability, the
  package's smoothing and dilation, the COG, the digests and the manifest; against the floor:
  the package's `get_cloud_masks` on the same (1, 1830, 1830, 10) float32 array already in
  memory, best of 2; the ratio (target <= 1.3x);
- ukis-csmask at its documented ~30 m (3660 px, 6 bands), one run each (a run takes minutes):
  the `masks detect` command (windows of 1020 px; imports included) against the package's
  `CSmask` on the whole (3660, 3660, 6) float32 array in memory; the ratio (the issue sets no
  target for it);
- the peak memory of `stacgen masks detect` on it, as a command, beside the array the package's
  whole-image call holds.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import rasterio

from bench.measure import best, measure
from stacgen import constants
from stacgen.layout import imagery
from stacgen.testing.imagery_chips import write_imagery

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent
S2CLOUDLESS_BANDS: Final = ("B01", "B02", "B04", "B05", "B08", "B8A", "B09", "B10", "B11", "B12")
UKIS_BANDS: Final = ("B02", "B03", "B04", "B08", "B11", "B12")
BANDS: Final = tuple(sorted({*S2CLOUDLESS_BANDS, *UKIS_BANDS}))


def one_product(catalog: Path, dest: Path) -> str:
    """A catalog folder holding the first label item of `catalog` and its synthetic L1C."""
    labels = catalog / constants.COLLECTION_ID
    item_id = sorted(p.name for p in labels.iterdir() if (p / f"{p.name}.json").is_file())[0]
    written = imagery.item_json(dest, item_id)
    if not written.is_file() or set(BANDS) - set(json.loads(written.read_text())["assets"]):
        shutil.rmtree(dest, ignore_errors=True)
        (dest / constants.COLLECTION_ID).mkdir(parents=True)
        shutil.copy(catalog / "catalog.json", dest / "catalog.json")
        shutil.copytree(labels / item_id, dest / constants.COLLECTION_ID / item_id)
        write_imagery(dest, grid="label", bands=BANDS, items=[item_id])
    return item_id


def _arrays(catalog: Path, item_id: str, bands: tuple[str, ...], refine: int) -> np.ndarray:
    """(rows, cols, bands) reflectance of the label-grid bands, each pixel repeated `refine`
    times a side: what a detector reads on a grid `refine` times finer."""
    layers = []
    for name in bands:
        with rasterio.open(imagery.band_path(catalog, item_id, name)) as src:
            values = src.read(1).astype(np.float64) * imagery.SCALE
        layers.append(values.repeat(refine, axis=0).repeat(refine, axis=1))
    return np.stack(layers, axis=-1).astype(np.float32)


@dataclass(frozen=True)
class Case:
    """One detector's line: its name, the grid it runs on, the package's whole-image call."""

    name: str
    grid: str
    runs: int
    floor_call: str
    prediction: Callable[[np.ndarray], object]
    warm_up: Callable[[], object]
    data: np.ndarray
    target: str = ""  # the bound on the ratio, where it sets one


def _s2cloudless(product: Path, item_id: str) -> Case:
    from s2cloudless.cloud_detector import S2PixelCloudDetector

    data = _arrays(product, item_id, S2CLOUDLESS_BANDS, 1)[None]
    detector = S2PixelCloudDetector(all_bands=False)
    return Case(
        "s2cloudless",
        f"the label grid ({data.shape[1]} px, 10 bands)",
        2,
        "s2cloudless get_cloud_masks",
        detector.get_cloud_masks,
        lambda: detector.get_cloud_masks(data[:, :64, :64]),  # the model's first load
        data,
        " (target <= 1.3x)",
    )


def _ukis(product: Path, item_id: str) -> Case:
    from stacgen.masks.ukis_csmask import make

    data = _arrays(product, item_id, UKIS_BANDS, 2)
    detector = make({})  # the defaults `masks detect ukis-csmask` runs with: 30 m
    return Case(
        "ukis-csmask",
        f"30 m ({data.shape[0]} px, 6 bands)",
        1,
        "ukis-csmask CSmask",
        detector.csm,
        lambda: detector.csm(data[:256, :256]),  # onnxruntime's session, the model's load
        data,
    )


def _line(case: Case, product: Path, item_id: str) -> None:
    from stacgen.masks.detect import detect

    out = HERE / "out" / f"masks-{case.name}"
    case.warm_up()
    floor_s = best(lambda: case.prediction(case.data), case.runs)
    command: list[str | Path] = [BIN / "stacgen", "masks", "detect", case.name, product]
    if case.runs > 1:
        detect(case.name, product, out, items=[item_id])  # warm-up: imports, page cache
        detect_s = best(lambda: detect(case.name, product, out, items=[item_id]), case.runs)
        how = f"in this process, best of {case.runs}; the floor too"
    else:  # a run takes minutes: the command's one run is the figure, imports included
        detect_s = 0.0
        how = "the command, one run, imports included; the floor one run"
    seconds, peak, _ = measure([*command, "--out", out, "--quiet"])
    detect_s = detect_s or seconds
    print(
        f"masks detect {case.name}, one product on {case.grid}: {detect_s:.2f} s ({how}); "
        f"floor ({case.floor_call} on the same arrays in memory): {floor_s:.2f} s; "
        f"{detect_s / floor_s:.2f}x{case.target}"
    )
    manifest: dict[str, Any] = json.loads((out / "manifest.json").read_text())
    print(
        f"stacgen masks detect {case.name} (command, imports included): {seconds:.1f} s, "
        f"peak memory {peak / 2**20:.0f} MiB; the package's whole-image call holds the "
        f"array alone in {case.data.nbytes / 2**20:.0f} MiB; "
        f"mask pixels {manifest['items'][0]['pixels']}"
    )


CASES: Final = {"s2cloudless": _s2cloudless, "ukis-csmask": _ukis}


def run(catalog: Path, detectors: tuple[str, ...] = tuple(CASES)) -> None:
    product = HERE / "out" / "masks-catalog"
    item_id = one_product(catalog, product)
    for name in detectors:
        _line(CASES[name](product, item_id), product, item_id)


if __name__ == "__main__":
    # Standalone: `python -m bench.masks CATALOG_DIR [DETECTOR...]` on an already built
    # full-size catalog.
    run(Path(sys.argv[1]), tuple(sys.argv[2:]) or tuple(CASES))
