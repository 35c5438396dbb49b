"""The served catalog read into memory: collections and items with absolute hrefs, reloaded when
a rebuild swaps in a new catalog folder.

Local hrefs are held under INTERNAL (the .invalid TLD never resolves) and moved under the URL the
client used, per response, so links work whatever host name reached the server. A catalog built
with --root-href holds absolute hrefs under its published root: those are held under INTERNAL
too, so the API hands out this server's URLs for the files it serves.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import unquote, urljoin, urlsplit

__all__ = ["map_hrefs", "published_root", "rebase"]  # re-exported for the serve modules

import shapely
import shapely.geometry

from stacgen.build.state import STATE_FILE
from stacgen.fileutil import JsonFileError, read_json_object
from stacgen.stac.links import map_hrefs, published_root, rebase

log = logging.getLogger(__name__)

INTERNAL: Final = "http://stacgen.invalid/"

# Above this many items the embedded backend refuses to start: at about 30 KB of Python objects
# an item, the index would take several GiB (see bench/serve.py); serve with --pgstac instead.
MAX_ITEMS: Final = 50_000


T = TypeVar("T")


class CatalogError(Exception):
    """The catalog on disk cannot be served: one line naming the file and the problem."""


# --- the index ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IndexedItem:
    """One item: its JSON (hrefs absolute, local files under INTERNAL) and what searches use."""

    data: dict[str, Any]
    href: str
    collection: str
    shape: shapely.Geometry
    start: datetime
    end: datetime

    @property
    def id(self) -> str:
        return str(self.data["id"])


@dataclass(frozen=True)
class StacIndex:
    catalog: dict[str, Any]
    collections: dict[str, dict[str, Any]]
    items: tuple[IndexedItem, ...]  # newest first, then by id
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


class _Walker:
    """Reads the catalog tree from disk, following child and item links."""

    def __init__(self, directory: Path, published: str | None) -> None:
        self.directory = directory.resolve()
        self.published = published
        self.collections: dict[str, dict[str, Any]] = {}
        self.items: list[IndexedItem] = []
        self.seen: set[str] = set()
        self.planned = 0

    def absolute(self, href: str, doc_url: str) -> str:
        if self.published and href.startswith(self.published):
            return INTERNAL + href[len(self.published) :]
        return urljoin(doc_url, href)

    def file_of(self, url: str) -> Path | None:
        if not url.startswith(INTERNAL):
            return None
        path = (self.directory / unquote(urlsplit(url).path.lstrip("/"))).resolve()
        return path if path.is_relative_to(self.directory) else None

    def load(self, url: str) -> dict[str, Any]:
        path = self.file_of(url)
        if path is None:
            raise CatalogError(f"{url}: outside the catalog folder {self.directory}")
        doc = read_json(path)
        resolved: dict[str, Any] = map_hrefs(doc, lambda h: self.absolute(h, url))
        return resolved

    def walk(self, url: str, parent_collection: str | None) -> None:
        if url in self.seen:
            return
        self.seen.add(url)
        doc = self.load(url)
        kind = doc.get("type")
        if kind == "Feature":
            self.items.append(_indexed(doc, url, doc.get("collection") or parent_collection))
            return
        # Counted before any item is read, so a catalog too large is refused at once.
        self.planned += sum(1 for link in doc.get("links", []) if link.get("rel") == "item")
        if self.planned > MAX_ITEMS:
            raise CatalogError(
                f"{self.directory}: more than {MAX_ITEMS} items; the embedded API holds them "
                "in memory: serve this catalog from PostgreSQL (stacgen serve --pgstac DSN)"
            )
        if kind == "Collection":
            self.collections[doc["id"]] = doc
            parent_collection = doc["id"]
        for link in doc.get("links", []):
            if link.get("rel") in ("child", "item"):
                target = link["href"]
                path = self.file_of(target)
                if path is None or not path.is_file():
                    log.warning("%s: skipping link to %s (not a file of the catalog)", url, target)
                    continue
                self.walk(target, parent_collection)


def load_index(directory: Path) -> StacIndex:
    """Every collection and item reachable from DIR/catalog.json."""
    root_url = INTERNAL + "catalog.json"
    catalog = read_json(directory / "catalog.json")
    walker = _Walker(directory, published_root(catalog))
    walker.walk(root_url, None)
    items = sorted(walker.items, key=lambda i: (-i.start.timestamp(), i.id))
    log.info("%d collections, %d items from %s", len(walker.collections), len(items), directory)
    root = map_hrefs(catalog, lambda h: walker.absolute(h, root_url))
    by_key = {(i.collection, i.id): i for i in items}
    return StacIndex(root, walker.collections, tuple(items), walker.published, by_key)


def _indexed(doc: dict[str, Any], url: str, collection: str | None) -> IndexedItem:
    if collection is None:
        raise CatalogError(f"{url}: item {doc.get('id')} belongs to no collection")
    props = doc.get("properties") or {}
    try:
        start = instant(props.get("start_datetime") or props["datetime"])
        end = instant(props.get("end_datetime") or props["datetime"])
        shape = shapely.geometry.shape(doc["geometry"])
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise CatalogError(f"{url}: item without a usable datetime or geometry ({err})") from err
    if start is None or end is None:
        raise CatalogError(f"{url}: item without a datetime")
    shapely.prepare(shape)
    data = {**doc, "collection": collection}
    return IndexedItem(data, url, collection, shape, start, end)


def instant(text: str | None) -> datetime | None:
    if text in (None, "", ".."):
        return None
    value = datetime.fromisoformat(str(text))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --- following rebuilds ------------------------------------------------------------------------
def _signature(directory: Path) -> tuple[tuple[int, int, int], ...]:
    """What changes when a build swaps in a new catalog: catalog.json's and the state file's
    inode, size and mtime (the swap renames a whole new folder into place)."""
    marks = []
    for name in ("catalog.json", STATE_FILE):
        try:
            st = os.stat(directory / name)
        except OSError:
            marks.append((0, 0, 0))
            continue
        marks.append((st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(marks)


class LiveIndex:
    """The index of a catalog folder, read again when a rebuild has replaced the catalog.

    `current()` costs two stat() calls; a failed reload (a half-written catalog by hand) keeps
    answering from the previous index and logs why.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._signature = _signature(directory)
        self._index = load_index(directory)

    def current(self) -> StacIndex:
        now = _signature(self.directory)
        if now == self._signature:
            return self._index
        with self._lock:
            if now != self._signature:
                try:
                    self._index = load_index(self.directory)
                    log.info("catalog in %s changed: reloaded", self.directory)
                except CatalogError as err:
                    log.warning("catalog changed but cannot be read (%s): keeping the old", err)
                self._signature = now
        return self._index
