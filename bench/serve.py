"""`make bench` (serving part) and `make bench-scale`: `stacgen serve` measured from outside.

Default: the synthetic archive's 37 items (183 px rasters: serving does not read them) served by
`stacgen serve` (embedded backend) in its own process; 800 searches at concurrency 32 over
loopback, kept-alive connections and a new connection per request; errors, p50 and p99.

--scale N: N synthetic items (copies of the 37 with new ids, dates shifted by days and
footprints moved by whole degrees) written as a static catalog; the embedded backend's start
time and memory at that size (or its refusal above stacgen.serve.catalog.MAX_ITEMS) beside the
37-item catalog's, then each query shape's p50/p95 and server CPU beside its floor (numpy over
the same values plus the page serialised). The pgstac part lives beside this one.
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

import numpy as np
import orjson
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


# --- query shapes at scale -----------------------------------------------------------------------
ROUNDS = 40  # requests per query shape


Shape = tuple[str, str, str, dict[str, Any]]
SINCE, UNTIL = "2017-06-01T00:00:00Z", "2018-06-30T23:59:59Z"


def query_shapes() -> list[Shape]:
    """(name, method, path, parameters): each shape of search a client sends, 10-item pages."""
    ten: dict[str, Any] = {"limit": "10"}
    cover = "eo:cloud_cover"
    shapes: list[Shape] = [
        ("bbox", "GET", "search", {"bbox": "-10,-30,20,10", **ten}),
        ("datetime", "GET", "search", {"datetime": f"{SINCE}/{UNTIL}", **ten}),
        *[
            (f"cql2-text {op}", "GET", "search", {"filter": f"{cover} {op} 20", **ten})
            for op in ("=", "<>", "<", "<=", ">", ">=")
        ],
        ("cql2-text in", "GET", "search", {"filter": f"{cover} IN (0, 20, 50)", **ten}),
        ("cql2-text between", "GET", "search", {"filter": f"{cover} BETWEEN 10 AND 60", **ten}),
        ("cql2-text is null", "GET", "search", {"filter": "eo:snow_cover IS NULL", **ten}),
        ("cql2-text s_intersects", "GET", "search", {
            "filter": "S_INTERSECTS(geometry, POLYGON((-10 -30, 20 -30, 20 10, -10 10, -10 -30)))",
            **ten,
        }),
        ("cql2-text timestamp", "GET", "search", {
            "filter": f"datetime >= TIMESTAMP('{SINCE}')", **ten,
        }),
        ("cql2-text and/or/not", "GET", "search", {
            "filter": "eo:cloud_cover < 40 AND NOT (eo:snow_cover > 5 OR \"alcd:site\" = 'Arles')",
            **ten,
        }),
        ("cql2-json", "POST", "search", {
            "filter": {"op": "and", "args": [
                {"op": "<", "args": [{"property": "eo:cloud_cover"}, 50]},
                {"op": ">=", "args": [{"property": "datetime"}, "2017-01-01T00:00:00Z"]},
            ]},
            "filter-lang": "cql2-json",
            "limit": 10,
        }),
        ("query", "POST", "search", {"query": {"eo:cloud_cover": {"lt": 30}}, "limit": 10}),
        ("bbox + datetime + filter", "POST", "search", {
            "bbox": [-10, -30, 20, 10],
            "datetime": "2016-01-01T00:00:00Z/2019-12-31T23:59:59Z",
            "filter": {"op": "<", "args": [{"property": "eo:cloud_cover"}, 50]},
            "limit": 10,
        }),
        ("sortby", "GET", "search", {"sortby": "-eo:cloud_cover", **ten}),
        ("sortby two keys", "GET", "search", {"sortby": "alcd:site,-datetime", **ten}),
        ("items", "GET", f"collections/{constants.COLLECTION_ID}/items", ten),
    ]  # fmt: skip
    return shapes


def _timed_get(conn: http.client.HTTPConnection, path: str) -> tuple[float, bytes]:
    start = time.perf_counter()
    conn.request("GET", path)
    answer = conn.getresponse()
    body = answer.read()
    seconds = time.perf_counter() - start
    if answer.status != 200:
        raise SystemExit(f"GET {path}: {answer.status} {body[:200]!r}")
    return seconds, body


def _timed(
    conn: http.client.HTTPConnection, api: str, shape: tuple[str, str, str, dict[str, Any]]
) -> tuple[float, bytes]:
    _, method, path, params = shape
    url = urlsplit(api + path).path
    if method == "GET":
        return _timed_get(conn, f"{url}?{urlencode(params)}")
    start = time.perf_counter()
    conn.request("POST", url, json.dumps(params).encode(), {"Content-Type": "application/json"})
    answer = conn.getresponse()
    body = answer.read()
    seconds = time.perf_counter() - start
    if answer.status != 200:
        raise SystemExit(f"POST {path} {params}: {answer.status} {body[:200]!r}")
    return seconds, body


def p95(times: list[float]) -> float:
    return percentile(times, 95) * 1000


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def report_shapes(label: str, api: str, floor: Floor, server: psutil.Process) -> None:
    """Each query shape ROUNDS times in turn on one kept-alive connection: p50 and p95 beside
    the floor, the same selection by numpy over the same values plus the page serialised."""
    conn = http.client.HTTPConnection(urlsplit(api).netloc, timeout=60)
    static = [_timed_get(conn, urlsplit(api).path.rsplit("/api/", 1)[0] + "/catalog.json")[0]
              for _ in range(ROUNDS)]  # fmt: skip
    print(f"{label}: floor, a static file over the same connection: p95 {p95(static):.1f} ms")
    for shape in query_shapes():
        times, body = [], b""
        _timed(conn, api, shape)  # warm-up: the index's first use of a column
        cpu = _cpu(server)
        for _ in range(ROUNDS):
            seconds, body = _timed(conn, api, shape)
            times.append(seconds)
        cpu_ms = (_cpu(server) - cpu) / ROUNDS * 1000
        answer = json.loads(body)
        floor_ms = floor.measure(shape[0], len(answer["features"]))
        print(
            f"{label}: {shape[0]}: {answer['numberMatched']} matched, p50 "
            f"{percentile(times, 50) * 1000:.1f} ms, p95 {p95(times):.1f} ms (target <= 20 ms), "
            f"server CPU {cpu_ms:.1f} ms a search; floor {floor_ms:.2f} ms"
        )
    report_token_pages(label, api, conn, server)


def report_token_pages(
    label: str, api: str, conn: http.client.HTTPConnection, server: psutil.Process
) -> None:
    """ROUNDS pages in a row, each by the `next` link the previous one gave."""
    _, body = _timed(
        conn, api, ("token", "GET", "search", {"filter": "eo:cloud_cover < 50", "limit": "10"})
    )
    times, cpu = [], _cpu(server)
    for _ in range(ROUNDS):
        link = next(lk for lk in json.loads(body)["links"] if lk["rel"] == "next")
        seconds, body = _timed_get(
            conn, urlsplit(link["href"]).path + "?" + urlsplit(link["href"]).query
        )
        times.append(seconds)
    print(
        f"{label}: token pages (next links, {ROUNDS} in a row): p50 "
        f"{percentile(times, 50) * 1000:.1f} ms, p95 {p95(times):.1f} ms (target <= 20 ms), "
        f"server CPU {(_cpu(server) - cpu) / ROUNDS * 1000:.1f} ms a page"
    )


class Floor:
    """What a search cannot cost less than: numpy over the items' values as arrays (read from
    the files here, not by stacgen) selecting the same items, and their page serialised."""

    def __init__(self, folder: Path) -> None:
        self.items = [orjson.loads(p.read_bytes()) for p in sorted(folder.glob("*/*.json"))
                      if p.name != "collection.json"]  # fmt: skip
        props = [i["properties"] for i in self.items]
        self.cloud = np.array([p.get("eo:cloud_cover", np.nan) for p in props], dtype=float)
        when = [p["datetime"].removesuffix("Z").removesuffix("+00:00") for p in props]
        self.when = np.array(when, dtype="datetime64[us]")
        self.bbox = np.array([i["bbox"] for i in self.items], dtype=float)

    def select(self, name: str) -> Any:
        c, box = self.cloud, self.bbox
        if name == "bbox":
            return (box[:, 0] <= 20) & (box[:, 2] >= -10) & (box[:, 1] <= 10) & (box[:, 3] >= -30)
        if name == "datetime":
            return (self.when >= np.datetime64("2017-06-01")) & (
                self.when <= np.datetime64("2018-07-01")
            )
        if name.startswith("sortby"):
            return np.argsort(-c, kind="stable")
        return c < 20

    def measure(self, name: str, count: int) -> float:
        """Milliseconds, the best of ROUNDS: the selection, then `count` items as JSON."""
        best = float("inf")
        for _ in range(ROUNDS):
            start = time.perf_counter()
            chosen = self.select(name)
            page = chosen[:count] if chosen.dtype != bool else np.flatnonzero(chosen)[:count]
            orjson.dumps({"features": [self.items[i] for i in page]})
            best = min(best, time.perf_counter() - start)
        return best * 1000


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
    """`count` items: the embedded backend's start time and memory, then each query shape."""
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
            f"embedded, {count} items: started in {served.start_s:.1f} s (target <= 3 s), "
            f"resident memory {served.rss / 2**20:.0f} MiB (target <= 400 MiB)"
        )
        empty = Served(small_catalog(), port=8732)
        try:
            print(
                f"floor, the 37-item catalog: started in {empty.start_s:.1f} s, resident "
                f"memory {empty.rss / 2**20:.0f} MiB"
            )
        finally:
            empty.stop()
        label = f"embedded, {count} items"
        report_shapes(label, served.root + "api/", Floor(folder), served.process)
        print(f"{label}: resident memory after the searches {served.rss / 2**20:.0f} MiB")
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
