"""The served catalog read into memory: collections and items with absolute hrefs, reloaded when
a rebuild swaps in a new catalog folder.

Local hrefs are held under INTERNAL (the .invalid TLD never resolves) and moved under the URL the
client used, per response, so links work whatever host name reached the server. A catalog built
with --root-href holds absolute hrefs under its published root: those are held under INTERNAL
too, so the API hands out this server's URLs for the files it serves.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import unquote, urljoin

import numpy as np
import orjson

from stacgen.errors import StacgenError
from stacgen.fileutil import JsonFileError, read_json_object
from stacgen.layout.catalog import STATE_FILE
from stacgen.serve.index import Columns, ColumnsBuilder, compact
from stacgen.stac.links import WALK_RELS, links_of, published_root, walk
from stacgen.stac.queryables import PropertyTypes

log = logging.getLogger(__name__)

INTERNAL: Final = "http://stacgen.invalid/"

# Above this many items the embedded backend refuses to start: at about 18 KB an item (its JSON
# bytes and its columns), 50,000 take a GiB (see bench/serve.py); serve with --pgstac instead.
MAX_ITEMS: Final = 50_000
# Seconds between reload attempts while swaps keep spoiling them (each reads every item), and
# how long a folder must have stood still before it is read.
RETRY_AFTER: Final = 0.2
QUIET: Final = 0.05


T = TypeVar("T")


class CatalogError(StacgenError):
    """The catalog on disk cannot be served: one line naming the file and the problem."""


# --- the index ------------------------------------------------------------------------------------
class IndexedItem:
    """One item: its JSON as bytes, decoded only when a page shows it (10,000 items as Python
    objects would take a GiB). Its hrefs are moved as read_catalog moves them (absolute, local
    files under INTERNAL) when it is first shown: a quarter of the start-up, otherwise."""

    __slots__ = ("_raw", "_reader", "_url", "collection", "id")

    def __init__(
        self, raw: bytes, collection: str, item_id: str, url: str, reader: _Reader | None
    ) -> None:
        self._raw, self._url, self._reader = raw, url, reader
        self.collection, self.id = collection, item_id

    @property
    def raw(self) -> bytes:
        """The item's JSON as served."""
        if self._reader is not None:
            self._raw, self._reader = self._reader.rewritten(self._raw, self._url), None
        return self._raw

    @property
    def data(self) -> dict[str, Any]:
        value: dict[str, Any] = orjson.loads(self.raw)
        return value


@dataclass(frozen=True)
class StacIndex:
    catalog: dict[str, Any]
    collections: dict[str, dict[str, Any]]
    items: tuple[IndexedItem, ...]  # newest first, then by id
    columns: Columns  # the items' searchable parts, in the same order
    property_types: PropertyTypes  # what the items' properties hold (the queryables)
    published: str | None = None  # the URL the catalog was built for, if it has absolute hrefs
    by_key: dict[tuple[str, str], IndexedItem] = field(default_factory=dict, compare=False)
    _memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def memo(self, name: str, compute: Callable[[StacIndex], T]) -> T:
        """`compute(self)`, computed once for this index (a reload makes a new index)."""
        if name not in self._memo:
            self._memo[name] = compute(self)
        value: T = self._memo[name]
        return value

    def item(self, collection: str, item_id: str) -> IndexedItem | None:
        return self.by_key.get((collection, item_id))

    @property
    def title(self) -> str:
        return str(self.catalog.get("title") or self.catalog.get("id") or "stacgen")


def read_json(path: Path) -> dict[str, Any]:
    try:
        return read_json_object(path)
    except JsonFileError as err:
        raise CatalogError(str(err)) from err


def _count_items(directory: Path, catalog: dict[str, Any]) -> int:
    """The item links of the catalog and of the catalogs and collections it links to: counted
    before any item is read, so that a catalog too large is refused at once."""
    count, docs = 0, [catalog]
    for link in links_of(catalog):
        href = link.get("href")
        if link.get("rel") == "child" and isinstance(href, str) and "://" not in href:
            with contextlib.suppress(CatalogError):
                docs.append(read_json(directory / unquote(href)))
    for doc in docs:
        count += sum(1 for link in links_of(doc) if link.get("rel") == "item")
    return count


