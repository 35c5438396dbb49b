"""A catalog's links: where it was published, walking child and item links, moving hrefs.

The one home of these rules for every reader of a catalog: validation, serving, publishing.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

import orjson

from stacgen.errors import StacgenError

WALK_RELS = frozenset({"child", "item"})
# A public root URL: http(s), a host (a name, an IPv4 or a bracketed IPv6 address), a port, a
# path; no query or fragment (a relative href resolved against it would drop them), no space.
_ROOT_HREF = re.compile(
    r"https?://(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)"
    r"(?::(?P<port>[0-9]{1,5}))?(?P<path>/[^\s?#]*)?"
)

_Node = TypeVar("_Node")


class RootHrefError(StacgenError):
    """A --root-href that no reader could resolve the catalog's links against."""


def check_root_href(url: str, option: str = "--root-href") -> str:
    """`url` if every href of a catalog published under it resolves as a reader resolves it;
    RootHrefError in one line naming `option` otherwise."""
    match = _ROOT_HREF.fullmatch(url)
    segments = set((match["path"] or "").split("/")) if match else set()
    if match is None or int(match["port"] or 0) > 65535 or {".", ".."} & segments:
        raise RootHrefError(
            f"{option} {url!r}: expected an http(s)://HOST[:PORT]/PATH URL (no space, query, "
            "fragment, '.' or '..' segment)"
        )
    return url


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


def change_hrefs(raw: bytes, change: Callable[[str], str]) -> bytes:
    """`map_hrefs` in a compact JSON text (orjson's), the same rule (every string under an
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


# An "href" key and its string value in orjson's compact JSON text.
_KEY: Final = b'"href":"'
_HREF: Final = re.compile(rb'"href":"([^"\\]*(?:\\.[^"\\]*)*)"')

Plains = dict[str, tuple[int, str] | None]  # a plain relative href's "../" count and the rest
SCHEME: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
# A relative href that is a plain path: "./" or "../"s, then segments of ordinary characters
# (none starting with "."); urljoin resolves any other.
_SEGMENT: Final = r"[^./?#:;%\\\[\]@\x00-\x20\x7f][^/?#:;%\\\[\]@\x00-\x20\x7f]*"
_PLAIN: Final = re.compile(rf"(?:\./)?((?:\.\./)*)((?:{_SEGMENT}/)*{_SEGMENT})")


def join_plain(folder: str, href: str, plains: Plains | None = None) -> str | None:
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


_UNRESERVED: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_ESCAPE: Final = re.compile(r"%([0-9A-Fa-f]{2})")


def normal_url(url: str) -> str:
    """`url` normalised as RFC 3986 6.2.2 says (percent-encoded unreserved characters decoded,
    other escapes in upper case, dot segments removed), so that one file has one URL: a link
    to `%2E%2E/catalog.json` names a catalog already walked, not a new URL each time round."""
    if "%" not in url and "/." not in url:
        return url  # what urljoin gives: nothing to normalise (the usual case)
    url = _ESCAPE.sub(_unescaped, url)
    # The path by hand: urlsplit().geturl() would not give back every URL as it was
    # ("file:////x" comes back as "file://x", another host).
    authority = url.find("://")
    start = url.find("/", authority + 3) if authority >= 0 else -1
    if start < 0:
        return url
    ends = [at for at in (url.find("?", start), url.find("#", start)) if at >= 0]
    end = min(ends, default=len(url))
    return url[:start] + _without_dots(url[start:end]) + url[end:]


def _unescaped(match: re.Match[str]) -> str:
    char = chr(int(match[1], 16))
    return char if char in _UNRESERVED else match[0].upper()


def _without_dots(path: str) -> str:
    """RFC 3986 5.2.4's remove_dot_segments, for an absolute path."""
    out: list[str] = []
    segments = path.split("/")
    for k, segment in enumerate(segments):
        last = k == len(segments) - 1
        if segment == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        elif segment == ".":
            if last:
                out.append("")
        else:
            out.append(segment)
    return "/".join(out)


def rebase_json(raw: bytes, olds: Sequence[str], new: str) -> bytes:
    """A JSON text whose hrefs (the strings under an `href` key, at any depth) under one of the
    prefixes `olds` (the longest that fits) are moved under `new`: the one rule for answering a
    catalog's hrefs under another root (this server's URL, a published root). The text is not
    parsed, only each place a prefix starts is looked at (a search page is answered in a tenth
    of a millisecond), and all but the moved prefixes is kept byte for byte."""
    forms = _json_forms(tuple(old for old in olds if old))
    starts = sorted(
        (start, -len(form), form) for form in forms for start in _occurrences(raw, form)
    )
    if not starts:
        return raw  # nothing to move (the usual case for a relative catalog's files)
    replacement, pieces, done = _json_text(new), [], 0
    for start, _, form in starts:
        if start >= done and _starts_an_href(raw, start):
            pieces += [raw[done:start], replacement]
            done = start + len(form)
    return b"".join([*pieces, raw[done:]])


@functools.lru_cache(maxsize=16)
def _json_forms(prefixes: tuple[str, ...]) -> tuple[bytes, ...]:
    """Each prefix as a JSON text may write it (characters escaped or not)."""
    forms = {form for old in prefixes for form in (_json_text(old), _json_text(old, True))}
    return tuple(sorted(forms, key=len, reverse=True))


def _json_text(text: str, ascii_only: bool = False) -> bytes:
    return json.dumps(text, ensure_ascii=ascii_only)[1:-1].encode()


def _occurrences(raw: bytes, form: bytes) -> Iterator[int]:
    start = raw.find(form)
    while start >= 0:
        yield start
        start = raw.find(form, start + 1)


_HREF_KEY: Final = re.compile(rb'(?<!\\)"href"\s*:\s*"\Z')


def _starts_an_href(raw: bytes, start: int) -> bool:
    """Whether a JSON string value starts at `start` (a quote before it) and is an `href`
    member's: `"href"`, then `:`, before that quote, the key's own quote not escaped (so not
    inside another string)."""
    return _HREF_KEY.search(raw[max(start - 32, 0) : start]) is not None
