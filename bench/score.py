"""`stacgen score` in `make bench`: speed against the floor, memory over 37 masks.

Masks: one full-tile 20 m Sen2Cor-like SCL per item (5490 x 5490, tiled deflate GeoTIFF, named
after the product) made from the item's 60 m reference with 20 m detail: clear land split into
vegetation / bare soil / dark patches of 100 m, and a fifth of the pixels taking their
diagonal neighbour's class (edges that move at 20 m). Kept under bench/out/ between runs.

Prints:
- one mask scored in this process against the floor measured in the same run: reading that mask
  once plus reading the reference window once (best of 7 each, warm page cache);
- `stacgen score` on one mask as a command, start to exit, and the part of it that is importing
  (issue 22 §3 asks < 0.5 s), beside two floors: a python that imports rasterio alone and the
  bare interpreter (wall and CPU seconds, best of 5 interleaved runs each, from bytecode as
  installed);
- the peak memory of `stacgen score` on all 37 masks with 2 workers, and on 4 masks (flat).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

from bench.measure import best, measure
from stacgen import constants
from stacgen.score import score_mask

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent
FACTOR = 3  # 60 m reference, 20 m mask
SCL = np.array([0, 0, 8, 10, 3, 4, 6, 11], dtype=np.uint8)  # ALCD class -> a Sen2Cor SCL value


def make_mask(reference: Path, dest: Path) -> Path:
    """A 20 m SCL-like mask on the reference's tile (see the module docstring)."""
    if dest.exists():
        return dest
    with rasterio.open(reference) as src:
        classes, t, crs = src.read(1), src.transform, src.crs
    rng = np.random.default_rng(int.from_bytes(dest.name.encode()[-8:], "big"))
    fine = np.repeat(np.repeat(SCL[classes], FACTOR, 0), FACTOR, 1)
    n = fine.shape[0]
    patches = np.repeat(np.repeat(rng.integers(0, 3, (n // 5 + 1, n // 5 + 1)), 5, 0), 5, 1)
    land = fine == 4
    fine[land] = np.array([4, 5, 2], np.uint8)[patches[:n, :n][land]]
    jitter = rng.random(fine.shape) < 0.2
    jitter[-1, :] = jitter[:, -1] = False
    fine[jitter] = np.roll(fine, (-1, -1), (0, 1))[jitter]
    profile = dict(
        driver="GTiff",
        width=n,
        height=n,
        count=1,
        dtype="uint8",
        crs=crs,
        transform=Affine(t.a / FACTOR, 0, t.c, 0, t.e / FACTOR, t.f),
        tiled=True,
        blockxsize=512,
        blockysize=512,
        compress="deflate",
    )
    tmp = dest.with_suffix(".tmp")
    with rasterio.open(tmp, "w", **profile) as dst:
        dst.write(fine, 1)
    tmp.rename(dest)
    return dest


def _read_all(path: Path) -> None:
    with rasterio.open(path) as src:
        src.read(1)


def _command_times(mask: Path, catalog: Path, runs: int = 5) -> dict[str, tuple[float, float]]:
    """(wall, CPU) seconds, each the best of `runs` fresh pythons: `stacgen score` on one mask,
    start to exit; what that command imports, imported as it does (boto3 left to first use);
    and two floors: rasterio imported alone (what any GeoTIFF tool pays) and the bare
    interpreter. CPU time (user + system, the process and its threads) is what a loaded
    machine changes least."""
    python = str(BIN / "python")
    command = [str(BIN / "stacgen"), "score", str(mask), "--codes", "sen2cor", "--quiet"]
    command += ["--catalog", str(catalog / "catalog.json")]
    imports = (
        "from stacgen import cli; cli._rasterio_without_boto3(); "
        "import stacgen.score.scoring, stacgen.score.outputs, stacgen.score.reference"
    )
    argvs = {
        "command": command,
        "imports": [python, "-c", imports],
        "rasterio": [python, "-c", "import rasterio"],
        "python": [python, "-c", "pass"],
    }

    # As an installed package runs: from bytecode. A session that sets PYTHONDONTWRITEBYTECODE
    # would compile stacgen's modules at every start (0.1 to 0.5 s here); the warm-up writes
    # the __pycache__ folders (git-ignored) that pip writes at install.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

    def once(argv: list[str]) -> tuple[float, float]:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime

    for argv in argvs.values():
        once(argv)  # warm-up: page cache, bytecode
    shortest = dict.fromkeys(argvs, (float("inf"), float("inf")))
    for _ in range(runs):  # interleaved, so that a change of the machine's load hits all alike
        for name, argv in argvs.items():
            wall, cpu = once(argv)
            shortest[name] = (min(shortest[name][0], wall), min(shortest[name][1], cpu))
    return shortest


def run(catalog: Path, workers: int = 2) -> None:
    """Make (or reuse) the 37 masks, time one, measure the memory of scoring all of them."""
    items = sorted(
        p
        for p in (catalog / constants.COLLECTION_ID).iterdir()
        if (p / "classification.tif").exists()
    )
    folder = HERE / "out" / "score-masks"
    folder.mkdir(parents=True, exist_ok=True)
    refs = [i / "classification.tif" for i in items]
    dests = [folder / f"{i.name}_SCL_20m.tif" for i in items]
    with ProcessPoolExecutor(workers) as pool:
        masks = list(pool.map(make_mask, refs, dests))

    item_json = str(items[0] / f"{items[0].name}.json")
    score_mask(masks[0], "sen2cor", item_json)  # warm-up: page cache, imports

    def floor() -> None:
        _read_all(masks[0])
        _read_all(refs[0])

    floor_s = best(floor, 7)
    score_s = best(lambda: score_mask(masks[0], "sen2cor", item_json), 7)
    print(
        f"score one 20 m mask (5490 px) vs its 60 m reference: {score_s * 1e3:.1f} ms; floor "
        f"(read the mask once + the reference window once): {floor_s * 1e3:.1f} ms; "
        f"{score_s / floor_s:.2f}x (target <= 1.5x)"
    )
    t = {
        k: f"{wall:.2f} s (CPU {cpu:.2f} s)"
        for k, (wall, cpu) in _command_times(masks[0], catalog).items()
    }
    print(
        f"stacgen score, one mask, whole command: {t['command']} (target < 0.5 s), of which "
        f"importing what it imports {t['imports']}; floors: python -c 'import rasterio' "
        f"{t['rasterio']}, the bare interpreter {t['python']}"
    )
    peaks = {}
    for subset in (masks[:4], masks):
        command = [str(BIN / "stacgen"), "score", *map(str, subset), "--codes", "sen2cor"]
        command += ["--catalog", str(catalog / "catalog.json"), "--workers", str(workers)]
        seconds, peak, _ = measure([*command, "--quiet"])
        peaks[len(subset)] = (peak, seconds)
    for n, (peak, seconds) in peaks.items():
        print(
            f"stacgen score on {n} masks, {workers} workers: peak memory {peak / 2**20:.0f} MiB "
            f"(target < 1024 MiB, flat), {seconds:.1f} s"
        )


if __name__ == "__main__":
    # Standalone: `python -m bench.score CATALOG_DIR` on an already built catalog.
    run(Path(sys.argv[1]))