def load_index(directory: Path) -> StacIndex:
    """Every collection and item reachable from DIR/catalog.json, hrefs under INTERNAL."""
    directory = directory.resolve()
    catalog = read_json(directory / "catalog.json")
    if _count_items(directory, catalog) > MAX_ITEMS:
        raise CatalogError(
            f"{directory}: more than {MAX_ITEMS} items; the embedded API holds them in "
            "memory: serve this catalog from PostgreSQL (stacgen serve --pgstac DSN)"
        )
    builder, items = ColumnsBuilder(), []
    collections: dict[str, dict[str, Any]] = {}
    reader = _Reader(directory, catalog)
    # Each item is reduced to its bytes and columns as it is read, its Python objects dropped:
    # the whole catalog as objects is what made 10,000 items take a GiB.
    for url, doc in reader.documents():
        kind = doc.get("type")
        if kind == "Collection":
            served = orjson.loads(reader.rewritten(compact(orjson.dumps(doc)), url))
            collections[str(served["id"])] = served
        elif kind == "Feature":
            items.append(_indexed(doc, url, reader, builder))
    # The same as every item's properties added in turn, each distinct value once.
    types = PropertyTypes(builder.property_rows())
    order = builder.order()
    # The columns of the queryables only: a property of another kind (an object, or mixed
    # kinds) can be neither filtered nor sorted on, and alcd:parameters alone is kilobytes.
    columns = builder.build(order, frozenset(types.types()))
    ordered = tuple(items[i] for i in order)
    unread = [ordered[i].id for i in np.flatnonzero(columns.shapes == None)]  # noqa: E711
    if unread:
        raise CatalogError(
            f"{directory}: item {unread[0]} has no usable datetime or geometry "
            "(a geometry GEOS cannot read)"
        )
    log.info("%d collections, %d items from %s", len(collections), len(ordered), directory)
    by_key = {(i.collection, i.id): i for i in ordered}
    return StacIndex(
        reader.catalog, collections, ordered, columns, types, published_root(catalog), by_key
    )


