"""stacgen.source.transfer against a faulty server: what a hostile run found (issue 13, items
10 and 11; issue 12, item 4). Each fault ends in a finished download or in one line."""

from __future__ import annotations

import hashlib
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from fake_zenodo import TEST_RECORD_ID, FakeZenodo, make_payload

from stacgen.source import transfer
from stacgen.source.transfer import DownloadError
from stacgen.source.zenodo import download_archive

PAYLOAD = make_payload(400_000, seed=13)


@pytest.fixture(autouse=True)
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


def test_a_server_closing_every_50_kb_finishes(zenodo: FakeZenodo, tmp_path: Path) -> None:
    zenodo.add_record(TEST_RECORD_ID, PAYLOAD)
    zenodo.fail("drop", keep_bytes=50_000, persistent=True)
    path = fetch(zenodo, tmp_path, retries=3)
    assert hashlib.md5(path.read_bytes()).hexdigest() == hashlib.md5(PAYLOAD).hexdigest()
    starts = [int((s.range or "bytes=0-")[6:].rstrip("-")) for s in zenodo.file_requests()]
    # Each try resumes exactly where the bytes that arrived end.
    assert starts == list(range(0, len(PAYLOAD), 50_000))


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
    started = time.monotonic()
    with pytest.raises(DownloadError) as caught:
        # Six tries of 1 s each would take 6 s: the 2 s deadline ends it first.
        fetch(zenodo, tmp_path, retries=5, timeout=(1.0, 1.0), deadline=2.0)
    assert time.monotonic() - started < 3.5
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
    assert one_line(caught) == (
        f"Zenodo record {TEST_RECORD_ID}: cannot reach https://zenodo.org/api/records/"
        f"{TEST_RECORD_ID}: [Errno -2] Name or service not known"
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
