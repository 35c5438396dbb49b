"""A catalog's links: where it was published, walking child and item links, moving hrefs.

The one home of these rules for every reader of a catalog: validation, serving, publishing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

WALK_RELS = frozenset({"child", "item"})

_Node = TypeVar("_Node")


def published_root(catalog: Mapping[str, Any]) -> str | None:
    """The URL a catalog was built for (`--root-href`), ending in `/`; None when relative.

    Read from the root catalog's absolute self link, else its absolute root link: the folder
    of the catalog.json they name.
    """
    for rel in ("self", "root"):
        for link in links_of(catalog):
            href = link.get("href")
            if link.get("rel") != rel or not isinstance(href, str):
                continue
            if urlsplit(href).scheme in ("http", "https"):
                return href.rsplit("/", 1)[0] + "/"
    return None


def links_of(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The well-formed link objects of a STAC document."""
    links = doc.get("links")
    return [link for link in links if isinstance(link, dict)] if isinstance(links, list) else []


def walk(
    root: _Node,
    load: Callable[[_Node], Mapping[str, Any] | None],
    follow: Callable[[_Node, str], _Node | None],
) -> Iterator[tuple[_Node, Mapping[str, Any]]]:
    """Every document reachable from `root` through child and item links, each once.

    `load` gives a node's document (None: not a document, not followed further); `follow`
    turns an href found in a node's document into the node it names (None: not followed).
    """
    todo, seen = [root], {root}
    while todo:
        node = todo.pop()
        doc = load(node)
        if doc is None:
            continue
        yield node, doc
        for link in links_of(doc):
            href = link.get("href")
            if link.get("rel") not in WALK_RELS or not isinstance(href, str):
                continue
            target = follow(node, href)
            if target is not None and target not in seen:
                seen.add(target)
                todo.append(target)


def map_hrefs(value: Any, change: Callable[[str], str]) -> Any:
    """A copy of a JSON value with `change` applied to every string under an `href` key."""
    if isinstance(value, dict):
        return {
            k: change(v) if k == "href" and isinstance(v, str) else map_hrefs(v, change)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [map_hrefs(v, change) for v in value]
    return value


def rebase(value: Any, old: str, new: str) -> Any:
    """A copy of a JSON value whose hrefs under the prefix `old` are moved under `new`."""
    return map_hrefs(value, lambda h: new + h[len(old) :] if h.startswith(old) else h)
