"""Read a built catalog from disk with every href absolute under the URL it is served from.

The one home of this for every consumer that hands the catalog's documents to others: the
pgstac loader, the API's embedded backend, publishing. A catalog built with `--root-href`
keeps its absolute hrefs, moved under the given URL when that differs.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from stacgen.errors import StacgenError
from stacgen.fileutil import JsonFileError, read_json_object
from stacgen.stac.links import map_hrefs, published_root, walk

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
    published = published_root(catalog)
    root = _root_url(root_href, published, directory)
    base = directory.as_uri() + "/"  # the catalog's files, before rebasing

    def served(href: str, doc_url: str) -> str:
        if published and href.startswith(published):
            return root + href[len(published) :]
        url = urljoin(doc_url, href)
        return root + url[len(base) :] if url.startswith(base) else url

    def follow(doc_url: str, href: str) -> str | None:
        if published and href.startswith(published):
            href = base + href[len(published) :]
        url = urljoin(doc_url, href)
        path = (directory / unquote(url[len(base) :])).resolve()
        if url.startswith(base) and path.is_relative_to(directory) and path.is_file():
            return url
        log.warning("%s: skipping link to %s (not a file of the catalog)", doc_url, href)
        return None

    def load(url: str) -> dict[str, Any]:
        return _read(directory / unquote(url[len(base) :]))

    docs = CatalogDocs(map_hrefs(catalog, lambda h: served(h, base + "catalog.json")), [], [], root)
    for url, doc in walk(base + "catalog.json", load, follow):
        resolved = map_hrefs(doc, functools.partial(served, doc_url=url))
        kind = doc.get("type")
        if kind == "Collection":
            docs.collections.append(resolved)
        elif kind == "Feature":
            docs.items.append(resolved)
    return docs


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
