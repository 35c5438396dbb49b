"""The S3 side of a publish, through obstore: list, read an object's metadata, put, delete.

obstore (object_store's Rust client) streams a file from disk, switches to a multipart upload
above MULTIPART_CHUNK, and stores headers and user metadata given as attributes; a HEAD-only GET
returns those attributes, so comparing never downloads an object. Its own credential chain reads
the AWS_* environment variables and instance metadata; named profiles (AWS_PROFILE, SSO,
~/.aws/config) come through boto3's session when no key is in the environment.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import obstore
from obstore.exceptions import BaseError, NotFoundError
from obstore.store import S3Store

from stacgen.errors import StacgenError
from stacgen.fileutil import JsonFileError, atomic_write_json, read_json_object
from stacgen.publish.plan import LocalFile, RemoteObject

if TYPE_CHECKING:
    from obstore import Attributes, ObjectMeta, PutResult
    from obstore.store import S3CredentialProvider

log = logging.getLogger(__name__)

MULTIPART_CHUNK = 8 * 1024 * 1024  # parts of 8 MiB above 8 MiB: a COG of the full tile is less
DEFAULT_REGION = "us-east-1"
_T = TypeVar("_T")
# What S3 and the S3-compatible stores accept as a bucket name (lower case for new buckets on
# AWS; the legacy upper case and underscore names are still served), nothing a URL must escape.
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]")
# An endpoint obstore can sign requests for: anything else makes its Rust code panic.
_ENDPOINT = re.compile(
    r"https?://(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)"
    r"(?::(?P<port>[0-9]{1,5}))?(?:/[A-Za-z0-9._~/-]*)?"
)


class StoreError(StacgenError):
    """The store refused or could not be reached; the message is one line for the user."""


@dataclass(frozen=True)
class Timeouts:
    """Every wait on the store is bounded, in seconds.

    One request gives up after `read` seconds without a byte (a server that accepted and never
    answers, an answer cut midway), or after `request` seconds in all (a server that drips);
    it is tried again (`retries` times at most) only within `retry_within` seconds of its
    first try, so that no call to the store lasts more than `bound()` seconds.
    """

    connect: float = 10.0
    read: float = 30.0
    request: float = 300.0  # one 8 MiB part at 0.25 Mbit/s
    retries: int = 2
    retry_within: float = 30.0

    def bound(self) -> float:
        """The longest one call can take: a last try started just before `retry_within`."""
        return self.retry_within + self.request


@dataclass(frozen=True)
class Target:
    bucket: str
    prefix: str  # without leading or trailing slash; "" for the bucket's top

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise StoreError(f"--to {url}: expected s3://BUCKET/PREFIX")
        if parts.query or parts.fragment or not _BUCKET.fullmatch(parts.netloc):
            raise StoreError(
                f"--to {url}: {parts.netloc!r} is not a bucket name (3 to 63 letters, digits, "
                "'.', '-' or '_', starting and ending with a letter or digit)"
            )
        prefix = parts.path.strip("/")
        segments = prefix.split("/") if prefix else []
        if any(s in ("", ".", "..") for s in segments) or any(ord(c) < 0x20 for c in prefix):
            # S3 keeps "x/../d" as it is while readers' URLs resolve it to "d": refuse it.
            raise StoreError(
                f"--to {url}: the prefix has an empty, '.' or '..' segment or a control "
                "character; write the prefix as its readers' URLs resolve it"
            )
        return cls(parts.netloc, prefix)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")


@dataclass(frozen=True)
class Listed:
    """An object as a listing shows it; any rewrite changes its ETag or its time."""

    size: int
    e_tag: str | None
    last_modified: str


@dataclass(frozen=True)
class Seen:
    """An object listed after a publish from here, with the headers it was checked to have."""

    listed: Listed
    attributes: dict[str, str]


def read_seen(path: Path) -> dict[str, Seen]:
    """What an earlier publish to the same place recorded; {} when nothing usable is there."""
    try:
        data = read_json_object(path)
        return {k: Seen(Listed(v[0], v[1], v[2]), dict(v[3])) for k, v in data.items()}
    except (JsonFileError, TypeError, IndexError, ValueError):
        return {}


def write_seen(path: Path, seen: Mapping[str, Seen]) -> None:
    data = {
        key: [s.listed.size, s.listed.e_tag, s.listed.last_modified, s.attributes]
        for key, s in sorted(seen.items())
    }
    atomic_write_json(path, data)


class Store:
    """One bucket prefix; every call raises StoreError with a one-line reason on failure."""

    def __init__(
        self,
        target: Target,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        workers: int = 8,
        timeouts: Timeouts = Timeouts(),
    ) -> None:
        self.target = target
        self._listed: dict[str, Listed] = {}
        self._put_etags: dict[str, str | None] = {}
        check_endpoints(endpoint_url)
        self.endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or "AWS S3"
        self.workers = workers
        self.timeouts = timeouts
        config: dict[str, Any] = {"region": region or _region()}
        if endpoint_url:
            config["endpoint"] = endpoint_url
        self._store = S3Store(
            target.bucket,
            prefix=target.prefix or None,
            config=config,  # type: ignore[arg-type]
            client_options={
                "allow_http": True,  # only used when the endpoint given is http://
                "connect_timeout": timedelta(seconds=timeouts.connect),
                "read_timeout": timedelta(seconds=timeouts.read),
                "timeout": timedelta(seconds=timeouts.request),
            },
            retry_config={
                "max_retries": timeouts.retries,
                "retry_timeout": timedelta(seconds=timeouts.retry_within),
            },
            credential_provider=_profile_credentials(),
        )

    def inventory(
        self, wanted: Iterable[LocalFile], seen: Mapping[str, Seen] | None = None
    ) -> dict[str, RemoteObject]:
        """Every object under the prefix; with its metadata where size alone cannot decide.

        The metadata comes from a HEAD request, or from `seen` (what an earlier publish from
        here recorded) when the listing shows the object unchanged since: same size, ETag and
        last-modified time, which any rewrite of the object changes.
        """
        self._listed = self._listing()
        seen = seen or {}
        sizes = {f.key: f.size for f in wanted}
        known = {
            key: seen[key].attributes
            for key, listed in self._listed.items()
            if key in seen and seen[key].listed == listed
        }
        ask = [k for k, o in self._listed.items() if k not in known and sizes.get(k) == o.size]
        known |= dict(zip(ask, self._parallel(self._attributes, ask), strict=True))
        return {
            key: RemoteObject(key, listed.size, known.get(key))
            for key, listed in sorted(self._listed.items())
        }

    def put_all(self, files: list[LocalFile], on_done: Callable[[LocalFile], None]) -> None:
        """Upload in parallel; returns once every file is in place (or raises)."""

        def put(file: LocalFile) -> LocalFile:
            result = self._call(lambda: self._put(file))
            self._put_etags[file.key] = result["e_tag"]
            return file

        self._parallel(put, files, on_done)

    def seen_now(self, files: Iterable[LocalFile]) -> dict[str, Seen]:
        """After a publish: each file's object as listed, where it is the one sent or kept."""
        listed = self._listing() if self._put_etags else self._listed
        seen = {}
        for file in files:
            now, before = listed.get(file.key), self._listed.get(file.key)
            expected = self._put_etags.get(file.key, before.e_tag if before else None)
            if now is not None and now.e_tag is not None and now.e_tag == expected:
                seen[file.key] = Seen(now, file.attributes())
        return seen

    def read_object(self, key: str) -> bytes | None:
        """The bytes of a small object (the published state); None if it is not there."""
        try:
            return self._call(lambda: bytes(obstore.get(self._store, key).bytes()))
        except StoreError as err:
            if isinstance(err.__cause__, NotFoundError):
                return None
            raise

    def put_bytes(self, key: str, data: bytes, content_type: str, cache_control: str) -> None:
        attributes: Attributes = {"Content-Type": content_type, "Cache-Control": cache_control}
        self._call(lambda: obstore.put(self._store, key, data, attributes=attributes))

    def delete(self, keys: list[str]) -> None:
        if keys:
            self._call(lambda: obstore.delete(self._store, keys))

    def _listing(self) -> dict[str, Listed]:
        batches: list[Sequence[ObjectMeta]] = self._call(
            lambda: list(obstore.list(self._store, chunk_size=1000))
        )
        return {
            m["path"]: Listed(m["size"], m["e_tag"], m["last_modified"].isoformat())
            for batch in batches
            for m in batch
        }

    def _attributes(self, key: str) -> dict[str, str]:
        result = self._call(lambda: obstore.get(self._store, key, options={"head": True}))
        return {str(k): str(v) for k, v in result.attributes.items()}

    def _put(self, file: LocalFile) -> PutResult:
        return obstore.put(
            self._store,
            file.key,
            file.path,
            attributes=file.attributes(),
            use_multipart=file.size > MULTIPART_CHUNK,
            chunk_size=MULTIPART_CHUNK,
            max_concurrency=4,
        )

    def _parallel(
        self,
        fn: Callable[[Any], _T],
        args: list[Any],
        on_done: Callable[[_T], None] | None = None,
    ) -> list[_T]:
        if not args:
            return []
        pool = ThreadPoolExecutor(max_workers=self.workers)
        try:
            futures = {pool.submit(fn, arg): i for i, arg in enumerate(args)}
            results: list[Any] = [None] * len(args)
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                if on_done is not None:
                    on_done(results[futures[future]])
            return results
        finally:
            # On a failure or Ctrl-C nothing queued starts; uploads under way finish or fail.
            pool.shutdown(wait=True, cancel_futures=True)

    def _call(self, fn: Callable[[], _T]) -> _T:
        try:
            return fn()
        except BaseError as err:
            raise StoreError(describe(err, self.target, self.endpoint, self.timeouts)) from err


