"""stacgen.testing.masks: processor-like masks from a catalog's labels, perturbed as asked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio

from stacgen.testing.masks import label_rasters, perturb, write_masks


def test_perturb_moves_the_share_asked_and_keeps_no_data() -> None:
    groups = np.array([[0, 1, 2, 3] * 250], np.uint8)
    out = perturb(groups, 0.1, seed=3)
    moved = out != groups
    assert int(moved.sum()) == round(0.1 * 750)
    assert (out[groups == 0] == 0).all()
    assert set(np.unique(out[moved]).tolist()) <= {1, 2, 3}


def test_masks_on_the_label_grid_in_the_processors_codes(
    built_catalog: Path, tmp_path: Path
) -> None:
    rasters = label_rasters(built_catalog)
    item = next(iter(rasters))
    [path] = write_masks(built_catalog, tmp_path, "fmask4", share=0.0, factor=3, items=[item])
    assert path.name == f"{item}_fmask4.tif"
    with rasterio.open(rasters[item]) as ref, rasterio.open(path) as mask:
        classes, values = ref.read(1), mask.read(1)
        assert mask.crs == ref.crs
        assert mask.width == 3 * ref.width
        assert mask.transform.a == ref.transform.a / 3
    coarse = values[::3, ::3]
    want = {0: 255, 2: 4, 3: 4, 4: 2, 5: 0, 6: 0, 7: 0}  # FMask 4: cloud 4, shadow 2, clear 0
    for cls, value in want.items():
        assert (coarse[classes == cls] == value).all(), cls
