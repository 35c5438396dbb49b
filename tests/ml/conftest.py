"""The chip tests' catalogs: copies of the session catalog (183 px, 600 m label pixels) with
synthetic imagery of every label item, on the label grid and on native grids."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from stacgen.testing.imagery_chips import write_imagery


def _copy(built_catalog: Path, dest: Path) -> Path:
    shutil.copytree(built_catalog, dest, symlinks=True)
    return dest


@pytest.fixture(scope="session")
def label_grid_catalog(built_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Imagery on the label grid (bands B01, B02, B05); tests must not modify it."""
    root = _copy(built_catalog, tmp_path_factory.mktemp("ml-label") / "catalog")
    write_imagery(root, grid="label")
    return root


@pytest.fixture(scope="session")
def native_catalog(built_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Imagery on native grids (B01 60 m, B02 10 m, B05 20 m); tests must not modify it."""
    root = _copy(built_catalog, tmp_path_factory.mktemp("ml-native") / "catalog")
    write_imagery(root, grid="native")
    return root


@pytest.fixture
def bare_catalog(built_catalog: Path, tmp_path: Path) -> Path:
    """A copy without imagery, for the tests to add some."""
    return _copy(built_catalog, tmp_path / "catalog")
