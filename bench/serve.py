"""`make bench` (serving part) and `make bench-scale`: `stacgen serve` measured from outside.

Default: the synthetic archive's 37 items (183 px rasters: serving does not read them) served by
`stacgen serve` (embedded backend) in its own process; 800 searches at concurrency 32 over
loopback, kept-alive connections and a new connection per request; errors, p50 and p99.

--scale N: N synthetic items (copies of the 37 with new ids, dates shifted by days and
footprints moved by whole degrees) written as a static catalog; the embedded backend's start
time and memory at that size (or its refusal above stacgen.serve.catalog.MAX_ITEMS), and the
same search load against it. The pgstac part of the scale benchmark lives beside this one.
"""

from __future__ import annotations

import argparse
import copy
import http.client
import itertools
import json
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import psutil
import requests

from stacgen import constants

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent
SEARCHES = 800
CONCURRENCY = 32
SIZE = 183  # px: the rasters are not read by the API


# --- catalogs -------------------------------------------------------------------------------------
def small_catalog() -> Path:
    """The 37-item catalog of the synthetic archive, built once under bench/out/."""
    from bench.run import archive

    out = HERE / "out" / f"serve-catalog-{SIZE}"
    if not (out / "catalog.json").is_file():
        tgz = archive(SIZE)
        cache = HERE / "out" / "serve-cache"
        command = [BIN / "stacgen", "build", "--archive", tgz, "--out", out]
        subprocess.run([*map(str, command), "--cache-dir", str(cache), "--quiet"], check=True)
    return out


def _shifted(item: dict[str, Any], k: int) -> dict[str, Any]:
    """Copy `k` of an item: a new id, dates k days later, the footprint k % 40 degrees east."""
    new = copy.deepcopy(item)
    new["id"] = f"{item['id']}-{k:06d}"
    props = new["properties"]
    for name in ("datetime", "start_datetime", "end_datetime"):
        if props.get(name):
            when = datetime.fromisoformat(props[name]) + timedelta(days=k)
            props[name] = when.isoformat().replace("+00:00", "Z")
    dx = float(k % 40)
    new["bbox"] = [v + dx if i % 2 == 0 else v for i, v in enumerate(new["bbox"])]
    new["geometry"] = _moved(new["geometry"], dx)
    new["links"] = [lk for lk in new["links"] if lk.get("rel") not in ("self", "parent", "root")]
    new["links"] += [
        {"rel": "root", "href": "../catalog.json", "type": "application/json"},
        {"rel": "parent", "href": "collection.json", "type": "application/json"},
    ]
    return new


def _moved(geometry: dict[str, Any], dx: float) -> dict[str, Any]:
    def move(coords: Any) -> Any:
        if coords and isinstance(coords[0], int | float):
            return [coords[0] + dx, *coords[1:]]
        return [move(c) for c in coords]

    return {**geometry, "coordinates": move(geometry["coordinates"])}


