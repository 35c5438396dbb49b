"""Read a built catalog from disk with every href absolute under the URL it is served from.

The one home of this for every consumer that hands the catalog's documents to others: the
pgstac loader, the API's embedded backend (through CatalogReader, one document at a time),
publishing. A catalog built with `--root-href` keeps its absolute hrefs, moved under the given
URL when that differs.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urljoin, urlsplit

import orjson

from stacgen.errors import StacgenError
from stacgen.fileutil import JsonFileError, read_json_object
from stacgen.stac.links import (
    SCHEME,
    WALK_RELS,
    Plains,
    change_hrefs,
    join_plain,
    links_of,
    map_hrefs,
    normal_url,
    published_root,
    walk,
)

log = logging.getLogger(__name__)


class CatalogReadError(StacgenError, ValueError):
    """The catalog cannot be read: the message names the file or parameter and the problem."""


@dataclass(frozen=True)
class CatalogDocs:
    """A catalog's root, collections and items, hrefs absolute under the serving URL."""

    catalog: dict[str, Any]
    collections: list[dict[str, Any]]
    items: list[dict[str, Any]]
    root: str  # the URL the hrefs are under, ending in "/"


def read_catalog(directory: Path, root_href: str | None = None) -> CatalogDocs:
    """Every collection and item reachable from DIR/catalog.json, hrefs absolute under the URL.

    `root_href` is the URL DIR is served under; None takes the one the catalog was built for
    (`--root-href`). Absolute hrefs under the catalog's own published root move to `root_href`.
    """
    directory = directory.resolve()
    catalog = _read(directory / "catalog.json")
    root = _root_url(root_href, published_root(catalog), directory)
    reader = CatalogReader(directory, catalog, root)
    docs = CatalogDocs(reader.served_doc(catalog, reader.catalog_url), [], [], root)
    for url, doc in reader.documents():
        kind = doc.get("type")
        if kind == "Collection":
            docs.collections.append(reader.served_doc(doc, url))
        elif kind == "Feature":
            docs.items.append(reader.served_doc(doc, url))
    return docs


