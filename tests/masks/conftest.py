"""The detectors' catalogs: copies of the session catalog (183 px label grids) with synthetic
L1C imagery of every band (stacgen.testing.imagery_chips), on the label grid and on native grids."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from stacgen.layout import imagery
from stacgen.testing.imagery_chips import write_imagery

ALL_BANDS = tuple(b.name for b in imagery.BANDS)


def _copy(built_catalog: Path, dest: Path) -> Path:
    shutil.copytree(built_catalog, dest, symlinks=True)
    return dest


@pytest.fixture(scope="session")
def label_catalog(built_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All 13 bands on the label grid; tests must not modify it."""
    root = _copy(built_catalog, tmp_path_factory.mktemp("masks-label") / "catalog")
    write_imagery(root, grid="label", bands=ALL_BANDS)
    return root


@pytest.fixture(scope="session")
def native_catalog(built_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All 13 bands on their native grids (10, 20, 60 m); tests must not modify it."""
    root = _copy(built_catalog, tmp_path_factory.mktemp("masks-native") / "catalog")
    write_imagery(root, grid="native", bands=ALL_BANDS)
    return root
