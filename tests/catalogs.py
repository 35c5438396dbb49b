"""The catalogs the serve, stac and publish tests run on: real builds of a synthetic archive at
512 px.

512 px (215 m pixels, the real tile extent) leaves room for a 256 x 256 window and two COG
blocks a side, and the build is the one users run, so the server, the API and STAC Browser see
exactly what `stacgen build` writes. tests/conftest.py loads this module as a pytest plugin, so
its fixtures reach every test folder by name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stacgen import constants
from stacgen.assemble.pipeline import BuildOptions, build
from stacgen.testing import synthetic

SIZE = 512


@dataclass(frozen=True)
class FixtureCatalog:
    root: Path
    root_href: str | None

    def item_path(self, item_id: str) -> Path:
        return self.root / constants.COLLECTION_ID / item_id / f"{item_id}.json"

    def item_ids(self) -> list[str]:
        folder = self.root / constants.COLLECTION_ID
        return sorted(p.name for p in folder.iterdir() if (p / f"{p.name}.json").is_file())

    def item(self, item_id: str) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.item_path(item_id).read_text())
        return value


PUBLISHED_ROOT = "https://example.org/alcd/"


@pytest.fixture(scope="session", name="serve_archive")
def serve_archive_fixture(
    tmp_path_factory: pytest.TempPathFactory, archive_folders: tuple[constants.SceneFolder, ...]
) -> Path:
    path = tmp_path_factory.mktemp("serve-archive") / constants.ARCHIVE_NAME
    return synthetic.make_archive(path, size=SIZE, folders=archive_folders)


def _build(out: Path, archive: Path, cache_dir: Path, root_href: str | None) -> FixtureCatalog:
    options = BuildOptions(
        archive=archive, out=out, cache_dir=cache_dir, workers=2, root_href=root_href
    )
    build(options)
    return FixtureCatalog(out, root_href)


@pytest.fixture(scope="session", name="serve_catalog")
def serve_catalog_fixture(
    tmp_path_factory: pytest.TempPathFactory, serve_archive: Path, cache_dir: Path
) -> FixtureCatalog:
    """A self-contained catalog (relative hrefs); tests must not modify it."""
    return _build(tmp_path_factory.mktemp("serve") / "catalog", serve_archive, cache_dir, None)


@pytest.fixture(scope="session", name="absolute_catalog")
def absolute_catalog_fixture(
    tmp_path_factory: pytest.TempPathFactory, serve_archive: Path, cache_dir: Path
) -> FixtureCatalog:
    """The same archive built for publication under PUBLISHED_ROOT (absolute hrefs)."""
    out = tmp_path_factory.mktemp("serve-abs") / "catalog"
    return _build(out, serve_archive, cache_dir, PUBLISHED_ROOT)
