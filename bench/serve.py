"""`make bench` (serving part) and `make bench-scale`: `stacgen serve` measured from outside.

Default (issue 24): the synthetic archive's 37 items (183 px rasters: serving does not read
them); 800 mixed searches (CQL2 text and JSON, bbox, datetime, sort, query, a collection's
items, and the pages after each that the server's own tokens give; 10-item pages) from 32
threads on kept-alive connections over loopback, against, one after the other: the same
answers saved as files and served as static files (the floor), `stacgen serve` (embedded),
`stacgen serve --pgstac` (one process, then one per core) and plain stac-fastapi-pgstac (its
own app) on the same throw-away database. For each: errors, p50, p99, throughput, and the CPU
the server's processes spent per request (and PostgreSQL's, for the database's servers).

--scale N: N synthetic items (copies of the 37 with new ids, dates shifted by days and
footprints moved by whole degrees) written as a static catalog; the embedded backend's start
time and memory at that size (or its refusal above stacgen.serve.catalog.MAX_ITEMS) beside the
37-item catalog's, then each query shape's p50/p95 and server CPU beside its floor (numpy over
the same values plus the page serialised). The pgstac part lives beside this one.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import http.client
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import numpy as np
import orjson
import psutil
import psycopg
import requests

from bench import scale
from stacgen import constants
from stacgen.testing.pgcluster import free_port

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent
SEARCHES = 800
CONCURRENCY = 32
SIZE = 183  # px: the rasters are not read by the API
SERVERS = ("floor", "embedded", "pgstac", "plain")
TARGET_EMBEDDED_MS = 300  # p99 (issue 24)
TARGET_PGSTAC_MS = 500


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
    """`stacgen serve DIR` in its own process (with `options`: --pgstac DSN, --workers N ...);
    its start time and resident memory."""

    def __init__(self, directory: Path, port: int = 8731, options: Sequence[str] = ()) -> None:
        self.root = f"http://127.0.0.1:{port}/"
        command = [BIN / "stacgen", "serve", directory, "--port", str(port), *options]
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


# One request of the load: method, URL (with its query), JSON body (POST) or None.
Ask = tuple[str, str, dict[str, Any] | None]
PAGES = 3  # each search of the load and the pages after it that its server's tokens reach


def first_pages(api: str) -> list[Ask]:
    """The searches of the load, 10-item pages: CQL2 text and JSON, bbox, datetime, sort,
    query, a collection's items."""
    c = constants.COLLECTION_ID
    years = "2016-01-01T00:00:00Z/2019-12-31T23:59:59Z"
    cloudy = {"op": "<", "args": [{"property": "eo:cloud_cover"}, 50]}
    asks: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "search", {"filter": "eo:cloud_cover < 20", "limit": 10}),
        ("POST", "search", {"bbox": [-10, 30, 40, 60], "datetime": years, "filter": cloudy}),
        ("GET", "search", {"sortby": "-eo:cloud_cover", "limit": 10}),
        ("POST", "search", {"query": {"eo:cloud_cover": {"lt": 30}}, "limit": 10}),
        ("GET", f"collections/{c}/items", {"limit": 10}),
        ("GET", "search", {"bbox": "-180,-60,180,60", "datetime": years, "limit": 10}),
        ("POST", "search", {"sortby": [{"field": "datetime", "direction": "desc"}]}),
    ]
    out: list[Ask] = []
    for method, path, params in asks:
        if method == "GET":
            out.append((method, f"{api}{path}?{urlencode(params)}", None))
        else:
            out.append((method, api + path, {"limit": 10, **params}))
    return out


def send(ask: Ask) -> requests.Response:
    method, url, body = ask
    return requests.request(method, url, json=body, timeout=120)


def next_page(ask: Ask, page: dict[str, Any]) -> Ask | None:
    """The request for the page after `page`, from the `next` link its server gave."""
    for link in page.get("links", []):
        if link.get("rel") != "next":
            continue
        method = str(link.get("method", "GET")).upper()
        body = link.get("body") if method == "POST" else None
        if method == "POST" and link.get("merge"):
            body = {**(ask[2] or {}), **(body or {})}
        return method, str(link["href"]), body
    return None


