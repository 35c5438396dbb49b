"""Getting a band file to read: a local path as it is, an HTTP(S) file downloaded once.

A provider names each band by a GDAL path. A local file (or a /vsizip/ member) is read where it
lies; its digest is computed from its bytes. An HTTP(S) file (`/vsicurl/https://...`) is
downloaded once into the item's work folder, hashed on the way, and decoded from there: a
full-resolution read of a JPEG 2000 needs every byte of it anyway, and a file on disk is
decoded without a round trip per code block. Every request has connect and read timeouts; a
connection cut midway resumes with a range request, a bounded number of times, and a file
shorter than its Content-Length is a truncated band. Other GDAL paths (/vsis3/ with the
requester-pays flag, /vsigs/), and any band whose provider gives GDAL options (headers,
requester pays: GDAL's business, with the credentials it finds), are read through GDAL itself,
by range requests, with GDAL_HTTP_TIMEOUT and a
bounded GDAL_HTTP_MAX_RETRY; their digest is then not known (the manifest says so).
"""

from __future__ import annotations

import hashlib
import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.exceptions import ChunkedEncodingError

from stacgen.fileutil import CHUNK, digests
from stacgen.imagery.located import ImageryError

log = logging.getLogger(__name__)

RETRIES: Final = 3  # resumptions of one download after a cut connection
# Small enough that a cut connection leaves most of what arrived on disk, to resume from.
STREAM_CHUNK: Final = 64 << 10


@dataclass(frozen=True)
class Readable:
    """A band file ready for GDAL: where to open it, and what the manifest says about it."""

    gdal_path: str
    source: str  # what the manifest names (a URL without its query, a path)
    size: int | None
    sha256: str | None
    downloaded: Path | None = None  # a temporary copy, removed once decoded


def public(url: str) -> str:
    """A URL as a manifest may hold it: no user info, no query (signatures), no fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def http_url(gdal_path: str) -> str | None:
    """The URL of an HTTP(S) band (`/vsicurl/https://...` or a bare URL), else None."""
    rest = gdal_path.removeprefix("/vsicurl/")
    return rest if rest.startswith(("http://", "https://")) else None


def prepare(gdal_path: str, work: Path, band: str, timeout: float, via_gdal: bool) -> Readable:
    """The band at `gdal_path` made readable: downloaded into `work` if it is HTTP(S), unless
    `via_gdal` (the provider gave GDAL options: requester pays, headers, an endpoint)."""
    url = http_url(gdal_path)
    if via_gdal and gdal_path.startswith("/vsi"):
        shown = public(url) if url else gdal_path
        return Readable(gdal_path, shown, None, None)
    if url is not None:
        target = work / f"{band}.source"
        size, sha = download(url, target, timeout)
        return Readable(str(target), public(url), size, sha, target)
    if gdal_path.startswith("/vsizip/"):
        return _zip_member(gdal_path)
    if gdal_path.startswith("/vsi"):
        return Readable(gdal_path, gdal_path, None, None)
    path = Path(gdal_path)
    try:
        size = path.stat().st_size
        sha = digests(path)["sha256"]
    except OSError as err:
        raise ImageryError(f"{gdal_path}: cannot be read ({err.strerror or err})") from None
    return Readable(gdal_path, gdal_path, size, sha)


def _zip_member(gdal_path: str) -> Readable:
    rest = gdal_path.removeprefix("/vsizip/")
    archive, sep, member = rest.partition(".zip/")
    if not sep:
        return Readable(gdal_path, gdal_path, None, None)
    try:
        with zipfile.ZipFile(f"{archive}.zip") as zf, zf.open(member) as fh:
            h = hashlib.sha256()
            size = 0
            while chunk := fh.read(CHUNK):
                h.update(chunk)
                size += len(chunk)
    except (OSError, KeyError, zipfile.BadZipFile) as err:
        raise ImageryError(f"{gdal_path}: cannot be read ({err})") from None
    return Readable(gdal_path, gdal_path, size, h.hexdigest())


def download(url: str, target: Path, timeout: float) -> tuple[int, str]:
    """`url` into `target` (size, sha256), resuming a cut connection with a range request."""
    h = hashlib.sha256()
    done = 0
    expected: int | None = None
    with target.open("wb") as out:
        for attempt in range(RETRIES + 1):
            try:
                expected = _stream(url, out, h, done, timeout, expected)
                done = out.tell()
                break
            except (requests.ConnectionError, requests.Timeout, ChunkedEncodingError) as err:
                done = out.tell()
                if attempt == RETRIES:
                    raise ImageryError(f"{public(url)}: unreachable ({_reason(err)})") from None
                log.info("resuming %s at byte %d after %s", public(url), done, _reason(err))
        out.flush()
        os.fsync(out.fileno())
    if expected is not None and done != expected:
        raise ImageryError(f"{public(url)}: truncated ({done} of {expected} bytes)")
    return done, h.hexdigest()


def _stream(
    url: str, out: object, h: hashlib._Hash, start: int, timeout: float, expected: int | None
) -> int | None:
    headers = {"Range": f"bytes={start}-"} if start else {}
    with requests.get(url, stream=True, timeout=(timeout, timeout), headers=headers) as resp:
        if resp.status_code == 404:
            raise ImageryError(f"{public(url)}: not found (HTTP 404)")
        if start and resp.status_code != 206:
            raise ImageryError(
                f"{public(url)}: the server does not resume (HTTP {resp.status_code})"
            )
        if resp.status_code not in (200, 206):
            raise ImageryError(f"{public(url)}: HTTP {resp.status_code}")
        if expected is None and resp.status_code == 200:
            length = resp.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
        for chunk in resp.iter_content(STREAM_CHUNK):
            out.write(chunk)  # type: ignore[attr-defined]
            h.update(chunk)
    return expected


def _reason(err: Exception) -> str:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return text[:200]
