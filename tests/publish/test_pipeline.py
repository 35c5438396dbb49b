"""Publishing to an S3-compatible server (moto): readers, incremental sends, deletes, errors."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import numpy as np
import pystac
import pytest
import rasterio
import requests
from click.testing import CliRunner
from pystac_client import Client
from rasterio.windows import Window

from stacgen.cli import main
from stacgen.publish.pgstac import load
from stacgen.publish.plan import LocalFile
from stacgen.publish.store import Store, StoreError
from stacgen.serve import serve
from tests.publish.cli import one_error_line
from tests.publish.s3 import Bucket, S3Server, run_publish

COLLECTION = "alcd-reference-cloud-masks"


def item_ids(catalog: Path) -> list[str]:
    """The item ids the local catalog's collection links to (read without stacgen)."""
    collection = json.loads((catalog / COLLECTION / "collection.json").read_text())
    return sorted(Path(link["href"]).stem for link in collection["links"] if link["rel"] == "item")


def drop_scene(catalog: Path, item_id: str) -> None:
    """The catalog as a build without that scene writes it: folder and item link gone."""
    shutil.rmtree(catalog / COLLECTION / item_id)
    path = catalog / COLLECTION / "collection.json"
    collection = json.loads(path.read_text())
    collection["links"] = [
        link for link in collection["links"] if not link["href"].endswith(f"/{item_id}.json")
    ]
    path.write_text(json.dumps(collection, indent=2))


def test_public_catalog_reaches_every_item_over_http(
    built_catalog: Path, bucket: Bucket, schemas: Path
) -> None:
    run_publish(built_catalog, bucket, schemas)
    root = pystac.Catalog.from_file(f"{bucket.root_href}/catalog.json")
    items = list(root.get_items(recursive=True))
    assert sorted(i.id for i in items) == item_ids(built_catalog)
    for item in items:
        assert item.get_self_href() == (f"{bucket.root_href}/{COLLECTION}/{item.id}/{item.id}.json")
        for asset in item.assets.values():
            assert asset.href.startswith(bucket.root_href + "/")
            got = requests.get(asset.href, headers={"Range": "bytes=0-0"}, timeout=10)
            assert got.status_code == 206, asset.href


def test_pgstac_api_over_the_published_catalog_points_at_the_bucket(
    built_catalog: Path, bucket: Bucket, schemas: Path, fresh_dsn: str, tmp_path: Path
) -> None:
    """The deployment the README describes: the catalog published to the bucket, the same
    catalog loaded into pgstac under the public URL, the API served beside it; pystac-client
    finds every item, and every asset href is the published file's URL, which answers."""
    run_publish(built_catalog, bucket, schemas)
    load(fresh_dsn, built_catalog, bucket.root_href)
    with serve(built_catalog, "127.0.0.1", 0, browser_dir=tmp_path / "nb", pgstac=fresh_dsn) as s:
        assert s.backend == "pgstac"
        client = Client.open(s.urls.api, timeout=10)
        items = list(client.search(max_items=None, limit=5).items())
    assert sorted(i.id for i in items) == item_ids(built_catalog)
    checked = 0
    for item in items:
        base = f"{bucket.root_href}/{COLLECTION}/{item.id}/{item.id}.json"
        on_disk = json.loads((built_catalog / COLLECTION / item.id / f"{item.id}.json").read_text())
        assert set(item.assets) == set(on_disk["assets"])
        for key, asset in item.assets.items():
            assert asset.href == urljoin(base, on_disk["assets"][key]["href"])
            assert asset.href.startswith(bucket.root_href + "/")
            # moto refuses an anonymous HEAD (403), as the issue notes: a GET, not read.
            with requests.get(asset.href, stream=True, timeout=10) as got:
                assert got.status_code == 200, asset.href
            checked += 1
    assert checked >= 5 * len(items)


