"""`make bench`, the training chips (issue 23): `Chips` against the floor of rasterio alone.

On the full-size catalog (1830 px label grids), with synthetic imagery on native grids written
for the items of the test split (`stacgen.testing.imagery_chips`: B02 at 10 m, B05 at 20 m, B01
at 60 m, random DN, so nothing compresses away). Prints:
- chips per second from `Chips` (grid 20, 256 px, 3 bands) in this process, one core, against
  the floor measured in the same run: the same windows of the same files (each band's and the
  label's pixels under the chip, on their own grids) read by rasterio alone, datasets opened
  once per pass, as `Chips` keeps them; best of 5 interleaved passes over the same chips, each
  with datasets opened anew (GDAL's block cache goes with them, so each pass decodes every
  block, as an epoch over many scenes does) from a warm page cache;
- the peak memory of each of a torch DataLoader's 2 worker processes over every chip of the
  split (an epoch): its unique memory (USS: what a worker adds) and its RSS (with the pages it
  shares with the parent);
- `stacgen chips export` of the test split (grid 20, 256 px, tif): seconds, chips, peak memory,
  and the no-op rerun.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import rasterio
from rasterio.windows import Window, from_bounds

from bench.measure import best, measure
from stacgen import constants
from stacgen.ml import Chips
from stacgen.testing.imagery_chips import write_imagery

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent
BANDS = ("B02", "B05", "B01")
GRID, SIZE = 20, 256
CHIPS_TIMED = 240  # chips per timed pass (the first ones, by item, row, column)


def split_items(catalog: Path, split: str) -> list[str]:
    """The label items of `split`, read from their JSON."""
    found = []
    for path in sorted((catalog / constants.COLLECTION_ID).glob("*/*.json")):
        if path.stem == path.parent.name:
            item = json.loads(path.read_text())
            if item["properties"].get("ml-aoi:split") == split:
                found.append(item["id"])
    return found


def _outer_window(bounds: tuple[float, float, float, float], src: Any) -> Window:
    """The source pixels under `bounds`: whole pixels, the partly covered ones included."""
    w = from_bounds(*bounds, transform=src.transform)
    c0, r0 = math.floor(w.col_off + 1e-6), math.floor(w.row_off + 1e-6)
    c1 = math.ceil(w.col_off + w.width - 1e-6)
    r1 = math.ceil(w.row_off + w.height - 1e-6)
    return Window(c0, r0, c1 - c0, r1 - r0)


class Floor:
    """The chips' windows read by rasterio alone: each band's and the label's own pixels."""

    def __init__(self, chips: Chips, count: int) -> None:
        self.jobs = []
        for place in chips.windows[:count]:
            scene = place.scene
            grid = chips.chip_grid(scene).window(Window(place.col, place.row, SIZE, SIZE))
            paths = [scene.bands[b].path for b in chips.bands] + [scene.label_path]
            self.jobs.append((grid.bounds, paths))
        self.open: dict[str, Any] = {}

    def read(self) -> None:
        self.close()  # as an epoch starts: every block decoded once more, from the page cache
        for bounds, paths in self.jobs:
            for path in paths:
                src = self.open.get(path)
                if src is None:
                    src = self.open[path] = rasterio.open(path)
                src.read(1, window=_outer_window(bounds, src))

    def close(self) -> None:
        for src in self.open.values():
            src.close()
        self.open = {}


def chips_per_second(catalog: Path) -> Chips:
    chips = Chips(catalog, split="test", bands=BANDS, grid=GRID, size=SIZE, seed=None)
    n = min(len(chips), CHIPS_TIMED)
    floor = Floor(chips, n)

    def read_chips() -> None:
        chips.close()  # the same: GDAL's block cache goes with the datasets
        for i in range(n):
            chips[i]

    read_chips()  # warm-up: page cache, imports
    floor.read()
    chips_s = floor_s = float("inf")
    for _ in range(5):  # interleaved, so that a change of the machine's load hits both alike
        chips_s = min(chips_s, best(read_chips, 1))
        floor_s = min(floor_s, best(floor.read, 1))
    floor.close()
    chips.close()
    print(
        f"Chips (grid {GRID} m, {SIZE} px, bands {','.join(BANDS)}), one core: "
        f"{n / chips_s:.1f} chips/s; floor (rasterio reading the same windows): "
        f"{n / floor_s:.1f} chips/s; {floor_s / chips_s:.2f}x the floor (target >= 0.8x)"
    )
    return chips


