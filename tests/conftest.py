"""Shared fixtures: a small synthetic archive and one catalog built from it, per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stacgen import config, constants
from stacgen.assemble.pipeline import BuildOptions, build
from stacgen.constants import SceneFolder
from stacgen.source.archive import open_archive
from stacgen.testing import synthetic
from tests.paths import SHARED

# Fixture modules used by more than one test folder, available to every test: the fake Zenodo
# (source and CLI tests), the 512 px catalogs (stac, serve, publish), the PostgreSQL cluster
# (serve, publish, testing). A folder's own fixtures are in its conftest.py.
pytest_plugins = ("tests.fake_zenodo", "tests.catalogs", "tests.pgstac_fixtures")

TEST_SIZE = 183  # px: a tenth of the real 1830, same tile extent (600 m pixels)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite tests/stac/golden/*.json from the current build instead of comparing",
    )


def pytest_configure(config: pytest.Config) -> None:
    # Tests never touch the user's cache; each session gets its own.
    if "STACGEN_CACHE_DIR" not in os.environ:
        import tempfile

        os.environ["STACGEN_CACHE_DIR"] = tempfile.mkdtemp(prefix="stacgen-test-cache-")
    # Tests validate offline, against a schema mirror: STACGEN_SCHEMAS, else the project's
    # ../shared/stac-schemas beside the checkout (the tests of fetching set their own).
    if not os.environ.get("STACGEN_SCHEMAS") and (SHARED / "stac-schemas").is_dir():
        os.environ["STACGEN_SCHEMAS"] = str(SHARED / "stac-schemas")


@pytest.fixture(scope="session")
def schemas() -> Path:
    """The schema mirror the tests validate with, offline (see pytest_configure)."""
    folder = config.schemas_dir()
    if folder is None:
        pytest.fail(f"no schema mirror: set {config.SCHEMAS_ENV} to a stac-schemas folder")
    return folder


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    return Path(os.environ["STACGEN_CACHE_DIR"])


@pytest.fixture(scope="session")
def archive_folders() -> tuple[SceneFolder, ...]:
    """The scene folders of the session archive: every kind of scene, and several tiles."""
    return synthetic.default_folders(synthetic.REPRESENTATIVE_COUNT + 2)


@pytest.fixture(scope="session")
def archive_tgz(
    tmp_path_factory: pytest.TempPathFactory, archive_folders: tuple[SceneFolder, ...]
) -> Path:
    path = tmp_path_factory.mktemp("archive") / constants.ARCHIVE_NAME
    return synthetic.make_archive(path, size=TEST_SIZE, folders=archive_folders)


@pytest.fixture(scope="session")
def archive_top(archive_tgz: Path, cache_dir: Path) -> Path:
    """The session archive's top folder, as the build extracted it into the cache."""
    return open_archive(archive_tgz, cache_dir).top


@pytest.fixture(scope="session")
def built_catalog(
    archive_tgz: Path, tmp_path_factory: pytest.TempPathFactory, schemas: Path, cache_dir: Path
) -> Path:
    """One catalog built from the synthetic archive; tests must not modify it."""
    out = tmp_path_factory.mktemp("built") / "catalog"
    build(
        BuildOptions(archive=archive_tgz, out=out, cache_dir=cache_dir, workers=2, schemas=schemas)
    )
    return out