class CatalogReader:
    """A catalog's documents one at a time, as read (`documents`), and the rule that moves their
    hrefs under the URL `root` the folder is served from (`served`, `served_doc` on a document,
    `rewritten` on its compact JSON text): read_catalog's, and the serve index's at the speed
    10,000 items need (read_catalog once took 15 s for them: `map_hrefs` walks every value of
    every item and `urljoin` resolves every href). The hrefs a build writes (absolute URLs,
    plain relative paths) are resolved without urljoin, which resolves the rest.

    Links followed: child and item links to a regular file under the folder, symbolic links
    resolved (one out of the folder is refused, with a warning), each file once under its
    normalised URL. Absolute hrefs under the catalog's published root (`--root-href`) are its
    own files: they move to `root` too.
    """

    def __init__(self, directory: Path, catalog: Mapping[str, Any], root: str) -> None:
        self.directory = directory  # resolved
        self.root = root
        self.published = published_root(catalog)
        self.base = directory.as_uri() + "/"  # the catalog's files, before rebasing
        self.catalog_url = self.base + "catalog.json"
        self.folder = str(directory)
        self._folders: dict[str, str] = {}
        self._plains: Plains = {}
        self._pool: ThreadPoolExecutor | None = None
        self._upcoming: list[str] = []  # the links followed, in order
        self._loaded: set[str] = set()
        self._reads: dict[str, Future[bytes]] = {}
        self._stats: dict[str, Future[os.stat_result]] = {}

    def documents(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(url, document as read) of every collection and item reachable from catalog.json;
        CatalogReadError names a file that cannot be read."""
        with ThreadPoolExecutor(READERS, thread_name_prefix="stacgen-read") as pool:
            self._pool = pool
            try:
                for url, doc in walk(self.catalog_url, self._load, self._follow):
                    yield url, dict(doc)
            finally:
                self._pool = None
                for future in self._reads.values():
                    future.cancel()

    def served(self, href: str, doc_url: str, folder: str | None = None) -> str:
        """An href found in the document read from `doc_url` (in `folder`), absolute and, if it
        names a file of the catalog, under `root`."""
        published = self.published
        if published and href.startswith(published):
            return self.root + href[len(published) :]
        scheme = SCHEME.match(href)
        if scheme and scheme[1].lower() != "file":
            return href  # what urljoin gives for another scheme: the href as it is
        folder = folder or doc_url.rsplit("/", 1)[0] + "/"
        url = None if scheme else join_plain(folder, href, self._plains)
        if url is None:
            url = urljoin(doc_url, href)
        return self.root + url[len(self.base) :] if url.startswith(self.base) else url

    def served_doc(self, doc: Mapping[str, Any], doc_url: str) -> dict[str, Any]:
        """A copy of the document read from `doc_url`, its hrefs `served`."""
        folder = doc_url.rsplit("/", 1)[0] + "/"
        served: dict[str, Any] = map_hrefs(doc, lambda href: self.served(href, doc_url, folder))
        return served

    def rewritten(self, raw: bytes, doc_url: str) -> bytes:
        """A document's compact JSON (orjson's) read from `doc_url`, its hrefs `served`."""
        folder = doc_url.rsplit("/", 1)[0] + "/"
        return change_hrefs(raw, lambda href: self.served(href, doc_url, folder))

    def _load(self, url: str) -> dict[str, Any]:
        path = self._path(url)
        self._loaded.add(url)
        self._read_ahead()
        future = self._reads.pop(url, None)
        try:
            value = orjson.loads(future.result() if future else _read_bytes(path))
        except (OSError, orjson.JSONDecodeError):
            value = None  # read_json_object says what is wrong, or reads what orjson refuses
        if not isinstance(value, dict):
            return _read(Path(path))
        self._stat_ahead(url, value)
        return value

    def _path(self, url: str) -> str:
        return os.path.join(self.folder, unquote(url[len(self.base) :]))

    def _read_ahead(self) -> None:
        """Read the next documents the walk will load in threads, PREFETCH at most: their
        reads wait on the disk together (one after the other, a cold page cache made 10,000
        items take 4 s more). The walk loads the links it followed last first."""
        while self._pool and self._upcoming and len(self._reads) < PREFETCH:
            url = self._upcoming.pop()
            if url not in self._loaded and url not in self._reads:
                self._reads[url] = self._pool.submit(_read_bytes, self._path(url))

    def _stat_ahead(self, doc_url: str, doc: dict[str, Any]) -> None:
        """lstat() in threads every file a document links to, before _follow checks them."""
        if self._pool is None:
            return
        for link in links_of(doc):
            href = link.get("href")
            if link.get("rel") in WALK_RELS and isinstance(href, str):
                url = self._target(doc_url, href)
                if url.startswith(self.base):
                    path = self._path(url)
                    if path not in self._stats:
                        self._stats[path] = self._pool.submit(os.lstat, path)

    def _target(self, doc_url: str, href: str) -> str:
        """The normalised URL of the file a link's href names, before checking it."""
        published, base = self.published, self.base
        if published and href.startswith(published):
            href = base + href[len(published) :]
        folder = doc_url.rsplit("/", 1)[0] + "/"
        return normal_url(join_plain(folder, href, self._plains) or urljoin(doc_url, href))

    def _follow(self, doc_url: str, href: str) -> str | None:
        url = self._target(doc_url, href)
        if url.startswith(self.base) and self._is_catalog_file(self._path(url)):
            self._upcoming.append(url)
            return url
        log.warning("%s: skipping link to %s (not a file of the catalog)", doc_url, href)
        return None

    def _is_catalog_file(self, path: str) -> bool:
        """Path(path).resolve() is a file under the catalog folder: the file's folder resolved
        once for all the items in it, with strings, not pathlib (resolving each item's Path
        took a second at 10,000 items)."""
        head, name = os.path.split(path)
        stats = self._stats.pop(path, None)
        try:
            st = stats.result() if stats else os.lstat(path)
        except (OSError, ValueError):  # missing, or a NUL in the href
            return False
        if name in ("", ".", "..") or stat.S_ISLNK(st.st_mode):
            real = os.path.realpath(path)
            regular = os.path.isfile(real)
        else:
            if head not in self._folders:
                self._folders[head] = os.path.realpath(head)
            real, regular = os.path.join(self._folders[head], name), stat.S_ISREG(st.st_mode)
        inside = real == self.folder or real.startswith(self.folder + os.sep)
        return inside and regular


# Files read ahead of the walk, and the threads reading them (their reads release the GIL).
PREFETCH: Final = 64
READERS: Final = 8


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def _read(path: Path) -> dict[str, Any]:
    try:
        return read_json_object(path)
    except JsonFileError as err:
        raise CatalogReadError(str(err)) from err


def _root_url(root_href: str | None, published: str | None, directory: Path) -> str:
    root = root_href or published
    if root is None:
        raise CatalogReadError(
            f"{directory}: the catalog's hrefs are relative; pass --root-href, the URL its "
            "files are served under, so the API's asset links resolve"
        )
    parts = urlsplit(root)
    if not (parts.scheme and parts.netloc):
        raise CatalogReadError(f"--root-href {root!r}: not an absolute URL")
    return root if root.endswith("/") else root + "/"
