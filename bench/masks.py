"""`stacgen masks detect s2cloudless` in `make bench`: one product on the label grid, against the
floor of s2cloudless's own prediction on the same arrays, measured in the same run.

The product is one full-size label item of the bench catalog with synthetic L1C (the 10 bands
s2cloudless reads, random DN, on the 1830 px label grid: `stacgen.testing.imagery_chips`), in a
catalog folder of its own under bench/out/ (the bench catalog is left as the build wrote it).

Prints:
- `masks detect` for that product in this process (warm: imports and page cache), best of 2:
  reading the 10 COGs window by window, the probability, the package's smoothing and dilation,
  the COG, the digests and the manifest; against the floor: the package's
  `get_cloud_masks` on the same (1, 1830, 1830, 10) float32 array already in memory, best of 2;
  the ratio (target <= 1.3x);
- the peak memory of `stacgen masks detect s2cloudless` on it, as a command.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import rasterio

from stacgen import constants
from stacgen.layout import imagery
from stacgen.testing.imagery_chips import write_imagery

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent
BANDS = ("B01", "B02", "B04", "B05", "B08", "B8A", "B09", "B10", "B11", "B12")


def _best(fn: Callable[[], object], runs: int = 2) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def one_product(catalog: Path, dest: Path) -> str:
    """A catalog folder holding the first label item of `catalog` and its synthetic L1C."""
    labels = catalog / constants.COLLECTION_ID
    item_id = sorted(p.name for p in labels.iterdir() if (p / f"{p.name}.json").is_file())[0]
    if not imagery.item_json(dest, item_id).is_file():
        shutil.rmtree(dest, ignore_errors=True)
        (dest / constants.COLLECTION_ID).mkdir(parents=True)
        shutil.copy(catalog / "catalog.json", dest / "catalog.json")
        shutil.copytree(labels / item_id, dest / constants.COLLECTION_ID / item_id)
        write_imagery(dest, grid="label", bands=BANDS, items=[item_id])
    return item_id


def _arrays(catalog: Path, item_id: str) -> np.ndarray:
    bands = []
    for name in BANDS:
        with rasterio.open(imagery.band_path(catalog, item_id, name)) as src:
            bands.append(src.read(1).astype(np.float64) * imagery.SCALE)
    return np.stack(bands, axis=-1).astype(np.float32)[None]


def run(catalog: Path) -> None:
    from s2cloudless.cloud_detector import S2PixelCloudDetector

    from bench.run import PeakRSS
    from stacgen.masks.detect import detect

    product = HERE / "out" / "masks-catalog"
    item_id = one_product(catalog, product)
    out = HERE / "out" / "masks-s2cloudless"
    data = _arrays(product, item_id)
    detector = S2PixelCloudDetector(all_bands=False)
    detector.get_cloud_masks(data[:, :64, :64])  # warm-up: the model's first load
    floor_s = _best(lambda: detector.get_cloud_masks(data))
    detect("s2cloudless", product, out, items=[item_id])  # warm-up: imports, page cache
    detect_s = _best(lambda: detect("s2cloudless", product, out, items=[item_id]))
    size = data.shape[1]
    print(
        f"masks detect s2cloudless, one product on the label grid ({size} px, 10 bands): "
        f"{detect_s:.2f} s; floor (s2cloudless get_cloud_masks on the same arrays in memory): "
        f"{floor_s:.2f} s; {detect_s / floor_s:.2f}x (target <= 1.3x)"
    )
    command = [str(BIN / "stacgen"), "masks", "detect", "s2cloudless", str(product)]
    start = time.perf_counter()
    proc = subprocess.Popen([*command, "--out", str(out), "--quiet"], stdout=subprocess.DEVNULL)
    watch = PeakRSS(proc.pid)
    if proc.wait() != 0:
        raise SystemExit(f"stacgen masks detect failed: {proc.returncode}")
    watch.join()
    seconds = time.perf_counter() - start
    manifest = json.loads((out / "manifest.json").read_text())
    print(
        f"stacgen masks detect s2cloudless (command, imports included): {seconds:.1f} s, "
        f"peak memory {watch.peak / 2**20:.0f} MiB; the package's whole-image call holds the "
        f"array alone in {data.nbytes / 2**20:.0f} MiB; "
        f"mask pixels {manifest['items'][0]['pixels']}"
    )


if __name__ == "__main__":
    # Standalone: `python -m bench.masks CATALOG_DIR` on an already built full-size catalog.
    run(Path(sys.argv[1]))
