"""Publishing the full-size catalog to a local S3 server (moto), against the floor.

The floor is one plain parallel upload of the same files with the same client (obstore, same
number of threads, no metadata, no order); the publish adds staging the absolute variant,
validating it, listing the bucket and the phase barriers. Then the no-op publish (the `stacgen
publish` command, start-up included) must take less than 2 s; its floor is the command's
start-up alone (`stacgen --version`).

Beside each wall time, the CPU seconds it took (this process's threads, and moto's, which does
most of the floor's work): on a shared machine the wall times grow with the load (printed at
the start and the end), the CPU seconds hardly do.
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import obstore
import psutil
import requests
from obstore.store import S3Store

from stacgen.publish.absolute import public_files
from stacgen.publish.pipeline import PublishOptions, publish
from stacgen.publish.store import MULTIPART_CHUNK
from stacgen.stac.schemas import schema_source

BIN = Path(sys.executable).parent
WORKERS = 8
KEY = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}


@dataclass(frozen=True)
class Took:
    """One measured run: wall seconds, and CPU seconds here and in the S3 server."""

    wall: float
    cpu: float
    server_cpu: float

    def __str__(self) -> str:
        return f"{self.wall:.2f} s (CPU {self.cpu:.2f} s here + {self.server_cpu:.2f} s moto)"

    def alone(self) -> str:
        return f"{self.wall:.2f} s (CPU {self.cpu:.2f} s)"

    @property
    def total_cpu(self) -> float:
        return self.cpu + self.server_cpu


def _cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def measure(server: psutil.Process, run: Callable[[], object]) -> Took:
    server_before, before, start = _cpu(server), time.process_time(), time.perf_counter()
    run()
    wall = time.perf_counter() - start
    return Took(wall, time.process_time() - before, _cpu(server) - server_before)


def load() -> str:
    one, _, _ = os.getloadavg()
    return f"{one:.1f} on {os.cpu_count()} cores"


@contextmanager
def moto_server(log: Path) -> Iterator[tuple[str, psutil.Process]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=out
        )
        endpoint = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    requests.get(endpoint, timeout=1)
                    break
                except (requests.ConnectionError, requests.Timeout):  # still starting
                    time.sleep(0.1)
            yield endpoint, psutil.Process(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def _store(endpoint: str, bucket: str) -> S3Store:
    requests.put(f"{endpoint}/{bucket}", timeout=10).raise_for_status()  # moto: no auth needed
    return S3Store(
        bucket, endpoint=endpoint, region="us-east-1", client_options={"allow_http": True}
    )


def floor(catalog: Path, endpoint: str, bucket: str) -> float:
    store = _store(endpoint, bucket)
    files = public_files(catalog)
    start = time.perf_counter()

    def put(path: Path) -> None:
        # the publish's own multipart threshold and part size: the same client, set the same way
        size = path.stat().st_size
        key = path.relative_to(catalog).as_posix()
        use_multipart = size > MULTIPART_CHUNK
        obstore.put(store, key, path, use_multipart=use_multipart, chunk_size=MULTIPART_CHUNK)

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(put, files))
    return time.perf_counter() - start


def first_publish(catalog: Path, endpoint: str, bucket: str, memo: Path) -> float:
    _store(endpoint, bucket)
    options = PublishOptions(
        source=catalog,
        to=f"s3://{bucket}/alcd",
        root_href=f"{endpoint}/{bucket}/alcd",
        schemas=schema_source(),
        endpoint_url=endpoint,
        workers=WORKERS,
        memo_dir=memo,
        allow_unread_license=True,  # the synthetic catalog is built without a Zenodo record
    )
    start = time.perf_counter()
    report = publish(options)
    assert len(report.plan.send) == len(public_files(catalog)), "the bucket was empty"
    return time.perf_counter() - start


def noop_publish(
    server: psutil.Process, catalog: Path, endpoint: str, bucket: str, cache: Path
) -> tuple[Took, str]:
    """`stacgen publish` again, as a user runs it (its cache: STACGEN_CACHE_DIR)."""
    command: list[object] = [BIN / "stacgen", "publish", catalog, "--to", f"s3://{bucket}/alcd"]
    command += ["--root-href", f"{endpoint}/{bucket}/alcd", "--endpoint-url", endpoint, "--quiet"]
    command += ["--allow-unread-license"]  # the synthetic catalog has no Zenodo record
    server_before = _cpu(server)
    took, out = _command(command, {"STACGEN_CACHE_DIR": str(cache)})
    took = Took(took.wall, took.cpu, _cpu(server) - server_before)
    return took, out.strip().splitlines()[-1]


def _command(command: list[object], env: dict[str, str]) -> tuple[Took, str]:
    """Run a command: its wall time and its CPU seconds (its own, not a server's)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [str(c) for c in command],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return Took(wall, cpu, 0.0), done.stdout


def startup_floor() -> Took:
    """The command's start-up alone: Python, click and stacgen's CLI imported, nothing done."""
    took, _ = _command([BIN / "stacgen", "--version"], {})
    return took


def report(catalog: Path, scratch: Path) -> None:
    """Print the publish lines for a built catalog folder.

    Floor and publish run three times, alternately, each into an empty bucket; the best of each is
    kept (the machine is shared: one run alone is noisy). Every run of the publish is printed:
    the first also pays for importing the validator and stac-geoparquet. (Each bucket is its
    own root href, so every run writes its items.parquet.)
    """
    os.environ.update(KEY)
    files = public_files(catalog)
    size = sum(p.stat().st_size for p in files)
    cache = scratch / "publish-cache"
    load_before = load()
    with moto_server(scratch / "moto.log") as (endpoint, server):
        floors, publishes = [], []
        for run in (1, 2, 3):
            floors.append(measure(server, partial(floor, catalog, endpoint, f"floor-{run}")))
            sending = partial(first_publish, catalog, endpoint, f"pub-{run}", cache / "publish")
            publishes.append(measure(server, sending))
        start = min((startup_floor() for _ in range(3)), key=lambda t: t.wall)
        noop, said = noop_publish(server, catalog, endpoint, "pub-3", cache)
        cold, _ = noop_publish(server, catalog, endpoint, "pub-3", scratch / "empty-cache")
    best_floor = min(floors, key=lambda t: t.wall)
    best = min(publishes, key=lambda t: t.wall)
    print(f"machine load (1-min average): {load_before} at the start, {load()} at the end")
    print(
        f"publish: {len(files)} files, {size / 1e6:.0f} MB to moto on 127.0.0.1, {WORKERS} threads"
    )
    print(f"publish floor (plain parallel obstore put of the same files): {best_floor}")
    runs = ", ".join(f"{t.wall:.2f} s" for t in publishes[1:])
    print(
        f"publish (stage, validate, list, upload in phases): {best} "
        f"(runs: {publishes[0].wall:.2f} s with the first imports, {runs})"
    )
    print(f"publish / floor: {best.wall / best_floor.wall:.2f}x (target <= 1.3x)")
    print(
        f"publish / floor in CPU seconds (here + moto): "
        f"{best.total_cpu / best_floor.total_cpu:.2f}x"
    )
    print(f"no-op publish floor (stacgen --version: start-up alone): {start.alone()}")
    print(f"no-op publish (stacgen publish, nothing sent): {noop} (target < 2 s)")
    print(f"no-op said: {said}")
    print(f"no-op publish from another machine (a HEAD per object): {cold.wall:.2f} s")


def main() -> None:
    """`make bench-publish`: build the full-size catalog (as `make bench` does), then publish."""
    from bench.run import archive, run_build
    from stacgen import constants

    tgz = archive(constants.TILE_SIZE_PX)
    (Path(__file__).parent / "out").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=Path(__file__).parent / "out") as tmp:
        scratch = Path(tmp)
        run_build(tgz, scratch / "catalog", scratch / "cache", os.cpu_count() or 1)
        report(scratch / "catalog", scratch)


if __name__ == "__main__":
    main()