def paged(api: str) -> list[Ask]:
    """Each first page and the pages after it (up to PAGES) as this server's tokens give
    them: walked once before the load, not measured."""
    asks: list[Ask] = []
    for first in first_pages(api):
        ask: Ask | None = first
        for _ in range(PAGES):
            if ask is None:
                break
            asks.append(ask)
            answer = send(ask)
            ask = next_page(ask, answer.json()) if answer.status_code == 200 else None
    return asks


def load(asks: list[Ask]) -> tuple[int, list[float]]:
    """SEARCHES requests (`asks` in turn) from CONCURRENCY threads, each on its kept-alive
    connection: (errors, seconds of each good one).

    http.client, not requests: the client shares the machine's 2 cores with the server, and
    requests' own overhead per call would be measured as the server's.
    """
    local = threading.local()
    todo = itertools.islice(itertools.cycle(asks), SEARCHES)
    netloc = urlsplit(asks[0][1]).netloc

    def one(ask: Ask) -> tuple[bool, float]:
        method, url, params = ask
        conn: http.client.HTTPConnection | None = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection(netloc, timeout=60)
        parts = urlsplit(url)
        target = f"{parts.path}?{parts.query}" if parts.query else parts.path
        start = time.perf_counter()
        try:
            if method == "POST":
                headers = {"Content-Type": "application/json"}
                conn.request("POST", target, json.dumps(params).encode(), headers)
            else:
                conn.request("GET", target)
            answer = conn.getresponse()
            ok = answer.status == 200 and b'"features"' in answer.read()
        except (OSError, http.client.HTTPException):
            ok = False
            conn.close()
            local.conn = None
        return ok, time.perf_counter() - start

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        results = list(pool.map(one, todo))
    return sum(1 for ok, _ in results if not ok), [s for ok, s in results if ok]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def cpu_seconds(processes: Sequence[psutil.Process]) -> dict[int, float]:
    """User + system CPU seconds of each process and its children, by pid."""
    seen: dict[int, float] = {}
    for proc in processes:
        with contextlib.suppress(psutil.Error):
            for each in [proc, *proc.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    seen[each.pid] = sum(each.cpu_times()[:2])
    return seen


def spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two `cpu_seconds` readings (a process started since counts whole;
    one ended since is lost: the servers and PostgreSQL keep theirs for the load)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def report_load(
    label: str,
    asks: list[Ask],
    server: psutil.Process,
    target_ms: int | None = None,
    database: psutil.Process | None = None,
) -> None:
    """The load against one server: errors, p50, p99, throughput, its CPU per request (and
    PostgreSQL's when it answers from a database)."""
    # Warm-up, not measured: each page once, then CONCURRENCY at once (the server's
    # connection pool grows to its size, as it has under any steady load).
    for ask in asks:
        send(ask).raise_for_status()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        for answer in pool.map(send, itertools.islice(itertools.cycle(asks), 2 * CONCURRENCY)):
            answer.raise_for_status()
    start, cpu = time.perf_counter(), cpu_seconds([server])
    db_cpu = cpu_seconds([database]) if database else {}
    errors, times = load(asks)
    wall = time.perf_counter() - start
    per_request = spent(cpu, cpu_seconds([server])) / SEARCHES * 1000
    in_db = ""
    if database is not None:
        in_db = (
            f" + {spent(db_cpu, cpu_seconds([database])) / SEARCHES * 1000:.1f} ms in PostgreSQL"
        )
    p50, p99 = percentile(times, 50) * 1000, percentile(times, 99) * 1000
    target = f" (target <= {target_ms} ms)" if target_ms else ""
    print(
        f"{label}: {SEARCHES} searches, concurrency {CONCURRENCY}, kept-alive, {len(asks)} "
        f"distinct 10-item pages: {errors} errors, p50 {p50:.0f} ms, p99 {p99:.0f} ms{target}, "
        f"{SEARCHES / wall:.0f}/s, API CPU {per_request:.1f} ms a request{in_db}",
        flush=True,
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
    return _timed_request(conn, "GET", path, None, f"GET {path}")


def _timed_request(
    conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None, label: str
) -> tuple[float, bytes]:
    """One request's seconds, start to the last byte, and its body; anything but 200 stops."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    start = time.perf_counter()
    conn.request(method, path, body, headers)
    answer = conn.getresponse()
    content = answer.read()
    seconds = time.perf_counter() - start
    if answer.status != 200:
        raise SystemExit(f"{label}: {answer.status} {content[:200]!r}")
    return seconds, content


def _timed(
    conn: http.client.HTTPConnection, api: str, shape: tuple[str, str, str, dict[str, Any]]
) -> tuple[float, bytes]:
    _, method, path, params = shape
    url = urlsplit(api + path).path
    if method == "GET":
        return _timed_get(conn, f"{url}?{urlencode(params)}")
    body = json.dumps(params).encode()
    return _timed_request(conn, "POST", url, body, f"POST {path} {params}")


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
def floor_folder(catalog: Path, asks: list[Ask]) -> tuple[Path, list[Ask]]:
    """A copy of `catalog` with the embedded server's answer to each of `asks` saved as a file
    beside it: the same bytes, to be served as static files (the floor)."""
    folder = HERE / "out" / "serve-floor"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(catalog, folder)
    (folder / "answers").mkdir()
    names = []
    for k, ask in enumerate(asks):
        answer = send(ask)
        answer.raise_for_status()
        (folder / "answers" / f"{k}.json").write_bytes(answer.content)
        names.append(f"answers/{k}.json")
    return folder, [("GET", name, None) for name in names]


def plain_pgstac(dsn: str, port: int) -> subprocess.Popen[bytes]:
    """stac-fastapi-pgstac's own app on uvicorn over the database (as bench/scale.py runs it)."""
    server = scale.plain_pgstac(dsn, port)
    try:
        scale.wait_up(f"http://127.0.0.1:{port}", server)
    except SystemExit:
        server.terminate()
        raise
    return server


def postmaster(dsn: str) -> psutil.Process:
    """The cluster's postmaster, whose children are the backends that answer the searches."""
    with psycopg.connect(dsn) as conn:  # its backend ends with the connection: asked within
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        parent = psutil.Process(int(row[0])).parent()
    assert parent is not None
    return parent


def _polygon(west: float, south: float, east: float, north: float) -> dict[str, Any]:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def database_bodies() -> list[dict[str, Any]]:
    """The first pages of `first_pages` as pgstac's search() takes them, written out here
    (not by the code under test): a bbox as its polygon, `query` as a CQL2 filter, ties by id,
    counted (numberMatched), not hydrated, as `stacgen serve --pgstac` asks."""
    years = "2016-01-01T00:00:00Z/2019-12-31T23:59:59Z"

    def below(value: int) -> dict[str, Any]:
        return {"op": "<", "args": [{"property": "eo:cloud_cover"}, value]}

    by_id = {"field": "id", "direction": "asc"}
    searches: list[dict[str, Any]] = [
        {"filter": below(20)},
        {"intersects": _polygon(-10, 30, 40, 60), "datetime": years, "filter": below(50)},
        {"sortby": [{"field": "eo:cloud_cover", "direction": "desc"}, by_id]},
        {"filter": below(30)},
        {"collections": [constants.COLLECTION_ID]},
        {"intersects": _polygon(-180, -60, 180, 60), "datetime": years},
        {"sortby": [{"field": "datetime", "direction": "desc"}, by_id]},
    ]
    conf = {"context": "on", "nohydrate": True, "readonly": False}
    return [{"limit": 10, "conf": conf, **s} for s in searches]


def report_database(dsn: str, database: psutil.Process) -> None:
    """The floor of the database's servers: the same searches and the pages their tokens give,
    straight to pgstac's search() from CONCURRENCY threads over POOL connections (as many as
    the server's pool holds), with the server's pgstac.readonly."""
    from psycopg.types.json import Jsonb
    from psycopg_pool import ConnectionPool

    from stacgen.serve.pgstac import POOL_SIZE

    options = "-c search_path=pgstac,public -c pgstac.readonly=true"
    with ConnectionPool(
        dsn, min_size=POOL_SIZE[1], max_size=POOL_SIZE[1], kwargs={"options": options}
    ) as pool:

        def search(body: dict[str, Any]) -> str:
            with pool.connection() as conn:
                row = conn.execute("SELECT search(%s)::text", (Jsonb(body),)).fetchone()
            assert row is not None
            return str(row[0])

        bodies = []
        for first in database_bodies():
            body: dict[str, Any] | None = first
            for _ in range(PAGES):
                if body is None:
                    break
                bodies.append(body)
                links = json.loads(search(body)).get("links", [])
                token = next(
                    (x["href"].split("token=")[1] for x in links if x["rel"] == "next"), None
                )
                body = {**first, "token": token} if token else None

        def one(body: dict[str, Any]) -> float:
            start = time.perf_counter()
            search(body)
            return time.perf_counter() - start

        todo = list(itertools.islice(itertools.cycle(bodies), SEARCHES))
        with ThreadPoolExecutor(CONCURRENCY) as threads:  # warm-up, as report_load's
            list(threads.map(one, todo[: 2 * CONCURRENCY]))
        start, cpu = time.perf_counter(), cpu_seconds([database])
        with ThreadPoolExecutor(CONCURRENCY) as threads:
            times = list(threads.map(one, todo))
        wall = time.perf_counter() - start
        db_ms = spent(cpu, cpu_seconds([database])) / SEARCHES * 1000
    p50, p99 = percentile(times, 50) * 1000, percentile(times, 99) * 1000
    print(
        f"pgstac search() in the database alone (floor of the two below), {POOL_SIZE[1]} "
        f"connections: {SEARCHES} searches, concurrency {CONCURRENCY}, {len(bodies)} distinct "
        f"10-item pages: p50 {p50:.0f} ms, p99 {p99:.0f} ms, {SEARCHES / wall:.0f}/s, "
        f"{db_ms:.1f} ms in PostgreSQL a search",
        flush=True,
    )


def on_database(catalog: Path, servers: set[str]) -> None:
    """`stacgen serve --pgstac` and plain stac-fastapi-pgstac, one after the other, on the same
    throw-away database loaded from `catalog`."""
    from stacgen.publish.pgstac import load as load_pgstac
    from stacgen.testing.pgcluster import temporary_cluster

    port = free_port()
    root = f"http://127.0.0.1:{port}/"
    with temporary_cluster() as dsn:
        load_pgstac(dsn, catalog, root)  # asset hrefs under the stacgen server's URL
        database = postmaster(dsn)
        report_database(dsn, database)
        for workers in sorted({1, os.cpu_count() or 1}) if "pgstac" in servers else []:
            served = Served(catalog, port, ["--pgstac", dsn, "--workers", str(workers)])
            try:
                if served.error:
                    raise SystemExit(f"stacgen serve --pgstac failed: {served.error}")
                label = f"stacgen serve --pgstac --workers {workers}"
                asks = paged(served.root + "api/")
                report_load(label, asks, served.process, TARGET_PGSTAC_MS, database)
            finally:
                served.stop()
        if "plain" in servers:
            plain_port = free_port()
            plain = plain_pgstac(dsn, plain_port)
            try:
                asks = paged(f"http://127.0.0.1:{plain_port}/")
                label = "plain stac-fastapi-pgstac (its own app)"
                report_load(label, asks, psutil.Process(plain.pid), None, database)
            finally:
                plain.terminate()
                plain.wait(timeout=30)


def bench_embedded(servers: Sequence[str] = SERVERS) -> None:
    """The 37 items (part of `make bench`): the search load against the static-file floor,
    `stacgen serve` (embedded), `stacgen serve --pgstac` and plain stac-fastapi-pgstac on the
    same database, one after the other."""
    wanted = set(servers)
    print(f"machine load before the serving bench (uptime): {os.getloadavg()}", flush=True)
    catalog = small_catalog()
    served = Served(catalog, free_port())
    try:
        if served.error:
            raise SystemExit(f"stacgen serve failed: {served.error}")
        asks = paged(served.root + "api/")
        floor, floor_asks = floor_folder(catalog, asks)
        if "embedded" in wanted:
            label = "stacgen serve (embedded)"
            report_load(label, asks, served.process, TARGET_EMBEDDED_MS)
    finally:
        served.stop()
    if "floor" in wanted:
        static = Served(floor, free_port())
        try:
            located = [(m, static.root + path, b) for m, path, b in floor_asks]
            report_load("the same bytes as static files (floor)", located, static.process)
        finally:
            static.stop()
    if wanted & {"pgstac", "plain"}:
        on_database(catalog, wanted)


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
    parser.add_argument(
        "--servers", nargs="*", choices=SERVERS, default=list(SERVERS), help="the 37-item part"
    )
    args = parser.parse_args(argv)
    if args.scale:
        for count in args.scale:
            bench_scale(count)
    else:
        bench_embedded(args.servers)


if __name__ == "__main__":
    main()
