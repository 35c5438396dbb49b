"""stacgen.source.transfer: one verified, resumable download, against a local HTTP server;
and against a faulty one (issue 13, items 10 and 11; issue 12, item 4): each fault ends in a
finished download or in one line."""

from __future__ import annotations

import hashlib
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from stacgen import constants
from stacgen.source import transfer
from stacgen.source.transfer import DownloadError
from stacgen.source.zenodo import download_archive
from tests.fake_zenodo import TEST_RECORD_ID, FakeZenodo, make_payload

BODY = bytes(range(256)) * 64


@dataclass(frozen=True)
class Remote:
    url: str
    size: int
    md5: str
    sha256: str | None = None


def _client() -> transfer.Client:
    retrier = transfer.Retrier(retries=2, backoff=0.0, sleep=lambda _: None)
    return transfer.Client(requests.Session(), retrier, (5.0, 5.0))


def _serve(httpserver: HTTPServer, ranges: list[str | None]) -> str:
    def handler(request: Request) -> Response:
        header = request.headers.get("Range")
        ranges.append(header)
        if header:
            start = int(header.removeprefix("bytes=").rstrip("-"))
            body = BODY[start:]
            headers = {"Content-Range": f"bytes {start}-{len(BODY) - 1}/{len(BODY)}"}
            return Response(body, status=206, headers=headers)
        return Response(BODY, status=200)

    httpserver.expect_request("/f").respond_with_handler(handler)
    return httpserver.url_for("/f")


def test_download_verifies_and_renames(httpserver: HTTPServer, tmp_path: Path) -> None:
    ranges: list[str | None] = []
    remote = Remote(_serve(httpserver, ranges), len(BODY), hashlib.md5(BODY).hexdigest())
    dest = tmp_path / "f.bin"
    transfer.download(_client(), remote, dest, "test file", None)
    assert dest.read_bytes() == BODY
    assert not dest.with_name("f.bin.part").exists()
    assert transfer.is_verified(dest, remote)
    assert ranges == [None]


def test_a_part_file_is_resumed_with_a_range(httpserver: HTTPServer, tmp_path: Path) -> None:
    ranges: list[str | None] = []
    remote = Remote(_serve(httpserver, ranges), len(BODY), hashlib.md5(BODY).hexdigest())
    dest = tmp_path / "f.bin"
    dest.with_name("f.bin.part").write_bytes(BODY[:1000])
    transfer.download(_client(), remote, dest, "test file", None)
    assert dest.read_bytes() == BODY
    assert ranges == ["bytes=1000-"]


def test_a_wrong_md5_is_refused_and_nothing_kept(httpserver: HTTPServer, tmp_path: Path) -> None:
    remote = Remote(_serve(httpserver, []), len(BODY), "0" * 32)
    dest = tmp_path / "f.bin"
    with pytest.raises(transfer.DownloadError, match="checksum mismatch: expected md5 0000"):
        transfer.download(_client(), remote, dest, "test file", None)
    assert list(tmp_path.iterdir()) == []


