"""`publish --delete` (issue 18): only objects stacgen wrote there are deleted (the published
state records them), anything else is listed and kept unless named, and a dropped object is
deleted only once no reader can still hold a JSON that links it: the JSON's max-age, as the
server announces it, after the root that dropped it went up; or at the next publish.

Against moto's server mode; time is a fake clock that the publish's waits advance, so that
the order of waits and deletions is checked without waiting 90 s.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from stacgen.cli import main
from stacgen.publish.plan import RemoteObject
from stacgen.publish.state import STATE_KEY, PublishedState, decide
from stacgen.publish.store import Store
from tests.publish.s3 import Bucket, run_publish

pytestmark = pytest.mark.timeout(300)
COLLECTION = "alcd-reference-cloud-masks"


class FakeTime:
    """A clock that only the publish's waits move; it records the waits and every delete."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self.events: list[tuple[str, float, Any]] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.events.append(("wait", self.now, seconds))
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


def item_ids(catalog: Path) -> list[str]:
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


def record_deletes(monkeypatch: pytest.MonkeyPatch, fake: FakeTime) -> None:
    delete = Store.delete

    def recorded(self: Store, keys: list[str]) -> None:
        if keys:
            fake.events.append(("delete", fake.now, list(keys)))
        delete(self, keys)

    monkeypatch.setattr(Store, "delete", recorded)


def max_age(url: str) -> tuple[dict[str, Any], int]:
    """The JSON at `url` and the max-age its answer announces (what a reader may rely on)."""
    got = requests.get(url, timeout=10)
    assert got.status_code == 200, url
    found = re.search(r"max-age=(\d+)", got.headers["Cache-Control"])
    assert found, got.headers["Cache-Control"]
    return got.json(), int(found[1])


def linked_urls(collection: dict[str, Any]) -> list[str]:
    """The items a reader holding `collection` would follow, and their assets."""
    urls = []
    for link in collection["links"]:
        if link["rel"] == "item":
            urls.append(link["href"])
            item = requests.get(link["href"], timeout=10).json()
            urls.extend(asset["href"] for asset in item["assets"].values())
    assert urls
    return urls


def status(url: str) -> int:
    return requests.get(url, headers={"Range": "bytes=0-0"}, timeout=10).status_code


