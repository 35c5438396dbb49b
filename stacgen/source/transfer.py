"""A verified, resumable HTTP download: retries with backoff, Range resumes, checksum check.

The bytes go to `<dest>.part`, resumed with a Range request after a dropped connection, and the
file is renamed to `dest` only once its md5 matches (and its sha256, where one is pinned); the
digests of a verified file are memoised in `.memo/` beside it, so checking again costs a stat.
The library never prints: it logs, and reports progress through ``on_progress(done, total)``.
"""

from __future__ import annotations

import email.utils
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import requests
import urllib3

from stacgen import __version__, constants, fileutil
from stacgen.errors import StacgenError

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]
Sleep = Callable[[float], None]

TIMEOUT: tuple[float, float] = (15.0, 60.0)
"""Seconds to connect, and to wait for each read, before a try counts as failed."""
CHUNK_SIZE = fileutil.CHUNK
"""Bytes per read; a dropped connection loses at most the chunk being read."""
MAX_BACKOFF = 60.0
MAX_RETRY_AFTER = 600.0
DEADLINE = 180.0
"""Seconds without progress after which a download gives up, however many tries are left: a
server that never answers would otherwise cost every try's read timeout and the backoff."""
MEMO_DIR = ".memo"
PART_SUFFIX = ".part"

_USER_AGENT = f"stacgen/{__version__} (+https://doi.org/{constants.DOI})"
# Errors after which the same request may succeed; anything else is reported at once.
_TRANSIENT = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)
# The same while reading the body straight from urllib3 (requests wraps these only in its own
# iter_content, which drops the part of a chunk read when the connection breaks).
_TRANSIENT_READ = (
    *_TRANSIENT,
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.ReadTimeoutError,
    urllib3.exceptions.SSLError,
)


class RemoteFile(Protocol):
    """What a download needs to know of the file: where, how big, which md5 (the server's
    word), which sha256 (stacgen's own pin for the bytes it was built from; None: no pin)."""

    @property
    def url(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def md5(self) -> str: ...
    @property
    def sha256(self) -> str | None: ...


class DownloadError(StacgenError):
    """The archive could not be fetched or verified; the message is one line for the user."""


class NotFound(DownloadError):
    """HTTP 404 or 410."""


class Unreachable(DownloadError):
    """The server's name does not resolve or it refuses connections: offline, most likely."""


class _Interrupted(StacgenError):
    """A transfer stopped early; whatever reached the .part file is kept for a resume."""


@dataclass
class Retrier:
    """Counts failed tries in a row and waits between them (Retry-After, else backoff)."""

    retries: int
    backoff: float
    sleep: Sleep
    failures: int = 0
    deadline: float = DEADLINE
    clock: Callable[[], float] = time.monotonic
    since: float = field(default=-1.0)  # when the last progress was made

    def __post_init__(self) -> None:
        self.since = self.clock()

    def failed(self, reason: str, retry_after: float | None = None) -> None:
        """Wait before the next try, or raise once the retries or the deadline are used up."""
        self.failures += 1
        if self.failures > self.retries:
            raise DownloadError(f"{reason}; gave up after {self.failures} tries")
        if retry_after is None:
            delay = min(self.backoff * 2 ** (self.failures - 1), MAX_BACKOFF)
        else:
            delay = retry_after
        if self.clock() - self.since + delay > self.deadline:
            raise DownloadError(
                f"{reason}; gave up after {self.failures} tries: no progress within the "
                f"{self.deadline:.0f} s deadline"
            )
        tries = self.retries + 1
        log.warning("%s; try %d of %d in %.1f s", reason, self.failures + 1, tries, delay)
        self.sleep(delay)

    def progressed(self) -> None:
        """A try that moved the download forward does not count against the next ones."""
        self.failures = 0
        self.since = self.clock()

    def remaining(self) -> float:
        """Seconds left before the deadline."""
        return max(self.deadline - (self.clock() - self.since), 0.0)


@dataclass
class Client:
    session: requests.Session
    retrier: Retrier
    timeout: tuple[float, float]

    def get(
        self, url: str, what: str, *, stream: bool = False, headers: dict[str, str] | None = None
    ) -> requests.Response:
        """A response below 400 (or 416), retrying timeouts, dropped connections, 429 and 5xx.

        A name that does not resolve or a refused connection is reported at once (offline,
        most likely: another try would fail the same way), as is any other client error.
        """
        while True:
            connect, read = self.timeout
            # No single try may wait past the deadline.
            limit = max(self.retrier.remaining(), 0.001)
            try:
                resp = self.session.get(
                    url,
                    headers={"User-Agent": _USER_AGENT, **(headers or {})},
                    stream=stream,
                    timeout=(min(connect, limit), min(read, limit)),
                )
            except _TRANSIENT as exc:
                if _unreachable(exc):
                    raise Unreachable(f"{what}: cannot reach {url}: {_cause(exc)}") from None
                self.retrier.failed(f"{what}: {describe_failure(exc)} ({url})")
                continue
            except requests.RequestException as exc:
                raise DownloadError(f"{what}: {describe_failure(exc)} ({url})") from None
            if resp.status_code == 429 or resp.status_code >= 500:
                resp.close()
                wait = retry_after_seconds(resp.headers.get("Retry-After"))
                self.retrier.failed(f"{what}: HTTP {resp.status_code} from {url}", wait)
                continue
            _raise_for_client_error(resp, what, url)
            return resp

    def get_json(self, url: str, what: str) -> dict[str, Any]:
        with self.get(url, what, headers={"Accept": "application/json"}) as resp:
            try:
                data = fileutil.parse_json(resp.content)
            except ValueError:  # nested too deep included
                raise DownloadError(f"{what}: the answer from {resp.url} is not JSON") from None
        if not isinstance(data, dict):
            raise DownloadError(f"{what}: the answer from {resp.url} is not a JSON object")
        return data


def _raise_for_client_error(resp: requests.Response, what: str, url: str) -> None:
    status = resp.status_code
    if status < 400 or status == 416:
        return
    resp.close()
    if status in (404, 410):
        raise NotFound(f"{what} does not exist (HTTP {status} from {url})")
    raise DownloadError(f"{what}: HTTP {status} from {url}")


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), capped; else None."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        seconds = float(text)
    else:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _unreachable(exc: BaseException) -> bool:
    """Whether the connection was never made: the name did not resolve, or it was refused."""
    if isinstance(exc, requests.Timeout):
        return False
    seen: set[int] = set()
    stack: list[object] = [exc]
    while stack:
        item = stack.pop()
        if id(item) in seen or not isinstance(item, BaseException):
            continue
        seen.add(id(item))
        # urllib3's NameResolutionError is a NewConnectionError; a connect timeout is neither.
        if isinstance(item, urllib3.exceptions.NewConnectionError):
            return True
        stack += [*item.args, getattr(item, "reason", None), item.__cause__, item.__context__]
    return False


