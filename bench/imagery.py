"""`make bench`, the imagery part: one full-size synthetic L1C product (13 JPEG 2000 bands at
their native sizes, 10980 px at 10 m) fetched onto the label grid by `stacgen imagery fetch`,
from a local SAFE and from a loopback HTTP server, each beside its floor measured in the same
run: decoding the same JP2 files once (full resolution, the same strips and workers), and
downloading the same bytes once. Also the peak memory of each fetch, the same with two
products (flat: about equal), and the cost extrapolated to the 37 products.

Run alone: `python -m bench.imagery [--size 1830] [--workers N]` builds a small catalog of that
label size first; `bench/run.py` calls `run()` on the catalog it built.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import rasterio
import requests

from bench.measure import PeakRSS
from bench.run import HERE
from stacgen import constants
from stacgen.assemble.pipeline import BuildOptions, build
from stacgen.imagery import pixels
from stacgen.testing import synthetic
from stacgen.testing.safe import write_safes_for_catalog

PRODUCTS = 37
BANDS = 13


def _labels(catalog: Path) -> list[dict]:  # type: ignore[type-arg]
    folder = catalog / constants.COLLECTION_ID
    return [
        json.loads(p.read_text())
        for p in sorted(folder.glob("*/*.json"))
        if p.stem == p.parent.name
    ]


def two_of_a_tile(catalog: Path) -> tuple[str, str]:
    """Two compact products of one tile (their label grids are the same)."""
    by_tile: dict[str, list[str]] = {}
    for item in _labels(catalog):
        if "_OPER_" not in item["id"]:
            tile = item["id"].split("_")[5]
            by_tile.setdefault(tile, []).append(item["id"])
    pair = next(ids for ids in by_tile.values() if len(ids) >= 2)
    return pair[0], pair[1]


def safes(catalog: Path, first: str, second: str) -> Path:
    """The full-size SAFE of `first`, kept under bench/out/ between runs; `second`'s SAFE has
    its own name and metadata and the same band files (hard links: no second encoding)."""
    size = _labels(catalog)[0]["properties"]["proj:shape"][0]
    folder = HERE / "out" / f"safes-{size}"
    done = folder / ".complete"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        write_safes_for_catalog(catalog, folder, items=[first])
        done.write_text("")
    alias = folder / f"{second}.SAFE"
    if not alias.exists():
        write_safes_for_catalog(catalog, folder, items=[second], bands=["B01"])
        img = next(alias.rglob("IMG_DATA"))
        for path in img.iterdir():
            path.unlink()
        for src in jp2s(folder, first):
            os.link(src, img / src.name)
    return folder


def jp2s(folder: Path, item_id: str) -> list[Path]:
    return sorted((folder / f"{item_id}.SAFE").rglob("IMG_DATA/*.jp2"))


def copy_catalog(catalog: Path, target: Path) -> Path:
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(catalog, target, copy_function=os.link)
    return target


@dataclass(frozen=True)
class Measured:
    """One run: wall seconds, CPU seconds (user + system, every thread) and peak memory."""

    seconds: float
    cpu: float
    peak: int = 0


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_child(command: Sequence[str]) -> Measured:
    """A fresh process: its wall time, its CPU time (from its rusage) and its peak memory."""
    start = time.perf_counter()
    proc = subprocess.Popen(command)
    peak = PeakRSS(proc.pid)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    peak.join()
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(command)}")
    return Measured(seconds, usage.ru_utime + usage.ru_stime, peak.peak)


def stacgen_fetch(catalog: Path, args: Sequence[str]) -> Measured:
    """One `stacgen imagery fetch` run (a fresh process)."""
    command = [
        sys.executable,
        "-m",
        "stacgen",
        "imagery",
        "fetch",
        str(catalog),
        *args,
        "--quiet",
        "--no-validate",
    ]
    return run_child(command)


def decode_floor(files: Sequence[Path], label_width: int, workers: int) -> Measured:
    """Each JP2 read once at full resolution, in the fetch's strips, on `workers` threads."""

    def read(path: Path) -> None:
        with rasterio.Env(**pixels.READ_OPTIONS), rasterio.open(path) as src:
            step = pixels.STRIP_LABEL_ROWS * max(1, round(src.width / label_width))
            for row in range(0, src.height, step):
                src.read(1, window=((row, min(row + step, src.height)), (0, src.width)))

    start, cpu = time.perf_counter(), _cpu_self()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(read, files))
    return Measured(time.perf_counter() - start, _cpu_self() - cpu)