def test_a_pinned_sha256_is_checked_before_the_file_is_kept(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    md5, sha256 = hashlib.md5(BODY).hexdigest(), hashlib.sha256(BODY).hexdigest()
    dest = tmp_path / "f.bin"
    # The md5 holds, the pin does not: refused at once (the same bytes would come again).
    wrong = Remote(_serve(httpserver, []), len(BODY), md5, "0" * 64)
    with pytest.raises(transfer.DownloadError) as caught:
        transfer.download(_client(), wrong, dest, "test file", None)
    assert str(caught.value) == (
        f"test file: checksum mismatch: md5 {md5} is the record's, but sha256 {sha256} is not "
        f"the pinned {'0' * 64} (deleted f.bin.part)"
    )
    assert list(tmp_path.iterdir()) == []
    right = Remote(wrong.url, len(BODY), md5, sha256)
    transfer.download(_client(), right, dest, "test file", None)
    assert dest.read_bytes() == BODY
    assert transfer.is_verified(dest, right)
    assert not transfer.is_verified(dest, wrong)


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert transfer.retry_after_seconds("7") == 7.0
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert transfer.retry_after_seconds(later, now=now) == 30.0
    assert transfer.retry_after_seconds("86400") == transfer.MAX_RETRY_AFTER
    assert transfer.retry_after_seconds("soon") is None


# --- a faulty server ----------------------------------------------------------------------------
PAYLOAD = make_payload(400_000, seed=13)


@pytest.fixture
def chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    # Reads of 64 KiB; the server below breaks every connection after 50,000 bytes, less than
    # one read: a client that drops the part of a read it was in never gets anywhere.
    monkeypatch.setattr(transfer, "CHUNK_SIZE", 64 * 1024)


def fetch(zenodo: FakeZenodo, tmp_path: Path, **kwargs: Any) -> Path:
    options: dict[str, Any] = {
        "zenodo_url": zenodo.url,
        "cache_dir": tmp_path,
        "sleep": lambda seconds: None,
        **kwargs,
    }
    return download_archive(TEST_RECORD_ID, **options)


def one_line(err: pytest.ExceptionInfo[DownloadError]) -> str:
    (line,) = str(err.value).splitlines()
    return line


@pytest.mark.usefixtures("chunks")
def test_a_server_closing_every_50_kb_finishes(zenodo: FakeZenodo, tmp_path: Path) -> None:
    zenodo.add_record(TEST_RECORD_ID, PAYLOAD)
    zenodo.fail("drop", keep_bytes=50_000, persistent=True)
    path = fetch(zenodo, tmp_path, retries=3)
    assert hashlib.md5(path.read_bytes()).hexdigest() == hashlib.md5(PAYLOAD).hexdigest()
    starts = [int((s.range or "bytes=0-")[6:].rstrip("-")) for s in zenodo.file_requests()]
    # Each try resumes exactly where the bytes that arrived end.
    assert starts == list(range(0, len(PAYLOAD), 50_000))


@pytest.mark.usefixtures("chunks")
def test_a_content_length_too_large_still_finishes(zenodo: FakeZenodo, tmp_path: Path) -> None:
    zenodo.add_record(TEST_RECORD_ID, PAYLOAD)
    zenodo.fail("overstate", extra=5_000, persistent=True)
    path = fetch(zenodo, tmp_path, retries=1, sleep=_no_sleep)
    assert path.read_bytes() == PAYLOAD
    assert len(zenodo.file_requests()) == 1


def _no_sleep(seconds: float) -> None:
    raise AssertionError(f"unexpected retry (sleep {seconds})")


def test_a_redirect_loop_is_one_line(zenodo: FakeZenodo, tmp_path: Path) -> None:
    zenodo.add_record(TEST_RECORD_ID, PAYLOAD)
    zenodo.fail("redirect_loop", persistent=True)
    with pytest.raises(DownloadError) as caught:
        fetch(zenodo, tmp_path, sleep=_no_sleep)
    assert "too many redirects" in one_line(caught)
    assert zenodo.file_link(TEST_RECORD_ID) in one_line(caught)


@pytest.mark.parametrize(
    ("link", "said"),
    [
        ("ftp://ftp.example.org/archive.tgz", "not an http(s) link"),
        ("http://[::1/archive.tgz", "malformed link"),
        ("http://example.org:99999/archive.tgz", "malformed link"),
        ("https://exa mple.org/archive.tgz", "malformed link"),
    ],
    ids=["ftp", "bad-ipv6", "bad-port", "space-in-host"],
)
def test_links_that_cannot_be_fetched_are_one_line(
    zenodo: FakeZenodo, tmp_path: Path, link: str, said: str
) -> None:
    zenodo.add_record(TEST_RECORD_ID, PAYLOAD, link=link)
    with pytest.raises(DownloadError) as caught:
        fetch(zenodo, tmp_path, sleep=_no_sleep)
    line = one_line(caught)
    assert said in line
    assert f"Zenodo record {TEST_RECORD_ID}" in line


def test_a_server_that_never_answers_meets_the_deadline(zenodo: FakeZenodo, tmp_path: Path) -> None:
    zenodo.add_record(TEST_RECORD_ID, PAYLOAD)
    zenodo.fail("stall", target="record", seconds=4.0)
    with pytest.raises(DownloadError) as caught:
        # Six tries are allowed; the first waits out its 1 s read timeout, and its retry would
        # pass the 2 s deadline (backoff 1 s), so the download ends there, with no second try.
        fetch(zenodo, tmp_path, retries=5, timeout=(1.0, 1.0), deadline=2.0)
    assert len(zenodo.record_requests()) == 1
    line = one_line(caught)
    assert "timed out" in line
    assert "2 s deadline" in line


def test_a_name_that_does_not_resolve_is_not_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_dns(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(transfer.Unreachable) as caught:
        download_archive(
            TEST_RECORD_ID, zenodo_url="https://zenodo.org", cache_dir=tmp_path, sleep=_no_sleep
        )
    # The way out (README: build from a copy) is part of the one line.
    assert one_line(caught) == (
        f"Zenodo record {TEST_RECORD_ID}: cannot reach https://zenodo.org/api/records/"
        f"{TEST_RECORD_ID}: [Errno -2] Name or service not known; to build from a copy of the "
        f"archive: make catalog ARCHIVE=path/to/{constants.ARCHIVE_NAME}"
    )


def test_a_full_disk_is_one_line_naming_the_file(
    zenodo: FakeZenodo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    zenodo.add_record(TEST_RECORD_ID, PAYLOAD)
    real = transfer._stream

    def full(resp: Any, part: Path, *args: Any) -> None:
        raise OSError(28, "No space left on device", str(part))

    monkeypatch.setattr(transfer, "_stream", full)
    with pytest.raises(DownloadError) as caught:
        fetch(zenodo, tmp_path, sleep=_no_sleep)
    assert one_line(caught).endswith(".tgz.part: No space left on device")
    assert "cannot write" in one_line(caught)
    monkeypatch.setattr(transfer, "_stream", real)