def test_headers_say_what_each_file_is(built_catalog: Path, bucket: Bucket, schemas: Path) -> None:
    run_publish(built_catalog, bucket, schemas)
    item = item_ids(built_catalog)[0]
    base = f"{bucket.root_href}/{COLLECTION}"
    cog = "image/tiff; application=geotiff; profile=cloud-optimized"
    expected = {
        f"{bucket.root_href}/catalog.json": "application/json",
        f"{base}/collection.json": "application/json",
        f"{base}/items.parquet": "application/vnd.apache.parquet",
        f"{base}/{item}/{item}.json": "application/geo+json",
        f"{base}/{item}/classification.tif": cog,
        f"{base}/{item}/thumbnail.png": "image/png",
        f"{base}/{item}/samples.geojson": "application/geo+json",
        f"{base}/{item}/samples_shapefile.zip": "application/zip",
    }
    served = {url: requests.get(url, timeout=10).headers for url in expected}
    assert {url: headers["Content-Type"] for url, headers in served.items()} == expected
    for url, headers in served.items():
        cache = headers["Cache-Control"]
        if url.endswith((".tif", ".png", ".geojson", ".zip")):
            assert "immutable" in cache, url
            assert "max-age=31536000" in cache, url
        else:
            assert "immutable" not in cache, url
            assert "max-age=60" in cache, url


def test_gdal_reads_a_cog_window_over_vsis3(
    built_catalog: Path, bucket: Bucket, schemas: Path
) -> None:
    run_publish(built_catalog, bucket, schemas)
    item = item_ids(built_catalog)[0]
    key = f"alcd/{COLLECTION}/{item}/confidence.tif"
    window = Window(20, 30, 64, 48)
    with rasterio.open(built_catalog / COLLECTION / item / "confidence.tif") as local:
        expected, profile = local.read(1, window=window), local.profile
    env = {
        "AWS_S3_ENDPOINT": bucket.server.endpoint.removeprefix("http://"),
        "AWS_HTTPS": "NO",
        "AWS_VIRTUAL_HOSTING": "FALSE",
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",  # keys come from the environment
    }
    with rasterio.Env(**env), rasterio.open(f"/vsis3/{bucket.name}/{key}") as remote:
        assert remote.profile == profile
        got = remote.read(1, window=window)
    np.testing.assert_array_equal(got, expected)


def test_second_publish_sends_nothing(built_catalog: Path, bucket: Bucket, schemas: Path) -> None:
    first = run_publish(built_catalog, bucket, schemas)
    assert len(first.plan.send) == len(bucket.objects())
    result = invoke_publish(
        built_catalog, schemas, f"s3://{bucket.name}/alcd", bucket.server.endpoint, bucket.root_href
    )
    assert result.exit_code == 0, result.output
    assert "sent 0 files (0 bytes" in result.output
    assert "nothing uploaded" in result.output


def test_changed_scene_sends_its_files_and_the_json_above(
    catalog_copy: Path, bucket: Bucket, schemas: Path
) -> None:
    run_publish(catalog_copy, bucket, schemas)
    item = item_ids(catalog_copy)[1]
    thumbnail = catalog_copy / COLLECTION / item / "thumbnail.png"
    data = thumbnail.read_bytes() + b"changed"  # PNG readers ignore bytes after IEND
    thumbnail.write_bytes(data)
    item_json = catalog_copy / COLLECTION / item / f"{item}.json"
    obj = json.loads(item_json.read_text())
    obj["assets"]["thumbnail"]["file:size"] = len(data)
    obj["assets"]["thumbnail"]["file:checksum"] = "1220" + hashlib.sha256(data).hexdigest()
    item_json.write_text(json.dumps(obj, indent=2))

    report = run_publish(catalog_copy, bucket, schemas)
    assert sorted(f.key for f in report.plan.send) == sorted(
        [
            f"{COLLECTION}/{item}/thumbnail.png",
            f"{COLLECTION}/{item}/{item}.json",
            f"{COLLECTION}/items.parquet",
            f"{COLLECTION}/collection.json",
        ]
    )
    got = requests.get(f"{bucket.root_href}/{COLLECTION}/{item}/thumbnail.png", timeout=10)
    assert got.content == data