def download_floor(urls: Sequence[str], workers: int) -> Measured:
    """Each file downloaded once, its bytes discarded, on `workers` threads."""

    def get(url: str) -> None:
        with requests.get(url, stream=True, timeout=(30, 30)) as resp:
            resp.raise_for_status()
            for _ in resp.iter_content(1 << 20):
                pass

    start, cpu = time.perf_counter(), _cpu_self()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(get, urls))
    return Measured(time.perf_counter() - start, _cpu_self() - cpu)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run(
    catalog: Path,
    scratch: Path,
    workers: int,
    *,
    flat: bool = True,
    emit: Callable[[str], None] | None = None,
) -> list[str]:
    """The lines `make bench` prints for the imagery fetch, each also given to `emit` as soon
    as it is measured (`flat`: also fetch two products, to compare the peak memory)."""
    lines: list[str] = []

    def say(line: str) -> None:
        lines.append(line)
        if emit:
            emit(line)

    first, second = two_of_a_tile(catalog)
    folder = safes(catalog, first, second)
    files = jp2s(folder, first)
    mib = sum(p.stat().st_size for p in files) / 2**20
    label_width = _labels(catalog)[0]["properties"]["proj:shape"][1]
    say(
        f"imagery: one product, label grid {label_width} px, {len(files)} JP2 bands "
        f"({label_width * 6} px at 10 m), {mib:.0f} MiB, workers {workers}"
    )
    decode = decode_floor(files, label_width, workers)
    say(f"imagery floor: decode every JP2 once {decode.seconds:.1f} s (CPU {decode.cpu:.1f} s)")
    common = ["--provider", "safe", "--safe-dir", str(folder), "--workers", str(workers)]
    local = stacgen_fetch(copy_catalog(catalog, scratch / "img-local"), [*common, "--items", first])
    say(
        f"imagery fetch from a local SAFE: {local.seconds:.1f} s = "
        f"{local.seconds / decode.seconds:.2f}x the decode floor (target <= 1.3x); CPU "
        f"{local.cpu:.1f} s = {local.cpu / decode.cpu:.2f}x the floor's; peak memory "
        f"{local.peak / 2**20:.0f} MiB"
    )
    if flat:
        two = stacgen_fetch(
            copy_catalog(catalog, scratch / "img-two"), [*common, "--items", f"{first},{second}"]
        )
        say(
            f"imagery peak memory with 2 products: {two.peak / 2**20:.0f} MiB (1 product: "
            f"{local.peak / 2**20:.0f} MiB; target < 1024 MiB, flat)"
        )
    download, remote = _remote(catalog, scratch, folder, files, first, workers)
    larger = max(decode.seconds, download.seconds)
    say(
        f"imagery floor: download the same bytes once {download.seconds:.1f} s "
        f"(client CPU {download.cpu:.1f} s)"
    )
    say(
        f"imagery fetch from a loopback server: {remote.seconds:.1f} s = "
        f"{remote.seconds / larger:.2f}x the larger floor (target <= 1.3x); CPU "
        f"{remote.cpu:.1f} s = {remote.cpu / (decode.cpu + download.cpu):.2f}x the floors' sum; "
        f"peak memory {remote.peak / 2**20:.0f} MiB"
    )
    say(
        f"imagery cost for the {PRODUCTS} products: local {local.seconds * PRODUCTS / 60:.0f} "
        f"min, remote {remote.seconds * PRODUCTS / 60:.0f} min, {mib * PRODUCTS / 1024:.1f} GiB "
        "read"
    )
    return lines