_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (requests.Timeout, "timed out"),
    (urllib3.exceptions.ReadTimeoutError, "timed out"),
    (urllib3.exceptions.ProtocolError, "connection broke"),
    (requests.TooManyRedirects, "too many redirects (a redirect loop?)"),
    (requests.exceptions.InvalidSchema, "not an http(s) link"),
    (requests.exceptions.MissingSchema, "not an http(s) link"),
    (requests.exceptions.InvalidURL, "malformed link"),
    (requests.ConnectionError, "connection failed"),
)


def describe_failure(exc: BaseException) -> str:
    """A failed request in one line: its kind and the operating system's words."""
    kind = next((text for cls, text in _KINDS if isinstance(exc, cls)), "request failed")
    return f"{kind}: {_cause(exc)}"


_ERRNO_TEXT = re.compile(r"\[Errno -?\d+\] [^)'\"\]]+")
MAX_CAUSE = 160


def _cause(exc: BaseException) -> str:
    """The operating system's words for what failed, else the exception's, on one line and
    cut (if at all) between words."""
    text = " ".join(str(exc).split())
    found = _ERRNO_TEXT.findall(text)
    if found:
        return str(found[-1]).strip()
    if len(text) <= MAX_CAUSE:
        return text or type(exc).__name__
    return text[:MAX_CAUSE].rsplit(" ", 1)[0] + " ..."