def scaled_catalog(source: Path, count: int) -> Path:
    """`count` items derived from `source`'s, flat in one collection folder (built once)."""
    out = HERE / "out" / f"serve-scaled-{count}"
    if (out / "catalog.json").is_file():
        return out
    shutil.rmtree(out, ignore_errors=True)
    folder = out / constants.COLLECTION_ID
    folder.mkdir(parents=True)
    collection = json.loads((source / constants.COLLECTION_ID / "collection.json").read_text())
    originals = [
        json.loads(p.read_text())
        for p in sorted((source / constants.COLLECTION_ID).glob("*/*.json"))
        if p.stem == p.parent.name  # the item, not the statistics beside it
    ]
    links = [lk for lk in collection["links"] if lk.get("rel") != "item"]
    for k, item in zip(range(count), itertools.cycle(originals), strict=False):
        new = _shifted(item, k // len(originals))
        (folder / f"{new['id']}.json").write_text(json.dumps(new))
        links.append({"rel": "item", "href": f"./{new['id']}.json", "type": "application/json"})
    collection["links"] = links
    (folder / "collection.json").write_text(json.dumps(collection))
    shutil.copy(source / "catalog.json", out / "catalog.json")
    return out


# --- the server -----------------------------------------------------------------------------------
class Served:
    """`stacgen serve DIR` in its own process; its start time and resident memory."""

    def __init__(self, directory: Path, port: int = 8731) -> None:
        self.root = f"http://127.0.0.1:{port}/"
        command = [BIN / "stacgen", "serve", directory, "--port", str(port)]
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            [str(c) for c in command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.error = ""
        while self.proc.poll() is None:
            try:
                requests.get(f"{self.root}api/", timeout=1).raise_for_status()
                break
            except requests.RequestException:
                time.sleep(0.1)
        self.start_s = time.perf_counter() - started
        if self.proc.poll() is not None:
            self.error = (self.proc.stderr.read() if self.proc.stderr else "").strip()

    @property
    def process(self) -> psutil.Process:
        return psutil.Process(self.proc.pid)

    @property
    def rss(self) -> int:
        return int(self.process.memory_info().rss)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


# --- the load -------------------------------------------------------------------------------------
def requests_mix(api: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """What a cloud-mask user asks, in turn: by cloud cover, place and time, sorted, paged."""
    mix: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "search", {"filter": "eo:cloud_cover < 20", "limit": "10"}),
        (
            "POST",
            "search",
            {
                "bbox": [-10, 30, 40, 60],
                "datetime": "2016-01-01T00:00:00Z/2019-12-31T23:59:59Z",
                "filter": {"op": "<", "args": [{"property": "eo:cloud_cover"}, 50]},
                "limit": 10,
            },
        ),
        ("GET", "search", {"sortby": "-eo:cloud_cover", "limit": "10"}),
        ("POST", "search", {"query": {"eo:cloud_cover": {"lt": 30}}, "limit": 10}),
        ("GET", f"collections/{constants.COLLECTION_ID}/items", {"limit": "10"}),
    ]
    for method, path, params in itertools.cycle(mix):
        yield method, api + path, params


def load(api: str, keep_alive: bool) -> tuple[int, list[float]]:
    """SEARCHES requests from CONCURRENCY threads: (errors, seconds of each good one).

    http.client, not requests: the client shares the machine's 2 cores with the server, and
    requests' own overhead per call would be measured as the server's.
    """
    local = threading.local()
    lock = threading.Lock()
    todo = iter(itertools.islice(requests_mix(api), SEARCHES))
    errors, times = 0, []
    netloc = urlsplit(api).netloc

    def connection() -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(local, "conn", None)
        if conn is None or not keep_alive:
            conn = http.client.HTTPConnection(netloc, timeout=60)
            local.conn = conn
        return conn

    def one(request: tuple[str, str, dict[str, Any]]) -> tuple[bool, float]:
        method, url, params = request
        conn = connection()
        start = time.perf_counter()
        try:
            if method == "POST":
                body = json.dumps(params).encode()
                headers = {"Content-Type": "application/json"}
                conn.request("POST", urlsplit(url).path, body, headers)
            else:
                conn.request("GET", f"{urlsplit(url).path}?{urlencode(params)}")
            answer = conn.getresponse()
            ok = answer.status == 200 and b'"features"' in answer.read()
        except (OSError, http.client.HTTPException):
            ok = False
            local.conn = None
        finally:
            if not keep_alive:
                conn.close()
        return ok, time.perf_counter() - start

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        for ok, seconds in pool.map(one, todo):
            with lock:
                if ok:
                    times.append(seconds)
                else:
                    errors += 1
    return errors, times


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def report_load(label: str, api: str, server: psutil.Process) -> None:
    for method, url, params in itertools.islice(requests_mix(api), 5):  # warm-up, not measured
        if method == "GET":
            requests.get(url, params=params, timeout=60).raise_for_status()
        else:
            requests.post(url, json=params, timeout=60).raise_for_status()
    for keep_alive in (True, False):
        how = "kept-alive connections" if keep_alive else "a new connection per request"
        start, cpu = time.perf_counter(), sum(server.cpu_times()[:2])
        errors, times = load(api, keep_alive)
        wall = time.perf_counter() - start
        per_request = (sum(server.cpu_times()[:2]) - cpu) / SEARCHES * 1000
        p50, p99 = percentile(times, 50) * 1000, percentile(times, 99) * 1000
        print(
            f"{label}: {SEARCHES} searches, concurrency {CONCURRENCY}, {how}: {errors} errors, "
            f"p50 {p50:.0f} ms, p99 {p99:.0f} ms (target <= 250 ms), {SEARCHES / wall:.0f}/s, "
            f"server CPU {per_request:.1f} ms a search"
        )


def report_sequential(label: str, api: str, rounds: int = 4) -> None:
    """Each search of the mix alone, `rounds` times: the embedded backend scans every item,
    so at scale one search's latency is what matters (the concurrent load is for 37 items)."""
    mix = list(itertools.islice(requests_mix(api), 5))
    for method, url, params in mix:
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            if method == "GET":
                answer = requests.get(url, params=params, timeout=600)
            else:
                answer = requests.post(url, json=params, timeout=600)
            answer.raise_for_status()
            times.append(time.perf_counter() - start)
        what = json.dumps(params)[:70]
        print(
            f"{label}: {method} {url.rsplit('/api/', 1)[1]} {what}: "
            f"median {statistics.median(times) * 1000:.0f} ms"
        )


# --- entry points ---------------------------------------------------------------------------------
def bench_embedded() -> None:
    """The 37 items: the search load (part of `make bench`)."""
    served = Served(small_catalog())
    try:
        if served.error:
            raise SystemExit(f"stacgen serve failed: {served.error}")
        report_load("embedded, 37 items", served.root + "api/", served.process)
    finally:
        served.stop()


def bench_scale(count: int) -> None:
    """`count` items: the embedded backend's start time and memory, then the search load."""
    start = time.perf_counter()
    folder = scaled_catalog(small_catalog(), count)
    print(f"{count} synthetic items written in {time.perf_counter() - start:.0f} s ({folder})")
    served = Served(folder)
    try:
        if served.error:
            last = served.error.splitlines()[-1]
            print(f"embedded, {count} items: refused after {served.start_s:.1f} s: {last}")
            return
        print(
            f"embedded, {count} items: started in {served.start_s:.1f} s, "
            f"resident memory {served.rss / 2**20:.0f} MiB"
        )
        report_sequential(f"embedded, {count} items", served.root + "api/")
    finally:
        served.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=int, nargs="*", help="item counts, e.g. 10000 100000")
    args = parser.parse_args(argv)
    if args.scale:
        for count in args.scale:
            bench_scale(count)
    else:
        bench_embedded()


if __name__ == "__main__":
    main()