def _remote(
    catalog: Path, scratch: Path, folder: Path, files: list[Path], first: str, workers: int
) -> tuple[Measured, Measured]:
    """The download floor, and the fetch of `first` from a loopback server of `folder`."""
    port = _free_port()
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    server = subprocess.Popen(
        [*command, "--directory", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait(base)
        urls = [f"{base}/{p.relative_to(folder).as_posix()}" for p in files]
        download = download_floor(urls, workers)
        remote = _remote_fetch(catalog, scratch / "img-remote", base, folder, first, workers)
    finally:
        server.terminate()
        server.wait(10)
    return download, remote


def _wait(base: str) -> None:
    for _ in range(100):
        try:
            requests.get(base, timeout=2)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise SystemExit(f"{base}: the loopback server did not start")


def _remote_fetch(
    catalog: Path, target: Path, base: str, folder: Path, item_id: str, workers: int
) -> Measured:
    """The fetch of `item_id` with its bands at /vsicurl/ URLs of the loopback server."""
    copy = copy_catalog(catalog, target)
    command = [
        sys.executable,
        "-m",
        "bench.imagery",
        "--remote-child",
        str(copy),
        base,
        str(folder),
        item_id,
        str(workers),
    ]
    return run_child(command)


def remote_child(catalog: str, base: str, folder: str, item_id: str, workers: str) -> None:
    """In a fresh process: fetch with a provider whose bands are the server's /vsicurl/ URLs."""
    from stacgen.imagery import fetch as fetch_module
    from stacgen.imagery.located import Located
    from stacgen.imagery.providers import Settings
    from stacgen.layout.imagery import parse_bands
    from stacgen.source.naming import ProductName, band_of_file

    safe = Path(folder) / f"{item_id}.SAFE"

    class Loopback:
        name = "loopback"

        def locate(self, item: str, product: ProductName) -> Located:
            bands = {}
            for path in safe.rglob("IMG_DATA/*.jp2"):
                band = band_of_file(path.name)
                if band:
                    bands[band] = f"/vsicurl/{base}/{path.relative_to(folder).as_posix()}"
            sizes = {
                b: (safe.parent / p.split(base + "/", 1)[1]).stat().st_size
                for b, p in bands.items()
            }
            return Located(
                "loopback",
                item,
                product,
                "original",
                f"{base}/{safe.name}",
                bands,
                radio_add_offset=dict.fromkeys(bands, 0),
                sizes=sizes,
            )

    setattr(fetch_module, "provider", lambda name, settings: Loopback())  # noqa: B010
    options = fetch_module.FetchOptions(
        Path(catalog),
        "loopback",
        Settings(),
        bands=parse_bands("all"),
        items=(item_id,),
        workers=int(workers),
    )
    fetch_module.fetch(options)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--remote-child":
        remote_child(*sys.argv[2:7])
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=constants.TILE_SIZE_PX)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-flat", action="store_true", help="Skip the two-product fetch.")
    args = parser.parse_args()
    (HERE / "out").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=HERE / "out") as tmp:
        scratch = Path(tmp)
        tgz = scratch / "archive.tgz"
        arles = [f for f in constants.SCENE_FOLDERS if f.tile == "31TFJ"]
        chosen = tuple(arles[:2])
        synthetic.make_archive(tgz, size=args.size, folders=chosen)
        catalog = scratch / "catalog"
        build(BuildOptions(archive=tgz, out=catalog, cache_dir=scratch / "cache", workers=2))
        run(catalog, scratch, args.workers, flat=not args.no_flat, emit=_print)


def _print(line: str) -> None:
    print(line, flush=True)


if __name__ == "__main__":
    main()
