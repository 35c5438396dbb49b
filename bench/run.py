"""`make bench`: the full-size synthetic archive (38 folders, 1830 px) built from a cold start.

Prints, from one run: the build's seconds; the floor measured in the same run (one gunzip +
untar of the tgz, plus GDAL's COG driver encoding every COG the catalog carries exactly once,
spread over the workers); the naive chain a user would script (`tar xzf`, then `rio cogeo
create` per raster); the ratios; the no-op rebuild; the peak memory of the build's processes;
the bytes of an item and of a 10-item search page beside their floor (bench/items.py).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import rasterio

from bench import benchmark as bench_benchmark
from bench import items as bench_items
from bench import masks as bench_masks
from bench import ml as bench_ml
from bench import publish as bench_publish
from bench import score
from bench import serve as serve_bench
from bench.measure import PeakRSS
from stacgen import constants
from stacgen.assemble.labels import read_classes
from stacgen.assemble.rasters import colourise
from stacgen.raster.cog import cog_profile
from stacgen.source.scene import scene_folders
from stacgen.testing import synthetic

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent


def archive(size: int, folders: int = len(constants.SCENE_FOLDERS)) -> Path:
    """The synthetic archive, made once and kept under bench/out/."""
    path = HERE / "out" / f"alcd-synthetic-{size}-{folders}.tgz"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        chosen = synthetic.default_folders(folders)
        synthetic.make_archive(path, size=size, folders=chosen, workers=os.cpu_count() or 1)
    return path


def timed(command: Sequence[str | Path], **kw: object) -> float:
    start = time.perf_counter()
    subprocess.run([str(c) for c in command], check=True, **kw)  # type: ignore[call-overload]
    return time.perf_counter() - start


def run_build(tgz: Path, out: Path, cache: Path, workers: int) -> tuple[float, int]:
    command = [BIN / "stacgen", "build", "--archive", tgz, "--out", out, "--cache-dir", cache]
    command += ["--workers", str(workers), "--quiet"]
    start = time.perf_counter()
    proc = subprocess.Popen([str(c) for c in command])
    watch = PeakRSS(proc.pid)
    if proc.wait() != 0:
        raise SystemExit(f"build failed: {proc.returncode}")
    seconds = time.perf_counter() - start
    watch.join()
    return seconds, watch.peak


def _encode_scene(folder: Path, dest: Path) -> None:
    """GDAL's COG driver, once per COG the catalog carries, with the catalog's own options."""
    dest.mkdir(parents=True, exist_ok=True)
    classes, grid = read_classes(folder / constants.CLASSIFICATION_MAP)
    with rasterio.open(folder / constants.CONFIDENCE_MAP) as src:
        confidence = src.read(1)
    outputs = [
        ("classification.tif", classes[np.newaxis], cog_profile(grid, 1, "mode", nodata=0)),
        ("confidence.tif", confidence[np.newaxis], cog_profile(grid, 1, "average", predictor=2)),
        ("visual.tif", colourise(classes), cog_profile(grid, 4, "nearest")),
    ]
    for name, bands, profile in outputs:
        with rasterio.open(dest / name, "w", **profile) as out:
            out.write(bands)


def floor(tgz: Path, scratch: Path, workers: int) -> tuple[float, float]:
    """(untar seconds, encode seconds) measured on this machine now."""
    target = scratch / "floor"
    target.mkdir()
    untar = timed(["tar", "xzf", tgz, "-C", target])
    folders = scene_folders(target / constants.TOP_FOLDER)
    start = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_encode_scene, folders, [scratch / "enc" / f.name for f in folders]))
    return untar, time.perf_counter() - start


def naive(tgz: Path, scratch: Path) -> float:
    """What a user would script: untar, then one `rio cogeo create` per raster."""
    target = scratch / "naive"
    target.mkdir()
    start = time.perf_counter()
    subprocess.run(["tar", "xzf", str(tgz), "-C", str(target)], check=True)
    for folder in scene_folders(target / constants.TOP_FOLDER):
        for name in (constants.CLASSIFICATION_MAP, constants.CONFIDENCE_MAP):
            out = scratch / "naive-out" / folder.name / Path(name).name
            out.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                [str(BIN / "rio"), "cogeo", "create", "-q", str(folder / name), str(out)],
                check=True,
            )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=constants.TILE_SIZE_PX)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    tgz = archive(args.size)
    print(f"archive: {tgz} ({tgz.stat().st_size / 2**20:.1f} MiB, {args.size} px, 38 folders)")
    with tarfile.open(tgz) as tar:
        files = sum(1 for m in tar.getmembers() if m.isfile())
    print(f"regular files in the archive: {files}")
    with tempfile.TemporaryDirectory(dir=HERE / "out") as tmp:
        scratch = Path(tmp)
        out, cache = scratch / "catalog", scratch / "cache"
        build_s, peak = run_build(tgz, out, cache, args.workers)
        noop_s, _ = run_build(tgz, out, cache, args.workers)
        item_lines = bench_items.run(out)  # issue 24: before imagery and ML add to the items
        score.run(out, workers=2)
        bench_benchmark.run(out, workers=2)  # issue 22: the report against score alone
        bench_masks.run(out)  # issue 22 §1: masks detect s2cloudless vs the package's call
        untar_s, encode_s = floor(tgz, scratch, args.workers)
        naive_s = naive(tgz, scratch)
        # Memory must not grow with the number of scenes: the same build on 6 folders.
        small = archive(args.size, synthetic.REPRESENTATIVE_COUNT)
        _, small_peak = run_build(small, scratch / "small", scratch / "small-cache", args.workers)
        bench_publish.report(out, scratch)  # issue 11: publish to a local S3 server
        # Issue 20: one full-size L1C product fetched onto the label grid (bench/imagery.py),
        # on copies of `out`: before the ML bench, which writes imagery into `out` itself.
        from bench import imagery as bench_imagery

        imagery_lines = bench_imagery.run(out, scratch, args.workers)
        bench_ml.run(out, scratch)  # issue 23: writes imagery into `out`, so it comes last
    floor_s = untar_s + encode_s
    print(f"workers: {args.workers}")
    print(f"build (cold: no extraction cache, empty output): {build_s:.2f} s")
    print(f"floor: untar {untar_s:.2f} s + COG encoding {encode_s:.2f} s = {floor_s:.2f} s")
    print(f"naive chain (tar xzf + rio cogeo create per raster): {naive_s:.2f} s")
    print(f"build / floor: {build_s / floor_s:.2f}x (target <= 1.5x)")
    print(f"naive / build: {naive_s / build_s:.2f}x")
    print(f"no-op rebuild: {noop_s:.2f} s (target < 1 s)")
    print(f"peak memory of the build: {peak / 2**20:.0f} MiB (target < 1024 MiB)")
    print(f"peak memory, same build on 6 folders: {small_peak / 2**20:.0f} MiB (flat: about equal)")
    for line in imagery_lines:
        print(line)
    for line in item_lines:
        print(line)
    shutil.rmtree(HERE / "out" / "tmp", ignore_errors=True)
    serve_bench.bench_embedded()


if __name__ == "__main__":
    main()
