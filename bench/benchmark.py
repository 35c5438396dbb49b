"""`stacgen benchmark` in `make bench`: the report for 3 processors x 37 items, its time and
peak memory, beside its floor measured in the same run: the same masks scored by `stacgen score`
alone (one run per processor, no --out), which is the scoring the report cannot do without.

Masks: stacgen.testing.masks, made from each item's 60 m reference (a share of the valid pixels
moved to another group): FMask 4 and Sen2Cor SCL at 20 m (5490 px), s2cloudless at 60 m, named
after their items. Kept under bench/out/benchmark-masks/ between runs.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Final

from bench.measure import measure
from stacgen.testing.masks import label_rasters, write_masks

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent
# name, code table, share of pixels changed, seed, resolution factor (3: 20 m, 1: 60 m)
PROCESSORS: Final = (
    ("fmask", "fmask4", 0.04, 1, 3),
    ("s2cloudless", "s2cloudless", 0.08, 2, 1),
    ("sen2cor", "sen2cor", 0.12, 3, 3),
)


def make_masks(catalog: Path, root: Path) -> dict[str, Path]:
    """Each processor's folder of masks, one per item of `catalog` (made once)."""
    items = len(label_rasters(catalog))
    folders = {}
    for name, codes, share, seed, factor in PROCESSORS:
        folder = root / name
        if len(list(folder.glob("*.tif"))) != items:
            shutil.rmtree(folder, ignore_errors=True)
            tmp = root / f".{name}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            write_masks(catalog, tmp, codes, share=share, seed=seed, factor=factor)
            tmp.rename(folder)
        folders[name] = folder
    return folders


def run(catalog: Path, workers: int = 2) -> None:
    """Make (or reuse) the masks; time the report and its floor; print both."""
    root = HERE / "out" / "benchmark-masks"
    root.mkdir(parents=True, exist_ok=True)
    folders = make_masks(catalog, root)
    items = len(label_rasters(catalog))
    catalog_json = str(catalog / "catalog.json")
    common = ["--catalog", catalog_json, "--workers", str(workers), "--quiet"]
    floor_s, floor_peak = 0.0, 0
    for name, codes, *_ in PROCESSORS:
        seconds, peak, _ = measure(
            [str(BIN / "stacgen"), "score", str(folders[name]), "--codes", codes, *common]
        )
        floor_s, floor_peak = floor_s + seconds, max(floor_peak, peak)
    specs = [f"{name}={codes}:{folders[name]}" for name, codes, *_ in PROCESSORS]
    with tempfile.TemporaryDirectory(dir=HERE / "out") as tmp:
        out = Path(tmp) / "report"
        report_s, report_peak, _ = measure(
            [str(BIN / "stacgen"), "benchmark", *specs, *common, "--out", str(out)]
        )
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(
        f"stacgen benchmark, {len(PROCESSORS)} processors x {items} items, {workers} workers: "
        f"{report_s:.1f} s, peak memory {report_peak / 2**20:.0f} MiB, report "
        f"{size / 2**20:.1f} MiB; floor (stacgen score alone on the same masks, one run per "
        f"processor): {floor_s:.1f} s, peak memory {floor_peak / 2**20:.0f} MiB; "
        f"{report_s / floor_s:.2f}x the floor's time"
    )


if __name__ == "__main__":
    # Standalone: `python -m bench.benchmark CATALOG_DIR` on an already built catalog.
    run(Path(sys.argv[1]))
