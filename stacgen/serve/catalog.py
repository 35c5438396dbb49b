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
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import unquote

import numpy as np
import orjson

from stacgen.errors import StacgenError
from stacgen.fileutil import JsonFileError, read_json_object
from stacgen.layout.catalog import STATE_FILE
from stacgen.serve.index import Columns, ColumnsBuilder, compact
from stacgen.stac.links import links_of, published_root
from stacgen.stac.queryables import PropertyTypes
from stacgen.stac.reader import CatalogReader, CatalogReadError

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
        self, raw: bytes, collection: str, item_id: str, url: str, reader: CatalogReader | None
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
    reader = CatalogReader(directory, catalog, INTERNAL)
    served_catalog = orjson.loads(reader.rewritten(orjson.dumps(catalog), reader.catalog_url))
    # Each item is reduced to its bytes and columns as it is read, its Python objects dropped:
    # the whole catalog as objects is what made 10,000 items take a GiB.
    try:
        for url, doc in reader.documents():
            kind = doc.get("type")
            if kind == "Collection":
                served = orjson.loads(reader.rewritten(compact(orjson.dumps(doc)), url))
                collections[str(served["id"])] = served
            elif kind == "Feature":
                items.append(_indexed(doc, url, reader, builder))
    except CatalogReadError as err:
        raise CatalogError(str(err)) from err
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
        served_catalog, collections, ordered, columns, types, published_root(catalog), by_key
    )


def _indexed(
    doc: dict[str, Any], url: str, reader: CatalogReader, builder: ColumnsBuilder
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


def _searched(doc: dict[str, Any], raw: bytes, url: str, reader: CatalogReader) -> dict[str, Any]:
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