def test_a_reader_holding_the_previous_json_meets_no_404_within_its_max_age(
    catalog_copy: Path, bucket: Bucket, schemas: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeTime()
    record_deletes(monkeypatch, fake)
    timing = {"clock": fake.clock, "sleep": fake.sleep}
    run_publish(catalog_copy, bucket, schemas, **timing)
    gone = item_ids(catalog_copy)[0]
    held, seconds = max_age(f"{bucket.root_href}/{COLLECTION}/collection.json")
    fetched_at = fake.now
    held_urls = linked_urls(held)
    stale = {u for u in held_urls if f"/{gone}/" in u}
    assert len(stale) > 2
    stale_keys = {k.removeprefix("alcd/") for k in bucket.objects() if f"/{gone}/" in k}

    checked_during_wait: list[int] = []

    def sleep_and_check(wait: float) -> None:
        # Within the held JSON's max-age: every object it links still answers.
        checked_during_wait.extend(status(u) for u in held_urls)
        fake.sleep(wait)

    drop_scene(catalog_copy, gone)
    said: list[tuple[float, int]] = []
    report = run_publish(
        catalog_copy,
        bucket,
        schemas,
        delete=True,
        clock=fake.clock,
        sleep=sleep_and_check,
        on_wait=lambda seconds, count: said.append((seconds, count)),
    )
    deletes = [e for e in fake.events if e[0] == "delete"]
    waits = [e for e in fake.events if e[0] == "wait"]
    assert deletes
    assert len(waits) == 1
    assert checked_during_wait
    assert set(checked_during_wait) <= {200, 206}
    assert min(t for _, t, _ in deletes) >= fetched_at + seconds, "deleted only after max-age"
    assert {o.key for o in report.plan.delete} == stale_keys
    assert all(status(u) in (403, 404) for u in stale)
    assert bucket.state()["retired"] == {}
    (wait,) = [e[2] for e in waits]
    assert said == [(wait, len(stale_keys))], "the user is told how long, before the wait"


def test_at_the_bucket_top_another_dataset_is_listed_and_kept(
    catalog_copy: Path,
    bucket: Bucket,
    schemas: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 18: a --delete at a bucket's top deleted another dataset."""
    client = bucket.server.client()
    theirs = {"other-dataset/a.tif": b"A" * 100, "other-dataset/b.json": b"{}", "notes.txt": b"n"}
    for key, body in theirs.items():
        client.put_object(Bucket=bucket.name, Key=key, Body=body)
    fake = FakeTime()
    top = {"to": f"s3://{bucket.name}", "clock": fake.clock, "sleep": fake.sleep}
    root = f"{bucket.server.endpoint}/{bucket.name}"
    run_publish_top(catalog_copy, bucket, schemas, root, **top)
    drop_scene(catalog_copy, item_ids(catalog_copy)[0])
    with caplog.at_level(logging.WARNING):
        report = run_publish_top(catalog_copy, bucket, schemas, root, delete=True, **top)
    for key, body in theirs.items():
        assert client.get_object(Bucket=bucket.name, Key=key)["Body"].read() == body
    assert sorted(o.key for o in report.deletions.foreign) == sorted(theirs)
    assert report.plan.delete, "the dropped scene's objects, which are ours, went"
    assert not {o.key for o in report.plan.delete} & set(theirs)
    assert any("3 object(s) that stacgen did not write are kept" in r.getMessage()
               for r in caplog.records)  # fmt: skip


def run_publish_top(catalog: Path, bucket: Bucket, schemas: Path, root: str, **kw: Any) -> Any:
    from stacgen.publish.pipeline import PublishOptions, publish

    options = PublishOptions(
        source=catalog,
        root_href=root,
        schemas=schemas,
        endpoint_url=bucket.server.endpoint,
        allow_unread_license=True,
        **kw,
    )
    return publish(options)


def test_an_object_stacgen_did_not_write_goes_only_when_named(
    built_catalog: Path, bucket: Bucket, schemas: Path
) -> None:
    client = bucket.server.client()
    for key in ("alcd/old/x.json", "alcd/old/y.tif", "alcd/keep.txt"):
        client.put_object(Bucket=bucket.name, Key=key, Body=b"theirs")
    fake = FakeTime()
    timing = {"clock": fake.clock, "sleep": fake.sleep}
    report = run_publish(built_catalog, bucket, schemas, delete=True, **timing)
    assert sorted(o.key for o in report.deletions.foreign) == [
        "keep.txt",
        "old/x.json",
        "old/y.tif",
    ]
    assert report.plan.delete == []
    report = run_publish(
        built_catalog, bucket, schemas, delete=True, also_delete=("old/*",), **timing
    )
    assert sorted(o.key for o in report.plan.delete) == ["old/x.json", "old/y.tif"]
    objects = bucket.objects()
    assert "alcd/keep.txt" in objects
    assert not {"alcd/old/x.json", "alcd/old/y.tif"} & set(objects)
    assert not [e for e in fake.events if e[0] == "wait"], "nothing of ours waited"


def test_what_a_publish_from_before_the_state_left_is_named_with_the_glob_that_deletes_it(
    catalog_copy: Path, bucket: Bucket, schemas: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A catalog published by a stacgen that kept no published state: a scene it dropped is not
    ours to delete; the one warning line says why, and the --also-delete it gives deletes that
    scene's objects and nothing else."""
    fake = FakeTime()
    timing = {"clock": fake.clock, "sleep": fake.sleep}
    run_publish(catalog_copy, bucket, schemas, **timing)
    bucket.server.client().delete_object(Bucket=bucket.name, Key=f"alcd/{STATE_KEY}")
    gone = item_ids(catalog_copy)[0]
    dropped = {k for k in bucket.objects() if f"/{gone}/" in k}
    assert len(dropped) > 3
    drop_scene(catalog_copy, gone)
    with caplog.at_level(logging.WARNING, logger="stacgen.publish"):
        report = run_publish(catalog_copy, bucket, schemas, delete=True, **timing)
    assert report.plan.delete == []
    assert dropped <= set(bucket.objects())
    [warning] = [r.getMessage() for r in caplog.records if "did not write" in r.getMessage()]
    assert "\n" not in warning
    assert f"{len(dropped)} object(s) that stacgen did not write are kept" in warning
    assert f"not in its published state ({STATE_KEY})" in warning
    assert "a publish from a stacgen older than that state" in warning
    hints = re.findall(r"--also-delete '([^']+)'", warning)
    assert hints == [f"{COLLECTION}/{gone}/*"]

    before = bucket.objects()
    later = run_publish(catalog_copy, bucket, schemas, delete=True, also_delete=tuple(hints))
    assert {f"alcd/{o.key}" for o in later.plan.delete} == dropped
    assert bucket.objects() == {k: v for k, v in before.items() if k not in dropped}


def test_without_delete_the_drop_is_recorded_and_a_later_delete_needs_no_wait(
    catalog_copy: Path, bucket: Bucket, schemas: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeTime()
    record_deletes(monkeypatch, fake)
    timing = {"clock": fake.clock, "sleep": fake.sleep}
    run_publish(catalog_copy, bucket, schemas, **timing)
    gone = item_ids(catalog_copy)[0]
    stale = {k.removeprefix("alcd/") for k in bucket.objects() if f"/{gone}/" in k}
    drop_scene(catalog_copy, gone)
    kept = run_publish(catalog_copy, bucket, schemas, **timing)
    assert {o.key for o in kept.deletions.kept} == stale
    assert set(bucket.state()["retired"]) == stale
    assert all(t == fake.now for t in bucket.state()["retired"].values())

    fake.advance(3600)  # an hour later: every JSON linking them has long expired
    later = run_publish(catalog_copy, bucket, schemas, delete=True, **timing)
    assert {o.key for o in later.deletions.due} == stale
    assert not [e for e in fake.events if e[0] == "wait"]
    assert not {f"alcd/{k}" for k in stale} & set(bucket.objects())


def test_an_interrupted_wait_leaves_the_deletes_to_the_next_publish(
    catalog_copy: Path, bucket: Bucket, schemas: Path
) -> None:
    fake = FakeTime()
    run_publish(catalog_copy, bucket, schemas, clock=fake.clock, sleep=fake.sleep)
    gone = item_ids(catalog_copy)[0]
    stale = {k for k in bucket.objects() if f"/{gone}/" in k}
    drop_scene(catalog_copy, gone)

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_publish(catalog_copy, bucket, schemas, delete=True, clock=fake.clock, sleep=interrupted)
    assert stale <= set(bucket.objects()), "nothing deleted before the wait was over"
    assert {f"alcd/{k}" for k in bucket.state()["retired"]} == stale
    fake.advance(120)
    again = run_publish(catalog_copy, bucket, schemas, delete=True, clock=fake.clock)
    assert {f"alcd/{o.key}" for o in again.deletions.due} == stale
    assert not stale & set(bucket.objects())


def test_an_unreadable_state_makes_nothing_ours(
    catalog_copy: Path, bucket: Bucket, schemas: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeTime()
    timing = {"clock": fake.clock, "sleep": fake.sleep}
    run_publish(catalog_copy, bucket, schemas, **timing)
    gone = item_ids(catalog_copy)[0]
    stale = {k for k in bucket.objects() if f"/{gone}/" in k}
    drop_scene(catalog_copy, gone)
    client = bucket.server.client()
    client.put_object(Bucket=bucket.name, Key=f"alcd/{STATE_KEY}", Body=b"[" * 100_000)
    fake.advance(3600)
    with caplog.at_level(logging.WARNING):
        report = run_publish(catalog_copy, bucket, schemas, delete=True, **timing)
    assert report.plan.delete == []
    assert stale <= set(bucket.objects())
    assert any(STATE_KEY in r.getMessage() and "unreadable" in r.getMessage()
               for r in caplog.records)  # fmt: skip


# --- the decision alone -------------------------------------------------------------------------
def test_decide_sorts_each_stale_object() -> None:
    objs = [RemoteObject(k, 1) for k in ("a.json", "b.tif", "c.tif", "d.txt", "e.txt", STATE_KEY)]
    state = PublishedState(written={"a.json"}, retired={"b.tif": 100.0, "c.tif": 990.0})
    got = decide(objs, state, delete=True, named=["e.*"], now=1000.0, grace=90.0)
    assert [o.key for o in got.due] == ["b.tif"]
    assert [o.key for o in got.waiting] == ["a.json", "c.tif"]
    assert [o.key for o in got.foreign] == ["d.txt"]
    assert [o.key for o in got.named] == ["e.txt"]
    kept = decide(objs, state, delete=False, named=[], now=1000.0, grace=90.0)
    assert [o.key for o in kept.kept] == ["a.json", "b.tif", "c.tif"]
    assert kept.all_deleted == []


@pytest.mark.parametrize(
    "data",
    [b"", b"[]", b'{"format": "other"}', b'{"format": "stacgen-published/1", "written": 5}'],
)
def test_a_state_of_another_shape_is_empty(data: bytes) -> None:
    assert PublishedState.from_bytes(data, "x").ours() == set()


def test_dry_run_lists_what_waits_and_what_is_not_ours(
    catalog_copy: Path, bucket: Bucket, schemas: Path
) -> None:
    run_publish(catalog_copy, bucket, schemas)
    gone = item_ids(catalog_copy)[0]
    stale = {k.removeprefix("alcd/") for k in bucket.objects() if f"/{gone}/" in k}
    drop_scene(catalog_copy, gone)
    bucket.server.client().put_object(Bucket=bucket.name, Key="alcd/mine.txt", Body=b"x")
    before = bucket.objects(with_state=True)
    args = ["publish", str(catalog_copy), "--to", f"s3://{bucket.name}/alcd"]
    args += ["--root-href", bucket.root_href, "--endpoint-url", bucket.server.endpoint]
    args += ["--schemas", str(schemas), "--quiet", "--allow-unread-license", "--dry-run"]
    result = CliRunner().invoke(main, [*args, "--delete"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    waiting = {ln.split()[1] for ln in lines if ln.endswith(", after the wait)")}
    assert waiting == stale
    assert [ln.split()[1] for ln in lines if ln.startswith("other ")] == ["mine.txt"]
    assert bucket.objects(with_state=True) == before, "a dry run changes nothing"
    without = CliRunner().invoke(main, args)
    assert {ln.split()[1] for ln in without.output.splitlines() if ln.startswith("stale ")} == stale
