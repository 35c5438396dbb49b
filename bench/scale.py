"""`make bench-scale`: pgstac with 100,000 synthetic items (issue 9's scale benchmark).

The items are copies of a built catalog's items (the test-size synthetic catalog by default,
built once under bench/out/) with new ids, dates shifted by up to ten years, footprints shifted
by up to +-12 degrees and their cloud cover drawn again, so that the filters select a few
items among many. Prints, from one run:
- the load time of `stacgen.publish.pgstac.load_documents` into a throw-away cluster (or DSN);
- search p50/p95 for a bbox + datetime + eo:cloud_cover filter with limit 10, through
  stac-fastapi-pgstac's app on uvicorn (what a user gets), and through pgstac's search function
  in the database alone (the floor);
- the embedded backend at the same size, from `embedded_backend_at_scale` (filled in by the
  serve side: its start time and memory).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
import requests
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb

from stacgen.assemble.pipeline import BuildOptions, build
from stacgen.publish.pgstac import load_documents
from stacgen.stac.reader import read_catalog
from stacgen.testing import synthetic
from stacgen.testing.pgcluster import free_port, temporary_cluster

HERE = Path(__file__).parent
OUT = HERE / "out"
ROOT_HREF = "http://127.0.0.1:8000/"  # where the copied assets would be served; not fetched
TEST_SIZE = 183  # px, the tests' synthetic size: the items' JSON is what matters here
SHIFT_DAYS = 3650
SHIFT_DEGREES = 12.0
TARGET_P95_MS = 250


# --- the items ------------------------------------------------------------------------------------
def source_catalog(catalog: Path | None) -> Path:
    """The catalog whose items are copied: the one given, else a test-size build (made once)."""
    if catalog is not None:
        return catalog
    out = OUT / f"scale-catalog-{TEST_SIZE}"
    if not (out / "catalog.json").is_file():
        tgz = OUT / f"alcd-synthetic-{TEST_SIZE}-38.tgz"
        if not tgz.exists():
            OUT.mkdir(parents=True, exist_ok=True)
            synthetic.make_archive(tgz, size=TEST_SIZE, folders=synthetic.default_folders())
        build(BuildOptions(archive=tgz, out=out, cache_dir=OUT / "scale-cache", workers=2))
    return out


def _shift_coords(value: Any, dx: float, dy: float) -> Any:
    if isinstance(value, list) and value and isinstance(value[0], int | float):
        return [value[0] + dx, value[1] + dy, *value[2:]]
    if isinstance(value, list):
        return [_shift_coords(v, dx, dy) for v in value]
    return value


def _shift(bbox: list[float], n: int) -> tuple[float, float]:
    """A footprint offset for copy n that keeps the bbox on the globe."""
    rng = random.Random(n)
    dx, dy = (rng.uniform(-SHIFT_DEGREES, SHIFT_DEGREES) for _ in range(2))
    if not -180 <= bbox[0] + dx <= bbox[2] + dx <= 180:
        dx = -dx
    if not -85 <= bbox[1] + dy <= bbox[3] + dy <= 85:
        dy = -dy
    return dx, dy


def copy_item(template: bytes, n: int) -> dict[str, Any]:
    """Copy n of an item (given as its JSON): new id, date, footprint and cloud cover."""
    item: dict[str, Any] = orjson.loads(template)
    rng = random.Random(n)
    item["id"] = f"{item['id']}-copy{n:06d}"
    props = item["properties"]
    when = datetime.fromisoformat(props["datetime"]) + timedelta(days=rng.randrange(SHIFT_DAYS))
    props["datetime"] = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    props["eo:cloud_cover"] = round(rng.uniform(0, 100), 4)
    dx, dy = _shift(item["bbox"], n)
    west, south, east, north = item["bbox"]
    item["bbox"] = [west + dx, south + dy, east + dx, north + dy]
    item["geometry"]["coordinates"] = _shift_coords(item["geometry"]["coordinates"], dx, dy)
    return item


def synthetic_items(templates: list[bytes], count: int) -> Iterator[dict[str, Any]]:
    for n in range(count):
        yield copy_item(templates[n % len(templates)], n)


def scale_collection(collection: dict[str, Any]) -> dict[str, Any]:
    """The collection for the copies: no item links, extent widened to cover them."""
    out = {**collection, "links": [x for x in collection["links"] if x.get("rel") != "item"]}
    start = collection["extent"]["temporal"]["interval"][0][0]
    end = datetime.fromisoformat(start) + timedelta(days=SHIFT_DAYS + 800)
    out["extent"] = {
        "spatial": {"bbox": [[-180.0, -90.0, 180.0, 90.0]]},
        "temporal": {"interval": [[start, end.strftime("%Y-%m-%dT%H:%M:%SZ")]]},
    }
    return out


# --- the searches ---------------------------------------------------------------------------------
def search_bodies(items: list[dict[str, Any]], count: int, collection: str) -> list[dict[str, Any]]:
    """Searches a user would make: 4 x 4 degrees around a copy, a year, a cloud cover limit."""
    rng = random.Random(1)
    bodies = []
    for _ in range(count):
        item = copy_item(orjson.dumps(rng.choice(items)), rng.randrange(10**6))
        x, y = (item["bbox"][0] + item["bbox"][2]) / 2, (item["bbox"][1] + item["bbox"][3]) / 2
        start = datetime(2016, 1, 1, tzinfo=UTC) + timedelta(days=rng.randrange(SHIFT_DAYS))
        end = start + timedelta(days=365)
        bodies.append(
            {
                "collections": [collection],
                "bbox": [x - 2, y - 2, x + 2, y + 2],
                "datetime": f"{start:%Y-%m-%dT%H:%M:%SZ}/{end:%Y-%m-%dT%H:%M:%SZ}",
                "filter": {
                    "op": "<=",
                    "args": [{"property": "eo:cloud_cover"}, rng.choice([10, 20, 30, 50])],
                },
                "filter-lang": "cql2-json",
                "limit": 10,
            }
        )
    return bodies


def percentiles(seconds: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[94] * 1000


def timed_each(run: Callable[[dict[str, Any]], int], bodies: list[dict[str, Any]]) -> list[float]:
    for body in bodies[:5]:  # warm the caches and the connection pool
        run(body)
    seconds = []
    for body in bodies:
        start = time.perf_counter()
        run(body)
        seconds.append(time.perf_counter() - start)
    return seconds


def database_searches(dsn: str, bodies: list[dict[str, Any]]) -> tuple[list[float], int]:
    found = 0
    with psycopg.connect(dsn) as conn:
        conn.execute("SET search_path TO pgstac, public")

        def run(body: dict[str, Any]) -> int:
            query = {**body, "conf": {"nohydrate": True}}
            row = conn.execute("SELECT search(%s)", (Jsonb(query),)).fetchone()
            return len(row[0]["features"]) if row else 0

        seconds = timed_each(run, bodies)
        found = sum(run(b) for b in bodies[:20])
    return seconds, found


def plain_pgstac(dsn: str, port: int, **settings: str) -> subprocess.Popen[bytes]:
    """stac-fastapi-pgstac's own app on uvicorn over the database, started (not yet up)."""
    parts = conninfo_to_dict(dsn)
    env = {
        **os.environ,
        "PGUSER": str(parts.get("user") or "postgres"),
        "PGPASSWORD": str(parts.get("password") or ""),
        "PGHOST": str(parts.get("host") or "127.0.0.1"),
        "PGPORT": str(parts.get("port") or 5432),
        "PGDATABASE": str(parts.get("dbname") or "postgres"),
        "USE_API_HYDRATE": "true",  # keeps null properties (pgstac's hydration drops them)
        **settings,
    }
    command = [sys.executable, "-m", "uvicorn", "--factory", "stac_fastapi.pgstac.app:create_app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    return subprocess.Popen(command, env=env)


@contextlib.contextmanager
def pgstac_api(dsn: str) -> Iterator[str]:
    """stac-fastapi-pgstac on uvicorn over the database; yields its URL."""
    port = free_port()
    settings = {
        "STAC_FASTAPI_TITLE": "stacgen bench-scale",
        "STAC_FASTAPI_DESCRIPTION": "synthetic copies of the ALCD items",
        "STAC_FASTAPI_LANDING_ID": "stacgen-bench-scale",
        "STAC_FASTAPI_VERSION": "1.0.0",
    }
    with plain_pgstac(dsn, port, **settings) as server:
        try:
            url = f"http://127.0.0.1:{port}"
            wait_up(url, server)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=30)


