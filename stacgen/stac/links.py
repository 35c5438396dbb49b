"""A catalog's links: where it was published, walking child and item links, moving hrefs.

The one home of these rules for every reader of a catalog: validation, serving, publishing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

WALK_RELS = frozenset({"child", "item"})
# An `"href": "..."` member of a JSON text: the key's opening quote is not escaped (so it is not
# inside another string) and the value is one JSON string, escapes included.
_HREF_MEMBER: Final = re.compile(rb'(?<!\\)"href"\s*:\s*("(?:[^"\\]|\\.)*")')

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


def moved(href: str, olds: Sequence[str], new: str) -> str:
    """`href` moved under `new` if it lies under one of the prefixes `olds`: the one rule for
    answering a catalog's hrefs under another root (a server's URL, a published root)."""
    for old in olds:
        if old and href.startswith(old):
            return new + href[len(old) :]
    return href


def rebase_json(raw: bytes, olds: Sequence[str], new: str) -> bytes:
    """A JSON text whose hrefs (the strings under an `href` key, at any depth) under the
    prefixes `olds` are moved under `new` (`moved`), without parsing the text: for answers made
    per request (the bytes of a served file, an API page just serialised). The rest of the text
    is kept byte for byte."""
    prefixes = [old for old in olds if old]
    written = {json.dumps(old, ensure_ascii=a)[1:-1] for old in prefixes for a in (False, True)}
    if not any(form.encode() in raw for form in written):
        return raw  # nothing to move (the usual case for a relative catalog's files)

    def change(match: re.Match[bytes]) -> bytes:
        href = json.loads(match[1])
        new_href = moved(href, prefixes, new)
        if new_href == href:
            return match[0]
        start = match.start(1) - match.start(0)
        return match[0][:start] + json.dumps(new_href, ensure_ascii=False).encode()

    return _HREF_MEMBER.sub(change, raw)
