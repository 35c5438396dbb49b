"""stacgen.testing.imagery_chips: imagery items in the alcd-l1c layout, read back by rasterio."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import rasterio

from stacgen import constants
from stacgen.testing.imagery_chips import write_imagery


def test_native_imagery_in_the_layout(built_catalog: Path, tmp_path: Path) -> None:
    root = tmp_path / "catalog"
    shutil.copytree(built_catalog, root)
    ids = write_imagery(root, grid="native", bands=["B02", "B05", "B01"])
    assert ids
    item_id = ids[0]
    label_item = json.loads(
        (root / constants.COLLECTION_ID / item_id / f"{item_id}.json").read_text()
    )
    item = json.loads((root / "alcd-l1c" / item_id / f"{item_id}.json").read_text())
    assert item["id"] == item_id
    assert item["collection"] == "alcd-l1c"
    assert item["properties"]["alcd:imagery_grid"] == "native"
    height, width = label_item["properties"]["proj:shape"]
    with rasterio.open(root / constants.COLLECTION_ID / item_id / "classification.tif") as src:
        label_nodata = src.read(1) == 0
    for band, factor in (("B02", 6), ("B05", 3), ("B01", 1)):
        asset = item["assets"][band]
        assert asset["proj:shape"] == [height * factor, width * factor]
        with rasterio.open(root / "alcd-l1c" / item_id / asset["href"]) as src:
            assert src.dtypes == ("uint16",)
            assert src.nodata == 0
            assert list(src.transform)[:6] == asset["proj:transform"]
            dn = src.read(1)
        zero = dn[::factor, ::factor] == 0
        np.testing.assert_array_equal(zero, label_nodata)
        assert dn.max() <= 10000
