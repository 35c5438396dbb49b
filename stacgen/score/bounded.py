"""Reading a catalog's JSON within stated bounds: pystac-client's StacApiIO, every wait cut.

A catalog given to `stacgen score` may be anyone's server. Each document is read with a
connect timeout and a read timeout, and cut when its whole answer takes longer than
DOCUMENT_SECONDS (a server dripping a byte at a time never trips a read timeout) or grows past
MAX_BYTES; retries are bounded; one lookup reads at most MAX_DOCUMENTS documents (pages and
link walks included) in at most LOOKUP_SECONDS. A document is checked for the shape pystac
relies on (an object; `links` a list of objects with string hrefs, at most MAX_LINKS of them;
`conformsTo` a list of strings; `features` a list of objects) before pystac sees it, so a
hostile one is one line naming its href, never a traceback.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import requests
import urllib3
from pystac.link import Link
from pystac_client.stac_api_io import StacApiIO
from requests import Request
from urllib3 import Retry

from stacgen.fileutil import json_object
from stacgen.score.errors import ScoreError

CONNECT_SECONDS: Final = 10.0
READ_SECONDS: Final = 30.0
DOCUMENT_SECONDS: Final = 60.0
LOOKUP_SECONDS: Final = 300.0
MAX_BYTES: Final = 64 << 20
MAX_DOCUMENTS: Final = 10_000
MAX_LINKS: Final = 10_000
# Items one lookup keeps (ALCD has 37): pages past it are not asked for.
MAX_ITEMS: Final = 10_000
CHUNK: Final = 1 << 16


def _href(source: Any) -> str:
    if isinstance(source, Link):
        return str(source.get_absolute_href() or source.href)
    return str(source)


def first_line(err: BaseException) -> str:
    """An error's message cut to its first line: GDAL's and servers' may run over several."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