def test_without_delete_stale_objects_stay(
    catalog_copy: Path, bucket: Bucket, schemas: Path
) -> None:
    run_publish(catalog_copy, bucket, schemas)
    gone = item_ids(catalog_copy)[0]
    stale = {k for k in bucket.objects() if f"/{gone}/" in k}
    drop_scene(catalog_copy, gone)
    kept = run_publish(catalog_copy, bucket, schemas)
    assert not kept.plan.delete
    assert stale <= set(bucket.objects())


def test_delete_removes_stale_objects_only_after_the_new_json(
    catalog_copy: Path, bucket: Bucket, schemas: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_publish(catalog_copy, bucket, schemas)
    gone = item_ids(catalog_copy)[0]
    stale = {k for k in bucket.objects() if f"/{gone}/" in k}
    assert len(stale) > 2
    drop_scene(catalog_copy, gone)

    events: list[str] = []
    put_all, delete = Store.put_all, Store.delete

    def record_put(self: Store, files: list[LocalFile], on_done: Any) -> None:
        put_all(self, files, on_done)
        events.extend(f"put {f.key}" for f in files)

    def record_delete(self: Store, keys: list[str]) -> None:
        events.extend(f"delete {k}" for k in keys)
        delete(self, keys)

    monkeypatch.setattr(Store, "put_all", record_put)
    monkeypatch.setattr(Store, "delete", record_delete)
    report = run_publish(
        catalog_copy, bucket, schemas, delete=True, sleep=lambda s: events.append(f"wait {s}")
    )
    assert {o.key for o in report.plan.delete} == {k.removeprefix("alcd/") for k in stale}
    assert not stale & set(bucket.objects())
    puts = [i for i, e in enumerate(events) if e.startswith("put ")]
    deletes = [i for i, e in enumerate(events) if e.startswith("delete ")]
    assert f"put {COLLECTION}/collection.json" in events
    assert deletes
    assert min(deletes) > max(puts)
    waits = [i for i, e in enumerate(events) if e.startswith("wait ")]
    assert len(waits) == 1, "the dropped scene's objects wait out the readers' JSON once"
    assert max(puts) < waits[0] < min(deletes)
    # the stale item JSON goes before the assets it names
    first_asset = min(i for i in deletes if not events[i].endswith(".json"))
    assert events.index(f"delete {COLLECTION}/{gone}/{gone}.json") < first_asset
    assert sorted(
        i.id
        for i in pystac.Catalog.from_file(f"{bucket.root_href}/catalog.json").get_items(
            recursive=True
        )
    ) == item_ids(catalog_copy)


class Reader(threading.Thread):
    """Polls the public root and follows every link; records any that does not resolve."""

    def __init__(self, root_url: str) -> None:
        super().__init__(daemon=True)
        self.root_url = root_url
        self.stop = threading.Event()
        self.rounds = 0
        self.broken: list[str] = []
        self.session = requests.Session()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.check()
            except Exception as err:  # a reader's own failure must fail the test too
                self.broken.append(f"reader error: {err!r}")
                return

    def check(self) -> None:
        root = self.session.get(self.root_url, timeout=10)
        if root.status_code in (403, 404):
            return  # nothing published yet: no catalog is visible at all
        todo = [(self.root_url, root.json())]
        while todo:
            url, obj = todo.pop()
            for link in obj.get("links", []):
                if link["rel"] in ("child", "item"):
                    got = self.session.get(link["href"], timeout=10)
                    if got.status_code != 200:
                        self.broken.append(f"{url} -> {link['href']}: {got.status_code}")
                        continue
                    todo.append((link["href"], got.json()))
            for asset in obj.get("assets", {}).values():
                got = self.session.get(asset["href"], headers={"Range": "bytes=0-0"}, timeout=10)
                if got.status_code not in (200, 206):
                    self.broken.append(f"{url} -> {asset['href']}: {got.status_code}")
        self.rounds += 1


def test_reader_never_meets_a_broken_link_through_a_failed_then_resumed_publish(
    built_catalog: Path,
    catalog_copy: Path,
    bucket: Bucket,
    schemas: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    drop_scene(catalog_copy, item_ids(catalog_copy)[-1])
    drop_scene(catalog_copy, item_ids(catalog_copy)[-1])
    reader = Reader(f"{bucket.root_href}/catalog.json")
    reader.start()
    run_publish(catalog_copy, bucket, schemas, workers=2)  # the older catalog: fewer scenes

    put, sends = Store._put, []

    def put_watched_failing_after_8(self: Store, file: LocalFile) -> Any:
        sends.append(file.key)
        if len(sends) > 8:
            raise StoreError("injected failure")
        result = put(self, file)
        # The reader walks the whole catalog at least once between two uploads.
        wait_for = reader.rounds + 2
        deadline = time.monotonic() + 30
        while reader.rounds < wait_for and reader.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        return result

    monkeypatch.setattr(Store, "_put", put_watched_failing_after_8)
    rounds_before = reader.rounds
    with pytest.raises(StoreError, match="injected"):
        run_publish(built_catalog, bucket, schemas, workers=1)
    rounds_during = reader.rounds - rounds_before
    monkeypatch.setattr(Store, "_put", put)
    resumed = run_publish(built_catalog, bucket, schemas, workers=2)
    reader.stop.set()
    reader.join(timeout=30)

    assert not reader.broken, reader.broken[:5]
    assert rounds_during >= 8, "the reader walked the catalog between the uploads"
    assert not {f.key for f in resumed.plan.send} & set(sends[:8]), "no file is sent twice"
    root = pystac.Catalog.from_file(f"{bucket.root_href}/catalog.json")
    assert sorted(i.id for i in root.get_items(recursive=True)) == item_ids(built_catalog)


def invoke_publish(
    catalog: Path,
    schemas: Path,
    to: str,
    endpoint: str,
    root_href: str = "https://example.org/alcd",
    *extra: str,
) -> Any:
    """`stacgen publish` through the CLI, quiet, with `extra` options."""
    args = ["publish", str(catalog), "--to", to, "--root-href", root_href]
    args += ["--endpoint-url", endpoint, "--schemas", str(schemas), *extra, "--quiet"]
    args += ["--allow-unread-license"]  # the session catalog is built without a Zenodo record
    return CliRunner().invoke(main, args)


def test_bad_credentials_one_line_nothing_sent(
    built_catalog: Path, s3_auth_server: S3Server, schemas: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = s3_auth_server
    server.client().create_bucket(Bucket="guarded")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIANOTAKEY000000000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret)
    line = one_error_line(invoke_publish(built_catalog, schemas, "s3://guarded/a", server.endpoint))
    assert "InvalidAccessKeyId" in line
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    line = one_error_line(invoke_publish(built_catalog, schemas, "s3://guarded/a", server.endpoint))
    assert "SignatureDoesNotMatch" in line
    assert server.client().list_objects_v2(Bucket="guarded").get("KeyCount") == 0
    # the good key works on this server: the refusals above were the keys' fault
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret)
    result = invoke_publish(built_catalog, schemas, "s3://guarded/a", server.endpoint)
    assert result.exit_code == 0, result.output


def test_missing_bucket_one_line(built_catalog: Path, aws_env: S3Server, schemas: Path) -> None:
    line = one_error_line(
        invoke_publish(built_catalog, schemas, "s3://no-such-bucket-here/alcd", aws_env.endpoint)
    )
    assert "bucket no-such-bucket-here does not exist" in line


def test_unreachable_endpoint_one_line(
    built_catalog: Path, aws_env: S3Server, schemas: Path
) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, not listening
    line = one_error_line(invoke_publish(built_catalog, schemas, "s3://any-bucket/alcd", endpoint))
    assert f"cannot reach {endpoint}" in line


def test_dry_run_lists_and_sends_nothing(
    built_catalog: Path, bucket: Bucket, schemas: Path
) -> None:
    result = invoke_publish(
        built_catalog, schemas, f"s3://{bucket.name}/alcd", bucket.server.endpoint
    )
    assert result.exit_code == 0, result.output
    bucket_keys = bucket.objects()
    assert len(bucket_keys) > 0  # published under another root href: fine for this test
    dry = invoke_publish(
        built_catalog,
        schemas,
        f"s3://{bucket.name}/alcd",
        bucket.server.endpoint,
        bucket.root_href,
        "--dry-run",
        "--delete",
    )
    assert dry.exit_code == 0, dry.output
    assert bucket.objects() == bucket_keys
    sends = [line for line in dry.output.splitlines() if line.startswith("send ")]
    json_count = sum(1 for k in bucket_keys if k.endswith((".json", ".parquet")))
    assert len(sends) == json_count - sum(
        1 for k in bucket_keys if k.endswith(("used_parameters.json", "k_fold_summary.json"))
    )
    assert f"would send {len(sends)} files" in dry.output
    assert "would delete 0 files (0 bytes" in dry.output


def test_objects_changed_behind_its_back_are_sent_again(
    built_catalog: Path, bucket: Bucket, schemas: Path, tmp_path: Path
) -> None:
    """What a publish remembers saves HEAD requests, never a check: any rewrite shows."""
    memo = tmp_path / "memo"
    run_publish(built_catalog, bucket, schemas, memo_dir=memo)
    assert run_publish(built_catalog, bucket, schemas, memo_dir=memo).plan.send == []
    item = item_ids(built_catalog)[0]
    base = f"alcd/{COLLECTION}/{item}"
    client = bucket.server.client()
    png = (built_catalog / COLLECTION / item / "thumbnail.png").read_bytes()
    # S3's Last-Modified counts seconds: a rewrite within the second of the publish that
    # wrote the object, with the same bytes, would look unchanged (see the README).
    time.sleep(1.1)
    # same bytes, other headers; and other bytes of the same size
    client.put_object(Bucket=bucket.name, Key=f"{base}/thumbnail.png", Body=png)
    samples = (built_catalog / COLLECTION / item / "samples.geojson").read_bytes()
    client.put_object(
        Bucket=bucket.name,
        Key=f"{base}/samples.geojson",
        Body=samples[:-1] + b" ",
        ContentType="application/geo+json",
        CacheControl="public, max-age=31536000, immutable",
    )
    report = run_publish(built_catalog, bucket, schemas, memo_dir=memo)
    assert sorted(f.key for f in report.plan.send) == [
        f"{COLLECTION}/{item}/samples.geojson",
        f"{COLLECTION}/{item}/thumbnail.png",
    ]
    head = client.head_object(Bucket=bucket.name, Key=f"{base}/thumbnail.png")
    assert head["ContentType"] == "image/png"


def test_a_named_profile_supplies_the_key(
    built_catalog: Path, s3_auth_server: S3Server, schemas: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = s3_auth_server
    client = server.client()  # made before the environment below changes
    client.create_bucket(Bucket="profiled")
    home = built_catalog.parent.parent / "home-with-profile"
    (home / ".aws").mkdir(parents=True, exist_ok=True)
    (home / ".aws" / "credentials").write_text(
        f"[publisher]\naws_access_key_id = {server.key_id}\n"
        f"aws_secret_access_key = {server.secret}\n"
    )
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AWS_PROFILE", "publisher")
    result = invoke_publish(built_catalog, schemas, "s3://profiled/a", server.endpoint)
    assert result.exit_code == 0, result.output
    assert client.list_objects_v2(Bucket="profiled")["KeyCount"] > 0


def test_an_invalid_catalog_is_not_sent(catalog_copy: Path, bucket: Bucket, schemas: Path) -> None:
    item = item_ids(catalog_copy)[0]
    (catalog_copy / COLLECTION / item / "confidence.tif").write_bytes(b"not a COG any more")
    result = invoke_publish(
        catalog_copy, schemas, f"s3://{bucket.name}/alcd", bucket.server.endpoint
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert any("confidence.tif" in line and "file:size" in line for line in lines[:-1])
    assert lines[-1].startswith("Error: ")
    assert lines[-1].endswith("problem(s); nothing was sent")
    assert bucket.objects() == {}