def is_verified(path: Path, file: RemoteFile) -> bool:
    """Whether `path` holds the file the record describes (the md5 is memoised)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return False
    if size != file.size:
        log.warning("%s has %d bytes, the record says %d: fetching it again", path, size, file.size)
        return False
    digest = fileutil.memo_digest(path, path.parent / MEMO_DIR, "md5")
    if digest != file.md5:
        log.warning("%s has md5 %s, the record says %s: fetching it again", path, digest, file.md5)
        return False
    if file.sha256 is not None:
        digest = fileutil.memo_digest(path, path.parent / MEMO_DIR, "sha256")
        if digest != file.sha256:
            log.warning("%s has sha256 %s, not the pinned %s", path, digest, file.sha256)
            return False
    return True


def download(
    client: Client, file: RemoteFile, dest: Path, what: str, progress: ProgressCallback | None
) -> None:
    """Fetch into `<dest>.part`, resuming it, and rename it to `dest` once its md5 matches."""
    part = dest.with_name(dest.name + PART_SUFFIX)
    log.info("downloading %s (%d bytes) from %s to %s", what, file.size, file.url, dest)
    try:
        _download(client, file, part, dest, what, progress)
    except OSError as err:  # a full disk, a cache it may not write: not the server's fault
        where = err.filename if err.filename is not None else part
        raise DownloadError(f"{what}: cannot write {where}: {err.strerror or err}") from err


def _download(
    client: Client,
    file: RemoteFile,
    part: Path,
    dest: Path,
    what: str,
    progress: ProgressCallback | None,
) -> None:
    best = _size(part)  # the furthest the .part has got: passing it is progress
    while True:
        start = _usable_part(part, file.size)
        fresh = False
        if start < file.size or not part.exists():
            try:
                fresh = _fetch_into(client, file, part, start, what, progress) == 0
            except _Interrupted as exc:
                if _size(part) > best:
                    best = _size(part)
                    client.retrier.progressed()
                client.retrier.failed(str(exc))
                continue
        if _accept(part, dest, file, what, fresh=fresh):
            return
        # Bytes appended to a .part left by another try may belong to another file version.
        client.retrier.failed(f"{what}: the resumed download was corrupt; starting over")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _usable_part(part: Path, size: int) -> int:
    have = _size(part)
    if have > size:
        log.warning("%s is longer than the file (%d > %d bytes): deleting it", part, have, size)
        part.unlink()
        return 0
    if have:
        log.info("resuming %s at byte %d of %d", part, have, size)
    return have


def _fetch_into(
    client: Client,
    file: RemoteFile,
    part: Path,
    start: int,
    what: str,
    progress: ProgressCallback | None,
) -> int:
    """One GET appended to `part` from `start` (or written afresh); returns where it began."""
    # Identity encoding: requests would otherwise transparently gunzip a gzip-encoded answer.
    headers = {"Accept-Encoding": "identity"}
    if start:
        headers["Range"] = f"bytes={start}-"
    with client.get(file.url, what, stream=True, headers=headers) as resp:
        offset = _body_offset(resp, part, start, what)
        _stream(resp, part, offset, file.size, what, progress)
    return offset


def _body_offset(resp: requests.Response, part: Path, start: int, what: str) -> int:
    """Where the answer's body belongs in the file; restarts cleanly if it cannot be resumed."""
    status = resp.status_code
    if status == 200:
        if start:
            log.warning("%s: the server ignored the Range request; starting over", what)
        return 0
    if status == 206:
        content_range = resp.headers.get("Content-Range", "")
        if re.fullmatch(rf"bytes {start}-\d+/(\d+|\*)", content_range.strip()):
            return start
        part.unlink(missing_ok=True)
        raise _Interrupted(f"{what}: asked for bytes {start}-, got {content_range!r}")
    if status == 416:
        part.unlink(missing_ok=True)
        raise _Interrupted(f"{what}: the server cannot resume at byte {start}")
    raise DownloadError(f"{what}: unexpected HTTP {status} from {resp.url}")


def _stream(
    resp: requests.Response,
    part: Path,
    offset: int,
    total: int,
    what: str,
    progress: ProgressCallback | None,
) -> None:
    done = offset
    with part.open("ab" if offset else "wb") as fh:
        if progress:
            progress(done, total)
        try:
            # read1 gives what has arrived (up to a chunk) as soon as it has: a connection
            # that breaks mid-chunk keeps every byte received before it, for the resume.
            while chunk := resp.raw.read1(CHUNK_SIZE):
                fh.write(chunk)
                done += len(chunk)
                if done > total:
                    break
                if progress:
                    progress(done, total)
        except _TRANSIENT_READ as exc:
            if done != total:
                raise _Interrupted(
                    f"{what}: stopped at byte {done} of {total} ({describe_failure(exc)})"
                ) from exc
            # Every byte is here (a Content-Length larger than the file ends this way).
            log.info(
                "%s: the connection broke after the last byte (%s)", what, describe_failure(exc)
            )
        finally:
            fh.flush()
            os.fsync(fh.fileno())
    if done > total:
        part.unlink()
        raise DownloadError(f"{what}: the server sent more than the {total} bytes the record says")
    if done < total:
        raise _Interrupted(f"{what}: the transfer ended at byte {done} of {total}")


def _accept(part: Path, dest: Path, file: RemoteFile, what: str, *, fresh: bool) -> bool:
    """Rename a .part whose md5 (and pinned sha256) match; else delete it and raise, or return
    False to retry."""
    pinned = file.sha256 is not None
    found = fileutil.digests(part, ("md5", "sha256") if pinned else ("md5",))  # one read
    actual = found["md5"]
    if actual == file.md5 and pinned and found["sha256"] != file.sha256:
        # The server's md5 holds but these are not the bytes stacgen pins: trying again
        # would fetch the same ones.
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"{what}: checksum mismatch: md5 {actual} is the record's, but sha256 "
            f"{found['sha256']} is not the pinned {file.sha256} (deleted {part.name})"
        )
    if actual == file.md5:
        os.replace(part, dest)
        for algorithm, digest in found.items():
            fileutil.memo_put(dest, dest.parent / MEMO_DIR, digest, algorithm)
        log.info("verified %s (%s)", dest, ", ".join(f"{a} {d}" for a, d in found.items()))
        return True
    part.unlink(missing_ok=True)
    message = (
        f"{what}: checksum mismatch: expected md5 {file.md5}, got {actual} (deleted {part.name})"
    )
    if fresh:
        raise DownloadError(message)
    log.warning("%s", message)
    return False