class BoundedIO(StacApiIO):
    """StacApiIO whose every read is bounded (see the module docstring); one per lookup."""

    def __init__(self) -> None:
        retry = Retry(total=2, connect=2, read=0, backoff_factor=0.5, status_forcelist=())
        # Kept apart from StacApiIO.timeout: pystac-client's Client.open calls update(), which
        # sets that to None (no bound at all) when the caller gives none.
        self.waits = (CONNECT_SECONDS, READ_SECONDS)
        super().__init__(timeout=self.waits, max_retries=retry)
        self.started = time.monotonic()
        self.documents = 0

    def _spend(self, href: str) -> tuple[float, str]:
        """Count one more document; the time left for it (LOOKUP_SECONDS bounds the sum) and
        what to say when it runs out."""
        self.documents += 1
        if self.documents > MAX_DOCUMENTS:
            raise ScoreError(f"{href}: more than {MAX_DOCUMENTS} documents read: lookup stopped")
        lookup = f"the catalog lookup took over {LOOKUP_SECONDS:g} s"
        left = LOOKUP_SECONDS - (time.monotonic() - self.started)
        if left <= 0:
            raise ScoreError(f"{href}: {lookup}")
        if left < DOCUMENT_SECONDS:
            return left, lookup
        return DOCUMENT_SECONDS, f"the answer took over {DOCUMENT_SECONDS:g} s: cut"

    def read_text(self, source: Any, *args: Any, **kwargs: Any) -> str:
        href = _href(source)
        if isinstance(source, Link) or href.startswith(("http://", "https://")):
            return super().read_text(source, *args, **kwargs)
        self._spend(href)
        return _read_file(Path(href))

    def request(
        self,
        href: str,
        method: str | None = None,
        headers: dict[str, str] | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> str:
        """One GET (pystac-client pages by GET here), its whole answer within its time left."""
        budget, why = self._spend(href)
        prepared = self.session.prepare_request(
            Request(method or "GET", href, headers=headers, params=parameters or {})
        )
        url = prepared.url or href
        deadline = time.monotonic() + budget
        connect, read = self.waits
        try:
            with self.session.send(prepared, timeout=self.waits, stream=True) as response:
                if not 200 <= response.status_code < 300:
                    raise ScoreError(f"{url}: answered HTTP {response.status_code}")
                body = _read_body(response, url, deadline, why)
        except requests.RequestException as err:
            raise ScoreError(f"{url}: {_unanswered(err, connect, read)}") from None
        except urllib3.exceptions.ReadTimeoutError:
            raise ScoreError(f"{url}: stopped answering midway (no byte in {read:g} s)") from None
        except urllib3.exceptions.HTTPError as err:  # the connection lost mid-answer
            said = err.args[0] if err.args and isinstance(err.args[0], str) else first_line(err)
            raise ScoreError(f"{url}: broke off its answer midway ({said})") from None
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise ScoreError(f"{url}: not UTF-8 text") from None

    def read_json(self, source: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        href = _href(source)
        text = self.read_text(source, *args, **kwargs)
        try:
            doc = json_object(text)
        except ValueError as err:
            raise ScoreError(f"{href}: {first_line(err)[:200]}") from None
        check_shape(doc, href)
        return doc


def _unanswered(err: requests.RequestException, connect: float, read: float) -> str:
    """Why a request got no answer, with the bound that cut it. requests reports a read
    timeout under urllib3's retries as a ConnectionError; its cause tells them apart (a
    refused connection is a NewConnectionError, which urllib3 derives from its connect
    timeout)."""
    cause = getattr(err.args[0], "reason", None) if err.args else None
    refused = isinstance(cause, urllib3.exceptions.NewConnectionError)
    if isinstance(err, requests.ConnectTimeout) or (
        isinstance(cause, urllib3.exceptions.ConnectTimeoutError) and not refused
    ):
        return f"no connection in {connect:g} s"
    if isinstance(err, requests.ReadTimeout) or isinstance(
        cause, urllib3.exceptions.ReadTimeoutError
    ):
        return f"connected, but no answer in {read:g} s"
    return f"cannot be reached ({type(err).__name__})"


def _read_file(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as err:
        raise ScoreError(f"{path}: cannot be read ({err.strerror or err})") from None
    if len(data) > MAX_BYTES:
        raise ScoreError(f"{path}: larger than {MAX_BYTES >> 20} MiB: not read")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ScoreError(f"{path}: not UTF-8 text") from None


def _read_body(response: requests.Response, url: str, deadline: float, why: str) -> bytes:
    """The answer's bytes, cut at MAX_BYTES or at the deadline (a dripping server)."""
    parts, size = [], 0
    # read1: what has arrived (up to CHUNK), so that a dripping server meets the deadline;
    # iter_content would wait for a whole CHUNK between two looks at the clock.
    while part := response.raw.read1(CHUNK, decode_content=True):
        size += len(part)
        if size > MAX_BYTES:
            raise ScoreError(f"{url}: answer larger than {MAX_BYTES >> 20} MiB: not read")
        if time.monotonic() > deadline:
            raise ScoreError(f"{url}: {why}")
        parts.append(part)
    return b"".join(parts)


def check_shape(doc: Mapping[str, Any], href: str) -> None:
    """The fields pystac reads without checking, checked: a hostile document is one line."""
    _check_links(doc, href)
    conforms = doc.get("conformsTo", [])
    if not isinstance(conforms, list) or not all(isinstance(c, str) for c in conforms):
        raise ScoreError(f"{href}: malformed STAC ('conformsTo' is not a list of strings)")
    features = doc.get("features", [])
    if not isinstance(features, list) or not all(isinstance(f, dict) for f in features):
        raise ScoreError(f"{href}: malformed STAC ('features' is not a list of objects)")
    for feature in features:
        _check_links(feature, href)
        for key in ("properties", "assets"):
            if not isinstance(feature.get(key, {}), dict):
                raise ScoreError(f"{href}: malformed STAC (a feature's {key!r} is not an object)")


def _check_links(doc: Mapping[str, Any], href: str) -> None:
    links = doc.get("links", [])
    if not isinstance(links, list):
        raise ScoreError(f"{href}: malformed STAC ('links' is not a list)")
    if len(links) > MAX_LINKS:
        raise ScoreError(f"{href}: {len(links)} links, more than {MAX_LINKS}: not followed")
    for link in links:
        if not isinstance(link, dict) or not isinstance(link.get("href"), str):
            raise ScoreError(f"{href}: malformed STAC (a link is not an object with an href)")
        if not isinstance(link.get("rel", ""), str):
            raise ScoreError(f"{href}: malformed STAC (a link's 'rel' is not a string)")
