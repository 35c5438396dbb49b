"""stacgen.source.zenodo, and the transfer under it, against a fake Zenodo on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from stacgen import constants, fileutil
from stacgen.source import transfer
from stacgen.source import zenodo as zenodo_source
from stacgen.source.transfer import DownloadError, retry_after_seconds
from stacgen.source.zenodo import (
    RECORD_FILE,
    RecordFile,
    cached_record_json,
    download_archive,
    parse_record,
    remember_local_copy,
)
from tests.fake_zenodo import (
    SHAPES,
    TEST_LICENSE,
    TEST_RECORD_ID,
    FakeZenodo,
    Shape,
    files_listing,
    make_payload,
    pin_payload,
    record_json,
)

PAYLOAD = make_payload()
MD5 = hashlib.md5(PAYLOAD).hexdigest()
KEY = constants.ARCHIVE_NAME
BASE = "https://zenodo.example"


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    # A dropped connection loses the chunk being read: small chunks keep a partial .part.
    monkeypatch.setattr(transfer, "CHUNK_SIZE", 16 * 1024)


@pytest.fixture
def sleeps() -> list[float]:
    return []


def forbid_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> requests.Response:
        raise AssertionError(f"unexpected network call: {args} {kwargs}")

    monkeypatch.setattr(requests.Session, "request", refuse)


def no_sleep(seconds: float) -> None:
    raise AssertionError(f"unexpected retry (sleep {seconds})")


def fetch(zenodo: FakeZenodo, tmp_path: Path, sleeps: list[float], **kwargs: Any) -> Path:
    options: dict[str, Any] = {
        "zenodo_url": zenodo.url,
        "cache_dir": tmp_path,
        "sleep": sleeps.append,
        **kwargs,
    }
    record_id = options.pop("record_id", TEST_RECORD_ID)
    return download_archive(record_id, **options)


def archive_in(tmp_path: Path, record_id: int = TEST_RECORD_ID) -> Path:
    return tmp_path / "zenodo" / str(record_id) / KEY


def part_of(path: Path) -> Path:
    return path.with_name(path.name + ".part")


def left_part(tmp_path: Path, data: bytes) -> Path:
    """A `.part` left in the cache by an earlier download, holding `data`."""
    part = part_of(archive_in(tmp_path))
    part.parent.mkdir(parents=True)
    part.write_bytes(data)
    return part


# --- parsing -------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES)
def test_parse_record_reads_every_shape(zenodo: FakeZenodo, shape: Shape) -> None:
    served = zenodo.add_record(TEST_RECORD_ID, PAYLOAD, shape=shape, concept_id=4241)
    raw = record_json(served, BASE)
    if not zenodo_source.files_embedded(raw):
        assert parse_record(raw, BASE).files == ()
        raw = {**raw, "files": files_listing(served, BASE)}
    record = parse_record(raw, BASE)
    url = zenodo.file_link(TEST_RECORD_ID, BASE)
    assert record.id == TEST_RECORD_ID
    assert record.concept_id == 4241
    assert record.files == (RecordFile(KEY, len(PAYLOAD), MD5, url),)
    assert record.raw["metadata"]["license"]["id"] == TEST_LICENSE


def test_parse_record_resolves_relative_links_and_builds_missing_ones() -> None:
    raw = {
        "id": 7,
        "files": [
            {"key": "a.tgz", "size": 1, "checksum": "MD5:" + "A" * 32, "links": {"self": "/x/a"}},
            {"key": "b c.tgz", "size": "2", "checksum": "b" * 32},
        ],
    }
    record = parse_record(raw, BASE + "/")
    assert record.concept_id is None
    assert record.files == (
        RecordFile("a.tgz", 1, "a" * 32, f"{BASE}/x/a"),
        RecordFile("b c.tgz", 2, "b" * 32, f"{BASE}/api/records/7/files/b%20c.tgz/content"),
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"key": "a", "size": 1, "checksum": "sha256:" + "0" * 64}, "a has no md5 checksum"),
        ({"key": "a", "size": 1}, "a has no md5 checksum"),
        ({"key": "a", "size": "big", "checksum": "0" * 32}, "size of a is missing"),
        ({"key": "a", "size": True, "checksum": "0" * 32}, "size of a is missing"),
        ({"size": 1, "checksum": "0" * 32}, "file entry 0 has no name"),
        ("a", "file entry 0 is not an object"),
    ],
)
def test_parse_record_rejects_incomplete_entries(entry: Any, message: str) -> None:
    with pytest.raises(DownloadError, match=f"^Zenodo record 7: .*{message}"):
        parse_record({"id": 7, "files": [entry]}, BASE)


def test_parse_record_needs_a_numeric_id() -> None:
    with pytest.raises(DownloadError, match="id is missing or not a whole number: 'abc-12'"):
        parse_record({"id": "abc-12", "files": []}, BASE)


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30
    assert retry_after_seconds(format_datetime(now - timedelta(seconds=30), usegmt=True), now) == 0
    assert retry_after_seconds("86400") == transfer.MAX_RETRY_AFTER
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


# --- downloading ---------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES)
def test_download_follows_the_link_of_every_shape(
    zenodo: FakeZenodo, tmp_path: Path, sleeps: list[float], shape: Shape
) -> None:
    served = zenodo.add_record(TEST_RECORD_ID, PAYLOAD, shape=shape)
    progress: list[tuple[int, int]] = []
    path = fetch(zenodo, tmp_path, sleeps, on_progress=lambda d, t: progress.append((d, t)))

    assert path == archive_in(tmp_path)
    assert path.read_bytes() == PAYLOAD
    assert not part_of(path).exists()
    assert [s.path for s in zenodo.file_requests()] == [zenodo.file_path(TEST_RECORD_ID)]
    assert zenodo.file_requests()[0].range is None
    saved = json.loads((path.parent / "record.json").read_text())
    assert saved["metadata"] == served.metadata
    assert parse_record(saved, zenodo.url).files[0].md5 == MD5  # the files are kept offline too
    assert progress[0] == (0, len(PAYLOAD))
    assert progress[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)
    assert sleeps == []


def test_cached_archive_and_record_need_no_network(
    zenodo: FakeZenodo,
    tmp_path: Path,
    sleeps: list[float],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    zenodo.add_record(TEST_RECORD_ID, PAYLOAD)
    first = fetch(zenodo, tmp_path, sleeps)

    def no_hashing(*args: Any, **kwargs: Any) -> dict[str, str]:
        raise AssertionError("the verified archive was hashed again")

    monkeypatch.setattr(fileutil, "digests", no_hashing)
    forbid_network(monkeypatch)
    assert fetch(zenodo, tmp_path, sleeps, zenodo_url="http://127.0.0.1:9") == first
    assert first.read_bytes() == PAYLOAD
    assert len(zenodo.seen) == 2  # the record and the file, once


def test_archive_present_without_record_is_hashed_not_downloaded(
    zenodo: FakeZenodo, tmp_path: Path, sleeps: list[float]
) -> None:
    zenodo.add_record(TEST_RECORD_ID, PAYLOAD)
    archive_in(tmp_path).parent.mkdir(parents=True)
    archive_in(tmp_path).write_bytes(PAYLOAD)
    assert fetch(zenodo, tmp_path, sleeps) == archive_in(tmp_path)
    assert zenodo.file_requests() == []
    assert len(zenodo.record_requests()) == 1


def test_corrupt_cached_archive_is_downloaded_again(
    zenodo: FakeZenodo, tmp_path: Path, sleeps: list[float]
) -> None:
    zenodo.add_record(TEST_RECORD_ID, PAYLOAD)
    path = fetch(zenodo, tmp_path, sleeps)
    path.write_bytes(bytes(len(PAYLOAD)))  # same size, other bytes, new mtime
    os.utime(path, ns=(1, 1))
    assert fetch(zenodo, tmp_path, sleeps) == path
    assert path.read_bytes() == PAYLOAD
    assert len(zenodo.file_requests()) == 2
    assert len(zenodo.record_requests()) == 1  # the cached record was enough


@pytest.mark.parametrize("mode", ["redirect", "json"])
def test_concept_id_resolves_to_its_version_and_works_offline(
    zenodo: FakeZenodo,
    tmp_path: Path,
    sleeps: list[float],
    monkeypatch: pytest.MonkeyPatch,
    mode: Any,
) -> None:
    zenodo.add_record(5001, PAYLOAD, concept_id=5000)
    zenodo.add_concept(5000, 5001, mode=mode)
    path = fetch(zenodo, tmp_path, sleeps, record_id=5000)

    assert path == archive_in(tmp_path, 5001)
    assert path.read_bytes() == PAYLOAD
    assert not (tmp_path / "zenodo" / "5000" / KEY).exists()
    saved = cached_record_json(5000, tmp_path)
    assert saved is not None
    assert saved["id"] == 5001
    assert cached_record_json(5001, tmp_path) == saved

    forbid_network(monkeypatch)
    assert fetch(zenodo, tmp_path, sleeps, record_id=5000) == path


def test_refresh_asks_again_and_follows_a_new_version(
    zenodo: FakeZenodo, tmp_path: Path, sleeps: list[float]
) -> None:
    newer = make_payload(1000, seed=2)
    zenodo.add_record(5001, PAYLOAD, concept_id=5000)
    zenodo.add_concept(5000, 5001)
    old = fetch(zenodo, tmp_path, sleeps, record_id=5000)
    zenodo.add_record(5002, newer, concept_id=5000)
    zenodo.add_concept(5000, 5002)
    assert fetch(zenodo, tmp_path, sleeps, record_id=5000) == old  # cached: no new question
    new = fetch(zenodo, tmp_path, sleeps, record_id=5000, refresh=True)
    assert new == archive_in(tmp_path, 5002)
    assert new.read_bytes() == newer
    assert old.read_bytes() == PAYLOAD
    assert (cached_record_json(5000, tmp_path) or {})["id"] == 5002


def test_defaults_are_the_pinned_record_and_the_environment(
    zenodo: FakeZenodo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pin_payload(monkeypatch, PAYLOAD)
    zenodo.add_record(constants.RECORD_ID, PAYLOAD, concept_id=constants.CONCEPT_RECORD_ID)
    zenodo.add_concept(constants.CONCEPT_RECORD_ID, constants.RECORD_ID)
    monkeypatch.setenv("STACGEN_ZENODO_URL", zenodo.url)
    monkeypatch.setenv("STACGEN_CACHE_DIR", str(tmp_path))

    path = download_archive(sleep=no_sleep)
    assert path == archive_in(tmp_path, constants.RECORD_ID)
    assert path.read_bytes() == PAYLOAD
    assert download_archive(constants.CONCEPT_RECORD_ID, sleep=no_sleep) == path
    assert (cached_record_json() or {})["metadata"]["license"]["id"] == TEST_LICENSE


def test_pinned_record_with_other_checksum_is_refused(
    zenodo: FakeZenodo, tmp_path: Path, sleeps: list[float]
) -> None:
    # The payload is not the real archive, so Zenodo's (fake) metadata disagrees with the pins.
    zenodo.add_record(constants.RECORD_ID, PAYLOAD)
    with pytest.raises(DownloadError) as info:
        fetch(zenodo, tmp_path, sleeps, record_id=constants.RECORD_ID)
    message = str(info.value)
    assert f"md5 {MD5}" in message
    assert f"pins {KEY} ({constants.ARCHIVE_SIZE} bytes, md5 {constants.ARCHIVE_MD5})" in message
    assert zenodo.file_requests() == []
    assert not (tmp_path / "zenodo" / str(constants.RECORD_ID)).exists()


def test_pins_apply_to_a_cached_record_too(
    zenodo: FakeZenodo, tmp_path: Path, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    pin_payload(monkeypatch, PAYLOAD)
    zenodo.add_record(constants.RECORD_ID, PAYLOAD)
    path = fetch(zenodo, tmp_path, sleeps, record_id=constants.RECORD_ID)
    monkeypatch.setattr(constants, "ARCHIVE_MD5", "0" * 32)
    with pytest.raises(DownloadError, match=r"but stacgen pins .* md5 0{32}"):
        fetch(zenodo, tmp_path, sleeps, record_id=constants.RECORD_ID)
    assert path.read_bytes() == PAYLOAD


def test_an_archive_whose_md5_passes_but_not_its_pinned_sha256_is_never_taken(
    zenodo: FakeZenodo,
    archive_tgz: Path,
    tmp_path: Path,
    sleeps: list[float],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A tampered synthetic archive whose size and md5 pass (as an md5 collision's would):
    # only its sha256, against the pin, tells it from the archive stacgen was built from.
    original = archive_tgz.read_bytes()
    tampered = bytearray(original)
    tampered[len(tampered) // 2] ^= 0xFF
    pin_payload(monkeypatch, bytes(tampered))
    monkeypatch.setattr(constants, "ARCHIVE_SHA256", hashlib.sha256(original).hexdigest())
    zenodo.add_record(constants.RECORD_ID, bytes(tampered))
    with pytest.raises(DownloadError) as caught:
        fetch(zenodo, tmp_path, sleeps, record_id=constants.RECORD_ID)
    assert f"sha256 {hashlib.sha256(tampered).hexdigest()} is not the pinned" in str(caught.value)
    folder = tmp_path / "zenodo" / str(constants.RECORD_ID)
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == [RECORD_FILE]
    # Given to a build, the same bytes are not noted as the record's copy either.
    given = tmp_path / "given.tgz"
    given.write_bytes(tampered)
    assert not remember_local_copy(given, constants.RECORD_ID, tmp_path)


def test_the_pinned_archive_is_kept_with_its_sha256(
    zenodo: FakeZenodo,
    archive_tgz: Path,
    tmp_path: Path,
    sleeps: list[float],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    payload = archive_tgz.read_bytes()
    pin_payload(monkeypatch, payload)
    zenodo.add_record(constants.RECORD_ID, payload)
    path = fetch(zenodo, tmp_path, sleeps, record_id=constants.RECORD_ID)
    assert path.read_bytes() == payload
    memo = fileutil.memo_get(path, path.parent / ".memo", "sha256")
    assert memo == hashlib.sha256(payload).hexdigest()
    # A cached archive that is not the pinned bytes any more is not used.
    monkeypatch.setattr(constants, "ARCHIVE_SHA256", "0" * 64)
    with pytest.raises(DownloadError, match=r"is not the pinned 0{64}"):
        fetch(zenodo, tmp_path, sleeps, record_id=constants.RECORD_ID)


# --- resuming ------------------------------------------------------------------------------------
def test_dropped_connection_resumes_with_range(
    zenodo: FakeZenodo, tmp_path: Path, sleeps: list[float]
) -> None:
    zenodo.add_record(TEST_RECORD_ID, PAYLOAD)
    zenodo.fail("drop", keep=0.5)
    path = fetch(zenodo, tmp_path, sleeps)

    assert path.read_bytes() == PAYLOAD
    assert not part_of(path).exists()
    first, second = zenodo.file_requests()
    assert first.range is None
    assert second.range is not None
    resumed_at = int(second.range.removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= len(PAYLOAD) // 2
    assert sleeps == [1.0]


def test_interrupted_download_resumes_in_a_later_run(
    zenodo: FakeZenodo, tmp_path: Path, sleeps: list[float]
) -> None:
    zenodo.add_record(TEST_RECORD_ID, PAYLOAD)
    zenodo.fail("drop", keep=0.4, persistent=True)
    with pytest.raises(
        DownloadError, match=f"^{KEY} of Zenodo record 4242: .*gave up after 3 tries"
    ):
        fetch(zenodo, tmp_path, sleeps, retries=2)
    part = part_of(archive_in(tmp_path))
    kept = part.read_bytes()
    assert 0 < len(kept) < len(PAYLOAD)
    assert PAYLOAD.startswith(kept)
    assert not archive_in(tmp_path).exists()
    # A try that moved the .part forward does not count: only the last three failed in a row.
    assert len(sleeps) > 2
    assert sleeps[-2:] == [1.0, 2.0]
    assert set(sleeps[:-2]) == {1.0}

    zenodo.faults.clear()
    zenodo.seen.clear()
    path = fetch(zenodo, tmp_path, sleeps)
    assert path.read_bytes() == PAYLOAD
    assert not part.exists()
    assert [s.range for s in zenodo.seen] == [f"bytes={len(kept)}-"]  # no record request


def test_server_ignoring_range_starts_over_cleanly(
    zenodo: FakeZenodo, tmp_path: Path, sleeps: list[float]
) -> None:
    zenodo.add_record(TEST_RECORD_ID, PAYLOAD)
    part = left_part(tmp_path, PAYLOAD[:100_000])
    zenodo.fail("ignore_range")
    path = fetch(zenodo, tmp_path, sleeps)

    assert path.read_bytes() == PAYLOAD
    assert not part.exists()
    assert [s.range for s in zenodo.file_requests()] == ["bytes=100000-"]
    assert sleeps == []


def test_flaky_server_ignoring_range_cannot_keep_it_going_forever(
    zenodo: FakeZenodo, tmp_path: Path, sleeps: list[float]
) -> None:
    zenodo.add_record(TEST_RECORD_ID, PAYLOAD)
    for keep in [0.6, 0.3] * 20:  # the .part grows and shrinks: only new ground is progress
        zenodo.fail("drop", keep=keep, ignore_range=True)
    with pytest.raises(DownloadError, match=r"stopped at byte .* gave up after 3 tries"):
        fetch(zenodo, tmp_path, sleeps, retries=2)
    assert sleeps == [1.0, 2.0]  # the third try only got back to where the first had been
    assert len(zenodo.file_requests()) == 3
    assert not archive_in(tmp_path).exists()


def test_truncated_body_is_resumed(zenodo: FakeZenodo, tmp_path: Path, sleeps: list[float]) -> None:
    zenodo.add_record(TEST_RECORD_ID, PAYLOAD)
    zenodo.fail("truncate", keep=0.3)
    path = fetch(zenodo, tmp_path, sleeps)

    assert path.read_bytes() == PAYLOAD
    assert [s.range for s in zenodo.file_requests()] == [None, f"bytes={int(len(PAYLOAD) * 0.3)}-"]
    assert sleeps == [1.0]


def test_complete_part_is_verified_without_a_request(
    zenodo: FakeZenodo, tmp_path: Path, sleeps: list[float]
) -> None:
    zenodo.add_record(TEST_RECORD_ID, PAYLOAD)
    part = left_part(tmp_path, PAYLOAD)
    assert fetch(zenodo, tmp_path, sleeps).read_bytes() == PAYLOAD
    assert zenodo.file_requests() == []
    assert not part.exists()


def test_corrupt_resumed_part_is_fetched_again_from_the_start(
    zenodo: FakeZenodo, tmp_path: Path, sleeps: list[float]
) -> None:
    zenodo.add_record(TEST_RECORD_ID, PAYLOAD)
    left_part(tmp_path, bytes(50_000))  # left by another version of the file
    path = fetch(zenodo, tmp_path, sleeps)

    assert path.read_bytes() == PAYLOAD
    assert [s.range for s in zenodo.file_requests()] == ["bytes=50000-", None]
    assert sleeps == [1.0]


def test_part_longer_than_the_file_is_discarded(
    zenodo: FakeZenodo, tmp_path: Path, sleeps: list[float]
) -> None:
    zenodo.add_record(TEST_RECORD_ID, PAYLOAD)
    left_part(tmp_path, PAYLOAD + b"extra")
    assert fetch(zenodo, tmp_path, sleeps).read_bytes() == PAYLOAD
    assert [s.range for s in zenodo.file_requests()] == [None]


# --- retries and errors --------------------------------------------------------------------------
def test_server_errors_are_retried_with_backoff(
    zenodo: FakeZenodo, tmp_path: Path, sleeps: list[float]
) -> None:
    zenodo.add_record(TEST_RECORD_ID, PAYLOAD)
    zenodo.fail("status", target="record", status=503)
    zenodo.fail("status", status=500, times=2)
    path = fetch(zenodo, tmp_path, sleeps, backoff=0.5)

    assert path.read_bytes() == PAYLOAD
    assert sleeps == [0.5, 0.5, 1.0]  # one for the record, then two for the file
    assert len(zenodo.file_requests()) == 3


def test_429_honours_retry_after(zenodo: FakeZenodo, tmp_path: Path, sleeps: list[float]) -> None:
    zenodo.add_record(TEST_RECORD_ID, PAYLOAD)
    zenodo.fail("status", target="record", status=429, retry_after="7")
    zenodo.fail("status", status=429, retry_after="3")
    zenodo.fail("status", status=429)  # no Retry-After: backoff
    path = fetch(zenodo, tmp_path, sleeps)

    assert path.read_bytes() == PAYLOAD
    assert sleeps == [7.0, 3.0, 2.0]


def test_persistent_errors_give_up_with_a_clear_message(
    zenodo: FakeZenodo, tmp_path: Path, sleeps: list[float]
) -> None:
    zenodo.add_record(TEST_RECORD_ID, PAYLOAD)
    zenodo.fail("status", status=502, persistent=True)
    with pytest.raises(DownloadError, match=r"HTTP 502 from http://127\.0\.0\.1.*gave up after 4"):
        fetch(zenodo, tmp_path, sleeps, retries=3)
    assert sleeps == [1.0, 2.0, 4.0]
    assert not archive_in(tmp_path).exists()
    assert not part_of(archive_in(tmp_path)).exists()


def test_read_timeout_is_retried(zenodo: FakeZenodo, tmp_path: Path, sleeps: list[float]) -> None:
    zenodo.add_record(TEST_RECORD_ID, PAYLOAD)
    zenodo.fail("stall", seconds=0.3)

    def wait_for_the_stall(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(0.4)  # the one-threaded server answers nobody while it stalls

    path = fetch(zenodo, tmp_path, sleeps, timeout=(2.0, 0.1), sleep=wait_for_the_stall)
    assert path.read_bytes() == PAYLOAD
    assert sleeps == [1.0]
    assert len(zenodo.file_requests()) == 2


def test_connection_refused_gives_up_at_once(tmp_path: Path, sleeps: list[float]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends: nothing listens there
    # Offline, most likely: another try would fail the same way (issue 12, item 4).
    with pytest.raises(
        transfer.Unreachable,
        match=rf"^Zenodo record 4242: cannot reach http://127.0.0.1:{port}/api/records/4242: "
        r"\[Errno 111\] Connection refused; to build from a copy of the archive: make catalog "
        rf"ARCHIVE=path/to/{re.escape(constants.ARCHIVE_NAME)}$",
    ):
        download_archive(
            TEST_RECORD_ID,
            zenodo_url=f"http://127.0.0.1:{port}",
            cache_dir=tmp_path,
            retries=2,
            sleep=sleeps.append,
        )
    assert sleeps == []
    assert not (tmp_path / "zenodo").exists()


def test_missing_record_is_reported_without_retries(
    zenodo: FakeZenodo, tmp_path: Path, sleeps: list[float]
) -> None:
    with pytest.raises(DownloadError, match=r"^Zenodo record 999 does not exist \(HTTP 404"):
        fetch(zenodo, tmp_path, sleeps, record_id=999)
    assert sleeps == []
    assert not (tmp_path / "zenodo").exists()


def test_missing_file_is_reported_without_retries(
    zenodo: FakeZenodo, tmp_path: Path, sleeps: list[float]
) -> None:
    zenodo.add_record(TEST_RECORD_ID, PAYLOAD)
    zenodo.fail("status", status=404, persistent=True)
    with pytest.raises(DownloadError, match=f"^{KEY} of Zenodo record 4242 does not exist"):
        fetch(zenodo, tmp_path, sleeps)
    assert sleeps == []
    assert not archive_in(tmp_path).exists()
    assert not part_of(archive_in(tmp_path)).exists()


def test_stale_cached_link_asks_for_the_record_again(
    zenodo: FakeZenodo, tmp_path: Path, sleeps: list[float]
) -> None:
    zenodo.add_record(TEST_RECORD_ID, PAYLOAD, shape="legacy")
    path = fetch(zenodo, tmp_path, sleeps)
    path.unlink()
    zenodo.add_record(TEST_RECORD_ID, PAYLOAD, shape="current")
    zenodo.fail("status", status=404)  # the saved bucket link is gone
    zenodo.seen.clear()
    assert fetch(zenodo, tmp_path, sleeps) == path
    assert path.read_bytes() == PAYLOAD
    assert [s.path for s in zenodo.seen] == [
        f"/api/files/{zenodo.records[TEST_RECORD_ID].bucket}/{KEY}",
        f"/api/records/{TEST_RECORD_ID}",
        zenodo.file_path(TEST_RECORD_ID),
    ]
    saved = cached_record_json(TEST_RECORD_ID, tmp_path) or {}
    assert saved["files"][0]["links"]["self"] == zenodo.file_link(TEST_RECORD_ID)
    assert sleeps == []


def test_empty_file_is_downloaded_and_verified(
    zenodo: FakeZenodo, tmp_path: Path, sleeps: list[float]
) -> None:
    zenodo.add_record(TEST_RECORD_ID, b"")
    path = fetch(zenodo, tmp_path, sleeps)
    assert path.read_bytes() == b""
    assert not part_of(path).exists()


def test_checksum_mismatch_deletes_the_part(
    zenodo: FakeZenodo, tmp_path: Path, sleeps: list[float]
) -> None:
    zenodo.add_record(TEST_RECORD_ID, PAYLOAD, md5="0" * 32)
    with pytest.raises(DownloadError, match=f"checksum mismatch: expected md5 0{{32}}, got {MD5}"):
        fetch(zenodo, tmp_path, sleeps)
    assert not archive_in(tmp_path).exists()
    assert not part_of(archive_in(tmp_path)).exists()
    assert len(zenodo.file_requests()) == 1


def test_checksum_mismatch_keeps_the_earlier_verified_archive(
    zenodo: FakeZenodo, tmp_path: Path, sleeps: list[float]
) -> None:
    zenodo.add_record(TEST_RECORD_ID, PAYLOAD)
    path = fetch(zenodo, tmp_path, sleeps)
    zenodo.add_record(TEST_RECORD_ID, PAYLOAD, md5="f" * 32)  # the record changed on Zenodo
    with pytest.raises(DownloadError, match=f"expected md5 f{{32}}, got {MD5}"):
        fetch(zenodo, tmp_path, sleeps, refresh=True)
    assert path.read_bytes() == PAYLOAD
    assert not part_of(path).exists()


def test_body_longer_than_the_record_says_is_refused(
    zenodo: FakeZenodo, tmp_path: Path, sleeps: list[float]
) -> None:
    zenodo.add_record(TEST_RECORD_ID, PAYLOAD, size=len(PAYLOAD) - 10)
    with pytest.raises(DownloadError, match=f"more than the {len(PAYLOAD) - 10} bytes"):
        fetch(zenodo, tmp_path, sleeps)
    assert not archive_in(tmp_path).exists()
    assert not part_of(archive_in(tmp_path)).exists()


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ((), "Zenodo record 7 has no files"),
        (("a.tgz", "b.tgz"), r"Zenodo record 7 has 2 files \(a.tgz, b.tgz\), none named"),
    ],
)
def test_the_archive_must_be_identifiable(keys: tuple[str, ...], message: str) -> None:
    files = [{"key": k, "size": 1, "checksum": "0" * 32} for k in keys]
    with pytest.raises(DownloadError, match=message):
        zenodo_source._target(Path("cache"), parse_record({"id": 7, "files": files}, BASE))


@pytest.mark.parametrize("key", ["../evil", ".memo", "record.json", "x.tgz.part", "a\\b"])
def test_unsafe_file_names_are_refused(key: str) -> None:
    record = parse_record({"id": 7, "files": [{"key": key, "size": 1, "checksum": "0" * 32}]}, BASE)
    with pytest.raises(DownloadError, match="Zenodo record 7: unsafe file name"):
        zenodo_source._target(Path("cache"), record)