def check_endpoints(endpoint_url: str | None) -> None:
    """The endpoint given, else the one in AWS_ENDPOINT_URL (obstore reads it itself)."""
    if endpoint_url is not None:
        check_endpoint(endpoint_url, "--endpoint-url")
    elif os.environ.get("AWS_ENDPOINT_URL"):
        check_endpoint(os.environ["AWS_ENDPOINT_URL"], "AWS_ENDPOINT_URL")


def check_endpoint(url: str, name: str) -> None:
    """An endpoint URL obstore can use; StoreError in one line naming `name` otherwise."""
    match = _ENDPOINT.fullmatch(url)
    if match is None or int(match["port"] or 0) > 65535:
        raise StoreError(f"{name} {url!r}: expected http(s)://HOST[:PORT][/PATH]")


def _region() -> str:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        return region
    session = _boto3_session()
    return (session.region_name if session else None) or DEFAULT_REGION


def _boto3_session() -> Any:
    if not os.environ.get("AWS_PROFILE") and not _has_aws_config():
        return None
    import boto3

    return boto3.Session()


def _has_aws_config() -> bool:
    home = os.path.expanduser("~/.aws")
    return os.path.exists(os.path.join(home, "config")) or os.path.exists(
        os.path.join(home, "credentials")
    )


