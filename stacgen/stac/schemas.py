"""Where validation reads the STAC JSON Schemas from: a mirror folder, or their canonical URLs.

As the field's validators do, stacgen fetches a schema from its URL the first time it needs it;
unlike most of them it then checks the bytes against the sha256 pinned in `schema_pins` and
keeps the file in the user cache (`<cache>/schemas/<host>/<path>`), so every later run is
offline. `STACGEN_SCHEMAS` (or `--schemas`) names a mirror folder instead (the same layout), for
machines without a network: the tests and CI use it. Every fetch is bounded (connect and read
timeouts, one try per URL): an unreachable host makes the whole set unavailable at once.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from stacgen import __version__, config
from stacgen.errors import StacgenError
from stacgen.fileutil import atomic_write_bytes
from stacgen.stac.schema_pins import SCHEMA_SHA256

log = logging.getLogger(__name__)

FETCH_TIMEOUT: tuple[float, float] = (10.0, 30.0)
"""Seconds to connect, and to wait for each read, when fetching one schema."""
CACHE_FOLDER = "schemas"
# What the user can do when the schemas cannot be had: options of every command that validates.
SCHEMAS_HINT = f"--schemas DIR or set {config.SCHEMAS_ENV} to a schema mirror"


class SchemaNotFound(StacgenError):
    """A schema URL this source does not hold (not mirrored, not pinned, not served)."""


class SchemasUnavailable(StacgenError):
    """The schemas cannot be had at all here (offline, or the server's bytes are not the pinned
    ones): validation against them cannot run, whatever the catalog."""


class SchemaSource(Protocol):
    """Reads one schema document by its URL (no fragment)."""

    def read(self, url: str) -> bytes:
        """The document's bytes; SchemaNotFound or SchemasUnavailable."""
        ...

    def describe(self) -> str:
        """Where the schemas come from, for messages."""
        ...


def relative_path(url: str) -> Path:
    """The mirror layout: `https://host/path` -> `host/path`; SchemaNotFound for other URLs."""
    parts = urlsplit(url)
    relative = unquote(parts.path).lstrip("/")
    if parts.scheme not in ("http", "https") or not parts.netloc or ".." in relative.split("/"):
        raise SchemaNotFound(f"schema {url} is not an http(s) URL a mirror can hold")
    return Path(parts.netloc) / relative


@dataclass(frozen=True)
class MirrorSchemas:
    """A local mirror folder; a URL that is not mirrored is reported, never fetched."""

    folder: Path

    def read(self, url: str) -> bytes:
        path = self.folder / relative_path(url)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise SchemaNotFound(
                f"schema {url} is not in the offline mirror {self.folder}"
            ) from None
        except OSError as err:
            raise SchemaNotFound(f"schema {url}: mirror file {path}: {err.strerror}") from None

    def describe(self) -> str:
        return f"the schema mirror {self.folder}"


@dataclass(frozen=True)
class PinnedSchemas:
    """The pinned schemas, each fetched once from `base` (its canonical URL when None; else
    `<base>/<host>/<path>`, a mirror served over HTTP) into `cache`, checked on every read."""

    cache: Path
    base: str | None = None
    timeout: tuple[float, float] = FETCH_TIMEOUT

    def read(self, url: str) -> bytes:
        pinned = SCHEMA_SHA256.get(url)
        if pinned is None:
            raise SchemaNotFound(
                f"schema {url} is not one stacgen pins (stacgen/stac/schema_pins.py); "
                f"to validate against it, pass {SCHEMAS_HINT} that holds it"
            )
        path = self.cache / relative_path(url)
        try:
            data = path.read_bytes()
        except OSError:
            data = None
        if data is not None and hashlib.sha256(data).hexdigest() == pinned:
            return data
        data = self._fetch(url, pinned)
        try:
            atomic_write_bytes(path, data)
        except OSError as err:  # a cache that cannot keep it costs a fetch next time, no more
            log.warning("could not cache schema %s in %s: %s", url, path, err)
        return data

    def _fetch(self, url: str, pinned: str) -> bytes:
        # Imported here: requests is a third of `stacgen publish`'s start-up, and a publish
        # that changes nothing (or reads a mirror or the cache) fetches no schema.
        import requests

        from stacgen.source.transfer import describe_failure

        where = url if self.base is None else f"{self.base.rstrip('/')}/{relative_path(url)}"
        log.info("fetching schema %s", where)
        headers = {"User-Agent": f"stacgen/{__version__}"}
        try:
            resp = requests.get(where, timeout=self.timeout, headers=headers)
        except requests.RequestException as err:
            reason = describe_failure(err)
            raise SchemasUnavailable(
                f"cannot fetch schema {where}: {reason} (offline? pass {SCHEMAS_HINT})"
            ) from None
        if resp.status_code != 200:
            raise SchemaNotFound(f"schema {where}: HTTP {resp.status_code}")
        digest = hashlib.sha256(resp.content).hexdigest()
        if digest != pinned:
            raise SchemasUnavailable(
                f"schema {where} was served with sha256 {digest}, not the pinned {pinned}: "
                "refused (a proxy or captive portal answering?)"
            )
        return resp.content

    def describe(self) -> str:
        return f"the pinned schemas (cached in {self.cache})"


def schema_source(mirror: Path | None = None) -> SchemaSource:
    """`--schemas DIR` or STACGEN_SCHEMAS when given (a mirror), else the pinned schemas fetched
    into the user cache; ConfigError if a named mirror folder does not exist."""
    folder = config.schemas_dir(mirror)
    if folder is not None:
        return MirrorSchemas(folder)
    return PinnedSchemas(config.cache_dir() / CACHE_FOLDER, config.schema_base_url())
