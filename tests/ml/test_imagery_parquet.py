"""The imagery collection's items.parquet as a table-indexed loader reads it: one row per
imagery item carrying its band assets, each href resolving from the parquet file's folder to
the band COG, and the row's id the label item's, so that image and label are found from one row.

Until `stacgen imagery fetch` writes `alcd-l1c/items.parquet`, the rows are written here by the
catalog's own parquet writer (`stacgen.stac.parquet`) from the imagery items of the fixture
(`stacgen.testing.imagery_chips`), and read back by stac-geoparquet and rustac.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pyarrow.parquet as pq
import pytest
import rasterio
import rustac
import stac_geoparquet.arrow

from stacgen import constants
from stacgen.layout import imagery
from stacgen.stac.parquet import write_items_parquet
from stacgen.testing.imagery_chips import DEFAULT_BANDS, write_imagery


@pytest.fixture(scope="module")
def imagery_parquet(
    built_catalog: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("ml-parquet") / "catalog"
    shutil.copytree(built_catalog, root, symlinks=True)
    ids = write_imagery(root, grid="native")
    write_items_parquet(root / imagery.COLLECTION_ID, ids)
    return root, ids


def _local(parquet: Path, href: str) -> Path:
    assert not urlsplit(href).scheme, href
    return (parquet.parent / unquote(href)).resolve()


def _read_back(parquet: Path) -> dict[str, list[dict[str, Any]]]:
    table = pq.read_table(parquet)
    return {
        "stac-geoparquet": list(stac_geoparquet.arrow.stac_table_to_items(table)),
        "rustac": rustac.read_sync(str(parquet))["features"],
    }


def test_rows_carry_their_band_assets(imagery_parquet: tuple[Path, list[str]]) -> None:
    root, ids = imagery_parquet
    parquet = root / imagery.COLLECTION_ID / "items.parquet"
    assert ids
    for reader, rows in _read_back(parquet).items():
        assert sorted(r["id"] for r in rows) == sorted(ids), reader
        for row in rows:
            item_json = imagery.item_json(root, row["id"])
            item = json.loads(item_json.read_text())
            assert sorted(row["assets"]) == sorted(DEFAULT_BANDS), reader
            for band, asset in row["assets"].items():
                path = _local(parquet, asset["href"])
                assert path == (item_json.parent / item["assets"][band]["href"]).resolve()
                with rasterio.open(path) as src:
                    assert list(src.shape) == asset["proj:shape"]
                    assert list(src.transform)[:6] == pytest.approx(asset["proj:transform"])


def test_image_and_label_from_one_row(imagery_parquet: tuple[Path, list[str]]) -> None:
    """A table-indexed loader joins the two collections' rows on the id: the label item and its
    imagery item share it (the ALCD product name)."""
    root, ids = imagery_parquet
    assert ids
    images = _read_back(root / imagery.COLLECTION_ID / "items.parquet")["stac-geoparquet"]
    label_parquet = root / constants.COLLECTION_ID / "items.parquet"
    labels = {
        r["id"]: r for r in stac_geoparquet.arrow.stac_table_to_items(pq.read_table(label_parquet))
    }
    assert images
    for row in images:
        label = labels[row["id"]]
        label_path = _local(label_parquet, label["assets"]["classification"]["href"])
        b02 = _local(root / imagery.COLLECTION_ID / "items.parquet", row["assets"]["B02"]["href"])
        with rasterio.open(label_path) as lab, rasterio.open(b02) as img:
            assert lab.crs == img.crs
            assert lab.bounds == pytest.approx(img.bounds)
            assert lab.res[0] == pytest.approx(img.res[0] * 6)  # 60 m labels, 10 m B02