class WorkerPeaks:
    """Peak USS and RSS of each child process of this one, sampled every 50 ms."""

    def __init__(self) -> None:
        self.me = psutil.Process()
        self.peaks: dict[int, tuple[int, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            for child in self.me.children(recursive=True):
                try:
                    info = child.memory_full_info()
                except psutil.Error:
                    continue  # ended between the listing and the reading
                uss, rss = self.peaks.get(child.pid, (0, 0))
                self.peaks[child.pid] = (max(uss, info.uss), max(rss, info.rss))
            time.sleep(0.05)

    def stop(self) -> dict[int, tuple[int, int]]:
        self._stop.set()
        self._thread.join()
        return self.peaks


def worker_memory(chips: Chips) -> None:
    import torch

    n = len(chips)  # the whole split: a worker's memory must stay flat over an epoch
    loader: Any = torch.utils.data.DataLoader(chips, batch_size=8, num_workers=2)  # type: ignore[arg-type]
    watch = WorkerPeaks()
    seen = sum(len(batch["item"]) for batch in loader)
    peaks = watch.stop()
    if seen != n or not peaks:
        raise SystemExit(f"DataLoader: {seen} chips of {n}, {len(peaks)} workers seen")
    uss = max(u for u, _ in peaks.values())
    rss = max(r for _, r in peaks.values())
    print(
        f"DataLoader, 2 workers, the {n} chips of the split in batches of 8: peak memory per "
        f"worker {uss / 2**20:.0f} MiB unique (USS), {rss / 2**20:.0f} MiB RSS with the pages "
        "shared with the parent"
    )


def _export(catalog: Path, out: Path) -> tuple[float, int, str]:
    command = [str(BIN / "stacgen"), "chips", "export", str(catalog), "--split", "test"]
    command += ["--grid", str(GRID), "--size", str(SIZE), "--out", str(out), "--quiet"]
    seconds, peak, output = measure(command)
    return seconds, peak, output.strip()


def export_time(catalog: Path, scratch: Path) -> None:
    out = scratch / "chips-test"
    seconds, peak, said = _export(catalog, out)
    noop_s, _, again = _export(catalog, out)
    chips = sum(1 for _ in (out / "images").glob("*/*.tif"))
    print(
        f"stacgen chips export --split test --grid {GRID} --size {SIZE} (tif): {chips} chips "
        f"in {seconds:.1f} s ({chips / seconds:.1f} chips/s), peak memory "
        f"{peak / 2**20:.0f} MiB; no-op rerun {noop_s:.2f} s ({again.split('(')[-1].split(')')[0]})"
    )
    if "written" not in said:
        raise SystemExit(f"export said: {said}")


def run(catalog: Path, scratch: Path) -> None:
    """Write the test split's imagery into `catalog` (a scratch catalog), then measure."""
    items = split_items(catalog, "test")
    start = time.perf_counter()
    write_imagery(catalog, grid="native", bands=BANDS, items=items)
    print(
        f"chips: synthetic imagery (B02 10 m, B05 20 m, B01 60 m) of the {len(items)} test "
        f"items written in {time.perf_counter() - start:.1f} s"
    )
    chips = chips_per_second(catalog)
    worker_memory(chips)
    export_time(catalog, scratch)


if __name__ == "__main__":
    # Standalone: `python -m bench.ml CATALOG_DIR`, on a copy of an already built catalog.
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "catalog"
        shutil.copytree(sys.argv[1], copy, symlinks=True)
        run(copy, Path(tmp))
