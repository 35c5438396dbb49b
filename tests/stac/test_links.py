"""stacgen.stac.links on built catalogs: the published root, the walk, moving hrefs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stacgen.stac import links
from stacgen.stac.validate import infer_root_href
from tests.catalogs import PUBLISHED_ROOT, FixtureCatalog


def _root(catalog: Path) -> dict[str, Any]:
    value: dict[str, Any] = json.loads((catalog / "catalog.json").read_text())
    return value


def test_published_root_of_a_relative_catalog_is_none(built_catalog: Path) -> None:
    assert links.published_root(_root(built_catalog)) is None
    assert infer_root_href(built_catalog / "catalog.json") is None


def test_published_root_is_the_root_href_it_was_built_with(
    absolute_catalog: FixtureCatalog,
) -> None:
    assert absolute_catalog.root_href == PUBLISHED_ROOT
    assert links.published_root(_root(absolute_catalog.root)) == PUBLISHED_ROOT
    assert infer_root_href(absolute_catalog.root / "catalog.json") == PUBLISHED_ROOT


def test_published_root_falls_back_to_the_root_link() -> None:
    doc = {"links": [{"rel": "root", "href": "https://h.example/a/b/catalog.json"}]}
    assert links.published_root(doc) == "https://h.example/a/b/"
    assert links.published_root({"links": [{"rel": "self", "href": "./catalog.json"}]}) is None


def test_walk_reaches_every_stac_file_once(built_catalog: Path) -> None:
    on_disk = {p for p in built_catalog.rglob("*.json") if "stac_version" in p.read_text()}

    def load(path: Path) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(path.read_text())
        return value

    def follow(path: Path, href: str) -> Path:
        return (path.parent / href).resolve()

    walked = [
        path for path, _ in links.walk((built_catalog / "catalog.json").resolve(), load, follow)
    ]
    assert len(walked) == len(set(walked))
    assert set(walked) == {p.resolve() for p in on_disk}


OLD = "https://old.example/x/"
HERE = "http://127.0.0.1:8000/"
DOC = {
    "href": "https://old.example/x/a.tif",
    "links": [{"href": "https://other.example/b"}, {"href": "https://old.example/x/"}],
    "title": "https://old.example/x/not-an-href",
    "properties": {"quoted": '"href": "https://old.example/x/in-a-string"', "n": [1, 2.5]},
    "assets": {"é": {"href": "http://stacgen.invalid/é/b c.tif", "title": "é"}},
}
MOVED = {
    "href": "http://127.0.0.1:8000/a.tif",
    "links": [{"href": "https://other.example/b"}, {"href": "http://127.0.0.1:8000/"}],
    "title": "https://old.example/x/not-an-href",
    "properties": {"quoted": '"href": "https://old.example/x/in-a-string"', "n": [1, 2.5]},
    "assets": {"é": {"href": "http://127.0.0.1:8000/é/b c.tif", "title": "é"}},
}


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(DOC),
        json.dumps(DOC, indent=2, ensure_ascii=False),
        json.dumps(DOC, separators=(",", ":")),
    ],
)
def test_rebase_json_moves_the_same_hrefs_in_any_layout(text: str) -> None:
    raw = text.encode()
    moved = links.rebase_json(raw, [OLD, "http://stacgen.invalid/"], HERE)
    assert json.loads(moved) == MOVED
    if "\n" in text:  # as the build writes JSON: the rest of the text is kept byte for byte
        assert moved == json.dumps(MOVED, indent=2, ensure_ascii=False).encode()


def test_rebase_json_without_a_prefix_in_the_text_is_the_same_bytes() -> None:
    raw = json.dumps({"links": [{"href": "./a.json"}]}).encode()
    assert links.rebase_json(raw, [OLD], HERE) is raw


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        # RFC 3986 6.2.2's example, its path (scheme and host are not what a walk compares)
        ("file:///a/./b/../b/%63/%7bfoo%7d", "file:///a/b/c/%7Bfoo%7D"),
        ("file:///cat/coll/%2E%2E/catalog.json", "file:///cat/catalog.json"),
        ("file:///cat/coll/%2e./x/.", "file:///cat/x/"),
        ("file:///cat/a%20b/%2Fc.json", "file:///cat/a%20b/%2Fc.json"),
        ("file:///cat/item.json", "file:///cat/item.json"),
        ("file:////srv/cat/./x%41?a/../b#c/./d", "file:////srv/cat/xA?a/../b#c/./d"),
    ],
)
def test_normal_url_is_rfc_3986s(url: str, normal: str) -> None:
    assert links.normal_url(url) == normal