def _profile_credentials() -> S3CredentialProvider | None:
    """boto3's credential chain (profiles, SSO) when no key is in the environment."""
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        return None
    session = _boto3_session()
    if session is None or session.get_credentials() is None:
        return None
    from obstore.auth.boto3 import Boto3CredentialProvider

    return Boto3CredentialProvider(session)


# S3 error codes, as they appear in the XML body obstore quotes, and what the user should read.
_CODES: Mapping[str, str] = {
    "NoSuchBucket": "bucket {bucket} does not exist at {endpoint}",
    "InvalidAccessKeyId": "{endpoint} does not know the access key (InvalidAccessKeyId): "
    "check AWS_ACCESS_KEY_ID or AWS_PROFILE",
    "SignatureDoesNotMatch": "{endpoint} refused the secret key (SignatureDoesNotMatch): "
    "check AWS_SECRET_ACCESS_KEY or AWS_PROFILE",
    "ExpiredToken": "the session token has expired (ExpiredToken): renew the credentials",
    "InvalidToken": "{endpoint} refused the session token (InvalidToken)",
    "AccessDenied": "access denied to {target} (AccessDenied): the credentials lack "
    "s3:ListBucket, s3:GetObject, s3:PutObject or s3:DeleteObject",
}
_REFUSED = ("dns error", "Connection refused", "ConnectionRefused", "failed to lookup")
_TIMED_OUT = ("kind: Timeout", "TimedOut", "timed out", "operation timed out")
_CUT = ("response body error", "kind: Body", "Interrupted", "connection closed", "Incomplete")


def describe(
    err: Exception, target: Target, endpoint: str, timeouts: Timeouts | None = None
) -> str:
    """One line for an obstore error: the S3 code when there is one, else what happened."""
    text = str(err)
    names = {"bucket": target.bucket, "endpoint": endpoint, "target": str(target)}
    for code, message in _CODES.items():
        if f"<Code>{code}</Code>" in text or f"Code: {code}" in text:
            return message.format(**names)
    if "169.254.169.254" in text or "credential" in text.lower():
        # obstore fell back to the instance metadata service: no key anywhere else.
        return "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
    return _transport(text, target, endpoint, timeouts or Timeouts())


def _transport(text: str, target: Target, endpoint: str, timeouts: Timeouts) -> str:
    """What went wrong on the way: refused, no answer in time, an answer cut off."""
    tries = re.search(r"after (\d+) retries", text)
    attempts = f" ({int(tries[1]) + 1} tries)" if tries else ""
    if any(marker in text for marker in _REFUSED):
        return f"cannot reach {endpoint}: {_first_line(text)}"
    if any(marker in text for marker in _TIMED_OUT):
        return (
            f"{endpoint} did not answer in time (no connection within {timeouts.connect:g} s "
            f"or no byte of an answer within {timeouts.read:g} s){attempts}"
        )
    if any(marker in text for marker in _CUT):
        return f"{endpoint} broke off its answer midway{attempts}: {_first_line(text)}"
    if "error sending request" in text:
        # A connection that never completed a request: accepted, then nothing usable came.
        return f"cannot reach {endpoint}{attempts}: {_first_line(text)}"
    return f"{target}: {_first_line(text)}"


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "unknown error"
    line = re.sub(r"\s+", " ", line)
    return line if len(line) <= 300 else line[:297] + "..."