# --- reading the catalog -------------------------------------------------------------------------
class _Reader:
    """stacgen.stac.reader.read_catalog(directory, INTERNAL) one document at a time, and at the
    speed 10,000 items need (it takes 15 s for them: `map_hrefs` walks every value of every
    item and `urljoin` resolves every href). The same documents (tests/serve/test_catalog.py
    compares them with read_catalog's): the hrefs are found in the document's JSON text and
    replaced there, and those a build writes (absolute URLs, plain relative paths) are resolved
    without urljoin, which resolves the rest.
    """

    def __init__(self, directory: Path, catalog: dict[str, Any]) -> None:
        self.directory = directory
        self.published = published_root(catalog)
        self.base = directory.as_uri() + "/"  # the catalog's files, before rebasing
        self.folder = str(directory)  # resolved (load_index resolves it)
        self._folders: dict[str, str] = {}
        self._plains: Plains = {}
        self._pool: ThreadPoolExecutor | None = None
        self._upcoming: list[str] = []  # the links followed, in order
        self._loaded: set[str] = set()
        self._reads: dict[str, Future[bytes]] = {}
        self._stats: dict[str, Future[os.stat_result]] = {}
        url = self.base + "catalog.json"
        self.catalog: dict[str, Any] = orjson.loads(self.rewritten(orjson.dumps(catalog), url))

    def documents(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(url, document as read) of every collection and item reachable from catalog.json."""
        with ThreadPoolExecutor(READERS, thread_name_prefix="stacgen-read") as pool:
            self._pool = pool
            try:
                for url, doc in walk(self.base + "catalog.json", self._load, self._follow):
                    yield url, dict(doc)
            finally:
                self._pool = None
                for future in self._reads.values():
                    future.cancel()

    def rewritten(self, raw: bytes, doc_url: str) -> bytes:
        """A document's compact JSON (orjson's) read from `doc_url`, its hrefs as read_catalog
        gives them (under INTERNAL)."""
        folder = doc_url.rsplit("/", 1)[0] + "/"
        return _hrefs_changed(raw, lambda href: self._served(href, doc_url, folder))

    def _load(self, url: str) -> dict[str, Any]:
        path = self._path(url)
        self._loaded.add(url)
        self._read_ahead()
        future = self._reads.pop(url, None)
        try:
            value = orjson.loads(future.result() if future else _read(path))
        except (OSError, orjson.JSONDecodeError):
            value = None  # read_json_object says what is wrong, or reads what orjson refuses
        if not isinstance(value, dict):
            return read_json(Path(path))
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
                self._reads[url] = self._pool.submit(_read, self._path(url))

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
        published, base = self.published, self.base
        if published and href.startswith(published):
            href = base + href[len(published) :]
        folder = doc_url.rsplit("/", 1)[0] + "/"
        return _joined(folder, href, self._plains) or urljoin(doc_url, href)

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

    def _served(self, href: str, doc_url: str, folder: str) -> str:
        published = self.published
        if published and href.startswith(published):
            return INTERNAL + href[len(published) :]
        scheme = _SCHEME.match(href)
        if scheme and scheme[1].lower() != "file":
            return href  # what urljoin gives for another scheme: the href as it is
        url = None if scheme else _joined(folder, href, self._plains)
        if url is None:
            url = urljoin(doc_url, href)
        return INTERNAL + url[len(self.base) :] if url.startswith(self.base) else url


def _read(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


# Files read ahead of the walk, and the threads reading them (their reads release the GIL).
PREFETCH: Final = 64
READERS: Final = 8
Plains = dict[str, tuple[int, str] | None]  # a plain relative href's "../" count and the rest
_SCHEME: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
# A relative href that is a plain path: "./" or "../"s, then segments of ordinary characters
# (none starting with "."); urljoin resolves any other.
_SEGMENT: Final = r"[^./?#:;%\\\[\]@\x00-\x20\x7f][^/?#:;%\\\[\]@\x00-\x20\x7f]*"
_PLAIN: Final = re.compile(rf"(?:\./)?((?:\.\./)*)((?:{_SEGMENT}/)*{_SEGMENT})")
# An "href" key and its string value in orjson's compact JSON text.
_KEY: Final = b'"href":"'
_HREF: Final = re.compile(rb'"href":"([^"\\]*(?:\\.[^"\\]*)*)"')


def _hrefs_changed(raw: bytes, change: Callable[[str], str]) -> bytes:
    """stacgen.stac.links.map_hrefs in a JSON text (the same rule: every string under an
    "href" key), without walking the 20 KB of properties and statistics an item holds.

    An occurrence whose quote follows a backslash is inside a key (`"x\\"href":"..."`), not
    the key `href`: in JSON text a quote that follows anything else starts or ends a string.
    """
    pieces, done = [], 0
    at = raw.find(_KEY)
    while at >= 0:
        start = at + len(_KEY)
        end = raw.find(b'"', start)
        if b"\\" in raw[start:end]:  # an escape: the regular expression finds the string's end
            match = _HREF.match(raw, at)
            end = match.end(1) if match else end
        if not (at and raw[at - 1] == 0x5C):
            text = raw[start:end]
            old = orjson.loads(b'"' + text + b'"') if b"\\" in text else text.decode()
            new = change(old)
            if new != old:
                pieces += [raw[done:start], orjson.dumps(new)[1:-1]]
                done = end
        at = raw.find(_KEY, end)
    return b"".join([*pieces, raw[done:]]) if pieces else raw


def _joined(
    folder: str, href: str, plains: dict[str, tuple[int, str] | None] | None = None
) -> str | None:
    """urljoin(folder, href) for a plain relative path (segments of ordinary characters, after
    "./" or a few "../"), which is most of a build's hrefs; None for any other href.
    `plains` keeps what each href was found to be (items repeat "./classification.tif")."""
    if plains is None or href not in plains:
        match = _PLAIN.fullmatch(href)
        plain = None if match is None else (len(match[1]) // 3, match[2])
        if plains is not None:
            plains[href] = plain
    else:
        plain = plains[href]
    if plain is None:
        return None
    ups, rest = plain
    start = folder.find("://") + 3
    if start < 3 or folder.count("/", start) - 1 < ups + 1:
        return None  # at or above the root: urljoin's rules
    end = len(folder)
    for _ in range(ups):
        end = folder.rfind("/", start, end - 1) + 1
    return folder[:end] + rest


def _indexed(
    doc: dict[str, Any], url: str, reader: _Reader, builder: ColumnsBuilder
) -> IndexedItem:
    """The item `doc` read from `url`; its columns to `builder`."""
    collection = doc.get("collection")
    where = f"{reader.directory}: item {doc.get('id')}"
    if not isinstance(collection, str):
        raise CatalogError(f"{where} belongs to no collection")
    props = doc.get("properties") or {}
    try:
        start = instant(props.get("start_datetime") or props["datetime"])
        end = instant(props.get("end_datetime") or props["datetime"])
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise CatalogError(f"{where} has no usable datetime or geometry ({err})") from err
    if start is None or end is None:
        raise CatalogError(f"{where} has no datetime")
    if not isinstance(doc.get("geometry"), dict):
        raise CatalogError(f"{where} has no usable datetime or geometry (no GeoJSON geometry)")
    raw = compact(orjson.dumps(doc))
    builder.add(_searched(doc, raw, url, reader), collection, (start, end))
    return IndexedItem(raw, collection, str(doc["id"]), url, reader)


def _searched(doc: dict[str, Any], raw: bytes, url: str, reader: _Reader) -> dict[str, Any]:
    """The item whose values the columns hold: as served should its properties or geometry
    hold an href (read_catalog moves those too), else as read (decoding it again costs)."""
    for part in ("properties", "geometry"):
        if b'"href"' in orjson.dumps(doc.get(part)):
            served: dict[str, Any] = orjson.loads(reader.rewritten(raw, url))
            return served
    return doc


def instant(text: str | None) -> datetime | None:
    if text in (None, "", ".."):
        return None
    value = datetime.fromisoformat(str(text))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --- following rebuilds ------------------------------------------------------------------------
Signature = tuple[tuple[int, int, int], ...]


def _signature(directory: Path) -> Signature:
    """What changes when a build swaps in a new catalog: the folder's inode and change time
    (a rename sets it), catalog.json's and the state file's inode, size and mtime."""
    marks = []
    for path in (directory, directory / "catalog.json", directory / STATE_FILE):
        try:
            st = os.stat(path)
        except OSError:
            marks.append((0, 0, 0))
            continue
        changed = st.st_ctime_ns if path == directory else st.st_mtime_ns
        marks.append((st.st_ino, st.st_size if path != directory else 0, changed))
    return tuple(marks)


def _age(signature: Signature) -> float:
    """Seconds since the folder was last renamed (or changed)."""
    return (time.time_ns() - signature[0][2]) / 1e9


class LiveIndex:
    """The index of a catalog folder, read again when a rebuild has replaced the catalog.

    `current()` costs three stat() calls. An index is kept only if the folder was the same
    folder, unchanged, from before reading it to after, and had been so for QUIET seconds before
    (a timestamp may be as coarse as a clock tick): a swap in the middle, even one swapped back,
    would otherwise give an index of two catalogs. Until a reload succeeds (the swaps stop, the
    catalog is whole again) the previous index answers; one request reloads at a time, the
    others answer from the previous index meanwhile.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._signature = _signature(directory)
        self._index = load_index(directory)
        self._retry_at = 0.0  # after a read that a swap spoilt: not again before this

    def current(self) -> StacIndex:
        index, now = self._index, _signature(self.directory)
        if now == self._signature or time.monotonic() < self._retry_at:
            return index
        if not self._lock.acquire(blocking=False):
            return index
        try:
            if now != self._signature:
                self._reload(now)
        finally:
            self._lock.release()
        return self._index

    def _reload(self, before: Signature) -> None:
        if _age(before) < QUIET:  # just swapped: let a second swap show itself first
            time.sleep(QUIET - max(_age(before), 0.0))
            if _signature(self.directory) != before:
                self._retry_at = time.monotonic() + RETRY_AFTER
                return
        try:
            index = load_index(self.directory)
        except CatalogError as err:
            if _signature(self.directory) == before:  # a catalog broken for good: say it once
                log.warning("catalog changed but cannot be read (%s): keeping the old", err)
                self._signature = before
            return
        if _signature(self.directory) != before:
            log.info("catalog in %s changed while being read: kept the previous", self.directory)
            self._retry_at = time.monotonic() + RETRY_AFTER
            return
        self._index, self._signature = index, before
        log.info("catalog in %s changed: reloaded", self.directory)
