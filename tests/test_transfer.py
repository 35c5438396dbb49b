"""stacgen.source.transfer: one verified, resumable download, against a local HTTP server."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from stacgen.source import transfer

BODY = bytes(range(256)) * 64


@dataclass(frozen=True)
class Remote:
    url: str
    size: int
    md5: str


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


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert transfer.retry_after_seconds("7") == 7.0
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert transfer.retry_after_seconds(later, now=now) == 30.0
    assert transfer.retry_after_seconds("86400") == transfer.MAX_RETRY_AFTER
    assert transfer.retry_after_seconds("soon") is None