def wait_up(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"stac-fastapi-pgstac exited with {server.returncode}")
        with contextlib.suppress(requests.ConnectionError):
            if requests.get(url + "/_mgmt/ping", timeout=5).ok:
                return
        time.sleep(0.2)
    raise SystemExit("stac-fastapi-pgstac did not start within 60 s")


def api_searches(url: str, bodies: list[dict[str, Any]]) -> tuple[list[float], int]:
    with requests.Session() as session:

        def run(body: dict[str, Any]) -> int:
            response = session.post(url + "/search", json=body, timeout=60)
            response.raise_for_status()
            return len(response.json()["features"])

        seconds = timed_each(run, bodies)
        found = sum(run(b) for b in bodies[:20])
    return seconds, found


# --- the embedded backend -------------------------------------------------------------------------
def embedded_backend_at_scale(
    collection: dict[str, Any], items: Callable[[], Iterator[dict[str, Any]]], count: int
) -> list[str]:
    """HOOK for the serve side: the embedded backend's start time and peak memory at `count`
    items (or the size it refuses above), as printed lines. `items()` gives the copies anew."""
    return [f"embedded backend at {count:,} items: not measured here yet (serve side hook)"]


# --- the run --------------------------------------------------------------------------------------
def run(dsn: str, catalog: Path, count: int, searches: int, partition: str | None) -> None:
    docs = read_catalog(catalog, ROOT_HREF)
    [collection] = [scale_collection(c) for c in docs.collections]
    templates = [orjson.dumps(i) for i in docs.items]
    print(f"source: {len(templates)} items of {catalog}; copies: {count:,}")
    print(f"pgstac partitions: {f'one per {partition}' if partition else 'one for the collection'}")

    def copies() -> Iterator[dict[str, Any]]:
        return synthetic_items(templates, count)

    if partition:  # pgstac partitions a collection's items by this period of their datetime
        load_documents(dsn, [collection], [])
        with psycopg.connect(dsn) as conn:
            conn.execute(
                "UPDATE pgstac.collections SET partition_trunc = %s WHERE id = %s",
                (partition, collection["id"]),
            )
    report = load_documents(dsn, [collection], copies())
    rate = report.items / report.seconds
    print(f"pgstac load: {report.items:,} items in {report.seconds:.1f} s ({rate:,.0f} items/s)")
    bodies = search_bodies(docs.items, searches, collection["id"])
    db_s, db_found = database_searches(dsn, bodies)
    p50, p95 = percentiles(db_s)
    print(
        f"pgstac search() in the database, {searches} searches: p50 {p50:.0f} ms, p95 {p95:.0f} ms"
    )
    with pgstac_api(dsn) as url:
        api_s, api_found = api_searches(url, bodies)
    p50, p95 = percentiles(api_s)
    print(
        f"stac-fastapi-pgstac POST /search (bbox + datetime + eo:cloud_cover, limit 10), "
        f"{searches} searches: p50 {p50:.0f} ms, p95 {p95:.0f} ms (target p95 <= {TARGET_P95_MS})"
    )
    print(f"items found by the first 20 searches: {api_found} (database: {db_found})")
    for line in embedded_backend_at_scale(collection, copies, count):
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--catalog", type=Path, help="copy this built catalog's items")
    parser.add_argument("--dsn", help="an existing database instead of a throw-away cluster")
    parser.add_argument(
        "--partition", choices=["year", "month"], help="partition the items by their datetime"
    )
    args = parser.parse_args()
    catalog = source_catalog(args.catalog)
    if args.dsn:
        run(args.dsn, catalog, args.items, args.searches, args.partition)
        return
    with temporary_cluster() as dsn:
        run(dsn, catalog, args.items, args.searches, args.partition)


if __name__ == "__main__":
    main()
